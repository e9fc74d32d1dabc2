//! slotraft-node: the IO runtime of one cluster node (issue 5, design doc
//! `docs/design/cluster-runtime.md` §1–3, 6, 8).
//!
//! Why its own crate (decision 0005): the sans-IO cores (`raft`,
//! `multiraft`, `keyspace`, `storage`'s format) stay pure and simulator
//! friendly; this crate owns the threads and sockets that drive them, and
//! the server (RESP, routing, CLI) depends on it through [`NodeHandle`].
//!
//! Pieces:
//! - [`log_store`]: raft `Storage` over the shared WAL + persisting a
//!   round's `Persist` as one WAL batch;
//! - [`driver`]: the thread owning `MultiRaft` (tick, ready, persist, send,
//!   complete);
//! - [`transport`]: TCP between nodes on the cluster-bus port.
//!
//! Use: inside a tokio runtime, `NodeHandle::start(NodeConfig)`, share the
//! handle behind an `Arc`, call `propose`/`read`/`status`/`leader`/
//! `transfer_leader`, and `shutdown().await` before restarting a node from
//! the same directory (the WAL has no directory lock yet).
//!
//! TODO(integration), not in this crate yet: the metadata group (group 0
//! with `cluster::ClusterMap` as its state machine), `Gossip` and map-pull
//! frame kinds on the bus, telling Raft about unreachable peers
//! (`report_unreachable`, needs a `MultiRaft` hook), and adding/removing
//! groups on a running node.

pub mod driver;
pub mod gossip;
pub mod log_store;
pub mod transport;

pub use driver::{
    LeaderInfo, DEFAULT_ELECTION_TICK, DEFAULT_HEARTBEAT_TICK, DEFAULT_TICK, INPUT_QUEUE_CAPACITY,
    SNAPSHOT_LOG_ENTRIES,
};
pub use slotraft_multiraft::{Completion, GroupStatus, NotExecuted, Op};

use bytes::Bytes;
use driver::{Driver, LeaderTable, Request};
use log_store::{GroupMeta, SharedMeta, WalStorage};
use slotraft_keyspace::Keyspace;
use slotraft_multiraft::{Limits, MultiRaft};
use slotraft_raft::{ConfState, Config};
use slotraft_storage::{StdVfs, Store};
use slotraft_types::{GroupId, NodeId};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use tokio::sync::oneshot;
use transport::{Transport, TransportConfig};

/// Offset of the cluster-bus port from the client port (as in Redis).
pub const BUS_PORT_OFFSET: u16 = 10_000;

/// Everything a node needs to start (or restart from `dir`).
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub id: NodeId,
    pub cluster_id: u128,
    pub bind_ip: IpAddr,
    pub client_port: u16,
    /// Usually [`default_bus_port`]`(client_port)`.
    pub bus_port: u16,
    pub dir: PathBuf,
    /// Every member's bus address (this node's own entry is ignored).
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// Hosted groups and their INITIAL voters (the membership at log index
    /// 0; once a group has a snapshot, the snapshot's membership wins and
    /// committed conf changes after it are re-applied from the log).
    pub groups: Vec<(GroupId, Vec<NodeId>)>,
    /// A group's log is compacted behind a snapshot once it holds this many
    /// applied entries (default [`SNAPSHOT_LOG_ENTRIES`]; small in tests).
    pub snapshot_log_entries: u64,
    /// How linearizable reads are confirmed; must be the same on every member.
    pub read_mode: ReadMode,
    /// Redis's `cluster-node-timeout` for gossip failure detection, in ms
    /// (default [`gossip::DEFAULT_GOSSIP_NODE_TIMEOUT_MS`]; small in tests).
    pub gossip_node_timeout_ms: u64,
}

/// How a leader confirms it still leads before serving a read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadMode {
    /// A heartbeat round per batch of reads (ReadIndex): no clock assumption.
    #[default]
    ReadIndex,
    /// The leader lease (check-quorum based): no round trip, assumes
    /// bounded clock drift between members (see the raft crate docs).
    Lease,
}

/// The cluster-bus port for a client port (client port + 10000).
pub fn default_bus_port(client_port: u16) -> Option<u16> {
    client_port.checked_add(BUS_PORT_OFFSET)
}

/// Errors of starting a node.
#[derive(Debug)]
pub enum StartError {
    Io(std::io::Error),
    Storage(slotraft_storage::Error),
    Raft(slotraft_raft::Error),
    Snapshot(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for StartError {}

/// Raft settings for < 1 s failover (design doc §8).
pub fn raft_config(id: NodeId, group: GroupId, seed: u64, read_mode: ReadMode) -> Config {
    let mut c = Config::new(id);
    c.lease_read = read_mode == ReadMode::Lease;
    c.election_tick = driver::DEFAULT_ELECTION_TICK;
    c.heartbeat_tick = driver::DEFAULT_HEARTBEAT_TICK;
    c.pre_vote = true;
    c.check_quorum = true;
    c.seed = seed ^ group.get().wrapping_mul(0x9E37_79B9_7F4A_7C15);
    c
}

/// The driver thread's join handle, taken once by [`NodeHandle::shutdown`].
type DriverThread = JoinHandle<Result<(), slotraft_storage::Error>>;

/// A running node. Share it behind an `Arc` (every method takes `&self`;
/// none blocks the calling task on IO).
pub struct NodeHandle {
    id: NodeId,
    input: SyncSender<Request>,
    leaders: LeaderTable,
    stop: Arc<AtomicBool>,
    driver: Mutex<Option<DriverThread>>,
    transport: Transport,
    gossip: gossip::GossipService,
}

/// A recovered node state, before its threads start.
struct Built {
    mr: MultiRaft<WalStorage>,
    store: Arc<Store>,
    metas: BTreeMap<GroupId, SharedMeta>,
}

/// Opens the store and builds every group (restoring snapshots).
fn build_multiraft(cfg: &NodeConfig) -> Result<Built, StartError> {
    std::fs::create_dir_all(&cfg.dir).map_err(StartError::Io)?;
    let vfs = Arc::new(StdVfs::new(&cfg.dir).map_err(StartError::Io)?);
    let (store, _report) =
        Store::open(vfs, slotraft_storage::Config::default()).map_err(StartError::Storage)?;
    let store = Arc::new(store);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ cfg.id.get();
    let mut mr = MultiRaft::new(cfg.id, Limits::default(), seed);
    let mut metas = BTreeMap::new();
    for (g, voters) in &cfg.groups {
        let mut rc = raft_config(cfg.id, *g, seed, cfg.read_mode);
        let mut ks = Keyspace::new();
        let meta = match log_store::read_snapshot_file(&store, *g).map_err(StartError::Storage)? {
            Some(snap) => {
                ks.restore(&mut &snap.data[..])
                    .map_err(StartError::Snapshot)?;
                rc.applied = snap.meta.index;
                GroupMeta {
                    conf_state: snap.meta.conf_state.clone(),
                    snapshot: snap,
                }
            }
            None => GroupMeta {
                conf_state: ConfState::with_voters(voters.iter().map(|v| v.get())),
                ..GroupMeta::default()
            },
        };
        let meta: SharedMeta = Arc::new(RwLock::new(meta));
        let st = WalStorage::new(store.clone(), *g, meta.clone());
        mr.add_group(*g, rc, st, ks).map_err(StartError::Raft)?;
        metas.insert(*g, meta);
    }
    Ok(Built { mr, store, metas })
}

impl NodeHandle {
    /// Starts a node: recovers `cfg.dir`, binds the bus port, starts the
    /// transport tasks (on the current tokio runtime: call it from inside
    /// one) and the driver thread.
    pub async fn start(cfg: NodeConfig) -> Result<NodeHandle, StartError> {
        // Recovery reads the whole WAL: keep it off the async workers.
        let c = cfg.clone();
        let Built { mr, store, metas } = tokio::task::spawn_blocking(move || build_multiraft(&c))
            .await
            .map_err(|e| StartError::Io(std::io::Error::other(e.to_string())))??;
        let (tx, rx) = sync_channel(INPUT_QUEUE_CAPACITY);
        let (bus_tx, bus_rx) = tokio::sync::mpsc::channel(transport::BUS_INBOX_CAPACITY);
        let transport = Transport::start(
            TransportConfig {
                id: cfg.id,
                cluster_id: cfg.cluster_id,
                bind_ip: cfg.bind_ip,
                bus_port: cfg.bus_port,
                peers: cfg.peers.clone(),
            },
            tx.clone(),
            bus_tx,
        )
        .await
        .map_err(StartError::Io)?;
        let leaders = LeaderTable::default();
        // TODO(integration): pass `watch_map()` and `offer_map` instead of
        // the gossip task's private map once the node publishes its map.
        let gossip = gossip::start_for_node(
            &cfg,
            &transport,
            bus_rx,
            leaders.clone(),
            gossip::private_map_source(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let d = Driver {
            mr,
            store,
            metas,
            input: rx,
            outbox: transport.outbox.clone(),
            leaders: leaders.clone(),
            stop: stop.clone(),
            snapshot_log_entries: cfg.snapshot_log_entries,
        };
        let driver = std::thread::Builder::new()
            .name(format!("slotraft-driver-{}", cfg.id.get()))
            .spawn(move || d.run())
            .map_err(StartError::Io)?;
        Ok(NodeHandle {
            id: cfg.id,
            input: tx,
            leaders,
            stop,
            driver: Mutex::new(Some(driver)),
            transport,
            gossip,
        })
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// False once the driver thread stopped (shutdown, or a WAL failure:
    /// then every request is answered `NotExecuted::Dropped` and the node
    /// must be restarted to recover).
    pub fn is_running(&self) -> bool {
        self.driver
            .lock()
            .expect("driver handle lock")
            .as_ref()
            .is_some_and(|h| !h.is_finished())
    }

    /// The bus address actually bound.
    pub fn bus_addr(&self) -> SocketAddr {
        self.transport.local_addr
    }

    /// Cuts (`true`) or heals the link to `peer` in both directions, as a
    /// firewall rule would (fault injection for tests and drills).
    pub fn set_link_blocked(&self, peer: NodeId, blocked: bool) {
        let mut b = self.transport.outbox.blocked.write().expect("blocked lock");
        if blocked {
            b.insert(peer);
        } else {
            b.remove(&peer);
        }
    }

    /// Transport counters.
    pub fn transport_stats(&self) -> &transport::TransportStats {
        &self.transport.outbox.stats
    }

    /// Gossip's PFAIL/FAIL view of every member, this node included (for
    /// CLUSTER NODES / INFO and routing; no driver round trip).
    pub fn health(&self) -> BTreeMap<NodeId, slotraft_cluster::NodeHealth> {
        self.gossip.health()
    }

    /// Leader hints learned by gossip for groups this node does not host
    /// (hosted groups: [`NodeHandle::leader`], from local Raft).
    pub fn gossip_leaders(&self) -> BTreeMap<GroupId, NodeId> {
        self.gossip.leaders()
    }

    /// Gossip message counters in Redis's `CLUSTER INFO` naming.
    pub fn gossip_stats(&self) -> Vec<(&'static str, u64)> {
        self.gossip.stats()
    }

    fn submit(&self, req: Request) -> Result<(), NotExecuted> {
        match self.input.try_send(req) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(NotExecuted::Busy),
            Err(TrySendError::Disconnected(_)) => Err(NotExecuted::Dropped("node stopped".into())),
        }
    }

    /// Proposes a write; answered once applied (or why not).
    pub async fn propose(&self, group: GroupId, op: Op) -> Completion {
        let (reply, rx) = oneshot::channel();
        if let Err(e) = self.submit(Request::Propose { group, op, reply }) {
            return Completion::NotExecuted(e);
        }
        // Once submitted, the write may have been proposed: a lost answer is
        // uncertain, never retryable.
        rx.await.unwrap_or(Completion::Uncertain(
            "node stopped while the write was pending",
        ))
    }

    /// A linearizable read (ReadIndex), on a leader or a follower.
    pub async fn read(&self, group: GroupId, argv: Vec<Bytes>) -> Completion {
        let (reply, rx) = oneshot::channel();
        if let Err(e) = self.submit(Request::Read { group, argv, reply }) {
            return Completion::NotExecuted(e);
        }
        rx.await
            .unwrap_or(Completion::NotExecuted(NotExecuted::Dropped(
                "node stopped".into(),
            )))
    }

    /// Full status of a group, from the driver.
    pub async fn status(&self, group: GroupId) -> Option<GroupStatus> {
        let (reply, rx) = oneshot::channel();
        self.submit(Request::Status { group, reply }).ok()?;
        rx.await.ok().flatten()
    }

    /// Leader and term last seen for a group (no driver round trip).
    pub fn leader(&self, group: GroupId) -> Option<LeaderInfo> {
        self.leaders
            .read()
            .expect("leader table")
            .get(&group)
            .copied()
    }

    /// Asks this node (the leader) to hand the group's leadership to `to`.
    pub async fn transfer_leader(&self, group: GroupId, to: NodeId) -> Result<(), NotExecuted> {
        let (reply, rx) = oneshot::channel();
        self.submit(Request::Transfer { group, to, reply })?;
        rx.await
            .unwrap_or(Err(NotExecuted::Dropped("node stopped".into())))
    }

    /// Stops the driver (after its current round) and closes every socket.
    /// The WAL holds everything acknowledged; restart with the same config.
    /// Idempotent; returns the WAL error if the driver stopped on one.
    pub async fn shutdown(&self) -> Result<(), slotraft_storage::Error> {
        self.stop_now();
        let driver = self.driver.lock().expect("driver handle lock").take();
        let res = match driver {
            Some(h) => tokio::task::spawn_blocking(move || h.join())
                .await
                .ok()
                .and_then(|r| r.ok())
                .unwrap_or(Ok(())),
            None => Ok(()),
        };
        res
    }

    fn stop_now(&self) {
        self.stop.store(true, Ordering::Release);
        self.transport.stop();
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

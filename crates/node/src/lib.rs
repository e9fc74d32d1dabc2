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
//! - [`driver`]: the loop owning `MultiRaft` (tick, ready, persist, send,
//!   complete), a task on the runtime or a thread of its own
//!   ([`DriverPlacement`]);
//! - [`transport`]: TCP between nodes on the cluster-bus port;
//! - [`gossip`]: the gossip task on that bus (PFAIL/FAIL, leader hints,
//!   pulling newer maps), read through [`NodeHandle::health`] & co.;
//! - [`map_cache`]: the newest known cluster map, shared by the driver,
//!   gossip and the server.
//!
//! Use: inside a tokio runtime, `NodeHandle::start(NodeConfig)`, share the
//! handle behind an `Arc`, call `propose`/`read`/`status`/`leader`/
//! `transfer_leader`, and `shutdown().await` before restarting a node from
//! the same directory. `start` holds an exclusive lock on `dir/LOCK` for as
//! long as the driver runs, so two processes can never share a WAL.
//!
//! Cluster map: if [`NodeConfig::meta`] is set the node hosts a replica of
//! the metadata group ([`GroupId::METADATA`], state machine
//! `slotraft_cluster::ClusterMap`); [`NodeHandle::cluster_map`] is the
//! newest map the node knows (applied by its metadata replica, or offered
//! by gossip), published through a `tokio::sync::watch` channel, and only
//! ever replaced by a map with a higher epoch.
//!
//! TODO(integration), not in this crate yet: adding/removing groups on a
//! running node (the map says which groups a node should host; the node
//! still hosts exactly `NodeConfig::groups`).

pub mod driver;
pub mod gossip;
pub mod log_store;
pub mod map_cache;
pub mod snapshot_policy;
pub mod transport;

pub use driver::{
    Job, LeaderInfo, DEFAULT_ELECTION_TICK, DEFAULT_HEARTBEAT_TICK, DEFAULT_TICK,
    INPUT_QUEUE_CAPACITY, MAX_BATCH_JOBS, MAX_PENDING_TRANSFERS, READY_KEYS_CAPACITY,
    TRANSFER_TIMEOUT,
};
pub use map_cache::MapCache;
pub use slotraft_multiraft::{Completion, GroupStatus, NotExecuted, Op};
pub use slotraft_storage::Config as StoreConfig;
pub use snapshot_policy::{
    SnapshotCounts, SnapshotPolicy, SnapshotStats, SNAPSHOT_LOG_ENTRIES, SNAPSHOT_LOG_MIN_BYTES,
    SNAPSHOT_LOG_PERCENT,
};

use bytes::Bytes;
use driver::{Driver, LeaderTable, Request};
use log_store::{GroupMeta, SharedMeta, WalStorage};
use slotraft_cluster::{ClusterMap, MetaCommand};
use slotraft_keyspace::Keyspace;
use slotraft_multiraft::{Limits, MultiRaft};
use slotraft_raft::{ConfState, Config};
use slotraft_storage::{StdVfs, Store};
use slotraft_types::{GroupId, NodeId};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot, watch};
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
    /// When a group's log is compacted behind a snapshot (by log bytes
    /// relative to the state, or a cap on entries: small in tests).
    pub snapshot: SnapshotPolicy,
    /// The WAL's settings (defaults in use; small segments in tests).
    pub store: slotraft_storage::Config,
    /// How linearizable reads are confirmed; must be the same on every member.
    pub read_mode: ReadMode,
    /// `Some` = this node hosts a replica of the metadata group
    /// ([`GroupId::METADATA`]); `None` = it only caches maps it is offered.
    /// (`groups` lists shard groups only.)
    pub meta: Option<MetaGroupConfig>,
    /// Redis's `cluster-node-timeout` for gossip failure detection, in ms
    /// (default [`gossip::DEFAULT_GOSSIP_NODE_TIMEOUT_MS`]; small in tests).
    pub gossip_node_timeout_ms: u64,
    /// Where the driver (the owner of every Raft group) runs.
    pub driver: DriverPlacement,
    /// TEST ONLY: deliberately broken Raft behaviour for every group, so the
    /// fault-injection suite can show it catches real bugs (`slotraft server
    /// --debug-inject-bug NAME`). Always `InjectedBugs::default()` in use.
    pub raft_bugs: slotraft_raft::InjectedBugs,
}

/// This node's replica of the metadata group.
#[derive(Clone, Debug)]
pub struct MetaGroupConfig {
    /// The metadata group's INITIAL voters (as `groups` for shard groups).
    pub voters: Vec<NodeId>,
    /// The map the group starts from at log index 0 (usually
    /// `ClusterMap::new()`: the bootstrap is itself a replicated command).
    /// Ignored once the group has a snapshot.
    pub initial: ClusterMap,
}

/// Name of the lock file in a node's directory.
pub const DIR_LOCK_FILE: &str = "LOCK";

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

/// Where a node's driver runs (see `docs/decisions/0009`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DriverPlacement {
    /// A thread of its own: Raft rounds, their fdatasync and applying run
    /// beside the runtime that serves clients and peers. Each hand-off
    /// between the two (a request in, a round's answers out) wakes the
    /// other thread: a system call and usually a context switch.
    #[default]
    Thread,
    /// A task on the current tokio runtime, beside the connections: for a
    /// one-thread runtime (`io-threads 1`, Redis's model) every hand-off is
    /// then a task wake on the same thread, and a round's fdatasync blocks
    /// the event loop as Redis's `appendfsync always` does. Needs a
    /// current-thread runtime to mean that; on a multi-thread runtime the
    /// driver would block one of its workers.
    Runtime,
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
    /// Another process (or another `NodeHandle` in this one) holds the lock
    /// on this node directory.
    DirLocked(PathBuf),
    /// The configuration contradicts itself (the text says how).
    BadConfig(&'static str),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::DirLocked(p) => write!(
                f,
                "node directory {} is in use by another slotraft node (lock {DIR_LOCK_FILE} held)",
                p.display()
            ),
            StartError::BadConfig(why) => write!(f, "bad node configuration: {why}"),
            other => write!(f, "{other:?}"),
        }
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
    c.max_committed_size_per_ready = driver::MAX_APPLY_BYTES_PER_ROUND;
    c.seed = seed ^ group.get().wrapping_mul(0x9E37_79B9_7F4A_7C15);
    c
}

/// Receiver of `(group, keys)` that became ready on a leader group.
pub type ReadyKeys = mpsc::Receiver<(GroupId, Vec<Bytes>)>;

/// What the driver returns when it ends.
type DriverResult = Result<(), slotraft_storage::Error>;

/// The running driver, taken once by [`NodeHandle::shutdown`].
enum DriverTask {
    Thread(std::thread::JoinHandle<DriverResult>),
    Task(tokio::task::JoinHandle<DriverResult>),
}

impl DriverTask {
    fn is_finished(&self) -> bool {
        match self {
            DriverTask::Thread(h) => h.is_finished(),
            DriverTask::Task(h) => h.is_finished(),
        }
    }

    /// Waits for the driver to end (after its current round).
    async fn join(self) -> DriverResult {
        match self {
            DriverTask::Thread(h) => tokio::task::spawn_blocking(move || h.join())
                .await
                .ok()
                .and_then(|r| r.ok())
                .unwrap_or(Ok(())),
            DriverTask::Task(h) => h.await.unwrap_or(Ok(())),
        }
    }
}

/// Starts the driver where `placement` says.
fn spawn_driver(d: Driver, placement: DriverPlacement, id: NodeId) -> std::io::Result<DriverTask> {
    match placement {
        DriverPlacement::Runtime => Ok(DriverTask::Task(tokio::spawn(d.run()))),
        DriverPlacement::Thread => {
            // Its own runtime only for the tick timer and the input
            // channel's wake-ups: nothing else runs on it.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()?;
            let h = std::thread::Builder::new()
                .name(format!("slotraft-driver-{}", id.get()))
                .spawn(move || rt.block_on(d.run()))?;
            Ok(DriverTask::Thread(h))
        }
    }
}

/// A running node. Share it behind an `Arc` (every method takes `&self`;
/// none blocks the calling task on IO).
pub struct NodeHandle {
    id: NodeId,
    input: mpsc::Sender<Request>,
    leaders: LeaderTable,
    stop: Arc<AtomicBool>,
    driver: Mutex<Option<DriverTask>>,
    /// The newest known cluster map (see [`map_cache`]).
    maps: MapCache,
    /// Ready keys of leader groups; taken once by the server.
    ready_keys: Mutex<Option<ReadyKeys>>,
    /// Ready-key batches dropped because the channel was full.
    ready_dropped: Arc<AtomicU64>,
    snapshot_stats: Arc<SnapshotStats>,
    transport: Transport,
    gossip: gossip::GossipService,
}

/// A recovered node state, before its threads start.
struct Built {
    mr: MultiRaft<WalStorage>,
    store: Arc<Store>,
    metas: BTreeMap<GroupId, SharedMeta>,
    /// The open, exclusively locked `dir/LOCK` (unlocked when dropped).
    dir_lock: std::fs::File,
    /// The map to publish first: the metadata replica's recovered map, or
    /// the empty map.
    map: ClusterMap,
}

/// Takes the exclusive lock on `dir/LOCK` (an advisory `flock`: released by
/// the kernel when the file is closed, so a crashed node never leaves a
/// stale lock behind).
fn lock_dir(dir: &std::path::Path) -> Result<std::fs::File, StartError> {
    use fs2::FileExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(DIR_LOCK_FILE))
        .map_err(StartError::Io)?;
    match file.try_lock_exclusive() {
        Ok(()) => Ok(file),
        Err(e) if e.kind() == fs2::lock_contended_error().kind() => {
            Err(StartError::DirLocked(dir.to_path_buf()))
        }
        Err(e) => Err(StartError::Io(e)),
    }
}

/// Rejects configurations that cannot describe a working node.
fn check_config(cfg: &NodeConfig) -> Result<(), StartError> {
    if cfg.groups.iter().any(|(g, _)| *g == GroupId::METADATA) {
        return Err(StartError::BadConfig(
            "group 0 is the metadata group: configure it with `meta`, not `groups`",
        ));
    }
    if let Some(m) = &cfg.meta {
        if !m.voters.contains(&cfg.id) {
            return Err(StartError::BadConfig(
                "`meta.voters` must include this node (else leave `meta` unset)",
            ));
        }
    }
    Ok(())
}

/// Opens the store and builds every group (restoring snapshots).
fn build_multiraft(cfg: &NodeConfig) -> Result<Built, StartError> {
    check_config(cfg)?;
    std::fs::create_dir_all(&cfg.dir).map_err(StartError::Io)?;
    // Before the WAL is opened: two nodes must never write one directory.
    let dir_lock = lock_dir(&cfg.dir)?;
    let vfs = Arc::new(StdVfs::new(&cfg.dir).map_err(StartError::Io)?);
    let (store, _report) = Store::open(vfs, cfg.store.clone()).map_err(StartError::Storage)?;
    let store = Arc::new(store);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ cfg.id.get();
    let mut mr = MultiRaft::new(cfg.id, Limits::default(), seed);
    mr.set_send_before_persist(true);
    let mut metas = BTreeMap::new();
    for (g, voters) in &cfg.groups {
        let mut rc = raft_config(cfg.id, *g, seed, cfg.read_mode);
        rc.bugs = cfg.raft_bugs;
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
    let mut map = ClusterMap::new();
    if let Some(mc) = &cfg.meta {
        let g = GroupId::METADATA;
        let mut rc = raft_config(cfg.id, g, seed, cfg.read_mode);
        rc.bugs = cfg.raft_bugs;
        let (meta, initial) =
            match log_store::read_snapshot_file(&store, g).map_err(StartError::Storage)? {
                Some(snap) => {
                    let m = ClusterMap::decode_snapshot(&snap.data).map_err(|e| {
                        StartError::Snapshot(std::io::Error::other(format!("cluster map: {e}")))
                    })?;
                    rc.applied = snap.meta.index;
                    let meta = GroupMeta {
                        conf_state: snap.meta.conf_state.clone(),
                        snapshot: snap,
                    };
                    (meta, m)
                }
                None => {
                    let meta = GroupMeta {
                        conf_state: ConfState::with_voters(mc.voters.iter().map(|v| v.get())),
                        ..GroupMeta::default()
                    };
                    (meta, mc.initial.clone())
                }
            };
        map = initial.clone();
        let meta: SharedMeta = Arc::new(RwLock::new(meta));
        let st = WalStorage::new(store.clone(), g, meta.clone());
        mr.add_meta_group(g, rc, st, initial)
            .map_err(StartError::Raft)?;
        metas.insert(g, meta);
    }
    Ok(Built {
        mr,
        store,
        metas,
        dir_lock,
        map,
    })
}

impl NodeHandle {
    /// Starts a node: recovers `cfg.dir`, binds the bus port, starts the
    /// transport tasks (on the current tokio runtime: call it from inside
    /// one) and the driver (where [`NodeConfig::driver`] says).
    pub async fn start(cfg: NodeConfig) -> Result<NodeHandle, StartError> {
        // Recovery reads the whole WAL: keep it off the async workers.
        let c = cfg.clone();
        let Built {
            mr,
            store,
            metas,
            dir_lock,
            map,
        } = tokio::task::spawn_blocking(move || build_multiraft(&c))
            .await
            .map_err(|e| StartError::Io(std::io::Error::other(e.to_string())))??;
        let maps = MapCache::new(map);
        let (ready_tx, ready_rx) = mpsc::channel(READY_KEYS_CAPACITY);
        let (tx, rx) = mpsc::channel(INPUT_QUEUE_CAPACITY);
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
        // Every hosted group is in the table from the start (leader unknown
        // until Raft reports one): "hosted" is what gossip and the server
        // read from it, and a group with no leader change yet is hosted too.
        let leaders = LeaderTable::default();
        {
            let mut table = leaders.write().expect("leader table lock");
            for g in mr.groups() {
                let s = mr.status(g).expect("listed group");
                table.insert(
                    g,
                    driver::LeaderInfo {
                        leader: s.leader,
                        term: s.term,
                    },
                );
            }
        }
        // Gossip follows the node's map and offers the maps it pulls to it.
        let offer_to: MapCache = maps.clone();
        let gossip = gossip::start_for_node(
            &cfg,
            &transport,
            bus_rx,
            leaders.clone(),
            (
                maps.subscribe(),
                Arc::new(move |m| {
                    offer_to.offer(m);
                }),
            ),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let ready_dropped = Arc::new(AtomicU64::new(0));
        let snapshot_stats = Arc::new(SnapshotStats::default());
        let done = match cfg.driver {
            DriverPlacement::Runtime => None,
            DriverPlacement::Thread => {
                let (done_tx, done_rx) = mpsc::channel(driver::COMPLETION_BATCHES_CAPACITY);
                // Ends by itself when the driver (the only sender) is gone.
                tokio::spawn(driver::fan_out(done_rx));
                Some(done_tx)
            }
        };
        let d = Driver {
            mr,
            store,
            metas,
            input: rx,
            outbox: transport.outbox.clone(),
            leaders: leaders.clone(),
            stop: stop.clone(),
            snapshot: cfg.snapshot,
            snapshot_stats: snapshot_stats.clone(),
            maps: maps.clone(),
            ready_keys: ready_tx,
            ready_dropped: ready_dropped.clone(),
            transfers: Vec::new(),
            snapshot_job: None,
            done,
            placement: cfg.driver,
            _dir_lock: dir_lock,
        };
        let driver = spawn_driver(d, cfg.driver, cfg.id).map_err(StartError::Io)?;
        Ok(NodeHandle {
            id: cfg.id,
            input: tx,
            leaders,
            stop,
            driver: Mutex::new(Some(driver)),
            maps,
            ready_keys: Mutex::new(Some(ready_rx)),
            ready_dropped,
            snapshot_stats,
            transport,
            gossip,
        })
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// False once the driver stopped (shutdown, or a WAL failure:
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
            Err(TrySendError::Closed(_)) => Err(NotExecuted::Dropped("node stopped".into())),
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

    /// Submits several proposals and reads in one message (a pipeline's
    /// run of commands), in order; answered together once all completed,
    /// one completion per job in the same order. Cheaper than one
    /// [`Self::propose`] / [`Self::read`] each: one channel message and one
    /// wake-up for the whole run. At most [`MAX_BATCH_JOBS`] jobs.
    pub async fn submit_batch(&self, jobs: Vec<Job>) -> Vec<Completion> {
        let proposals: Vec<bool> = jobs
            .iter()
            .map(|j| matches!(j, Job::Propose { .. }))
            .collect();
        let lost = |proposal: bool| {
            if proposal {
                // Submitted: possibly proposed, so uncertain (see `propose`).
                Completion::Uncertain("node stopped while the write was pending")
            } else {
                Completion::NotExecuted(NotExecuted::Dropped("node stopped".into()))
            }
        };
        let (reply, rx) = oneshot::channel();
        if let Err(e) = self.submit(Request::Batch { jobs, reply }) {
            return proposals
                .iter()
                .map(|_| Completion::NotExecuted(e.clone()))
                .collect();
        }
        match rx.await {
            Ok(cs) => {
                debug_assert_eq!(cs.len(), proposals.len(), "one answer per job");
                cs
            }
            Err(_) => proposals.into_iter().map(lost).collect(),
        }
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

    /// Hands leadership of `group` to `to`, from ANY member (a follower
    /// forwards the request to the leader it knows). Resolves `Ok` once this
    /// node sees `to` leading `group`; `Err(NoLeader)` if no leader is known
    /// here, `Err(Dropped)` after [`TRANSFER_TIMEOUT`] or if the node stops.
    pub async fn transfer_leader(&self, group: GroupId, to: NodeId) -> Result<(), NotExecuted> {
        let (reply, rx) = oneshot::channel();
        self.submit(Request::Transfer { group, to, reply })?;
        rx.await
            .unwrap_or(Err(NotExecuted::Dropped("node stopped".into())))
    }

    /// Newest cluster map this node knows (applied state of the metadata
    /// group if hosted, else the last one offered, initially empty). Cheap:
    /// an `Arc` clone, no driver round trip.
    pub fn cluster_map(&self) -> Arc<ClusterMap> {
        self.maps.current()
    }

    /// Notified on every change of [`Self::cluster_map`].
    pub fn watch_map(&self) -> watch::Receiver<Arc<ClusterMap>> {
        self.maps.subscribe()
    }

    /// Publishes a map learned elsewhere (gossip pull); ignored unless its
    /// epoch is higher than the current map's.
    pub fn offer_map(&self, map: ClusterMap) {
        self.maps.offer(map);
    }

    /// The shared map cache itself (for the gossip task).
    pub fn map_cache(&self) -> &MapCache {
        &self.maps
    }

    /// Proposes a metadata change through Raft. This node must lead the
    /// metadata group (else `NotLeader(hint)`; `UnknownGroup` if it hosts
    /// no metadata replica). `Done(Reply(+OK))` once applied, or
    /// `Done(Reply(-ERR <why>))` if `ClusterMap::apply` rejected it (the
    /// map is then unchanged).
    pub async fn propose_meta(&self, cmd: MetaCommand) -> Completion {
        self.propose(GroupId::METADATA, Op::Meta(cmd.encode()))
            .await
    }

    /// Keys that became ready on this node's LEADER groups after applying
    /// (for BLPOP & co.). The receiver exists once: the first call takes
    /// it. Bounded by [`READY_KEYS_CAPACITY`]; on overflow batches are
    /// dropped and counted ([`Self::ready_keys_dropped`]): a consumer that
    /// sees the count move must re-check every client it parked.
    pub fn take_ready_keys(&self) -> Option<ReadyKeys> {
        self.ready_keys.lock().expect("ready keys lock").take()
    }

    /// Log-compaction snapshots of this node so far (INFO persistence).
    pub fn snapshot_stats(&self) -> SnapshotCounts {
        self.snapshot_stats.read()
    }

    /// How many ready-key batches were dropped on a full channel so far.
    pub fn ready_keys_dropped(&self) -> u64 {
        self.ready_dropped.load(Ordering::Acquire)
    }

    /// Tells every group that `peer` is unreachable (what the transport
    /// does when a connection fails; also usable by drills). Best effort.
    pub fn report_unreachable(&self, peer: NodeId) {
        let _ = self.submit(Request::Unreachable(peer));
    }

    /// Stops the driver (after its current round) and closes every socket.
    /// The WAL holds everything acknowledged; restart with the same config.
    /// Idempotent; returns the WAL error if the driver stopped on one.
    pub async fn shutdown(&self) -> Result<(), slotraft_storage::Error> {
        self.stop_now();
        let driver = self.driver.lock().expect("driver handle lock").take();
        match driver {
            Some(d) => d.join().await,
            None => Ok(()),
        }
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

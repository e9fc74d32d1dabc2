//! The cluster engine: client commands → routing → the node's Raft groups.
//!
//! Why it exists: connections speak to an [`Engine`]; in cluster mode every
//! keyed command is first routed by the one routing function
//! (`slotraft_cluster::route`, Redis's `getNodeByQuery`), then proposed to
//! (writes) or read through (reads) the local Raft group of its shard via
//! the node runtime (`slotraft_node::NodeHandle`). Errors produced after a
//! command was handed to the node are mapped by
//! `slotraft_cluster::refused_reply` (certainly not executed → a retryable
//! redirect) or become `-UNCERTAIN` (docs/decisions/0002).
//!
//! Ordering within one client's pipeline (Redis processes a client's
//! commands one after the other):
//! - consecutive writes are handed to the node together (one log entry per
//!   group per driver round: this is where pipelining pays) and answered in
//!   order;
//! - a read after a write (or a write after a read) waits until the earlier
//!   run completed: a ReadIndex taken before the write commits could miss
//!   it, and a read still waiting for its index could see a later write;
//! - a blocking command runs alone; if it blocks, the rest of the pipeline
//!   waits, as in Redis.
//!
//! Blocking commands: the command is proposed; applying it on an empty key
//! changes nothing and yields `Outcome::Block`; the client is parked here.
//! The node reports keys that became ready on its leader groups; parked
//! clients of those keys re-propose their command, first come first served.
//! A client parked on a group this node stops leading is answered `-MOVED`.
//!
//! Leadership changes are held, not reported: a command refused because
//! its shard's leadership is moving (no leader known yet, a transfer in
//! progress, its entry superseded: certainly not executed each time) is
//! re-routed and re-run (backing off from 5 to 100 ms) for up to
//! [`LEADER_CHANGE_HOLD`], so clients see
//! `-MOVED` to the new leader (or just their reply) instead of
//! `-CLUSTERDOWN`/`-TRYAGAIN` during a CLUSTER FAILOVER, a balancing
//! hand-back or a quick election. Only a pipeline's refused *tail* is
//! re-run, so its order holds. Only the first second of an outage is held:
//! a shard leaderless for longer gets its refusals at once.
//!
//! Keyless commands (DBSIZE, KEYS, SCAN, RANDOMKEY, FLUSHALL, FLUSHDB) act
//! on the shards this node currently leads, as Redis Cluster's do on the
//! node's own slots.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use slotraft_cluster::{
    refused_reply, route, ClusterMap, NodeHealth, Refused, Route, RouteRequest, Topology,
};
use slotraft_keyspace::db::SCAN_POS_BITS;
use slotraft_node::{
    Completion, Job, MetaGroupConfig, NodeConfig, NodeHandle, NotExecuted, Op, ReadMode,
};
use slotraft_resp::Reply;
use slotraft_types::{key_slot, GroupId, NodeId, SlotId, SLOT_COUNT};
use tokio::sync::oneshot;
use tracing::{info, warn};

use crate::blocking::BlockedClients;
use crate::engine::{BatchEnd, Cmd, ConnFlags, Engine, EngineStats};
use crate::identity::{self, Identity};
use crate::ks::{self, Argv, Outcome};

/// Most commands of one pipeline handed to the node at once (the rest
/// follows when they are answered). Below the node's input queue so one
/// client cannot fill it alone.
pub const MAX_RUN: usize = 1024;
/// How often parked clients are checked against leadership changes and the
/// cached map against the node's.
pub const WATCH_PERIOD: Duration = Duration::from_millis(100);
/// How often a node checks whether it leads shards whose preferred leader
/// (first replica in the map) is another, healthy node.
pub const BALANCE_PERIOD: Duration = Duration::from_secs(2);
/// A node must have led a shard this long before handing it back (no
/// ping-pong while elections settle).
pub const BALANCE_MIN_TENURE: Duration = Duration::from_secs(3);
/// The preferred leader must have answered gossip this recently.
pub const BALANCE_MAX_PONG_AGE_MS: u64 = 2_000;
/// After a failed hand-back, the shard is left alone this long (a transfer
/// to a lagging or dying node pauses the shard's writes until it times out).
pub const BALANCE_BACKOFF: Duration = Duration::from_secs(30);
/// Re-executions of one parked client per wake-up (each is a log entry;
/// more wake-ups during them fold into one more round).
pub const MAX_RETRY_ROUNDS: usize = 16;
/// How often INFO's key counters are refreshed from the led shards.
pub const STATS_PERIOD: Duration = Duration::from_secs(1);
/// How long CLUSTER FAILOVER waits for the leadership transfers it asked
/// for before answering (Redis answers at once; waiting a little makes the
/// reply mean "done" in the common case).
pub const FAILOVER_WAIT: Duration = Duration::from_secs(3);
/// How long a command refused because its shard's leadership is changing
/// (no leader known, a transfer in progress, its entry superseded) is held
/// here and retried before the refusal is sent. A planned transfer settles
/// in milliseconds and a crash election in about half a second; clients
/// react to `-CLUSTERDOWN` far more slowly (redis-benchmark sleeps 1 s,
/// redis-py re-reads the whole map), so a short wait in the server is
/// the fastest way through. Longer than this, the shard is really down.
pub const LEADER_CHANGE_HOLD: Duration = Duration::from_secs(1);
/// First re-try of a held command ([`LEADER_CHANGE_HOLD`]): a planned
/// transfer has usually settled by then. Each later re-try waits twice as
/// long, up to [`LEADER_CHANGE_POLL_MAX`], so the clients of a shard in a
/// long election re-route a dozen times each, not hundreds.
pub const LEADER_CHANGE_POLL: Duration = Duration::from_millis(5);
/// Longest wait between two re-tries of a held command.
pub const LEADER_CHANGE_POLL_MAX: Duration = Duration::from_millis(100);

/// The waits between the re-tries of a held command: doubling from
/// [`LEADER_CHANGE_POLL`] to [`LEADER_CHANGE_POLL_MAX`], ending before
/// [`LEADER_CHANGE_HOLD`] has passed since `start`.
struct HoldBackoff {
    deadline: tokio::time::Instant,
    next: Duration,
}

impl HoldBackoff {
    fn new() -> HoldBackoff {
        HoldBackoff {
            deadline: tokio::time::Instant::now() + LEADER_CHANGE_HOLD,
            next: LEADER_CHANGE_POLL,
        }
    }

    /// Sleeps until the next re-try; false (at once) if the hold is over.
    async fn wait(&mut self) -> bool {
        let wake = tokio::time::Instant::now() + self.next;
        if wake > self.deadline {
            return false;
        }
        tokio::time::sleep_until(wake).await;
        self.next = (self.next * 2).min(LEADER_CHANGE_POLL_MAX);
        true
    }
}
/// Default GETKEYSINSLOT reply bound is the client's count; this caps it.
pub const MAX_GETKEYSINSLOT: u64 = slotraft_keyspace::MAX_KEYS_IN_SLOT_REPLY as u64;

/// How this node was started (fixed for the process lifetime).
#[derive(Clone, Debug)]
pub struct NodeParams {
    pub bind_ip: IpAddr,
    pub client_port: u16,
    pub dir: PathBuf,
    pub read_mode: ReadMode,
    pub snapshot: slotraft_node::SnapshotPolicy,
    pub gossip_node_timeout_ms: u64,
    /// Where the node's driver runs: on the clients' runtime when that is
    /// one thread (`io-threads 1`), else on a thread of its own.
    pub driver: slotraft_node::DriverPlacement,
    /// No cluster flags (a one-node store from `--dir`): Redis standalone
    /// behaviour — CLUSTER commands disabled, multi-key commands across
    /// slots allowed (one shard holds them all).
    pub standalone: bool,
    /// TEST ONLY (`--debug-inject-bug`): see `NodeConfig::raft_bugs`.
    pub raft_bugs: slotraft_raft::InjectedBugs,
}

/// A running cluster node.
struct Running {
    node: Arc<NodeHandle>,
    me: NodeId,
    /// The newest map known (max epoch of the persisted one and the node's).
    map: RwLock<Arc<ClusterMap>>,
    /// The identity file's contents (bootstrap map never changes).
    identity: Mutex<Identity>,
    /// Where the identity file lives.
    dir: PathBuf,
    standalone: bool,
    /// Since when each hosted shard has had no leader, as sampled every
    /// [`WATCH_PERIOD`] (absent: it has one, or lost it too recently to
    /// be sampled). Decides whether a refusal is still worth holding.
    leaderless_since: Mutex<BTreeMap<GroupId, tokio::time::Instant>>,
}

/// Parked clients and the group each waits on.
///
/// Invariant: a client in `in_flight` is also in `clients` (its command is
/// being re-executed; it is answered when that completes), and a client in
/// `cancelled` is in `in_flight` (it timed out meanwhile: if the
/// re-execution blocks again it gets the timeout reply).
#[derive(Default)]
struct Parked {
    clients: BlockedClients,
    group_of: BTreeMap<u64, GroupId>,
    in_flight: std::collections::BTreeSet<u64>,
    cancelled: std::collections::BTreeSet<u64>,
    /// Woken while a re-execution was in flight: run once more after it.
    rerun: std::collections::BTreeSet<u64>,
}

impl Parked {
    fn serve(&mut self, client: u64, reply: Reply) {
        self.group_of.remove(&client);
        self.in_flight.remove(&client);
        self.cancelled.remove(&client);
        self.rerun.remove(&client);
        self.clients.serve(client, reply);
    }
}

struct Inner {
    params: NodeParams,
    running: OnceLock<Arc<Running>>,
    /// Serializes bootstrap / start.
    starting: tokio::sync::Mutex<()>,
    parked: Mutex<Parked>,
    expired_keys: AtomicU64,
    keys: AtomicU64,
    expires: AtomicU64,
}

/// The engine of a cluster node. Cheap to clone (shared state).
#[derive(Clone)]
pub struct ClusterEngine(Arc<Inner>);

/// What one command of a batch came to.
enum One {
    /// Executed (its reply, errors included), or answered without the node.
    Reply(Reply),
    /// Certainly not executed, for a reason that holding will not change
    /// (`-MOVED` to a known leader, `-CROSSSLOT`, a full queue...).
    Refused(Reply),
    /// Certainly not executed because the shard's leadership is changing;
    /// the reply is what the client gets if it is still so after
    /// [`LEADER_CHANGE_HOLD`].
    Transient(Reply),
    Block {
        group: GroupId,
        keys: Vec<Bytes>,
        timeout_ms: Option<u64>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Blocking,
}

fn kind_of(spec: &ks::CommandSpec) -> Kind {
    match spec.handler {
        ks::Handler::Read(_) => Kind::Read,
        ks::Handler::Blocking(_) => Kind::Blocking,
        _ => Kind::Write,
    }
}

fn slots_of(spec: &ks::CommandSpec, argv: &[Bytes]) -> Vec<SlotId> {
    slotraft_keyspace::key_positions(spec, argv)
        .into_iter()
        .map(|i| key_slot(&argv[i]))
        .collect()
}

fn uncertain(why: &str) -> Reply {
    Reply::error(format!("UNCERTAIN {why}"))
}

/// The reply for a completion on `slot` (see the module doc).
fn completion_reply(t: &Topology<'_>, slot: SlotId, c: Completion) -> Result<Outcome, Reply> {
    match c {
        Completion::Done(o) => Ok(o),
        Completion::Uncertain(why) => Err(uncertain(why)),
        Completion::NotExecuted(n) => Err(refused_reply(t, slot, refusal(n))),
    }
}

fn refusal(n: NotExecuted) -> Refused {
    match n {
        NotExecuted::NotLeader(hint) => Refused::NotLeader(hint),
        NotExecuted::NoLeader | NotExecuted::UnknownGroup | NotExecuted::Superseded => {
            Refused::NoLeader
        }
        NotExecuted::Busy | NotExecuted::Dropped(_) | NotExecuted::ReadTimeout => Refused::Busy,
    }
}

/// A snapshot of what routing needs, taken once per batch.
struct View {
    /// Standalone mode (decision 0006): no cluster flags.
    standalone: bool,
    map: Arc<ClusterMap>,
    me: NodeId,
    leaders: BTreeMap<GroupId, NodeId>,
    health: BTreeMap<NodeId, NodeHealth>,
    /// Hosted shards whose Raft group knows no leader right now.
    leaderless: std::collections::BTreeSet<GroupId>,
    /// Those of `leaderless` that have had no leader for
    /// [`LEADER_CHANGE_HOLD`] or longer: no new leader is coming soon (or
    /// not one this node can hear of, e.g. it is cut off from the shard's
    /// majority), so their refusals are sent at once, not held.
    long_leaderless: std::collections::BTreeSet<GroupId>,
}

impl View {
    fn topology(&self) -> Topology<'_> {
        let mut t = Topology::new(&self.map, self.me, &self.leaders, &self.health);
        t.unavailable = &self.leaderless;
        t
    }

    /// Shard groups this node leads, in group order.
    fn led_groups(&self) -> Vec<GroupId> {
        self.map
            .shards()
            .filter(|s| self.leaders.get(&s.id) == Some(&self.me))
            .map(|s| s.id)
            .collect()
    }
}

impl Running {
    fn view(&self) -> View {
        let map = self.map.read().clone();
        let hints = self.node.gossip_leaders();
        let leaders: BTreeMap<GroupId, NodeId> = map
            .shards()
            .filter_map(|s| {
                let l = if s.hosts(self.me) {
                    self.node.leader(s.id).and_then(|i| i.leader)
                } else {
                    hints.get(&s.id).copied()
                };
                l.map(|l| (s.id, l))
            })
            .collect();
        let leaderless: std::collections::BTreeSet<GroupId> = map
            .shards()
            .filter(|s| s.hosts(self.me) && !leaders.contains_key(&s.id))
            .map(|s| s.id)
            .collect();
        let long_leaderless = if leaderless.is_empty() {
            Default::default()
        } else {
            let now = tokio::time::Instant::now();
            let since = self.leaderless_since.lock();
            leaderless
                .iter()
                .filter(|g| {
                    since
                        .get(g)
                        .is_some_and(|t| now.duration_since(*t) >= LEADER_CHANGE_HOLD)
                })
                .copied()
                .collect()
        };
        View {
            standalone: self.standalone,
            map,
            me: self.me,
            leaders,
            health: self.node.health(),
            leaderless,
            long_leaderless,
        }
    }

    /// Adopts `m` if it is newer than the cached map, and persists it.
    fn adopt_map(&self, m: Arc<ClusterMap>) {
        if m.epoch() <= self.map.read().epoch() {
            return;
        }
        *self.map.write() = m.clone();
        let mut id = self.identity.lock();
        id.latest = (*m).clone();
        if let Err(e) = identity::store(&self.dir, &id) {
            warn!(error = %e, "cannot persist the new cluster map");
        }
    }
}

impl ClusterEngine {
    pub fn new(params: NodeParams) -> ClusterEngine {
        ClusterEngine(Arc::new(Inner {
            params,
            running: OnceLock::new(),
            starting: tokio::sync::Mutex::new(()),
            parked: Mutex::new(Parked::default()),
            expired_keys: AtomicU64::new(0),
            keys: AtomicU64::new(0),
            expires: AtomicU64::new(0),
        }))
    }

    fn running(&self) -> Option<&Arc<Running>> {
        self.0.running.get()
    }

    /// Waits (bounded by `limit`) until every shard this node hosts has a
    /// leader. Used at startup of a one-node cluster, so its first client
    /// is served instead of getting `-CLUSTERDOWN` during the first election.
    pub async fn wait_for_leaders(&self, limit: Duration) -> bool {
        let Some(r) = self.running().cloned() else {
            return false;
        };
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if r.view().leaderless.is_empty() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The node handle once the node runs (shutdown, tests).
    pub fn node(&self) -> Option<Arc<NodeHandle>> {
        self.running().map(|r| r.node.clone())
    }

    /// Starts the node from `dir`'s identity if there is one. Returns
    /// whether the node now runs.
    pub async fn start_from_dir(&self) -> std::io::Result<bool> {
        match identity::load(&self.0.params.dir)? {
            Some(id) => {
                self.start(id).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Makes this fresh node a member of the cluster `bootstrap` describes,
    /// as node `me`: persists the identity, then starts the node.
    pub async fn bootstrap(&self, me: NodeId, bootstrap: ClusterMap) -> Result<(), String> {
        let _g = self.0.starting.lock().await;
        if self.running().is_some() || identity::path(&self.0.params.dir).exists() {
            return Err("ERR this node is already part of a cluster".into());
        }
        let Some(info) = bootstrap.node(me) else {
            return Err(format!("ERR node {me} is not in the given cluster map"));
        };
        if info.port != self.0.params.client_port {
            return Err(format!(
                "ERR node {me} is listed with port {} but listens on {}",
                info.port, self.0.params.client_port
            ));
        }
        let id = Identity {
            node: me,
            latest: bootstrap.clone(),
            bootstrap,
        };
        identity::store(&self.0.params.dir, &id).map_err(|e| format!("ERR {e}"))?;
        self.start_locked(id).await.map_err(|e| format!("ERR {e}"))
    }

    async fn start(&self, id: Identity) -> std::io::Result<()> {
        let _g = self.0.starting.lock().await;
        self.start_locked(id).await
    }

    async fn start_locked(&self, id: Identity) -> std::io::Result<()> {
        assert!(self.running().is_none(), "the node starts once");
        let p = &self.0.params;
        let me = id.node;
        let map = if id.latest.epoch() >= id.bootstrap.epoch() {
            id.latest.clone()
        } else {
            id.bootstrap.clone()
        };
        let info = map.node(me).expect("identity checked: node in its map");
        let peers = map
            .nodes()
            .map(|n| (n.id, SocketAddr::new(n.ip, n.bus_port)))
            .collect();
        let groups = map
            .shards()
            .filter(|s| s.replicas.contains(&me))
            .map(|s| (s.id, s.replicas.clone()))
            .collect();
        let meta = id
            .bootstrap
            .meta_replicas()
            .contains(&me)
            .then(|| MetaGroupConfig {
                voters: id.bootstrap.meta_replicas().to_vec(),
                initial: id.bootstrap.clone(),
            });
        let cfg = NodeConfig {
            id: me,
            cluster_id: map.cluster_id().0,
            bind_ip: p.bind_ip,
            client_port: p.client_port,
            bus_port: info.bus_port,
            dir: p.dir.join("raft"),
            peers,
            groups,
            snapshot: p.snapshot,
            store: slotraft_node::StoreConfig::default(),
            read_mode: p.read_mode,
            meta,
            gossip_node_timeout_ms: p.gossip_node_timeout_ms,
            driver: p.driver,
            raft_bugs: p.raft_bugs,
        };
        let node = NodeHandle::start(cfg)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        info!(node = me.get(), epoch = map.epoch(), "cluster node started");
        let running = Arc::new(Running {
            node: Arc::new(node),
            me,
            map: RwLock::new(Arc::new(map)),
            identity: Mutex::new(id),
            dir: p.dir.clone(),
            standalone: p.standalone,
            leaderless_since: Mutex::new(BTreeMap::new()),
        });
        let _ = self.0.running.set(running.clone());
        self.spawn_background(running);
        Ok(())
    }
}

impl ClusterEngine {
    fn spawn_background(&self, r: Arc<Running>) {
        if let Some(rx) = r.node.take_ready_keys() {
            tokio::spawn(self.clone().ready_keys_loop(r.clone(), rx));
        }
        tokio::spawn(self.clone().watch_loop(r.clone()));
        tokio::spawn(self.clone().stats_loop(r));
    }

    /// Serves parked clients whose keys became ready (FIFO per key).
    async fn ready_keys_loop(
        self,
        r: Arc<Running>,
        mut rx: tokio::sync::mpsc::Receiver<(GroupId, Vec<Bytes>)>,
    ) {
        while let Some((group, keys)) = rx.recv().await {
            for key in keys {
                let waiters = self.0.parked.lock().clients.waiting_on(&key);
                for client in waiters {
                    self.retry_parked(&r, group, client).await;
                }
            }
        }
    }

    /// Re-executes a parked client's command on `group`; answers it unless
    /// the command blocks again. At most one re-execution per client runs
    /// at a time; a wake-up that arrives while one runs is not lost: it
    /// marks the client to run again once the current one blocks (the push
    /// may have been applied after the running re-execution).
    async fn retry_parked(&self, r: &Running, group: GroupId, client: u64) {
        for _ in 0..MAX_RETRY_ROUNDS {
            let argv = {
                let mut p = self.0.parked.lock();
                let Some(argv) = p.clients.argv_of(client).cloned() else {
                    return;
                };
                if p.group_of.get(&client) != Some(&group) {
                    return;
                }
                if !p.in_flight.insert(client) {
                    p.rerun.insert(client);
                    return;
                }
                argv
            };
            let slot = slots_of(
                ks::resolve(&argv).expect("parked commands are valid"),
                &argv,
            )
            .first()
            .copied()
            .unwrap_or(SlotId::new(0));
            let c = r.node.propose(group, Op::Cmd(argv)).await;
            let view = r.view();
            let reply = match completion_reply(&view.topology(), slot, c) {
                Ok(Outcome::Reply(rep)) => Some(rep),
                Ok(Outcome::Block(_)) => None,
                Err(e) => Some(e),
            };
            let mut p = self.0.parked.lock();
            match reply {
                Some(rep) => return p.serve(client, rep),
                None if p.cancelled.contains(&client) => {
                    return p.serve(client, crate::blocking::timeout_reply())
                }
                None => {
                    p.in_flight.remove(&client);
                    if !p.rerun.remove(&client) {
                        return;
                    }
                }
            }
        }
    }

    /// Periodic: parked clients of groups this node no longer leads get a
    /// redirect; a newer map from the node is adopted; leaderships are
    /// handed back to preferred leaders.
    async fn watch_loop(self, r: Arc<Running>) {
        let mut maps = r.node.watch_map();
        let mut tick = tokio::time::interval(WATCH_PERIOD);
        let mut balance = Balancer::default();
        let mut seen_leaders: BTreeMap<GroupId, Option<NodeId>> = BTreeMap::new();
        let mut dropped = r.node.ready_keys_dropped();
        loop {
            tokio::select! {
                changed = maps.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let m = maps.borrow_and_update().clone();
                    r.adopt_map(m);
                }
                _ = tick.tick() => {
                    if !r.node.is_running() {
                        return;
                    }
                    self.redirect_orphans(&r);
                    log_leader_changes(&r, &mut seen_leaders);
                    balance.step(&r);
                    let now = r.node.ready_keys_dropped();
                    if now != dropped {
                        dropped = now;
                        self.recheck_parked(&r);
                    }
                }
            }
        }
    }

    /// The node dropped ready-key batches (its channel was full): a parked
    /// client may have missed its wake-up, so every parked client re-runs
    /// its command once (in a task: the watch loop must not wait on it).
    fn recheck_parked(&self, r: &Arc<Running>) {
        let parked: Vec<(u64, GroupId)> = self
            .0
            .parked
            .lock()
            .group_of
            .iter()
            .map(|(c, g)| (*c, *g))
            .collect();
        warn!(
            clients = parked.len(),
            "ready-key wake-ups were dropped; re-checking every parked client"
        );
        let (me, r) = (self.clone(), r.clone());
        tokio::spawn(async move {
            for (client, g) in parked {
                me.retry_parked(&r, g, client).await;
            }
        });
    }

    fn redirect_orphans(&self, r: &Running) {
        let view = r.view();
        let t = view.topology();
        let mut p = self.0.parked.lock();
        let orphans: Vec<(u64, GroupId)> = p
            .group_of
            .iter()
            .filter(|(c, g)| view.leaders.get(g) != Some(&r.me) && !p.in_flight.contains(c))
            .map(|(c, g)| (*c, *g))
            .collect();
        for (client, g) in orphans {
            let slot = view
                .map
                .shard(g)
                .and_then(|s| s.slots.first())
                .map_or(SlotId::new(0), |s| s.start);
            let hint = view.leaders.get(&g).copied();
            p.serve(client, refused_reply(&t, slot, Refused::NotLeader(hint)));
        }
    }

    /// Periodic: INFO's key counters, summed over the led shards.
    async fn stats_loop(self, r: Arc<Running>) {
        let mut tick = tokio::time::interval(STATS_PERIOD);
        loop {
            tick.tick().await;
            if !r.node.is_running() {
                return;
            }
            let (mut keys, mut expires) = (0u64, 0u64);
            for g in r.view().led_groups() {
                let c = r
                    .node
                    .read(
                        g,
                        vec![Bytes::from_static(slotraft_keyspace::INTERNAL_STATS)],
                    )
                    .await;
                if let Completion::Done(Outcome::Reply(Reply::Array(v))) = c {
                    if let [Reply::Int(k), Reply::Int(e)] = v[..] {
                        keys += k as u64;
                        expires += e as u64;
                    }
                }
            }
            self.0.keys.store(keys, Ordering::Relaxed);
            self.0.expires.store(expires, Ordering::Relaxed);
        }
    }
}

/// Logs (INFO) every change of a hosted shard's leader seen since the last
/// call, with the new term: the operator's record of elections, transfers
/// and failovers (sampled every [`WATCH_PERIOD`], so a flap shorter than
/// that may show as one change). Also keeps `Running::leaderless_since`.
fn log_leader_changes(r: &Running, seen: &mut BTreeMap<GroupId, Option<NodeId>>) {
    let groups: Vec<GroupId> = r
        .map
        .read()
        .shards()
        .filter(|s| s.hosts(r.me))
        .map(|s| s.id)
        .collect();
    let mut since = r.leaderless_since.lock();
    since.retain(|g, _| groups.contains(g));
    for g in groups {
        let info = r.node.leader(g);
        let now = info.as_ref().and_then(|i| i.leader);
        match now {
            Some(_) => {
                since.remove(&g);
            }
            None => {
                since.entry(g).or_insert_with(tokio::time::Instant::now);
            }
        }
        let before = seen.insert(g, now);
        if before.is_some_and(|b| b != now) {
            let fmt =
                |n: Option<NodeId>| n.map_or_else(|| "none".to_string(), |n| n.get().to_string());
            info!(
                group = g.get(),
                from = %fmt(before.flatten()),
                to = %fmt(now),
                term = info.map_or(0, |i| i.term.get()),
                "shard leader changed"
            );
        }
    }
}

/// Leader balancing: each shard's preferred leader is its first replica in
/// the map (`plan_cluster` spreads them evenly over the nodes). A node that
/// leads a shard whose preferred leader is another healthy node hands the
/// leadership back with a Raft leadership transfer (the target catches up
/// first; nothing committed is lost). Conservative on purpose: a transfer
/// pauses the shard's writes until it completes or times out.
#[derive(Default)]
struct Balancer {
    /// Since when this node leads each shard.
    since: BTreeMap<GroupId, tokio::time::Instant>,
    /// Shards not to touch before this time.
    backoff: BTreeMap<GroupId, tokio::time::Instant>,
    last: Option<tokio::time::Instant>,
}

impl Balancer {
    fn step(&mut self, r: &Arc<Running>) {
        let now = tokio::time::Instant::now();
        let view = r.view();
        let led = view.led_groups();
        self.since.retain(|g, _| led.contains(g));
        for g in &led {
            self.since.entry(*g).or_insert(now);
        }
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < BALANCE_PERIOD)
        {
            return;
        }
        self.last = Some(now);
        let wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        for g in led {
            let Some(pref) = view.map.shard(g).map(|s| s.replicas[0]) else {
                continue;
            };
            let tenure_ok = self
                .since
                .get(&g)
                .is_some_and(|t| now.duration_since(*t) >= BALANCE_MIN_TENURE);
            let backoff_ok = self.backoff.get(&g).is_none_or(|t| now >= *t);
            let h = view.health.get(&pref).copied().unwrap_or_default();
            let healthy = h.state == slotraft_cluster::HealthState::Ok
                && h.connected
                && wall_ms.saturating_sub(h.pong_recv_ms) <= BALANCE_MAX_PONG_AGE_MS;
            if pref == r.me || !tenure_ok || !backoff_ok || !healthy {
                continue;
            }
            // One transfer per step; the next step sees its result.
            self.backoff.insert(g, now + BALANCE_BACKOFF);
            let node = r.node.clone();
            tokio::spawn(async move {
                match node.transfer_leader(g, pref).await {
                    Ok(()) => info!(
                        group = g.get(),
                        to = pref.get(),
                        "leadership handed to the preferred leader"
                    ),
                    Err(e) => {
                        warn!(group = g.get(), to = pref.get(), error = ?e, "leader balancing transfer failed")
                    }
                }
            });
            return;
        }
    }
}

/// A command's answer from its completion on `group`.
/// `hold_ok`: whether a leadership-change refusal may still be held (see
/// `View::long_leaderless`).
fn one_of(topo: &Topology<'_>, group: GroupId, slot: SlotId, c: Completion, hold_ok: bool) -> One {
    match c {
        Completion::NotExecuted(n) => {
            let transient = hold_ok && leadership_changing(topo.me, &n);
            let rep = refused_reply(topo, slot, refusal(n));
            match transient {
                true => One::Transient(rep),
                false => One::Refused(rep),
            }
        }
        c => match completion_reply(topo, slot, c) {
            Ok(Outcome::Reply(rep)) => One::Reply(rep),
            Ok(Outcome::Block(spec)) => One::Block {
                group,
                keys: spec.keys,
                timeout_ms: spec.timeout_ms,
            },
            Err(e) => One::Reply(e),
        },
    }
}

/// Whether a refusal means "leadership is moving" (worth holding, see
/// [`LEADER_CHANGE_HOLD`]) rather than a final answer: no leader known,
/// a redirect to nobody else, an entry superseded by a new leader's, or
/// Raft dropping the proposal (it does while transferring leadership).
fn leadership_changing(me: NodeId, n: &NotExecuted) -> bool {
    match n {
        NotExecuted::NotLeader(hint) => hint.is_none_or(|h| h == me),
        NotExecuted::NoLeader | NotExecuted::Superseded | NotExecuted::Dropped(_) => true,
        NotExecuted::Busy | NotExecuted::ReadTimeout | NotExecuted::UnknownGroup => false,
    }
}

/// A routing refusal: transient when it is `-CLUSTERDOWN` for a shard this
/// node hosts whose Raft group knows no leader right now, but did not long
/// ago (rule 4 of `slotraft_cluster::route`; `View::long_leaderless`),
/// final otherwise.
fn route_refusal(view: &View, slot: SlotId, e: Reply) -> One {
    let leaderless = view
        .map
        .slot_owner(slot)
        .is_some_and(|g| view.leaderless.contains(&g) && !view.long_leaderless.contains(&g));
    match leaderless {
        true => One::Transient(e),
        false => One::Refused(e),
    }
}

/// Where the tail of a run that is worth re-running starts: the first
/// [`One::Transient`], if every answer from there on is a refusal (none of
/// them executed, so re-running them keeps the pipeline's order).
fn retry_from(ones: &[One]) -> Option<usize> {
    let k = ones.iter().position(|o| matches!(o, One::Transient(_)))?;
    ones[k..]
        .iter()
        .all(|o| matches!(o, One::Transient(_) | One::Refused(_)))
        .then_some(k)
}

/// One command's routing facts.
struct Routed {
    route: Route,
    slot: SlotId,
}

fn route_cmd(view: &View, flags: ConnFlags, slots: &[SlotId], is_write: bool) -> Routed {
    // Standalone (a one-node store from `--dir`, no cluster flags): like a
    // plain redis-server, multi-key commands may span slots as long as one
    // shard holds them all (always, with its single shard).
    let slots = if view.standalone && one_shard(view, slots) {
        &slots[..slots.len().min(1)]
    } else {
        slots
    };
    let req = RouteRequest {
        slots,
        readonly_conn: flags.readonly,
        is_write,
        asking: flags.asking,
        all_keys_present: true,
    };
    Routed {
        route: route(&view.topology(), &req),
        slot: slots.first().copied().unwrap_or(SlotId::new(0)),
    }
}

fn one_shard(view: &View, slots: &[SlotId]) -> bool {
    let mut owners = slots.iter().map(|s| view.map.slot_owner(*s));
    match owners.next() {
        None => true,
        Some(first) => first.is_some() && owners.all(|o| o == first),
    }
}

impl ClusterEngine {
    /// Runs one command (already known to be alone in its kind's run when
    /// it blocks).
    async fn run_one(&self, r: &Running, view: &View, flags: ConnFlags, cmd: &Cmd) -> One {
        let kind = kind_of(cmd.spec);
        let slots = slots_of(cmd.spec, &cmd.argv);
        let routed = route_cmd(view, flags, &slots, kind != Kind::Read);
        let group = match routed.route {
            Route::Error(e) => return route_refusal(view, routed.slot, e),
            Route::NoKeys => return One::Reply(self.keyless(r, view, cmd).await),
            Route::Local(g) | Route::LocalFollowerRead(g) => g,
        };
        let c = match kind {
            Kind::Read => r.node.read(group, cmd.argv.clone()).await,
            Kind::Write | Kind::Blocking => r.node.propose(group, Op::Cmd(cmd.argv.clone())).await,
        };
        one_of(
            &view.topology(),
            group,
            routed.slot,
            c,
            !view.long_leaderless.contains(&group),
        )
    }

    /// A run of two or more keyed reads or writes as one submission to the
    /// node (`NodeHandle::submit_batch`: one channel message and one answer
    /// for the run, instead of one each per command), answered like
    /// [`Self::run_one`] would, in order. `None` (the caller runs them one
    /// by one) for blocking commands, single commands, and runs holding a
    /// keyless command (those fan out over shards and must keep their
    /// place in the pipeline's order).
    fn run_batched<'a>(
        &'a self,
        r: &'a Running,
        view: &'a View,
        flags: ConnFlags,
        kind: Kind,
        run: &'a [Cmd],
    ) -> Option<impl std::future::Future<Output = Vec<One>> + 'a> {
        if kind == Kind::Blocking || run.len() < 2 {
            return None;
        }
        let routed: Vec<Routed> = run
            .iter()
            .map(|c| route_cmd(view, flags, &slots_of(c.spec, &c.argv), kind != Kind::Read))
            .collect();
        if routed.iter().any(|x| matches!(x.route, Route::NoKeys)) {
            return None;
        }
        Some(async move {
            let mut jobs = Vec::with_capacity(run.len());
            for (c, x) in run.iter().zip(&routed) {
                if let Route::Local(g) | Route::LocalFollowerRead(g) = x.route {
                    jobs.push(match kind {
                        Kind::Read => Job::Read {
                            group: g,
                            argv: c.argv.clone(),
                        },
                        _ => Job::Propose {
                            group: g,
                            op: Op::Cmd(c.argv.clone()),
                        },
                    });
                }
            }
            let mut answers = r.node.submit_batch(jobs).await.into_iter();
            let topo = view.topology();
            routed
                .into_iter()
                .map(|x| match x.route {
                    Route::Error(e) => route_refusal(view, x.slot, e),
                    Route::NoKeys => unreachable!("runs with keyless commands are not batched"),
                    Route::Local(g) | Route::LocalFollowerRead(g) => {
                        let c = answers.next().expect("one answer per job");
                        one_of(&topo, g, x.slot, c, !view.long_leaderless.contains(&g))
                    }
                })
                .collect()
        })
    }

    /// Runs one run of a batch (see [`Self::run_batched`]).
    async fn run_once(
        &self,
        r: &Running,
        view: &View,
        flags: ConnFlags,
        kind: Kind,
        run: &[Cmd],
    ) -> Vec<One> {
        match self.run_batched(r, view, flags, kind, run) {
            Some(batch) => batch.await,
            None => {
                let each = run.iter().map(|c| self.run_one(r, view, flags, c));
                futures::future::join_all(each).await
            }
        }
    }

    /// [`Self::run_once`], holding the run's tail while leadership of its
    /// shard changes: the refused tail ([`retry_from`]) is re-routed with
    /// a fresh view and re-run every [`LEADER_CHANGE_POLL`] until it gets
    /// a final answer or [`LEADER_CHANGE_HOLD`] has passed. Safe because
    /// every re-run command was certainly not executed, and in order
    /// because only a tail is re-run. `view` is left at the newest view.
    async fn run_held(
        &self,
        r: &Running,
        view: &mut View,
        flags: ConnFlags,
        kind: Kind,
        run: &[Cmd],
    ) -> Vec<One> {
        let mut ones = self.run_once(r, view, flags, kind, run).await;
        let mut backoff = HoldBackoff::new();
        while let Some(k) = retry_from(&ones) {
            if !backoff.wait().await {
                break;
            }
            *view = r.view();
            let again = self.run_once(r, view, flags, kind, &run[k..]).await;
            ones.truncate(k);
            ones.extend(again);
        }
        ones
    }

    /// Parks `client` after its command blocked on `group`, then re-checks
    /// once (a push may have landed between the apply and the park).
    fn park(
        &self,
        r: &Arc<Running>,
        client: u64,
        cmd: &Cmd,
        group: GroupId,
        keys: Vec<Bytes>,
    ) -> Option<oneshot::Receiver<Reply>> {
        let rx = {
            let mut p = self.0.parked.lock();
            let rx = p.clients.park(client, cmd.argv.clone(), keys)?;
            p.group_of.insert(client, group);
            rx
        };
        let (me, r) = (self.clone(), r.clone());
        tokio::spawn(async move { me.retry_parked(&r, group, client).await });
        Some(rx)
    }

    /// Keyless data commands over the shards this node leads.
    async fn keyless(&self, r: &Running, view: &View, cmd: &Cmd) -> Reply {
        let name = ks::top_name(cmd.spec);
        let groups = view.led_groups();
        if name == "scan" {
            return self.scan(r, view, &groups, cmd).await;
        }
        let mut replies = Vec::with_capacity(groups.len());
        for g in groups {
            let c = if kind_of(cmd.spec) == Kind::Read {
                r.node.read(g, cmd.argv.clone()).await
            } else {
                r.node.propose(g, Op::Cmd(cmd.argv.clone())).await
            };
            let slot = first_slot(view, g);
            match completion_reply(&view.topology(), slot, c) {
                Ok(Outcome::Reply(rep)) => replies.push(rep),
                Ok(Outcome::Block(_)) => unreachable!("keyless commands never block"),
                Err(e) => return e,
            }
        }
        merge_keyless(name, replies, kind_of(cmd.spec))
    }

    /// SCAN over the led shards: the cursor is a plain keyspace cursor
    /// (`slot << SCAN_POS_BITS | position`); its slot says which shard to
    /// continue in, and a shard's end continues at the next shard's first
    /// slot.
    async fn scan(&self, r: &Running, view: &View, groups: &[GroupId], cmd: &Cmd) -> Reply {
        let Some(cursor) = std::str::from_utf8(&cmd.argv[1])
            .ok()
            .and_then(|c| c.parse::<u64>().ok())
        else {
            return Reply::error("ERR invalid cursor");
        };
        let slot = (cursor >> SCAN_POS_BITS).min(u64::from(SLOT_COUNT)) as u16;
        let next_group = |from: u16| -> Option<(GroupId, u16)> {
            groups
                .iter()
                .filter_map(|g| {
                    let s = view.map.shard(*g)?;
                    s.slots
                        .iter()
                        .filter(|r| r.end.get() >= from)
                        .map(|r| r.start.get().max(from))
                        .min()
                        .map(|s| (*g, s))
                })
                .min_by_key(|(_, s)| *s)
        };
        let Some((g, _)) = next_group(slot) else {
            return Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])]);
        };
        let c = r.node.read(g, cmd.argv.clone()).await;
        let reply = match completion_reply(&view.topology(), first_slot(view, g), c) {
            Ok(Outcome::Reply(rep)) => rep,
            Ok(Outcome::Block(_)) => unreachable!("SCAN never blocks"),
            Err(e) => return e,
        };
        let Reply::Array(mut parts) = reply else {
            return reply;
        };
        if parts.len() == 2 && parts[0] == Reply::bulk("0") {
            // This shard is done: continue at the next shard's first slot.
            let end = view
                .map
                .shard(g)
                .and_then(|s| s.slots.iter().map(|r| r.end.get()).max())
                .unwrap_or(SLOT_COUNT - 1);
            if let Some((_, s)) = end.checked_add(1).and_then(next_group) {
                parts[0] = Reply::bulk(((s as u64) << SCAN_POS_BITS).to_string());
            }
        }
        Reply::Array(parts)
    }
}

fn first_slot(view: &View, g: GroupId) -> SlotId {
    view.map
        .shard(g)
        .and_then(|s| s.slots.first())
        .map_or(SlotId::new(0), |r| r.start)
}

/// Combines the per-shard replies of a keyless command.
fn merge_keyless(name: &str, replies: Vec<Reply>, kind: Kind) -> Reply {
    match name {
        "dbsize" => Reply::Int(
            replies
                .iter()
                .map(|r| if let Reply::Int(n) = r { *n } else { 0 })
                .sum(),
        ),
        "keys" => Reply::Array(
            replies
                .into_iter()
                .flat_map(|r| match r {
                    Reply::Array(v) => v,
                    _ => Vec::new(),
                })
                .collect(),
        ),
        "randomkey" => replies
            .into_iter()
            .find(|r| !matches!(r, Reply::Null))
            .unwrap_or(Reply::Null),
        _ => {
            if let Some(e) = replies.iter().find(|r| matches!(r, Reply::Error(_))) {
                return e.clone();
            }
            match replies.into_iter().next() {
                Some(r) => r,
                None if kind == Kind::Write => Reply::OK,
                None => Reply::Null,
            }
        }
    }
}

/// `CLUSTERDOWN Hash slot not served`: what a node that is not yet part of
/// a cluster answers to data commands (Redis's text for unassigned slots).
fn not_served() -> Reply {
    Reply::error(slotraft_cluster::route::ERR_UNBOUND)
}

fn ints(reply: Reply) -> Option<Vec<u64>> {
    let Reply::Array(v) = reply else {
        return None;
    };
    v.into_iter()
        .map(|x| match x {
            Reply::Int(n) if n >= 0 => Some(n as u64),
            _ => None,
        })
        .collect()
}

impl ClusterEngine {
    /// One attempt at a transaction: routed as one write (it is proposed
    /// as one entry, always on the leader) with a fresh view.
    async fn exec_multi_once(
        &self,
        r: &Running,
        flags: ConnFlags,
        slots: &[SlotId],
        cmds: &[Argv],
        watched: &[(Bytes, u64)],
    ) -> One {
        let view = r.view();
        let routed = route_cmd(&view, flags, slots, true);
        let group = match routed.route {
            Route::Error(e) => return route_refusal(&view, routed.slot, e),
            Route::NoKeys => match view.led_groups().first() {
                Some(g) => *g,
                None => return One::Refused(Reply::error(slotraft_cluster::route::ERR_DOWN)),
            },
            Route::Local(g) | Route::LocalFollowerRead(g) => g,
        };
        let op = Op::Multi {
            cmds: cmds.to_vec(),
            watched: watched.to_vec(),
        };
        let c = r.node.propose(group, op).await;
        one_of(
            &view.topology(),
            group,
            routed.slot,
            c,
            !view.long_leaderless.contains(&group),
        )
    }
}

impl Engine for ClusterEngine {
    async fn execute_batch(
        &self,
        client: u64,
        flags: ConnFlags,
        cmds: &[Cmd],
        out: &mut Vec<Reply>,
    ) -> BatchEnd {
        let Some(r) = self.running().cloned() else {
            out.extend(cmds.iter().map(|_| not_served()));
            return BatchEnd::Done;
        };
        let mut view = r.view();
        let mut i = 0;
        while i < cmds.len() {
            let kind = kind_of(cmds[i].spec);
            let mut end = i + 1;
            if kind != Kind::Blocking {
                while end < cmds.len() && end - i < MAX_RUN && kind_of(cmds[end].spec) == kind {
                    end += 1;
                }
            }
            let ones = self
                .run_held(&r, &mut view, flags, kind, &cmds[i..end])
                .await;
            for (k, one) in ones.into_iter().enumerate() {
                match one {
                    One::Reply(rep) | One::Refused(rep) | One::Transient(rep) => out.push(rep),
                    One::Block {
                        group,
                        keys,
                        timeout_ms,
                    } => {
                        // Invariant: a blocking command runs alone.
                        assert_eq!(end - i, 1, "a blocking command shares its run");
                        let index = i + k;
                        match self.park(&r, client, &cmds[index], group, keys) {
                            Some(wait) => {
                                return BatchEnd::Blocked {
                                    index,
                                    wait,
                                    timeout_ms,
                                }
                            }
                            None => out.push(Reply::error("ERR too many blocked clients")),
                        }
                    }
                }
            }
            i = end;
        }
        BatchEnd::Done
    }

    async fn exec_multi(&self, flags: ConnFlags, cmds: &[Argv], watched: &[(Bytes, u64)]) -> Reply {
        let Some(r) = self.running().cloned() else {
            return not_served();
        };
        let mut slots: Vec<SlotId> = cmds
            .iter()
            .filter_map(|a| ks::resolve(a).ok().map(|s| slots_of(s, a)))
            .flatten()
            .collect();
        slots.extend(watched.iter().map(|(k, _)| key_slot(k)));
        // Held like a batch's run while leadership changes (`run_held`).
        let mut backoff = HoldBackoff::new();
        loop {
            match self.exec_multi_once(&r, flags, &slots, cmds, watched).await {
                One::Transient(rep) => {
                    if !backoff.wait().await {
                        return rep;
                    }
                }
                One::Reply(rep) | One::Refused(rep) => return rep,
                One::Block { .. } => unreachable!("transactions never block"),
            }
        }
    }

    async fn watch_versions(&self, flags: ConnFlags, keys: &[Bytes]) -> Result<Vec<u64>, Reply> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let r = self.running().cloned().ok_or_else(not_served)?;
        let view = r.view();
        let slots: Vec<SlotId> = keys.iter().map(|k| key_slot(k)).collect();
        let routed = route_cmd(&view, flags, &slots, false);
        let group = match routed.route {
            Route::Error(e) => return Err(e),
            Route::NoKeys => unreachable!("WATCH has keys"),
            Route::Local(g) | Route::LocalFollowerRead(g) => g,
        };
        let mut argv = vec![Bytes::from_static(slotraft_keyspace::INTERNAL_VERSIONS)];
        argv.extend(keys.iter().cloned());
        match completion_reply(
            &view.topology(),
            routed.slot,
            r.node.read(group, argv).await,
        ) {
            Ok(Outcome::Reply(rep)) => {
                ints(rep).ok_or_else(|| Reply::error("ERR unexpected reply to a WATCH read"))
            }
            Ok(Outcome::Block(_)) => unreachable!("reads never block"),
            Err(e) => Err(e),
        }
    }

    fn unblock(&self, client: u64) -> bool {
        let mut p = self.0.parked.lock();
        if p.in_flight.contains(&client) {
            // Its re-execution answers it (the timeout reply if it blocks).
            p.cancelled.insert(client);
            return false;
        }
        p.group_of.remove(&client);
        p.clients.remove(client)
    }

    fn unblock_with(&self, client: u64, error: bool) -> bool {
        let mut p = self.0.parked.lock();
        if p.clients.argv_of(client).is_none() || p.in_flight.contains(&client) {
            return false;
        }
        let reply = if error {
            Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
        } else {
            crate::blocking::timeout_reply()
        };
        p.serve(client, reply);
        true
    }

    async fn expire_step(&self, max: usize) -> usize {
        let Some(r) = self.running().cloned() else {
            return 0;
        };
        let mut found = 0;
        for g in r.view().led_groups() {
            let argv = vec![
                Bytes::from_static(slotraft_keyspace::INTERNAL_EXPIRED),
                Bytes::from(max.to_string()),
            ];
            let Completion::Done(Outcome::Reply(Reply::Array(keys))) = r.node.read(g, argv).await
            else {
                continue;
            };
            let keys: Vec<Bytes> = keys
                .into_iter()
                .filter_map(|k| match k {
                    Reply::Bulk(b) => Some(b),
                    _ => None,
                })
                .collect();
            if keys.is_empty() {
                continue;
            }
            found += keys.len();
            if let Completion::Done(Outcome::Reply(Reply::Int(n))) =
                r.node.propose(g, Op::ExpireDelete(keys)).await
            {
                self.0.expired_keys.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
        found
    }

    fn stats(&self) -> EngineStats {
        EngineStats {
            keys: self.0.keys.load(Ordering::Relaxed),
            expires: self.0.expires.load(Ordering::Relaxed),
            blocked_clients: self.0.parked.lock().clients.len() as u64,
            expired_keys: self.0.expired_keys.load(Ordering::Relaxed),
            snapshots: self.running().map(|r| r.node.snapshot_stats()),
        }
    }

    fn cluster_enabled(&self) -> bool {
        !self.0.params.standalone
    }

    async fn cluster_command(&self, argv: &[Bytes]) -> Reply {
        crate::cmd_cluster::run(self, argv).await
    }
}

/// What `CLUSTER` subcommands need from the engine (crate::cmd_cluster).
impl ClusterEngine {
    pub(crate) fn params(&self) -> &NodeParams {
        &self.0.params
    }

    /// The node and a routing view, once the node runs.
    pub(crate) fn running_view(&self) -> Option<(Arc<NodeHandle>, ViewHandle)> {
        let r = self.running()?;
        Some((r.node.clone(), ViewHandle(r.view())))
    }

    /// Whether this node is already a cluster member, and as whom.
    pub(crate) fn membership(&self) -> Option<(u128, NodeId)> {
        self.running().map(|r| (r.map.read().cluster_id().0, r.me))
    }
}

/// A routing view handed to `cmd_cluster` (opaque outside this module).
pub(crate) struct ViewHandle(View);

impl ViewHandle {
    pub fn topology(&self) -> Topology<'_> {
        self.0.topology()
    }

    pub fn me(&self) -> NodeId {
        self.0.me
    }

    pub fn leader_of(&self, g: GroupId) -> Option<NodeId> {
        self.0.leaders.get(&g).copied()
    }

    pub fn map(&self) -> &ClusterMap {
        &self.0.map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> One {
        One::Reply(Reply::Simple(Bytes::from_static(b"OK")))
    }
    fn down() -> One {
        One::Transient(Reply::error(slotraft_cluster::route::ERR_DOWN))
    }
    fn moved() -> One {
        One::Refused(Reply::error("MOVED 0 127.0.0.1:7000"))
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_backs_off_and_ends_within_its_limit() {
        let start = tokio::time::Instant::now();
        let mut b = HoldBackoff::new();
        let mut waits = Vec::new();
        let mut last = start;
        while b.wait().await {
            let now = tokio::time::Instant::now();
            waits.push(now - last);
            last = now;
        }
        assert_eq!(waits[0], LEADER_CHANGE_POLL);
        assert_eq!(waits[1], LEADER_CHANGE_POLL * 2);
        assert!(waits.iter().all(|w| *w <= LEADER_CHANGE_POLL_MAX));
        assert!(waits.len() <= 16, "{} re-tries", waits.len());
        assert!(last - start <= LEADER_CHANGE_HOLD);
        assert!(last - start + LEADER_CHANGE_POLL_MAX > LEADER_CHANGE_HOLD);
    }

    fn view_with_leaderless(long: bool) -> View {
        use slotraft_cluster::{plan_cluster, ClusterId, MetaCommand, NodeSpec};
        let nodes: Vec<NodeSpec> = (1..=3)
            .map(|i| NodeSpec {
                id: NodeId::new(i),
                ip: "127.0.0.1".parse().unwrap(),
                port: 7000 + i as u16,
                bus_port: 17000 + i as u16,
            })
            .collect();
        let b = plan_cluster(ClusterId(42), &nodes, None, 3).unwrap();
        let mut map = ClusterMap::new();
        map.apply(&MetaCommand::Bootstrap(b)).unwrap();
        let g = map.slot_owner(SlotId::new(0)).unwrap();
        View {
            standalone: false,
            map: Arc::new(map),
            me: NodeId::new(1),
            leaders: BTreeMap::new(),
            health: BTreeMap::new(),
            leaderless: [g].into_iter().collect(),
            long_leaderless: if long {
                [g].into_iter().collect()
            } else {
                Default::default()
            },
        }
    }

    #[test]
    fn a_shard_leaderless_for_long_is_refused_at_once() {
        let down = || Reply::error(slotraft_cluster::route::ERR_DOWN);
        let fresh = view_with_leaderless(false);
        assert!(matches!(
            route_refusal(&fresh, SlotId::new(0), down()),
            One::Transient(_)
        ));
        let long = view_with_leaderless(true);
        assert!(matches!(
            route_refusal(&long, SlotId::new(0), down()),
            One::Refused(_)
        ));
        let topo = long.topology();
        let g = long.map.slot_owner(SlotId::new(0)).unwrap();
        let c = || Completion::NotExecuted(NotExecuted::NoLeader);
        assert!(matches!(
            one_of(&topo, g, SlotId::new(0), c(), false),
            One::Refused(_)
        ));
        assert!(matches!(
            one_of(&topo, g, SlotId::new(0), c(), true),
            One::Transient(_)
        ));
    }

    #[test]
    fn only_a_refused_tail_is_re_run() {
        assert_eq!(retry_from(&[ok(), down(), down()]), Some(1));
        assert_eq!(retry_from(&[ok(), down(), moved(), down()]), Some(1));
        assert_eq!(retry_from(&[down()]), Some(0));
        // Something after the first transient refusal executed: re-running
        // the refusal would reorder the pipeline.
        assert_eq!(retry_from(&[down(), ok()]), None);
        assert_eq!(retry_from(&[ok(), moved()]), None);
        assert_eq!(retry_from(&[]), None);
    }

    #[test]
    fn leadership_changes_are_transient_and_limits_are_not() {
        let me = NodeId::new(1);
        let other = NodeId::new(2);
        assert!(leadership_changing(me, &NotExecuted::NoLeader));
        assert!(leadership_changing(me, &NotExecuted::Superseded));
        assert!(leadership_changing(me, &NotExecuted::NotLeader(None)));
        assert!(leadership_changing(me, &NotExecuted::NotLeader(Some(me))));
        assert!(leadership_changing(
            me,
            &NotExecuted::Dropped("transfer".into())
        ));
        assert!(!leadership_changing(
            me,
            &NotExecuted::NotLeader(Some(other))
        ));
        assert!(!leadership_changing(me, &NotExecuted::Busy));
        assert!(!leadership_changing(me, &NotExecuted::ReadTimeout));
        assert!(!leadership_changing(me, &NotExecuted::UnknownGroup));
    }
}

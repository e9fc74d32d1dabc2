//! The gossip task: runs the sans-IO `slotraft_gossip::Gossip` state
//! machine on the cluster bus (issue 5 item 6, design doc §6,
//! `docs/cluster-protocol.md` §6).
//!
//! Why a task of its own: gossip is periodic, cheap and lossy, and must keep
//! running (and keep telling CLUSTER NODES who is down) even while the
//! driver waits on an fsync (when the driver has a thread of its own); it shares no state with Raft except the
//! leader table it reads. The task owns one [`Gossip`] and is its only
//! caller, so the state machine needs no lock; what the server reads
//! (health, leader hints, counters) is published into a [`GossipView`]
//! behind an `RwLock` after every tick and every state change, so the
//! accessors never wait for the task.
//!
//! Each wake handles one of:
//! - a tick every [`GOSSIP_TICK`]: feed the leaders this node's Raft groups
//!   elected it for (`set_local_leader`), `Gossip::tick`, re-ask a newer map
//!   if the last request went unanswered for [`MAP_REQUEST_RETRY_MS`];
//! - one bus message from the transport: `Gossip` → `Gossip::handle`;
//!   `MapRequest` → answer with the current map if it is newer than the
//!   asker's (at most once per [`MAP_REPLY_MIN_INTERVAL_MS`] per peer);
//!   `MapReply` → offered to the node (kept only if its epoch is higher);
//! - a change of the node's cluster map: `Gossip::sync_with_map`.
//!
//! After each, outgoing messages are framed onto the bus (best effort) and
//! events are acted on: `NewerEpochSeen { from }` sends `from` a
//! `MapRequest`. Times are Unix milliseconds read from a monotonic clock
//! ([`Clock`]), so the state machine never sees time go backwards and
//! CLUSTER NODES shows wall-clock ping/pong times.
//!
//! Members: the map's nodes once a bootstrapped map of this cluster is
//! known, the configured bus peers before. TODO(integration): the bus only
//! dials the peers of `NodeConfig::peers`; a member added to the map later
//! gets no connection (its frames are dropped, gossip shows it PFAIL) until
//! the transport learns addresses from the map.

use crate::driver::LeaderTable;
use crate::transport::{encode_gossip, encode_map_reply, encode_map_request, BusMessage, Outbox};
use slotraft_cluster::{ClusterId, ClusterMap, NodeHealth};
use slotraft_gossip::{Config, Event, Gossip};
use slotraft_types::{GroupId, NodeId};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

/// Gossip tick period (Redis's cluster cron runs every 100 ms too).
pub const GOSSIP_TICK: Duration = Duration::from_millis(100);
/// Default `cluster-node-timeout` (Redis's default, in ms): silence after
/// which a peer is suspected (PFAIL).
pub const DEFAULT_GOSSIP_NODE_TIMEOUT_MS: u64 = 5000;
/// A `MapRequest` unanswered for this long is sent again (to the newest
/// peer seen advertising the wanted epoch).
pub const MAP_REQUEST_RETRY_MS: u64 = 1000;
/// Least time between two `MapReply`s to the same peer (a map can be
/// megabytes; a confused or hostile peer must not make us send it per
/// request).
pub const MAP_REPLY_MIN_INTERVAL_MS: u64 = 200;

/// How the gossip task hands a map it pulled to the node: the node keeps
/// it only if its epoch is higher than the one it holds (and then notifies
/// the map watch, which the task also follows).
pub type MapOffer = Arc<dyn Fn(ClusterMap) + Send + Sync>;

/// What the gossip task needs at start.
#[derive(Clone, Debug)]
pub struct GossipConfig {
    pub id: NodeId,
    pub cluster_id: u128,
    /// Redis's `cluster-node-timeout`, in ms (> 0).
    pub node_timeout_ms: u64,
    /// Members to gossip with until a bootstrapped map is known (the bus
    /// peers from the node config; this node may be included).
    pub members: Vec<NodeId>,
    /// Seeds the state machine's peer selection.
    pub seed: u64,
}

/// What the server reads without a round trip (CLUSTER NODES / INFO,
/// routing), refreshed by the task.
#[derive(Clone, Debug, Default)]
pub struct GossipView {
    /// PFAIL/FAIL view of every member, this node included.
    pub health: BTreeMap<NodeId, NodeHealth>,
    /// Leader hints for groups this node does not host.
    pub leaders: BTreeMap<GroupId, NodeId>,
    /// Message counters in Redis's `CLUSTER INFO` naming.
    pub stats: Vec<(&'static str, u64)>,
}

/// The node's handle on its gossip task.
pub struct GossipService {
    view: Arc<RwLock<GossipView>>,
    task: AbortHandle,
}

/// Everything the task needs besides its config.
pub struct GossipWiring {
    /// The bus, to send frames on (and read link state from).
    pub outbox: Outbox,
    /// Bus frames from the transport's inbound connections.
    pub inbox: mpsc::Receiver<BusMessage>,
    /// The driver's group → leader table (the groups this node hosts, once
    /// their Raft state reported a leader or term).
    pub leaders: LeaderTable,
    /// The node's current cluster map, and its changes.
    pub maps: watch::Receiver<Arc<ClusterMap>>,
    /// Where a pulled map goes.
    pub offer: MapOffer,
}

impl GossipService {
    /// Spawns the task on the current tokio runtime.
    pub fn spawn(cfg: GossipConfig, wiring: GossipWiring) -> GossipService {
        let view = Arc::new(RwLock::new(GossipView::default()));
        let task = Task::new(cfg, wiring, view.clone());
        let h = tokio::spawn(task.run());
        GossipService {
            view,
            task: h.abort_handle(),
        }
    }

    /// The task, to abort at shutdown.
    pub fn abort_handle(&self) -> AbortHandle {
        self.task.clone()
    }

    pub fn health(&self) -> BTreeMap<NodeId, NodeHealth> {
        self.view.read().expect("gossip view").health.clone()
    }

    pub fn leaders(&self) -> BTreeMap<GroupId, NodeId> {
        self.view.read().expect("gossip view").leaders.clone()
    }

    pub fn stats(&self) -> Vec<(&'static str, u64)> {
        self.view.read().expect("gossip view").stats.clone()
    }
}

/// Unix milliseconds that never go backwards: the wall clock read once at
/// start plus a monotonic elapsed time.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base_unix_ms: u64,
    start: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        let base_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Clock {
            base_unix_ms,
            start: Instant::now(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.base_unix_ms
            .saturating_add(self.start.elapsed().as_millis() as u64)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// A newer map this node knows exists and is pulling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Wanted {
    epoch: u64,
    /// The newest peer seen advertising at least `epoch`.
    from: NodeId,
    /// When the last `MapRequest` for it was sent (`None`: not yet).
    sent_ms: Option<u64>,
}

/// The task's state (owned by the task alone).
struct Task {
    me: NodeId,
    cluster_id: ClusterId,
    g: Gossip,
    clock: Clock,
    wiring: GossipWiring,
    view: Arc<RwLock<GossipView>>,
    /// The map last seen on the watch.
    map: Arc<ClusterMap>,
    wanted: Option<Wanted>,
    /// Last `MapReply` sent per peer (at most one entry per member).
    replied: BTreeMap<NodeId, u64>,
}

impl Task {
    fn new(cfg: GossipConfig, mut wiring: GossipWiring, view: Arc<RwLock<GossipView>>) -> Task {
        assert!(cfg.node_timeout_ms > 0, "gossip node timeout must be > 0");
        let clock = Clock::new();
        let gcfg = Config {
            node_timeout_ms: cfg.node_timeout_ms,
            ..Config::default()
        };
        let cluster_id = ClusterId(cfg.cluster_id);
        let map = wiring.maps.borrow_and_update().clone();
        let g = Gossip::new(
            gcfg,
            cluster_id,
            cfg.id,
            &cfg.members,
            0,
            cfg.seed,
            clock.now_ms(),
        );
        let mut t = Task {
            me: cfg.id,
            cluster_id,
            g,
            clock,
            wiring,
            view,
            map: Arc::new(ClusterMap::new()),
            wanted: None,
            replied: BTreeMap::new(),
        };
        t.adopt_map(map);
        t.publish();
        t
    }

    /// Runs until aborted (or until the transport's inbox closes). Each
    /// iteration handles one tick, one bus message or one map change.
    async fn run(mut self) {
        let mut tick = tokio::time::interval(GOSSIP_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut maps_open = true;
        loop {
            // Whether the view must be republished even without events.
            let refresh = tokio::select! {
                _ = tick.tick() => {
                    self.on_tick();
                    true
                }
                m = self.wiring.inbox.recv() => match m {
                    Some(m) => {
                        self.on_bus(m);
                        false
                    }
                    None => return,
                },
                r = self.wiring.maps.changed(), if maps_open => {
                    match r {
                        Ok(()) => {
                            let map = self.wiring.maps.borrow_and_update().clone();
                            self.adopt_map(map);
                        }
                        // The node dropped its map sender: keep the last map.
                        Err(_) => maps_open = false,
                    }
                    true
                }
            };
            self.after_step(refresh);
        }
    }

    /// Follows a new map from the watch: an initialized map of this cluster
    /// becomes the member list and the advertised epoch.
    fn adopt_map(&mut self, map: Arc<ClusterMap>) {
        if !map.is_bootstrapped() || map.cluster_id() != self.cluster_id {
            return;
        }
        // The node only ever replaces its map by a newer one.
        debug_assert!(map.epoch() >= self.map.epoch(), "map epoch went back");
        self.g.sync_with_map(&map);
        if self.wanted.is_some_and(|w| w.epoch <= map.epoch()) {
            self.wanted = None;
        }
        self.map = map;
    }

    fn on_tick(&mut self) {
        self.feed_local_leaders();
        let now = self.clock.now_ms();
        self.g.tick(now);
        self.retry_map_request(now);
    }

    /// Tells the state machine which hosted groups this node leads.
    fn feed_local_leaders(&mut self) {
        let table = self.wiring.leaders.read().expect("leader table");
        for (g, info) in table.iter() {
            if info.leader == Some(self.me) {
                self.g.set_local_leader(*g, self.me, info.term);
            }
        }
    }

    fn on_bus(&mut self, m: BusMessage) {
        let now = self.clock.now_ms();
        match m {
            BusMessage::Gossip { from, msg } => {
                // The transport checked `msg.sender == from`.
                debug_assert_eq!(msg.sender, from);
                self.note_advertised_epoch(msg.config_epoch, from);
                // Rejections (unknown sender, ...) have no effect besides
                // the epoch already looked at.
                let _ = self.g.handle(&msg, now);
            }
            BusMessage::MapRequest { from, epoch } => self.answer_map_request(from, epoch, now),
            BusMessage::MapReply { from: _, map } => {
                // The transport checked the cluster id; the node keeps it
                // only if newer, and its watch then brings it back here.
                if map.epoch() > self.map.epoch() {
                    (self.wiring.offer)(*map);
                }
            }
        }
    }

    /// A peer advertising the wanted epoch (or a newer one) becomes the one
    /// to ask next: it is alive and has the map.
    fn note_advertised_epoch(&mut self, epoch: u64, from: NodeId) {
        if let Some(w) = self.wanted.as_mut() {
            if epoch >= w.epoch {
                w.from = from;
            }
        }
    }

    fn answer_map_request(&mut self, from: NodeId, their_epoch: u64, now: u64) {
        if !self.map.is_bootstrapped() || self.map.epoch() <= their_epoch {
            return;
        }
        if let Some(t) = self.replied.get(&from) {
            if now.saturating_sub(*t) < MAP_REPLY_MIN_INTERVAL_MS {
                return;
            }
        }
        let Some(frame) = encode_map_reply(&self.map) else {
            return; // larger than MAX_MAP_REPLY_BYTES: cannot be sent
        };
        if self.wiring.outbox.send_frame(from, frame) {
            self.replied.insert(from, now);
        }
    }

    fn retry_map_request(&mut self, now: u64) {
        let Some(w) = self.wanted else {
            return;
        };
        let due = match w.sent_ms {
            None => true,
            Some(t) => now.saturating_sub(t) >= MAP_REQUEST_RETRY_MS,
        };
        if due {
            self.send_map_request(now);
        }
    }

    fn send_map_request(&mut self, now: u64) {
        let Some(w) = self.wanted.as_mut() else {
            return;
        };
        w.sent_ms = Some(now);
        let to = w.from;
        let frame = encode_map_request(self.map.epoch());
        self.wiring.outbox.send_frame(to, frame);
    }

    /// Sends what the state machine queued, acts on its events, and
    /// publishes the view if `refresh` or anything changed.
    fn after_step(&mut self, refresh: bool) {
        for o in self.g.drain_outgoing() {
            self.wiring.outbox.send_frame(o.to, encode_gossip(&o.msg));
        }
        let events = self.g.drain_events();
        for e in &events {
            if let Event::NewerEpochSeen { epoch, from } = *e {
                self.want_map(epoch, from);
            }
        }
        // Ping/pong times and counters are refreshed every tick; state
        // changes and leader hints arrive as events and show at once.
        if refresh || !events.is_empty() {
            self.publish();
        }
    }

    fn want_map(&mut self, epoch: u64, from: NodeId) {
        if epoch <= self.map.epoch() || self.wanted.is_some_and(|w| w.epoch >= epoch) {
            return;
        }
        self.wanted = Some(Wanted {
            epoch,
            from,
            sent_ms: None,
        });
        let now = self.clock.now_ms();
        self.send_map_request(now);
    }

    /// Refreshes the view the accessors read.
    fn publish(&mut self) {
        let mut health = self.g.health();
        for (id, h) in health.iter_mut() {
            if *id != self.me {
                // Gossip sees answered PINGs; the transport sees whether
                // our connection is up. Both must hold.
                h.connected = h.connected && self.wiring.outbox.links.is_connected(*id);
            }
        }
        let hosted = self.wiring.leaders.read().expect("leader table");
        let leaders = self
            .g
            .leaders()
            .into_iter()
            .filter(|(g, _)| !hosted.contains_key(g))
            .collect();
        drop(hosted);
        let stats = self.g.stats();
        *self.view.write().expect("gossip view") = GossipView {
            health,
            leaders,
            stats,
        };
    }
}

/// Replaces the map behind `tx` with `map` if `map` is newer (higher epoch,
/// same cluster unless none is known yet); the watchers are notified only
/// then. Returns whether it was kept. (The rule `NodeHandle::offer_map`
/// follows; also usable as a [`MapOffer`] on its own.)
pub fn offer_newer(tx: &watch::Sender<Arc<ClusterMap>>, map: ClusterMap) -> bool {
    tx.send_if_modified(|cur| {
        let same_cluster = !cur.is_bootstrapped() || cur.cluster_id() == map.cluster_id();
        if same_cluster && map.epoch() > cur.epoch() {
            *cur = Arc::new(map);
            true
        } else {
            false
        }
    })
}

/// Starts the gossip task of a node whose bus is `transport`; the task is
/// aborted with the transport's own tasks.
pub(crate) fn start_for_node(
    cfg: &crate::NodeConfig,
    transport: &crate::transport::Transport,
    inbox: mpsc::Receiver<BusMessage>,
    leaders: LeaderTable,
    (maps, offer): (watch::Receiver<Arc<ClusterMap>>, MapOffer),
) -> GossipService {
    let mut members: Vec<NodeId> = cfg.peers.keys().copied().collect();
    if !members.contains(&cfg.id) {
        members.push(cfg.id);
    }
    let gcfg = GossipConfig {
        id: cfg.id,
        cluster_id: cfg.cluster_id,
        node_timeout_ms: cfg.gossip_node_timeout_ms.max(1),
        members,
        seed: Clock::new().now_ms() ^ cfg.id.get().rotate_left(32),
    };
    let wiring = GossipWiring {
        outbox: transport.outbox.clone(),
        inbox,
        leaders,
        maps,
        offer,
    };
    let svc = GossipService::spawn(gcfg, wiring);
    transport.adopt_task(svc.abort_handle());
    svc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{decode_frame, decode_map_request, Frame, Kind};
    use slotraft_gossip::MessageKind;
    use std::sync::Mutex;

    const CID: u128 = 0x90_55;

    fn map_at_epoch_1() -> ClusterMap {
        let map = crate::transport::tests::gossip_bus_frames::bootstrapped_map(CID);
        assert_eq!(map.epoch(), 1);
        map
    }

    /// A task for node 1 of {1, 2, 3} whose offers land in the returned
    /// list; nothing runs it: the test calls its steps.
    fn task(initial: ClusterMap) -> (Task, Arc<Mutex<Vec<u64>>>) {
        let offered: Arc<Mutex<Vec<u64>>> = Arc::default();
        let o = offered.clone();
        let (_tx, maps) = watch::channel(Arc::new(initial));
        let (_bus_tx, inbox) = mpsc::channel(1);
        let wiring = GossipWiring {
            outbox: Outbox::detached(&[NodeId(2), NodeId(3)]),
            inbox,
            leaders: LeaderTable::default(),
            maps,
            offer: Arc::new(move |m| o.lock().unwrap().push(m.epoch())),
        };
        let cfg = GossipConfig {
            id: NodeId(1),
            cluster_id: CID,
            node_timeout_ms: 1000,
            members: vec![NodeId(1), NodeId(2), NodeId(3)],
            seed: 1,
        };
        let view = Arc::new(RwLock::new(GossipView::default()));
        (Task::new(cfg, wiring, view), offered)
    }

    fn ping(from: u64, epoch: u64) -> BusMessage {
        BusMessage::Gossip {
            from: NodeId(from),
            msg: slotraft_gossip::Message {
                kind: MessageKind::Ping,
                cluster_id: ClusterId(CID),
                sender: NodeId(from),
                config_epoch: epoch,
                failed: None,
                gossip: vec![],
                leaders: vec![],
            },
        }
    }

    /// The kinds of the frames queued for `peer`, map requests with their
    /// epoch.
    fn sent(t: &Task, peer: u64) -> Vec<(Kind, Option<u64>)> {
        t.wiring
            .outbox
            .take_queued(NodeId(peer))
            .iter()
            .map(|f| {
                let Frame { kind, payload, .. } = decode_frame(f).unwrap().unwrap();
                let epoch =
                    (kind == Kind::MapRequest).then(|| decode_map_request(payload).unwrap());
                (kind, epoch)
            })
            .collect()
    }

    fn map_requests(t: &Task, peer: u64) -> usize {
        sent(t, peer)
            .iter()
            .filter(|(k, _)| *k == Kind::MapRequest)
            .count()
    }

    #[test]
    fn newer_epoch_is_requested_then_retried_from_the_latest_advertiser() {
        let (mut t, offered) = task(ClusterMap::new());
        t.on_bus(ping(2, 1));
        t.after_step(false);
        assert!(sent(&t, 2).contains(&(Kind::MapRequest, Some(0))));
        // Node 3 advertises the epoch too: it becomes the one asked next.
        t.on_bus(ping(3, 1));
        t.after_step(false);
        assert_eq!(
            map_requests(&t, 3),
            0,
            "no new request before the retry time"
        );
        let now = t.clock.now_ms();
        t.retry_map_request(now + MAP_REQUEST_RETRY_MS / 2);
        assert_eq!(map_requests(&t, 2) + map_requests(&t, 3), 0);
        t.retry_map_request(now + MAP_REQUEST_RETRY_MS + 1);
        assert_eq!((map_requests(&t, 2), map_requests(&t, 3)), (0, 1));
        // The reply is offered to the node; adopting it ends the pull.
        let map = map_at_epoch_1();
        t.on_bus(BusMessage::MapReply {
            from: NodeId(3),
            map: Box::new(map.clone()),
        });
        assert_eq!(*offered.lock().unwrap(), vec![1]);
        t.adopt_map(Arc::new(map));
        assert!(t.wanted.is_none());
        t.retry_map_request(now + 10 * MAP_REQUEST_RETRY_MS);
        assert_eq!(map_requests(&t, 3), 0);
        assert_eq!(t.g.epoch(), 1);
    }

    #[test]
    fn older_or_equal_maps_are_not_offered() {
        let (mut t, offered) = task(map_at_epoch_1());
        t.on_bus(BusMessage::MapReply {
            from: NodeId(2),
            map: Box::new(map_at_epoch_1()),
        });
        assert!(offered.lock().unwrap().is_empty());
    }

    #[test]
    fn map_requests_are_answered_only_with_a_newer_map_and_rate_limited() {
        let (mut t, _) = task(ClusterMap::new());
        t.answer_map_request(NodeId(2), 0, 10_000);
        assert!(
            sent(&t, 2).is_empty(),
            "no bootstrapped map: nothing to give"
        );
        t.adopt_map(Arc::new(map_at_epoch_1()));
        t.answer_map_request(NodeId(2), 1, 10_000);
        assert!(sent(&t, 2).is_empty(), "the asker is not behind");
        t.answer_map_request(NodeId(2), 0, 10_000);
        assert_eq!(sent(&t, 2), vec![(Kind::MapReply, None)]);
        t.answer_map_request(NodeId(2), 0, 10_000 + MAP_REPLY_MIN_INTERVAL_MS - 1);
        assert!(sent(&t, 2).is_empty(), "rate limited per peer");
        t.answer_map_request(NodeId(3), 0, 10_000 + 1);
        assert_eq!(sent(&t, 3).len(), 1, "other peers are not limited by it");
        t.answer_map_request(NodeId(2), 0, 10_000 + MAP_REPLY_MIN_INTERVAL_MS);
        assert_eq!(sent(&t, 2).len(), 1);
    }

    #[test]
    fn local_leadership_is_gossiped_and_hosted_groups_are_not_listed() {
        let (mut t, _) = task(ClusterMap::new());
        t.wiring.leaders.write().unwrap().insert(
            GroupId(5),
            crate::driver::LeaderInfo {
                leader: Some(NodeId(1)),
                term: slotraft_types::Term(2),
            },
        );
        t.on_tick();
        t.after_step(true);
        let pings = t.wiring.outbox.take_queued(NodeId(2));
        let Frame { payload, .. } = decode_frame(&pings[0]).unwrap().unwrap();
        let msg = crate::transport::decode_gossip(payload).unwrap();
        assert_eq!(msg.leaders.len(), 1);
        assert_eq!(msg.leaders[0].group, GroupId(5));
        let view = t.view.read().unwrap().clone();
        assert!(view.leaders.is_empty(), "group 5 is hosted here");
        assert_eq!(view.health.len(), 3);
        assert!(!view.stats.is_empty());
    }
}

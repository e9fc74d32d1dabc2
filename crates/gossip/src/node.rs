//! The per-node gossip state machine: pings, failure detection, epoch and
//! leader-hint propagation.
//!
//! Failure detection (as Redis Cluster, with "masters" replaced by "members",
//! since every slotraft node hosts shards):
//! - every tick the node PINGs a few random peers, plus every peer it has not
//!   pinged for `node_timeout / 2`; the first unanswered PING's time is kept
//!   as `ping_sent`, cleared by any PONG from that peer;
//! - a peer whose oldest unanswered PING is older than `node_timeout` becomes
//!   PFAIL (suspected) locally;
//! - every message carries a few gossip entries about other nodes; an entry
//!   saying PFAIL/FAIL is a *failure report* from the sender, kept with the
//!   time it was received and dropped after `2 * node_timeout` or when the
//!   same sender reports the node healthy;
//! - a node that sees a peer PFAIL itself and holds reports from enough other
//!   members that, counting itself, a majority of all members agree, marks it
//!   FAIL and broadcasts a FAIL message; receivers mark it FAIL at once;
//! - PFAIL and FAIL are cleared when the peer answers a PING again.
//!
//! Nothing here is authoritative: FAIL is shown in `CLUSTER NODES`/`INFO`
//! and helps routing, but shard failover is Raft's job.

use std::collections::BTreeMap;

use slotraft_cluster::{ClusterId, ClusterMap, HealthState, NodeHealth};
use slotraft_types::{GroupId, NodeId, Term};

use crate::message::MAX_LEADER_HINTS;
use crate::message::{GossipEntry, LeaderHint, Message, MessageKind, MAX_GOSSIP_ENTRIES};
use crate::rng::Rng;

/// Most queued outgoing messages between two drains; beyond it new messages
/// are dropped (gossip tolerates loss; the next tick resends).
pub const MAX_OUTBOX: usize = 8192;
/// Most queued events between two drains; beyond it the oldest are dropped
/// and [`Gossip::dropped_events`] counts them.
pub const MAX_EVENTS: usize = 8192;

/// Tunables (all times in ms of the caller's clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Silence after which a peer is suspected (Redis's `cluster-node-timeout`).
    pub node_timeout_ms: u64,
    /// Random peers pinged per tick, besides the ones due.
    pub pings_per_tick: usize,
    /// Gossip entries per message (capped by [`MAX_GOSSIP_ENTRIES`]).
    pub gossip_entries: usize,
    /// Leader hints per message (capped by [`MAX_LEADER_HINTS`]); with more
    /// groups, successive messages rotate through them.
    pub leader_hints_per_message: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_timeout_ms: 5000,
            pings_per_tick: 1,
            gossip_entries: 3,
            leader_hints_per_message: 256,
        }
    }
}

/// Something the node runtime must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A peer has a newer cluster map: pull it from the metadata group.
    NewerEpochSeen { epoch: u64, from: NodeId },
    /// A newer leader hint for a group (higher term than known).
    LeaderHint {
        group: GroupId,
        leader: NodeId,
        term: Term,
    },
    /// A peer's health changed (Ok / PFail / Fail).
    NodeStateChanged { node: NodeId, state: HealthState },
}

/// A message to send to a member (the runtime resolves its bus address from
/// the cluster map).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub to: NodeId,
    pub msg: Message,
}

/// Why an incoming message was ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reject {
    /// Another cluster's message.
    ForeignCluster(ClusterId),
    /// A message claiming to come from this node.
    FromSelf,
    /// The sender is not a member of this node's map (its epoch was still
    /// looked at, so a newer map is pulled if it has one).
    UnknownSender(NodeId),
}

/// What this node knows about one peer.
#[derive(Clone, Debug, Default)]
struct Peer {
    /// Time of the oldest unanswered PING.
    ping_sent: Option<u64>,
    /// Time of the last PING sent (resend pacing).
    last_ping: Option<u64>,
    pong_received: Option<u64>,
    state: HealthState,
    /// Failure reports: reporter → time received.
    reports: BTreeMap<NodeId, u64>,
}

/// Per-kind message counters, for `CLUSTER INFO`.
#[derive(Clone, Debug, Default)]
struct Stats {
    sent: [u64; 4],
    received: [u64; 4],
}

/// The gossip state of one node.
#[derive(Debug)]
pub struct Gossip {
    cfg: Config,
    cluster_id: ClusterId,
    me: NodeId,
    epoch: u64,
    highest_seen_epoch: u64,
    peers: BTreeMap<NodeId, Peer>,
    hints: BTreeMap<GroupId, (NodeId, Term)>,
    /// Next group to start the leader-hint section at (rotation).
    hint_cursor: GroupId,
    rng: Rng,
    now: u64,
    outbox: Vec<Outgoing>,
    events: Vec<Event>,
    dropped_events: u64,
    stats: Stats,
}

impl Gossip {
    /// A node `me` of cluster `cluster_id` whose map has `members` (itself
    /// included or not) at `epoch`. `seed` drives peer selection.
    pub fn new(
        cfg: Config,
        cluster_id: ClusterId,
        me: NodeId,
        members: &[NodeId],
        epoch: u64,
        seed: u64,
        now_ms: u64,
    ) -> Gossip {
        assert!(cfg.node_timeout_ms > 0, "node timeout must be positive");
        let mut g = Gossip {
            cfg,
            cluster_id,
            me,
            epoch,
            highest_seen_epoch: epoch,
            peers: BTreeMap::new(),
            hints: BTreeMap::new(),
            hint_cursor: GroupId(0),
            rng: Rng::new(seed),
            now: now_ms,
            outbox: Vec::new(),
            events: Vec::new(),
            dropped_events: 0,
            stats: Stats::default(),
        };
        g.set_members(members);
        g
    }

    pub fn me(&self) -> NodeId {
        self.me
    }

    /// Replaces the member list (after a new map was applied). New members
    /// start healthy; removed ones are forgotten with their reports.
    pub fn set_members(&mut self, members: &[NodeId]) {
        let me = self.me;
        self.peers.retain(|id, _| members.contains(id));
        for m in members.iter().filter(|m| **m != me) {
            self.peers.entry(*m).or_default();
        }
        for p in self.peers.values_mut() {
            p.reports.retain(|r, _| members.contains(r) || *r == me);
        }
        self.hints
            .retain(|_, (n, _)| members.contains(n) || *n == me);
    }

    /// Adopts a (newer) cluster map: its nodes become the members and its
    /// epoch the one advertised.
    pub fn sync_with_map(&mut self, map: &ClusterMap) {
        let members: Vec<NodeId> = map.nodes().map(|n| n.id).collect();
        self.set_members(&members);
        self.set_epoch(map.epoch());
    }

    /// The epoch of the map this node now holds (sent in every header).
    pub fn set_epoch(&mut self, epoch: u64) {
        self.epoch = self.epoch.max(epoch);
        self.highest_seen_epoch = self.highest_seen_epoch.max(epoch);
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Records the leader of a group this node hosts, from its Raft state.
    /// Kept if `term` is at least the known one (local Raft is authoritative
    /// for its term).
    pub fn set_local_leader(&mut self, group: GroupId, leader: NodeId, term: Term) {
        match self.hints.get(&group) {
            Some((_, t)) if *t > term => {}
            Some((l, t)) if *l == leader && *t == term => {}
            _ => {
                self.hints.insert(group, (leader, term));
            }
        }
    }

    /// Best known leader of every group with its term.
    pub fn leader_hints(&self) -> &BTreeMap<GroupId, (NodeId, Term)> {
        &self.hints
    }

    /// Best known leader of every group, without terms (the shape
    /// `slotraft_cluster::Topology::leaders` takes; the runtime overrides the
    /// groups it hosts with its own Raft state).
    pub fn leaders(&self) -> BTreeMap<GroupId, NodeId> {
        self.hints.iter().map(|(g, (n, _))| (*g, *n)).collect()
    }

    /// This node's verdict on `node` (`Ok` for unknown nodes and itself).
    pub fn state_of(&self, node: NodeId) -> HealthState {
        self.peers.get(&node).map_or(HealthState::Ok, |p| p.state)
    }

    /// The view `CLUSTER NODES`/`INFO` and routing need (timestamps in the
    /// caller's clock: pass Unix ms to show wall-clock times).
    pub fn health(&self) -> BTreeMap<NodeId, NodeHealth> {
        let mut out: BTreeMap<NodeId, NodeHealth> = self
            .peers
            .iter()
            .map(|(id, p)| {
                let h = NodeHealth {
                    state: p.state,
                    ping_sent_ms: p.ping_sent.unwrap_or(0),
                    pong_recv_ms: p.pong_received.unwrap_or(0),
                    // A PING in flight is normal; one unanswered for half
                    // the timeout means the link is not working. (The
                    // runtime may override this with its TCP link state.)
                    connected: p.pong_received.is_some() && !self.link_stalled(p),
                };
                (*id, h)
            })
            .collect();
        out.insert(
            self.me,
            NodeHealth {
                pong_recv_ms: self.now,
                ..NodeHealth::default()
            },
        );
        out
    }

    /// Whether `p` has a PING unanswered for more than half the timeout.
    fn link_stalled(&self, p: &Peer) -> bool {
        match p.ping_sent {
            Some(t) => self.now.saturating_sub(t) > self.cfg.node_timeout_ms / 2,
            None => false,
        }
    }

    /// Message counters in Redis's `CLUSTER INFO` naming.
    pub fn stats(&self) -> Vec<(&'static str, u64)> {
        const SENT: [&str; 4] = [
            "cluster_stats_messages_ping_sent",
            "cluster_stats_messages_pong_sent",
            "cluster_stats_messages_meet_sent",
            "cluster_stats_messages_fail_sent",
        ];
        const RECV: [&str; 4] = [
            "cluster_stats_messages_ping_received",
            "cluster_stats_messages_pong_received",
            "cluster_stats_messages_meet_received",
            "cluster_stats_messages_fail_received",
        ];
        let mut out = Vec::with_capacity(10);
        out.extend(SENT.iter().zip(self.stats.sent).map(|(k, v)| (*k, v)));
        out.push(("cluster_stats_messages_sent", self.stats.sent.iter().sum()));
        out.extend(RECV.iter().zip(self.stats.received).map(|(k, v)| (*k, v)));
        out.push((
            "cluster_stats_messages_received",
            self.stats.received.iter().sum(),
        ));
        out
    }

    /// Messages to send, in order; the runtime delivers them (best effort).
    pub fn drain_outgoing(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.outbox)
    }

    /// Events since the last drain, in order.
    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Events lost because the queue was full (should stay 0).
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    fn advance(&mut self, now_ms: u64) {
        debug_assert!(now_ms >= self.now, "time went backwards");
        self.now = self.now.max(now_ms);
    }

    fn emit(&mut self, e: Event) {
        if self.events.len() >= MAX_EVENTS {
            self.events.remove(0);
            self.dropped_events += 1;
        }
        self.events.push(e);
    }

    fn majority(&self) -> usize {
        let members = self.peers.len() + 1; // peers plus this node
        members / 2 + 1
    }

    /// Periodic work: expire reports, suspect silent peers, send PINGs.
    pub fn tick(&mut self, now_ms: u64) {
        self.advance(now_ms);
        self.expire_reports();
        self.detect_pfail();
        self.send_pings();
    }

    fn expire_reports(&mut self) {
        let (now, validity) = (self.now, self.cfg.node_timeout_ms.saturating_mul(2));
        for p in self.peers.values_mut() {
            p.reports.retain(|_, t| now.saturating_sub(*t) <= validity);
        }
    }

    fn detect_pfail(&mut self) {
        let (now, timeout) = (self.now, self.cfg.node_timeout_ms);
        let suspected: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.state == HealthState::Ok)
            .filter(|(_, p)| p.ping_sent.is_some_and(|t| now.saturating_sub(t) > timeout))
            .map(|(id, _)| *id)
            .collect();
        for id in suspected {
            self.set_state(id, HealthState::PFail);
            self.check_fail(id);
        }
    }

    fn send_pings(&mut self) {
        let (now, resend) = (self.now, self.cfg.node_timeout_ms / 2);
        let ids: Vec<NodeId> = self.peers.keys().copied().collect();
        let mut targets = self.rng.sample(&ids, self.cfg.pings_per_tick);
        for (id, p) in &self.peers {
            let due = match p.last_ping {
                None => true,
                Some(t) => now.saturating_sub(t) >= resend,
            };
            if due && !targets.contains(id) {
                targets.push(*id);
            }
        }
        for to in targets {
            let p = self.peers.get_mut(&to).expect("target is a peer");
            p.ping_sent.get_or_insert(now);
            p.last_ping = Some(now);
            let kind = if p.pong_received.is_none() {
                MessageKind::Meet
            } else {
                MessageKind::Ping
            };
            let msg = self.build(kind, to, None);
            self.send(to, msg);
        }
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        if self.outbox.len() >= MAX_OUTBOX {
            return;
        }
        self.stats.sent[msg.kind.index()] += 1;
        self.outbox.push(Outgoing { to, msg });
    }

    /// A message of `kind` for `to`, with gossip entries (suspected and
    /// failed peers first, then random others) and a rotating window of
    /// leader hints.
    fn build(&mut self, kind: MessageKind, to: NodeId, failed: Option<NodeId>) -> Message {
        Message {
            kind,
            cluster_id: self.cluster_id,
            sender: self.me,
            config_epoch: self.epoch,
            failed,
            gossip: self.gossip_section(to),
            leaders: self.hint_section(),
        }
    }

    fn gossip_section(&mut self, to: NodeId) -> Vec<GossipEntry> {
        let limit = self.cfg.gossip_entries.min(MAX_GOSSIP_ENTRIES);
        let others: Vec<NodeId> = self.peers.keys().copied().filter(|n| *n != to).collect();
        let mut chosen: Vec<NodeId> = others
            .iter()
            .copied()
            .filter(|n| self.peers[n].state != HealthState::Ok)
            .take(limit)
            .collect();
        let healthy: Vec<NodeId> = others
            .iter()
            .copied()
            .filter(|n| self.peers[n].state == HealthState::Ok)
            .collect();
        let room = limit - chosen.len();
        chosen.extend(self.rng.sample(&healthy, room));
        chosen
            .into_iter()
            .map(|n| {
                let p = &self.peers[&n];
                GossipEntry {
                    node: n,
                    state: p.state,
                    pong_age_ms: p
                        .pong_received
                        .map_or(u64::MAX, |t| self.now.saturating_sub(t)),
                }
            })
            .collect()
    }

    fn hint_section(&mut self) -> Vec<LeaderHint> {
        let limit = self.cfg.leader_hints_per_message.min(MAX_LEADER_HINTS);
        let hint = |(g, (l, t)): (&GroupId, &(NodeId, Term))| LeaderHint {
            group: *g,
            leader: *l,
            term: *t,
        };
        let mut out: Vec<LeaderHint> = self
            .hints
            .range(self.hint_cursor..)
            .take(limit)
            .map(hint)
            .collect();
        if out.len() < limit {
            let wrap = self.hints.range(..self.hint_cursor).take(limit - out.len());
            out.extend(wrap.map(hint));
        }
        self.hint_cursor = match out.last() {
            Some(h) if out.len() < self.hints.len() => GroupId(h.group.get().saturating_add(1)),
            _ => GroupId(0),
        };
        out
    }

    fn set_state(&mut self, node: NodeId, state: HealthState) {
        let p = self.peers.get_mut(&node).expect("known peer");
        if p.state != state {
            p.state = state;
            self.emit(Event::NodeStateChanged { node, state });
        }
    }

    /// PFAIL → FAIL if, counting this node, a majority of members report it.
    fn check_fail(&mut self, node: NodeId) {
        let p = &self.peers[&node];
        if p.state != HealthState::PFail {
            return;
        }
        let agree = p.reports.keys().filter(|r| **r != self.me).count() + 1;
        if agree >= self.majority() {
            self.set_state(node, HealthState::Fail);
            self.broadcast_fail(node);
        }
    }

    fn broadcast_fail(&mut self, failed: NodeId) {
        let targets: Vec<NodeId> = self
            .peers
            .keys()
            .copied()
            .filter(|n| *n != failed)
            .collect();
        for to in targets {
            let msg = self.build(MessageKind::Fail, to, Some(failed));
            self.send(to, msg);
        }
    }

    /// Processes one incoming message received at `now_ms`.
    pub fn handle(&mut self, msg: &Message, now_ms: u64) -> Result<(), Reject> {
        self.advance(now_ms);
        if msg.cluster_id != self.cluster_id {
            return Err(Reject::ForeignCluster(msg.cluster_id));
        }
        if msg.sender == self.me {
            return Err(Reject::FromSelf);
        }
        self.note_epoch(msg.config_epoch, msg.sender);
        if !self.peers.contains_key(&msg.sender) {
            return Err(Reject::UnknownSender(msg.sender));
        }
        self.stats.received[msg.kind.index()] += 1;
        match msg.kind {
            MessageKind::Ping | MessageKind::Meet => {
                let reply = self.build(MessageKind::Pong, msg.sender, None);
                self.send(msg.sender, reply);
            }
            MessageKind::Pong => self.on_pong(msg.sender),
            MessageKind::Fail => {
                let failed = msg.failed.expect("decoder guarantees FAIL names a node");
                // Never about ourselves (our PONGs refute it) nor about the
                // sender (a node cannot report its own failure).
                if failed != self.me && failed != msg.sender && self.peers.contains_key(&failed) {
                    self.set_state(failed, HealthState::Fail);
                }
            }
        }
        self.on_gossip(msg.sender, &msg.gossip);
        self.on_hints(&msg.leaders);
        Ok(())
    }

    fn note_epoch(&mut self, epoch: u64, from: NodeId) {
        if epoch > self.highest_seen_epoch {
            self.highest_seen_epoch = epoch;
            self.emit(Event::NewerEpochSeen { epoch, from });
        }
    }

    fn on_pong(&mut self, from: NodeId) {
        let now = self.now;
        let p = self.peers.get_mut(&from).expect("member");
        p.ping_sent = None;
        p.pong_received = Some(now);
        self.set_state(from, HealthState::Ok);
    }

    fn on_gossip(&mut self, sender: NodeId, entries: &[GossipEntry]) {
        let now = self.now;
        for e in entries {
            if e.node == self.me || e.node == sender {
                continue;
            }
            let Some(p) = self.peers.get_mut(&e.node) else {
                continue;
            };
            if e.state == HealthState::Ok {
                p.reports.remove(&sender);
            } else {
                p.reports.insert(sender, now);
                self.check_fail(e.node);
            }
        }
    }

    fn on_hints(&mut self, hints: &[LeaderHint]) {
        for h in hints {
            if h.leader != self.me && !self.peers.contains_key(&h.leader) {
                continue;
            }
            let newer = match self.hints.get(&h.group) {
                None => true,
                Some((_, t)) => h.term > *t,
            };
            if newer {
                self.hints.insert(h.group, (h.leader, h.term));
                self.emit(Event::LeaderHint {
                    group: h.group,
                    leader: h.leader,
                    term: h.term,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u64]) -> Vec<NodeId> {
        v.iter().map(|i| NodeId(*i)).collect()
    }

    fn node(me: u64, members: &[u64]) -> Gossip {
        Gossip::new(
            Config::default(),
            ClusterId(1),
            NodeId(me),
            &ids(members),
            1,
            me,
            0,
        )
    }

    #[test]
    fn first_tick_meets_every_peer() {
        let mut g = node(1, &[1, 2, 3]);
        g.tick(100);
        let out = g.drain_outgoing();
        let mut to: Vec<u64> = out.iter().map(|o| o.to.get()).collect();
        to.sort();
        assert_eq!(to, vec![2, 3]);
        assert!(out.iter().all(|o| o.msg.kind == MessageKind::Meet));
        // Gossip never tells a node about itself.
        for o in &out {
            assert!(o
                .msg
                .gossip
                .iter()
                .all(|e| e.node != o.to && e.node != NodeId(1)));
        }
    }

    #[test]
    fn pfail_after_timeout_without_pong() {
        let mut g = node(1, &[1, 2, 3]);
        g.tick(0);
        g.drain_outgoing();
        g.tick(5000);
        assert_eq!(g.state_of(NodeId(2)), HealthState::Ok);
        g.tick(5001);
        assert_eq!(g.state_of(NodeId(2)), HealthState::PFail);
        assert!(g.drain_events().contains(&Event::NodeStateChanged {
            node: NodeId(2),
            state: HealthState::PFail
        }));
        // A PONG clears it.
        let pong = Message {
            kind: MessageKind::Pong,
            cluster_id: ClusterId(1),
            sender: NodeId(2),
            config_epoch: 1,
            failed: None,
            gossip: vec![],
            leaders: vec![],
        };
        g.handle(&pong, 5002).unwrap();
        assert_eq!(g.state_of(NodeId(2)), HealthState::Ok);
    }

    fn fail_msg(sender: u64, failed: u64) -> Message {
        Message {
            kind: MessageKind::Fail,
            cluster_id: ClusterId(1),
            sender: NodeId(sender),
            config_epoch: 1,
            failed: Some(NodeId(failed)),
            gossip: vec![],
            leaders: vec![],
        }
    }

    #[test]
    fn fail_message_marks_node_but_not_self_or_sender() {
        let mut g = node(1, &[1, 2, 3]);
        g.handle(&fail_msg(2, 1), 10).unwrap();
        g.handle(&fail_msg(2, 2), 10).unwrap();
        g.handle(&fail_msg(2, 9), 10).unwrap();
        assert_eq!(g.state_of(NodeId(2)), HealthState::Ok);
        assert!(g.drain_events().is_empty());
        g.handle(&fail_msg(2, 3), 10).unwrap();
        assert_eq!(g.state_of(NodeId(3)), HealthState::Fail);
        assert_eq!(
            g.drain_events(),
            vec![Event::NodeStateChanged {
                node: NodeId(3),
                state: HealthState::Fail
            }]
        );
    }

    #[test]
    fn reports_expire_after_twice_the_timeout() {
        // 5 members: node 1 suspects 5 and holds one report (from 2); a
        // second report (from 3) arriving after the first expired must not
        // complete a majority with it.
        let mut g = node(1, &[1, 2, 3, 4, 5]);
        let report = |from: u64| Message {
            kind: MessageKind::Ping,
            cluster_id: ClusterId(1),
            sender: NodeId(from),
            config_epoch: 1,
            failed: None,
            gossip: vec![GossipEntry {
                node: NodeId(5),
                state: HealthState::PFail,
                pong_age_ms: 9999,
            }],
            leaders: vec![],
        };
        g.tick(0);
        g.handle(&report(2), 100).unwrap();
        g.tick(5001); // node 1 now suspects 2..5 (no PONGs at all)
        assert_eq!(g.state_of(NodeId(5)), HealthState::PFail);
        g.tick(10_101); // the report from 2 (t=100) is now older than 10 s
        g.handle(&report(3), 10_101).unwrap();
        assert_eq!(
            g.state_of(NodeId(5)),
            HealthState::PFail,
            "1 + 1 of 5 is no majority"
        );
        g.handle(&report(4), 10_102).unwrap();
        assert_eq!(g.state_of(NodeId(5)), HealthState::Fail, "1 + 2 of 5 is");
    }

    #[test]
    fn sync_with_map_adopts_members_and_epoch() {
        use slotraft_cluster::{plan_cluster, MetaCommand, NodeSpec};
        use std::net::{IpAddr, Ipv4Addr};
        let specs: Vec<NodeSpec> = (1..=4u16)
            .map(|i| NodeSpec {
                id: NodeId(i as u64),
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port: 7000 + i,
                bus_port: 17000 + i,
            })
            .collect();
        let mut map = ClusterMap::new();
        let plan = plan_cluster(ClusterId(1), &specs, None, 3).unwrap();
        map.apply(&MetaCommand::Bootstrap(plan)).unwrap();
        let mut g = node(1, &[1, 2]);
        g.sync_with_map(&map);
        assert_eq!(g.epoch(), map.epoch());
        g.tick(10);
        let mut to: Vec<u64> = g.drain_outgoing().iter().map(|o| o.to.get()).collect();
        to.sort();
        assert_eq!(to, vec![2, 3, 4]);
    }

    #[test]
    fn hint_section_rotates_through_many_groups() {
        let cfg = Config {
            leader_hints_per_message: 4,
            ..Config::default()
        };
        let mut g = Gossip::new(cfg, ClusterId(1), NodeId(1), &ids(&[1, 2]), 1, 1, 0);
        for i in 1..=10 {
            g.set_local_leader(GroupId(i), NodeId(1), Term(1));
        }
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..3 {
            let s = g.hint_section();
            assert!(s.len() <= 4);
            seen.extend(s.iter().map(|h| h.group));
        }
        assert_eq!(seen.len(), 10, "three messages cover all ten groups");
    }

    #[test]
    fn local_leader_respects_terms() {
        let mut g = node(1, &[1, 2]);
        g.set_local_leader(GroupId(1), NodeId(2), Term(5));
        g.set_local_leader(GroupId(1), NodeId(1), Term(4));
        assert_eq!(g.leader_hints()[&GroupId(1)], (NodeId(2), Term(5)));
        g.set_local_leader(GroupId(1), NodeId(1), Term(6));
        assert_eq!(g.leader_hints()[&GroupId(1)], (NodeId(1), Term(6)));
        assert_eq!(g.leaders(), [(GroupId(1), NodeId(1))].into_iter().collect());
    }
}

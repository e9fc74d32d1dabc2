//! Whole networks of gossip nodes in one thread: messages are encoded,
//! decoded and delivered by a tiny in-test "network" that can crash nodes and
//! cut links. Time advances 100 ms per step; node timeout is 1 s.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use proptest::prelude::*;

use slotraft_cluster::{ClusterId, HealthState};
use slotraft_gossip::{Config, Event, Gossip, Message, MessageKind, Reject};
use slotraft_types::{GroupId, NodeId, Term};

const STEP_MS: u64 = 100;
const TIMEOUT_MS: u64 = 1000;
/// Safety bound on deliveries per step.
const MAX_DELIVERIES_PER_STEP: usize = 100_000;

struct Net {
    nodes: BTreeMap<NodeId, Gossip>,
    down: BTreeSet<NodeId>,
    cut: BTreeSet<(NodeId, NodeId)>,
    now: u64,
    /// Every event, with the time it was drained.
    log: BTreeMap<NodeId, Vec<(u64, Event)>>,
    /// Simulate "pull the newer map" on NewerEpochSeen.
    pull_maps: bool,
    /// Percentage of messages dropped at random (seeded).
    loss_percent: u64,
    loss_rng: u64,
}

fn cfg() -> Config {
    Config {
        node_timeout_ms: TIMEOUT_MS,
        ..Config::default()
    }
}

impl Net {
    fn new(n: u64, seed: u64) -> Net {
        let members: Vec<NodeId> = (1..=n).map(NodeId).collect();
        let nodes = members
            .iter()
            .map(|id| {
                let g = Gossip::new(cfg(), ClusterId(1), *id, &members, 1, seed ^ id.get(), 0);
                (*id, g)
            })
            .collect();
        Net {
            nodes,
            down: BTreeSet::new(),
            cut: BTreeSet::new(),
            now: 0,
            log: BTreeMap::new(),
            pull_maps: true,
            loss_percent: 0,
            loss_rng: seed,
        }
    }

    fn cut(&mut self, a: u64, b: u64) {
        self.cut.insert((NodeId(a.min(b)), NodeId(a.max(b))));
    }

    fn heal(&mut self) {
        self.cut.clear();
    }

    fn linked(&self, a: NodeId, b: NodeId) -> bool {
        !self.down.contains(&a)
            && !self.down.contains(&b)
            && !self.cut.contains(&(a.min(b), a.max(b)))
    }

    /// Seeded coin for message loss (SplitMix64 step).
    fn lose(&mut self) -> bool {
        if self.loss_percent == 0 {
            return false;
        }
        self.loss_rng = self.loss_rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.loss_rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % 100 < self.loss_percent
    }

    fn step(&mut self) {
        self.now += STEP_MS;
        let mut queue = VecDeque::new();
        for (id, g) in self.nodes.iter_mut() {
            if self.down.contains(id) {
                continue;
            }
            g.tick(self.now);
            queue.extend(g.drain_outgoing().into_iter().map(|o| (*id, o)));
        }
        let mut delivered = 0;
        while let Some((from, out)) = queue.pop_front() {
            delivered += 1;
            assert!(delivered < MAX_DELIVERIES_PER_STEP, "message storm");
            if !self.linked(from, out.to) || self.lose() {
                continue;
            }
            let wire = out.msg.encode();
            let msg = Message::decode(&wire).expect("valid message decodes");
            let g = self.nodes.get_mut(&out.to).expect("member");
            g.handle(&msg, self.now)
                .expect("same-cluster member message");
            queue.extend(g.drain_outgoing().into_iter().map(|o| (out.to, o)));
        }
        self.collect_events();
    }

    fn collect_events(&mut self) {
        for (id, g) in self.nodes.iter_mut() {
            for e in g.drain_events() {
                if let (true, Event::NewerEpochSeen { epoch, .. }) = (self.pull_maps, &e) {
                    g.set_epoch(*epoch);
                }
                self.log.entry(*id).or_default().push((self.now, e));
            }
        }
    }

    fn run(&mut self, steps: usize) {
        for _ in 0..steps {
            self.step();
        }
    }

    fn up(&self) -> Vec<NodeId> {
        self.nodes
            .keys()
            .copied()
            .filter(|n| !self.down.contains(n))
            .collect()
    }

    /// State changes `observer` logged about `node`, with times.
    fn changes(&self, observer: NodeId, node: NodeId) -> Vec<(u64, HealthState)> {
        self.log
            .get(&observer)
            .into_iter()
            .flatten()
            .filter_map(|(t, e)| match e {
                Event::NodeStateChanged { node: n, state } if *n == node => Some((*t, *state)),
                _ => None,
            })
            .collect()
    }

    fn state(&self, observer: u64, node: u64) -> HealthState {
        self.nodes[&NodeId(observer)].state_of(NodeId(node))
    }
}

#[test]
fn healthy_cluster_stays_healthy() {
    let mut net = Net::new(5, 1);
    net.run(100);
    for a in 1..=5 {
        for b in 1..=5 {
            assert_eq!(net.state(a, b), HealthState::Ok, "{a} sees {b}");
        }
        assert!(net.changes(NodeId(a), NodeId(1)).is_empty());
    }
}

#[test]
fn crashed_node_goes_pfail_then_fail_by_majority_then_recovers() {
    let mut net = Net::new(5, 2);
    net.run(20);
    let crash_at = net.now;
    net.down.insert(NodeId(5));
    net.run(40); // 4 s = 4 node timeouts
    let mut saw_pfail_first = 0;
    for obs in net.up() {
        assert_eq!(net.state(obs.get(), 5), HealthState::Fail, "node {obs}");
        let ch = net.changes(obs, NodeId(5));
        let (t_fail, _) = *ch.iter().find(|(_, s)| *s == HealthState::Fail).unwrap();
        assert!(
            t_fail > crash_at + TIMEOUT_MS,
            "FAIL only after the node timeout ({t_fail} vs crash {crash_at})"
        );
        assert!(
            t_fail <= crash_at + 3 * TIMEOUT_MS,
            "FAIL within 3 timeouts"
        );
        if ch.first().map(|c| c.1) == Some(HealthState::PFail) {
            saw_pfail_first += 1;
        }
    }
    assert!(saw_pfail_first >= 1, "someone suspected before FAIL");
    // The healthy nodes never suspected each other.
    for a in net.up() {
        for b in net.up() {
            assert!(net.changes(a, b).is_empty(), "{a} about {b}");
        }
    }
    // Recovery: node 5 answers again and everyone clears FAIL.
    net.down.clear();
    net.run(30);
    for obs in 1..=4 {
        assert_eq!(net.state(obs, 5), HealthState::Ok, "node {obs}");
        let last = net.changes(NodeId(obs), NodeId(5)).last().copied().unwrap();
        assert_eq!(last.1, HealthState::Ok);
    }
}

#[test]
fn no_fail_with_only_a_minority_of_reporters() {
    // Nodes 1 and 2 cannot reach node 5; 3 and 4 can. Two of five suspect:
    // PFAIL on 1 and 2, never FAIL anywhere.
    let mut net = Net::new(5, 3);
    net.run(10);
    net.cut(1, 5);
    net.cut(2, 5);
    net.run(100); // 10 node timeouts
    assert_eq!(net.state(1, 5), HealthState::PFail);
    assert_eq!(net.state(2, 5), HealthState::PFail);
    assert_eq!(net.state(3, 5), HealthState::Ok);
    assert_eq!(net.state(4, 5), HealthState::Ok);
    for obs in 1..=5u64 {
        for node in 1..=5u64 {
            let ever_failed = net
                .changes(NodeId(obs), NodeId(node))
                .iter()
                .any(|c| c.1 == HealthState::Fail);
            assert!(!ever_failed, "{obs} marked {node} FAIL");
        }
    }
    // Healing clears the suspicion.
    net.heal();
    net.run(20);
    assert_eq!(net.state(1, 5), HealthState::Ok);
    assert_eq!(net.state(5, 1), HealthState::Ok);
}

#[test]
fn three_of_five_reporters_reach_fail() {
    // Three nodes cannot reach node 5 (a majority of 5, counting themselves).
    let mut net = Net::new(5, 4);
    net.run(10);
    for a in 1..=3 {
        net.cut(a, 5);
    }
    net.run(40);
    for obs in 1..=3 {
        assert_eq!(net.state(obs, 5), HealthState::Fail, "node {obs}");
    }
    // Node 4 got the FAIL broadcast, but it still reaches node 5 directly,
    // so node 5's next PONG clears it there (FAIL is cleared by an answer).
    let ch4 = net.changes(NodeId(4), NodeId(5));
    assert!(ch4.iter().any(|c| c.1 == HealthState::Fail), "{ch4:?}");
    assert_eq!(net.state(4, 5), HealthState::Ok);
}

#[test]
fn newer_epoch_propagates() {
    let mut net = Net::new(6, 5);
    net.run(5);
    net.nodes.get_mut(&NodeId(3)).unwrap().set_epoch(9);
    net.run(50);
    for (id, g) in &net.nodes {
        assert_eq!(g.epoch(), 9, "node {id}");
        if *id == NodeId(3) {
            continue;
        }
        let seen: Vec<u64> = net.log[id]
            .iter()
            .filter_map(|(_, e)| match e {
                Event::NewerEpochSeen { epoch, .. } => Some(*epoch),
                _ => None,
            })
            .collect();
        assert_eq!(seen, vec![9], "node {id} pulls the map once");
    }
}

#[test]
fn leader_hints_propagate_and_higher_terms_win() {
    let mut net = Net::new(5, 6);
    let g7 = GroupId(7);
    net.nodes
        .get_mut(&NodeId(2))
        .unwrap()
        .set_local_leader(g7, NodeId(2), Term(3));
    net.run(40);
    for (id, g) in &net.nodes {
        assert_eq!(
            g.leader_hints().get(&g7),
            Some(&(NodeId(2), Term(3))),
            "{id}"
        );
    }
    assert!(net.log[&NodeId(5)].iter().any(|(_, e)| *e
        == Event::LeaderHint {
            group: g7,
            leader: NodeId(2),
            term: Term(3)
        }));
    // A new leader in a higher term replaces it everywhere.
    net.nodes
        .get_mut(&NodeId(4))
        .unwrap()
        .set_local_leader(g7, NodeId(4), Term(4));
    // A stale local report (lower term) is ignored.
    net.nodes
        .get_mut(&NodeId(1))
        .unwrap()
        .set_local_leader(g7, NodeId(1), Term(2));
    net.run(40);
    for (id, g) in &net.nodes {
        assert_eq!(
            g.leader_hints().get(&g7),
            Some(&(NodeId(4), Term(4))),
            "{id}"
        );
    }
}

#[test]
fn foreign_cluster_and_unknown_senders_are_rejected() {
    let members = [NodeId(1), NodeId(2)];
    let mut ours = Gossip::new(cfg(), ClusterId(1), NodeId(1), &members, 3, 1, 0);
    let mut theirs = Gossip::new(cfg(), ClusterId(2), NodeId(2), &members, 50, 1, 0);
    theirs.set_local_leader(GroupId(1), NodeId(2), Term(99));
    theirs.tick(100);
    let out = theirs.drain_outgoing();
    assert!(!out.is_empty());
    for o in &out {
        assert_eq!(
            ours.handle(&o.msg, 100),
            Err(Reject::ForeignCluster(ClusterId(2)))
        );
    }
    assert!(
        ours.drain_events().is_empty(),
        "no epoch, hint or state leaks"
    );
    assert!(
        ours.drain_outgoing().is_empty(),
        "no reply to a foreign node"
    );
    assert!(ours.leader_hints().is_empty());
    // Same cluster, but not a member of our map yet: its newer epoch is
    // noticed (so we pull the map) and nothing else is taken from it.
    let mut newcomer = Gossip::new(cfg(), ClusterId(1), NodeId(9), &[NodeId(1)], 4, 1, 0);
    newcomer.tick(100);
    let o = newcomer.drain_outgoing().pop().unwrap();
    assert_eq!(o.msg.kind, MessageKind::Meet);
    assert_eq!(
        ours.handle(&o.msg, 100),
        Err(Reject::UnknownSender(NodeId(9)))
    );
    assert_eq!(
        ours.drain_events(),
        vec![Event::NewerEpochSeen {
            epoch: 4,
            from: NodeId(9)
        }]
    );
    // A message claiming to be from ourselves.
    let mut me_too = Gossip::new(cfg(), ClusterId(1), NodeId(1), &members, 3, 1, 0);
    me_too.tick(100);
    let o = me_too.drain_outgoing().pop().unwrap();
    assert_eq!(ours.handle(&o.msg, 100), Err(Reject::FromSelf));
}

#[test]
fn same_seed_same_history() {
    let trace = |seed| {
        let mut net = Net::new(5, seed);
        net.run(10);
        net.down.insert(NodeId(4));
        net.run(40);
        net.log
    };
    assert_eq!(trace(11), trace(11));
}

#[test]
fn health_view_feeds_cluster_nodes() {
    let mut net = Net::new(3, 7);
    net.run(10);
    net.down.insert(NodeId(3));
    net.run(40);
    let h = net.nodes[&NodeId(1)].health();
    assert_eq!(h[&NodeId(3)].state, HealthState::Fail);
    assert!(!h[&NodeId(3)].connected);
    assert!(h[&NodeId(3)].ping_sent_ms > 0);
    assert!(h[&NodeId(2)].connected);
    assert_eq!(h[&NodeId(2)].state, HealthState::Ok);
    let stats = net.nodes[&NodeId(1)].stats();
    let get = |k: &str| stats.iter().find(|(n, _)| *n == k).unwrap().1;
    assert!(get("cluster_stats_messages_ping_sent") > 0);
    assert!(
        get("cluster_stats_messages_fail_sent") + get("cluster_stats_messages_fail_received") > 0
    );
    assert_eq!(
        get("cluster_stats_messages_sent"),
        get("cluster_stats_messages_ping_sent")
            + get("cluster_stats_messages_pong_sent")
            + get("cluster_stats_messages_meet_sent")
            + get("cluster_stats_messages_fail_sent")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any cluster size, any seed, 10% message loss: a node crashed for good
    /// ends FAIL on every live node as long as the live nodes are a majority,
    /// and no live node ends suspected by another.
    #[test]
    fn crashed_minority_always_detected(n in 3u64..8, seed in any::<u64>(), lossy in any::<bool>()) {
        let mut net = Net::new(n, seed);
        net.loss_percent = if lossy { 10 } else { 0 };
        net.run(10);
        let crashed = (n - 1) / 2; // a minority: nodes n, n-1, ...
        for k in 0..crashed {
            net.down.insert(NodeId(n - k));
        }
        net.run(80);
        for obs in net.up() {
            for k in 0..crashed {
                prop_assert_eq!(net.nodes[&obs].state_of(NodeId(n - k)), HealthState::Fail);
            }
        }
        // Without loss, live nodes never even suspect each other.
        if !lossy {
            for a in net.up() {
                for b in net.up() {
                    prop_assert!(net.changes(a, b).is_empty());
                }
            }
        }
    }

    /// If a majority of the members can still reach X, nobody marks X FAIL
    /// (only the cut-off minority may suspect it).
    #[test]
    fn reachable_by_majority_never_fails(n in 3u64..8, seed in any::<u64>()) {
        let mut net = Net::new(n, seed);
        net.run(5);
        let x = n;
        // Cut X from (n-1)/2 of the others: X and the rest are still a
        // majority, and the cut-off reporters are not.
        let cut = (n - 1) / 2;
        prop_assert!(n - cut > n / 2 && cut < n / 2 + 1);
        for a in 1..=cut {
            net.cut(a, x);
        }
        net.run(60);
        for obs in 1..=n {
            let failed = net.changes(NodeId(obs), NodeId(x)).iter().any(|c| c.1 == HealthState::Fail);
            prop_assert!(!failed, "{} marked {} FAIL with {} cut of {}", obs, x, cut, n);
        }
    }
}

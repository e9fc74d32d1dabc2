//! Raft §5.2: leader election with randomized timeouts, one vote per term,
//! election priority.

mod common;
use common::*;
use slotraft_raft::*;

#[test]
fn single_node_elects_itself_and_commits_noop() {
    let mut net = Network::new(1, |_| {});
    net.tick(20);
    assert_eq!(net.leader(), Some(1));
    let raw = &net.node(1).raw;
    assert_eq!(raw.commit(), LogIndex(1), "no-op of the term committed");
    assert_eq!(raw.log_term(LogIndex(1)), Some(raw.term()));
}

#[test]
fn three_nodes_elect_exactly_one_leader_per_term() {
    for seed in 0..20u64 {
        let mut net = Network::new(3, |c| c.seed = seed * 31 + c.id.get());
        // Split votes are possible; a few election timeouts always suffice.
        net.tick(80);
        let leaders: Vec<u64> = net
            .nodes
            .iter()
            .filter(|(_, n)| n.raw.role() == Role::Leader)
            .map(|(&id, _)| id)
            .collect();
        assert_eq!(leaders.len(), 1, "seed {seed}: one leader");
        let l = leaders[0];
        let term = net.node(l).raw.term();
        for n in net.nodes.values() {
            assert_eq!(n.raw.term(), term);
            assert_eq!(n.raw.leader(), Some(NodeId(l)));
        }
    }
}

/// The tick at which an isolated follower first campaigns.
fn first_campaign_tick(mut c: Config) -> usize {
    c.pre_vote = false;
    let store = MemStorage::new_with_conf_state(ConfState::with_voters([1, 2, 3]));
    let mut raw = RawNode::new(c, store).unwrap();
    for t in 1..=100 {
        raw.tick();
        if raw.role() == Role::Candidate {
            return t;
        }
    }
    panic!("never campaigned");
}

#[test]
fn randomized_timeout_in_election_tick_to_twice() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..200 {
        let mut c = cfg(1);
        c.seed = seed;
        let t = first_campaign_tick(c);
        assert!((10..20).contains(&t), "timeout {t} outside [10, 20)");
        seen.insert(t);
    }
    assert!(
        seen.len() >= 8,
        "timeouts are actually randomized: {seen:?}"
    );
}

#[test]
fn priority_shortens_the_randomized_timeout() {
    let (mut plain, mut prio) = (0, 0);
    for seed in 0..200 {
        let mut c = cfg(1);
        c.seed = seed;
        plain += first_campaign_tick(c.clone());
        c.priority = 4;
        let t = first_campaign_tick(c);
        assert!(
            (10..12).contains(&t),
            "priority 4: timeout in [10, 10+10/5)"
        );
        prio += t;
    }
    assert!(prio < plain, "priority nodes time out earlier on average");
}

#[test]
fn priority_node_usually_wins_among_equals() {
    let mut wins = 0;
    for seed in 0..30u64 {
        let mut net = Network::new(3, |c| {
            c.seed = seed * 7 + c.id.get();
            if c.id == NodeId(3) {
                c.priority = MAX_PRIORITY;
            }
        });
        net.tick(25);
        if net.leader() == Some(3) {
            wins += 1;
        }
    }
    assert!(wins >= 25, "priority node won {wins}/30 elections");
}

#[test]
fn vote_is_granted_once_per_term() {
    let store = MemStorage::new_with_conf_state(ConfState::with_voters([1, 2, 3]));
    let mut c = cfg(1);
    c.check_quorum = false;
    let mut raw = RawNode::new(c, store).unwrap();
    let req = |from: u64| Message {
        from: NodeId(from),
        to: NodeId(1),
        term: Term(5),
        body: MessageBody::RequestVote {
            pre_vote: false,
            last_index: LogIndex(0),
            last_term: Term(0),
            transfer: false,
        },
    };
    raw.step(req(2)).unwrap();
    raw.step(req(3)).unwrap();
    raw.step(req(2)).unwrap(); // a retry from the same candidate is re-granted
    let rd = raw.ready();
    let granted: Vec<(u64, bool)> = rd
        .messages
        .iter()
        .map(|m| match m.body {
            MessageBody::VoteResponse { granted, .. } => (m.to.get(), granted),
            _ => panic!("unexpected {m:?}"),
        })
        .collect();
    assert_eq!(granted, vec![(2, true), (3, false), (2, true)]);
    assert_eq!(rd.hard_state.unwrap().vote, Some(NodeId(2)));
    raw.advance(rd);
}

#[test]
fn candidate_with_stale_log_is_rejected() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    net.propose(1, "a").unwrap();
    net.isolate(3);
    net.propose(1, "b").unwrap();
    net.heal();
    net.crash(1);
    // 3 lacks "b": 2 must refuse it.
    net.campaign(3);
    assert_ne!(net.leader(), Some(3));
    net.campaign(2);
    assert_eq!(net.leader(), Some(2));
}

#[test]
fn leader_steps_down_on_higher_term() {
    let mut net = Network::new(3, |c| {
        c.pre_vote = false;
        c.check_quorum = false;
    });
    elect(&mut net, 1);
    let t = net.node(1).raw.term();
    net.isolate(1);
    net.campaign(2);
    assert_eq!(net.node(2).raw.role(), Role::Leader);
    net.heal();
    net.tick(2);
    assert_eq!(net.node(1).raw.role(), Role::Follower);
    assert!(net.node(1).raw.term() > t);
    assert_eq!(net.leader(), Some(2));
}

#[test]
fn learner_never_campaigns() {
    let mut net = Network::with_members(&[1, 2], &[3], |_| {});
    net.crash(1);
    net.crash(2);
    net.tick_node(3, 100);
    assert_eq!(net.node(3).raw.role(), Role::Follower);
    assert_eq!(net.node(3).raw.term(), Term(0));
}

//! Ongaro's thesis §9.6 (PreVote) and §6.2 (CheckQuorum): a partitioned
//! node rejoining does not disturb the cluster; a leader that lost its
//! majority steps down within an election timeout; followers with a live
//! leader ignore vote requests.

mod common;
use common::*;
use slotraft_raft::*;

fn rejoin_after_partition(pre_vote: bool) -> (Term, Term, Option<u64>) {
    let mut net = Network::new(3, |c| {
        c.pre_vote = pre_vote;
        c.check_quorum = false;
    });
    elect(&mut net, 1);
    let term = net.node(1).raw.term();
    net.isolate(3);
    net.tick(100); // 3 times out repeatedly
    net.heal();
    net.tick(5);
    (term, net.node(1).raw.term(), net.leader())
}

#[test]
fn prevote_rejoining_node_does_not_disturb() {
    let (before, after, leader) = rejoin_after_partition(true);
    assert_eq!(before, after, "term unchanged");
    assert_eq!(leader, Some(1), "leader unchanged");
}

#[test]
fn without_prevote_the_rejoining_node_disrupts() {
    let (before, after, _) = rejoin_after_partition(false);
    assert!(after > before, "the contrast case: terms were bumped");
}

#[test]
fn prevote_does_not_bump_the_isolated_nodes_term() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    let term = net.node(3).raw.term();
    net.isolate(3);
    net.tick(100);
    assert_eq!(net.node(3).raw.term(), term);
    assert_eq!(net.node(3).raw.role(), Role::PreCandidate);
}

#[test]
fn check_quorum_leader_steps_down_within_an_election_timeout() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    net.isolate(1);
    let mut stepped_down_at = None;
    for t in 1..=25 {
        net.tick_node(1, 1);
        if net.node(1).raw.role() != Role::Leader {
            stepped_down_at = Some(t);
            break;
        }
    }
    let t = stepped_down_at.expect("leader stepped down");
    assert!(t <= 2 * 10, "stepped down after {t} ticks");
}

#[test]
fn without_check_quorum_an_isolated_leader_stays() {
    let mut net = Network::new(3, |c| c.check_quorum = false);
    elect(&mut net, 1);
    net.isolate(1);
    net.tick_node(1, 50);
    assert_eq!(net.node(1).raw.role(), Role::Leader);
}

#[test]
fn follower_with_live_leader_ignores_vote_requests() {
    let mut net = Network::new(3, |c| c.pre_vote = false);
    elect(&mut net, 1);
    let term = net.node(2).raw.term();
    let m = Message {
        from: NodeId(3),
        to: NodeId(2),
        term: term.next(),
        body: MessageBody::RequestVote {
            pre_vote: false,
            last_index: LogIndex(100),
            last_term: term,
            transfer: false,
        },
    };
    net.raw(2).step(m).unwrap();
    assert_eq!(net.node(2).raw.term(), term, "in lease: ignored, term kept");
    assert!(!net.raw(2).has_ready() || net.raw(2).ready().messages.is_empty());
}

#[test]
fn majority_partition_elects_new_leader_and_old_one_follows_after_heal() {
    let mut net = Network::new(5, |_| {});
    elect(&mut net, 1);
    net.partition(&[&[1, 2], &[3, 4, 5]]);
    net.tick(60);
    let new = net.leader().unwrap();
    assert!([3, 4, 5].contains(&new));
    assert_ne!(net.node(1).raw.role(), Role::Leader, "check quorum");
    net.heal();
    net.tick(5);
    assert_eq!(net.leader(), Some(new));
    let term = net.node(new).raw.term();
    for id in 1..=5 {
        assert_eq!(net.node(id).raw.term(), term);
    }
}

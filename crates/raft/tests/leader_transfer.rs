//! Thesis §3.10: leadership transfer with TimeoutNow — the target is caught
//! up first, proposals are dropped meanwhile, and a transfer that does not
//! complete within an election timeout is aborted.

mod common;
use common::*;
use slotraft_raft::*;

#[test]
fn transfer_to_caught_up_follower() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    net.propose(1, "a").unwrap();
    net.raw(1).transfer_leader(NodeId(3));
    net.deliver_all();
    assert_eq!(net.leader(), Some(3));
    assert_eq!(net.node(1).raw.role(), Role::Follower);
    net.propose(3, "b").unwrap();
    net.tick(1);
    assert_eq!(net.applied_data(1), vec!["a", "b"]);
}

#[test]
fn lagging_target_is_caught_up_before_timeout_now() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    net.isolate(3);
    for i in 0..20 {
        net.propose(1, &format!("{i}")).unwrap();
    }
    net.heal();
    let before = net.count_sent("TimeoutNow");
    net.raw(1).transfer_leader(NodeId(3));
    net.handle_ready(1);
    assert_eq!(net.count_sent("TimeoutNow"), before, "not yet: 3 lags");
    net.deliver_all();
    assert_eq!(net.count_sent("TimeoutNow"), before + 1);
    assert_eq!(net.leader(), Some(3));
    assert_eq!(
        net.node(3).raw.last_index(),
        LogIndex(22),
        "21 + its own no-op"
    );
}

#[test]
fn proposals_dropped_during_transfer_and_accepted_after_abort() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    net.crash(3);
    net.raw(1).transfer_leader(NodeId(3));
    net.deliver_all();
    assert_eq!(net.raw(1).lead_transferee(), Some(NodeId(3)));
    assert_eq!(net.raw(1).propose(data("x")), Err(Error::ProposalDropped));
    net.tick(10); // an election timeout
    assert_eq!(net.raw(1).lead_transferee(), None, "aborted");
    assert_eq!(net.leader(), Some(1));
    assert!(net.propose(1, "y").is_ok());
}

#[test]
fn transfer_to_self_or_learner_is_ignored() {
    let mut net = Network::with_members(&[1, 2], &[3], |_| {});
    elect(&mut net, 1);
    net.raw(1).transfer_leader(NodeId(1));
    net.raw(1).transfer_leader(NodeId(3));
    assert_eq!(net.raw(1).lead_transferee(), None);
}

#[test]
fn transfer_bypasses_the_followers_lease() {
    // With CheckQuorum the third node would ignore a normal vote request
    // (it has a live leader); TimeoutNow-triggered votes carry `transfer`.
    let mut net = Network::new(3, |c| c.check_quorum = true);
    elect(&mut net, 1);
    net.raw(1).transfer_leader(NodeId(2));
    net.deliver_all();
    assert_eq!(net.leader(), Some(2));
}

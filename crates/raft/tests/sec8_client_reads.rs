//! Raft §8 / thesis §6.4: linearizable reads via ReadIndex (batched,
//! forwarded from followers), the lease read, and the injected
//! `read_without_quorum` bug.

mod common;
use common::*;
use slotraft_raft::*;

#[test]
fn read_index_on_leader_confirms_with_one_heartbeat_round() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    net.propose(1, "a").unwrap();
    let hb_before = net.count_sent("Heartbeat");
    net.raw(1).read_index(data("r1")).unwrap();
    net.deliver_all();
    let rs = &net.node(1).read_states;
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].ctx, data("r1"));
    assert_eq!(rs[0].index, net.node(1).raw.commit());
    assert_eq!(
        net.count_sent("Heartbeat") - hb_before,
        2,
        "one round to 2 peers"
    );
}

#[test]
fn many_reads_share_heartbeat_rounds() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    let hb_before = net.count_sent("Heartbeat");
    for i in 0..100 {
        net.raw(1).read_index(data(&format!("r{i}"))).unwrap();
    }
    net.deliver_all();
    assert_eq!(net.node(1).read_states.len(), 100);
    let rounds = (net.count_sent("Heartbeat") - hb_before) / 2;
    // The first read starts a round; the other 99 share the next one.
    assert!(rounds <= 2, "{rounds} rounds for 100 reads");
}

#[test]
fn reads_wait_for_the_leaders_first_commit_in_its_term() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    net.propose(1, "a").unwrap();
    // New leader 2, but its no-op cannot commit yet (appends are dropped).
    net.filter = Some(Box::new(|m| m.body.kind_name() != "Append"));
    net.raw(1).transfer_leader(NodeId(2));
    net.deliver_all();
    assert_eq!(net.leader(), Some(2));
    net.raw(2).read_index(data("early")).unwrap();
    net.deliver_all();
    net.tick(2);
    assert!(
        net.node(2).read_states.is_empty(),
        "not before the term's no-op commits"
    );
    net.filter = None;
    net.tick(2);
    let rs = &net.node(2).read_states;
    assert_eq!(rs.len(), 1);
    assert!(
        rs[0].index >= LogIndex(3),
        "read index covers the no-op of term"
    );
}

#[test]
fn follower_read_is_forwarded_to_the_leader() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    net.propose(1, "a").unwrap();
    net.raw(3).read_index(data("f")).unwrap();
    net.deliver_all();
    let rs = &net.node(3).read_states;
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].index, net.node(1).raw.commit());
    assert!(net.node(1).read_states.is_empty());
}

#[test]
fn follower_without_leader_reports_no_leader() {
    let mut net = Network::new(3, |_| {});
    assert_eq!(net.raw(2).read_index(data("x")), Err(Error::NoLeader));
}

#[test]
fn stale_leader_in_minority_never_serves_a_read() {
    let mut net = Network::new(5, |c| c.check_quorum = false);
    elect(&mut net, 1);
    net.partition(&[&[1, 2], &[3, 4, 5]]);
    net.raw(1).read_index(data("stale")).unwrap();
    net.tick(30);
    assert!(net.node(1).read_states.is_empty());
}

#[test]
fn read_without_quorum_bug_serves_a_stale_read() {
    let bugs = InjectedBugs {
        read_without_quorum: true,
        ..Default::default()
    };
    let mut net = Network::new(5, |c| {
        c.check_quorum = false;
        c.bugs = bugs;
    });
    elect(&mut net, 1);
    net.partition(&[&[1, 2], &[3, 4, 5]]);
    net.campaign(3);
    net.propose(3, "new").unwrap();
    net.raw(1).read_index(data("stale")).unwrap();
    net.deliver_all();
    let rs = &net.node(1).read_states;
    assert_eq!(rs.len(), 1, "bug: answered at once");
    assert!(
        rs[0].index < net.node(3).raw.commit(),
        "misses the newer write"
    );
}

#[test]
fn read_index_is_bounded() {
    let mut net = Network::new(3, |c| c.max_pending_reads = 4);
    elect(&mut net, 1);
    net.isolate(1);
    let ok = (0..10)
        .filter(|i| net.raw(1).read_index(data(&format!("{i}"))).is_ok())
        .count();
    assert_eq!(ok, 4);
    assert_eq!(net.raw(1).read_index(data("x")), Err(Error::ReadIndexBusy));
}

#[test]
fn lease_read_skips_the_heartbeat_round_while_the_lease_holds() {
    let mut net = Network::new(3, |c| c.lease_read = true);
    // Restarted nodes refuse votes for one election timeout (lease guard).
    net.tick(10);
    elect(&mut net, 1);
    net.tick(1); // a heartbeat round establishes the lease
    let hb_before = net.count_sent("Heartbeat");
    net.raw(1).read_index(data("lease")).unwrap();
    net.handle_ready(1);
    assert_eq!(net.node(1).read_states.len(), 1, "served from the lease");
    assert_eq!(net.count_sent("Heartbeat"), hb_before, "no round needed");
    // Cut the leader off: once the lease expires reads need a (failing) round.
    net.isolate(1);
    net.tick_node(1, 8);
    net.raw(1).read_index(data("late")).unwrap();
    net.deliver_all();
    assert_eq!(net.node(1).read_states.len(), 1, "lease expired, no quorum");
}

#[test]
fn leadership_transfer_revokes_the_lease() {
    let mut net = Network::new(3, |c| c.lease_read = true);
    net.tick(10);
    elect(&mut net, 1);
    net.tick(1);
    // Transfer starts but TimeoutNow is lost: 1 is still leader, no lease.
    net.filter = Some(Box::new(|m| m.body.kind_name() != "TimeoutNow"));
    net.raw(1).transfer_leader(NodeId(2));
    net.deliver_all();
    net.raw(1).read_index(data("x")).unwrap();
    net.handle_ready(1);
    assert!(
        net.node(1).read_states.is_empty(),
        "needs a quorum round now"
    );
    net.deliver_all();
    assert_eq!(net.node(1).read_states.len(), 1);
}

#[test]
fn lease_requires_check_quorum() {
    let mut c = cfg(1);
    c.check_quorum = false;
    c.lease_read = true;
    assert!(RawNode::new(c, MemStorage::new()).is_err());
}

#[test]
fn lease_reads_are_flagged_and_the_remaining_lease_counts_down() {
    let mut net = Network::new(3, |c| c.lease_read = true);
    net.tick(10);
    elect(&mut net, 1);
    net.tick(1);
    let full = net.raw(1).lease_remaining().expect("a lease after a round");
    assert!(full > 1, "lease of {full} ticks");
    assert_eq!(net.raw(2).lease_remaining(), None, "followers hold none");
    net.raw(1).read_index(data("lease")).unwrap();
    net.handle_ready(1);
    assert!(net.node(1).read_states[0].lease, "served from the lease");
    // Cut off: no acknowledgement renews it, so it runs out tick by tick.
    net.isolate(1);
    net.tick_node(1, 1);
    assert_eq!(net.raw(1).lease_remaining(), Some(full - 1));
    net.tick_node(1, (full - 1) as usize);
    assert_eq!(net.raw(1).lease_remaining(), None, "expired");
}

#[test]
fn quorum_reads_are_not_flagged_as_lease_reads() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    net.raw(1).read_index(data("q")).unwrap();
    net.deliver_all();
    assert!(!net.node(1).read_states[0].lease);
    assert_eq!(net.raw(1).lease_remaining(), None, "lease reads are off");
}

#[test]
fn a_followers_read_index_gets_a_quorum_round_even_under_a_lease() {
    let mut net = Network::new(3, |c| c.lease_read = true);
    net.tick(10);
    elect(&mut net, 1);
    net.tick(1);
    assert!(net.raw(1).lease_remaining().is_some());
    let hb_before = net.count_sent("Heartbeat");
    net.raw(2).read_index(data("f")).unwrap();
    net.deliver_all();
    let rs = &net.node(2).read_states;
    assert_eq!(rs.len(), 1);
    assert!(!rs[0].lease);
    assert!(
        net.count_sent("Heartbeat") > hb_before,
        "the leader confirmed the follower's read with a round, not its lease"
    );
}

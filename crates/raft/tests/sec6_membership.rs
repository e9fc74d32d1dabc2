//! Raft §6 / thesis §4: membership changes by joint consensus, learners and
//! their promotion, removal of the leader, one change at a time.

mod common;
use common::*;
use slotraft_raft::*;

fn cc(transition: ConfChangeTransition, changes: Vec<ConfChangeSingle>) -> ConfChange {
    ConfChange {
        transition,
        changes,
    }
}

fn ids(v: &[NodeId]) -> Vec<u64> {
    v.iter().map(|i| i.get()).collect()
}

/// A joining node starts with an empty log and the group's bootstrap
/// membership (the log replays every change since; see docs/raft.md).
fn add_empty_node(net: &mut Network, id: u64) {
    let c = cfg(id);
    net.add_node(
        id,
        c,
        MemStorage::new_with_conf_state(ConfState::with_voters([1, 2, 3])),
    );
}

#[test]
fn learner_receives_the_log_but_is_not_counted() {
    let mut net = Network::with_members(&[1, 2, 3], &[4], |_| {});
    elect(&mut net, 1);
    net.propose(1, "a").unwrap();
    net.tick(1);
    assert_eq!(net.applied_data(4), vec!["a"], "learner applies");
    net.crash(2);
    net.crash(3);
    let commit = net.node(1).raw.commit();
    net.propose(1, "b").unwrap();
    assert_eq!(net.node(4).raw.last_index(), net.node(1).raw.last_index());
    assert_eq!(
        net.node(1).raw.commit(),
        commit,
        "learner ack does not commit"
    );
}

#[test]
fn add_learner_then_promote_it() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    net.propose(1, "a").unwrap();
    add_empty_node(&mut net, 4);
    let c = ConfChange::single(ConfChangeSingle::AddLearner(NodeId(4)));
    net.raw(1).propose_conf_change(c).unwrap();
    net.deliver_all();
    net.tick(2);
    let cs = net.node(1).raw.conf_state();
    assert_eq!(ids(&cs.learners), vec![4]);
    assert_eq!(net.applied_data(4), vec!["a"], "new learner caught up");
    assert_eq!(ids(&net.node(4).raw.conf_state().learners), vec![4]);
    // Promote.
    let c = ConfChange::single(ConfChangeSingle::AddVoter(NodeId(4)));
    net.raw(1).propose_conf_change(c).unwrap();
    net.deliver_all();
    net.tick(2);
    let cs = net.node(1).raw.conf_state();
    assert_eq!(ids(&cs.voters), vec![1, 2, 3, 4]);
    assert!(cs.learners.is_empty());
    // Now 4 counts: with 2 and 3 down there is no majority of 4 voters.
    net.crash(2);
    net.crash(3);
    let commit = net.node(1).raw.commit();
    net.propose(1, "b").unwrap();
    assert_eq!(net.node(1).raw.commit(), commit, "2 of 4 is not a majority");
    net.restart(2);
    net.tick(2);
    assert!(net.node(1).raw.commit() > commit);
}

#[test]
fn joint_consensus_replaces_a_voter_and_leaves_automatically() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    add_empty_node(&mut net, 4);
    let change = cc(
        ConfChangeTransition::Auto,
        vec![
            ConfChangeSingle::AddVoter(NodeId(4)),
            ConfChangeSingle::RemoveNode(NodeId(3)),
        ],
    );
    net.raw(1).propose_conf_change(change).unwrap();
    net.deliver_all();
    net.tick(3);
    let cs = net.node(1).raw.conf_state();
    assert_eq!(ids(&cs.voters), vec![1, 2, 4]);
    assert!(!cs.is_joint(), "left the joint config automatically");
    let conf_entries = (1..=net.node(1).raw.last_index().get())
        .filter(|&i| {
            let e = net
                .node(1)
                .store
                .entries(LogIndex(i), LogIndex(i + 1), u64::MAX)
                .unwrap();
            e[0].kind == EntryKind::ConfChange
        })
        .count();
    assert_eq!(conf_entries, 2, "enter-joint and leave-joint entries");
    // Node 3 is gone: commits work without it.
    net.crash(3);
    net.propose(1, "x").unwrap();
    net.tick(1);
    assert_eq!(net.applied_data(4), vec!["x"]);
}

#[test]
fn joint_config_needs_both_majorities_and_explicit_leave() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    add_empty_node(&mut net, 4);
    add_empty_node(&mut net, 5);
    let change = cc(
        ConfChangeTransition::Explicit,
        vec![
            ConfChangeSingle::AddVoter(NodeId(4)),
            ConfChangeSingle::AddVoter(NodeId(5)),
            ConfChangeSingle::RemoveNode(NodeId(2)),
            ConfChangeSingle::RemoveNode(NodeId(3)),
        ],
    );
    net.raw(1).propose_conf_change(change).unwrap();
    net.deliver_all();
    net.tick(3);
    let cs = net.node(1).raw.conf_state();
    assert!(cs.is_joint(), "explicit: stays joint");
    assert_eq!(ids(&cs.voters), vec![1, 4, 5]);
    assert_eq!(ids(&cs.voters_outgoing), vec![1, 2, 3]);
    // Old majority {1,2,3} alive, new majority {1,4,5} not: no commit.
    net.crash(4);
    net.crash(5);
    let commit = net.node(1).raw.commit();
    net.propose(1, "j").unwrap();
    assert_eq!(
        net.node(1).raw.commit(),
        commit,
        "new config's majority missing"
    );
    net.restart(4);
    net.tick(2);
    assert!(net.node(1).raw.commit() > commit, "both majorities now");
    // A non-leave change is refused while joint.
    let again = ConfChange::single(ConfChangeSingle::AddVoter(NodeId(2)));
    assert!(net.raw(1).propose_conf_change(again).is_err());
    net.raw(1)
        .propose_conf_change(ConfChange::leave_joint())
        .unwrap();
    net.deliver_all();
    net.tick(2);
    let cs = net.node(1).raw.conf_state();
    assert!(!cs.is_joint());
    assert_eq!(ids(&cs.voters), vec![1, 4, 5]);
}

#[test]
fn removed_leader_steps_down_and_group_continues() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    let c = ConfChange::single(ConfChangeSingle::RemoveNode(NodeId(1)));
    net.raw(1).propose_conf_change(c).unwrap();
    net.deliver_all();
    net.tick(3);
    assert_ne!(
        net.node(1).raw.role(),
        Role::Leader,
        "removed leader stepped down"
    );
    let l = net.leader().expect("a new leader");
    assert!([2, 3].contains(&l));
    net.propose(l, "after").unwrap();
    net.tick(1);
    assert_eq!(net.applied_data(2), vec!["after"]);
    net.tick(50);
    assert_eq!(net.leader(), Some(l), "removed node does not disrupt");
}

#[test]
fn removed_leader_hands_off_without_waiting_for_an_election_timeout() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    let term = net.node(1).raw.term();
    let c = ConfChange::single(ConfChangeSingle::RemoveNode(NodeId(1)));
    net.raw(1).propose_conf_change(c).unwrap();
    assert_eq!(net.raw(1).role(), Role::Leader);
    net.deliver_all(); // no ticks: only the TimeoutNow hand-off can elect
    let l = net.leader().expect("new leader via TimeoutNow");
    assert!([2, 3].contains(&l));
    assert_eq!(net.node(l).raw.term(), term.next());
    assert_eq!(net.node(1).raw.role(), Role::Follower);
    assert!(net.raw(1).propose(data("x")).is_err());
}

#[test]
fn removed_leader_accepts_no_proposals_but_keeps_replicating() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    // Voters do not ack: the removal commits only once they do.
    let c = ConfChange::single(ConfChangeSingle::RemoveNode(NodeId(1)));
    net.raw(1).propose_conf_change(c).unwrap();
    net.raw(1).propose(data("tail")).unwrap(); // still a member: accepted
    net.filter = Some(Box::new(|m| m.body.kind_name() != "TimeoutNow"));
    net.deliver_all();
    // Removal applied, TimeoutNow lost: 1 stepped down after handing off,
    // and the voters hold its whole log (including "tail").
    assert_eq!(net.node(2).raw.last_index(), net.node(1).raw.last_index());
    net.filter = None;
    net.tick(40);
    let l = net.leader().expect("voters elect a leader");
    assert!([2, 3].contains(&l));
    net.tick(1);
    assert_eq!(net.applied_data(2), vec!["tail"]);
}

#[test]
fn one_conf_change_at_a_time_and_leave_only_when_joint() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    assert!(net
        .raw(1)
        .propose_conf_change(ConfChange::leave_joint())
        .is_err());
    let c = ConfChange::single(ConfChangeSingle::AddLearner(NodeId(9)));
    net.raw(1).propose_conf_change(c.clone()).unwrap();
    assert!(matches!(
        net.raw(1).propose_conf_change(c.clone()),
        Err(Error::ConfChangeRejected(_))
    ));
    net.deliver_all();
    net.tick(1);
    assert!(
        net.raw(1).propose_conf_change(c).is_ok(),
        "after it was applied"
    );
}

#[test]
fn demoting_a_voter_to_learner_via_joint() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    let change = cc(
        ConfChangeTransition::Implicit,
        vec![ConfChangeSingle::AddLearner(NodeId(3))],
    );
    net.raw(1).propose_conf_change(change).unwrap();
    net.deliver_all();
    net.tick(3);
    let cs = net.node(1).raw.conf_state();
    assert_eq!(ids(&cs.voters), vec![1, 2]);
    assert_eq!(ids(&cs.learners), vec![3]);
    net.propose(1, "z").unwrap();
    net.tick(1);
    assert_eq!(
        net.applied_data(3),
        vec!["z"],
        "demoted node still receives the log"
    );
}

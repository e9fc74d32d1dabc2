//! Raft §5.4: safety — election restriction (§5.4.1), committing entries
//! from previous terms (§5.4.2, figure 8), plus the scenarios the issue
//! asks for: the seed example, a stale leader in a minority partition, a
//! node returning with an old term. Each injected bug is shown to break
//! the scenario it targets.

mod common;
use common::*;
use slotraft_raft::*;

fn scenario_cfg(c: &mut Config) {
    // Pure §5 behaviour: no PreVote/CheckQuorum shortcuts hiding the checks.
    c.pre_vote = false;
    c.check_quorum = false;
}

/// Builds the seed example: node 1 (leader) has 1..=100, node 2 has
/// 1..=89, node 3 has 1..=88; the leader's commit index is 89.
fn seed_example(bugs: InjectedBugs) -> Network {
    let mut net = Network::new(3, |c| {
        scenario_cfg(c);
        c.bugs = bugs;
    });
    elect(&mut net, 1);
    for i in 2..=88 {
        net.raw(1).propose(data(&format!("e{i}"))).unwrap();
    }
    net.deliver_all();
    net.tick(1);
    net.cut.insert((1, 3));
    net.propose(1, "e89").unwrap();
    net.cut.insert((1, 2));
    for i in 90..=100 {
        net.propose(1, &format!("e{i}")).unwrap();
    }
    let last = |net: &Network, id| net.node(id).raw.last_index().get();
    assert_eq!((last(&net, 1), last(&net, 2), last(&net, 3)), (100, 89, 88));
    assert_eq!(net.node(1).raw.commit(), LogIndex(89));
    net.crash(1);
    net.heal();
    net
}

#[test]
fn seed_example_node_88_cannot_win_node_89_wins_nothing_committed_lost() {
    let mut net = seed_example(InjectedBugs::default());
    net.campaign(3);
    assert_ne!(net.leader(), Some(3), "node at 88 cannot win");
    assert_eq!(net.node(2).raw.vote(), None, "2 refused to vote for 3");
    // 2 may need a second try after 3 bumped the term.
    for _ in 0..3 {
        if net.leader() == Some(2) {
            break;
        }
        net.campaign(2);
    }
    assert_eq!(net.leader(), Some(2), "node at 89 wins");
    net.tick(2);
    for id in [2, 3] {
        let applied = net.applied_data(id);
        assert_eq!(applied.len(), 88, "node {id}: e2..e89 applied");
        assert_eq!(applied.last().unwrap(), "e89", "committed e89 not lost");
    }
    // The old leader returns: 90..=100 are replaced, never applied anywhere.
    net.restart(1);
    net.tick(3);
    assert_eq!(net.log_terms(1), net.log_terms(2));
    for id in 1..=3 {
        let applied = net.applied_data(id);
        assert!(
            applied.iter().all(|d| d[1..].parse::<u32>().unwrap() <= 89),
            "node {id}"
        );
    }
    assert_eq!(
        net.node(1).raw.last_index(),
        LogIndex(90),
        "90 = new leader's no-op"
    );
}

#[test]
fn seed_example_with_vote_bug_loses_a_committed_entry() {
    let bugs = InjectedBugs {
        vote_without_log_check: true,
        ..Default::default()
    };
    let mut net = seed_example(bugs);
    net.campaign(3);
    assert_eq!(net.leader(), Some(3), "bug: the node at 88 wins");
    net.tick(2);
    // Node 3 committed its own no-op at 89 where e89 was committed:
    // two different entries committed at one index.
    let t89 = |net: &Network, id| net.node(id).raw.log_term(LogIndex(89));
    assert_ne!(t89(&net, 3), t89(&net, 2), "index 89 differs");
    assert!(net.node(3).raw.commit() >= LogIndex(89));
    assert!(net.applied_data(2).contains(&"e89".to_string()));
    assert!(
        !net.applied_data(3).contains(&"e89".to_string()),
        "e89 lost on 3"
    );
}

/// Figure 8: an entry from an older term replicated on a majority is not
/// committed by counting; it may still be overwritten.
fn figure8(bugs: InjectedBugs) -> Network {
    let mut net = Network::new(5, |c| {
        scenario_cfg(c);
        c.bugs = bugs;
    });
    elect(&mut net, 1); // term 1, index 1 = no-op, committed everywhere
    net.tick(1);
    // (a) S1 appends "x" at index 2, replicated only to S2.
    for to in [3, 4, 5] {
        net.cut.insert((1, to));
    }
    net.propose(1, "x").unwrap();
    assert_eq!(net.node(2).raw.last_index(), LogIndex(2));
    // (b) S1 crashes; S5 wins term 2 with S3, S4, appends its no-op at 2 only locally.
    net.crash(1);
    net.heal();
    net.filter = Some(Box::new(|m| {
        !(m.from == NodeId(5) && m.body.kind_name() == "Append")
    }));
    net.campaign(5);
    assert_eq!(net.leader(), Some(5));
    assert_eq!(net.node(5).raw.log_term(LogIndex(2)), Some(Term(2)));
    // (c) S5 crashes; S1 restarts and wins term 3, then replicates only the
    // old-term entry 2 to S2 and S3 (a majority with itself).
    net.crash(5);
    net.restart(1);
    net.filter = Some(Box::new(|m| m.body.kind_name() != "Append"));
    for _ in 0..3 {
        if net.leader() != Some(1) {
            net.campaign(1); // the first try may lose against term-2 votes
        }
    }
    assert_eq!(net.leader(), Some(1));
    assert_eq!(net.node(1).raw.term(), Term(3));
    let x = Entry {
        term: Term(1),
        index: LogIndex(2),
        kind: EntryKind::Normal,
        data: data("x"),
    };
    for to in [2, 3] {
        let m = Message {
            from: NodeId(1),
            to: NodeId(to),
            term: Term(3),
            body: MessageBody::Append {
                prev_index: LogIndex(1),
                prev_term: Term(1),
                entries: vec![x.clone()],
                commit: LogIndex(1),
            },
        };
        net.raw(to).step(m).unwrap();
        net.deliver_all();
    }
    assert_eq!(net.raw(1).progress(NodeId(3)).unwrap().matched, LogIndex(2));
    net
}

#[test]
fn figure8_old_term_entry_on_majority_is_not_committed() {
    let mut net = figure8(InjectedBugs::default());
    assert_eq!(
        net.node(1).raw.commit(),
        LogIndex(1),
        "term-1 entry not committed by counting"
    );
    // (d) S1 crashes; S5 comes back and may legally overwrite index 2.
    net.crash(1);
    net.restart(5);
    net.filter = None;
    for _ in 0..4 {
        if net.leader() == Some(5) {
            break;
        }
        net.campaign(5);
    }
    assert_eq!(net.leader(), Some(5));
    net.tick(2);
    assert_eq!(
        net.node(3).raw.log_term(LogIndex(2)),
        Some(Term(2)),
        "x overwritten"
    );
    for id in 2..=5 {
        assert!(
            !net.applied_data(id).contains(&"x".to_string()),
            "x never applied"
        );
    }
}

#[test]
fn figure8_commit_old_term_bug_applies_then_loses_x() {
    let bugs = InjectedBugs {
        commit_old_term_by_counting: true,
        ..Default::default()
    };
    let mut net = figure8(bugs);
    assert_eq!(
        net.node(1).raw.commit(),
        LogIndex(2),
        "bug: committed by counting"
    );
    assert_eq!(net.applied_data(1), vec!["x"]);
    net.crash(1);
    net.restart(5);
    net.filter = None;
    for _ in 0..4 {
        if net.leader() == Some(5) {
            break;
        }
        net.campaign(5);
    }
    assert_eq!(
        net.leader(),
        Some(5),
        "S5 still wins: x was 'committed' but is lost"
    );
    net.tick(2);
    assert_eq!(net.node(3).raw.log_term(LogIndex(2)), Some(Term(2)));
}

#[test]
fn no_truncate_bug_leaves_divergent_logs() {
    let bugs = InjectedBugs {
        no_truncate_on_conflict: true,
        ..Default::default()
    };
    let mut net = Network::new(3, |c| {
        scenario_cfg(c);
        c.bugs = bugs;
    });
    elect(&mut net, 1);
    net.isolate(1);
    net.propose(1, "stale").unwrap();
    net.campaign(2);
    net.propose(2, "fresh").unwrap();
    net.heal();
    net.tick(3);
    assert_ne!(
        net.log_terms(1),
        net.log_terms(2),
        "bug: 1 kept its conflicting entry"
    );
}

#[test]
fn stale_leader_in_minority_accepts_but_never_commits() {
    let mut net = Network::new(5, scenario_cfg);
    elect(&mut net, 1);
    net.propose(1, "before").unwrap();
    net.partition(&[&[1, 2], &[3, 4, 5]]);
    let commit = net.node(1).raw.commit();
    for i in 0..5 {
        assert!(
            net.propose(1, &format!("doomed{i}")).is_ok(),
            "stale leader accepts"
        );
    }
    net.tick(30);
    assert_eq!(net.node(1).raw.commit(), commit, "minority never commits");
    net.campaign(3);
    assert_eq!(net.node(3).raw.role(), Role::Leader);
    net.propose(3, "after").unwrap();
    net.heal();
    net.tick(3);
    assert_eq!(net.leader(), Some(3));
    for id in 1..=5 {
        assert_eq!(net.applied_data(id), vec!["before", "after"], "node {id}");
    }
}

#[test]
fn node_returning_with_an_old_term_catches_up_without_damage() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    net.propose(1, "a").unwrap();
    net.crash(3);
    // Leadership moves twice while 3 is away.
    net.raw(1).transfer_leader(NodeId(2));
    net.deliver_all();
    net.tick(2);
    assert_eq!(net.leader(), Some(2));
    net.propose(2, "b").unwrap();
    let term = net.node(2).raw.term();
    assert!(term > net.node(3).raw.term());
    net.restart(3);
    assert_eq!(
        net.node(3).raw.term(),
        Term(1),
        "3 restarts with its old term"
    );
    // An old-term message from 3 to the leader is ignored.
    let stale = Message {
        from: NodeId(3),
        to: NodeId(2),
        term: Term(1),
        body: MessageBody::AppendResponse {
            index: LogIndex(100),
            reject: None,
        },
    };
    net.raw(2).step(stale).unwrap();
    net.deliver_all();
    net.tick(30);
    assert_eq!(net.leader(), Some(2), "no disruption");
    assert_eq!(net.node(2).raw.term(), term);
    assert_eq!(net.node(3).raw.term(), term);
    assert_eq!(net.applied_data(3), vec!["a", "b"]);
}

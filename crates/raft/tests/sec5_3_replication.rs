//! Raft §5.3: log replication — pipelining within a bounded window,
//! batching, progress states, fast backtracking, conflict truncation,
//! proposal dropping.

mod common;
use common::*;
use slotraft_raft::*;

#[test]
fn entries_replicate_commit_and_apply_everywhere() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    for i in 0..10 {
        net.propose(1, &format!("v{i}")).unwrap();
    }
    net.tick(1); // heartbeat carries the final commit index
    let want: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    for id in 1..=3 {
        assert_eq!(net.applied_data(id), want, "node {id}");
        assert_eq!(net.node(id).raw.commit(), LogIndex(11));
    }
}

#[test]
fn proposals_between_readies_are_batched_into_one_append() {
    let mut net = Network::new(3, |c| c.max_entries_per_msg = 16);
    elect(&mut net, 1);
    let before = net.count_sent("Append");
    for i in 0..100 {
        net.raw(1).propose(data(&format!("{i}"))).unwrap();
    }
    net.handle_ready(1);
    let appends: Vec<&Message> = net.sent[..]
        .iter()
        .filter(|m| m.body.kind_name() == "Append")
        .skip(before)
        .collect();
    // 100 entries in batches of <= 16, to each of two followers.
    assert_eq!(appends.len(), 2 * 7, "ceil(100/16) appends per follower");
    for m in &appends {
        if let MessageBody::Append { entries, .. } = &m.body {
            assert!(entries.len() <= 16);
        }
    }
    net.deliver_all();
    assert_eq!(net.node(1).raw.commit(), LogIndex(101));
}

#[test]
fn append_byte_budget_is_respected() {
    let mut net = Network::new(2, |c| c.max_size_per_msg = 1000);
    elect(&mut net, 1);
    let payload = "x".repeat(300);
    for _ in 0..10 {
        net.raw(1).propose(data(&payload)).unwrap();
    }
    net.handle_ready(1);
    for m in net.queue.iter() {
        if let MessageBody::Append { entries, .. } = &m.body {
            let size: u64 = entries.iter().map(Entry::size).sum();
            assert!(
                size <= 1000 || entries.len() == 1,
                "{size} bytes in one append"
            );
        }
    }
    net.deliver_all();
    assert_eq!(net.node(2).raw.last_index(), LogIndex(11));
}

#[test]
fn inflight_window_bounds_unacknowledged_appends() {
    let mut net = Network::new(2, |c| c.max_inflight_msgs = 3);
    elect(&mut net, 1);
    assert_eq!(
        net.raw(1).progress(NodeId(2)).unwrap().state,
        ProgressState::Replicate
    );
    // Acks from 2 are lost: the window fills and the leader stops sending.
    net.cut.insert((2, 1));
    for i in 0..10 {
        net.raw(1).propose(data(&format!("{i}"))).unwrap();
        net.deliver_all();
    }
    let pr = net.raw(1).progress(NodeId(2)).unwrap();
    assert_eq!(pr.inflight_msgs, 3);
    let appends_with_entries = net
        .sent
        .iter()
        .filter(|m| matches!(&m.body, MessageBody::Append { entries, .. } if !entries.is_empty()))
        .count();
    // The no-op append was acked before the cut, then exactly 3 more.
    assert_eq!(appends_with_entries, 1 + 3);
    net.heal();
    net.tick(3);
    assert_eq!(net.node(2).raw.last_index(), LogIndex(11));
    assert_eq!(net.node(1).raw.commit(), LogIndex(11));
}

#[test]
fn inflight_byte_window_bounds_too() {
    let mut net = Network::new(2, |c| {
        c.max_inflight_bytes = 500;
        c.max_entries_per_msg = 1;
    });
    elect(&mut net, 1);
    net.cut.insert((2, 1));
    for _ in 0..10 {
        net.raw(1).propose(data(&"y".repeat(200))).unwrap();
    }
    net.deliver_all();
    let pr = net.raw(1).progress(NodeId(2)).unwrap();
    assert!(pr.inflight_bytes >= 500 && pr.inflight_msgs <= 3, "{pr:?}");
}

#[test]
fn follower_starts_in_probe_and_moves_to_replicate() {
    let mut net = Network::new(3, |_| {});
    net.raw(1).campaign();
    // Deliver only the vote traffic so we can look at fresh progress.
    for _ in 0..4 {
        // PreVote, PreVoteResp, Vote, VoteResp
        net.deliver_only(|m| {
            matches!(
                m.body,
                MessageBody::RequestVote { .. } | MessageBody::VoteResponse { .. }
            )
        });
    }
    assert_eq!(net.raw(1).role(), Role::Leader);
    assert_eq!(
        net.raw(1).progress(NodeId(2)).unwrap().state,
        ProgressState::Probe
    );
    net.deliver_all();
    assert_eq!(
        net.raw(1).progress(NodeId(2)).unwrap().state,
        ProgressState::Replicate
    );
}

#[test]
fn follower_truncates_a_conflicting_suffix() {
    let mut net = Network::new(3, |c| c.check_quorum = false);
    elect(&mut net, 1);
    net.propose(1, "a").unwrap();
    // Old leader 1 appends entries only it has.
    net.isolate(1);
    for i in 0..5 {
        net.propose(1, &format!("lost{i}")).unwrap();
    }
    assert_eq!(net.node(1).raw.last_index(), LogIndex(7));
    net.campaign(2);
    net.propose(2, "b").unwrap();
    net.heal();
    net.tick(3);
    assert_eq!(net.log_terms(1), net.log_terms(2), "1's suffix replaced");
    assert_eq!(net.applied_data(1), vec!["a", "b"]);
}

#[test]
fn fast_backtracking_skips_a_whole_conflicting_term() {
    let mut net = Network::new(3, |c| c.check_quorum = false);
    elect(&mut net, 1);
    net.isolate(1);
    for i in 0..50 {
        net.raw(1).propose(data(&format!("stale{i}"))).unwrap();
    }
    net.deliver_all();
    net.campaign(2);
    for i in 0..50 {
        net.raw(2).propose(data(&format!("new{i}"))).unwrap();
    }
    net.deliver_all();
    net.heal();
    let rejects_before = net.sent.iter().filter(|m| is_reject(m)).count();
    net.tick(3);
    let rejects = net.sent.iter().filter(|m| is_reject(m)).count() - rejects_before;
    assert!(
        rejects <= 3,
        "{rejects} rejections to find the match point (not ~50)"
    );
    assert_eq!(net.log_terms(1), net.log_terms(2));
}

fn is_reject(m: &Message) -> bool {
    matches!(
        m.body,
        MessageBody::AppendResponse {
            reject: Some(_),
            ..
        }
    )
}

#[test]
fn lost_appends_are_recovered() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    let mut n = 0u64;
    net.filter = Some(Box::new(move |m| {
        n += 1;
        !(m.body.kind_name() == "Append" && m.to == NodeId(3) && n & 1 == 0)
    }));
    for i in 0..20 {
        net.propose(1, &format!("{i}")).unwrap();
    }
    net.filter = None;
    net.tick(5);
    assert_eq!(net.node(3).raw.last_index(), net.node(1).raw.last_index());
    assert_eq!(net.applied_data(3).len(), 20);
}

#[test]
fn proposals_are_dropped_without_a_leader_or_on_followers() {
    let mut net = Network::new(3, |_| {});
    assert_eq!(net.raw(1).propose(data("x")), Err(Error::ProposalDropped));
    elect(&mut net, 1);
    assert_eq!(net.raw(2).propose(data("x")), Err(Error::ProposalDropped));
    assert!(net.raw(1).propose(data("x")).is_ok());
}

#[test]
fn uncommitted_bytes_are_bounded() {
    let mut net = Network::new(3, |c| c.max_uncommitted_size = 1000);
    elect(&mut net, 1);
    net.isolate(1);
    let mut accepted = 0;
    for _ in 0..100 {
        if net.raw(1).propose(data(&"z".repeat(100))).is_ok() {
            accepted += 1;
        }
    }
    assert!(accepted < 10, "accepted {accepted}");
}

#[test]
fn duplicated_and_reordered_messages_are_harmless() {
    let mut net = Network::new(3, |_| {});
    elect(&mut net, 1);
    for i in 0..10 {
        net.raw(1).propose(data(&format!("{i}"))).unwrap();
        net.handle_ready(1);
    }
    // Deliver every queued message twice, in reverse order.
    let msgs: Vec<Message> = net.queue.drain(..).collect();
    for m in msgs.iter().rev().chain(msgs.iter()) {
        let to = m.to.get();
        net.raw(to).step(m.clone()).unwrap();
    }
    net.deliver_all();
    net.tick(3);
    for id in 1..=3 {
        assert_eq!(net.applied_data(id).len(), 10, "node {id}");
    }
    assert_eq!(net.log_terms(1), net.log_terms(3));
}

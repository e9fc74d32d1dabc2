//! The `Ready` contract (crate docs): persist, then send, then apply, then
//! advance. Checked on every `Ready` by the harness (`check_ready_contract`
//! in `common`), and here by crashing between `ready()` and persistence,
//! plus a randomized run with drops, partitions and crashes that asserts
//! Raft's safety properties after every step.

mod common;
use common::*;
use slotraft_raft::*;
use std::collections::BTreeMap;

#[test]
fn crash_before_persisting_loses_only_unsent_work() {
    let mut net = Network::new(3, |c| c.pre_vote = false);
    net.raw(2).campaign();
    // Node 3 takes a Ready containing its vote for 2 but crashes before
    // persisting: the vote response is never sent.
    net.handle_ready(2);
    let req = net
        .queue
        .iter()
        .find(|m| m.to == NodeId(3))
        .cloned()
        .unwrap();
    net.queue.retain(|m| m.to != NodeId(3));
    net.raw(3).step(req).unwrap();
    let rd = net.raw(3).ready();
    assert!(rd.must_sync);
    assert_eq!(rd.hard_state.unwrap().vote, Some(NodeId(2)));
    assert!(rd.messages.iter().any(|m| m.body.kind_name() == "VoteResp"));
    drop(rd); // crash: nothing persisted, nothing sent
    net.crash(3);
    net.restart(3);
    assert_eq!(
        net.node(3).raw.vote(),
        None,
        "unpersisted vote forgotten, and never promised"
    );
}

#[test]
fn empty_ready_after_advance_and_no_input() {
    let mut net = Network::new(1, |_| {});
    net.tick(20);
    assert!(!net.raw(1).has_ready());
    net.raw(1).propose(data("a")).unwrap();
    assert!(net.raw(1).has_ready());
    let rd = net.raw(1).ready();
    // Single voter: the leader's own copy counts towards the quorum only
    // once durable, so the entry commits when this Ready is advanced
    // (persisted) and is applied from the next one.
    assert_eq!(rd.entries.len(), 1);
    assert!(rd.committed_entries.is_empty(), "not durable yet");
    persist(&net, 1, &rd);
    net.raw(1).advance(rd);
    assert!(net.raw(1).has_ready(), "durable now: committed");
    let rd = net.raw(1).ready();
    assert!(rd.entries.is_empty());
    assert_eq!(rd.committed_entries.len(), 1);
    net.raw(1).advance(rd);
    assert!(!net.raw(1).has_ready());
}

#[test]
fn a_leader_may_send_before_persisting_but_counts_itself_only_once_durable() {
    let mut net = Network::new(3, |c| c.pre_vote = false);
    net.raw(1).campaign();
    net.deliver_all();
    assert_eq!(net.raw(1).role(), Role::Leader);
    let commit = net.raw(1).commit();
    net.raw(1).propose(data("x")).unwrap();
    let rd = net.raw(1).ready();
    assert!(
        rd.messages_before_persist,
        "a settled leader may send early"
    );
    assert_eq!(rd.entries.len(), 1);
    // Followers persist and acknowledge while the leader's fsync is still
    // running: one follower + the (unpersisted) leader is not a quorum.
    let apps: Vec<Message> = rd.messages.clone();
    for m in apps.into_iter().filter(|m| m.to == NodeId(2)) {
        net.raw(2).step(m).unwrap();
    }
    let rd2 = net.raw(2).ready();
    assert!(
        !rd2.messages_before_persist,
        "followers answer after persisting"
    );
    let acks = rd2.messages.clone();
    persist(&net, 2, &rd2);
    net.raw(2).advance(rd2);
    // The leader is still inside its Ready: deliver after advance, which is
    // when the contract allows input again, but before that check commit.
    assert_eq!(
        net.raw(1).commit(),
        commit,
        "nothing committed before durable"
    );
    persist(&net, 1, &rd);
    net.raw(1).advance(rd);
    for m in acks {
        net.raw(1).step(m).unwrap();
    }
    assert!(
        net.raw(1).commit() > commit,
        "durable on leader + one follower"
    );
}

#[test]
fn restart_redelivers_committed_entries_after_applied() {
    let mut net = Network::new(1, |_| {});
    net.tick(20);
    for i in 0..5 {
        net.propose(1, &format!("{i}")).unwrap();
    }
    net.crash(1);
    net.restart(1); // applied = 0: everything is re-applied
    net.tick(1);
    assert_eq!(net.applied_data(1), vec!["0", "1", "2", "3", "4"]);
}

/// Step 1 of the contract for a `Ready` handled by hand.
fn persist(net: &Network, id: u64, rd: &Ready) {
    let st = net.node(id).store.clone();
    st.wl().append(&rd.entries).unwrap();
    if let Some(hs) = rd.hard_state {
        st.wl().set_hard_state(hs);
    }
}

/// A tiny deterministic PRNG for the chaos test.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Safety properties after each step: one leader per term; committed
/// prefixes agree (state-machine safety); the commit index never decreases.
fn check_safety(
    net: &Network,
    leaders: &mut BTreeMap<u64, u64>,
    commits: &mut BTreeMap<u64, LogIndex>,
) {
    for (&id, n) in &net.nodes {
        if n.raw.role() == Role::Leader {
            let prev = leaders.insert(n.raw.term().get(), id);
            assert!(
                prev.is_none() || prev == Some(id),
                "two leaders in term {}",
                n.raw.term()
            );
        }
        if !net.down.contains(&id) {
            let c = n.raw.commit();
            let old = commits.insert(id, c).unwrap_or_default();
            assert!(c >= old, "commit decreased on {id}");
        }
    }
    // Applied entries at equal positions are equal across nodes.
    let applied: Vec<&Vec<Entry>> = net.nodes.values().map(|n| &n.applied).collect();
    for a in &applied {
        for b in &applied {
            for (x, y) in a.iter().zip(b.iter()) {
                if x.index == y.index {
                    assert_eq!(x, y, "state machine safety");
                }
            }
        }
    }
}

fn chaos(seed: u64, steps: usize) {
    let mut rng = Lcg(seed);
    let mut net = Network::new(5, |c| {
        c.seed = seed ^ c.id.get();
        c.max_inflight_msgs = 4;
        c.max_entries_per_msg = 3;
    });
    let (mut leaders, mut commits) = (BTreeMap::new(), BTreeMap::new());
    let mut proposed = 0;
    for _ in 0..steps {
        match rng.next(10) {
            0 => {
                let id = 1 + rng.next(5);
                if net.down.contains(&id) {
                    net.restart(id);
                } else if net.down.len() < 2 {
                    net.crash(id);
                }
            }
            1 => {
                net.heal();
                if rng.next(2) == 0 {
                    let a = 1 + rng.next(5);
                    net.isolate(a);
                }
            }
            2 | 3 => {
                if let Some(l) = net.leader() {
                    proposed += 1;
                    let _ = net.raw(l).propose(data(&format!("p{proposed}")));
                }
            }
            4 => {
                if let Some(l) = net.leader() {
                    let _ = net.raw(l).read_index(data("r"));
                    let to = NodeId(1 + rng.next(5));
                    if rng.next(4) == 0 {
                        net.raw(l).transfer_leader(to);
                    }
                }
            }
            _ => {}
        }
        let mut r = rng.next(1 << 30);
        net.filter = Some(Box::new(move |_| {
            r = r.wrapping_mul(1103515245).wrapping_add(12345);
            (r >> 16) % 10 >= 1 // 10% loss
        }));
        net.tick(1);
        check_safety(&net, &mut leaders, &mut commits);
    }
    // Liveness after healing: a leader emerges and commits.
    net.filter = None;
    net.heal();
    for id in 1..=5 {
        if net.down.contains(&id) {
            net.restart(id);
        }
    }
    net.tick(60);
    let l = net.leader().expect("leader after heal");
    net.propose(l, "final").unwrap();
    net.tick(3);
    check_safety(&net, &mut leaders, &mut commits);
    for id in 1..=5 {
        assert_eq!(
            net.applied_data(id).last().map(String::as_str),
            Some("final"),
            "seed {seed} node {id}"
        );
    }
}

/// Seeds of the randomized run: 30 in CI; more with e.g.
/// `SLOTRAFT_RAFT_CHAOS_SEEDS=5000 cargo test --release -p slotraft-raft --test ready_contract chaos`.
#[test]
fn chaos_seeds() {
    let seeds: u64 = std::env::var("SLOTRAFT_RAFT_CHAOS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    for seed in 0..seeds {
        chaos(seed, 300);
    }
}

//! Throughput of the Raft core alone: committed entries per second through
//! a 3-replica group driven in one thread with in-memory storage, for batch
//! sizes 1, 16 and 256 (entries proposed per round) and 100-byte payloads;
//! the same workload on tikv's `raft` crate (raft-rs 0.7), driven the same
//! way; a table with the ratio.
//!
//! Run: `cargo run --release -p slotraft-raft --example bench [-- ENTRIES]`
//!
//! Each round: the leader takes `batch` proposals (each a freshly allocated
//! 100-byte payload), then all three nodes' `Ready`s are handled (persist
//! to MemStorage, send, apply, advance) and messages delivered until the
//! group is quiescent. Time is measured around the rounds only (elections
//! excluded). Best of `REPEAT` runs per cell, alternating implementations.

use std::time::Instant;

/// Payload size of one proposal.
const PAYLOAD: usize = 100;
/// Batch sizes (entries proposed per round).
const BATCHES: [usize; 3] = [1, 16, 256];
/// Runs per cell; the best is reported (the machine is shared).
const REPEAT: usize = 3;
/// Bound on pump iterations per round (a livelock is a bug).
const MAX_PUMP: usize = 10_000;

trait Group {
    fn name() -> &'static str;
    fn new() -> Self;
    fn propose(&mut self, payload: &[u8]);
    /// Handle readies and deliver messages until quiescent. Returns the
    /// number of normal entries with data the leader applied.
    fn pump(&mut self) -> usize;
}

mod ours {
    use bytes::Bytes;
    use slotraft_raft::*;

    pub struct G {
        nodes: Vec<RawNode<MemStorage>>,
        stores: Vec<MemStorage>,
        msgs: Vec<Message>,
    }

    impl super::Group for G {
        fn name() -> &'static str {
            "slotraft-raft"
        }

        fn new() -> Self {
            let cs = ConfState::with_voters([1, 2, 3]);
            let stores: Vec<MemStorage> = (0..3)
                .map(|_| MemStorage::new_with_conf_state(cs.clone()))
                .collect();
            let nodes = (1..=3u64)
                .map(|id| {
                    let mut c = Config::new(NodeId(id));
                    c.max_inflight_msgs = 256;
                    c.max_size_per_msg = 1024 * 1024;
                    RawNode::new(c, stores[id as usize - 1].clone()).unwrap()
                })
                .collect();
            let mut g = G {
                nodes,
                stores,
                msgs: Vec::new(),
            };
            g.nodes[0].campaign();
            g.pump();
            assert_eq!(g.nodes[0].role(), Role::Leader);
            g
        }

        fn propose(&mut self, payload: &[u8]) {
            self.nodes[0]
                .propose(Bytes::from(payload.to_vec()))
                .unwrap();
        }

        fn pump(&mut self) -> usize {
            let mut applied = 0;
            for _ in 0..super::MAX_PUMP {
                let mut busy = false;
                for i in 0..3 {
                    while self.nodes[i].has_ready() {
                        busy = true;
                        let rd = self.nodes[i].ready();
                        let store = &self.stores[i];
                        if let Some(s) = &rd.snapshot {
                            store.wl().apply_snapshot(s.clone()).unwrap();
                        }
                        if !rd.entries.is_empty() {
                            store.wl().append(&rd.entries).unwrap();
                        }
                        if let Some(hs) = rd.hard_state {
                            store.wl().set_hard_state(hs);
                        }
                        self.msgs.extend(rd.messages.iter().cloned());
                        if i == 0 {
                            applied += rd
                                .committed_entries
                                .iter()
                                .filter(|e| !e.data.is_empty())
                                .count();
                        }
                        self.nodes[i].advance(rd);
                    }
                }
                if self.msgs.is_empty() && !busy {
                    return applied;
                }
                for m in std::mem::take(&mut self.msgs) {
                    let to = m.to.get() as usize - 1;
                    self.nodes[to].step(m).unwrap();
                }
            }
            panic!("pump did not quiesce");
        }
    }
}

mod tikv {
    use raft::prelude::*;
    use raft::storage::MemStorage;
    use slog::o;

    pub struct G {
        nodes: Vec<RawNode<MemStorage>>,
        msgs: Vec<Message>,
    }

    impl super::Group for G {
        fn name() -> &'static str {
            "tikv raft 0.7"
        }

        fn new() -> Self {
            let logger = slog::Logger::root(slog::Discard, o!());
            let nodes = (1..=3u64)
                .map(|id| {
                    let store = MemStorage::new_with_conf_state((vec![1, 2, 3], vec![]));
                    let c = Config {
                        id,
                        election_tick: 10,
                        heartbeat_tick: 2,
                        max_inflight_msgs: 256,
                        max_size_per_msg: 1024 * 1024,
                        ..Default::default()
                    };
                    RawNode::new(&c, store, &logger).unwrap()
                })
                .collect();
            let mut g = G {
                nodes,
                msgs: Vec::new(),
            };
            g.nodes[0].campaign().unwrap();
            g.pump();
            assert_eq!(g.nodes[0].raft.state, raft::StateRole::Leader);
            g
        }

        fn propose(&mut self, payload: &[u8]) {
            self.nodes[0].propose(vec![], payload.to_vec()).unwrap();
        }

        fn pump(&mut self) -> usize {
            let mut applied = 0;
            for _ in 0..super::MAX_PUMP {
                let mut busy = false;
                for i in 0..3 {
                    while self.nodes[i].has_ready() {
                        busy = true;
                        applied += self.on_ready(i);
                    }
                }
                if self.msgs.is_empty() && !busy {
                    return applied;
                }
                for m in std::mem::take(&mut self.msgs) {
                    let to = m.to as usize - 1;
                    self.nodes[to].step(m).unwrap();
                }
            }
            panic!("pump did not quiesce");
        }
    }

    impl G {
        /// The documented raft-rs ready loop.
        fn on_ready(&mut self, i: usize) -> usize {
            let node = &mut self.nodes[i];
            let store = node.raft.raft_log.store.clone();
            let mut rd = node.ready();
            let mut applied = 0;
            let mut count = |ents: &[Entry]| {
                if i == 0 {
                    applied += ents.iter().filter(|e| !e.data.is_empty()).count();
                }
            };
            self.msgs.extend(rd.take_messages());
            if !rd.snapshot().is_empty() {
                store.wl().apply_snapshot(rd.snapshot().clone()).unwrap();
            }
            count(&rd.take_committed_entries());
            if !rd.entries().is_empty() {
                store.wl().append(rd.entries()).unwrap();
            }
            if let Some(hs) = rd.hs() {
                store.wl().set_hardstate(hs.clone());
            }
            self.msgs.extend(rd.take_persisted_messages());
            let mut light = node.advance(rd);
            if let Some(commit) = light.commit_index() {
                store.wl().mut_hard_state().set_commit(commit);
            }
            self.msgs.extend(light.take_messages());
            count(&light.take_committed_entries());
            node.advance_apply();
            applied
        }
    }
}

/// Entries/s for one run of `total` entries in batches of `batch`.
fn run<G: Group>(batch: usize, total: usize) -> f64 {
    let payload = [0xABu8; PAYLOAD];
    let mut g = G::new();
    let rounds = total / batch;
    let start = Instant::now();
    let mut committed = 0;
    for _ in 0..rounds {
        for _ in 0..batch {
            g.propose(&payload);
        }
        committed += g.pump();
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(
        committed,
        rounds * batch,
        "{}: every entry committed",
        G::name()
    );
    committed as f64 / secs
}

fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    println!("3 replicas, one thread, MemStorage, {PAYLOAD}-byte payloads, {total} entries per run, best of {REPEAT}");
    println!(
        "{:>6} | {:>18} | {:>18} | {:>6}",
        "batch", "slotraft entries/s", "raft-rs entries/s", "ratio"
    );
    for batch in BATCHES {
        let n = if batch == 1 { total / 4 } else { total };
        let (mut o, mut t) = (0.0f64, 0.0f64);
        for _ in 0..REPEAT {
            o = o.max(run::<ours::G>(batch, n));
            t = t.max(run::<tikv::G>(batch, n));
        }
        println!("{batch:>6} | {o:>18.0} | {t:>18.0} | {:>6.2}", o / t);
    }
}

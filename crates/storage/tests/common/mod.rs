//! A deliberately simple in-memory model of the multi-group log, written
//! independently of `src/group.rs`, plus helpers to compare a store with it.
//! Used by the crash tests and the property test.

#![allow(dead_code)]

use bytes::Bytes;
use slotraft_storage::{Entry, Error, HardState, Op, Store, WriteBatch};
use slotraft_types::{GroupId, LogIndex, Term};
use std::collections::BTreeMap;

/// One group: hard state, compaction point and the live entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelGroup {
    pub hs: HardState,
    pub snap: (u64, u64),
    /// index -> (term, data); dense from snap.0 + 1.
    pub log: BTreeMap<u64, (u64, Vec<u8>)>,
}

impl ModelGroup {
    pub fn last(&self) -> u64 {
        self.log.keys().next_back().copied().unwrap_or(self.snap.0)
    }
    pub fn term_at(&self, i: u64) -> Option<u64> {
        if i == self.snap.0 {
            return Some(self.snap.1);
        }
        self.log.get(&i).map(|e| e.0)
    }
}

/// One record-level operation (a `WriteBatch` is a list of these).
#[derive(Clone, Debug)]
pub enum ModelOp {
    Entry {
        g: u64,
        index: u64,
        term: u64,
        data: Vec<u8>,
    },
    Hs {
        g: u64,
        hs: HardState,
    },
    Truncate {
        g: u64,
        from: u64,
    },
    Compact {
        g: u64,
        index: u64,
        term: u64,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    pub groups: BTreeMap<u64, ModelGroup>,
}

impl Model {
    pub fn apply(&mut self, op: &ModelOp) {
        match op {
            ModelOp::Entry {
                g,
                index,
                term,
                data,
            } => {
                let gr = self.groups.entry(*g).or_default();
                gr.log.retain(|&i, _| i < *index);
                gr.log.insert(*index, (*term, data.clone()));
            }
            ModelOp::Hs { g, hs } => self.groups.entry(*g).or_default().hs = *hs,
            ModelOp::Truncate { g, from } => {
                self.groups
                    .entry(*g)
                    .or_default()
                    .log
                    .retain(|&i, _| i < *from);
            }
            ModelOp::Compact { g, index, term } => {
                let gr = self.groups.entry(*g).or_default();
                if *index <= gr.snap.0 {
                    return;
                }
                if gr.term_at(*index) == Some(*term) {
                    gr.log.retain(|&i, _| i > *index);
                } else {
                    gr.log.clear();
                }
                gr.snap = (*index, *term);
            }
        }
    }

    /// The ops of a batch as record-level ops (the order they are written).
    pub fn flatten(batch: &WriteBatch) -> Vec<ModelOp> {
        let mut out = Vec::new();
        for op in &batch.ops {
            match op {
                Op::Append { group, entries } => {
                    for e in entries {
                        out.push(ModelOp::Entry {
                            g: group.get(),
                            index: e.index.get(),
                            term: e.term.get(),
                            data: e.data.to_vec(),
                        });
                    }
                }
                Op::HardState { group, hs } => out.push(ModelOp::Hs {
                    g: group.get(),
                    hs: *hs,
                }),
                Op::Truncate { group, from } => out.push(ModelOp::Truncate {
                    g: group.get(),
                    from: from.get(),
                }),
                Op::Compact { group, index, term } => out.push(ModelOp::Compact {
                    g: group.get(),
                    index: index.get(),
                    term: term.get(),
                }),
            }
        }
        out
    }
}

/// Reads the whole observable state of a store in model form.
pub fn observe(store: &Store) -> Result<Model, Error> {
    let mut m = Model::default();
    for g in store.groups() {
        let first = store.first_index(g)?;
        let last = store.last_index(g)?;
        let (si, st) = store.compaction_point(g)?;
        let mut gr = ModelGroup {
            hs: store.hard_state(g)?,
            snap: (si.get(), st.get()),
            log: BTreeMap::new(),
        };
        if last >= first {
            for e in store.entries(g, first, last.next(), None)? {
                gr.log
                    .insert(e.index.get(), (e.term.get(), e.data.to_vec()));
            }
        }
        if gr != ModelGroup::default() {
            m.groups.insert(g.get(), gr);
        }
    }
    Ok(m)
}

/// Drops default (empty) groups so "never written" and "empty" compare equal.
pub fn normalize(mut m: Model) -> Model {
    m.groups.retain(|_, g| *g != ModelGroup::default());
    m
}

/// A random but valid batch for the model's current state.
pub fn random_batch(
    rng: &mut slotraft_storage::sim::SimRng,
    model: &Model,
    groups: u64,
    max_payload: usize,
) -> WriteBatch {
    let mut b = WriteBatch::new();
    let mut sim = model.clone();
    let n_ops = 1 + rng.below(3);
    for _ in 0..n_ops {
        let g = rng.below(groups);
        let gr = sim.groups.get(&g).cloned().unwrap_or_default();
        let last = gr.last();
        let op = match rng.below(100) {
            0..=54 => {
                // Append, sometimes over a conflicting suffix.
                let start = if last > gr.snap.0 && rng.chance(15) {
                    gr.snap.0 + 1 + rng.below(last - gr.snap.0)
                } else {
                    last + 1
                };
                let term = gr.hs.term.get().max(gr.term_at(start - 1).unwrap_or(0)) + rng.below(2);
                let k = 1 + rng.below(4);
                let entries = (0..k)
                    .map(|j| {
                        let len = rng.upto(max_payload);
                        let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                        Entry {
                            index: LogIndex(start + j),
                            term: Term(term),
                            data: Bytes::from(data),
                        }
                    })
                    .collect();
                Op::Append {
                    group: GroupId(g),
                    entries,
                }
            }
            55..=74 => {
                let hs = HardState {
                    term: Term(gr.hs.term.get() + rng.below(2)),
                    vote: slotraft_types::NodeId(rng.below(4)),
                    commit: LogIndex(
                        gr.hs
                            .commit
                            .get()
                            .max(gr.snap.0.min(gr.hs.commit.get() + rng.below(3))),
                    ),
                };
                Op::HardState {
                    group: GroupId(g),
                    hs,
                }
            }
            75..=84 if last > gr.snap.0 => Op::Truncate {
                group: GroupId(g),
                from: LogIndex(gr.snap.0 + 1 + rng.below(last - gr.snap.0 + 1)),
            },
            85..=99 if last > gr.snap.0 && rng.chance(80) => {
                let i = gr.snap.0 + 1 + rng.below(last - gr.snap.0);
                Op::Compact {
                    group: GroupId(g),
                    index: LogIndex(i),
                    term: Term(gr.term_at(i).expect("live")),
                }
            }
            85..=99 => Op::Compact {
                group: GroupId(g),
                index: LogIndex(last + 1 + rng.below(5)),
                term: Term(gr.hs.term.get() + 7),
            },
            _ => continue,
        };
        let one = WriteBatch {
            ops: vec![op.clone()],
        };
        for r in Model::flatten(&one) {
            sim.apply(&r);
        }
        b.ops.push(op);
    }
    b
}

//! The search: Wing–Gong/Lowe linearizability checking with memoization,
//! run once per partition of the history.
//!
//! Why a linked list of events: linearizing an operation removes its call
//! and return events from the list and backtracking puts them back, both in
//! O(1) ("dancing links"), so each search step costs only the model step,
//! a bit-set clone and a hash-set probe.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Instant;

use crate::bitset::BitSet;
use crate::model::{Model, Operation, Outcome};

/// Default search step budget per partition. Generous for histories of a few
/// thousand operations per key at low concurrency (each step is one model
/// step); pathological histories hit it and report [`CheckResult::Timeout`].
pub const DEFAULT_MAX_SEARCH_STEPS: u64 = 20_000_000;

/// How often (in search steps) the wall-clock deadline is consulted.
const DEADLINE_CHECK_INTERVAL: u64 = 4096;

/// How many operations of the linearizable prefix an [`Anomaly`] description
/// shows (the full prefix is in [`Anomaly::longest_prefix`]).
const DESCRIBED_PREFIX_OPS: usize = 8;

/// A bound on the search.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Maximum search steps per partition.
    pub max_steps_per_partition: u64,
    /// Optional wall-clock deadline for the whole check. Leave `None` where
    /// determinism matters (the simulator): a step budget gives the same
    /// verdict on every machine.
    pub deadline: Option<Instant>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_steps_per_partition: DEFAULT_MAX_SEARCH_STEPS,
            deadline: None,
        }
    }
}

impl Budget {
    /// A deterministic budget of `steps` search steps per partition.
    pub fn steps(steps: u64) -> Self {
        Budget {
            max_steps_per_partition: steps,
            deadline: None,
        }
    }
}

/// Why a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    /// Index (in the order [`Model::partition`] returned them) of the part
    /// that failed.
    pub partition: usize,
    /// The longest sequence of operations (indexes into the history) that
    /// the search managed to linearize in this part.
    pub longest_prefix: Vec<usize>,
    /// The operation (index into the history) whose return was reached
    /// while it could not be linearized after `longest_prefix`: no order of
    /// the operations pending at that point explains its result.
    pub blocked_op: usize,
    /// Human-readable explanation: the model state after the prefix, the
    /// last operations of the prefix and the blocked operation.
    pub description: String,
}

/// The verdict of [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// Some real-time-respecting sequential order explains every result.
    Ok,
    /// No such order exists.
    Illegal(Anomaly),
    /// The budget ran out before a verdict (no part was found illegal).
    Timeout {
        /// Parts (indexes as in [`Model::partition`]) whose search ran out.
        partitions: Vec<usize>,
    },
}

impl CheckResult {
    pub fn is_ok(&self) -> bool {
        matches!(self, CheckResult::Ok)
    }
    pub fn is_illegal(&self) -> bool {
        matches!(self, CheckResult::Illegal(_))
    }
}

/// Checks a whole history: partitions it with [`Model::partition`] and
/// searches each part. Returns the first illegal part if any, else
/// `Timeout` if some part ran out of budget, else `Ok`.
///
/// Panics if a known operation returns before it is called (a recording
/// bug, not a property of the system under test).
pub fn check<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: Budget,
) -> CheckResult {
    let mut timed_out = Vec::new();
    for (p, part) in model.partition(history).iter().enumerate() {
        match check_partition(model, history, part, p, budget) {
            CheckResult::Ok => {}
            CheckResult::Illegal(a) => return CheckResult::Illegal(a),
            CheckResult::Timeout { .. } => timed_out.push(p),
        }
    }
    if timed_out.is_empty() {
        CheckResult::Ok
    } else {
        CheckResult::Timeout {
            partitions: timed_out,
        }
    }
}

/// Checks one part (`ops`, indexes into `history`) without partitioning it
/// further. `partition` is only used to label the result.
pub fn check_partition<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    ops: &[usize],
    partition: usize,
    budget: Budget,
) -> CheckResult {
    let mut search = Search::new(model, history, ops, budget);
    match search.run() {
        SearchEnd::Linearizable => CheckResult::Ok,
        SearchEnd::OutOfBudget => CheckResult::Timeout {
            partitions: vec![partition],
        },
        SearchEnd::Illegal => CheckResult::Illegal(search.anomaly(partition)),
    }
}

/// One event of the doubly linked list.
#[derive(Clone, Copy, Debug)]
struct Event {
    /// Local operation index (into `Search::ops`).
    op: usize,
    is_call: bool,
    time: u64,
}

enum SearchEnd {
    Linearizable,
    Illegal,
    OutOfBudget,
}

/// The deepest point where the search got stuck, kept for the report.
struct Stuck<S> {
    prefix: Vec<usize>,
    blocked: usize,
    state: S,
}

struct Search<'a, M: Model> {
    model: &'a M,
    history: &'a [Operation<M::Input, M::Output>],
    /// Local op index -> history index.
    ops: &'a [usize],
    /// Node 0 is the head sentinel, node `len - 1` the tail sentinel, nodes
    /// in between are events in time order.
    events: Vec<Event>,
    next: Vec<usize>,
    prev: Vec<usize>,
    /// Call node -> its return node.
    matching: Vec<usize>,
    budget: Budget,
    deepest: Option<Stuck<M::State>>,
}

const HEAD: usize = 0;

impl<'a, M: Model> Search<'a, M> {
    fn new(
        model: &'a M,
        history: &'a [Operation<M::Input, M::Output>],
        ops: &'a [usize],
        budget: Budget,
    ) -> Self {
        let mut evs = Vec::with_capacity(ops.len() * 2);
        for (local, &h) in ops.iter().enumerate() {
            let op = &history[h];
            let ret = match op.output {
                Outcome::Known(_) => {
                    assert!(
                        op.call_time <= op.return_time,
                        "operation {h} returns before it is called"
                    );
                    op.return_time
                }
                Outcome::Unknown => u64::MAX,
            };
            evs.push(Event {
                op: local,
                is_call: true,
                time: op.call_time,
            });
            evs.push(Event {
                op: local,
                is_call: false,
                time: ret,
            });
        }
        // Calls sort before returns at equal times: operations that touch at
        // an instant are concurrent (the permissive reading).
        evs.sort_by_key(|e| (e.time, !e.is_call, e.op));
        let sentinel = Event {
            op: usize::MAX,
            is_call: false,
            time: 0,
        };
        let mut events = Vec::with_capacity(evs.len() + 2);
        events.push(sentinel);
        events.extend(evs);
        events.push(sentinel);
        let n = events.len();
        let next: Vec<usize> = (0..n).map(|i| (i + 1).min(n - 1)).collect();
        let prev: Vec<usize> = (0..n).map(|i| i.saturating_sub(1)).collect();
        let mut return_node = vec![usize::MAX; ops.len()];
        for (node, e) in events.iter().enumerate().take(n - 1).skip(1) {
            if !e.is_call {
                return_node[e.op] = node;
            }
        }
        let matching = events
            .iter()
            .map(|e| {
                if e.is_call && e.op != usize::MAX {
                    return_node[e.op]
                } else {
                    usize::MAX
                }
            })
            .collect();
        Search {
            model,
            history,
            ops,
            events,
            next,
            prev,
            matching,
            budget,
            deepest: None,
        }
    }

    fn tail(&self) -> usize {
        self.events.len() - 1
    }

    fn unlink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn relink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        self.prev[n] = node;
    }

    /// Removes a call and its return from the list.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.matching[call]);
    }

    /// Undoes [`Self::lift`] (in reverse order, as dancing links require).
    fn unlift(&mut self, call: usize) {
        self.relink(self.matching[call]);
        self.relink(call);
    }

    fn op(&self, local: usize) -> &'a Operation<M::Input, M::Output> {
        &self.history[self.ops[local]]
    }

    fn out_of_budget(&self, steps: u64) -> bool {
        if steps > self.budget.max_steps_per_partition {
            return true;
        }
        match self.budget.deadline {
            Some(d) if steps.is_multiple_of(DEADLINE_CHECK_INTERVAL) => Instant::now() >= d,
            _ => false,
        }
    }

    fn run(&mut self) -> SearchEnd {
        let mut state = self.model.init();
        let mut linearized = BitSet::new(self.ops.len());
        let mut cache: HashSet<(BitSet, M::State)> = HashSet::new();
        // Stack of (call node linearized, state before it).
        let mut calls: Vec<(usize, M::State)> = Vec::new();
        let mut node = self.next[HEAD];
        let mut steps: u64 = 0;
        while self.next[HEAD] != self.tail() {
            steps += 1;
            if self.out_of_budget(steps) {
                return SearchEnd::OutOfBudget;
            }
            debug_assert!(node != self.tail(), "the last event is always a return");
            let ev = self.events[node];
            if ev.is_call {
                let op = self.op(ev.op);
                if let Some(new_state) = self.model.step(&state, &op.input, op.output.known()) {
                    let mut new_lin = linearized.clone();
                    new_lin.set(ev.op);
                    if cache.insert((new_lin.clone(), new_state.clone())) {
                        calls.push((node, std::mem::replace(&mut state, new_state)));
                        linearized = new_lin;
                        self.lift(node);
                        node = self.next[HEAD];
                        continue;
                    }
                }
                node = self.next[node];
            } else {
                // The return of an operation not linearized yet: every order
                // tried from here failed, backtrack.
                self.note_stuck(&calls, ev.op, &state);
                let Some((call, before)) = calls.pop() else {
                    return SearchEnd::Illegal;
                };
                state = before;
                linearized.clear(self.events[call].op);
                self.unlift(call);
                node = self.next[call];
            }
        }
        SearchEnd::Linearizable
    }

    fn note_stuck(&mut self, calls: &[(usize, M::State)], blocked: usize, state: &M::State) {
        let deeper = match &self.deepest {
            None => true,
            Some(d) => calls.len() > d.prefix.len(),
        };
        if deeper {
            self.deepest = Some(Stuck {
                prefix: calls
                    .iter()
                    .map(|(c, _)| self.ops[self.events[*c].op])
                    .collect(),
                blocked: self.ops[blocked],
                state: state.clone(),
            });
        }
    }

    fn anomaly(&self, partition: usize) -> Anomaly {
        let stuck = self
            .deepest
            .as_ref()
            .expect("an illegal verdict always passes through a stuck point");
        let mut description = String::new();
        let _ = write!(
            description,
            "partition {partition}: linearized {} op(s), then op #{} cannot take effect; \
             model state after the prefix: {}; ",
            stuck.prefix.len(),
            stuck.blocked,
            self.model.describe_state(&stuck.state)
        );
        let skip = stuck.prefix.len().saturating_sub(DESCRIBED_PREFIX_OPS);
        let _ = write!(description, "prefix tail: [");
        for &h in &stuck.prefix[skip..] {
            let _ = write!(description, "#{h} {}; ", describe(&self.history[h]));
        }
        let _ = write!(
            description,
            "] blocked: #{} {}",
            stuck.blocked,
            describe(&self.history[stuck.blocked])
        );
        Anomaly {
            partition,
            longest_prefix: stuck.prefix.clone(),
            blocked_op: stuck.blocked,
            description,
        }
    }
}

fn describe<I: std::fmt::Debug, O: std::fmt::Debug>(op: &Operation<I, O>) -> String {
    match &op.output {
        Outcome::Known(o) => format!(
            "client {} {:?} -> {:?} [{}, {}]",
            op.client, op.input, o, op.call_time, op.return_time
        ),
        Outcome::Unknown => format!(
            "client {} {:?} -> unknown [{}, inf)",
            op.client, op.input, op.call_time
        ),
    }
}

//! One hosted group: its Raft node, its state machine (a shard's keyspace
//! or the metadata group's cluster map, see [`crate::state`]), and the
//! client operations waiting on it.
//!
//! Invariants (asserted where they are maintained):
//! - `applied` only grows, and never passes the Raft commit index;
//! - a token is completed exactly once: it lives in exactly one of
//!   `queued`, `waiting`, `reads_queued`, `reads_inflight`, `reads_ready`
//!   until it is moved into the output;
//! - an op is answered `Done` only by the entry with the exact `(term, index)`
//!   it was proposed at.

use crate::entry::{Op, ShardEntry, MAX_ENTRY_BYTES, MAX_OPS_PER_ENTRY};
use crate::node::{Completion, Limits, NotExecuted, Token};
use crate::state::StateMachine;
use bytes::Bytes;
use slotraft_keyspace::db::prefetch_window;
use slotraft_keyspace::{ExecCtx, Outcome};
use slotraft_raft::{
    ConfChange, Entry, EntryKind, RawNode, ReadState, Ready, Role, Snapshot, SnapshotMeta, Storage,
};
use slotraft_types::{GroupId, LogIndex, NodeId, Term};
use std::collections::{BTreeMap, VecDeque};

/// A read waiting for its ReadIndex round or for the apply to catch up.
pub(crate) type PendingRead = (Vec<Bytes>, Token);

/// Ops proposed in one entry, waiting for that entry to be applied.
struct Waiting {
    term: Term,
    tokens: Vec<Token>,
    since_tick: u64,
}

struct ReadRound {
    reads: Vec<PendingRead>,
    since_tick: u64,
}

/// Routing-relevant state of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupStatus {
    pub leader: Option<NodeId>,
    pub role: Role,
    pub term: Term,
    pub commit: LogIndex,
    pub applied: LogIndex,
}

pub(crate) struct Group<S: Storage> {
    pub id: GroupId,
    pub raw: RawNode<S>,
    pub sm: StateMachine,
    applied: LogIndex,
    queued: VecDeque<(Op, Token)>,
    waiting: BTreeMap<LogIndex, Waiting>,
    reads_queued: Vec<PendingRead>,
    reads_inflight: BTreeMap<u64, ReadRound>,
    /// Reads whose index is known, waiting for the apply to reach it;
    /// `true`: confirmed by the leader lease (re-checked when served).
    reads_ready: VecDeque<(LogIndex, bool, Vec<PendingRead>)>,
    next_round: u64,
    leader: Option<NodeId>,
    role: Role,
    tick: u64,
    /// The Raft `Ready` between `take_ready` and `finish_ready`.
    in_flight: Option<Ready>,
    /// Lease-confirmed reads sent back for a quorum round because the
    /// lease did not outlast the caller's clock (`serve_reads`).
    pub lease_rechecks: u64,
}

/// splitmix64: the per-op seed derived from the entry's seed.
pub(crate) fn mix(seed: u64, i: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i + 1));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl<S: Storage> Group<S> {
    pub fn new(id: GroupId, raw: RawNode<S>, sm: StateMachine, applied: LogIndex) -> Self {
        Group {
            id,
            leader: raw.leader(),
            role: raw.role(),
            raw,
            sm,
            applied,
            queued: VecDeque::new(),
            waiting: BTreeMap::new(),
            reads_queued: Vec::new(),
            reads_inflight: BTreeMap::new(),
            reads_ready: VecDeque::new(),
            lease_rechecks: 0,
            next_round: 1,
            tick: 0,
            in_flight: None,
        }
    }

    pub fn status(&self) -> GroupStatus {
        GroupStatus {
            leader: self.leader,
            role: self.role,
            term: self.raw.term(),
            commit: self.raw.commit(),
            applied: self.applied,
        }
    }

    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    pub fn enqueue_write(
        &mut self,
        op: Op,
        token: Token,
        limits: &Limits,
    ) -> Result<(), NotExecuted> {
        self.sm.check_op(&op)?;
        if !self.is_leader() {
            return Err(NotExecuted::NotLeader(self.leader));
        }
        if self.queued.len() >= limits.max_queued_ops {
            return Err(NotExecuted::Busy);
        }
        self.queued.push_back((op, token));
        Ok(())
    }

    pub fn enqueue_read(
        &mut self,
        argv: Vec<Bytes>,
        token: Token,
        limits: &Limits,
    ) -> Result<(), NotExecuted> {
        if self.leader.is_none() {
            return Err(NotExecuted::NoLeader);
        }
        if self.reads_queued.len() >= limits.max_queued_reads {
            return Err(NotExecuted::Busy);
        }
        self.reads_queued.push((argv, token));
        Ok(())
    }

    pub fn tick(&mut self, limits: &Limits, out: &mut Vec<(Token, Completion)>) {
        self.tick += 1;
        self.raw.tick();
        self.expire_waiters(limits, out);
    }

    /// Waiters past their deadline: a write's fate is unknown (it may still
    /// commit), a read simply did not happen.
    fn expire_waiters(&mut self, limits: &Limits, out: &mut Vec<(Token, Completion)>) {
        let deadline = self.tick.saturating_sub(limits.max_wait_ticks);
        let expired: Vec<LogIndex> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.since_tick < deadline)
            .map(|(i, _)| *i)
            .collect();
        for i in expired {
            let w = self.waiting.remove(&i).expect("listed above");
            for t in w.tokens {
                out.push((
                    t,
                    Completion::Uncertain("timed out waiting for the write to commit"),
                ));
            }
        }
        let stale: Vec<u64> = self
            .reads_inflight
            .iter()
            .filter(|(_, r)| r.since_tick < deadline)
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            for (_, t) in self.reads_inflight.remove(&k).expect("listed above").reads {
                out.push((t, Completion::NotExecuted(NotExecuted::ReadTimeout)));
            }
        }
    }

    /// Proposes everything queued (as few entries as the limits allow) and
    /// starts one ReadIndex round for the queued reads.
    pub fn flush(&mut self, now_ms: u64, seed: &mut u64, out: &mut Vec<(Token, Completion)>) {
        while !self.queued.is_empty() {
            *seed = mix(*seed, 0);
            let (entry, tokens) = self.next_batch(now_ms, *seed);
            match self.raw.propose(Bytes::from(entry.encode())) {
                Ok(pid) => {
                    let prev = self.waiting.insert(
                        pid.index,
                        Waiting {
                            term: pid.term,
                            tokens,
                            since_tick: self.tick,
                        },
                    );
                    assert!(prev.is_none(), "two proposals at index {:?}", pid.index);
                }
                Err(e) => {
                    // Not appended: certainly not executed.
                    for t in tokens {
                        out.push((
                            t,
                            Completion::NotExecuted(NotExecuted::Dropped(e.to_string())),
                        ));
                    }
                }
            }
        }
        self.flush_reads(out);
    }

    fn next_batch(&mut self, now_ms: u64, seed: u64) -> (ShardEntry, Vec<Token>) {
        let mut ops = Vec::new();
        let mut tokens = Vec::new();
        let mut bytes = 0;
        while let Some((op, _)) = self.queued.front() {
            let len = op.encoded_len();
            if !ops.is_empty() && (ops.len() >= MAX_OPS_PER_ENTRY || bytes + len > MAX_ENTRY_BYTES)
            {
                break;
            }
            bytes += len;
            let (op, t) = self.queued.pop_front().expect("front exists");
            ops.push(op);
            tokens.push(t);
        }
        (ShardEntry { now_ms, seed, ops }, tokens)
    }

    fn flush_reads(&mut self, out: &mut Vec<(Token, Completion)>) {
        if self.reads_queued.is_empty() {
            return;
        }
        let round = self.next_round;
        self.next_round += 1;
        let reads = std::mem::take(&mut self.reads_queued);
        match self
            .raw
            .read_index(Bytes::copy_from_slice(&round.to_le_bytes()))
        {
            Ok(()) => {
                self.reads_inflight.insert(
                    round,
                    ReadRound {
                        reads,
                        since_tick: self.tick,
                    },
                );
            }
            Err(e) => {
                for (_, t) in reads {
                    out.push((
                        t,
                        Completion::NotExecuted(NotExecuted::Dropped(e.to_string())),
                    ));
                }
            }
        }
    }

    pub fn take_ready(&mut self) -> Option<&Ready> {
        assert!(
            self.in_flight.is_none(),
            "take_ready twice without finish_ready"
        );
        if !self.raw.has_ready() {
            return None;
        }
        self.in_flight = Some(self.raw.ready());
        self.in_flight.as_ref()
    }

    /// Raft has output, or commands wait to be proposed.
    pub fn has_ready(&self) -> bool {
        self.raw.has_ready() || (self.is_leader() && !self.queued.is_empty())
    }

    /// The in-flight `Ready`'s messages if Raft allows sending them before
    /// its persistence (a leader's appends and heartbeats: see
    /// `Ready::messages_before_persist`); they are then not returned again
    /// by `finish_ready`.
    pub fn take_messages_before_persist(
        &mut self,
        out: &mut Vec<(GroupId, slotraft_raft::Message)>,
    ) {
        if let Some(rd) = self.in_flight.as_mut() {
            if rd.messages_before_persist {
                out.extend(rd.messages.drain(..).map(|m| (self.id, m)));
            }
        }
    }

    /// Applies the in-flight `Ready`'s committed entries and serves the
    /// reads it made safe *before* that `Ready` is persisted, so a client
    /// is answered without waiting for an fsync its write does not need.
    ///
    /// Why this is safe: an entry is committed only once it is durable on a
    /// majority (a leader counts its own copy only after `advance`, see
    /// `Ready::messages_before_persist`), so applying it cannot expose
    /// anything a crash could take back; the state machine is volatile and
    /// is rebuilt from snapshot + log at restart. What this round persists
    /// (new entries, term, vote) is not needed by what is applied here.
    ///
    /// Conservative limits: nothing happens when the `Ready` changes role or
    /// leader (the queued ops are drained first by `finish_ready`) or
    /// installs a snapshot, and application stops before the first
    /// membership change; `finish_ready` applies the rest (applying is
    /// idempotent by index, so nothing runs twice).
    pub fn apply_before_persist(
        &mut self,
        out: &mut Vec<(Token, Completion)>,
        now_ms: u64,
        untold_ticks: u64,
    ) {
        let Some(rd) = self.in_flight.as_mut() else {
            return;
        };
        if rd.soft_state.is_some() || rd.snapshot.is_some() {
            return;
        }
        let entries = std::mem::take(&mut rd.committed_entries);
        let states = std::mem::take(&mut rd.read_states);
        for e in entries
            .iter()
            .take_while(|e| e.kind != EntryKind::ConfChange)
        {
            self.apply_entry(e, out);
        }
        // `advance` needs the whole list to learn the applied index.
        self.in_flight
            .as_mut()
            .expect("checked above")
            .committed_entries = entries;
        self.queue_read_states(&states);
        self.serve_reads(out, now_ms, untold_ticks);
    }

    /// Phase 2 for this group: the caller persisted what `take_ready`
    /// returned. Returns the messages to send; applies committed entries,
    /// completes waiters, and advances Raft.
    pub fn finish_ready(
        &mut self,
        out: &mut Vec<(Token, Completion)>,
        msgs: &mut Vec<(GroupId, slotraft_raft::Message)>,
        now_ms: u64,
        untold_ticks: u64,
    ) -> Option<(Option<NodeId>, Term)> {
        let mut rd = self.in_flight.take()?;
        msgs.extend(rd.messages.drain(..).map(|m| (self.id, m)));
        let leader_change = rd.soft_state.map(|ss| {
            self.on_soft_state(ss.leader, ss.role, out);
            (ss.leader, self.raw.term())
        });
        if let Some(snap) = rd.snapshot.take() {
            self.apply_snapshot(&snap, out);
            rd.snapshot = Some(snap);
        }
        for e in &rd.committed_entries {
            self.apply_entry(e, out);
        }
        self.queue_read_states(&rd.read_states);
        self.serve_reads(out, now_ms, untold_ticks);
        self.raw.advance(rd);
        leader_change
    }

    fn on_soft_state(
        &mut self,
        leader: Option<NodeId>,
        role: Role,
        out: &mut Vec<(Token, Completion)>,
    ) {
        let was_leader = self.is_leader();
        self.leader = leader;
        self.role = role;
        if was_leader && role != Role::Leader {
            // Never proposed: certainly not executed. Proposed ones stay in
            // `waiting`: their entries may still commit under the new leader,
            // and we will learn their fate when we apply that index.
            for (_, t) in self.queued.drain(..) {
                out.push((t, Completion::NotExecuted(NotExecuted::NotLeader(leader))));
            }
        }
    }

    fn apply_snapshot(&mut self, snap: &Snapshot, out: &mut Vec<(Token, Completion)>) {
        let idx = snap.meta.index;
        if idx <= self.applied {
            return;
        }
        if let Err(e) = self.sm.restore(&snap.data) {
            panic!(
                "group {}: a snapshot accepted by Raft must decode (checked by its CRC): {e}",
                self.id
            );
        }
        // Entries up to `idx` were applied by someone else: whether ours were
        // among them is unknowable here.
        let jumped: Vec<LogIndex> = self.waiting.range(..=idx).map(|(i, _)| *i).collect();
        for i in jumped {
            for t in self.waiting.remove(&i).expect("listed").tokens {
                out.push((
                    t,
                    Completion::Uncertain("a snapshot replaced the log at the write's position"),
                ));
            }
        }
        self.applied = idx;
    }

    fn apply_entry(&mut self, e: &Entry, out: &mut Vec<(Token, Completion)>) {
        if e.index <= self.applied {
            return; // re-delivered after a restart or a snapshot
        }
        assert_eq!(
            e.index,
            self.applied.next(),
            "committed entries must apply in order"
        );
        self.applied = e.index;
        let waiter = match self.waiting.remove(&e.index) {
            Some(w) if w.term == e.term => Some(w.tokens),
            Some(w) => {
                // Another entry won this index: ours was never committed.
                for t in w.tokens {
                    out.push((t, Completion::NotExecuted(NotExecuted::Superseded)));
                }
                None
            }
            None => None,
        };
        match e.kind {
            EntryKind::ConfChange => self.apply_conf_change(e),
            EntryKind::Normal if e.data.is_empty() => {}
            EntryKind::Normal => self.apply_ops(e, waiter, out),
        }
    }

    fn apply_conf_change(&mut self, e: &Entry) {
        let cc = ConfChange::decode(&e.data).expect("committed conf change must decode");
        if let Err(err) = self.raw.apply_conf_change(&cc) {
            panic!("group {}: committed conf change rejected: {err}", self.id);
        }
    }

    fn apply_ops(
        &mut self,
        e: &Entry,
        waiter: Option<Vec<Token>>,
        out: &mut Vec<(Token, Completion)>,
    ) {
        let entry = ShardEntry::decode(&e.data)
            .unwrap_or_else(|err| panic!("group {} entry {:?} corrupt: {err:?}", self.id, e.index));
        if let Some(tokens) = &waiter {
            assert_eq!(tokens.len(), entry.ops.len(), "one token per op");
        }
        for (i, op) in entry.ops.iter().enumerate() {
            if let Some(w) = prefetch_window(i, entry.ops.len()) {
                self.sm.prefetch(&entry.ops[w]);
            }
            let ctx = ExecCtx {
                now_ms: entry.now_ms,
                seed: mix(entry.seed, i as u64),
                may_block: true,
            };
            let outcome = self.sm.apply_op(op, &ctx);
            if let Some(tokens) = &waiter {
                out.push((tokens[i], Completion::Done(outcome)));
            }
        }
    }

    fn queue_read_states(&mut self, states: &[ReadState]) {
        for rs in states {
            let Ok(round) = <[u8; 8]>::try_from(&rs.ctx[..]) else {
                continue; // not one of ours
            };
            if let Some(r) = self.reads_inflight.remove(&u64::from_le_bytes(round)) {
                self.reads_ready.push_back((rs.index, rs.lease, r.reads));
            }
        }
    }

    /// Serves the reads whose index is applied. A read confirmed by the
    /// lease is served only if the lease outlasts `untold_ticks`, the time
    /// the caller measured *after* Raft confirmed it but has not told Raft
    /// yet (its clock reading, in ticks, rounded up): Raft judged the lease
    /// by the ticks it was given, and a process paused between that tick
    /// and now would otherwise answer from a lease a new leader may have
    /// outlived (decision 0010). Such reads go back to the queue; the next
    /// round, with the ticks told, confirms them by a quorum round.
    fn serve_reads(&mut self, out: &mut Vec<(Token, Completion)>, now_ms: u64, untold_ticks: u64) {
        while let Some(&(idx, lease, _)) = self.reads_ready.front() {
            if idx > self.applied {
                break;
            }
            let (_, _, reads) = self.reads_ready.pop_front().expect("front exists");
            let expired = || {
                self.raw
                    .lease_remaining()
                    .is_none_or(|left| left <= untold_ticks)
            };
            if lease && expired() {
                self.lease_rechecks += 1;
                self.reads_queued.splice(0..0, reads);
                continue;
            }
            for (i, (argv, t)) in reads.iter().enumerate() {
                if let Some(w) = prefetch_window(i, reads.len()) {
                    self.sm.prefetch_argvs(reads[w].iter().map(|(a, _)| &a[..]));
                }
                let reply = self.sm.execute_read(argv, now_ms);
                out.push((*t, Completion::Done(Outcome::Reply(reply))));
            }
        }
    }

    /// The applied state frozen now, for a log-compaction snapshot built
    /// later ([`PendingSnapshot::build`], on any thread).
    pub fn freeze_snapshot(&self) -> PendingSnapshot {
        let term = self
            .raw
            .log_term(self.applied)
            .expect("the applied index is in the log or is the snapshot index");
        PendingSnapshot {
            meta: SnapshotMeta {
                index: self.applied,
                term,
                conf_state: self.raw.conf_state(),
            },
            state: self.sm.freeze(),
        }
    }

    pub fn applied(&self) -> LogIndex {
        self.applied
    }

    /// Number of tokens this group holds (for tests: none may leak).
    pub fn pending_tokens(&self) -> usize {
        self.queued.len()
            + self.waiting.values().map(|w| w.tokens.len()).sum::<usize>()
            + self.reads_queued.len()
            + self
                .reads_inflight
                .values()
                .map(|r| r.reads.len())
                .sum::<usize>()
            + self
                .reads_ready
                .iter()
                .map(|(_, _, r)| r.len())
                .sum::<usize>()
    }
}

/// A snapshot whose metadata is fixed and whose state is frozen
/// ([`Group::freeze_snapshot`]); encoding it is the expensive part, kept
/// off the thread that runs Raft.
pub struct PendingSnapshot {
    pub meta: SnapshotMeta,
    state: crate::state::FrozenState,
}

impl PendingSnapshot {
    /// Encodes the frozen state: the snapshot as of `meta.index`.
    pub fn build(self) -> Snapshot {
        Snapshot {
            meta: self.meta,
            data: Bytes::from(self.state.encode()),
        }
    }
}

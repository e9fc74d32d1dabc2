//! `RaftLog`: the node's view of its log = persisted [`Storage`] plus the
//! unstable tail (entries and possibly a snapshot handed out in a `Ready`
//! but not yet acknowledged by `advance`).
//!
//! Why two parts: the core must answer queries about entries it has just
//! appended (and may already replicate) before the application persisted
//! them; storage only knows what was durably written.
//!
//! Invariants (asserted): `applied <= committed <= last_index`; committed
//! never decreases; unstable entries are contiguous and start right after
//! the part of storage they extend.

use crate::message::{Entry, Snapshot};
use crate::storage::{limit_size, Storage};
use crate::StorageError;
use slotraft_types::{LogIndex, Term};

pub(crate) struct RaftLog<S: Storage> {
    store: S,
    /// Snapshot received from the leader, not yet persisted.
    unstable_snapshot: Option<Snapshot>,
    /// Entries not yet persisted; `unstable[i]` has index `offset + i`.
    unstable: Vec<Entry>,
    offset: LogIndex,
    pub committed: LogIndex,
    pub applied: LogIndex,
    /// Last index handed out in a `Ready` as committed (>= applied).
    handed_out: LogIndex,
    max_committed_size_per_ready: u64,
    /// Injected bugs on: repair instead of asserting (see `Raft::lenient`).
    lenient: bool,
}

impl<S: Storage> RaftLog<S> {
    pub fn new(store: S, applied: LogIndex, max_committed_size_per_ready: u64) -> Self {
        let first = store.first_index().expect("storage first_index");
        let last = store.last_index().expect("storage last_index");
        let hs = store
            .initial_state()
            .expect("storage initial_state")
            .hard_state;
        let applied = applied.max(first.prev());
        assert!(
            applied <= hs.commit.max(first.prev()),
            "applied {applied:?} beyond commit {:?}",
            hs.commit
        );
        RaftLog {
            store,
            unstable_snapshot: None,
            unstable: Vec::new(),
            offset: last.next(),
            committed: hs.commit.max(first.prev()),
            applied,
            handed_out: applied,
            max_committed_size_per_ready,
            lenient: false,
        }
    }

    pub fn set_lenient(&mut self, lenient: bool) {
        self.lenient = lenient;
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn first_index(&self) -> LogIndex {
        match &self.unstable_snapshot {
            Some(s) => s.meta.index.next(),
            None => self.store.first_index().expect("storage first_index"),
        }
    }

    pub fn last_index(&self) -> LogIndex {
        if let Some(e) = self.unstable.last() {
            return e.index;
        }
        match &self.unstable_snapshot {
            Some(s) => s.meta.index,
            None => self.store.last_index().expect("storage last_index"),
        }
    }

    /// Last index known to be durable (handed out in a `Ready` and
    /// acknowledged by `advance`). An unpersisted snapshot makes the whole
    /// log unstable: then only storage's last index counts.
    pub fn persisted_index(&self) -> LogIndex {
        if self.unstable_snapshot.is_some() {
            return self.store.last_index().expect("storage last_index");
        }
        self.offset.prev()
    }

    pub fn last_term(&self) -> Term {
        self.term(self.last_index()).expect("term of last index")
    }

    /// Term of `idx`, or `None` if compacted or beyond the end.
    pub fn term(&self, idx: LogIndex) -> Option<Term> {
        if idx >= self.offset {
            return self
                .unstable
                .get((idx.get() - self.offset.get()) as usize)
                .map(|e| e.term);
        }
        if let Some(s) = &self.unstable_snapshot {
            return (idx == s.meta.index).then_some(s.meta.term);
        }
        match self.store.term(idx) {
            Ok(t) => Some(t),
            Err(StorageError::Compacted) | Err(StorageError::Unavailable) => None,
            Err(e) => panic!("storage term({idx:?}): {e}"),
        }
    }

    pub fn match_term(&self, idx: LogIndex, term: Term) -> bool {
        self.term(idx) == Some(term)
    }

    /// §5.4.1: is a log ending at (`last_index`, `last_term`) at least as
    /// up-to-date as ours?
    pub fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        let my_term = self.last_term();
        last_term > my_term || (last_term == my_term && last_index >= self.last_index())
    }

    /// Entries `[lo, hi)` limited to `max_bytes` (at least one), or `None`
    /// if `lo` is compacted.
    pub fn entries(&self, lo: LogIndex, hi: LogIndex, max_bytes: u64) -> Option<Vec<Entry>> {
        if lo >= hi {
            return Some(Vec::new());
        }
        if lo < self.first_index() {
            return None;
        }
        assert!(hi <= self.last_index().next(), "entries beyond last index");
        let mut out = Vec::new();
        if lo < self.offset {
            let stored_hi = hi.min(self.offset);
            match self.store.entries(lo, stored_hi, max_bytes) {
                Ok(v) => out = v,
                Err(StorageError::Compacted) => return None,
                Err(e) => panic!("storage entries: {e}"),
            }
            if (out.len() as u64) < stored_hi.get() - lo.get() {
                return Some(out);
            }
        }
        if hi > self.offset {
            let from = lo.max(self.offset);
            let s = (from.get() - self.offset.get()) as usize;
            let e = (hi.get() - self.offset.get()) as usize;
            let used: u64 = out.iter().map(Entry::size).sum();
            let budget = max_bytes.saturating_sub(used);
            let tail = &self.unstable[s..e];
            if out.is_empty() {
                out.extend_from_slice(limit_size(tail, budget));
            } else {
                for ent in tail {
                    if used + ent.size() > max_bytes {
                        break;
                    }
                    out.push(ent.clone());
                }
            }
        }
        Some(out)
    }

    /// Largest index <= `idx` whose term is <= `term` (for fast
    /// backtracking), together with its term.
    pub fn find_conflict_by_term(&self, idx: LogIndex, term: Term) -> (LogIndex, Term) {
        let mut i = idx.min(self.last_index());
        loop {
            match self.term(i) {
                Some(t) if t > term => i = i.prev(),
                Some(t) => return (i, t),
                None => return (i, Term::ZERO),
            }
        }
    }

    /// Append entries at the tail (leader proposals); returns last index.
    pub fn append(&mut self, ents: &[Entry]) -> LogIndex {
        if let Some(first) = ents.first() {
            assert!(
                first.index > self.committed,
                "append at {:?} would overwrite committed {:?}",
                first.index,
                self.committed
            );
            self.truncate_and_append(ents);
        }
        self.last_index()
    }

    fn truncate_and_append(&mut self, ents: &[Entry]) {
        let after = ents[0].index;
        assert!(after <= self.last_index().next(), "gap in appended entries");
        debug_assert!(ents.windows(2).all(|w| w[0].index.next() == w[1].index));
        if after.get() == self.offset.get() + self.unstable.len() as u64 {
            self.unstable.extend_from_slice(ents);
        } else if after <= self.offset {
            // Replaces part of the persisted log: unstable restarts at `after`.
            self.offset = after;
            self.unstable.clear();
            self.unstable.extend_from_slice(ents);
        } else {
            let keep = (after.get() - self.offset.get()) as usize;
            self.unstable.truncate(keep);
            self.unstable.extend_from_slice(ents);
        }
    }

    /// Follower side of AppendEntries after the prev-entry check passed.
    /// Returns the last new index, or `None` on (impossible) conflict with
    /// a committed entry. With `no_truncate` (injected bug) a conflicting
    /// suffix is kept and only entries past our end are appended.
    pub fn maybe_append(&mut self, ents: &[Entry], no_truncate: bool) -> LogIndex {
        let last_new = match ents.last() {
            Some(e) => e.index,
            None => return LogIndex::ZERO,
        };
        let conflict = ents.iter().find(|e| !self.match_term(e.index, e.term));
        if let Some(c) = conflict {
            if no_truncate {
                let last = self.last_index();
                let fresh: Vec<Entry> = ents.iter().filter(|e| e.index > last).cloned().collect();
                if !fresh.is_empty() {
                    self.truncate_and_append(&fresh);
                }
            } else {
                assert!(
                    self.lenient || c.index > self.committed,
                    "conflict at {:?} <= committed {:?}",
                    c.index,
                    self.committed
                );
                let from = (c.index.get() - ents[0].index.get()) as usize;
                self.truncate_and_append(&ents[from..]);
                if self.lenient {
                    // Only reachable with an injected bug: a committed entry was
                    // overwritten. Keep indexes consistent; the simulator's
                    // checkers report the safety violation.
                    let last = self.last_index();
                    self.committed = self.committed.min(last);
                    self.applied = self.applied.min(last);
                    self.handed_out = self.handed_out.min(last);
                }
            }
        }
        last_new
    }

    /// Raise the commit index (never lowers it).
    pub fn commit_to(&mut self, to: LogIndex) {
        if to > self.committed {
            assert!(
                to <= self.last_index(),
                "commit {to:?} beyond last index {:?}",
                self.last_index()
            );
            self.committed = to;
        }
    }

    /// Install a snapshot from the leader: the log becomes empty after it.
    pub fn restore(&mut self, snap: Snapshot) {
        let idx = snap.meta.index;
        assert!(idx > self.committed, "restore at or below commit");
        self.committed = idx;
        self.applied = idx;
        self.handed_out = idx;
        self.unstable.clear();
        self.offset = idx.next();
        self.unstable_snapshot = Some(snap);
    }

    pub fn unstable_snapshot(&self) -> Option<&Snapshot> {
        self.unstable_snapshot.as_ref()
    }

    pub fn unstable_entries(&self) -> &[Entry] {
        &self.unstable
    }

    pub fn has_unstable(&self) -> bool {
        !self.unstable.is_empty() || self.unstable_snapshot.is_some()
    }

    /// True if there are committed entries not yet handed out.
    pub fn has_next_committed(&self) -> bool {
        self.committed > self.handed_out
    }

    /// Committed entries not yet handed out (bounded by bytes).
    pub fn next_committed_entries(&mut self) -> Vec<Entry> {
        if !self.has_next_committed() {
            return Vec::new();
        }
        let lo = self.handed_out.next().max(self.first_index());
        let ents = self
            .entries(lo, self.committed.next(), self.max_committed_size_per_ready)
            .expect("committed entries compacted before being applied");
        if let Some(e) = ents.last() {
            self.handed_out = e.index;
        }
        ents
    }

    /// `advance` of a `Ready`: these entries/snapshot are now persisted and
    /// committed entries up to `applied` are applied.
    pub fn advance(&mut self, persisted: Option<(LogIndex, Term)>, snap: bool, applied: LogIndex) {
        if snap {
            self.unstable_snapshot = None;
        }
        if let Some((idx, term)) = persisted {
            // Only drop what is still the same entry (a newer append may have
            // replaced it - not possible with the no-input-between contract,
            // but cheap to check).
            if idx >= self.offset && self.term(idx) == Some(term) {
                let n = (idx.get() - self.offset.get() + 1) as usize;
                self.unstable.drain(..n);
                self.offset = idx.next();
            }
        }
        if applied > self.applied {
            assert!(applied <= self.committed, "applied beyond committed");
            self.applied = applied;
        }
    }
}

//! The in-memory index of one Raft group's log: hard state, compaction point
//! and a dense `(term, location)` slot per live index.
//!
//! Why one type for both run time and recovery: the meaning of every record
//! kind (docs section 1.2) is implemented once, here, and both the live write
//! path and the replay at open call the same methods, so what is recovered is
//! by construction what was served before the crash.

use bytes::Bytes;
use slotraft_types::{LogIndex, NodeId, Term};
use std::collections::VecDeque;

/// Raft's persistent per-group state besides the log.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: Term,
    /// `NodeId(0)` means "voted for nobody".
    pub vote: NodeId,
    pub commit: LogIndex,
}

/// Where an entry's bytes are.
#[derive(Clone, Debug)]
pub(crate) enum Loc {
    /// Replay only: an index whose record lives in a reclaimed segment. Must
    /// be compacted away before replay ends (checked).
    Missing,
    /// Submitted, not yet written: the bytes are pinned in memory.
    Pending { seq: u64, data: Bytes },
    /// Written to segment `seg` at `offset` (the record start), payload `len`.
    Disk {
        seg: u64,
        offset: u64,
        len: u32,
        cache: Option<Bytes>,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub term: Term,
    pub loc: Loc,
}

/// The summary of a group the writer puts in `Checkpoint` records.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GroupMeta {
    pub hs: HardState,
    pub snap_index: LogIndex,
    pub snap_term: Term,
    pub last_index: LogIndex,
    pub last_term: Term,
}

/// One group's log index.
#[derive(Clone, Debug, Default)]
pub(crate) struct GroupLog {
    pub hs: HardState,
    /// Entries `<= snap_index` are compacted (covered by a snapshot).
    pub snap_index: LogIndex,
    pub snap_term: Term,
    /// `slots[k]` is index `snap_index + 1 + k`. Invariant: dense.
    /// Mutated only by this type's methods (and `slot_mut`, which never
    /// changes an entry's length), so that `bytes` stays their sum.
    pub slots: VecDeque<Slot>,
    /// WAL record bytes of the live entries (payload + record header;
    /// `Missing` ones count 0): what a log-compaction policy weighs against
    /// the state's size. Invariant:
    /// `bytes == slots.iter().map(Slot::record_len).sum()`.
    bytes: u64,
}

impl Loc {
    /// Bytes of the entry's WAL record: payload plus record header (0 when
    /// unknown: `Missing`).
    fn record_len(&self) -> u64 {
        let payload = match self {
            Loc::Missing => return 0,
            Loc::Pending { data, .. } => data.len() as u64,
            Loc::Disk { len, .. } => u64::from(*len),
        };
        payload + crate::record::RECORD_HEADER_LEN as u64
    }
}

impl Slot {
    fn record_len(&self) -> u64 {
        self.loc.record_len()
    }
}

impl GroupLog {
    pub fn first_index(&self) -> LogIndex {
        self.snap_index.next()
    }

    pub fn last_index(&self) -> LogIndex {
        LogIndex(self.snap_index.get() + self.slots.len() as u64)
    }

    fn pos(&self, index: LogIndex) -> Option<usize> {
        if index <= self.snap_index || index > self.last_index() {
            return None;
        }
        Some((index.get() - self.snap_index.get() - 1) as usize)
    }

    pub fn slot(&self, index: LogIndex) -> Option<&Slot> {
        self.pos(index).map(|p| &self.slots[p])
    }

    pub fn slot_mut(&mut self, index: LogIndex) -> Option<&mut Slot> {
        self.pos(index).map(move |p| &mut self.slots[p])
    }

    /// Term of `index` if known: the snapshot point or a live entry.
    pub fn term(&self, index: LogIndex) -> Option<Term> {
        if index == self.snap_index {
            return Some(self.snap_term);
        }
        self.slot(index).map(|s| s.term)
    }

    /// WAL record bytes of the live (not compacted) entries.
    pub fn log_bytes(&self) -> u64 {
        self.bytes
    }

    /// The WAL segment holding the oldest live entry, if it is written:
    /// every segment from it on must be kept for this group.
    pub fn first_segment(&self) -> Option<u64> {
        match self.slots.front()?.loc {
            Loc::Disk { seg, .. } => Some(seg),
            Loc::Pending { .. } | Loc::Missing => None,
        }
    }

    /// Removes `range` of the slots, keeping `bytes` their sum.
    fn drain_slots(&mut self, range: impl std::ops::RangeBounds<usize>) -> Vec<Slot> {
        let removed: Vec<Slot> = self.slots.drain(range).collect();
        let gone: u64 = removed.iter().map(Slot::record_len).sum();
        self.bytes = self
            .bytes
            .checked_sub(gone)
            .expect("log byte count covers the removed entries");
        removed
    }

    fn push_slot(&mut self, slot: Slot) {
        self.bytes += slot.record_len();
        self.slots.push_back(slot);
    }

    pub fn last_term(&self) -> Term {
        self.slots.back().map(|s| s.term).unwrap_or(self.snap_term)
    }

    pub fn meta(&self) -> GroupMeta {
        GroupMeta {
            hs: self.hs,
            snap_index: self.snap_index,
            snap_term: self.snap_term,
            last_index: self.last_index(),
            last_term: self.last_term(),
        }
    }

    /// Appends entry `index` (record kind Entry). Requires `index >
    /// snap_index` (the caller validated; replay skips stale ones). A
    /// conflicting suffix from `index` on is dropped; a gap (replay only) is
    /// filled with `Missing`. Returns the removed slots (for cache accounting).
    pub fn append(&mut self, index: LogIndex, term: Term, loc: Loc) -> Vec<Slot> {
        assert!(
            index > self.snap_index,
            "append at or below the compaction point"
        );
        let removed = self.truncate_from(index);
        // Bounded by the gap length, only ever non-empty during replay.
        while self.last_index().next() < index {
            self.push_slot(Slot {
                term: Term::ZERO,
                loc: Loc::Missing,
            });
        }
        self.push_slot(Slot { term, loc });
        debug_assert_eq!(self.last_index(), index);
        removed
    }

    /// Drops entries `>= index` (record kind Truncate). Entries at or below
    /// the compaction point are never dropped.
    pub fn truncate_from(&mut self, index: LogIndex) -> Vec<Slot> {
        let keep = index.get().saturating_sub(self.snap_index.get() + 1) as usize;
        if keep >= self.slots.len() {
            return Vec::new();
        }
        self.drain_slots(keep..)
    }

    /// Record kind Compact: a durable snapshot covers `..=index` with `term`
    /// at `index`. Keeps the suffix if the log agrees at `index`, else drops
    /// the whole log (InstallSnapshot). Older compactions are no-ops.
    pub fn compact(&mut self, index: LogIndex, term: Term) -> Vec<Slot> {
        if index <= self.snap_index {
            return Vec::new();
        }
        let removed = if self.term(index) == Some(term) {
            let n = (index.get() - self.snap_index.get()) as usize;
            self.drain_slots(..n)
        } else {
            self.drain_slots(..)
        };
        self.snap_index = index;
        self.snap_term = term;
        removed
    }

    /// Record kind Compact at replay: the record says the resulting last
    /// index, so the outcome does not depend on terms of `Missing` slots.
    pub fn compact_to(&mut self, index: LogIndex, term: Term, last_after: LogIndex) {
        if index <= self.snap_index {
            return;
        }
        let n = ((index.get() - self.snap_index.get()) as usize).min(self.slots.len());
        self.drain_slots(..n);
        self.snap_index = index;
        self.snap_term = term;
        // Drops the suffix the live compaction dropped.
        self.truncate_from(last_after.next());
    }

    /// Record kind Checkpoint (replay): brings a group that may have been
    /// seen only partly (its older segments reclaimed) to the written state.
    pub fn checkpoint(&mut self, m: &GroupMeta) -> Vec<Slot> {
        self.hs = m.hs;
        let removed = self.compact(m.snap_index, m.snap_term);
        // Bounded by the checkpoint's last index; no-op on a full replay.
        while self.last_index() < m.last_index {
            let term = if self.last_index().next() == m.last_index {
                m.last_term
            } else {
                Term::ZERO
            };
            self.push_slot(Slot {
                term,
                loc: Loc::Missing,
            });
        }
        removed
    }

    /// True if some live index has no known location (replay check).
    pub fn has_missing(&self) -> bool {
        self.slots.iter().any(|s| matches!(s.loc, Loc::Missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(i: u64) -> Loc {
        Loc::Pending {
            seq: i,
            data: Bytes::new(),
        }
    }

    fn log_with(n: u64) -> GroupLog {
        let mut g = GroupLog::default();
        for i in 1..=n {
            g.append(LogIndex(i), Term(i), mem(i));
        }
        g
    }

    #[test]
    fn append_conflict_truncates_suffix() {
        let mut g = log_with(5);
        let removed = g.append(LogIndex(3), Term(9), mem(3));
        assert_eq!(removed.len(), 3);
        assert_eq!(g.last_index(), LogIndex(3));
        assert_eq!(g.term(LogIndex(3)), Some(Term(9)));
        assert_eq!(g.term(LogIndex(2)), Some(Term(2)));
    }

    #[test]
    fn compact_keeps_matching_suffix_or_drops_all() {
        let mut g = log_with(5);
        g.compact(LogIndex(2), Term(2));
        assert_eq!(
            (g.first_index(), g.last_index()),
            (LogIndex(3), LogIndex(5))
        );
        assert_eq!(g.term(LogIndex(2)), Some(Term(2)));
        assert_eq!(g.term(LogIndex(1)), None);
        g.compact(LogIndex(4), Term(99));
        assert_eq!(
            (g.first_index(), g.last_index()),
            (LogIndex(5), LogIndex(4))
        );
        g.compact(LogIndex(10), Term(100));
        assert_eq!(g.last_index(), LogIndex(10));
        assert_eq!(g.last_term(), Term(100));
        assert!(
            g.compact(LogIndex(3), Term(1)).is_empty(),
            "older compaction is a no-op"
        );
        assert_eq!(g.snap_index, LogIndex(10));
    }

    #[test]
    fn checkpoint_fills_missing_then_compaction_clears_it() {
        let mut g = GroupLog::default();
        let m = GroupMeta {
            snap_index: LogIndex(4),
            snap_term: Term(1),
            last_index: LogIndex(8),
            last_term: Term(3),
            ..GroupMeta::default()
        };
        g.checkpoint(&m);
        assert!(g.has_missing());
        assert_eq!(g.last_term(), Term(3));
        g.compact(LogIndex(8), Term(3));
        assert!(!g.has_missing());
    }

    fn sized(i: u64, len: usize) -> Loc {
        Loc::Pending {
            seq: i,
            data: Bytes::from(vec![7u8; len]),
        }
    }

    fn recount(g: &GroupLog) -> u64 {
        g.slots.iter().map(Slot::record_len).sum()
    }

    #[test]
    fn log_bytes_follow_appends_conflicts_compactions_and_replay() {
        let mut g = GroupLog::default();
        // Every entry also weighs its record header.
        const H: u64 = crate::record::RECORD_HEADER_LEN as u64;
        for i in 1..=10 {
            g.append(LogIndex(i), Term(1), sized(i, 100 * i as usize));
        }
        assert_eq!(g.log_bytes(), 5500 + 10 * H);
        // A conflicting suffix from 8 on is replaced by one 1-byte entry.
        g.append(LogIndex(8), Term(2), sized(8, 1));
        assert_eq!(g.log_bytes(), 2800 + 1 + 8 * H);
        g.truncate_from(LogIndex(6));
        assert_eq!(g.log_bytes(), 1500 + 5 * H);
        g.compact(LogIndex(2), Term(1));
        assert_eq!(g.log_bytes(), 1200 + 3 * H);
        // Disagreeing compaction point: the whole log goes.
        g.compact(LogIndex(4), Term(9));
        assert_eq!(g.log_bytes(), 0);
        // Replay shapes: a gap of `Missing` slots, then compact_to.
        g.append(LogIndex(8), Term(9), sized(8, 40));
        assert_eq!(g.log_bytes(), 40 + H, "missing slots weigh nothing");
        g.compact_to(LogIndex(6), Term(9), LogIndex(8));
        assert_eq!((g.log_bytes(), recount(&g)), (40 + H, 40 + H));
        g.checkpoint(&GroupMeta {
            snap_index: LogIndex(8),
            snap_term: Term(9),
            last_index: LogIndex(12),
            last_term: Term(9),
            ..GroupMeta::default()
        });
        assert_eq!(g.log_bytes(), 0);
        assert_eq!(g.log_bytes(), recount(&g));
    }

    #[test]
    fn truncate_never_touches_compacted() {
        let mut g = log_with(5);
        g.compact(LogIndex(3), Term(3));
        assert!(g.truncate_from(LogIndex(1)).len() == 2);
        assert_eq!(g.last_index(), LogIndex(3));
    }
}

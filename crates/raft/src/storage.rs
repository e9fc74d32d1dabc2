//! The read side of the durable Raft log ([`Storage`]) and an in-memory
//! implementation ([`MemStorage`]) for tests, the simulator and benchmarks.
//!
//! Why a read-only trait: the core never writes to disk itself (sans-IO).
//! The application persists what a `Ready` tells it to, into whatever it
//! likes, and exposes it back through this trait. `MemStorage` is a cheap
//! `Clone` handle (`Arc<RwLock<..>>`) so the application and the core can
//! share it, as in raft-rs.

use crate::message::{ConfState, Entry, HardState, Snapshot, SnapshotMeta};
use crate::StorageError;
use bytes::Bytes;
use slotraft_types::{LogIndex, Term};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// What a node restarts from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaftState {
    pub hard_state: HardState,
    pub conf_state: ConfState,
}

/// Read access to the persisted log, hard state and latest snapshot.
///
/// Index conventions: entries live at `[first_index, last_index]`;
/// `term(first_index - 1)` must return the snapshot's term (or 0 for an
/// empty log at the start).
pub trait Storage {
    /// Hard state and membership to start from.
    fn initial_state(&self) -> Result<RaftState, StorageError>;
    /// Entries `[lo, hi)`, stopping once `max_bytes` would be exceeded (but
    /// always at least one entry if any is in range).
    fn entries(
        &self,
        lo: LogIndex,
        hi: LogIndex,
        max_bytes: u64,
    ) -> Result<Vec<Entry>, StorageError>;
    /// Term of the entry at `idx`.
    fn term(&self, idx: LogIndex) -> Result<Term, StorageError>;
    /// Index of the first entry still in the log (snapshot index + 1).
    fn first_index(&self) -> Result<LogIndex, StorageError>;
    /// Index of the last entry (snapshot index if the log is empty).
    fn last_index(&self) -> Result<LogIndex, StorageError>;
    /// The latest snapshot, which must be at an index >= `request_index`
    /// or `SnapshotTemporarilyUnavailable`.
    fn snapshot(&self, request_index: LogIndex) -> Result<Snapshot, StorageError>;
}

/// Upper bound on entries kept by [`MemStorage`] (a test harness must
/// compact before reaching it; hitting it is a bug, so it asserts).
pub const MEM_STORAGE_MAX_ENTRIES: usize = 1 << 26;

/// The data behind a [`MemStorage`] handle.
#[derive(Debug, Default)]
pub struct MemStorageCore {
    hard_state: HardState,
    snapshot: Snapshot,
    /// Membership as of the latest applied conf change (kept by the app).
    conf_state: ConfState,
    /// `entries[i]` has index `snapshot.meta.index + 1 + i`.
    entries: Vec<Entry>,
}

impl MemStorageCore {
    fn offset(&self) -> u64 {
        self.snapshot.meta.index.get()
    }

    fn first(&self) -> LogIndex {
        LogIndex(self.offset() + 1)
    }

    fn last(&self) -> LogIndex {
        LogIndex(self.offset() + self.entries.len() as u64)
    }

    /// Persist the hard state.
    pub fn set_hard_state(&mut self, hs: HardState) {
        self.hard_state = hs;
    }

    /// Current hard state.
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// Record the membership (call after applying a conf change).
    pub fn set_conf_state(&mut self, cs: ConfState) {
        self.conf_state = cs;
    }

    /// Append entries, truncating any conflicting suffix first.
    /// Invariant: `ents` is contiguous and starts at or before `last + 1`.
    pub fn append(&mut self, ents: &[Entry]) -> Result<(), StorageError> {
        let Some(first_new) = ents.first() else {
            return Ok(());
        };
        for w in ents.windows(2) {
            assert_eq!(
                w[0].index.next(),
                w[1].index,
                "appended entries not contiguous"
            );
        }
        assert!(
            first_new.index <= self.last().next(),
            "gap in log: last {:?}, appending {:?}",
            self.last(),
            first_new.index
        );
        if ents.last().map(|e| e.index) < Some(self.first()) {
            return Ok(()); // entirely compacted already
        }
        let skip = self.first().get().saturating_sub(first_new.index.get()) as usize;
        let ents = &ents[skip..];
        let keep = (ents[0].index.get() - self.first().get()) as usize;
        self.entries.truncate(keep);
        self.entries.extend_from_slice(ents);
        assert!(
            self.entries.len() <= MEM_STORAGE_MAX_ENTRIES,
            "MemStorage full"
        );
        Ok(())
    }

    /// Discard entries before `compact_index` (which must be <= last index).
    pub fn compact(&mut self, compact_index: LogIndex) -> Result<(), StorageError> {
        if compact_index <= self.first() {
            return Err(StorageError::Compacted);
        }
        assert!(
            compact_index <= self.last().next(),
            "compact beyond last index"
        );
        let n = (compact_index.get() - self.first().get()) as usize;
        let new_offset = &self.entries[n - 1];
        self.snapshot.meta.index = new_offset.index;
        self.snapshot.meta.term = new_offset.term;
        self.entries.drain(..n);
        Ok(())
    }

    /// Make a snapshot at `index` (<= last index) with application `data`,
    /// then compact the log up to and including it.
    pub fn create_snapshot(
        &mut self,
        index: LogIndex,
        conf_state: ConfState,
        data: Bytes,
    ) -> Result<(), StorageError> {
        if index <= self.snapshot.meta.index {
            return Err(StorageError::SnapshotOutOfDate);
        }
        assert!(index <= self.last(), "snapshot beyond last index");
        let term = self.term_of(index)?;
        let n = (index.get() - self.offset()) as usize;
        self.entries.drain(..n);
        self.snapshot = Snapshot {
            meta: SnapshotMeta {
                index,
                term,
                conf_state,
            },
            data,
        };
        Ok(())
    }

    /// Replace everything with a snapshot received from the leader.
    pub fn apply_snapshot(&mut self, snap: Snapshot) -> Result<(), StorageError> {
        if snap.meta.index <= self.snapshot.meta.index {
            return Err(StorageError::SnapshotOutOfDate);
        }
        self.hard_state.term = self.hard_state.term.max(snap.meta.term);
        self.hard_state.commit = self.hard_state.commit.max(snap.meta.index);
        self.conf_state = snap.meta.conf_state.clone();
        self.entries.clear();
        self.snapshot = snap;
        Ok(())
    }

    fn term_of(&self, idx: LogIndex) -> Result<Term, StorageError> {
        if idx == self.snapshot.meta.index {
            return Ok(self.snapshot.meta.term);
        }
        if idx < self.first() {
            return Err(StorageError::Compacted);
        }
        if idx > self.last() {
            return Err(StorageError::Unavailable);
        }
        Ok(self.entries[(idx.get() - self.first().get()) as usize].term)
    }
}

/// In-memory [`Storage`]; clones share the same log.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    core: Arc<RwLock<MemStorageCore>>,
}

impl MemStorage {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Storage of a brand-new group member: empty log, given membership.
    pub fn new_with_conf_state(cs: ConfState) -> Self {
        let s = Self::new();
        {
            let mut core = s.wl();
            core.snapshot.meta.conf_state = cs.clone();
            core.conf_state = cs;
        }
        s
    }

    /// Read lock.
    pub fn rl(&self) -> RwLockReadGuard<'_, MemStorageCore> {
        self.core.read().expect("MemStorage lock poisoned")
    }

    /// Write lock.
    pub fn wl(&self) -> RwLockWriteGuard<'_, MemStorageCore> {
        self.core.write().expect("MemStorage lock poisoned")
    }
}

impl Storage for MemStorage {
    fn initial_state(&self) -> Result<RaftState, StorageError> {
        let core = self.rl();
        Ok(RaftState {
            hard_state: core.hard_state,
            conf_state: core.conf_state.clone(),
        })
    }

    fn entries(
        &self,
        lo: LogIndex,
        hi: LogIndex,
        max_bytes: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        let core = self.rl();
        if lo < core.first() {
            return Err(StorageError::Compacted);
        }
        if hi > core.last().next() {
            return Err(StorageError::Unavailable);
        }
        let start = (lo.get() - core.first().get()) as usize;
        let end = (hi.get() - core.first().get()) as usize;
        Ok(limit_size(&core.entries[start..end], max_bytes).to_vec())
    }

    fn term(&self, idx: LogIndex) -> Result<Term, StorageError> {
        self.rl().term_of(idx)
    }

    fn first_index(&self) -> Result<LogIndex, StorageError> {
        Ok(self.rl().first())
    }

    fn last_index(&self) -> Result<LogIndex, StorageError> {
        Ok(self.rl().last())
    }

    fn snapshot(&self, request_index: LogIndex) -> Result<Snapshot, StorageError> {
        let core = self.rl();
        if core.snapshot.meta.index < request_index {
            return Err(StorageError::SnapshotTemporarilyUnavailable);
        }
        Ok(core.snapshot.clone())
    }
}

/// The longest prefix of `ents` within `max_bytes` (at least one entry).
pub fn limit_size(ents: &[Entry], max_bytes: u64) -> &[Entry] {
    let mut size = 0u64;
    for (i, e) in ents.iter().enumerate() {
        size = size.saturating_add(e.size());
        if i > 0 && size > max_bytes {
            return &ents[..i];
        }
    }
    ents
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::EntryKind;

    fn ent(term: u64, index: u64) -> Entry {
        Entry {
            term: Term(term),
            index: LogIndex(index),
            kind: EntryKind::Normal,
            data: Bytes::from_static(b"x"),
        }
    }

    #[test]
    fn append_truncates_conflicts_and_compacts() {
        let s = MemStorage::new();
        s.wl().append(&[ent(1, 1), ent(1, 2), ent(1, 3)]).unwrap();
        s.wl().append(&[ent(2, 2)]).unwrap();
        assert_eq!(s.last_index().unwrap(), LogIndex(2));
        assert_eq!(s.term(LogIndex(2)).unwrap(), Term(2));
        s.wl().compact(LogIndex(2)).unwrap();
        assert_eq!(s.first_index().unwrap(), LogIndex(2));
        assert_eq!(s.term(LogIndex(1)).unwrap(), Term(1));
        assert_eq!(s.term(LogIndex(0)), Err(StorageError::Compacted));
        assert_eq!(
            s.entries(LogIndex(1), LogIndex(3), u64::MAX),
            Err(StorageError::Compacted)
        );
    }

    #[test]
    fn entries_respect_byte_limit_but_return_one() {
        let s = MemStorage::new();
        s.wl().append(&[ent(1, 1), ent(1, 2), ent(1, 3)]).unwrap();
        assert_eq!(s.entries(LogIndex(1), LogIndex(4), 0).unwrap().len(), 1);
        let two = 2 * ent(1, 1).size();
        assert_eq!(s.entries(LogIndex(1), LogIndex(4), two).unwrap().len(), 2);
    }

    #[test]
    fn snapshot_create_and_apply() {
        let s = MemStorage::new();
        s.wl().append(&[ent(1, 1), ent(2, 2), ent(2, 3)]).unwrap();
        let cs = ConfState::with_voters([1, 2, 3]);
        s.wl()
            .create_snapshot(LogIndex(2), cs.clone(), Bytes::from_static(b"img"))
            .unwrap();
        let snap = s.snapshot(LogIndex(2)).unwrap();
        assert_eq!(snap.meta.term, Term(2));
        assert_eq!(s.first_index().unwrap(), LogIndex(3));
        assert!(s.snapshot(LogIndex(3)).is_err());
        let t = MemStorage::new();
        t.wl().apply_snapshot(snap).unwrap();
        assert_eq!(t.last_index().unwrap(), LogIndex(2));
        assert_eq!(t.initial_state().unwrap().conf_state, cs);
    }
}

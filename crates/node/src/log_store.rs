//! The Raft log of every hosted group, kept in the node's one WAL.
//!
//! Why it exists: `slotraft-raft` reads its log through the `Storage` trait
//! and never writes (sans-IO); `slotraft-storage` is one group-commit WAL for
//! all groups. This module is the glue: [`WalStorage`] is one group's
//! read view of the shared [`Store`], and [`persist()`] turns one
//! `multiraft::Persist` (everything every group must make durable in a
//! driver round) into ONE `WriteBatch`, so one fdatasync covers all groups
//! (cut into several submissions only past [`PERSIST_SUBMIT_BYTES`]).
//!
//! Payload mapping: the storage entry holds opaque bytes, the raft entry a
//! kind and data, so a storage payload is `kind: u8 | data`.
//!
//! Snapshots: the storage snapshot file holds `conf_state | keyspace image`
//! ([`encode_snapshot`]); the latest one is also cached in memory in
//! [`GroupMeta`] so the leader can send it and `initial_state` can report
//! the membership without touching the disk.

use bytes::{BufMut, Bytes};
use slotraft_multiraft::Persist;
use slotraft_raft::{
    ConfState, Entry, EntryKind, HardState, RaftState, Snapshot, SnapshotMeta, Storage,
    StorageError,
};
use slotraft_storage::{self as wal, Store, Ticket, WriteBatch, MAX_SNAPSHOT_CHUNK};
use slotraft_types::{GroupId, LogIndex, NodeId, Term};
use std::sync::{Arc, RwLock};

/// Storage payload tag of a normal entry.
const KIND_NORMAL: u8 = 0;
/// Storage payload tag of a configuration-change entry.
const KIND_CONF_CHANGE: u8 = 1;
/// Bound on node ids in one encoded `ConfState` list (a group has a handful).
pub const MAX_CONF_NODES: usize = 1024;

/// Per-group state that is not in the WAL proper: the membership and the
/// latest snapshot (data included, so a leader can send it at once).
#[derive(Debug, Default)]
pub struct GroupMeta {
    pub conf_state: ConfState,
    pub snapshot: Snapshot,
}

/// Shared handle to a group's [`GroupMeta`] (the driver updates it when it
/// persists a snapshot; Raft reads it through [`WalStorage`]).
pub type SharedMeta = Arc<RwLock<GroupMeta>>;

/// One group's `raft::Storage` view of the node's shared WAL.
#[derive(Clone)]
pub struct WalStorage {
    store: Arc<Store>,
    group: GroupId,
    meta: SharedMeta,
}

impl WalStorage {
    pub fn new(store: Arc<Store>, group: GroupId, meta: SharedMeta) -> Self {
        WalStorage { store, group, meta }
    }

    pub fn meta(&self) -> &SharedMeta {
        &self.meta
    }
}

fn map_err(e: wal::Error) -> StorageError {
    match e {
        wal::Error::Compacted => StorageError::Compacted,
        wal::Error::Unavailable => StorageError::Unavailable,
        other => StorageError::Other(other.to_string()),
    }
}

/// Raft entry → storage entry (`kind | data`).
pub fn to_wal_entry(e: &Entry) -> wal::Entry {
    let mut buf = Vec::with_capacity(1 + e.data.len());
    buf.put_u8(match e.kind {
        EntryKind::Normal => KIND_NORMAL,
        EntryKind::ConfChange => KIND_CONF_CHANGE,
    });
    buf.extend_from_slice(&e.data);
    wal::Entry {
        index: e.index,
        term: e.term,
        data: Bytes::from(buf),
    }
}

/// Storage entry → raft entry; a bad tag is corruption, never a panic.
pub fn from_wal_entry(e: wal::Entry) -> Result<Entry, StorageError> {
    let kind = match e.data.first() {
        Some(&KIND_NORMAL) => EntryKind::Normal,
        Some(&KIND_CONF_CHANGE) => EntryKind::ConfChange,
        _ => return Err(StorageError::Other("bad entry kind in WAL".into())),
    };
    Ok(Entry {
        term: e.term,
        index: e.index,
        kind,
        data: e.data.slice(1..),
    })
}

fn to_wal_hs(hs: &HardState) -> wal::HardState {
    wal::HardState {
        term: hs.term,
        vote: hs.vote.unwrap_or(NodeId::ZERO),
        commit: hs.commit,
    }
}

fn from_wal_hs(hs: wal::HardState) -> HardState {
    HardState {
        term: hs.term,
        vote: (hs.vote != NodeId::ZERO).then_some(hs.vote),
        commit: hs.commit,
    }
}

impl Storage for WalStorage {
    fn initial_state(&self) -> Result<RaftState, StorageError> {
        let hard_state = match self.store.hard_state(self.group) {
            Ok(hs) => from_wal_hs(hs),
            Err(wal::Error::UnknownGroup(_)) => HardState::default(),
            Err(e) => return Err(map_err(e)),
        };
        let conf_state = self.meta.read().expect("meta lock").conf_state.clone();
        Ok(RaftState {
            hard_state,
            conf_state,
        })
    }

    fn entries(
        &self,
        lo: LogIndex,
        hi: LogIndex,
        max_bytes: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        if lo >= hi {
            return Ok(Vec::new());
        }
        match self.store.entries(self.group, lo, hi, Some(max_bytes)) {
            Ok(v) => v.into_iter().map(from_wal_entry).collect(),
            Err(wal::Error::UnknownGroup(_)) => Err(StorageError::Unavailable),
            Err(e) => Err(map_err(e)),
        }
    }

    fn term(&self, idx: LogIndex) -> Result<Term, StorageError> {
        match self.store.term(self.group, idx) {
            Ok(t) => Ok(t),
            Err(wal::Error::UnknownGroup(_)) if idx == LogIndex::ZERO => Ok(Term(0)),
            Err(wal::Error::UnknownGroup(_)) => Err(StorageError::Unavailable),
            Err(e) => Err(map_err(e)),
        }
    }

    fn first_index(&self) -> Result<LogIndex, StorageError> {
        match self.store.first_index(self.group) {
            Ok(i) => Ok(i),
            Err(wal::Error::UnknownGroup(_)) => Ok(LogIndex(1)),
            Err(e) => Err(map_err(e)),
        }
    }

    fn last_index(&self) -> Result<LogIndex, StorageError> {
        match self.store.last_index(self.group) {
            Ok(i) => Ok(i),
            Err(wal::Error::UnknownGroup(_)) => Ok(LogIndex::ZERO),
            Err(e) => Err(map_err(e)),
        }
    }

    fn snapshot(&self, request_index: LogIndex) -> Result<Snapshot, StorageError> {
        let meta = self.meta.read().expect("meta lock");
        if meta.snapshot.meta.index < request_index || meta.snapshot.is_empty() {
            return Err(StorageError::SnapshotTemporarilyUnavailable);
        }
        Ok(meta.snapshot.clone())
    }
}

fn put_ids(buf: &mut Vec<u8>, ids: &[NodeId]) {
    assert!(ids.len() <= MAX_CONF_NODES, "conf state too large");
    buf.put_u32_le(ids.len() as u32);
    for id in ids {
        buf.put_u64_le(id.get());
    }
}

/// Snapshot file payload: `conf_state | data` (little endian, bounded).
pub fn encode_snapshot(s: &Snapshot) -> Vec<u8> {
    let cs = &s.meta.conf_state;
    let mut buf = Vec::with_capacity(64 + s.data.len());
    put_ids(&mut buf, &cs.voters);
    put_ids(&mut buf, &cs.learners);
    put_ids(&mut buf, &cs.voters_outgoing);
    put_ids(&mut buf, &cs.learners_next);
    buf.put_u8(cs.auto_leave as u8);
    buf.extend_from_slice(&s.data);
    buf
}

fn take_ids(b: &mut &[u8]) -> Option<Vec<NodeId>> {
    let n = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
    *b = &b[4..];
    if n > MAX_CONF_NODES || b.len() < n * 8 {
        return None;
    }
    let ids = (0..n)
        .map(|i| NodeId(u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap())))
        .collect();
    *b = &b[n * 8..];
    Some(ids)
}

/// Inverse of [`encode_snapshot`]; `None` on malformed input (never panics).
pub fn decode_snapshot(index: LogIndex, term: Term, bytes: &[u8]) -> Option<Snapshot> {
    let mut b = bytes;
    let voters = take_ids(&mut b)?;
    let learners = take_ids(&mut b)?;
    let voters_outgoing = take_ids(&mut b)?;
    let learners_next = take_ids(&mut b)?;
    let auto_leave = *b.first()? != 0;
    let data = Bytes::copy_from_slice(&b[1..]);
    Some(Snapshot {
        meta: SnapshotMeta {
            index,
            term,
            conf_state: ConfState {
                voters,
                learners,
                voters_outgoing,
                learners_next,
                auto_leave,
            },
        },
        data,
    })
}

/// Writes `snap` as the group's durable snapshot file (fsynced by
/// `finish`). The caller compacts the log afterwards.
pub fn write_snapshot_file(
    store: &Store,
    group: GroupId,
    snap: &Snapshot,
) -> Result<(), wal::Error> {
    let bytes = encode_snapshot(snap);
    let mut w = store.snapshot_writer(group, snap.meta.index, snap.meta.term)?;
    for (k, chunk) in bytes.chunks(MAX_SNAPSHOT_CHUNK).enumerate() {
        w.write_chunk((k * MAX_SNAPSHOT_CHUNK) as u64, chunk)?;
    }
    w.finish()?;
    Ok(())
}

/// Reads the group's latest durable snapshot, if any.
pub fn read_snapshot_file(store: &Store, group: GroupId) -> Result<Option<Snapshot>, wal::Error> {
    let Some(r) = store.snapshot_reader(group)? else {
        return Ok(None);
    };
    r.verify()?;
    let meta = r.meta().clone();
    let mut bytes = Vec::with_capacity(meta.len as usize);
    // Bounded: each chunk advances by at least one byte until `len`.
    while (bytes.len() as u64) < meta.len {
        let chunk = r.read_chunk(bytes.len() as u64, MAX_SNAPSHOT_CHUNK)?;
        if chunk.is_empty() {
            return Err(wal::Error::InvalidArgument(
                "snapshot shorter than its header",
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    decode_snapshot(meta.index, meta.term, &bytes)
        .map(Some)
        .ok_or(wal::Error::InvalidArgument("malformed snapshot envelope"))
}

/// A round's persist is cut into WAL submissions of about this many bytes
/// (the WAL refuses one over `MAX_SUBMIT_BYTES`; Raft may hand a round up to
/// its uncommitted-size bound). Usually one round is one submission.
pub const PERSIST_SUBMIT_BYTES: usize = 8 << 20;
/// Record overhead counted per op when cutting submissions (a WAL record
/// header is 36 bytes; rounding up keeps the estimate safe).
const RECORD_OVERHEAD: usize = 64;

/// Accumulates ops into submissions of at most [`PERSIST_SUBMIT_BYTES`].
struct Submissions {
    done: Vec<WriteBatch>,
    cur: WriteBatch,
    cur_bytes: usize,
}

impl Submissions {
    fn room(&mut self, bytes: usize) -> &mut WriteBatch {
        if self.cur_bytes > 0 && self.cur_bytes + bytes > PERSIST_SUBMIT_BYTES {
            self.done.push(std::mem::take(&mut self.cur));
            self.cur_bytes = 0;
        }
        self.cur_bytes += bytes;
        &mut self.cur
    }

    fn append(&mut self, group: GroupId, entries: Vec<wal::Entry>) {
        let mut chunk = Vec::new();
        let mut bytes = 0;
        for e in entries {
            let b = RECORD_OVERHEAD + e.data.len();
            if !chunk.is_empty() && bytes + b > PERSIST_SUBMIT_BYTES {
                self.room(bytes).append(group, std::mem::take(&mut chunk));
                bytes = 0;
            }
            bytes += b;
            chunk.push(e);
        }
        if !chunk.is_empty() {
            self.room(bytes).append(group, chunk);
        }
    }
}

/// Submits everything in `persist` to the WAL — as ONE batch unless it is
/// larger than [`PERSIST_SUBMIT_BYTES`] — and returns the ticket of the last
/// submission (durable ⇒ all of it is durable: tickets are ordered). Order
/// per group: snapshot install (file, then compact + drop the replaced
/// log), entries (the WAL truncates a conflicting suffix on append), hard
/// state.
pub fn persist(
    store: &Store,
    metas: &impl Fn(GroupId) -> Option<SharedMeta>,
    persist: &Persist,
) -> Result<Ticket, wal::Error> {
    let mut subs = Submissions {
        done: Vec::new(),
        cur: WriteBatch::new(),
        cur_bytes: 0,
    };
    for gp in &persist.groups {
        if let Some(snap) = gp.snapshot.as_ref().filter(|s| !s.is_empty()) {
            write_snapshot_file(store, gp.group, snap)?;
            subs.room(2 * RECORD_OVERHEAD)
                .compact(gp.group, snap.meta.index, snap.meta.term)
                .truncate(gp.group, snap.meta.index.next());
            if let Some(meta) = metas(gp.group) {
                let mut m = meta.write().expect("meta lock");
                m.conf_state = snap.meta.conf_state.clone();
                m.snapshot = snap.clone();
            }
        }
        if !gp.entries.is_empty() {
            subs.append(gp.group, gp.entries.iter().map(to_wal_entry).collect());
        }
        if let Some(hs) = &gp.hard_state {
            subs.room(RECORD_OVERHEAD)
                .hard_state(gp.group, to_wal_hs(hs));
        }
    }
    subs.done.push(subs.cur);
    let mut ticket = None;
    for b in subs.done {
        ticket = Some(store.write(b)?);
    }
    Ok(ticket.expect("at least one submission"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotraft_multiraft::GroupPersist;
    use slotraft_storage::{Config, StdVfs};

    fn open(dir: &std::path::Path) -> Arc<Store> {
        let vfs = Arc::new(StdVfs::new(dir).unwrap());
        Arc::new(Store::open(vfs, Config::default()).unwrap().0)
    }

    fn ent(i: u64, t: u64, kind: EntryKind, d: &'static [u8]) -> Entry {
        Entry {
            term: Term(t),
            index: LogIndex(i),
            kind,
            data: Bytes::from_static(d),
        }
    }

    #[test]
    fn empty_group_looks_like_an_empty_log() {
        let dir = tempfile::tempdir().unwrap();
        let s = WalStorage::new(open(dir.path()), GroupId(7), SharedMeta::default());
        assert_eq!(s.first_index().unwrap(), LogIndex(1));
        assert_eq!(s.last_index().unwrap(), LogIndex::ZERO);
        assert_eq!(s.term(LogIndex::ZERO).unwrap(), Term(0));
        assert!(s.entries(LogIndex(1), LogIndex(1), 100).unwrap().is_empty());
        assert_eq!(s.initial_state().unwrap().hard_state, HardState::default());
    }

    #[test]
    fn persist_roundtrips_entries_hard_state_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let g = GroupId(3);
        let meta = SharedMeta::default();
        let m2 = meta.clone();
        let metas = move |_g| Some(m2.clone());
        let hs = HardState {
            term: Term(2),
            vote: Some(NodeId(1)),
            commit: LogIndex(1),
        };
        let p = Persist {
            groups: vec![GroupPersist {
                group: g,
                snapshot: None,
                entries: vec![
                    ent(1, 1, EntryKind::Normal, b""),
                    ent(2, 1, EntryKind::ConfChange, b"cc"),
                    ent(3, 1, EntryKind::Normal, b"x"),
                ],
                hard_state: Some(hs),
                must_sync: true,
            }],
            messages_now: Vec::new(),
        };
        store.wait(persist(&store, &metas, &p).unwrap()).unwrap();
        // A conflicting suffix from index 2 at term 2 replaces 2..=3.
        let p2 = Persist {
            groups: vec![GroupPersist {
                group: g,
                snapshot: None,
                entries: vec![ent(2, 2, EntryKind::Normal, b"y")],
                hard_state: None,
                must_sync: true,
            }],
            messages_now: Vec::new(),
        };
        store.wait(persist(&store, &metas, &p2).unwrap()).unwrap();
        drop(store);
        let s = WalStorage::new(open(dir.path()), g, meta);
        assert_eq!(s.last_index().unwrap(), LogIndex(2));
        let got = s.entries(LogIndex(1), LogIndex(3), u64::MAX).unwrap();
        assert_eq!(
            got,
            vec![
                ent(1, 1, EntryKind::Normal, b""),
                ent(2, 2, EntryKind::Normal, b"y")
            ]
        );
        assert_eq!(s.initial_state().unwrap().hard_state, hs);
    }

    #[test]
    fn snapshot_install_compacts_and_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let g = GroupId(1);
        let meta = SharedMeta::default();
        let m2 = meta.clone();
        let snap = Snapshot {
            meta: SnapshotMeta {
                index: LogIndex(10),
                term: Term(3),
                conf_state: ConfState::with_voters([1, 2, 3]),
            },
            data: Bytes::from_static(b"image"),
        };
        let p = Persist {
            groups: vec![GroupPersist {
                group: g,
                snapshot: Some(snap.clone()),
                entries: vec![ent(11, 3, EntryKind::Normal, b"a")],
                hard_state: None,
                must_sync: true,
            }],
            messages_now: Vec::new(),
        };
        store
            .wait(persist(&store, &move |_| Some(m2.clone()), &p).unwrap())
            .unwrap();
        assert_eq!(meta.read().unwrap().snapshot, snap);
        drop(store);
        let store = open(dir.path());
        assert_eq!(read_snapshot_file(&store, g).unwrap(), Some(snap));
        let s = WalStorage::new(store, g, meta);
        assert_eq!(s.first_index().unwrap(), LogIndex(11));
        assert_eq!(s.term(LogIndex(10)).unwrap(), Term(3));
        assert_eq!(s.last_index().unwrap(), LogIndex(11));
    }

    #[test]
    fn a_round_larger_than_one_wal_submission_is_split() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let g = GroupId(5);
        let big = Bytes::from(vec![7u8; 5 << 20]);
        // 8 x 5 MiB = 40 MiB: over the WAL's MAX_SUBMIT_BYTES in one batch.
        let entries: Vec<Entry> = (1..=8)
            .map(|i| Entry {
                term: Term(1),
                index: LogIndex(i),
                kind: EntryKind::Normal,
                data: big.clone(),
            })
            .collect();
        let hs = HardState {
            term: Term(1),
            vote: Some(NodeId(1)),
            commit: LogIndex(8),
        };
        let p = Persist {
            groups: vec![GroupPersist {
                group: g,
                snapshot: None,
                entries,
                hard_state: Some(hs),
                must_sync: true,
            }],
            messages_now: Vec::new(),
        };
        store.wait(persist(&store, &|_| None, &p).unwrap()).unwrap();
        drop(store);
        let s = WalStorage::new(open(dir.path()), g, SharedMeta::default());
        assert_eq!(s.last_index().unwrap(), LogIndex(8));
        assert_eq!(s.initial_state().unwrap().hard_state, hs);
        let e = s.entries(LogIndex(8), LogIndex(9), u64::MAX).unwrap();
        assert_eq!(e[0].data, big);
    }

    #[test]
    fn snapshot_envelope_rejects_garbage() {
        assert!(decode_snapshot(LogIndex(1), Term(1), &[0xff; 3]).is_none());
        assert!(decode_snapshot(LogIndex(1), Term(1), &[0xff, 0xff, 0xff, 0xff]).is_none());
    }
}

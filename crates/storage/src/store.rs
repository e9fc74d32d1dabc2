//! The store: the multi-group write path (submit → one writer thread → one
//! write + one fdatasync per batch), durability notification, and reads.
//!
//! Why a single writer thread: group commit. While one fdatasync runs, every
//! caller of every group keeps encoding records into the shared pending
//! buffer; the next write takes all of it, so the fsync rate stays constant
//! while the record rate grows with the number of concurrent writers. Callers
//! never touch files. The writer never has more than one batch in flight,
//! which is what lets recovery bound a torn tail (docs sections 2 and 4).
//! Plain std threads and condvars: no async runtime is needed, and the tokio
//! server can bridge with `on_durable` callbacks.

use crate::group::{GroupLog, GroupMeta, HardState, Loc, Slot};
use crate::record::{self, RecordKind, MAX_RECORD_PAYLOAD, MAX_TORN_TAIL, RECORD_HEADER_LEN};
use crate::vfs::{read_exact_at, Vfs, VfsFile};
use crate::Error;
use bytes::Bytes;
use slotraft_types::{GroupId, LogIndex, Term};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Default size after which the writer starts a new segment.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// Default bound on pending (submitted, unwritten) bytes: submitters block
/// above it, and it bounds one batch (one write).
pub const DEFAULT_MAX_BATCH_BYTES: usize = 4 << 20;
/// Hard cap for `Config::max_batch_bytes` (a batch must fit in MAX_TORN_TAIL
/// together with a segment header, checkpoints and one oversized submission).
pub const MAX_BATCH_BYTES_LIMIT: usize = 16 << 20;
/// Largest encoded size of one `WriteBatch`.
pub const MAX_SUBMIT_BYTES: usize = 2 * MAX_RECORD_PAYLOAD;
/// Default extra time the writer waits to grow a batch. Zero: it takes what
/// accumulated during the previous fsync (group commit without a timer).
pub const DEFAULT_MAX_BATCH_WAIT: Duration = Duration::ZERO;
/// Cap on the adaptive extra wait of the writer (see `Writer::next_batch`).
pub const MAX_ADAPTIVE_WAIT: Duration = Duration::from_millis(1);
/// Default zero preallocation ahead of the active segment's end.
pub const DEFAULT_PREALLOC_BYTES: u64 = 4 << 20;
/// Only batches smaller than `prealloc_bytes / PREALLOC_SMALL_FRACTION` write
/// zeros ahead: for larger ones the zeros would cost more bandwidth than the
/// size-changing fdatasync they save (measured: 64 x 4 KiB batches got slower).
pub const PREALLOC_SMALL_FRACTION: u64 = 16;
/// Largest allowed `Config::prealloc_bytes`.
pub const MAX_PREALLOC_BYTES: u64 = 16 << 20;
/// Default bound on cached entry bytes (written entries kept in memory).
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;
/// Bound on the cache's FIFO bookkeeping (entries, stale ones included).
pub const MAX_CACHE_QUEUE: usize = 1 << 20;
/// Most groups one node may host (bounds the checkpoint write at a roll).
pub const MAX_GROUPS: usize = 100_000;
/// Encoded size of one Checkpoint record.
const CHECKPOINT_RECORD_LEN: usize = RECORD_HEADER_LEN + 40;

// The worst single write must stay under the torn-tail bound recovery uses.
const _: () = assert!(
    record::SEGMENT_HEADER_LEN
        + MAX_GROUPS * CHECKPOINT_RECORD_LEN
        + MAX_BATCH_BYTES_LIMIT
        + MAX_SUBMIT_BYTES
        + 4096
        <= MAX_TORN_TAIL
);

/// Store configuration. `Config::default()` is what a node uses.
#[derive(Clone, Debug)]
pub struct Config {
    pub segment_bytes: u64,
    pub max_batch_bytes: usize,
    pub max_batch_wait: Duration,
    pub cache_bytes: usize,
    /// Zeros written ahead of small batches (0 = never preallocate).
    pub prealloc_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            max_batch_wait: DEFAULT_MAX_BATCH_WAIT,
            cache_bytes: DEFAULT_CACHE_BYTES,
            prealloc_bytes: DEFAULT_PREALLOC_BYTES,
        }
    }
}

/// One log entry: opaque bytes at `(index, term)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub index: LogIndex,
    pub term: Term,
    pub data: Bytes,
}

/// A durability ticket: the sequence number of a submission. Durable once
/// `Store::durable_seq() >= ticket.0`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(pub u64);

/// One operation of a `WriteBatch`.
#[derive(Clone, Debug)]
pub enum Op {
    Append {
        group: GroupId,
        entries: Vec<Entry>,
    },
    HardState {
        group: GroupId,
        hs: HardState,
    },
    Truncate {
        group: GroupId,
        from: LogIndex,
    },
    Compact {
        group: GroupId,
        index: LogIndex,
        term: Term,
    },
}

/// Operations submitted together: validated as a whole, given one ticket,
/// applied in order. A crash may persist a prefix (never reported durable).
#[derive(Clone, Debug, Default)]
pub struct WriteBatch {
    pub ops: Vec<Op>,
}

impl WriteBatch {
    pub fn new() -> Self {
        WriteBatch::default()
    }
    pub fn append(&mut self, group: GroupId, entries: Vec<Entry>) -> &mut Self {
        self.ops.push(Op::Append { group, entries });
        self
    }
    pub fn hard_state(&mut self, group: GroupId, hs: HardState) -> &mut Self {
        self.ops.push(Op::HardState { group, hs });
        self
    }
    pub fn truncate(&mut self, group: GroupId, from: LogIndex) -> &mut Self {
        self.ops.push(Op::Truncate { group, from });
        self
    }
    pub fn compact(&mut self, group: GroupId, index: LogIndex, term: Term) -> &mut Self {
        self.ops.push(Op::Compact { group, index, term });
        self
    }
    fn encoded_len(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                Op::Append { entries, .. } => entries
                    .iter()
                    .map(|e| record::record_len(e.data.len()))
                    .sum(),
                Op::HardState { .. } | Op::Compact { .. } => record::record_len(8),
                Op::Truncate { .. } => record::record_len(0),
            })
            .sum()
    }
}

/// A durability callback, run by the writer thread (keep it short).
pub type Callback = Box<dyn FnOnce(Result<(), Error>) + Send + 'static>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Health {
    Ok,
    Failed(String),
    NoSpace,
}

/// What the writer must do with its view after writing a pending entry.
pub(crate) enum PendingOp {
    /// Entry `index` of `group` was encoded at `rel` in the pending buffer.
    Entry {
        group: GroupId,
        index: LogIndex,
        seq: u64,
        rel: usize,
    },
    /// The group's metadata as of this point (for checkpoints).
    Meta { group: GroupId, meta: GroupMeta },
    /// Something was compacted: try to reclaim segments after this batch.
    Compacted,
}

/// Bounded FIFO of cached entries across all groups.
#[derive(Default)]
pub(crate) struct Cache {
    queue: VecDeque<(GroupId, LogIndex)>,
    bytes: usize,
}

pub(crate) struct State {
    pub groups: HashMap<GroupId, GroupLog>,
    pub pending: Vec<u8>,
    pub pending_ops: Vec<PendingOp>,
    /// Highest ticket handed out.
    pub next_seq: u64,
    pub durable_seq: u64,
    pub health: Health,
    /// Durability callbacks by ticket. Bounded: only tickets not yet durable
    /// are kept, and those are at most the submissions in the pending buffer
    /// (bounded by `max_batch_bytes`, each at least one record) plus the one
    /// batch in flight.
    pub callbacks: BTreeMap<u64, Vec<Callback>>,
    /// Open segments, for reads.
    pub segments: BTreeMap<u64, Arc<dyn VfsFile>>,
    pub cache: Cache,
    pub shutdown: bool,
    pub snapshots: HashMap<GroupId, crate::snapshot::SnapshotMeta>,
}

pub(crate) struct Shared {
    pub vfs: Arc<dyn Vfs>,
    pub config: Config,
    pub state: Mutex<State>,
    /// Signalled when something is pending or on shutdown (writer waits).
    pub work: Condvar,
    /// Signalled when pending space frees up (submitters wait).
    pub space: Condvar,
    /// Signalled when `durable_seq` or health changes (`wait` callers).
    pub durable: Condvar,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The node's storage: one WAL for all groups, plus snapshots.
pub struct Store {
    pub(crate) shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

/// The writer thread's own state: the active segment and the per-group
/// metadata as written so far (for Checkpoint records).
pub(crate) struct Writer {
    pub shared: Arc<Shared>,
    pub seg_seq: u64,
    pub seg_file: Arc<dyn VfsFile>,
    /// End of the valid records in the active segment.
    pub seg_len: u64,
    /// File length of the active segment (records + preallocated zeros).
    pub allocated: u64,
    pub view: HashMap<GroupId, GroupMeta>,
    /// Per group, the segments holding its live *written* entries, as runs
    /// `(first index, last index, segment)`. Reclaim must use what is on
    /// disk, not what was submitted: a submitted-but-unwritten overwrite does
    /// not yet make the old entries dead on disk (docs 5.3).
    pub runs: HashMap<GroupId, VecDeque<Run>>,
    /// Adaptive batching state: the last batch's highest seq, how many
    /// submissions it held, and how long its fdatasync took.
    pub last_seq_hi: u64,
    pub last_subs: u64,
    pub last_sync: Duration,
}

/// A run of consecutive written entries of one group in one segment.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub first: LogIndex,
    pub last: LogIndex,
    pub seg: u64,
}

/// Drops the parts of `runs` outside `(snap, last]`.
fn trim_runs(runs: &mut VecDeque<Run>, snap: LogIndex, last: LogIndex) {
    while runs.back().is_some_and(|r| r.first > last) {
        runs.pop_back();
    }
    if let Some(r) = runs.back_mut() {
        r.last = r.last.min(last);
    }
    while runs.front().is_some_and(|r| r.last <= snap) {
        runs.pop_front();
    }
    if let Some(r) = runs.front_mut() {
        r.first = r.first.max(snap.next());
    }
}

/// Records that entry `index` was written to `seg` (dropping any suffix).
pub(crate) fn push_run(runs: &mut VecDeque<Run>, index: LogIndex, seg: u64) {
    trim_runs(runs, LogIndex::ZERO, index.prev());
    match runs.back_mut() {
        Some(r) if r.seg == seg && r.last.next() == index => r.last = index,
        _ => runs.push_back(Run {
            first: index,
            last: index,
            seg,
        }),
    }
}

pub(crate) fn segment_name(seq: u64) -> String {
    format!("wal-{seq:016x}.log")
}

pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

fn io_health(e: &std::io::Error) -> Health {
    if e.raw_os_error() == Some(28) || e.kind() == std::io::ErrorKind::StorageFull {
        Health::NoSpace
    } else {
        Health::Failed(e.to_string())
    }
}

impl State {
    pub(crate) fn check_health(&self) -> Result<(), Error> {
        match &self.health {
            Health::Ok if self.shutdown => Err(Error::Closed),
            Health::Ok => Ok(()),
            Health::Failed(m) => Err(Error::Failed(m.clone())),
            Health::NoSpace => Err(Error::NoSpace),
        }
    }

    fn group(&self, g: GroupId) -> Result<&GroupLog, Error> {
        self.groups.get(&g).ok_or(Error::UnknownGroup(g))
    }

    /// Checks a whole batch against the current state, simulating each op's
    /// effect on (snap_index, last_index, hard state) so later ops of the
    /// same batch see earlier ones.
    fn validate(&self, batch: &WriteBatch) -> Result<(), Error> {
        let mut sim: HashMap<GroupId, (LogIndex, LogIndex, HardState)> = HashMap::new();
        if batch.encoded_len() > MAX_SUBMIT_BYTES {
            return Err(Error::InvalidArgument("write batch over MAX_SUBMIT_BYTES"));
        }
        for op in &batch.ops {
            let g = op_group(op);
            if !self.groups.contains_key(&g)
                && !sim.contains_key(&g)
                && self.groups.len() + sim.len() >= MAX_GROUPS
            {
                return Err(Error::InvalidArgument("more than MAX_GROUPS groups"));
            }
            let s = sim.entry(g).or_insert_with(|| {
                self.groups
                    .get(&g)
                    .map(|l| (l.snap_index, l.last_index(), l.hs))
                    .unwrap_or_default()
            });
            validate_op(op, s)?;
        }
        Ok(())
    }
}

fn op_group(op: &Op) -> GroupId {
    match op {
        Op::Append { group, .. }
        | Op::HardState { group, .. }
        | Op::Truncate { group, .. }
        | Op::Compact { group, .. } => *group,
    }
}

/// Validates one op against a simulated (snap_index, last_index, hs).
fn validate_op(op: &Op, s: &mut (LogIndex, LogIndex, HardState)) -> Result<(), Error> {
    let (snap, last, hs) = s;
    match op {
        Op::Append { entries, .. } => {
            let Some(first) = entries.first() else {
                return Ok(());
            };
            if first.index <= *snap || first.index > last.next() {
                return Err(Error::InvalidArgument(
                    "append must start in (compaction point, last_index + 1]",
                ));
            }
            for (k, e) in entries.iter().enumerate() {
                if e.index.get() != first.index.get() + k as u64 {
                    return Err(Error::InvalidArgument(
                        "appended entries must have consecutive indexes",
                    ));
                }
                if e.data.len() > MAX_RECORD_PAYLOAD {
                    return Err(Error::InvalidArgument("entry over MAX_RECORD_PAYLOAD"));
                }
            }
            *last = entries.last().expect("non-empty").index;
        }
        Op::HardState { hs: new, .. } => {
            if new.term < hs.term || new.commit < hs.commit {
                return Err(Error::InvalidArgument(
                    "hard state term/commit must not go backwards",
                ));
            }
            *hs = *new;
        }
        Op::Truncate { from, .. } => {
            if *from <= *snap {
                return Err(Error::InvalidArgument("can not truncate compacted entries"));
            }
            *last = (*last).min(from.prev());
        }
        Op::Compact { index, .. } => {
            if *index > *snap {
                *snap = *index;
                *last = (*last).max(*index);
            }
        }
    }
    Ok(())
}

impl Store {
    /// Opens (recovers) the store in `vfs`. See `crate::recovery`.
    pub fn open(
        vfs: Arc<dyn Vfs>,
        config: Config,
    ) -> Result<(Store, crate::RecoveryReport), Error> {
        crate::recovery::open(vfs, config)
    }

    pub(crate) fn start(shared: Arc<Shared>, writer: Writer) -> Store {
        let handle = std::thread::Builder::new()
            .name("slotraft-wal".into())
            .spawn(move || writer.run())
            .expect("spawn WAL writer thread");
        Store {
            shared,
            writer: Some(handle),
        }
    }

    /// Submits a batch; returns its ticket once encoded (blocks only while
    /// the pending buffer is full). Reads see the batch at once.
    pub fn write(&self, batch: WriteBatch) -> Result<Ticket, Error> {
        let mut st = self.shared.lock();
        let limit = self.shared.config.max_batch_bytes;
        // Back-pressure: wait for room (or an empty buffer for a big batch).
        // Bounded: each writer batch empties the buffer or fails the store.
        while st.health == Health::Ok
            && !st.shutdown
            && !st.pending.is_empty()
            && st.pending.len() + batch.encoded_len() > limit
        {
            st = self
                .shared
                .space
                .wait(st)
                .unwrap_or_else(|p| p.into_inner());
        }
        st.check_health()?;
        st.validate(&batch)?;
        if batch.encoded_len() == 0 {
            // Nothing to write: durable as soon as everything before it is.
            return Ok(Ticket(st.next_seq));
        }
        st.next_seq += 1;
        let seq = st.next_seq;
        for op in batch.ops {
            apply_op(&mut st, op, seq);
        }
        self.shared.work.notify_one();
        Ok(Ticket(seq))
    }

    pub fn append(&self, group: GroupId, entries: Vec<Entry>) -> Result<Ticket, Error> {
        let mut b = WriteBatch::new();
        b.append(group, entries);
        self.write(b)
    }

    pub fn set_hard_state(&self, group: GroupId, hs: HardState) -> Result<Ticket, Error> {
        let mut b = WriteBatch::new();
        b.hard_state(group, hs);
        self.write(b)
    }

    /// Conflicting-suffix truncation: drops entries `>= from`, durably.
    pub fn truncate_from(&self, group: GroupId, from: LogIndex) -> Result<Ticket, Error> {
        let mut b = WriteBatch::new();
        b.truncate(group, from);
        self.write(b)
    }

    /// Compacts `group` through `index` (call once a snapshot through
    /// `(index, term)` is durable). Whole segments are reclaimed later.
    pub fn compact(&self, group: GroupId, index: LogIndex, term: Term) -> Result<Ticket, Error> {
        let mut b = WriteBatch::new();
        b.compact(group, index, term);
        self.write(b)
    }

    /// Highest durable ticket.
    pub fn durable_seq(&self) -> u64 {
        self.shared.lock().durable_seq
    }

    /// Whether `t` is durable (poll).
    pub fn is_durable(&self, t: Ticket) -> Result<bool, Error> {
        let st = self.shared.lock();
        if st.durable_seq >= t.0 {
            return Ok(true);
        }
        st.check_health().map(|_| false)
    }

    /// Blocks until `t` is durable, or the store failed.
    pub fn wait(&self, t: Ticket) -> Result<(), Error> {
        let mut st = self.shared.lock();
        // Bounded: the writer either advances durable_seq or fails the store.
        loop {
            if st.durable_seq >= t.0 {
                return Ok(());
            }
            if st.health != Health::Ok {
                return st.check_health();
            }
            if st.shutdown && st.pending.is_empty() && st.durable_seq < t.0 && st.next_seq < t.0 {
                return Err(Error::Closed);
            }
            st = self
                .shared
                .durable
                .wait(st)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Runs `cb` once `t` is durable (or the store failed): at once in this
    /// thread if already decided, else on the writer thread.
    pub fn on_durable(&self, t: Ticket, cb: impl FnOnce(Result<(), Error>) + Send + 'static) {
        let mut st = self.shared.lock();
        if st.durable_seq >= t.0 {
            drop(st);
            return cb(Ok(()));
        }
        if let Err(e) = st.check_health() {
            drop(st);
            return cb(Err(e));
        }
        st.callbacks.entry(t.0).or_default().push(Box::new(cb));
    }

    /// Group ids known to the store.
    pub fn groups(&self) -> Vec<GroupId> {
        let mut v: Vec<GroupId> = self.shared.lock().groups.keys().copied().collect();
        v.sort();
        v
    }

    pub fn first_index(&self, group: GroupId) -> Result<LogIndex, Error> {
        Ok(self.shared.lock().group(group)?.first_index())
    }

    pub fn last_index(&self, group: GroupId) -> Result<LogIndex, Error> {
        Ok(self.shared.lock().group(group)?.last_index())
    }

    /// Latest submitted hard state of `group`.
    pub fn hard_state(&self, group: GroupId) -> Result<HardState, Error> {
        Ok(self.shared.lock().group(group)?.hs)
    }

    /// Compaction point: `(snap_index, snap_term)`.
    pub fn compaction_point(&self, group: GroupId) -> Result<(LogIndex, Term), Error> {
        let st = self.shared.lock();
        let g = st.group(group)?;
        Ok((g.snap_index, g.snap_term))
    }

    /// Term of entry `index` (or of the compaction point).
    pub fn term(&self, group: GroupId, index: LogIndex) -> Result<Term, Error> {
        let st = self.shared.lock();
        let g = st.group(group)?;
        if let Some(t) = g.term(index) {
            return Ok(t);
        }
        Err(if index < g.snap_index {
            Error::Compacted
        } else {
            Error::Unavailable
        })
    }

    /// Entries `lo..hi` of `group`, stopping before the total payload exceeds
    /// `max_bytes` (but at least one entry). raft-rs `Storage::entries` shape.
    pub fn entries(
        &self,
        group: GroupId,
        lo: LogIndex,
        hi: LogIndex,
        max_bytes: Option<u64>,
    ) -> Result<Vec<Entry>, Error> {
        let plan = {
            let st = self.shared.lock();
            let g = st.group(group)?;
            if lo <= g.snap_index {
                return Err(Error::Compacted);
            }
            if hi > g.last_index().next() || lo > hi {
                return Err(Error::Unavailable);
            }
            plan_read(&st, g, lo, hi, max_bytes.unwrap_or(u64::MAX))?
        };
        plan.into_iter().map(|p| p.fetch(group)).collect()
    }

    /// Stops the writer after it wrote everything pending.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_all();
        self.shared.space.notify_all();
        if let Some(h) = self.writer.take() {
            let _ = h.join();
        }
        self.shared.durable.notify_all();
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One entry to return: bytes in hand or a location to read.
enum Planned {
    Ready(Entry),
    Disk {
        index: LogIndex,
        term: Term,
        file: Arc<dyn VfsFile>,
        offset: u64,
        len: u32,
    },
}

impl Planned {
    fn fetch(self, group: GroupId) -> Result<Entry, Error> {
        match self {
            Planned::Ready(e) => Ok(e),
            Planned::Disk {
                index,
                term,
                file,
                offset,
                len,
            } => {
                let mut buf = vec![0u8; RECORD_HEADER_LEN + len as usize];
                read_exact_at(&*file, &mut buf, offset)
                    .map_err(|e| Error::Failed(format!("read: {e}")))?;
                // Every read from disk is checked again: never serve bad bytes.
                match record::decode_record(&buf) {
                    Some((h, _))
                        if h.kind == RecordKind::Entry
                            && h.group == group
                            && h.index == index
                            && h.term == term =>
                    {
                        let data = Bytes::from(buf).slice(RECORD_HEADER_LEN..);
                        Ok(Entry { index, term, data })
                    }
                    _ => Err(Error::Corruption {
                        file: String::new(),
                        offset,
                        reason: "entry read back does not match its CRC or index",
                    }),
                }
            }
        }
    }
}

fn plan_read(
    st: &State,
    g: &GroupLog,
    lo: LogIndex,
    hi: LogIndex,
    max_bytes: u64,
) -> Result<Vec<Planned>, Error> {
    let mut out = Vec::new();
    let mut total = 0u64;
    let mut i = lo;
    // Bounded by hi - lo.
    while i < hi {
        let slot = g.slot(i).expect("validated range");
        let (p, size) = match &slot.loc {
            Loc::Pending { data, .. }
            | Loc::Disk {
                cache: Some(data), ..
            } => (
                Planned::Ready(Entry {
                    index: i,
                    term: slot.term,
                    data: data.clone(),
                }),
                data.len() as u64,
            ),
            Loc::Disk {
                seg,
                offset,
                len,
                cache: None,
            } => {
                let file = st
                    .segments
                    .get(seg)
                    .cloned()
                    .ok_or(Error::Failed(format!("segment {seg} not open")))?;
                (
                    Planned::Disk {
                        index: i,
                        term: slot.term,
                        file,
                        offset: *offset,
                        len: *len,
                    },
                    *len as u64,
                )
            }
            Loc::Missing => {
                return Err(Error::Corruption {
                    file: String::new(),
                    offset: 0,
                    reason: "missing entry",
                })
            }
        };
        if !out.is_empty() && total + size > max_bytes {
            break;
        }
        total += size;
        out.push(p);
        i = i.next();
    }
    Ok(out)
}

/// Applies one validated op to memory and encodes its records.
fn apply_op(st: &mut State, op: Op, seq: u64) {
    let group = op_group(&op);
    let st = &mut *st;
    let log = st.groups.entry(group).or_default();
    let mut removed: Vec<Slot> = Vec::new();
    match op {
        Op::Append { entries, .. } => {
            for e in entries {
                let rel = st.pending.len();
                record::encode_record(
                    &mut st.pending,
                    RecordKind::Entry,
                    group,
                    e.term,
                    e.index,
                    &e.data,
                );
                removed.extend(log.append(e.index, e.term, Loc::Pending { seq, data: e.data }));
                st.pending_ops.push(PendingOp::Entry {
                    group,
                    index: e.index,
                    seq,
                    rel,
                });
            }
        }
        Op::HardState { hs, .. } => {
            record::encode_record(
                &mut st.pending,
                RecordKind::HardState,
                group,
                hs.term,
                hs.commit,
                &hs.vote.get().to_le_bytes(),
            );
            log.hs = hs;
        }
        Op::Truncate { from, .. } => {
            let new_last_term = log.term(from.prev()).unwrap_or(Term::ZERO);
            record::encode_record(
                &mut st.pending,
                RecordKind::Truncate,
                group,
                new_last_term,
                from,
                &[],
            );
            removed = log.truncate_from(from);
        }
        Op::Compact { index, term, .. } => {
            removed = log.compact(index, term);
            // The record carries the outcome (suffix kept or not) so replay
            // never has to decide it from a term it may not know (docs 1.2).
            let last = log.last_index().get().to_le_bytes();
            record::encode_record(
                &mut st.pending,
                RecordKind::Compact,
                group,
                term,
                index,
                &last,
            );
            st.pending_ops.push(PendingOp::Compacted);
        }
    }
    st.pending_ops.push(PendingOp::Meta {
        group,
        meta: log.meta(),
    });
    for s in removed {
        if let Loc::Disk { cache: Some(d), .. } = s.loc {
            st.cache.bytes -= d.len();
        }
    }
}

/// Encodes the Checkpoint record of one group.
pub(crate) fn encode_checkpoint(out: &mut Vec<u8>, group: GroupId, m: &GroupMeta) {
    let mut p = [0u8; 40];
    p[0..8].copy_from_slice(&m.hs.term.get().to_le_bytes());
    p[8..16].copy_from_slice(&m.hs.vote.get().to_le_bytes());
    p[16..24].copy_from_slice(&m.hs.commit.get().to_le_bytes());
    p[24..32].copy_from_slice(&m.last_index.get().to_le_bytes());
    p[32..40].copy_from_slice(&m.last_term.get().to_le_bytes());
    record::encode_record(
        out,
        RecordKind::Checkpoint,
        group,
        m.snap_term,
        m.snap_index,
        &p,
    );
}

/// A batch taken from the pending buffer.
struct Batch {
    buf: Vec<u8>,
    ops: Vec<PendingOp>,
    seq_hi: u64,
}

impl Writer {
    fn run(mut self) {
        // Bounded: exits on shutdown (after draining) or when the store fails.
        while let Some(batch) = self.next_batch() {
            let result = self.write_batch(&batch);
            let ok = result.is_ok();
            self.finish_batch(batch, result);
            if !ok {
                return;
            }
        }
    }

    /// Waits for pending work (group commit: everything pending is taken).
    fn next_batch(&mut self) -> Option<Batch> {
        let sh = self.shared.clone();
        let mut st = sh.lock();
        while st.pending.is_empty() {
            if st.shutdown {
                return None;
            }
            st = sh.work.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        let fixed = sh.config.max_batch_wait;
        // Adaptive group commit: the submitters released by the previous
        // batch are about to resubmit; wait for as many of them as were in
        // it, for at most half an fsync (capped), so batches do not alternate
        // between "one record" and "everyone else".
        let adaptive = (self.last_sync / 2).min(MAX_ADAPTIVE_WAIT);
        let wait = fixed.max(adaptive);
        let deadline = Instant::now() + wait;
        // Bounded by the deadline.
        while !st.shutdown
            && st.pending.len() < sh.config.max_batch_bytes
            && (st.next_seq - self.last_seq_hi < self.last_subs || !fixed.is_zero())
        {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = sh
                .work
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let buf = std::mem::take(&mut st.pending);
        let ops = std::mem::take(&mut st.pending_ops);
        let seq_hi = st.next_seq;
        self.last_subs = seq_hi - self.last_seq_hi;
        self.last_seq_hi = seq_hi;
        sh.space.notify_all();
        Some(Batch { buf, ops, seq_hi })
    }

    /// One write + one fdatasync (+ a directory fsync when a segment was
    /// created). Returns the segment and offset the batch landed at.
    fn write_batch(&mut self, b: &Batch) -> Result<(u64, u64), std::io::Error> {
        if self.seg_len >= self.shared.config.segment_bytes {
            return self.roll_and_write(b);
        }
        let base = self.seg_len;
        self.write_records(&b.buf)?;
        let t = Instant::now();
        self.seg_file.sync()?;
        self.last_sync = t.elapsed();
        self.update_view(&b.ops, self.seg_seq);
        Ok((self.seg_seq, base))
    }

    /// Writes records at the end of the active segment. Small batches that
    /// reach past the preallocated zeros also write `prealloc_bytes` of zeros
    /// after themselves (same fdatasync): later batches then overwrite
    /// allocated blocks, and their fdatasync needs no metadata (file size)
    /// journal commit — several times cheaper on ext4 (docs 2.1). Recovery
    /// treats an all-zero tail like a torn tail (docs 4).
    fn write_records(&mut self, buf: &[u8]) -> Result<(), std::io::Error> {
        debug_assert!(buf.len() <= MAX_TORN_TAIL);
        let end = self.seg_len + buf.len() as u64;
        self.seg_file.write_at(buf, self.seg_len)?;
        let pre = self.shared.config.prealloc_bytes;
        if end > self.allocated {
            if pre > 0 && (buf.len() as u64) < pre / PREALLOC_SMALL_FRACTION {
                let zeros = vec![0u8; pre as usize];
                self.seg_file.write_at(&zeros, end)?;
                self.allocated = end + pre;
            } else {
                self.allocated = end;
            }
        }
        self.seg_len = end;
        Ok(())
    }

    /// Docs 2.1: cut the old segment's preallocated zeros (so a sealed
    /// segment ends exactly at its last record) and fdatasync it; create the
    /// next segment, write header + checkpoints and fdatasync them, write the
    /// batch and fdatasync it, fsync the directory. The header is synced
    /// before any record so that a bad header followed by valid records can
    /// be told apart from a torn creation.
    fn roll_and_write(&mut self, b: &Batch) -> Result<(u64, u64), std::io::Error> {
        if self.allocated > self.seg_len {
            self.seg_file.set_len(self.seg_len)?;
            self.seg_file.sync()?;
            self.allocated = self.seg_len;
        }
        let seq = self.seg_seq + 1;
        let prefix = self.segment_prefix(seq);
        let base = prefix.len() as u64;
        assert!(
            prefix.len() <= MAX_TORN_TAIL && b.buf.len() <= MAX_TORN_TAIL,
            "one write must fit the torn-tail bound"
        );
        let file = self.shared.vfs.create(&segment_name(seq))?;
        file.write_at(&prefix, 0)?;
        file.sync()?;
        self.shared.lock().segments.insert(seq, file.clone());
        self.seg_seq = seq;
        self.seg_file = file;
        self.seg_len = base;
        self.allocated = base;
        self.write_records(&b.buf)?;
        self.seg_file.sync()?;
        self.shared.vfs.sync_dir()?;
        self.update_view(&b.ops, seq);
        Ok((seq, base))
    }

    /// Header + one Checkpoint per group, as written so far.
    pub(crate) fn segment_prefix(&self, seq: u64) -> Vec<u8> {
        let mut buf = record::encode_segment_header(seq).to_vec();
        let mut groups: Vec<_> = self.view.iter().collect();
        groups.sort_by_key(|(g, _)| **g);
        for (g, m) in groups {
            encode_checkpoint(&mut buf, *g, m);
        }
        buf
    }

    /// Applies a written batch to the writer's view (metadata for
    /// checkpoints, entry runs for reclaim), in record order.
    fn update_view(&mut self, ops: &[PendingOp], seg: u64) {
        for op in ops {
            match op {
                PendingOp::Entry { group, index, .. } => {
                    push_run(self.runs.entry(*group).or_default(), *index, seg)
                }
                PendingOp::Meta { group, meta } => {
                    self.view.insert(*group, *meta);
                    trim_runs(
                        self.runs.entry(*group).or_default(),
                        meta.snap_index,
                        meta.last_index,
                    );
                }
                PendingOp::Compacted => {}
            }
        }
    }

    /// Publishes the outcome: locations, watermark, waiters, callbacks; then
    /// reclaims segments if this batch rolled or compacted.
    fn finish_batch(&mut self, b: Batch, result: Result<(u64, u64), std::io::Error>) {
        let sh = self.shared.clone();
        let mut st = sh.lock();
        let (callbacks, outcome) = match &result {
            Ok((seg, base)) => {
                place_entries(&mut st, &b.ops, *seg, *base, sh.config.cache_bytes);
                st.durable_seq = b.seq_hi;
                let later = st.callbacks.split_off(&(b.seq_hi + 1));
                (std::mem::replace(&mut st.callbacks, later), Ok(()))
            }
            Err(e) => {
                // No retry, ever (docs 2.2): the store is failed or out of space.
                st.health = io_health(e);
                let err = st.check_health().expect_err("unhealthy");
                (std::mem::take(&mut st.callbacks), Err(err))
            }
        };
        let reclaim = result.is_ok()
            && (b.ops.iter().any(|o| matches!(o, PendingOp::Compacted)) || st.segments.len() > 1);
        drop(st);
        sh.durable.notify_all();
        sh.space.notify_all();
        for cb in callbacks.into_values().flatten() {
            cb(outcome.clone());
        }
        if reclaim {
            if let Err(e) = self.reclaim() {
                let mut st = sh.lock();
                st.health = io_health(&e);
                drop(st);
                sh.durable.notify_all();
            }
        }
    }

    /// Docs 5.3: removes every segment older than the oldest one a group
    /// still needs, in increasing order, then fsyncs the directory.
    fn reclaim(&mut self) -> Result<(), std::io::Error> {
        let needed = self
            .runs
            .values()
            .filter_map(|r| r.front().map(|r| r.seg))
            .min()
            .unwrap_or(u64::MAX)
            .min(self.seg_seq);
        let victims: Vec<u64> = self
            .shared
            .lock()
            .segments
            .range(..needed)
            .map(|(s, _)| *s)
            .collect();
        if victims.is_empty() {
            return Ok(());
        }
        for s in &victims {
            self.shared.vfs.remove(&segment_name(*s))?;
            self.shared.lock().segments.remove(s);
        }
        self.shared.vfs.sync_dir()
    }
}

/// Turns the batch's pending entries into disk locations and caches them.
fn place_entries(st: &mut State, ops: &[PendingOp], seg: u64, base: u64, cache_cap: usize) {
    let st = &mut *st;
    // In reverse: if one submission wrote the same index twice, its last
    // record is the live one; the earlier ones then find the slot placed.
    for op in ops.iter().rev() {
        let PendingOp::Entry {
            group,
            index,
            seq,
            rel,
        } = op
        else {
            continue;
        };
        let Some(slot) = st.groups.get_mut(group).and_then(|g| g.slot_mut(*index)) else {
            continue;
        };
        let Loc::Pending { seq: s, data } = &slot.loc else {
            continue;
        };
        if s != seq {
            continue; // overwritten by a later submission: that one places itself
        }
        let data = data.clone();
        let len = data.len() as u32;
        st.cache.bytes += data.len();
        slot.loc = Loc::Disk {
            seg,
            offset: base + *rel as u64,
            len,
            cache: Some(data),
        };
        st.cache.queue.push_back((*group, *index));
    }
    evict(st, cache_cap);
}

/// FIFO eviction down to the cache bounds (bytes and queue length).
fn evict(st: &mut State, cache_cap: usize) {
    // Bounded: each iteration pops one queue element.
    while st.cache.bytes > cache_cap || st.cache.queue.len() > MAX_CACHE_QUEUE {
        let Some((g, i)) = st.cache.queue.pop_front() else {
            break;
        };
        if let Some(Slot {
            loc: Loc::Disk { cache, .. },
            ..
        }) = st.groups.get_mut(&g).and_then(|l| l.slot_mut(i))
        {
            if let Some(d) = cache.take() {
                st.cache.bytes -= d.len();
            }
        }
    }
}

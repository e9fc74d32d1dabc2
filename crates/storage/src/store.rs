//! The store: the multi-group write path (submit → writer thread → sync
//! thread, one fdatasync per sync job), durability notification, and reads.
//!
//! Why one writer and one sync thread: group commit, pipelined. While the
//! sync thread runs batch N's fdatasync, callers of every group keep encoding
//! records into the shared pending buffer and the writer thread keeps moving
//! them into the file (batch N+1, `write(2)` only); when N's fdatasync
//! returns, the sync thread reports N durable and at once starts the
//! fdatasync that covers everything written meanwhile. The disk never waits
//! for wakeups, callbacks or the next write, and the fsync rate stays
//! constant while the record rate grows with the number of writers. Callers
//! never touch files. At most two sync jobs are unsynced at any moment (the
//! one syncing, the one filling), which is what lets recovery bound a torn
//! tail (docs sections 2 and 4); the writer module has the details.
//!
//! Durability waits do not touch the store's big lock: the durable watermark
//! is an atomic and waiters sleep on one of `WAIT_SLOTS` condvars picked by
//! their ticket, so one sync job wakes only the callers it made durable.
//! Plain std threads and condvars: no async runtime is needed, and the tokio
//! server can bridge with `on_durable` callbacks.

use crate::group::{GroupLog, GroupMeta, HardState, Loc, Slot};
use crate::record::{self, RecordKind, MAX_RECORD_PAYLOAD, MAX_TORN_TAIL, RECORD_HEADER_LEN};
use crate::vfs::{read_exact_at, Vfs, VfsFile};
use crate::writer::{Job, Writer};
use crate::Error;
use bytes::Bytes;
use slotraft_types::{GroupId, LogIndex, Term};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Default size after which the writer starts a new segment.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// Default bound on pending (submitted, unwritten) bytes: submitters block
/// above it. It also bounds one sync job (the writes one fdatasync covers).
pub const DEFAULT_MAX_BATCH_BYTES: usize = 4 << 20;
/// Hard cap for `Config::max_batch_bytes` (two sync jobs must fit in
/// MAX_TORN_TAIL, see the assertion below).
pub const MAX_BATCH_BYTES_LIMIT: usize = 16 << 20;
/// Largest encoded size of one `WriteBatch`.
pub const MAX_SUBMIT_BYTES: usize = 2 * MAX_RECORD_PAYLOAD;
/// Default extra time the sync thread waits for a small job to grow before
/// its fdatasync. Zero: it syncs what was written during the previous
/// fdatasync (group commit without a timer).
pub const DEFAULT_MAX_BATCH_WAIT: Duration = Duration::ZERO;
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
/// Condvars durability waiters are spread over (by ticket). A sync job wakes
/// only the slots of the tickets it covered, so callers of the next job keep
/// sleeping; 64 keeps collisions rare at 64 in-flight callers.
pub const WAIT_SLOTS: usize = 64;
/// Encoded size of one Checkpoint record.
pub(crate) const CHECKPOINT_RECORD_LEN: usize = RECORD_HEADER_LEN + 40;
/// Largest pending buffer (one batch): a full buffer, or one oversized
/// submission into an empty buffer.
pub(crate) const MAX_BATCH_LEN: usize = if MAX_SUBMIT_BYTES > MAX_BATCH_BYTES_LIMIT {
    MAX_SUBMIT_BYTES
} else {
    MAX_BATCH_BYTES_LIMIT
};

// Docs 4: the unsynced bytes at a crash are at most two sync jobs (the one
// being fdatasynced and the one being filled), each at most one batch bound;
// or, at a segment roll (pipeline drained), header + checkpoints + one batch.
const _: () = assert!(2 * MAX_BATCH_LEN + 4096 <= MAX_TORN_TAIL);
const _: () = assert!(
    record::SEGMENT_HEADER_LEN + MAX_GROUPS * CHECKPOINT_RECORD_LEN + MAX_BATCH_LEN + 4096
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

/// A durability callback, run by the WAL's writer or sync thread, or by a
/// caller of `wait` that wrote the batch itself (keep it short, never block).
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
    pub(crate) queue: VecDeque<(GroupId, LogIndex)>,
    pub(crate) bytes: usize,
}

pub(crate) struct State {
    pub groups: HashMap<GroupId, GroupLog>,
    pub pending: Vec<u8>,
    pub pending_ops: Vec<PendingOp>,
    /// Highest ticket handed out.
    pub next_seq: u64,
    /// Highest durable ticket (mirrored in `Shared::durable_seq` for waiters).
    pub durable_seq: u64,
    pub health: Health,
    /// Durability callbacks by ticket. Bounded: only tickets not yet durable
    /// are kept, and those are at most the submissions in the pending buffer
    /// (bounded by `max_batch_bytes`, each at least one record) plus the two
    /// sync jobs in flight (each bounded the same way).
    pub callbacks: BTreeMap<u64, Vec<Callback>>,
    /// Open segments, for reads.
    pub segments: BTreeMap<u64, Arc<dyn VfsFile>>,
    pub cache: Cache,
    pub shutdown: bool,
    pub snapshots: HashMap<GroupId, crate::snapshot::SnapshotMeta>,
    /// The sync job being filled: written, not yet handed to fdatasync
    /// (docs 2). At most one; the writer waits when it is full.
    pub job: Option<Job>,
    /// The sync thread is running an fdatasync (a second job in flight), or
    /// an inline caller is (`inline`; then it is the only job).
    pub syncing: bool,
    /// The writer thread sleeps on `work` (submitters notify only then).
    pub writer_parked: bool,
    /// A waiting caller is writing and syncing the pending records itself
    /// (`writer::try_inline`, holding the writer core); the writer thread
    /// stays parked until it is done.
    pub inline: bool,
    /// The writer thread sleeps in `drain` (waits for the sync in flight to
    /// be reported), so a publish must notify it even when it has no
    /// wakeups to hand over.
    pub writer_draining: bool,
    /// The sync thread sleeps on `sync_work`.
    pub syncer_parked: bool,
    /// The writer thread exited (the sync thread exits once `job` is empty).
    pub writer_done: bool,
    /// Submitters sleeping on `space` (notified only when there are some).
    pub space_waiters: usize,
    /// Tickets made durable whose sleeping waiters are not woken yet, and
    /// their callbacks: the sync thread leaves this to the writer thread so
    /// its next fdatasync starts without waiting for wakeups (writer docs).
    /// Bounded like `callbacks`.
    pub wake: Option<(u64, u64)>,
    pub ready: Vec<Callback>,
}

impl State {
    pub(crate) fn new(
        groups: HashMap<GroupId, GroupLog>,
        segments: BTreeMap<u64, Arc<dyn VfsFile>>,
    ) -> State {
        State {
            groups,
            pending: Vec::new(),
            pending_ops: Vec::new(),
            next_seq: 0,
            durable_seq: 0,
            health: Health::Ok,
            callbacks: BTreeMap::new(),
            segments,
            cache: Cache::default(),
            shutdown: false,
            snapshots: HashMap::new(),
            job: None,
            syncing: false,
            writer_parked: false,
            writer_draining: false,
            inline: false,
            syncer_parked: false,
            writer_done: false,
            space_waiters: 0,
            wake: None,
            ready: Vec::new(),
        }
    }
}

/// One of the `WAIT_SLOTS` places durability waiters sleep.
#[derive(Default)]
pub(crate) struct WaitSlot {
    lock: Mutex<()>,
    cv: Condvar,
}

pub(crate) struct Shared {
    pub vfs: Arc<dyn Vfs>,
    pub config: Config,
    pub state: Mutex<State>,
    /// Signalled for the writer thread: something is pending, the sync job
    /// has room again, a sync finished, or shutdown.
    pub work: Condvar,
    /// Signalled for the sync thread: a job was written, or shutdown.
    pub sync_work: Condvar,
    /// Signalled when pending space frees up (submitters wait).
    pub space: Condvar,
    /// Highest durable ticket, readable without the state lock. Only the
    /// thread that publishes a sync job raises it, after that job's fsync.
    pub durable_seq: AtomicU64,
    /// Set when the store failed, ran out of space or finished closing:
    /// waiters then decide under the state lock.
    pub stopped: AtomicBool,
    /// Durability waiters, by `ticket % WAIT_SLOTS`.
    pub waiters: Vec<WaitSlot>,
}

impl Shared {
    pub(crate) fn new(vfs: Arc<dyn Vfs>, config: Config, state: State) -> Shared {
        Shared {
            vfs,
            config,
            state: Mutex::new(state),
            work: Condvar::new(),
            sync_work: Condvar::new(),
            space: Condvar::new(),
            durable_seq: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            waiters: (0..WAIT_SLOTS).map(|_| WaitSlot::default()).collect(),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn slot(&self, ticket: u64) -> &WaitSlot {
        &self.waiters[(ticket % WAIT_SLOTS as u64) as usize]
    }

    /// Raises the atomic durable watermark to `hi`. Called under the state
    /// lock together with `State::durable_seq`, so two publishers (the sync
    /// thread, the writer at a roll) can never store out of order.
    pub(crate) fn raise_durable(&self, hi: u64) {
        let old = self.durable_seq.fetch_max(hi, Ordering::AcqRel);
        debug_assert!(old <= hi, "the durable watermark never goes backwards");
    }

    /// Wakes the waiters of tickets `lo+1..=hi` only (the watermark already
    /// covers them): one notify per slot touched.
    pub(crate) fn wake_durable(&self, lo: u64, hi: u64) {
        debug_assert!(lo <= hi && self.durable_seq.load(Ordering::Acquire) >= hi);
        let n = (hi - lo).min(WAIT_SLOTS as u64);
        for t in lo + 1..=lo + n {
            let slot = self.slot(t);
            // Taking the slot lock orders this notify after any waiter's
            // check of the watermark (no lost wakeup).
            drop(slot.lock.lock().unwrap_or_else(|p| p.into_inner()));
            slot.cv.notify_all();
        }
    }

    /// After a failure or a close: every waiter re-checks under the state lock.
    pub(crate) fn wake_all_stopped(&self) {
        self.stopped.store(true, Ordering::Release);
        for slot in &self.waiters {
            drop(slot.lock.lock().unwrap_or_else(|p| p.into_inner()));
            slot.cv.notify_all();
        }
        self.space.notify_all();
        self.work.notify_all();
        self.sync_work.notify_all();
    }

    /// Enters the failed / no-space state (docs 2.2; never left, no retry)
    /// and fails every callback not yet durable. Returns the error reported.
    pub(crate) fn fail(&self, h: Health) -> Error {
        let mut st = self.lock();
        if st.health == Health::Ok {
            st.health = h;
        }
        let err = st.check_health().expect_err("unhealthy");
        let callbacks = std::mem::take(&mut st.callbacks);
        let ready = std::mem::take(&mut st.ready);
        st.wake = None;
        drop(st);
        self.wake_all_stopped();
        for cb in ready {
            cb(Ok(())); // durable before the failure
        }
        for cb in callbacks.into_values().flatten() {
            cb(Err(err.clone()));
        }
        err
    }
}

/// The node's storage: one WAL for all groups, plus snapshots.
pub struct Store {
    pub(crate) shared: Arc<Shared>,
    /// The writer's state (active segment, written view): held by the
    /// writer thread while it writes, or by a lone waiting caller that
    /// writes and syncs itself (`writer::try_inline`).
    core: Arc<Mutex<Writer>>,
    writer: Option<JoinHandle<()>>,
    syncer: Option<JoinHandle<()>>,
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

pub(crate) fn io_health(e: &std::io::Error) -> Health {
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
        let sh = shared.clone();
        let syncer = std::thread::Builder::new()
            .name("slotraft-wal-sync".into())
            .spawn(move || crate::writer::run_syncer(sh))
            .expect("spawn WAL sync thread");
        let core = Arc::new(Mutex::new(writer));
        let (sh, c) = (shared.clone(), core.clone());
        let writer = std::thread::Builder::new()
            .name("slotraft-wal".into())
            .spawn(move || crate::writer::run_writer(sh, c))
            .expect("spawn WAL writer thread");
        Store {
            shared,
            core,
            writer: Some(writer),
            syncer: Some(syncer),
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
            st.space_waiters += 1;
            st = self
                .shared
                .space
                .wait(st)
                .unwrap_or_else(|p| p.into_inner());
            st.space_waiters -= 1;
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
        // One wakeup at most: a busy writer finds the records on its own.
        if st.writer_parked {
            self.shared.work.notify_one();
        }
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
        self.shared.durable_seq.load(Ordering::Acquire)
    }

    /// Whether `t` is durable (poll).
    pub fn is_durable(&self, t: Ticket) -> Result<bool, Error> {
        if self.durable_seq() >= t.0 {
            return Ok(true);
        }
        let st = self.shared.lock();
        if st.durable_seq >= t.0 {
            return Ok(true);
        }
        st.check_health().map(|_| false)
    }

    /// Blocks until `t` is durable, or the store failed. Sleeps on the wait
    /// slot of `t` without holding the state lock (module docs). A caller
    /// waiting alone on an idle pipeline writes and syncs its records itself
    /// instead (`writer::try_inline`: two thread wakeups less).
    pub fn wait(&self, t: Ticket) -> Result<(), Error> {
        let sh = &*self.shared;
        if self.durable_seq() >= t.0 {
            return Ok(());
        }
        // One state lock for both: decided, or (lone caller) done inline.
        let st = sh.lock();
        if let Some(r) = self.decided(&st, t) {
            return r;
        }
        if crate::writer::try_inline(sh, &self.core, t.0, st) {
            if let Some(r) = self.wait_decided(t) {
                return r;
            }
        }
        let slot = sh.slot(t.0);
        let mut guard = slot.lock.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: the sync thread either raises the watermark past `t` (and
        // notifies this slot) or the store stops (and notifies every slot).
        loop {
            if sh.durable_seq.load(Ordering::Acquire) >= t.0 {
                return Ok(());
            }
            if sh.stopped.load(Ordering::Acquire) {
                drop(guard);
                return self.wait_decided(t).unwrap_or(Err(Error::Closed));
            }
            guard = slot.cv.wait(guard).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// `wait`'s decision under the state lock, if it need not sleep.
    fn wait_decided(&self, t: Ticket) -> Option<Result<(), Error>> {
        if self.durable_seq() >= t.0 {
            return Some(Ok(()));
        }
        let st = self.shared.lock();
        self.decided(&st, t)
    }

    /// `wait_decided` with the state lock held.
    fn decided(&self, st: &State, t: Ticket) -> Option<Result<(), Error>> {
        if st.durable_seq >= t.0 {
            return Some(Ok(()));
        }
        if st.health != Health::Ok {
            return Some(st.check_health());
        }
        let closed = self.shared.stopped.load(Ordering::Acquire);
        if (st.shutdown && st.next_seq < t.0) || closed {
            return Some(Err(Error::Closed));
        }
        None
    }

    /// Runs `cb` once `t` is durable (or the store failed): at once in this
    /// thread if already decided, else on a WAL thread (the writer, or the
    /// sync thread when nothing is filling), once. No order between the
    /// callbacks of different tickets is promised. `cb` must not block on
    /// this store.
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

    /// WAL record bytes (payload + record header) of `group`'s live log
    /// (submitted, not compacted): the input of a log-compaction policy
    /// that weighs the log against the state's snapshot size.
    pub fn log_bytes(&self, group: GroupId) -> Result<u64, Error> {
        Ok(self.shared.lock().group(group)?.log_bytes())
    }

    /// Size of a WAL segment (the unit in which the WAL is reclaimed).
    pub fn segment_bytes(&self) -> u64 {
        self.shared.config.segment_bytes
    }

    /// Bytes of WAL the groups' live entries keep: the segments from the
    /// oldest one holding a written live entry through the active one, each
    /// counted at its full size (segments are preallocated). Taken from the
    /// same view as [`Self::oldest_pinning_group`], so a submitted
    /// compaction shrinks both at once, before the writer removes the
    /// files: a caller deciding by both never acts twice on one pin.
    pub fn wal_bytes(&self) -> u64 {
        let st = self.shared.lock();
        let Some(&active) = st.segments.keys().next_back() else {
            return 0;
        };
        let oldest = st
            .groups
            .values()
            .filter_map(GroupLog::first_segment)
            .min()
            .unwrap_or(active)
            .min(active);
        (active - oldest + 1) * self.shared.config.segment_bytes
    }

    /// The group whose oldest live entry lies in the oldest WAL segment any
    /// group needs (lowest group id on a tie): the one whose compaction
    /// lets old segments be reclaimed. A group whose log is small but old
    /// (an idle shard, the metadata group) keeps every later segment of the
    /// shared WAL on disk until it compacts. `None`: no live entry written.
    pub fn oldest_pinning_group(&self) -> Option<GroupId> {
        let st = self.shared.lock();
        st.groups
            .iter()
            .filter_map(|(g, log)| Some((log.first_segment()?, *g)))
            .min()
            .map(|(_, g)| g)
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
        self.shared.sync_work.notify_all();
        self.shared.space.notify_all();
        if let Some(h) = self.writer.take() {
            let _ = h.join();
        }
        if let Some(h) = self.syncer.take() {
            let _ = h.join();
        }
        self.shared.wake_all_stopped();
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

//! The WAL's two-stage write pipeline: the writer thread (take the pending
//! records, `write(2)` them at the end of the active segment) and the sync
//! thread (fdatasync, then report durable).
//!
//! Why two stages: with one thread, the disk idles while that thread wakes
//! the callers of the batch it just synced, runs their callbacks, takes the
//! next batch and writes it; on a fast disk (≈100-250 µs per fdatasync) that
//! CPU work is as long as the fsync itself. Here the sync thread starts the
//! next fdatasync as soon as the previous one returned and its callers are
//! told, while the writer keeps moving newly submitted records into the file
//! during the fdatasync.
//!
//! Invariants (docs 2 and 4):
//! - A *sync job* is the set of writes one fdatasync covers. The sync thread
//!   takes the filling job only after the previous fdatasync returned, so at
//!   most two jobs are unsynced at any time: the one being synced and the one
//!   being filled. Each is at most `max(max_batch_bytes, MAX_SUBMIT_BYTES)`
//!   bytes (a job grows only while it stays under `max_batch_bytes`), so the
//!   unsynced tail of the log is at most `2 * MAX_BATCH_LEN <= MAX_TORN_TAIL`.
//! - A job is reported durable (watermark, waiters, callbacks) only after
//!   ITS fdatasync returned Ok, which began after every write of the job had
//!   returned. Jobs are reported in order, so the watermark only grows.
//! - Whatever needs "written == on disk" (a segment roll: checkpoints;
//!   reclaim: which old segments are dead) first *drains* the pipeline: waits
//!   until no job is filling or syncing. Those are rare (a roll per
//!   `segment_bytes`, a reclaim after compaction).
//! - A failed fdatasync or write stops both stages for good (docs 2.2); a
//!   write error first lets the job already syncing report its own outcome.
//!
//! Lone caller (`try_inline`): when the pipeline is idle and the only
//! pending records are those of the caller now in `Store::wait`, that caller
//! writes and fdatasyncs them itself, holding the writer core (the state
//! above, behind a mutex the writer thread holds only while writing): no
//! thread wakeup between submit and durable, which is the node driver's
//! one-thread write-then-wait round. It is a one-job pipeline, so every
//! invariant above holds. And when the sync thread reports a job while none
//! is filling, it wakes the waiters itself (no next fdatasync to start).

use crate::group::{GroupMeta, Loc, Slot};
use crate::record::{self, RecordKind};
use crate::store::{
    io_health, segment_name, PendingOp, Shared, State, MAX_BATCH_LEN, MAX_CACHE_QUEUE,
    PREALLOC_SMALL_FRACTION,
};
use crate::vfs::VfsFile;
use slotraft_types::{GroupId, LogIndex};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Most writes merged into one sync job (bounds its bookkeeping).
pub(crate) const MAX_JOB_WRITES: usize = 1024;
/// A pending buffer is recycled (its allocation kept) up to this capacity.
pub(crate) const MAX_SPARE_BUF_BYTES: usize = 8 << 20;

/// Writes covered by one fdatasync, all in one segment.
pub(crate) struct Job {
    pub file: Arc<dyn VfsFile>,
    pub seg: u64,
    /// Per write: where it started in the segment, and its pending ops (entry
    /// offsets relative to that start).
    pub parts: Vec<(u64, Vec<PendingOp>)>,
    pub bytes: usize,
    /// Highest ticket whose records are in this job or an earlier one.
    pub seq_hi: u64,
}

/// A batch taken from the pending buffer (one write).
struct Batch {
    buf: Vec<u8>,
    ops: Vec<PendingOp>,
    seq_hi: u64,
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
    /// not yet make the old entries dead on disk (docs 5.3). Written is not
    /// yet synced either: reclaim drains the pipeline first.
    pub runs: HashMap<GroupId, VecDeque<Run>>,
    /// Recycled allocation swapped in for the pending buffer at each take.
    spare: Vec<u8>,
    /// Capacity hint for the next pending-ops vector (last batch's length).
    ops_hint: usize,
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

/// Whether a write of `n` bytes may join the filling job (docs 2: a job
/// grows only while it stays under `max_batch_bytes`).
fn job_has_room(st: &State, n: usize, limit: usize) -> bool {
    match &st.job {
        None => true,
        Some(j) => j.bytes + n <= limit && j.parts.len() < MAX_JOB_WRITES,
    }
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        seg_seq: u64,
        seg_file: Arc<dyn VfsFile>,
        view: HashMap<GroupId, GroupMeta>,
        runs: HashMap<GroupId, VecDeque<Run>>,
    ) -> Writer {
        Writer {
            shared,
            seg_seq,
            seg_file,
            seg_len: 0,
            allocated: 0,
            view,
            runs,
            spare: Vec::new(),
            ops_hint: 0,
        }
    }

    /// Takes the whole pending buffer as one batch, if there is one, the
    /// store is healthy and the filling job has room for it.
    fn take_batch(&mut self, st: &mut MutexGuard<'_, State>) -> Option<Batch> {
        let sh = &*self.shared;
        if st.health != crate::store::Health::Ok
            || st.pending.is_empty()
            || !job_has_room(st, st.pending.len(), sh.config.max_batch_bytes)
        {
            return None;
        }
        let mut buf = std::mem::take(&mut self.spare);
        std::mem::swap(&mut st.pending, &mut buf);
        let ops = std::mem::replace(&mut st.pending_ops, Vec::with_capacity(self.ops_hint));
        self.ops_hint = ops.len();
        let seq_hi = st.next_seq;
        if st.space_waiters > 0 {
            sh.space.notify_all();
        }
        debug_assert!(buf.len() <= MAX_BATCH_LEN, "pending buffer over its bound");
        Some(Batch { buf, ops, seq_hi })
    }

    /// The lone-caller path (`try_inline`): writes `b` and fdatasyncs it on
    /// the calling thread, then reports it. The caller holds the writer core
    /// and checked that nothing was filling or syncing, so this is the only
    /// unsynced write (docs 2: at most two jobs) and jobs stay in order.
    /// Never rolls (the caller checked there is room in the segment).
    fn write_inline(&mut self, mut b: Batch) -> Result<(), std::io::Error> {
        debug_assert!(self.seg_len < self.shared.config.segment_bytes);
        let base = self.seg_len;
        self.write_records(&b.buf)?;
        self.update_view(&b.ops, self.seg_seq);
        let job = Job {
            file: self.seg_file.clone(),
            seg: self.seg_seq,
            bytes: b.buf.len(),
            parts: vec![(base, std::mem::take(&mut b.ops))],
            seq_hi: b.seq_hi,
        };
        self.seg_file.sync()?;
        publish(&self.shared, job, true);
        b.buf.clear();
        if b.buf.capacity() <= MAX_SPARE_BUF_BYTES {
            self.spare = b.buf;
        }
        {
            // Nobody else writes while the caller holds the core and `inline`
            // is set: the drain inside a reclaim returns at once.
            let st = self.shared.lock();
            debug_assert!(st.job.is_none() && !st.syncing);
        }
        self.maybe_reclaim()
    }

    /// Writes one batch: into the filling job, or (segment full) through a
    /// drained roll. Then reclaims dead segments if there are any.
    fn handle(&mut self, mut b: Batch) -> Result<(), std::io::Error> {
        if self.seg_len >= self.shared.config.segment_bytes {
            if !self.drain() {
                return Ok(()); // failed meanwhile: nothing more is reported
            }
            let (seg, base) = self.roll_and_write(&b)?;
            self.update_view(&b.ops, seg);
            let job = Job {
                file: self.seg_file.clone(),
                seg,
                bytes: b.buf.len(),
                parts: vec![(base, std::mem::take(&mut b.ops))],
                seq_hi: b.seq_hi,
            };
            // Drained and synced by the roll: this thread reports it.
            publish(&self.shared, job, true);
        } else {
            let base = self.seg_len;
            self.write_records(&b.buf)?;
            self.update_view(&b.ops, self.seg_seq);
            self.enqueue(base, &mut b);
        }
        b.buf.clear();
        if b.buf.capacity() <= MAX_SPARE_BUF_BYTES {
            self.spare = b.buf;
        }
        self.maybe_reclaim()
    }

    /// Adds a written batch to the filling job and wakes the sync thread if
    /// it sleeps (one notify per write at most, none while it syncs).
    fn enqueue(&mut self, base: u64, b: &mut Batch) {
        let sh = &self.shared;
        let mut st = sh.lock();
        let ops = std::mem::take(&mut b.ops);
        match &mut st.job {
            Some(j) => {
                assert_eq!(j.seg, self.seg_seq, "a job never spans segments");
                j.parts.push((base, ops));
                j.bytes += b.buf.len();
                j.seq_hi = b.seq_hi;
            }
            None => {
                st.job = Some(Job {
                    file: self.seg_file.clone(),
                    seg: self.seg_seq,
                    parts: vec![(base, ops)],
                    bytes: b.buf.len(),
                    seq_hi: b.seq_hi,
                })
            }
        }
        debug_assert!(st.job.as_ref().is_some_and(|j| j.bytes <= MAX_BATCH_LEN));
        if st.syncer_parked {
            sh.sync_work.notify_one();
        }
    }

    /// Waits until nothing is filling or syncing: everything written is
    /// synced and reported. False if the store failed meanwhile.
    fn drain(&mut self) -> bool {
        let sh = self.shared.clone();
        let mut st = sh.lock();
        // Bounded: the sync thread empties the job and finishes its fdatasync
        // or fails the store.
        loop {
            st = flush_wakes(&sh, st);
            if st.health != crate::store::Health::Ok {
                return false;
            }
            if st.job.is_none() && !st.syncing {
                return true;
            }
            if st.syncer_parked {
                sh.sync_work.notify_one();
            }
            st.writer_parked = true;
            st.writer_draining = true;
            st = sh.work.wait(st).unwrap_or_else(|p| p.into_inner());
            st.writer_parked = false;
            st.writer_draining = false;
        }
    }

    /// Writes records at the end of the active segment. Small batches that
    /// reach past the preallocated zeros also write `prealloc_bytes` of zeros
    /// after themselves (covered by the same job's fdatasync): later batches
    /// then overwrite allocated blocks, and their fdatasync needs no metadata
    /// (file size) journal commit — several times cheaper on ext4 (docs 2.1).
    /// Recovery treats an all-zero tail like a torn tail (docs 4).
    fn write_records(&mut self, buf: &[u8]) -> Result<(), std::io::Error> {
        assert!(buf.len() <= MAX_BATCH_LEN, "one write over the batch bound");
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

    /// Docs 2.1 (runs drained: nothing of the old segment is unsynced but
    /// what this cut syncs): cut the old segment's preallocated zeros (so a
    /// sealed segment ends exactly at its last record) and fdatasync it;
    /// create the next segment, write header + checkpoints and fdatasync
    /// them, write the batch and fdatasync it, fsync the directory. The
    /// header is synced before any record so that a bad header followed by
    /// valid records can be told apart from a torn creation.
    fn roll_and_write(&mut self, b: &Batch) -> Result<(u64, u64), std::io::Error> {
        if self.allocated > self.seg_len {
            self.seg_file.set_len(self.seg_len)?;
            self.seg_file.sync()?;
            self.allocated = self.seg_len;
        }
        let seq = self.seg_seq + 1;
        let prefix = self.segment_prefix(seq);
        let base = prefix.len() as u64;
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

    /// Oldest segment some group still needs (by the written view).
    fn needed_segment(&self) -> u64 {
        self.runs
            .values()
            .filter_map(|r| r.front().map(|r| r.seg))
            .min()
            .unwrap_or(u64::MAX)
            .min(self.seg_seq)
    }

    /// Docs 5.3: removes every segment older than the oldest one a group
    /// still needs, in increasing order, then fsyncs the directory. The
    /// written view may be ahead of the disk, so when it shows dead segments
    /// the pipeline is drained first and the choice is made again on what is
    /// now synced.
    fn maybe_reclaim(&mut self) -> Result<(), std::io::Error> {
        let first = match self.shared.lock().segments.keys().next() {
            Some(s) => *s,
            None => return Ok(()),
        };
        if first >= self.needed_segment() || !self.drain() {
            return Ok(());
        }
        let needed = self.needed_segment();
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

/// The writer thread. It holds the writer core only while it writes (never
/// while parked), so a lone waiting caller can take the core and do the
/// work itself (`try_inline`). One state-lock acquisition per batch, as
/// before the core existed: under 64 submitters a second one often blocks
/// and costs a context switch. Bounded: exits on shutdown (after draining)
/// or when the store fails.
pub(crate) fn run_writer(sh: Arc<Shared>, core: Arc<Mutex<Writer>>) {
    let limit = sh.config.max_batch_bytes;
    let mut st = sh.lock();
    // Bounded: each round writes a batch, or parks until new records, a
    // freed job, the end of an inline write, or a stop.
    loop {
        st = flush_wakes(&sh, st);
        if st.health != crate::store::Health::Ok {
            break;
        }
        if st.pending.is_empty() {
            if st.shutdown {
                break;
            }
        } else if !st.inline && job_has_room(&st, st.pending.len(), limit) {
            // An inline caller releases the core before it clears `inline`,
            // so the core is free here; the fallback only keeps lock order.
            let mut w = match core.try_lock() {
                Ok(w) => w,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {
                    drop(st);
                    let w = core.lock().unwrap_or_else(|p| p.into_inner());
                    st = sh.lock();
                    w
                }
            };
            let Some(batch) = w.take_batch(&mut st) else {
                continue; // taken by an inline caller meanwhile
            };
            drop(st);
            if let Err(e) = w.handle(batch) {
                // The job already syncing reports its own outcome first.
                w.drain();
                drop(w);
                sh.fail(io_health(&e));
                st = sh.lock();
                break;
            }
            drop(w);
            st = sh.lock();
            continue;
        }
        st.writer_parked = true;
        st = sh.work.wait(st).unwrap_or_else(|p| p.into_inner());
        st.writer_parked = false;
    }
    drop(st);
    let mut w = core.lock().unwrap_or_else(|p| p.into_inner());
    w.drain();
    let mut st = sh.lock();
    st.writer_done = true; // from now on the sync thread wakes waiters itself
    let st = flush_wakes(&sh, st);
    drop(st);
    drop(w);
    sh.sync_work.notify_all();
}

/// One thread hop less for a caller waiting alone (the node's driver thread
/// writes a batch then waits for it): if the pipeline is idle — nothing
/// filling or syncing, the writer thread parked, the pending records are
/// exactly the caller's one submission — the caller of `wait`
/// takes the pending records, writes them and runs their fdatasync itself,
/// instead of waking the writer thread, which would wake the sync thread,
/// whose report would wake the caller. Returns false (nothing done) if any
/// condition fails; the caller then sleeps as usual. Callbacks of the job
/// (`on_durable`) then run on this thread.
///
/// Safe because: holding the writer core excludes the writer thread; with no
/// job filling and no sync in flight everything written is durable, so this
/// write is the only unsynced one and its report is in order; `inline`
/// keeps the writer thread parked until it is done.
pub(crate) fn try_inline(
    sh: &Shared,
    core: &Mutex<Writer>,
    t: u64,
    mut st: MutexGuard<'_, State>,
) -> bool {
    let idle = st.health == crate::store::Health::Ok
        && !st.shutdown
        && !st.inline
        && st.job.is_none()
        && !st.syncing
        && st.writer_parked
        && !st.writer_draining
        // Lone: the pending records are this caller's submission only.
        // With many callers this would sync a few records inline while the
        // rest pile up behind it (measured: 20-30% less at 64 writers with
        // fsync free); they are better served by the pipeline.
        && st.durable_seq + 1 == t
        && st.next_seq == t
        && !st.pending.is_empty()
        && st.callbacks.is_empty()
        && st.wake.is_none()
        && st.ready.is_empty()
        && sh.config.max_batch_wait.is_zero();
    if !idle {
        return false;
    }
    let Ok(mut w) = core.try_lock() else {
        return false; // the writer thread is at work (or panicked)
    };
    if w.seg_len >= sh.config.segment_bytes {
        return false; // a roll: the writer thread does it
    }
    let Some(batch) = w.take_batch(&mut st) else {
        return false;
    };
    assert!(
        batch.seq_hi >= t,
        "an idle pipeline holds every undurable ticket pending"
    );
    st.inline = true;
    st.syncing = true; // what `drain` and the sync thread must see
    drop(st);
    let r = w.write_inline(batch);
    drop(w); // before `inline` is cleared: the writer thread then finds it free
    let mut st = sh.lock();
    st.inline = false;
    st.syncing = false; // publish cleared it on success
    let notify = st.writer_parked && !st.pending.is_empty();
    drop(st);
    if let Err(e) = r {
        sh.fail(io_health(&e)); // docs 2.2: nothing of this write is reported
    }
    if notify {
        sh.work.notify_one();
    }
    true
}

/// The sync thread: fdatasync each job as soon as the previous one returned,
/// then report it. Bounded: exits once the writer is done and no job is
/// left, or when the store failed.
pub(crate) fn run_syncer(sh: Arc<Shared>) {
    while let Some(job) = next_job(&sh) {
        match job.file.sync() {
            Ok(()) => publish(&sh, job, false),
            Err(e) => {
                // Docs 2.2: never retried; nothing of this job is reported.
                sh.fail(io_health(&e));
                sh.lock().syncing = false;
                sh.work.notify_all();
                return;
            }
        }
    }
}

/// Waits for a written job and takes it (marking a sync in flight).
fn next_job(sh: &Shared) -> Option<Job> {
    let mut st = sh.lock();
    // Bounded: the writer fills a job or finishes.
    loop {
        if st.health != crate::store::Health::Ok {
            return None;
        }
        if st.job.is_some() {
            break;
        }
        if st.writer_done {
            return None;
        }
        st.syncer_parked = true;
        st = sh.sync_work.wait(st).unwrap_or_else(|p| p.into_inner());
        st.syncer_parked = false;
    }
    let wait = sh.config.max_batch_wait;
    if !wait.is_zero() {
        // Optional fixed wait for a small job to grow (Config docs).
        let deadline = Instant::now() + wait;
        // Bounded by the deadline.
        while !st.shutdown
            && st
                .job
                .as_ref()
                .is_some_and(|j| j.bytes < sh.config.max_batch_bytes)
        {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = sh
                .sync_work
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
    let job = st.job.take().expect("checked above");
    st.syncing = true;
    // The job has room again: that matters only to a writer parked with
    // records pending (a writer parked on an empty buffer is woken by the
    // next submitter; one draining, by the publish). No useless wakeup: on
    // two CPUs it costs a context switch on the durable path.
    if st.writer_parked && !st.pending.is_empty() {
        sh.work.notify_one();
    }
    Some(job)
}

/// Reports a synced job: disk locations and watermark at once (so `wait`,
/// `is_durable` and `on_durable` see it), then sleeping waiters and
/// callbacks outside the lock — by this thread if it is the writer (or the
/// writer is gone), else handed to the writer thread (`State::wake`), so the
/// sync thread goes straight to the next fdatasync. One notify per job.
///
/// Exception (one thread hop less for a lone caller, e.g. the node's driver
/// that writes then waits or awaits): when no job is filling, the sync
/// thread has no next fdatasync to start, so it wakes the waiters and runs
/// the callbacks itself instead of waking the writer to do it, if none are
/// left for the writer thread. The watermark is raised before either way,
/// so who wakes a waiter changes nothing about what is durable; waiters of
/// an earlier hand-off are still woken by the writer (their range is
/// disjoint from this job's). Measured (3-node cluster, SET -P 1, 3 A/B
/// pairs): the driver's `on_durable` callback crossed sync → writer →
/// event loop; now sync → event loop: +11% throughput.
pub(crate) fn publish(sh: &Shared, job: Job, by_writer: bool) {
    let mut st = sh.lock();
    for (base, ops) in &job.parts {
        place_entries(&mut st, ops, job.seg, *base, sh.config.cache_bytes);
    }
    let lo = st.durable_seq;
    assert!(job.seq_hi >= lo, "jobs are reported in order");
    st.durable_seq = job.seq_hi;
    sh.raise_durable(job.seq_hi);
    let later = st.callbacks.split_off(&(job.seq_hi + 1));
    let callbacks = std::mem::replace(&mut st.callbacks, later);
    st.syncing = false;
    let wake_writer = st.writer_parked;
    if by_writer || st.writer_done {
        drop(st);
        sh.wake_durable(lo, job.seq_hi);
        for cb in callbacks.into_values().flatten() {
            cb(Ok(()));
        }
        return;
    }
    if st.job.is_none() && st.ready.is_empty() {
        // Nothing filling: no next fdatasync to start, so this thread
        // wakes the waiters and runs the callbacks itself.
        let draining = st.writer_draining;
        drop(st);
        if draining {
            sh.work.notify_one(); // `drain` waits for `syncing == false`
        }
        sh.wake_durable(lo, job.seq_hi);
        for cb in callbacks.into_values().flatten() {
            cb(Ok(()));
        }
        return;
    }
    st.wake = Some(match st.wake {
        Some((l, _)) => (l, job.seq_hi),
        None => (lo, job.seq_hi),
    });
    st.ready.extend(callbacks.into_values().flatten());
    drop(st);
    if wake_writer {
        sh.work.notify_one();
    }
}

/// Wakes the waiters and runs the callbacks the sync thread left for the
/// writer thread (outside the lock); returns the lock re-taken.
fn flush_wakes<'a>(
    sh: &'a Shared,
    mut st: std::sync::MutexGuard<'a, State>,
) -> std::sync::MutexGuard<'a, State> {
    // Until none is left: the sync thread may publish again while the lock
    // is dropped here, without notifying (the writer is not parked).
    // Bounded: each round consumes one publish, and publishes need syncs.
    while let Some((lo, hi)) = st.wake.take() {
        let ready = std::mem::take(&mut st.ready);
        drop(st);
        sh.wake_durable(lo, hi);
        for cb in ready {
            cb(Ok(()));
        }
        st = sh.lock();
    }
    st
}

/// Turns a write's pending entries into disk locations and caches them.
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

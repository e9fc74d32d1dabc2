//! Storage benchmark on this machine's disk (run by `scripts/bench-storage`).
//!
//! Measures: raw fsync latency (4 KiB write + fdatasync, one at a time), the
//! disk's sequential write bandwidth (large writes + one fdatasync), and the
//! WAL's durable records/s and MB/s for 100 B and 4 KiB records with 1, 16,
//! 64 and 256 writer threads spread over 1 and 100 groups (each writer:
//! submit one entry, wait until durable, repeat), plus a large-batch cell.
//! With `--features raft-engine-bench`, tikv's raft-engine runs the same
//! workload side by side (LogBatch::put + write(sync=true), one record per
//! write) and the ratio ours/theirs is printed.
//!
//! Each cell also prints our p50/p99 latency (submit → durable) and
//! raft-engine's (its `write(sync = true)` call).
//!
//! The no-fsync ceiling (section "64 writers: what bounds the ratio" of
//! docs/storage-format.md): the same closed-loop cells for 100 B records,
//! once more with fsync made free — our store on `NoSyncVfs` (defined only in
//! this file: a `StdVfs` whose `sync` does nothing) and raft-engine with
//! `write(sync = false)` — so what remains is CPU, locks and thread wakeups.
//! Beside it, a pure wake round trip: 64 threads sleeping on per-ticket wait
//! slots (mutex + condvar, as `Store::wait` does), one notifier that wakes all
//! of them and waits until all have checked in again, no IO: rounds/s. The
//! summary turns both into the largest "records/s per solo fsync/s" ratio
//! 64 closed-loop writers could reach on this machine.
//!
//! Usage: `bench [--dir DIR] [--secs S] [--repeats N] [--cells SIZE:WRITERS:GROUPS,...] [--ceiling]`
//! (each cell runs about S seconds; `--cells 100:64:1,100:64:100` runs only
//! those cells, for quick A/B runs; `--ceiling` runs only the fsync probe,
//! the 100 B cells with and without fsync, and the wake round trip).

use bytes::Bytes;
use slotraft_storage::{Config, Entry, StdVfs, Store, Vfs, VfsFile, WriteBatch};
use slotraft_types::{GroupId, LogIndex, Term};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Bound on the bytes written by the sequential-bandwidth probe.
const SEQ_MAX_BYTES: u64 = 2 << 30;
/// Default runs per cell and engine (best is kept).
const REPEATS: usize = 2;
/// Latency samples kept per writer thread per cell (bounds memory).
const MAX_LAT_SAMPLES: usize = 1 << 20;
/// Write size of the sequential-bandwidth probe.
const SEQ_CHUNK: usize = 4 << 20;
/// Threads of the wake round-trip probe (the 64-writer cell's closed loop).
const WAKE_THREADS: usize = 64;
/// Wait slots of the wake probe (the store's `WAIT_SLOTS`).
const WAKE_SLOTS: usize = slotraft_storage::WAIT_SLOTS;
/// Record size of the no-fsync ceiling cells.
const CEILING_SIZE: usize = 100;

struct Args {
    dir: PathBuf,
    secs: f64,
    repeats: usize,
    /// Only these (size, writers, groups) cells; empty = all.
    cells: Vec<(usize, usize, u64)>,
    /// Only the fsync probe, the 100 B cells with and without fsync, and the
    /// wake round trip.
    ceiling: bool,
}

fn parse_cells(v: &str) -> Vec<(usize, usize, u64)> {
    v.split(',')
        .map(|c| {
            let n: Vec<u64> = c
                .split(':')
                .map(|x| x.parse().expect("cell number"))
                .collect();
            assert!(n.len() == 3, "cell is SIZE:WRITERS:GROUPS");
            (n[0] as usize, n[1] as usize, n[2])
        })
        .collect()
}

fn args() -> Args {
    let mut a = Args {
        dir: PathBuf::from("/work/bench-storage"),
        secs: 2.0,
        repeats: REPEATS,
        cells: Vec::new(),
        ceiling: false,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    // Bounded by the argument count (each round consumes one or two).
    while i < v.len() {
        if v[i] == "--ceiling" {
            a.ceiling = true;
            i += 1;
            continue;
        }
        assert!(i + 1 < v.len(), "{} needs a value", v[i]);
        match v[i].as_str() {
            "--dir" => a.dir = PathBuf::from(&v[i + 1]),
            "--secs" => a.secs = v[i + 1].parse().expect("--secs number"),
            "--repeats" => a.repeats = v[i + 1].parse().expect("--repeats number"),
            "--cells" => a.cells = parse_cells(&v[i + 1]),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn fresh_dir(base: &Path, name: &str) -> PathBuf {
    let d = base.join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create bench dir");
    d
}

fn payload(size: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// 4 KiB write + fdatasync in a loop: the disk's one-at-a-time fsync rate.
fn bench_fsync(base: &Path, secs: f64) -> (f64, Duration, Duration) {
    let d = fresh_dir(base, "fsync");
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(d.join("f"))
        .expect("open");
    let buf = payload(4096, 1);
    let mut lat = Vec::new();
    let start = Instant::now();
    // Bounded by time.
    while start.elapsed().as_secs_f64() < secs {
        let t = Instant::now();
        f.write_all(&buf).expect("write");
        f.sync_data().expect("fdatasync");
        lat.push(t.elapsed());
    }
    let rate = lat.len() as f64 / start.elapsed().as_secs_f64();
    lat.sort();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    let _ = std::fs::remove_dir_all(&d);
    (rate, p(0.5), p(0.99))
}

/// Large sequential writes for about `secs`, then one fdatasync: MB/s.
fn bench_seq(base: &Path, secs: f64) -> f64 {
    let d = fresh_dir(base, "seq");
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(d.join("f"))
        .expect("open");
    let buf = payload(SEQ_CHUNK, 2);
    let start = Instant::now();
    let mut written = 0u64;
    // Bounded by time and SEQ_MAX_BYTES.
    while start.elapsed().as_secs_f64() < secs && written < SEQ_MAX_BYTES {
        f.write_all(&buf).expect("write");
        written += buf.len() as u64;
    }
    f.sync_data().expect("fdatasync");
    let mbps = written as f64 / 1e6 / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&d);
    mbps
}

/// One engine under test: `write` returns once the record is durable.
trait Wal: Sync + Send {
    fn write(&self, writer: usize, group: u64, data: &[u8]);
}

struct Ours {
    store: Store,
    next: Vec<Mutex<u64>>,
}

impl Wal for Ours {
    fn write(&self, _writer: usize, group: u64, data: &[u8]) {
        let ticket = {
            // One proposer per group at a time keeps indexes consecutive.
            let mut next = self.next[group as usize].lock().expect("lock");
            *next += 1;
            let e = Entry {
                index: LogIndex(*next),
                term: Term(1),
                data: Bytes::copy_from_slice(data),
            };
            self.store.append(GroupId(group), vec![e]).expect("append")
        };
        self.store.wait(ticket).expect("durable");
    }
}

/// raft-engine; `sync = false` is the no-fsync ceiling run.
#[cfg(feature = "raft-engine-bench")]
struct RaftEngine(raft_engine::Engine, bool);

#[cfg(feature = "raft-engine-bench")]
impl Wal for RaftEngine {
    fn write(&self, writer: usize, group: u64, data: &[u8]) {
        let mut lb = raft_engine::LogBatch::default();
        lb.put(
            group + 1,
            (writer as u64).to_le_bytes().to_vec(),
            data.to_vec(),
        )
        .expect("put");
        self.0.write(&mut lb, self.1).expect("write");
    }
}

#[cfg(feature = "raft-engine-bench")]
fn open_raft_engine(dir: &Path, sync: bool) -> RaftEngine {
    let cfg = raft_engine::Config {
        dir: dir.to_str().expect("utf8 path").to_string(),
        batch_compression_threshold: raft_engine::ReadableSize(0),
        ..raft_engine::Config::default()
    };
    RaftEngine(
        raft_engine::Engine::open(cfg).expect("open raft-engine"),
        sync,
    )
}

/// BENCH ONLY, never durable: a `StdVfs` whose file and directory syncs do
/// nothing. It exists only in this example (no library or server code can
/// reach it) to measure the store's CPU + wakeup ceiling with fsync free.
struct NoSyncVfs(StdVfs);

/// A file of `NoSyncVfs`: every call but `sync` goes to the real file.
struct NoSyncFile(Arc<dyn VfsFile>);

impl VfsFile for NoSyncFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.0.write_at(buf, offset)
    }
    fn sync(&self) -> std::io::Result<()> {
        Ok(()) // the point of this type: fsync made free
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.0.set_len(len)
    }
    fn len(&self) -> std::io::Result<u64> {
        self.0.len()
    }
}

impl Vfs for NoSyncVfs {
    fn open(&self, name: &str) -> std::io::Result<Arc<dyn VfsFile>> {
        Ok(Arc::new(NoSyncFile(self.0.open(name)?)))
    }
    fn create(&self, name: &str) -> std::io::Result<Arc<dyn VfsFile>> {
        Ok(Arc::new(NoSyncFile(self.0.create(name)?)))
    }
    fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
        self.0.rename(from, to)
    }
    fn remove(&self, name: &str) -> std::io::Result<()> {
        self.0.remove(name)
    }
    fn list(&self) -> std::io::Result<Vec<String>> {
        self.0.list()
    }
    fn sync_dir(&self) -> std::io::Result<()> {
        Ok(())
    }
}

fn open_ours(dir: &Path, groups: u64, sync: bool) -> Ours {
    let std_vfs = StdVfs::new(dir).expect("dir");
    let vfs: Arc<dyn Vfs> = if sync {
        Arc::new(std_vfs)
    } else {
        Arc::new(NoSyncVfs(std_vfs))
    };
    let (store, _) = Store::open(vfs, Config::default()).expect("open");
    Ours {
        store,
        next: (0..groups).map(|_| Mutex::new(0)).collect(),
    }
}

/// Result of one cell run: durable records/s and latency percentiles.
#[derive(Clone, Copy, Default)]
struct CellResult {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

fn ours_cell(
    base: &Path,
    size: usize,
    writers: usize,
    groups: u64,
    secs: f64,
    sync: bool,
) -> CellResult {
    let d = fresh_dir(base, "ours");
    let ours = open_ours(&d, groups, sync);
    let r = run_cell(&ours, size, writers, groups, secs);
    drop(ours);
    let _ = std::fs::remove_dir_all(&d);
    r
}

/// Runs `writers` threads for `secs`; returns durable records/s and the
/// p50/p99 of one write's latency (submit until durable).
fn run_cell(wal: &dyn Wal, size: usize, writers: usize, groups: u64, secs: f64) -> CellResult {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let data = payload(size, 3);
    let lat = Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|s| {
        for w in 0..writers {
            let (stop, done, data, lat) = (&stop, &done, &data, &lat);
            s.spawn(move || {
                let group = (w as u64) % groups;
                let mut mine = Vec::new();
                // Bounded by the stop flag set after `secs`.
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    wal.write(w, group, data);
                    if mine.len() < MAX_LAT_SAMPLES {
                        mine.push(t.elapsed());
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                lat.lock().expect("lat").extend(mine);
            });
        }
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
    });
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    let mut lat = lat.into_inner().expect("lat");
    lat.sort();
    let p = |q: f64| {
        lat.get(((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    CellResult {
        rate,
        p50: p(0.5),
        p99: p(0.99),
    }
}

/// Large batches: 4 threads each submitting 1 MiB write batches of 4 KiB
/// entries to their own group and waiting for each: MB/s.
fn bench_bulk(base: &Path, secs: f64) -> f64 {
    let d = fresh_dir(base, "bulk");
    let cfg = Config {
        max_batch_bytes: 16 << 20,
        ..Config::default()
    };
    let (store, _) = Store::open(Arc::new(StdVfs::new(&d).expect("dir")), cfg).expect("open");
    let data = Bytes::from(payload(4096, 4));
    let bytes = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    std::thread::scope(|s| {
        for w in 0..4u64 {
            let (store, data, bytes, stop) = (&store, &data, &bytes, &stop);
            s.spawn(move || {
                let mut next = 0u64;
                // Bounded by the stop flag.
                while !stop.load(Ordering::Relaxed) {
                    let entries: Vec<Entry> = (0..256)
                        .map(|_| {
                            next += 1;
                            Entry {
                                index: LogIndex(next),
                                term: Term(1),
                                data: data.clone(),
                            }
                        })
                        .collect();
                    let mut b = WriteBatch::new();
                    b.append(GroupId(w), entries);
                    store.wait(store.write(b).expect("write")).expect("durable");
                    // Keep memory bounded: drop what was just made durable.
                    store
                        .wait(
                            store
                                .compact(GroupId(w), LogIndex(next), Term(1))
                                .expect("compact"),
                        )
                        .expect("durable");
                    bytes.fetch_add(256 * 4096, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
    });
    let mbps = bytes.load(Ordering::Relaxed) as f64 / 1e6 / start.elapsed().as_secs_f64();
    drop(store);
    let _ = std::fs::remove_dir_all(&d);
    mbps
}

/// One cell of the main table or the ceiling table: `(size, writers,
/// groups)` and the best run of each engine.
struct Cell {
    size: usize,
    writers: usize,
    groups: u64,
    ours: CellResult,
    theirs: Option<CellResult>,
}

/// Best of `repeats` alternating runs of both engines: the disk and CPUs are
/// shared, so single runs are noisy; alternating keeps the comparison fair.
fn best_cell(a: &Args, size: usize, writers: usize, groups: u64, sync: bool) -> Cell {
    let mut ours = CellResult::default();
    let mut theirs: Option<CellResult> = None;
    for _ in 0..a.repeats {
        let o = ours_cell(&a.dir, size, writers, groups, a.secs, sync);
        if o.rate > ours.rate {
            ours = o;
        }
        if let Some(t) = theirs_cell(&a.dir, size, writers, groups, a.secs, sync) {
            match theirs {
                Some(b) if b.rate >= t.rate => {}
                _ => theirs = Some(t),
            }
        }
    }
    Cell {
        size,
        writers,
        groups,
        ours,
        theirs,
    }
}

fn print_header() {
    println!(
        "{:>6} {:>7} {:>6} {:>12} {:>9} {:>14} {:>7}  {:>22}  {:>22}",
        "size",
        "writers",
        "groups",
        "ours rec/s",
        "ours MB/s",
        "raft-engine",
        "ratio",
        "ours p50/p99",
        "raft-engine p50/p99"
    );
}

fn print_cell(c: &Cell) {
    let r = c.ours.rate;
    let (t, ratio, tlat) = match c.theirs {
        Some(t) => (
            format!("{:.0}", t.rate),
            format!("{:.2}", r / t.rate),
            format!("{:?}/{:?}", t.p50, t.p99),
        ),
        None => ("n/a".into(), "n/a".into(), "n/a".into()),
    };
    let olat = format!("{:?}/{:?}", c.ours.p50, c.ours.p99);
    println!(
        "{:>6} {:>7} {:>6} {r:>12.0} {:>9.1} {t:>14} {ratio:>7}  {olat:>22}  {tlat:>22}",
        c.size,
        c.writers,
        c.groups,
        r * c.size as f64 / 1e6
    );
}

/// The cells selected by `--cells` (all when empty; `--ceiling`: 100 B only).
fn selected_cells(a: &Args) -> Vec<(usize, usize, u64)> {
    let sizes: &[usize] = if a.ceiling {
        &[CEILING_SIZE]
    } else {
        &[CEILING_SIZE, 4096]
    };
    let mut out = Vec::new();
    for &size in sizes {
        for groups in [1u64, 100] {
            for writers in [1usize, 16, 64, 256] {
                if a.cells.is_empty() || a.cells.contains(&(size, writers, groups)) {
                    out.push((size, writers, groups));
                }
            }
        }
    }
    out
}

/// Wake round trip, no IO: `threads` threads each sleep on wait slot
/// `i % WAKE_SLOTS` (a mutex + condvar, checked against an atomic watermark,
/// exactly like `Store::wait`); one notifier raises the watermark, notifies
/// every slot (lock, unlock, notify_all: like `wake_durable`), then sleeps on
/// one mutex + condvar until every thread has checked in again (like
/// submitters taking the state lock and waking the writer). Rounds/s.
fn bench_wake(threads: usize, secs: f64) -> f64 {
    struct Slot {
        lock: Mutex<()>,
        cv: Condvar,
    }
    let slots: Vec<Slot> = (0..WAKE_SLOTS)
        .map(|_| Slot {
            lock: Mutex::new(()),
            cv: Condvar::new(),
        })
        .collect();
    let round = AtomicU64::new(0);
    let arrived = Mutex::new(0usize);
    let all_in = Condvar::new();
    let stop = AtomicBool::new(false);
    let mut rounds = 0u64;
    let start = Instant::now();
    std::thread::scope(|s| {
        for i in 0..threads {
            let (slots, round, arrived, all_in, stop) = (&slots, &round, &arrived, &all_in, &stop);
            s.spawn(move || {
                let slot = &slots[i % WAKE_SLOTS];
                let mut want = 1u64;
                // Bounded by the stop flag (the notifier wakes everyone once
                // more after setting it).
                loop {
                    {
                        let mut n = arrived.lock().expect("arrived");
                        *n += 1;
                        if *n == threads {
                            all_in.notify_one();
                        }
                    }
                    let mut g = slot.lock.lock().expect("slot");
                    while round.load(Ordering::Acquire) < want {
                        g = slot.cv.wait(g).expect("slot");
                    }
                    drop(g);
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    want += 1;
                }
            });
        }
        // Bounded by time.
        while start.elapsed().as_secs_f64() < secs {
            {
                let mut n = arrived.lock().expect("arrived");
                while *n < threads {
                    n = all_in.wait(n).expect("arrived");
                }
                *n = 0;
            }
            rounds += 1;
            round.store(rounds, Ordering::Release);
            for slot in &slots {
                drop(slot.lock.lock().expect("slot"));
                slot.cv.notify_all();
            }
        }
        stop.store(true, Ordering::Release);
        round.store(u64::MAX, Ordering::Release);
        for slot in &slots {
            drop(slot.lock.lock().expect("slot"));
            slot.cv.notify_all();
        }
    });
    rounds as f64 / start.elapsed().as_secs_f64()
}

/// The no-fsync ceiling table for the 100 B cells, the wake round trip, and
/// what they imply for the 64-writer ratio (docs: "64 writers: what bounds
/// the ratio").
fn ceiling_section(a: &Args, real: &[Cell], solo_rate: f64, solo_p50: Duration) {
    println!("# no-fsync ceiling (ours on NoSyncVfs, raft-engine write(sync=false); NOT durable)");
    print_header();
    let mut ceil = Vec::new();
    for c in real.iter().filter(|c| c.size == CEILING_SIZE) {
        let n = best_cell(a, c.size, c.writers, c.groups, false);
        print_cell(&n);
        ceil.push(n);
    }
    let wake = bench_wake(WAKE_THREADS, a.secs);
    println!(
        "wake round trip ({WAKE_THREADS} threads on {WAKE_SLOTS} wait slots, 1 notifier, no IO): {wake:.0} rounds/s = {:.0} wakeups/s ({:.1} µs/round)",
        wake * WAKE_THREADS as f64,
        1e6 / wake
    );
    println!("# what bounds the 64-writer ratio (solo fsync {solo_rate:.0}/s, p50 {solo_p50:?})");
    for (r, n) in real.iter().zip(&ceil).filter(|(r, _)| r.writers == 64) {
        // Closed loop: each of the 64 writers needs at least one fsync plus
        // the no-fsync round trip per record.
        let model = 64.0 / (solo_p50.as_secs_f64() + n.ours.p50.as_secs_f64());
        println!(
            "64 writers, {} B, {} groups: measured {:.0} rec/s = {:.1}x; no-fsync ceiling {:.0} rec/s (p50 {:?}) = {:.1}x; 64 / (solo p50 + ceiling p50) = {:.0} rec/s = {:.1}x; wake-only bound {:.0} rec/s = {:.1}x",
            r.size,
            r.groups,
            r.ours.rate,
            r.ours.rate / solo_rate,
            n.ours.rate,
            n.ours.p50,
            n.ours.rate / solo_rate,
            model,
            model / solo_rate,
            wake * 64.0,
            wake * 64.0 / solo_rate,
        );
    }
}

fn main() {
    let a = args();
    std::fs::create_dir_all(&a.dir).expect("bench dir");
    println!(
        "# slotraft-storage bench: dir {} cell {:.1}s",
        a.dir.display(),
        a.secs
    );
    let (fsyncs, p50, p99) = bench_fsync(&a.dir, a.secs);
    println!("raw fsync (4 KiB write + fdatasync): {fsyncs:.0}/s  p50 {p50:?}  p99 {p99:?}");
    let seq = if a.ceiling {
        0.0
    } else {
        let seq = bench_seq(&a.dir, a.secs);
        println!("sequential write bandwidth (4 MiB writes + 1 fdatasync): {seq:.0} MB/s");
        seq
    };
    print_header();
    let mut real = Vec::new();
    for (size, writers, groups) in selected_cells(&a) {
        let c = best_cell(&a, size, writers, groups, true);
        print_cell(&c);
        real.push(c);
    }
    let bulk = if a.ceiling {
        0.0
    } else {
        bench_bulk(&a.dir, a.secs)
    };
    let (fsyncs_end, p50_end, _) = bench_fsync(&a.dir, a.secs);
    println!("raw fsync again at the end: {fsyncs_end:.0}/s  p50 {p50_end:?}");
    // The faster probe and its p50: the most favourable solo rate (a lower
    // bound on the ratio).
    let (fsyncs, solo_p50) = if fsyncs >= fsyncs_end {
        (fsyncs, p50)
    } else {
        (fsyncs_end, p50_end)
    };
    ceiling_section(&a, &real, fsyncs, solo_p50);
    println!("# targets");
    for c in real.iter().filter(|c| c.writers == 64) {
        let x = c.ours.rate / fsyncs;
        println!(
            "64 writers, {} B, {} groups: {x:.1}x fsyncs/s (target >= 50x): {}",
            c.size,
            c.groups,
            if x >= 50.0 { "MET" } else { "NOT MET" }
        );
    }
    if !a.ceiling {
        println!("large batches (4 writers x 1 MiB batches of 4 KiB entries): {bulk:.0} MB/s");
        let pct = 100.0 * bulk / seq;
        println!(
            "large batches: {pct:.0}% of sequential bandwidth (target >= 70%): {}",
            if pct >= 70.0 { "MET" } else { "NOT MET" }
        );
    }
}

#[cfg(feature = "raft-engine-bench")]
fn theirs_cell(
    base: &Path,
    size: usize,
    writers: usize,
    groups: u64,
    secs: f64,
    sync: bool,
) -> Option<CellResult> {
    let d = fresh_dir(base, "raft-engine");
    let e = open_raft_engine(&d, sync);
    let r = run_cell(&e, size, writers, groups, secs);
    drop(e);
    let _ = std::fs::remove_dir_all(&d);
    Some(r)
}

#[cfg(not(feature = "raft-engine-bench"))]
fn theirs_cell(_: &Path, _: usize, _: usize, _: u64, _: f64, _: bool) -> Option<CellResult> {
    None
}

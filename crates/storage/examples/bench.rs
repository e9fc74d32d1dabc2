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
//! Usage: `bench [--dir DIR] [--secs S] [--repeats N] [--cells SIZE:WRITERS:GROUPS,...]`
//! (each cell runs about S seconds; `--cells 100:64:1,100:64:100` runs only
//! those cells, for quick A/B runs).

use bytes::Bytes;
use slotraft_storage::{Config, Entry, StdVfs, Store, WriteBatch};
use slotraft_types::{GroupId, LogIndex, Term};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bound on the bytes written by the sequential-bandwidth probe.
const SEQ_MAX_BYTES: u64 = 2 << 30;
/// Default runs per cell and engine (best is kept).
const REPEATS: usize = 2;
/// Latency samples kept per writer thread per cell (bounds memory).
const MAX_LAT_SAMPLES: usize = 1 << 20;
/// Write size of the sequential-bandwidth probe.
const SEQ_CHUNK: usize = 4 << 20;

struct Args {
    dir: PathBuf,
    secs: f64,
    repeats: usize,
    /// Only these (size, writers, groups) cells; empty = all.
    cells: Vec<(usize, usize, u64)>,
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
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i + 1 < v.len() {
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

#[cfg(feature = "raft-engine-bench")]
struct RaftEngine(raft_engine::Engine);

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
        self.0.write(&mut lb, true).expect("write");
    }
}

#[cfg(feature = "raft-engine-bench")]
fn open_raft_engine(dir: &Path) -> RaftEngine {
    let cfg = raft_engine::Config {
        dir: dir.to_str().expect("utf8 path").to_string(),
        batch_compression_threshold: raft_engine::ReadableSize(0),
        ..raft_engine::Config::default()
    };
    RaftEngine(raft_engine::Engine::open(cfg).expect("open raft-engine"))
}

fn open_ours(dir: &Path, groups: u64) -> Ours {
    let vfs = Arc::new(StdVfs::new(dir).expect("dir"));
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

fn ours_cell(base: &Path, size: usize, writers: usize, groups: u64, secs: f64) -> CellResult {
    let d = fresh_dir(base, "ours");
    let ours = open_ours(&d, groups);
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
    let seq = bench_seq(&a.dir, a.secs);
    println!("sequential write bandwidth (4 MiB writes + 1 fdatasync): {seq:.0} MB/s");
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
    let mut at64 = Vec::new();
    for size in [100usize, 4096] {
        for groups in [1u64, 100] {
            for writers in [1usize, 16, 64, 256] {
                if !a.cells.is_empty() && !a.cells.contains(&(size, writers, groups)) {
                    continue;
                }
                // Best of `repeats` alternating runs: the disk and CPUs are
                // shared, so single runs are noisy; alternating keeps the
                // comparison fair.
                let mut ours = CellResult::default();
                let mut theirs: Option<CellResult> = None;
                for _ in 0..a.repeats {
                    let o = ours_cell(&a.dir, size, writers, groups, a.secs);
                    if o.rate > ours.rate {
                        ours = o;
                    }
                    if let Some(t) = theirs_cell(&a.dir, size, writers, groups, a.secs) {
                        match theirs {
                            Some(b) if b.rate >= t.rate => {}
                            _ => theirs = Some(t),
                        }
                    }
                }
                let r = ours.rate;
                let (t, ratio, tlat) = match theirs {
                    Some(t) => (
                        format!("{:.0}", t.rate),
                        format!("{:.2}", r / t.rate),
                        format!("{:?}/{:?}", t.p50, t.p99),
                    ),
                    None => ("n/a".into(), "n/a".into(), "n/a".into()),
                };
                let olat = format!("{:?}/{:?}", ours.p50, ours.p99);
                println!(
                    "{size:>6} {writers:>7} {groups:>6} {r:>12.0} {:>9.1} {t:>14} {ratio:>7}  {olat:>22}  {tlat:>22}",
                    r * size as f64 / 1e6
                );
                if writers == 64 {
                    at64.push((size, groups, r));
                }
            }
        }
    }
    let bulk = bench_bulk(&a.dir, a.secs);
    let (fsyncs_end, _, _) = bench_fsync(&a.dir, a.secs);
    println!("raw fsync again at the end: {fsyncs_end:.0}/s");
    let fsyncs = fsyncs.max(fsyncs_end);
    println!("large batches (4 writers x 1 MiB batches of 4 KiB entries): {bulk:.0} MB/s");
    println!("# targets");
    for (size, groups, r) in at64 {
        let x = r / fsyncs;
        println!(
            "64 writers, {size} B, {groups} groups: {x:.1}x fsyncs/s (target >= 50x): {}",
            if x >= 50.0 { "MET" } else { "NOT MET" }
        );
    }
    let pct = 100.0 * bulk / seq;
    println!(
        "large batches: {pct:.0}% of sequential bandwidth (target >= 70%): {}",
        if pct >= 70.0 { "MET" } else { "NOT MET" }
    );
}

#[cfg(feature = "raft-engine-bench")]
fn theirs_cell(
    base: &Path,
    size: usize,
    writers: usize,
    groups: u64,
    secs: f64,
) -> Option<CellResult> {
    let d = fresh_dir(base, "raft-engine");
    let e = open_raft_engine(&d);
    let r = run_cell(&e, size, writers, groups, secs);
    drop(e);
    let _ = std::fs::remove_dir_all(&d);
    Some(r)
}

#[cfg(not(feature = "raft-engine-bench"))]
fn theirs_cell(_: &Path, _: usize, _: usize, _: u64, _: f64) -> Option<CellResult> {
    None
}

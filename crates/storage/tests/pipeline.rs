//! The pipelined writer under a crash in its window: batch N's fdatasync is
//! held in flight (SimVfs pause), the writer writes batch N+1 meanwhile, and
//! the disk crashes right then. Nothing of N or N+1 may have been reported
//! durable, and every crash image must recover to a prefix of the history
//! (never N+1's records without all of N's). Then, released, N is reported
//! only after its own sync and N+1 only after the next one.
//!
//! And the lone-caller path (`Store::wait` on an idle pipeline writes and
//! syncs on the caller's thread): it is taken, a crash during its sync
//! recovers to a prefix, and its failed sync reports nothing.

use bytes::Bytes;
use slotraft_storage::sim::{Faults, SimRng, SimVfs};
use slotraft_storage::{Config, Entry, Store, Ticket, Vfs, VfsFile};
use slotraft_types::{GroupId, LogIndex, Term};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Crash images checked per scenario.
const CRASH_SEEDS: u64 = 300;
/// Bound on the polling for the background threads to reach a state.
const POLL_LIMIT: Duration = Duration::from_secs(10);

fn entry(i: u64, len: usize) -> Entry {
    Entry {
        index: LogIndex(i),
        term: Term(1),
        data: Bytes::from(vec![i as u8; len]),
    }
}

/// Releases a paused sync when dropped, so a failing assertion can not leave
/// the store's sync thread blocked forever (declare it after the store).
struct ResumeOnDrop(SimVfs);

impl Drop for ResumeOnDrop {
    fn drop(&mut self) {
        self.0.resume();
    }
}

fn poll(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    // Bounded by POLL_LIMIT.
    while !cond() {
        assert!(start.elapsed() < POLL_LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn active_segment_len(disk: &SimVfs) -> u64 {
    let last = disk
        .list()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with("wal-"))
        .max()
        .expect("a segment");
    disk.file_len(&last).unwrap()
}

/// Entries 1..=n of group 1 after recovering a crash image.
fn recovered(image: &SimVfs) -> Vec<Entry> {
    let (s, _) = Store::open(Arc::new(image.clone()), Config::default()).expect("recovery");
    let g = GroupId(1);
    match s.last_index(g) {
        Ok(last) if last.get() > 0 => s.entries(g, LogIndex(1), last.next(), None).unwrap(),
        _ => Vec::new(),
    }
}

fn check_prefix(got: &[Entry], history: &[Entry], reported: usize, seed: u64) {
    assert!(
        got.len() >= reported && got.len() <= history.len(),
        "seed {seed}: recovered {} entries, reported {reported}, history {}",
        got.len(),
        history.len()
    );
    assert_eq!(
        got,
        &history[..got.len()],
        "seed {seed}: not a history prefix"
    );
}

#[test]
fn crash_between_write_of_next_batch_and_sync_of_previous() {
    let disk = SimVfs::new();
    let cfg = Config {
        prealloc_bytes: 0, // every write visible in the file length
        ..Config::default()
    };
    let (store, _) = Store::open(Arc::new(disk.clone()), cfg).unwrap();
    let _guard = ResumeOnDrop(disk.clone());
    let g = GroupId(1);
    // Batch 0, fully durable before the pause.
    let t0 = store.append(g, vec![entry(1, 50)]).unwrap();
    store.wait(t0).unwrap();
    disk.set_faults(Faults {
        pause_sync_at: Some(1),
        ..Faults::default()
    });
    // Batch N: written, its fdatasync held in flight.
    let tn = store.append(g, vec![entry(2, 300), entry(3, 300)]).unwrap();
    poll("sync of batch N in flight", || disk.sync_paused());
    let len_n = active_segment_len(&disk);
    // Batch N+1: the writer writes it while N's sync is in flight.
    let tn1 = store.append(g, vec![entry(4, 700)]).unwrap();
    poll("write of batch N+1", || active_segment_len(&disk) > len_n);
    assert!(
        !store.is_durable(tn).unwrap() && !store.is_durable(tn1).unwrap(),
        "nothing of N or N+1 is reported before N's fsync returned"
    );
    assert_eq!(store.durable_seq(), t0.0);
    let history = vec![entry(1, 50), entry(2, 300), entry(3, 300), entry(4, 700)];
    let mut lengths = std::collections::BTreeSet::new();
    for seed in 0..CRASH_SEEDS {
        let got = recovered(&disk.crash(&mut SimRng::new(seed)));
        check_prefix(&got, &history, 1, seed);
        lengths.insert(got.len());
    }
    // Images seen: both batches lost (1), N torn or kept while N+1 is torn
    // or lost (2, 3); both kept whole needs the tear at N+1's last byte.
    assert!(
        lengths.contains(&1) && lengths.contains(&3),
        "crash images cover losing both batches and keeping N without N+1: {lengths:?}"
    );
    // Released: N is reported after its own sync, N+1 after the next one.
    disk.resume();
    store.wait(tn).unwrap();
    store.wait(tn1).unwrap();
    for seed in 0..CRASH_SEEDS / 10 {
        let got = recovered(&disk.crash(&mut SimRng::new(seed)));
        check_prefix(&got, &history, 4, seed);
    }
}

#[test]
fn failed_sync_of_batch_n_never_reports_batch_n_plus_one() {
    let disk = SimVfs::new();
    let cfg = Config {
        prealloc_bytes: 0, // every write visible in the file length
        ..Config::default()
    };
    let (store, _) = Store::open(Arc::new(disk.clone()), cfg).unwrap();
    let _guard = ResumeOnDrop(disk.clone());
    let g = GroupId(1);
    let t0 = store.append(g, vec![entry(1, 10)]).unwrap();
    store.wait(t0).unwrap();
    // Sync 1 (batch N) pauses, then the crash fault kills the disk while it
    // is in flight: the paused sync fails when resumed.
    disk.set_faults(Faults {
        pause_sync_at: Some(1),
        ..Faults::default()
    });
    let tn = store.append(g, vec![entry(2, 10)]).unwrap();
    poll("sync of batch N in flight", || disk.sync_paused());
    let len_n = active_segment_len(&disk);
    let tn1 = store.append(g, vec![entry(3, 10)]).unwrap();
    poll("write of batch N+1", || active_segment_len(&disk) > len_n);
    let image = disk.crash(&mut SimRng::new(7));
    disk.set_faults(Faults {
        crash_at_op: Some(1),
        ..Faults::default()
    });
    disk.list().unwrap_err(); // op 1: the disk is now dead
    disk.resume();
    let reported: Vec<Ticket> = [tn, tn1]
        .into_iter()
        .filter(|t| store.wait(*t).is_ok())
        .collect();
    assert!(reported.is_empty(), "a failed fsync reports nothing");
    assert!(store.wait(tn1).is_err() && store.is_durable(tn1).is_err());
    let history = vec![entry(1, 10), entry(2, 10), entry(3, 10)];
    check_prefix(&recovered(&image), &history, 1, 7);
}

/// Records the name of the thread that runs each file sync (to tell the
/// lone-caller path, which syncs on the caller's thread, from the pipeline).
#[derive(Clone)]
struct SyncSpy {
    inner: SimVfs,
    threads: Arc<std::sync::Mutex<Vec<String>>>,
}

struct SpyFile {
    inner: Arc<dyn VfsFile>,
    threads: Arc<std::sync::Mutex<Vec<String>>>,
}

impl VfsFile for SpyFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> std::io::Result<()> {
        self.inner.write_at(buf, offset)
    }
    fn sync(&self) -> std::io::Result<()> {
        let name = std::thread::current().name().unwrap_or("?").to_string();
        self.threads.lock().unwrap().push(name);
        self.inner.sync()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }
}

impl Vfs for SyncSpy {
    fn open(&self, name: &str) -> std::io::Result<Arc<dyn VfsFile>> {
        let inner = self.inner.open(name)?;
        Ok(Arc::new(SpyFile {
            inner,
            threads: self.threads.clone(),
        }))
    }
    fn create(&self, name: &str) -> std::io::Result<Arc<dyn VfsFile>> {
        let inner = self.inner.create(name)?;
        Ok(Arc::new(SpyFile {
            inner,
            threads: self.threads.clone(),
        }))
    }
    fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove(&self, name: &str) -> std::io::Result<()> {
        self.inner.remove(name)
    }
    fn list(&self) -> std::io::Result<Vec<String>> {
        self.inner.list()
    }
    fn sync_dir(&self) -> std::io::Result<()> {
        self.inner.sync_dir()
    }
}

fn spy_store(disk: &SimVfs) -> (Store, SyncSpy) {
    let spy = SyncSpy {
        inner: disk.clone(),
        threads: Arc::default(),
    };
    let cfg = Config {
        prealloc_bytes: 0,
        ..Config::default()
    };
    let (store, _) = Store::open(Arc::new(spy.clone()), cfg).unwrap();
    spy.threads.lock().unwrap().clear(); // recovery's own syncs
    (store, spy)
}

/// Rounds of the lone-caller test (a pause before each lets the writer
/// thread park, which the lone-caller path requires).
const LONE_ROUNDS: u64 = 20;

#[test]
fn lone_caller_writes_and_syncs_on_its_own_thread() {
    let disk = SimVfs::new();
    let (store, spy) = spy_store(&disk);
    let g = GroupId(1);
    let me = std::thread::current().name().unwrap().to_string();
    let mut history = Vec::new();
    for i in 1..=LONE_ROUNDS {
        std::thread::sleep(Duration::from_millis(5));
        history.push(entry(i, 40));
        let t = store.append(g, vec![entry(i, 40)]).unwrap();
        store.wait(t).unwrap();
        assert!(store.is_durable(t).unwrap());
    }
    let threads = spy.threads.lock().unwrap().clone();
    let inline = threads.iter().filter(|n| **n == me).count();
    assert!(
        inline >= 1,
        "no sync ran on the waiting caller's thread: {threads:?}"
    );
    assert!(
        threads
            .iter()
            .all(|n| *n == me || n.starts_with("slotraft-wal")),
        "syncs only by the caller or the WAL threads: {threads:?}"
    );
    drop(store);
    for seed in 0..CRASH_SEEDS / 10 {
        let got = recovered(&disk.crash(&mut SimRng::new(seed)));
        check_prefix(&got, &history, LONE_ROUNDS as usize, seed);
    }
}

#[test]
fn lone_caller_crash_during_its_own_sync() {
    let disk = SimVfs::new();
    let (store, spy) = spy_store(&disk);
    let store = Arc::new(store);
    let _guard = ResumeOnDrop(disk.clone());
    let g = GroupId(1);
    let t0 = store.append(g, vec![entry(1, 50)]).unwrap();
    store.wait(t0).unwrap();
    std::thread::sleep(Duration::from_millis(20)); // the writer parks
    disk.set_faults(Faults {
        pause_sync_at: Some(1),
        ..Faults::default()
    });
    let s = store.clone();
    let waiter = std::thread::Builder::new()
        .name("lone-waiter".into())
        .spawn(move || {
            let t = s.append(g, vec![entry(2, 300), entry(3, 300)]).unwrap();
            s.wait(t).map(|_| t)
        })
        .unwrap();
    poll("sync of the lone caller's batch in flight", || {
        disk.sync_paused()
    });
    assert_eq!(
        store.durable_seq(),
        t0.0,
        "nothing reported before the sync"
    );
    let history = vec![entry(1, 50), entry(2, 300), entry(3, 300)];
    for seed in 0..CRASH_SEEDS {
        let got = recovered(&disk.crash(&mut SimRng::new(seed)));
        check_prefix(&got, &history, 1, seed);
    }
    disk.resume();
    let t = waiter.join().unwrap().unwrap();
    assert!(store.is_durable(t).unwrap());
    for seed in 0..CRASH_SEEDS / 10 {
        let got = recovered(&disk.crash(&mut SimRng::new(seed)));
        check_prefix(&got, &history, 3, seed);
    }
    // Which thread ran the paused sync is timing-dependent; either is valid.
    let threads = spy.threads.lock().unwrap().clone();
    assert!(
        threads
            .iter()
            .any(|n| n == "lone-waiter" || n == "slotraft-wal-sync"),
        "{threads:?}"
    );
}

#[test]
fn lone_caller_failed_sync_reports_nothing() {
    let g = GroupId(1);
    let me = std::thread::current().name().unwrap().to_string();
    let mut inline_failures = 0;
    // A few attempts: the failure must hit the caller's own sync at least
    // once (the writer thread must have parked first).
    for attempt in 0..5u64 {
        let disk = SimVfs::new();
        let (store, spy) = spy_store(&disk);
        let t0 = store.append(g, vec![entry(1, 10)]).unwrap();
        store.wait(t0).unwrap();
        std::thread::sleep(Duration::from_millis(10 * (attempt + 1)));
        spy.threads.lock().unwrap().clear();
        disk.set_faults(Faults {
            fail_sync_at: Some(1),
            ..Faults::default()
        });
        let t1 = store.append(g, vec![entry(2, 10)]).unwrap();
        assert!(store.wait(t1).is_err(), "a failed fsync reports nothing");
        assert!(store.is_durable(t1).is_err());
        assert!(
            store.append(g, vec![entry(3, 10)]).is_err(),
            "failed for good"
        );
        let history = vec![entry(1, 10), entry(2, 10)];
        for seed in 0..CRASH_SEEDS / 10 {
            check_prefix(
                &recovered(&disk.crash(&mut SimRng::new(seed))),
                &history,
                1,
                seed,
            );
        }
        if spy.threads.lock().unwrap().first() == Some(&me) {
            inline_failures += 1;
        }
    }
    assert!(inline_failures >= 1, "the caller's own sync never failed");
}

/// Rounds of the callback-thread test (a pause before each lets the
/// pipeline go idle).
const CALLBACK_ROUNDS: u64 = 20;

/// A durable callback on an idle pipeline is run by the sync thread right
/// after its fdatasync, not handed to the writer thread (one thread wakeup
/// less on the node driver's durable path).
#[test]
fn a_callback_on_an_idle_pipeline_runs_on_the_sync_thread() {
    let disk = SimVfs::new();
    let (store, _spy) = spy_store(&disk);
    let g = GroupId(1);
    let me = std::thread::current().name().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 1..=CALLBACK_ROUNDS {
        std::thread::sleep(Duration::from_millis(5));
        let t = store.append(g, vec![entry(i, 40)]).unwrap();
        let tx = tx.clone();
        store.on_durable(t, move |r| {
            let name = std::thread::current().name().unwrap_or("?").to_string();
            tx.send((r.is_ok(), name)).unwrap();
        });
    }
    let got: Vec<(bool, String)> = (0..CALLBACK_ROUNDS)
        .map(|_| rx.recv_timeout(POLL_LIMIT).unwrap())
        .collect();
    assert!(got.iter().all(|(ok, _)| *ok), "{got:?}");
    let by_sync = got.iter().filter(|(_, n)| n == "slotraft-wal-sync").count();
    assert!(by_sync >= 1, "no callback ran on the sync thread: {got:?}");
    assert!(
        got.iter()
            .all(|(_, n)| n.starts_with("slotraft-wal") || *n == me),
        "callbacks run on the WAL threads (or at once if already durable): {got:?}"
    );
}

/// Submitters and callbacks on every thread at once, with idle spells (so
/// both WAL threads run callbacks): every callback runs exactly once, and
/// only once its ticket is durable.
#[test]
fn callbacks_run_once_after_durable_under_concurrent_submitters() {
    const SUBMITTERS: u64 = 4;
    const PER_SUBMITTER: u64 = 300;
    let disk = SimVfs::new();
    let (store, _spy) = spy_store(&disk);
    let store = Arc::new(store);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..SUBMITTERS)
        .map(|k| {
            let (store, seen) = (store.clone(), seen.clone());
            std::thread::spawn(move || {
                for i in 1..=PER_SUBMITTER {
                    let t = store.append(GroupId(k), vec![entry(i, 30)]).unwrap();
                    let (seen, s2) = (seen.clone(), store.clone());
                    store.on_durable(t, move |r| {
                        let durable = s2.durable_seq() >= t.0;
                        seen.lock().unwrap().push((t, r.is_ok(), durable));
                    });
                    if i % 50 == 0 {
                        std::thread::sleep(Duration::from_millis(2)); // idle spells
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    poll("every callback ran", || {
        seen.lock().unwrap().len() as u64 == SUBMITTERS * PER_SUBMITTER
    });
    let mut seen = seen.lock().unwrap().clone();
    assert!(seen.iter().all(|(_, ok, durable)| *ok && *durable));
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen.len() as u64,
        SUBMITTERS * PER_SUBMITTER,
        "a callback ran twice"
    );
}

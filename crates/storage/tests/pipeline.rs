//! The pipelined writer under a crash in its window: batch N's fdatasync is
//! held in flight (SimVfs pause), the writer writes batch N+1 meanwhile, and
//! the disk crashes right then. Nothing of N or N+1 may have been reported
//! durable, and every crash image must recover to a prefix of the history
//! (never N+1's records without all of N's). Then, released, N is reported
//! only after its own sync and N+1 only after the next one.

use bytes::Bytes;
use slotraft_storage::sim::{Faults, SimRng, SimVfs};
use slotraft_storage::{Config, Entry, Store, Ticket, Vfs};
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

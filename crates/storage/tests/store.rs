//! Targeted behaviour tests of the store: durability notification, fsync
//! failure, ENOSPC, snapshots (write, chunked read, replace, crash during),
//! format version, reads from disk with a bit flip, concurrency on a real disk.

use bytes::Bytes;
use slotraft_storage::sim::{Faults, SimRng, SimVfs};
use slotraft_storage::{
    Config, Entry, Error, HardState, StdVfs, Store, Vfs, WriteBatch, MAX_SNAPSHOT_CHUNK,
};
use slotraft_types::{GroupId, LogIndex, NodeId, Term};
use std::sync::{mpsc, Arc};
use std::time::Duration;

fn e(i: u64, t: u64, data: &str) -> Entry {
    Entry {
        index: LogIndex(i),
        term: Term(t),
        data: Bytes::from(data.to_string()),
    }
}

/// Default config with a small zero preallocation (the sim copies whole
/// files on every sync, so 4 MiB of zeros would only slow the tests).
fn test_cfg() -> Config {
    Config {
        prealloc_bytes: 4096,
        ..Config::default()
    }
}

fn small() -> Config {
    Config {
        segment_bytes: 512,
        cache_bytes: 0,
        ..test_cfg()
    }
}

fn open(v: &SimVfs, c: Config) -> Store {
    Store::open(Arc::new(v.clone()), c).unwrap().0
}

#[test]
fn append_wait_read_reopen_across_groups() {
    let v = SimVfs::new();
    let s = open(&v, test_cfg());
    let g1 = GroupId(1);
    let g2 = GroupId(2);
    s.append(g1, vec![e(1, 1, "a"), e(2, 1, "b")]).unwrap();
    s.append(g2, vec![e(1, 3, "x")]).unwrap();
    let t = s
        .set_hard_state(
            g1,
            HardState {
                term: Term(1),
                vote: NodeId(7),
                commit: LogIndex(2),
            },
        )
        .unwrap();
    s.wait(t).unwrap();
    assert!(s.durable_seq() >= t.0);
    assert_eq!(
        s.entries(g1, LogIndex(1), LogIndex(3), None).unwrap()[1].data,
        Bytes::from("b")
    );
    assert_eq!(
        s.entries(g1, LogIndex(1), LogIndex(3), Some(1))
            .unwrap()
            .len(),
        1,
        "max_bytes stops after one"
    );
    assert_eq!(s.term(g2, LogIndex(1)).unwrap(), Term(3));
    assert_eq!(s.term(g2, LogIndex(2)), Err(Error::Unavailable));
    drop(s);
    let s = open(&v.crash(&mut SimRng::new(1)), test_cfg());
    assert_eq!(s.groups(), vec![g1, g2]);
    assert_eq!(s.last_index(g1).unwrap(), LogIndex(2));
    assert_eq!(s.hard_state(g1).unwrap().vote, NodeId(7));
    assert_eq!(
        s.entries(g2, LogIndex(1), LogIndex(2), None).unwrap(),
        vec![e(1, 3, "x")]
    );
}

#[test]
fn callbacks_and_channels_learn_durability() {
    let v = SimVfs::new();
    let s = open(&v, test_cfg());
    let (tx, rx) = mpsc::channel();
    let mut tickets = Vec::new();
    for i in 1..=50u64 {
        let t = s
            .append(GroupId((i - 1) % 5), vec![e((i - 1) / 5 + 1, 1, "p")])
            .unwrap();
        let tx = tx.clone();
        s.on_durable(t, move |r| tx.send((t, r)).unwrap());
        tickets.push(t);
    }
    let mut got: Vec<_> = (0..50)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    got.sort_by_key(|x| x.0);
    assert!(got.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), tickets);
    assert!(s.is_durable(*tickets.last().unwrap()).unwrap());
}

#[test]
fn invalid_requests_are_refused() {
    let v = SimVfs::new();
    let s = open(&v, test_cfg());
    let g = GroupId(1);
    assert!(matches!(
        s.append(g, vec![e(2, 1, "gap")]),
        Err(Error::InvalidArgument(_))
    ));
    s.append(g, vec![e(1, 1, "a")]).unwrap();
    assert!(matches!(
        s.append(g, vec![e(2, 1, "a"), e(4, 1, "b")]),
        Err(Error::InvalidArgument(_))
    ));
    s.set_hard_state(
        g,
        HardState {
            term: Term(5),
            vote: NodeId(0),
            commit: LogIndex(1),
        },
    )
    .unwrap();
    assert!(matches!(
        s.set_hard_state(
            g,
            HardState {
                term: Term(4),
                ..HardState::default()
            }
        ),
        Err(Error::InvalidArgument(_))
    ));
    s.compact(g, LogIndex(1), Term(1)).unwrap();
    assert!(matches!(
        s.truncate_from(g, LogIndex(1)),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(
        s.entries(g, LogIndex(1), LogIndex(2), None),
        Err(Error::Compacted)
    );
    assert_eq!(
        s.hard_state(GroupId(9)),
        Err(Error::UnknownGroup(GroupId(9)))
    );
}

#[test]
fn failed_fsync_is_fatal_and_never_reported_durable() {
    let v = SimVfs::new();
    let s = open(&v, test_cfg());
    v.set_faults(Faults {
        fail_sync_at: Some(1),
        ..Faults::default()
    });
    let t = s.append(GroupId(1), vec![e(1, 1, "lost?")]).unwrap();
    assert!(matches!(s.wait(t), Err(Error::Failed(_))));
    assert!(!matches!(s.is_durable(t), Ok(true)));
    assert!(
        matches!(
            s.append(GroupId(1), vec![e(2, 1, "x")]),
            Err(Error::Failed(_))
        ),
        "no retry after a failed fsync"
    );
    let (tx, rx) = mpsc::channel();
    s.on_durable(t, move |r| tx.send(r).unwrap());
    assert!(matches!(rx.recv().unwrap(), Err(Error::Failed(_))));
}

#[test]
fn enospc_stops_writes_with_a_clear_error_and_loses_nothing_reported() {
    let v = SimVfs::new();
    let s = open(&v, test_cfg());
    let t = s.append(GroupId(1), vec![e(1, 1, "kept")]).unwrap();
    s.wait(t).unwrap();
    let used: u64 = v.list().unwrap().iter().filter_map(|n| v.file_len(n)).sum();
    v.set_faults(Faults {
        space_limit: Some(used + 10),
        ..Faults::default()
    });
    let t2 = s
        .append(
            GroupId(1),
            vec![e(
                2,
                1,
                &"more than the preallocated zeros plus ten bytes ".repeat(200),
            )],
        )
        .unwrap();
    assert_eq!(s.wait(t2), Err(Error::NoSpace));
    assert_eq!(
        s.append(GroupId(1), vec![e(3, 1, "x")]),
        Err(Error::NoSpace)
    );
    assert_eq!(
        s.entries(GroupId(1), LogIndex(1), LogIndex(2), None)
            .unwrap()[0]
            .data,
        Bytes::from("kept"),
        "reads still work"
    );
    drop(s);
    let after = v.crash(&mut SimRng::new(3));
    // The partial write (if the crash kept any of it) is cut as a torn tail.
    let (s, _) = Store::open(Arc::new(after), test_cfg()).unwrap();
    assert_eq!(s.last_index(GroupId(1)).unwrap(), LogIndex(1));
}

#[test]
fn segments_roll_and_are_reclaimed_after_compaction() {
    let v = SimVfs::new();
    let s = open(&v, small());
    let g = GroupId(1);
    for i in 1..=60 {
        let t = s
            .append(g, vec![e(i, 1, "0123456789012345678901234567890123456789")])
            .unwrap();
        s.wait(t).unwrap();
    }
    let segs = |v: &SimVfs| files(v, "wal-").len();
    let before = segs(&v);
    assert!(before > 4, "rolled: {before}");
    // Reads from disk (cache is 0), across segments.
    assert_eq!(
        s.entries(g, LogIndex(1), LogIndex(61), None).unwrap().len(),
        60
    );
    s.wait(s.compact(g, LogIndex(55), Term(1)).unwrap())
        .unwrap();
    s.wait(s.append(g, vec![e(61, 1, "after")]).unwrap())
        .unwrap();
    let after = segs(&v);
    assert!(after < before / 2, "reclaimed: {before} -> {after}");
    drop(s);
    let s = open(&v.crash(&mut SimRng::new(5)), small());
    assert_eq!(s.first_index(g).unwrap(), LogIndex(56));
    assert_eq!(
        s.entries(g, LogIndex(56), LogIndex(62), None)
            .unwrap()
            .len(),
        6
    );
}

#[test]
fn a_small_old_log_pins_the_wal_until_its_group_compacts() {
    let v = SimVfs::new();
    let s = open(&v, small());
    let (idle, busy) = (GroupId(7), GroupId(2));
    s.wait(s.append(idle, vec![e(1, 1, "i")]).unwrap()).unwrap();
    for i in 1..=60 {
        let t = s
            .append(
                busy,
                vec![e(i, 1, "0123456789012345678901234567890123456789")],
            )
            .unwrap();
        s.wait(t).unwrap();
    }
    // The busy group compacting everything frees nothing: the idle group's
    // one entry sits in the first segment.
    s.wait(s.compact(busy, LogIndex(60), Term(1)).unwrap())
        .unwrap();
    s.wait(s.append(busy, vec![e(61, 1, "x")]).unwrap())
        .unwrap();
    let pinned = s.wal_bytes();
    assert_eq!(pinned, files(&v, "wal-").len() as u64 * 512);
    assert!(pinned > 4 * 512, "nothing reclaimed: {pinned}");
    assert_eq!(s.oldest_pinning_group(), Some(idle));
    let h = slotraft_storage::record::RECORD_HEADER_LEN as u64;
    assert_eq!(s.log_bytes(idle).unwrap(), 1 + h, "tiny log, old position");
    // Once it compacts, the WAL shrinks to what the busy group needs.
    s.wait(s.compact(idle, LogIndex(1), Term(1)).unwrap())
        .unwrap();
    s.wait(s.append(busy, vec![e(62, 1, "y")]).unwrap())
        .unwrap();
    assert!(s.wal_bytes() <= 2 * 512, "reclaimed: {}", s.wal_bytes());
    assert_eq!(s.oldest_pinning_group(), Some(busy));
}

#[test]
fn bit_flip_in_a_synced_segment_is_refused_at_open_and_at_read() {
    let v = SimVfs::new();
    let s = open(&v, small());
    for i in 1..=30 {
        s.wait(
            s.append(GroupId(1), vec![e(i, 1, "payload payload payload")])
                .unwrap(),
        )
        .unwrap();
    }
    // Flip a payload byte of entry 1 (first record of the first segment).
    v.flip_bit("wal-0000000000000001.log", 32 + 36 + 2, 0);
    let got = s.entries(GroupId(1), LogIndex(1), LogIndex(31), None);
    assert!(matches!(got, Err(Error::Corruption { .. })), "{got:?}");
    drop(s);
    let r = Store::open(Arc::new(v.crash(&mut SimRng::new(0))), small());
    assert!(matches!(r, Err(Error::Corruption { .. })), "{:?}", r.err());
}

#[test]
fn unsupported_version_is_refused() {
    let v = SimVfs::new();
    drop(open(&v, test_cfg()));
    let f = v.open("wal-0000000000000001.log").unwrap();
    let mut h = [0u8; 32];
    slotraft_storage::vfs::read_exact_at(&*f, &mut h, 0).unwrap();
    h[8] = 9;
    let crc = crc32c::crc32c(&h[0..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    f.write_at(&h, 0).unwrap();
    f.sync().unwrap();
    let r = Store::open(Arc::new(v.clone()), test_cfg());
    assert!(
        matches!(r, Err(Error::UnsupportedVersion { version: 9, .. })),
        "{:?}",
        r.err()
    );
}

/// Names of the files in `v` that start with `prefix`.
fn files(v: &SimVfs, prefix: &str) -> Vec<String> {
    v.list()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// A store on `v` whose group `g` holds entries 1-10 of term 2.
fn store_with_ten_entries(v: &SimVfs, g: GroupId) -> Store {
    let s = open(v, test_cfg());
    for i in 1..=10 {
        s.append(g, vec![e(i, 2, "x")]).unwrap();
    }
    s
}

fn write_snapshot(s: &Store, g: GroupId, index: u64, data: &[u8]) {
    let mut w = s.snapshot_writer(g, LogIndex(index), Term(2)).unwrap();
    for (k, c) in data.chunks(MAX_SNAPSHOT_CHUNK).enumerate() {
        w.write_chunk((k * MAX_SNAPSHOT_CHUNK) as u64, c).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn log_bytes_count_live_payloads_live_and_after_replay() {
    let v = SimVfs::new();
    let g = GroupId(3);
    let s = store_with_ten_entries(&v, g);
    // Payload plus record header per entry.
    let h = slotraft_storage::record::RECORD_HEADER_LEN as u64;
    assert_eq!(s.log_bytes(g).unwrap(), 10 * (1 + h), "ten 1-byte payloads");
    s.append(g, vec![e(11, 2, "0123456789")]).unwrap();
    let t = s.compact(g, LogIndex(4), Term(2)).unwrap();
    s.wait(t).unwrap();
    assert_eq!(s.log_bytes(g).unwrap(), 6 * (1 + h) + 10 + h);
    drop(s);
    let s = open(&v.crash(&mut SimRng::new(3)), test_cfg());
    assert_eq!(
        s.log_bytes(g).unwrap(),
        6 * (1 + h) + 10 + h,
        "replay counts the same"
    );
    assert_eq!(
        s.log_bytes(GroupId(99)),
        Err(Error::UnknownGroup(GroupId(99)))
    );
}

#[test]
fn snapshots_write_read_in_chunks_replace_and_compact() {
    let v = SimVfs::new();
    let g = GroupId(4);
    let s = store_with_ten_entries(&v, g);
    let data: Vec<u8> = (0..(MAX_SNAPSHOT_CHUNK * 2 + 100))
        .map(|i| (i % 251) as u8)
        .collect();
    write_snapshot(&s, g, 5, &data[..1000]);
    write_snapshot(&s, g, 8, &data);
    s.wait(s.compact(g, LogIndex(8), Term(2)).unwrap()).unwrap();
    let snaps = files(&v, "snap-");
    assert_eq!(
        snaps.len(),
        1,
        "old snapshot removed once the new one is durable: {snaps:?}"
    );
    let r = s.snapshot_reader(g).unwrap().unwrap();
    assert_eq!(r.meta().index, LogIndex(8));
    r.verify().unwrap();
    let mut back = Vec::new();
    // Bounded by the snapshot size.
    while (back.len() as u64) < r.meta().len {
        let c = r.read_chunk(back.len() as u64, 1 << 30).unwrap();
        assert!(!c.is_empty() && c.len() <= MAX_SNAPSHOT_CHUNK);
        back.extend_from_slice(&c);
    }
    assert_eq!(back, data);
    let mut w = s.snapshot_writer(g, LogIndex(9), Term(2)).unwrap();
    assert!(
        matches!(w.write_chunk(5, b"late"), Err(Error::InvalidArgument(_))),
        "chunks must come in order"
    );
}

#[test]
fn an_older_snapshot_finishing_late_never_replaces_a_newer_one() {
    let v = SimVfs::new();
    let g = GroupId(4);
    let s = store_with_ten_entries(&v, g);
    // A compaction snapshot at 5 is being written (on its own thread in
    // the node) while the group installs its leader's snapshot at 9.
    let mut old = s.snapshot_writer(g, LogIndex(5), Term(2)).unwrap();
    old.write_chunk(0, b"old state").unwrap();
    write_snapshot(&s, g, 9, b"new state");
    assert!(matches!(old.finish(), Err(Error::Compacted)));
    let r = s.snapshot_reader(g).unwrap().unwrap();
    assert_eq!(r.meta().index, LogIndex(9));
    let snaps = files(&v, "snap-");
    assert_eq!(snaps.len(), 1, "the late one is removed: {snaps:?}");
    // And after a restart, the newer one is what recovery finds.
    drop(r);
    drop(s);
    let s = open(&v, test_cfg());
    assert_eq!(
        s.snapshot_reader(g).unwrap().unwrap().meta().index,
        LogIndex(9)
    );
}

#[test]
fn crash_during_snapshot_keeps_old_or_new_never_partial_and_reconciles() {
    for seed in 0..200 {
        let v = SimVfs::new();
        let s = open(&v, test_cfg());
        let g = GroupId(1);
        for i in 1..=6 {
            s.append(g, vec![e(i, 2, "x")]).unwrap();
        }
        write_snapshot(&s, g, 3, b"old snapshot");
        s.wait(s.compact(g, LogIndex(3), Term(2)).unwrap()).unwrap();
        let mut rng = SimRng::new(seed);
        v.set_faults(Faults {
            crash_at_op: Some(1 + rng.below(12)),
            ..Faults::default()
        });
        let new = vec![7u8; 3000];
        let _ = (|| -> Result<(), Error> {
            let mut w = s.snapshot_writer(g, LogIndex(5), Term(2))?;
            w.write_chunk(0, &new)?;
            w.finish()?;
            s.wait(s.compact(g, LogIndex(5), Term(2))?)
        })();
        let after = v.crash(&mut rng);
        drop(s);
        let (s, report) = Store::open(Arc::new(after.clone()), test_cfg()).unwrap();
        let r = s.snapshot_reader(g).unwrap().expect("a snapshot survives");
        r.verify().unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let idx = r.meta().index;
        assert!(idx == LogIndex(3) || idx == LogIndex(5), "seed {seed}");
        let content = r.read_chunk(0, MAX_SNAPSHOT_CHUNK).unwrap();
        assert_eq!(
            &content[..],
            if idx == LogIndex(3) {
                &b"old snapshot"[..]
            } else {
                &new[..]
            }
        );
        assert!(
            s.first_index(g).unwrap() > idx,
            "seed {seed}: log compacted through the snapshot"
        );
        let _ = report;
        assert!(
            !after.list().unwrap().iter().any(|n| n.ends_with(".tmp")),
            "seed {seed}: temp files removed"
        );
    }
}

#[test]
fn concurrent_writers_on_a_real_disk() {
    let dir = std::env::temp_dir().join(format!("slotraft-store-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let vfs: Arc<dyn Vfs> = Arc::new(StdVfs::new(&dir).unwrap());
    let (s, _) = Store::open(vfs.clone(), Config::default()).unwrap();
    let s = Arc::new(s);
    let threads: Vec<_> = (0..8u64)
        .map(|w| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 1..=50u64 {
                    let mut b = WriteBatch::new();
                    b.append(GroupId(w), vec![e(i, 1, &format!("w{w}i{i}"))]);
                    s.wait(s.write(b).unwrap()).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(Arc::try_unwrap(s).ok().expect("sole owner"));
    let (s, report) = Store::open(vfs, Config::default()).unwrap();
    assert_eq!(report.entries, 400);
    for w in 0..8u64 {
        let got = s
            .entries(GroupId(w), LogIndex(1), LogIndex(51), None)
            .unwrap();
        assert_eq!(got[49].data, Bytes::from(format!("w{w}i50")));
    }
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

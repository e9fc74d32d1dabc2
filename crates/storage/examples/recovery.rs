//! Restart of a node with many log entries: writes `--entries` (default 1M)
//! entries of `--size` bytes (default 100) round-robin over `--groups`
//! (default 100) groups, closes the store, then measures `Store::open`
//! (scan + verify + replay of every segment) and checks the recovered logs.
//!
//! Usage: `recovery [--dir DIR] [--entries N] [--groups G] [--size B]`.

use bytes::Bytes;
use slotraft_storage::{Config, Entry, HardState, StdVfs, Store, WriteBatch};
use slotraft_types::{GroupId, LogIndex, NodeId, Term};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Entries per submitted write batch while loading.
const LOAD_BATCH: u64 = 2000;

fn main() {
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = PathBuf::from("/work/bench-storage/recovery");
    let (mut entries, mut groups, mut size) = (1_000_000u64, 100u64, 100usize);
    let mut i = 0;
    while i + 1 < v.len() {
        match v[i].as_str() {
            "--dir" => dir = PathBuf::from(&v[i + 1]),
            "--entries" => entries = v[i + 1].parse().expect("number"),
            "--groups" => groups = v[i + 1].parse().expect("number"),
            "--size" => size = v[i + 1].parse().expect("number"),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let vfs = Arc::new(StdVfs::new(&dir).expect("dir"));
    let data = Bytes::from(vec![0xA5u8; size]);
    let t = Instant::now();
    {
        let (store, _) = Store::open(vfs.clone(), Config::default()).expect("open");
        let mut written = 0u64;
        let mut last = None;
        // Bounded by `entries`.
        while written < entries {
            let mut b = WriteBatch::new();
            let n = LOAD_BATCH.min(entries - written);
            let mut per_group: Vec<Vec<Entry>> = vec![Vec::new(); groups as usize];
            for k in written..written + n {
                let g = k % groups;
                let index = LogIndex(k / groups + 1);
                per_group[g as usize].push(Entry {
                    index,
                    term: Term(1),
                    data: data.clone(),
                });
            }
            for (g, es) in per_group.into_iter().enumerate() {
                if !es.is_empty() {
                    b.append(GroupId(g as u64), es);
                }
            }
            last = Some(store.write(b).expect("write"));
            written += n;
        }
        for g in 0..groups {
            let hs = HardState {
                term: Term(1),
                vote: NodeId(1),
                commit: LogIndex(entries / groups),
            };
            last = Some(store.set_hard_state(GroupId(g), hs).expect("hs"));
        }
        store.wait(last.expect("wrote something")).expect("durable");
    }
    let load = t.elapsed();
    let t = Instant::now();
    let (store, report) = Store::open(vfs, Config::default()).expect("recover");
    let recovery = t.elapsed();
    assert_eq!(report.entries, entries, "every entry recovered");
    for g in 0..groups {
        let last = store.last_index(GroupId(g)).expect("group");
        let es = store
            .entries(GroupId(g), last, last.next(), None)
            .expect("read");
        assert_eq!(es[0].data, data);
        assert_eq!(
            store.hard_state(GroupId(g)).expect("hs").commit,
            LogIndex(entries / groups)
        );
    }
    println!(
        "loaded {entries} entries x {size} B over {groups} groups in {load:?}; recovery {recovery:?} ({} segments, {:.0} MB scanned, {:.0} entries/s)",
        report.segments,
        report.bytes_scanned as f64 / 1e6,
        entries as f64 / recovery.as_secs_f64()
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

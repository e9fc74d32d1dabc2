//! Determinism of the random commands (SPOP, SRANDMEMBER, ZRANDMEMBER):
//! their results must be a pure function of the keyspace state and the
//! seed/time the leader put in the log entry, so that every replica —
//! whether it replayed the log or was restored from a snapshot — answers
//! and changes state identically.
//!
//! Run: `cargo test -p slotraft-keyspace --test set_determinism`.

use bytes::Bytes;
use slotraft_keyspace::{ExecCtx, Keyspace};
use slotraft_resp::{Protocol, Reply};

const T0: u64 = 1_700_000_000_000;

fn argv(line: &str) -> Vec<Bytes> {
    line.split_whitespace()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

fn ctx(i: u64) -> ExecCtx {
    ExecCtx {
        now_ms: T0 + i,
        seed: 0xC0FFEE ^ i,
        may_block: false,
    }
}

/// A log with adds and removes in both families.
fn log() -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..300 {
        v.push(format!("sadd s m{i} n{}", i * 7 % 50));
        v.push(format!("zadd z {} m{i}", i % 13));
        if i % 5 == 0 {
            v.push(format!("srem s m{}", i / 2));
            v.push(format!("zrem z m{}", i / 3));
        }
    }
    v
}

fn replay(lines: &[String]) -> Keyspace {
    let mut ks = Keyspace::new();
    for (i, l) in lines.iter().enumerate() {
        let r = ks.execute(&argv(l), &ctx(i as u64)).into_reply();
        assert!(!r.is_error(), "{l}: {r:?}");
    }
    ks
}

fn bytes(r: &Reply) -> Vec<u8> {
    r.to_bytes(Protocol::Resp2)
}

/// Runs the random commands on `ks` at log position `at`.
fn random_answers(ks: &mut Keyspace, at: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (i, l) in [
        "srandmember s -20",
        "srandmember s 15",
        "zrandmember z -10 withscores",
        "zrandmember z 5",
    ]
    .iter()
    .enumerate()
    {
        out.push(bytes(&ks.execute_read(&argv(l), T0 + at + i as u64)));
    }
    for (i, l) in ["spop s 7", "spop s", "srandmember s 3"].iter().enumerate() {
        out.push(bytes(
            &ks.execute(&argv(l), &ctx(at + 10 + i as u64)).into_reply(),
        ));
    }
    let mut snap = Vec::new();
    ks.snapshot_all(&mut snap).unwrap();
    out.push(snap);
    out
}

#[test]
fn same_log_same_random_choices() {
    let lines = log();
    let (mut a, mut b) = (replay(&lines), replay(&lines));
    let n = lines.len() as u64;
    assert_eq!(random_answers(&mut a, n), random_answers(&mut b, n));
}

#[test]
fn restored_replica_makes_the_same_choices() {
    let lines = log();
    let mut a = replay(&lines);
    let mut snap = Vec::new();
    a.snapshot_all(&mut snap).unwrap();
    let mut b = Keyspace::new();
    b.restore(&mut &snap[..]).unwrap();
    let n = lines.len() as u64;
    assert_eq!(random_answers(&mut a, n), random_answers(&mut b, n));
}

#[test]
fn different_seeds_choose_differently() {
    let lines = log();
    let mut a = replay(&lines);
    let mut b = replay(&lines);
    let spop = argv("spop s 10");
    let ra = a.execute(&spop, &ctx(1_000)).into_reply();
    let rb = b.execute(&spop, &ctx(2_000)).into_reply();
    assert_ne!(bytes(&ra), bytes(&rb), "the seed must drive the choice");
}

//! Property tests of the state machine's replication contract:
//! - two keyspaces fed the same (argv, ctx) sequence end identical, with
//!   identical replies (determinism);
//! - snapshot -> restore reproduces the keyspace exactly (full and per
//!   slot range), and a replica restored from a mid-way snapshot then fed
//!   the rest of the log converges with one that replayed everything;
//! - the read path never changes state.
//!
//! Short by default (CI); more cases: `PROPTEST_CASES=2000 cargo test -p
//! slotraft-keyspace --test determinism --release`.

use bytes::Bytes;
use proptest::prelude::*;
use slotraft_keyspace::{ExecCtx, Keyspace, Outcome};

const KEYS: &[&str] = &["k0", "k1", "k2", "{k}a", "{k}b", "h0", "h1"];
const FIELDS: &[&str] = &["f0", "f1", "f2"];
const VALUES: &[&str] = &["", "1", "-7", "3.5", "abc", "9223372036854775807", "x y"];

fn pick(xs: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(xs).prop_map(str::to_string)
}

/// One random command (mostly writes, some reads), as argv strings.
fn command() -> impl Strategy<Value = Vec<String>> {
    let k = || pick(KEYS);
    let f = || pick(FIELDS);
    let v = || pick(VALUES);
    prop_oneof![
        (k(), v()).prop_map(|(k, v)| vec!["set".into(), k, v]),
        (k(), v(), 1u32..5000).prop_map(|(k, v, ms)| vec![
            "set".into(),
            k,
            v,
            "px".into(),
            ms.to_string()
        ]),
        (k(), v()).prop_map(|(k, v)| vec!["set".into(), k, v, "nx".into(), "get".into()]),
        k().prop_map(|k| vec!["get".into(), k]),
        (k(), k()).prop_map(|(a, b)| vec!["del".into(), a, b]),
        k().prop_map(|k| vec!["incr".into(), k]),
        (k(), v()).prop_map(|(k, v)| vec!["incrbyfloat".into(), k, v]),
        (k(), v()).prop_map(|(k, v)| vec!["append".into(), k, v]),
        (k(), 0u32..20, v()).prop_map(|(k, o, v)| vec!["setrange".into(), k, o.to_string(), v]),
        (k(), 0u32..40, 0u32..2).prop_map(|(k, o, b)| vec![
            "setbit".into(),
            k,
            o.to_string(),
            b.to_string()
        ]),
        (k(), -2i32..5000).prop_map(|(k, ms)| vec!["pexpire".into(), k, ms.to_string()]),
        k().prop_map(|k| vec!["persist".into(), k]),
        (k(), k()).prop_map(|(a, b)| vec!["rename".into(), a, b]),
        (k(), k()).prop_map(|(a, b)| vec!["copy".into(), a, b, "replace".into()]),
        (k(), f(), v()).prop_map(|(k, f, v)| vec!["hset".into(), k, f, v]),
        (k(), f()).prop_map(|(k, f)| vec!["hdel".into(), k, f]),
        (k(), f(), -3i32..3).prop_map(|(k, f, n)| vec!["hincrby".into(), k, f, n.to_string()]),
        (k(), f(), v()).prop_map(|(k, f, v)| vec!["hincrbyfloat".into(), k, f, v]),
        k().prop_map(|k| vec!["hgetall".into(), k]),
        k().prop_map(|k| vec!["getdel".into(), k]),
        k().prop_map(|k| vec!["pttl".into(), k]),
        Just(vec!["randomkey".to_string()]),
        Just(vec!["dbsize".to_string()]),
        (k(), 0u32..3).prop_map(|(k, n)| vec!["hrandfield".into(), k, n.to_string()]),
        Just(vec!["flushall".to_string()]),
    ]
}

/// A log entry: command + leader time step (may go backwards a bit, as
/// after a leader change) + seed.
fn entries() -> impl Strategy<Value = Vec<(Vec<String>, i32, u64)>> {
    prop::collection::vec((command(), -50i32..400, any::<u64>()), 1..80)
}

fn argv(c: &[String]) -> Vec<Bytes> {
    c.iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

/// Applies one entry; every few entries also the leader's active expiry.
fn apply(ks: &mut Keyspace, c: &[String], now: u64, seed: u64) -> Vec<Outcome> {
    let ctx = ExecCtx {
        now_ms: now,
        seed,
        may_block: false,
    };
    let mut out = vec![ks.execute(&argv(c), &ctx)];
    if seed.is_multiple_of(5) {
        // The leader computes the expired set on ITS copy; followers apply
        // the same entry.
        let mut e = vec![Bytes::from_static(slotraft_keyspace::INTERNAL_EXPIRE)];
        e.extend(ks.collect_expired(now, 16));
        out.push(ks.execute(&e, &ctx));
    }
    out
}

/// Map replies (HGETALL) with their pairs in a content-defined order.
fn unordered_maps(out: Vec<Outcome>) -> Vec<Outcome> {
    out.into_iter()
        .map(|o| match o {
            Outcome::Reply(slotraft_resp::Reply::Map(mut pairs)) => {
                pairs.sort_by_cached_key(|p| format!("{p:?}"));
                Outcome::Reply(slotraft_resp::Reply::Map(pairs))
            }
            other => other,
        })
        .collect()
}

fn times(log: &[(Vec<String>, i32, u64)]) -> Vec<u64> {
    let mut now: i64 = 1_700_000_000_000;
    log.iter()
        .map(|(_, d, _)| {
            now += *d as i64;
            now as u64
        })
        .collect()
}

/// The log's times, `cut` clipped to its length, and a keyspace that
/// applied the log's first `cut` entries.
fn replay_prefix(log: &[(Vec<String>, i32, u64)], cut: usize) -> (Vec<u64>, usize, Keyspace) {
    let t = times(log);
    let cut = cut.min(log.len());
    let mut ks = Keyspace::new();
    for ((c, _, seed), now) in log[..cut].iter().zip(&t) {
        apply(&mut ks, c, *now, *seed);
    }
    (t, cut, ks)
}

fn snapshot(ks: &Keyspace) -> Vec<u8> {
    let mut buf = Vec::new();
    ks.snapshot_all(&mut buf).unwrap();
    buf
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn same_log_same_state(log in entries()) {
        let t = times(&log);
        let (mut a, mut b) = (Keyspace::new(), Keyspace::new());
        for ((c, _, seed), now) in log.iter().zip(&t) {
            let ra = apply(&mut a, c, *now, *seed);
            let rb = apply(&mut b, c, *now, *seed);
            prop_assert_eq!(ra, rb);
        }
        prop_assert_eq!(a.digest(), b.digest());
        prop_assert_eq!(snapshot(&a), snapshot(&b));
    }

    #[test]
    fn snapshot_restore_roundtrip_and_convergence(log in entries(), cut in 0usize..80) {
        let (t, cut, mut a) = replay_prefix(&log, cut);
        let snap = snapshot(&a);
        let mut b = Keyspace::new();
        b.set_from_snapshot(&snap);
        prop_assert_eq!(a.digest(), b.digest());
        // Restored replica and replaying replica converge. HGETALL's field
        // order is unspecified (table order, which depends on history: a
        // restored table was built in another order), as in Redis and in
        // the differential tests (tests/e2e/difftools.py UNORDERED).
        for ((c, _, seed), now) in log[cut..].iter().zip(&t[cut..]) {
            let ra = unordered_maps(apply(&mut a, c, *now, *seed));
            let rb = unordered_maps(apply(&mut b, c, *now, *seed));
            prop_assert_eq!(ra, rb);
        }
        prop_assert_eq!(a.digest(), b.digest());
    }

    #[test]
    fn a_frozen_view_is_untouched_by_later_commands(log in entries(), cut in 0usize..80) {
        let (t, cut, mut a) = replay_prefix(&log, cut);
        let want = snapshot(&a);
        let frozen = a.freeze();
        let mut replica = a.clone();
        for ((c, _, seed), now) in log[cut..].iter().zip(&t[cut..]) {
            apply(&mut a, c, *now, *seed);
        }
        // FLUSHALL drops every table at once: the view keeps its own.
        apply(&mut a, &["flushall".to_string()], t.last().copied().unwrap_or(0), 0);
        let frozen = std::thread::spawn(move || {
            let mut buf = Vec::new();
            frozen.snapshot_all(&mut buf).unwrap();
            buf
        })
        .join()
        .unwrap();
        prop_assert_eq!(frozen, want.clone());
        // A clone shares the tables too, and is just as untouched.
        prop_assert_eq!(snapshot(&replica), want);
        // And writing to the clone leaves the original alone.
        apply(&mut replica, &["set".into(), "k0".into(), "clone".into()], 1, 0);
        prop_assert_eq!(a.len(), 0);
    }

    #[test]
    fn slot_range_snapshot_moves_exactly_those_slots(log in entries()) {
        let t = times(&log);
        let mut a = Keyspace::new();
        for ((c, _, seed), now) in log.iter().zip(&t) {
            apply(&mut a, c, *now, *seed);
        }
        // Move the lower half of the slots into an empty keyspace.
        let mut buf = Vec::new();
        a.snapshot(&[0..=8191], &mut buf).unwrap();
        let mut b = Keyspace::new();
        b.restore(&mut &buf[..]).unwrap();
        for slot in 0..16384u16 {
            let want = if slot <= 8191 { a.count_keys_in_slot(slot) } else { 0 };
            prop_assert_eq!(b.count_keys_in_slot(slot), want);
        }
        // And the upper half: together they equal the original.
        let mut buf2 = Vec::new();
        a.snapshot(&[8192..=16383], &mut buf2).unwrap();
        b.restore(&mut &buf2[..]).unwrap();
        prop_assert_eq!(a.db().digest(), b.db().digest());
    }

    #[test]
    fn reads_never_change_state(log in entries(), reads in prop::collection::vec(command(), 1..40)) {
        let t = times(&log);
        let mut a = Keyspace::new();
        for ((c, _, seed), now) in log.iter().zip(&t) {
            apply(&mut a, c, *now, *seed);
        }
        let (d, s) = (a.digest(), snapshot(&a));
        let late = t.last().copied().unwrap_or(0) + 100_000; // everything expired
        for r in &reads {
            let _ = a.execute_read(&argv(r), late);
        }
        prop_assert_eq!(a.digest(), d);
        prop_assert_eq!(snapshot(&a), s);
    }
}

/// Extension used by the tests: restore from a byte slice or panic.
trait SetFromSnapshot {
    fn set_from_snapshot(&mut self, snap: &[u8]);
}

impl SetFromSnapshot for Keyspace {
    fn set_from_snapshot(&mut self, snap: &[u8]) {
        self.restore(&mut &snap[..]).expect("valid snapshot");
    }
}

#[test]
fn corrupt_snapshots_are_rejected_and_change_nothing() {
    let mut a = Keyspace::new();
    let ctx = ExecCtx {
        now_ms: 5,
        seed: 1,
        may_block: false,
    };
    for i in 0..50 {
        a.execute(
            &argv(&["hset".into(), format!("h{i}"), "f".into(), "v".into()]),
            &ctx,
        );
    }
    let snap = snapshot(&a);
    let mut b = Keyspace::new();
    b.execute(&argv(&["set".into(), "keep".into(), "me".into()]), &ctx);
    let before = b.digest();
    // Flip one bit at ~300 positions spread over the whole stream.
    for i in (0..snap.len()).step_by(snap.len() / 300 + 1) {
        let mut bad = snap.clone();
        bad[i] ^= 0x40;
        assert!(b.restore(&mut &bad[..]).is_err(), "flip at {i} accepted");
        assert_eq!(b.digest(), before);
    }
    assert!(b.restore(&mut &snap[..snap.len() - 1]).is_err());
    assert_eq!(b.digest(), before);
    b.restore(&mut &snap[..]).unwrap();
    assert_eq!(b.digest(), a.digest());
}

//! Hand-written valid and invalid histories, plus randomized histories
//! generated from a sequential execution (always linearizable) and their
//! one-read mutations (never linearizable).

use slotraft_lincheck::{
    check, Budget, CheckResult, KvInput, KvModel, KvOutput, Model, Operation, Outcome,
};

type Op = Operation<KvInput, KvOutput>;

fn key(k: &str) -> Vec<u8> {
    k.as_bytes().to_vec()
}

fn put(client: u64, k: &str, v: &str, call: u64, ret: u64) -> Op {
    Operation {
        client,
        input: KvInput::Put {
            key: key(k),
            value: key(v),
        },
        call_time: call,
        return_time: ret,
        output: Outcome::Known(KvOutput::Ok),
    }
}

fn put_unknown(client: u64, k: &str, v: &str, call: u64) -> Op {
    Operation {
        output: Outcome::Unknown,
        ..put(client, k, v, call, call)
    }
}

fn get(client: u64, k: &str, v: Option<&str>, call: u64, ret: u64) -> Op {
    Operation {
        client,
        input: KvInput::Get { key: key(k) },
        call_time: call,
        return_time: ret,
        output: Outcome::Known(KvOutput::Value(v.map(key))),
    }
}

fn run(h: &[Op]) -> CheckResult {
    check(&KvModel, h, Budget::default())
}

#[test]
fn sequential_history_is_linearizable() {
    let h = vec![
        get(1, "x", None, 0, 1),
        put(1, "x", "1", 2, 3),
        get(2, "x", Some("1"), 4, 5),
        put(2, "x", "2", 6, 7),
        get(1, "x", Some("2"), 8, 9),
    ];
    assert_eq!(run(&h), CheckResult::Ok);
}

#[test]
fn empty_history_is_linearizable() {
    assert_eq!(run(&[]), CheckResult::Ok);
}

#[test]
fn stale_read_is_rejected() {
    let h = vec![
        put(1, "x", "1", 0, 10),
        put(1, "x", "2", 20, 30),
        get(2, "x", Some("1"), 40, 50),
    ];
    let CheckResult::Illegal(a) = run(&h) else {
        panic!("stale read accepted")
    };
    assert_eq!(a.blocked_op, 2, "{}", a.description);
    assert!(a.description.contains("blocked"), "{}", a.description);
}

#[test]
fn lost_write_is_rejected() {
    let h = vec![put(1, "x", "1", 0, 10), get(2, "x", None, 20, 30)];
    assert!(run(&h).is_illegal());
}

#[test]
fn read_from_the_future_is_rejected() {
    let h = vec![get(2, "x", Some("1"), 0, 10), put(1, "x", "1", 20, 30)];
    assert!(run(&h).is_illegal());
}

#[test]
fn read_overlapping_the_write_may_see_either_value() {
    for seen in [None, Some("1")] {
        let h = vec![put(1, "x", "1", 0, 10), get(2, "x", seen, 5, 15)];
        assert_eq!(run(&h), CheckResult::Ok, "seen {seen:?}");
    }
}

#[test]
fn calls_and_returns_at_the_same_instant_overlap() {
    let h = vec![put(1, "x", "1", 0, 10), get(2, "x", None, 10, 20)];
    assert_eq!(run(&h), CheckResult::Ok);
}

#[test]
fn unknown_write_that_must_have_happened_is_accepted() {
    let h = vec![put_unknown(1, "x", "1", 0), get(2, "x", Some("1"), 20, 30)];
    assert_eq!(run(&h), CheckResult::Ok);
}

#[test]
fn unknown_write_may_never_happen() {
    let h = vec![
        put_unknown(1, "x", "1", 0),
        get(2, "x", None, 20, 30),
        get(2, "x", None, 40, 50),
    ];
    assert_eq!(run(&h), CheckResult::Ok);
}

#[test]
fn unknown_write_cannot_be_seen_before_its_call() {
    let h = vec![get(2, "x", Some("1"), 0, 10), put_unknown(1, "x", "1", 40)];
    assert!(run(&h).is_illegal());
}

#[test]
fn unknown_write_once_seen_cannot_vanish() {
    let h = vec![
        put_unknown(1, "x", "1", 0),
        get(2, "x", Some("1"), 20, 30),
        get(2, "x", None, 40, 50),
    ];
    assert!(run(&h).is_illegal());
}

#[test]
fn unknown_read_is_ignored() {
    let h = vec![
        put(1, "x", "1", 0, 10),
        Operation {
            output: Outcome::Unknown,
            ..get(2, "x", Some("9"), 20, 20)
        },
    ];
    assert_eq!(run(&h), CheckResult::Ok);
}

#[test]
fn concurrent_writes_in_both_orders() {
    for (last, ok) in [("1", true), ("2", true), ("3", false)] {
        let h = vec![
            put(1, "x", "1", 0, 10),
            put(2, "x", "2", 5, 15),
            get(3, "x", Some(last), 20, 30),
        ];
        assert_eq!(run(&h).is_ok(), ok, "last read {last}");
    }
}

#[test]
fn two_reads_must_agree_on_the_order_of_concurrent_writes() {
    // Both writes overlap both reads' predecessors; once a read saw "2"
    // after "1", a later read cannot see "1" again.
    let h = vec![
        put(1, "x", "1", 0, 10),
        put(2, "x", "2", 0, 10),
        get(3, "x", Some("1"), 20, 30),
        get(3, "x", Some("2"), 40, 50),
        get(3, "x", Some("1"), 60, 70),
    ];
    assert!(run(&h).is_illegal());
}

#[test]
fn keys_are_checked_independently() {
    let h = vec![
        put(1, "x", "1", 0, 10),
        put(1, "y", "1", 0, 10),
        get(2, "y", Some("1"), 20, 30),
        get(2, "x", None, 20, 30),
    ];
    assert_eq!(KvModel.partition(&h).len(), 2);
    let CheckResult::Illegal(a) = run(&h) else {
        panic!("lost write on x accepted")
    };
    assert_eq!(a.blocked_op, 3);
    assert_eq!(a.partition, 0, "x sorts before y");
}

#[test]
fn cas_and_append_histories() {
    let cas = |c, exp: Option<&str>, new: &str, ok, t| Operation {
        client: c,
        input: KvInput::Cas {
            key: key("x"),
            expected: exp.map(key),
            new: key(new),
        },
        call_time: t,
        return_time: t + 5,
        output: Outcome::Known(KvOutput::Cas(ok)),
    };
    let append = |c, v: &str, len, t| Operation {
        client: c,
        input: KvInput::Append {
            key: key("x"),
            value: key(v),
        },
        call_time: t,
        return_time: t + 5,
        output: Outcome::Known(KvOutput::Len(len)),
    };
    // Two concurrent cas from "absent": exactly one may win.
    let ok = vec![
        cas(1, None, "a", true, 0),
        cas(2, None, "b", false, 1),
        append(1, "c", 2, 10),
        get(2, "x", Some("ac"), 20, 25),
    ];
    assert_eq!(run(&ok), CheckResult::Ok);
    let both_win = vec![cas(1, None, "a", true, 0), cas(2, None, "b", true, 1)];
    assert!(run(&both_win).is_illegal());
    let wrong_len = vec![append(1, "a", 1, 0), append(1, "b", 1, 10)];
    assert!(run(&wrong_len).is_illegal());
}

#[test]
fn tiny_budget_times_out_instead_of_guessing() {
    let mut h = Vec::new();
    for c in 0..12 {
        h.push(put(c, "x", &c.to_string(), 0, 100));
    }
    h.push(get(99, "x", Some("nope"), 200, 210));
    assert!(matches!(
        check(&KvModel, &h, Budget::steps(10)),
        CheckResult::Timeout { .. }
    ));
    assert!(run(&h).is_illegal());
}

/// A small deterministic PRNG (splitmix64) so the random tests replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Executes random operations sequentially against a map at strictly
/// increasing linearization points, then gives each a random interval
/// around its point, possibly losing the outcome. Such a history is
/// linearizable by construction.
fn random_history(rng: &mut Rng, ops: usize, keys: u64, unknown_pct: u64) -> Vec<Op> {
    let mut state = std::collections::BTreeMap::<Vec<u8>, Vec<u8>>::new();
    let mut h = Vec::new();
    for i in 0..ops {
        let point = 100 * (i as u64 + 1);
        let k = key(&format!("k{}", rng.below(keys)));
        let value = key(&format!("v{i}"));
        let (input, output) = match rng.below(4) {
            0 => {
                state.insert(k.clone(), value.clone());
                (KvInput::Put { key: k, value }, KvOutput::Ok)
            }
            1 => {
                let v = state.entry(k.clone()).or_default();
                v.extend_from_slice(&value);
                let len = v.len() as u64;
                (KvInput::Append { key: k, value }, KvOutput::Len(len))
            }
            2 => {
                let cur = state.get(&k).cloned();
                let expected = if rng.below(2) == 0 {
                    cur.clone()
                } else {
                    Some(key("zz"))
                };
                let ok = expected == cur;
                if ok {
                    state.insert(k.clone(), value.clone());
                }
                let input = KvInput::Cas {
                    key: k,
                    expected,
                    new: value,
                };
                (input, KvOutput::Cas(ok))
            }
            _ => {
                let v = state.get(&k).cloned();
                (KvInput::Get { key: k }, KvOutput::Value(v))
            }
        };
        let spread = 1 + rng.below(400);
        let call = point.saturating_sub(rng.below(spread));
        let ret = point + rng.below(spread);
        let output = if rng.below(100) < unknown_pct {
            Outcome::Unknown
        } else {
            Outcome::Known(output)
        };
        h.push(Operation {
            client: rng.below(8),
            input,
            call_time: call,
            return_time: ret,
            output,
        });
    }
    h
}

#[test]
fn random_sequential_histories_are_accepted() {
    for seed in 0..200 {
        let mut rng = Rng(seed);
        let h = random_history(&mut rng, 60, 3, 10);
        let r = run(&h);
        assert_eq!(r, CheckResult::Ok, "seed {seed}");
    }
}

#[test]
fn random_history_with_one_read_of_a_never_written_value_is_rejected() {
    let mut mutated = 0;
    for seed in 0..200 {
        let mut rng = Rng(seed);
        let mut h = random_history(&mut rng, 60, 3, 10);
        let reads: Vec<usize> = (0..h.len())
            .filter(|&i| {
                matches!(h[i].input, KvInput::Get { .. })
                    && matches!(h[i].output, Outcome::Known(_))
            })
            .collect();
        if reads.is_empty() {
            continue;
        }
        let victim = reads[rng.below(reads.len() as u64) as usize];
        h[victim].output = Outcome::Known(KvOutput::Value(Some(key("never-written"))));
        let CheckResult::Illegal(a) = run(&h) else {
            panic!("seed {seed}: mutated read #{victim} accepted")
        };
        assert!(!a.description.is_empty());
        mutated += 1;
    }
    assert!(mutated > 150, "too few histories had a read: {mutated}");
}

#[test]
fn long_single_key_history_checks_quickly() {
    let mut rng = Rng(7);
    let h = random_history(&mut rng, 3000, 1, 5);
    assert_eq!(
        check(&KvModel, &h, Budget::steps(5_000_000)),
        CheckResult::Ok
    );
}

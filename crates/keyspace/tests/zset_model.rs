//! Property test: the order-statistic sorted set against a naive model (a
//! Vec kept sorted by (score, member)), over random operation sequences
//! with edge scores (±inf, -0, duplicates, ties broken by member bytes).
//!
//! Why: the B+tree keeps subtree counts and minimums in inner nodes; a
//! wrong count or a stale minimum shows up as a wrong rank or a missed
//! member only after specific split/merge sequences, which is exactly what
//! shrinking finds. Run: `cargo test -p slotraft-keyspace --test zset_model`
//! (`PROPTEST_CASES=2000` for a longer run).

use proptest::prelude::*;
use slotraft_keyspace::types::zset::{cmp_key, LexBound, LexRange, ScoreRange, ZSet};

#[derive(Clone, Debug)]
enum Op {
    Insert(u16, f64),
    Remove(u16),
    RemoveRange(usize, usize),
    Check(u16, f64),
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-20i32..20).prop_map(f64::from),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        (-1000.0f64..1000.0),
    ]
}

fn op(universe: u16) -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..universe, score()).prop_map(|(m, s)| Op::Insert(m, s)),
        3 => (0..universe).prop_map(Op::Remove),
        1 => (0usize..300, 0usize..20).prop_map(|(a, n)| Op::RemoveRange(a, a + n)),
        2 => (0..universe, score()).prop_map(|(m, s)| Op::Check(m, s)),
    ]
}

fn member(m: u16) -> Vec<u8> {
    format!("m{m:04}").into_bytes()
}

/// The model: (member, score) sorted like Redis.
struct Model(Vec<(Vec<u8>, f64)>);

impl Model {
    fn sort(&mut self) {
        self.0.sort_by(|a, b| cmp_key(a.1, &a.0, b.1, &b.0));
    }
    fn pos(&self, m: &[u8]) -> Option<usize> {
        self.0.iter().position(|(x, _)| x == m)
    }
}

fn check_all(z: &ZSet, model: &Model, probe: &[u8], bound: f64) {
    assert_eq!(z.len(), model.0.len());
    assert_eq!(z.rank(probe), model.pos(probe));
    let below = model.0.iter().filter(|(_, s)| *s < bound).count();
    assert_eq!(z.count_before(|e| e.score < bound), below);
    let r = ScoreRange {
        min: bound,
        min_open: true,
        max: f64::INFINITY,
        max_open: false,
    };
    let want = model.0.iter().filter(|(_, s)| *s > bound).count();
    let (a, b) = z.score_span(&r);
    assert_eq!(b - a, want);
    let all: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
    assert_eq!(all, model.0);
    for (i, (m, s)) in model.0.iter().enumerate().step_by(7) {
        assert_eq!(z.at_rank(i), Some((&m[..], *s)));
    }
    let mut rev = Vec::new();
    z.for_range(0, z.len(), true, |m, s| rev.push((m.to_vec(), s)));
    rev.reverse();
    assert_eq!(rev, model.0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
    ))]

    #[test]
    fn zset_matches_sorted_vec(universe in 1u16..400, ops in proptest::collection::vec(op(400), 1..600)) {
        let mut z = ZSet::new();
        let mut model = Model(Vec::new());
        for o in ops {
            match o {
                Op::Insert(m, s) => {
                    let m = member(m % universe);
                    z.insert(&m, s);
                    match model.pos(&m) {
                        // An equal score (0 vs -0 included) is not an update.
                        Some(p) if model.0[p].1 == s => {}
                        Some(p) => model.0[p].1 = s,
                        None => model.0.push((m, s)),
                    }
                    model.sort();
                }
                Op::Remove(m) => {
                    let m = member(m % universe);
                    let want = model.pos(&m).map(|p| model.0.remove(p).1);
                    prop_assert_eq!(z.remove(&m), want);
                }
                Op::RemoveRange(a, b) => {
                    let gone: Vec<Vec<u8>> = z.remove_range(a, b).into_iter().map(|(m, _)| m.to_vec()).collect();
                    let end = b.min(model.0.len());
                    let want: Vec<Vec<u8>> = if a < end { model.0.drain(a..end).map(|(m, _)| m).collect() } else { Vec::new() };
                    prop_assert_eq!(gone, want);
                }
                Op::Check(m, s) => check_all(&z, &model, &member(m % universe), s),
            }
        }
        z.check_invariants();
        check_all(&z, &model, b"m0000", 0.0);
    }

    #[test]
    fn lex_spans_match_filter(members in proptest::collection::btree_set("[a-e]{0,3}", 0..60),
                              lo in "[a-e]{0,2}", hi in "[a-e]{0,2}", lo_open: bool, hi_open: bool) {
        let mut z = ZSet::new();
        for m in &members {
            z.insert(m.as_bytes(), 0.0);
        }
        let bound = |s: &str, open: bool| if open { LexBound::Open(s.as_bytes().to_vec()) } else { LexBound::Closed(s.as_bytes().to_vec()) };
        let r = LexRange { min: bound(&lo, lo_open), max: bound(&hi, hi_open) };
        let inside = |m: &str| {
            let above = if lo_open { m > lo.as_str() } else { m >= lo.as_str() };
            let below = if hi_open { m < hi.as_str() } else { m <= hi.as_str() };
            above && below
        };
        let want: Vec<&String> = members.iter().filter(|m| inside(m)).collect();
        let (a, b) = z.lex_span(&r);
        let mut got = Vec::new();
        z.for_range(a, b, false, |m, _| got.push(String::from_utf8(m.to_vec()).unwrap()));
        prop_assert_eq!(got.iter().collect::<Vec<_>>(), want);
    }
}

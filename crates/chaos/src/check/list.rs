//! List-append workload checker (RPUSH of unique values + LRANGE).
//!
//! Why these checks: a list whose elements are all distinct makes every read
//! a witness of the whole order of appends before it, so lost, duplicated,
//! reordered or invented writes are visible directly (Jepsen's list-append
//! idea, without transactions across keys). Per key:
//! - no read contains a value twice (`duplicate`);
//! - every value read was appended to this key and not reported failed
//!   (`from-nowhere`, `failed-but-visible`);
//! - every read is a prefix of the longest read (`incompatible-order`);
//! - an append acknowledged before a read started is in that read; the final
//!   read (after healing) is the decisive one (`lost-append`);
//! - a read that completed before another started is not longer than it
//!   (`stale-read`);
//! - an append acknowledged before another was invoked comes first
//!   (`realtime-order`).

use std::collections::{HashMap, HashSet};

use super::{secs, Findings, Verdict};
use crate::history::{Call, Op, Outcome, Ret, Workload};

/// A successful read of one key's list.
struct Read<'a> {
    op: &'a Op,
    values: &'a [u64],
}

/// One key's appends and reads.
struct KeyOps<'a> {
    /// value -> the append op.
    appends: HashMap<u64, &'a Op>,
    reads: Vec<Read<'a>>,
}

fn collect<'a>(ops: &[&'a Op]) -> KeyOps<'a> {
    let mut k = KeyOps {
        appends: HashMap::new(),
        reads: Vec::new(),
    };
    for op in ops {
        if let Call::Append { value, .. } = &op.call {
            k.appends.insert(*value, op);
        }
        if let Some(Ret::List(values)) = op.outcome.ret() {
            k.reads.push(Read { op, values });
        }
    }
    k
}

/// Checks every key of the list-append workload.
pub fn check_list_append(ops: &[&Op]) -> Verdict {
    let mut f = Findings::default();
    for (key, key_ops) in super::by_key(ops) {
        let k = collect(&key_ops);
        check_reads_alone(key, &k, &mut f);
        let longest = k.reads.iter().max_by_key(|r| r.values.len());
        if let Some(longest) = longest {
            check_prefixes(key, &k, longest.values, &mut f);
            check_realtime_order(key, &k, longest.values, &mut f);
        }
        check_lost(key, &k, &mut f);
        check_stale(key, &k, &mut f);
        let has_final = key_ops.iter().any(|o| {
            matches!(
                o.call,
                Call::ReadList {
                    final_read: true,
                    ..
                }
            ) && o.outcome.is_ok()
        });
        if !has_final {
            f.undecided(format!("no successful final read of {key}"));
        }
    }
    f.into_verdict(Workload::ListAppend, ops)
}

/// Duplicates, values from nowhere, values whose append failed.
fn check_reads_alone(key: &str, k: &KeyOps, f: &mut Findings) {
    for r in &k.reads {
        let mut seen = HashSet::new();
        for v in r.values {
            if !seen.insert(v) {
                f.add(
                    1,
                    "duplicate",
                    format!("{key}: {v} twice in read at {}", secs(r.op.invoke_ns)),
                );
            }
            match k.appends.get(v) {
                None => f.add(
                    1,
                    "from-nowhere",
                    format!("{key}: {v} read but never appended"),
                ),
                Some(a) if matches!(a.outcome, Outcome::Fail { .. }) => f.add(
                    1,
                    "failed-but-visible",
                    format!(
                        "{key}: append of {v} reported failed ({}) but read",
                        err_of(a)
                    ),
                ),
                Some(_) => {}
            }
        }
    }
}

fn err_of(op: &Op) -> &str {
    match &op.outcome {
        Outcome::Fail { error } | Outcome::Unknown { error } => error,
        Outcome::Ok { .. } => "",
    }
}

/// Every read must be a prefix of the longest one.
fn check_prefixes(key: &str, k: &KeyOps, longest: &[u64], f: &mut Findings) {
    for r in &k.reads {
        if !longest.starts_with(r.values) {
            let at = r
                .values
                .iter()
                .zip(longest)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            f.add(
                2,
                "incompatible-order",
                format!(
                    "{key}: read at {} has {} at position {at} where another read has {}",
                    secs(r.op.invoke_ns),
                    r.values[at],
                    longest[at]
                ),
            );
        }
    }
}

/// Appends acknowledged before a read was invoked must be in that read.
fn check_lost(key: &str, k: &KeyOps, f: &mut Findings) {
    let mut acked: Vec<(u64, u64)> = k
        .appends
        .iter()
        .filter(|(_, a)| a.outcome.is_ok())
        .map(|(v, a)| (a.complete_ns, *v))
        .collect();
    acked.sort_unstable();
    // The latest read first: a write lost there is the headline.
    let mut reads: Vec<&Read> = k.reads.iter().collect();
    reads.sort_by_key(|r| std::cmp::Reverse(r.op.invoke_ns));
    let mut reported = HashSet::new();
    for r in reads {
        let present: HashSet<u64> = r.values.iter().copied().collect();
        let before = acked.partition_point(|(t, _)| *t < r.op.invoke_ns);
        for (t, v) in &acked[..before] {
            if !present.contains(v) && reported.insert(*v) {
                let what = match r.op.call {
                    Call::ReadList {
                        final_read: true, ..
                    } => "final read",
                    _ => "read",
                };
                f.add(
                    0,
                    "lost-append",
                    format!(
                        "{key}: append of {v} acknowledged at {} is missing from the {what} at {}",
                        secs(*t),
                        secs(r.op.invoke_ns)
                    ),
                );
            }
        }
    }
}

/// A read that completed before another read started cannot be longer.
fn check_stale(key: &str, k: &KeyOps, f: &mut Findings) {
    let mut by_complete: Vec<&Read> = k.reads.iter().collect();
    by_complete.sort_by_key(|r| r.op.complete_ns);
    let mut by_invoke: Vec<&Read> = k.reads.iter().collect();
    by_invoke.sort_by_key(|r| r.op.invoke_ns);
    // Sweep: the longest read completed before each read's invocation.
    let mut i = 0;
    let mut best: Option<&Read> = None;
    for r in by_invoke {
        while i < by_complete.len() && by_complete[i].op.complete_ns < r.op.invoke_ns {
            let c = by_complete[i];
            if best.is_none_or(|b| c.values.len() > b.values.len()) {
                best = Some(c);
            }
            i += 1;
        }
        if let Some(b) = best {
            if b.values.len() > r.values.len() {
                f.add(
                    2,
                    "stale-read",
                    format!(
                        "{key}: read at {} saw {} elements after a read completed at {} saw {}",
                        secs(r.op.invoke_ns),
                        r.values.len(),
                        secs(b.op.complete_ns),
                        b.values.len()
                    ),
                );
            }
        }
    }
}

/// In the observed order, an element must not come after one whose append
/// was invoked after it was acknowledged.
fn check_realtime_order(key: &str, k: &KeyOps, order: &[u64], f: &mut Findings) {
    let mut max_invoke: Option<(u64, u64)> = None; // (invoke_ns, value)
    for v in order {
        let Some(a) = k.appends.get(v) else { continue };
        if let Some((inv, prev)) = max_invoke {
            if a.outcome.is_ok() && a.complete_ns < inv {
                f.add(
                    2,
                    "realtime-order",
                    format!(
                        "{key}: {prev} (invoked {}) is ordered before {v} (acknowledged {})",
                        secs(inv),
                        secs(a.complete_ns)
                    ),
                );
            }
        }
        if max_invoke.is_none_or(|(inv, _)| a.invoke_ns > inv) {
            max_invoke = Some((a.invoke_ns, *v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testutil::*;
    use crate::check::Status;

    fn app(v: u64, a: u64, b: u64, o: Outcome) -> Op {
        op(
            1,
            Call::Append {
                key: "l".into(),
                value: v,
                multi: false,
            },
            a,
            b,
            o,
        )
    }
    fn read(vals: &[u64], a: u64, b: u64, fin: bool) -> Op {
        op(
            2,
            Call::ReadList {
                key: "l".into(),
                final_read: fin,
            },
            a,
            b,
            ok(Ret::List(vals.to_vec())),
        )
    }
    fn run(h: &[Op]) -> Verdict {
        check_list_append(&h.iter().collect::<Vec<_>>())
    }
    fn kinds(v: &Verdict) -> Vec<&str> {
        v.anomaly_counts.keys().map(String::as_str).collect()
    }

    #[test]
    fn valid_history_with_unknown_and_failed() {
        let h = [
            app(1, 0, 10, ok(Ret::Done)),
            app(2, 20, 30, unknown()),
            read(&[1], 25, 35, false),
            app(3, 40, 50, fail()),
            app(4, 60, 70, ok(Ret::Done)),
            read(&[1, 2, 4], 80, 90, true),
        ];
        let v = run(&h);
        assert_eq!(v.status, Status::Valid, "{v:?}");
        assert_eq!((v.ok, v.failed, v.unknown), (4, 1, 1));
    }

    #[test]
    fn lost_acknowledged_append_in_final_read() {
        let h = [
            app(1, 0, 10, ok(Ret::Done)),
            app(2, 20, 30, ok(Ret::Done)),
            read(&[1], 40, 50, true),
        ];
        let v = run(&h);
        assert_eq!(v.status, Status::Invalid);
        assert!(
            v.summary().contains("lost-append: l: append of 2"),
            "{}",
            v.summary()
        );
        assert!(v.summary().contains("final read"));
    }

    #[test]
    fn divergent_orders_after_failover() {
        // [1,2,3] then, after a failover, [1,2,4]: 3 was lost and the orders
        // diverge.
        let h = [
            app(1, 0, 1, ok(Ret::Done)),
            app(2, 2, 3, ok(Ret::Done)),
            app(3, 4, 5, ok(Ret::Done)),
            read(&[1, 2, 3], 6, 7, false),
            app(4, 8, 9, ok(Ret::Done)),
            read(&[1, 2, 4], 10, 11, true),
        ];
        let v = run(&h);
        assert!(kinds(&v).contains(&"lost-append"));
        assert!(kinds(&v).contains(&"incompatible-order"));
    }

    #[test]
    fn duplicates_nowhere_failed_visible() {
        let h = [
            app(1, 0, 10, ok(Ret::Done)),
            app(2, 20, 30, fail()),
            read(&[1, 1, 2, 99], 40, 50, true),
        ];
        let v = run(&h);
        assert_eq!(
            kinds(&v),
            vec!["duplicate", "failed-but-visible", "from-nowhere"]
        );
    }

    #[test]
    fn stale_read_and_realtime_order() {
        let h = [
            app(1, 0, 10, ok(Ret::Done)),
            app(2, 0, 10, unknown()),
            read(&[1, 2], 20, 30, false),
            read(&[1], 40, 50, false),
            read(&[1, 2], 60, 70, true),
        ];
        assert_eq!(kinds(&run(&h)), vec!["stale-read"]);
        let h = [
            app(1, 0, 10, ok(Ret::Done)),
            app(2, 20, 30, ok(Ret::Done)),
            read(&[2, 1], 40, 50, true),
        ];
        assert_eq!(kinds(&run(&h)), vec!["realtime-order"]);
    }

    #[test]
    fn missing_final_read_is_undecided() {
        let h = [app(1, 0, 10, ok(Ret::Done)), read(&[1], 20, 30, false)];
        assert_eq!(run(&h).status, Status::Unknown);
    }
}

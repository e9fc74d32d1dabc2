//! Counter workload checker (INCRBY + reads).
//!
//! Why bounds instead of a search: increments commute, so a read is
//! explained by *some* linearization if and only if its value lies between
//! the sum of increments that certainly happened before it (acknowledged
//! before it was invoked) and the sum of all increments that may have
//! happened by then (acknowledged or unknown, invoked before it completed).
//! The final read after healing must satisfy
//! `acknowledged <= final <= acknowledged + unknown`.

use super::{secs, Findings, Verdict};
use crate::history::{Call, Op, Outcome, Ret, Workload};

/// Sorted (time, amount) events with prefix sums, for "sum of amounts with
/// time < t" queries.
struct Sums {
    times: Vec<u64>,
    prefix: Vec<i64>,
}

impl Sums {
    fn new(mut events: Vec<(u64, i64)>) -> Sums {
        events.sort_unstable();
        let mut prefix = Vec::with_capacity(events.len() + 1);
        prefix.push(0);
        for (_, a) in &events {
            prefix.push(prefix.last().copied().unwrap_or(0) + a);
        }
        Sums {
            times: events.into_iter().map(|(t, _)| t).collect(),
            prefix,
        }
    }
    fn before(&self, t: u64) -> i64 {
        self.prefix[self.times.partition_point(|x| *x < t)]
    }
}

/// Checks every counter key. Increments must be positive (the workload only
/// issues positive ones) for the bounds to hold.
pub fn check_counter(ops: &[&Op]) -> Verdict {
    let mut f = Findings::default();
    for (key, key_ops) in super::by_key(ops) {
        let incr = |o: &&Op| match o.call {
            Call::Incr { by, .. } => Some(by),
            _ => None,
        };
        // Lower bound: acknowledged increments, by completion time.
        let lower = Sums::new(
            key_ops
                .iter()
                .filter(|o| o.outcome.is_ok())
                .filter_map(|o| incr(o).map(|by| (o.complete_ns, by)))
                .collect(),
        );
        // Upper bound: acknowledged or unknown increments, by invocation.
        let upper = Sums::new(
            key_ops
                .iter()
                .filter(|o| !matches!(o.outcome, Outcome::Fail { .. }))
                .filter_map(|o| incr(o).map(|by| (o.invoke_ns, by)))
                .collect(),
        );
        let mut has_final = false;
        for o in &key_ops {
            let value = match (&o.call, o.outcome.ret()) {
                (Call::ReadCounter { .. }, Some(Ret::Int(v))) => *v,
                (Call::Incr { .. }, Some(Ret::Int(v))) => *v,
                _ => continue,
            };
            let is_final = matches!(
                o.call,
                Call::ReadCounter {
                    final_read: true,
                    ..
                }
            );
            has_final |= is_final;
            // An INCRBY reply includes its own increment: bound it as a
            // read that completes at its completion.
            let lo = lower.before(o.invoke_ns);
            let hi = upper.before(o.complete_ns.saturating_add(1));
            let what = if is_final { "final read" } else { "read" };
            if value < lo {
                f.add(
                    0,
                    "lost-increment",
                    format!(
                        "{key}: {what} at {} = {value} < {lo} acknowledged before it",
                        secs(o.invoke_ns)
                    ),
                );
            } else if value > hi {
                f.add(
                    1,
                    "phantom-increment",
                    format!(
                        "{key}: {what} at {} = {value} > {hi} (acknowledged + unknown)",
                        secs(o.invoke_ns)
                    ),
                );
            }
        }
        if !has_final {
            f.undecided(format!("no successful final read of {key}"));
        }
    }
    f.into_verdict(Workload::Counter, ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testutil::*;
    use crate::check::Status;

    fn inc(by: i64, a: u64, b: u64, o: Outcome) -> Op {
        op(
            1,
            Call::Incr {
                key: "c".into(),
                by,
            },
            a,
            b,
            o,
        )
    }
    fn read(v: i64, a: u64, b: u64, fin: bool) -> Op {
        op(
            2,
            Call::ReadCounter {
                key: "c".into(),
                final_read: fin,
            },
            a,
            b,
            ok(Ret::Int(v)),
        )
    }
    fn run(h: &[Op]) -> Verdict {
        check_counter(&h.iter().collect::<Vec<_>>())
    }

    #[test]
    fn within_bounds_is_valid() {
        let h = [
            inc(1, 0, 10, ok(Ret::Int(1))),
            inc(2, 20, 30, unknown()),
            inc(4, 40, 50, fail()),
            read(1, 60, 70, false),
            read(3, 80, 90, true),
        ];
        assert_eq!(run(&h).status, Status::Valid, "{:?}", run(&h));
    }

    #[test]
    fn lost_increment_is_invalid() {
        let h = [
            inc(1, 0, 10, ok(Ret::Int(1))),
            inc(2, 20, 30, ok(Ret::Int(3))),
            read(1, 40, 50, true),
        ];
        let v = run(&h);
        assert_eq!(v.status, Status::Invalid);
        assert!(v.summary().contains("lost-increment"), "{}", v.summary());
    }

    #[test]
    fn failed_increment_applied_is_invalid() {
        let h = [inc(5, 0, 10, fail()), read(5, 40, 50, true)];
        let v = run(&h);
        assert!(v.summary().contains("phantom-increment"), "{}", v.summary());
    }

    #[test]
    fn incr_reply_is_bounded_too() {
        // The second INCRBY returned 2: the first one's +5 vanished.
        let h = [
            inc(5, 0, 10, ok(Ret::Int(5))),
            inc(2, 20, 30, ok(Ret::Int(2))),
            read(7, 40, 50, true),
        ];
        assert_eq!(run(&h).status, Status::Invalid);
    }
}

//! Register workload checker: per-key linearizability of GET / SET /
//! SET..GET with `slotraft-lincheck`.
//!
//! Why an own model: the project's `KvModel` has no "write and return the old
//! value" operation, and SET..GET is exactly the operation that exposes a
//! write applied twice or a lost write through its returned previous value.

use std::time::{Duration, Instant};

use slotraft_lincheck::{check, Budget, CheckResult, Model, Operation, Outcome as LOutcome};

use super::{secs, Findings, Verdict};
use crate::history::{Call, Op, Outcome, Ret, Workload};

/// Search steps allowed per key before the verdict becomes unknown.
pub const REGISTER_STEPS_PER_KEY: u64 = 2_000_000;

/// Wall-clock bound on the whole register check.
pub const REGISTER_CHECK_DEADLINE: Duration = Duration::from_secs(120);

/// One register operation, on the key it was partitioned by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegInput {
    Get,
    Set(u64),
    SetGet(u64),
}

/// What a register operation observed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegOutput {
    Done,
    Value(Option<u64>),
}

/// A single register holding `Option<u64>` (nil = never written).
#[derive(Clone, Copy, Debug, Default)]
pub struct RegModel;

impl Model for RegModel {
    type State = Option<u64>;
    type Input = RegInput;
    type Output = RegOutput;

    fn init(&self) -> Option<u64> {
        None
    }

    fn step(&self, s: &Option<u64>, i: &RegInput, o: Option<&RegOutput>) -> Option<Option<u64>> {
        match (i, o) {
            (RegInput::Get, None) => Some(*s),
            (RegInput::Get, Some(RegOutput::Value(v))) if v == s => Some(*s),
            (RegInput::Set(v), None | Some(RegOutput::Done)) => Some(Some(*v)),
            (RegInput::SetGet(v), None) => Some(Some(*v)),
            (RegInput::SetGet(v), Some(RegOutput::Value(old))) if old == s => Some(Some(*v)),
            _ => None,
        }
    }
}

/// Converts one recorded op; `None` for ops that cannot constrain anything
/// (failed ops, which did not happen, and unknown reads).
fn to_lincheck(op: &Op) -> Option<Operation<RegInput, RegOutput>> {
    let input = match &op.call {
        Call::Get { .. } => RegInput::Get,
        Call::Set { value, .. } => RegInput::Set(*value),
        Call::SetGet { value, .. } => RegInput::SetGet(*value),
        _ => return None,
    };
    let output = match &op.outcome {
        Outcome::Fail { .. } => return None,
        Outcome::Unknown { .. } if input == RegInput::Get => return None,
        Outcome::Unknown { .. } => LOutcome::Unknown,
        Outcome::Ok { ret } => LOutcome::Known(match ret {
            Ret::Value(v) => RegOutput::Value(*v),
            _ => RegOutput::Done,
        }),
    };
    Some(Operation {
        client: u64::from(op.client),
        input,
        call_time: op.invoke_ns,
        return_time: op.complete_ns.max(op.invoke_ns),
        output,
    })
}

/// Most characters of the checker's explanation kept in an anomaly line.
const DESCRIPTION_CHARS: usize = 240;

fn short(d: &str) -> String {
    let one_line = d.replace('\n', " | ");
    match one_line.char_indices().nth(DESCRIPTION_CHARS) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}

fn show_value(v: &Option<u64>) -> String {
    v.map_or("nil".to_string(), |x| x.to_string())
}

/// Redis-like rendering: `GET`, `SET 5`, `SET 5 GET`.
fn show_input(i: &RegInput) -> String {
    match i {
        RegInput::Get => "GET".into(),
        RegInput::Set(v) => format!("SET {v}"),
        RegInput::SetGet(v) => format!("SET {v} GET"),
    }
}

fn show_output(o: &LOutcome<RegOutput>) -> String {
    match o {
        LOutcome::Known(RegOutput::Done) => "OK".into(),
        LOutcome::Known(RegOutput::Value(v)) => show_value(v),
        LOutcome::Unknown => "unknown".into(),
    }
}

/// Checks every key of the register workload separately.
pub fn check_register(ops: &[&Op]) -> Verdict {
    let mut f = Findings::default();
    let deadline = Instant::now() + REGISTER_CHECK_DEADLINE;
    for (key, key_ops) in super::by_key(ops) {
        let hist: Vec<_> = key_ops.iter().filter_map(|o| to_lincheck(o)).collect();
        let budget = Budget {
            max_steps_per_partition: REGISTER_STEPS_PER_KEY,
            deadline: Some(deadline),
        };
        match check(&RegModel, &hist, budget) {
            CheckResult::Ok => {}
            CheckResult::Illegal(a) => {
                let blocked = &hist[a.blocked_op];
                f.add(
                    0,
                    "nonlinearizable",
                    format!(
                        "key {key}: {} -> {} (invoked {}, completed {}) fits no order; {}",
                        show_input(&blocked.input),
                        show_output(&blocked.output),
                        secs(blocked.call_time),
                        secs(blocked.return_time),
                        short(&a.description)
                    ),
                );
            }
            CheckResult::Timeout { .. } => f.undecided(format!(
                "linearizability search budget ran out on key {key}"
            )),
        }
    }
    f.into_verdict(Workload::Register, ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testutil::*;
    use crate::check::Status;

    fn set(c: u32, v: u64, a: u64, b: u64, o: Outcome) -> Op {
        op(
            c,
            Call::Set {
                key: "k".into(),
                value: v,
            },
            a,
            b,
            o,
        )
    }
    fn get(c: u32, a: u64, b: u64, v: Option<u64>) -> Op {
        op(c, Call::Get { key: "k".into() }, a, b, ok(Ret::Value(v)))
    }
    fn run(h: &[Op]) -> Verdict {
        check_register(&h.iter().collect::<Vec<_>>())
    }

    #[test]
    fn sequential_history_is_valid() {
        let h = [
            set(1, 1, 0, 10, ok(Ret::Done)),
            get(2, 20, 30, Some(1)),
            op(
                1,
                Call::SetGet {
                    key: "k".into(),
                    value: 2,
                },
                40,
                50,
                ok(Ret::Value(Some(1))),
            ),
            get(2, 60, 70, Some(2)),
        ];
        let v = run(&h);
        assert_eq!(v.status, Status::Valid, "{v:?}");
        assert_eq!(v.ok, 4);
    }

    #[test]
    fn lost_acknowledged_write_is_invalid() {
        // The write of 2 was acknowledged, yet a later read sees 1.
        let h = [
            set(1, 1, 0, 10, ok(Ret::Done)),
            set(1, 2, 20, 30, ok(Ret::Done)),
            get(2, 40, 50, Some(1)),
        ];
        let v = run(&h);
        assert_eq!(v.status, Status::Invalid);
        assert!(
            v.summary()
                .starts_with("INVALID: nonlinearizable: key k: GET -> 1 (invoked"),
            "{}",
            v.summary()
        );
    }

    #[test]
    fn unknown_write_may_apply_late_or_never() {
        let late = [
            set(1, 1, 0, 10, unknown()),
            get(2, 20, 30, None),
            get(2, 40, 50, Some(1)),
        ];
        assert_eq!(run(&late).status, Status::Valid);
        let never = [set(1, 1, 0, 10, unknown()), get(2, 20, 30, None)];
        assert_eq!(run(&never).status, Status::Valid);
    }

    #[test]
    fn failed_write_that_took_effect_is_invalid() {
        let h = [set(1, 7, 0, 10, fail()), get(2, 20, 30, Some(7))];
        assert_eq!(run(&h).status, Status::Invalid);
    }

    #[test]
    fn setget_seeing_a_value_twice_is_invalid() {
        // Two SET..GET both saw nil: one of them must have seen the other.
        let sg = |c, v, a, b| {
            op(
                c,
                Call::SetGet {
                    key: "k".into(),
                    value: v,
                },
                a,
                b,
                ok(Ret::Value(None)),
            )
        };
        let h = [sg(1, 1, 0, 10), sg(2, 2, 5, 15)];
        assert_eq!(run(&h).status, Status::Invalid);
    }
}

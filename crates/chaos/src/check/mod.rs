//! Checkers: pure functions from a [`History`] to a verdict per workload.
//!
//! Why separate and pure: they are the judge of the whole suite, so they are
//! unit-tested on small hand-written histories (valid and invalid), and the
//! same code re-checks a saved history offline.
//!
//! Conventions shared by every checker (the Jepsen rules):
//! - a failed op certainly did not take effect (so seeing its effect is an
//!   anomaly: a dishonest error);
//! - an unknown op may take effect at any time after its invocation, or
//!   never;
//! - op A precedes op B in real time when A completed before B was invoked.

mod bank;
mod counter;
mod list;
mod register;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::history::{History, Op, Outcome, Workload};

pub use bank::check_bank;
pub use counter::check_counter;
pub use list::check_list_append;
pub use register::{check_register, RegInput, RegModel, RegOutput};

/// Most anomaly descriptions kept per workload (the count is exact).
pub const MAX_ANOMALIES_KEPT: usize = 20;

/// The judgement of one workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Valid,
    Invalid,
    /// The checker could not decide (search budget exhausted, no final read).
    Unknown,
}

/// What a checker found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub workload: Workload,
    pub status: Status,
    /// Anomalies by kind (e.g. `lost-append`): exact counts.
    pub anomaly_counts: BTreeMap<String, u64>,
    /// The first [`MAX_ANOMALIES_KEPT`] anomaly descriptions, most important
    /// kind first.
    pub anomalies: Vec<String>,
    /// Why the verdict is unknown, when it is.
    pub undecided: Option<String>,
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
}

impl Verdict {
    /// The one-line summary: `valid`, `INVALID: <first anomaly>` or
    /// `unknown: <why>`.
    pub fn summary(&self) -> String {
        match self.status {
            Status::Valid => "valid".to_string(),
            Status::Invalid => format!(
                "INVALID: {}",
                self.anomalies.first().map(String::as_str).unwrap_or("?")
            ),
            Status::Unknown => format!(
                "unknown: {}",
                self.undecided.as_deref().unwrap_or("undecided")
            ),
        }
    }
}

/// Collects anomalies while a checker runs.
#[derive(Default)]
pub(crate) struct Findings {
    /// (priority, kind, description); lower priority value = shown first.
    items: Vec<(u8, String)>,
    counts: BTreeMap<String, u64>,
    undecided: Option<String>,
}

impl Findings {
    /// Records one anomaly of `kind`; `priority` orders the summary (0 =
    /// most important, e.g. a lost acknowledged write).
    pub(crate) fn add(&mut self, priority: u8, kind: &str, description: String) {
        *self.counts.entry(kind.to_string()).or_default() += 1;
        let same_kind = self.counts[kind];
        // Keep a few of each kind so one flood does not hide another kind.
        if same_kind <= MAX_ANOMALIES_KEPT as u64 {
            self.items
                .push((priority, format!("{kind}: {description}")));
        }
    }

    pub(crate) fn undecided(&mut self, why: String) {
        if self.undecided.is_none() {
            self.undecided = Some(why);
        }
    }

    pub(crate) fn into_verdict(mut self, workload: Workload, ops: &[&Op]) -> Verdict {
        self.items.sort_by_key(|(p, _)| *p); // stable: keeps time order within a priority
        let status = if !self.counts.is_empty() {
            Status::Invalid
        } else if self.undecided.is_some() {
            Status::Unknown
        } else {
            Status::Valid
        };
        let count = |f: fn(&Outcome) -> bool| ops.iter().filter(|o| f(&o.outcome)).count() as u64;
        Verdict {
            workload,
            status,
            anomaly_counts: self.counts,
            anomalies: self
                .items
                .into_iter()
                .take(MAX_ANOMALIES_KEPT)
                .map(|(_, d)| d)
                .collect(),
            undecided: self.undecided,
            ok: count(|o| o.is_ok()),
            failed: count(|o| matches!(o, Outcome::Fail { .. })),
            unknown: count(|o| o.is_unknown()),
        }
    }
}

/// The operations of one workload, in history order.
pub fn ops_of(history: &History, w: Workload) -> Vec<&Op> {
    history
        .ops
        .iter()
        .filter(|o| o.call.workload() == w)
        .collect()
}

/// Checks every workload that has operations in the history.
pub fn check_all(history: &History) -> Vec<Verdict> {
    let mut out = Vec::new();
    for w in Workload::ALL {
        let ops = ops_of(history, w);
        if ops.is_empty() {
            continue;
        }
        out.push(match w {
            Workload::Register => check_register(&ops),
            Workload::ListAppend => check_list_append(&ops),
            Workload::Counter => check_counter(&ops),
            Workload::Bank => check_bank(&ops, history.bank_total),
        });
    }
    out
}

/// Groups ops by key, keeping history order inside each group.
pub(crate) fn by_key<'a>(ops: &[&'a Op]) -> BTreeMap<&'a str, Vec<&'a Op>> {
    let mut m: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        m.entry(op.call.key()).or_default().push(op);
    }
    m
}

/// Seconds with millisecond precision, for anomaly descriptions.
pub(crate) fn secs(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Builders for hand-written histories.
    use crate::history::{Call, Op, Outcome, Ret};

    pub fn op(client: u32, call: Call, invoke: u64, complete: u64, outcome: Outcome) -> Op {
        Op {
            client,
            call,
            invoke_ns: invoke,
            complete_ns: complete,
            outcome,
        }
    }
    pub fn ok(ret: Ret) -> Outcome {
        Outcome::Ok { ret }
    }
    pub fn fail() -> Outcome {
        Outcome::Fail {
            error: "CLUSTERDOWN".into(),
        }
    }
    pub fn unknown() -> Outcome {
        Outcome::Unknown {
            error: "timeout".into(),
        }
    }
}

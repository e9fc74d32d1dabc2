//! Reports: per-shard unavailability windows, the text summary and an SVG
//! timeline (throughput and latency over time, fault windows shaded), drawn
//! by hand so the tool needs no plotting dependency.
//!
//! Why these views: Jepsen's latency/throughput plots make the cost of each
//! fault visible at a glance (what stalled, for how long, what timed out),
//! and the per-shard windows show that a fault in one shard leaves the
//! others serving.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use slotraft_types::key_slot;

use crate::check::{Status, Verdict};
use crate::history::{History, Op, Outcome};

/// A shard counts as unavailable when no op on it succeeded for this long.
pub const UNAVAILABLE_GAP_NS: u64 = 1_000_000_000;

/// Most latency points drawn (sampled evenly beyond that). About 65 bytes
/// each: 5000 keep a timeline near 350 KB, small enough to commit in docs.
pub const MAX_POINTS: usize = 5_000;

/// Width of a throughput bucket.
const BUCKET_NS: u64 = 1_000_000_000;

/// A period during which one shard completed no operation successfully.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub shard: usize,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// Which shard (index into `history.shards`) serves `key`.
fn shard_of(history: &History, key: &str) -> Option<usize> {
    let s = key_slot(key.as_bytes()).get();
    history
        .shards
        .iter()
        .position(|ranges| ranges.iter().any(|(a, b)| (*a..=*b).contains(&s)))
}

/// Gaps of at least [`UNAVAILABLE_GAP_NS`] between successful completions,
/// per shard, while its clients kept trying.
pub fn unavailability(history: &History) -> Vec<Window> {
    let mut out = Vec::new();
    for shard in 0..history.shards.len() {
        let mine: Vec<&Op> = history
            .ops
            .iter()
            .filter(|o| shard_of(history, o.call.key()) == Some(shard))
            .collect();
        let mut oks: Vec<u64> = mine
            .iter()
            .filter(|o| o.outcome.is_ok())
            .map(|o| o.complete_ns)
            .collect();
        oks.sort_unstable();
        let first_invoke = mine.iter().map(|o| o.invoke_ns).min().unwrap_or(0);
        let last_try = mine.iter().map(|o| o.complete_ns).max().unwrap_or(0);
        let mut prev = first_invoke;
        for t in oks.iter().copied().chain(std::iter::once(last_try)) {
            if t > prev && t - prev >= UNAVAILABLE_GAP_NS {
                out.push(Window {
                    shard,
                    start_ns: prev,
                    end_ns: t,
                });
            }
            prev = prev.max(t);
        }
    }
    out
}

fn s(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// The text report of a run.
pub fn summary(history: &History, verdicts: &[Verdict], windows: &[Window]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "target {}: {:.1}s, {} ops, {} faults",
        history.target,
        s(history.duration_ns),
        history.ops.len(),
        history.faults.len()
    );
    for v in verdicts {
        let _ = writeln!(
            t,
            "{:<12} {}  (ok {}, failed {}, unknown {})",
            v.workload.name(),
            v.summary(),
            v.ok,
            v.failed,
            v.unknown
        );
        for (k, n) in &v.anomaly_counts {
            let _ = writeln!(t, "    {n} x {k}");
        }
    }
    for f in &history.faults {
        let _ = writeln!(
            t,
            "fault {:>7.1}s..{:>7.1}s {:<17} {}",
            s(f.start_ns),
            s(f.end_ns),
            f.kind,
            f.detail
        );
    }
    for w in windows {
        let _ = writeln!(
            t,
            "shard {} unavailable {:.1}s..{:.1}s ({:.1}s)",
            w.shard,
            s(w.start_ns),
            s(w.end_ns),
            s(w.end_ns - w.start_ns)
        );
    }
    t
}

/// Whether every verdict is valid.
pub fn all_valid(verdicts: &[Verdict]) -> bool {
    verdicts.iter().all(|v| v.status == Status::Valid)
}

const W: f64 = 1200.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TP_TOP: f64 = 70.0;
const TP_H: f64 = 200.0;
const LAT_TOP: f64 = 320.0;
const LAT_H: f64 = 260.0;
const H: f64 = 640.0;

fn outcome_color(o: &Outcome) -> &'static str {
    match o {
        Outcome::Ok { .. } => "#2a9d4a",
        Outcome::Fail { .. } => "#d62728",
        Outcome::Unknown { .. } => "#ff9f1c",
    }
}

fn fault_color(kind: &str) -> &'static str {
    if kind.starts_with("partition") {
        "#9ecae1"
    } else if kind.starts_with("kill") {
        "#fcae91"
    } else if kind == "pause" {
        "#dadaeb"
    } else if kind == "clock-skew" {
        "#fdd0a2"
    } else {
        "#c7e9c0"
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Draws the timeline of a run as SVG.
pub fn svg(history: &History, verdicts: &[Verdict]) -> String {
    let dur = history.duration_ns.max(1);
    let x = |ns: u64| LEFT + (W - LEFT - RIGHT) * (ns.min(dur) as f64 / dur as f64);
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let verdict: Vec<String> = verdicts
        .iter()
        .map(|v| {
            format!(
                "{}: {}",
                v.workload.name(),
                if v.status == Status::Valid {
                    "valid".into()
                } else {
                    format!("{:?}", v.status).to_uppercase()
                }
            )
        })
        .collect();
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{} — {}</text>"#,
        esc(&history.target),
        esc(&verdict.join(", "))
    );
    // Fault windows across both panels.
    for f in &history.faults {
        let (a, b) = (x(f.start_ns), x(f.end_ns.max(f.start_ns + dur / 400)));
        let _ = writeln!(
            o,
            r#"<rect x="{a:.1}" y="{TP_TOP}" width="{:.1}" height="{:.1}" fill="{}" opacity="0.6"><title>{}</title></rect>"#,
            b - a,
            LAT_TOP + LAT_H - TP_TOP,
            fault_color(&f.kind),
            esc(&format!("{}: {}", f.kind, f.detail))
        );
        let _ = writeln!(
            o,
            r#"<text x="{a:.1}" y="{:.1}" font-size="9" transform="rotate(-30 {a:.1} {:.1})">{}</text>"#,
            TP_TOP - 4.0,
            TP_TOP - 4.0,
            esc(&f.kind)
        );
    }
    throughput_panel(&mut o, history, &x);
    latency_panel(&mut o, history, &x);
    // Time axis.
    let secs = (dur / 1_000_000_000).max(1);
    let step = (secs / 12).max(1);
    for t in (0..=secs).step_by(step as usize) {
        let xx = x(t * 1_000_000_000);
        let _ = writeln!(
            o,
            r#"<text x="{xx:.1}" y="{:.1}" text-anchor="middle">{t}s</text>"#,
            LAT_TOP + LAT_H + 16.0
        );
    }
    legend(&mut o);
    o.push_str("</svg>\n");
    o
}

fn throughput_panel(o: &mut String, h: &History, x: &dyn Fn(u64) -> f64) {
    let n = (h.duration_ns / BUCKET_NS + 1) as usize;
    let mut counts = vec![[0u64; 3]; n];
    for op in &h.ops {
        let b = ((op.complete_ns / BUCKET_NS) as usize).min(n - 1);
        let k = match op.outcome {
            Outcome::Ok { .. } => 0,
            Outcome::Fail { .. } => 1,
            Outcome::Unknown { .. } => 2,
        };
        counts[b][k] += 1;
    }
    let max = counts
        .iter()
        .flat_map(|c| c.iter())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let _ = writeln!(
        o,
        r##"<rect x="{LEFT}" y="{TP_TOP}" width="{:.1}" height="{TP_H}" fill="none" stroke="#444"/>"##,
        W - LEFT - RIGHT
    );
    let _ = writeln!(
        o,
        r#"<text x="12" y="{:.1}" transform="rotate(-90 12 {:.1})">throughput (ops/s)</text>"#,
        TP_TOP + TP_H - 40.0,
        TP_TOP + TP_H - 40.0
    );
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{max}</text><text x="{:.1}" y="{:.1}" text-anchor="end">0</text>"#,
        LEFT - 4.0,
        TP_TOP + 10.0,
        LEFT - 4.0,
        TP_TOP + TP_H
    );
    let colors = ["#2a9d4a", "#d62728", "#ff9f1c"];
    for (k, color) in colors.iter().enumerate() {
        let pts: Vec<String> = counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                format!(
                    "{:.1},{:.1}",
                    x(i as u64 * BUCKET_NS + BUCKET_NS / 2),
                    TP_TOP + TP_H - TP_H * c[k] as f64 / max
                )
            })
            .collect();
        let _ = writeln!(
            o,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
            pts.join(" ")
        );
    }
}

fn latency_panel(o: &mut String, h: &History, x: &dyn Fn(u64) -> f64) {
    // Log scale from 0.1 ms to 10 s.
    let (lo, hi) = (1e5_f64.log10(), 1e10_f64.log10());
    let y = |ns: u64| {
        LAT_TOP + LAT_H
            - LAT_H * (((ns.max(100_000) as f64).log10() - lo) / (hi - lo)).clamp(0.0, 1.0)
    };
    let _ = writeln!(
        o,
        r##"<rect x="{LEFT}" y="{LAT_TOP}" width="{:.1}" height="{LAT_H}" fill="none" stroke="#444"/>"##,
        W - LEFT - RIGHT
    );
    let _ = writeln!(
        o,
        r#"<text x="12" y="{:.1}" transform="rotate(-90 12 {:.1})">latency (log)</text>"#,
        LAT_TOP + LAT_H - 60.0,
        LAT_TOP + LAT_H - 60.0
    );
    for (ns, label) in [
        (100_000u64, "0.1ms"),
        (1_000_000, "1ms"),
        (10_000_000, "10ms"),
        (100_000_000, "100ms"),
        (1_000_000_000, "1s"),
        (10_000_000_000, "10s"),
    ] {
        let yy = y(ns);
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"##,
            W - RIGHT,
            LEFT - 4.0,
            yy + 4.0
        );
    }
    // Failed and unknown ops are rare and the interesting ones: all of them
    // are drawn (up to the cap); ok ops are sampled evenly.
    let bad: Vec<&Op> = h
        .ops
        .iter()
        .filter(|o| !o.outcome.is_ok())
        .take(MAX_POINTS / 2)
        .collect();
    let oks = h.ops.len() - bad.len();
    let stride = oks.div_ceil(MAX_POINTS - bad.len()).max(1);
    let sampled = h.ops.iter().filter(|o| o.outcome.is_ok()).step_by(stride);
    for op in sampled.chain(bad) {
        let lat = op.complete_ns.saturating_sub(op.invoke_ns);
        let _ = write!(
            o,
            r#"<circle cx="{:.1}" cy="{:.1}" r="1.3" fill="{}" opacity="0.6"/>"#,
            x(op.invoke_ns),
            y(lat),
            outcome_color(&op.outcome)
        );
    }
    o.push('\n');
}

fn legend(o: &mut String) {
    let items = [
        ("#2a9d4a", "ok"),
        ("#d62728", "failed"),
        ("#ff9f1c", "unknown"),
        ("#fcae91", "kill"),
        ("#dadaeb", "pause"),
        ("#9ecae1", "partition"),
        ("#c7e9c0", "failover"),
        ("#fdd0a2", "clock-skew"),
    ];
    for (i, (c, l)) in items.iter().enumerate() {
        let xx = LEFT + 100.0 * i as f64;
        let _ = writeln!(
            o,
            r#"<rect x="{xx:.1}" y="{:.1}" width="12" height="12" fill="{c}"/><text x="{:.1}" y="{:.1}">{l}</text>"#,
            H - 26.0,
            xx + 16.0,
            H - 16.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testutil::*;
    use crate::history::{Call, FaultWindow, Ret};

    fn hist() -> History {
        let get = |a, b, o| op(1, Call::Get { key: "k".into() }, a, b, o);
        History {
            target: "t".into(),
            duration_ns: 6_000_000_000,
            ops: vec![
                get(0, 10, ok(Ret::Value(None))),
                get(100_000_000, 1_200_000_000, unknown()),
                get(1_300_000_000, 3_500_000_000, ok(Ret::Value(None))),
                get(3_600_000_000, 3_700_000_000, ok(Ret::Value(None))),
            ],
            faults: vec![FaultWindow {
                kind: "kill".into(),
                detail: "n0".into(),
                start_ns: 1_000_000_000,
                end_ns: 3_000_000_000,
            }],
            bank_total: 0,
            shards: vec![vec![(0, 16383)]],
        }
    }

    #[test]
    fn finds_the_gap() {
        let w = unavailability(&hist());
        assert_eq!(
            w,
            vec![Window {
                shard: 0,
                start_ns: 10,
                end_ns: 3_500_000_000
            }]
        );
    }

    #[test]
    fn svg_is_well_formed_enough() {
        let s = svg(&hist(), &[]);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<circle").count(), 4);
        assert!(s.contains("kill: n0"));
    }
}

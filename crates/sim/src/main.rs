//! `slotraft-sim`: runs the deterministic simulation over a range of seeds.
//!
//! ```text
//! slotraft-sim --seeds N [--start S] [--nodes 3|5] [--steps K] [--bug NAME]
//!              [--verbose] [--trace-messages] [--quiet] [--no-faults] [--no-commit-rule] [--expect-violation]
//! ```
//!
//! One line per seed (`seed S hash H ok ...` or `seed S hash H VIOLATION ...`;
//! `--quiet` prints only violations), then exactly
//! `seeds: N, violations: V`. Exit status is non-zero when V > 0, or, with
//! `--expect-violation` (teeth checks with `--bug`), when V == 0.

use std::process::ExitCode;
use std::time::Instant;

use slotraft_sim::{run_seed, Bug, SimConfig};

/// Bound on the number of seeds of one invocation.
const MAX_SEEDS: u64 = 100_000_000;

struct Args {
    seeds: u64,
    start: u64,
    nodes: usize,
    steps: Option<u64>,
    bug: Option<Bug>,
    verbose: bool,
    trace_messages: bool,
    quiet: bool,
    faults: bool,
    commit_rule: bool,
    expect_violation: bool,
}

fn usage() -> String {
    let bugs: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
    format!(
        "usage: slotraft-sim --seeds N [--start S] [--nodes 3|5] [--steps K] [--bug NAME] \
         [--verbose] [--trace-messages] [--quiet] [--no-faults] [--no-commit-rule] [--expect-violation]\n  bugs: {}",
        bugs.join(", ")
    )
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        seeds: 1,
        start: 0,
        nodes: 3,
        steps: None,
        bug: None,
        verbose: false,
        trace_messages: false,
        quiet: false,
        faults: true,
        commit_rule: true,
        expect_violation: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        let num = |s: String| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
        match flag.as_str() {
            "--seeds" => a.seeds = num(value("--seeds")?)?,
            "--start" => a.start = num(value("--start")?)?,
            "--nodes" => a.nodes = num(value("--nodes")?)? as usize,
            "--steps" => a.steps = Some(num(value("--steps")?)?),
            "--bug" => {
                let v = value("--bug")?;
                a.bug = Some(Bug::from_name(&v).ok_or(format!("unknown bug {v}"))?);
            }
            "--verbose" => a.verbose = true,
            "--trace-messages" => {
                a.verbose = true;
                a.trace_messages = true;
            }
            "--quiet" => a.quiet = true,
            "--no-faults" => a.faults = false,
            "--no-commit-rule" => a.commit_rule = false,
            "--expect-violation" => a.expect_violation = true,
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    if a.seeds == 0 || a.seeds > MAX_SEEDS {
        return Err(format!("--seeds must be in 1..={MAX_SEEDS}"));
    }
    if !(1..=9).contains(&a.nodes) {
        return Err("--nodes must be in 1..=9".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let mut violations = 0u64;
    let mut inconclusive = 0u64;
    for seed in args.start..args.start.saturating_add(args.seeds) {
        let mut cfg = SimConfig::new(seed);
        cfg.nodes = args.nodes;
        if let Some(s) = args.steps {
            cfg.steps = s;
        }
        cfg.bug = args.bug;
        cfg.verbose = args.verbose;
        cfg.trace_messages = args.trace_messages;
        cfg.faults = args.faults;
        cfg.check_commit_rule = args.commit_rule;
        let r = run_seed(&cfg);
        if r.lincheck_timeout {
            inconclusive += 1;
        }
        match &r.violation {
            Some(v) => {
                violations += 1;
                println!("seed {} hash {:016x} VIOLATION {v}", r.seed, r.hash);
            }
            None if !args.quiet => println!(
                "seed {} hash {:016x} ok ops {} unknown {} leaders {} commit {} faults {} crashes {} old-term-commits {}{}",
                r.seed,
                r.hash,
                r.ops_ok,
                r.ops_unknown,
                r.leaders,
                r.max_commit,
                r.faults,
                r.crashes,
                r.old_term_commits,
                if r.lincheck_timeout { " lincheck-timeout" } else { "" }
            ),
            None => {}
        }
    }
    eprintln!(
        "{} seeds in {:.1}s ({} lincheck inconclusive)",
        args.seeds,
        started.elapsed().as_secs_f64(),
        inconclusive
    );
    println!("seeds: {}, violations: {violations}", args.seeds);
    let failed = if args.expect_violation {
        violations == 0
    } else {
        violations > 0
    };
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

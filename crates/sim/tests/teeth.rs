//! The simulator's teeth: each deliberately broken variant of the Raft core
//! must be caught within a bounded number of seeds, and the correct core
//! must pass a batch of seeds with faults. Without the first half a green
//! simulation proves nothing.
//!
//! Run with `cargo test --release -p slotraft-sim --test teeth` (debug builds
//! work too, about 10x slower).

use slotraft_sim::{run_seed, Bug, SimConfig};

/// Each bug must be caught within this many seeds (measured: see
/// docs/simulation.md for the seed that catches each one).
const TEETH_SEEDS: u64 = 300;
/// Seeds the correct core must pass in this test (the CI script runs 600
/// more through the binary).
const CLEAN_SEEDS: u64 = 200;
/// First seed of the teeth runs (distinct from the CI range).
const TEETH_START: u64 = 5_000;

fn first_violation(bug: Bug, nodes: usize) -> Option<(u64, String)> {
    (TEETH_START..TEETH_START + TEETH_SEEDS).find_map(|seed| {
        let mut cfg = SimConfig::new(seed);
        cfg.bug = Some(bug);
        cfg.nodes = nodes;
        run_seed(&cfg).violation.map(|v| (seed, v))
    })
}

fn assert_caught(bug: Bug) {
    match first_violation(bug, 3) {
        Some((seed, v)) => println!("{}: caught at seed {seed}: {v}", bug.name()),
        None => panic!(
            "{} was not caught within {TEETH_SEEDS} seeds from {TEETH_START}",
            bug.name()
        ),
    }
}

#[test]
fn catches_vote_without_log_check() {
    assert_caught(Bug::VoteWithoutLogCheck);
}

#[test]
fn catches_commit_old_term_by_counting() {
    assert_caught(Bug::CommitOldTermByCounting);
}

#[test]
fn catches_no_truncate_on_conflict() {
    assert_caught(Bug::NoTruncateOnConflict);
}

#[test]
fn catches_read_without_quorum() {
    assert_caught(Bug::ReadWithoutQuorum);
}

#[test]
fn correct_core_passes_seeds_with_faults() {
    let mut failures = Vec::new();
    for seed in 0..CLEAN_SEEDS {
        let mut cfg = SimConfig::new(seed);
        cfg.nodes = if seed % 4 == 3 { 5 } else { 3 };
        let r = run_seed(&cfg);
        assert!(r.faults > 0, "seed {seed}: no fault injected");
        if let Some(v) = r.violation {
            failures.push(format!("seed {seed}: {v}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn same_seed_same_trace_hash() {
    for seed in [1, 77, 4242] {
        let a = run_seed(&SimConfig::new(seed));
        let b = run_seed(&SimConfig::new(seed));
        assert_eq!(a.hash, b.hash, "seed {seed} is not deterministic");
        assert_eq!(a.ops_ok, b.ops_ok);
        assert_eq!(a.violation, b.violation);
    }
    let a = run_seed(&SimConfig::new(1));
    let b = run_seed(&SimConfig::new(2));
    assert_ne!(a.hash, b.hash, "different seeds should give different runs");
}

#[test]
fn runs_make_progress() {
    // Guards against a harness that "passes" by doing nothing: a calm run
    // elects a leader and completes many client operations.
    let mut cfg = SimConfig::new(3);
    cfg.faults = false;
    let r = run_seed(&cfg);
    assert_eq!(r.violation, None);
    assert!(r.leaders >= 1, "{r:?}");
    assert!(r.ops_ok > 100, "{r:?}");
    assert!(r.max_commit > 50, "{r:?}");
}

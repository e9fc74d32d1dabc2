//! End-to-end runs of the harness that need neither root nor nftables: one
//! plain redis-server (`chaos/redis-single.toml`) started and stopped by the
//! tool itself.
//!
//! - healthy target + SIGSTOP/SIGCONT faults: every workload must be valid
//!   (the paused ops end unknown, which the checkers must accept);
//! - kill -9 + restart of a node without persistence: acknowledged writes
//!   are lost, and the suite must say INVALID (its teeth, without root).

use std::path::PathBuf;
use std::time::Duration;

use slotraft_chaos::check::Status;
use slotraft_chaos::history::Workload;
use slotraft_chaos::nemesis::{Fault, Schedule};
use slotraft_chaos::run::{recheck, run, RunOpts};

fn opts(faults: &str, secs: u64) -> RunOpts {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    RunOpts {
        target: root.join("chaos/redis-single.toml"),
        time: Duration::from_secs(secs),
        clients: 2,
        max_ops: 200_000,
        workloads: Workload::ALL.to_vec(),
        schedule: Schedule {
            faults: Fault::parse_list(faults).expect("fault list"),
            interval: Duration::from_secs(2),
            hold: Duration::from_secs(2),
        },
        store: PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chaos-e2e"),
        seed: 7,
        rate: 1500,
    }
}

// One test function: both runs use the same node address and port, so they
// must not run concurrently.
#[test]
fn single_node_runs_valid_under_pauses_and_invalid_after_amnesia() {
    // Outputs of earlier test runs are not needed: keep the disk bounded.
    let _ = std::fs::remove_dir_all(&opts("none", 0).store);
    let r = run(&opts("pause", 10)).expect("run");
    for v in &r.verdicts {
        assert_eq!(
            v.status,
            Status::Valid,
            "{}: {}",
            v.workload.name(),
            v.summary()
        );
        assert!(
            v.ok > 100,
            "{}: too few ok ops ({})",
            v.workload.name(),
            v.ok
        );
    }
    assert_eq!(r.verdicts.len(), 4);
    assert!(
        !r.history.faults.is_empty(),
        "the nemesis must have paused the node"
    );
    assert!(r.dir.join("timeline.svg").exists());
    // The saved history re-checks to the same verdicts.
    let again = recheck(&r.dir).expect("recheck");
    assert_eq!(again.verdicts, r.verdicts);

    // kill -9 of the only node, which keeps nothing on disk: writes vanish.
    let r = run(&opts("kill", 8)).expect("run");
    let invalid: Vec<&str> = r
        .verdicts
        .iter()
        .filter(|v| v.status == Status::Invalid)
        .map(|v| v.workload.name())
        .collect();
    assert!(invalid.contains(&"list-append"), "{invalid:?}");
    assert!(invalid.contains(&"counter"), "{invalid:?}");
}

//! One run: start the target, run the workloads under the nemesis, heal,
//! read the final state, stop, check, and write the run directory.
//!
//! Why this order: final reads happen only after every fault is healed and
//! the cluster reports itself healthy again, so "missing from the final
//! read" means lost, not unreachable. Cleanup never depends on reaching the
//! end: [`Procs`] and [`Firewall`] heal and stop everything when dropped
//! (panic or early return), and Ctrl-C only sets a flag the loops poll.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::check::{check_all, Verdict};
use crate::client::{nanos_since, ClusterClient};
use crate::config::Target;
use crate::history::{History, Workload};
use crate::nemesis::{Nemesis, Schedule};
use crate::net::{self, Firewall};
use crate::procs::Procs;
use crate::report::{self, Window};
use crate::rng::Rng;
use crate::signal;
use crate::topology::cluster_ok;
use crate::workload::{self, Shared};

/// Most client threads per workload.
pub const MAX_CLIENTS: usize = 32;

/// Poll interval while waiting for the cluster to become healthy.
const SETTLE_POLL: Duration = Duration::from_millis(250);

/// Options of a run.
#[derive(Clone, Debug)]
pub struct RunOpts {
    pub target: PathBuf,
    pub time: Duration,
    pub clients: usize,
    pub max_ops: u64,
    pub workloads: Vec<Workload>,
    pub schedule: Schedule,
    pub store: PathBuf,
    pub seed: u64,
    /// Target total rate of invocations per second over all clients (0 =
    /// unlimited). Bounds the history size of long runs.
    pub rate: u64,
}

/// What a run produced.
pub struct RunResult {
    pub dir: PathBuf,
    pub history: History,
    pub verdicts: Vec<Verdict>,
    pub windows: Vec<Window>,
}

/// `YYYYMMDDTHHMMSSZ` (UTC) for run directory names.
pub fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_utc(secs)
}

/// `YYYYMMDDTHHMMSSZ` of a Unix time.
pub fn format_utc(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn sh(cmd: &str, dir: &Path) -> Result<(), String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Waits (bounded by the target's settle time) until every node reports a
/// healthy cluster.
fn settle(t: &Target) -> bool {
    if !t.cluster {
        return true;
    }
    let deadline = Instant::now() + Duration::from_secs(t.settle_secs);
    let timeout = Duration::from_millis(t.op_timeout_ms);
    while Instant::now() < deadline {
        if t.seeds().iter().all(|a| cluster_ok(*a, timeout)) {
            return true;
        }
        std::thread::sleep(SETTLE_POLL);
    }
    false
}

/// The shards as slot ranges grouped by master, from the slot map.
fn shards(client: &mut ClusterClient) -> Vec<Vec<(u16, u16)>> {
    let mut by_master: Vec<(std::net::SocketAddr, Vec<(u16, u16)>)> = Vec::new();
    for (a, b, m) in client.ranges() {
        match by_master.iter_mut().find(|(x, _)| *x == m) {
            Some((_, v)) => v.push((a, b)),
            None => by_master.push((m, vec![(a, b)])),
        }
    }
    by_master.into_iter().map(|(_, v)| v).collect()
}

/// Runs once; the caller prints and decides the exit status.
pub fn run(o: &RunOpts) -> Result<RunResult, String> {
    assert!(
        o.clients >= 1 && o.clients <= MAX_CLIENTS,
        "1..={MAX_CLIENTS} clients"
    );
    let target = Target::load(&o.target)?;
    if o.schedule.faults.iter().any(|f| f.is_partition()) {
        net::available().map_err(|e| format!("partitions need nftables (root): {e}"))?;
    }
    let dir = o
        .store
        .join(format!("{}-{}-s{}", timestamp(), target.name, o.seed));
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // Run outputs are never source: keep them out of git without touching
    // the repository's own .gitignore.
    let _ = fs::write(o.store.join(".gitignore"), "*\n");
    eprintln!("chaos: run directory {}", dir.display());
    signal::install();
    // Guards: dropped (healed, stopped) on every exit path.
    let mut fw = Firewall::new();
    let mut procs = Procs::new(&target, dir.join("nodes")).map_err(|e| e.to_string())?;
    procs.start_all()?;
    if let Some(setup) = &target.setup {
        let setup = setup
            .replace("{nodes}", &target.node_list())
            .replace("{cwd}", &crate::procs::cwd());
        sh(&setup, &dir)?;
    }
    if !settle(&target) {
        return Err("cluster did not become healthy after setup".into());
    }
    let timeout = Duration::from_millis(target.op_timeout_ms);
    // Each client asks the nodes for the slot map in its own order (seeds
    // rotated by client number), as independent real clients would: after
    // a fault, some learn the map from one side of a partition and some
    // from the other, instead of all trusting the same node.
    let new_client = |n: usize| {
        let mut seeds = target.seeds();
        let len = seeds.len();
        seeds.rotate_left(n % len);
        ClusterClient::new(seeds, target.cluster, timeout)
    };
    let mut admin = new_client(0);
    let shard_ranges = shards(&mut admin);
    let bank_total = if o.workloads.contains(&Workload::Bank) {
        workload::init_banks(&mut admin)?
    } else {
        0
    };
    // Let replicas catch up with the setup writes before any fault.
    std::thread::sleep(Duration::from_millis(500));

    let start = Instant::now();
    let shared = Shared {
        start,
        until: start + o.time,
        stop: Default::default(),
        ops_left: AtomicU64::new(o.max_ops),
        reg_values: AtomicU64::new(0),
        list_values: AtomicU64::new(0),
        pace: if o.rate == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((o.clients * o.workloads.len()) as f64 / o.rate as f64)
        },
    };
    let (mut ops, faults) = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for (wi, w) in o.workloads.iter().enumerate() {
            for c in 0..o.clients {
                let id = (wi * MAX_CLIENTS + c) as u32;
                let client = new_client(wi * o.clients + c);
                let shared = &shared;
                let seed = o.seed;
                handles.push(s.spawn(move || workload::run_client(*w, id, client, shared, seed)));
            }
        }
        let mut nemesis = Nemesis {
            target: &target,
            procs: &mut procs,
            fw: &mut fw,
            rng: Rng::new(o.seed),
            start,
            timeout,
        };
        let faults = nemesis.run(&o.schedule, &signal::INTERRUPTED, shared.until);
        shared.stop.store(true, Ordering::Relaxed);
        let ops: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("client thread panicked"))
            .collect();
        (ops, faults)
    });
    // Heal everything, then read the final state.
    fw.heal();
    procs.resume_all();
    procs.start_all()?;
    let healthy = settle(&target);
    if !healthy {
        eprintln!("chaos: cluster not healthy after healing; final reads may fail");
    }
    if !signal::interrupted() {
        let mut c = new_client(0);
        ops.extend(workload::final_reads(
            &mut c,
            u32::MAX,
            &shared,
            &o.workloads,
        ));
    }
    let duration_ns = nanos_since(start);
    procs.stop_all();
    drop(fw);
    ops.sort_by_key(|op| (op.invoke_ns, op.client));
    let history = History {
        target: target.name.clone(),
        duration_ns,
        ops,
        faults,
        bank_total,
        shards: shard_ranges,
    };
    let result = evaluate(history, dir)?;
    Ok(result)
}

/// Checks a history and writes `history.json`, `results.json`,
/// `summary.txt` and `timeline.svg` into `dir`.
pub fn evaluate(history: History, dir: PathBuf) -> Result<RunResult, String> {
    let json = serde_json::to_string(&history).map_err(|e| e.to_string())?;
    fs::write(dir.join("history.json"), json).map_err(|e| e.to_string())?;
    let verdicts = check_all(&history);
    let windows = report::unavailability(&history);
    write_outputs(&history, &verdicts, &windows, &dir)?;
    Ok(RunResult {
        dir,
        history,
        verdicts,
        windows,
    })
}

/// Writes the derived files (not the history itself).
pub fn write_outputs(h: &History, v: &[Verdict], w: &[Window], dir: &Path) -> Result<(), String> {
    let results =
        serde_json::json!({ "verdicts": v, "unavailable": w, "valid": report::all_valid(v) });
    let io = |e: std::io::Error| e.to_string();
    fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?,
    )
    .map_err(io)?;
    fs::write(dir.join("summary.txt"), report::summary(h, v, w)).map_err(io)?;
    fs::write(dir.join("timeline.svg"), report::svg(h, v)).map_err(io)?;
    Ok(())
}

/// Re-checks a saved history (a run directory or a `history.json`).
pub fn recheck(path: &Path) -> Result<RunResult, String> {
    let (file, dir) = if path.is_dir() {
        (path.join("history.json"), path.to_path_buf())
    } else {
        (
            path.to_path_buf(),
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        )
    };
    let text = fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let history: History =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let verdicts = check_all(&history);
    let windows = report::unavailability(&history);
    write_outputs(&history, &verdicts, &windows, &dir)?;
    Ok(RunResult {
        dir,
        history,
        verdicts,
        windows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(format_utc(0), "19700101T000000Z");
        assert_eq!(format_utc(951_782_400), "20000229T000000Z");
        assert_eq!(format_utc(1_795_322_718), "20261122T044518Z");
    }
}

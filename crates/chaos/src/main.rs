//! `slotraft-chaos`: command line of the fault-injection suite.
//!
//! ```text
//! slotraft-chaos run --target chaos/redis-cluster.toml [--time 60] [--clients 3]
//!     [--max-ops 2000000] [--workloads all|register,list-append,counter,bank]
//!     [--faults all|none|partition|process|kill,pause,...] [--interval 4] [--hold 6]
//!     [--store store] [--seed 1] [--rate 2000 ops/s, 0 = unlimited]
//! slotraft-chaos check store/<run>      re-check a saved history offline
//! slotraft-chaos heal                   delete the nftables table (emergency)
//! ```
//! Exit status: 0 every workload valid, 1 some INVALID, 2 undecided, 3 error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use slotraft_chaos::check::Status;
use slotraft_chaos::history::Workload;
use slotraft_chaos::nemesis::{Fault, Schedule};
use slotraft_chaos::run::{recheck, run, RunOpts, RunResult};
use slotraft_chaos::{net, report};

fn usage() -> ExitCode {
    eprintln!("usage: slotraft-chaos run --target FILE [options] | check DIR | heal (see --help in the source doc)");
    ExitCode::from(3)
}

fn parse_run(args: &[String]) -> Result<RunOpts, String> {
    let mut o = RunOpts {
        target: PathBuf::new(),
        time: Duration::from_secs(60),
        clients: 3,
        max_ops: 5_000_000,
        workloads: Workload::ALL.to_vec(),
        schedule: Schedule {
            faults: Fault::parse_list("all")?,
            interval: Duration::from_secs(4),
            hold: Duration::from_secs(6),
        },
        store: PathBuf::from("store"),
        seed: 1,
        rate: 2000,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--target" => o.target = PathBuf::from(v),
            "--time" => o.time = Duration::from_secs(num(v)?),
            "--clients" => o.clients = num(v)? as usize,
            "--max-ops" => o.max_ops = num(v)?,
            "--workloads" => {
                o.workloads = if v == "all" {
                    Workload::ALL.to_vec()
                } else {
                    v.split(',')
                        .map(|w| Workload::parse(w).ok_or(format!("unknown workload {w}")))
                        .collect::<Result<_, _>>()?
                }
            }
            "--faults" => o.schedule.faults = Fault::parse_list(v)?,
            "--interval" => o.schedule.interval = Duration::from_secs(num(v)?),
            "--hold" => o.schedule.hold = Duration::from_secs(num(v)?),
            "--store" => o.store = PathBuf::from(v),
            "--seed" => o.seed = num(v)?,
            "--rate" => o.rate = num(v)?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if o.target.as_os_str().is_empty() {
        return Err("--target is required".into());
    }
    if !(1..=slotraft_chaos::run::MAX_CLIENTS).contains(&o.clients) {
        return Err("--clients out of range".into());
    }
    Ok(o)
}

fn print(r: &RunResult) -> ExitCode {
    // Write errors (a closed pipe, e.g. `| head`) must not panic the tool.
    let mut out = std::io::stdout().lock();
    let _ = write!(
        out,
        "{}",
        report::summary(&r.history, &r.verdicts, &r.windows)
    );
    let _ = writeln!(out, "output: {}", r.dir.display());
    if r.verdicts.iter().any(|v| v.status == Status::Invalid) {
        ExitCode::from(1)
    } else if report::all_valid(&r.verdicts) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => parse_run(&args[1..]).and_then(|o| run(&o)),
        Some("check") if args.len() == 2 => recheck(&PathBuf::from(&args[1])),
        Some("heal") => {
            net::delete_table();
            return ExitCode::SUCCESS;
        }
        _ => return usage(),
    };
    match result {
        Ok(r) => print(&r),
        Err(e) => {
            eprintln!("slotraft-chaos: {e}");
            ExitCode::from(3)
        }
    }
}

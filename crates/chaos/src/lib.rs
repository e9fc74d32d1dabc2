//! slotraft-chaos: a Jepsen-style fault-injection suite against real
//! Redis-Cluster-compatible clusters (slotraft, Redis Cluster, ...).
//!
//! Why it exists: slotraft promises linearizable single-slot operations and
//! no lost acknowledged write. The deterministic simulator checks the Raft
//! core; this suite checks the real binaries, over real sockets, under real
//! faults (kill -9, SIGSTOP, nftables partitions, failovers), and draws what
//! happened. It is target-agnostic (a TOML file describes the system), so
//! the same run against Redis Cluster shows what the checkers catch.
//!
//! Pipeline: [`config`] -> [`procs`] + [`net`] (the guards) -> [`workload`]
//! threads using [`client`] while [`nemesis`] injects faults -> [`history`]
//! -> [`check`] -> [`report`]. [`run`] wires it together.

pub mod check;
pub mod client;
pub mod config;
pub mod history;
pub mod nemesis;
pub mod net;
pub mod procs;
pub mod report;
pub mod rng;
pub mod run;
pub mod signal;
pub mod topology;
pub mod workload;

//! slotraft's deterministic cluster simulator (dev-only).
//!
//! Why: a Raft implementation is only as trustworthy as the interleavings it
//! was tested under. The simulator runs N replicas of the sans-IO core in one
//! thread under a nemesis (partitions of the Jepsen shapes, message loss,
//! duplication, delay and reordering, crashes that lose unpersisted writes,
//! restarts, pauses, leader transfers, membership changes), checks the Raft
//! safety properties after every step ([`invariants`]), checks the clients'
//! history for linearizability at the end (`slotraft-lincheck`), and checks
//! liveness after healing. Everything derives from one seed, so any failure
//! replays exactly: `cargo run --release -p slotraft-sim -- --start S --seeds 1 --verbose`.
//!
//! See `docs/simulation.md`.

#![forbid(unsafe_code)]

pub mod cluster;
pub mod invariants;
pub mod kvsm;
pub mod nemesis;
pub mod net;
pub mod rng;

pub use cluster::{run_seed, Bug, Cluster, Report, SimConfig};

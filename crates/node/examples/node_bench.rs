//! Throughput and latency of the node runtime alone (no RESP): three nodes
//! in one process on 127.0.0.1-3, real WAL with fsync, real TCP; one group
//! on all three; `CLIENTS` concurrent clients on the leader doing SET, then
//! GET (linearizable) with ReadIndex and with lease reads.
//!
//! Run: `cargo run --release -p slotraft-node --example node_bench [seconds] [clients]`
//! (defaults 3 s, 50 clients). Every phase is bounded by its duration.

use bytes::Bytes;
use slotraft_keyspace::Outcome;
use slotraft_node::{Completion, NodeConfig, NodeHandle, Op, ReadMode};
use slotraft_raft::Role;
use slotraft_types::{GroupId, NodeId};
use std::sync::Arc;
use std::time::{Duration, Instant};

const G: GroupId = GroupId(1);
const LEADER_WAIT: Duration = Duration::from_secs(20);

/// The node tests' cluster setup (addresses, ports, configs).
#[path = "../tests/common/mod.rs"]
mod common;

async fn start(mode: ReadMode, dirs: &[tempfile::TempDir]) -> Vec<Arc<NodeHandle>> {
    let peers = common::bus_peers(0, 3);
    let mut nodes = Vec::new();
    for i in 1..=3u64 {
        let cfg = NodeConfig {
            read_mode: mode,
            ..common::node_config(
                NodeId(i),
                7,
                &peers,
                dirs[(i - 1) as usize].path(),
                vec![(G, (1..=3).map(NodeId).collect())],
            )
        };
        nodes.push(Arc::new(NodeHandle::start(cfg).await.unwrap()));
    }
    nodes
}

async fn leader(nodes: &[Arc<NodeHandle>]) -> Arc<NodeHandle> {
    let deadline = Instant::now() + LEADER_WAIT;
    while Instant::now() < deadline {
        for n in nodes {
            if n.status(G).await.map(|s| s.role) == Some(Role::Leader) {
                return n.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no leader");
}

fn argv(parts: &[&str]) -> Vec<Bytes> {
    parts
        .iter()
        .map(|p| Bytes::copy_from_slice(p.as_bytes()))
        .collect()
}

/// Runs `clients` loops for `secs`; returns (ops/s, p50, p99).
async fn phase(
    n: Arc<NodeHandle>,
    write: bool,
    clients: usize,
    secs: f64,
) -> (f64, Duration, Duration) {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let n = n.clone();
            tokio::spawn(async move {
                let key = format!("key:{c}");
                let mut lat = Vec::new();
                while Instant::now() < end {
                    let t = Instant::now();
                    let r = if write {
                        n.propose(G, Op::Cmd(argv(&["SET", &key, "xxxxxxxxxxxxxxxx"])))
                            .await
                    } else {
                        n.read(G, argv(&["GET", &key])).await
                    };
                    assert!(matches!(r, Completion::Done(Outcome::Reply(_))), "{r:?}");
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    (all.len() as f64 / secs, pct(0.5), pct(0.99))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let clients: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
    println!("| mode | op | ops/s | p50 | p99 |\n|---|---|---|---|---|");
    for mode in [ReadMode::ReadIndex, ReadMode::Lease] {
        let dirs = common::temp_dirs(3);
        let nodes = start(mode, &dirs).await;
        let l = leader(&nodes).await;
        for (write, name) in [(true, "SET"), (false, "GET")] {
            let (ops, p50, p99) = phase(l.clone(), write, clients, secs).await;
            println!("| {mode:?} | {name} | {ops:.0} | {p50:?} | {p99:?} |");
        }
        for n in &nodes {
            n.shutdown().await.unwrap();
        }
    }
}

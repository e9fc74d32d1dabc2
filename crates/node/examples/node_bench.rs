//! Throughput and latency of the node runtime alone (no RESP): three nodes
//! in one process on 127.0.0.1-3, real WAL with fsync, real TCP; one group
//! on all three; `CLIENTS` concurrent clients on the leader doing SET, then
//! GET (linearizable) with ReadIndex and with lease reads.
//!
//! Run: `cargo run --release -p slotraft-node --example node_bench [seconds] [clients]`
//! (defaults 3 s, 50 clients). Every phase is bounded by its duration.

use bytes::Bytes;
use slotraft_keyspace::Outcome;
use slotraft_node::{Completion, NodeConfig, NodeHandle, Op, ReadMode, SNAPSHOT_LOG_ENTRIES};
use slotraft_raft::Role;
use slotraft_types::{GroupId, NodeId};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

const G: GroupId = GroupId(1);
const LEADER_WAIT: Duration = Duration::from_secs(20);

fn ip(i: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, i as u8))
}

fn free_port(ip: IpAddr) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(mode: ReadMode, dirs: &[tempfile::TempDir]) -> Vec<Arc<NodeHandle>> {
    let peers: BTreeMap<NodeId, SocketAddr> = (1..=3u64)
        .map(|i| (NodeId(i), SocketAddr::new(ip(i), free_port(ip(i)))))
        .collect();
    let mut nodes = Vec::new();
    for i in 1..=3u64 {
        let cfg = NodeConfig {
            id: NodeId(i),
            cluster_id: 7,
            bind_ip: ip(i),
            client_port: 0,
            bus_port: peers[&NodeId(i)].port(),
            dir: dirs[(i - 1) as usize].path().to_path_buf(),
            peers: peers.clone(),
            groups: vec![(G, (1..=3).map(NodeId).collect())],
            snapshot_log_entries: SNAPSHOT_LOG_ENTRIES,
            read_mode: mode,
            meta: None,
            gossip_node_timeout_ms: slotraft_node::gossip::DEFAULT_GOSSIP_NODE_TIMEOUT_MS,
            raft_bugs: Default::default(),
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
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
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

//! Cluster setup shared by the node integration tests (and `node_bench`):
//! loopback addresses, free bus ports, the `NodeConfig` every test starts
//! from, and a restartable set of real nodes with a leader wait. It exists so
//! that each test file states only what differs (groups, metadata group,
//! read mode, timeouts) instead of repeating the same setup. Every wait has a
//! deadline.
//!
//! Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use slotraft_cluster::{plan_cluster, ClusterId, ClusterMap, MetaCommand, NodeSpec};
use slotraft_node::{NodeConfig, NodeHandle, ReadMode};
use slotraft_raft::Role;
use slotraft_types::{GroupId, NodeId};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::time::sleep;

/// Node `i` of a test lives on 127.0.0.`base + i` (distinct addresses, as a
/// firewall rule between two of them would need; distinct `base`s keep test
/// files apart).
pub fn node_ip(base: u8, i: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, base + i as u8))
}

/// A port that was free on `ip` a moment ago.
pub fn free_port(ip: IpAddr) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Bus addresses of nodes `1..=n`, node `i` on `node_ip(base, i)`.
pub fn bus_peers(base: u8, n: u64) -> BTreeMap<NodeId, SocketAddr> {
    (1..=n)
        .map(|i| {
            let ip = node_ip(base, i);
            (NodeId(i), SocketAddr::new(ip, free_port(ip)))
        })
        .collect()
}

/// Node `id`'s config with the defaults (default snapshot threshold,
/// ReadIndex reads, no metadata group, default gossip timeout, no injected
/// bugs); callers override fields with `NodeConfig { .., ..node_config(..) }`.
pub fn node_config(
    id: NodeId,
    cluster_id: u128,
    peers: &BTreeMap<NodeId, SocketAddr>,
    dir: &std::path::Path,
    groups: Vec<(GroupId, Vec<NodeId>)>,
) -> NodeConfig {
    let bus = peers[&id];
    NodeConfig {
        id,
        cluster_id,
        bind_ip: bus.ip(),
        client_port: 0,
        bus_port: bus.port(),
        dir: dir.to_path_buf(),
        peers: peers.clone(),
        groups,
        snapshot: slotraft_node::SnapshotPolicy::default(),
        store: slotraft_storage::Config::default(),
        read_mode: ReadMode::ReadIndex,
        meta: None,
        gossip_node_timeout_ms: slotraft_node::gossip::DEFAULT_GOSSIP_NODE_TIMEOUT_MS,
        driver: placement_for(id),
        raft_bugs: Default::default(),
    }
}

/// Odd node ids run their driver on the test's runtime, even ones on a
/// thread of their own: every multi-node test covers both placements, and
/// nodes of both kinds talking to each other.
pub fn placement_for(id: NodeId) -> slotraft_node::DriverPlacement {
    if id.get() % 2 == 1 {
        slotraft_node::DriverPlacement::Runtime
    } else {
        slotraft_node::DriverPlacement::Thread
    }
}

/// `n` temporary node directories.
pub fn temp_dirs(n: usize) -> Vec<tempfile::TempDir> {
    (0..n).map(|_| tempfile::tempdir().unwrap()).collect()
}

/// Real nodes `1..=configs.len()` that can be stopped and restarted with
/// the same config (same dir, same ports).
pub struct Cluster {
    pub _dirs: Vec<tempfile::TempDir>,
    pub configs: Vec<NodeConfig>,
    pub nodes: Vec<Option<NodeHandle>>,
}

impl Cluster {
    /// Starts one node per config (config `k` is node `k + 1`); `dirs` are
    /// kept alive as long as the cluster.
    pub async fn start_all(dirs: Vec<tempfile::TempDir>, configs: Vec<NodeConfig>) -> Cluster {
        let mut c = Cluster {
            _dirs: dirs,
            nodes: configs.iter().map(|_| None).collect(),
            configs,
        };
        for i in 0..c.configs.len() {
            c.restart(i).await;
        }
        c
    }

    pub async fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none());
        let n = NodeHandle::start(self.configs[i].clone()).await.unwrap();
        self.nodes[i] = Some(n);
    }

    pub async fn stop(&mut self, i: usize) {
        let n = self.nodes[i].take().expect("running");
        assert!(n.is_running());
        n.shutdown().await.unwrap();
        assert!(!n.is_running());
    }

    pub fn node(&self, id: u64) -> &NodeHandle {
        self.nodes[(id - 1) as usize].as_ref().expect("running")
    }

    pub fn running(&self) -> impl Iterator<Item = &NodeHandle> {
        self.nodes.iter().flatten()
    }

    pub async fn shutdown_all(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_some() {
                self.stop(i).await;
            }
        }
    }

    /// A running node that is leader of `g` and known as such by every
    /// running node; panics after `wait`.
    pub async fn await_leader_within(&self, g: GroupId, wait: Duration, poll: Duration) -> u64 {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            let mut leader = None;
            for n in self.running() {
                if n.status(g).await.is_some_and(|s| s.role == Role::Leader) {
                    leader = Some(n.id().get());
                }
            }
            if let Some(l) = leader {
                let mut all_know = true;
                for n in self.running() {
                    all_know &= n.status(g).await.unwrap().leader == Some(NodeId(l));
                }
                if all_know {
                    return l;
                }
            }
            sleep(poll).await;
        }
        panic!("no leader for {g} within {wait:?}");
    }
}

/// Polls `cond` every `poll` until it holds; panics (naming `what`) after
/// `wait`.
pub async fn wait_until(
    what: &str,
    wait: Duration,
    poll: Duration,
    mut cond: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        sleep(poll).await;
    }
    panic!("not within {wait:?}: {what}");
}

/// A bootstrapped map (epoch > 0) of nodes `1..=n` on `node_ip(base, i)`,
/// client port 7000 + i, bus port 17000 + i, three replicas per shard.
pub fn bootstrapped_map(cluster_id: u128, base: u8, n: u64) -> ClusterMap {
    let specs: Vec<NodeSpec> = (1..=n)
        .map(|i| NodeSpec {
            id: NodeId(i),
            ip: node_ip(base, i),
            port: 7000 + i as u16,
            bus_port: 17000 + i as u16,
        })
        .collect();
    let plan = plan_cluster(ClusterId(cluster_id), &specs, None, 3).unwrap();
    let mut map = ClusterMap::new();
    map.apply(&MetaCommand::Bootstrap(plan)).unwrap();
    map
}

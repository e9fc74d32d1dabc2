//! Gossip through `NodeHandle`: three real nodes in one process on
//! 127.0.0.x (real WAL, real TCP), a small `cluster-node-timeout`.
//! Shows: every node sees the others Ok and connected after a few ticks; a
//! node cut from ONE peer is only PFAIL there (no majority); a node cut
//! from both is FAIL on both (and sees them PFAIL, never FAIL, alone);
//! healing returns everyone to Ok; leader hints reach a node that does not
//! host a group; a map offered to one node (higher epoch) is pulled by the
//! others. Every test is bounded by [`TEST_TIMEOUT`], every wait by a
//! deadline.

use slotraft_cluster::{ClusterMap, HealthState};
use slotraft_node::{NodeConfig, NodeHandle};
use slotraft_types::{GroupId, NodeId};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::time::{sleep, timeout};

/// On all three nodes.
const G1: GroupId = GroupId(1);
/// On nodes 1 and 2 only: node 3 learns its leader from gossip.
const G2: GroupId = GroupId(2);
const CLUSTER: u128 = 0x5107_4af7_0000_0000_0000_0000_0000_0c05;
const TEST_TIMEOUT: Duration = Duration::from_secs(90);
const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(10);
const NODE_TIMEOUT_MS: u64 = 1000;

mod common;

struct Cluster {
    _dirs: Vec<tempfile::TempDir>,
    nodes: Vec<NodeHandle>,
}

impl Cluster {
    async fn start() -> Cluster {
        let dirs = common::temp_dirs(3);
        let peers = common::bus_peers(30, 3);
        let mut nodes = Vec::new();
        for i in 1..=3u64 {
            let mut groups = vec![(G1, (1..=3).map(NodeId).collect())];
            if i != 3 {
                groups.push((G2, vec![NodeId(1), NodeId(2)]));
            }
            let cfg = NodeConfig {
                gossip_node_timeout_ms: NODE_TIMEOUT_MS,
                ..common::node_config(
                    NodeId(i),
                    CLUSTER,
                    &peers,
                    dirs[(i - 1) as usize].path(),
                    groups,
                )
            };
            nodes.push(NodeHandle::start(cfg).await.unwrap());
        }
        Cluster { _dirs: dirs, nodes }
    }

    fn node(&self, id: u64) -> &NodeHandle {
        &self.nodes[(id - 1) as usize]
    }

    /// `viewer`'s verdict on `about`.
    fn state(&self, viewer: u64, about: u64) -> HealthState {
        self.node(viewer).health()[&NodeId(about)].state
    }

    /// Cuts (or heals) the link between `a` and `b`, both directions.
    fn cut(&self, a: u64, b: u64, cut: bool) {
        self.node(a).set_link_blocked(NodeId(b), cut);
        self.node(b).set_link_blocked(NodeId(a), cut);
    }

    async fn shutdown(&self) {
        for n in &self.nodes {
            n.shutdown().await.unwrap();
        }
    }
}

async fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    common::wait_until(what, WAIT, POLL, cond).await
}

fn stat(n: &NodeHandle, name: &str) -> u64 {
    let s: BTreeMap<_, _> = n.gossip_stats().into_iter().collect();
    s[name]
}

fn all_ok_and_connected(c: &Cluster) -> bool {
    (1..=3).all(|v| {
        let h = c.node(v).health();
        h.len() == 3
            && h.iter().all(|(id, n)| {
                n.state == HealthState::Ok && (id.get() == v || (n.connected && n.pong_recv_ms > 0))
            })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_pfail_fail_and_recovery() {
    timeout(TEST_TIMEOUT, async {
        let c = Cluster::start().await;
        wait_until("every node sees the others Ok and connected", || {
            all_ok_and_connected(&c)
        })
        .await;

        // One link cut: each end suspects the other, but the third node
        // still hears both, so no majority ever agrees: PFAIL only.
        c.cut(1, 3, true);
        let t_cut = Instant::now();
        wait_until("node 1 suspects node 3", || {
            c.state(1, 3) == HealthState::PFail
        })
        .await;
        let pfail_after = t_cut.elapsed();
        // Not before the node timeout (less at most one PING's flight).
        assert!(
            pfail_after >= Duration::from_millis(NODE_TIMEOUT_MS / 2),
            "PFAIL after only {pfail_after:?}"
        );
        wait_until("node 3 suspects node 1", || {
            c.state(3, 1) == HealthState::PFail
        })
        .await;
        let hold = Instant::now() + Duration::from_millis(4 * NODE_TIMEOUT_MS);
        while Instant::now() < hold {
            assert_eq!(c.state(1, 3), HealthState::PFail, "1 of 3 is no majority");
            assert_eq!(c.state(2, 3), HealthState::Ok);
            assert_eq!(c.state(2, 1), HealthState::Ok);
            sleep(POLL).await;
        }

        // Node 3 cut from both: nodes 1 and 2 agree, FAIL on both; node 3
        // alone can only suspect them.
        c.cut(2, 3, true);
        let t_isolated = Instant::now();
        wait_until("nodes 1 and 2 mark node 3 FAIL", || {
            c.state(1, 3) == HealthState::Fail && c.state(2, 3) == HealthState::Fail
        })
        .await;
        let fail_after = t_isolated.elapsed();
        wait_until("node 3 suspects node 2", || {
            c.state(3, 2) == HealthState::PFail
        })
        .await;
        assert_eq!(c.state(3, 1), HealthState::PFail);
        assert_eq!(c.state(1, 2), HealthState::Ok);
        let fail_sent: u64 = [1, 2]
            .iter()
            .map(|&i| stat(c.node(i), "cluster_stats_messages_fail_sent"))
            .sum();
        assert!(fail_sent > 0, "the FAIL verdict was broadcast");

        // Healed: PONGs clear PFAIL and FAIL everywhere.
        c.cut(1, 3, false);
        c.cut(2, 3, false);
        let t_healed = Instant::now();
        wait_until("everyone Ok again after healing", || {
            all_ok_and_connected(&c)
        })
        .await;
        println!(
            "node timeout {NODE_TIMEOUT_MS} ms: PFAIL after {pfail_after:?}, FAIL (both) {fail_after:?} \
             after isolation, all Ok {:?} after healing",
            t_healed.elapsed()
        );
        c.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_leader_hint_reaches_a_node_not_hosting_the_group() {
    timeout(TEST_TIMEOUT, async {
        let c = Cluster::start().await;
        // Hosted groups are listed from the start, before any election, so
        // gossip never mistakes one for a remote group.
        assert!(c.node(3).leader(G1).is_some(), "G1 is hosted by node 3");
        assert!(c.node(3).leader(G2).is_none(), "G2 is not hosted by node 3");
        let mut leader = None;
        wait_until("group 2 elects a leader known to node 3 by gossip", || {
            let l1 = c.node(1).leader(G2).and_then(|l| l.leader);
            let l3 = c.node(3).gossip_leaders().get(&G2).copied();
            leader = l1;
            l1.is_some() && l1 == l3
        })
        .await;
        let leader = leader.unwrap();
        assert!(leader == NodeId(1) || leader == NodeId(2));
        // Hosted groups come from local Raft, not from gossip.
        assert!(!c.node(1).gossip_leaders().contains_key(&G2));
        assert!(!c.node(3).gossip_leaders().contains_key(&G1));
        // After a leadership change the hint follows (higher term).
        let other = if leader == NodeId(1) {
            NodeId(2)
        } else {
            NodeId(1)
        };
        c.node(leader.get())
            .transfer_leader(G2, other)
            .await
            .expect("transfer");
        wait_until("node 3 learns the new leader of group 2", || {
            c.node(3).gossip_leaders().get(&G2) == Some(&other)
        })
        .await;
        c.shutdown().await;
    })
    .await
    .expect("test timed out");
}

fn bootstrapped_map() -> ClusterMap {
    common::bootstrapped_map(CLUSTER, 30, 3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_newer_map_offered_to_one_node_reaches_all() {
    timeout(TEST_TIMEOUT, async {
        let c = Cluster::start().await;
        let map = bootstrapped_map();
        assert!(map.epoch() > 0);
        for i in 1..=3 {
            assert_eq!(c.node(i).cluster_map().epoch(), 0);
        }
        let mut watch3 = c.node(3).watch_map();
        c.node(2).offer_map(map.clone());
        let t_offer = Instant::now();
        assert_eq!(c.node(2).cluster_map().epoch(), map.epoch());
        wait_until("nodes 1 and 3 pull the newer map over the bus", || {
            (1..=3).all(|i| c.node(i).cluster_map().epoch() == map.epoch())
        })
        .await;
        println!(
            "map at epoch {} on all nodes {:?} after the offer",
            map.epoch(),
            t_offer.elapsed()
        );
        assert!(watch3.has_changed().unwrap(), "watchers are notified");
        assert_eq!(
            watch3.borrow_and_update().encode_snapshot(),
            map.encode_snapshot()
        );
        c.shutdown().await;
    })
    .await
    .expect("test timed out");
}

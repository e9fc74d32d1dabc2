//! The gossip task on the real TCP bus, without Raft: three transports plus
//! gossip tasks in one process on 127.0.0.x, each with its own map watch.
//! Covers map pulls (MapRequest/MapReply), leader hints, and the bus
//! refusing a gossip frame whose sender is not the authenticated peer.
//! Every test is bounded by [`TEST_TIMEOUT`]; every wait by a deadline.

use slotraft_cluster::{ClusterId, ClusterMap, MetaCommand, NodeState};
use slotraft_node::driver::{LeaderInfo, LeaderTable, Request};
use slotraft_node::gossip::{offer_newer, GossipConfig, GossipService, GossipWiring, MapOffer};
use slotraft_node::transport::{self, Transport, TransportConfig};
use slotraft_types::{GroupId, NodeId, Term};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{sleep, timeout};

const CLUSTER: u128 = 0x5107_4af7_0000_0000_0000_0000_0000_0b05;
const TEST_TIMEOUT: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(10);
const NODE_TIMEOUT_MS: u64 = 400;

mod common;

/// One node's bus and gossip task, with a map watch of its own.
struct BusNode {
    transport: Transport,
    gossip: GossipService,
    maps: Arc<watch::Sender<Arc<ClusterMap>>>,
    leaders: LeaderTable,
    /// The driver input the transport feeds (no driver here; kept open).
    _raft_in: tokio::sync::mpsc::Receiver<Request>,
}

impl BusNode {
    fn epoch(&self) -> u64 {
        self.maps.borrow().epoch()
    }
}

async fn start_bus(n: usize) -> (Vec<BusNode>, BTreeMap<NodeId, SocketAddr>) {
    let peers = common::bus_peers(20, n as u64);
    let mut nodes = Vec::new();
    for i in 1..=n as u64 {
        let (raft_tx, raft_in) = tokio::sync::mpsc::channel(1024);
        let (bus_tx, bus_rx) = tokio::sync::mpsc::channel(transport::BUS_INBOX_CAPACITY);
        let transport = Transport::start(
            TransportConfig {
                id: NodeId(i),
                cluster_id: CLUSTER,
                bind_ip: peers[&NodeId(i)].ip(),
                bus_port: peers[&NodeId(i)].port(),
                peers: peers.clone(),
            },
            raft_tx,
            bus_tx,
        )
        .await
        .unwrap();
        let (tx, rx) = watch::channel(Arc::new(ClusterMap::new()));
        let maps = Arc::new(tx);
        let m = maps.clone();
        let offer: MapOffer = Arc::new(move |map| {
            offer_newer(&m, map);
        });
        let leaders = LeaderTable::default();
        let gossip = GossipService::spawn(
            GossipConfig {
                id: NodeId(i),
                cluster_id: CLUSTER,
                node_timeout_ms: NODE_TIMEOUT_MS,
                members: peers.keys().copied().collect(),
                seed: i,
            },
            GossipWiring {
                outbox: transport.outbox.clone(),
                inbox: bus_rx,
                leaders: leaders.clone(),
                maps: rx,
                offer,
            },
        );
        transport.adopt_task(gossip.abort_handle());
        nodes.push(BusNode {
            transport,
            gossip,
            maps,
            leaders,
            _raft_in: raft_in,
        });
    }
    (nodes, peers)
}

fn bootstrapped_map(n: u64) -> ClusterMap {
    common::bootstrapped_map(CLUSTER, 20, n)
}

async fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    common::wait_until(what, WAIT, POLL, cond).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_newer_map_is_pulled_by_every_node() {
    timeout(TEST_TIMEOUT, async {
        let (nodes, _) = start_bus(3).await;
        let mut map = bootstrapped_map(3);
        let e1 = map.epoch();
        assert!(e1 > 0);
        assert!(offer_newer(&nodes[0].maps, map.clone()));
        wait_until("every node pulls the bootstrapped map", || {
            nodes.iter().all(|n| n.epoch() == e1)
        })
        .await;
        // A later change on one node only (here node 2) travels the same way.
        map.apply(&MetaCommand::SetNodeState {
            node: NodeId(3),
            state: NodeState::Leaving,
        })
        .unwrap();
        let e2 = map.epoch();
        assert!(e2 > e1);
        assert!(offer_newer(&nodes[1].maps, map.clone()));
        wait_until("every node pulls the newer map", || {
            nodes.iter().all(|n| n.epoch() == e2)
        })
        .await;
        let got = nodes[0].maps.borrow().clone();
        assert_eq!(got.encode_snapshot(), map.encode_snapshot());
        for n in &nodes {
            assert_eq!(
                n.transport
                    .outbox
                    .stats
                    .frames_rejected
                    .load(Ordering::Relaxed),
                0
            );
            n.transport.stop();
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_map_pull_after_a_cut_goes_through_any_holder() {
    timeout(TEST_TIMEOUT, async {
        let (nodes, _) = start_bus(3).await;
        // Node 3 is cut from both others while node 1 learns a map: once
        // a link to any peer holding the map heals, it gets it.
        for (a, b) in [(0, 3), (1, 3), (2, 1), (2, 2)] {
            nodes[a]
                .transport
                .outbox
                .blocked
                .write()
                .unwrap()
                .insert(NodeId(b));
        }
        let map = bootstrapped_map(3);
        assert!(offer_newer(&nodes[0].maps, map.clone()));
        wait_until("node 2 pulls the map", || nodes[1].epoch() == map.epoch()).await;
        sleep(Duration::from_millis(3 * NODE_TIMEOUT_MS)).await;
        assert_eq!(nodes[2].epoch(), 0, "a cut node cannot have pulled it");
        // Healed towards node 2 only: node 3 still cannot reach node 1 (which
        // holds the map since the start) but pulls it from node 2.
        nodes[1].transport.outbox.blocked.write().unwrap().clear();
        nodes[2]
            .transport
            .outbox
            .blocked
            .write()
            .unwrap()
            .remove(&NodeId(2));
        wait_until("the healed node pulls the map from node 2", || {
            nodes[2].epoch() == map.epoch()
        })
        .await;
        for n in &nodes {
            n.transport.stop();
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_leader_hints_reach_nodes_not_hosting_the_group() {
    timeout(TEST_TIMEOUT, async {
        let (nodes, _) = start_bus(3).await;
        let g = GroupId(7);
        nodes[0].leaders.write().unwrap().insert(
            g,
            LeaderInfo {
                leader: Some(NodeId(1)),
                term: Term(3),
            },
        );
        // Node 2 "hosts" g too (a follower there): its own Raft state wins,
        // so gossip lists no hint for g on it.
        nodes[1].leaders.write().unwrap().insert(
            g,
            LeaderInfo {
                leader: Some(NodeId(1)),
                term: Term(3),
            },
        );
        wait_until("node 3 learns node 1 leads group 7", || {
            nodes[2].gossip.leaders().get(&g) == Some(&NodeId(1))
        })
        .await;
        sleep(Duration::from_millis(300)).await;
        assert!(!nodes[1].gossip.leaders().contains_key(&g));
        // A new leader at a higher term replaces the hint.
        nodes[0].leaders.write().unwrap().insert(
            g,
            LeaderInfo {
                leader: Some(NodeId(2)),
                term: Term(4),
            },
        );
        nodes[1].leaders.write().unwrap().insert(
            g,
            LeaderInfo {
                leader: Some(NodeId(2)),
                term: Term(4),
            },
        );
        wait_until("node 3 learns node 2 leads group 7 at term 4", || {
            nodes[2].gossip.leaders().get(&g) == Some(&NodeId(2))
        })
        .await;
        let stats: BTreeMap<_, _> = nodes[2].gossip.stats().into_iter().collect();
        assert!(stats["cluster_stats_messages_pong_received"] > 0);
        assert!(stats["cluster_stats_messages_sent"] > 0);
        for n in &nodes {
            n.transport.stop();
        }
    })
    .await
    .expect("test timed out");
}

/// Frames a gossip PING claiming to come from `sender`.
fn ping_frame(sender: u64) -> Vec<u8> {
    let msg = slotraft_gossip::Message {
        kind: slotraft_gossip::MessageKind::Ping,
        cluster_id: ClusterId(CLUSTER),
        sender: NodeId(sender),
        config_epoch: 0,
        failed: None,
        gossip: vec![],
        leaders: vec![],
    };
    transport::encode_gossip(&msg)
}

/// Connects to `addr` as node `as_node` and completes the handshake.
async fn connect_as(addr: SocketAddr, as_node: u64) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(&transport::hello_frame(CLUSTER, NodeId(as_node)))
        .await
        .unwrap();
    let mut hello = [0u8; 4 + 2 + 32];
    s.read_exact(&mut hello).await.unwrap();
    s
}

/// Reads until the peer closes (`true`) or `within` passes (`false`).
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_frame_from_another_sender_closes_the_connection() {
    timeout(TEST_TIMEOUT, async {
        // Only node 1 runs; the test speaks for "node 2" by hand.
        let (nodes, peers) = start_bus(2).await;
        nodes[1].transport.stop();
        let addr = peers[&NodeId(1)];
        let stats = &nodes[0].transport.outbox.stats;

        // Honest: node 2's own PING keeps the connection open.
        let mut s = connect_as(addr, 2).await;
        s.write_all(&ping_frame(2)).await.unwrap();
        assert!(!closed_within(&mut s, Duration::from_millis(300)).await);
        assert_eq!(stats.frames_rejected.load(Ordering::Relaxed), 0);

        // Forged: node 2's connection carrying a message signed "node 1"
        // (or any other node) is closed.
        s.write_all(&ping_frame(3)).await.unwrap();
        assert!(closed_within(&mut s, Duration::from_secs(5)).await);
        assert_eq!(stats.frames_rejected.load(Ordering::Relaxed), 1);

        // Garbage in a frame of a bus kind also closes it.
        let mut s = connect_as(addr, 2).await;
        s.write_all(&transport::encode_frame(
            transport::Kind::MapReply,
            b"nonsense",
        ))
        .await
        .unwrap();
        assert!(closed_within(&mut s, Duration::from_secs(5)).await);
        assert_eq!(stats.frames_rejected.load(Ordering::Relaxed), 2);

        // A length field over the gossip limit closes it before any payload
        // is sent (nothing is allocated for it).
        let mut s = connect_as(addr, 2).await;
        let len = transport::max_frame_len(transport::Kind::Gossip) as u32 + 1;
        let mut head = len.to_le_bytes().to_vec();
        head.extend_from_slice(&[transport::FRAME_VERSION, transport::Kind::Gossip as u8]);
        s.write_all(&head).await.unwrap();
        assert!(closed_within(&mut s, Duration::from_secs(5)).await);
        nodes[0].transport.stop();
    })
    .await
    .expect("test timed out");
}

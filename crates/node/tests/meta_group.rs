//! The metadata group on three real nodes in one process (127.0.0.1-3,
//! real WAL, real TCP): `propose_meta` changes every node's
//! `cluster_map()`, a restarted node recovers the same map (from its log
//! and from a snapshot), the directory lock refuses a second node on the
//! same dir, leadership moves on request from a follower, and ready keys
//! reach the server from leader groups only. Every wait has a deadline.

use bytes::Bytes;
use slotraft_cluster::{
    Bootstrap, ClusterId, ClusterMap, MetaCommand, NodeSpec, NodeState, ShardSpec, SlotRange,
};
use slotraft_keyspace::Outcome;
use slotraft_node::{
    Completion, MetaGroupConfig, NodeConfig, NodeHandle, NotExecuted, Op, StartError,
};
use slotraft_resp::Reply;
use slotraft_types::{GroupId, NodeId};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio::time::{sleep, timeout};

const META: GroupId = GroupId::METADATA;
const G1: GroupId = GroupId(1);
const CLUSTER: u128 = 0x5107_4af7_0000_0000_0000_0000_0000_0002;
const TEST_TIMEOUT: Duration = Duration::from_secs(90);
const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(5);

mod common;
use common::{free_port, Cluster};

fn node_ip(i: u64) -> IpAddr {
    common::node_ip(0, i)
}

fn bootstrap() -> MetaCommand {
    let all: Vec<NodeId> = (1..=3).map(NodeId).collect();
    MetaCommand::Bootstrap(Bootstrap {
        cluster_id: ClusterId(CLUSTER),
        nodes: (1..=3u64)
            .map(|i| NodeSpec {
                id: NodeId(i),
                ip: node_ip(i),
                port: 7000,
                bus_port: 17000,
            })
            .collect(),
        meta_replicas: all.clone(),
        shards: vec![ShardSpec {
            id: G1,
            replicas: all,
            slots: vec![SlotRange::all()],
        }],
    })
}

fn set_state(n: u64, leaving: bool) -> MetaCommand {
    let state = if leaving {
        NodeState::Leaving
    } else {
        NodeState::Active
    };
    MetaCommand::SetNodeState {
        node: NodeId(n),
        state,
    }
}

impl Cluster {
    async fn start(snapshot_log_entries: u64) -> Cluster {
        let dirs = common::temp_dirs(3);
        let peers = common::bus_peers(0, 3);
        let voters: Vec<NodeId> = (1..=3).map(NodeId).collect();
        let configs = (1..=3u64)
            .map(|i| NodeConfig {
                snapshot: slotraft_node::SnapshotPolicy::every_entries(snapshot_log_entries),
                meta: Some(MetaGroupConfig {
                    voters: voters.clone(),
                    initial: ClusterMap::new(),
                }),
                ..common::node_config(
                    NodeId(i),
                    CLUSTER,
                    &peers,
                    dirs[(i - 1) as usize].path(),
                    vec![(G1, voters.clone())],
                )
            })
            .collect();
        Cluster::start_all(dirs, configs).await
    }

    /// The node every running node agrees leads `g`.
    async fn await_leader(&self, g: GroupId) -> u64 {
        self.await_leader_within(g, WAIT, POLL).await
    }

    /// Proposes `cmd` through whichever node leads the metadata group,
    /// retrying only answers that certainly did not execute.
    async fn meta(&self, cmd: &MetaCommand) -> Reply {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            for n in self.running() {
                match n.propose_meta(cmd.clone()).await {
                    Completion::Done(Outcome::Reply(r)) => return r,
                    Completion::NotExecuted(_) => {}
                    other => panic!("{cmd:?} answered {other:?}"),
                }
            }
            sleep(POLL).await;
        }
        panic!("{cmd:?} not accepted within {WAIT:?}");
    }

    /// Waits until every running node's `cluster_map()` has `epoch`.
    async fn await_epoch(&self, epoch: u64) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.running().all(|n| n.cluster_map().epoch() == epoch) {
                return;
            }
            sleep(POLL).await;
        }
        let seen: Vec<u64> = self.running().map(|n| n.cluster_map().epoch()).collect();
        panic!("epochs {seen:?}, wanted {epoch} everywhere");
    }
}

fn argv(parts: &[&str]) -> Vec<Bytes> {
    parts
        .iter()
        .map(|p| Bytes::copy_from_slice(p.as_bytes()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propose_meta_changes_every_nodes_map_and_survives_a_restart() {
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start(slotraft_node::SNAPSHOT_LOG_ENTRIES).await;
        for n in c.running() {
            assert_eq!(n.cluster_map().epoch(), 0, "nothing applied yet");
        }
        let mut watch = c.node(1).watch_map();
        let l = c.await_leader(META).await;
        // A follower refuses with a hint to the leader.
        let f = (1..=3).find(|&i| i != l).unwrap();
        assert_eq!(
            c.node(f).propose_meta(bootstrap()).await,
            Completion::NotExecuted(NotExecuted::NotLeader(Some(NodeId(l))))
        );
        assert_eq!(c.meta(&bootstrap()).await, Reply::OK);
        assert_eq!(c.meta(&set_state(2, true)).await, Reply::OK);
        c.await_epoch(2).await;
        for n in c.running() {
            let map = n.cluster_map();
            assert_eq!(map.node(NodeId(2)).unwrap().state, NodeState::Leaving);
            assert_eq!(map.shard(G1).unwrap().slot_count(), 16384);
        }
        // The watcher saw the change (possibly coalesced into the last one).
        timeout(WAIT, watch.wait_for(|m| m.epoch() == 2))
            .await
            .expect("watch notified")
            .unwrap();
        // A rejected command answers an error and changes nothing.
        let r = c.meta(&bootstrap()).await;
        assert!(matches!(r, Reply::Error(_)), "{r:?}");
        // Restart a node from its directory: same map.
        let before = c.node(3).cluster_map();
        c.stop(2).await;
        c.restart(2).await;
        c.await_epoch(2).await;
        assert_eq!(*c.node(3).cluster_map(), *before);
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_meta_map_is_snapshotted_and_restored_from_the_snapshot() {
    timeout(TEST_TIMEOUT, async {
        // Tiny snapshot threshold: the metadata log is compacted quickly.
        let mut c = Cluster::start(4).await;
        assert_eq!(c.meta(&bootstrap()).await, Reply::OK);
        for i in 0..12u64 {
            assert_eq!(c.meta(&set_state(1 + i % 3, i % 2 == 0)).await, Reply::OK);
        }
        c.await_epoch(13).await;
        let want = c.node(1).cluster_map();
        // Give compaction a few ticks, then check a snapshot exists on disk.
        let dir = c.configs[0].dir.clone();
        c.shutdown_all().await;
        assert!(
            has_meta_snapshot(&dir),
            "no metadata snapshot in {}",
            dir.display()
        );
        c.restart(0).await;
        // Restored before any peer is up: the snapshot (plus the node's own
        // committed log) is enough.
        let deadline = Instant::now() + WAIT;
        while c.node(1).cluster_map().epoch() < want.epoch() && Instant::now() < deadline {
            sleep(POLL).await;
        }
        assert_eq!(*c.node(1).cluster_map(), *want);
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

/// Whether the storage directory holds a snapshot of the metadata group.
fn has_meta_snapshot(dir: &std::path::Path) -> bool {
    let vfs = std::sync::Arc::new(slotraft_storage::StdVfs::new(dir).unwrap());
    let (store, _) = slotraft_storage::Store::open(vfs, slotraft_storage::Config::default())
        .expect("store reopens");
    let snap = slotraft_node::log_store::read_snapshot_file(&store, META).unwrap();
    snap.is_some_and(|s| {
        ClusterMap::decode_snapshot(&s.data).is_ok_and(|m| m.epoch() > 1) && s.meta.index.get() > 1
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_lock_refuses_a_second_node_until_the_first_stops() {
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start(slotraft_node::SNAPSHOT_LOG_ENTRIES).await;
        let mut second = c.configs[0].clone();
        // Another bus port: only the directory is shared.
        second.bus_port = free_port(node_ip(1));
        match NodeHandle::start(second.clone()).await {
            Err(StartError::DirLocked(p)) => assert_eq!(p, c.configs[0].dir),
            Err(e) => panic!("wrong error {e}"),
            Ok(_) => panic!("a second node started on a locked directory"),
        }
        let text = StartError::DirLocked(second.dir.clone()).to_string();
        assert!(text.contains("in use"), "{text}");
        c.stop(0).await;
        let n = NodeHandle::start(second)
            .await
            .expect("lock released by shutdown");
        n.shutdown().await.unwrap();
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_zero_in_groups_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let peers = common::bus_peers(0, 1);
    let cfg = common::node_config(
        NodeId(1),
        CLUSTER,
        &peers,
        dir.path(),
        vec![(META, vec![NodeId(1)])],
    );
    assert!(matches!(
        NodeHandle::start(cfg.clone()).await,
        Err(StartError::BadConfig(_))
    ));
    // A metadata replica whose voters do not include the node itself.
    let cfg = NodeConfig {
        groups: Vec::new(),
        meta: Some(MetaGroupConfig {
            voters: vec![NodeId(2), NodeId(3)],
            initial: ClusterMap::new(),
        }),
        ..cfg
    };
    assert!(matches!(
        NodeHandle::start(cfg).await,
        Err(StartError::BadConfig(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_that_cannot_happen_fails_after_the_timeout() {
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start(slotraft_node::SNAPSHOT_LOG_ENTRIES).await;
        let l = c.await_leader(G1).await;
        let down = (1..=3).find(|&i| i != l).unwrap();
        let asker = (1..=3).find(|&i| i != l && i != down).unwrap();
        c.stop((down - 1) as usize).await;
        let started = Instant::now();
        let r = c.node(asker).transfer_leader(G1, NodeId(down)).await;
        let took = started.elapsed();
        assert!(matches!(r, Err(NotExecuted::Dropped(_))), "{r:?}");
        assert!(
            took >= slotraft_node::TRANSFER_TIMEOUT,
            "answered after {took:?}"
        );
        // The group kept (or re-elected) a live leader meanwhile.
        let now = c.await_leader(G1).await;
        assert_ne!(now, down);
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_moves_when_a_follower_asks() {
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start(slotraft_node::SNAPSHOT_LOG_ENTRIES).await;
        for g in [G1, META] {
            let l = c.await_leader(g).await;
            let f = (1..=3).find(|&i| i != l).unwrap();
            let target = (1..=3).find(|&i| i != l && i != f).unwrap();
            // Asked on a follower, for a third node.
            c.node(f)
                .transfer_leader(g, NodeId(target))
                .await
                .unwrap_or_else(|e| panic!("transfer of {g} to {target} via {f}: {e:?}"));
            assert_eq!(c.await_leader(g).await, target);
            // Asked on the new leader, back to the old one.
            c.node(target).transfer_leader(g, NodeId(l)).await.unwrap();
            assert_eq!(c.await_leader(g).await, l);
            // Already the leader: answered at once.
            c.node(f).transfer_leader(g, NodeId(l)).await.unwrap();
        }
        assert_eq!(
            c.node(1).transfer_leader(GroupId(99), NodeId(2)).await,
            Err(NotExecuted::UnknownGroup)
        );
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_keys_come_from_leader_groups_only() {
    timeout(TEST_TIMEOUT, async {
        let mut c = Cluster::start(slotraft_node::SNAPSHOT_LOG_ENTRIES).await;
        let l = c.await_leader(G1).await;
        let f = (1..=3).find(|&i| i != l).unwrap();
        let mut on_leader = c.node(l).take_ready_keys().expect("first take");
        assert!(c.node(l).take_ready_keys().is_none(), "taken once");
        let mut on_follower = c.node(f).take_ready_keys().unwrap();
        let r = c
            .node(l)
            .propose(G1, Op::Cmd(argv(&["RPUSH", "q", "a"])))
            .await;
        assert_eq!(r, Completion::Done(Outcome::Reply(Reply::Int(1))));
        let (g, keys) = timeout(WAIT, on_leader.recv()).await.unwrap().unwrap();
        assert_eq!((g, keys), (G1, vec![Bytes::from_static(b"q")]));
        // The follower applies the same entry but reports nothing.
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            assert!(
                on_follower.try_recv().is_err(),
                "follower reported ready keys"
            );
            sleep(POLL).await;
        }
        c.shutdown_all().await;
    })
    .await
    .expect("test timed out");
}

//! The metadata group (group 0, a `ClusterMap` state machine) next to a
//! shard group on three in-process `MultiRaft`s wired by an in-memory
//! network: replication of `MetaCommand`s, change reports, snapshots,
//! rejections, leadership transfer requested from a follower, and
//! `report_unreachable`.

use bytes::Bytes;
use slotraft_cluster::{
    Bootstrap, ClusterId, ClusterMap, MetaCommand, NodeSpec, NodeState, ShardSpec, SlotRange,
};
use slotraft_multiraft::{NotExecuted, Op, Token, ERR_CMD_ON_META, ERR_META_ON_SHARD};
use slotraft_raft::{ProgressState, Storage};
use slotraft_resp::Reply;
use slotraft_types::{GroupId, NodeId};
use std::net::{IpAddr, Ipv4Addr};

const META: GroupId = GroupId::METADATA;
const G1: GroupId = GroupId(1);

mod common;
use common::{reply, Cluster, MAX_ROUNDS};

fn node_ip(i: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, i as u8))
}

fn bootstrap() -> MetaCommand {
    let all = vec![NodeId(1), NodeId(2), NodeId(3)];
    MetaCommand::Bootstrap(Bootstrap {
        cluster_id: ClusterId(0x51),
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

fn leaving(n: u64) -> MetaCommand {
    MetaCommand::SetNodeState {
        node: NodeId(n),
        state: NodeState::Leaving,
    }
}

impl Cluster {
    fn new() -> Cluster {
        Cluster::with_groups(&[META, G1])
    }

    /// Proposes `cmd` on the metadata leader and returns its reply.
    fn meta(&mut self, cmd: &MetaCommand, t: Token) -> Reply {
        let l = self.await_leader(META);
        self.node(l)
            .mr
            .propose(META, Op::Meta(cmd.encode()), t)
            .unwrap();
        reply(self.await_done(t))
    }

    fn epoch(&self, id: u64) -> u64 {
        self.nodes[(id - 1) as usize]
            .mr
            .cluster_map(META)
            .unwrap()
            .epoch()
    }
}

#[test]
fn meta_commands_replicate_and_every_replica_reports_each_change() {
    let mut c = Cluster::new();
    assert_eq!(c.meta(&bootstrap(), 1), Reply::OK);
    assert_eq!(c.meta(&leaving(2), 2), Reply::OK);
    c.settle();
    for id in 1..=3 {
        assert_eq!(c.epoch(id), 2, "node {id}");
        let map = c.nodes[(id - 1) as usize].mr.cluster_map(META).unwrap();
        assert_eq!(map.node(NodeId(2)).unwrap().state, NodeState::Leaving);
        let epochs: Vec<u64> = c.nodes[(id - 1) as usize]
            .maps
            .iter()
            .map(ClusterMap::epoch)
            .collect();
        // One report per round at most; the last is the applied map.
        assert_eq!(epochs.last(), Some(&2), "node {id}: {epochs:?}");
        assert!(epochs.windows(2).all(|w| w[0] < w[1]), "{epochs:?}");
    }
    // Identical maps everywhere (deterministic apply).
    let snaps: Vec<Vec<u8>> = c
        .nodes
        .iter()
        .map(|n| n.mr.cluster_map(META).unwrap().encode_snapshot())
        .collect();
    assert_eq!(snaps[0], snaps[1]);
    assert_eq!(snaps[1], snaps[2]);
    // The shard group is not a metadata group.
    assert!(c.nodes[0].mr.cluster_map(G1).is_none());
    assert!(c.nodes[0].mr.keyspace(META).is_none());
}

#[test]
fn a_rejected_meta_command_answers_an_error_and_changes_nothing() {
    let mut c = Cluster::new();
    // Before bootstrap every other command is refused by ClusterMap::apply.
    let r = c.meta(&leaving(1), 1);
    let Reply::Error(e) = r else {
        panic!("expected an error, got {r:?}")
    };
    assert!(e.starts_with(b"ERR "), "{e:?}");
    assert_eq!(c.meta(&bootstrap(), 2), Reply::OK);
    let r = c.meta(&bootstrap(), 3);
    assert!(matches!(r, Reply::Error(_)), "{r:?}");
    c.settle();
    for id in 1..=3 {
        assert_eq!(c.epoch(id), 1);
    }
}

#[test]
fn each_group_kind_refuses_the_others_ops() {
    let mut c = Cluster::new();
    let l = c.await_leader(META);
    let err = c
        .node(l)
        .mr
        .propose(META, Op::Cmd(vec![Bytes::from_static(b"PING")]), 1)
        .unwrap_err();
    assert_eq!(err, NotExecuted::Dropped(ERR_CMD_ON_META.into()));
    let l1 = c.await_leader(G1);
    let err = c
        .node(l1)
        .mr
        .propose(G1, Op::Meta(bootstrap().encode()), 2)
        .unwrap_err();
    assert_eq!(err, NotExecuted::Dropped(ERR_META_ON_SHARD.into()));
    // Also refused on a follower (no leader hint needed to know it is wrong).
    let f = (1..=3).find(|&i| i != l).unwrap();
    let err = c
        .node(f)
        .mr
        .propose(META, Op::Cmd(vec![Bytes::from_static(b"PING")]), 3)
        .unwrap_err();
    assert_eq!(err, NotExecuted::Dropped(ERR_CMD_ON_META.into()));
    assert_eq!(
        c.nodes.iter().map(|n| n.mr.pending_tokens()).sum::<usize>(),
        0
    );
}

#[test]
fn meta_reads_return_the_linearizable_map_on_a_follower() {
    let mut c = Cluster::new();
    assert_eq!(c.meta(&bootstrap(), 1), Reply::OK);
    let l = c.await_leader(META);
    let f = (1..=3).find(|&i| i != l).unwrap();
    c.node(f).mr.read(META, Vec::new(), 2).unwrap();
    let Reply::Bulk(b) = reply(c.await_done(2)) else {
        panic!("bulk expected")
    };
    assert_eq!(ClusterMap::decode_snapshot(&b).unwrap().epoch(), 1);
}

#[test]
fn lagging_replica_gets_the_map_by_snapshot() {
    let mut c = Cluster::new();
    assert_eq!(c.meta(&bootstrap(), 1), Reply::OK);
    c.settle();
    let l = c.await_leader(META);
    let lagger = (1..=3).find(|&i| i != l).unwrap();
    c.cut.insert(lagger);
    for (t, n) in [(2, 1), (3, 2), (4, 3)] {
        if n != lagger {
            assert_eq!(c.meta(&leaving(n), t), Reply::OK);
        }
    }
    let l = c.await_leader(META);
    // Compact the leader's log behind a snapshot of the applied map.
    let snap = c.node(l).mr.build_snapshot(META).unwrap();
    let snap_index = snap.meta.index;
    assert_eq!(
        ClusterMap::decode_snapshot(&snap.data).unwrap(),
        *c.node(l).mr.cluster_map(META).unwrap()
    );
    c.node(l).stores[&META]
        .wl()
        .create_snapshot(snap.meta.index, snap.meta.conf_state.clone(), snap.data)
        .unwrap();
    let before = c.node(lagger).maps.len();
    c.cut.clear();
    c.settle();
    c.settle();
    assert_eq!(c.epoch(lagger), c.epoch(l));
    assert_eq!(c.epoch(lagger), 3);
    let reported = &c.node(lagger).maps[before..];
    assert_eq!(reported.last().map(ClusterMap::epoch), Some(3));
    // Its storage starts after the leader's snapshot: it was installed,
    // not replayed entry by entry.
    let first = c.node(lagger).stores[&META].first_index().unwrap();
    assert!(
        first > snap_index,
        "first {first:?} vs snapshot {snap_index:?}"
    );
}

#[test]
fn a_follower_can_request_a_leadership_transfer() {
    let mut c = Cluster::new();
    let l = c.await_leader(G1);
    c.settle();
    let f = (1..=3).find(|&i| i != l).unwrap();
    let target = (1..=3).find(|&i| i != l && i != f).unwrap();
    // From a follower, to a third node.
    c.node(f).mr.transfer_leader(G1, NodeId(target)).unwrap();
    for _ in 0..MAX_ROUNDS {
        if c.leader(G1) == Some(target) {
            break;
        }
        c.round();
    }
    assert_eq!(c.leader(G1), Some(target));
    // From a follower, to itself.
    c.settle();
    c.node(l).mr.transfer_leader(G1, NodeId(l)).unwrap();
    for _ in 0..MAX_ROUNDS {
        if c.leader(G1) == Some(l) {
            break;
        }
        c.round();
    }
    assert_eq!(c.leader(G1), Some(l));
}

#[test]
fn a_transfer_request_without_a_known_leader_is_refused() {
    let mut c = Cluster::new();
    // Round 0: nobody has elected anyone yet.
    let err = c.node(1).mr.transfer_leader(G1, NodeId(2)).unwrap_err();
    assert_eq!(err, NotExecuted::NoLeader);
    let err = c
        .node(1)
        .mr
        .transfer_leader(GroupId(77), NodeId(2))
        .unwrap_err();
    assert_eq!(err, NotExecuted::UnknownGroup);
    let err = c.node(1).mr.transfer_leader(G1, NodeId(9)).unwrap_err();
    assert!(
        matches!(err, NotExecuted::Dropped(ref why) if why.contains("not a voter")),
        "{err:?}"
    );
}

#[test]
fn report_unreachable_puts_the_peer_in_probe_state() {
    let mut c = Cluster::new();
    let l = c.await_leader(G1);
    assert_eq!(c.meta(&bootstrap(), 1), Reply::OK);
    let lm = c.await_leader(META);
    for _ in 0..3 {
        c.settle();
    }
    let f = (1..=3).find(|&i| i != l).unwrap();
    let pr = c.node(l).mr.progress(G1, NodeId(f)).unwrap();
    assert_eq!(pr.state, ProgressState::Replicate);
    c.node(l).mr.report_unreachable(NodeId(f));
    let pr = c.node(l).mr.progress(G1, NodeId(f)).unwrap();
    assert_eq!(pr.state, ProgressState::Probe);
    // Every group of the node hears it (the metadata group too).
    let fm = (1..=3).find(|&i| i != lm).unwrap();
    c.node(lm).mr.report_unreachable(NodeId(fm));
    let pr = c.node(lm).mr.progress(META, NodeId(fm)).unwrap();
    assert_eq!(pr.state, ProgressState::Probe);
    // Reporting oneself is a no-op, and replication recovers afterwards.
    c.node(l).mr.report_unreachable(NodeId(l));
    assert_eq!(c.meta(&leaving(1), 2), Reply::OK);
    c.settle();
    for id in 1..=3 {
        assert_eq!(c.epoch(id), 2);
    }
}

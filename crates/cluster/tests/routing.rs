//! The routing function: every redirect error with Redis's exact text, in
//! Redis's order of checks (see `route`'s module doc).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use slotraft_cluster::route::{ERR_CROSSSLOT, ERR_DOWN, ERR_TRYAGAIN, ERR_UNBOUND};
use slotraft_cluster::{
    route, Bootstrap, ClusterId, ClusterMap, MetaCommand, NodeSpec, Route, RouteRequest, ShardSpec,
    SlotRange, Topology,
};
use slotraft_resp::Reply;
use slotraft_types::{key_slot, GroupId, NodeId, SlotId};

/// Nodes 1..=3 on 127.0.0.11..13:7000; g1 = {1,2,3} owns 0-8191,
/// g2 = {2,3,1} owns 8192-16000; 16001-16383 unassigned; g3 = {3} empty.
fn map() -> ClusterMap {
    let nodes = (1..=3)
        .map(|i| NodeSpec {
            id: NodeId(i),
            ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10 + i as u8)),
            port: 7000,
            bus_port: 17000,
        })
        .collect();
    let ids = |v: &[u64]| v.iter().map(|i| NodeId(*i)).collect::<Vec<_>>();
    let mut m = ClusterMap::new();
    m.apply(&MetaCommand::Bootstrap(Bootstrap {
        cluster_id: ClusterId(5),
        nodes,
        meta_replicas: ids(&[1, 2, 3]),
        shards: vec![
            ShardSpec {
                id: GroupId(1),
                replicas: ids(&[1, 2, 3]),
                slots: vec![SlotRange::new(0, 8191).unwrap()],
            },
            ShardSpec {
                id: GroupId(2),
                replicas: ids(&[2, 3, 1]),
                slots: vec![SlotRange::new(8192, 16000).unwrap()],
            },
            ShardSpec {
                id: GroupId(3),
                replicas: ids(&[3]),
                slots: vec![],
            },
        ],
    }))
    .unwrap();
    m
}

fn leaders(pairs: &[(u64, u64)]) -> BTreeMap<GroupId, NodeId> {
    pairs
        .iter()
        .map(|(g, n)| (GroupId(*g), NodeId(*n)))
        .collect()
}

fn req(slots: &[SlotId]) -> RouteRequest<'_> {
    RouteRequest::new(slots, true)
}

fn err(s: &str) -> Route {
    Route::Error(Reply::error(s))
}

const FOO: u16 = 12182; // g2
const BAR: u16 = 5061; // g1

fn s(v: u16) -> SlotId {
    SlotId::new(v)
}

#[test]
fn no_keys_runs_here() {
    let m = map();
    let (l, h) = (leaders(&[(1, 1), (2, 2)]), BTreeMap::new());
    let t = Topology::new(&m, NodeId(1), &l, &h);
    assert_eq!(route(&t, &req(&[])), Route::NoKeys);
}

#[test]
fn leader_serves_and_others_get_moved() {
    let m = map();
    let (l, h) = (leaders(&[(1, 1), (2, 2)]), BTreeMap::new());
    assert_eq!(key_slot(b"foo"), s(FOO));
    let t1 = Topology::new(&m, NodeId(1), &l, &h);
    assert_eq!(route(&t1, &req(&[s(BAR)])), Route::Local(GroupId(1)));
    assert_eq!(
        route(&t1, &req(&[s(FOO)])),
        err("MOVED 12182 127.0.0.12:7000")
    );
    let t3 = Topology::new(&m, NodeId(3), &l, &h);
    assert_eq!(
        route(&t3, &req(&[s(BAR)])),
        err("MOVED 5061 127.0.0.11:7000")
    );
}

#[test]
fn same_slot_multi_key_ok_cross_slot_rejected() {
    let m = map();
    let (l, h) = (leaders(&[(1, 1), (2, 2)]), BTreeMap::new());
    let t = Topology::new(&m, NodeId(1), &l, &h);
    let a = key_slot(b"{user}a");
    assert_eq!(a, key_slot(b"{user}b"));
    assert_ne!(route(&t, &req(&[a, a])), err(ERR_CROSSSLOT));
    assert_eq!(route(&t, &req(&[s(BAR), s(BAR)])), Route::Local(GroupId(1)));
    // CROSSSLOT wins over MOVED, even when this node leads neither slot,
    // and even within one shard (Redis is per slot, not per node).
    let t3 = Topology::new(&m, NodeId(3), &l, &h);
    assert_eq!(route(&t3, &req(&[s(BAR), s(FOO)])), err(ERR_CROSSSLOT));
    assert_eq!(route(&t, &req(&[s(1), s(2)])), err(ERR_CROSSSLOT));
    assert_eq!(
        ERR_CROSSSLOT,
        "CROSSSLOT Keys in request don't hash to the same slot"
    );
}

#[test]
fn unassigned_slot_is_not_served() {
    let m = map();
    let (l, h) = (leaders(&[(1, 1), (2, 2)]), BTreeMap::new());
    let t = Topology::new(&m, NodeId(1), &l, &h);
    assert_eq!(route(&t, &req(&[s(16100)])), err(ERR_UNBOUND));
    assert_eq!(ERR_UNBOUND, "CLUSTERDOWN Hash slot not served");
    // Redis checks only the first key's slot for "not served"; a later
    // unassigned slot is a cross-slot request.
    assert_eq!(route(&t, &req(&[s(16100), s(1)])), err(ERR_UNBOUND));
    assert_eq!(route(&t, &req(&[s(1), s(16100)])), err(ERR_CROSSSLOT));
}

#[test]
fn no_leader_or_no_quorum_is_cluster_down() {
    let one = [s(BAR)];
    let m = map();
    let h = BTreeMap::new();
    // Node 1 hosts g1 but Raft knows no leader: CLUSTERDOWN.
    let l = leaders(&[(2, 2)]);
    let t = Topology::new(&m, NodeId(1), &l, &h);
    assert_eq!(route(&t, &req(&[s(BAR)])), err(ERR_DOWN));
    assert_eq!(ERR_DOWN, "CLUSTERDOWN The cluster is down");
    // Leader here, but CheckQuorum failed: CLUSTERDOWN, not a local write.
    let l = leaders(&[(1, 1), (2, 2)]);
    let down: BTreeSet<GroupId> = [GroupId(1)].into_iter().collect();
    let t = Topology {
        unavailable: &down,
        ..Topology::new(&m, NodeId(1), &l, &h)
    };
    assert_eq!(route(&t, &req(&one)), err(ERR_DOWN));
    // Other shards are not affected.
    assert_eq!(
        route(&t, &req(&[s(FOO)])),
        err("MOVED 12182 127.0.0.12:7000")
    );
    // Also for reads on READONLY followers: no stale reads.
    let l2 = leaders(&[(2, 2)]);
    let t2 = Topology::new(&m, NodeId(2), &l2, &h);
    let r = RouteRequest {
        readonly_conn: true,
        is_write: false,
        ..req(&one)
    };
    assert_eq!(route(&t2, &r), err(ERR_DOWN));
}

#[test]
fn unknown_leader_of_foreign_shard_moves_to_preferred_replica() {
    // A node that does not host the shard and has no hint yet points the
    // client at the preferred replica instead of failing.
    let mut m = map();
    m.apply(&MetaCommand::AddNode(NodeSpec {
        id: NodeId(4),
        ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 14)),
        port: 7000,
        bus_port: 17000,
    }))
    .unwrap();
    let (l, h) = (BTreeMap::new(), BTreeMap::new());
    let t = Topology::new(&m, NodeId(4), &l, &h);
    assert_eq!(
        route(&t, &req(&[s(FOO)])),
        err("MOVED 12182 127.0.0.12:7000")
    );
    // A stale hint naming a non-voter is ignored.
    let l = leaders(&[(2, 4)]);
    let t = Topology::new(&m, NodeId(4), &l, &h);
    assert_eq!(
        route(&t, &req(&[s(FOO)])),
        err("MOVED 12182 127.0.0.12:7000")
    );
}

#[test]
fn readonly_follower_reads_locally_writes_move() {
    let one = [s(BAR)];
    let m = map();
    let (l, h) = (leaders(&[(1, 1), (2, 2)]), BTreeMap::new());
    let t = Topology::new(&m, NodeId(3), &l, &h);
    let read = RouteRequest {
        readonly_conn: true,
        is_write: false,
        ..req(&one)
    };
    assert_eq!(route(&t, &read), Route::LocalFollowerRead(GroupId(1)));
    let write = RouteRequest {
        readonly_conn: true,
        ..req(&one)
    };
    assert_eq!(route(&t, &write), err("MOVED 5061 127.0.0.11:7000"));
    // Without READONLY a follower redirects reads too.
    let plain_read = RouteRequest {
        is_write: false,
        ..req(&one)
    };
    assert_eq!(route(&t, &plain_read), err("MOVED 5061 127.0.0.11:7000"));
    // On the leader a READONLY read is a normal local read.
    let t1 = Topology::new(&m, NodeId(1), &l, &h);
    assert_eq!(route(&t1, &read), Route::Local(GroupId(1)));
}

#[test]
fn migrations_ask_and_tryagain() {
    let one = [s(BAR)];
    let two = [s(BAR), s(BAR)];
    let mut m = map();
    m.apply(&MetaCommand::BeginSlotMigration {
        slot: s(BAR),
        to: GroupId(3),
    })
    .unwrap();
    let (l, h) = (leaders(&[(1, 1), (2, 2), (3, 3)]), BTreeMap::new());
    // Source leader, key present: served here.
    let t1 = Topology::new(&m, NodeId(1), &l, &h);
    assert_eq!(route(&t1, &req(&[s(BAR)])), Route::Local(GroupId(1)));
    // Key missing: ASK to the target's leader.
    let missing = RouteRequest {
        all_keys_present: false,
        ..req(&one)
    };
    assert_eq!(route(&t1, &missing), err("ASK 5061 127.0.0.13:7000"));
    // Several keys, some missing: TRYAGAIN.
    let multi_missing = RouteRequest {
        all_keys_present: false,
        ..req(&two)
    };
    assert_eq!(route(&t1, &multi_missing), err(ERR_TRYAGAIN));
    assert_eq!(
        ERR_TRYAGAIN,
        "TRYAGAIN Multiple keys request during rehashing of slot"
    );
    // Target leader: only with ASKING.
    let t3 = Topology::new(&m, NodeId(3), &l, &h);
    assert_eq!(
        route(&t3, &req(&[s(BAR)])),
        err("MOVED 5061 127.0.0.11:7000")
    );
    let asking = RouteRequest {
        asking: true,
        ..req(&one)
    };
    assert_eq!(route(&t3, &asking), Route::Local(GroupId(3)));
    let asking_multi_missing = RouteRequest {
        asking: true,
        all_keys_present: false,
        ..req(&two)
    };
    assert_eq!(route(&t3, &asking_multi_missing), err(ERR_TRYAGAIN));
}

#[test]
fn refusals_after_routing_map_to_retryable_redirects() {
    use slotraft_cluster::route::ERR_BUSY;
    use slotraft_cluster::{refused_reply, Refused};
    let m = map();
    let (l, h) = (leaders(&[(1, 1), (2, 2)]), BTreeMap::new());
    let t = Topology::new(&m, NodeId(1), &l, &h);
    assert_eq!(
        refused_reply(&t, s(BAR), Refused::NotLeader(Some(NodeId(2)))),
        Reply::error(format!("MOVED {BAR} 127.0.0.12:7000"))
    );
    // A hint naming this node itself or an unknown node is no redirect.
    for hint in [Some(NodeId(1)), Some(NodeId(9)), None] {
        assert_eq!(
            refused_reply(&t, s(BAR), Refused::NotLeader(hint)),
            Reply::error(ERR_DOWN)
        );
    }
    assert_eq!(
        refused_reply(&t, s(BAR), Refused::NoLeader),
        Reply::error(ERR_DOWN)
    );
    assert_eq!(
        refused_reply(&t, s(BAR), Refused::Busy),
        Reply::error(ERR_BUSY)
    );
}

#[test]
fn a_shard_without_leader_makes_cluster_state_fail_and_routes_down() {
    use slotraft_cluster::replies::cluster_info_text;
    let m = map();
    let (l, h) = (leaders(&[(1, 1), (2, 2)]), BTreeMap::new());
    let mut t = Topology::new(&m, NodeId(1), &l, &h);
    let g1 = BTreeSet::from([GroupId(1)]);
    t.unavailable = &g1;
    let info = cluster_info_text(&t, &[]);
    assert!(info.contains("cluster_state:fail"), "{info}");
    assert!(info.contains("cluster_slots_fail:8192"), "{info}");
    assert_eq!(route(&t, &req(&[s(BAR)])), err(ERR_DOWN));
}

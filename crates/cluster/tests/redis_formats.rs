//! Reply formats compared byte for byte with a real Redis 7.0.15 cluster.
//!
//! The captures below come from six `redis-server --cluster-enabled yes` on
//! 127.0.0.1:30001..30006 created with `redis-cli --cluster create ...
//! --cluster-replicas 1`, after killing 30006 (a replica) and then 30001 (its
//! master) and waiting for FAIL, seen from 30002. The same topology is built
//! here as a slotraft map (shard g1 = {1, 6}, g2 = {2, 4}, g3 = {3, 5}); our
//! derived node names are swapped for Redis's random ones before comparing.
//! Redis lists shards and nodes in hash-table order; we list them ordered, so
//! the comparison reorders whole entries, never bytes inside one.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use slotraft_cluster::replies::{
    cluster_info_text, cluster_keyslot, cluster_myid, cluster_nodes, cluster_nodes_text,
    cluster_shards, cluster_slots,
};
use slotraft_cluster::{
    Bootstrap, ClusterId, ClusterMap, HealthState, MetaCommand, NodeHealth, NodeSpec, ShardSpec,
    SlotRange, Topology,
};
use slotraft_resp::{Protocol, Reply};
use slotraft_types::{GroupId, NodeId};

const REDIS_NAMES: [&str; 6] = [
    "ac5959e2a56459c76aa10dabc4b5f270543f0651",
    "b149226abdadd4a998e7d11658235a16e80e3acc",
    "f41e8cb5547c65d51392a71fa32a603231c9e5ef",
    "4c1283a0695abbbcfbb0750f9b5736793c51084d",
    "a46e8cb953367c05b4d971c3462d3f44fe0a027f",
    "67944ad91a6666adc4694691149c0ae4269c40d0",
];

/// `CLUSTER SLOTS` from 30002, RESP2, 30001 and 30006 failed.
const SLOTS_RESP2: &str = "*3\r\n*3\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:30001\r\n$40\r\nac5959e2a56459c76aa10dabc4b5f270543f0651\r\n*0\r\n*4\r\n:5461\r\n:10922\r\n*4\r\n$9\r\n127.0.0.1\r\n:30002\r\n$40\r\nb149226abdadd4a998e7d11658235a16e80e3acc\r\n*0\r\n*4\r\n$9\r\n127.0.0.1\r\n:30004\r\n$40\r\n4c1283a0695abbbcfbb0750f9b5736793c51084d\r\n*0\r\n*4\r\n:10923\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:30003\r\n$40\r\nf41e8cb5547c65d51392a71fa32a603231c9e5ef\r\n*0\r\n*4\r\n$9\r\n127.0.0.1\r\n:30005\r\n$40\r\na46e8cb953367c05b4d971c3462d3f44fe0a027f\r\n*0\r\n";

/// `CLUSTER SLOTS` RESP3, all healthy except 30006 still loading (so shard 1
/// has no replica listed; we model that with 30006 failed).
const SLOTS_RESP3_ONE_REPLICA_MISSING: &str = "*3\r\n*3\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:30001\r\n$40\r\nac5959e2a56459c76aa10dabc4b5f270543f0651\r\n%0\r\n*4\r\n:5461\r\n:10922\r\n*4\r\n$9\r\n127.0.0.1\r\n:30002\r\n$40\r\nb149226abdadd4a998e7d11658235a16e80e3acc\r\n%0\r\n*4\r\n$9\r\n127.0.0.1\r\n:30004\r\n$40\r\n4c1283a0695abbbcfbb0750f9b5736793c51084d\r\n%0\r\n*4\r\n:10923\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:30003\r\n$40\r\nf41e8cb5547c65d51392a71fa32a603231c9e5ef\r\n%0\r\n*4\r\n$9\r\n127.0.0.1\r\n:30005\r\n$40\r\na46e8cb953367c05b4d971c3462d3f44fe0a027f\r\n%0\r\n";

/// `CLUSTER SHARDS` from 30002, RESP2, 30001 and 30006 failed; Redis's order
/// is g3, g2, g1.
const SHARDS_RESP2: &str = "*3\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\nac5959e2a56459c76aa10dabc4b5f270543f0651\r\n$4\r\nport\r\n:30001\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:28\r\n$6\r\nhealth\r\n$4\r\nfail\r\n*14\r\n$2\r\nid\r\n$40\r\n67944ad91a6666adc4694691149c0ae4269c40d0\r\n$4\r\nport\r\n:30006\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:28\r\n$6\r\nhealth\r\n$4\r\nfail\r\n*4\r\n$5\r\nslots\r\n*2\r\n:10923\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\nf41e8cb5547c65d51392a71fa32a603231c9e5ef\r\n$4\r\nport\r\n:30003\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:84\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\na46e8cb953367c05b4d971c3462d3f44fe0a027f\r\n$4\r\nport\r\n:30005\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:84\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n:5461\r\n:10922\r\n$5\r\nnodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\nb149226abdadd4a998e7d11658235a16e80e3acc\r\n$4\r\nport\r\n:30002\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:84\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*14\r\n$2\r\nid\r\n$40\r\n4c1283a0695abbbcfbb0750f9b5736793c51084d\r\n$4\r\nport\r\n:30004\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:84\r\n$6\r\nhealth\r\n$6\r\nonline\r\n";

/// The same shard as a RESP3 map (from a healthy capture of g3).
const SHARD_G3_RESP3: &str = "%2\r\n$5\r\nslots\r\n*2\r\n:10923\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n%7\r\n$2\r\nid\r\n$40\r\nf41e8cb5547c65d51392a71fa32a603231c9e5ef\r\n$4\r\nport\r\n:30003\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:84\r\n$6\r\nhealth\r\n$6\r\nonline\r\n%7\r\n$2\r\nid\r\n$40\r\na46e8cb953367c05b4d971c3462d3f44fe0a027f\r\n$4\r\nport\r\n:30005\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:84\r\n$6\r\nhealth\r\n$6\r\nonline\r\n";

/// `CLUSTER NODES` from 30002 (30001 and 30006 failed). The config-epoch
/// field (Redis: per node) is `@E@` here: slotraft shows the map epoch.
const NODES: &str = "\
4c1283a0695abbbcfbb0750f9b5736793c51084d 127.0.0.1:30004@40004 slave b149226abdadd4a998e7d11658235a16e80e3acc 0 1795319706307 @E@ connected
a46e8cb953367c05b4d971c3462d3f44fe0a027f 127.0.0.1:30005@40005 slave f41e8cb5547c65d51392a71fa32a603231c9e5ef 0 1795319705000 @E@ connected
ac5959e2a56459c76aa10dabc4b5f270543f0651 127.0.0.1:30001@40001 master,fail - 1795319689208 1795319686000 @E@ disconnected 0-5460
f41e8cb5547c65d51392a71fa32a603231c9e5ef 127.0.0.1:30003@40003 master - 0 1795319705301 @E@ connected 10923-16383
b149226abdadd4a998e7d11658235a16e80e3acc 127.0.0.1:30002@40002 myself,master - 0 1795319704000 @E@ connected 5461-10922
67944ad91a6666adc4694691149c0ae4269c40d0 127.0.0.1:30006@40006 slave,fail ac5959e2a56459c76aa10dabc4b5f270543f0651 1795319666058 1795319662000 @E@ disconnected
";

/// `CLUSTER INFO` from 30002 in that state, up to `cluster_size` (the epoch
/// lines differ by design and are checked separately).
const INFO_HEAD: &str = "cluster_state:fail\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:10923\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:5461\r\ncluster_known_nodes:6\r\ncluster_size:3\r\n";

fn ports() -> [u16; 6] {
    [30001, 30002, 30003, 30004, 30005, 30006]
}

fn map() -> ClusterMap {
    let nodes = ports()
        .iter()
        .enumerate()
        .map(|(i, p)| NodeSpec {
            id: NodeId(i as u64 + 1),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: *p,
            bus_port: p + 10000,
        })
        .collect();
    let shard = |g, a, b, s, e| ShardSpec {
        id: GroupId(g),
        replicas: vec![NodeId(a), NodeId(b)],
        slots: vec![SlotRange::new(s, e).unwrap()],
    };
    let mut m = ClusterMap::new();
    m.apply(&MetaCommand::Bootstrap(Bootstrap {
        cluster_id: ClusterId(0xC0FFEE),
        nodes,
        meta_replicas: vec![NodeId(1), NodeId(2), NodeId(3)],
        shards: vec![
            shard(1, 1, 6, 0, 5460),
            shard(2, 2, 4, 5461, 10922),
            shard(3, 3, 5, 10923, 16383),
        ],
    }))
    .unwrap();
    m
}

fn leaders() -> BTreeMap<GroupId, NodeId> {
    [(1, 1), (2, 2), (3, 3)]
        .into_iter()
        .map(|(g, n)| (GroupId(g), NodeId(n)))
        .collect()
}

fn h(state: HealthState, ping: u64, pong: u64, connected: bool) -> NodeHealth {
    NodeHealth {
        state,
        ping_sent_ms: ping,
        pong_recv_ms: pong,
        connected,
    }
}

/// Gossip's view on 30002 at capture time.
fn health() -> BTreeMap<NodeId, NodeHealth> {
    use HealthState::*;
    [
        (1, h(Fail, 1795319689208, 1795319686000, false)),
        (2, h(Ok, 0, 1795319704000, true)),
        (3, h(Ok, 0, 1795319705301, true)),
        (4, h(Ok, 0, 1795319706307, true)),
        (5, h(Ok, 0, 1795319705000, true)),
        (6, h(Fail, 1795319666058, 1795319662000, false)),
    ]
    .into_iter()
    .map(|(n, h)| (NodeId(n), h))
    .collect()
}

/// Replaces our derived names with Redis's.
fn redisify(m: &ClusterMap, s: &str) -> String {
    let mut out = s.to_string();
    for (i, name) in REDIS_NAMES.iter().enumerate() {
        let ours = m.node(NodeId(i as u64 + 1)).unwrap().name.to_string();
        out = out.replace(&ours, name);
    }
    out
}

fn enc(m: &ClusterMap, r: &Reply, p: Protocol) -> String {
    redisify(m, &String::from_utf8(r.to_bytes(p)).unwrap())
}

#[test]
fn cluster_slots_matches_redis() {
    let (m, l, hl) = (map(), leaders(), health());
    let t = Topology::new(&m, NodeId(2), &l, &hl);
    assert_eq!(enc(&m, &cluster_slots(&t), Protocol::Resp2), SLOTS_RESP2);
    // RESP3: the metadata map is `%0`.
    assert_eq!(
        enc(&m, &cluster_slots(&t), Protocol::Resp3),
        SLOTS_RESP3_ONE_REPLICA_MISSING
    );
}

#[test]
fn cluster_slots_lists_leader_first_even_if_not_preferred() {
    let m = map();
    let l: BTreeMap<_, _> = [(GroupId(1), NodeId(6))].into_iter().collect();
    let hl = BTreeMap::new();
    let t = Topology::new(&m, NodeId(2), &l, &hl);
    let Reply::Array(entries) = cluster_slots(&t) else {
        panic!()
    };
    let Reply::Array(first) = &entries[0] else {
        panic!()
    };
    assert_eq!(first[2], slot_node(&m, 6));
    assert_eq!(first[3], slot_node(&m, 1));
    // No leader known for g2: its preferred replica (node 2) stands in.
    let Reply::Array(second) = &entries[1] else {
        panic!()
    };
    assert_eq!(second[2], slot_node(&m, 2));
}

fn slot_node(m: &ClusterMap, n: u64) -> Reply {
    let node = m.node(NodeId(n)).unwrap();
    Reply::Array(vec![
        Reply::bulk("127.0.0.1"),
        Reply::Int(node.port as i64),
        Reply::bulk(node.name.as_str()),
        Reply::Map(vec![]),
    ])
}

#[test]
fn cluster_shards_matches_redis() {
    let (m, l, hl) = (map(), leaders(), health());
    let offsets: BTreeMap<(GroupId, NodeId), u64> = [
        ((1, 1), 28),
        ((1, 6), 28),
        ((2, 2), 84),
        ((2, 4), 84),
        ((3, 3), 84),
        ((3, 5), 84),
    ]
    .into_iter()
    .map(|((g, n), o)| ((GroupId(g), NodeId(n)), o))
    .collect();
    let t = Topology {
        offsets: &offsets,
        ..Topology::new(&m, NodeId(2), &l, &hl)
    };
    let Reply::Array(shards) = cluster_shards(&t) else {
        panic!("array expected")
    };
    assert_eq!(shards.len(), 3);
    let e = |i: usize, p| enc(&m, &shards[i], p);
    // Redis's order in the capture: g1, g3, g2.
    let expected = format!(
        "*3\r\n{}{}{}",
        e(0, Protocol::Resp2),
        e(2, Protocol::Resp2),
        e(1, Protocol::Resp2)
    );
    assert_eq!(expected, SHARDS_RESP2);
    assert_eq!(e(2, Protocol::Resp3), SHARD_G3_RESP3);
}

#[test]
fn cluster_nodes_matches_redis() {
    let (m, l, hl) = (map(), leaders(), health());
    let t = Topology::new(&m, NodeId(2), &l, &hl);
    let ours = redisify(&m, &cluster_nodes_text(&t));
    let theirs = NODES.replace("@E@", &m.epoch().to_string());
    let mut a: Vec<&str> = ours.split_inclusive('\n').collect();
    let mut b: Vec<&str> = theirs.split_inclusive('\n').collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert!(ours.ends_with('\n'));
    // RESP3 verbatim, RESP2 bulk, as Redis 7.0.
    let r3 = String::from_utf8(cluster_nodes(&t).to_bytes(Protocol::Resp3)).unwrap();
    assert!(r3.starts_with(&format!("={}\r\ntxt:", ours.len() + 4)));
}

#[test]
fn cluster_info_matches_redis() {
    let (m, l, hl) = (map(), leaders(), health());
    let t = Topology::new(&m, NodeId(2), &l, &hl);
    let info = cluster_info_text(&t, &[("cluster_stats_messages_sent", 7)]);
    assert!(info.starts_with(INFO_HEAD), "{info}");
    assert!(info.contains("cluster_current_epoch:1\r\ncluster_my_epoch:1\r\n"));
    assert!(info.ends_with("cluster_stats_messages_sent:7\r\n"));
    // Healthy: state ok, everything ok.
    let none = BTreeMap::new();
    let t = Topology::new(&m, NodeId(2), &l, &none);
    let info = cluster_info_text(&t, &[]);
    assert!(info.starts_with("cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\n"));
}

#[test]
fn pfail_flags_and_slot_counts() {
    let m = map();
    let l = leaders();
    let mut hl = BTreeMap::new();
    hl.insert(NodeId(3), h(HealthState::PFail, 5, 1, true));
    let t = Topology::new(&m, NodeId(1), &l, &hl);
    let text = cluster_nodes_text(&t);
    let line3 = text
        .lines()
        .find(|l| l.contains(":30003@"))
        .unwrap()
        .to_string();
    assert!(line3.contains(" master,fail? - 5 1 "), "{line3}");
    let info = cluster_info_text(&t, &[]);
    assert!(info.contains("cluster_state:ok\r\n"));
    assert!(info.contains("cluster_slots_pfail:5461\r\n"), "{info}");
    assert!(info.contains("cluster_slots_ok:10923\r\n"));
}

#[test]
fn node_leading_two_shards_and_follower_only_node() {
    // Node 2 leads g1 and g2: one master line with both ranges merged;
    // node 1 leads nothing: slave of g1's leader.
    let m = map();
    let l: BTreeMap<_, _> = [(1, 6), (2, 2), (3, 3)]
        .into_iter()
        .map(|(g, n)| (GroupId(g), NodeId(n)))
        .collect();
    let hl = BTreeMap::new();
    let t = Topology::new(&m, NodeId(1), &l, &hl);
    let text = cluster_nodes_text(&t);
    let name6 = m.node(NodeId(6)).unwrap().name.to_string();
    let l1 = text.lines().find(|l| l.contains(":30001@")).unwrap();
    assert!(
        l1.contains(&format!("myself,slave {name6} 0 0 1 connected")),
        "{l1}"
    );
    assert!(l1.ends_with("connected"), "slaves list no slots: {l1}");
    let l6 = text.lines().find(|l| l.contains(":30006@")).unwrap();
    assert!(l6.ends_with(" connected 0-5460"), "{l6}");
}

#[test]
fn myid_and_keyslot() {
    let m = map();
    let (l, hl) = (leaders(), BTreeMap::new());
    let t = Topology::new(&m, NodeId(4), &l, &hl);
    assert_eq!(
        cluster_myid(&t),
        Reply::bulk(m.node(NodeId(4)).unwrap().name.as_str())
    );
    // `redis-cli CLUSTER KEYSLOT foo` → 12182.
    assert_eq!(
        cluster_keyslot(b"foo").to_bytes(Protocol::Resp2),
        b":12182\r\n"
    );
    let t = Topology::new(&m, NodeId(99), &l, &hl);
    assert!(cluster_myid(&t).is_error());
}

//! Cross-checks between the replies and the router on random clusters: what
//! `CLUSTER SLOTS` and `CLUSTER NODES` advertise is exactly where `route`
//! serves or redirects, so a client that follows either never loops.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use slotraft_cluster::replies::{cluster_info_text, cluster_nodes_text, cluster_slots};
use slotraft_cluster::{
    plan_cluster, route, ClusterId, ClusterMap, MetaCommand, NodeSpec, Route, RouteRequest,
    Topology,
};
use slotraft_resp::Reply;
use slotraft_types::{GroupId, NodeId, SlotId};

fn build(nodes: u64, shards: usize, replicas: usize) -> ClusterMap {
    let specs: Vec<NodeSpec> = (1..=nodes)
        .map(|i| NodeSpec {
            id: NodeId(i),
            ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10 + i as u8)),
            port: 7000,
            bus_port: 17000,
        })
        .collect();
    let b = plan_cluster(ClusterId(3), &specs, Some(shards), replicas).unwrap();
    let mut m = ClusterMap::new();
    m.apply(&MetaCommand::Bootstrap(b)).unwrap();
    m
}

/// (start, end, master "ip:port") from a CLUSTER SLOTS reply.
fn parse_slots(r: &Reply) -> Vec<(u16, u16, String)> {
    let Reply::Array(entries) = r else {
        panic!("array")
    };
    entries
        .iter()
        .map(|e| {
            let Reply::Array(f) = e else { panic!("entry") };
            let (Reply::Int(s), Reply::Int(t), Reply::Array(node)) = (&f[0], &f[1], &f[2]) else {
                panic!("shape")
            };
            let (Reply::Bulk(ip), Reply::Int(port)) = (&node[0], &node[1]) else {
                panic!("node")
            };
            let addr = format!("{}:{}", String::from_utf8_lossy(ip), port);
            (*s as u16, *t as u16, addr)
        })
        .collect()
}

fn params() -> impl Strategy<Value = (u64, usize, usize, Vec<u8>, u64, Vec<u16>)> {
    (1u64..7, 1usize..12, 1usize..4).prop_flat_map(|(n, s, r)| {
        let r = r.min(n as usize);
        (
            Just(n),
            Just(s),
            Just(r),
            prop::collection::vec(any::<u8>(), s),
            1..=n,
            prop::collection::vec(0u16..16384, 1..40),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn moved_targets_match_cluster_slots((n, s, r, picks, me, slots) in params()) {
        let m = build(n, s, r);
        // Each shard: a random voter leads, or (pick % 5 == 0) no leader known.
        let leaders: BTreeMap<GroupId, NodeId> = m
            .shards()
            .zip(&picks)
            .filter(|(_, p)| **p % 5 != 0)
            .map(|(sh, p)| (sh.id, sh.replicas[*p as usize % sh.replicas.len()]))
            .collect();
        let health = BTreeMap::new();
        let t = Topology::new(&m, NodeId(me), &leaders, &health);
        let table = parse_slots(&cluster_slots(&t));
        // The advertised ranges cover every slot exactly once, in order.
        let mut next = 0u32;
        for (a, b, _) in &table {
            prop_assert_eq!(*a as u32, next);
            next = *b as u32 + 1;
        }
        prop_assert_eq!(next, 16384);
        let my_addr = {
            let node = m.node(NodeId(me)).unwrap();
            format!("{}:{}", node.ip, node.port)
        };
        for slot in slots {
            let advertised = &table.iter().find(|(a, b, _)| *a <= slot && slot <= *b).unwrap().2;
            let sl = [SlotId::new(slot)];
            let req = RouteRequest {
                slots: &sl,
                readonly_conn: false,
                is_write: true,
                asking: false,
                all_keys_present: true,
            };
            let g = m.slot_owner(SlotId::new(slot)).unwrap();
            match route(&t, &req) {
                Route::Local(lg) => {
                    prop_assert_eq!(lg, g);
                    prop_assert_eq!(advertised, &my_addr);
                }
                Route::Error(Reply::Error(e)) => {
                    let e = String::from_utf8(e.to_vec()).unwrap();
                    if let Some(rest) = e.strip_prefix("MOVED ") {
                        prop_assert_eq!(rest, format!("{slot} {advertised}"));
                        prop_assert_ne!(advertised, &my_addr, "MOVED to myself");
                    } else {
                        prop_assert_eq!(e.as_str(), "CLUSTERDOWN The cluster is down");
                        prop_assert!(m.shard(g).unwrap().replicas.contains(&NodeId(me)));
                        prop_assert!(!leaders.contains_key(&g));
                    }
                }
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        // CLUSTER NODES: masters' slots cover all 16384, fields well formed.
        let text = cluster_nodes_text(&t);
        let mut covered = 0usize;
        let mut myself = 0;
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            prop_assert!(f.len() >= 8, "{}", line);
            prop_assert_eq!(f[0].len(), 40);
            if f[2].contains("myself") {
                myself += 1;
            }
            for r in &f[8..] {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                covered += b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1;
            }
        }
        prop_assert_eq!(covered, 16384);
        prop_assert_eq!(myself, 1);
        prop_assert!(cluster_info_text(&t, &[]).starts_with("cluster_state:ok\r\n"));
    }
}

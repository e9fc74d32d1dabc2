//! Prints the RESP2 bytes (hex) of `CLUSTER SLOTS`, `SHARDS`, `NODES` and
//! `INFO` for a 3-node, 3-shard, 3-replica cluster on 127.0.0.1:31001..31003,
//! so external clients' parsers can be checked against them:
//!
//! `cargo run -p slotraft-cluster --example dump_replies`
//!
//! Output lines: `<name> <hex bytes>`; `nodes<i>` is `CLUSTER NODES` as seen
//! by node `i`. With the argument `skewed`, node 1 leads shards 1 and 2 and
//! node 3 leads nothing (shown as a replica).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use slotraft_cluster::replies::{cluster_info, cluster_nodes, cluster_shards, cluster_slots};
use slotraft_cluster::{plan_cluster, ClusterId, ClusterMap, MetaCommand, NodeSpec, Topology};
use slotraft_resp::Protocol;
use slotraft_types::NodeId;

fn main() {
    let nodes: Vec<NodeSpec> = (1..=3u16)
        .map(|i| NodeSpec {
            id: NodeId(i as u64),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 31000 + i,
            bus_port: 41000 + i,
        })
        .collect();
    let plan = plan_cluster(ClusterId(0x5107_1a57), &nodes, None, 3).expect("valid plan");
    let mut map = ClusterMap::new();
    map.apply(&MetaCommand::Bootstrap(plan))
        .expect("valid bootstrap");
    let skewed = std::env::args().nth(1).as_deref() == Some("skewed");
    let leaders = map
        .shards()
        .map(|s| {
            let l = if skewed && s.id.get() == 2 {
                NodeId(1)
            } else {
                s.replicas[0]
            };
            let l = if skewed && s.id.get() == 3 {
                NodeId(2)
            } else {
                l
            };
            (s.id, l)
        })
        .collect();
    let health = BTreeMap::new();
    let t = Topology::new(&map, NodeId(1), &leaders, &health);
    let hex = |b: Vec<u8>| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    for (name, reply) in [
        ("slots", cluster_slots(&t)),
        ("shards", cluster_shards(&t)),
        ("nodes", cluster_nodes(&t)),
        ("info", cluster_info(&t, &[])),
    ] {
        println!("{name} {}", hex(reply.to_bytes(Protocol::Resp2)));
    }
    for n in map.nodes() {
        let t = Topology::new(&map, n.id, &leaders, &health);
        println!(
            "nodes{} {}",
            n.id,
            hex(cluster_nodes(&t).to_bytes(Protocol::Resp2))
        );
    }
}

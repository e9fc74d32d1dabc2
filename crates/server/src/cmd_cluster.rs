//! `CLUSTER ...` on a cluster node.
//!
//! Why here and not in the cluster crate: the reply *formats* are pure
//! functions of a topology (`slotraft_cluster::replies`); this module only
//! gathers the topology from the running node, asks its groups where a
//! subcommand needs data (COUNTKEYSINSLOT, GETKEYSINSLOT), triggers
//! leadership transfers (FAILOVER), and serves the two internal subcommands
//! `slotraft cluster create` uses to turn fresh nodes into a cluster:
//!
//! - `CLUSTER SLOTRAFT-STATUS` → `["fresh", port]` or
//!   `["member", <cluster id hex>, <node id>]`;
//! - `CLUSTER SLOTRAFT-BOOTSTRAP <node id> <MetaCommand::Bootstrap bytes>`
//!   → `+OK` once this node persisted its identity and started its groups.

use bytes::Bytes;
use slotraft_cluster::replies::{
    cluster_info, cluster_keyslot, cluster_myid, cluster_nodes, cluster_shards, cluster_slots,
};
use slotraft_cluster::{ClusterMap, MetaCommand};
use slotraft_node::{Completion, NodeHandle};
use slotraft_resp::Reply;
use slotraft_types::{GroupId, NodeId, SlotId, SLOT_COUNT};

use crate::cluster_engine::{ClusterEngine, ViewHandle, FAILOVER_WAIT, MAX_GETKEYSINSLOT};
use crate::dispatch::{help, lower, parse_i64, unknown_subcommand, wrong_arity};
use crate::ks::Outcome;

/// The internal subcommands (listed for dispatch, which otherwise rejects
/// subcommands missing from Redis's table).
pub const INTERNAL_SUBCOMMANDS: &[&str] = &["slotraft-status", "slotraft-bootstrap"];

/// Redis's `cluster_info` text for a node that is not part of a cluster.
const INFO_NOT_JOINED: &str = "cluster_state:fail\r\ncluster_slots_assigned:0\r\ncluster_slots_ok:0\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:1\r\ncluster_size:0\r\ncluster_current_epoch:0\r\ncluster_my_epoch:0\r\n";

const NOT_JOINED: &str =
    "CLUSTERDOWN this node is not part of a cluster yet (see `slotraft cluster create`)";

pub async fn run(e: &ClusterEngine, argv: &[Bytes]) -> Reply {
    let sub = lower(&argv[1]);
    match sub.as_str() {
        "help" => return cluster_help(),
        "keyslot" => return cluster_keyslot(&argv[2]),
        "slotraft-status" => return status(e),
        "slotraft-bootstrap" => return bootstrap(e, argv).await,
        _ => {}
    }
    let Some((node, view)) = e.running_view() else {
        return match sub.as_str() {
            "info" => Reply::Verbatim("txt", Bytes::from_static(INFO_NOT_JOINED.as_bytes())),
            "slots" | "shards" => Reply::Array(Vec::new()),
            _ => Reply::error(NOT_JOINED),
        };
    };
    let t = view.topology();
    match sub.as_str() {
        "slots" => cluster_slots(&t),
        "shards" => cluster_shards(&t),
        "nodes" => cluster_nodes(&t),
        "info" => {
            let stats = node.gossip_stats();
            cluster_info(&t, &stats)
        }
        "myid" => cluster_myid(&t),
        "countkeysinslot" => count_keys(&node, &view, argv).await,
        "getkeysinslot" => get_keys(&node, &view, argv).await,
        "failover" => failover(&node, &view, argv).await,
        _ => unknown_subcommand(&argv[1], "cluster"),
    }
}

fn cluster_help() -> Reply {
    help(&[
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "COUNTKEYSINSLOT <slot>",
        "    Return the number of keys in <slot>.",
        "GETKEYSINSLOT <slot> <count>",
        "    Return key names stored by current node in a slot.",
        "FAILOVER [FORCE|TAKEOVER]",
        "    Move the leadership of the shards this node follows to this node.",
        "INFO",
        "    Return information about the cluster.",
        "KEYSLOT <key>",
        "    Return the hash slot for <key>.",
        "MYID",
        "    Return the node id.",
        "NODES",
        "    Return cluster configuration seen by node.",
        "SHARDS",
        "    Return information about slot range mappings and the nodes associated with them.",
        "SLOTS",
        "    Return information about slots range mappings.",
        "HELP",
        "    Print this help.",
    ])
}

fn status(e: &ClusterEngine) -> Reply {
    match e.membership() {
        Some((cluster, node)) => Reply::Array(vec![
            Reply::bulk("member"),
            Reply::bulk(format!("{cluster:032x}")),
            Reply::Int(node.get() as i64),
        ]),
        None => Reply::Array(vec![
            Reply::bulk("fresh"),
            Reply::Int(i64::from(e.params().client_port)),
        ]),
    }
}

async fn bootstrap(e: &ClusterEngine, argv: &[Bytes]) -> Reply {
    if argv.len() != 4 {
        return wrong_arity("cluster|slotraft-bootstrap");
    }
    let Some(me) = parse_i64(&argv[2]).filter(|n| *n > 0) else {
        return Reply::error("ERR invalid node id");
    };
    let b = match MetaCommand::decode(&argv[3]) {
        Ok(MetaCommand::Bootstrap(b)) => b,
        Ok(_) => return Reply::error("ERR not a bootstrap command"),
        Err(err) => return Reply::error(format!("ERR bad bootstrap payload: {err:?}")),
    };
    let mut map = ClusterMap::new();
    if let Err(err) = map.apply(&MetaCommand::Bootstrap(b)) {
        return Reply::error(format!("ERR invalid cluster plan: {err:?}"));
    }
    match e.bootstrap(NodeId(me as u64), map).await {
        Ok(()) => Reply::OK,
        Err(msg) => Reply::error(msg),
    }
}

fn parse_slot(b: &[u8]) -> Result<SlotId, Reply> {
    match parse_i64(b) {
        None => Err(Reply::error("ERR value is not an integer or out of range")),
        Some(s) if (0..i64::from(SLOT_COUNT)).contains(&s) => Ok(SlotId::new(s as u16)),
        Some(_) => Err(Reply::error("ERR Invalid slot")),
    }
}

/// The group owning `slot`, if this node hosts it (reads on followers are
/// linearizable through ReadIndex).
fn hosted_owner(view: &ViewHandle, slot: SlotId) -> Option<GroupId> {
    let g = view.map().slot_owner(slot)?;
    view.map()
        .shard(g)
        .filter(|s| s.hosts(view.me()))
        .map(|s| s.id)
}

async fn read_slot(node: &NodeHandle, g: GroupId, argv: Vec<Bytes>) -> Reply {
    match node.read(g, argv).await {
        Completion::Done(Outcome::Reply(r)) => r,
        Completion::Done(Outcome::Block(_)) => unreachable!("reads never block"),
        Completion::NotExecuted(n) => Reply::error(format!("TRYAGAIN {n:?}")),
        Completion::Uncertain(why) => Reply::error(format!("UNCERTAIN {why}")),
    }
}

async fn count_keys(node: &NodeHandle, view: &ViewHandle, argv: &[Bytes]) -> Reply {
    let slot = match parse_slot(&argv[2]) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let Some(g) = hosted_owner(view, slot) else {
        return Reply::Int(0);
    };
    let argv = vec![
        Bytes::from_static(slotraft_keyspace::INTERNAL_COUNT_IN_SLOT),
        Bytes::from(slot.get().to_string()),
    ];
    read_slot(node, g, argv).await
}

async fn get_keys(node: &NodeHandle, view: &ViewHandle, argv: &[Bytes]) -> Reply {
    let (Some(slot), Some(max)) = (parse_i64(&argv[2]), parse_i64(&argv[3])) else {
        return Reply::error("ERR value is not an integer or out of range");
    };
    if !(0..i64::from(SLOT_COUNT)).contains(&slot) || max < 0 {
        return Reply::error("ERR Invalid slot or number of keys");
    }
    let slot = SlotId::new(slot as u16);
    let Some(g) = hosted_owner(view, slot) else {
        return Reply::Array(Vec::new());
    };
    let argv = vec![
        Bytes::from_static(slotraft_keyspace::INTERNAL_KEYS_IN_SLOT),
        Bytes::from(slot.get().to_string()),
        Bytes::from((max as u64).min(MAX_GETKEYSINSLOT).to_string()),
    ];
    read_slot(node, g, argv).await
}

/// CLUSTER FAILOVER [FORCE|TAKEOVER]: every shard this node follows hands
/// its leadership to this node (a Raft leadership transfer: the target
/// catches up first, so nothing committed is lost, unlike Redis's TAKEOVER).
async fn failover(node: &NodeHandle, view: &ViewHandle, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return Reply::error("ERR syntax error");
    }
    if let Some(opt) = argv.get(2) {
        if !matches!(lower(opt).as_str(), "force" | "takeover") {
            return Reply::error("ERR syntax error");
        }
    }
    let me = view.me();
    let followed: Vec<GroupId> = view
        .map()
        .shards()
        .filter(|s| s.replicas.contains(&me) && view.leader_of(s.id) != Some(me))
        .map(|s| s.id)
        .collect();
    if followed.is_empty() {
        return Reply::error("ERR You should send CLUSTER FAILOVER to a replica");
    }
    let transfers = followed.iter().map(|g| node.transfer_leader(*g, me));
    let all = futures::future::join_all(transfers);
    match tokio::time::timeout(FAILOVER_WAIT, all).await {
        Ok(results) => match results.into_iter().find_map(Result::err) {
            None => Reply::OK,
            Some(e) => Reply::error(format!("ERR failover did not complete: {e:?}")),
        },
        // Like Redis: the failover goes on in the background.
        Err(_) => Reply::OK,
    }
}

//! Redis Cluster introspection replies: `CLUSTER SLOTS`, `SHARDS`, `NODES`,
//! `INFO`, `MYID` and `KEYSLOT`, as pure functions of a [`Topology`].
//!
//! Why pure: clients build their routing tables from these replies, so their
//! exact shape matters more than anything else here; as functions of plain
//! inputs they are compared byte for byte with replies captured from a real
//! Redis 7.0 cluster (see the tests).
//!
//! Mapping Multi-Raft onto Redis's master/replica model: a shard's Raft leader
//! is shown as the master owning the shard's slots, its other voters as
//! replicas. A node that leads no shard is shown as a replica (`slave`) of the
//! leader of the first shard it hosts. When no leader is known for a shard
//! (election in progress, no hint yet), its first replica — the preferred
//! leader — is shown in the master's place, so every assigned slot always has
//! an owner in every reply.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use bytes::Bytes;
use slotraft_resp::Reply;
use slotraft_types::{key_slot, GroupId, NodeId, SLOT_COUNT};

use crate::map::{ClusterMap, NodeInfo, ShardInfo, SlotRange};

/// A node's liveness as seen by gossip.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum HealthState {
    #[default]
    Ok,
    /// This node has not heard from it within the node timeout (`fail?`).
    PFail,
    /// A majority of nodes agree it is unreachable (`fail`).
    Fail,
}

/// What gossip knows about one node (defaults: healthy, connected, never
/// pinged).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct NodeHealth {
    pub state: HealthState,
    /// Unix ms when the outstanding PING was sent, 0 if none (Redis's
    /// `ping-sent`).
    pub ping_sent_ms: u64,
    /// Unix ms of the last PONG received (Redis's `pong-recv`).
    pub pong_recv_ms: u64,
    /// Whether the bus link to the node is up.
    pub connected: bool,
}

impl Default for NodeHealth {
    fn default() -> Self {
        NodeHealth {
            state: HealthState::Ok,
            ping_sent_ms: 0,
            pong_recv_ms: 0,
            connected: true,
        }
    }
}

static NO_OFFSETS: BTreeMap<(GroupId, NodeId), u64> = BTreeMap::new();
static NO_GROUPS: BTreeSet<GroupId> = BTreeSet::new();

/// Everything the replies and the router depend on, borrowed from the node
/// runtime at the moment of the command.
#[derive(Copy, Clone, Debug)]
pub struct Topology<'a> {
    /// The node's cached cluster map.
    pub map: &'a ClusterMap,
    /// This node.
    pub me: NodeId,
    /// The best known leader of each shard: from the local Raft state for
    /// groups this node hosts (absent when that group has no leader), from
    /// gossip leader hints for the others.
    pub leaders: &'a BTreeMap<GroupId, NodeId>,
    /// Gossip's view of every node; absent means healthy.
    pub health: &'a BTreeMap<NodeId, NodeHealth>,
    /// Replication offset (applied index) of (group, node), for
    /// `CLUSTER SHARDS`; absent means 0.
    pub offsets: &'a BTreeMap<(GroupId, NodeId), u64>,
    /// Groups this node knows have no leader with a quorum right now (it
    /// leads one but CheckQuorum failed, or it follows one whose election
    /// timer expired). Commands for them get `-CLUSTERDOWN`.
    pub unavailable: &'a BTreeSet<GroupId>,
}

/// Slot health for `CLUSTER INFO`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SlotState {
    Ok,
    PFail,
    Fail,
}

impl<'a> Topology<'a> {
    /// A topology without replication offsets and with no group known to be
    /// unavailable (set the fields directly to add them).
    pub fn new(
        map: &'a ClusterMap,
        me: NodeId,
        leaders: &'a BTreeMap<GroupId, NodeId>,
        health: &'a BTreeMap<NodeId, NodeHealth>,
    ) -> Topology<'a> {
        Topology {
            map,
            me,
            leaders,
            health,
            offsets: &NO_OFFSETS,
            unavailable: &NO_GROUPS,
        }
    }

    pub fn health_of(&self, node: NodeId) -> NodeHealth {
        let h = self.health.get(&node).copied().unwrap_or_default();
        if node == self.me {
            // A node never suspects itself; only its timestamps are shown.
            return NodeHealth {
                state: HealthState::Ok,
                connected: true,
                ..h
            };
        }
        h
    }

    /// The known leader of `shard` if it is one of its voters.
    pub fn known_leader(&self, shard: &ShardInfo) -> Option<NodeId> {
        self.leaders
            .get(&shard.id)
            .copied()
            .filter(|n| shard.replicas.contains(n))
    }

    /// The node shown as the shard's master: the known leader, else the
    /// preferred (first) replica.
    pub fn shown_leader(&self, shard: &ShardInfo) -> NodeId {
        self.known_leader(shard).unwrap_or(shard.replicas[0])
    }

    /// Voters other than the shown leader, in map order.
    fn followers<'s>(&self, shard: &'s ShardInfo) -> impl Iterator<Item = NodeId> + 's {
        let leader = self.shown_leader(shard);
        shard.replicas.iter().copied().filter(move |n| *n != leader)
    }

    /// `Fail` when the shard is known to be unavailable (no leader) or a
    /// majority of the voters is failed (no quorum possible);
    /// `PFail` when the shown leader is suspected or failed, or a majority is
    /// suspected; `Ok` otherwise.
    pub fn shard_state(&self, shard: &ShardInfo) -> SlotState {
        if self.unavailable.contains(&shard.id) {
            // Known to have no leader right now (e.g. its first election
            // after `cluster create`): its slots are not served.
            return SlotState::Fail;
        }
        let majority = shard.replicas.len() / 2 + 1;
        let states: Vec<HealthState> = shard
            .replicas
            .iter()
            .map(|n| self.health_of(*n).state)
            .collect();
        let alive = states.iter().filter(|s| **s != HealthState::Fail).count();
        let healthy = states.iter().filter(|s| **s == HealthState::Ok).count();
        if alive < majority {
            SlotState::Fail
        } else if healthy < majority
            || self.health_of(self.shown_leader(shard)).state != HealthState::Ok
        {
            SlotState::PFail
        } else {
            SlotState::Ok
        }
    }

    fn node(&self, id: NodeId) -> &'a NodeInfo {
        self.map
            .node(id)
            .expect("map invariant: shard members exist")
    }
}

/// Every owned range with its shard, in slot order. Each shard's ranges
/// are normalized (never adjacent), so these are exactly the maximal runs of
/// consecutive slots owned by one shard. O(ranges), not O(slots).
fn shard_runs(map: &ClusterMap) -> Vec<(SlotRange, GroupId)> {
    let mut out: Vec<(SlotRange, GroupId)> = map
        .shards()
        .flat_map(|s| s.slots.iter().map(move |r| (*r, s.id)))
        .collect();
    out.sort();
    out
}

fn node_entry(n: &NodeInfo) -> Reply {
    Reply::Array(vec![
        Reply::bulk(n.ip.to_string()),
        Reply::Int(n.port as i64),
        Reply::bulk(n.name.as_str()),
        // Redis 7.0's per-node metadata map (hostname when one is set).
        Reply::Map(vec![]),
    ])
}

/// `CLUSTER SLOTS` (Redis 7.0 format): one entry per run of consecutive
/// slots of one shard: `[start, end, leader, replica...]`, each node as
/// `[ip, port, name, {}]`. Failed replicas are left out, as Redis does.
pub fn cluster_slots(t: &Topology<'_>) -> Reply {
    let entries = shard_runs(t.map)
        .into_iter()
        .map(|(range, g)| {
            let shard = t.map.shard(g).expect("slot owner exists");
            let mut e = vec![
                Reply::Int(range.start.get() as i64),
                Reply::Int(range.end.get() as i64),
                node_entry(t.node(t.shown_leader(shard))),
            ];
            e.extend(
                t.followers(shard)
                    .filter(|n| t.health_of(*n).state != HealthState::Fail)
                    .map(|n| node_entry(t.node(n))),
            );
            Reply::Array(e)
        })
        .collect();
    Reply::Array(entries)
}

fn shard_node(t: &Topology<'_>, g: GroupId, id: NodeId, role: &str, health: &str) -> Reply {
    let n = t.node(id);
    let kv = |k: &'static str, v: Reply| (Reply::bulk(k), v);
    let ip = n.ip.to_string();
    Reply::Map(vec![
        kv("id", Reply::bulk(n.name.as_str())),
        kv("port", Reply::Int(n.port as i64)),
        kv("ip", Reply::bulk(&ip)),
        kv("endpoint", Reply::bulk(&ip)),
        kv("role", Reply::bulk(role)),
        kv(
            "replication-offset",
            Reply::Int(t.offsets.get(&(g, id)).copied().unwrap_or(0) as i64),
        ),
        kv("health", Reply::bulk(health)),
    ])
}

fn health_word(t: &Topology<'_>, id: NodeId) -> &'static str {
    match t.health_of(id).state {
        HealthState::Fail => "fail",
        HealthState::Ok | HealthState::PFail => "online",
    }
}

/// `CLUSTER SHARDS` (Redis 7.0 format), one entry per shard in group order:
/// `{slots: [start, end, ...], nodes: [{id, port, ip, endpoint, role,
/// replication-offset, health}, ...]}` with the leader first, then the other
/// voters, then learners (shown as replicas with health `loading`).
pub fn cluster_shards(t: &Topology<'_>) -> Reply {
    let shards = t
        .map
        .shards()
        .map(|s| {
            let slots = s
                .slots
                .iter()
                .flat_map(|r| {
                    [
                        Reply::Int(r.start.get() as i64),
                        Reply::Int(r.end.get() as i64),
                    ]
                })
                .collect();
            let leader = t.shown_leader(s);
            let mut nodes = vec![shard_node(
                t,
                s.id,
                leader,
                "master",
                health_word(t, leader),
            )];
            nodes.extend(
                t.followers(s)
                    .map(|n| shard_node(t, s.id, n, "replica", health_word(t, n))),
            );
            nodes.extend(
                s.learners
                    .iter()
                    .map(|n| shard_node(t, s.id, *n, "replica", "loading")),
            );
            Reply::Map(vec![
                (Reply::bulk("slots"), Reply::Array(slots)),
                (Reply::bulk("nodes"), Reply::Array(nodes)),
            ])
        })
        .collect();
    Reply::Array(shards)
}

/// How one node appears in `CLUSTER NODES`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Role {
    /// Leads (or stands in for the leader of) at least one shard; owns these
    /// slots (merged across its shards).
    Master(Vec<SlotRange>),
    /// Follows the shard led by this node.
    Replica(NodeId),
}

/// The role of every node, computed once per reply (O(nodes + ranges)).
fn roles(t: &Topology<'_>) -> BTreeMap<NodeId, Role> {
    let mut led: BTreeMap<NodeId, Vec<SlotRange>> = BTreeMap::new();
    for s in t.map.shards() {
        led.entry(t.shown_leader(s)).or_default();
    }
    for (r, g) in shard_runs(t.map) {
        let shard = t.map.shard(g).expect("owner exists");
        let ranges = led.get_mut(&t.shown_leader(shard)).expect("inserted above");
        match ranges.last_mut() {
            Some(last) if last.end.get() + 1 == r.start.get() => last.end = r.end,
            _ => ranges.push(r),
        }
    }
    t.map
        .nodes()
        .map(|n| {
            let role = match led.remove(&n.id) {
                Some(ranges) => Role::Master(ranges),
                None => match t.map.shards().find(|s| s.hosts(n.id)) {
                    Some(s) => Role::Replica(t.shown_leader(s)),
                    None => Role::Master(Vec::new()),
                },
            };
            (n.id, role)
        })
        .collect()
}

/// One `CLUSTER NODES` line (without the trailing newline).
fn node_line(t: &Topology<'_>, n: &NodeInfo, role: &Role) -> String {
    let h = t.health_of(n.id);
    let mut flags = String::new();
    if n.id == t.me {
        flags.push_str("myself,");
    }
    flags.push_str(match role {
        Role::Master(_) => "master",
        Role::Replica(_) => "slave",
    });
    match h.state {
        HealthState::Ok => {}
        HealthState::PFail => flags.push_str(",fail?"),
        HealthState::Fail => flags.push_str(",fail"),
    }
    let master = match role {
        Role::Master(_) => "-".to_string(),
        Role::Replica(l) => t.node(*l).name.to_string(),
    };
    let link = if n.id == t.me || h.connected {
        "connected"
    } else {
        "disconnected"
    };
    let mut line = format!(
        "{} {}:{}@{} {} {} {} {} {} {}",
        n.name,
        n.ip,
        n.port,
        n.bus_port,
        flags,
        master,
        h.ping_sent_ms,
        h.pong_recv_ms,
        t.map.epoch(),
        link
    );
    if let Role::Master(ranges) = role {
        ranges.iter().for_each(|r| {
            let _ = write!(line, " {r}");
        });
    }
    if n.id == t.me {
        push_migrations(t, &mut line);
    }
    line
}

/// Redis shows open slots on `myself` only: `[slot->-target]` when this
/// node leads the source, `[slot-<-source]` when it leads the target.
fn push_migrations(t: &Topology<'_>, line: &mut String) {
    for m in t.map.migrations() {
        let leader_of = |g| t.map.shard(g).map(|s| t.shown_leader(s));
        let (Some(src), Some(dst)) = (leader_of(m.from), leader_of(m.to)) else {
            continue;
        };
        if src == t.me {
            let _ = write!(line, " [{}->-{}]", m.slot, t.node(dst).name);
        } else if dst == t.me {
            let _ = write!(line, " [{}-<-{}]", m.slot, t.node(src).name);
        }
    }
}

/// `CLUSTER NODES`: Redis's line format, one line per node ordered by node
/// id, each line ending in `\n`:
/// `<name> <ip:port@cport> <flags> <master> <ping-sent> <pong-recv>
/// <config-epoch> <link-state> <slot> ...`.
pub fn cluster_nodes_text(t: &Topology<'_>) -> String {
    let roles = roles(t);
    let mut out = String::new();
    for n in t.map.nodes() {
        out.push_str(&node_line(t, n, &roles[&n.id]));
        out.push('\n');
    }
    out
}

/// `CLUSTER NODES` as a reply (verbatim `txt` in RESP3, bulk in RESP2, as
/// Redis 7.0).
pub fn cluster_nodes(t: &Topology<'_>) -> Reply {
    Reply::Verbatim("txt", Bytes::from(cluster_nodes_text(t)))
}

/// `CLUSTER INFO` text. `stats` are extra `name:value` lines appended after
/// the fixed fields (gossip message counters, in Redis's naming).
pub fn cluster_info_text(t: &Topology<'_>, stats: &[(&str, u64)]) -> String {
    let mut counts = [0usize; 3];
    for s in t.map.shards() {
        let i = match t.shard_state(s) {
            SlotState::Ok => 0,
            SlotState::PFail => 1,
            SlotState::Fail => 2,
        };
        counts[i] += s.slot_count();
    }
    let assigned = t.map.assigned_slots();
    let ok = assigned == SLOT_COUNT as usize && counts[2] == 0;
    let size = roles(t)
        .values()
        .filter(|r| matches!(r, Role::Master(ranges) if !ranges.is_empty()))
        .count();
    let mut s = String::new();
    let mut line = |k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(s, "{k}:{v}\r\n");
    };
    line("cluster_state", &if ok { "ok" } else { "fail" });
    line("cluster_slots_assigned", &assigned);
    line("cluster_slots_ok", &counts[0]);
    line("cluster_slots_pfail", &counts[1]);
    line("cluster_slots_fail", &counts[2]);
    line("cluster_known_nodes", &t.map.node_count());
    line("cluster_size", &size);
    line("cluster_current_epoch", &t.map.epoch());
    line("cluster_my_epoch", &t.map.epoch());
    for (k, v) in stats {
        line(k, v);
    }
    s
}

/// `CLUSTER INFO` as a reply (verbatim `txt` / bulk).
pub fn cluster_info(t: &Topology<'_>, stats: &[(&str, u64)]) -> Reply {
    Reply::Verbatim("txt", Bytes::from(cluster_info_text(t, stats)))
}

/// `CLUSTER MYID`: this node's 40-hex name.
pub fn cluster_myid(t: &Topology<'_>) -> Reply {
    match t.map.node(t.me) {
        Some(n) => Reply::bulk(n.name.as_str()),
        None => Reply::error("ERR this node is not a member of the cluster"),
    }
}

/// `CLUSTER KEYSLOT key`.
pub fn cluster_keyslot(key: &[u8]) -> Reply {
    Reply::Int(key_slot(key).get() as i64)
}

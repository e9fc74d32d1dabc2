//! The one place that decides whether a keyed command runs here or gets a
//! redirect error, like Redis cluster.c's `getNodeByQuery`.
//!
//! Why one function: cluster clients retry `-MOVED`, `-ASK`, `-TRYAGAIN`,
//! `-CLUSTERDOWN` and `-CROSSSLOT` (possibly elsewhere), so each of these may
//! only be sent when the command certainly did not and never will execute.
//! Every error [`route`] returns is decided *before* anything is proposed to
//! Raft, which is what makes them safe; errors about outcomes after proposal
//! (`-UNCERTAIN`) belong to the server, not here.
//!
//! When each reply is sent (checked in this order):
//! 1. no key → [`Route::NoKeys`] (the server runs the command itself);
//! 2. the first key's slot is unassigned → `-CLUSTERDOWN Hash slot not served`;
//! 3. a later key hashes to a different slot → `-CROSSSLOT Keys in request
//!    don't hash to the same slot`;
//! 4. the shard is known to have no leader or no quorum
//!    ([`Topology::unavailable`], or this node hosts the shard and Raft
//!    knows no leader) → `-CLUSTERDOWN The cluster is down`;
//! 5. the slot is migrating away from a shard this node leads and some key is
//!    missing here → `-ASK <slot> <ip>:<port>` of the target's leader (one
//!    key) or `-TRYAGAIN Multiple keys request during rehashing of slot`
//!    (several keys);
//! 6. the slot is importing into a shard this node leads and the client sent
//!    `ASKING` → local, or `-TRYAGAIN ...` if several keys and some missing;
//! 7. READONLY connection + read-only command + this node is a voter of the
//!    shard but not its leader → [`Route::LocalFollowerRead`] (linearizable
//!    through ReadIndex at the leader, unlike Redis's stale replica reads);
//! 8. this node leads the shard → [`Route::Local`];
//! 9. otherwise → `-MOVED <slot> <ip>:<port>` of the known leader, or of the
//!    shard's preferred replica if no leader is known (that node will know
//!    better or redirect again).

use slotraft_resp::Reply;
use slotraft_types::{GroupId, NodeId, SlotId};

use crate::map::NodeInfo;
use crate::replies::Topology;

/// Exact Redis error texts.
pub const ERR_CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";
pub const ERR_UNBOUND: &str = "CLUSTERDOWN Hash slot not served";
pub const ERR_DOWN: &str = "CLUSTERDOWN The cluster is down";
pub const ERR_TRYAGAIN: &str = "TRYAGAIN Multiple keys request during rehashing of slot";

/// The routing-relevant facts about one command on one connection.
#[derive(Copy, Clone, Debug)]
pub struct RouteRequest<'a> {
    /// The slot of every key of the command, in key order (one entry per key;
    /// several entries mean "several keys").
    pub slots: &'a [SlotId],
    /// The connection sent `READONLY`.
    pub readonly_conn: bool,
    /// The command may write.
    pub is_write: bool,
    /// The connection sent `ASKING` just before this command.
    pub asking: bool,
    /// Only consulted while the slot is migrating: whether every key of the
    /// command exists in this node's copy of the source shard.
    pub all_keys_present: bool,
}

impl<'a> RouteRequest<'a> {
    /// A request for a normal command: not READONLY, no ASKING, keys
    /// present.
    pub fn new(slots: &'a [SlotId], is_write: bool) -> RouteRequest<'a> {
        RouteRequest {
            slots,
            readonly_conn: false,
            is_write,
            asking: false,
            all_keys_present: true,
        }
    }
}

/// Where a command goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    /// The command has no keys; run it on this node.
    NoKeys,
    /// This node leads the group: propose / read through it.
    Local(GroupId),
    /// This node follows the group and the connection is READONLY: read
    /// locally after a ReadIndex round with the leader.
    LocalFollowerRead(GroupId),
    /// Reply with this error; nothing was or will be executed.
    Error(Reply),
}

fn addr(n: &NodeInfo) -> String {
    format!("{}:{}", n.ip, n.port)
}

/// Text of `-TRYAGAIN` when a node's queues are full or a leadership
/// transfer is in progress (transient; nothing was executed).
pub const ERR_BUSY: &str = "TRYAGAIN Node busy, please retry";

/// Why the node refused an operation that [`route`] had sent to a local
/// group. Each one means the operation certainly did not execute (so a
/// client may retry it), which is why they are mapped here with the other
/// redirects and not by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Leadership moved between routing and proposing; the hint if known.
    NotLeader(Option<NodeId>),
    /// No leader (election in progress, or no quorum).
    NoLeader,
    /// A queue limit was reached, or Raft refused for a transient reason
    /// (leadership transfer), or a read's ReadIndex round timed out.
    Busy,
}

/// The redirect error for a refused operation on `slot`: `-MOVED` to the
/// hinted leader when it is another node the map knows, `-TRYAGAIN` when
/// busy, `-CLUSTERDOWN The cluster is down` when no leader is known.
pub fn refused_reply(t: &Topology<'_>, slot: SlotId, why: Refused) -> Reply {
    let moved_to = |n: NodeId| {
        t.map
            .node(n)
            .filter(|_| n != t.me)
            .map(|info| Reply::error(format!("MOVED {} {}", slot.get(), addr(info))))
    };
    match why {
        Refused::NotLeader(Some(n)) => moved_to(n).unwrap_or_else(|| Reply::error(ERR_DOWN)),
        Refused::NotLeader(None) | Refused::NoLeader => Reply::error(ERR_DOWN),
        Refused::Busy => Reply::error(ERR_BUSY),
    }
}

/// Decides how to serve a keyed command (see the module doc for the rules).
pub fn route(t: &Topology<'_>, req: &RouteRequest<'_>) -> Route {
    let Some((&slot, rest)) = req.slots.split_first() else {
        return Route::NoKeys;
    };
    let Some(group) = t.map.slot_owner(slot) else {
        return Route::Error(Reply::error(ERR_UNBOUND));
    };
    if rest.iter().any(|s| *s != slot) {
        return Route::Error(Reply::error(ERR_CROSSSLOT));
    }
    let shard = t.map.shard(group).expect("slot owner exists");
    let hosted = shard.replicas.contains(&t.me);
    let leader = t.known_leader(shard);
    if t.unavailable.contains(&group) || (hosted && leader.is_none()) {
        return Route::Error(Reply::error(ERR_DOWN));
    }
    let multiple_keys = !rest.is_empty();
    if let Some(r) = migration_route(t, req, slot, multiple_keys) {
        return r;
    }
    let leader = leader.unwrap_or(shard.replicas[0]);
    if leader == t.me {
        return Route::Local(group);
    }
    if req.readonly_conn && !req.is_write && hosted {
        return Route::LocalFollowerRead(group);
    }
    let target = t.map.node(leader).expect("voters exist in the map");
    Route::Error(Reply::error(format!(
        "MOVED {} {}",
        slot.get(),
        addr(target)
    )))
}

/// Rules 5 and 6: slot migrations (reserved; only reachable once the map
/// holds a migration).
fn migration_route(
    t: &Topology<'_>,
    req: &RouteRequest<'_>,
    slot: SlotId,
    multiple_keys: bool,
) -> Option<Route> {
    let m = t.map.slot_migration(slot)?;
    let leads = |g: GroupId| -> Option<NodeId> {
        let s = t.map.shard(g)?;
        Some(t.shown_leader(s))
    };
    if leads(m.from) == Some(t.me) && !req.all_keys_present {
        if multiple_keys {
            return Some(Route::Error(Reply::error(ERR_TRYAGAIN)));
        }
        let target = t.map.node(leads(m.to)?)?;
        return Some(Route::Error(Reply::error(format!(
            "ASK {slot} {}",
            addr(target)
        ))));
    }
    if leads(m.to) == Some(t.me) && req.asking {
        if multiple_keys && !req.all_keys_present {
            return Some(Route::Error(Reply::error(ERR_TRYAGAIN)));
        }
        return Some(Route::Local(m.to));
    }
    None
}

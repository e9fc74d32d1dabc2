//! The cluster layer of slotraft, as pure data and pure functions.
//!
//! Why this crate exists: the authoritative cluster map (nodes, shards, their
//! replica sets, slot ownership, a monotonic config epoch) is the state machine
//! of the metadata Raft group, and every Redis Cluster reply (`CLUSTER SLOTS`,
//! `SHARDS`, `NODES`, `INFO`, the `-MOVED`/`-CROSSSLOT`/... redirects) is a
//! function of that map plus the runtime's view of who leads each group and
//! which nodes gossip says are failing. Keeping all of it free of IO, clocks
//! and randomness makes it deterministic (every replica of the metadata group
//! applies the same commands to the same map) and testable byte by byte.
//!
//! Modules:
//! - [`map`]: the [`ClusterMap`] data model.
//! - [`command`]: [`MetaCommand`], its versioned binary codec and
//!   [`ClusterMap::apply`].
//! - [`wire`]: the bounded binary reader/writer shared by the codecs (and by
//!   the gossip crate).
//! - [`placement`]: initial placement of shards and leader balancing.
//! - [`replies`]: `CLUSTER SLOTS/SHARDS/NODES/INFO/MYID/KEYSLOT`.
//! - [`route`]: the single function that decides local execution or a
//!   redirect error for a keyed command.

#![forbid(unsafe_code)]

pub mod command;
pub mod map;
pub mod placement;
pub mod replies;
pub mod route;
pub mod wire;

pub use command::{Bootstrap, MetaCommand, MetaError, NodeSpec, ShardSpec};
pub use map::{
    ClusterId, ClusterMap, NodeInfo, NodeName, NodeState, ShardInfo, SlotMigration, SlotRange,
};
pub use placement::{plan_cluster, plan_leader_balance, PlacementError};
pub use replies::{HealthState, NodeHealth, Topology};
pub use route::{refused_reply, route, Refused, Route, RouteRequest};
pub use wire::DecodeError;

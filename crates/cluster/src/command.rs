//! The metadata group's commands and the deterministic transition function
//! [`ClusterMap::apply`].
//!
//! Why commands and not "set the whole map": each command states an intent
//! ("assign these slots to that shard") that `apply` validates against the
//! current map, so two admins racing produce one success and one clear error
//! instead of a silent overwrite. `apply` is all-or-nothing (it works on a
//! copy), deterministic (no clock, no randomness, ordered collections only)
//! and bumps the config epoch by exactly one on every success, so an epoch
//! names one exact map on every replica.
//!
//! Encoding: `version:u8, tag:u8, payload` (see [`crate::wire`]); decoding
//! never panics and checks every length against a named limit.

use std::fmt;
use std::net::IpAddr;

use slotraft_types::{GroupId, NodeId, SlotId};

use crate::map::{
    decode_ids, decode_ip, decode_ranges, encode_ids, encode_ip, encode_ranges, normalize_ranges,
    ClusterId, ClusterMap, NodeInfo, NodeName, NodeState, ShardInfo, SlotMigration, SlotRange,
    MAX_MIGRATIONS, MAX_NODES, MAX_RANGES_PER_SHARD, MAX_REPLICAS, MAX_SHARDS, NODE_MIN_SIZE,
};
use crate::wire::{DecodeError, Reader, Writer};

/// Version byte of an encoded [`MetaCommand`].
pub const COMMAND_VERSION: u8 = 1;

/// A node as given to `Bootstrap`/`AddNode` (its name is derived).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    pub id: NodeId,
    pub ip: IpAddr,
    pub port: u16,
    pub bus_port: u16,
}

/// A shard as given to `Bootstrap`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardSpec {
    pub id: GroupId,
    /// Voters; the first is the preferred leader.
    pub replicas: Vec<NodeId>,
    pub slots: Vec<SlotRange>,
}

/// The initial map of a new cluster (what `slotraft cluster create` proposes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bootstrap {
    pub cluster_id: ClusterId,
    pub nodes: Vec<NodeSpec>,
    /// Voters of the metadata group.
    pub meta_replicas: Vec<NodeId>,
    pub shards: Vec<ShardSpec>,
}

/// One change to the cluster map, replicated through the metadata group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaCommand {
    /// Creates the cluster; only valid on the empty map.
    Bootstrap(Bootstrap),
    /// Adds a node that hosts nothing yet.
    AddNode(NodeSpec),
    /// Removes a node that hosts no group (drain it first).
    RemoveNode(NodeId),
    /// Marks a node `Active` or `Leaving`.
    SetNodeState { node: NodeId, state: NodeState },
    /// Creates an empty shard (no slots yet).
    AddShard {
        group: GroupId,
        replicas: Vec<NodeId>,
    },
    /// Deletes a shard that owns no slots.
    RemoveShard(GroupId),
    /// Replaces a shard's voters and learners (after a Raft membership
    /// change committed in that group).
    SetShardReplicas {
        group: GroupId,
        replicas: Vec<NodeId>,
        learners: Vec<NodeId>,
    },
    /// Gives unassigned slots to a shard.
    AssignSlots {
        group: GroupId,
        ranges: Vec<SlotRange>,
    },
    /// Replaces the metadata group's voters.
    SetMetaReplicas(Vec<NodeId>),
    /// Starts moving `slot` from its owner to `to` (reserved).
    BeginSlotMigration { slot: SlotId, to: GroupId },
    /// Completes a migration: `to` now owns the slot (reserved).
    FinishSlotMigration(SlotId),
    /// Cancels a migration; the owner keeps the slot (reserved).
    AbortSlotMigration(SlotId),
}

/// Why a command was rejected; the map is unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaError {
    AlreadyBootstrapped,
    NotBootstrapped,
    /// Node id 0, or the id is taken.
    BadNodeId(NodeId),
    UnknownNode(NodeId),
    /// Two nodes would share `ip:port`, or the bus port collides.
    AddressInUse(IpAddr, u16),
    /// The node still hosts these groups.
    NodeInUse(NodeId),
    /// Group 0, or the id is taken.
    BadGroupId(GroupId),
    UnknownShard(GroupId),
    /// Replica list empty, too long, duplicated or naming unknown nodes.
    BadReplicas(&'static str),
    /// A slot is already owned by another shard (or ranges overlap).
    SlotTaken(SlotId),
    /// Slot ranges are invalid or too many.
    BadRanges,
    /// The shard still owns slots.
    ShardNotEmpty(GroupId),
    /// The slot has no migration / already has one / is unassigned.
    Migration(SlotId),
    /// A limit (named in the text) would be exceeded.
    Limit(&'static str),
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaError::AlreadyBootstrapped => write!(f, "cluster already bootstrapped"),
            MetaError::NotBootstrapped => write!(f, "cluster not bootstrapped"),
            MetaError::BadNodeId(n) => write!(f, "invalid or duplicate node id {n}"),
            MetaError::UnknownNode(n) => write!(f, "unknown node {n}"),
            MetaError::AddressInUse(ip, p) => write!(f, "address {ip}:{p} already in use"),
            MetaError::NodeInUse(n) => write!(f, "node {n} still hosts groups"),
            MetaError::BadGroupId(g) => write!(f, "invalid or duplicate group id {g}"),
            MetaError::UnknownShard(g) => write!(f, "unknown shard {g}"),
            MetaError::BadReplicas(why) => write!(f, "bad replica set: {why}"),
            MetaError::SlotTaken(s) => write!(f, "slot {s} already owned"),
            MetaError::BadRanges => write!(f, "bad slot ranges"),
            MetaError::ShardNotEmpty(g) => write!(f, "shard {g} still owns slots"),
            MetaError::Migration(s) => write!(f, "invalid migration state for slot {s}"),
            MetaError::Limit(what) => write!(f, "limit exceeded: {what}"),
        }
    }
}

impl std::error::Error for MetaError {}

impl ClusterMap {
    /// Applies `cmd`: validates it against the current map and, if valid,
    /// changes the map and bumps the epoch by one. On error nothing changes.
    pub fn apply(&mut self, cmd: &MetaCommand) -> Result<(), MetaError> {
        if !matches!(cmd, MetaCommand::Bootstrap(_)) && !self.is_bootstrapped() {
            return Err(MetaError::NotBootstrapped);
        }
        let mut next = self.clone();
        next.apply_inner(cmd)?;
        next.epoch = self.epoch.checked_add(1).expect("epoch overflow");
        debug_assert_eq!(next.check_invariants(), Ok(()), "after {cmd:?}");
        *self = next;
        Ok(())
    }

    fn apply_inner(&mut self, cmd: &MetaCommand) -> Result<(), MetaError> {
        match cmd {
            MetaCommand::Bootstrap(b) => self.bootstrap(b),
            MetaCommand::AddNode(spec) => self.add_node(spec),
            MetaCommand::RemoveNode(id) => self.remove_node(*id),
            MetaCommand::SetNodeState { node, state } => {
                let n = self
                    .nodes
                    .get_mut(node)
                    .ok_or(MetaError::UnknownNode(*node))?;
                n.state = *state;
                Ok(())
            }
            MetaCommand::AddShard { group, replicas } => self.add_shard(*group, replicas, &[]),
            MetaCommand::RemoveShard(g) => self.remove_shard(*g),
            MetaCommand::SetShardReplicas {
                group,
                replicas,
                learners,
            } => self.set_replicas(*group, replicas, learners),
            MetaCommand::AssignSlots { group, ranges } => self.assign_slots(*group, ranges),
            MetaCommand::SetMetaReplicas(r) => {
                self.check_replica_set(r, MAX_REPLICAS)?;
                self.meta_replicas = r.clone();
                Ok(())
            }
            MetaCommand::BeginSlotMigration { slot, to } => self.begin_migration(*slot, *to),
            MetaCommand::FinishSlotMigration(slot) => self.finish_migration(*slot),
            MetaCommand::AbortSlotMigration(slot) => self
                .migrations
                .remove(slot)
                .map(|_| ())
                .ok_or(MetaError::Migration(*slot)),
        }
    }

    fn bootstrap(&mut self, b: &Bootstrap) -> Result<(), MetaError> {
        if self.is_bootstrapped() {
            return Err(MetaError::AlreadyBootstrapped);
        }
        if b.nodes.is_empty() {
            return Err(MetaError::BadReplicas("no nodes"));
        }
        self.cluster_id = b.cluster_id;
        for n in &b.nodes {
            self.add_node(n)?;
        }
        self.check_replica_set(&b.meta_replicas, MAX_REPLICAS)?;
        self.meta_replicas = b.meta_replicas.clone();
        for s in &b.shards {
            self.add_shard(s.id, &s.replicas, &[])?;
            self.assign_slots(s.id, &s.slots)?;
        }
        Ok(())
    }

    fn add_node(&mut self, spec: &NodeSpec) -> Result<(), MetaError> {
        if spec.id == NodeId::ZERO || self.nodes.contains_key(&spec.id) {
            return Err(MetaError::BadNodeId(spec.id));
        }
        if self.nodes.len() >= MAX_NODES {
            return Err(MetaError::Limit("nodes"));
        }
        let clash = |n: &NodeInfo| {
            n.ip == spec.ip
                && [n.port, n.bus_port]
                    .iter()
                    .any(|p| *p == spec.port || *p == spec.bus_port)
        };
        if spec.port == spec.bus_port || self.nodes.values().any(clash) {
            return Err(MetaError::AddressInUse(spec.ip, spec.port));
        }
        let info = NodeInfo {
            id: spec.id,
            name: NodeName::derive(self.cluster_id, spec.id),
            ip: spec.ip,
            port: spec.port,
            bus_port: spec.bus_port,
            state: NodeState::Active,
        };
        self.nodes.insert(spec.id, info);
        Ok(())
    }

    fn remove_node(&mut self, id: NodeId) -> Result<(), MetaError> {
        if !self.nodes.contains_key(&id) {
            return Err(MetaError::UnknownNode(id));
        }
        if self.meta_replicas.contains(&id) || !self.groups_of(id).is_empty() {
            return Err(MetaError::NodeInUse(id));
        }
        self.nodes.remove(&id);
        Ok(())
    }

    /// Checks a voter set: non-empty, at most `max`, distinct, existing.
    fn check_replica_set(&self, ids: &[NodeId], max: usize) -> Result<(), MetaError> {
        if ids.is_empty() {
            return Err(MetaError::BadReplicas("empty"));
        }
        self.check_member_list(ids, max)
    }

    fn check_member_list(&self, ids: &[NodeId], max: usize) -> Result<(), MetaError> {
        if ids.len() > max {
            return Err(MetaError::BadReplicas("too many"));
        }
        for (i, id) in ids.iter().enumerate() {
            if !self.nodes.contains_key(id) {
                return Err(MetaError::UnknownNode(*id));
            }
            if ids[..i].contains(id) {
                return Err(MetaError::BadReplicas("duplicate node"));
            }
        }
        Ok(())
    }

    fn add_shard(
        &mut self,
        group: GroupId,
        replicas: &[NodeId],
        learners: &[NodeId],
    ) -> Result<(), MetaError> {
        if group == GroupId::METADATA || self.shards.contains_key(&group) {
            return Err(MetaError::BadGroupId(group));
        }
        if self.shards.len() >= MAX_SHARDS {
            return Err(MetaError::Limit("shards"));
        }
        self.shards.insert(
            group,
            ShardInfo {
                id: group,
                replicas: Vec::new(),
                learners: Vec::new(),
                slots: Vec::new(),
            },
        );
        self.set_replicas(group, replicas, learners)
    }

    fn set_replicas(
        &mut self,
        group: GroupId,
        replicas: &[NodeId],
        learners: &[NodeId],
    ) -> Result<(), MetaError> {
        self.check_replica_set(replicas, MAX_REPLICAS)?;
        self.check_member_list(learners, crate::map::MAX_LEARNERS)?;
        if learners.iter().any(|l| replicas.contains(l)) {
            return Err(MetaError::BadReplicas("learner is also a voter"));
        }
        let shard = self
            .shards
            .get_mut(&group)
            .ok_or(MetaError::UnknownShard(group))?;
        shard.replicas = replicas.to_vec();
        shard.learners = learners.to_vec();
        Ok(())
    }

    fn remove_shard(&mut self, group: GroupId) -> Result<(), MetaError> {
        let shard = self
            .shards
            .get(&group)
            .ok_or(MetaError::UnknownShard(group))?;
        if !shard.slots.is_empty() || self.migrations.values().any(|m| m.to == group) {
            return Err(MetaError::ShardNotEmpty(group));
        }
        self.shards.remove(&group);
        Ok(())
    }

    fn assign_slots(&mut self, group: GroupId, ranges: &[SlotRange]) -> Result<(), MetaError> {
        if !self.shards.contains_key(&group) {
            return Err(MetaError::UnknownShard(group));
        }
        if ranges.len() > MAX_RANGES_PER_SHARD {
            return Err(MetaError::BadRanges);
        }
        let mut merged = normalize_ranges(ranges).ok_or(MetaError::BadRanges)?;
        for r in &merged {
            if let Some(s) = r.slots().find(|s| self.slots[s.index()].is_some()) {
                return Err(MetaError::SlotTaken(s));
            }
        }
        let shard = self.shards.get_mut(&group).expect("checked above");
        merged.extend_from_slice(&shard.slots);
        let merged = normalize_ranges(&merged).expect("slots were unowned");
        if merged.len() > MAX_RANGES_PER_SHARD {
            return Err(MetaError::BadRanges);
        }
        for r in &merged {
            r.slots().for_each(|s| self.slots[s.index()] = Some(group));
        }
        shard.slots = merged;
        Ok(())
    }

    fn begin_migration(&mut self, slot: SlotId, to: GroupId) -> Result<(), MetaError> {
        let from = self.slot_owner(slot).ok_or(MetaError::Migration(slot))?;
        if from == to || self.migrations.contains_key(&slot) {
            return Err(MetaError::Migration(slot));
        }
        if !self.shards.contains_key(&to) {
            return Err(MetaError::UnknownShard(to));
        }
        if self.migrations.len() >= MAX_MIGRATIONS {
            return Err(MetaError::Limit("migrations"));
        }
        self.migrations
            .insert(slot, SlotMigration { slot, from, to });
        Ok(())
    }

    fn finish_migration(&mut self, slot: SlotId) -> Result<(), MetaError> {
        let m = self
            .migrations
            .remove(&slot)
            .ok_or(MetaError::Migration(slot))?;
        let from = self
            .shards
            .get_mut(&m.from)
            .expect("migration source exists");
        from.slots = remove_slot(&from.slots, slot);
        self.slots[slot.index()] = None;
        self.assign_slots(m.to, &[SlotRange::single(slot)])
    }
}

/// `ranges` without `slot` (still normalized).
fn remove_slot(ranges: &[SlotRange], slot: SlotId) -> Vec<SlotRange> {
    let mut out = Vec::with_capacity(ranges.len() + 1);
    for r in ranges {
        if !r.contains(slot) {
            out.push(*r);
            continue;
        }
        if r.start < slot {
            out.extend(SlotRange::new(r.start.get(), slot.get() - 1));
        }
        if slot < r.end {
            out.extend(SlotRange::new(slot.get() + 1, r.end.get()));
        }
    }
    out
}

// ---- encoding ---------------------------------------------------------

const TAG_BOOTSTRAP: u8 = 1;
const TAG_ADD_NODE: u8 = 2;
const TAG_REMOVE_NODE: u8 = 3;
const TAG_SET_NODE_STATE: u8 = 4;
const TAG_ADD_SHARD: u8 = 5;
const TAG_REMOVE_SHARD: u8 = 6;
const TAG_SET_SHARD_REPLICAS: u8 = 7;
const TAG_ASSIGN_SLOTS: u8 = 8;
const TAG_SET_META_REPLICAS: u8 = 9;
const TAG_BEGIN_MIGRATION: u8 = 10;
const TAG_FINISH_MIGRATION: u8 = 11;
const TAG_ABORT_MIGRATION: u8 = 12;

fn encode_spec(w: &mut Writer, n: &NodeSpec) {
    w.u64(n.id.get());
    encode_ip(w, &n.ip);
    w.u16(n.port);
    w.u16(n.bus_port);
}

fn decode_spec(r: &mut Reader<'_>) -> Result<NodeSpec, DecodeError> {
    Ok(NodeSpec {
        id: NodeId(r.u64()?),
        ip: decode_ip(r)?,
        port: r.u16()?,
        bus_port: r.u16()?,
    })
}

fn decode_slot(r: &mut Reader<'_>) -> Result<SlotId, DecodeError> {
    SlotId::try_new(r.u16()? as i64).ok_or(DecodeError::Invalid("slot"))
}

fn decode_state(r: &mut Reader<'_>) -> Result<NodeState, DecodeError> {
    match r.u8()? {
        0 => Ok(NodeState::Active),
        1 => Ok(NodeState::Leaving),
        tag => Err(DecodeError::UnknownTag {
            what: "node state",
            tag,
        }),
    }
}

impl MetaCommand {
    /// The versioned binary form (what the metadata group's log stores).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(COMMAND_VERSION);
        self.encode_body(&mut w);
        w.into_bytes()
    }

    fn encode_body(&self, w: &mut Writer) {
        match self {
            MetaCommand::Bootstrap(b) => {
                w.u8(TAG_BOOTSTRAP);
                w.u128(b.cluster_id.0);
                w.count(b.nodes.len());
                b.nodes.iter().for_each(|n| encode_spec(w, n));
                encode_ids(w, &b.meta_replicas);
                w.count(b.shards.len());
                for s in &b.shards {
                    w.u64(s.id.get());
                    encode_ids(w, &s.replicas);
                    encode_ranges(w, &s.slots);
                }
            }
            MetaCommand::AddNode(n) => {
                w.u8(TAG_ADD_NODE);
                encode_spec(w, n);
            }
            MetaCommand::RemoveNode(n) => {
                w.u8(TAG_REMOVE_NODE);
                w.u64(n.get());
            }
            MetaCommand::SetNodeState { node, state } => {
                w.u8(TAG_SET_NODE_STATE);
                w.u64(node.get());
                w.u8(match state {
                    NodeState::Active => 0,
                    NodeState::Leaving => 1,
                });
            }
            MetaCommand::AddShard { group, replicas } => {
                w.u8(TAG_ADD_SHARD);
                w.u64(group.get());
                encode_ids(w, replicas);
            }
            MetaCommand::RemoveShard(g) => {
                w.u8(TAG_REMOVE_SHARD);
                w.u64(g.get());
            }
            MetaCommand::SetShardReplicas {
                group,
                replicas,
                learners,
            } => {
                w.u8(TAG_SET_SHARD_REPLICAS);
                w.u64(group.get());
                encode_ids(w, replicas);
                encode_ids(w, learners);
            }
            MetaCommand::AssignSlots { group, ranges } => {
                w.u8(TAG_ASSIGN_SLOTS);
                w.u64(group.get());
                encode_ranges(w, ranges);
            }
            MetaCommand::SetMetaReplicas(r) => {
                w.u8(TAG_SET_META_REPLICAS);
                encode_ids(w, r);
            }
            MetaCommand::BeginSlotMigration { slot, to } => {
                w.u8(TAG_BEGIN_MIGRATION);
                w.u16(slot.get());
                w.u64(to.get());
            }
            MetaCommand::FinishSlotMigration(slot) => {
                w.u8(TAG_FINISH_MIGRATION);
                w.u16(slot.get());
            }
            MetaCommand::AbortSlotMigration(slot) => {
                w.u8(TAG_ABORT_MIGRATION);
                w.u16(slot.get());
            }
        }
    }

    /// Decodes a command; never panics, never allocates beyond the input's
    /// size and the named limits.
    pub fn decode(bytes: &[u8]) -> Result<MetaCommand, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = r.u8()?;
        if v != COMMAND_VERSION {
            return Err(DecodeError::UnknownVersion(v));
        }
        let cmd = Self::decode_body(&mut r)?;
        r.finish()?;
        Ok(cmd)
    }

    fn decode_body(r: &mut Reader<'_>) -> Result<MetaCommand, DecodeError> {
        let cmd = match r.u8()? {
            TAG_BOOTSTRAP => MetaCommand::Bootstrap(decode_bootstrap(r)?),
            TAG_ADD_NODE => MetaCommand::AddNode(decode_spec(r)?),
            TAG_REMOVE_NODE => MetaCommand::RemoveNode(NodeId(r.u64()?)),
            TAG_SET_NODE_STATE => MetaCommand::SetNodeState {
                node: NodeId(r.u64()?),
                state: decode_state(r)?,
            },
            TAG_ADD_SHARD => MetaCommand::AddShard {
                group: GroupId(r.u64()?),
                replicas: decode_ids(r, "replicas", MAX_REPLICAS)?,
            },
            TAG_REMOVE_SHARD => MetaCommand::RemoveShard(GroupId(r.u64()?)),
            TAG_SET_SHARD_REPLICAS => MetaCommand::SetShardReplicas {
                group: GroupId(r.u64()?),
                replicas: decode_ids(r, "replicas", MAX_REPLICAS)?,
                learners: decode_ids(r, "learners", crate::map::MAX_LEARNERS)?,
            },
            TAG_ASSIGN_SLOTS => MetaCommand::AssignSlots {
                group: GroupId(r.u64()?),
                ranges: decode_ranges(r)?,
            },
            TAG_SET_META_REPLICAS => {
                MetaCommand::SetMetaReplicas(decode_ids(r, "meta replicas", MAX_REPLICAS)?)
            }
            TAG_BEGIN_MIGRATION => MetaCommand::BeginSlotMigration {
                slot: decode_slot(r)?,
                to: GroupId(r.u64()?),
            },
            TAG_FINISH_MIGRATION => MetaCommand::FinishSlotMigration(decode_slot(r)?),
            TAG_ABORT_MIGRATION => MetaCommand::AbortSlotMigration(decode_slot(r)?),
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "meta command",
                    tag,
                })
            }
        };
        Ok(cmd)
    }
}

fn decode_bootstrap(r: &mut Reader<'_>) -> Result<Bootstrap, DecodeError> {
    let cluster_id = ClusterId(r.u128()?);
    let n = r.count("nodes", MAX_NODES, NODE_MIN_SIZE - 1)?;
    let nodes = (0..n)
        .map(|_| decode_spec(r))
        .collect::<Result<Vec<_>, _>>()?;
    let meta_replicas = decode_ids(r, "meta replicas", MAX_REPLICAS)?;
    let n = r.count("shards", MAX_SHARDS, 16)?;
    let mut shards = Vec::with_capacity(n);
    for _ in 0..n {
        shards.push(ShardSpec {
            id: GroupId(r.u64()?),
            replicas: decode_ids(r, "replicas", MAX_REPLICAS)?,
            slots: decode_ranges(r)?,
        });
    }
    Ok(Bootstrap {
        cluster_id,
        nodes,
        meta_replicas,
        shards,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    pub(crate) fn spec(id: u64, port: u16) -> NodeSpec {
        NodeSpec {
            id: NodeId(id),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
            bus_port: port + 10000,
        }
    }

    fn r(a: u16, b: u16) -> SlotRange {
        SlotRange::new(a, b).unwrap()
    }

    fn boot3() -> ClusterMap {
        let mut m = ClusterMap::new();
        m.apply(&MetaCommand::Bootstrap(Bootstrap {
            cluster_id: ClusterId(42),
            nodes: vec![spec(1, 7001), spec(2, 7002), spec(3, 7003)],
            meta_replicas: vec![NodeId(1), NodeId(2), NodeId(3)],
            shards: vec![ShardSpec {
                id: GroupId(1),
                replicas: vec![NodeId(1), NodeId(2), NodeId(3)],
                slots: vec![r(0, 8191)],
            }],
        }))
        .unwrap();
        m
    }

    #[test]
    fn bootstrap_sets_epoch_one_and_owns_slots() {
        let m = boot3();
        assert_eq!(m.epoch(), 1);
        assert_eq!(m.slot_owner(SlotId::new(0)), Some(GroupId(1)));
        assert_eq!(m.slot_owner(SlotId::new(8192)), None);
        assert_eq!(m.assigned_slots(), 8192);
        assert_eq!(m.node(NodeId(2)).unwrap().port, 7002);
    }

    #[test]
    fn commands_before_bootstrap_and_second_bootstrap_fail() {
        let mut m = ClusterMap::new();
        assert_eq!(
            m.apply(&MetaCommand::RemoveNode(NodeId(1))),
            Err(MetaError::NotBootstrapped)
        );
        let mut m = boot3();
        let b = MetaCommand::Bootstrap(Bootstrap {
            cluster_id: ClusterId(1),
            nodes: vec![spec(9, 9000)],
            meta_replicas: vec![NodeId(9)],
            shards: vec![],
        });
        assert_eq!(m.apply(&b), Err(MetaError::AlreadyBootstrapped));
        assert_eq!(m.epoch(), 1);
    }

    #[test]
    fn slot_owned_by_exactly_one_shard() {
        let mut m = boot3();
        m.apply(&MetaCommand::AddShard {
            group: GroupId(2),
            replicas: vec![NodeId(2), NodeId(3), NodeId(1)],
        })
        .unwrap();
        let before = m.clone();
        let err = m.apply(&MetaCommand::AssignSlots {
            group: GroupId(2),
            ranges: vec![r(8000, 9000)],
        });
        assert_eq!(err, Err(MetaError::SlotTaken(SlotId::new(8000))));
        assert_eq!(m, before, "failed command changes nothing");
        m.apply(&MetaCommand::AssignSlots {
            group: GroupId(2),
            ranges: vec![r(8192, 16383)],
        })
        .unwrap();
        assert_eq!(m.epoch(), 3);
        assert_eq!(m.assigned_slots(), 16384);
        // Overlapping ranges in one command are rejected.
        m.apply(&MetaCommand::AddShard {
            group: GroupId(3),
            replicas: vec![NodeId(1)],
        })
        .unwrap();
        assert_eq!(
            m.apply(&MetaCommand::AssignSlots {
                group: GroupId(3),
                ranges: vec![r(1, 5), r(5, 6)]
            }),
            Err(MetaError::BadRanges)
        );
    }

    #[test]
    fn replicas_must_be_distinct_existing_nodes() {
        let mut m = boot3();
        let bad = |replicas: Vec<u64>| MetaCommand::SetShardReplicas {
            group: GroupId(1),
            replicas: replicas.into_iter().map(NodeId).collect(),
            learners: vec![],
        };
        assert_eq!(
            m.apply(&bad(vec![1, 1, 2])),
            Err(MetaError::BadReplicas("duplicate node"))
        );
        assert_eq!(
            m.apply(&bad(vec![1, 9])),
            Err(MetaError::UnknownNode(NodeId(9)))
        );
        assert_eq!(m.apply(&bad(vec![])), Err(MetaError::BadReplicas("empty")));
        assert_eq!(m.epoch(), 1);
        m.apply(&bad(vec![3, 1])).unwrap();
        assert_eq!(
            m.shard(GroupId(1)).unwrap().replicas,
            vec![NodeId(3), NodeId(1)]
        );
    }

    #[test]
    fn node_add_remove_rules() {
        let mut m = boot3();
        assert_eq!(
            m.apply(&MetaCommand::AddNode(spec(4, 7001))),
            Err(MetaError::AddressInUse(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                7001
            ))
        );
        assert_eq!(
            m.apply(&MetaCommand::AddNode(spec(0, 7009))),
            Err(MetaError::BadNodeId(NodeId(0)))
        );
        m.apply(&MetaCommand::AddNode(spec(4, 7004))).unwrap();
        assert_eq!(
            m.apply(&MetaCommand::RemoveNode(NodeId(1))),
            Err(MetaError::NodeInUse(NodeId(1)))
        );
        m.apply(&MetaCommand::SetNodeState {
            node: NodeId(4),
            state: NodeState::Leaving,
        })
        .unwrap();
        assert_eq!(m.node(NodeId(4)).unwrap().state, NodeState::Leaving);
        m.apply(&MetaCommand::RemoveNode(NodeId(4))).unwrap();
        assert!(m.node(NodeId(4)).is_none());
        assert_eq!(m.epoch(), 4);
    }

    #[test]
    fn migration_moves_one_slot() {
        let mut m = boot3();
        m.apply(&MetaCommand::AddShard {
            group: GroupId(2),
            replicas: vec![NodeId(2)],
        })
        .unwrap();
        let s = SlotId::new(100);
        m.apply(&MetaCommand::BeginSlotMigration {
            slot: s,
            to: GroupId(2),
        })
        .unwrap();
        assert_eq!(
            m.slot_migration(s).copied(),
            Some(SlotMigration {
                slot: s,
                from: GroupId(1),
                to: GroupId(2)
            })
        );
        assert_eq!(
            m.apply(&MetaCommand::RemoveShard(GroupId(2))),
            Err(MetaError::ShardNotEmpty(GroupId(2)))
        );
        m.apply(&MetaCommand::FinishSlotMigration(s)).unwrap();
        assert_eq!(m.slot_owner(s), Some(GroupId(2)));
        assert_eq!(
            m.shard(GroupId(1)).unwrap().slots,
            vec![r(0, 99), r(101, 8191)]
        );
        assert!(m.slot_migration(s).is_none());
        assert_eq!(
            m.apply(&MetaCommand::AbortSlotMigration(s)),
            Err(MetaError::Migration(s))
        );
        m.check_invariants().unwrap();
    }

    #[test]
    fn snapshot_roundtrip() {
        let mut m = boot3();
        m.apply(&MetaCommand::AddShard {
            group: GroupId(7),
            replicas: vec![NodeId(2)],
        })
        .unwrap();
        m.apply(&MetaCommand::BeginSlotMigration {
            slot: SlotId::new(5),
            to: GroupId(7),
        })
        .unwrap();
        let back = ClusterMap::decode_snapshot(&m.encode_snapshot()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn snapshot_with_overlapping_shards_is_rejected() {
        let mut m = boot3();
        m.apply(&MetaCommand::AddShard {
            group: GroupId(2),
            replicas: vec![NodeId(2)],
        })
        .unwrap();
        // Forge a map where two shards own slot 0.
        m.shards.get_mut(&GroupId(2)).unwrap().slots = vec![r(0, 0)];
        let bytes = m.encode_snapshot();
        assert!(matches!(
            ClusterMap::decode_snapshot(&bytes),
            Err(DecodeError::Invalid(_))
        ));
    }
}

//! The cluster map: which nodes exist, which shards (Raft groups) exist with
//! which replicas, which shard owns each of the 16384 slots, and the config
//! epoch that orders versions of all of this.
//!
//! Why it looks like this: the map is the state machine of the metadata Raft
//! group, so it is plain data changed only by [`crate::MetaCommand`]s through
//! [`ClusterMap::apply`]; every node keeps a cached copy and compares epochs
//! (carried by gossip) to know when its copy is stale. Slot ownership is kept
//! twice on purpose: as normalized ranges per shard (the compact, encoded
//! truth) and as a 16384-entry table (O(1) lookup on every command); the
//! invariant checker [`ClusterMap::check_invariants`] ties them together.
//!
//! Online slot moves and node add/remove are designed for but not driven yet:
//! [`SlotMigration`] records a slot being moved between shards (Redis's
//! MIGRATING/IMPORTING pair), and [`NodeState::Leaving`] marks a node being
//! drained.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use slotraft_types::{GroupId, NodeId, SlotId, SLOT_COUNT};

use crate::wire::{DecodeError, Reader, Writer};

/// Most nodes a cluster may have (Redis suggests ~1000 as its own limit).
pub const MAX_NODES: usize = 1000;
/// Most data shards (one per slot at the extreme).
pub const MAX_SHARDS: usize = SLOT_COUNT as usize;
/// Most voting replicas per shard.
pub const MAX_REPLICAS: usize = 9;
/// Most learners per shard.
pub const MAX_LEARNERS: usize = 9;
/// Most disjoint slot ranges one shard can own (every other slot).
pub const MAX_RANGES_PER_SHARD: usize = SLOT_COUNT as usize / 2;
/// Most slot migrations in flight.
pub const MAX_MIGRATIONS: usize = SLOT_COUNT as usize;

/// Version byte of an encoded map snapshot.
pub const SNAPSHOT_VERSION: u8 = 1;

/// A cluster's identity, chosen once at creation. Nodes and messages of
/// another cluster are rejected by comparing it.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ClusterId(pub u128);

impl fmt::Debug for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterId({:032x})", self.0)
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// A Redis-style 40-hex-digit node name (what `CLUSTER MYID` returns),
/// derived deterministically from the cluster id and the [`NodeId`], so every
/// replica of the map computes the same name without storing randomness.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeName([u8; 40]);

/// SplitMix64's finalizer: a bijective 64-bit mixer.
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl NodeName {
    /// The name of `node` in cluster `cluster`.
    pub fn derive(cluster: ClusterId, node: NodeId) -> NodeName {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let lo = cluster.0 as u64;
        let hi = (cluster.0 >> 64) as u64;
        let mut out = [0u8; 40];
        for (i, chunk) in out.chunks_mut(16).enumerate() {
            let salt = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let word = mix64(lo ^ mix64(hi ^ mix64(node.get() ^ salt)));
            for (j, c) in chunk.iter_mut().enumerate() {
                *c = HEX[((word >> (60 - 4 * j)) & 0xf) as usize];
            }
        }
        NodeName(out)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("node names are ASCII hex")
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeName({})", self.as_str())
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lifecycle of a node in the map.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// A normal member.
    Active,
    /// Being drained before removal: no new replicas are placed on it
    /// (reserved for node removal, not driven yet).
    Leaving,
}

impl NodeState {
    fn tag(self) -> u8 {
        match self {
            NodeState::Active => 0,
            NodeState::Leaving => 1,
        }
    }

    fn from_tag(t: u8) -> Result<NodeState, DecodeError> {
        match t {
            0 => Ok(NodeState::Active),
            1 => Ok(NodeState::Leaving),
            tag => Err(DecodeError::UnknownTag {
                what: "node state",
                tag,
            }),
        }
    }
}

/// One node (one `slotraft` process).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub id: NodeId,
    /// Derived from cluster id + `id`; see [`NodeName::derive`].
    pub name: NodeName,
    pub ip: IpAddr,
    /// Client (RESP) port.
    pub port: u16,
    /// Cluster bus port (Raft + gossip); by default `port + 10000`.
    pub bus_port: u16,
    pub state: NodeState,
}

/// The default bus port for a client port, as Redis: `port + 10000`
/// (wrapping into the valid range is an error the caller must avoid).
pub fn default_bus_port(port: u16) -> Option<u16> {
    port.checked_add(10000)
}

/// An inclusive range of slots, `start..=end`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotRange {
    pub start: SlotId,
    pub end: SlotId,
}

impl SlotRange {
    /// Builds a range; `None` if `start > end` or out of range.
    pub fn new(start: u16, end: u16) -> Option<SlotRange> {
        if start <= end && end < SLOT_COUNT {
            Some(SlotRange {
                start: SlotId::new(start),
                end: SlotId::new(end),
            })
        } else {
            None
        }
    }

    /// The range of one slot.
    pub fn single(slot: SlotId) -> SlotRange {
        SlotRange {
            start: slot,
            end: slot,
        }
    }

    /// Every slot.
    pub fn all() -> SlotRange {
        SlotRange::new(0, SLOT_COUNT - 1).expect("valid")
    }

    pub fn len(&self) -> usize {
        (self.end.get() - self.start.get()) as usize + 1
    }

    /// A range is never empty; present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn contains(&self, slot: SlotId) -> bool {
        self.start <= slot && slot <= self.end
    }

    pub fn slots(&self) -> impl Iterator<Item = SlotId> {
        (self.start.get()..=self.end.get()).map(SlotId::new)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u16(self.start.get());
        w.u16(self.end.get());
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<SlotRange, DecodeError> {
        let (s, e) = (r.u16()?, r.u16()?);
        SlotRange::new(s, e).ok_or(DecodeError::Invalid("slot range"))
    }
}

impl fmt::Display for SlotRange {
    /// Redis's `CLUSTER NODES` spelling: `5` or `0-5460`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// Sorts and merges ranges into the canonical form: ascending, disjoint and
/// non-adjacent. Returns `None` if two ranges overlap.
pub fn normalize_ranges(ranges: &[SlotRange]) -> Option<Vec<SlotRange>> {
    let mut sorted = ranges.to_vec();
    sorted.sort();
    let mut out: Vec<SlotRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start <= last.end => return None,
            Some(last) if r.start.get() == last.end.get() + 1 => last.end = r.end,
            _ => out.push(r),
        }
    }
    Some(out)
}

/// One data shard: one Raft group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardInfo {
    pub id: GroupId,
    /// Voting members, each on a distinct node. The first one is the
    /// preferred leader (used by placement and when no leader is known).
    pub replicas: Vec<NodeId>,
    /// Non-voting members catching up (reserved for online moves).
    pub learners: Vec<NodeId>,
    /// Owned slots, normalized (see [`normalize_ranges`]).
    pub slots: Vec<SlotRange>,
}

impl ShardInfo {
    /// Number of slots owned.
    pub fn slot_count(&self) -> usize {
        self.slots.iter().map(SlotRange::len).sum()
    }

    /// Whether `node` is a voter or learner of this shard.
    pub fn hosts(&self, node: NodeId) -> bool {
        self.replicas.contains(&node) || self.learners.contains(&node)
    }
}

/// A slot being moved from one shard to another (Redis's MIGRATING on the
/// source / IMPORTING on the target). Reserved: recorded and shown, the move
/// itself is not driven yet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SlotMigration {
    pub slot: SlotId,
    pub from: GroupId,
    pub to: GroupId,
}

/// The authoritative cluster configuration (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterMap {
    pub(crate) cluster_id: ClusterId,
    pub(crate) epoch: u64,
    pub(crate) nodes: BTreeMap<NodeId, NodeInfo>,
    /// Voters of the metadata group ([`GroupId::METADATA`]).
    pub(crate) meta_replicas: Vec<NodeId>,
    pub(crate) shards: BTreeMap<GroupId, ShardInfo>,
    /// `slots[s]` = owner of slot `s`; derived from `shards[*].slots`.
    pub(crate) slots: Vec<Option<GroupId>>,
    pub(crate) migrations: BTreeMap<SlotId, SlotMigration>,
}

impl Default for ClusterMap {
    fn default() -> Self {
        ClusterMap::new()
    }
}

impl ClusterMap {
    /// The empty map (epoch 0) every node starts from before `Bootstrap`.
    pub fn new() -> ClusterMap {
        ClusterMap {
            cluster_id: ClusterId(0),
            epoch: 0,
            nodes: BTreeMap::new(),
            meta_replicas: Vec::new(),
            shards: BTreeMap::new(),
            slots: vec![None; SLOT_COUNT as usize],
            migrations: BTreeMap::new(),
        }
    }

    pub fn cluster_id(&self) -> ClusterId {
        self.cluster_id
    }

    /// The config epoch: 0 before bootstrap, +1 on every applied change.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn is_bootstrapped(&self) -> bool {
        self.epoch > 0
    }

    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.values()
    }

    pub fn node(&self, id: NodeId) -> Option<&NodeInfo> {
        self.nodes.get(&id)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Finds a node by its Redis-style name (e.g. for `CLUSTER FORGET`-like
    /// admin commands).
    pub fn node_by_name(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.values().find(|n| n.name.as_str() == name)
    }

    pub fn meta_replicas(&self) -> &[NodeId] {
        &self.meta_replicas
    }

    pub fn shards(&self) -> impl Iterator<Item = &ShardInfo> {
        self.shards.values()
    }

    pub fn shard(&self, id: GroupId) -> Option<&ShardInfo> {
        self.shards.get(&id)
    }

    /// The shard owning `slot`, if assigned.
    pub fn slot_owner(&self, slot: SlotId) -> Option<GroupId> {
        self.slots[slot.index()]
    }

    /// Number of assigned slots.
    pub fn assigned_slots(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// The migration of `slot`, if one is in progress.
    pub fn slot_migration(&self, slot: SlotId) -> Option<&SlotMigration> {
        self.migrations.get(&slot)
    }

    pub fn migrations(&self) -> impl Iterator<Item = &SlotMigration> {
        self.migrations.values()
    }

    /// Groups (shards) of which `node` is a voter or learner, ascending.
    pub fn groups_of(&self, node: NodeId) -> Vec<GroupId> {
        self.shards
            .values()
            .filter(|s| s.hosts(node))
            .map(|s| s.id)
            .collect()
    }

    /// Rebuilds the slot table from the shards' ranges.
    pub(crate) fn rebuild_slot_table(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        for shard in self.shards.values() {
            for r in &shard.slots {
                for s in r.slots() {
                    self.slots[s.index()] = Some(shard.id);
                }
            }
        }
    }

    /// Checks every structural invariant; `Err` names the first broken one.
    /// Called after every `apply` in debug builds and on snapshot decode.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        self.check_nodes()?;
        self.check_shards()?;
        self.check_slot_table()?;
        self.check_migrations()
    }

    fn check_nodes(&self) -> Result<(), &'static str> {
        if self.nodes.len() > MAX_NODES {
            return Err("too many nodes");
        }
        let mut addrs = BTreeSet::new();
        for (id, n) in &self.nodes {
            if *id == NodeId::ZERO || n.id != *id {
                return Err("node id");
            }
            if n.name != NodeName::derive(self.cluster_id, n.id) {
                return Err("node name");
            }
            if !addrs.insert((n.ip, n.port)) {
                return Err("two nodes share an address");
            }
        }
        distinct_existing(&self.meta_replicas, &self.nodes, MAX_REPLICAS)
            .map_err(|_| "metadata replicas")?;
        if self.is_bootstrapped() && self.meta_replicas.is_empty() {
            return Err("metadata group has no replica");
        }
        Ok(())
    }

    fn check_shards(&self) -> Result<(), &'static str> {
        if self.shards.len() > MAX_SHARDS {
            return Err("too many shards");
        }
        for (g, s) in &self.shards {
            if *g == GroupId::METADATA || s.id != *g {
                return Err("shard id");
            }
            if s.replicas.is_empty() {
                return Err("shard without replicas");
            }
            distinct_existing(&s.replicas, &self.nodes, MAX_REPLICAS)
                .map_err(|_| "shard replicas")?;
            distinct_existing(&s.learners, &self.nodes, MAX_LEARNERS)
                .map_err(|_| "shard learners")?;
            if s.learners.iter().any(|l| s.replicas.contains(l)) {
                return Err("learner is also a voter");
            }
            if s.slots.len() > MAX_RANGES_PER_SHARD
                || normalize_ranges(&s.slots).as_deref() != Some(&s.slots[..])
            {
                return Err("shard ranges not normalized");
            }
        }
        Ok(())
    }

    fn check_slot_table(&self) -> Result<(), &'static str> {
        let mut expect = vec![None; SLOT_COUNT as usize];
        for s in self.shards.values() {
            for r in &s.slots {
                for slot in r.slots() {
                    if expect[slot.index()].replace(s.id).is_some() {
                        return Err("slot owned by two shards");
                    }
                }
            }
        }
        if expect != self.slots {
            return Err("slot table out of sync");
        }
        Ok(())
    }

    fn check_migrations(&self) -> Result<(), &'static str> {
        for (slot, m) in &self.migrations {
            if m.slot != *slot
                || self.slot_owner(m.slot) != Some(m.from)
                || m.from == m.to
                || !self.shards.contains_key(&m.to)
            {
                return Err("migration");
            }
        }
        Ok(())
    }

    /// The whole map as bytes (the metadata group's snapshot).
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u8(SNAPSHOT_VERSION);
        w.u128(self.cluster_id.0);
        w.u64(self.epoch);
        w.count(self.nodes.len());
        for n in self.nodes.values() {
            encode_node(&mut w, n);
        }
        encode_ids(&mut w, &self.meta_replicas);
        w.count(self.shards.len());
        for s in self.shards.values() {
            encode_shard(&mut w, s);
        }
        w.count(self.migrations.len());
        for m in self.migrations.values() {
            w.u16(m.slot.get());
            w.u64(m.from.get());
            w.u64(m.to.get());
        }
        w.into_bytes()
    }

    /// Decodes and validates a snapshot; never panics on arbitrary bytes.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<ClusterMap, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = r.u8()?;
        if v != SNAPSHOT_VERSION {
            return Err(DecodeError::UnknownVersion(v));
        }
        let mut map = ClusterMap::new();
        map.cluster_id = ClusterId(r.u128()?);
        map.epoch = r.u64()?;
        let n = r.count("nodes", MAX_NODES, NODE_MIN_SIZE)?;
        for _ in 0..n {
            let node = decode_node(&mut r, map.cluster_id)?;
            if map.nodes.insert(node.id, node).is_some() {
                return Err(DecodeError::Invalid("duplicate node"));
            }
        }
        map.meta_replicas = decode_ids(&mut r, "meta replicas", MAX_REPLICAS)?;
        let n = r.count("shards", MAX_SHARDS, 8)?;
        for _ in 0..n {
            let s = decode_shard(&mut r)?;
            if map.shards.insert(s.id, s).is_some() {
                return Err(DecodeError::Invalid("duplicate shard"));
            }
        }
        let n = r.count("migrations", MAX_MIGRATIONS, 18)?;
        for _ in 0..n {
            let slot = SlotId::try_new(r.u16()? as i64).ok_or(DecodeError::Invalid("slot"))?;
            let (from, to) = (GroupId(r.u64()?), GroupId(r.u64()?));
            map.migrations
                .insert(slot, SlotMigration { slot, from, to });
        }
        r.finish()?;
        // Rebuild the index only if ranges cannot overlap, else the table
        // check reports it.
        map.rebuild_slot_table();
        map.check_invariants().map_err(DecodeError::Invalid)?;
        Ok(map)
    }
}

fn distinct_existing(
    ids: &[NodeId],
    nodes: &BTreeMap<NodeId, NodeInfo>,
    max: usize,
) -> Result<(), ()> {
    let set: BTreeSet<_> = ids.iter().collect();
    if ids.len() > max || set.len() != ids.len() || ids.iter().any(|i| !nodes.contains_key(i)) {
        return Err(());
    }
    Ok(())
}

/// Smallest encoded node: id 8 + ip tag 1 + v4 4 + ports 4 + state 1.
pub(crate) const NODE_MIN_SIZE: usize = 18;

pub(crate) fn encode_ip(w: &mut Writer, ip: &IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            w.u8(4);
            v4.octets().iter().for_each(|b| w.u8(*b));
        }
        IpAddr::V6(v6) => {
            w.u8(6);
            v6.octets().iter().for_each(|b| w.u8(*b));
        }
    }
}

pub(crate) fn decode_ip(r: &mut Reader<'_>) -> Result<IpAddr, DecodeError> {
    match r.u8()? {
        4 => {
            let mut o = [0u8; 4];
            for b in &mut o {
                *b = r.u8()?;
            }
            Ok(IpAddr::from(o))
        }
        6 => {
            let mut o = [0u8; 16];
            for b in &mut o {
                *b = r.u8()?;
            }
            Ok(IpAddr::from(o))
        }
        tag => Err(DecodeError::UnknownTag { what: "ip", tag }),
    }
}

fn encode_node(w: &mut Writer, n: &NodeInfo) {
    w.u64(n.id.get());
    encode_ip(w, &n.ip);
    w.u16(n.port);
    w.u16(n.bus_port);
    w.u8(n.state.tag());
}

fn decode_node(r: &mut Reader<'_>, cluster: ClusterId) -> Result<NodeInfo, DecodeError> {
    let id = NodeId(r.u64()?);
    let ip = decode_ip(r)?;
    let port = r.u16()?;
    let bus_port = r.u16()?;
    let state = NodeState::from_tag(r.u8()?)?;
    Ok(NodeInfo {
        id,
        name: NodeName::derive(cluster, id),
        ip,
        port,
        bus_port,
        state,
    })
}

pub(crate) fn encode_ids(w: &mut Writer, ids: &[NodeId]) {
    w.count(ids.len());
    ids.iter().for_each(|i| w.u64(i.get()));
}

pub(crate) fn decode_ids(
    r: &mut Reader<'_>,
    what: &'static str,
    max: usize,
) -> Result<Vec<NodeId>, DecodeError> {
    let n = r.count(what, max, 8)?;
    (0..n).map(|_| Ok(NodeId(r.u64()?))).collect()
}

pub(crate) fn encode_ranges(w: &mut Writer, ranges: &[SlotRange]) {
    w.count(ranges.len());
    ranges.iter().for_each(|r| r.encode(w));
}

pub(crate) fn decode_ranges(r: &mut Reader<'_>) -> Result<Vec<SlotRange>, DecodeError> {
    let n = r.count("slot ranges", MAX_RANGES_PER_SHARD, 4)?;
    (0..n).map(|_| SlotRange::decode(r)).collect()
}

fn encode_shard(w: &mut Writer, s: &ShardInfo) {
    w.u64(s.id.get());
    encode_ids(w, &s.replicas);
    encode_ids(w, &s.learners);
    encode_ranges(w, &s.slots);
}

fn decode_shard(r: &mut Reader<'_>) -> Result<ShardInfo, DecodeError> {
    Ok(ShardInfo {
        id: GroupId(r.u64()?),
        replicas: decode_ids(r, "replicas", MAX_REPLICAS)?,
        learners: decode_ids(r, "learners", MAX_LEARNERS)?,
        slots: decode_ranges(r)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_deterministic_hex_and_distinct() {
        let c = ClusterId(0x1234_5678_9abc_def0_0fed_cba9_8765_4321);
        let a = NodeName::derive(c, NodeId(1));
        assert_eq!(a, NodeName::derive(c, NodeId(1)));
        assert_eq!(a.as_str().len(), 40);
        assert!(a
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let names: BTreeSet<_> = (1..500).map(|i| NodeName::derive(c, NodeId(i))).collect();
        assert_eq!(names.len(), 499);
        assert_ne!(a, NodeName::derive(ClusterId(7), NodeId(1)));
    }

    #[test]
    fn ranges_normalize_and_display() {
        let r = |a, b| SlotRange::new(a, b).unwrap();
        assert_eq!(
            normalize_ranges(&[r(10, 20), r(0, 9), r(30, 30)]),
            Some(vec![r(0, 20), r(30, 30)])
        );
        assert_eq!(normalize_ranges(&[r(0, 10), r(10, 12)]), None);
        assert_eq!(r(0, 5460).to_string(), "0-5460");
        assert_eq!(r(7, 7).to_string(), "7");
        assert_eq!(r(0, 5460).len(), 5461);
        assert!(SlotRange::new(5, 4).is_none());
        assert!(SlotRange::new(0, 16384).is_none());
    }

    #[test]
    fn empty_map_is_valid_and_roundtrips() {
        let m = ClusterMap::new();
        m.check_invariants().unwrap();
        assert_eq!(
            ClusterMap::decode_snapshot(&m.encode_snapshot()).unwrap(),
            m
        );
        assert_eq!(m.assigned_slots(), 0);
    }
}

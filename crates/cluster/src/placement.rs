//! Where shards live and who leads them.
//!
//! Why here and pure: placement decides the initial map (`slotraft cluster
//! create`) and which leaderships to transfer; both must be reproducible from
//! their inputs (tests, and the admin tool printing a plan before doing it).
//!
//! - [`plan_cluster`]: replicas of each shard on distinct nodes, spread so that
//!   every node hosts the same number of replicas (±1) and is the preferred
//!   leader (first replica) of the same number of shards (±1); slots split into
//!   contiguous ranges exactly as `redis-cli --cluster create` splits them.
//! - [`plan_leader_balance`]: leadership transfers so that each node leads
//!   floor or ceil(shards / nodes) shards, moving as few leaderships as it can.

use std::collections::BTreeMap;
use std::fmt;

use slotraft_types::{GroupId, NodeId, SLOT_COUNT};

use crate::command::{Bootstrap, NodeSpec, ShardSpec};
use crate::map::{ClusterId, ClusterMap, SlotRange, MAX_REPLICAS, MAX_SHARDS};

/// Default number of voting replicas per shard.
pub const DEFAULT_REPLICAS: usize = 3;
/// Voters of the metadata group when enough nodes exist (it tolerates two
/// failures; more voters would only slow its rare writes).
pub const META_REPLICAS: usize = 5;

/// Why no plan could be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlacementError {
    NoNodes,
    /// More replicas per shard than nodes (replicas must be on distinct nodes).
    NotEnoughNodes {
        replicas: usize,
        nodes: usize,
    },
    /// Zero, or more shards than slots / the shard limit.
    BadShardCount(usize),
    /// Zero or more than [`MAX_REPLICAS`].
    BadReplicaCount(usize),
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlacementError::NoNodes => write!(f, "no nodes"),
            PlacementError::NotEnoughNodes { replicas, nodes } => {
                write!(
                    f,
                    "{replicas} replicas per shard need at least {replicas} nodes, got {nodes}"
                )
            }
            PlacementError::BadShardCount(n) => write!(f, "invalid shard count {n}"),
            PlacementError::BadReplicaCount(n) => write!(f, "invalid replica count {n}"),
        }
    }
}

impl std::error::Error for PlacementError {}

/// The slot ranges `redis-cli --cluster create` gives `n` masters: equal
/// contiguous ranges, the rounding spread as redis-cli spreads it
/// (3 → 0-5460, 5461-10922, 10923-16383).
pub fn split_slots(n: usize) -> Vec<SlotRange> {
    assert!(n > 0 && n <= SLOT_COUNT as usize, "shard count in range");
    let per = SLOT_COUNT as f64 / n as f64;
    let mut out = Vec::with_capacity(n);
    let (mut first, mut cursor) = (0i64, 0f64);
    for i in 0..n {
        let mut last = (cursor + per - 1.0).round() as i64;
        if last > SLOT_COUNT as i64 - 1 || i == n - 1 {
            last = SLOT_COUNT as i64 - 1;
        }
        if last < first {
            last = first;
        }
        out.push(SlotRange::new(first as u16, last as u16).expect("in range"));
        first = last + 1;
        cursor += per;
    }
    out
}

/// Plans a new cluster: `shards` shards (default: one per node, so each node
/// can lead one), each with `replicas` voters on distinct nodes, group ids
/// `1..=shards`, and the metadata group on the first [`META_REPLICAS`]
/// nodes (by id; all of them if fewer).
pub fn plan_cluster(
    cluster_id: ClusterId,
    nodes: &[NodeSpec],
    shards: Option<usize>,
    replicas: usize,
) -> Result<Bootstrap, PlacementError> {
    if nodes.is_empty() {
        return Err(PlacementError::NoNodes);
    }
    if replicas == 0 || replicas > MAX_REPLICAS {
        return Err(PlacementError::BadReplicaCount(replicas));
    }
    if replicas > nodes.len() {
        return Err(PlacementError::NotEnoughNodes {
            replicas,
            nodes: nodes.len(),
        });
    }
    let shard_count = shards.unwrap_or(nodes.len());
    if shard_count == 0 || shard_count > MAX_SHARDS {
        return Err(PlacementError::BadShardCount(shard_count));
    }
    let mut sorted: Vec<NodeSpec> = nodes.to_vec();
    sorted.sort_by_key(|n| n.id);
    let ids: Vec<NodeId> = sorted.iter().map(|n| n.id).collect();
    let ranges = split_slots(shard_count);
    let mut load = vec![0usize; ids.len()];
    let mut leads = vec![0usize; ids.len()];
    let shard_specs = ranges
        .into_iter()
        .enumerate()
        .map(|(i, range)| ShardSpec {
            id: GroupId(i as u64 + 1),
            replicas: place_shard(i, replicas, &mut load, &mut leads)
                .into_iter()
                .map(|j| ids[j])
                .collect(),
            slots: vec![range],
        })
        .collect();
    Ok(Bootstrap {
        cluster_id,
        meta_replicas: ids[..ids.len().min(META_REPLICAS)].to_vec(),
        nodes: sorted,
        shards: shard_specs,
    })
}

/// Picks `replicas` distinct node indexes for shard `i`: first the node that
/// leads fewest shards, then the least loaded; ties broken by rotating from
/// `i`, so the choice is deterministic and spreads evenly.
fn place_shard(i: usize, replicas: usize, load: &mut [usize], leads: &mut [usize]) -> Vec<usize> {
    let n = load.len();
    let rot = |j: usize| (j + n - i % n) % n;
    let mut chosen = Vec::with_capacity(replicas);
    let leader = (0..n)
        .min_by_key(|&j| (leads[j], load[j], rot(j)))
        .expect("at least one node");
    chosen.push(leader);
    leads[leader] += 1;
    load[leader] += 1;
    while chosen.len() < replicas {
        let j = (0..n)
            .filter(|j| !chosen.contains(j))
            .min_by_key(|&j| (load[j], rot(j)))
            .expect("replicas <= nodes");
        chosen.push(j);
        load[j] += 1;
    }
    chosen
}

/// Leadership transfers `(group, new leader)` that balance leaders: each node
/// that hosts voters ends up leading floor or ceil(led shards / nodes) shards
/// when the replica placement allows it. Shards without a current leader are
/// left alone (nothing to transfer). Each step moves one leadership from the
/// node leading most to a voter of that shard leading at least two fewer, so
/// the result moves few leaderships and never makes balance worse.
pub fn plan_leader_balance(
    map: &ClusterMap,
    current_leaders: &BTreeMap<GroupId, NodeId>,
) -> Vec<(GroupId, NodeId)> {
    let mut leader: BTreeMap<GroupId, NodeId> = current_leaders
        .iter()
        .filter(|(g, n)| map.shard(**g).is_some_and(|s| s.replicas.contains(n)))
        .map(|(g, n)| (*g, *n))
        .collect();
    let mut count: BTreeMap<NodeId, usize> = map
        .shards()
        .flat_map(|s| s.replicas.iter().map(|n| (*n, 0)))
        .collect();
    leader
        .values()
        .for_each(|n| *count.get_mut(n).expect("voter") += 1);
    // Each step lowers the sum of squared counts, so this terminates; the
    // bound is a safety net.
    let max_steps = leader.len() * count.len() + 1;
    for _ in 0..max_steps {
        match best_move(map, &leader, &count) {
            Some((g, from, to)) => {
                leader.insert(g, to);
                *count.get_mut(&from).expect("counted") -= 1;
                *count.get_mut(&to).expect("counted") += 1;
            }
            None => break,
        }
    }
    leader
        .into_iter()
        .filter(|(g, n)| current_leaders.get(g) != Some(n))
        .collect()
}

/// The move that helps most: from the busiest leader to the least busy voter
/// of one of its shards, if the difference is at least two.
fn best_move(
    map: &ClusterMap,
    leader: &BTreeMap<GroupId, NodeId>,
    count: &BTreeMap<NodeId, usize>,
) -> Option<(GroupId, NodeId, NodeId)> {
    let mut best: Option<(usize, GroupId, NodeId, NodeId)> = None;
    for (g, from) in leader {
        let shard = map.shard(*g).expect("filtered to existing shards");
        for to in shard.replicas.iter().filter(|n| *n != from) {
            let (cf, ct) = (count[from], count[to]);
            if cf >= ct + 2 {
                let gain = cf - ct;
                let better = match &best {
                    Some((bg, ..)) => gain > *bg,
                    None => true,
                };
                if better {
                    best = Some((gain, *g, *from, *to));
                }
            }
        }
    }
    best.map(|(_, g, f, t)| (g, f, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::MetaCommand;
    use std::net::{IpAddr, Ipv4Addr};

    fn specs(n: u64) -> Vec<NodeSpec> {
        (1..=n)
            .map(|i| NodeSpec {
                id: NodeId(i),
                ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10 + i as u8)),
                port: 7000,
                bus_port: 17000,
            })
            .collect()
    }

    fn apply(b: Bootstrap) -> ClusterMap {
        let mut m = ClusterMap::new();
        m.apply(&MetaCommand::Bootstrap(b)).unwrap();
        m
    }

    #[test]
    fn split_like_redis_cli() {
        let r = |a, b| SlotRange::new(a, b).unwrap();
        assert_eq!(split_slots(1), vec![r(0, 16383)]);
        assert_eq!(
            split_slots(3),
            vec![r(0, 5460), r(5461, 10922), r(10923, 16383)]
        );
        // redis-cli with 4 masters: 0-4095, 4096-8191, 8192-12287, 12288-16383.
        assert_eq!(split_slots(4)[1], r(4096, 8191));
        for n in [2, 5, 7, 100, 16384] {
            let s = split_slots(n);
            assert_eq!(s.len(), n);
            assert_eq!(s.iter().map(SlotRange::len).sum::<usize>(), 16384);
            let (min, max) = (
                s.iter().map(SlotRange::len).min().unwrap(),
                s.iter().map(SlotRange::len).max().unwrap(),
            );
            assert!(max - min <= 1, "n={n}");
        }
    }

    #[test]
    fn default_one_shard_per_node_each_node_prefers_one() {
        let b = plan_cluster(ClusterId(1), &specs(3), None, 3).unwrap();
        assert_eq!(b.shards.len(), 3);
        let firsts: Vec<NodeId> = b.shards.iter().map(|s| s.replicas[0]).collect();
        assert_eq!(firsts, vec![NodeId(1), NodeId(2), NodeId(3)]);
        assert_eq!(b.meta_replicas, vec![NodeId(1), NodeId(2), NodeId(3)]);
        let b7 = plan_cluster(ClusterId(1), &specs(7), None, 3).unwrap();
        assert_eq!(b7.meta_replicas.len(), META_REPLICAS);
        let m = apply(b);
        assert_eq!(m.assigned_slots(), 16384);
    }

    #[test]
    fn spread_is_even_and_distinct() {
        for (nodes, shards, replicas) in [(5, 5, 3), (4, 10, 3), (7, 3, 3), (6, 13, 2), (3, 1, 1)] {
            let b = plan_cluster(ClusterId(9), &specs(nodes), Some(shards), replicas).unwrap();
            let mut load = BTreeMap::new();
            let mut leads = BTreeMap::new();
            for s in &b.shards {
                assert_eq!(s.replicas.len(), replicas);
                let mut d = s.replicas.clone();
                d.sort();
                d.dedup();
                assert_eq!(d.len(), replicas, "distinct nodes");
                s.replicas
                    .iter()
                    .for_each(|n| *load.entry(*n).or_insert(0) += 1);
                *leads.entry(s.replicas[0]).or_insert(0) += 1;
            }
            let spread = |m: &BTreeMap<NodeId, i32>| {
                let v: Vec<i32> = (1..=nodes)
                    .map(|i| *m.get(&NodeId(i)).unwrap_or(&0))
                    .collect();
                v.iter().max().unwrap() - v.iter().min().unwrap()
            };
            assert!(
                spread(&load) <= 1,
                "{nodes}/{shards}/{replicas} load {load:?}"
            );
            assert!(
                spread(&leads) <= 1,
                "{nodes}/{shards}/{replicas} leads {leads:?}"
            );
            apply(b);
        }
    }

    #[test]
    fn embedded_single_node_cluster_owns_everything() {
        // `slotraft server` with no cluster flags: one node, one shard, one replica.
        let b = plan_cluster(ClusterId(1), &specs(1), None, 1).unwrap();
        assert_eq!(b.meta_replicas, vec![NodeId(1)]);
        let m = apply(b);
        assert_eq!(m.shards().count(), 1);
        assert_eq!(m.assigned_slots(), 16384);
        assert_eq!(m.shard(GroupId(1)).unwrap().replicas, vec![NodeId(1)]);
    }

    #[test]
    fn placement_errors() {
        assert_eq!(
            plan_cluster(ClusterId(1), &specs(2), None, 3),
            Err(PlacementError::NotEnoughNodes {
                replicas: 3,
                nodes: 2
            })
        );
        assert_eq!(
            plan_cluster(ClusterId(1), &[], None, 1),
            Err(PlacementError::NoNodes)
        );
        assert_eq!(
            plan_cluster(ClusterId(1), &specs(3), Some(0), 1),
            Err(PlacementError::BadShardCount(0))
        );
    }

    fn leaders(pairs: &[(u64, u64)]) -> BTreeMap<GroupId, NodeId> {
        pairs
            .iter()
            .map(|(g, n)| (GroupId(*g), NodeId(*n)))
            .collect()
    }

    fn counts(
        m: &ClusterMap,
        cur: &BTreeMap<GroupId, NodeId>,
        moves: &[(GroupId, NodeId)],
    ) -> Vec<usize> {
        let mut l = cur.clone();
        for (g, n) in moves {
            assert!(
                m.shard(*g).unwrap().replicas.contains(n),
                "target is a voter"
            );
            l.insert(*g, *n);
        }
        let mut c = vec![0; m.node_count()];
        l.values().for_each(|n| c[n.get() as usize - 1] += 1);
        c
    }

    #[test]
    fn balanced_cluster_needs_no_moves() {
        let m = apply(plan_cluster(ClusterId(1), &specs(3), None, 3).unwrap());
        assert!(plan_leader_balance(&m, &leaders(&[(1, 1), (2, 2), (3, 3)])).is_empty());
        // Any permutation is balanced too.
        assert!(plan_leader_balance(&m, &leaders(&[(1, 3), (2, 1), (3, 2)])).is_empty());
    }

    #[test]
    fn all_on_one_node_is_spread_with_minimal_moves() {
        let m = apply(plan_cluster(ClusterId(1), &specs(3), None, 3).unwrap());
        let cur = leaders(&[(1, 1), (2, 1), (3, 1)]);
        let moves = plan_leader_balance(&m, &cur);
        assert_eq!(moves.len(), 2, "{moves:?}");
        assert_eq!(counts(&m, &cur, &moves), vec![1, 1, 1]);
    }

    #[test]
    fn floor_ceil_with_more_shards_than_nodes() {
        let m = apply(plan_cluster(ClusterId(1), &specs(4), Some(10), 3).unwrap());
        // Everyone's first choice dead: all leaders on node 1 where possible.
        let cur: BTreeMap<GroupId, NodeId> = m
            .shards()
            .map(|s| {
                let n = if s.replicas.contains(&NodeId(1)) {
                    NodeId(1)
                } else {
                    s.replicas[0]
                };
                (s.id, n)
            })
            .collect();
        let moves = plan_leader_balance(&m, &cur);
        let c = counts(&m, &cur, &moves);
        assert!(c.iter().all(|&x| x == 2 || x == 3), "{c:?}");
        // Unknown leaders are ignored; a stale leader that is not a voter too.
        let partial = leaders(&[(1, 1), (2, 99)]);
        assert!(plan_leader_balance(&m, &partial).is_empty());
    }
}

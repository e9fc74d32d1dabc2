//! Property tests of the metadata codecs: every command round-trips, random
//! bytes never panic the decoders, and applying random command sequences
//! keeps every map invariant while the epoch counts successes exactly.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use slotraft_cluster::{
    Bootstrap, ClusterId, ClusterMap, MetaCommand, NodeSpec, NodeState, ShardSpec, SlotRange,
};
use slotraft_types::{GroupId, NodeId, SlotId};

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
    ]
}

fn node_id() -> impl Strategy<Value = NodeId> {
    (0u64..8).prop_map(NodeId)
}

fn group() -> impl Strategy<Value = GroupId> {
    (0u64..6).prop_map(GroupId)
}

fn slot() -> impl Strategy<Value = SlotId> {
    (0u16..16384).prop_map(SlotId::new)
}

fn range() -> impl Strategy<Value = SlotRange> {
    (0u16..16384, 0u16..600)
        .prop_map(|(a, len)| SlotRange::new(a, a.saturating_add(len).min(16383)).unwrap())
}

fn spec() -> impl Strategy<Value = NodeSpec> {
    (node_id(), ip(), 7000u16..7008).prop_map(|(id, ip, port)| NodeSpec {
        id,
        ip,
        port,
        bus_port: port + 10000,
    })
}

fn ids() -> impl Strategy<Value = Vec<NodeId>> {
    prop::collection::vec(node_id(), 0..5)
}

fn command() -> impl Strategy<Value = MetaCommand> {
    let boot = (
        any::<u128>(),
        prop::collection::vec(spec(), 0..6),
        ids(),
        prop::collection::vec((group(), ids(), prop::collection::vec(range(), 0..3)), 0..4),
    )
        .prop_map(|(c, nodes, meta, shards)| {
            MetaCommand::Bootstrap(Bootstrap {
                cluster_id: ClusterId(c),
                nodes,
                meta_replicas: meta,
                shards: shards
                    .into_iter()
                    .map(|(id, replicas, slots)| ShardSpec {
                        id,
                        replicas,
                        slots,
                    })
                    .collect(),
            })
        });
    prop_oneof![
        boot,
        spec().prop_map(MetaCommand::AddNode),
        node_id().prop_map(MetaCommand::RemoveNode),
        (node_id(), any::<bool>()).prop_map(|(node, l)| MetaCommand::SetNodeState {
            node,
            state: if l {
                NodeState::Leaving
            } else {
                NodeState::Active
            },
        }),
        (group(), ids()).prop_map(|(group, replicas)| MetaCommand::AddShard { group, replicas }),
        group().prop_map(MetaCommand::RemoveShard),
        (group(), ids(), ids()).prop_map(|(group, replicas, learners)| {
            MetaCommand::SetShardReplicas {
                group,
                replicas,
                learners,
            }
        }),
        (group(), prop::collection::vec(range(), 0..4))
            .prop_map(|(group, ranges)| MetaCommand::AssignSlots { group, ranges }),
        ids().prop_map(MetaCommand::SetMetaReplicas),
        (slot(), group()).prop_map(|(slot, to)| MetaCommand::BeginSlotMigration { slot, to }),
        slot().prop_map(MetaCommand::FinishSlotMigration),
        slot().prop_map(MetaCommand::AbortSlotMigration),
    ]
}

/// A valid bootstrapped map (nodes 1..=3, g1 owns half the slots), so the
/// random commands mostly exercise changes rather than failing bootstraps.
fn start() -> ClusterMap {
    let nodes: Vec<NodeSpec> = (1..=3)
        .map(|i| NodeSpec {
            id: NodeId(i),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 7000 + i as u16,
            bus_port: 17000 + i as u16,
        })
        .collect();
    let mut m = ClusterMap::new();
    m.apply(&MetaCommand::Bootstrap(Bootstrap {
        cluster_id: ClusterId(77),
        nodes,
        meta_replicas: vec![NodeId(1)],
        shards: vec![ShardSpec {
            id: GroupId(1),
            replicas: vec![NodeId(1), NodeId(2)],
            slots: vec![SlotRange::new(0, 8191).unwrap()],
        }],
    }))
    .unwrap();
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn command_roundtrip(cmd in command()) {
        let bytes = cmd.encode();
        prop_assert_eq!(MetaCommand::decode(&bytes).unwrap(), cmd);
        // Every strict prefix is rejected, never panics.
        for cut in 0..bytes.len() {
            prop_assert!(MetaCommand::decode(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn apply_from_empty_map_keeps_invariants(cmds in prop::collection::vec(command(), 1..20)) {
        let mut m = ClusterMap::new();
        let mut ok = 0u64;
        for c in &cmds {
            if m.apply(c).is_ok() {
                ok += 1;
            }
            prop_assert_eq!(m.check_invariants(), Ok(()));
            prop_assert_eq!(m.epoch(), ok);
        }
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = MetaCommand::decode(&bytes);
        let _ = ClusterMap::decode_snapshot(&bytes);
        // Same with a valid version byte in front, to get past the header.
        let mut v = vec![1u8];
        v.extend_from_slice(&bytes);
        let _ = MetaCommand::decode(&v);
        let _ = ClusterMap::decode_snapshot(&v);
    }
}

proptest! {
    // Fewer cases: each applies up to 40 commands and checks every invariant
    // (a 16384-slot scan) after each one.
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn apply_keeps_invariants(cmds in prop::collection::vec(command(), 1..40)) {
        let mut m = start();
        let mut ok = 1u64;
        for c in &cmds {
            let before = m.clone();
            match m.apply(c) {
                Ok(()) => ok += 1,
                Err(_) => prop_assert_eq!(&m, &before),
            }
            prop_assert_eq!(m.check_invariants(), Ok(()));
            prop_assert_eq!(m.epoch(), ok);
        }
        let snap = m.encode_snapshot();
        prop_assert_eq!(ClusterMap::decode_snapshot(&snap).unwrap(), m.clone());
        // Determinism: replaying the same commands gives the same map.
        let mut again = start();
        for c in &cmds {
            let _ = again.apply(c);
        }
        prop_assert_eq!(again, m);
    }
}

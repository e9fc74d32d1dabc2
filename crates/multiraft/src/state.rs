//! What a group's committed log is applied to.
//!
//! Why an enum and not a trait object: there are exactly two kinds of
//! groups and both must be deterministic, snapshot-able and cheap to match
//! on. Shard groups apply client commands to a [`Keyspace`]; the metadata
//! group ([`GroupId::METADATA`](slotraft_types::GroupId::METADATA)) applies
//! `MetaCommand`s to a [`ClusterMap`]. Everything else about a group (Raft,
//! batching, honest completions) is shared, so the metadata group gets the
//! same guarantees as a shard for free.
//!
//! Each kind refuses the other's ops twice: at propose time
//! ([`StateMachine::check_op`], a clear `NotExecuted`), and at apply time
//! with an error reply (a forged or foreign entry must never panic a
//! replica, and every replica answers it identically).

use crate::entry::Op;
use crate::node::NotExecuted;
use bytes::Bytes;
use slotraft_cluster::{ClusterMap, MetaCommand};
use slotraft_keyspace::{ExecCtx, FrozenKeyspace, Keyspace, Outcome, INTERNAL_EXPIRE};
use slotraft_resp::Reply;

/// Error text for a client op sent to the metadata group.
pub const ERR_CMD_ON_META: &str = "ERR the metadata group only accepts metadata commands";
/// Error text for a metadata op sent to a shard group.
pub const ERR_META_ON_SHARD: &str = "ERR metadata commands go to the metadata group";

/// The applied state of the metadata group.
pub(crate) struct MetaState {
    pub map: ClusterMap,
    /// Set when an applied command or a snapshot changed `map`; cleared
    /// when the change is reported in an `Output`.
    pub changed: bool,
}

/// A group's applied state frozen at one index ([`StateMachine::freeze`]),
/// `Send`: encoded into snapshot bytes wherever the caller likes.
pub struct FrozenState(Frozen);

enum Frozen {
    Shard(FrozenKeyspace),
    Meta(Vec<u8>),
}

impl FrozenState {
    /// The snapshot bytes of the frozen state.
    pub fn encode(self) -> Vec<u8> {
        match self.0 {
            Frozen::Shard(ks) => {
                let mut data = Vec::new();
                ks.snapshot_all(&mut data)
                    .expect("writing to a Vec cannot fail");
                data
            }
            Frozen::Meta(bytes) => bytes,
        }
    }
}

/// The state machine of one group.
pub(crate) enum StateMachine {
    Shard(Keyspace),
    Meta(MetaState),
}

impl StateMachine {
    pub fn meta(map: ClusterMap) -> StateMachine {
        StateMachine::Meta(MetaState {
            map,
            changed: false,
        })
    }

    pub fn keyspace(&self) -> Option<&Keyspace> {
        match self {
            StateMachine::Shard(ks) => Some(ks),
            StateMachine::Meta(_) => None,
        }
    }

    pub fn cluster_map(&self) -> Option<&ClusterMap> {
        match self {
            StateMachine::Shard(_) => None,
            StateMachine::Meta(m) => Some(&m.map),
        }
    }

    /// Whether this group may be given `op` at all (checked at propose time).
    pub fn check_op(&self, op: &Op) -> Result<(), NotExecuted> {
        match (self, op) {
            (StateMachine::Meta(_), Op::Meta(_)) => Ok(()),
            (StateMachine::Meta(_), _) => Err(NotExecuted::Dropped(ERR_CMD_ON_META.into())),
            (StateMachine::Shard(_), Op::Meta(_)) => {
                Err(NotExecuted::Dropped(ERR_META_ON_SHARD.into()))
            }
            (StateMachine::Shard(_), _) => Ok(()),
        }
    }

    /// Applies one committed op (deterministic: same op, same ctx, same
    /// state → same outcome on every replica).
    pub fn apply_op(&mut self, op: &Op, ctx: &ExecCtx) -> Outcome {
        match self {
            StateMachine::Shard(ks) => apply_shard_op(ks, op, ctx),
            StateMachine::Meta(m) => Outcome::Reply(m.apply_op(op)),
        }
    }

    /// Prefetch hint for ops about to be applied ([`Keyspace::prefetch`]).
    pub fn prefetch(&self, ops: &[Op]) {
        self.prefetch_argvs(ops.iter().filter_map(|op| match op {
            Op::Cmd(argv) => Some(&argv[..]),
            _ => None,
        }));
    }

    /// Prefetch hint for commands about to be applied or read
    /// ([`Keyspace::prefetch`]).
    pub fn prefetch_argvs<'a>(&self, argvs: impl IntoIterator<Item = &'a [Bytes]>) {
        if let StateMachine::Shard(ks) = self {
            ks.prefetch(argvs);
        }
    }

    /// A read served after a ReadIndex round. The metadata group answers
    /// any read with its encoded map (`ClusterMap::encode_snapshot`), which
    /// is how a node pulls a linearizable map through any member.
    pub fn execute_read(&self, argv: &[Bytes], now_ms: u64) -> Reply {
        match self {
            StateMachine::Shard(ks) => ks.execute_read(argv, now_ms),
            StateMachine::Meta(m) => Reply::Bulk(Bytes::from(m.map.encode_snapshot())),
        }
    }

    /// Keys that became ready for blocked clients since the last call.
    pub fn take_ready_keys(&mut self) -> Vec<Bytes> {
        match self {
            StateMachine::Shard(ks) => ks.take_ready_keys(),
            StateMachine::Meta(_) => Vec::new(),
        }
    }

    /// The applied state as snapshot bytes.
    #[cfg(test)]
    pub fn snapshot(&self) -> Vec<u8> {
        self.freeze().encode()
    }

    /// The applied state as it is now, to be encoded later (on another
    /// thread): a copy-on-write view of a keyspace, or the (small) map's
    /// bytes.
    pub fn freeze(&self) -> FrozenState {
        match self {
            StateMachine::Shard(ks) => FrozenState(Frozen::Shard(ks.freeze())),
            StateMachine::Meta(m) => FrozenState(Frozen::Meta(m.map.encode_snapshot())),
        }
    }

    /// Replaces the state with a snapshot's.
    pub fn restore(&mut self, data: &[u8]) -> Result<(), String> {
        match self {
            StateMachine::Shard(ks) => {
                let mut fresh = Keyspace::new();
                fresh
                    .restore(&mut &data[..])
                    .map_err(|e| format!("keyspace snapshot: {e}"))?;
                *ks = fresh;
            }
            StateMachine::Meta(m) => {
                let map = ClusterMap::decode_snapshot(data)
                    .map_err(|e| format!("cluster map snapshot: {e}"))?;
                m.changed |= map != m.map;
                m.map = map;
            }
        }
        Ok(())
    }

    /// The applied map if it changed since the last call (metadata group).
    pub fn take_map_change(&mut self) -> Option<ClusterMap> {
        match self {
            StateMachine::Meta(m) if m.changed => {
                m.changed = false;
                Some(m.map.clone())
            }
            _ => None,
        }
    }
}

impl MetaState {
    fn apply_op(&mut self, op: &Op) -> Reply {
        let Op::Meta(bytes) = op else {
            return Reply::Error(Bytes::from_static(ERR_CMD_ON_META.as_bytes()));
        };
        let cmd = match MetaCommand::decode(bytes) {
            Ok(cmd) => cmd,
            Err(e) => return Reply::Error(Bytes::from(format!("ERR bad metadata command: {e}"))),
        };
        let before = self.map.epoch();
        match self.map.apply(&cmd) {
            Ok(()) => {
                // ClusterMap::apply's contract: +1 epoch per applied change.
                assert_eq!(self.map.epoch(), before + 1, "epoch must grow by one");
                self.changed = true;
                Reply::Simple(Bytes::from_static(b"OK"))
            }
            Err(e) => {
                debug_assert_eq!(
                    self.map.epoch(),
                    before,
                    "a rejected command changes nothing"
                );
                Reply::Error(Bytes::from(format!("ERR {e}")))
            }
        }
    }
}

fn apply_shard_op(ks: &mut Keyspace, op: &Op, ctx: &ExecCtx) -> Outcome {
    match op {
        Op::Cmd(argv) => ks.execute(argv, ctx),
        Op::Multi { cmds, watched } => {
            let ctx = ExecCtx {
                may_block: false,
                ..*ctx
            };
            Outcome::Reply(ks.execute_multi(cmds, watched, &ctx))
        }
        Op::ExpireDelete(keys) => {
            let mut argv = Vec::with_capacity(keys.len() + 1);
            argv.push(Bytes::from_static(INTERNAL_EXPIRE));
            argv.extend(keys.iter().cloned());
            ks.execute(&argv, ctx)
        }
        Op::Meta(_) => Outcome::Reply(Reply::Error(Bytes::from_static(
            ERR_META_ON_SHARD.as_bytes(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotraft_cluster::{Bootstrap, ClusterId, NodeSpec, NodeState, ShardSpec, SlotRange};
    use slotraft_types::{GroupId, NodeId};
    use std::net::{IpAddr, Ipv4Addr};

    fn ctx() -> ExecCtx {
        ExecCtx {
            now_ms: 1,
            seed: 2,
            may_block: true,
        }
    }

    fn bootstrap() -> MetaCommand {
        MetaCommand::Bootstrap(Bootstrap {
            cluster_id: ClusterId(7),
            nodes: (1..=3u64)
                .map(|i| NodeSpec {
                    id: NodeId(i),
                    ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, i as u8)),
                    port: 7000,
                    bus_port: 17000,
                })
                .collect(),
            meta_replicas: vec![NodeId(1), NodeId(2), NodeId(3)],
            shards: vec![ShardSpec {
                id: GroupId(1),
                replicas: vec![NodeId(1), NodeId(2), NodeId(3)],
                slots: vec![SlotRange::all()],
            }],
        })
    }

    #[test]
    fn meta_applies_commands_and_reports_one_change() {
        let mut sm = StateMachine::meta(ClusterMap::new());
        let r = sm.apply_op(&Op::Meta(bootstrap().encode()), &ctx());
        assert_eq!(r, Outcome::Reply(Reply::Simple(Bytes::from_static(b"OK"))));
        let map = sm.take_map_change().expect("changed");
        assert_eq!(map.epoch(), 1);
        assert!(sm.take_map_change().is_none(), "reported once");
        // A rejected command: error reply, no change, no report.
        let r = sm.apply_op(&Op::Meta(bootstrap().encode()), &ctx());
        let Outcome::Reply(Reply::Error(e)) = r else {
            panic!("expected an error, got {r:?}")
        };
        assert!(e.starts_with(b"ERR "), "{e:?}");
        assert!(sm.take_map_change().is_none());
        assert_eq!(sm.cluster_map().unwrap().epoch(), 1);
        let cmd = MetaCommand::SetNodeState {
            node: NodeId(2),
            state: NodeState::Leaving,
        };
        sm.apply_op(&Op::Meta(cmd.encode()), &ctx());
        assert_eq!(sm.take_map_change().unwrap().epoch(), 2);
    }

    #[test]
    fn each_kind_rejects_the_others_ops_without_panicking() {
        let mut meta = StateMachine::meta(ClusterMap::new());
        let mut shard = StateMachine::Shard(Keyspace::new());
        let cmd = Op::Cmd(vec![Bytes::from_static(b"SET"), Bytes::from_static(b"k")]);
        let mop = Op::Meta(bootstrap().encode());
        assert!(meta.check_op(&cmd).is_err());
        assert!(meta.check_op(&mop).is_ok());
        assert!(shard.check_op(&mop).is_err());
        assert!(shard.check_op(&cmd).is_ok());
        let err_meta = Outcome::Reply(Reply::Error(Bytes::from_static(ERR_CMD_ON_META.as_bytes())));
        assert_eq!(meta.apply_op(&cmd, &ctx()), err_meta);
        let err_shard = Outcome::Reply(Reply::Error(Bytes::from_static(
            ERR_META_ON_SHARD.as_bytes(),
        )));
        assert_eq!(shard.apply_op(&mop, &ctx()), err_shard);
        // Garbage metadata bytes: an error reply, the map untouched.
        let r = meta.apply_op(&Op::Meta(vec![0xff, 0, 1]), &ctx());
        assert!(matches!(r, Outcome::Reply(Reply::Error(_))));
        assert_eq!(meta.cluster_map().unwrap().epoch(), 0);
    }

    #[test]
    fn meta_snapshot_round_trips_and_flags_the_change() {
        let mut a = StateMachine::meta(ClusterMap::new());
        a.apply_op(&Op::Meta(bootstrap().encode()), &ctx());
        let snap = a.snapshot();
        let mut b = StateMachine::meta(ClusterMap::new());
        b.restore(&snap).unwrap();
        assert_eq!(b.cluster_map(), a.cluster_map());
        assert_eq!(b.take_map_change().unwrap().epoch(), 1);
        assert!(b.restore(&snap[..snap.len() - 1]).is_err());
        assert_eq!(
            b.cluster_map(),
            a.cluster_map(),
            "a failed restore changes nothing"
        );
        // Reads on the metadata group return the encoded map.
        let Reply::Bulk(bytes) = b.execute_read(&[], 0) else {
            panic!("bulk expected")
        };
        assert_eq!(
            &ClusterMap::decode_snapshot(&bytes).unwrap(),
            a.cluster_map().unwrap()
        );
    }
}

//! Gossip messages and their versioned binary form.
//!
//! Layout (little-endian, see `slotraft_cluster::wire`):
//! `magic "SRGB", version:u8, kind:u8, cluster_id:u128, sender:u64,
//! config_epoch:u64, failed:u64 (0 = none), gossip:[GossipEntry],
//! leaders:[LeaderHint]`.
//!
//! Why bounded: a message comes from the network, so every section has a
//! named limit ([`MAX_GOSSIP_ENTRIES`], [`MAX_LEADER_HINTS`]) and decoding
//! checks it before allocating; [`MAX_MESSAGE_BYTES`] bounds the whole frame
//! so the transport can reject oversized frames before reading them.

use slotraft_cluster::wire::{DecodeError, Reader, Writer};
use slotraft_cluster::{ClusterId, HealthState};
use slotraft_types::{GroupId, NodeId, Term};

/// First bytes of every gossip message.
pub const MAGIC: [u8; 4] = *b"SRGB";
/// Current wire version.
pub const GOSSIP_VERSION: u8 = 1;
/// Most entries about other nodes in one message (Redis sends ~1/10 of the
/// nodes, at least 3).
pub const MAX_GOSSIP_ENTRIES: usize = 32;
/// Most shard-leader hints in one message; more are sent in rotation.
pub const MAX_LEADER_HINTS: usize = 1024;
/// Bytes of the fixed header.
const HEADER_BYTES: usize = 4 + 1 + 1 + 16 + 8 + 8 + 8;
const ENTRY_BYTES: usize = 8 + 1 + 8;
const HINT_BYTES: usize = 8 + 8 + 8;
/// Largest valid encoded message.
pub const MAX_MESSAGE_BYTES: usize =
    HEADER_BYTES + 4 + MAX_GOSSIP_ENTRIES * ENTRY_BYTES + 4 + MAX_LEADER_HINTS * HINT_BYTES;

/// Message type, as Redis's cluster bus.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Liveness probe; answered by a PONG.
    Ping,
    /// Answer to PING/MEET (also proves the sender is alive).
    Pong,
    /// First contact with a member not yet heard from; answered by a PONG.
    Meet,
    /// "`failed` is FAIL": broadcast by the node that reached the majority.
    Fail,
}

impl MessageKind {
    fn tag(self) -> u8 {
        match self {
            MessageKind::Ping => 0,
            MessageKind::Pong => 1,
            MessageKind::Meet => 2,
            MessageKind::Fail => 3,
        }
    }

    fn from_tag(t: u8) -> Result<MessageKind, DecodeError> {
        Ok(match t {
            0 => MessageKind::Ping,
            1 => MessageKind::Pong,
            2 => MessageKind::Meet,
            3 => MessageKind::Fail,
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "gossip kind",
                    tag,
                })
            }
        })
    }

    /// Index for per-kind counters.
    pub(crate) fn index(self) -> usize {
        self.tag() as usize
    }
}

/// What the sender knows about another node.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct GossipEntry {
    pub node: NodeId,
    /// The sender's verdict: `PFail` and `Fail` count as failure reports.
    pub state: HealthState,
    /// Milliseconds since the sender last got a PONG from `node`, by the
    /// sender's clock (`u64::MAX` if never). Ages, not timestamps, so clocks
    /// need not agree.
    pub pong_age_ms: u64,
}

/// "`leader` led `group` in `term`" (as known by the sender).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LeaderHint {
    pub group: GroupId,
    pub leader: NodeId,
    pub term: Term,
}

/// One cluster-bus gossip message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub kind: MessageKind,
    /// Messages of another cluster are rejected.
    pub cluster_id: ClusterId,
    pub sender: NodeId,
    /// The epoch of the sender's cluster map.
    pub config_epoch: u64,
    /// For [`MessageKind::Fail`]: the failed node.
    pub failed: Option<NodeId>,
    /// At most [`MAX_GOSSIP_ENTRIES`].
    pub gossip: Vec<GossipEntry>,
    /// At most [`MAX_LEADER_HINTS`].
    pub leaders: Vec<LeaderHint>,
}

fn state_tag(s: HealthState) -> u8 {
    match s {
        HealthState::Ok => 0,
        HealthState::PFail => 1,
        HealthState::Fail => 2,
    }
}

fn state_from_tag(t: u8) -> Result<HealthState, DecodeError> {
    Ok(match t {
        0 => HealthState::Ok,
        1 => HealthState::PFail,
        2 => HealthState::Fail,
        tag => {
            return Err(DecodeError::UnknownTag {
                what: "health",
                tag,
            })
        }
    })
}

impl Message {
    /// The wire form. Panics if a section exceeds its limit (a bug in the
    /// sender: [`crate::Gossip`] never builds such messages).
    pub fn encode(&self) -> Vec<u8> {
        assert!(
            self.gossip.len() <= MAX_GOSSIP_ENTRIES,
            "gossip section too large"
        );
        assert!(
            self.leaders.len() <= MAX_LEADER_HINTS,
            "leader section too large"
        );
        let mut w = Writer::new();
        MAGIC.iter().for_each(|b| w.u8(*b));
        w.u8(GOSSIP_VERSION);
        w.u8(self.kind.tag());
        w.u128(self.cluster_id.0);
        w.u64(self.sender.get());
        w.u64(self.config_epoch);
        w.u64(self.failed.map_or(0, NodeId::get));
        w.count(self.gossip.len());
        for e in &self.gossip {
            w.u64(e.node.get());
            w.u8(state_tag(e.state));
            w.u64(e.pong_age_ms);
        }
        w.count(self.leaders.len());
        for h in &self.leaders {
            w.u64(h.group.get());
            w.u64(h.leader.get());
            w.u64(h.term.get());
        }
        let out = w.into_bytes();
        debug_assert!(out.len() <= MAX_MESSAGE_BYTES);
        out
    }

    /// Decodes a message; never panics on arbitrary input.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(DecodeError::TooLarge {
                what: "gossip message",
                len: bytes.len() as u64,
                max: MAX_MESSAGE_BYTES as u64,
            });
        }
        let mut r = Reader::new(bytes);
        let mut magic = [0u8; 4];
        for b in &mut magic {
            *b = r.u8()?;
        }
        if magic != MAGIC {
            return Err(DecodeError::Invalid("gossip magic"));
        }
        let v = r.u8()?;
        if v != GOSSIP_VERSION {
            return Err(DecodeError::UnknownVersion(v));
        }
        let kind = MessageKind::from_tag(r.u8()?)?;
        let cluster_id = ClusterId(r.u128()?);
        let sender = NodeId(r.u64()?);
        let config_epoch = r.u64()?;
        let failed = match r.u64()? {
            0 => None,
            n => Some(NodeId(n)),
        };
        if (kind == MessageKind::Fail) != failed.is_some() {
            return Err(DecodeError::Invalid("failed node only in FAIL messages"));
        }
        let n = r.count("gossip entries", MAX_GOSSIP_ENTRIES, ENTRY_BYTES)?;
        let mut gossip = Vec::with_capacity(n);
        for _ in 0..n {
            gossip.push(GossipEntry {
                node: NodeId(r.u64()?),
                state: state_from_tag(r.u8()?)?,
                pong_age_ms: r.u64()?,
            });
        }
        let n = r.count("leader hints", MAX_LEADER_HINTS, HINT_BYTES)?;
        let mut leaders = Vec::with_capacity(n);
        for _ in 0..n {
            leaders.push(LeaderHint {
                group: GroupId(r.u64()?),
                leader: NodeId(r.u64()?),
                term: Term(r.u64()?),
            });
        }
        r.finish()?;
        Ok(Message {
            kind,
            cluster_id,
            sender,
            config_epoch,
            failed,
            gossip,
            leaders,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Message {
        Message {
            kind: MessageKind::Fail,
            cluster_id: ClusterId(0xABCD),
            sender: NodeId(3),
            config_epoch: 9,
            failed: Some(NodeId(2)),
            gossip: vec![GossipEntry {
                node: NodeId(2),
                state: HealthState::PFail,
                pong_age_ms: 15_000,
            }],
            leaders: vec![LeaderHint {
                group: GroupId(4),
                leader: NodeId(1),
                term: Term(7),
            }],
        }
    }

    #[test]
    fn roundtrip_and_prefixes_rejected() {
        let m = sample();
        let b = m.encode();
        assert_eq!(Message::decode(&b).unwrap(), m);
        for cut in 0..b.len() {
            assert!(Message::decode(&b[..cut]).is_err());
        }
    }

    #[test]
    fn limits_enforced() {
        let mut b = sample().encode();
        // Bad magic / version.
        b[0] = b'X';
        assert!(Message::decode(&b).is_err());
        let mut b = sample().encode();
        b[4] = 99;
        assert_eq!(Message::decode(&b), Err(DecodeError::UnknownVersion(99)));
        // A PING naming a failed node is malformed.
        let mut m = sample();
        m.kind = MessageKind::Ping;
        assert!(Message::decode(&m.encode()).is_err());
        // Oversized frame rejected before parsing.
        let big = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(
            Message::decode(&big),
            Err(DecodeError::TooLarge { .. })
        ));
        // A count above the limit.
        let mut m = sample();
        m.gossip.clear();
        m.leaders.clear();
        let mut b = m.encode();
        let at = HEADER_BYTES;
        b[at..at + 4].copy_from_slice(&(MAX_GOSSIP_ENTRIES as u32 + 1).to_le_bytes());
        assert!(matches!(
            Message::decode(&b),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    fn health() -> impl Strategy<Value = HealthState> {
        prop_oneof![
            Just(HealthState::Ok),
            Just(HealthState::PFail),
            Just(HealthState::Fail)
        ]
    }

    fn message() -> impl Strategy<Value = Message> {
        (
            0u8..4,
            any::<u128>(),
            any::<u64>(),
            any::<u64>(),
            1u64..u64::MAX,
            prop::collection::vec(
                (any::<u64>(), health(), any::<u64>()),
                0..MAX_GOSSIP_ENTRIES,
            ),
            prop::collection::vec(any::<(u64, u64, u64)>(), 0..40),
        )
            .prop_map(|(k, c, s, e, f, g, l)| {
                let kind = MessageKind::from_tag(k).unwrap();
                Message {
                    kind,
                    cluster_id: ClusterId(c),
                    sender: NodeId(s),
                    config_epoch: e,
                    failed: (kind == MessageKind::Fail).then_some(NodeId(f)),
                    gossip: g
                        .into_iter()
                        .map(|(n, state, pong_age_ms)| GossipEntry {
                            node: NodeId(n),
                            state,
                            pong_age_ms,
                        })
                        .collect(),
                    leaders: l
                        .into_iter()
                        .map(|(g, n, t)| LeaderHint {
                            group: GroupId(g),
                            leader: NodeId(n),
                            term: Term(t),
                        })
                        .collect(),
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn prop_roundtrip(m in message()) {
            prop_assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        }

        #[test]
        fn prop_decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = Message::decode(&bytes);
            let mut v = MAGIC.to_vec();
            v.push(GOSSIP_VERSION);
            v.extend_from_slice(&bytes);
            let _ = Message::decode(&v);
        }

        #[test]
        fn prop_mutations_never_panic(m in message(), at in any::<usize>(), byte in any::<u8>()) {
            let mut b = m.encode();
            let i = at % b.len();
            b[i] = byte;
            let _ = Message::decode(&b);
        }
    }
}

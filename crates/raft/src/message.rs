//! Wire-level data types: log entries, hard/soft state, snapshots and the
//! [`Message`] exchanged between peers.
//!
//! Why one `Message { from, to, term, body }` with an enum body: every Raft
//! message carries the sender's term (the core compares terms before looking
//! at anything else), while the payload differs per kind. An enum makes
//! impossible combinations (a vote request with entries) unrepresentable, and
//! lets the simulator match on kinds to drop or delay them.

use bytes::Bytes;
use slotraft_types::{LogIndex, NodeId, Term};

/// What a log entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Application data. The leader's no-op at the start of its term is a
    /// `Normal` entry with empty `data`.
    Normal,
    /// An encoded [`crate::ConfChange`]; the application must call
    /// [`crate::RawNode::apply_conf_change`] when it applies it.
    ConfChange,
}

/// One entry of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub term: Term,
    pub index: LogIndex,
    pub kind: EntryKind,
    pub data: Bytes,
}

impl Entry {
    /// Fixed per-entry overhead counted by the size limits (term, index, kind).
    pub const OVERHEAD_BYTES: u64 = 24;

    /// Size used for the byte limits of batches, windows and reads.
    #[inline]
    pub fn size(&self) -> u64 {
        Self::OVERHEAD_BYTES + self.data.len() as u64
    }

    /// True for the leader's term-start no-op (and any empty normal entry).
    pub fn is_empty_normal(&self) -> bool {
        self.kind == EntryKind::Normal && self.data.is_empty()
    }
}

/// The state that must be on stable storage before messages are sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: Term,
    /// Who this node voted for in `term` (`None` = nobody yet).
    pub vote: Option<NodeId>,
    pub commit: LogIndex,
}

/// Role of a node in its group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Role {
    #[default]
    Follower,
    /// PreVote phase: asks for votes without bumping its term (thesis §9.6).
    PreCandidate,
    Candidate,
    Leader,
}

/// Volatile state reported when it changes: useful for routing, not persisted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SoftState {
    pub leader: Option<NodeId>,
    pub role: Role,
}

/// Membership of the group. Outside joint consensus `voters_outgoing` and
/// `learners_next` are empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfState {
    /// Voters of the incoming (or only) configuration.
    pub voters: Vec<NodeId>,
    /// Non-voting members that receive the log.
    pub learners: Vec<NodeId>,
    /// Voters of the outgoing configuration while in a joint configuration.
    pub voters_outgoing: Vec<NodeId>,
    /// Voters of the outgoing configuration that become learners when the
    /// joint configuration is left.
    pub learners_next: Vec<NodeId>,
    /// Whether the leader leaves the joint configuration by itself.
    pub auto_leave: bool,
}

impl ConfState {
    /// A plain (non-joint) configuration with these voters.
    pub fn with_voters(voters: impl IntoIterator<Item = u64>) -> Self {
        ConfState {
            voters: voters.into_iter().map(NodeId).collect(),
            ..Default::default()
        }
    }

    /// True while in a joint configuration.
    pub fn is_joint(&self) -> bool {
        !self.voters_outgoing.is_empty()
    }
}

/// Where a snapshot sits in the log, and the membership at that point.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub index: LogIndex,
    pub term: Term,
    pub conf_state: ConfState,
}

/// An application state machine image at `meta.index`; `data` is opaque to Raft.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub meta: SnapshotMeta,
    pub data: Bytes,
}

impl Snapshot {
    /// The "no snapshot" value (index 0).
    pub fn is_empty(&self) -> bool {
        self.meta.index == LogIndex::ZERO
    }
}

/// A read that became safe: once the state machine has applied `index`,
/// the application may serve the read identified by `ctx`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadState {
    pub index: LogIndex,
    pub ctx: Bytes,
    /// Confirmed by the leader lease (no quorum round). Such a read is
    /// safe only if the lease still holds at a clock reading taken *after*
    /// this `ReadState` was produced: the application checks
    /// `RawNode::lease_remaining` against the ticks it has not delivered
    /// yet (a process paused between the tick that made the lease look
    /// valid and the read would otherwise serve stale data).
    pub lease: bool,
}

/// Why a follower rejected an append, for fast backtracking (thesis §5.3,
/// etcd-style): the leader jumps to the last index at which the logs can
/// agree instead of probing one entry at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RejectHint {
    /// The `prev_index` of the rejected append.
    pub rejected: LogIndex,
    /// Largest follower index whose term is <= the append's `prev_term`
    /// (capped at the follower's last index).
    pub hint_index: LogIndex,
    /// The follower's term at `hint_index`.
    pub hint_term: Term,
}

/// One peer-to-peer message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub from: NodeId,
    pub to: NodeId,
    /// The sender's term (for `VoteResponse { pre_vote: true, granted: true }`
    /// the term the pre-candidate asked for).
    pub term: Term,
    pub body: MessageBody,
}

/// The payload of a [`Message`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageBody {
    /// RequestVote / PreVote. `term` is the (prospective) candidate term.
    RequestVote {
        pre_vote: bool,
        last_index: LogIndex,
        last_term: Term,
        /// Set when campaigning because of a leadership transfer: voters
        /// then ignore their leader lease (thesis §3.10).
        transfer: bool,
    },
    VoteResponse {
        pre_vote: bool,
        granted: bool,
    },
    /// AppendEntries.
    Append {
        prev_index: LogIndex,
        prev_term: Term,
        entries: Vec<Entry>,
        commit: LogIndex,
    },
    /// On success `index` is the last index the follower now matches; on
    /// reject `reject` is set and `index` is the follower's last index.
    AppendResponse {
        index: LogIndex,
        reject: Option<RejectHint>,
    },
    /// Leader liveness + commit propagation + ReadIndex confirmation.
    Heartbeat {
        commit: LogIndex,
        /// ReadIndex round being confirmed (0 = none).
        read_round: u64,
        /// Leader-local tick at send time, echoed back for the lease.
        sent_tick: u64,
    },
    HeartbeatResponse {
        read_round: u64,
        sent_tick: u64,
    },
    /// InstallSnapshot, one bounded chunk at a time.
    Snapshot {
        meta: SnapshotMeta,
        /// Total size of the snapshot data.
        total_len: u64,
        /// Byte offset of `chunk` within the snapshot data.
        offset: u64,
        chunk: Bytes,
        /// Last chunk.
        done: bool,
    },
    /// Acknowledges the snapshot bytes received so far for `snapshot_index`
    /// (`next_offset` = how many contiguous bytes the follower holds).
    SnapshotResponse {
        snapshot_index: LogIndex,
        next_offset: u64,
    },
    /// Leadership transfer: start an election now, bypassing PreVote.
    TimeoutNow,
    /// A follower forwards a ReadIndex request to its leader.
    ReadIndex {
        ctx: Bytes,
    },
    ReadIndexResponse {
        ctx: Bytes,
        index: LogIndex,
    },
}

impl MessageBody {
    /// Short name for traces and the simulator.
    pub fn kind_name(&self) -> &'static str {
        match self {
            MessageBody::RequestVote { pre_vote: true, .. } => "PreVote",
            MessageBody::RequestVote { .. } => "Vote",
            MessageBody::VoteResponse { pre_vote: true, .. } => "PreVoteResp",
            MessageBody::VoteResponse { .. } => "VoteResp",
            MessageBody::Append { .. } => "Append",
            MessageBody::AppendResponse { .. } => "AppendResp",
            MessageBody::Heartbeat { .. } => "Heartbeat",
            MessageBody::HeartbeatResponse { .. } => "HeartbeatResp",
            MessageBody::Snapshot { .. } => "Snapshot",
            MessageBody::SnapshotResponse { .. } => "SnapshotResp",
            MessageBody::TimeoutNow => "TimeoutNow",
            MessageBody::ReadIndex { .. } => "ReadIndex",
            MessageBody::ReadIndexResponse { .. } => "ReadIndexResp",
        }
    }
}

/// One membership change inside a [`ConfChange`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfChangeSingle {
    AddVoter(NodeId),
    AddLearner(NodeId),
    RemoveNode(NodeId),
}

/// How a [`ConfChange`] moves between configurations (etcd ConfChangeV2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ConfChangeTransition {
    /// One voter change: applied directly (no joint phase). Several changes:
    /// joint consensus, left automatically by the leader.
    #[default]
    Auto,
    /// Always joint; the leader leaves automatically.
    Implicit,
    /// Always joint; the application proposes an empty `ConfChange` to leave.
    Explicit,
}

/// A membership change. An empty `changes` list means "leave the joint
/// configuration".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfChange {
    pub transition: ConfChangeTransition,
    pub changes: Vec<ConfChangeSingle>,
}

impl ConfChange {
    /// The change that leaves a joint configuration.
    pub fn leave_joint() -> Self {
        ConfChange::default()
    }

    /// A single change with the default (auto) transition.
    pub fn single(change: ConfChangeSingle) -> Self {
        ConfChange {
            transition: ConfChangeTransition::Auto,
            changes: vec![change],
        }
    }

    /// True for the "leave joint" change.
    pub fn is_leave_joint(&self) -> bool {
        self.changes.is_empty()
    }

    /// Whether applying this change enters a joint configuration, and if so
    /// whether it is left automatically.
    pub fn enters_joint(&self) -> Option<bool> {
        if self.changes.is_empty() {
            return None;
        }
        match self.transition {
            ConfChangeTransition::Auto if self.changes.len() == 1 => None,
            ConfChangeTransition::Auto | ConfChangeTransition::Implicit => Some(true),
            ConfChangeTransition::Explicit => Some(false),
        }
    }
}

impl Entry {
    /// Encode (versioned binary, see `codec`).
    pub fn encode(&self, buf: &mut Vec<u8>) {
        crate::codec::encode_entry(self, buf)
    }
    /// Decode one entry; never panics, never over-allocates.
    pub fn decode(b: &[u8]) -> Result<Self, crate::DecodeError> {
        crate::codec::decode_entry(b)
    }
}

impl Message {
    /// Encode (versioned binary, see `codec`).
    pub fn encode(&self, buf: &mut Vec<u8>) {
        crate::codec::encode_message(self, buf)
    }
    /// Decode one message; never panics, never over-allocates.
    pub fn decode(b: &[u8]) -> Result<Self, crate::DecodeError> {
        crate::codec::decode_message(b)
    }
}

impl ConfChange {
    /// Encode (the `data` of a `ConfChange` entry).
    pub fn encode(&self, buf: &mut Vec<u8>) {
        crate::codec::encode_conf_change(self, buf)
    }
    /// Decode; never panics.
    pub fn decode(b: &[u8]) -> Result<Self, crate::DecodeError> {
        crate::codec::decode_conf_change(b)
    }
}

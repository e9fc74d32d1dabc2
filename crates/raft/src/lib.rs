//! slotraft's Raft core: one Raft group as a synchronous, deterministic,
//! sans-IO state machine (in the style of etcd-io/raft and tikv/raft-rs).
//!
//! The core never touches a clock, a disk, a socket or a global RNG. Time
//! enters as [`RawNode::tick`], the network as [`RawNode::step`], clients as
//! [`RawNode::propose`] / [`RawNode::read_index`], and randomness from a
//! PRNG seeded by [`Config::seed`], so a seed replays a run exactly.
//!
//! # The `Ready` contract
//!
//! After any input, the application asks [`RawNode::has_ready`]; if true it
//! takes a [`Ready`] with [`RawNode::ready`] and handles it **in this order**:
//!
//! 1. **Persist** (durably, e.g. fsync): `snapshot` (if any, install it into
//!    storage first), then `entries` (append, truncating any conflicting
//!    suffix), then `hard_state` (if any).
//! 2. **Send** `messages`. *All* messages are sent only after step 1: a vote
//!    or an append acknowledgement is a promise about durable state. No
//!    message of a `Ready` may be sent before its persistence is done.
//! 3. **Apply**: install `snapshot` into the state machine (if any), then
//!    apply `committed_entries` in order. For an entry of kind
//!    [`EntryKind::ConfChange`] call [`RawNode::apply_conf_change`] with the
//!    decoded [`ConfChange`] (and persist the returned [`ConfState`]).
//!    `read_states` may be answered once the applied index reaches their
//!    `index`.
//! 4. **Advance**: call [`RawNode::advance`] with the `Ready`. No other input
//!    may be given to the node between `ready()` and `advance()`.
//!
//! A crash anywhere in 1–4 is safe: whatever was not persisted is lost and
//! no message promised it. Committed entries may be re-delivered after a
//! restart from [`Config::applied`] onwards; applying must be idempotent by
//! index (the application remembers its applied index).
//!
//! `soft_state` reports leader/role changes (for routing). The snapshot
//! counts as applied once its `Ready` is advanced.
//!
//! # Features
//!
//! Elections with randomized timeouts in `[election_tick, 2*election_tick)`,
//! optional election [`Config::priority`], PreVote, CheckQuorum, a no-op
//! entry at the start of each term; pipelined, batched replication with a
//! bounded in-flight window (count and bytes) and Probe / Replicate /
//! Snapshot progress states; fast backtracking by conflict term and index;
//! commit only by counting current-term entries; ReadIndex (batched, with
//! follower forwarding) and an optional lease read; leadership transfer;
//! chunked InstallSnapshot; joint-consensus membership changes and learners.
//! See `docs/raft.md` for details, the lease clock assumption, and where
//! each feature is tested.
//!
//! # Election priority
//!
//! With `priority = p > 0` a node draws its randomized election timeout from
//! `[election_tick, election_tick + election_tick / (1 + min(p, MAX_PRIORITY)))`
//! instead of `[election_tick, 2*election_tick)`: like the replica rank of
//! Redis Cluster, higher-priority nodes tend to time out — and so campaign —
//! first. Safety is unaffected: a node still needs an up-to-date log to win.
//!
//! # Lease reads
//!
//! With [`Config::lease_read`] (requires `check_quorum`, on every member),
//! the leader answers ReadIndex without a heartbeat round while it holds a
//! lease: a quorum acknowledged a heartbeat it sent less than
//! `lease_ticks = election_tick - max(1, election_tick / 4)` ticks ago (its
//! own tick count). Followers refuse votes (and don't campaign) for at least
//! `election_tick` of their own ticks after hearing from the leader, and a
//! restarted node refuses votes for its first `election_tick` ticks. The
//! lease is therefore safe if tick rates of any two nodes differ by less
//! than 25% (bounded clock drift) and the lease is shorter than the election
//! timeout. A leader that starts a leadership transfer gives up its lease
//! for the rest of its term. Only the leader's own reads use the lease
//! (marked [`ReadState::lease`]); the application re-checks
//! [`RawNode::lease_remaining`] against the real time it has not yet told
//! Raft before serving them, so a pause between the tick that made the
//! lease look valid and the read cannot serve stale data (docs/raft.md).

#![forbid(unsafe_code)]

mod codec;
mod config;
mod error;
mod log;
mod message;
mod progress;
mod quorum;
mod raft;
mod raw_node;
mod read_only;
mod rng;
mod storage;

pub use codec::DecodeError;
pub use config::{
    Config, InjectedBugs, DEFAULT_ELECTION_TICK, DEFAULT_HEARTBEAT_TICK,
    DEFAULT_MAX_COMMITTED_SIZE_PER_READY, DEFAULT_MAX_ENTRIES_PER_MSG, DEFAULT_MAX_INFLIGHT_BYTES,
    DEFAULT_MAX_INFLIGHT_MSGS, DEFAULT_MAX_PENDING_READS, DEFAULT_MAX_SIZE_PER_MSG,
    DEFAULT_MAX_SNAPSHOT_CHUNK, MAX_PRIORITY,
};
pub use error::{Error, StorageError};
pub use message::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfState, Entry, EntryKind, HardState,
    Message, MessageBody, ReadState, RejectHint, Role, Snapshot, SnapshotMeta, SoftState,
};
pub use progress::{ProgressInfo, ProgressState};
pub use raw_node::{ProposalId, RawNode, Ready};
pub use rng::Rng;
pub use storage::{limit_size, MemStorage, MemStorageCore, RaftState, Storage};

/// Re-exported identifier newtypes.
pub use slotraft_types::{LogIndex, NodeId, Term};

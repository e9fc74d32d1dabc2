//! The sans-IO multi-Raft host of one slotraft node.
//!
//! A node hosts many shard groups (one Raft group + one keyspace each). This
//! crate owns everything between "a client command for group G" and "the
//! reply for that client", except IO:
//!
//! - **Batching.** Commands queued for a group between two driver rounds
//!   become *one* log entry ([`ShardEntry`]): one WAL record, one
//!   AppendEntries, one fsync share the cost. Reads queued between two
//!   rounds share one ReadIndex round.
//! - **Determinism.** The leader decides `now_ms` and a seed once per entry;
//!   every replica applies the same ops with the same
//!   [`slotraft_keyspace::ExecCtx`] (docs/decisions/0001).
//! - **Honest completions.** A proposed command is answered with what was
//!   actually applied at its log position, on whatever role this node has by
//!   then. If a *different* entry is applied at that position, the command
//!   certainly never executed ([`NotExecuted::Superseded`], safe to retry).
//!   Only when that cannot be known (a snapshot jumped over the position, or
//!   the wait exceeded [`Limits::max_wait_ticks`]) is it [`Completion::Uncertain`]
//!   (docs/decisions/0002).
//!
//! # Driving it (the server's driver thread does exactly this)
//!
//! ```text
//! loop {
//!     feed inputs: tick(), step(), propose(), read()       // any order
//!     let persist = mr.ready();                            // phase 1
//!     write persist.groups into the WAL, wait until durable
//!     let out = mr.advance_persisted();                    // phase 2
//!     send out.messages; deliver out.completions
//! }
//! ```
//!
//! The metadata group (group 0) is hosted the same way with
//! [`MultiRaft::add_meta_group`]: its ops are [`Op::Meta`] (encoded
//! `slotraft_cluster::MetaCommand`s) applied to a `ClusterMap`.
//!
//! No input may be given between `ready()` and `advance_persisted()` (the
//! Raft `Ready` contract); the two phases exist so the caller can make one
//! WAL write and one fsync for every group of the node.

#![forbid(unsafe_code)]

mod entry;
mod group;
mod node;
mod state;

pub use entry::{
    EntryDecodeError, Op, ShardEntry, MAX_ARGS_PER_OP, MAX_ENTRY_BYTES, MAX_META_OP_BYTES,
    MAX_OPS_PER_ENTRY,
};
pub use group::{GroupStatus, PendingSnapshot};
pub use node::{
    Completion, GroupPersist, Limits, MultiRaft, NotExecuted, Output, Persist, Token,
    MAX_FORWARDED_TRANSFERS, TRANSFER_CTX_MAGIC,
};
pub use state::{FrozenState, ERR_CMD_ON_META, ERR_META_ON_SHARD};

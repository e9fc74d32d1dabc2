//! Durable node storage for slotraft: one write-ahead log shared by every Raft
//! group on the node, per-group hard state, and per-group snapshot files.
//!
//! Why it exists / why so: an acknowledged write may be promised only once it
//! is on disk, and `fsync` — not CPU — bounds a consensus store's write rate.
//! So all groups share one log, written by a two-stage pipeline (a writer
//! thread writes what is pending while a sync thread runs the fdatasync of
//! what was written before): one fdatasync covers many groups and callers
//! (group commit); a caller waiting alone on an idle pipeline writes and
//! syncs its own records instead, with no thread hop. The format, commit
//! protocol, recovery rules and failure table are in `docs/storage-format.md`;
//! comments in the code name the section they implement.
//!
//! Shape of the API (what the Raft layer uses):
//! - write: `Store::write(WriteBatch)` / `append` / `set_hard_state` /
//!   `truncate_from` / `compact` return a `Ticket`; durability is learnt with
//!   `wait(ticket)`, `is_durable(ticket)`, `durable_seq()` or
//!   `on_durable(ticket, callback)`.
//! - read (raft-rs `Storage` shape): `entries(group, lo, hi, max_bytes)`,
//!   `term`, `first_index`, `last_index`, `hard_state`, `compaction_point`,
//!   `snapshot`.
//! - snapshots: `snapshot_writer` → `write_chunk`* → `finish`, then `compact`;
//!   `snapshot_reader` → `read_chunk`.
//!
//! All file IO goes through `vfs::Vfs`; `sim::SimVfs` is the crash/fault model.

#![forbid(unsafe_code)]

#[doc(hidden)]
pub mod fuzzing;
pub mod group;
pub mod record;
mod recovery;
pub mod sim;
pub mod snapshot;
mod store;
pub mod vfs;
mod writer;

pub use group::HardState;
pub use recovery::RecoveryReport;
pub use snapshot::{SnapshotMeta, SnapshotReader, SnapshotWriter, MAX_SNAPSHOT_CHUNK};
pub use store::{
    Callback, Config, Entry, Op, Store, Ticket, WriteBatch, DEFAULT_CACHE_BYTES,
    DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_WAIT, DEFAULT_SEGMENT_BYTES, MAX_BATCH_BYTES_LIMIT,
    MAX_GROUPS, MAX_SUBMIT_BYTES,
};
pub use store::{DEFAULT_PREALLOC_BYTES, MAX_CACHE_QUEUE, MAX_PREALLOC_BYTES, WAIT_SLOTS};
pub use vfs::{StdVfs, Vfs, VfsFile};

use slotraft_types::GroupId;
use std::fmt;

/// Errors of the store. Cloneable: one failure is reported to many waiters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The requested index is compacted (covered by a snapshot).
    Compacted,
    /// The requested index is past the last entry.
    Unavailable,
    /// The group has no state in this store.
    UnknownGroup(GroupId),
    /// The request breaks a documented rule (message says which).
    InvalidArgument(&'static str),
    /// An fsync or write failed: the store stopped for good (docs 2.2). The
    /// node must restart and recover.
    Failed(String),
    /// The disk is full: writes stopped, nothing reported durable was lost.
    NoSpace,
    /// On-disk data is damaged in a way that is not a torn tail.
    Corruption {
        file: String,
        offset: u64,
        reason: &'static str,
    },
    /// A file of another format version.
    UnsupportedVersion { file: String, version: u32 },
    /// The store is shutting down.
    Closed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Compacted => write!(f, "log index compacted"),
            Error::Unavailable => write!(f, "log index unavailable"),
            Error::UnknownGroup(g) => write!(f, "unknown group {g}"),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Failed(m) => write!(f, "storage failed (restart required): {m}"),
            Error::NoSpace => write!(f, "storage out of space: writes stopped"),
            Error::Corruption {
                file,
                offset,
                reason,
            } => write!(f, "corruption in {file:?} at {offset}: {reason}"),
            Error::UnsupportedVersion { file, version } => {
                write!(f, "{file:?} has unsupported format version {version}")
            }
            Error::Closed => write!(f, "storage closed"),
        }
    }
}

impl std::error::Error for Error {}

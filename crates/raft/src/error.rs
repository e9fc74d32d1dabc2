//! Errors returned by the core and by [`crate::Storage`].
//!
//! Kept small and `Copy`-friendly: the core never allocates for an error on
//! the hot path, and callers match on variants to decide what to tell clients
//! (e.g. `ProposalDropped` is a certain "not executed").

use std::fmt;

/// Errors of a [`crate::Storage`] implementation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageError {
    /// The requested index is before the first index (compacted away).
    Compacted,
    /// The requested index is after the last index.
    Unavailable,
    /// The requested snapshot is not ready yet; the leader retries later.
    SnapshotTemporarilyUnavailable,
    /// A snapshot older than the current one was offered.
    SnapshotOutOfDate,
    /// Anything else (I/O); the core panics on it, as a node cannot go on.
    Other(String),
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for StorageError {}

/// Errors of the Raft core's inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The proposal was not appended: no leader here, or a leadership
    /// transfer is in progress. Certainly not executed; safe to retry.
    ProposalDropped,
    /// A configuration change is already pending (not yet applied), or the
    /// change does not fit the current configuration.
    ConfChangeRejected(&'static str),
    /// Too many ReadIndex requests are pending.
    ReadIndexBusy,
    /// The request needs a leader and none is known.
    NoLeader,
    /// A `Config` field is out of range.
    ConfigInvalid(&'static str),
    /// Storage failed.
    Storage(StorageError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for Error {}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        Error::Storage(e)
    }
}

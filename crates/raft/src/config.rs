//! Configuration of one Raft node, with validation and the test-only
//! injected bugs.
//!
//! Why every limit lives here: the project requires a named bound on every
//! queue, batch and window. Defaults are the named consts below; a caller
//! may tighten them (the simulator does, to exercise the limits).

use crate::Error;
use slotraft_types::{LogIndex, NodeId};

/// Default election timeout in ticks (the randomized timeout is drawn from
/// `[election_tick, 2 * election_tick)`).
pub const DEFAULT_ELECTION_TICK: usize = 10;
/// Default heartbeat interval in ticks.
pub const DEFAULT_HEARTBEAT_TICK: usize = 2;
/// Default number of un-acknowledged appends in flight per follower.
pub const DEFAULT_MAX_INFLIGHT_MSGS: usize = 256;
/// Default bytes of un-acknowledged appends in flight per follower.
pub const DEFAULT_MAX_INFLIGHT_BYTES: u64 = 64 * 1024 * 1024;
/// Default byte budget of the entries of one append message.
pub const DEFAULT_MAX_SIZE_PER_MSG: u64 = 1024 * 1024;
/// Default maximum number of entries in one append message.
pub const DEFAULT_MAX_ENTRIES_PER_MSG: usize = 4096;
/// Default size of one InstallSnapshot chunk.
pub const DEFAULT_MAX_SNAPSHOT_CHUNK: usize = 512 * 1024;
/// Default byte budget of committed entries handed out by one `Ready`.
pub const DEFAULT_MAX_COMMITTED_SIZE_PER_READY: u64 = 16 * 1024 * 1024;
/// Default bound on ReadIndex requests waiting at the leader.
pub const DEFAULT_MAX_PENDING_READS: usize = 65_536;
/// Default bound on bytes of proposals appended but not yet committed
/// (leader); further proposals are dropped.
pub const DEFAULT_MAX_UNCOMMITTED_SIZE: u64 = 256 * 1024 * 1024;
/// Largest priority that still changes the timeout (higher values clamp).
pub const MAX_PRIORITY: u64 = 8;

/// Deliberately broken variants of the protocol, so the simulator can prove
/// it catches each classic bug. **Test only**: every field is `false` by
/// default and production code must never set one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InjectedBugs {
    /// Grant votes without the "candidate's log is at least as up-to-date"
    /// check (§5.4.1).
    pub vote_without_log_check: bool,
    /// Advance the commit index by counting replicas of an entry from an
    /// older term (the figure-8 bug, §5.4.2).
    pub commit_old_term_by_counting: bool,
    /// A follower keeps its conflicting suffix instead of truncating it when
    /// an append disagrees with it (§5.3).
    pub no_truncate_on_conflict: bool,
    /// The leader answers ReadIndex at once with its commit index, without a
    /// quorum round and without waiting for an entry of its term.
    pub read_without_quorum: bool,
}

impl InjectedBugs {
    /// True if any bug is switched on.
    pub fn any(&self) -> bool {
        self.vote_without_log_check
            || self.commit_old_term_by_counting
            || self.no_truncate_on_conflict
            || self.read_without_quorum
    }
}

/// Configuration of one Raft node. Build with [`Config::new`] and adjust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node's id (never 0).
    pub id: NodeId,
    /// Election timeout base in ticks; must be > `heartbeat_tick`.
    pub election_tick: usize,
    /// Heartbeat interval in ticks.
    pub heartbeat_tick: usize,
    /// Index already applied by the state machine when restarting (entries
    /// after it are handed out again as committed entries).
    pub applied: LogIndex,
    /// Bound on in-flight appends per follower (count).
    pub max_inflight_msgs: usize,
    /// Bound on in-flight appends per follower (bytes of entries).
    pub max_inflight_bytes: u64,
    /// Byte budget of one append message's entries (at least one entry is
    /// always sent, even if larger).
    pub max_size_per_msg: u64,
    /// Bound on the number of entries in one append message.
    pub max_entries_per_msg: usize,
    /// Bound on one InstallSnapshot chunk.
    pub max_snapshot_chunk: usize,
    /// Bound on the bytes of committed entries in one `Ready`.
    pub max_committed_size_per_ready: u64,
    /// Bound on ReadIndex requests queued at a leader.
    pub max_pending_reads: usize,
    /// Bound on bytes of uncommitted proposals at a leader.
    pub max_uncommitted_size: u64,
    /// Run the PreVote phase before real elections (thesis §9.6).
    pub pre_vote: bool,
    /// Leader steps down when it has not heard from a quorum for an election
    /// timeout; followers ignore votes while they have a live leader.
    pub check_quorum: bool,
    /// Serve ReadIndex from the leader lease instead of a heartbeat round.
    /// Requires `check_quorum` and must be set on every member (see crate
    /// docs for the clock assumption).
    pub lease_read: bool,
    /// Election priority (0 = none). Higher priorities draw shorter
    /// randomized election timeouts; see crate docs.
    pub priority: u64,
    /// Seed of this node's private PRNG (timeouts). Same seed, same run.
    pub seed: u64,
    /// Test-only injected bugs; all off by default.
    pub bugs: InjectedBugs,
}

impl Config {
    /// Defaults for node `id`.
    pub fn new(id: NodeId) -> Self {
        Config {
            id,
            election_tick: DEFAULT_ELECTION_TICK,
            heartbeat_tick: DEFAULT_HEARTBEAT_TICK,
            applied: LogIndex::ZERO,
            max_inflight_msgs: DEFAULT_MAX_INFLIGHT_MSGS,
            max_inflight_bytes: DEFAULT_MAX_INFLIGHT_BYTES,
            max_size_per_msg: DEFAULT_MAX_SIZE_PER_MSG,
            max_entries_per_msg: DEFAULT_MAX_ENTRIES_PER_MSG,
            max_snapshot_chunk: DEFAULT_MAX_SNAPSHOT_CHUNK,
            max_committed_size_per_ready: DEFAULT_MAX_COMMITTED_SIZE_PER_READY,
            max_pending_reads: DEFAULT_MAX_PENDING_READS,
            max_uncommitted_size: DEFAULT_MAX_UNCOMMITTED_SIZE,
            pre_vote: true,
            check_quorum: true,
            lease_read: false,
            priority: 0,
            seed: 0,
            bugs: InjectedBugs::default(),
        }
    }

    /// Checks the invariants between fields.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |s: &'static str| Err(Error::ConfigInvalid(s));
        if self.id == NodeId::ZERO {
            return bad("id must not be 0");
        }
        if self.heartbeat_tick == 0 {
            return bad("heartbeat_tick must be > 0");
        }
        if self.election_tick <= self.heartbeat_tick {
            return bad("election_tick must be > heartbeat_tick");
        }
        if self.max_inflight_msgs == 0 || self.max_inflight_bytes == 0 {
            return bad("in-flight window must be > 0");
        }
        if self.max_entries_per_msg == 0 || self.max_size_per_msg == 0 {
            return bad("message limits must be > 0");
        }
        if self.max_snapshot_chunk == 0 || self.max_pending_reads == 0 {
            return bad("snapshot chunk and read queue must be > 0");
        }
        if self.max_committed_size_per_ready == 0 {
            return bad("max_committed_size_per_ready must be > 0");
        }
        if self.lease_read && !self.check_quorum {
            return bad("lease_read requires check_quorum");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bugs_are_off() {
        let c = Config::new(NodeId(1));
        assert!(c.validate().is_ok());
        assert!(!c.bugs.any());
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let mut c = Config::new(NodeId(1));
        c.election_tick = c.heartbeat_tick;
        assert!(c.validate().is_err());
        let mut c = Config::new(NodeId(0));
        c.election_tick = 10;
        assert!(c.validate().is_err());
        let mut c = Config::new(NodeId(1));
        c.check_quorum = false;
        c.lease_read = true;
        assert!(c.validate().is_err());
    }
}

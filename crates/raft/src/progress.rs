//! Per-follower replication progress kept by the leader, the in-flight
//! window, and the tracker of the group's membership.
//!
//! Why three states (etcd-style): *Probe* sends one append per heartbeat
//! until the follower's match point is found; *Replicate* pipelines appends
//! optimistically within a bounded window (count and bytes) so a fast
//! follower is never waiting on round trips; *Snapshot* stops appends while
//! a snapshot is being transferred.

use crate::message::ConfState;
use crate::quorum::JointConfig;
use slotraft_types::{LogIndex, NodeId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Replication state of one follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    Probe,
    Replicate,
    Snapshot,
}

/// A read-only copy of a follower's progress (for tests and status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgressInfo {
    pub matched: LogIndex,
    pub next: LogIndex,
    pub state: ProgressState,
    pub inflight_msgs: usize,
    pub inflight_bytes: u64,
    pub is_learner: bool,
    pub recent_active: bool,
}

/// Bounded window of un-acknowledged appends: (last index, bytes) each.
#[derive(Clone, Debug)]
pub struct Inflights {
    queue: VecDeque<(LogIndex, u64)>,
    bytes: u64,
    max_count: usize,
    max_bytes: u64,
}

impl Inflights {
    pub fn new(max_count: usize, max_bytes: u64) -> Self {
        Inflights {
            queue: VecDeque::new(),
            bytes: 0,
            max_count,
            max_bytes,
        }
    }

    pub fn full(&self) -> bool {
        self.queue.len() >= self.max_count || self.bytes >= self.max_bytes
    }

    pub fn add(&mut self, last: LogIndex, bytes: u64) {
        assert!(self.queue.len() < self.max_count, "inflights overflow");
        debug_assert!(self.queue.back().map(|b| b.0 < last).unwrap_or(true));
        self.queue.push_back((last, bytes));
        self.bytes += bytes;
    }

    /// Forget every message whose last index is <= `to`.
    pub fn free_le(&mut self, to: LogIndex) {
        while let Some(&(idx, b)) = self.queue.front() {
            if idx > to {
                break;
            }
            self.queue.pop_front();
            self.bytes -= b;
        }
    }

    pub fn free_first(&mut self) {
        if let Some(&(idx, _)) = self.queue.front() {
            self.free_le(idx);
        }
    }

    pub fn reset(&mut self) {
        self.queue.clear();
        self.bytes = 0;
    }

    pub fn count(&self) -> usize {
        self.queue.len()
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Leader's view of one peer.
#[derive(Clone, Debug)]
pub struct Progress {
    pub matched: LogIndex,
    pub next: LogIndex,
    pub state: ProgressState,
    /// Probe: an append was sent and not answered; wait for a heartbeat.
    pub probe_sent: bool,
    /// Snapshot: index of the snapshot being sent.
    pub pending_snapshot: LogIndex,
    /// Snapshot: bytes of it the follower acknowledged.
    pub snapshot_offset: u64,
    /// Heard from since the last CheckQuorum.
    pub recent_active: bool,
    /// Leader tick of the newest heartbeat this peer acknowledged (lease).
    pub acked_tick: u64,
    pub is_learner: bool,
    pub inflights: Inflights,
}

impl Progress {
    pub fn new(next: LogIndex, max_count: usize, max_bytes: u64) -> Self {
        Progress {
            matched: LogIndex::ZERO,
            next,
            state: ProgressState::Probe,
            probe_sent: false,
            pending_snapshot: LogIndex::ZERO,
            snapshot_offset: 0,
            recent_active: false,
            acked_tick: 0,
            is_learner: false,
            inflights: Inflights::new(max_count, max_bytes),
        }
    }

    fn reset_state(&mut self, state: ProgressState) {
        self.probe_sent = false;
        self.pending_snapshot = LogIndex::ZERO;
        self.snapshot_offset = 0;
        self.state = state;
        self.inflights.reset();
    }

    pub fn become_probe(&mut self) {
        if self.state == ProgressState::Snapshot {
            let pending = self.pending_snapshot;
            self.reset_state(ProgressState::Probe);
            self.next = self.matched.next().max(pending.next());
        } else {
            self.reset_state(ProgressState::Probe);
            self.next = self.matched.next();
        }
    }

    pub fn become_replicate(&mut self) {
        self.reset_state(ProgressState::Replicate);
        self.next = self.matched.next();
    }

    pub fn become_snapshot(&mut self, snapshot_index: LogIndex) {
        self.reset_state(ProgressState::Snapshot);
        self.pending_snapshot = snapshot_index;
    }

    /// A successful append response for `n`. Returns true if it was new.
    pub fn maybe_update(&mut self, n: LogIndex) -> bool {
        let updated = n > self.matched;
        if updated {
            self.matched = n;
            self.probe_sent = false;
        }
        self.next = self.next.max(n.next());
        updated
    }

    /// A rejection of the append with `prev_index == rejected`; `match_hint`
    /// is where the logs may agree. Returns false if the rejection is stale.
    pub fn maybe_decr_to(&mut self, rejected: LogIndex, match_hint: LogIndex) -> bool {
        if self.state == ProgressState::Replicate {
            if rejected <= self.matched {
                return false;
            }
            self.next = self.matched.next();
            return true;
        }
        if self.next.prev() != rejected {
            return false;
        }
        self.next = rejected
            .min(match_hint.next())
            .max(self.matched.next())
            .max(LogIndex(1));
        self.probe_sent = false;
        true
    }

    pub fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.full(),
            ProgressState::Snapshot => true,
        }
    }

    pub fn info(&self) -> ProgressInfo {
        ProgressInfo {
            matched: self.matched,
            next: self.next,
            state: self.state,
            inflight_msgs: self.inflights.count(),
            inflight_bytes: self.inflights.bytes(),
            is_learner: self.is_learner,
            recent_active: self.recent_active,
        }
    }
}

/// Membership plus the progress of every member.
#[derive(Clone, Debug, Default)]
pub struct ProgressTracker {
    pub voters: JointConfig,
    pub learners: BTreeSet<NodeId>,
    pub learners_next: BTreeSet<NodeId>,
    pub auto_leave: bool,
    pub progress: BTreeMap<NodeId, Progress>,
}

impl ProgressTracker {
    pub fn conf_state(&self) -> ConfState {
        ConfState {
            voters: self.voters.incoming.iter().copied().collect(),
            learners: self.learners.iter().copied().collect(),
            voters_outgoing: self.voters.outgoing.iter().copied().collect(),
            learners_next: self.learners_next.iter().copied().collect(),
            auto_leave: self.auto_leave,
        }
    }

    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(id)
    }

    /// Commit index acknowledged by the (joint) quorum.
    pub fn committed_index(&self) -> LogIndex {
        LogIndex(
            self.voters
                .committed_value(|id| self.progress.get(&id).map_or(0, |p| p.matched.get())),
        )
    }

    /// Whether a quorum was recently active (CheckQuorum).
    pub fn quorum_active(&self, self_id: NodeId) -> bool {
        let mut votes = BTreeMap::new();
        for (&id, p) in &self.progress {
            if self.voters.contains(id) {
                votes.insert(id, id == self_id || p.recent_active);
            }
        }
        self.voters.vote_result(&votes) == crate::quorum::VoteResult::Won
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflights_bound_count_and_bytes() {
        let mut f = Inflights::new(3, 100);
        f.add(LogIndex(1), 10);
        f.add(LogIndex(2), 10);
        assert!(!f.full());
        f.add(LogIndex(5), 90);
        assert!(f.full());
        f.free_le(LogIndex(2));
        assert_eq!(f.count(), 1);
        assert_eq!(f.bytes(), 90);
        let mut g = Inflights::new(10, 50);
        g.add(LogIndex(1), 60);
        assert!(g.full(), "byte bound alone fills the window");
    }

    #[test]
    fn probe_decr_uses_hint_and_ignores_stale() {
        let mut p = Progress::new(LogIndex(11), 4, 1000);
        assert!(
            !p.maybe_decr_to(LogIndex(5), LogIndex(3)),
            "stale: next-1 != 5"
        );
        assert!(p.maybe_decr_to(LogIndex(10), LogIndex(4)));
        assert_eq!(p.next, LogIndex(5));
        p.become_replicate();
        p.maybe_update(LogIndex(7));
        assert!(
            !p.maybe_decr_to(LogIndex(6), LogIndex(0)),
            "below match is stale"
        );
    }
}

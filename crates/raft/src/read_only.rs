//! ReadIndex bookkeeping at the leader (thesis §6.4), batched.
//!
//! Why rounds: confirming leadership costs one heartbeat round trip to a
//! quorum. At most one round is in flight; every read arriving meanwhile
//! joins the next round, so one round confirms arbitrarily many reads
//! (bounded by `max_pending_reads`). Reads that arrive before the leader
//! has committed an entry of its own term wait in `waiting_commit`: until
//! then the leader's commit index may be stale (thesis §6.4 step 1).

use bytes::Bytes;
use slotraft_types::{LogIndex, NodeId};
use std::collections::BTreeSet;

/// A read request: `from` is this node for local reads, or the follower
/// that forwarded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRead {
    pub ctx: Bytes,
    pub from: NodeId,
}

/// One heartbeat round confirming leadership for a batch of reads.
#[derive(Clone, Debug)]
pub struct ReadRound {
    pub id: u64,
    /// Commit index when the round started: the reads' read index.
    pub index: LogIndex,
    pub reads: Vec<PendingRead>,
    pub acks: BTreeSet<NodeId>,
}

#[derive(Clone, Debug, Default)]
pub struct ReadOnly {
    pub in_flight: Option<ReadRound>,
    pub queued: Vec<PendingRead>,
    pub waiting_commit: Vec<PendingRead>,
    next_round_id: u64,
}

impl ReadOnly {
    pub fn pending(&self) -> usize {
        self.in_flight.as_ref().map_or(0, |r| r.reads.len())
            + self.queued.len()
            + self.waiting_commit.len()
    }

    /// Start a round for the queued reads if none is in flight. Returns the
    /// new round id.
    pub fn maybe_start_round(&mut self, index: LogIndex, self_id: NodeId) -> Option<u64> {
        if self.in_flight.is_some() || self.queued.is_empty() {
            return None;
        }
        self.next_round_id += 1;
        let id = self.next_round_id;
        self.in_flight = Some(ReadRound {
            id,
            index,
            reads: std::mem::take(&mut self.queued),
            acks: BTreeSet::from([self_id]),
        });
        Some(id)
    }

    pub fn round_id(&self) -> u64 {
        self.in_flight.as_ref().map_or(0, |r| r.id)
    }

    /// Drop everything (leadership lost): clients time out and retry.
    pub fn clear(&mut self) {
        self.in_flight = None;
        self.queued.clear();
        self.waiting_commit.clear();
    }
}

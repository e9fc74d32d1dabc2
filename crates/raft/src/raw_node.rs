//! [`RawNode`]: the public face of the core, and the [`Ready`] batch.
//!
//! Why a separate layer over `Raft`: `Raft` is the protocol; `RawNode` owns
//! the bookkeeping of what the application has already been told (previous
//! hard/soft state, which entries were handed out for persistence and which
//! for application), so each `Ready` contains exactly the new work.

use crate::message::{
    ConfChange, ConfState, Entry, HardState, Message, ReadState, Role, Snapshot, SoftState,
};
use crate::progress::ProgressInfo;
use crate::raft::Raft;
use crate::{Config, Error, Storage};
use bytes::Bytes;
use slotraft_types::{LogIndex, NodeId, Term};

/// Where a proposal landed in the log. It is committed iff an entry with
/// this exact `(term, index)` is later handed out as committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProposalId {
    pub term: Term,
    pub index: LogIndex,
}

/// New work for the application; see the crate docs for the order in which
/// it must be handled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Leader / role if changed since the previous `Ready`.
    pub soft_state: Option<SoftState>,
    /// Term, vote, commit if changed; persist before sending.
    pub hard_state: Option<HardState>,
    /// Reads that became safe (serve once applied >= `index`).
    pub read_states: Vec<ReadState>,
    /// Entries to append to stable storage (may overwrite a suffix).
    pub entries: Vec<Entry>,
    /// A snapshot to install into storage and state machine.
    pub snapshot: Option<Snapshot>,
    /// Entries to apply, in order.
    pub committed_entries: Vec<Entry>,
    /// Messages to send after persisting (or before it, see
    /// `messages_before_persist`).
    pub messages: Vec<Message>,
    /// True if `entries`, `hard_state.term/vote` or `snapshot` changed, i.e.
    /// the persistence step needs an fsync before sending.
    pub must_sync: bool,
    /// True when `messages` may be sent *before* this `Ready` is persisted:
    /// this node is a leader whose term and vote are already durable and it
    /// installs no snapshot. Its messages are appends, heartbeats, snapshots
    /// and read answers whose commit index only counts the leader's own
    /// entries once they are durable (`advance`), so a crash before the
    /// fsync cannot make anything look committed that is not on a majority
    /// (Raft thesis §10.2.1: the leader writes its log in parallel with
    /// replicating it). Sending after persisting is always allowed too.
    pub messages_before_persist: bool,
}

impl Ready {
    /// True if there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.soft_state.is_none()
            && self.hard_state.is_none()
            && self.read_states.is_empty()
            && self.entries.is_empty()
            && self.snapshot.is_none()
            && self.committed_entries.is_empty()
            && self.messages.is_empty()
    }
}

/// One Raft node of one group. Generic over the persisted log's [`Storage`].
pub struct RawNode<S: Storage> {
    raft: Raft<S>,
    prev_hs: HardState,
    prev_ss: SoftState,
    /// True between `ready()` and `advance()`.
    ready_outstanding: bool,
}

impl<S: Storage> RawNode<S> {
    /// Start (or restart) a node from `storage`'s initial state.
    pub fn new(config: Config, storage: S) -> Result<Self, Error> {
        let raft = Raft::new(config, storage)?;
        let prev_hs = raft.hard_state();
        let prev_ss = raft.soft_state();
        Ok(RawNode {
            raft,
            prev_hs,
            prev_ss,
            ready_outstanding: false,
        })
    }

    fn check_no_ready(&self) {
        debug_assert!(
            !self.ready_outstanding,
            "input between ready() and advance()"
        );
    }

    /// Advance logical time by one tick (elections, heartbeats, CheckQuorum).
    pub fn tick(&mut self) {
        self.check_no_ready();
        self.raft.tick();
    }

    /// Feed a message from a peer. Messages addressed to another node are
    /// ignored.
    pub fn step(&mut self, m: Message) -> Result<(), Error> {
        self.check_no_ready();
        self.raft.step(m)
    }

    /// Start an election now (bootstrap and tests). No-op for learners and
    /// leaders.
    pub fn campaign(&mut self) {
        self.check_no_ready();
        self.raft.campaign_now();
    }

    /// Propose application data. Only the leader accepts proposals; otherwise
    /// (or during a leadership transfer) `Error::ProposalDropped`.
    pub fn propose(&mut self, data: Bytes) -> Result<ProposalId, Error> {
        self.check_no_ready();
        self.raft.propose(data)
    }

    /// Propose a membership change (joint consensus, see [`ConfChange`]).
    /// Rejected while another change is pending (not yet applied).
    pub fn propose_conf_change(&mut self, cc: ConfChange) -> Result<ProposalId, Error> {
        self.check_no_ready();
        self.raft.propose_conf_change(cc)
    }

    /// Apply a committed conf change (call while applying its entry).
    /// Returns the new membership, which the application persists.
    pub fn apply_conf_change(&mut self, cc: &ConfChange) -> Result<ConfState, Error> {
        self.raft.apply_conf_change(cc)
    }

    /// Ask for a linearizable read. A [`ReadState`] with this `ctx` appears in
    /// a later `Ready` once it is safe (or never, if leadership is lost: the
    /// application times the read out and retries).
    pub fn read_index(&mut self, ctx: Bytes) -> Result<(), Error> {
        self.check_no_ready();
        self.raft.read_index(ctx)
    }

    /// Ticks the leader lease still lasts on this node's tick count (`None`:
    /// no valid lease). See [`ReadState::lease`].
    pub fn lease_remaining(&self) -> Option<u64> {
        self.raft.lease_remaining()
    }

    /// Leader only: hand leadership to `to` once its log is caught up.
    /// Aborted after an election timeout.
    pub fn transfer_leader(&mut self, to: NodeId) {
        self.check_no_ready();
        self.raft.transfer_leader(to);
    }

    /// Leader only: the transport reports the outcome of sending a snapshot.
    pub fn report_snapshot(&mut self, to: NodeId, ok: bool) {
        self.check_no_ready();
        self.raft.report_snapshot(to, ok);
    }

    /// Leader only: the transport could not reach `to`.
    pub fn report_unreachable(&mut self, to: NodeId) {
        self.check_no_ready();
        self.raft.report_unreachable(to);
    }

    /// Whether [`RawNode::ready`] would return a non-empty `Ready`.
    pub fn has_ready(&self) -> bool {
        self.raft.soft_state() != self.prev_ss
            || self.raft.hard_state() != self.prev_hs
            || self.raft.has_pending_work()
    }

    /// Collect the new work. Follow with [`RawNode::advance`].
    pub fn ready(&mut self) -> Ready {
        self.check_no_ready();
        self.raft.flush();
        let ss = self.raft.soft_state();
        let hs = self.raft.hard_state();
        let snapshot = self.raft.log.unstable_snapshot().cloned();
        let entries = self.raft.log.unstable_entries().to_vec();
        let must_sync = !entries.is_empty()
            || snapshot.is_some()
            || hs.term != self.prev_hs.term
            || hs.vote != self.prev_hs.vote;
        let messages_before_persist = ss.role == Role::Leader
            && snapshot.is_none()
            && hs.term == self.prev_hs.term
            && hs.vote == self.prev_hs.vote;
        let rd = Ready {
            soft_state: (ss != self.prev_ss).then_some(ss),
            hard_state: (hs != self.prev_hs).then_some(hs),
            read_states: std::mem::take(&mut self.raft.read_states),
            entries,
            snapshot,
            committed_entries: self.raft.log.next_committed_entries(),
            messages: std::mem::take(&mut self.raft.msgs),
            must_sync,
            messages_before_persist,
        };
        self.ready_outstanding = true;
        rd
    }

    /// Acknowledge that `rd` was persisted, sent and applied.
    pub fn advance(&mut self, rd: Ready) {
        assert!(self.ready_outstanding, "advance() without ready()");
        self.ready_outstanding = false;
        if let Some(ss) = rd.soft_state {
            self.prev_ss = ss;
        }
        if let Some(hs) = rd.hard_state {
            self.prev_hs = hs;
        }
        self.raft.advance(&rd);
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.raft.id
    }
    /// Current term.
    pub fn term(&self) -> Term {
        self.raft.term
    }
    /// Vote in the current term.
    pub fn vote(&self) -> Option<NodeId> {
        self.raft.vote
    }
    /// Current role.
    pub fn role(&self) -> Role {
        self.raft.role
    }
    /// Known leader of the current term.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.leader
    }
    /// Commit index.
    pub fn commit(&self) -> LogIndex {
        self.raft.log.committed
    }
    /// Index handed out for application and advanced.
    pub fn applied(&self) -> LogIndex {
        self.raft.log.applied
    }
    /// Last index of the (possibly unpersisted) log.
    pub fn last_index(&self) -> LogIndex {
        self.raft.log.last_index()
    }
    /// Term of the entry at `idx`, if still in the log.
    pub fn log_term(&self, idx: LogIndex) -> Option<Term> {
        self.raft.log.term(idx)
    }
    /// Current membership.
    pub fn conf_state(&self) -> ConfState {
        self.raft.prs.conf_state()
    }
    /// Pending leadership transfer target (leader only).
    pub fn lead_transferee(&self) -> Option<NodeId> {
        self.raft.lead_transferee
    }
    /// Replication progress of a peer (leader only).
    pub fn progress(&self, id: NodeId) -> Option<ProgressInfo> {
        self.raft.progress_info(id)
    }
    /// The storage.
    pub fn store(&self) -> &S {
        self.raft.log.store()
    }
}

//! [`MultiRaft`]: every group of one node behind one two-phase ready cycle.
//!
//! Besides the shard groups it may host the metadata group (at most one,
//! [`MultiRaft::add_meta_group`]); its applied [`ClusterMap`] is readable with
//! [`MultiRaft::cluster_map`] and every change is reported once in
//! [`Output::map_changed`].
//!
//! Leadership transfer from any member: the Raft core only acts on
//! `transfer_leader` at the leader, so a follower forwards the request to the
//! leader it knows as a Raft `ReadIndex` message whose context is tagged
//! with [`TRANSFER_CTX_MAGIC`] (16 bytes; real ReadIndex contexts are 8).
//! [`MultiRaft::step`] on the leader intercepts it before Raft sees it and
//! starts the transfer if the sender's term is the leader's term (a stale
//! forward is dropped). This keeps the bus and the Raft core unchanged; the
//! price is that the request is best effort (a lost message is a transfer
//! that never starts: the caller's wait times out).

use crate::entry::Op;
use crate::group::{mix, Group, GroupStatus, PendingSnapshot};
use crate::state::StateMachine;
use bytes::Bytes;
use slotraft_cluster::ClusterMap;
use slotraft_keyspace::{Keyspace, Outcome};
use slotraft_raft::{
    Config, Entry, Error as RaftError, HardState, Message, MessageBody, ProgressInfo, RawNode,
    Snapshot, Storage,
};
use slotraft_types::{GroupId, LogIndex, NodeId, Term};
use std::collections::BTreeMap;

/// Identifies one client operation; chosen by the caller, echoed back in
/// exactly one [`Completion`].
pub type Token = u64;

/// Bounds on what one node queues (every queue has a named limit).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Writes queued per group between two rounds; beyond → `Busy`.
    pub max_queued_ops: usize,
    /// Reads queued per group between two rounds; beyond → `Busy`.
    pub max_queued_reads: usize,
    /// Ticks a proposed write or a read round may wait before the client is
    /// answered (`Uncertain` for writes, `ReadTimeout` for reads).
    pub max_wait_ticks: u64,
}

/// First 8 bytes of a forwarded leadership-transfer request (the context of
/// a Raft `ReadIndex` message, followed by the target node id, u64 LE).
pub const TRANSFER_CTX_MAGIC: &[u8; 8] = b"SRXFER01";
/// Forwarded transfer requests held until the next `advance_persisted`
/// (beyond → `Busy`; a client retries).
pub const MAX_FORWARDED_TRANSFERS: usize = 1024;

/// Default per-group queue bound.
pub const DEFAULT_MAX_QUEUED_OPS: usize = 65_536;
/// Default wait bound: 500 ticks = 5 s at the server's 10 ms tick.
pub const DEFAULT_MAX_WAIT_TICKS: u64 = 500;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_queued_ops: DEFAULT_MAX_QUEUED_OPS,
            max_queued_reads: DEFAULT_MAX_QUEUED_OPS,
            max_wait_ticks: DEFAULT_MAX_WAIT_TICKS,
        }
    }
}

/// Why an operation certainly did not execute (so a client may retry it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotExecuted {
    /// This node does not lead the group; the hint is the leader it knows.
    NotLeader(Option<NodeId>),
    /// No leader is known (election in progress or no quorum).
    NoLeader,
    /// A queue limit was reached.
    Busy,
    /// Raft refused to append it (e.g. a leadership transfer in progress).
    Dropped(String),
    /// Another entry was committed at the position it was proposed at.
    Superseded,
    /// A read's ReadIndex round did not complete in time (reads have no effect).
    ReadTimeout,
    /// The group is not hosted here.
    UnknownGroup,
}

/// The answer to one client operation.
#[derive(Clone, Debug, PartialEq)]
pub enum Completion {
    /// Applied (writes: committed and applied; reads: served at or after
    /// a linearizable read index). For blocking commands the outcome may be
    /// `Outcome::Block`: nothing happened, the caller parks the client.
    Done(Outcome),
    /// Certainly not executed.
    NotExecuted(NotExecuted),
    /// May or may not have been executed; never retried automatically.
    Uncertain(&'static str),
}

/// What one group must persist in phase 1.
#[derive(Clone, Debug)]
pub struct GroupPersist {
    pub group: GroupId,
    /// Install into storage first (replacing the log up to its index).
    pub snapshot: Option<Snapshot>,
    /// Append, truncating any conflicting suffix.
    pub entries: Vec<Entry>,
    pub hard_state: Option<HardState>,
    /// Whether an fsync is needed before phase 2.
    pub must_sync: bool,
}

/// Phase 1 output: everything every group must make durable.
#[derive(Clone, Debug, Default)]
pub struct Persist {
    pub groups: Vec<GroupPersist>,
    /// Messages that may be sent right away, before (or while) the groups
    /// are persisted: leaders' appends and heartbeats (Raft thesis
    /// §10.2.1; the leader's own copy only counts once durable). Sending
    /// them early overlaps the leader's fsync with the followers'.
    pub messages_now: Vec<(GroupId, Message)>,
}

impl Persist {
    pub fn must_sync(&self) -> bool {
        self.groups.iter().any(|g| g.must_sync)
    }
}

/// Phase 2 output.
#[derive(Debug, Default)]
pub struct Output {
    /// Raft messages to send, tagged with their group.
    pub messages: Vec<(GroupId, Message)>,
    pub completions: Vec<(Token, Completion)>,
    /// Groups whose leader (or term) changed: `(group, leader, term)`.
    pub leader_changes: Vec<(GroupId, Option<NodeId>, Term)>,
    /// Keys that became non-empty lists/zsets on groups this node LEADS
    /// (wakes blocked clients; a follower's are discarded: its clients
    /// were redirected to the leader).
    pub ready_keys: Vec<(GroupId, Vec<Bytes>)>,
    /// The metadata group's applied map, if it changed in this round
    /// (a committed command or an installed snapshot).
    pub map_changed: Option<ClusterMap>,
}

/// All groups of one node.
pub struct MultiRaft<S: Storage> {
    id: NodeId,
    groups: BTreeMap<GroupId, Group<S>>,
    limits: Limits,
    now_ms: u64,
    /// See [`MultiRaft::set_untold_ticks`].
    untold_ticks: u64,
    seed: u64,
    /// Completions produced outside the ready cycle (timeouts, drops).
    early: Vec<(Token, Completion)>,
    in_ready: bool,
    /// The metadata group, if hosted (at most one per node).
    meta_group: Option<GroupId>,
    /// Transfer requests forwarded to leaders, sent with the next output.
    forwards: Vec<(GroupId, Message)>,
    /// See [`MultiRaft::set_send_before_persist`].
    send_before_persist: bool,
}

impl<S: Storage> MultiRaft<S> {
    pub fn new(id: NodeId, limits: Limits, seed: u64) -> Self {
        MultiRaft {
            id,
            groups: BTreeMap::new(),
            limits,
            now_ms: 0,
            untold_ticks: 0,
            seed,
            early: Vec::new(),
            in_ready: false,
            meta_group: None,
            forwards: Vec::new(),
            send_before_persist: false,
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Hosts a group. `keyspace` must hold exactly the state as of
    /// `applied` (the snapshot the storage holds, or empty at index 0).
    pub fn add_group(
        &mut self,
        group: GroupId,
        config: Config,
        storage: S,
        keyspace: Keyspace,
    ) -> Result<(), RaftError> {
        self.insert_group(group, config, storage, StateMachine::Shard(keyspace))
    }

    /// Hosts the metadata group (normally [`GroupId::METADATA`]). `initial`
    /// must be the map as of `config.applied` (the snapshot's map, or the
    /// map the group starts from at index 0). At most one per node.
    pub fn add_meta_group(
        &mut self,
        group: GroupId,
        config: Config,
        storage: S,
        initial: ClusterMap,
    ) -> Result<(), RaftError> {
        assert!(
            self.meta_group.is_none(),
            "a node hosts at most one metadata group"
        );
        self.insert_group(group, config, storage, StateMachine::meta(initial))?;
        self.meta_group = Some(group);
        Ok(())
    }

    fn insert_group(
        &mut self,
        group: GroupId,
        config: Config,
        storage: S,
        sm: StateMachine,
    ) -> Result<(), RaftError> {
        assert_eq!(config.id, self.id, "group config for another node");
        assert!(
            !self.groups.contains_key(&group),
            "group {group} hosted twice"
        );
        let applied = config.applied;
        let raw = RawNode::new(config, storage)?;
        self.groups
            .insert(group, Group::new(group, raw, sm, applied));
        Ok(())
    }

    /// The metadata group hosted here, if any.
    pub fn meta_group(&self) -> Option<GroupId> {
        self.meta_group
    }

    /// The applied cluster map of `group` (None unless it is the metadata
    /// group hosted here). Local state: linearizable reads go through
    /// [`Self::read`] on the metadata group.
    pub fn cluster_map(&self, group: GroupId) -> Option<&ClusterMap> {
        self.groups.get(&group).and_then(|g| g.sm.cluster_map())
    }

    pub fn groups(&self) -> impl Iterator<Item = GroupId> + '_ {
        self.groups.keys().copied()
    }

    pub fn status(&self, group: GroupId) -> Option<GroupStatus> {
        self.groups.get(&group).map(Group::status)
    }

    /// The leader's replication progress of `peer` in `group` (None on a
    /// follower, for an unknown peer or group). For tests and diagnostics.
    pub fn progress(&self, group: GroupId, peer: NodeId) -> Option<ProgressInfo> {
        self.groups.get(&group).and_then(|g| g.raw.progress(peer))
    }

    /// The keyspace of a group (for local-only inspection such as
    /// `COUNTKEYSINSLOT`; linearizable reads go through [`Self::read`]).
    pub fn keyspace(&self, group: GroupId) -> Option<&Keyspace> {
        self.groups.get(&group).and_then(|g| g.sm.keyspace())
    }

    /// The wall clock the leader stamps on new entries.
    pub fn set_now_ms(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
    }

    /// Ticks of real time that have passed but were not given to
    /// [`Self::tick`] yet, from a clock reading taken now, rounded up.
    /// Reads confirmed by the leader lease are served only while the lease
    /// outlasts them (`Group::serve_reads`, decision 0010). Set it after
    /// [`Self::ready`] (which is when leases are judged) and before
    /// [`Self::apply_before_persist`] / [`Self::advance_persisted`]. Zero
    /// (the default) trusts the ticks given so far.
    pub fn set_untold_ticks(&mut self, ticks: u64) {
        self.untold_ticks = ticks;
    }

    /// Lease-confirmed reads sent back for a quorum round so far (summed
    /// over groups).
    pub fn lease_rechecks(&self) -> u64 {
        self.groups.values().map(|g| g.lease_rechecks).sum()
    }

    fn group_mut(&mut self, group: GroupId) -> Result<&mut Group<S>, NotExecuted> {
        assert!(
            !self.in_ready,
            "input between ready() and advance_persisted()"
        );
        self.groups.get_mut(&group).ok_or(NotExecuted::UnknownGroup)
    }

    /// Queues a write; it is proposed at the next [`Self::ready`].
    pub fn propose(&mut self, group: GroupId, op: Op, token: Token) -> Result<(), NotExecuted> {
        let limits = self.limits.clone();
        self.group_mut(group)?.enqueue_write(op, token, &limits)
    }

    /// Queues a linearizable read (leader or follower); served after the
    /// next ReadIndex round once the group has applied up to it.
    pub fn read(
        &mut self,
        group: GroupId,
        argv: Vec<Bytes>,
        token: Token,
    ) -> Result<(), NotExecuted> {
        let limits = self.limits.clone();
        self.group_mut(group)?.enqueue_read(argv, token, &limits)
    }

    pub fn step(&mut self, group: GroupId, msg: Message) -> Result<(), RaftError> {
        let Ok(g) = self.group_mut(group) else {
            return Ok(()); // a message for a group we do not host: ignore
        };
        if let Some(to) = forwarded_transfer(&msg) {
            // Only the leader of the sender's term acts on it; anything else
            // is stale and dropped (the requester's wait times out).
            if g.is_leader() && msg.term == g.raw.term() {
                g.raw.transfer_leader(to);
            }
            return Ok(());
        }
        g.raw.step(msg)
    }

    pub fn tick(&mut self) {
        assert!(
            !self.in_ready,
            "tick between ready() and advance_persisted()"
        );
        for g in self.groups.values_mut() {
            g.tick(&self.limits, &mut self.early);
        }
    }

    /// Starts an election for `group` now (a pre-vote first when PreVote is
    /// on, so a member that still hears from a leader is not disrupted).
    /// No-op on the leader.
    pub fn campaign(&mut self, group: GroupId) -> Result<(), NotExecuted> {
        self.group_mut(group)?.raw.campaign();
        Ok(())
    }

    /// Starts handing `group`'s leadership to `to`, from any member: the
    /// leader starts the transfer, a follower forwards the request to the
    /// leader it knows (see the module doc). `Ok` means "requested", not
    /// "done": watch the group's leader to learn the result.
    pub fn transfer_leader(&mut self, group: GroupId, to: NodeId) -> Result<(), NotExecuted> {
        let me = self.id;
        let queued = self.forwards.len();
        let g = self.group_mut(group)?;
        if !g.raw.conf_state().voters.contains(&to) {
            // Raft would ignore it silently; say why instead.
            return Err(NotExecuted::Dropped(format!(
                "node {to} is not a voter of group {group}"
            )));
        }
        if g.is_leader() {
            g.raw.transfer_leader(to);
            return Ok(());
        }
        let leader = match g.status().leader {
            Some(l) if l != me => l,
            _ => return Err(NotExecuted::NoLeader),
        };
        if queued >= MAX_FORWARDED_TRANSFERS {
            return Err(NotExecuted::Busy);
        }
        let msg = transfer_request(me, leader, g.raw.term(), to);
        self.forwards.push((group, msg));
        Ok(())
    }

    /// Tells every group that `peer` could not be reached (a failed
    /// connection): a leader stops streaming appends to it optimistically
    /// and probes it instead (the Raft core's `report_unreachable`).
    pub fn report_unreachable(&mut self, peer: NodeId) {
        assert!(
            !self.in_ready,
            "input between ready() and advance_persisted()"
        );
        if peer == self.id {
            return;
        }
        for g in self.groups.values_mut() {
            g.raw.report_unreachable(peer);
        }
    }

    /// Phase 1: proposes what is queued and collects, for every group, what
    /// must be persisted before its other messages are sent (and the
    /// leaders' messages that may go at once, `Persist::messages_now`).
    pub fn ready(&mut self) -> Persist {
        assert!(!self.in_ready, "ready() twice without advance_persisted()");
        let mut persist = Persist::default();
        for g in self.groups.values_mut() {
            g.flush(self.now_ms, &mut self.seed, &mut self.early);
            let id = g.id;
            if let Some(rd) = g.take_ready() {
                persist.groups.push(GroupPersist {
                    group: id,
                    snapshot: rd.snapshot.clone(),
                    entries: rd.entries.clone(),
                    hard_state: rd.hard_state,
                    must_sync: rd.must_sync,
                });
                if self.send_before_persist {
                    g.take_messages_before_persist(&mut persist.messages_now);
                }
            }
        }
        self.in_ready = true;
        persist
    }

    /// Between [`Self::ready`] and [`Self::advance_persisted`]: applies what
    /// is already committed and returns the completions it produced, so the
    /// caller can answer those clients *while* it waits for this round's
    /// fsync (see `Group::apply_before_persist` for why that is safe). The
    /// rest of the round's work still comes from `advance_persisted`.
    pub fn apply_before_persist(&mut self) -> Vec<(Token, Completion)> {
        assert!(
            self.in_ready,
            "apply_before_persist() outside a ready cycle"
        );
        let mut out = Vec::new();
        for g in self.groups.values_mut() {
            g.apply_before_persist(&mut out, self.now_ms, self.untold_ticks);
        }
        out
    }

    /// Phase 2: everything from the last [`Self::ready`] is durable. Applies,
    /// completes, advances, and returns the messages to send.
    pub fn advance_persisted(&mut self) -> Output {
        assert!(self.in_ready, "advance_persisted() without ready()");
        self.in_ready = false;
        let mut out = Output {
            completions: std::mem::take(&mut self.early),
            messages: std::mem::take(&mut self.forwards),
            ..Default::default()
        };
        for g in self.groups.values_mut() {
            if let Some((leader, term)) = g.finish_ready(
                &mut out.completions,
                &mut out.messages,
                self.now_ms,
                self.untold_ticks,
            ) {
                out.leader_changes.push((g.id, leader, term));
            }
            let ready = g.sm.take_ready_keys();
            if !ready.is_empty() && g.is_leader() {
                out.ready_keys.push((g.id, ready));
            }
            if let Some(map) = g.sm.take_map_change() {
                debug_assert_eq!(
                    Some(g.id),
                    self.meta_group,
                    "only the metadata group has a map"
                );
                out.map_changed = Some(map);
            }
        }
        out
    }

    /// A snapshot of a group's applied state (the caller stores it and
    /// compacts the log up to its index).
    /// A snapshot of the group's applied state, for log compaction.
    pub fn build_snapshot(&self, group: GroupId) -> Option<Snapshot> {
        self.freeze_snapshot(group).map(PendingSnapshot::build)
    }

    /// The group's applied state frozen now (O(slots)); build the snapshot
    /// from it later, on another thread, while the group goes on.
    pub fn freeze_snapshot(&self, group: GroupId) -> Option<PendingSnapshot> {
        self.groups.get(&group).map(Group::freeze_snapshot)
    }

    pub fn applied(&self, group: GroupId) -> Option<LogIndex> {
        self.groups.get(&group).map(Group::applied)
    }

    /// Opt in to [`Persist::messages_now`]: the caller sends those messages
    /// before persisting (the node driver does). Off by default: then every
    /// message comes from [`Self::advance_persisted`].
    pub fn set_send_before_persist(&mut self, on: bool) {
        self.send_before_persist = on;
    }

    /// Whether a [`Self::ready`] now would find work (Raft output, or
    /// commands queued to propose). The driver runs rounds back to back
    /// while this holds, instead of waiting for the next input or tick:
    /// e.g. a leader's own entries count towards commit only once durable
    /// (`advance`), and applying them needs the next round.
    pub fn has_ready(&self) -> bool {
        !self.early.is_empty()
            || !self.forwards.is_empty()
            || self.groups.values().any(Group::has_ready)
    }

    /// Tokens still held (queued or waiting) across all groups.
    pub fn pending_tokens(&self) -> usize {
        self.groups
            .values()
            .map(Group::pending_tokens)
            .sum::<usize>()
            + self.early.len()
    }

    /// A fresh seed for callers that need one (deterministic per node).
    pub fn next_seed(&mut self) -> u64 {
        self.seed = mix(self.seed, 1);
        self.seed
    }
}

/// The Raft message that carries a transfer request to the leader.
fn transfer_request(from: NodeId, leader: NodeId, term: Term, to: NodeId) -> Message {
    let mut ctx = Vec::with_capacity(16);
    ctx.extend_from_slice(TRANSFER_CTX_MAGIC);
    ctx.extend_from_slice(&to.get().to_le_bytes());
    Message {
        from,
        to: leader,
        term,
        body: MessageBody::ReadIndex {
            ctx: Bytes::from(ctx),
        },
    }
}

/// The target of a forwarded transfer request, if `msg` is one.
fn forwarded_transfer(msg: &Message) -> Option<NodeId> {
    let MessageBody::ReadIndex { ctx } = &msg.body else {
        return None;
    };
    let rest = ctx.strip_prefix(TRANSFER_CTX_MAGIC.as_slice())?;
    let id = <[u8; 8]>::try_from(rest).ok()?;
    Some(NodeId(u64::from_le_bytes(id)))
}

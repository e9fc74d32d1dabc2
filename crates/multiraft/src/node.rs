//! [`MultiRaft`]: every group of one node behind one two-phase ready cycle.

use crate::entry::Op;
use crate::group::{mix, Group, GroupStatus};
use bytes::Bytes;
use slotraft_keyspace::{Keyspace, Outcome};
use slotraft_raft::{
    Config, Entry, Error as RaftError, HardState, Message, RawNode, Snapshot, Storage,
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
    /// Keys that became non-empty lists/zsets (wakes blocked clients).
    pub ready_keys: Vec<(GroupId, Vec<Bytes>)>,
}

/// All groups of one node.
pub struct MultiRaft<S: Storage> {
    id: NodeId,
    groups: BTreeMap<GroupId, Group<S>>,
    limits: Limits,
    now_ms: u64,
    seed: u64,
    /// Completions produced outside the ready cycle (timeouts, drops).
    early: Vec<(Token, Completion)>,
    in_ready: bool,
}

impl<S: Storage> MultiRaft<S> {
    pub fn new(id: NodeId, limits: Limits, seed: u64) -> Self {
        MultiRaft {
            id,
            groups: BTreeMap::new(),
            limits,
            now_ms: 0,
            seed,
            early: Vec::new(),
            in_ready: false,
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
        assert_eq!(config.id, self.id, "group config for another node");
        assert!(
            !self.groups.contains_key(&group),
            "group {group} hosted twice"
        );
        let applied = config.applied;
        let raw = RawNode::new(config, storage)?;
        self.groups
            .insert(group, Group::new(group, raw, keyspace, applied));
        Ok(())
    }

    pub fn groups(&self) -> impl Iterator<Item = GroupId> + '_ {
        self.groups.keys().copied()
    }

    pub fn status(&self, group: GroupId) -> Option<GroupStatus> {
        self.groups.get(&group).map(Group::status)
    }

    /// The keyspace of a group (for local-only inspection such as
    /// `COUNTKEYSINSLOT`; linearizable reads go through [`Self::read`]).
    pub fn keyspace(&self, group: GroupId) -> Option<&Keyspace> {
        self.groups.get(&group).map(|g| &g.ks)
    }

    /// The wall clock the leader stamps on new entries.
    pub fn set_now_ms(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
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
        match self.group_mut(group) {
            Ok(g) => g.raw.step(msg),
            Err(_) => Ok(()), // a message for a group we do not host: ignore
        }
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

    pub fn transfer_leader(&mut self, group: GroupId, to: NodeId) -> Result<(), NotExecuted> {
        self.group_mut(group)?.raw.transfer_leader(to);
        Ok(())
    }

    /// Phase 1: proposes what is queued and collects, for every group, what
    /// must be persisted before anything is sent.
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
            }
        }
        self.in_ready = true;
        persist
    }

    /// Phase 2: everything from the last [`Self::ready`] is durable. Applies,
    /// completes, advances, and returns the messages to send.
    pub fn advance_persisted(&mut self) -> Output {
        assert!(self.in_ready, "advance_persisted() without ready()");
        self.in_ready = false;
        let mut out = Output {
            completions: std::mem::take(&mut self.early),
            ..Default::default()
        };
        for g in self.groups.values_mut() {
            if let Some((leader, term)) =
                g.finish_ready(&mut out.completions, &mut out.messages, self.now_ms)
            {
                out.leader_changes.push((g.id, leader, term));
            }
            let ready = g.ks.take_ready_keys();
            if !ready.is_empty() {
                out.ready_keys.push((g.id, ready));
            }
        }
        out
    }

    /// A snapshot of a group's applied state (the caller stores it and
    /// compacts the log up to its index).
    pub fn build_snapshot(&self, group: GroupId) -> Option<Snapshot> {
        self.groups.get(&group).map(Group::build_snapshot)
    }

    pub fn applied(&self, group: GroupId) -> Option<LogIndex> {
        self.groups.get(&group).map(Group::applied)
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

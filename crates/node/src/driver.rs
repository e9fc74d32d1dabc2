//! The driver thread: the only owner of the node's `MultiRaft`.
//!
//! Why one thread: `MultiRaft` is a sans-IO state machine with a two-phase
//! cycle (`ready` → persist → `advance_persisted`). One plain thread runs it
//! in a loop, so the WAL wait (fdatasync) never blocks a tokio worker, and
//! requests arriving during that wait are proposed together in the next
//! round (the batching issue 5 asks for falls out of the loop).
//!
//! One round: take requests (at most [`MAX_REQUESTS_PER_ROUND`]) → tick if
//! [`DEFAULT_TICK`] elapsed → `ready()` → one WAL batch → wait durable if
//! any group needs it → `advance_persisted()` → hand messages to the
//! transport → answer clients → publish leader changes → compact logs
//! grown past `snapshot_log_entries` ([`SNAPSHOT_LOG_ENTRIES`] by default).
//!
//! Invariant: no message leaves and no client is answered before the
//! persist of the same round is durable (when Raft asked for a sync).

use crate::log_store::{self, SharedMeta, WalStorage};
use crate::transport::Outbox;
use bytes::Bytes;
use slotraft_multiraft::{Completion, GroupStatus, MultiRaft, NotExecuted, Op, Token};
use slotraft_raft::Message;
use slotraft_storage::Store;
use slotraft_types::{GroupId, LogIndex, NodeId, Term};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// Raft tick period (design doc §8).
pub const DEFAULT_TICK: Duration = Duration::from_millis(10);
/// Election timeout base in ticks (300–600 ms randomized).
pub const DEFAULT_ELECTION_TICK: usize = 30;
/// Heartbeat interval in ticks (50 ms).
pub const DEFAULT_HEARTBEAT_TICK: usize = 5;
/// Capacity of the driver's input channel; full → `Busy` for clients,
/// dropped for peer messages.
pub const INPUT_QUEUE_CAPACITY: usize = 16_384;
/// Requests taken per round, so ticks and persists are never starved.
pub const MAX_REQUESTS_PER_ROUND: usize = 4_096;
/// Default: a group's log is compacted behind a snapshot once it holds this
/// many applied entries.
pub const SNAPSHOT_LOG_ENTRIES: u64 = 20_000;

/// Input of the driver thread.
pub enum Request {
    Propose {
        group: GroupId,
        op: Op,
        reply: oneshot::Sender<Completion>,
    },
    Read {
        group: GroupId,
        argv: Vec<Bytes>,
        reply: oneshot::Sender<Completion>,
    },
    /// One inbound frame's messages (already checked to be from its sender).
    Peer(Vec<(GroupId, Message)>),
    Transfer {
        group: GroupId,
        to: NodeId,
        reply: oneshot::Sender<Result<(), NotExecuted>>,
    },
    Status {
        group: GroupId,
        reply: oneshot::Sender<Option<GroupStatus>>,
    },
}

/// Leader and term of one group, as last seen by this node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaderInfo {
    pub leader: Option<NodeId>,
    pub term: Term,
}

/// Group → leader table, readable without asking the driver.
pub type LeaderTable = Arc<RwLock<BTreeMap<GroupId, LeaderInfo>>>;

/// Everything the driver thread owns.
pub struct Driver {
    pub mr: MultiRaft<WalStorage>,
    pub store: Arc<Store>,
    pub metas: BTreeMap<GroupId, SharedMeta>,
    pub input: Receiver<Request>,
    pub outbox: Outbox,
    pub leaders: LeaderTable,
    pub stop: Arc<AtomicBool>,
    /// Applied entries kept in a group's log before it is compacted.
    pub snapshot_log_entries: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Clients waiting for a completion (writes and reads), by token.
struct Pending {
    waiters: HashMap<Token, oneshot::Sender<Completion>>,
    next: Token,
}

impl Driver {
    /// Runs until `stop` is set or every sender is gone. Returns an error
    /// only if the WAL failed (the node must restart and recover).
    pub fn run(mut self) -> Result<(), slotraft_storage::Error> {
        let mut pending = Pending {
            waiters: HashMap::new(),
            next: 1,
        };
        let mut next_tick = Instant::now() + DEFAULT_TICK;
        // Bounded by `stop` / disconnection; each round does bounded work.
        while !self.stop.load(Ordering::Acquire) {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match self.input.recv_timeout(wait) {
                Ok(req) => self.handle(req, &mut pending),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            for _ in 1..MAX_REQUESTS_PER_ROUND {
                match self.input.try_recv() {
                    Ok(req) => self.handle(req, &mut pending),
                    Err(_) => break,
                }
            }
            let ticked = Instant::now() >= next_tick;
            if ticked {
                self.mr.tick();
                next_tick += DEFAULT_TICK;
                // After a long stall do not fire a burst of ticks.
                if next_tick < Instant::now() {
                    next_tick = Instant::now() + DEFAULT_TICK;
                }
            }
            self.round(&mut pending)?;
            if ticked {
                self.maybe_compact()?;
            }
        }
        Ok(())
    }

    fn handle(&mut self, req: Request, p: &mut Pending) {
        match req {
            Request::Propose { group, op, reply } => {
                let t = p.next;
                p.next += 1;
                match self.mr.propose(group, op, t) {
                    Ok(()) => {
                        p.waiters.insert(t, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Completion::NotExecuted(e));
                    }
                }
            }
            Request::Read { group, argv, reply } => {
                let t = p.next;
                p.next += 1;
                match self.mr.read(group, argv, t) {
                    Ok(()) => {
                        p.waiters.insert(t, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Completion::NotExecuted(e));
                    }
                }
            }
            Request::Peer(msgs) => {
                let me = self.mr.id();
                for (g, m) in msgs.into_iter().filter(|(_, m)| m.to == me) {
                    // A stale or odd message is Raft's business to ignore;
                    // an error here never stops the node.
                    let _ = self.mr.step(g, m);
                }
            }
            Request::Transfer { group, to, reply } => {
                let _ = reply.send(self.mr.transfer_leader(group, to));
            }
            Request::Status { group, reply } => {
                let _ = reply.send(self.mr.status(group));
            }
        }
    }

    fn round(&mut self, p: &mut Pending) -> Result<(), slotraft_storage::Error> {
        self.mr.set_now_ms(now_ms());
        let persist = self.mr.ready();
        if !persist.groups.is_empty() {
            let metas = &self.metas;
            let ticket = log_store::persist(&self.store, &|g| metas.get(&g).cloned(), &persist)?;
            if persist.must_sync() {
                self.store.wait(ticket)?;
            }
        }
        let out = self.mr.advance_persisted();
        if !out.messages.is_empty() {
            self.outbox.send(out.messages);
        }
        for (t, c) in out.completions {
            let tx = p.waiters.remove(&t);
            debug_assert!(tx.is_some(), "token {t} completed twice or never issued");
            if let Some(tx) = tx {
                let _ = tx.send(c);
            }
        }
        // Invariant: every waiting client is held by exactly one group
        // (so none is forgotten and none is answered twice).
        debug_assert_eq!(p.waiters.len(), self.mr.pending_tokens());
        if !out.leader_changes.is_empty() {
            let mut table = self.leaders.write().expect("leader table lock");
            for (g, leader, term) in out.leader_changes {
                table.insert(g, LeaderInfo { leader, term });
            }
        }
        Ok(())
    }

    /// Snapshots and compacts every group whose log grew too long (checked
    /// once per tick, not per round: it looks at every group).
    fn maybe_compact(&mut self) -> Result<(), slotraft_storage::Error> {
        let groups: Vec<GroupId> = self.mr.groups().collect();
        for g in groups {
            let applied = self.mr.applied(g).unwrap_or(LogIndex::ZERO);
            let first = self.store.first_index(g).unwrap_or(LogIndex(1));
            if applied.get() < first.get() + self.snapshot_log_entries.max(1) {
                continue;
            }
            let snap = self.mr.build_snapshot(g).expect("hosted group");
            log_store::write_snapshot_file(&self.store, g, &snap)?;
            // The snapshot file is durable; compacting behind it is safe.
            self.store.compact(g, snap.meta.index, snap.meta.term)?;
            if let Some(meta) = self.metas.get(&g) {
                let mut m = meta.write().expect("meta lock");
                m.conf_state = snap.meta.conf_state.clone();
                m.snapshot = snap;
            }
        }
        Ok(())
    }
}

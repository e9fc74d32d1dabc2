//! The driver: the only owner of the node's `MultiRaft`.
//!
//! Why one owner: `MultiRaft` is a sans-IO state machine with a two-phase
//! cycle (`ready` → persist → `advance_persisted`). One loop runs it, so
//! requests arriving during a round's WAL wait (fdatasync) are proposed
//! together in the next round (the batching issue 5 asks for falls out of
//! the loop).
//!
//! Where it runs ([`crate::DriverPlacement`], decision 0009): as a task on
//! the server's one-thread runtime (`io-threads 1`, the default: every
//! hand-off between a client and Raft is a task wake on the same thread,
//! no system call; the fdatasync blocks that thread, as Redis's
//! `appendfsync always` blocks its event loop), or on a thread of its own
//! beside a multi-thread runtime (the fdatasync never blocks a worker).
//! [`Driver::run`] is the same future in both.
//!
//! One round: a tick per [`DEFAULT_TICK`] of real time elapsed → take
//! requests (at most [`MAX_REQUESTS_PER_ROUND`]; after the ticks, see
//! [`Driver::run`]) → `ready()` → one WAL batch → wait durable if
//! any group needs it → `advance_persisted()` → hand messages to the
//! transport → answer clients → publish leader changes → compact logs
//! grown enough relative to their state ([`crate::SnapshotPolicy`]).
//!
//! Once per tick it tells Raft about peers whose connection failed
//! (`Outbox::take_unreachable` → `MultiRaft::report_unreachable`).
//!
//! After each round the driver also publishes the metadata replica's map
//! when it changed ([`MapCache::offer`]), forwards ready keys of leader
//! groups to the server's bounded channel ([`READY_KEYS_CAPACITY`], overflow
//! dropped and counted, so the server can re-check), and settles leadership
//! transfers: a transfer is answered when this node sees the target lead
//! the group, and re-requested every
//! [`TRANSFER_RETRY`] until [`TRANSFER_TIMEOUT`] (a forwarded request is a
//! single Raft message and may be lost).
//!
//! Invariant: no message leaves before the persist of the same round is
//! durable (when Raft asked for a sync), except leaders' appends
//! (`Persist::messages_now`). Clients whose writes are already committed —
//! durable on a majority — and whose reads are confirmed are answered
//! before this round's fsync (`MultiRaft::apply_before_persist`): their
//! answer does not depend on it, and waiting for it would add a whole fsync
//! to every write's latency.

use crate::log_store::{self, SharedMeta, WalStorage};
use crate::map_cache::MapCache;
use crate::transport::Outbox;
use bytes::Bytes;
use slotraft_multiraft::{
    Completion, GroupStatus, MultiRaft, NotExecuted, Op, PendingSnapshot, Token,
};
use slotraft_raft::Message;
use slotraft_storage::{Store, Ticket};
use slotraft_types::{GroupId, LogIndex, NodeId, Term};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

/// Raft tick period (design doc §8).
pub const DEFAULT_TICK: Duration = Duration::from_millis(10);
/// Election timeout base in ticks (300–600 ms randomized).
pub const DEFAULT_ELECTION_TICK: usize = 30;
/// Heartbeat interval in ticks (50 ms).
pub const DEFAULT_HEARTBEAT_TICK: usize = 5;
/// Capacity of the driver's input channel; full → `Busy` for clients,
/// dropped for peer messages.
pub const INPUT_QUEUE_CAPACITY: usize = 16_384;
/// Most ticks given to Raft at once after the driver was held up (a
/// process pause, a long round): more than any election timeout or lease,
/// so that every lease granted before the hold-up has run out when the
/// driver next judges one (decision 0010).
pub const MAX_CATCHUP_TICKS: u64 = 2 * DEFAULT_ELECTION_TICK as u64;
/// Requests taken per round, so ticks and persists are never starved.
pub const MAX_REQUESTS_PER_ROUND: usize = 4_096;
/// Committed entry bytes one group hands to its state machine per round
/// (Raft's `max_committed_size_per_ready`; at least one entry): ~2k
/// 100-byte SETs. A backlog (after a slow fsync, a restart) drains over
/// several rounds with ticks, heartbeats and client I/O between them,
/// instead of one round of up to 16 MiB per group (Raft's default, ~120k
/// such SETs: a 150 ms round per group under load).
pub const MAX_APPLY_BYTES_PER_ROUND: u64 = 256 << 10;
/// Capacity of the ready-keys channel to the server; full → dropped.
pub const READY_KEYS_CAPACITY: usize = 1024;
/// Rounds of answered clients queued for the fan-out task; beyond, the
/// driver completes them itself (correct, one wake-up per client).
pub const COMPLETION_BATCHES_CAPACITY: usize = 64;
/// Leadership transfers waiting for their outcome at once; beyond → `Busy`.
pub const MAX_PENDING_TRANSFERS: usize = 256;
/// A leadership transfer not observed within this time fails (`Dropped`).
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(5);
/// A pending transfer is requested again this often (the forwarded
/// request is one Raft message: lost with a dropped frame, and the Raft
/// leader abandons a transfer after an election timeout).
pub const TRANSFER_RETRY: Duration = Duration::from_millis(250);

/// The driver ticks (counted from its start) at which this node calls an
/// election in every leaderless shard whose preferred replica (first in
/// the map) it is, instead of waiting for a randomized timeout that any
/// replica may win first. All four come before any replica's earliest
/// timeout ([`DEFAULT_ELECTION_TICK`]), and the nodes of a new cluster
/// start within a few ms of each other. So a new or fully restarted cluster
/// comes up with its leaders where the balancer wants them, with no
/// hand-back (and its -MOVED churn) seconds later. PreVote keeps a
/// campaign from disrupting a shard that already has a leader.
pub const PREFERRED_CAMPAIGN_TICKS: [u64; 4] = [5, 10, 15, 20];

/// One answer ready to be sent.
pub enum Answer {
    One(oneshot::Sender<Completion>, Completion),
    /// Every job of a [`Request::Batch`], in submission order.
    Many(oneshot::Sender<Vec<Completion>>, Vec<Completion>),
}

/// Clients answered in one round, with their answers.
pub type Answered = Vec<Answer>;

/// Sends every answer of a batch.
fn fire(batch: Answered) {
    for a in batch {
        // The client may have gone away: nothing to do then.
        match a {
            Answer::One(tx, c) => {
                let _ = tx.send(c);
            }
            Answer::Many(tx, cs) => {
                let _ = tx.send(cs);
            }
        }
    }
}

/// Most jobs in one [`Request::Batch`]; a bigger batch is refused (`Busy`).
pub const MAX_BATCH_JOBS: usize = 4096;

/// One job of a [`Request::Batch`].
pub enum Job {
    Propose { group: GroupId, op: Op },
    Read { group: GroupId, argv: Vec<Bytes> },
}

/// Where a completed token's answer goes.
enum Waiter {
    One(oneshot::Sender<Completion>),
    /// Position `.1` of a batch answered with one reply.
    Part(Arc<Mutex<BatchReply>>, usize),
}

/// The answers of one batch, filled as its tokens complete.
struct BatchReply {
    slots: Vec<Option<Completion>>,
    /// Slots still empty; the reply leaves when this reaches 0.
    remaining: usize,
    tx: Option<oneshot::Sender<Vec<Completion>>>,
}

/// Records `c` at position `i`; returns the batch's answer once complete.
fn fill(b: &Mutex<BatchReply>, i: usize, c: Completion) -> Option<Answer> {
    // Only the driver touches a batch: the lock is never contended.
    let mut br = b.lock().expect("batch reply lock");
    // Invariant: each position is filled exactly once.
    assert!(br.slots[i].is_none(), "batch position {i} answered twice");
    br.slots[i] = Some(c);
    br.remaining -= 1;
    if br.remaining > 0 {
        return None;
    }
    let tx = br.tx.take().expect("a batch is answered once");
    let all = br.slots.drain(..).map(|c| c.expect("all filled")).collect();
    Some(Answer::Many(tx, all))
}

/// The fan-out task (on the tokio runtime): answers the clients of each
/// round the driver hands over. Ends when the driver is gone.
pub async fn fan_out(mut rx: mpsc::Receiver<Answered>) {
    while let Some(batch) = rx.recv().await {
        fire(batch);
    }
}

/// Input of the driver.
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
    /// Several proposals and reads in one message (a client's pipeline),
    /// answered together, in order, once all of them completed.
    Batch {
        jobs: Vec<Job>,
        reply: oneshot::Sender<Vec<Completion>>,
    },
    /// One inbound frame's messages (already checked to be from its sender).
    Peer(Vec<(GroupId, Message)>),
    /// Answered once `to` is seen leading `group` (or why not).
    Transfer {
        group: GroupId,
        to: NodeId,
        reply: oneshot::Sender<Result<(), NotExecuted>>,
    },
    /// The connection to a peer failed: Raft probes it instead of
    /// streaming to it (`MultiRaft::report_unreachable`).
    Unreachable(NodeId),
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

/// Everything the driver owns.
pub struct Driver {
    pub mr: MultiRaft<WalStorage>,
    pub store: Arc<Store>,
    pub metas: BTreeMap<GroupId, SharedMeta>,
    /// Bounded by [`INPUT_QUEUE_CAPACITY`].
    pub input: mpsc::Receiver<Request>,
    pub outbox: Outbox,
    pub leaders: LeaderTable,
    pub stop: Arc<AtomicBool>,
    /// When a group's log is compacted behind a snapshot.
    pub snapshot: crate::SnapshotPolicy,
    /// What the snapshots cost so far (INFO).
    pub snapshot_stats: Arc<crate::SnapshotStats>,
    /// Where a changed metadata map is published.
    pub maps: MapCache,
    /// Ready keys of leader groups, to the server (bounded, lossy).
    pub ready_keys: mpsc::Sender<(GroupId, Vec<Bytes>)>,
    /// Batches dropped on a full `ready_keys` (read by the server, which
    /// then re-checks its parked clients: a dropped wake-up is not lost).
    pub ready_dropped: Arc<AtomicU64>,
    /// Leadership transfers waiting to be observed (at most
    /// [`MAX_PENDING_TRANSFERS`]).
    pub transfers: Vec<PendingTransfer>,
    /// The log-compaction snapshot being written, if any (at most one).
    pub snapshot_job: Option<SnapshotJob>,
    /// A round's answered clients, to the fan-out task on the tokio
    /// runtime ([`fan_out`]; at most [`COMPLETION_BATCHES_CAPACITY`] rounds
    /// queued, beyond that the driver answers them itself). `None` when
    /// the driver runs on the clients' runtime
    /// ([`crate::DriverPlacement::Runtime`]): it answers them itself, which
    /// is then only a wake of a task on its own thread.
    pub done: Option<mpsc::Sender<Answered>>,
    /// Where this driver runs (how it waits for the WAL).
    pub placement: crate::DriverPlacement,
    /// The node directory's lock: held exactly as long as this driver
    /// (the only WAL writer) exists.
    pub _dir_lock: std::fs::File,
}

/// A leadership transfer waiting to be observed.
pub struct PendingTransfer {
    group: GroupId,
    to: NodeId,
    deadline: Instant,
    next_retry: Instant,
    reply: oneshot::Sender<Result<(), NotExecuted>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Raft time from the monotonic clock: the driver gives Raft one tick per
/// [`DEFAULT_TICK`] of real time elapsed since its start, catching up
/// after a hold-up (at most [`MAX_CATCHUP_TICKS`] at once) instead of
/// silently skipping it: Raft's leases are counted in these ticks, and a
/// node whose ticks stopped while the world moved on must not believe its
/// lease still holds (decision 0010).
struct TickClock {
    start: Instant,
    /// Ticks of real time accounted for (given to Raft, or skipped beyond
    /// the catch-up bound).
    told: u64,
}

impl TickClock {
    fn new() -> TickClock {
        TickClock {
            start: Instant::now(),
            told: 0,
        }
    }

    /// Whole ticks of real time since the start at `now`.
    fn due(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.start).as_nanos() / DEFAULT_TICK.as_nanos()) as u64
    }

    /// Ticks to give Raft now (and accounts for them).
    fn take_due(&mut self, now: Instant) -> u64 {
        let due = self.due(now);
        let n = due.saturating_sub(self.told);
        self.told = self.told.max(due);
        n.min(MAX_CATCHUP_TICKS)
    }

    /// When the next tick falls due.
    fn next_tick(&self) -> Instant {
        let nanos = DEFAULT_TICK.as_nanos() as u64;
        self.start + Duration::from_nanos(nanos.saturating_mul(self.told + 1))
    }

    /// Real time not yet given to Raft at `now`, in ticks rounded up (the
    /// partial tick in progress counts as a whole one).
    fn untold(&self, now: Instant) -> u64 {
        self.due(now).saturating_sub(self.told) + 1
    }
}

/// Clients waiting for a completion (writes and reads), by token.
struct Pending {
    waiters: HashMap<Token, Waiter>,
    next: Token,
}

impl Pending {
    fn token(&mut self) -> Token {
        let t = self.next;
        self.next += 1;
        t
    }
}

impl Driver {
    /// Runs until `stop` is set or every sender is gone. Returns an error
    /// only if the WAL failed (the node must restart and recover).
    ///
    /// A future, so that it can run either on a thread of its own (its own
    /// one-thread runtime, [`crate::DriverPlacement::Thread`]) or as a task
    /// beside the client connections ([`crate::DriverPlacement::Runtime`]).
    /// It awaits its input, its tick timer and (on the clients' runtime)
    /// the WAL's fdatasync; the rest of a round is synchronous, including a
    /// write that waits for room in the WAL's bounded batches. Snapshots
    /// are encoded and written on a thread of their own (`maybe_compact`);
    /// at the end it waits for one still running.
    pub async fn run(mut self) -> Result<(), slotraft_storage::Error> {
        let r = self.run_rounds().await;
        self.wait_snapshot_job();
        r
    }

    async fn run_rounds(&mut self) -> Result<(), slotraft_storage::Error> {
        let mut pending = Pending {
            waiters: HashMap::new(),
            next: 1,
        };
        let mut clock = TickClock::new();
        let mut ticks: u64 = 0;
        let sleep = tokio::time::sleep_until(clock.next_tick().into());
        tokio::pin!(sleep);
        // Bounded by `stop` / disconnection; each round does bounded work.
        while !self.stop.load(Ordering::Acquire) {
            let first = if self.mr.has_ready() {
                // More work already (e.g. entries that became committed when
                // the last round made them durable): do not sleep, but let
                // the tasks sharing this thread run first.
                tokio::task::yield_now().await;
                None
            } else {
                sleep.as_mut().reset(clock.next_tick().into());
                tokio::select! {
                    biased;
                    req = self.input.recv() => match req {
                        Some(req) => Some(req),
                        None => break,
                    },
                    _ = &mut sleep => None,
                }
            };
            // Ticks first, then what queued up meanwhile: a message is
            // stepped no earlier than the time it arrived, never before
            // time that passed after it. A follower that acknowledges a
            // heartbeat has promised its leader's lease not to vote for an
            // election timeout from then on; ticks for a hold-up it has not
            // yet been told of, given after that heartbeat, would end the
            // promise at once while the leader still serves lease reads
            // (decision 0010). A leader held up for an election timeout
            // steps down by CheckQuorum before it steps the acknowledgements
            // that queued: that is what its followers see too.
            let due = clock.take_due(Instant::now());
            self.pass_time(due, &mut ticks);
            if let Some(req) = first {
                self.handle(req, &mut pending);
            }
            for _ in 1..MAX_REQUESTS_PER_ROUND {
                match self.input.try_recv() {
                    Ok(req) => self.handle(req, &mut pending),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return Ok(()),
                }
            }
            let ticked = due > 0;
            self.round(&mut pending, &clock).await?;
            if ticked {
                self.maybe_compact()?;
            }
        }
        Ok(())
    }

    /// Gives Raft `due` ticks (counted in `ticks` since the driver
    /// started), with what rides on them: peers whose connection failed
    /// since the last tick are reported first (Raft probes them instead of
    /// streaming), and shards this node prefers are campaigned for at
    /// [`PREFERRED_CAMPAIGN_TICKS`].
    fn pass_time(&mut self, due: u64, ticks: &mut u64) {
        if due > 0 {
            for peer in self.outbox.take_unreachable() {
                self.mr.report_unreachable(peer);
            }
        }
        for _ in 0..due {
            self.mr.tick();
            *ticks += 1;
            if PREFERRED_CAMPAIGN_TICKS.contains(ticks) {
                self.campaign_where_preferred();
            }
        }
    }

    fn handle(&mut self, req: Request, p: &mut Pending) {
        match req {
            Request::Propose { group, op, reply } => {
                let t = p.token();
                match self.mr.propose(group, op, t) {
                    Ok(()) => {
                        p.waiters.insert(t, Waiter::One(reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Completion::NotExecuted(e));
                    }
                }
            }
            Request::Read { group, argv, reply } => {
                let t = p.token();
                match self.mr.read(group, argv, t) {
                    Ok(()) => {
                        p.waiters.insert(t, Waiter::One(reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Completion::NotExecuted(e));
                    }
                }
            }
            Request::Batch { jobs, reply } => self.start_batch(jobs, reply, p),
            Request::Peer(msgs) => {
                let me = self.mr.id();
                for (g, m) in msgs.into_iter().filter(|(_, m)| m.to == me) {
                    // A stale or odd message is Raft's business to ignore;
                    // an error here never stops the node.
                    let _ = self.mr.step(g, m);
                }
            }
            Request::Transfer { group, to, reply } => self.start_transfer(group, to, reply),
            Request::Unreachable(peer) => self.mr.report_unreachable(peer),
            Request::Status { group, reply } => {
                let _ = reply.send(self.mr.status(group));
            }
        }
    }

    /// Proposes / queues every job of a batch in order; refusals fill their
    /// position at once.
    fn start_batch(
        &mut self,
        jobs: Vec<Job>,
        reply: oneshot::Sender<Vec<Completion>>,
        p: &mut Pending,
    ) {
        if jobs.is_empty() || jobs.len() > MAX_BATCH_JOBS {
            let n = jobs.len();
            let _ = reply.send(
                (0..n)
                    .map(|_| Completion::NotExecuted(NotExecuted::Busy))
                    .collect(),
            );
            return;
        }
        let b = Arc::new(Mutex::new(BatchReply {
            slots: (0..jobs.len()).map(|_| None).collect(),
            remaining: jobs.len(),
            tx: Some(reply),
        }));
        for (i, job) in jobs.into_iter().enumerate() {
            let t = p.token();
            let r = match job {
                Job::Propose { group, op } => self.mr.propose(group, op, t),
                Job::Read { group, argv } => self.mr.read(group, argv, t),
            };
            match r {
                Ok(()) => {
                    p.waiters.insert(t, Waiter::Part(b.clone(), i));
                }
                Err(e) => {
                    if let Some(a) = fill(&b, i, Completion::NotExecuted(e)) {
                        fire(vec![a]);
                    }
                }
            }
        }
    }

    fn start_transfer(
        &mut self,
        group: GroupId,
        to: NodeId,
        reply: oneshot::Sender<Result<(), NotExecuted>>,
    ) {
        let Some(status) = self.mr.status(group) else {
            let _ = reply.send(Err(NotExecuted::UnknownGroup));
            return;
        };
        if status.leader == Some(to) {
            let _ = reply.send(Ok(()));
            return;
        }
        if self.transfers.len() >= MAX_PENDING_TRANSFERS {
            let _ = reply.send(Err(NotExecuted::Busy));
            return;
        }
        if let Err(e) = self.mr.transfer_leader(group, to) {
            let _ = reply.send(Err(e));
            return;
        }
        let now = Instant::now();
        self.transfers.push(PendingTransfer {
            group,
            to,
            deadline: now + TRANSFER_TIMEOUT,
            next_retry: now + TRANSFER_RETRY,
            reply,
        });
    }

    /// Answers transfers whose target now leads, fails expired ones, and
    /// re-requests the rest when their retry time came (bounded by
    /// [`MAX_PENDING_TRANSFERS`]).
    fn settle_transfers(&mut self) {
        if self.transfers.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut still = Vec::with_capacity(self.transfers.len());
        for mut t in std::mem::take(&mut self.transfers) {
            let leader = self.mr.status(t.group).and_then(|s| s.leader);
            if leader == Some(t.to) {
                let _ = t.reply.send(Ok(()));
            } else if now >= t.deadline || t.reply.is_closed() {
                let _ = t.reply.send(Err(NotExecuted::Dropped(format!(
                    "leadership of group {} did not move to node {} within {:?}",
                    t.group, t.to, TRANSFER_TIMEOUT
                ))));
            } else {
                if now >= t.next_retry {
                    t.next_retry = now + TRANSFER_RETRY;
                    // No leader known right now: try again at the next retry.
                    let _ = self.mr.transfer_leader(t.group, t.to);
                }
                still.push(t);
            }
        }
        self.transfers = still;
    }

    async fn round(
        &mut self,
        p: &mut Pending,
        clock: &TickClock,
    ) -> Result<(), slotraft_storage::Error> {
        self.mr.set_now_ms(now_ms());
        let mut persist = self.mr.ready();
        // Leases were judged inside `ready` on the ticks given so far; read
        // the clock again, after that, for serving what they confirmed.
        self.mr.set_untold_ticks(clock.untold(Instant::now()));
        if !persist.messages_now.is_empty() {
            // Leaders' appends leave before their own fsync (see
            // `Persist::messages_now`): the followers' fsyncs overlap it.
            self.outbox.send(std::mem::take(&mut persist.messages_now));
        }
        // Writes already committed (durable on a majority) and reads already
        // confirmed are answered now, not after this round's fsync, which
        // they do not depend on. Before the WAL write, so that `wait` follows
        // the write at once and the store can run the fdatasync on this
        // thread (its lone-caller path: no WAL thread hops).
        let early = self.mr.apply_before_persist();
        self.complete(p, early);
        if !persist.groups.is_empty() {
            let metas = &self.metas;
            let ticket = log_store::persist(&self.store, &|g| metas.get(&g).cloned(), &persist)?;
            if persist.must_sync() {
                self.wait_durable(ticket).await?;
            }
        }
        self.mr.set_untold_ticks(clock.untold(Instant::now()));
        let out = self.mr.advance_persisted();
        if !out.messages.is_empty() {
            self.outbox.send(out.messages);
        }
        self.complete(p, out.completions);
        // Invariant: every waiting client is held by exactly one group
        // (so none is forgotten and none is answered twice).
        debug_assert_eq!(p.waiters.len(), self.mr.pending_tokens());
        if !out.leader_changes.is_empty() {
            let mut table = self.leaders.write().expect("leader table lock");
            for (g, leader, term) in out.leader_changes {
                table.insert(g, LeaderInfo { leader, term });
            }
        }
        if let Some(map) = out.map_changed {
            self.maps.offer(map);
        }
        for batch in out.ready_keys {
            // Full: dropped and counted (the server re-checks every parked
            // client when the count moves); closed: nobody is listening.
            if let Err(mpsc::error::TrySendError::Full(_)) = self.ready_keys.try_send(batch) {
                self.ready_dropped.fetch_add(1, Ordering::Release);
            }
        }
        self.settle_transfers();
        Ok(())
    }

    /// Waits until the round's WAL batch is durable. On a thread of its
    /// own the driver blocks (a lone caller on an idle WAL runs the
    /// fdatasync itself: no thread hop). On the clients' runtime it awaits
    /// the WAL thread instead, so the connections and the bus are served
    /// during the fdatasync (their requests queue for the next round); a
    /// blocking fdatasync there cost 11% of SET -P 1 throughput in the A/B
    /// of decision 0009.
    async fn wait_durable(&self, t: Ticket) -> Result<(), slotraft_storage::Error> {
        if self.placement == crate::DriverPlacement::Thread || self.store.is_durable(t)? {
            return self.store.wait(t);
        }
        let (tx, rx) = oneshot::channel();
        self.store.on_durable(t, move |r| {
            let _ = tx.send(r);
        });
        // A dropped callback means the store shut down.
        rx.await.unwrap_or(Err(slotraft_storage::Error::Closed))
    }

    /// Hands completions to their waiting clients: as one batch to the
    /// fan-out task, so the tokio runtime is woken once per round instead of
    /// once per client (each wake-up from this thread is a system call).
    fn complete(&self, p: &mut Pending, completions: Vec<(Token, Completion)>) {
        let mut batch: Answered = Vec::with_capacity(completions.len());
        for (t, c) in completions {
            let w = p.waiters.remove(&t);
            debug_assert!(w.is_some(), "token {t} completed twice or never issued");
            match w {
                Some(Waiter::One(tx)) => batch.push(Answer::One(tx, c)),
                Some(Waiter::Part(b, i)) => batch.extend(fill(&b, i, c)),
                None => {}
            }
        }
        if batch.is_empty() {
            return;
        }
        let Some(done) = &self.done else {
            return fire(batch);
        };
        match done.try_send(batch) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(b) | mpsc::error::TrySendError::Closed(b)) => {
                fire(b)
            }
        }
    }

    /// Calls an election in every hosted shard that has no leader and
    /// whose preferred replica is this node ([`PREFERRED_CAMPAIGN_TICKS`]).
    fn campaign_where_preferred(&mut self) {
        let me = self.mr.id();
        let map = self.maps.current();
        let groups: Vec<GroupId> = self.mr.groups().collect();
        for g in groups {
            let preferred = map.shard(g).and_then(|s| s.replicas.first().copied());
            let leaderless = self.mr.status(g).is_some_and(|s| s.leader.is_none());
            if preferred == Some(me) && leaderless {
                let _ = self.mr.campaign(g);
            }
        }
    }

    /// Snapshots and compacts groups whose log grew too long (checked
    /// once per tick, not per round: it looks at every group). One
    /// snapshot at a time: its state is frozen here (O(slots), copy on
    /// write), then encoded, written and fdatasynced on a thread of its own
    /// ([`SnapshotJob`]); a later tick compacts the log behind it. Encoding
    /// and writing a large keyspace takes seconds (measured: 4 s + 1.5 s
    /// for 260 MB under load), far more than an election timeout: done on
    /// this thread, it stopped the node's heartbeats and its shards'
    /// leaders moved.
    fn maybe_compact(&mut self) -> Result<(), slotraft_storage::Error> {
        if let Some(job) = self.snapshot_job.take() {
            if !job.handle.is_finished() {
                self.snapshot_job = Some(job);
                return Ok(());
            }
            self.finish_snapshot(job)?;
        }
        let groups: Vec<GroupId> = self.mr.groups().collect();
        let due = groups
            .iter()
            .copied()
            .find(|&g| self.snapshot_due(g))
            .or_else(|| self.wal_pinner_due(&groups));
        if let Some(g) = due {
            let pending = self.mr.freeze_snapshot(g).expect("hosted group");
            self.snapshot_job = Some(SnapshotJob::start(self.store.clone(), g, pending)?);
            self.snapshot_stats.started();
        }
        Ok(())
    }

    /// Entries of group `g`'s log a snapshot now could compact.
    fn applied_entries(&self, g: GroupId) -> u64 {
        let applied = self.mr.applied(g).unwrap_or(LogIndex::ZERO);
        let first = self.store.first_index(g).unwrap_or(LogIndex(1));
        (applied.get() + 1).saturating_sub(first.get())
    }

    fn snapshot_bytes(&self, g: GroupId) -> u64 {
        self.store.snapshot(g).map_or(0, |m| m.len)
    }

    /// Whether group `g`'s log has grown enough, relative to its last
    /// snapshot, to compact it ([`crate::SnapshotPolicy`]).
    fn snapshot_due(&self, g: GroupId) -> bool {
        let log_bytes = self.store.log_bytes(g).unwrap_or(0);
        self.snapshot
            .due(self.applied_entries(g), log_bytes, self.snapshot_bytes(g))
    }

    /// The group to compact because the shared WAL outgrew what the groups'
    /// logs may hold: the one pinning the oldest segment, however small its
    /// own log (an idle shard, the metadata group), as long as it has
    /// something to compact ([`crate::SnapshotPolicy::wal_over_budget`]).
    fn wal_pinner_due(&self, groups: &[GroupId]) -> Option<GroupId> {
        let budgets = groups
            .iter()
            .map(|&g| self.snapshot.log_budget(self.snapshot_bytes(g)))
            .fold(0u64, u64::saturating_add);
        let over = self.snapshot.wal_over_budget(
            self.store.wal_bytes(),
            budgets,
            self.store.segment_bytes(),
        );
        let g = self.store.oldest_pinning_group().filter(|_| over)?;
        (groups.contains(&g) && self.applied_entries(g) > 0).then_some(g)
    }

    /// Compacts the log behind a finished snapshot job's snapshot, unless
    /// the group has moved past it meanwhile (it installed a newer snapshot
    /// from its leader: then the store already dropped the older file).
    fn finish_snapshot(&mut self, job: SnapshotJob) -> Result<(), slotraft_storage::Error> {
        let g = job.group;
        let started = job.started;
        let snap = match job.join() {
            Ok(snap) => snap,
            Err(slotraft_storage::Error::Compacted) => {
                self.snapshot_stats.finished(None);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let (compacted, _) = self.store.compaction_point(g)?;
        if compacted >= snap.meta.index {
            self.snapshot_stats.finished(None);
            return Ok(());
        }
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.snapshot_stats
            .finished(Some((snap.data.len() as u64, ms)));
        // The snapshot file is durable; compacting behind it is safe.
        self.store.compact(g, snap.meta.index, snap.meta.term)?;
        if let Some(meta) = self.metas.get(&g) {
            let mut m = meta.write().expect("meta lock");
            if m.snapshot.meta.index < snap.meta.index {
                m.conf_state = snap.meta.conf_state.clone();
                m.snapshot = snap;
            }
        }
        Ok(())
    }

    /// Waits for a snapshot job still running (at shutdown: its thread
    /// holds the store, and the directory must be free when this driver
    /// is gone).
    fn wait_snapshot_job(&mut self) {
        if let Some(job) = self.snapshot_job.take() {
            // Its outcome no longer matters: recovery finds whichever
            // snapshot is durable and the log it left.
            let _ = job.join();
        }
    }
}

/// Nice value of snapshot threads: they take spare CPU before the event
/// loop's (weight 110 against 1024 at nice 0), without starving: a busy
/// node still finishes its snapshots, later.
pub const SNAPSHOT_THREAD_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority to [`SNAPSHOT_THREAD_NICE`]
/// (Linux: the nice value is per thread). Best effort: if the call fails
/// the snapshot runs at normal priority.
fn lower_this_threads_priority() {
    // SAFETY: plain system calls on the calling thread; no memory is shared.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, SNAPSHOT_THREAD_NICE);
    }
}

/// A log-compaction snapshot encoded, written and fdatasynced on a thread
/// of its own (at most one per node at a time).
pub struct SnapshotJob {
    group: GroupId,
    /// When the state was frozen (the job's duration ends at join).
    started: Instant,
    handle: std::thread::JoinHandle<Result<slotraft_raft::Snapshot, slotraft_storage::Error>>,
}

impl SnapshotJob {
    fn start(
        store: Arc<Store>,
        group: GroupId,
        pending: PendingSnapshot,
    ) -> Result<SnapshotJob, slotraft_storage::Error> {
        let handle = std::thread::Builder::new()
            .name(format!("slotraft-snap-{group}"))
            .spawn(move || {
                lower_this_threads_priority();
                let snap = pending.build();
                log_store::write_snapshot_file(&store, group, &snap)?;
                Ok(snap)
            })
            .map_err(|e| slotraft_storage::Error::Failed(format!("snapshot thread: {e}")))?;
        Ok(SnapshotJob {
            group,
            started: Instant::now(),
            handle,
        })
    }

    fn join(self) -> Result<slotraft_raft::Snapshot, slotraft_storage::Error> {
        match self.handle.join() {
            Ok(r) => r,
            // A panic while encoding is a bug: surface it where it belongs.
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock_at(start: Instant) -> TickClock {
        TickClock { start, told: 0 }
    }

    #[test]
    fn ticks_follow_real_time_and_catch_up_after_a_hold_up() {
        let t0 = Instant::now();
        let mut c = clock_at(t0);
        assert_eq!(c.take_due(t0), 0);
        assert_eq!(c.take_due(t0 + DEFAULT_TICK * 3 / 2), 1);
        assert_eq!(c.take_due(t0 + DEFAULT_TICK * 2), 1);
        assert_eq!(c.take_due(t0 + DEFAULT_TICK * 2), 0, "told once");
        // A 150 ms hold-up: all 15 ticks, not one.
        assert_eq!(c.take_due(t0 + DEFAULT_TICK * 17), 15);
        assert_eq!(c.next_tick(), t0 + DEFAULT_TICK * 18);
    }

    #[test]
    fn catch_up_is_bounded_but_outlasts_any_lease() {
        let t0 = Instant::now();
        let mut c = clock_at(t0);
        assert_eq!(c.take_due(t0 + Duration::from_secs(10)), MAX_CATCHUP_TICKS);
        assert_eq!(
            c.untold(t0 + Duration::from_secs(10)),
            1,
            "the rest is skipped"
        );
        // Leases last less than an election timeout (raft crate docs).
        assert!(MAX_CATCHUP_TICKS > DEFAULT_ELECTION_TICK as u64);
    }

    #[test]
    fn untold_time_is_rounded_up() {
        let t0 = Instant::now();
        let mut c = clock_at(t0);
        assert_eq!(c.untold(t0), 1, "a partial tick counts as whole");
        assert_eq!(c.take_due(t0 + DEFAULT_TICK), 1);
        // Paused right after a tick, for 40 ms: 4 whole ticks untold + 1.
        assert_eq!(c.untold(t0 + DEFAULT_TICK * 5), 5);
    }
}

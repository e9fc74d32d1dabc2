//! One simulated cluster run: N Raft replicas, a network, a disk per node,
//! clients and a nemesis, all driven from one seed in one thread.
//!
//! Why this shape: every source of non-determinism of a real deployment
//! (message timing, loss, fsync latency, crashes, client timing, Raft's own
//! randomized timeouts) is drawn from forks of one seeded PRNG, and every
//! event is processed in a total order, so a seed is a complete, replayable
//! description of a run. The trace hash folds every event; the same seed
//! must give the same hash.
//!
//! Time is simulated milliseconds. Each millisecond: the nemesis may act,
//! finished fsyncs complete (persist → send → apply → advance, the `Ready`
//! contract), due messages are delivered, nodes tick every [`TICK_MS`],
//! clients issue operations and time out. Inputs to a node go through its
//! inbox and are fed only when no `Ready` is outstanding (the contract
//! forbids inputs between `ready()` and `advance()`), so a slow fsync delays
//! a node's processing exactly as a real synchronous fsync would.
//!
//! The "disk" of a node is its `MemStorage`: the simulator writes to it only
//! when a `Ready`'s persistence completes. A crash drops the `RawNode` (all
//! volatile state) and any `Ready` whose fsync had not finished — or, in a
//! torn crash, persists only a prefix of it (snapshot / entries / hard state)
//! and sends none of its messages. A restart builds a new `RawNode` from the
//! disk.

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;
use slotraft_lincheck::{
    check, Budget, CheckResult, KvInput, KvModel, KvOutput, Operation, Outcome,
};
use slotraft_raft::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, Config, Entry, EntryKind, InjectedBugs,
    LogIndex, MemStorage, Message, NodeId, RawNode, Ready, Role, Storage,
};

use crate::invariants::{fnv1a, Invariants, FNV_OFFSET};
use crate::kvsm::{Command, KvStore};
use crate::nemesis::{random_fault, random_partition, Fault};
use crate::net::{NetConditions, Network};
use crate::rng::SimRng;

/// Simulated milliseconds per Raft tick.
pub const TICK_MS: u64 = 10;
/// Raft election timeout base, in ticks (100-200 ms simulated).
pub const ELECTION_TICK: usize = 10;
/// Raft heartbeat interval, in ticks.
pub const HEARTBEAT_TICK: usize = 2;
/// A client gives up on an operation after this long; a write then has an
/// unknown outcome.
pub const CLIENT_TIMEOUT_MS: u64 = 1_500;
/// After every fault is healed, a leader must emerge and a fresh write must
/// commit within this simulated time, or the run is a liveness violation.
pub const LIVENESS_BOUND_MS: u64 = 10_000;
/// A node snapshots and compacts its log every this many applied entries.
pub const SNAPSHOT_EVERY: u64 = 40;
/// Bound on inputs queued at a node (a full socket buffer drops).
pub const MAX_INBOX: usize = 4_096;
/// Bound on ticks a node catches up at once after a pause or slow fsync.
pub const MAX_MISSED_TICKS: u64 = 1_000;
/// Bound on inputs and `Ready`s processed by one pump of a node.
pub const MAX_PUMP_ROUNDS: usize = 100_000;
/// Number of ordinary clients.
pub const CLIENTS: usize = 4;
/// Keys the clients use (few keys: more contention, sharper checks).
pub const KEYS: &[&str] = &["a", "b", "c"];
/// Nemesis: first fault no earlier than this (let a leader emerge).
pub const CALM_START_MS: u64 = 300;
/// Nemesis: gap between faults.
pub const FAULT_GAP_MS: (u64, u64) = (20, 800);
/// Fraction of seeds (per mille) in "flappy leaders" mode.
pub const FLAPPY_SEEDS_PER_MILLE: u64 = 400;
/// In that mode, chance (per mille) that a new leader is crashed soon.
pub const FLAPPY_CRASH_PER_MILLE: u64 = 400;
/// ... that many ms after it won.
pub const FLAPPY_DELAY_MS: (u64, u64) = (0, 30);
/// In that mode, chance (per mille) that a leader is crashed right after
/// its commit index advances.
pub const FLAPPY_COMMIT_CRASH_PER_MILLE: u64 = 50;
/// ... and restarted that many ms after the crash.
pub const FLAPPY_RESTART_MS: (u64, u64) = (20, 300);
/// Client think time between operations.
pub const THINK_MS: (u64, u64) = (0, 30);
/// Search budget of the final linearizability check (per key).
pub const LINCHECK_STEPS: u64 = 5_000_000;
/// Default length of the faulty phase, in simulated milliseconds.
pub const DEFAULT_STEPS: u64 = 20_000;
/// Bound on the length of a run (steps) accepted from the command line.
pub const MAX_STEPS: u64 = 10_000_000;

/// A deliberately broken variant of the core (see `InjectedBugs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    VoteWithoutLogCheck,
    CommitOldTermByCounting,
    NoTruncateOnConflict,
    ReadWithoutQuorum,
}

impl Bug {
    pub const ALL: [Bug; 4] = [
        Bug::VoteWithoutLogCheck,
        Bug::CommitOldTermByCounting,
        Bug::NoTruncateOnConflict,
        Bug::ReadWithoutQuorum,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::VoteWithoutLogCheck => "vote_without_log_check",
            Bug::CommitOldTermByCounting => "commit_old_term_by_counting",
            Bug::NoTruncateOnConflict => "no_truncate_on_conflict",
            Bug::ReadWithoutQuorum => "read_without_quorum",
        }
    }

    pub fn from_name(s: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == s)
    }

    fn inject(self, bugs: &mut InjectedBugs) {
        match self {
            Bug::VoteWithoutLogCheck => bugs.vote_without_log_check = true,
            Bug::CommitOldTermByCounting => bugs.commit_old_term_by_counting = true,
            Bug::NoTruncateOnConflict => bugs.no_truncate_on_conflict = true,
            Bug::ReadWithoutQuorum => bugs.read_without_quorum = true,
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub nodes: usize,
    /// Simulated milliseconds of the faulty phase.
    pub steps: u64,
    pub bug: Option<Bug>,
    /// Inject faults (off: a calm network, for debugging the harness).
    pub faults: bool,
    /// Print every notable event.
    pub verbose: bool,
    /// With `verbose`: also print every delivered message.
    pub trace_messages: bool,
    /// Check the commitment rule (§5.4.2) on leaders directly. Off: the
    /// figure-8 bug is only caught through its consequence (a committed
    /// entry lost), which needs a rare choreography of crashes.
    pub check_commit_rule: bool,
}

impl SimConfig {
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            nodes: 3,
            steps: DEFAULT_STEPS,
            bug: None,
            faults: true,
            verbose: false,
            trace_messages: false,
            check_commit_rule: true,
        }
    }
}

/// The outcome of one seed.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub seed: u64,
    pub hash: u64,
    /// The first violation (safety, linearizability, liveness or a panic).
    pub violation: Option<String>,
    pub ops_ok: u64,
    pub ops_unknown: u64,
    pub leaders: u64,
    pub max_commit: u64,
    pub faults: u64,
    pub crashes: u64,
    /// Times a leader's commit index landed on an entry of an older term
    /// (only the `commit_old_term_by_counting` bug does that).
    pub old_term_commits: u64,
    /// The linearizability search ran out of budget (inconclusive, not a
    /// violation).
    pub lincheck_timeout: bool,
}

/// An input waiting in a node's inbox.
#[derive(Clone, Debug)]
enum Input {
    Msg(Message),
    Write {
        client: usize,
        request: u64,
        data: Bytes,
    },
    Read {
        client: usize,
        request: u64,
        ctx: Bytes,
    },
}

/// One simulated server.
struct SimNode {
    id: NodeId,
    /// The disk: written only when a `Ready`'s fsync completes.
    storage: MemStorage,
    /// `None` while crashed.
    raw: Option<RawNode<MemStorage>>,
    paused: bool,
    kv: KvStore,
    applied: u64,
    /// A `Ready` whose fsync completes at the given time.
    pending: Option<(Ready, u64)>,
    inbox: VecDeque<Input>,
    missed_ticks: u64,
    /// Read states waiting for `applied >= index`.
    reads: Vec<(Bytes, u64)>,
    tick_phase: u64,
    config: Config,
}

impl SimNode {
    fn up(&self) -> bool {
        self.raw.is_some()
    }
}

#[derive(Clone, Debug)]
struct Pending {
    /// Index into the history.
    op: usize,
    node: usize,
    request: u64,
    read_ctx: Option<Bytes>,
    deadline: u64,
}

struct Client {
    id: u64,
    next_at: u64,
    request: u64,
    hint: usize,
    pending: Option<Pending>,
}

struct HistOp {
    op: Operation<KvInput, KvOutput>,
    /// (client id, request number): identifies the write's log entry.
    request: (u64, u64),
    /// Certainly not executed (refused); left out of the check.
    discarded: bool,
}

/// The whole simulated world.
pub struct Cluster {
    cfg: SimConfig,
    now: u64,
    nodes: Vec<SimNode>,
    net: Network<Message>,
    inv: Invariants,
    clients: Vec<Client>,
    /// The liveness probe client (index `CLIENTS`) is active only after heal.
    probe_active: bool,
    probe_done: bool,
    /// After the probe write: final reads of these keys still to do (so a
    /// lost acknowledged write is seen even if no client read it later).
    final_reads_left: usize,
    history: Vec<HistOp>,
    /// Every (client, request) write applied by some node.
    applied_requests: HashSet<(u64, u64)>,
    /// Real-time order of calls and returns (a counter, so ties cannot hide
    /// an ordering).
    hclock: u64,
    rng_fault: SimRng,
    rng_client: SimRng,
    rng_disk: SimRng,
    rng_raft: SimRng,
    disk_latency_max: u64,
    /// Per-seed mode: new leaders are often crashed a few ms after winning
    /// (leaves uncommitted entries of many terms on different nodes: the
    /// precondition of the paper's figure 8).
    flappy_leaders: bool,
    /// Scheduled crashes: (time, node, term it must still lead).
    leader_crashes: Vec<(u64, usize, u64)>,
    /// Scheduled restarts of those crashed leaders: (time, node).
    restarts: Vec<(u64, usize)>,
    /// Commit index last seen per node (for `Report::old_term_commits`).
    last_leader_commit: Vec<u64>,
    next_fault: u64,
    hash: u64,
    violation: Option<String>,
    report: Report,
}

fn entry_hash(e: &Entry) -> u64 {
    let kind = match e.kind {
        EntryKind::Normal => 1u8,
        EntryKind::ConfChange => 2u8,
    };
    fnv1a(fnv1a(FNV_OFFSET, &[kind]), &e.data)
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Follower => "follower",
        Role::PreCandidate => "pre-candidate",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
    }
}

impl Cluster {
    pub fn new(cfg: SimConfig) -> Self {
        assert!((1..=9).contains(&cfg.nodes), "1..=9 nodes supported");
        let mut root = SimRng::new(cfg.seed);
        let rng_net = root.fork(1);
        let mut rng_conf = root.fork(2);
        let rng_fault = root.fork(3);
        let rng_client = root.fork(4);
        let mut rng_disk = root.fork(5);
        let rng_raft = root.fork(6);
        let n = cfg.nodes;
        let voters: Vec<u64> = (1..=n as u64).collect();
        let lease = cfg.faults && rng_conf.chance(300);
        let pre_vote = lease || rng_conf.chance(900);
        let inflight = *rng_conf.pick(&[2usize, 8, 256]);
        let size_per_msg = *rng_conf.pick(&[64u64, 1024, 1 << 20]);
        let entries_per_msg = *rng_conf.pick(&[1usize, 8, 4096]);
        let chunk = *rng_conf.pick(&[16usize, 256, 1 << 19]);
        let priorities = rng_conf.chance(300);
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let id = NodeId(i as u64 + 1);
            let mut c = Config::new(id);
            c.election_tick = ELECTION_TICK;
            c.heartbeat_tick = HEARTBEAT_TICK;
            c.pre_vote = pre_vote;
            c.check_quorum = true;
            c.lease_read = lease;
            c.max_inflight_msgs = inflight;
            c.max_size_per_msg = size_per_msg;
            c.max_entries_per_msg = entries_per_msg;
            c.max_snapshot_chunk = chunk;
            c.priority = if priorities { rng_conf.below(4) } else { 0 };
            if let Some(b) = cfg.bug {
                b.inject(&mut c.bugs);
            }
            let storage = MemStorage::new_with_conf_state(slotraft_raft::ConfState::with_voters(
                voters.clone(),
            ));
            nodes.push(SimNode {
                id,
                storage,
                raw: None,
                paused: false,
                kv: KvStore::default(),
                applied: 0,
                pending: None,
                inbox: VecDeque::new(),
                missed_ticks: 0,
                reads: Vec::new(),
                tick_phase: rng_conf.below(TICK_MS),
                config: c,
            });
        }
        let disk_latency_max = *rng_disk.pick(&[0u64, 1, 3]);
        let flappy_leaders = cfg.faults && rng_conf.chance(FLAPPY_SEEDS_PER_MILLE);
        let clients = (0..=CLIENTS)
            .map(|c| Client {
                id: c as u64 + 1,
                next_at: 0,
                request: 0,
                hint: c % n,
                pending: None,
            })
            .collect();
        let mut cl = Cluster {
            now: 0,
            nodes,
            net: Network::new(n, rng_net),
            inv: Invariants::new(n),
            clients,
            probe_active: false,
            probe_done: false,
            final_reads_left: KEYS.len(),
            history: Vec::new(),
            applied_requests: HashSet::new(),
            hclock: 0,
            rng_fault,
            rng_client,
            rng_disk,
            rng_raft,
            disk_latency_max,
            flappy_leaders,
            leader_crashes: Vec::new(),
            restarts: Vec::new(),
            last_leader_commit: vec![0; n],
            next_fault: CALM_START_MS,
            hash: FNV_OFFSET,
            violation: None,
            report: Report {
                seed: cfg.seed,
                ..Default::default()
            },
            cfg,
        };
        cl.log(|| {
            format!(
                "config: nodes {n}, lease_read {lease}, pre_vote {pre_vote}, inflight {inflight}, \
                 size/msg {size_per_msg}, entries/msg {entries_per_msg}, chunk {chunk}, \
                 priorities {priorities}, disk latency <= {disk_latency_max} ms, \
                 flappy leaders {flappy_leaders}"
            )
        });
        for i in 0..n {
            cl.start_node(i);
        }
        cl
    }

    // ----- small helpers -------------------------------------------------

    fn log(&self, f: impl FnOnce() -> String) {
        if self.cfg.verbose {
            println!("[{:>7}] {}", self.now, f());
        }
    }

    fn trace(&mut self, words: &[u64]) {
        for w in words {
            self.hash = fnv1a(self.hash, &w.to_le_bytes());
        }
    }

    fn fail(&mut self, v: String) {
        if self.violation.is_none() {
            self.log(|| format!("VIOLATION: {v}"));
            self.violation = Some(v);
        }
    }

    fn check<T>(&mut self, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(t) => Some(t),
            Err(v) => {
                self.fail(v);
                None
            }
        }
    }

    fn index_of(&self, id: NodeId) -> Option<usize> {
        let i = id.get().checked_sub(1)? as usize;
        (i < self.nodes.len()).then_some(i)
    }

    /// The node that currently believes it leads with the highest term.
    fn current_leader(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|&i| !self.nodes[i].paused)
            .filter_map(|i| self.nodes[i].raw.as_ref().map(|r| (i, r)))
            .filter(|(_, r)| r.role() == Role::Leader)
            .max_by_key(|(_, r)| r.term())
            .map(|(i, _)| i)
    }

    // ----- node lifecycle ------------------------------------------------

    fn start_node(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.raw.is_none());
        let snap = node
            .storage
            .snapshot(LogIndex::ZERO)
            .expect("MemStorage always has a (possibly empty) snapshot");
        // The membership to restart from is the one at the applied index,
        // i.e. the snapshot's: later conf changes are re-applied.
        node.storage
            .wl()
            .set_conf_state(snap.meta.conf_state.clone());
        node.kv = KvStore::decode(&snap.data).expect("snapshot image decodes");
        node.applied = snap.meta.index.get();
        let mut c = node.config.clone();
        c.applied = snap.meta.index;
        c.seed = self.rng_raft.next_u64();
        match RawNode::new(c, node.storage.clone()) {
            Ok(r) => node.raw = Some(r),
            Err(e) => {
                let v = format!("node {} failed to start: {e}", i + 1);
                self.fail(v);
                return;
            }
        }
        let applied = self.nodes[i].applied;
        self.inv.observe_restart(i, applied);
        self.after_input(i);
        self.pump(i);
    }

    fn crash(&mut self, i: usize) {
        self.report.crashes += 1;
        let torn = self.rng_fault.below(4);
        let node = &mut self.nodes[i];
        let pending = node.pending.take();
        node.raw = None;
        node.paused = false;
        node.inbox.clear();
        node.reads.clear();
        node.missed_ticks = 0;
        self.net.drop_to(i);
        self.log(|| format!("crash node {} (torn persist level {torn})", i + 1));
        self.trace(&[6, self.now, i as u64, torn]);
        if let Some((rd, _)) = pending {
            // Torn: the fsync got part of the way. Nothing was sent.
            self.persist(i, &rd, torn);
        }
        for c in 0..self.clients.len() {
            let lost = matches!(&self.clients[c].pending, Some(p) if p.node == i);
            if lost {
                self.finish_unknown(c);
            }
        }
    }

    // ----- the Ready contract --------------------------------------------

    /// Step 1 of the contract: persist (`level`: 0 nothing, 1 snapshot,
    /// 2 + entries, 3 + hard state).
    fn persist(&mut self, i: usize, rd: &Ready, level: u64) {
        if level >= 1 {
            if let Some(s) = &rd.snapshot {
                let r = self.nodes[i].storage.wl().apply_snapshot(s.clone());
                if let Err(e) = r {
                    self.fail(format!("node {}: persisting snapshot failed: {e}", i + 1));
                    return;
                }
            }
        }
        if level >= 2 && !rd.entries.is_empty() {
            let r = self.nodes[i].storage.wl().append(&rd.entries);
            if let Err(e) = r {
                self.fail(format!("node {}: persisting entries failed: {e}", i + 1));
                return;
            }
            let store = self.nodes[i].storage.clone();
            let first = store.first_index().map(|x| x.get()).unwrap_or(1);
            for e in &rd.entries {
                if e.index.get() < first {
                    continue;
                }
                let prev = store.term(e.index.prev()).ok().map(|t| t.get());
                let r = self.inv.observe_persisted_entry(
                    i,
                    e.index.get(),
                    e.term.get(),
                    prev,
                    entry_hash(e),
                );
                if self.check(r).is_none() {
                    return;
                }
            }
        }
        if level >= 3 {
            if let Some(hs) = rd.hard_state {
                self.nodes[i].storage.wl().set_hard_state(hs);
                let r = self.inv.observe_durable_commit(i, hs.commit.get());
                self.check(r);
            }
        }
    }

    fn send_all(&mut self, i: usize, msgs: &[Message]) {
        for m in msgs {
            let Some(to) = self.index_of(m.to) else {
                continue;
            };
            self.trace(&[4, i as u64, to as u64, m.term.get()]);
            self.net.send(self.now, i, to, m.clone());
        }
    }

    /// Steps 1-4 of the contract for a `Ready` whose fsync completed.
    fn complete_ready(&mut self, i: usize, rd: Ready) {
        self.trace(&[
            3,
            self.now,
            i as u64,
            rd.entries.len() as u64,
            rd.committed_entries.len() as u64,
            rd.messages.len() as u64,
            rd.hard_state
                .map(|h| h.term.get() << 32 | h.commit.get())
                .unwrap_or(0),
        ]);
        self.persist(i, &rd, 3);
        self.send_all(i, &rd.messages);
        if let Some(s) = &rd.snapshot {
            let Some(kv) = KvStore::decode(&s.data) else {
                self.fail(format!("node {}: snapshot image does not decode", i + 1));
                return;
            };
            let idx = s.meta.index.get();
            self.nodes[i].kv = kv;
            self.nodes[i].applied = idx;
            let commit = self.nodes[i].raw.as_ref().map_or(0, |r| r.commit().get());
            let r = self.inv.observe_apply(i, idx, None, commit.max(idx));
            self.check(r);
            self.log(|| format!("node {} installed snapshot at {idx}", i + 1));
        }
        for e in &rd.committed_entries {
            if e.index.get() <= self.nodes[i].applied {
                continue; // re-delivered after a restart: already applied
            }
            self.apply_entry(i, e);
            if self.violation.is_some() {
                return;
            }
        }
        for rs in &rd.read_states {
            self.nodes[i].reads.push((rs.ctx.clone(), rs.index.get()));
        }
        let Some(raw) = self.nodes[i].raw.as_mut() else {
            return;
        };
        raw.advance(rd);
        self.serve_reads(i);
        self.maybe_snapshot(i);
    }

    fn apply_entry(&mut self, i: usize, e: &Entry) {
        let commit = self.nodes[i].raw.as_ref().map_or(0, |r| r.commit().get());
        let r = self
            .inv
            .observe_apply(i, e.index.get(), Some(entry_hash(e)), commit);
        if self.check(r).is_none() {
            return;
        }
        self.nodes[i].applied = e.index.get();
        match e.kind {
            EntryKind::Normal if e.data.is_empty() => {}
            EntryKind::Normal => {
                let Some(cmd) = Command::decode(&e.data) else {
                    self.fail(format!("node {}: undecodable entry at {}", i + 1, e.index));
                    return;
                };
                let out = self.nodes[i].kv.apply(&cmd);
                self.applied_requests.insert((cmd.client, cmd.request));
                self.write_applied(i, &cmd, out);
            }
            EntryKind::ConfChange => {
                let cc = match ConfChange::decode(&e.data) {
                    Ok(cc) => cc,
                    Err(err) => {
                        self.fail(format!("node {}: conf change decode: {err}", i + 1));
                        return;
                    }
                };
                let raw = self.nodes[i].raw.as_mut().expect("applying node is up");
                let res = raw.apply_conf_change(&cc);
                self.log(|| {
                    format!(
                        "node {} applied {:?} at {} -> {:?}",
                        i + 1,
                        cc.changes,
                        e.index,
                        res
                    )
                });
            }
        }
    }

    fn maybe_snapshot(&mut self, i: usize) {
        let node = &self.nodes[i];
        let Some(raw) = node.raw.as_ref() else { return };
        let snap_index = node.storage.first_index().map_or(1, |x| x.get()) - 1;
        let last = node.storage.last_index().map_or(0, |x| x.get());
        if node.applied < snap_index + SNAPSHOT_EVERY || node.applied > last {
            return;
        }
        let cs = raw.conf_state();
        let data = Bytes::from(node.kv.encode());
        let idx = LogIndex(node.applied);
        let r = node.storage.wl().create_snapshot(idx, cs, data);
        if let Err(e) = r {
            self.fail(format!(
                "node {}: create_snapshot({idx}) failed: {e}",
                i + 1
            ));
        }
    }

    // ----- feeding inputs --------------------------------------------------

    /// Invariant checks after any input to node `i`.
    fn after_input(&mut self, i: usize) {
        let Some(raw) = self.nodes[i].raw.as_ref() else {
            return;
        };
        let (role, term, commit) = (raw.role(), raw.term().get(), raw.commit().get());
        let commit_term = raw.log_term(LogIndex(commit)).map(|t| t.get());
        let advanced = commit > self.last_leader_commit[i];
        self.last_leader_commit[i] = commit;
        if role == Role::Leader && advanced && commit_term.is_some_and(|t| t != term) {
            self.report.old_term_commits += 1;
            self.log(|| {
                format!(
                    "leader {} of term {term} committed old-term index {commit} (term {commit_term:?})",
                    i + 1
                )
            });
        }
        if role == Role::Leader
            && advanced
            && self.flappy_leaders
            && !self.probe_active
            && self.rng_fault.chance(FLAPPY_COMMIT_CRASH_PER_MILLE)
        {
            // Adversarial timing: crash a leader right after its commit
            // index moved, before its next `Ready` (the next appends) is
            // necessarily out.
            self.leader_crashes.push((self.now, i, term));
        }
        if self.cfg.check_commit_rule
            && role == Role::Leader
            && advanced
            && commit_term.is_some_and(|t| t != term)
        {
            // The commitment rule (Raft §5.4.2, figure 3): a leader advances
            // its commit index only to an entry of its own term (counting
            // replicas of an older entry is the figure-8 bug).
            self.fail(format!(
                "commit rule (§5.4.2): leader {} of term {term} advanced commit to index {commit} of term {:?}",
                i + 1,
                commit_term
            ));
            return;
        }
        let r = self.inv.observe_commit(i, commit, term, |idx| {
            raw.log_term(LogIndex(idx)).map(|t| t.get())
        });
        if self.check(r).is_none() {
            return;
        }
        if role != Role::Leader {
            return;
        }
        let r = self.inv.observe_leader(i, term);
        let Some(new_leader) = self.check(r) else {
            return;
        };
        if !new_leader {
            return;
        }
        self.report.leaders += 1;
        self.trace(&[5, self.now, i as u64, term]);
        if self.flappy_leaders
            && !self.probe_active
            && self.now >= CALM_START_MS
            && self.rng_fault.chance(FLAPPY_CRASH_PER_MILLE)
        {
            let at = self.now + self.rng_fault.range(FLAPPY_DELAY_MS.0, FLAPPY_DELAY_MS.1);
            self.leader_crashes.push((at, i, term));
        }
        self.log(|| format!("node {} becomes leader of term {term}", i + 1));
        let node = &self.nodes[i];
        let raw = node.raw.as_ref().expect("checked above");
        let compacted = node.storage.first_index().map_or(1, |x| x.get()) - 1;
        let r = self
            .inv
            .check_leader_completeness(i, term, compacted, |idx| {
                raw.log_term(LogIndex(idx)).map(|t| t.get())
            });
        self.check(r);
    }

    fn take_ready(&mut self, i: usize) -> bool {
        let node = &mut self.nodes[i];
        let Some(raw) = node.raw.as_mut() else {
            return false;
        };
        if node.pending.is_some() || !raw.has_ready() {
            return false;
        }
        let mut rd = raw.ready();
        if rd.messages_before_persist {
            // A leader's messages may leave before its fsync (a crash during
            // the fsync then loses the entries locally but not the sends):
            // exactly what the node runtime does.
            let early = std::mem::take(&mut rd.messages);
            self.send_all(i, &early);
        }
        let latency = if self.disk_latency_max == 0 {
            0
        } else {
            self.rng_disk.range(0, self.disk_latency_max)
        };
        if latency == 0 {
            self.complete_ready(i, rd);
        } else {
            self.nodes[i].pending = Some((rd, self.now + latency));
        }
        true
    }

    /// Feeds node `i` its missed ticks and queued inputs, handling `Ready`s
    /// in between, until it is idle, busy with an fsync, paused or down.
    fn pump(&mut self, i: usize) {
        for _ in 0..MAX_PUMP_ROUNDS {
            if self.violation.is_some() {
                return;
            }
            let node = &self.nodes[i];
            if !node.up() || node.paused || node.pending.is_some() {
                return;
            }
            if self.take_ready(i) {
                continue;
            }
            let node = &mut self.nodes[i];
            if node.missed_ticks > 0 {
                node.missed_ticks -= 1;
                node.raw.as_mut().expect("up").tick();
                self.after_input(i);
                continue;
            }
            let Some(input) = node.inbox.pop_front() else {
                return;
            };
            self.feed(i, input);
            self.after_input(i);
        }
        self.fail(format!(
            "node {} did not go idle within {MAX_PUMP_ROUNDS} rounds",
            i + 1
        ));
    }

    fn feed(&mut self, i: usize, input: Input) {
        let raw = self.nodes[i].raw.as_mut().expect("fed only when up");
        match input {
            Input::Msg(m) => {
                // Errors for stale or unexpected messages are normal.
                let _ = raw.step(m);
            }
            Input::Write {
                client,
                request,
                data,
            } => match raw.propose(data) {
                Ok(_) => {}
                Err(_) => {
                    let hint = raw.leader().and_then(|l| self.index_of(l));
                    self.refused(client, request, hint);
                }
            },
            Input::Read {
                client,
                request,
                ctx,
            } => {
                if raw.read_index(ctx).is_err() {
                    let hint = raw.leader().and_then(|l| self.index_of(l));
                    self.refused(client, request, hint);
                }
            }
        }
    }

    fn enqueue(&mut self, i: usize, input: Input) {
        let node = &mut self.nodes[i];
        if !node.up() {
            return;
        }
        if node.inbox.len() >= MAX_INBOX {
            return; // overflow: dropped like a full socket buffer
        }
        node.inbox.push_back(input);
        self.pump(i);
    }

    // ----- clients -----------------------------------------------------------

    fn call(&mut self, c: usize, node: usize, input: KvInput, read_ctx: Option<Bytes>) -> usize {
        self.hclock += 1;
        let op = Operation {
            client: self.clients[c].id,
            input,
            call_time: self.hclock,
            return_time: 0,
            output: Outcome::Unknown,
        };
        let request = (self.clients[c].id, self.clients[c].request);
        self.history.push(HistOp {
            op,
            request,
            discarded: false,
        });
        let idx = self.history.len() - 1;
        let request = self.clients[c].request;
        self.clients[c].pending = Some(Pending {
            op: idx,
            node,
            request,
            read_ctx,
            deadline: self.now + CLIENT_TIMEOUT_MS,
        });
        idx
    }

    fn think(&mut self) -> u64 {
        self.now + self.rng_client.range(THINK_MS.0, THINK_MS.1)
    }

    fn finish(&mut self, c: usize, out: KvOutput) {
        let Some(p) = self.clients[c].pending.take() else {
            return;
        };
        self.hclock += 1;
        let h = &mut self.history[p.op];
        h.op.output = Outcome::Known(out);
        h.op.return_time = self.hclock;
        self.report.ops_ok += 1;
        self.clients[c].next_at = self.think();
        self.trace(&[7, self.now, c as u64, p.request]);
        if c == CLIENTS && !self.probe_done {
            self.probe_done = true;
            self.log(|| format!("liveness probe committed (client request {})", p.request));
        } else if c == CLIENTS {
            self.final_reads_left = self.final_reads_left.saturating_sub(1);
        }
    }

    fn finish_unknown(&mut self, c: usize) {
        let Some(p) = self.clients[c].pending.take() else {
            return;
        };
        let h = &mut self.history[p.op];
        if h.op.input.is_read_only() {
            h.discarded = true;
        } else {
            self.report.ops_unknown += 1;
        }
        self.clients[c].next_at = self.think();
        self.clients[c].hint = self.rng_client.below(self.nodes.len() as u64) as usize;
        self.trace(&[8, self.now, c as u64, p.request]);
    }

    /// The node certainly did not execute request `request` of client `c`.
    /// (A stale request, queued while the client already gave up on it,
    /// must not touch the client's current operation.)
    fn refused(&mut self, c: usize, request: u64, hint: Option<usize>) {
        if !matches!(&self.clients[c].pending, Some(p) if p.request == request) {
            return;
        }
        let Some(p) = self.clients[c].pending.take() else {
            return;
        };
        self.history[p.op].discarded = true;
        self.clients[c].next_at = self.think();
        self.clients[c].hint =
            hint.unwrap_or_else(|| self.rng_client.below(self.nodes.len() as u64) as usize);
    }

    fn write_applied(&mut self, i: usize, cmd: &Command, out: KvOutput) {
        let c = (cmd.client - 1) as usize;
        let matches = matches!(
            self.clients.get(c).and_then(|cl| cl.pending.as_ref()),
            Some(p) if p.node == i && p.request == cmd.request && p.read_ctx.is_none()
        );
        if matches {
            self.finish(c, out);
        }
    }

    fn serve_reads(&mut self, i: usize) {
        let applied = self.nodes[i].applied;
        let ready: Vec<Bytes> = self.nodes[i]
            .reads
            .iter()
            .filter(|(_, idx)| *idx <= applied)
            .map(|(ctx, _)| ctx.clone())
            .collect();
        self.nodes[i].reads.retain(|(_, idx)| *idx > applied);
        for ctx in ready {
            let Some(c) = (0..self.clients.len()).find(|&c| {
                matches!(&self.clients[c].pending, Some(p) if p.node == i && p.read_ctx.as_ref() == Some(&ctx))
            }) else {
                continue;
            };
            let op = self.clients[c].pending.as_ref().expect("found").op;
            let key = self.history[op].op.input.key().to_vec();
            let value = self.nodes[i].kv.get(&key);
            self.finish(c, KvOutput::Value(value));
        }
    }

    fn client_step(&mut self, c: usize) {
        let probe = c == CLIENTS;
        if self.clients[c].pending.is_some()
            || self.clients[c].next_at > self.now
            || (probe && (!self.probe_active || self.final_reads_left == 0))
            || (!probe && self.probe_active)
        {
            return;
        }
        let n = self.nodes.len() as u64;
        let node = if probe {
            match self.current_leader() {
                Some(l) => l,
                None => return,
            }
        } else if self.rng_client.chance(200) {
            self.rng_client.below(n) as usize
        } else {
            self.clients[c].hint
        };
        if !self.nodes[node].up() {
            // Connection refused: certainly not executed.
            self.clients[c].hint = self.rng_client.below(n) as usize;
            self.clients[c].next_at = self.think();
            return;
        }
        self.clients[c].request += 1;
        let (id, request) = (self.clients[c].id, self.clients[c].request);
        let key = if probe && !self.probe_done {
            b"probe".to_vec()
        } else if probe {
            KEYS[KEYS.len() - self.final_reads_left].as_bytes().to_vec()
        } else {
            KEYS[self.rng_client.below(KEYS.len() as u64) as usize]
                .as_bytes()
                .to_vec()
        };
        let roll = match (probe, self.probe_done) {
            (true, false) => 0, // the liveness probe: a put
            (true, true) => 9,  // the final reads
            _ => self.rng_client.below(10),
        };
        self.trace(&[9, self.now, c as u64, node as u64, roll]);
        if roll < 6 {
            let append = roll >= 3;
            let value = format!("c{id}r{request};").into_bytes();
            let cmd = Command {
                client: id,
                request,
                append,
                key: key.clone(),
                value: value.clone(),
            };
            let input = if append {
                KvInput::Append { key, value }
            } else {
                KvInput::Put { key, value }
            };
            self.call(c, node, input, None);
            let data = Bytes::from(cmd.encode());
            self.enqueue(
                node,
                Input::Write {
                    client: c,
                    request,
                    data,
                },
            );
        } else {
            let mut ctx = id.to_le_bytes().to_vec();
            ctx.extend_from_slice(&request.to_le_bytes());
            let ctx = Bytes::from(ctx);
            self.call(c, node, KvInput::Get { key }, Some(ctx.clone()));
            self.enqueue(
                node,
                Input::Read {
                    client: c,
                    request,
                    ctx,
                },
            );
        }
    }

    // ----- the nemesis -----------------------------------------------------

    fn pick(&mut self, pred: impl Fn(&SimNode) -> bool) -> Option<usize> {
        let cands: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| pred(&self.nodes[i]))
            .collect();
        if cands.is_empty() {
            None
        } else {
            Some(*self.rng_fault.pick(&cands))
        }
    }

    fn propose_conf(&mut self, leader: usize, cc: ConfChange) {
        self.log(|| {
            format!(
                "nemesis: node {} proposes conf change {:?}",
                leader + 1,
                cc.changes
            )
        });
        let raw = self.nodes[leader].raw.as_mut().expect("leader is up");
        let r = raw.propose_conf_change(cc);
        if let Err(e) = r {
            self.log(|| format!("  conf change refused: {e}"));
        }
        self.after_input(leader);
        self.pump(leader);
    }

    fn fault(&mut self) {
        let f = random_fault(&mut self.rng_fault);
        self.report.faults += 1;
        self.trace(&[10, self.now, f as u64]);
        let n = self.nodes.len();
        match f {
            Fault::Partition => {
                let p = random_partition(n, &mut self.rng_fault);
                self.net.heal();
                for &(a, b) in &p.cut {
                    self.net.set_cut(a, b, true);
                }
                self.log(|| format!("nemesis: partition {} {:?}", p.name, p.cut));
            }
            Fault::IsolateLeader => {
                let Some(l) = self.current_leader() else {
                    return;
                };
                self.net.heal();
                for j in 0..n {
                    self.net.set_cut(l, j, true);
                    self.net.set_cut(j, l, true);
                }
                self.log(|| format!("nemesis: isolate leader {}", l + 1));
            }
            Fault::CrashLeader => {
                if let Some(l) = self.current_leader() {
                    self.crash(l);
                }
            }
            Fault::Heal => {
                self.net.heal();
                self.log(|| "nemesis: heal partitions".into());
            }
            Fault::Crash => {
                if let Some(i) = self.pick(|s| s.up()) {
                    self.crash(i);
                }
            }
            Fault::Restart => {
                if let Some(i) = self.pick(|s| !s.up()) {
                    self.log(|| format!("nemesis: restart node {}", i + 1));
                    self.start_node(i);
                }
            }
            Fault::Pause => {
                if let Some(i) = self.pick(|s| s.up() && !s.paused) {
                    self.log(|| format!("nemesis: pause node {}", i + 1));
                    self.nodes[i].paused = true;
                }
            }
            Fault::Resume => {
                if let Some(i) = self.pick(|s| s.paused) {
                    self.log(|| format!("nemesis: resume node {}", i + 1));
                    self.nodes[i].paused = false;
                    self.pump(i);
                }
            }
            Fault::FlakyNetwork => {
                self.net.conditions = NetConditions::random(&mut self.rng_fault);
                let c = self.net.conditions;
                self.log(|| format!("nemesis: flaky network {c:?}"));
            }
            Fault::CalmNetwork => {
                self.net.conditions = NetConditions::CALM;
                self.log(|| "nemesis: calm network".into());
            }
            Fault::TransferLeader => {
                let Some(l) = self.current_leader() else {
                    return;
                };
                let voters = self.nodes[l].raw.as_ref().expect("up").conf_state().voters;
                let others: Vec<NodeId> = voters
                    .into_iter()
                    .filter(|&v| v != self.nodes[l].id)
                    .collect();
                if others.is_empty() {
                    return;
                }
                let to = *self.rng_fault.pick(&others);
                self.log(|| format!("nemesis: transfer leadership {} -> {to}", l + 1));
                self.nodes[l].raw.as_mut().expect("up").transfer_leader(to);
                self.after_input(l);
                self.pump(l);
            }
            Fault::RemoveVoter
            | Fault::AddLearner
            | Fault::PromoteLearner
            | Fault::ReplaceVoter => {
                self.membership_fault(f);
            }
        }
    }

    fn membership_fault(&mut self, f: Fault) {
        let Some(l) = self.current_leader() else {
            return;
        };
        let cs = self.nodes[l].raw.as_ref().expect("up").conf_state();
        if cs.is_joint() {
            return;
        }
        let n = self.nodes.len();
        let all: Vec<NodeId> = (1..=n as u64).map(NodeId).collect();
        let outside: Vec<NodeId> = all
            .iter()
            .copied()
            .filter(|x| !cs.voters.contains(x) && !cs.learners.contains(x))
            .collect();
        // Keep enough voters that a majority survives one more fault.
        let min_voters = if n >= 5 { 3 } else { n.min(2) };
        let transition = if self.rng_fault.below(2) == 0 {
            ConfChangeTransition::Auto
        } else {
            ConfChangeTransition::Implicit
        };
        let change = match f {
            Fault::RemoveVoter if cs.voters.len() > min_voters => {
                vec![ConfChangeSingle::RemoveNode(
                    *self.rng_fault.pick(&cs.voters),
                )]
            }
            Fault::AddLearner if !outside.is_empty() => {
                vec![ConfChangeSingle::AddLearner(*self.rng_fault.pick(&outside))]
            }
            Fault::PromoteLearner if !cs.learners.is_empty() => {
                vec![ConfChangeSingle::AddVoter(
                    *self.rng_fault.pick(&cs.learners),
                )]
            }
            Fault::ReplaceVoter if !cs.learners.is_empty() || !outside.is_empty() => {
                let pool = if cs.learners.is_empty() {
                    &outside
                } else {
                    &cs.learners
                };
                let new = *self.rng_fault.pick(pool);
                let old = *self.rng_fault.pick(&cs.voters);
                vec![
                    ConfChangeSingle::AddVoter(new),
                    ConfChangeSingle::RemoveNode(old),
                ]
            }
            _ => return,
        };
        self.propose_conf(
            l,
            ConfChange {
                transition,
                changes: change,
            },
        );
    }

    // ----- the main loop -----------------------------------------------------

    fn step_ms(&mut self, faults: bool) {
        if faults && self.now >= self.next_fault {
            self.fault();
            self.next_fault = self.now + self.rng_fault.range(FAULT_GAP_MS.0, FAULT_GAP_MS.1);
        }
        if faults {
            self.scheduled_leader_crashes();
        }
        for i in 0..self.nodes.len() {
            let due = matches!(self.nodes[i].pending, Some((_, t)) if t <= self.now);
            if due {
                let (rd, _) = self.nodes[i].pending.take().expect("due");
                self.complete_ready(i, rd);
                self.pump(i);
            }
        }
        for m in self.net.take_due(self.now) {
            if !self.nodes[m.to].up() {
                continue;
            }
            self.trace(&[1, self.now, m.from as u64, m.to as u64, m.msg.term.get()]);
            if self.cfg.trace_messages {
                self.log(|| format!("deliver {:?}", m.msg));
            }
            self.enqueue(m.to, Input::Msg(m.msg));
        }
        for i in 0..self.nodes.len() {
            let node = &mut self.nodes[i];
            if node.up() && (self.now + node.tick_phase).is_multiple_of(TICK_MS) {
                node.missed_ticks = (node.missed_ticks + 1).min(MAX_MISSED_TICKS);
                self.pump(i);
            }
        }
        for c in 0..self.clients.len() {
            let timed_out = matches!(&self.clients[c].pending, Some(p) if p.deadline <= self.now);
            if timed_out {
                self.finish_unknown(c);
            }
            self.client_step(c);
        }
    }

    fn scheduled_leader_crashes(&mut self) {
        let now = self.now;
        let due: Vec<(u64, usize, u64)> = self
            .leader_crashes
            .iter()
            .copied()
            .filter(|&(t, _, _)| t <= now)
            .collect();
        self.leader_crashes.retain(|&(t, _, _)| t > now);
        for (_, i, term) in due {
            let still = matches!(self.nodes[i].raw.as_ref(), Some(r) if r.role() == Role::Leader && r.term().get() == term);
            if still {
                self.log(|| format!("nemesis: crash fresh leader {} of term {term}", i + 1));
                self.crash(i);
                let at = now
                    + self
                        .rng_fault
                        .range(FLAPPY_RESTART_MS.0, FLAPPY_RESTART_MS.1);
                self.restarts.push((at, i));
            }
        }
        let due: Vec<usize> = self
            .restarts
            .iter()
            .filter(|&&(t, _)| t <= now)
            .map(|&(_, i)| i)
            .collect();
        self.restarts.retain(|&(t, _)| t > now);
        for i in due {
            if !self.nodes[i].up() {
                self.log(|| format!("nemesis: restart crashed leader {}", i + 1));
                self.start_node(i);
            }
        }
    }

    fn heal_all(&mut self) {
        self.log(|| "heal: network, crashed and paused nodes".into());
        self.net.heal();
        self.net.conditions = NetConditions::CALM;
        for i in 0..self.nodes.len() {
            if !self.nodes[i].up() {
                self.start_node(i);
            }
            if self.nodes[i].paused {
                self.nodes[i].paused = false;
                self.pump(i);
            }
        }
    }

    /// Runs the seed to the end and returns its report.
    pub fn run(mut self) -> Report {
        let steps = self.cfg.steps.min(MAX_STEPS);
        while self.now < steps && self.violation.is_none() {
            let faults = self.cfg.faults;
            self.step_ms(faults);
            self.now += 1;
        }
        if self.violation.is_none() {
            self.heal_all();
            self.probe_active = true;
            let deadline = self.now + LIVENESS_BOUND_MS;
            while !self.probe_done && self.now < deadline && self.violation.is_none() {
                self.step_ms(false);
                self.now += 1;
            }
            // Best effort (bounded by the same deadline): read every key once
            // more through the leader.
            while self.final_reads_left > 0 && self.now < deadline && self.violation.is_none() {
                self.step_ms(false);
                self.now += 1;
            }
            if !self.probe_done && self.violation.is_none() {
                for line in self.dump() {
                    self.log(|| line);
                }
                let v = format!(
                    "liveness: no write committed within {LIVENESS_BOUND_MS} ms after healing (leader: {:?})",
                    self.current_leader().map(|l| l + 1)
                );
                self.fail(v);
            }
        }
        for c in 0..self.clients.len() {
            self.finish_unknown(c);
        }
        if self.violation.is_none() {
            self.check_history();
        }
        self.report.max_commit = self.inv.max_committed();
        self.report.hash = self.hash;
        self.report.violation = self.violation.take();
        self.report
    }

    /// Checks the client history for linearizability.
    ///
    /// Writes with an unknown outcome that no node ever applied are left
    /// out: nothing any client observed (reads observe applied state) can
    /// depend on them, so "never happened" is as good as any placement.
    /// This is the simulator's omniscience pruning the checker's search
    /// (each unknown append otherwise multiplies the states to explore).
    fn check_history(&mut self) {
        let ops: Vec<Operation<KvInput, KvOutput>> = self
            .history
            .iter()
            .filter(|h| !h.discarded)
            .filter(|h| {
                h.op.output != Outcome::Unknown
                    || h.op.input.is_read_only()
                    || self.applied_requests.contains(&h.request)
            })
            .map(|h| h.op.clone())
            .collect();
        match check(&KvModel, &ops, Budget::steps(LINCHECK_STEPS)) {
            CheckResult::Ok => {}
            CheckResult::Illegal(a) => {
                self.fail(format!("linearizability: {}", a.description));
            }
            CheckResult::Timeout { partitions } => {
                self.report.lincheck_timeout = true;
                self.log(|| format!("lincheck ran out of budget on partitions {partitions:?}"));
            }
        }
    }

    /// One line per node: role, term, commit, applied, log bounds,
    /// membership and (on leaders) follower progress. For verbose runs.
    pub fn dump(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let Some(r) = n.raw.as_ref() else {
                out.push(format!("node {}: down", i + 1));
                continue;
            };
            let first = n.storage.first_index().map_or(0, |x| x.get());
            let last = n.storage.last_index().map_or(0, |x| x.get());
            let mut line = format!(
                "node {}: {} term {} leader {:?} commit {} applied {} raw-last {} disk [{first}, {last}] paused {} inbox {} pending-ready {} conf {:?}",
                i + 1,
                role_name(r.role()),
                r.term(),
                r.leader(),
                r.commit(),
                n.applied,
                r.last_index(),
                n.paused,
                n.inbox.len(),
                n.pending.is_some(),
                r.conf_state()
            );
            if r.role() == Role::Leader {
                for j in 0..self.nodes.len() {
                    if let Some(p) = r.progress(NodeId(j as u64 + 1)) {
                        line.push_str(&format!("\n    progress {}: {p:?}", j + 1));
                    }
                }
            }
            out.push(line);
        }
        out
    }

    /// Roles of all nodes (for verbose dumps and tests).
    pub fn roles(&self) -> Vec<&'static str> {
        self.nodes
            .iter()
            .map(|n| n.raw.as_ref().map_or("down", |r| role_name(r.role())))
            .collect()
    }
}

/// Runs one seed, turning a panic anywhere (core or harness) into a
/// violation so a long run reports it instead of aborting.
pub fn run_seed(cfg: &SimConfig) -> Report {
    let cfg2 = cfg.clone();
    match std::panic::catch_unwind(move || Cluster::new(cfg2).run()) {
        Ok(r) => r,
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into());
            Report {
                seed: cfg.seed,
                violation: Some(format!("panic: {msg}")),
                ..Default::default()
            }
        }
    }
}

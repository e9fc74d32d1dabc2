//! The Raft protocol proper: roles, elections, replication, reads,
//! snapshots and membership. Driven by `RawNode`.
//!
//! Design (etcd-io/raft style, our own code): every input is a method that
//! mutates state and queues outgoing messages in `msgs`; nothing is sent or
//! persisted here. Appends to followers are *deferred* to `flush()` (called
//! when the application takes a `Ready`), so all proposals made between two
//! `Ready`s travel in as few append messages as the size limits allow —
//! that is the batching. Reads are confirmed in batched heartbeat rounds
//! (see `read_only`).
//!
//! Invariants checked with asserts: the term never decreases; the commit
//! index never decreases (`RaftLog::commit_to`); a leader only appends at
//! the end of its own log and never truncates it; appended entries are
//! contiguous; a node votes at most once per term.

use crate::log::RaftLog;
use crate::message::*;
use crate::progress::{Progress, ProgressInfo, ProgressState, ProgressTracker};
use crate::quorum::{JointConfig, VoteResult};
use crate::read_only::{PendingRead, ReadOnly};
use crate::rng::Rng;
use crate::{Config, Error, ProposalId, Ready, Storage, StorageError, MAX_PRIORITY};
use bytes::Bytes;
use slotraft_types::{LogIndex, NodeId, Term};
use std::collections::{BTreeMap, BTreeSet};

/// Largest snapshot a follower will buffer while receiving chunks.
pub const MAX_SNAPSHOT_BYTES: u64 = 16 << 30;

/// A snapshot being received chunk by chunk.
struct SnapshotAssembly {
    meta: SnapshotMeta,
    total_len: u64,
    buf: Vec<u8>,
}

pub(crate) struct Raft<S: Storage> {
    pub id: NodeId,
    pub term: Term,
    pub vote: Option<NodeId>,
    pub role: Role,
    pub leader: Option<NodeId>,
    pub log: RaftLog<S>,
    pub prs: ProgressTracker,
    pub lead_transferee: Option<NodeId>,
    pub read_states: Vec<ReadState>,
    pub msgs: Vec<Message>,
    cfg: Config,
    rng: Rng,
    election_elapsed: usize,
    heartbeat_elapsed: usize,
    randomized_timeout: usize,
    votes: BTreeMap<NodeId, bool>,
    /// Index of the latest conf change in the log (leader).
    pending_conf_index: LogIndex,
    /// Bytes of proposals not yet committed (leader), bounded.
    uncommitted_size: u64,
    /// Total ticks since start; the leader's lease clock.
    clock: u64,
    /// Lease given up for the rest of the term (leadership transfer).
    lease_revoked: bool,
    /// After a restart with lease reads: refuse votes for one election timeout.
    vote_guard: bool,
    /// Leader: appends should be (re)sent at the next flush.
    need_bcast: bool,
    /// Leader: the commit index moved; followers should learn it.
    commit_dirty: bool,
    reads: ReadOnly,
    snap_rx: Option<SnapshotAssembly>,
    snap_cache: Option<Snapshot>,
    /// Any injected bug on: tolerate (instead of asserting on) the damage
    /// it causes so the simulator, not a panic, reports it.
    lenient: bool,
}

impl<S: Storage> Raft<S> {
    pub fn new(cfg: Config, store: S) -> Result<Self, Error> {
        cfg.validate()?;
        let rs = store.initial_state()?;
        let log = RaftLog::new(store, cfg.applied, cfg.max_committed_size_per_ready);
        let seed = cfg.seed ^ cfg.id.get().wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut r = Raft {
            id: cfg.id,
            term: rs.hard_state.term,
            vote: rs.hard_state.vote,
            role: Role::Follower,
            leader: None,
            log,
            prs: ProgressTracker::default(),
            lead_transferee: None,
            read_states: Vec::new(),
            msgs: Vec::new(),
            rng: Rng::new(seed),
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_timeout: cfg.election_tick,
            votes: BTreeMap::new(),
            pending_conf_index: LogIndex::ZERO,
            uncommitted_size: 0,
            clock: 1,
            lease_revoked: false,
            vote_guard: cfg.lease_read && cfg.check_quorum,
            need_bcast: false,
            commit_dirty: false,
            reads: ReadOnly::default(),
            snap_rx: None,
            snap_cache: None,
            lenient: cfg.bugs.any(),
            cfg,
        };
        r.log.set_lenient(r.lenient);
        r.install_conf_state(&rs.conf_state);
        let term = r.term;
        r.become_follower(term, None);
        Ok(r)
    }

    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.log.committed,
        }
    }

    pub fn soft_state(&self) -> SoftState {
        SoftState {
            leader: self.leader,
            role: self.role,
        }
    }

    pub fn progress_info(&self, id: NodeId) -> Option<ProgressInfo> {
        if self.role != Role::Leader {
            return None;
        }
        self.prs.progress.get(&id).map(Progress::info)
    }

    // ----------------------------------------------------------------- roles

    fn reset(&mut self, term: Term) {
        assert!(
            term >= self.term,
            "term went backwards: {:?} -> {term:?}",
            self.term
        );
        if term != self.term {
            self.term = term;
            self.vote = None;
        }
        self.leader = None;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.reset_randomized_timeout();
        self.lead_transferee = None;
        self.votes.clear();
        self.reads.clear();
        self.need_bcast = false;
        self.commit_dirty = false;
        self.lease_revoked = false;
        self.uncommitted_size = 0;
        self.snap_cache = None;
        let last = self.log.last_index();
        let (count, bytes) = (self.cfg.max_inflight_msgs, self.cfg.max_inflight_bytes);
        for (&id, pr) in self.prs.progress.iter_mut() {
            let is_learner = pr.is_learner;
            *pr = Progress::new(last.next(), count, bytes);
            pr.is_learner = is_learner;
            if id == self.id {
                pr.matched = self.log.persisted_index().min(last);
                pr.recent_active = true;
            }
        }
    }

    fn reset_randomized_timeout(&mut self) {
        let et = self.cfg.election_tick as u64;
        let p = self.cfg.priority.min(MAX_PRIORITY);
        let span = (et / (1 + p)).max(1);
        self.randomized_timeout = (et + self.rng.below(span)) as usize;
    }

    fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        self.reset(term);
        self.role = Role::Follower;
        self.leader = leader;
    }

    fn become_pre_candidate(&mut self) {
        assert!(
            self.role != Role::Leader,
            "leader cannot become pre-candidate"
        );
        self.role = Role::PreCandidate;
        self.votes.clear();
        self.leader = None;
    }

    fn become_candidate(&mut self) {
        assert!(self.role != Role::Leader, "leader cannot become candidate");
        let term = self.term.next();
        self.reset(term);
        self.vote = Some(self.id);
        self.role = Role::Candidate;
    }

    fn become_leader(&mut self) {
        assert!(
            self.role != Role::Follower,
            "follower cannot become leader directly"
        );
        let term = self.term;
        self.reset(term);
        self.leader = Some(self.id);
        self.role = Role::Leader;
        self.pending_conf_index = self.log.last_index();
        // §5.4.2 / §8: an entry of the new term, so that everything before
        // it commits and reads can be served.
        self.append_entry(EntryKind::Normal, Bytes::new());
    }

    fn promotable(&self) -> bool {
        self.prs.is_voter(self.id) && !self.prs.learners.contains(&self.id)
    }

    // ------------------------------------------------------------------ tick

    pub fn tick(&mut self) {
        self.clock += 1;
        if self.role == Role::Leader {
            self.tick_leader();
        } else {
            self.tick_election();
        }
    }

    fn tick_election(&mut self) {
        self.election_elapsed += 1;
        if self.vote_guard && self.election_elapsed >= self.cfg.election_tick {
            self.vote_guard = false;
        }
        if self.promotable() && self.election_elapsed >= self.randomized_timeout {
            self.election_elapsed = 0;
            self.campaign(false);
        }
    }

    fn tick_leader(&mut self) {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        if self.election_elapsed >= self.cfg.election_tick {
            self.election_elapsed = 0;
            // A removed leader keeps going until it has handed over (see
            // `is_removed_leader`); otherwise CheckQuorum applies.
            if self.cfg.check_quorum && !self.is_removed_leader() {
                if !self.prs.quorum_active(self.id) {
                    let term = self.term;
                    self.become_follower(term, None);
                    return;
                }
                let me = self.id;
                for (&id, pr) in self.prs.progress.iter_mut() {
                    pr.recent_active = id == me;
                }
            }
            // A transfer that did not finish within an election timeout is aborted.
            self.lead_transferee = None;
        }
        if self.heartbeat_elapsed >= self.cfg.heartbeat_tick {
            self.heartbeat_elapsed = 0;
            self.bcast_heartbeat();
        }
    }

    // ------------------------------------------------------------- elections

    pub fn campaign_now(&mut self) {
        if self.role != Role::Leader {
            self.campaign(false);
        }
    }

    fn campaign(&mut self, transfer: bool) {
        let pre_vote = self.cfg.pre_vote && !transfer;
        self.run_election(pre_vote, transfer);
    }

    fn run_election(&mut self, pre_vote: bool, transfer: bool) {
        if !self.promotable() {
            return;
        }
        let vote_term = if pre_vote {
            self.become_pre_candidate();
            self.term.next()
        } else {
            self.become_candidate();
            self.term
        };
        if self.poll(self.id, true) == VoteResult::Won {
            self.on_election_won();
            return;
        }
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        for id in self.prs.voters.ids() {
            if id == self.id {
                continue;
            }
            self.msgs.push(Message {
                from: self.id,
                to: id,
                term: vote_term,
                body: MessageBody::RequestVote {
                    pre_vote,
                    last_index,
                    last_term,
                    transfer,
                },
            });
        }
    }

    fn poll(&mut self, id: NodeId, granted: bool) -> VoteResult {
        self.votes.entry(id).or_insert(granted);
        self.prs.voters.vote_result(&self.votes)
    }

    fn on_election_won(&mut self) {
        if self.role == Role::PreCandidate {
            self.run_election(false, false);
        } else {
            self.become_leader();
        }
    }

    fn handle_vote_request(&mut self, m: &Message, pre_vote: bool, li: LogIndex, lt: Term) {
        let can_vote = self.vote == Some(m.from)
            || (self.vote.is_none() && self.leader.is_none())
            || (pre_vote && m.term > self.term);
        let log_ok = self.cfg.bugs.vote_without_log_check || self.log.is_up_to_date(li, lt);
        let granted = can_vote && log_ok;
        let term = if granted { m.term } else { self.term };
        self.send(
            m.from,
            term,
            MessageBody::VoteResponse { pre_vote, granted },
        );
        if granted && !pre_vote {
            debug_assert!(
                self.vote.is_none() || self.vote == Some(m.from),
                "double vote"
            );
            self.election_elapsed = 0;
            self.vote = Some(m.from);
        }
    }

    // ------------------------------------------------------------------ step

    pub fn step(&mut self, m: Message) -> Result<(), Error> {
        if m.to != self.id || m.from == self.id {
            return Ok(());
        }
        if m.term > self.term {
            if !self.accept_higher_term(&m) {
                return Ok(());
            }
        } else if m.term < self.term {
            self.answer_stale(&m);
            return Ok(());
        }
        if let MessageBody::RequestVote {
            pre_vote,
            last_index,
            last_term,
            ..
        } = m.body
        {
            self.handle_vote_request(&m, pre_vote, last_index, last_term);
            return Ok(());
        }
        match self.role {
            Role::Leader => self.step_leader(m),
            Role::Candidate | Role::PreCandidate => self.step_candidate(m),
            Role::Follower => self.step_follower(m),
        }
        Ok(())
    }

    /// A message from a higher term. Returns false if it is to be ignored.
    fn accept_higher_term(&mut self, m: &Message) -> bool {
        if let MessageBody::RequestVote { transfer, .. } = m.body {
            let in_lease = self.cfg.check_quorum
                && self.election_elapsed < self.cfg.election_tick
                && (self.leader.is_some() || self.vote_guard);
            if !transfer && in_lease {
                return false; // §4.2.3: we have a live leader, ignore disruption
            }
        }
        match m.body {
            MessageBody::RequestVote { pre_vote: true, .. } => {}
            MessageBody::VoteResponse {
                pre_vote: true,
                granted: true,
            } => {}
            MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::Snapshot { .. } => self.become_follower(m.term, Some(m.from)),
            _ => self.become_follower(m.term, None),
        }
        true
    }

    fn answer_stale(&mut self, m: &Message) {
        match m.body {
            MessageBody::Append { .. } | MessageBody::Heartbeat { .. }
                if self.cfg.check_quorum || self.cfg.pre_vote =>
            {
                // Tell a stale leader about our term so it steps down (it may
                // otherwise never hear a higher term with PreVote on).
                let body = MessageBody::AppendResponse {
                    index: LogIndex::ZERO,
                    reject: None,
                };
                self.send(m.from, self.term, body);
            }
            MessageBody::RequestVote { pre_vote: true, .. } => {
                let body = MessageBody::VoteResponse {
                    pre_vote: true,
                    granted: false,
                };
                self.send(m.from, self.term, body);
            }
            _ => {}
        }
    }

    fn step_follower(&mut self, m: Message) {
        match m.body {
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                self.heard_from_leader(m.from);
                self.handle_append(m.from, prev_index, prev_term, &entries, commit);
            }
            MessageBody::Heartbeat {
                commit,
                read_round,
                sent_tick,
            } => {
                self.heard_from_leader(m.from);
                self.handle_heartbeat(m.from, commit, read_round, sent_tick);
            }
            MessageBody::Snapshot { .. } => {
                self.heard_from_leader(m.from);
                self.handle_snapshot_chunk(m);
            }
            MessageBody::TimeoutNow => self.campaign(true),
            MessageBody::ReadIndexResponse { ctx, index } => {
                self.read_states.push(ReadState {
                    index,
                    ctx,
                    lease: false,
                });
            }
            _ => {}
        }
    }

    fn heard_from_leader(&mut self, from: NodeId) {
        self.election_elapsed = 0;
        self.leader = Some(from);
    }

    fn step_candidate(&mut self, m: Message) {
        match m.body {
            MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::Snapshot { .. } => {
                // A leader exists in our term (or a higher one, handled before).
                let term = m.term;
                self.become_follower(term, Some(m.from));
                self.step_follower(m);
            }
            MessageBody::VoteResponse { pre_vote, granted } => {
                if pre_vote != (self.role == Role::PreCandidate) {
                    return;
                }
                match self.poll(m.from, granted) {
                    VoteResult::Won => self.on_election_won(),
                    VoteResult::Lost => {
                        let term = self.term;
                        self.become_follower(term, None);
                    }
                    VoteResult::Pending => {}
                }
            }
            _ => {}
        }
    }

    fn step_leader(&mut self, m: Message) {
        let from = m.from;
        match m.body {
            MessageBody::AppendResponse { index, reject } => {
                self.handle_append_response(from, index, reject)
            }
            MessageBody::HeartbeatResponse {
                read_round,
                sent_tick,
            } => self.handle_heartbeat_response(from, read_round, sent_tick),
            MessageBody::SnapshotResponse {
                snapshot_index,
                next_offset,
            } => self.handle_snapshot_response(from, snapshot_index, next_offset),
            MessageBody::ReadIndex { ctx } => {
                // Errors (queue full) drop the forwarded read; the follower's
                // client times out and retries.
                let _ = self.leader_read(PendingRead { ctx, from });
            }
            _ => {}
        }
    }

    fn send(&mut self, to: NodeId, term: Term, body: MessageBody) {
        self.msgs.push(Message {
            from: self.id,
            to,
            term,
            body,
        });
    }

    // ------------------------------------------------------------- proposals

    pub fn propose(&mut self, data: Bytes) -> Result<ProposalId, Error> {
        self.check_can_propose(data.len() as u64)?;
        Ok(self.append_entry(EntryKind::Normal, data))
    }

    fn check_can_propose(&self, size: u64) -> Result<(), Error> {
        if self.role != Role::Leader
            || self.lead_transferee.is_some()
            || !self.prs.progress.contains_key(&self.id)
        {
            return Err(Error::ProposalDropped);
        }
        if self.uncommitted_size > 0
            && self.uncommitted_size + size + Entry::OVERHEAD_BYTES > self.cfg.max_uncommitted_size
        {
            return Err(Error::ProposalDropped);
        }
        Ok(())
    }

    fn append_entry(&mut self, kind: EntryKind, data: Bytes) -> ProposalId {
        let index = self.log.last_index().next();
        let e = Entry {
            term: self.term,
            index,
            kind,
            data,
        };
        self.uncommitted_size += e.size();
        let last = self.log.append(std::slice::from_ref(&e));
        debug_assert_eq!(last, index);
        // The leader's own copy counts towards the commit quorum only once
        // it is durable (`advance`), so its appends may be sent to the
        // followers before its own fsync (Raft thesis §10.2.1).
        self.need_bcast = true;
        ProposalId {
            term: self.term,
            index,
        }
    }

    fn maybe_commit(&mut self) -> bool {
        let mci = self.prs.committed_index();
        if mci <= self.log.committed {
            return false;
        }
        let current = self.log.term(mci) == Some(self.term);
        if !current && !self.cfg.bugs.commit_old_term_by_counting {
            return false; // §5.4.2: never commit an old-term entry by counting
        }
        let had_term_commit = self.committed_in_term();
        self.log.commit_to(mci);
        self.commit_dirty = true;
        self.need_bcast = true;
        if !had_term_commit && self.committed_in_term() {
            self.release_waiting_reads();
        }
        true
    }

    fn committed_in_term(&self) -> bool {
        self.log.term(self.log.committed) == Some(self.term)
    }

    // ----------------------------------------------------------- replication

    /// Send whatever is pending (deferred appends). Called by `ready()`.
    pub fn flush(&mut self) {
        if self.role != Role::Leader || !self.need_bcast {
            return;
        }
        let commit_dirty = self.commit_dirty;
        self.need_bcast = false;
        self.commit_dirty = false;
        let peers: Vec<NodeId> = self.prs.progress.keys().copied().collect();
        for id in peers {
            if id != self.id {
                self.send_append_loop(id, commit_dirty);
            }
        }
    }

    fn send_append_loop(&mut self, to: NodeId, send_if_empty: bool) {
        let mut empty_ok = send_if_empty;
        for _ in 0..=self.cfg.max_inflight_msgs {
            if !self.send_append(to, empty_ok) {
                return;
            }
            empty_ok = false;
        }
    }

    /// Send one append (or snapshot chunk) to `to` if its progress allows.
    /// Returns true if entries were sent (more may follow).
    fn send_append(&mut self, to: NodeId, send_if_empty: bool) -> bool {
        let Some(pr) = self.prs.progress.get(&to) else {
            return false;
        };
        if pr.is_paused() {
            return false;
        }
        let next = pr.next;
        let last = self.log.last_index();
        let prev_term = self.log.term(next.prev());
        let hi = LogIndex(
            last.get()
                .min(next.get() + self.cfg.max_entries_per_msg as u64 - 1),
        )
        .next();
        let ents = self
            .log
            .entries(next, hi.max(next), self.cfg.max_size_per_msg);
        let (Some(prev_term), Some(entries)) = (prev_term, ents) else {
            self.send_snapshot(to);
            return false;
        };
        if entries.is_empty() && !send_if_empty {
            return false;
        }
        let pr = self.prs.progress.get_mut(&to).expect("progress exists");
        let sent_entries = !entries.is_empty();
        match pr.state {
            ProgressState::Replicate => {
                if let Some(e) = entries.last() {
                    let bytes = entries.iter().map(Entry::size).sum();
                    pr.next = e.index.next();
                    pr.inflights.add(e.index, bytes);
                }
            }
            ProgressState::Probe => pr.probe_sent = true,
            ProgressState::Snapshot => unreachable!("paused"),
        }
        let body = MessageBody::Append {
            prev_index: next.prev(),
            prev_term,
            entries,
            commit: self.log.committed,
        };
        self.send(to, self.term, body);
        sent_entries
    }

    fn handle_append(
        &mut self,
        from: NodeId,
        prev_index: LogIndex,
        prev_term: Term,
        entries: &[Entry],
        commit: LogIndex,
    ) {
        if prev_index < self.log.committed {
            let index = self.log.committed;
            self.send(
                from,
                self.term,
                MessageBody::AppendResponse {
                    index,
                    reject: None,
                },
            );
            return;
        }
        if self.log.match_term(prev_index, prev_term) {
            let last_new = LogIndex(prev_index.get() + entries.len() as u64);
            self.log
                .maybe_append(entries, self.cfg.bugs.no_truncate_on_conflict);
            self.log
                .commit_to(commit.min(last_new).min(self.log.last_index()));
            let body = MessageBody::AppendResponse {
                index: last_new,
                reject: None,
            };
            self.send(from, self.term, body);
            return;
        }
        let hint = prev_index.min(self.log.last_index());
        let (hint_index, hint_term) = self.log.find_conflict_by_term(hint, prev_term);
        let body = MessageBody::AppendResponse {
            index: self.log.last_index(),
            reject: Some(RejectHint {
                rejected: prev_index,
                hint_index,
                hint_term,
            }),
        };
        self.send(from, self.term, body);
    }

    fn handle_append_response(
        &mut self,
        from: NodeId,
        index: LogIndex,
        reject: Option<RejectHint>,
    ) {
        let last = self.log.last_index();
        let Some(pr) = self.prs.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        if let Some(h) = reject {
            let mut next_probe = h.hint_index;
            if h.hint_term > Term::ZERO {
                next_probe = self.log.find_conflict_by_term(h.hint_index, h.hint_term).0;
            }
            let pr = self.prs.progress.get_mut(&from).expect("checked");
            if pr.maybe_decr_to(h.rejected, next_probe) {
                if pr.state == ProgressState::Replicate {
                    pr.become_probe();
                }
                self.need_bcast = true;
            }
            return;
        }
        if index > last {
            return; // cannot be from our term's appends; ignore garbage
        }
        if !pr.maybe_update(index) {
            return;
        }
        match pr.state {
            ProgressState::Probe => pr.become_replicate(),
            ProgressState::Snapshot if pr.matched >= pr.pending_snapshot => {
                pr.become_probe();
                pr.become_replicate();
            }
            ProgressState::Snapshot => {}
            ProgressState::Replicate => pr.inflights.free_le(index),
        }
        let matched = pr.matched;
        self.maybe_commit();
        self.need_bcast = true;
        if self.lead_transferee == Some(from) && matched == last {
            self.send(from, self.term, MessageBody::TimeoutNow);
        }
        if self.is_removed_leader() {
            self.maybe_hand_off();
        }
    }

    fn bcast_heartbeat(&mut self) {
        let read_round = self.reads.round_id();
        let peers: Vec<(NodeId, LogIndex)> = self
            .prs
            .progress
            .iter()
            .filter(|(&id, _)| id != self.id)
            .map(|(&id, pr)| (id, pr.matched))
            .collect();
        for (id, matched) in peers {
            let body = MessageBody::Heartbeat {
                commit: matched.min(self.log.committed),
                read_round,
                sent_tick: self.clock,
            };
            self.send(id, self.term, body);
        }
    }

    fn handle_heartbeat(
        &mut self,
        from: NodeId,
        commit: LogIndex,
        read_round: u64,
        sent_tick: u64,
    ) {
        self.log.commit_to(commit.min(self.log.last_index()));
        let body = MessageBody::HeartbeatResponse {
            read_round,
            sent_tick,
        };
        self.send(from, self.term, body);
    }

    fn handle_heartbeat_response(&mut self, from: NodeId, read_round: u64, sent_tick: u64) {
        let last = self.log.last_index();
        let Some(pr) = self.prs.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        pr.probe_sent = false;
        pr.acked_tick = pr.acked_tick.max(sent_tick);
        if pr.state == ProgressState::Replicate && pr.inflights.full() {
            pr.inflights.free_first();
        }
        match pr.state {
            ProgressState::Snapshot => self.send_snapshot_chunk(from),
            _ if pr.matched < last => {
                // Possibly lost appends: probe with an (empty if need be) append.
                self.send_append(from, true);
            }
            _ => {}
        }
        if read_round != 0 {
            self.ack_read_round(from, read_round);
        }
    }

    // ------------------------------------------------------------- snapshots

    fn send_snapshot(&mut self, to: NodeId) {
        let snap = match self.log.store().snapshot(LogIndex::ZERO) {
            Ok(s) => s,
            Err(StorageError::SnapshotTemporarilyUnavailable) => return,
            Err(e) => panic!("storage snapshot: {e}"),
        };
        assert!(!snap.is_empty(), "log compacted but no snapshot");
        let pr = self.prs.progress.get_mut(&to).expect("progress exists");
        pr.become_snapshot(snap.meta.index);
        self.snap_cache = Some(snap);
        self.send_snapshot_chunk(to);
    }

    /// Send the chunk at the follower's acknowledged offset (stop-and-wait).
    fn send_snapshot_chunk(&mut self, to: NodeId) {
        let Some(pr) = self.prs.progress.get(&to) else {
            return;
        };
        let (pending, offset) = (pr.pending_snapshot, pr.snapshot_offset);
        if self.snap_cache.as_ref().map(|s| s.meta.index) != Some(pending) {
            match self.log.store().snapshot(LogIndex::ZERO) {
                Ok(s) if s.meta.index == pending => self.snap_cache = Some(s),
                // The snapshot moved on: start over with the new one.
                Ok(_) | Err(_) => {
                    let pr = self.prs.progress.get_mut(&to).expect("exists");
                    pr.become_probe();
                    self.send_append(to, true);
                    return;
                }
            }
        }
        let snap = self.snap_cache.as_ref().expect("cached");
        let len = snap.data.len() as u64;
        let start = offset.min(len) as usize;
        let end = (start + self.cfg.max_snapshot_chunk).min(len as usize);
        let body = MessageBody::Snapshot {
            meta: snap.meta.clone(),
            total_len: len,
            offset: start as u64,
            chunk: snap.data.slice(start..end),
            done: end as u64 == len,
        };
        self.send(to, self.term, body);
    }

    fn handle_snapshot_response(&mut self, from: NodeId, snapshot_index: LogIndex, next: u64) {
        let Some(pr) = self.prs.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        if pr.state != ProgressState::Snapshot || pr.pending_snapshot != snapshot_index {
            return;
        }
        // The follower is authoritative about what it holds (it may also
        // have restarted and lost its buffer). Equal offsets are duplicates:
        // ignoring them keeps at most one chunk chain alive.
        if next != pr.snapshot_offset {
            pr.snapshot_offset = next;
            self.send_snapshot_chunk(from);
        }
    }

    fn handle_snapshot_chunk(&mut self, m: Message) {
        let MessageBody::Snapshot {
            meta,
            total_len,
            offset,
            chunk,
            done,
        } = m.body
        else {
            return;
        };
        let same_in_progress = self
            .snap_rx
            .as_ref()
            .is_some_and(|rx| rx.meta == meta && rx.total_len == total_len);
        if offset == 0 && total_len <= MAX_SNAPSHOT_BYTES && !same_in_progress {
            self.snap_rx = Some(SnapshotAssembly {
                meta: meta.clone(),
                total_len,
                buf: Vec::new(),
            });
        }
        let index = meta.index;
        let accepted = match &mut self.snap_rx {
            Some(rx)
                if rx.meta == meta
                    && rx.total_len == total_len
                    && rx.buf.len() as u64 == offset
                    && offset + chunk.len() as u64 <= total_len =>
            {
                rx.buf.extend_from_slice(&chunk);
                true
            }
            _ => false,
        };
        let have = self
            .snap_rx
            .as_ref()
            .filter(|rx| rx.meta == meta)
            .map_or(0, |rx| rx.buf.len() as u64);
        if accepted && done && have == total_len {
            let rx = self.snap_rx.take().expect("assembly exists");
            let snap = Snapshot {
                meta: rx.meta,
                data: Bytes::from(rx.buf),
            };
            self.handle_snapshot(m.from, snap);
            return;
        }
        let body = MessageBody::SnapshotResponse {
            snapshot_index: index,
            next_offset: have,
        };
        self.send(m.from, self.term, body);
    }

    fn handle_snapshot(&mut self, from: NodeId, snap: Snapshot) {
        let (idx, term) = (snap.meta.index, snap.meta.term);
        if idx > self.log.committed {
            if self.log.match_term(idx, term) {
                self.log.commit_to(idx); // we already have it: fast-forward
            } else {
                self.install_conf_state(&snap.meta.conf_state);
                self.log.restore(snap);
            }
        }
        let index = self.log.committed;
        self.send(
            from,
            self.term,
            MessageBody::AppendResponse {
                index,
                reject: None,
            },
        );
    }

    pub fn report_snapshot(&mut self, to: NodeId, ok: bool) {
        if self.role != Role::Leader {
            return;
        }
        let Some(pr) = self.prs.progress.get_mut(&to) else {
            return;
        };
        if pr.state != ProgressState::Snapshot {
            return;
        }
        if !ok {
            pr.pending_snapshot = LogIndex::ZERO;
        }
        pr.become_probe();
        pr.probe_sent = true; // wait for a heartbeat response before probing
    }

    pub fn report_unreachable(&mut self, to: NodeId) {
        if self.role != Role::Leader {
            return;
        }
        if let Some(pr) = self.prs.progress.get_mut(&to) {
            if pr.state == ProgressState::Replicate {
                pr.become_probe();
            }
        }
    }

    // ----------------------------------------------------------------- reads

    pub fn read_index(&mut self, ctx: Bytes) -> Result<(), Error> {
        match self.role {
            Role::Leader => self.leader_read(PendingRead { ctx, from: self.id }),
            _ => {
                let Some(leader) = self.leader else {
                    return Err(Error::NoLeader);
                };
                self.send(leader, self.term, MessageBody::ReadIndex { ctx });
                Ok(())
            }
        }
    }

    fn leader_read(&mut self, r: PendingRead) -> Result<(), Error> {
        if self.cfg.bugs.read_without_quorum {
            let index = self.log.committed;
            self.respond_read(r, index);
            return Ok(());
        }
        if self.reads.pending() >= self.cfg.max_pending_reads {
            return Err(Error::ReadIndexBusy);
        }
        if !self.committed_in_term() {
            self.reads.waiting_commit.push(r);
            return Ok(());
        }
        let single = self.prs.voters.ids() == BTreeSet::from([self.id]);
        // The lease serves only this node's own reads: the application
        // re-checks it after reading (`ReadState::lease`), which a follower
        // that asked for the index cannot do for us.
        let lease = !single && r.from == self.id && self.lease_valid();
        if single || lease {
            let index = self.log.committed;
            self.respond_read_with(r, index, lease);
            return Ok(());
        }
        self.reads.queued.push(r);
        self.maybe_start_read_round();
        Ok(())
    }

    fn maybe_start_read_round(&mut self) {
        if self
            .reads
            .maybe_start_round(self.log.committed, self.id)
            .is_some()
        {
            self.bcast_heartbeat();
        }
    }

    fn ack_read_round(&mut self, from: NodeId, round: u64) {
        let Some(r) = self.reads.in_flight.as_mut() else {
            return;
        };
        if r.id != round || !self.prs.voters.contains(from) {
            return;
        }
        r.acks.insert(from);
        let votes: BTreeMap<NodeId, bool> = r.acks.iter().map(|&id| (id, true)).collect();
        if self.prs.voters.vote_result(&votes) != VoteResult::Won {
            return;
        }
        let done = self.reads.in_flight.take().expect("checked");
        for read in done.reads {
            self.respond_read(read, done.index);
        }
        self.maybe_start_read_round();
    }

    fn release_waiting_reads(&mut self) {
        for r in std::mem::take(&mut self.reads.waiting_commit) {
            let _ = self.leader_read(r);
        }
    }

    fn respond_read(&mut self, r: PendingRead, index: LogIndex) {
        self.respond_read_with(r, index, false);
    }

    fn respond_read_with(&mut self, r: PendingRead, index: LogIndex, lease: bool) {
        if r.from == self.id {
            self.read_states.push(ReadState {
                index,
                ctx: r.ctx,
                lease,
            });
        } else {
            self.send(
                r.from,
                self.term,
                MessageBody::ReadIndexResponse { ctx: r.ctx, index },
            );
        }
    }

    /// Ticks a lease lasts after the heartbeat that started it was sent.
    fn lease_ticks(&self) -> u64 {
        let et = self.cfg.election_tick as u64;
        et - (et / 4).max(1)
    }

    /// Ticks the leader lease still lasts, counted on this node's clock;
    /// `None` when there is none (not leader, lease reads off, given up
    /// for a transfer, or expired).
    pub fn lease_remaining(&self) -> Option<u64> {
        if self.role != Role::Leader || !self.lease_valid() {
            return None;
        }
        Some(self.lease_start() + self.lease_ticks() - self.clock)
    }

    /// The leader's tick at which it sent the newest heartbeat a quorum
    /// acknowledged (0: none).
    fn lease_start(&self) -> u64 {
        self.prs.voters.committed_value(|id| {
            if id == self.id {
                self.clock
            } else {
                self.prs.progress.get(&id).map_or(0, |p| p.acked_tick)
            }
        })
    }

    fn lease_valid(&self) -> bool {
        if !self.cfg.lease_read || self.lease_revoked {
            return false;
        }
        let start = self.lease_start();
        start > 0 && self.clock < start + self.lease_ticks()
    }

    // ------------------------------------------------------ leader transfer

    pub fn transfer_leader(&mut self, to: NodeId) {
        if self.role != Role::Leader || to == self.id || !self.prs.voters.contains(to) {
            return;
        }
        if self.prs.learners.contains(&to) || self.lead_transferee == Some(to) {
            return;
        }
        self.lead_transferee = Some(to);
        self.election_elapsed = 0;
        self.lease_revoked = true; // the target may win before we notice
        let matched = self
            .prs
            .progress
            .get(&to)
            .map_or(LogIndex::ZERO, |p| p.matched);
        if matched == self.log.last_index() {
            self.send(to, self.term, MessageBody::TimeoutNow);
        } else {
            // Catch the target up now (an empty append also uncovers appends
            // lost while it was unreachable).
            self.send_append(to, true);
            self.need_bcast = true;
        }
    }

    // ------------------------------------------------------------ membership

    pub fn propose_conf_change(&mut self, cc: ConfChange) -> Result<ProposalId, Error> {
        self.check_can_propose(0)?;
        if self.pending_conf_index > self.log.applied {
            return Err(Error::ConfChangeRejected("a conf change is pending"));
        }
        let joint = self.prs.voters.is_joint();
        if joint && !cc.is_leave_joint() {
            return Err(Error::ConfChangeRejected(
                "must leave the joint config first",
            ));
        }
        if !joint && cc.is_leave_joint() {
            return Err(Error::ConfChangeRejected("not in a joint config"));
        }
        let mut buf = Vec::new();
        cc.encode(&mut buf);
        let id = self.append_entry(EntryKind::ConfChange, Bytes::from(buf));
        self.pending_conf_index = id.index;
        Ok(id)
    }

    pub fn apply_conf_change(&mut self, cc: &ConfChange) -> Result<ConfState, Error> {
        let cs = next_conf_state(&self.prs.conf_state(), cc)?;
        self.install_conf_state(&cs);
        if self.role == Role::Leader {
            self.after_leader_conf_change();
        }
        Ok(cs)
    }

    fn after_leader_conf_change(&mut self) {
        if let Some(t) = self.lead_transferee {
            if !self.prs.is_voter(t) {
                self.lead_transferee = None;
            }
        }
        self.maybe_commit();
        self.need_bcast = true;
        if self.is_removed_leader() {
            self.maybe_hand_off();
        }
    }

    /// A leader that applied a configuration without itself as a voter.
    /// It accepts no proposals (`check_can_propose`), keeps replicating so the
    /// voters learn every entry and the commit index (a voter still in the
    /// joint configuration may otherwise need the removed node's vote, which
    /// a longer log there would deny forever), and hands over with
    /// TimeoutNow as soon as a voter has its whole log.
    fn is_removed_leader(&self) -> bool {
        self.role == Role::Leader && !self.prs.is_voter(self.id)
    }

    fn maybe_hand_off(&mut self) {
        let last = self.log.last_index();
        let caught_up = self
            .prs
            .voters
            .ids()
            .into_iter()
            .filter(|&id| id != self.id)
            .find(|id| self.prs.progress.get(id).is_some_and(|p| p.matched == last));
        if let Some(to) = caught_up {
            self.flush();
            self.send(to, self.term, MessageBody::TimeoutNow);
            let term = self.term;
            self.become_follower(term, None);
        }
    }

    fn install_conf_state(&mut self, cs: &ConfState) {
        let learners: BTreeSet<NodeId> = cs
            .learners
            .iter()
            .chain(cs.learners_next.iter())
            .copied()
            .collect();
        self.prs.voters = JointConfig {
            incoming: cs.voters.iter().copied().collect(),
            outgoing: cs.voters_outgoing.iter().copied().collect(),
        };
        self.prs.learners = cs.learners.iter().copied().collect();
        self.prs.learners_next = cs.learners_next.iter().copied().collect();
        self.prs.auto_leave = cs.auto_leave;
        let mut members = self.prs.voters.ids();
        members.extend(learners.iter().copied());
        self.prs.progress.retain(|id, _| members.contains(id));
        let next = self.log.last_index().next();
        for id in members {
            let pr = self.prs.progress.entry(id).or_insert_with(|| {
                let mut p = Progress::new(
                    next,
                    self.cfg.max_inflight_msgs,
                    self.cfg.max_inflight_bytes,
                );
                p.recent_active = true;
                p
            });
            pr.is_learner = learners.contains(&id) && !self.prs.voters.contains(id);
        }
        if let Some(pr) = self.prs.progress.get_mut(&self.id) {
            pr.matched = pr.matched.max(if self.role == Role::Leader {
                self.log.persisted_index()
            } else {
                LogIndex::ZERO
            });
        }
    }

    // --------------------------------------------------------------- advance

    pub fn has_pending_work(&self) -> bool {
        !self.msgs.is_empty()
            || !self.read_states.is_empty()
            || (self.role == Role::Leader && self.need_bcast)
            || self.log.has_unstable()
            || self.log.has_next_committed()
    }

    pub fn advance(&mut self, rd: &Ready) {
        let persisted = rd.entries.last().map(|e| (e.index, e.term));
        let applied = rd
            .committed_entries
            .last()
            .map_or(self.log.applied, |e| e.index);
        self.log.advance(persisted, rd.snapshot.is_some(), applied);
        if self.role == Role::Leader {
            let done: u64 = rd.committed_entries.iter().map(Entry::size).sum();
            self.uncommitted_size = self.uncommitted_size.saturating_sub(done);
            // The leader's own entries are durable now: they count.
            let durable = self.log.persisted_index();
            if let Some(pr) = self.prs.progress.get_mut(&self.id) {
                pr.maybe_update(durable);
            }
            self.maybe_commit();
            self.maybe_auto_leave();
        }
    }

    fn maybe_auto_leave(&mut self) {
        if self.prs.auto_leave
            && self.prs.voters.is_joint()
            && self.log.applied >= self.pending_conf_index
            && self.lead_transferee.is_none()
        {
            let mut buf = Vec::new();
            ConfChange::leave_joint().encode(&mut buf);
            let id = self.append_entry(EntryKind::ConfChange, Bytes::from(buf));
            self.pending_conf_index = id.index;
        }
    }
}

/// The configuration after applying `cc` to `cs` (etcd "confchange" rules).
pub(crate) fn next_conf_state(cs: &ConfState, cc: &ConfChange) -> Result<ConfState, Error> {
    let mut incoming: BTreeSet<NodeId> = cs.voters.iter().copied().collect();
    let mut outgoing: BTreeSet<NodeId> = cs.voters_outgoing.iter().copied().collect();
    let mut learners: BTreeSet<NodeId> = cs.learners.iter().copied().collect();
    let mut learners_next: BTreeSet<NodeId> = cs.learners_next.iter().copied().collect();
    let mut auto_leave = cs.auto_leave;
    let joint = !outgoing.is_empty();
    if cc.is_leave_joint() {
        if !joint {
            return Err(Error::ConfChangeRejected("not in a joint config"));
        }
        outgoing.clear();
        learners.append(&mut learners_next);
        auto_leave = false;
    } else {
        if joint {
            return Err(Error::ConfChangeRejected("already in a joint config"));
        }
        let enter = cc.enters_joint();
        if let Some(auto) = enter {
            outgoing = incoming.clone();
            auto_leave = auto;
        }
        let before = incoming.clone();
        for ch in &cc.changes {
            match *ch {
                ConfChangeSingle::AddVoter(id) => {
                    learners.remove(&id);
                    learners_next.remove(&id);
                    incoming.insert(id);
                }
                ConfChangeSingle::AddLearner(id) => {
                    incoming.remove(&id);
                    if outgoing.contains(&id) {
                        learners_next.insert(id);
                    } else {
                        learners.insert(id);
                    }
                }
                ConfChangeSingle::RemoveNode(id) => {
                    incoming.remove(&id);
                    learners.remove(&id);
                    learners_next.remove(&id);
                }
            }
        }
        if enter.is_none() && before.symmetric_difference(&incoming).count() > 1 {
            return Err(Error::ConfChangeRejected(
                "more than one voter changed without joint",
            ));
        }
    }
    if incoming.is_empty() {
        return Err(Error::ConfChangeRejected("removing all voters"));
    }
    Ok(ConfState {
        voters: incoming.into_iter().collect(),
        learners: learners.into_iter().collect(),
        voters_outgoing: outgoing.into_iter().collect(),
        learners_next: learners_next.into_iter().collect(),
        auto_leave,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConfChangeTransition;

    #[test]
    fn simple_change_and_joint_enter_leave() {
        let cs = ConfState::with_voters([1, 2, 3]);
        let add4 = ConfChange::single(ConfChangeSingle::AddVoter(NodeId(4)));
        let s = next_conf_state(&cs, &add4).unwrap();
        assert_eq!(s.voters.len(), 4);
        assert!(!s.is_joint());
        let swap = ConfChange {
            transition: ConfChangeTransition::Auto,
            changes: vec![
                ConfChangeSingle::AddVoter(NodeId(4)),
                ConfChangeSingle::RemoveNode(NodeId(1)),
            ],
        };
        let j = next_conf_state(&cs, &swap).unwrap();
        assert!(j.is_joint() && j.auto_leave);
        assert_eq!(j.voters_outgoing, vec![NodeId(1), NodeId(2), NodeId(3)]);
        assert!(next_conf_state(&j, &add4).is_err(), "no change while joint");
        let l = next_conf_state(&j, &ConfChange::leave_joint()).unwrap();
        assert_eq!(l.voters, vec![NodeId(2), NodeId(3), NodeId(4)]);
        assert!(!l.is_joint());
    }

    #[test]
    fn demoting_voter_goes_through_learners_next() {
        let cs = ConfState::with_voters([1, 2, 3]);
        let cc = ConfChange {
            transition: ConfChangeTransition::Explicit,
            changes: vec![ConfChangeSingle::AddLearner(NodeId(3))],
        };
        let j = next_conf_state(&cs, &cc).unwrap();
        assert_eq!(j.learners_next, vec![NodeId(3)]);
        assert!(!j.auto_leave);
        let l = next_conf_state(&j, &ConfChange::leave_joint()).unwrap();
        assert_eq!(l.learners, vec![NodeId(3)]);
        assert_eq!(l.voters, vec![NodeId(1), NodeId(2)]);
    }

    #[test]
    fn simple_change_of_two_voters_rejected() {
        let cs = ConfState::with_voters([1, 2, 3]);
        let cc = ConfChange {
            transition: ConfChangeTransition::Auto,
            changes: vec![ConfChangeSingle::RemoveNode(NodeId(1))],
        };
        assert!(next_conf_state(&cs, &cc).is_ok());
        let all = ConfChange {
            transition: ConfChangeTransition::Implicit,
            changes: (1..=3)
                .map(|i| ConfChangeSingle::RemoveNode(NodeId(i)))
                .collect(),
        };
        assert!(next_conf_state(&cs, &all).is_err());
    }
}

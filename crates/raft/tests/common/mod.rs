//! A small in-test network of `RawNode`s: synchronous delivery, per-link
//! cuts, crashes that keep only persisted state, and a handler that follows
//! the `Ready` contract (persist, send, apply, advance) while checking it.
#![allow(dead_code)]

use bytes::Bytes;
use slotraft_raft::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Bound on delivery rounds of `deliver_all` (a livelock is a test failure).
pub const MAX_DELIVERIES: usize = 200_000;
/// Bound on `Ready`s handled per node per call.
pub const MAX_READIES: usize = 1_000;

pub struct Node {
    pub raw: RawNode<MemStorage>,
    pub store: MemStorage,
    pub cfg: Config,
    /// Applied normal entries with data (the "state machine").
    pub applied: Vec<Entry>,
    pub applied_index: LogIndex,
    pub read_states: Vec<ReadState>,
    pub readies: usize,
}

pub type Filter = Box<dyn FnMut(&Message) -> bool>;

pub struct Network {
    pub nodes: BTreeMap<u64, Node>,
    pub down: BTreeSet<u64>,
    /// Directed links that drop everything (from, to).
    pub cut: BTreeSet<(u64, u64)>,
    pub queue: VecDeque<Message>,
    /// Every message ever sent (for assertions on traffic).
    pub sent: Vec<Message>,
    /// Return false to drop a message.
    pub filter: Option<Filter>,
}

pub fn cfg(id: u64) -> Config {
    let mut c = Config::new(NodeId(id));
    c.election_tick = 10;
    c.heartbeat_tick = 1;
    c.seed = 0xC0FFEE + id;
    c
}

pub fn data(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

impl Network {
    /// Voters `1..=n`, config tweaked by `f`.
    pub fn new(n: u64, f: impl Fn(&mut Config)) -> Self {
        Self::with_members(&(1..=n).collect::<Vec<_>>(), &[], f)
    }

    pub fn with_members(voters: &[u64], learners: &[u64], f: impl Fn(&mut Config)) -> Self {
        let mut cs = ConfState::with_voters(voters.iter().copied());
        cs.learners = learners.iter().map(|&i| NodeId(i)).collect();
        let mut net = Network {
            nodes: BTreeMap::new(),
            down: BTreeSet::new(),
            cut: BTreeSet::new(),
            queue: VecDeque::new(),
            sent: Vec::new(),
            filter: None,
        };
        for &id in voters.iter().chain(learners) {
            let mut c = cfg(id);
            f(&mut c);
            net.add_node(id, c, MemStorage::new_with_conf_state(cs.clone()));
        }
        net
    }

    /// Add a node with the given storage (e.g. a new member with an empty one).
    pub fn add_node(&mut self, id: u64, cfg: Config, store: MemStorage) {
        let raw = RawNode::new(cfg.clone(), store.clone()).expect("valid config");
        self.nodes.insert(
            id,
            Node {
                raw,
                store,
                cfg,
                applied: Vec::new(),
                applied_index: LogIndex::ZERO,
                read_states: Vec::new(),
                readies: 0,
            },
        );
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[&id]
    }

    pub fn raw(&mut self, id: u64) -> &mut RawNode<MemStorage> {
        &mut self.nodes.get_mut(&id).unwrap().raw
    }

    /// Handle every `Ready` of node `id` following the contract.
    pub fn handle_ready(&mut self, id: u64) {
        if self.down.contains(&id) {
            return;
        }
        for _ in 0..MAX_READIES {
            let node = self.nodes.get_mut(&id).unwrap();
            if !node.raw.has_ready() {
                return;
            }
            let rd = node.raw.ready();
            node.readies += 1;
            check_ready_contract(node, &rd);
            // 1. persist
            if let Some(s) = &rd.snapshot {
                node.store.wl().apply_snapshot(s.clone()).unwrap();
                node.applied.clear();
                node.applied_index = s.meta.index;
            }
            node.store.wl().append(&rd.entries).unwrap();
            if let Some(hs) = rd.hard_state {
                node.store.wl().set_hard_state(hs);
            }
            // 2. send
            for m in &rd.messages {
                assert_eq!(m.from, NodeId(id));
                self.sent.push(m.clone());
                self.queue.push_back(m.clone());
            }
            // 3. apply
            let node = self.nodes.get_mut(&id).unwrap();
            for e in &rd.committed_entries {
                assert_eq!(e.index, node.applied_index.next(), "apply out of order");
                node.applied_index = e.index;
                match e.kind {
                    EntryKind::ConfChange => {
                        let cc = ConfChange::decode(&e.data).unwrap();
                        if let Ok(cs) = node.raw.apply_conf_change(&cc) {
                            node.store.wl().set_conf_state(cs);
                        }
                    }
                    EntryKind::Normal if !e.data.is_empty() => node.applied.push(e.clone()),
                    EntryKind::Normal => {}
                }
            }
            node.read_states.extend(rd.read_states.iter().cloned());
            // 4. advance
            node.raw.advance(rd);
        }
        panic!("node {id} never ran out of Ready");
    }

    fn deliverable(&mut self, m: &Message) -> bool {
        let (f, t) = (m.from.get(), m.to.get());
        if self.down.contains(&t) || self.down.contains(&f) || self.cut.contains(&(f, t)) {
            return false;
        }
        match &mut self.filter {
            Some(filter) => filter(m),
            None => true,
        }
    }

    /// Deliver until quiescent.
    pub fn deliver_all(&mut self) {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for _ in 0..MAX_DELIVERIES {
            for &id in &ids {
                self.handle_ready(id);
            }
            let Some(m) = self.queue.pop_front() else {
                return;
            };
            if !self.deliverable(&m) {
                continue;
            }
            let to = m.to.get();
            if let Some(n) = self.nodes.get_mut(&to) {
                n.raw.step(m).unwrap();
            }
        }
        panic!("network did not quiesce");
    }

    /// Deliver exactly the queued messages matching `pred` (others stay).
    pub fn deliver_only(&mut self, pred: impl Fn(&Message) -> bool) {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for &id in &ids {
            self.handle_ready(id);
        }
        let msgs: Vec<Message> = self.queue.drain(..).collect();
        for m in msgs {
            if pred(&m) && self.deliverable(&m) {
                let to = m.to.get();
                self.nodes.get_mut(&to).unwrap().raw.step(m).unwrap();
            } else if !pred(&m) {
                self.queue.push_back(m);
            }
        }
        for &id in &ids {
            self.handle_ready(id);
        }
    }

    /// Tick every live node `n` times, delivering after each tick.
    pub fn tick(&mut self, n: usize) {
        for _ in 0..n {
            let ids: Vec<u64> = self.nodes.keys().copied().collect();
            for id in ids {
                if !self.down.contains(&id) {
                    self.raw(id).tick();
                }
            }
            self.deliver_all();
        }
    }

    /// Tick one node only.
    pub fn tick_node(&mut self, id: u64, n: usize) {
        for _ in 0..n {
            self.raw(id).tick();
            self.deliver_all();
        }
    }

    pub fn campaign(&mut self, id: u64) {
        self.raw(id).campaign();
        self.deliver_all();
    }

    pub fn propose(&mut self, id: u64, s: &str) -> Result<ProposalId, Error> {
        let r = self.raw(id).propose(data(s));
        self.deliver_all();
        r
    }

    /// The live leader with the highest term.
    pub fn leader(&self) -> Option<u64> {
        self.nodes
            .iter()
            .filter(|(id, n)| !self.down.contains(id) && n.raw.role() == Role::Leader)
            .max_by_key(|(_, n)| n.raw.term())
            .map(|(&id, _)| id)
    }

    /// Cut all links between `id` and everyone else.
    pub fn isolate(&mut self, id: u64) {
        for &other in self.nodes.keys() {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    /// Split into groups; links across groups are cut.
    pub fn partition(&mut self, groups: &[&[u64]]) {
        for (i, a) in groups.iter().enumerate() {
            for (j, b) in groups.iter().enumerate() {
                if i != j {
                    for &x in *a {
                        for &y in *b {
                            self.cut.insert((x, y));
                        }
                    }
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Crash: the RawNode and everything unpersisted is gone (we persist
    /// synchronously in `handle_ready`, so only un-taken Ready work is lost).
    pub fn crash(&mut self, id: u64) {
        self.down.insert(id);
    }

    /// Restart from persisted storage; the state machine is rebuilt by
    /// re-applying committed entries.
    pub fn restart(&mut self, id: u64) {
        self.down.remove(&id);
        let n = self.nodes.remove(&id).unwrap();
        let first = n.store.first_index().unwrap().prev();
        let mut c = n.cfg.clone();
        c.applied = first;
        self.add_node(id, c, n.store);
        let node = self.nodes.get_mut(&id).unwrap();
        node.applied_index = first;
    }

    /// Terms of the log of `id` from index 1 to last (0 for compacted).
    pub fn log_terms(&self, id: u64) -> Vec<u64> {
        let raw = &self.node(id).raw;
        (1..=raw.last_index().get())
            .map(|i| raw.log_term(LogIndex(i)).map_or(0, |t| t.get()))
            .collect()
    }

    pub fn applied_data(&self, id: u64) -> Vec<String> {
        self.node(id)
            .applied
            .iter()
            .map(|e| String::from_utf8(e.data.to_vec()).unwrap())
            .collect()
    }

    /// Count messages of a kind sent so far.
    pub fn count_sent(&self, kind: &str) -> usize {
        self.sent
            .iter()
            .filter(|m| m.body.kind_name() == kind)
            .count()
    }
}

/// Checks on every `Ready` that the contract and Raft's invariants hold:
/// a granted vote is backed by a persisted (or to-be-persisted) vote, an
/// append acknowledgement never claims entries beyond what the node will
/// have persisted, entries are contiguous, and commit never decreases.
fn check_ready_contract(node: &Node, rd: &Ready) {
    for w in rd.entries.windows(2) {
        assert_eq!(
            w[0].index.next(),
            w[1].index,
            "Ready entries not contiguous"
        );
    }
    let persisted_hs = node.store.rl().hard_state();
    let hs = rd.hard_state.unwrap_or(persisted_hs);
    assert!(hs.commit >= persisted_hs.commit, "commit decreased");
    assert!(hs.term >= persisted_hs.term, "term decreased");
    let last_after = rd
        .entries
        .last()
        .map(|e| e.index)
        .or(rd.snapshot.as_ref().map(|s| s.meta.index))
        .unwrap_or(node.store.last_index().unwrap());
    for m in &rd.messages {
        match &m.body {
            MessageBody::VoteResponse {
                pre_vote: false,
                granted: true,
            } => assert_eq!(hs.vote, Some(m.to), "vote sent before it is persisted"),
            MessageBody::AppendResponse {
                index,
                reject: None,
            } => {
                assert!(*index <= last_after, "ack beyond persisted log")
            }
            _ => {}
        }
    }
}

/// Elect `id` in a fresh network and settle.
pub fn elect(net: &mut Network, id: u64) {
    net.campaign(id);
    assert_eq!(net.leader(), Some(id), "node {id} should have been elected");
}

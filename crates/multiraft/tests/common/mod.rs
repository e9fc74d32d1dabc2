//! The in-memory three-node harness shared by the multiraft integration
//! tests: three `MultiRaft`s over `MemStorage`, a network that delivers
//! every message once per round and can cut nodes off, and bounded waits
//! for a leader or a completion. It exists so that each test file states
//! only which groups it hosts and what it checks. Every wait is bounded by
//! [`MAX_ROUNDS`].
//!
//! Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use bytes::Bytes;
use slotraft_cluster::ClusterMap;
use slotraft_keyspace::{Keyspace, Outcome};
use slotraft_multiraft::{Completion, Limits, MultiRaft, Token};
use slotraft_raft::{ConfState, Config, MemStorage, Message, Role};
use slotraft_resp::Reply;
use slotraft_types::{GroupId, NodeId};
use std::collections::{BTreeSet, HashMap};

/// Bound on every wait (rounds of the whole cluster).
pub const MAX_ROUNDS: usize = 2_000;
/// Rounds [`Cluster::settle`] runs.
pub const SETTLE_ROUNDS: usize = 50;

pub struct Node {
    pub mr: MultiRaft<MemStorage>,
    pub stores: HashMap<GroupId, MemStorage>,
    /// Every `Output::ready_keys` batch this node reported.
    pub ready: Vec<(GroupId, Vec<Bytes>)>,
    /// Every map reported by `Output::map_changed`, in order.
    pub maps: Vec<ClusterMap>,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    pub cut: BTreeSet<u64>,
    pub inbox: Vec<(u64, GroupId, Message)>,
    pub done: HashMap<Token, Completion>,
    /// Tokens answered by `apply_before_persist` (before their round's
    /// persist), a subset of those ever put in `done`.
    pub early: BTreeSet<Token>,
    pub now: u64,
    /// Given to every node's `set_untold_ticks` after its `ready` (the
    /// driver's clock reading; 0: all real time told).
    pub untold: u64,
    /// Directed links `(from, to)` whose messages are dropped.
    pub cut_links: BTreeSet<(u64, u64)>,
    /// Nodes whose driver is held up (a process pause, a long round):
    /// they neither tick nor step; messages to them wait in `inbox`.
    pub held: BTreeSet<u64>,
    /// Ticks each node missed while held, given when it resumes.
    pub owed_ticks: HashMap<u64, u64>,
    /// True (the node driver's order): a round gives a node its ticks
    /// before it steps the messages that queued for it. False: messages
    /// first, the order the driver had before decision 0010's addendum
    /// (kept to show what it broke).
    pub ticks_first: bool,
}

impl Cluster {
    /// Nodes 1-3, each hosting every group in `groups` with voters 1-3
    /// (`GroupId::METADATA` as the metadata group, the rest as shards).
    pub fn with_groups(groups: &[GroupId]) -> Cluster {
        Cluster::with_config(groups, |_| {})
    }

    /// As [`Self::with_groups`], with `tweak` applied to every group's
    /// Raft config.
    pub fn with_config(groups: &[GroupId], tweak: impl Fn(&mut Config)) -> Cluster {
        let nodes = (1..=3u64).map(|id| new_node(id, groups, &tweak)).collect();
        Cluster {
            nodes,
            cut: BTreeSet::new(),
            inbox: Vec::new(),
            done: HashMap::new(),
            early: BTreeSet::new(),
            now: 1_700_000_000_000,
            untold: 0,
            cut_links: BTreeSet::new(),
            held: BTreeSet::new(),
            owed_ticks: HashMap::new(),
            ticks_first: true,
        }
    }

    pub fn node(&mut self, id: u64) -> &mut Node {
        &mut self.nodes[(id - 1) as usize]
    }

    /// One driver round on every node: ticks and delivery (in the order
    /// `ticks_first` says), ready, persist, advance. A held node skips the
    /// round and is owed its tick.
    pub fn round(&mut self) {
        let inbox = std::mem::take(&mut self.inbox);
        let mut deliver: HashMap<u64, Vec<(GroupId, Message)>> = HashMap::new();
        for (to, g, m) in inbox {
            let from = m.from.get();
            if self.cut.contains(&to) || self.cut.contains(&from) {
                continue;
            }
            if self.cut_links.contains(&(from, to)) {
                continue;
            }
            if self.held.contains(&to) {
                self.inbox.push((to, g, m));
                continue;
            }
            deliver.entry(to).or_default().push((g, m));
        }
        self.now += 10;
        for n in &mut self.nodes {
            let id = n.mr.id().get();
            if self.held.contains(&id) {
                *self.owed_ticks.entry(id).or_default() += 1;
                continue;
            }
            let ticks = 1 + self.owed_ticks.remove(&id).unwrap_or(0);
            let msgs = deliver.remove(&id).unwrap_or_default();
            if self.ticks_first {
                (0..ticks).for_each(|_| n.mr.tick());
            }
            for (g, m) in msgs {
                n.mr.step(g, m).unwrap();
            }
            if !self.ticks_first {
                (0..ticks).for_each(|_| n.mr.tick());
            }
            n.mr.set_now_ms(self.now);
            let persist = n.mr.ready();
            n.mr.set_untold_ticks(self.untold);
            // Like the node driver: what is already committed is answered
            // before this round's persist.
            for (t, c) in n.mr.apply_before_persist() {
                self.early.insert(t);
                assert!(
                    self.done.insert(t, c).is_none(),
                    "token {t} completed twice"
                );
            }
            for gp in persist.groups {
                let mut core = n.stores[&gp.group].wl();
                if let Some(s) = gp.snapshot {
                    core.apply_snapshot(s).unwrap();
                }
                core.append(&gp.entries).unwrap();
                if let Some(hs) = gp.hard_state {
                    core.set_hard_state(hs);
                }
            }
            let out = n.mr.advance_persisted();
            for (t, c) in out.completions {
                assert!(
                    self.done.insert(t, c).is_none(),
                    "token {t} completed twice"
                );
            }
            for (g, m) in out.messages {
                self.inbox.push((m.to.get(), g, m));
            }
            n.ready.extend(out.ready_keys);
            if let Some(map) = out.map_changed {
                n.maps.push(map);
            }
        }
    }

    /// A node not cut off that is leader of `g`, if any.
    pub fn leader(&self, g: GroupId) -> Option<u64> {
        self.nodes
            .iter()
            .filter(|n| !self.cut.contains(&n.mr.id().get()))
            .find(|n| n.mr.status(g).unwrap().role == Role::Leader)
            .map(|n| n.mr.id().get())
    }

    pub fn await_leader(&mut self, g: GroupId) -> u64 {
        for _ in 0..MAX_ROUNDS {
            if let Some(l) = self.leader(g) {
                return l;
            }
            self.round();
        }
        panic!("no leader for {g} within {MAX_ROUNDS} rounds");
    }

    pub fn await_done(&mut self, t: Token) -> Completion {
        for _ in 0..MAX_ROUNDS {
            if let Some(c) = self.done.remove(&t) {
                return c;
            }
            self.round();
        }
        panic!("token {t} never completed");
    }

    pub fn settle(&mut self) {
        for _ in 0..SETTLE_ROUNDS {
            self.round();
        }
    }
}

/// Node `id` with every group of `groups` (voters 1-3, seed per node and
/// group so that elections differ but runs repeat).
fn new_node(id: u64, groups: &[GroupId], tweak: &dyn Fn(&mut Config)) -> Node {
    let limits = Limits {
        max_wait_ticks: 100,
        ..Limits::default()
    };
    let mut mr = MultiRaft::new(NodeId(id), limits, id);
    let mut stores = HashMap::new();
    for &g in groups {
        let st = MemStorage::new_with_conf_state(ConfState::with_voters([1, 2, 3]));
        let mut cfg = Config::new(NodeId(id));
        cfg.seed = id * 1000 + g.get();
        tweak(&mut cfg);
        if g == GroupId::METADATA {
            mr.add_meta_group(g, cfg, st.clone(), ClusterMap::new())
                .unwrap();
        } else {
            mr.add_group(g, cfg, st.clone(), Keyspace::new()).unwrap();
        }
        stores.insert(g, st);
    }
    Node {
        mr,
        stores,
        ready: Vec::new(),
        maps: Vec::new(),
    }
}

/// The reply of a completion that must have executed.
pub fn reply(c: Completion) -> Reply {
    match c {
        Completion::Done(Outcome::Reply(r)) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

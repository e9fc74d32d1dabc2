//! The Raft safety properties, checked incrementally after every simulation
//! step.
//!
//! Why incremental: checking every pair of logs after every step is
//! quadratic; instead every fact a node reveals (an entry it persisted, an
//! index it committed or applied, a term it leads) is recorded once in a
//! global ledger and compared with what other nodes revealed before. The
//! ledger is the simulator's omniscient view; nodes never see it.
//!
//! Properties (Raft paper, figure 3, and the thesis):
//! - election safety: at most one leader per term;
//! - log matching: two persisted entries with the same index and term are
//!   identical and are preceded by entries of the same term (by induction,
//!   identical prefixes);
//! - leader completeness: a node that becomes leader of term T holds every
//!   entry committed in a term before T (an entry committed in a later term
//!   need not be there: a stale candidate's delayed votes can still make it
//!   leader of an old term, which then can commit nothing);
//! - state-machine safety: no two nodes commit or apply different entries at
//!   the same index;
//! - per node: commit and applied monotonic (commit also across restarts,
//!   via the persisted hard state: committed is never lost), applied <=
//!   committed, entries applied exactly in index order.

use std::collections::{BTreeMap, HashMap};

/// A fingerprint of an entry's kind and payload.
pub type EntryHash = u64;

/// FNV-1a over bytes (entry fingerprints and the trace hash).
pub fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// FNV-1a offset basis.
pub const FNV_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;

/// What the checker remembers about one node.
#[derive(Clone, Debug, Default)]
struct NodeWatch {
    /// Highest commit index ever persisted (survives restarts).
    durable_commit: u64,
    /// Highest commit index seen in this life.
    life_commit: u64,
    /// Last applied index in this life.
    life_applied: u64,
    /// Term in which this node was last seen leading.
    led_term: u64,
}

/// The global ledger.
#[derive(Debug, Default)]
pub struct Invariants {
    /// Term -> the node that led it.
    leaders: BTreeMap<u64, usize>,
    /// (index, term) -> (payload hash, term of the previous entry).
    entries: HashMap<(u64, u64), (EntryHash, u64)>,
    /// Index -> (term of the committed entry, lowest term of a node seen
    /// holding it committed: the term in which it was committed, since the
    /// leader that commits it is observed in the same step).
    committed: Vec<Option<(u64, u64)>>,
    /// Index -> fingerprint of the applied entry.
    applied: Vec<Option<EntryHash>>,
    nodes: Vec<NodeWatch>,
}

/// A failed check; the message names the property.
pub type Violation = String;

impl Invariants {
    pub fn new(nodes: usize) -> Self {
        Invariants {
            nodes: vec![NodeWatch::default(); nodes],
            ..Default::default()
        }
    }

    /// Every committed index recorded so far with its entry term and the
    /// term it was committed in, ascending.
    pub fn committed(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.committed
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|(t, ct)| (i as u64, t, ct)))
    }

    pub fn max_committed(&self) -> u64 {
        self.committed.len().saturating_sub(1) as u64
    }

    /// A node reports its role: leading `term` or not.
    pub fn observe_leader(&mut self, node: usize, term: u64) -> Result<bool, Violation> {
        match self.leaders.get(&term) {
            Some(&other) if other != node => Err(format!(
                "election safety: nodes {} and {} both lead term {term}",
                other + 1,
                node + 1
            )),
            Some(_) => Ok(false),
            None => {
                self.leaders.insert(term, node);
                self.nodes[node].led_term = term;
                Ok(true)
            }
        }
    }

    /// A node persisted the entry `(index, term)` whose predecessor in its
    /// log has term `prev_term` (`None`: compacted, only the entry itself is
    /// compared).
    pub fn observe_persisted_entry(
        &mut self,
        node: usize,
        index: u64,
        term: u64,
        prev_term: Option<u64>,
        hash: EntryHash,
    ) -> Result<(), Violation> {
        let Some(prev_term) = prev_term else {
            return match self.entries.get(&(index, term)) {
                Some(&(h, _)) if h != hash => Err(format!(
                    "log matching: node {} persisted a different entry at index {index} term {term}",
                    node + 1
                )),
                _ => Ok(()),
            };
        };
        if term < prev_term {
            return Err(format!(
                "log terms decrease on node {}: index {index} has term {term} after term {prev_term}",
                node + 1
            ));
        }
        match self.entries.get(&(index, term)) {
            Some(&(h, p)) if h != hash || p != prev_term => Err(format!(
                "log matching: node {} persisted a different entry (or predecessor term {prev_term} vs {p}) at index {index} term {term}",
                node + 1
            )),
            Some(_) => Ok(()),
            None => {
                self.entries.insert((index, term), (hash, prev_term));
                Ok(())
            }
        }
    }

    /// A node persisted a hard state with this commit index.
    pub fn observe_durable_commit(&mut self, node: usize, commit: u64) -> Result<(), Violation> {
        let w = &mut self.nodes[node];
        if commit < w.durable_commit {
            return Err(format!(
                "commit went backwards on disk at node {}: {} -> {commit}",
                node + 1,
                w.durable_commit
            ));
        }
        w.durable_commit = commit;
        Ok(())
    }

    /// A node's in-memory commit index (after any input), with the node's
    /// current term. `term_at` gives
    /// the term of its entries at newly committed indexes (None if
    /// compacted).
    pub fn observe_commit(
        &mut self,
        node: usize,
        commit: u64,
        observer_term: u64,
        term_at: impl Fn(u64) -> Option<u64>,
    ) -> Result<(), Violation> {
        let w = &mut self.nodes[node];
        if commit < w.life_commit || commit < w.durable_commit {
            return Err(format!(
                "commit went backwards at node {}: {} (durable {}) -> {commit}",
                node + 1,
                w.life_commit,
                w.durable_commit
            ));
        }
        let from = w.life_commit + 1;
        w.life_commit = commit;
        if self.committed.len() <= commit as usize {
            self.committed.resize(commit as usize + 1, None);
        }
        for i in from..=commit {
            let Some(t) = term_at(i) else { continue };
            match self.committed[i as usize] {
                Some((c, _)) if c != t => {
                    return Err(format!(
                        "state-machine safety: node {} committed term {t} at index {i}, another node committed term {c}",
                        node + 1
                    ))
                }
                Some((_, ct)) if ct <= observer_term => {}
                _ => self.committed[i as usize] = Some((t, observer_term)),
            }
        }
        Ok(())
    }

    /// A node applied the entry at `index` (or jumped to `index` by
    /// installing a snapshot, `hash == None`).
    pub fn observe_apply(
        &mut self,
        node: usize,
        index: u64,
        hash: Option<EntryHash>,
        commit: u64,
    ) -> Result<(), Violation> {
        let w = &mut self.nodes[node];
        if hash.is_some() && index != w.life_applied + 1 {
            return Err(format!(
                "apply out of order at node {}: applied {} then {index}",
                node + 1,
                w.life_applied
            ));
        }
        if index < w.life_applied {
            return Err(format!(
                "applied went backwards at node {}: {} -> {index}",
                node + 1,
                w.life_applied
            ));
        }
        if index > commit {
            return Err(format!(
                "applied > committed at node {}: {index} > {commit}",
                node + 1
            ));
        }
        w.life_applied = index;
        let Some(h) = hash else { return Ok(()) };
        if self.applied.len() <= index as usize {
            self.applied.resize(index as usize + 1, None);
        }
        match self.applied[index as usize] {
            Some(other) if other != h => Err(format!(
                "state-machine safety: node {} applied a different entry at index {index}",
                node + 1
            )),
            Some(_) => Ok(()),
            None => {
                self.applied[index as usize] = Some(h);
                Ok(())
            }
        }
    }

    /// A node restarted from disk at `applied` (its snapshot index): the
    /// in-memory counters restart, the durable ones do not.
    pub fn observe_restart(&mut self, node: usize, applied: u64) {
        let w = &mut self.nodes[node];
        w.life_applied = applied;
        w.life_commit = w.durable_commit.max(applied);
    }

    /// Leader completeness: the new leader `node` must hold every committed
    /// entry. `term_at(i)` is its log's term at `i`, `None` if `i` is past
    /// its last index; indexes at or below `compacted` are covered by its
    /// snapshot (whose entries were committed, hence checked before).
    pub fn check_leader_completeness(
        &self,
        node: usize,
        term: u64,
        compacted: u64,
        term_at: impl Fn(u64) -> Option<u64>,
    ) -> Result<(), Violation> {
        for (i, t, committed_in) in self.committed() {
            if i <= compacted || committed_in >= term {
                continue;
            }
            match term_at(i) {
                Some(have) if have == t => {}
                have => {
                    return Err(format!(
                        "leader completeness: node {} leads term {term} but has {have:?} at committed index {i} (committed term {t})",
                        node + 1
                    ))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_leaders_in_one_term_is_a_violation() {
        let mut inv = Invariants::new(3);
        assert_eq!(inv.observe_leader(0, 2), Ok(true));
        assert_eq!(inv.observe_leader(0, 2), Ok(false));
        assert!(inv.observe_leader(1, 3).is_ok());
        assert!(inv.observe_leader(2, 2).is_err());
    }

    #[test]
    fn log_matching_detects_different_payload_or_predecessor() {
        let mut inv = Invariants::new(2);
        inv.observe_persisted_entry(0, 1, 1, Some(0), 11).unwrap();
        inv.observe_persisted_entry(1, 1, 1, Some(0), 11).unwrap();
        assert!(inv.observe_persisted_entry(1, 1, 1, Some(0), 12).is_err());
        assert!(inv.observe_persisted_entry(1, 1, 1, None, 12).is_err());
        inv.observe_persisted_entry(1, 1, 1, None, 11).unwrap();
        inv.observe_persisted_entry(0, 2, 2, Some(1), 5).unwrap();
        assert!(inv.observe_persisted_entry(1, 2, 2, Some(2), 5).is_err());
        assert!(inv.observe_persisted_entry(1, 3, 1, Some(2), 5).is_err());
    }

    #[test]
    fn commit_and_apply_rules() {
        let mut inv = Invariants::new(2);
        inv.observe_commit(0, 2, 1, |_| Some(1)).unwrap();
        assert!(inv.observe_commit(1, 2, 1, Some).is_err());
        assert!(inv.observe_commit(0, 1, 1, |_| Some(1)).is_err());
        inv.observe_apply(0, 1, Some(7), 2).unwrap();
        assert!(inv.observe_apply(0, 3, Some(7), 2).is_err());
        inv.observe_apply(1, 1, Some(7), 1).unwrap();
        assert!(
            inv.observe_apply(1, 2, Some(8), 1).is_err(),
            "applied > commit"
        );
        inv.observe_apply(0, 2, Some(9), 2).unwrap();
        let mut inv2 = Invariants::new(1);
        inv2.observe_apply(0, 1, Some(1), 1).unwrap();
        inv2.observe_durable_commit(0, 5).unwrap();
        assert!(inv2.observe_durable_commit(0, 4).is_err());
        inv2.observe_restart(0, 0);
        assert!(
            inv2.observe_commit(0, 3, 1, |_| Some(1)).is_err(),
            "lost commit"
        );
    }

    #[test]
    fn leader_completeness_needs_every_committed_entry() {
        let mut inv = Invariants::new(3);
        // Node 0, leading term 2, commits indexes 1-3 (index 3 of term 2).
        inv.observe_commit(0, 3, 2, |i| Some(if i < 3 { 1 } else { 2 }))
            .unwrap();
        let full = |i: u64| Some(if i < 3 { 1 } else { 2 });
        assert!(inv.check_leader_completeness(1, 3, 0, full).is_ok());
        assert!(inv
            .check_leader_completeness(1, 3, 0, |i| (i < 3).then_some(1))
            .is_err());
        assert!(inv.check_leader_completeness(1, 3, 3, |_| None).is_ok());
        // A stale candidate that wins term 2 late need not hold what was
        // committed in term 2 or later...
        assert!(inv.check_leader_completeness(2, 2, 0, |_| None).is_ok());
        // ...but a node seen later in a higher term does not lower the
        // commit term, and a leader of term 3 must still hold it.
        inv.observe_commit(2, 3, 5, |i| Some(if i < 3 { 1 } else { 2 }))
            .unwrap();
        assert!(inv.check_leader_completeness(1, 3, 0, |_| None).is_err());
    }
}

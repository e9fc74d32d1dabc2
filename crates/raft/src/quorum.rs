//! Quorum arithmetic for plain and joint configurations.
//!
//! Why separate: joint consensus (§6) needs "a majority of the old voters
//! AND a majority of the new voters" for both votes and commits. Keeping
//! this pure (sets in, numbers out) makes it easy to test exhaustively.

use slotraft_types::NodeId;
use std::collections::{BTreeMap, BTreeSet};

/// Outcome of counting votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    Pending,
    Won,
    Lost,
}

/// Largest value `v` such that a majority of `voters` have `value >= v`.
/// An empty config returns `u64::MAX` (it never constrains a joint config).
pub fn majority_value(voters: &BTreeSet<NodeId>, value: impl Fn(NodeId) -> u64) -> u64 {
    if voters.is_empty() {
        return u64::MAX;
    }
    let mut vals: Vec<u64> = voters.iter().map(|&id| value(id)).collect();
    vals.sort_unstable_by(|a, b| b.cmp(a));
    vals[voters.len() / 2]
}

fn majority_vote(voters: &BTreeSet<NodeId>, votes: &BTreeMap<NodeId, bool>) -> VoteResult {
    if voters.is_empty() {
        return VoteResult::Won;
    }
    let (mut yes, mut missing) = (0, 0);
    for id in voters {
        match votes.get(id) {
            Some(true) => yes += 1,
            Some(false) => {}
            None => missing += 1,
        }
    }
    let q = voters.len() / 2 + 1;
    if yes >= q {
        VoteResult::Won
    } else if yes + missing >= q {
        VoteResult::Pending
    } else {
        VoteResult::Lost
    }
}

/// The voters of a possibly joint configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JointConfig {
    pub incoming: BTreeSet<NodeId>,
    /// Empty unless joint.
    pub outgoing: BTreeSet<NodeId>,
}

impl JointConfig {
    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.incoming.contains(&id) || self.outgoing.contains(&id)
    }

    pub fn ids(&self) -> BTreeSet<NodeId> {
        self.incoming.union(&self.outgoing).copied().collect()
    }

    /// Largest value acknowledged by both majorities (e.g. commit index).
    /// 0 if the configuration has no voters at all.
    pub fn committed_value(&self, value: impl Fn(NodeId) -> u64) -> u64 {
        if self.incoming.is_empty() && self.outgoing.is_empty() {
            return 0;
        }
        majority_value(&self.incoming, &value).min(majority_value(&self.outgoing, &value))
    }

    pub fn vote_result(&self, votes: &BTreeMap<NodeId, bool>) -> VoteResult {
        match (
            majority_vote(&self.incoming, votes),
            majority_vote(&self.outgoing, votes),
        ) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u64]) -> BTreeSet<NodeId> {
        ids.iter().map(|&i| NodeId(i)).collect()
    }

    #[test]
    fn majority_of_three_and_four() {
        let v = |id: NodeId| [0, 5, 3, 9, 1][id.get() as usize];
        assert_eq!(majority_value(&set(&[1, 2, 3]), v), 5);
        assert_eq!(majority_value(&set(&[1, 2, 3, 4]), v), 3);
        assert_eq!(majority_value(&set(&[2]), v), 3);
    }

    #[test]
    fn joint_commit_needs_both_majorities() {
        let c = JointConfig {
            incoming: set(&[1, 2, 3]),
            outgoing: set(&[3, 4, 5]),
        };
        let v = |id: NodeId| [0, 10, 10, 10, 1, 1][id.get() as usize];
        assert_eq!(c.committed_value(v), 1);
        let v2 = |id: NodeId| [0, 10, 10, 7, 7, 1][id.get() as usize];
        assert_eq!(c.committed_value(v2), 7);
    }

    #[test]
    fn joint_votes() {
        let c = JointConfig {
            incoming: set(&[1, 2, 3]),
            outgoing: set(&[1, 4, 5]),
        };
        let mut votes = BTreeMap::new();
        votes.insert(NodeId(1), true);
        votes.insert(NodeId(2), true);
        assert_eq!(c.vote_result(&votes), VoteResult::Pending);
        votes.insert(NodeId(4), false);
        votes.insert(NodeId(5), false);
        assert_eq!(c.vote_result(&votes), VoteResult::Lost);
        votes.insert(NodeId(5), true);
        assert_eq!(c.vote_result(&votes), VoteResult::Won);
    }
}

//! The set payload type. OWNED BY K2 (lists/sets/zsets helper): the
//! internals below are a placeholder from the skeleton commit; K2 replaces
//! them freely.
//!
//! CONTRACT used by the core (snapshot, DUMP/RESTORE, OBJECT ENCODING,
//! emptiness checks) — keep these signatures:
//! `new()`, `len()`, `is_empty()`, `iter()` (any order), `insert(&[u8]) -> bool`,
//! `encoding() -> &'static str`, `mem_usage() -> usize`.
//!
//! DETERMINISM NOTE: SPOP/SRANDMEMBER must pick members as a function of
//! (set contents, seed) only — NOT of hash-table iteration order, which
//! differs between a replica that replayed the log and one restored from a
//! snapshot. E.g. pick the k-th member in an order defined by content
//! (sorted, or sorted by `crate::rng::hash_bytes`).

use crate::rng::FixedState;
use hashbrown::HashSet;

/// A Redis set.
#[derive(Clone, Debug, Default)]
pub struct Set {
    members: HashSet<Box<[u8]>, FixedState>,
}

impl PartialEq for Set {
    fn eq(&self, other: &Set) -> bool {
        self.members == other.members
    }
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }
    pub fn len(&self) -> usize {
        self.members.len()
    }
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.members.iter().map(|b| &b[..])
    }
    pub fn insert(&mut self, m: &[u8]) -> bool {
        self.members.insert(m.into())
    }
    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }
    pub fn mem_usage(&self) -> usize {
        self.members.iter().map(|b| b.len() + 24).sum()
    }
}

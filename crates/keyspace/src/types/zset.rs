//! The sorted-set payload type. OWNED BY K2 (lists/sets/zsets helper): the
//! internals below are a placeholder from the skeleton commit; K2 replaces
//! them freely.
//!
//! CONTRACT used by the core (snapshot, DUMP/RESTORE, OBJECT ENCODING,
//! emptiness checks) — keep these signatures:
//! `new()`, `len()`, `is_empty()`, `iter()` yielding `(member, score)` in
//! rank order, `insert(&[u8], f64)` (add or update score),
//! `encoding() -> &'static str`, `mem_usage() -> usize`.

use std::collections::BTreeMap;

/// A Redis sorted set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZSet {
    // placeholder: member -> score only
    scores: BTreeMap<Box<[u8]>, f64>,
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }
    pub fn len(&self) -> usize {
        self.scores.len()
    }
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
    /// `(member, score)` pairs (placeholder: member order, K2: rank order).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.scores.iter().map(|(m, s)| (&m[..], *s))
    }
    pub fn insert(&mut self, member: &[u8], score: f64) {
        self.scores.insert(member.into(), score);
    }
    pub fn encoding(&self) -> &'static str {
        "skiplist"
    }
    pub fn mem_usage(&self) -> usize {
        self.scores.keys().map(|b| b.len() + 48).sum()
    }
}

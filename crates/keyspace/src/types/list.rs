//! The list payload type. OWNED BY K2 (lists/sets/zsets helper): the
//! internals below are a placeholder from the skeleton commit; K2 replaces
//! them freely.
//!
//! CONTRACT used by the core (snapshot, DUMP/RESTORE, OBJECT ENCODING,
//! emptiness checks) — keep these signatures:
//! `new()`, `len()`, `is_empty()`, `iter()` (front to back),
//! `push_back(&[u8])`, `encoding() -> &'static str`, `mem_usage() -> usize`.

use std::collections::VecDeque;

/// A Redis list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct List {
    items: VecDeque<Box<[u8]>>,
}

impl List {
    pub fn new() -> List {
        List::default()
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// Elements front (head, index 0) to back.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.items.iter().map(|b| &b[..])
    }
    pub fn push_back(&mut self, v: &[u8]) {
        self.items.push_back(v.into());
    }
    /// What OBJECT ENCODING answers.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }
    /// Approximate heap bytes (for INFO/MEMORY).
    pub fn mem_usage(&self) -> usize {
        self.items.iter().map(|b| b.len() + 16).sum()
    }
}

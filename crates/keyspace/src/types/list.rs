//! The list payload type.
//!
//! CONTRACT used by the core (snapshot, DUMP/RESTORE, OBJECT ENCODING,
//! emptiness checks) — keep these signatures:
//! `new()`, `len()`, `is_empty()`, `iter()` (front to back),
//! `push_back(&[u8])`, `encoding() -> &'static str`, `mem_usage() -> usize`.
//!
//! Why a `VecDeque` of boxed slices: O(1) push/pop at both ends (the hot
//! path of queues, LPUSH/RPOP, BLPOP), O(1) LINDEX/LSET and an O(1) seek
//! for LRANGE, where Redis's quicklist walks nodes. Middle inserts/removals (LINSERT, LREM) are O(n) as in
//! Redis. The cost is memory for lists of tiny elements: 16 bytes a slot
//! plus the element's heap block, where Redis packs small elements in
//! listpacks (a few bytes each). A chunked, packed representation behind
//! this same API is the known next step if list memory matters.

use std::collections::VecDeque;

/// Members up to this many bytes are stored inline (no heap block).
pub const INLINE_MEMBER: usize = 22;

/// One element of a list, set or sorted set: inline when short (most
/// queue items, ids, tags), else a boxed slice. 24 bytes either way, where
/// a `Box<[u8]>` costs 16 bytes plus a heap block of at least 32 for short
/// strings — so short elements take half the memory.
#[derive(Clone)]
pub enum Member {
    Inline(u8, [u8; INLINE_MEMBER]),
    Heap(Box<[u8]>),
}

impl Member {
    pub fn new(b: &[u8]) -> Member {
        if b.len() <= INLINE_MEMBER {
            let mut buf = [0u8; INLINE_MEMBER];
            buf[..b.len()].copy_from_slice(b);
            Member::Inline(b.len() as u8, buf)
        } else {
            Member::Heap(b.into())
        }
    }

    /// Heap bytes owned besides the 24 bytes of the value itself.
    pub fn heap_len(&self) -> usize {
        match self {
            Member::Inline(..) => 0,
            Member::Heap(b) => b.len(),
        }
    }
}

impl std::ops::Deref for Member {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Member::Inline(n, b) => &b[..*n as usize],
            Member::Heap(b) => b,
        }
    }
}

impl AsRef<[u8]> for Member {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Member {
    fn eq(&self, other: &Member) -> bool {
        self[..] == other[..]
    }
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

/// Which end of a list.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

/// A Redis list. Index 0 is the head (left end).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct List {
    items: VecDeque<Member>,
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
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.items.iter().map(|b| &b[..])
    }

    pub fn push_back(&mut self, v: &[u8]) {
        self.items.push_back(Member::new(v));
    }

    pub fn push_front(&mut self, v: &[u8]) {
        self.items.push_front(Member::new(v));
    }

    /// Pushes at `end`.
    pub fn push(&mut self, end: End, v: &[u8]) {
        match end {
            End::Left => self.push_front(v),
            End::Right => self.push_back(v),
        }
    }

    /// Pops from `end`.
    pub fn pop(&mut self, end: End) -> Option<Member> {
        let v = match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        };
        self.maybe_shrink();
        v
    }

    /// Gives memory back after a list shrank a lot (queues that drained).
    fn maybe_shrink(&mut self) {
        let cap = self.items.capacity();
        if cap > 64 && self.items.len() * 4 < cap {
            self.items.shrink_to(self.items.len() * 2);
        }
    }

    /// Element at 0-based index from the head.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.items.get(i).map(|b| &b[..])
    }

    /// Replaces the element at `i`; false when out of range.
    pub fn set(&mut self, i: usize, v: &[u8]) -> bool {
        match self.items.get_mut(i) {
            Some(slot) => {
                *slot = Member::new(v);
                true
            }
            None => false,
        }
    }

    /// Elements with indexes `start..=end` (clamped by the caller).
    pub fn range(&self, start: usize, end: usize) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        debug_assert!(start <= end && end < self.items.len());
        self.items.range(start..=end).map(|b| &b[..])
    }

    /// Inserts `v` so that it ends up at index `i` (`i <= len`).
    pub fn insert(&mut self, i: usize, v: &[u8]) {
        self.items.insert(i, Member::new(v));
    }

    /// Index of the first element equal to `pivot`.
    pub fn position(&self, pivot: &[u8]) -> Option<usize> {
        self.items.iter().position(|e| &e[..] == pivot)
    }

    /// Keeps only indexes `start..=end`; `None` empties the list.
    pub fn trim(&mut self, keep: Option<(usize, usize)>) {
        match keep {
            None => self.items.clear(),
            Some((start, end)) => {
                debug_assert!(start <= end && end < self.items.len());
                self.items.truncate(end + 1);
                self.items.drain(..start);
            }
        }
        self.maybe_shrink();
    }

    /// LREM: removes up to `count` elements equal to `v` (all when
    /// `count == 0`), scanning from the head (or from the tail when
    /// `from_tail`). Returns how many were removed.
    pub fn remove_matching(&mut self, v: &[u8], count: usize, from_tail: bool) -> usize {
        let limit = if count == 0 { usize::MAX } else { count };
        let mut removed = 0usize;
        let n = self.items.len();
        // Mark the indexes to drop, then rebuild once: O(n) total.
        let mut drop = vec![false; n];
        let order: Box<dyn Iterator<Item = usize>> = if from_tail {
            Box::new((0..n).rev())
        } else {
            Box::new(0..n)
        };
        for i in order {
            if removed == limit {
                break;
            }
            if &self.items[i][..] == v {
                drop[i] = true;
                removed += 1;
            }
        }
        if removed > 0 {
            let mut i = 0;
            self.items.retain(|_| {
                let keep = !drop[i];
                i += 1;
                keep
            });
            self.maybe_shrink();
        }
        removed
    }

    /// What OBJECT ENCODING answers (Redis 7.0 lists are always quicklists).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Approximate heap bytes used.
    pub fn mem_usage(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<Member>()
            + self.items.iter().map(|e| e.heap_len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> List {
        let mut l = List::new();
        for i in items {
            l.push_back(i.as_bytes());
        }
        l
    }

    fn contents(l: &List) -> Vec<String> {
        l.iter()
            .map(|e| String::from_utf8(e.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn member_is_compact() {
        assert_eq!(std::mem::size_of::<Member>(), 24);
        assert_eq!(&Member::new(b"short")[..], b"short");
        let long = [7u8; 100];
        assert_eq!(&Member::new(&long)[..], &long[..]);
        assert_eq!(
            &Member::new(&[1u8; INLINE_MEMBER])[..],
            &[1u8; INLINE_MEMBER][..]
        );
    }

    #[test]
    fn push_pop_both_ends() {
        let mut l = List::new();
        l.push(End::Left, b"b");
        l.push(End::Left, b"a");
        l.push(End::Right, b"c");
        assert_eq!(contents(&l), ["a", "b", "c"]);
        assert_eq!(l.pop(End::Right).as_deref(), Some(&b"c"[..]));
        assert_eq!(l.pop(End::Left).as_deref(), Some(&b"a"[..]));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn remove_matching_from_either_end() {
        let mut l = list(&["x", "a", "x", "b", "x"]);
        assert_eq!(l.remove_matching(b"x", 2, true), 2);
        assert_eq!(contents(&l), ["x", "a", "b"]);
        let mut l = list(&["x", "a", "x", "b", "x"]);
        assert_eq!(l.remove_matching(b"x", 0, false), 3);
        assert_eq!(contents(&l), ["a", "b"]);
        assert_eq!(l.remove_matching(b"zz", 0, false), 0);
    }

    #[test]
    fn trim_and_insert() {
        let mut l = list(&["a", "b", "c", "d"]);
        l.trim(Some((1, 2)));
        assert_eq!(contents(&l), ["b", "c"]);
        l.insert(1, b"x");
        assert_eq!(contents(&l), ["b", "x", "c"]);
        assert_eq!(l.position(b"c"), Some(2));
        l.trim(None);
        assert!(l.is_empty());
    }

    #[test]
    fn shrinks_after_draining() {
        let mut l = List::new();
        for i in 0..10_000u32 {
            l.push_back(&i.to_be_bytes());
        }
        while l.len() > 10 {
            l.pop(End::Left);
        }
        assert!(l.items.capacity() < 1000);
    }
}

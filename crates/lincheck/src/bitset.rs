//! A fixed-size bit set used as the "which operations are linearized" part of
//! the search cache key.
//!
//! Why not a `HashSet<usize>`: the set is cloned and hashed on every search
//! step, so it must be compact and cheap to hash; one bit per operation of a
//! partition is the smallest exact representation.

/// Bits per storage word.
const WORD_BITS: usize = 64;

/// A set of small integers `0..len`, stored as bits.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    /// An empty set able to hold `0..len`.
    pub(crate) fn new(len: usize) -> Self {
        BitSet {
            words: vec![0; len.div_ceil(WORD_BITS)],
        }
    }

    pub(crate) fn set(&mut self, i: usize) {
        self.words[i / WORD_BITS] |= 1 << (i % WORD_BITS);
    }

    pub(crate) fn clear(&mut self, i: usize) {
        self.words[i / WORD_BITS] &= !(1 << (i % WORD_BITS));
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, i: usize) -> bool {
        self.words[i / WORD_BITS] & (1 << (i % WORD_BITS)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::BitSet;

    #[test]
    fn set_clear_contains() {
        let mut b = BitSet::new(130);
        assert!(!b.contains(129));
        b.set(129);
        b.set(0);
        assert!(b.contains(129) && b.contains(0) && !b.contains(64));
        let snapshot = b.clone();
        b.clear(129);
        assert!(!b.contains(129));
        assert_ne!(b, snapshot);
        b.set(129);
        assert_eq!(b, snapshot);
    }
}

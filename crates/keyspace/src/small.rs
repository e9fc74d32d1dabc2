//! Short byte strings stored inline, longer ones in an exact-size box.
//!
//! Why: keys and string values are mostly short (ids, counters, flags:
//! redis-benchmark's default value is 3 bytes). A separate heap block for
//! each costs an allocation and a free per write, 16+ bytes of allocator
//! overhead, and one more cache miss per access; applying a batch of SETs
//! is bound by exactly those misses (docs/benchmarks.md, session 4). Up to
//! [`INLINE_BYTES`] bytes fit in the 24 bytes the box pointer and its
//! length take anyway, so the inline form costs no space.

use std::ops::Deref;

/// Longest byte string stored inline (24 bytes: a tag, a length, the data).
pub const INLINE_BYTES: usize = 22;

/// An immutable byte string: inline up to [`INLINE_BYTES`], else boxed.
/// Invariant: `Inline(n, _)` has `n <= INLINE_BYTES`; a string is inline
/// exactly when it is short enough (so equal strings have equal forms).
#[derive(Clone)]
pub enum SmallBytes {
    Inline(u8, [u8; INLINE_BYTES]),
    Heap(Box<[u8]>),
}

impl SmallBytes {
    pub fn new(b: &[u8]) -> SmallBytes {
        if b.len() <= INLINE_BYTES {
            let mut buf = [0u8; INLINE_BYTES];
            buf[..b.len()].copy_from_slice(b);
            SmallBytes::Inline(b.len() as u8, buf)
        } else {
            SmallBytes::Heap(b.into())
        }
    }

    /// Takes `v` without copying when it is too long to inline.
    pub fn from_vec(v: Vec<u8>) -> SmallBytes {
        if v.len() <= INLINE_BYTES {
            SmallBytes::new(&v)
        } else {
            SmallBytes::Heap(v.into_boxed_slice())
        }
    }

    /// The bytes as a `Vec` (no copy for the boxed form), for in-place
    /// edits that end with [`SmallBytes::from_vec`].
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            SmallBytes::Inline(..) => self.as_bytes().to_vec(),
            SmallBytes::Heap(b) => b.into_vec(),
        }
    }

    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            SmallBytes::Inline(n, b) => &b[..*n as usize],
            SmallBytes::Heap(b) => b,
        }
    }

    /// Heap bytes owned beyond the 24 inline ones (memory accounting).
    pub fn heap_len(&self) -> usize {
        match self {
            SmallBytes::Inline(..) => 0,
            SmallBytes::Heap(b) => b.len(),
        }
    }
}

impl Default for SmallBytes {
    fn default() -> SmallBytes {
        SmallBytes::Inline(0, [0; INLINE_BYTES])
    }
}

impl Deref for SmallBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl From<&[u8]> for SmallBytes {
    fn from(b: &[u8]) -> SmallBytes {
        SmallBytes::new(b)
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &SmallBytes) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for SmallBytes {}

impl std::fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", bytes::Bytes::copy_from_slice(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_as_small_as_a_box() {
        assert_eq!(std::mem::size_of::<SmallBytes>(), 24);
    }

    #[test]
    fn round_trips_at_every_length_around_the_inline_limit() {
        for n in 0..=INLINE_BYTES + 2 {
            let data: Vec<u8> = (0..n as u8).collect();
            let s = SmallBytes::new(&data);
            assert_eq!(&*s, &data[..]);
            assert_eq!(matches!(s, SmallBytes::Inline(..)), n <= INLINE_BYTES);
            assert_eq!(s.heap_len(), if n <= INLINE_BYTES { 0 } else { n });
            let v = SmallBytes::from_vec(data.clone());
            assert_eq!(&*v, &data[..]);
            assert_eq!(matches!(v, SmallBytes::Inline(..)), n <= INLINE_BYTES);
            assert_eq!(v.into_vec(), data);
        }
        assert!(SmallBytes::default().is_empty());
    }
}

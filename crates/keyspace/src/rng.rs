//! A tiny seeded PRNG (splitmix64) and a fixed, deterministic byte hash.
//!
//! Why our own: every replica must compute the same "random" choice for the
//! same log entry, so randomness comes only from the seed the leader put in
//! the entry ([`crate::ExecCtx::seed`]); a process-global RNG would make
//! replicas diverge. The hash is fixed (no per-process key) for the same
//! reason: SCAN cursors and anything derived from key hashes must mean the
//! same thing on every replica.

/// splitmix64: small, fast, statistically good enough for picking members.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.state)
    }

    /// Uniform in `0..n` (`n > 0`), without modulo bias (Lemire's method).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        loop {
            let x = self.next_u64();
            let m = (x as u128) * (n as u128);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }
}

/// The splitmix64 finalizer: a good 64-bit mixing function.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Derives an independent seed for sub-step `n` of one command (e.g. the
/// n-th command inside a MULTI), so steps do not reuse the same stream.
#[inline]
pub fn derive_seed(seed: u64, n: u64) -> u64 {
    mix64(seed ^ mix64(n.wrapping_add(0x5851_F42D_4C95_7F2D)))
}

/// A fixed 64-bit hash of a byte string (same on every process and replica).
pub fn hash_bytes(data: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (data.len() as u64).wrapping_mul(K) ^ 0x2545_F491_4F6C_DD1D;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("chunk of 8"));
        h = (h ^ mix64(w)).rotate_left(29).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = (h ^ mix64(u64::from_le_bytes(buf)))
            .rotate_left(29)
            .wrapping_mul(K);
    }
    mix64(h)
}

/// A `BuildHasher` with fixed keys, for hash maps whose iteration order
/// must depend only on their operation history, never on the process.
#[derive(Clone, Copy, Debug, Default)]
pub struct FixedState;

impl std::hash::BuildHasher for FixedState {
    type Hasher = FixedHasher;
    fn build_hasher(&self) -> FixedHasher {
        FixedHasher { h: 0 }
    }
}

/// Hasher of [`FixedState`]: feeds bytes through [`hash_bytes`].
#[derive(Clone, Debug)]
pub struct FixedHasher {
    h: u64,
}

impl std::hash::Hasher for FixedHasher {
    fn finish(&self) -> u64 {
        self.h
    }
    fn write(&mut self, bytes: &[u8]) {
        self.h = mix64(self.h ^ hash_bytes(bytes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_bounds() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..100 {
            let x = a.below(7);
            assert_eq!(x, b.below(7));
            assert!(x < 7);
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn hash_is_fixed_and_spreads() {
        assert_eq!(hash_bytes(b"foo"), hash_bytes(b"foo"));
        assert_ne!(hash_bytes(b"foo"), hash_bytes(b"fop"));
        assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
        assert_ne!(hash_bytes(b"12345678a"), hash_bytes(b"12345678b"));
    }
}

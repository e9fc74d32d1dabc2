//! A tiny deterministic PRNG (SplitMix64) owned by each node.
//!
//! Why not `rand`: the core must replay exactly from a seed and must not
//! reach for a global or OS RNG. SplitMix64 is 64 bits of state, passes
//! BigCrush, and is a few instructions per draw — plenty for timeouts.

/// SplitMix64 generator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator from `seed` (any value, including 0).
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)`; `n` must be > 0. (Lemire's multiply-shift; the
    /// tiny bias is irrelevant for election timeouts.)
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_in_range() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|s| *s), "all values in [0,10) drawn");
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}

//! Memory prefetch hints for batch loops.
//!
//! Why: applying a batch of committed writes is bound by memory latency,
//! not instructions (a profile of `SET -P 16` on a 3-node cluster shows
//! the hash-table probe's first touch of a key's node as the hottest
//! instruction). A loop that first asks for every key's cache lines and
//! then does the work overlaps those misses instead of paying them one
//! after another (the idea of Redis 8's batch key prefetching).
//!
//! This is the workspace's only `unsafe`: a prefetch instruction never
//! faults and never reads memory into a register, so any address is
//! sound; the wrapper takes a reference to make misuse impossible anyway.

/// Asks the CPU to bring the cache line holding `*r` into all cache
/// levels. A hint only: no effect on program semantics, a no-op on
/// targets without one.
#[inline(always)]
#[allow(unsafe_code)]
pub fn prefetch_read<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` only needs SSE, which every x86_64 CPU has
    // (it is in the target's baseline); it does not dereference.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (r as *const T).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetch_leaves_the_value_alone() {
        let v = vec![7u64; 64];
        for x in &v {
            prefetch_read(x);
        }
        assert!(v.iter().all(|&x| x == 7));
    }
}

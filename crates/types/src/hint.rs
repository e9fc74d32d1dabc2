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
pub fn prefetch_read<T>(r: &T) {
    prefetch_addr((r as *const T).cast());
}

/// [`prefetch_read`] for every cache line `*r` spans (its first and last
/// byte's): a value that is not line-aligned, e.g. a 64-byte node behind
/// a reference count in an 80-byte block, usually straddles two.
#[inline(always)]
pub fn prefetch_read_all<T>(r: &T) {
    let first: *const u8 = (r as *const T).cast();
    prefetch_addr(first);
    prefetch_addr(first.wrapping_add(std::mem::size_of::<T>().saturating_sub(1)));
}

#[inline(always)]
#[allow(unsafe_code)]
fn prefetch_addr(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` only needs SSE, which every x86_64 CPU has
    // (it is in the target's baseline); it does not dereference, so any
    // address (even one past the value) is sound.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetch_leaves_the_value_alone() {
        let v = vec![7u64; 64];
        for x in &v {
            prefetch_read(x);
            prefetch_read_all(x);
        }
        assert!(v.iter().all(|&x| x == 7));
    }
}

//! The set value type, and the member index shared with the sorted set.
//!
//! CONTRACT used by the core (snapshot, DUMP/RESTORE, OBJECT ENCODING,
//! emptiness checks) — keep these signatures:
//! `new()`, `len()`, `is_empty()`, `iter()` (the deterministic order),
//! `insert(&[u8]) -> bool`, `encoding() -> &'static str`, `mem_usage() -> usize`.
//! Re-inserting the members in `iter()` order (what the snapshot does)
//! rebuilds the very same order, so a restored replica picks the same
//! "random" members as one that replayed the log.
//!
//! Why an indexed vector instead of `HashSet`: replicas must produce identical
//! results for SPOP/SRANDMEMBER (decided from a seeded RNG carried in the
//! command context) and SSCAN cursors must survive failover. A `HashSet` with
//! `RandomState` iterates in a per-process order, so the same seed would pick
//! different members on different nodes. Here the members live in a dense
//! `Vec` whose order is a pure function of the command history (push on add,
//! swap-remove on delete), so "the member at position `rng % len`" is the same
//! everywhere; the hash table only maps member → position and its own layout
//! never leaks into a reply.
//!
//! Memory: one [`Member`] (24 bytes, members up to 22 bytes inline) per
//! member in the vector, and 4 bytes per slot in the index table (load <=
//! 3/4), so about 30 bytes per short member in total.
//!
//! SSCAN walks positions from the end towards 0: a delete moves the *last*
//! member (already returned) into the hole, and adds append after the cursor,
//! so a member present for the whole scan is returned at least once (it may be
//! returned twice), which is the SCAN contract.

use super::list::Member;
use crate::rng::{hash_bytes, Rng};

/// Slot value meaning "never used".
const EMPTY: u32 = u32::MAX;
/// Slot value meaning "used, then deleted" (keeps probe chains intact).
const TOMBSTONE: u32 = u32::MAX - 1;
/// Largest number of members an index table can hold (positions are `u32`
/// and the two largest values are the markers above).
pub const MAX_MEMBERS: usize = (u32::MAX - 2) as usize;
/// Smallest table capacity (a power of two).
const MIN_TABLE: usize = 8;

/// Hashes a member with the crate's fixed hash. The hash only decides where
/// the index stores a position, never what a reply holds.
fn hash_member(m: &[u8]) -> u64 {
    hash_bytes(m)
}

/// An open-addressing (linear probing) table of `u32` positions. The keys are
/// not stored: the caller resolves a position to its member with `key_of`, so
/// the table adds only 4 bytes per slot.
///
/// Invariant: `live + tombstones <= slots.len() * 3 / 4` after every insert,
/// and `slots.len()` is a power of two (or 0).
#[derive(Clone, Debug, Default)]
pub struct IndexTable {
    slots: Vec<u32>,
    live: usize,
    tombstones: usize,
}

impl IndexTable {
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Approximate heap bytes used.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * 4
    }

    fn mask(&self) -> usize {
        debug_assert!(self.slots.len().is_power_of_two());
        self.slots.len() - 1
    }

    /// Finds the position stored for `member`.
    pub fn find<'a>(&self, member: &[u8], key_of: impl Fn(u32) -> &'a [u8]) -> Option<u32> {
        self.find_slot(member, &key_of).map(|s| self.slots[s])
    }

    fn find_slot<'a>(&self, member: &[u8], key_of: &impl Fn(u32) -> &'a [u8]) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = hash_member(member) as usize & mask;
        // Bounded: the table always has at least one EMPTY slot (load <= 3/4).
        for _ in 0..self.slots.len() {
            match self.slots[i] {
                EMPTY => return None,
                TOMBSTONE => {}
                pos if key_of(pos) == member => return Some(i),
                _ => {}
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Inserts `pos` for `member`, which must not be present.
    pub fn insert<'a>(&mut self, member: &[u8], pos: u32, key_of: impl Fn(u32) -> &'a [u8]) {
        assert!(pos < TOMBSTONE, "index position out of range");
        debug_assert!(self.find_slot(member, &key_of).is_none());
        if (self.live + self.tombstones + 1) * 4 > self.slots.len() * 3 {
            self.rebuild((self.live + 1) * 2, &key_of);
        }
        let mask = self.mask();
        let mut i = hash_member(member) as usize & mask;
        loop {
            match self.slots[i] {
                EMPTY => break,
                TOMBSTONE => {
                    self.tombstones -= 1;
                    break;
                }
                _ => i = (i + 1) & mask,
            }
        }
        self.slots[i] = pos;
        self.live += 1;
    }

    /// Removes `member`; returns the position it had.
    pub fn remove<'a>(&mut self, member: &[u8], key_of: impl Fn(u32) -> &'a [u8]) -> Option<u32> {
        let s = self.find_slot(member, &key_of)?;
        let pos = self.slots[s];
        self.slots[s] = TOMBSTONE;
        self.live -= 1;
        self.tombstones += 1;
        if self.live == 0 {
            *self = IndexTable::default();
        } else if self.slots.len() > MIN_TABLE && self.live * 8 < self.slots.len() {
            self.rebuild(self.live * 2, &key_of);
        }
        Some(pos)
    }

    /// Changes the position stored for `member` (present) to `new_pos`.
    pub fn repoint<'a>(&mut self, member: &[u8], new_pos: u32, key_of: impl Fn(u32) -> &'a [u8]) {
        let s = self
            .find_slot(member, &key_of)
            .expect("repoint of a member not in the index");
        self.slots[s] = new_pos;
    }

    fn rebuild<'a>(&mut self, want: usize, key_of: &impl Fn(u32) -> &'a [u8]) {
        let cap = (want * 4 / 3 + 1).next_power_of_two().max(MIN_TABLE);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; cap]);
        self.tombstones = 0;
        let mask = cap - 1;
        for pos in old.into_iter().filter(|&p| p < TOMBSTONE) {
            let mut i = hash_member(key_of(pos)) as usize & mask;
            while self.slots[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = pos;
        }
    }
}

/// A set of byte strings with deterministic order (see module doc).
///
/// Invariant: `index` maps each `members[i]` to `i`, and members are unique.
#[derive(Clone, Debug, Default)]
pub struct Set {
    members: Vec<Member>,
    index: IndexTable,
}

impl PartialEq for Set {
    /// Two sets are equal when they hold the same members (order ignored).
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|m| other.contains(m))
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

    /// What OBJECT ENCODING answers, as Redis 7.0 would for this content:
    /// `intset` for at most 512 canonical integers, else `hashtable`.
    pub fn encoding(&self) -> &'static str {
        const INTSET_MAX: usize = 512;
        let ints = self.len() <= INTSET_MAX
            && self
                .iter()
                .all(|m| crate::args::parse_canonical_i64(m).is_some());
        if ints {
            "intset"
        } else {
            "hashtable"
        }
    }

    /// Approximate heap bytes used (for MEMORY/INFO accounting).
    pub fn mem_usage(&self) -> usize {
        self.members.capacity() * std::mem::size_of::<Member>()
            + self.members.iter().map(|m| m.heap_len()).sum::<usize>()
            + self.index.heap_bytes()
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        let members = &self.members;
        self.index.find(m, |p| &members[p as usize]).is_some()
    }

    /// Adds `m`; returns true if it was not present.
    pub fn insert(&mut self, m: &[u8]) -> bool {
        if self.contains(m) {
            return false;
        }
        assert!(self.members.len() < MAX_MEMBERS, "set too large");
        let pos = self.members.len() as u32;
        self.members.push(Member::new(m));
        let members = &self.members;
        self.index.insert(m, pos, |p| &members[p as usize]);
        true
    }

    /// Removes `m`; returns true if it was present.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        let members = &self.members;
        match self.index.remove(m, |p| &members[p as usize]) {
            Some(pos) => {
                self.take_at(pos as usize, false);
                true
            }
            None => false,
        }
    }

    /// Removes the member at `pos` (swap-remove), fixing the index for the
    /// member that moves into the hole. `unindex` says whether the removed
    /// member is still in the index.
    fn take_at(&mut self, pos: usize, unindex: bool) -> Member {
        if unindex {
            let members = &self.members;
            let removed = self.index.remove(&members[pos], |p| &members[p as usize]);
            debug_assert_eq!(removed, Some(pos as u32));
        }
        let last = self.members.len() - 1;
        let taken = self.members.swap_remove(pos);
        if pos != last {
            let members = &self.members;
            self.index.repoint(&members[pos], pos as u32, |p| {
                // The moved member is still recorded at its old position.
                if p as usize == last {
                    &members[pos]
                } else {
                    &members[p as usize]
                }
            });
        }
        if self.members.capacity() > 16 && self.members.len() * 4 < self.members.capacity() {
            self.members.shrink_to(self.members.len() * 2);
        }
        taken
    }

    /// Members in the set's deterministic order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.members.iter().map(|m| &m[..])
    }

    /// The member at position `i` (deterministic order).
    pub fn at(&self, i: usize) -> &[u8] {
        &self.members[i]
    }

    /// A uniformly chosen member, decided by `rng`; None when empty.
    pub fn random_member(&self, rng: &mut Rng) -> Option<&[u8]> {
        if self.members.is_empty() {
            return None;
        }
        Some(&self.members[pick(rng, self.members.len())])
    }

    /// Removes and returns a uniformly chosen member; None when empty.
    pub fn pop_random(&mut self, rng: &mut Rng) -> Option<Member> {
        if self.members.is_empty() {
            return None;
        }
        let pos = pick(rng, self.members.len());
        Some(self.take_at(pos, true))
    }

    /// `count` distinct members chosen at random (all of them, in set order,
    /// when `count >= len`). Deterministic given the set and `rng`.
    pub fn sample_distinct(&self, count: usize, rng: &mut Rng) -> Vec<&[u8]> {
        let n = self.members.len();
        if count >= n {
            return self.iter().collect();
        }
        distinct_positions(rng, n, count)
            .into_iter()
            .map(|p| self.at(p))
            .collect()
    }

    /// One SSCAN step: members at positions below `cursor` (0 = start, which
    /// means "from the end"), walking down. Returns the members visited and the
    /// next cursor (0 when done). `count` positions are visited at most.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<&[u8]>) {
        let n = self.members.len();
        let hi = if cursor == 0 {
            n
        } else {
            (cursor as usize).min(n)
        };
        let lo = hi.saturating_sub(count.max(1));
        let out = (lo..hi).rev().map(|p| self.at(p)).collect();
        (lo as u64, out)
    }
}

/// Below this ratio of picks to population, [`distinct_positions`] draws
/// with rejection instead of shuffling a full position table.
const SPARSE_PICK_RATIO: usize = 4;

/// `k` distinct positions of `0..n` (`k <= n`), uniformly, deterministic
/// given `rng`. Small `k` (the usual SRANDMEMBER/ZRANDMEMBER count) draws
/// with rejection in O(k) memory; large `k` runs a partial Fisher-Yates
/// over all positions (O(n), but then the reply is O(n) anyway).
pub fn distinct_positions(rng: &mut Rng, n: usize, k: usize) -> Vec<usize> {
    assert!(k <= n, "more picks than positions");
    if k.saturating_mul(SPARSE_PICK_RATIO) < n {
        let mut seen = hashbrown::HashSet::with_capacity_and_hasher(k, crate::rng::FixedState);
        let mut out = Vec::with_capacity(k);
        // Bounded in expectation: each draw succeeds with probability > 3/4.
        while out.len() < k {
            let p = pick(rng, n);
            if seen.insert(p) {
                out.push(p);
            }
        }
        return out;
    }
    let mut positions: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = i + pick(rng, n - i);
        positions.swap(i, j);
    }
    positions.truncate(k);
    positions
}

/// A uniform index in `0..n` (`n > 0`) from `rng`.
pub fn pick(rng: &mut Rng, n: usize) -> usize {
    rng.below(n as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: u64) -> Rng {
        Rng::new(seed)
    }

    #[test]
    fn insert_remove_contains() {
        let mut s = Set::new();
        for i in 0..1000u32 {
            assert!(s.insert(format!("m{i}").as_bytes()));
        }
        assert!(!s.insert(b"m5"));
        assert_eq!(s.len(), 1000);
        for i in (0..1000u32).step_by(2) {
            assert!(s.remove(format!("m{i}").as_bytes()));
        }
        assert!(!s.remove(b"m0"));
        assert_eq!(s.len(), 500);
        for i in 0..1000u32 {
            assert_eq!(s.contains(format!("m{i}").as_bytes()), i % 2 == 1);
        }
        for i in (1..1000u32).step_by(2) {
            assert!(s.remove(format!("m{i}").as_bytes()));
        }
        assert!(s.is_empty());
        assert!(s.index.is_empty());
    }

    #[test]
    fn pop_random_is_deterministic_and_exhaustive() {
        let build = || {
            let mut s = Set::new();
            for i in 0..200u32 {
                s.insert(&i.to_be_bytes());
            }
            s
        };
        let (mut a, mut b) = (build(), build());
        let (mut ra, mut rb) = (rng(7), rng(7));
        let mut seen = std::collections::BTreeSet::new();
        while let Some(x) = a.pop_random(&mut ra) {
            let y = b.pop_random(&mut rb).unwrap();
            assert_eq!(x, y);
            assert!(seen.insert(x.to_vec()));
        }
        assert_eq!(seen.len(), 200);
    }

    #[test]
    fn scan_survives_deletes() {
        let mut s = Set::new();
        for i in 0..100u32 {
            s.insert(&i.to_be_bytes());
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = 0;
        let mut deleted = 0u32;
        loop {
            let (next, got) = s.scan(cursor, 7);
            seen.extend(got.into_iter().map(|m| m.to_vec()));
            // Delete members divisible by 10 while scanning.
            if deleted < 100 {
                s.remove(&deleted.to_be_bytes());
                deleted += 10;
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..100u32 {
            if i % 10 != 0 {
                assert!(seen.contains(i.to_be_bytes().as_slice()), "missed {i}");
            }
        }
    }

    #[test]
    fn distinct_positions_both_strategies() {
        let mut r = rng(3);
        for (n, k) in [(1000, 5), (1000, 900), (10, 10), (1, 0)] {
            let v = distinct_positions(&mut r, n, k);
            let uniq: std::collections::BTreeSet<_> = v.iter().collect();
            assert_eq!(uniq.len(), k);
            assert!(v.iter().all(|&p| p < n));
        }
    }

    #[test]
    fn sample_distinct_is_distinct() {
        let mut s = Set::new();
        for i in 0..50u32 {
            s.insert(&i.to_be_bytes());
        }
        let mut r = rng(1);
        let got = s.sample_distinct(20, &mut r);
        let uniq: std::collections::BTreeSet<_> = got.iter().collect();
        assert_eq!(uniq.len(), 20);
        assert_eq!(s.sample_distinct(99, &mut r).len(), 50);
    }
}

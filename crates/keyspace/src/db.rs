//! Storage: keys indexed by hash slot, expiry, per-key versions.
//!
//! Layout and why:
//! - One hash table per cluster slot (`SLOT_COUNT` of them), so a slot's keys
//!   can be counted, listed, snapshotted and dropped without touching the
//!   rest (needed for slot migration).
//! - A table bucket is one pointer to a heap `Node` (key, value, expiry,
//!   version). Keeping buckets pointer-sized matters: per-slot tables hold
//!   ~60 keys at 1M keys and sit at 45-90% load, so fat buckets would waste
//!   more than the data. Keys up to [`INLINE_KEY`] bytes live inside the
//!   node (no second allocation). The node is reference-counted
//!   ([`NodeRef`]), so a slot's table can be copied for a writer while a
//!   frozen view still holds it by copying pointers, not keys and values.
//! - Hashing uses the fixed `rng::hash_bytes`, so SCAN cursors (which are
//!   hash positions, see [`Db::scan`]) mean the same on every replica.
//! - Expiry is a field of the node plus an ordered index of keys that have
//!   one (`expire_at | slot | key hash` packed in a u128, no key copy), so
//!   active expiry finds expired keys in O(expired) instead of sampling.
//! - Versions (for WATCH): every write bumps the key's `version` from one
//!   monotonic op counter; deleting a key records the counter in its slot's
//!   `slot_deleted`, which is what an absent key reports. All writes go
//!   through [`Meta::modified`] / [`Db::remove_node`] (Redis's
//!   `signalModifiedKey`), never around them.
//!
//! Reads (`&self`) treat expired keys as absent but never delete them;
//! writes (`&mut self`, with the leader-decided `now`) delete them lazily.

use crate::args::WrongType;
use crate::rng::{hash_bytes, mix64, FixedState, Rng};
use crate::small::SmallBytes;
use crate::types::{Kind, Value};
use bytes::Bytes;
use hashbrown::{HashSet, HashTable};
use slotraft_types::{key_slot, SLOT_COUNT};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// Keys up to this length are stored inside the node.
pub const INLINE_KEY: usize = crate::small::INLINE_BYTES;
/// Bits of the key hash used as the position inside a slot in SCAN cursors.
pub const SCAN_POS_BITS: u32 = 40;
/// Most keys one [`Db::prefetch`] call works on (the caller's batch
/// window: their lines must still be cached when their commands run).
pub const PREFETCH_MAX: usize = 16;
/// The window of a batch of `len` commands whose keys a loop about to run
/// command `i` should prefetch: `i..i + PREFETCH_MAX` (clipped) at each
/// window's first command, else none (a lone command gains nothing). Why:
/// running a batch (a pipelined client's commands, a log entry's ops, the
/// reads a ReadIndex round releases) is bound by memory latency, one cold
/// hash probe and node per key; asking for a window's cache lines first
/// overlaps those misses, and the window is small enough that the lines
/// are still cached when their command runs. One rule for every batch
/// loop (server, apply, reads).
pub fn prefetch_window(i: usize, len: usize) -> Option<std::ops::Range<usize>> {
    (i.is_multiple_of(PREFETCH_MAX) && len > 1).then(|| i..(i + PREFETCH_MAX).min(len))
}

/// RANDOMKEY retries when it draws logically expired keys.
pub const RANDOMKEY_MAX_TRIES: usize = 100;

/// One key with its value and metadata.
#[derive(Clone, Debug)]
pub struct Node {
    key: SmallBytes,
    value: Value,
    /// Absolute unix ms; 0 = no expiry (a stored expiry is always > 0).
    expire_at: u64,
    /// Op-counter value of the last modification (WATCH).
    version: u64,
}

impl Node {
    pub fn key(&self) -> &[u8] {
        self.key.as_bytes()
    }
    pub fn value(&self) -> &Value {
        &self.value
    }
    /// Absolute expiry in unix ms, if the key has one.
    pub fn expire_at(&self) -> Option<u64> {
        (self.expire_at != 0).then_some(self.expire_at)
    }
    pub fn version(&self) -> u64 {
        self.version
    }
    /// Redis's `keyIsExpired`: expired once `now > when`.
    #[inline]
    pub fn is_expired(&self, now: u64) -> bool {
        self.expire_at != 0 && now > self.expire_at
    }
}

/// How a write treats the key's existing expiry.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SetExpire {
    /// Remove any TTL (plain SET).
    Clear,
    /// Keep the current TTL (KEEPTTL, in-place updates).
    Keep,
    /// Expire at this absolute unix ms.
    At(u64),
}

/// Bookkeeping shared by every write, split from the tables so a handler can
/// hold a `&mut Node` and still signal modifications.
#[derive(Clone, Debug)]
pub(crate) struct Meta {
    keys: usize,
    /// The deterministic op counter versions are drawn from.
    pub(crate) op_counter: u64,
    /// Per slot: version of the last delete in that slot (absent keys).
    pub(crate) slot_deleted: Vec<u64>,
    /// Expiry index: [`expiry_key`] of every key with an expiry → how many
    /// keys share that index key (only > 1 on a full 64-bit hash collision
    /// within a slot at the same ms). 20 bytes per key instead of a key copy.
    expiry: BTreeMap<u128, u32>,
    /// Number of keys with an expiry.
    expires: usize,
    ready: Vec<Bytes>,
    ready_set: HashSet<Bytes, FixedState>,
    pending_empty: Vec<Box<[u8]>>,
}

impl Meta {
    fn new() -> Meta {
        Meta {
            keys: 0,
            op_counter: 0,
            slot_deleted: vec![0; SLOT_COUNT as usize],
            expiry: BTreeMap::new(),
            expires: 0,
            ready: Vec::new(),
            ready_set: HashSet::with_hasher(FixedState),
            pending_empty: Vec::new(),
        }
    }

    fn next_version(&mut self) -> u64 {
        self.op_counter += 1;
        self.op_counter
    }

    /// THE modification signal (Redis's `signalModifiedKey` +
    /// `signalKeyAsReady`): every write to an existing or new key ends here.
    fn modified(&mut self, node: &mut Node) {
        node.version = self.next_version();
        let ready = match &node.value {
            Value::List(l) => !l.is_empty(),
            Value::ZSet(z) => !z.is_empty(),
            _ => false,
        };
        if ready && !self.ready_set.contains(node.key()) {
            let k = Bytes::copy_from_slice(node.key());
            self.ready_set.insert(k.clone());
            self.ready.push(k);
        }
    }

    /// Changes a node's expiry, keeping the expiry index in sync.
    fn set_expire(&mut self, node: &mut Node, at: u64) {
        if node.expire_at == at {
            return;
        }
        self.unindex_expire(node);
        if at != 0 {
            *self.expiry.entry(expiry_key(at, node.key())).or_insert(0) += 1;
            self.expires += 1;
        }
        node.expire_at = at;
    }

    /// Takes a node's expiry (if any) out of the index; the node itself
    /// keeps it (a removed node, or one whose expiry is about to change).
    fn unindex_expire(&mut self, node: &Node) {
        if node.expire_at != 0 {
            let k = expiry_key(node.expire_at, node.key());
            match self.expiry.get_mut(&k) {
                Some(c) if *c > 1 => *c -= 1,
                Some(_) => {
                    self.expiry.remove(&k);
                }
                None => debug_assert!(false, "expiry index out of sync"),
            }
            self.expires -= 1;
        }
    }
}

/// Largest expiry representable in the index (48 bits of ms: year 10889);
/// later expiries are indexed at this value (they never come due anyway).
const EXPIRY_INDEX_MAX: u64 = (1 << 48) - 1;

/// Index key of an expiry: `at (48 bits) | slot (14 bits) | key hash (64
/// bits)`. Ordered by time first; slot + full hash find the node again.
fn expiry_key(at: u64, key: &[u8]) -> u128 {
    ((at.min(EXPIRY_INDEX_MAX) as u128) << 78)
        | ((slot_of(key) as u128) << 64)
        | hash_bytes(key) as u128
}

/// One key's node, reference-counted (decision 0014). The first write to a
/// slot a [`FrozenDb`] still shares copies that slot's table of pointers
/// (and bumps its ~60 counts); the first write to a key then copies that
/// one node (`make_mut`). With a `Box` per node the first writes after a
/// freeze copied every node and value of the slots they touched: at
/// -P 16 a whole shard (~60 MB) within a few rounds, stalling the event
/// loop 300-650 ms at each snapshot and moving leaders. `triomphe::Arc`:
/// an 8-byte count and no weak count; memory per key 1.04x -> 1.12x
/// Redis's (`std::sync::Arc`, 16 bytes: 1.20x).
type NodeRef = triomphe::Arc<Node>;

/// One slot's keys.
type SlotTable = HashTable<NodeRef>;

/// The storage of one keyspace. A clone shares every slot table with the
/// original until either writes to it (copy-on-write, as for
/// [`FrozenDb`]).
#[derive(Clone, Debug)]
pub struct Db {
    /// Shared with [`FrozenDb`]s taken since (copy-on-write per slot: the
    /// first write to a slot a frozen view still holds clones that slot's
    /// table, `Arc::make_mut`; unshared, it costs one atomic check).
    slots: Vec<Arc<SlotTable>>,
    pub(crate) meta: Meta,
}

/// A point-in-time view of a [`Db`]'s keys and per-slot delete versions,
/// taken in O(slots) by [`Db::freeze`] and read on another thread (a
/// snapshot is serialized there while the keyspace goes on: Redis forks
/// for its BGSAVE, this copies on write per slot instead of per page).
/// Holding one costs memory only for the slot tables (pointers) and the
/// nodes written meanwhile.
pub struct FrozenDb {
    slots: Vec<Arc<SlotTable>>,
    slot_deleted: Vec<u64>,
    op_counter: u64,
}

impl FrozenDb {
    pub fn op_counter(&self) -> u64 {
        self.op_counter
    }

    /// The slot's delete version (WATCH), as at the freeze.
    pub fn slot_deleted(&self, slot: u16) -> u64 {
        self.slot_deleted[slot as usize]
    }

    pub fn count_in_slot(&self, slot: u16) -> usize {
        self.slots[slot as usize].len()
    }

    /// All nodes of a slot, any order.
    pub fn slot_nodes(&self, slot: u16) -> impl Iterator<Item = &Node> + '_ {
        self.slots[slot as usize].iter().map(|b| &**b)
    }
}

impl Default for Db {
    fn default() -> Self {
        Db::new()
    }
}

#[inline]
#[allow(clippy::borrowed_box)] // hashbrown's hasher callback signature
fn rehash(n: &NodeRef) -> u64 {
    hash_bytes(n.key())
}

/// Slot index of a key.
#[inline]
pub fn slot_of(key: &[u8]) -> usize {
    key_slot(key).index()
}

/// Where a key lives: its slot's table and its hash in it. Computed once
/// when one operation both looks a key up and inserts it (SET of a new key).
#[derive(Clone, Copy)]
struct KeyPos {
    slot: usize,
    hash: u64,
}

impl KeyPos {
    #[inline]
    fn of(key: &[u8]) -> KeyPos {
        KeyPos {
            slot: slot_of(key),
            hash: hash_bytes(key),
        }
    }
}

impl Db {
    pub fn new() -> Db {
        Db {
            slots: (0..SLOT_COUNT)
                .map(|_| Arc::new(HashTable::new()))
                .collect(),
            meta: Meta::new(),
        }
    }

    /// A view of the current keys that later writes do not change.
    pub fn freeze(&self) -> FrozenDb {
        FrozenDb {
            slots: self.slots.clone(),
            slot_deleted: self.meta.slot_deleted.clone(),
            op_counter: self.meta.op_counter,
        }
    }

    /// The slot's table, for writing (cloned first if a frozen view
    /// still shares it).
    fn table_mut(&mut self, slot: usize) -> &mut SlotTable {
        Arc::make_mut(&mut self.slots[slot])
    }

    // ----- raw access (ignores expiry) -----

    fn find(&self, key: &[u8]) -> Option<&Node> {
        self.slots[slot_of(key)]
            .find(hash_bytes(key), |n| n.key() == key)
            .map(|b| &**b)
    }

    /// Starts loading the cache lines later accesses to `keys` will need
    /// (at most [`PREFETCH_MAX`]; the rest are ignored). Two passes, so the
    /// misses of different keys overlap instead of queueing: the first
    /// hashes every key and prefetches its slot's table header, the second
    /// (a short loop, so the CPU runs several probes at once) probes each
    /// table and prefetches every candidate node instead of comparing keys.
    /// A hint: no effect on state or replies.
    pub fn prefetch<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) {
        let mut pos = [(0usize, 0u64); PREFETCH_MAX];
        let mut n = 0;
        for key in keys.into_iter().take(PREFETCH_MAX) {
            let p = KeyPos::of(key);
            slotraft_types::hint::prefetch_read(&*self.slots[p.slot]);
            pos[n] = (p.slot, p.hash);
            n += 1;
        }
        for &(slot, hash) in &pos[..n] {
            let _ = self.slots[slot].find(hash, |node| {
                // Both lines: behind its count a node straddles two.
                slotraft_types::hint::prefetch_read_all(&**node);
                false
            });
        }
    }

    /// Removes a key (expired or not): THE delete path (bumps the slot's
    /// delete version for WATCH, keeps counters and the expiry index right).
    fn remove_node(&mut self, key: &[u8]) -> Option<NodeRef> {
        let slot = slot_of(key);
        let table = self.table_mut(slot);
        let entry = table.find_entry(hash_bytes(key), |n| n.key() == key).ok()?;
        let (node, _) = entry.remove();
        if table.len() * 8 < table.capacity() && table.capacity() > 64 {
            table.shrink_to(table.len() * 2, rehash);
        }
        // The node keeps its expiry: the caller may move the value with it.
        self.meta.unindex_expire(&node);
        self.meta.keys -= 1;
        self.meta.slot_deleted[slot] = self.meta.next_version();
        Some(node)
    }

    /// Lazy expiry on the write path.
    fn expire_if_needed(&mut self, key: &[u8], now: u64) {
        if self.find(key).is_some_and(|n| n.is_expired(now)) {
            self.remove_node(key);
        }
    }

    fn insert_node(&mut self, key: &[u8], value: Value, expire_at: u64) -> &mut Node {
        self.insert_node_v(key, value, expire_at, None)
    }

    /// Inserts a new node; `version: None` signals a modification, `Some`
    /// (snapshot restore) installs the recorded version silently.
    fn insert_node_v(
        &mut self,
        key: &[u8],
        value: Value,
        expire_at: u64,
        version: Option<u64>,
    ) -> &mut Node {
        self.insert_node_at(KeyPos::of(key), key, value, expire_at, version)
    }

    /// [`Db::insert_node_v`] at a position already computed for `key`.
    fn insert_node_at(
        &mut self,
        pos: KeyPos,
        key: &[u8],
        value: Value,
        expire_at: u64,
        version: Option<u64>,
    ) -> &mut Node {
        debug_assert!(self.find(key).is_none(), "insert of an existing key");
        debug_assert!(pos.slot == slot_of(key) && pos.hash == hash_bytes(key));
        let mut node = Node {
            key: SmallBytes::new(key),
            value,
            expire_at: 0,
            version: 0,
        };
        self.meta.set_expire(&mut node, expire_at);
        match version {
            None => self.meta.modified(&mut node),
            Some(v) => node.version = v,
        }
        self.meta.keys += 1;
        let e = self
            .table_mut(pos.slot)
            .insert_unique(pos.hash, triomphe::Arc::new(node), rehash);
        // Just created: this table holds the only reference.
        triomphe::Arc::get_mut(e.into_mut()).expect("a new node is not shared")
    }

    fn find_mut_parts(&mut self, key: &[u8]) -> Option<(&mut Node, &mut Meta)> {
        self.find_mut_at(KeyPos::of(key), key)
    }

    /// [`Db::find_mut_parts`] at a position already computed for `key`.
    fn find_mut_at(&mut self, pos: KeyPos, key: &[u8]) -> Option<(&mut Node, &mut Meta)> {
        let Db { slots, meta } = self;
        let n = Arc::make_mut(&mut slots[pos.slot]).find_mut(pos.hash, |n| n.key() == key)?;
        Some((triomphe::Arc::make_mut(n), meta))
    }

    // ----- reads (never mutate; expired keys are absent) -----

    /// The live node at `key`, if any.
    pub fn lookup(&self, key: &[u8], now: u64) -> Option<&Node> {
        self.find(key).filter(|n| !n.is_expired(now))
    }

    /// The live value at `key`, if any.
    pub fn get(&self, key: &[u8], now: u64) -> Option<&Value> {
        self.lookup(key, now).map(|n| &n.value)
    }

    /// The payload of type `T` at `key`; `Err(WrongType)` if another type.
    pub fn get_typed<T: Kind>(&self, key: &[u8], now: u64) -> Result<Option<&T>, WrongType> {
        match self.get(key, now) {
            None => Ok(None),
            Some(v) => T::from_ref(v).map(Some).ok_or(WrongType),
        }
    }

    /// The string at `key`; `Err(WrongType)` if another type.
    pub fn get_str(&self, key: &[u8], now: u64) -> Result<Option<&[u8]>, WrongType> {
        match self.get(key, now) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(_) => Err(WrongType),
        }
    }

    /// True if a node exists for `key`, even a logically expired one.
    pub fn contains_raw(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    pub fn exists(&self, key: &[u8], now: u64) -> bool {
        self.lookup(key, now).is_some()
    }

    /// Number of keys stored (including logically expired ones not yet
    /// deleted, like Redis's DBSIZE).
    pub fn len(&self) -> usize {
        self.meta.keys
    }

    pub fn is_empty(&self) -> bool {
        self.meta.keys == 0
    }

    /// Number of keys that have an expiry.
    pub fn expires_count(&self) -> usize {
        self.meta.expires
    }

    /// Version for WATCH: the key's version if present, else the version of
    /// the last delete in its slot.
    pub fn watch_version(&self, key: &[u8]) -> u64 {
        match self.find(key) {
            Some(n) => n.version,
            None => self.meta.slot_deleted[slot_of(key)],
        }
    }

    /// The deterministic op counter (grows with every modification).
    pub fn op_counter(&self) -> u64 {
        self.meta.op_counter
    }

    // ----- writes (lazy expiry, modification signals) -----

    /// Mutable typed access. `Ok(None)` if absent, `Err` on wrong type.
    /// Mutating through the guard (any `DerefMut`) signals the modification
    /// when the guard drops; a collection left empty is deleted at the end
    /// of the command (see [`Db::flush_pending`]).
    pub fn get_mut<T: Kind>(
        &mut self,
        key: &[u8],
        now: u64,
    ) -> Result<Option<ValueMut<'_, T>>, WrongType> {
        self.expire_if_needed(key, now);
        let Some((node, meta)) = self.find_mut_parts(key) else {
            return Ok(None);
        };
        if T::from_ref(&node.value).is_none() {
            return Err(WrongType);
        }
        Ok(Some(ValueMut {
            node,
            meta,
            dirty: false,
            _t: PhantomData,
        }))
    }

    /// Like [`Db::get_mut`] but creates an empty `T` if the key is absent
    /// (the creation counts as a modification).
    pub fn get_or_create<T: Kind>(
        &mut self,
        key: &[u8],
        now: u64,
    ) -> Result<ValueMut<'_, T>, WrongType> {
        self.expire_if_needed(key, now);
        let created = if self.find(key).is_none() {
            self.insert_node(key, T::new_value(), 0);
            true
        } else {
            false
        };
        let (node, meta) = self.find_mut_parts(key).expect("present");
        if T::from_ref(&node.value).is_none() {
            return Err(WrongType);
        }
        Ok(ValueMut {
            node,
            meta,
            dirty: created,
            _t: PhantomData,
        })
    }

    /// Creates or replaces `key` with `value` (any type), like Redis's
    /// `setKey`. Signals the modification.
    pub fn set(&mut self, key: &[u8], value: Value, expire: SetExpire, now: u64) {
        // One lookup on the common paths (a live key is overwritten, an
        // absent one inserted); an expired key is deleted first, as lazy
        // expiry would, then inserted fresh.
        let pos = KeyPos::of(key);
        match self.find_mut_at(pos, key) {
            Some((node, meta)) if !node.is_expired(now) => {
                node.value = value;
                match expire {
                    SetExpire::Keep => {}
                    SetExpire::Clear => meta.set_expire(node, 0),
                    SetExpire::At(t) => meta.set_expire(node, t.max(1)),
                }
                meta.modified(node);
                return;
            }
            Some(_) => {
                self.remove_node(key);
            }
            None => {}
        }
        let at = match expire {
            SetExpire::At(t) => t.max(1),
            _ => 0,
        };
        self.insert_node_at(pos, key, value, at, None);
    }

    /// Deletes a live key; returns whether it existed (an expired key is
    /// removed too but reported as absent, like Redis).
    pub fn delete(&mut self, key: &[u8], now: u64) -> bool {
        self.expire_if_needed(key, now);
        self.remove_node(key).is_some()
    }

    /// Removes a live key and returns its value and expiry (RENAME, GETDEL).
    pub fn take(&mut self, key: &[u8], now: u64) -> Option<(Value, Option<u64>)> {
        self.expire_if_needed(key, now);
        self.remove_node(key).map(|n| {
            let at = n.expire_at();
            (triomphe::Arc::unwrap_or_clone(n).value, at)
        })
    }

    /// Sets (Some) or removes (None) a live key's expiry; false if absent.
    /// Signals a modification when something changed.
    pub fn set_expire(&mut self, key: &[u8], at: Option<u64>, now: u64) -> bool {
        self.expire_if_needed(key, now);
        let Some((node, meta)) = self.find_mut_parts(key) else {
            return false;
        };
        let at = at.map_or(0, |t| t.max(1));
        if node.expire_at != at {
            meta.set_expire(node, at);
        }
        meta.modified(node);
        true
    }

    /// Deletes `key` only if it is expired at `now` (active expiry entries).
    pub fn delete_if_expired(&mut self, key: &[u8], now: u64) -> bool {
        if self.find(key).is_some_and(|n| n.is_expired(now)) {
            self.remove_node(key);
            true
        } else {
            false
        }
    }

    /// FLUSHALL/FLUSHDB: drops everything; every watcher sees a change.
    pub fn flush(&mut self) {
        for t in &mut self.slots {
            *t = Arc::new(HashTable::new());
        }
        let v = self.meta.next_version();
        let counter = self.meta.op_counter;
        self.meta = Meta::new();
        self.meta.op_counter = counter;
        self.meta.slot_deleted.iter_mut().for_each(|d| *d = v);
    }

    /// Deletes keys whose collection became empty during the command. Called
    /// by the keyspace after every command.
    pub fn flush_pending(&mut self) {
        let pending = std::mem::take(&mut self.meta.pending_empty);
        for k in pending {
            if self.find(&k).is_some_and(|n| n.value.is_empty_collection()) {
                self.remove_node(&k);
            }
        }
    }

    /// Keys that became non-empty lists/zsets since the last call.
    pub fn take_ready(&mut self) -> Vec<Bytes> {
        self.meta.ready_set.clear();
        std::mem::take(&mut self.meta.ready)
    }

    // ----- slot index -----

    pub fn count_in_slot(&self, slot: u16) -> usize {
        self.slots[slot as usize].len()
    }

    /// Up to `max` keys of `slot` (in content-defined order).
    pub fn keys_in_slot(&self, slot: u16, max: usize) -> Vec<Bytes> {
        let mut nodes = self.sorted_slot(slot as usize, 0);
        nodes.truncate(max);
        nodes
            .into_iter()
            .map(|(_, n)| Bytes::copy_from_slice(n.key()))
            .collect()
    }

    /// All nodes of a slot, any order (snapshot).
    pub fn slot_nodes(&self, slot: u16) -> impl Iterator<Item = &Node> + '_ {
        self.slots[slot as usize].iter().map(|b| &**b)
    }

    /// Nodes of a slot whose scan position is `>= from`, sorted by
    /// (position, key): an order that depends only on content.
    fn sorted_slot(&self, slot: usize, from: u64) -> Vec<(u64, &Node)> {
        let mut v: Vec<(u64, &Node)> = self.slots[slot]
            .iter()
            .map(|n| (hash_bytes(n.key()) >> (64 - SCAN_POS_BITS), &**n))
            .filter(|(h, _)| *h >= from)
            .collect();
        v.sort_unstable_by(|a, b| (a.0, a.1.key()).cmp(&(b.0, b.1.key())));
        v
    }

    /// One SCAN step. Cursor = `slot << SCAN_POS_BITS | position`, where a
    /// key's position is the top `SCAN_POS_BITS` bits of its fixed hash.
    /// Within a slot keys are visited in position order and a step never
    /// stops between two keys with the same position, so the next cursor
    /// (last position + 1) is a clean boundary: every key present for the
    /// whole scan is returned exactly once, whatever happens to other keys
    /// (no rehash can move a key's position). Visits at least `count` keys
    /// unless the scan ends; `keep` filters (MATCH/TYPE/expiry) after
    /// visiting, as Redis does. Returns (next cursor, keys); 0 = done.
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        mut keep: impl FnMut(&Node) -> bool,
    ) -> (u64, Vec<Bytes>) {
        let mut slot = (cursor >> SCAN_POS_BITS) as usize;
        let mut pos = cursor & ((1u64 << SCAN_POS_BITS) - 1);
        let mut out = Vec::new();
        let mut visited = 0usize;
        while slot < SLOT_COUNT as usize && visited < count {
            if self.slots[slot].is_empty() {
                slot += 1;
                pos = 0;
                continue;
            }
            let nodes = self.sorted_slot(slot, pos);
            let mut i = 0;
            while i < nodes.len() {
                let h = nodes[i].0;
                while i < nodes.len() && nodes[i].0 == h {
                    visited += 1;
                    if keep(nodes[i].1) {
                        out.push(Bytes::copy_from_slice(nodes[i].1.key()));
                    }
                    i += 1;
                }
                pos = h + 1;
                if visited >= count {
                    break;
                }
            }
            if i == nodes.len() || pos >> SCAN_POS_BITS != 0 {
                slot += 1;
                pos = 0;
            }
        }
        if slot >= SLOT_COUNT as usize {
            return (0, out);
        }
        ((slot as u64) << SCAN_POS_BITS | pos, out)
    }

    /// A random live key chosen from `rng` and content only.
    pub fn random_key(&self, rng: &mut Rng, now: u64) -> Option<Bytes> {
        for _ in 0..RANDOMKEY_MAX_TRIES {
            if self.meta.keys == 0 {
                return None;
            }
            let mut r = rng.below(self.meta.keys as u64) as usize;
            let slot = (0..SLOT_COUNT as usize).find(|&s| {
                let n = self.slots[s].len();
                if r < n {
                    true
                } else {
                    r -= n;
                    false
                }
            })?;
            let nodes = self.sorted_slot(slot, 0);
            let n = nodes[r].1;
            if !n.is_expired(now) {
                return Some(Bytes::copy_from_slice(n.key()));
            }
        }
        None
    }

    /// Up to `max` keys expired at `now`, oldest expiry first.
    pub fn expired_keys(&self, now: u64, max: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        for &k in self.meta.expiry.keys() {
            let at = (k >> 78) as u64;
            if out.len() >= max || now <= at {
                break;
            }
            let slot = ((k >> 64) as usize) & (SLOT_COUNT as usize - 1);
            let hash = k as u64;
            for n in self.slots[slot].iter_hash(hash) {
                if out.len() < max && hash_bytes(n.key()) == hash && n.is_expired(now) {
                    out.push(Bytes::copy_from_slice(n.key()));
                }
            }
        }
        out
    }

    /// Every live key matching a predicate (KEYS). Bounded by the keyspace.
    pub fn all_nodes(&self) -> impl Iterator<Item = &Node> + '_ {
        self.slots.iter().flat_map(|t| t.iter().map(|b| &**b))
    }

    /// An order-independent digest of the whole content (keys, values,
    /// expiries, versions, per-slot delete versions): two replicas that
    /// applied the same log have the same digest, whatever their
    /// hash-table layouts. For tests, the simulator and replica checks.
    pub fn digest(&self) -> u64 {
        let mut d = mix64(self.meta.op_counter);
        for n in self.all_nodes() {
            let h = hash_bytes(n.key())
                ^ mix64(n.expire_at ^ mix64(n.version))
                ^ value_digest(&n.value);
            d = d.wrapping_add(mix64(h));
        }
        for (i, v) in self.meta.slot_deleted.iter().enumerate() {
            if *v != 0 {
                d = d.wrapping_add(mix64(((i as u64) << 48) ^ mix64(*v)));
            }
        }
        d
    }

    // ----- snapshot support -----

    /// Inserts a node as read from a snapshot (no signals; the snapshot
    /// carries the version).
    pub(crate) fn restore_node(&mut self, key: &[u8], value: Value, expire_at: u64, version: u64) {
        if self.find(key).is_some() {
            self.remove_node(key);
        }
        self.insert_node_v(key, value, expire_at, Some(version));
        self.meta.op_counter = self.meta.op_counter.max(version);
    }

    /// Replaces the contents of `slot` with those of `other`'s same slot.
    pub(crate) fn replace_slot_from(&mut self, other: &mut Db, slot: u16) {
        let keys: Vec<Box<[u8]>> = self.slot_nodes(slot).map(|n| Box::from(n.key())).collect();
        for k in keys {
            self.remove_node(&k);
        }
        let moved = std::mem::take(other.table_mut(slot as usize));
        for node in moved.into_iter() {
            let n = triomphe::Arc::unwrap_or_clone(node);
            let version = n.version;
            let key: Box<[u8]> = n.key().into();
            self.restore_node(&key, n.value, n.expire_at, version);
        }
        self.meta.slot_deleted[slot as usize] = other.meta.slot_deleted[slot as usize];
    }
}

/// Digest of a value: ordered for lists and zsets, order-independent for
/// hashes and sets.
fn value_digest(v: &Value) -> u64 {
    let seq = |tag: u64, it: &mut dyn Iterator<Item = u64>| it.fold(tag, |acc, h| mix64(acc ^ h));
    let bag = |tag: u64, it: &mut dyn Iterator<Item = u64>| {
        it.fold(tag, |acc, h| acc.wrapping_add(mix64(h)))
    };
    match v {
        Value::Str(s) => mix64(1 ^ hash_bytes(s)),
        Value::List(l) => seq(2, &mut l.iter().map(hash_bytes)),
        Value::Hash(h) => bag(
            3,
            &mut h.iter().map(|(f, x)| hash_bytes(f) ^ mix64(hash_bytes(x))),
        ),
        Value::Set(s) => bag(4, &mut s.iter().map(hash_bytes)),
        Value::ZSet(z) => seq(
            5,
            &mut z.iter().map(|(m, sc)| hash_bytes(m) ^ mix64(sc.to_bits())),
        ),
    }
}

/// Mutable access to a key's payload of type `T`. Any mutable deref marks
/// the key modified; on drop the modification is signalled exactly once
/// and an emptied collection is queued for deletion.
pub struct ValueMut<'a, T: Kind> {
    node: &'a mut Node,
    meta: &'a mut Meta,
    dirty: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T: Kind> ValueMut<'_, T> {
    /// The key's absolute expiry, if any.
    pub fn expire_at(&self) -> Option<u64> {
        self.node.expire_at()
    }
    /// Undo the "modified" mark (e.g. SREM of a member that was absent), so
    /// WATCHers are not disturbed by a no-op. Only call if nothing changed.
    pub fn unmodified(&mut self) {
        self.dirty = false;
    }
}

impl<T: Kind> Deref for ValueMut<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        T::from_ref(&self.node.value).expect("type checked when the guard was made")
    }
}

impl<T: Kind> DerefMut for ValueMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.dirty = true;
        T::from_mut(&mut self.node.value).expect("type checked when the guard was made")
    }
}

impl<T: Kind> Drop for ValueMut<'_, T> {
    fn drop(&mut self) {
        if self.dirty {
            self.meta.modified(self.node);
            if self.node.value.is_empty_collection() {
                self.meta.pending_empty.push(Box::from(self.node.key()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetch_windows_cover_a_batch_once_and_skip_lone_commands() {
        assert_eq!(prefetch_window(0, 1), None, "a lone command");
        assert_eq!(prefetch_window(0, 3), Some(0..3));
        assert_eq!(prefetch_window(1, 3), None, "inside a window");
        let starts: Vec<_> = (0..40).filter_map(|i| prefetch_window(i, 40)).collect();
        assert_eq!(starts, vec![0..16, 16..32, 32..40]);
    }

    /// Decision 0014: the first write to a slot a frozen view shares
    /// copies the slot's pointers, not its nodes: the keys not written are
    /// the same allocations in both, the written one is not, and the view
    /// still sees the old value.
    #[test]
    fn a_write_after_a_freeze_copies_pointers_not_the_slots_nodes() {
        const KEYS: usize = 50;
        let str_value = |s: &str| Value::Str(SmallBytes::from(s.as_bytes()));
        let keys: Vec<String> = (0..KEYS).map(|i| format!("{{same-slot}}k{i}")).collect();
        let mut db = Db::default();
        for k in &keys {
            db.set(k.as_bytes(), str_value("old"), SetExpire::Clear, 0);
        }
        let frozen = db.freeze();
        db.set(keys[0].as_bytes(), str_value("new"), SetExpire::Clear, 0);
        let slot = slot_of(keys[0].as_bytes()) as u16;
        let in_view = |key: &str| {
            frozen
                .slot_nodes(slot)
                .find(|n| n.key() == key.as_bytes())
                .expect("in the view")
        };
        for k in &keys[1..] {
            let live = db.lookup(k.as_bytes(), 0).expect("live");
            assert!(std::ptr::eq(live, in_view(k)), "{k} was copied");
        }
        let live0 = db.lookup(keys[0].as_bytes(), 0).expect("live");
        assert!(!std::ptr::eq(live0, in_view(&keys[0])));
        assert_eq!(live0.value(), &str_value("new"));
        assert_eq!(in_view(&keys[0]).value(), &str_value("old"));
        assert_eq!(frozen.count_in_slot(slot), KEYS);
    }
}

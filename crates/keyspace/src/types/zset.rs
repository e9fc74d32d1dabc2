//! The sorted-set value type: members ordered by (score, member bytes).
//!
//! CONTRACT used by the core (snapshot, DUMP/RESTORE, OBJECT ENCODING,
//! emptiness checks) — keep these signatures:
//! `new()`, `len()`, `is_empty()`, `iter()` yielding `(member, score)` in
//! rank order, `insert(&[u8], f64)` (add or update score),
//! `encoding() -> &'static str`, `mem_usage() -> usize`.
//!
//! Why this shape: Redis needs member → score lookup (ZSCORE, ZADD), ordered
//! walks by score and by lex (ZRANGEBYSCORE/BYLEX), and *rank* operations
//! (ZRANK, ZRANGE by index, ZREMRANGEBYRANK) in O(log n). We keep:
//! - a slab of entries `(member, score)` addressed by a stable `u32` id,
//! - an [`IndexTable`] member → id (4 bytes a slot, keys not duplicated),
//! - an order-statistic B+tree of (score, id) keys sorted by (score,
//!   member), whose inner nodes keep each child's subtree size (for rank)
//!   and smallest key (for search); members are stored exactly once, and
//!   the score copy in the keys means a search reads the slab only to break
//!   score ties.
//!
//! Per member of a large set this costs about 32 bytes (slab entry: a
//! 24-byte [`Member`], inline up to 22 bytes, + the score) + ~23 (tree key
//! with a copy of the score, ~70% leaf fill) + ~5 (index): measured 78
//! bytes/member at 1M members, against ~133 for Redis's skiplist+dict.
//! Small sets (<= 128 members of <= 64 bytes) are packed like Redis's
//! listpack: ~9 bytes + the member each.
//!
//! Scores are `f64` without NaN (callers reject NaN before inserting; an
//! assert guards it). -0.0 and 0.0 compare equal (ties break by member
//! bytes, as in Redis); the packed form stores -0 as 0 and the tree keeps
//! it, exactly like Redis's listpack and skiplist encodings.

use std::cmp::Ordering;

use super::list::Member;
use super::set::{IndexTable, MAX_MEMBERS};

/// Largest number of ids in one leaf.
const LEAF_CAP: usize = 64;
/// Largest number of children of one inner node.
const INNER_CAP: usize = 64;
/// Below this a node tries to merge with a neighbour after a removal.
const MIN_FILL: usize = 16;

#[derive(Clone, Debug)]
struct Entry {
    member: Member,
    score: f64,
}

/// A tree key: the entry's score (copied, so most comparisons never touch
/// the slab — the slab is only read to break score ties by member) and id.
/// Invariant: `key.0 == entries[key.1].score` while the key is in the tree
/// (a score change removes the key first and re-inserts it after).
type Key = (f64, u32);

#[derive(Clone, Debug)]
enum Node {
    /// Keys in (score, member) order.
    Leaf(Vec<Key>),
    /// Children (node ids) with their subtree sizes and smallest keys.
    /// Invariant: the three vectors have the same length >= 1, and
    /// `mins[i]` is the first key of child `i`'s subtree.
    Inner {
        children: Vec<u32>,
        counts: Vec<u32>,
        mins: Vec<Key>,
    },
}

/// The large-set representation: slab + index + order-statistic tree.
#[derive(Clone, Debug)]
struct Tree {
    entries: Vec<Option<Entry>>,
    free_entries: Vec<u32>,
    index: IndexTable,
    nodes: Vec<Node>,
    free_nodes: Vec<u32>,
    root: u32,
    len: usize,
}

/// The result of adding or updating one member.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Added {
    New,
    Updated { old: f64 },
    Unchanged,
}

fn norm(score: f64) -> f64 {
    assert!(!score.is_nan(), "NaN score reached the sorted set");
    score
}

/// Redis's order: by score, then by member bytes.
pub fn cmp_key(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    s1.partial_cmp(&s2)
        .expect("no NaN scores")
        .then_with(|| m1.cmp(m2))
}

impl Tree {
    pub fn new() -> Tree {
        Tree {
            entries: Vec::new(),
            free_entries: Vec::new(),
            index: IndexTable::default(),
            nodes: vec![Node::Leaf(Vec::new())],
            free_nodes: Vec::new(),
            root: 0,
            len: 0,
        }
    }

    /// Approximate heap bytes used.
    pub fn mem_usage(&self) -> usize {
        let leaves: usize = self
            .nodes
            .iter()
            .map(|n| match n {
                Node::Leaf(v) => v.capacity() * 16 + 24,
                Node::Inner { children, .. } => children.capacity() * 24 + 72,
            })
            .sum();
        self.entries.capacity() * std::mem::size_of::<Option<Entry>>()
            + self
                .entries
                .iter()
                .flatten()
                .map(|e| e.member.len())
                .sum::<usize>()
            + self.index.heap_bytes()
            + leaves
    }

    fn entry(&self, id: u32) -> &Entry {
        self.entries[id as usize].as_ref().expect("live entry id")
    }

    fn key_of<'a>(&'a self) -> impl Fn(u32) -> &'a [u8] + 'a {
        move |id| &self.entry(id).member[..]
    }

    fn id_of(&self, member: &[u8]) -> Option<u32> {
        self.index.find(member, self.key_of())
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.id_of(member).map(|id| self.entry(id).score)
    }

    /// Sets `member`'s score (inserting it if absent).
    pub fn insert(&mut self, member: &[u8], score: f64) -> Added {
        let score = norm(score);
        match self.id_of(member) {
            Some(id) => {
                let old = self.entry(id).score;
                if old == score {
                    return Added::Unchanged;
                }
                self.tree_remove(id);
                self.entries[id as usize].as_mut().expect("live").score = score;
                self.tree_insert(id);
                Added::Updated { old }
            }
            None => {
                assert!(self.len < MAX_MEMBERS, "sorted set too large");
                let e = Entry {
                    member: Member::new(member),
                    score,
                };
                let id = match self.free_entries.pop() {
                    Some(id) => {
                        self.entries[id as usize] = Some(e);
                        id
                    }
                    None => {
                        self.entries.push(Some(e));
                        (self.entries.len() - 1) as u32
                    }
                };
                let entries = &self.entries;
                self.index.insert(member, id, |i| {
                    &entries[i as usize].as_ref().expect("live").member[..]
                });
                self.tree_insert(id);
                self.len += 1;
                Added::New
            }
        }
    }

    /// Removes `member`; returns its score if it was present.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let id = self.id_of(member)?;
        Some(self.remove_id(id).1)
    }

    fn remove_id(&mut self, id: u32) -> (Member, f64) {
        self.tree_remove(id);
        let entries = &self.entries;
        let member = &entries[id as usize].as_ref().expect("live").member;
        let gone = self.index.remove(member, |i| {
            &entries[i as usize].as_ref().expect("live").member[..]
        });
        debug_assert_eq!(gone, Some(id));
        let e = self.entries[id as usize].take().expect("live");
        self.free_entries.push(id);
        self.len -= 1;
        if self.len == 0 {
            *self = Tree::new();
        }
        (e.member, e.score)
    }

    /// 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let id = self.id_of(member)?;
        let e = self.entry(id);
        Some(self.count_before(|o| {
            o.score < e.score || (o.score == e.score && o.member() < &e.member[..])
        }))
    }

    /// (member, score) at ascending rank `r`.
    pub fn at_rank(&self, r: usize) -> Option<(&[u8], f64)> {
        if r >= self.len {
            return None;
        }
        let (leaf, off) = self.locate_rank(r);
        let e = self.entry(self.leaf(leaf)[off].1);
        Some((&e.member, e.score))
    }

    /// Number of members with `pred` true, where `pred` is true for a prefix
    /// of the order (members "before" some bound). O(log n).
    pub fn count_before(&self, pred: impl Fn(&EntryRef) -> bool) -> usize {
        let test = |k: Key| {
            pred(&EntryRef {
                score: k.0,
                src: MemberSrc::Slab(self, k.1),
            })
        };
        let mut node = self.root;
        let mut acc = 0usize;
        loop {
            match &self.nodes[node as usize] {
                Node::Leaf(ids) => return acc + ids.partition_point(|&k| test(k)),
                Node::Inner {
                    children,
                    counts,
                    mins,
                } => {
                    // Children whose smallest entry satisfies pred.
                    let k = mins.partition_point(|&m| test(m));
                    if k == 0 {
                        return acc;
                    }
                    acc += counts[..k - 1].iter().map(|&c| c as usize).sum::<usize>();
                    node = children[k - 1];
                }
            }
        }
    }

    /// Calls `f` for ranks `start..end` ascending (or descending when `rev`,
    /// then `start..end` are ranks in the *reversed* order). O(log n + m).
    pub fn for_range<'a>(
        &'a self,
        start: usize,
        end: usize,
        rev: bool,
        mut f: impl FnMut(&'a [u8], f64),
    ) {
        let end = end.min(self.len);
        let mut r = start;
        while r < end {
            let fwd = if rev { self.len - 1 - r } else { r };
            let (leaf, off) = self.locate_rank(fwd);
            let ids = self.leaf(leaf);
            let step = if rev {
                (off + 1).min(end - r)
            } else {
                (ids.len() - off).min(end - r)
            };
            for k in 0..step {
                let id = if rev { ids[off - k].1 } else { ids[off + k].1 };
                let e = self.entry(id);
                f(&e.member, e.score);
            }
            r += step;
        }
    }

    /// All (member, score) pairs ascending.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let mut out = Vec::with_capacity(self.len);
        self.collect_ids(self.root, &mut out);
        out.into_iter().map(move |id| {
            let e = self.entry(id);
            (&e.member[..], e.score)
        })
    }

    fn collect_ids(&self, node: u32, out: &mut Vec<u32>) {
        match &self.nodes[node as usize] {
            Node::Leaf(ids) => out.extend(ids.iter().map(|k| k.1)),
            Node::Inner { children, .. } => {
                for &c in children {
                    self.collect_ids(c, out);
                }
            }
        }
    }

    /// One ZSCAN step over entry slots `cursor..` (at most `count` slots).
    /// A member keeps its slot for its whole life (score updates do not
    /// move it), so a member present for the whole scan is returned exactly
    /// once. Returns (next cursor, 0 when done; members with scores).
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&[u8], f64)>) {
        let start = (cursor.min(self.entries.len() as u64)) as usize;
        let end = start.saturating_add(count.max(1)).min(self.entries.len());
        let out = self.entries[start..end]
            .iter()
            .flatten()
            .map(|e| (&e.member[..], e.score))
            .collect();
        let next = if end >= self.entries.len() {
            0
        } else {
            end as u64
        };
        (next, out)
    }

    /// Removes the members with ascending ranks `start..end`; returns them.
    pub fn remove_range(&mut self, start: usize, end: usize) -> Vec<(Member, f64)> {
        let end = end.min(self.len);
        let mut ids = Vec::with_capacity(end.saturating_sub(start));
        let mut r = start;
        while r < end {
            let (leaf, off) = self.locate_rank(r);
            let leaf_ids = self.leaf(leaf);
            let step = (leaf_ids.len() - off).min(end - r);
            ids.extend(leaf_ids[off..off + step].iter().map(|k| k.1));
            r += step;
        }
        ids.into_iter().map(|id| self.remove_id(id)).collect()
    }

    fn leaf(&self, node: u32) -> &[Key] {
        match &self.nodes[node as usize] {
            Node::Leaf(ids) => ids,
            Node::Inner { .. } => unreachable!("leaf expected"),
        }
    }

    /// (leaf node, offset) holding ascending rank `r` (< len).
    fn locate_rank(&self, mut r: usize) -> (u32, usize) {
        debug_assert!(r < self.len);
        let mut node = self.root;
        loop {
            match &self.nodes[node as usize] {
                Node::Leaf(ids) => {
                    debug_assert!(r < ids.len());
                    return (node, r);
                }
                Node::Inner {
                    children, counts, ..
                } => {
                    let mut i = 0;
                    while r >= counts[i] as usize {
                        r -= counts[i] as usize;
                        i += 1;
                    }
                    node = children[i];
                }
            }
        }
    }

    /// Tree order on keys: by score, ties by member bytes (slab lookup).
    fn less(&self, a: Key, b: Key) -> bool {
        if a.0 != b.0 {
            return a.0 < b.0;
        }
        self.entry(a.1).member[..] < self.entry(b.1).member[..]
    }

    fn key_of_id(&self, id: u32) -> Key {
        (self.entry(id).score, id)
    }

    fn alloc_node(&mut self, n: Node) -> u32 {
        match self.free_nodes.pop() {
            Some(i) => {
                self.nodes[i as usize] = n;
                i
            }
            None => {
                self.nodes.push(n);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn free_node(&mut self, i: u32) {
        self.nodes[i as usize] = Node::Leaf(Vec::new());
        self.free_nodes.push(i);
    }

    fn tree_insert(&mut self, id: u32) {
        let key = self.key_of_id(id);
        if let Some((right, right_min, right_count)) = self.insert_rec(self.root, key) {
            let left = self.root;
            let left_count = self.subtree_count(left);
            let left_min = self.subtree_min(left);
            self.root = self.alloc_node(Node::Inner {
                children: vec![left, right],
                counts: vec![left_count, right_count],
                mins: vec![left_min, right_min],
            });
        }
    }

    fn subtree_count(&self, node: u32) -> u32 {
        match &self.nodes[node as usize] {
            Node::Leaf(ids) => ids.len() as u32,
            Node::Inner { counts, .. } => counts.iter().sum(),
        }
    }

    fn subtree_min(&self, node: u32) -> Key {
        match &self.nodes[node as usize] {
            Node::Leaf(ids) => ids[0],
            Node::Inner { mins, .. } => mins[0],
        }
    }

    /// Inserts into the subtree at `node`; on split returns the new right
    /// sibling as (node, min key, count).
    fn insert_rec(&mut self, node: u32, id: Key) -> Option<(u32, Key, u32)> {
        let child_pos = match &self.nodes[node as usize] {
            Node::Leaf(ids) => {
                let pos = ids.partition_point(|&x| self.less(x, id));
                let Node::Leaf(ids) = &mut self.nodes[node as usize] else {
                    unreachable!()
                };
                ids.insert(pos, id);
                if ids.len() <= LEAF_CAP {
                    return None;
                }
                let right: Vec<Key> = ids.split_off(ids.len() / 2);
                let (rmin, rcount) = (right[0], right.len() as u32);
                let r = self.alloc_node(Node::Leaf(right));
                return Some((r, rmin, rcount));
            }
            Node::Inner { mins, .. } => mins
                .partition_point(|&m| self.less(m, id))
                .saturating_sub(1),
        };
        let child = match &self.nodes[node as usize] {
            Node::Inner { children, .. } => children[child_pos],
            Node::Leaf(_) => unreachable!(),
        };
        let split = self.insert_rec(child, id);
        let child_min = self.subtree_min(child);
        let Node::Inner {
            children,
            counts,
            mins,
        } = &mut self.nodes[node as usize]
        else {
            unreachable!()
        };
        mins[child_pos] = child_min;
        counts[child_pos] += 1;
        if let Some((r, rmin, rcount)) = split {
            counts[child_pos] -= rcount;
            children.insert(child_pos + 1, r);
            counts.insert(child_pos + 1, rcount);
            mins.insert(child_pos + 1, rmin);
        }
        if children.len() <= INNER_CAP {
            return None;
        }
        let half = children.len() / 2;
        let rc = children.split_off(half);
        let rn = counts.split_off(half);
        let rm = mins.split_off(half);
        let (rmin, rcount) = (rm[0], rn.iter().sum());
        let r = self.alloc_node(Node::Inner {
            children: rc,
            counts: rn,
            mins: rm,
        });
        Some((r, rmin, rcount))
    }

    fn tree_remove(&mut self, id: u32) {
        let key = self.key_of_id(id);
        let found = self.remove_rec(self.root, key);
        assert!(found, "entry missing from the tree");
        // Collapse a root with a single inner child.
        loop {
            let only = match &self.nodes[self.root as usize] {
                Node::Inner { children, .. } if children.len() == 1 => children[0],
                _ => break,
            };
            let old = self.root;
            self.root = only;
            self.free_node(old);
        }
    }

    fn node_len(&self, node: u32) -> usize {
        match &self.nodes[node as usize] {
            Node::Leaf(ids) => ids.len(),
            Node::Inner { children, .. } => children.len(),
        }
    }

    /// Removes `id` from the subtree at `node`; returns whether it was found.
    fn remove_rec(&mut self, node: u32, id: Key) -> bool {
        let child_pos = match &self.nodes[node as usize] {
            Node::Leaf(ids) => {
                let pos = ids.partition_point(|&x| self.less(x, id));
                if ids.get(pos).map(|k| k.1) != Some(id.1) {
                    return false;
                }
                let Node::Leaf(ids) = &mut self.nodes[node as usize] else {
                    unreachable!()
                };
                ids.remove(pos);
                return true;
            }
            // The child whose min is the last one <= id.
            Node::Inner { mins, .. } => mins
                .partition_point(|&m| m.1 == id.1 || self.less(m, id))
                .saturating_sub(1),
        };
        let child = match &self.nodes[node as usize] {
            Node::Inner { children, .. } => children[child_pos],
            Node::Leaf(_) => unreachable!(),
        };
        if !self.remove_rec(child, id) {
            return false;
        }
        let child_len = self.node_len(child);
        let child_min = (child_len > 0).then(|| self.subtree_min(child));
        {
            let Node::Inner {
                children,
                counts,
                mins,
            } = &mut self.nodes[node as usize]
            else {
                unreachable!()
            };
            counts[child_pos] -= 1;
            match child_min {
                None => {
                    children.remove(child_pos);
                    counts.remove(child_pos);
                    mins.remove(child_pos);
                }
                Some(m) => mins[child_pos] = m,
            }
        }
        if child_min.is_none() {
            self.free_node(child);
        } else if child_len < MIN_FILL {
            self.try_merge(node, child_pos);
        }
        true
    }

    /// Merges child `pos` of `node` with a neighbour when both fit in one.
    fn try_merge(&mut self, node: u32, pos: usize) {
        let Node::Inner { children, .. } = &self.nodes[node as usize] else {
            unreachable!()
        };
        let (a, b) = if pos + 1 < children.len() {
            (pos, pos + 1)
        } else if pos > 0 {
            (pos - 1, pos)
        } else {
            return;
        };
        let (na, nb) = (children[a], children[b]);
        let cap = match &self.nodes[na as usize] {
            Node::Leaf(_) => LEAF_CAP,
            Node::Inner { .. } => INNER_CAP,
        };
        if self.node_len(na) + self.node_len(nb) > cap {
            return;
        }
        let taken = std::mem::replace(&mut self.nodes[nb as usize], Node::Leaf(Vec::new()));
        match (&mut self.nodes[na as usize], taken) {
            (Node::Leaf(x), Node::Leaf(y)) => x.extend(y),
            (
                Node::Inner {
                    children: c1,
                    counts: n1,
                    mins: m1,
                },
                Node::Inner {
                    children: c2,
                    counts: n2,
                    mins: m2,
                },
            ) => {
                c1.extend(c2);
                n1.extend(n2);
                m1.extend(m2);
            }
            _ => unreachable!("siblings are at the same depth"),
        }
        self.free_nodes.push(nb);
        let Node::Inner {
            children,
            counts,
            mins,
        } = &mut self.nodes[node as usize]
        else {
            unreachable!()
        };
        counts[a] += counts[b];
        children.remove(b);
        counts.remove(b);
        mins.remove(b);
    }

    /// Checks every structural invariant (tests and debug use). O(n).
    pub fn check_invariants(&self) {
        let ids: Vec<u32> = {
            let mut v = Vec::new();
            self.collect_ids(self.root, &mut v);
            v
        };
        assert_eq!(ids.len(), self.len);
        assert_eq!(self.index.len(), self.len);
        for w in ids.windows(2) {
            let (a, b) = (self.key_of_id(w[0]), self.key_of_id(w[1]));
            assert!(self.less(a, b), "tree out of order");
        }
        for &id in &ids {
            assert_eq!(self.id_of(&self.entry(id).member), Some(id));
        }
        self.check_node(self.root);
    }

    fn check_node(&self, node: u32) -> (u32, Option<Key>) {
        match &self.nodes[node as usize] {
            Node::Leaf(ids) => {
                assert!(ids.len() <= LEAF_CAP);
                for k in ids {
                    assert_eq!(
                        k.0.to_bits(),
                        self.entry(k.1).score.to_bits(),
                        "stale key score"
                    );
                }
                (ids.len() as u32, ids.first().copied())
            }
            Node::Inner {
                children,
                counts,
                mins,
            } => {
                assert!(!children.is_empty() && children.len() <= INNER_CAP);
                assert_eq!(children.len(), counts.len());
                assert_eq!(children.len(), mins.len());
                for i in 0..children.len() {
                    let (c, m) = self.check_node(children[i]);
                    assert!(c > 0, "empty child kept");
                    assert_eq!(c, counts[i]);
                    assert_eq!(m.map(|k| k.1), Some(mins[i].1));
                    assert_eq!(m.map(|k| k.0.to_bits()), Some(mins[i].0.to_bits()));
                }
                (counts.iter().sum(), Some(mins[0]))
            }
        }
    }
}

/// Redis's `zset-max-listpack-entries`: above this many members a sorted set
/// switches to the tree (and never switches back, like Redis).
pub const SMALL_MAX_ENTRIES: usize = 128;
/// Redis's `zset-max-listpack-value`: a longer member switches to the tree.
pub const SMALL_MAX_MEMBER: usize = 64;

/// A score as the packed form keeps it: -0 becomes 0, which is what
/// Redis's listpack round-trip does (its skiplist keeps -0).
fn small_score(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

/// The small-set representation (Redis's listpack): entries packed in one
/// buffer in (score, member) order as `score (8 bytes LE) | len (1) |
/// member`. About 9 bytes of overhead per member; every operation is a
/// linear walk of at most [`SMALL_MAX_ENTRIES`] entries, as in Redis.
#[derive(Clone, Debug, Default)]
struct Packed {
    buf: Vec<u8>,
    len: usize,
}

/// One decoded packed entry: byte offset, member, score.
type Slot<'a> = (usize, &'a [u8], f64);

impl Packed {
    fn entries(&self) -> impl Iterator<Item = Slot<'_>> + '_ {
        let buf = &self.buf[..];
        let mut off = 0usize;
        std::iter::from_fn(move || {
            if off >= buf.len() {
                return None;
            }
            let score = f64::from_le_bytes(buf[off..off + 8].try_into().expect("8 bytes"));
            let n = buf[off + 8] as usize;
            let member = &buf[off + 9..off + 9 + n];
            let at = off;
            off += 9 + n;
            Some((at, member, score))
        })
    }

    fn find(&self, member: &[u8]) -> Option<(usize, usize, f64)> {
        self.entries()
            .enumerate()
            .find(|(_, (_, m, _))| *m == member)
            .map(|(rank, (off, _, s))| (rank, off, s))
    }

    fn entry_len(&self, off: usize) -> usize {
        9 + self.buf[off + 8] as usize
    }

    fn put(&mut self, member: &[u8], score: f64) {
        debug_assert!(member.len() <= SMALL_MAX_MEMBER);
        let off = self
            .entries()
            .find(|(_, m, s)| cmp_key(*s, m, score, member).is_gt())
            .map_or(self.buf.len(), |(off, _, _)| off);
        let mut enc = Vec::with_capacity(9 + member.len());
        enc.extend_from_slice(&score.to_le_bytes());
        enc.push(member.len() as u8);
        enc.extend_from_slice(member);
        self.buf.splice(off..off, enc);
        self.len += 1;
    }

    fn take(&mut self, off: usize) -> (Member, f64) {
        let n = self.entry_len(off);
        let score = f64::from_le_bytes(self.buf[off..off + 8].try_into().expect("8 bytes"));
        let member = Member::new(&self.buf[off + 9..off + n]);
        self.buf.drain(off..off + n);
        self.len -= 1;
        if self.buf.capacity() > 2 * self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
        (member, score)
    }
}

#[derive(Clone, Debug)]
enum Repr {
    Small(Packed),
    Big(Tree),
}

/// A sorted set (see module doc): packed while small, a tree once large.
#[derive(Clone, Debug)]
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet {
            repr: Repr::Small(Packed::default()),
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Small(p) => p.len,
            Repr::Big(t) => t.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What OBJECT ENCODING answers: `listpack` while packed, `skiplist`
    /// once converted (Redis's names; like Redis it never converts back).
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Small(_) => "listpack",
            Repr::Big(_) => "skiplist",
        }
    }

    /// Approximate heap bytes used.
    pub fn mem_usage(&self) -> usize {
        match &self.repr {
            Repr::Small(p) => p.buf.capacity(),
            Repr::Big(t) => t.mem_usage(),
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Small(p) => p.find(member).map(|(_, _, s)| s),
            Repr::Big(t) => t.score(member),
        }
    }

    /// Moves a small set into the tree representation.
    fn convert(&mut self) {
        if let Repr::Small(p) = &self.repr {
            let mut t = Tree::new();
            for (_, m, s) in p.entries() {
                t.insert(m, s);
            }
            self.repr = Repr::Big(t);
        }
    }

    /// An empty set that starts in the tree representation (Redis builds
    /// ZUNION/ZINTER/ZDIFF results as skiplists; see [`ZSet::compact`]).
    pub fn new_large() -> ZSet {
        ZSet {
            repr: Repr::Big(Tree::new()),
        }
    }

    /// Moves a tree that fits the small limits back to the packed form, as
    /// Redis does for the result of a STORE command.
    pub fn compact(&mut self) {
        let fits = matches!(&self.repr, Repr::Big(t) if t.len <= SMALL_MAX_ENTRIES)
            && self.iter().all(|(m, _)| m.len() <= SMALL_MAX_MEMBER);
        if fits {
            let mut p = Packed::default();
            for (m, s) in self.iter() {
                p.put(m, small_score(s));
            }
            self.repr = Repr::Small(p);
        }
    }

    /// Sets `member`'s score (inserting it if absent).
    pub fn insert(&mut self, member: &[u8], score: f64) -> Added {
        let score = norm(score);
        if let Repr::Small(p) = &mut self.repr {
            let score = small_score(score);
            match p.find(member) {
                Some((_, _, old)) if old == score => return Added::Unchanged,
                Some((_, off, old)) => {
                    p.take(off);
                    p.put(member, score);
                    return Added::Updated { old };
                }
                None if p.len < SMALL_MAX_ENTRIES && member.len() <= SMALL_MAX_MEMBER => {
                    p.put(member, score);
                    return Added::New;
                }
                None => self.convert(),
            }
        }
        match &mut self.repr {
            Repr::Big(t) => t.insert(member, score),
            Repr::Small(_) => unreachable!("converted above"),
        }
    }

    /// Removes `member`; returns its score if it was present.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.repr {
            Repr::Small(p) => {
                let (_, off, _) = p.find(member)?;
                Some(p.take(off).1)
            }
            Repr::Big(t) => t.remove(member),
        }
    }

    /// 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.repr {
            Repr::Small(p) => p.find(member).map(|(r, _, _)| r),
            Repr::Big(t) => t.rank(member),
        }
    }

    /// (member, score) at ascending rank `r`.
    pub fn at_rank(&self, r: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Small(p) => p.entries().nth(r).map(|(_, m, s)| (m, s)),
            Repr::Big(t) => t.at_rank(r),
        }
    }

    /// Number of members with `pred` true, where `pred` is true for a prefix
    /// of the order (members "before" some bound). O(log n) on the tree.
    pub fn count_before(&self, pred: impl Fn(&EntryRef) -> bool) -> usize {
        match &self.repr {
            Repr::Small(p) => p
                .entries()
                .take_while(|(_, member, score)| {
                    pred(&EntryRef {
                        score: *score,
                        src: MemberSrc::Bytes(member),
                    })
                })
                .count(),
            Repr::Big(t) => t.count_before(pred),
        }
    }

    /// Calls `f` for ranks `start..end` ascending (or descending when `rev`,
    /// then `start..end` are ranks in the *reversed* order). O(log n + m).
    pub fn for_range<'a>(
        &'a self,
        start: usize,
        end: usize,
        rev: bool,
        mut f: impl FnMut(&'a [u8], f64),
    ) {
        match &self.repr {
            Repr::Small(p) => {
                let end = end.min(p.len);
                if start >= end {
                    return;
                }
                let all: Vec<Slot<'a>> = p.entries().collect();
                if rev {
                    all.iter()
                        .rev()
                        .skip(start)
                        .take(end - start)
                        .for_each(|(_, m, s)| f(m, *s));
                } else {
                    all[start..end].iter().for_each(|(_, m, s)| f(m, *s));
                }
            }
            Repr::Big(t) => t.for_range(start, end, rev, f),
        }
    }

    /// All (member, score) pairs ascending.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match &self.repr {
            Repr::Small(p) => Box::new(p.entries().map(|(_, m, s)| (m, s))),
            Repr::Big(t) => Box::new(t.iter()),
        }
    }

    /// One ZSCAN step (see `Tree::scan`); a small set is returned whole.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&[u8], f64)>) {
        match &self.repr {
            Repr::Small(_) => (0, self.iter().collect()),
            Repr::Big(t) => t.scan(cursor, count),
        }
    }

    /// Removes the members with ascending ranks `start..end`; returns them.
    pub fn remove_range(&mut self, start: usize, end: usize) -> Vec<(Member, f64)> {
        match &mut self.repr {
            Repr::Small(p) => {
                let end = end.min(p.len);
                let Some((off, _, _)) = p.entries().nth(start).filter(|_| start < end) else {
                    return Vec::new();
                };
                (start..end).map(|_| p.take(off)).collect()
            }
            Repr::Big(t) => t.remove_range(start, end),
        }
    }

    /// Removes and returns the member with ascending rank `r`.
    pub fn pop_rank(&mut self, r: usize) -> Option<(Member, f64)> {
        self.remove_range(r, r + 1).pop()
    }

    /// Checks every structural invariant (tests and debug use). O(n).
    pub fn check_invariants(&self) {
        match &self.repr {
            Repr::Small(p) => {
                let all: Vec<Slot> = p.entries().collect();
                assert_eq!(all.len(), p.len);
                assert!(p.len <= SMALL_MAX_ENTRIES);
                for w in all.windows(2) {
                    assert!(
                        cmp_key(w[0].2, w[0].1, w[1].2, w[1].1).is_lt(),
                        "packed out of order"
                    );
                }
            }
            Repr::Big(t) => t.check_invariants(),
        }
    }
}

/// A score interval as ZRANGEBYSCORE takes it (`(` marks an open end).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub min_open: bool,
    pub max: f64,
    pub max_open: bool,
}

impl ScoreRange {
    /// True when no score can fall inside (Redis checks this before walking).
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_open || self.max_open))
    }
}

/// One end of a lex interval: `-`, `+`, `[member` or `(member`.
#[derive(Clone, Debug, PartialEq)]
pub enum LexBound {
    NegInf,
    PosInf,
    Closed(Vec<u8>),
    Open(Vec<u8>),
}

/// A member interval as ZRANGEBYLEX takes it.
#[derive(Clone, Debug, PartialEq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    /// True when no member can fall inside.
    pub fn is_empty(&self) -> bool {
        use LexBound::*;
        match (&self.min, &self.max) {
            (PosInf, _) | (_, NegInf) => true,
            (NegInf, _) | (_, PosInf) => false,
            (Closed(a), Closed(b)) => a > b,
            (Closed(a) | Open(a), Closed(b) | Open(b)) => a >= b,
        }
    }
}

impl ZSet {
    /// Ascending ranks `start..end` of the members whose score is in `r`.
    pub fn score_span(&self, r: &ScoreRange) -> (usize, usize) {
        if r.is_empty() {
            return (0, 0);
        }
        let start = self.count_before(|e| {
            if r.min_open {
                e.score <= r.min
            } else {
                e.score < r.min
            }
        });
        let end = self.count_before(|e| {
            if r.max_open {
                e.score < r.max
            } else {
                e.score <= r.max
            }
        });
        (start, end.max(start))
    }

    /// Ascending ranks `start..end` of the members inside `r` (meaningful
    /// when all scores are equal, as Redis documents).
    pub fn lex_span(&self, r: &LexRange) -> (usize, usize) {
        if r.is_empty() {
            return (0, 0);
        }
        let below = |b: &LexBound, upper: bool| -> usize {
            match b {
                LexBound::NegInf => 0,
                LexBound::PosInf => self.len(),
                LexBound::Closed(x) if upper => self.count_before(|e| e.member() <= &x[..]),
                LexBound::Closed(x) => self.count_before(|e| e.member() < &x[..]),
                LexBound::Open(x) if upper => self.count_before(|e| e.member() < &x[..]),
                LexBound::Open(x) => self.count_before(|e| e.member() <= &x[..]),
            }
        };
        let start = below(&r.min, false);
        let end = below(&r.max, true);
        (start, end.max(start))
    }
}

/// A view of one entry passed to range predicates. The member is fetched
/// only when asked ([`EntryRef::member`]), so score predicates never touch
/// the entry slab.
pub struct EntryRef<'a> {
    pub score: f64,
    src: MemberSrc<'a>,
}

enum MemberSrc<'a> {
    Bytes(&'a [u8]),
    Slab(&'a Tree, u32),
}

impl EntryRef<'_> {
    /// The entry's member bytes.
    pub fn member(&self) -> &[u8] {
        match self.src {
            MemberSrc::Bytes(b) => b,
            MemberSrc::Slab(t, id) => &t.entry(id).member,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    /// The naive model: a sorted Vec of (score, member).
    fn model_sorted(m: &std::collections::HashMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<_> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
        v.sort_by(|a, b| cmp_key(a.1, &a.0, b.1, &b.0));
        v
    }

    #[test]
    fn random_ops_match_sorted_vec_model() {
        for seed in 0..6u64 {
            let mut r = rng(seed);
            let mut z = ZSet::new();
            let mut model = std::collections::HashMap::new();
            let universe = [20u64, 300, 3000][seed as usize % 3];
            for step in 0..6000 {
                let m = format!("m{}", r() % universe).into_bytes();
                match r() % 10 {
                    0..=4 => {
                        let s = match r() % 20 {
                            0 => f64::INFINITY,
                            1 => f64::NEG_INFINITY,
                            2 => -0.0,
                            _ => (r() % 50) as f64 - 25.0,
                        };
                        z.insert(&m, s);
                        model.insert(m, if s == 0.0 { 0.0 } else { s });
                    }
                    5..=7 => assert_eq!(z.remove(&m), model.remove(&m)),
                    8 => {
                        let sorted = model_sorted(&model);
                        if !sorted.is_empty() {
                            let a = (r() as usize) % sorted.len();
                            let b = a + (r() as usize) % 10;
                            let gone = z.remove_range(a, b);
                            let want = &sorted[a..b.min(sorted.len())];
                            assert_eq!(gone.len(), want.len());
                            for (g, w) in gone.iter().zip(want) {
                                assert_eq!(&g.0[..], &w.0[..]);
                                model.remove(&w.0);
                            }
                        }
                    }
                    _ => {
                        let sorted = model_sorted(&model);
                        let pos = sorted.iter().position(|(k, _)| *k == m);
                        assert_eq!(z.rank(&m), pos);
                        let bound = (r() % 50) as f64 - 25.0;
                        let want = sorted.iter().filter(|e| e.1 < bound).count();
                        assert_eq!(z.count_before(|e| e.score < bound), want);
                        if !sorted.is_empty() {
                            let a = (r() as usize) % sorted.len();
                            let b = a + (r() as usize) % 100;
                            let rev = r().is_multiple_of(2);
                            let mut got = Vec::new();
                            z.for_range(a, b, rev, |m, s| got.push((m.to_vec(), s)));
                            let mut want: Vec<_> = sorted.clone();
                            if rev {
                                want.reverse();
                            }
                            assert_eq!(got, want[a..b.min(want.len())].to_vec());
                            let (am, asc) = z.at_rank(a).unwrap();
                            assert_eq!((am.to_vec(), asc), sorted[a].clone());
                        }
                    }
                }
                assert_eq!(z.len(), model.len());
                if step % 500 == 0 {
                    z.check_invariants();
                }
            }
            z.check_invariants();
            let all: Vec<_> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
            assert_eq!(all, model_sorted(&model));
        }
    }

    #[test]
    fn score_and_lex_spans() {
        let mut z = ZSet::new();
        for (i, m) in ["a", "b", "c", "d"].iter().enumerate() {
            z.insert(m.as_bytes(), i as f64);
        }
        let sr = |min, min_open, max, max_open| ScoreRange {
            min,
            min_open,
            max,
            max_open,
        };
        assert_eq!(z.score_span(&sr(1.0, false, 2.0, false)), (1, 3));
        assert_eq!(z.score_span(&sr(1.0, true, 2.0, true)), (2, 2));
        assert_eq!(
            z.score_span(&sr(f64::NEG_INFINITY, false, f64::INFINITY, false)),
            (0, 4)
        );
        assert_eq!(z.score_span(&sr(3.0, false, 1.0, false)), (0, 0));
        let mut l = ZSet::new();
        for m in ["a", "b", "c", "d"] {
            l.insert(m.as_bytes(), 0.0);
        }
        let lr = |min, max| LexRange { min, max };
        use LexBound::*;
        assert_eq!(l.lex_span(&lr(NegInf, PosInf)), (0, 4));
        assert_eq!(
            l.lex_span(&lr(Closed(b"b".to_vec()), Open(b"d".to_vec()))),
            (1, 3)
        );
        assert_eq!(
            l.lex_span(&lr(Open(b"b".to_vec()), Closed(b"d".to_vec()))),
            (2, 4)
        );
        assert_eq!(l.lex_span(&lr(PosInf, PosInf)), (0, 0));
        assert_eq!(
            l.lex_span(&lr(Open(b"b".to_vec()), Open(b"b".to_vec()))),
            (0, 0)
        );
    }

    #[test]
    fn update_moves_member() {
        let mut z = ZSet::new();
        assert_eq!(z.insert(b"a", 1.0), Added::New);
        assert_eq!(z.insert(b"b", 2.0), Added::New);
        assert_eq!(z.insert(b"a", 3.0), Added::Updated { old: 1.0 });
        assert_eq!(z.insert(b"a", 3.0), Added::Unchanged);
        assert_eq!(z.rank(b"a"), Some(1));
        assert_eq!(z.at_rank(0), Some((&b"b"[..], 2.0)));
        assert_eq!(z.score(b"zz"), None);
    }

    #[test]
    fn ties_break_by_member_bytes() {
        let mut z = ZSet::new();
        z.insert(b"b", 1.0);
        z.insert(b"a", 1.0);
        z.insert(b"c", f64::NEG_INFINITY);
        let v: Vec<_> = z.iter().map(|(m, _)| m.to_vec()).collect();
        assert_eq!(v, vec![b"c".to_vec(), b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn big_sequential_insert_and_pop() {
        let mut z = ZSet::new();
        for i in 0..20_000u32 {
            z.insert(&i.to_be_bytes(), f64::from(i % 1000));
        }
        z.check_invariants();
        for _ in 0..19_990 {
            z.pop_rank(0).unwrap();
        }
        z.check_invariants();
        assert_eq!(z.len(), 10);
    }
}

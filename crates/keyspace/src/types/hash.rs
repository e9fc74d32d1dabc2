//! The hash payload type (field → value).
//!
//! A hash table with the fixed hasher. Order-dependent commands (HSCAN,
//! HRANDFIELD) never rely on the table's iteration order, which depends on
//! history (a snapshot-restored replica has a different one); they order
//! fields by `(hash_bytes(field), field)` instead, which depends only on
//! content.

use crate::rng::{hash_bytes, FixedState};
use hashbrown::HashMap;

/// Redis's `hash-max-listpack-entries` default: above it OBJECT ENCODING
/// says `hashtable`.
pub const LISTPACK_MAX_ENTRIES: usize = 128;
/// Redis's `hash-max-listpack-value` default.
pub const LISTPACK_MAX_VALUE: usize = 64;

/// A Redis hash.
#[derive(Clone, Debug, Default)]
pub struct Hash {
    map: HashMap<Box<[u8]>, Box<[u8]>, FixedState>,
    /// Sticky, like Redis: once converted to a hashtable it never goes back.
    big: bool,
}

impl PartialEq for Hash {
    fn eq(&self, other: &Hash) -> bool {
        self.map == other.map
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.map.get(field).map(|v| &v[..])
    }
    /// Sets `field`; returns true if the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if field.len() > LISTPACK_MAX_VALUE || value.len() > LISTPACK_MAX_VALUE {
            self.big = true;
        }
        let new = match self.map.get_mut(field) {
            Some(v) => {
                *v = value.into();
                false
            }
            None => {
                self.map.insert(field.into(), value.into());
                true
            }
        };
        if self.map.len() > LISTPACK_MAX_ENTRIES {
            self.big = true;
        }
        new
    }
    pub fn remove(&mut self, field: &[u8]) -> bool {
        self.map.remove(field).is_some()
    }
    /// Pairs in table order (history dependent; fine for HGETALL).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.map.iter().map(|(k, v)| (&k[..], &v[..]))
    }
    /// Pairs ordered by `(hash_bytes(field), field)`: content-defined order
    /// used by HSCAN cursors and HRANDFIELD.
    pub fn canonical(&self) -> Vec<(u64, &[u8], &[u8])> {
        let mut v: Vec<(u64, &[u8], &[u8])> = self
            .map
            .iter()
            .map(|(k, val)| (hash_bytes(k), &k[..], &val[..]))
            .collect();
        v.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        v
    }
    pub fn encoding(&self) -> &'static str {
        if self.big {
            "hashtable"
        } else {
            "listpack"
        }
    }
    pub fn mem_usage(&self) -> usize {
        self.map.iter().map(|(k, v)| k.len() + v.len() + 40).sum()
    }
}

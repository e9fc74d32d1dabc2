//! Value types stored under a key.
//!
//! `Value` is kept at 24 bytes (a tag + a boxed payload) so the per-key
//! node stays small (see `db.rs` for the memory budget). Strings are a
//! boxed slice sized exactly (no spare capacity); collections are boxed.
//!
//! Ownership: `hash.rs` belongs to the core; `list.rs`, `set.rs`, `zset.rs`
//! belong to K2 (lists/sets/zsets), who may change their internals but
//! must keep the small contract documented at the top of each file.

use crate::small::SmallBytes;

pub mod hash;
pub mod list;
pub mod set;
pub mod zset;

pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use zset::ZSet;

/// What a key holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Short strings inline ([`SmallBytes`]), no heap block.
    Str(SmallBytes),
    List(Box<List>),
    Hash(Box<Hash>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
}

impl Value {
    /// The name TYPE replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// True for an empty collection (Redis deletes those keys). Strings are
    /// never "empty" in that sense: `SET k ""` keeps the key.
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(l) => l.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        }
    }

    /// What OBJECT ENCODING answers.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => string_encoding(s),
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
        }
    }

    /// Approximate heap bytes used by the payload.
    pub fn mem_usage(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_len(),
            Value::List(l) => l.mem_usage(),
            Value::Hash(h) => h.mem_usage(),
            Value::Set(s) => s.mem_usage(),
            Value::ZSet(z) => z.mem_usage(),
        }
    }
}

/// Redis: `int` if the string is a canonical i64 of at most 20 chars,
/// `embstr` if at most 44 bytes, else `raw`. (Redis keeps `raw` after an
/// APPEND/SETRANGE on a short string; we recompute from content.)
fn string_encoding(s: &[u8]) -> &'static str {
    if s.len() <= 20 && crate::args::parse_canonical_i64(s).is_some() {
        "int"
    } else if s.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}

/// Typed access to the payload of a [`Value`], so handlers can ask the db
/// for "the list at key" (`db.get_mut::<List>(..)`) and get WRONGTYPE
/// handled in one place.
pub trait Kind: Sized {
    /// A new empty payload, as a `Value` (used when a write creates a key).
    fn new_value() -> Value;
    fn from_ref(v: &Value) -> Option<&Self>;
    fn from_mut(v: &mut Value) -> Option<&mut Self>;
}

macro_rules! kind {
    ($t:ident, $variant:ident) => {
        impl Kind for $t {
            fn new_value() -> Value {
                Value::$variant(Box::default())
            }
            fn from_ref(v: &Value) -> Option<&Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
            fn from_mut(v: &mut Value) -> Option<&mut Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
        }
    };
}
impl Kind for Value {
    fn new_value() -> Value {
        Value::Str(SmallBytes::default())
    }
    fn from_ref(v: &Value) -> Option<&Self> {
        Some(v)
    }
    fn from_mut(v: &mut Value) -> Option<&mut Self> {
        Some(v)
    }
}

kind!(List, List);
kind!(Hash, Hash);
kind!(Set, Set);
kind!(ZSet, ZSet);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_small() {
        assert!(std::mem::size_of::<Value>() <= 24);
    }

    #[test]
    fn string_encodings() {
        assert_eq!(string_encoding(b"123"), "int");
        assert_eq!(string_encoding(b"0123"), "embstr");
        assert_eq!(string_encoding(&[b'a'; 44]), "embstr");
        assert_eq!(string_encoding(&[b'a'; 45]), "raw");
    }
}

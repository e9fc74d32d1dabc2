//! Identifiers shared by every slotraft crate, and the key → slot function.
//!
//! Why newtypes: a Raft implementation juggles several kinds of `u64` (terms,
//! log indexes, node ids, group ids). Mixing them up is a classic source of
//! silent safety bugs, so each gets its own type and the compiler keeps them
//! apart. Conversions are explicit (`.get()` / `::new`).
//!
//! This crate is sans-IO and has no dependencies. It also holds the one
//! memory hint the hot loops share ([`hint`]).

#![deny(unsafe_code)] // one audited exception: `hint::prefetch_read`

pub mod hint;
mod slot;

pub use slot::{key_hash_tag, key_slot, SlotId, SLOT_COUNT};

use std::fmt;

macro_rules! id_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub u64);

        impl $name {
            pub const ZERO: $name = $name(0);

            #[inline]
            pub const fn new(v: u64) -> Self {
                $name(v)
            }

            #[inline]
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl From<u64> for $name {
            fn from(v: u64) -> Self {
                $name(v)
            }
        }
    };
}

id_newtype!(
    /// A Raft term. Terms only grow; 0 means "no term yet".
    Term
);
id_newtype!(
    /// A position in a Raft log. The first real entry has index 1; 0 means
    /// "before the first entry".
    LogIndex
);
id_newtype!(
    /// A node (one `slotraft` process) in the cluster. 0 is never a valid node.
    NodeId
);
id_newtype!(
    /// A Raft group: one shard, or the metadata group. Group 0 is the metadata
    /// group by convention.
    GroupId
);

impl Term {
    /// The next term (used when starting an election).
    #[inline]
    pub fn next(self) -> Term {
        Term(self.0.checked_add(1).expect("term overflow"))
    }
}

impl LogIndex {
    #[inline]
    pub fn next(self) -> LogIndex {
        LogIndex(self.0.checked_add(1).expect("log index overflow"))
    }

    /// The previous index, saturating at 0.
    #[inline]
    pub fn prev(self) -> LogIndex {
        LogIndex(self.0.saturating_sub(1))
    }
}

impl GroupId {
    /// The Raft group that holds the cluster map.
    pub const METADATA: GroupId = GroupId(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newtypes_order_and_display() {
        assert!(Term(3) > Term(2));
        assert_eq!(Term(3).next(), Term(4));
        assert_eq!(LogIndex(0).prev(), LogIndex(0));
        assert_eq!(LogIndex(5).next(), LogIndex(6));
        assert_eq!(format!("{}", NodeId(7)), "7");
        assert_eq!(format!("{:?}", GroupId(7)), "GroupId(7)");
    }
}

//! Redis Cluster's key → slot mapping: `CRC16-XMODEM(key) mod 16384`, hashing
//! only the `{tag}` part of the key when it has a non-empty one.
//!
//! This must be bit-for-bit what Redis does (cluster.c `keyHashSlot`), or
//! cluster clients would route keys to the wrong node.

use std::fmt;

/// Number of hash slots in a Redis cluster.
pub const SLOT_COUNT: u16 = 16384;

/// A hash slot, `0..16384`.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SlotId(u16);

impl SlotId {
    /// Builds a slot id; panics if out of range (an invariant violation).
    #[inline]
    pub fn new(v: u16) -> SlotId {
        assert!(v < SLOT_COUNT, "slot {v} out of range");
        SlotId(v)
    }

    /// Builds a slot id from a number a client sent, if it is in range.
    pub fn try_new(v: i64) -> Option<SlotId> {
        if (0..SLOT_COUNT as i64).contains(&v) {
            Some(SlotId(v as u16))
        } else {
            None
        }
    }

    #[inline]
    pub fn get(self) -> u16 {
        self.0
    }

    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// All slots in order.
    pub fn all() -> impl Iterator<Item = SlotId> {
        (0..SLOT_COUNT).map(SlotId)
    }
}

impl fmt::Debug for SlotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SlotId({})", self.0)
    }
}

impl fmt::Display for SlotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// CRC16 with the XMODEM parameters (poly 0x1021, init 0, no reflection),
/// table-driven. The table is computed at compile time.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC16-XMODEM of `data`.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc = (crc << 8) ^ CRC16_TABLE[(((crc >> 8) as u8) ^ b) as usize];
    }
    crc
}

/// The part of `key` that is hashed: the bytes between the first `{` and the
/// first `}` after it, if that is non-empty; otherwise the whole key.
pub fn key_hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The hash slot of `key`.
#[inline]
pub fn key_slot(key: &[u8]) -> SlotId {
    SlotId(crc16(key_hash_tag(key)) & (SLOT_COUNT - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_reference_vector() {
        // The check value of CRC-16/XMODEM, also used in the Redis Cluster spec.
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn slots_match_redis() {
        // Values from `redis-cli CLUSTER KEYSLOT`.
        assert_eq!(key_slot(b"foo").get(), 12182);
        assert_eq!(key_slot(b"bar").get(), 5061);
        assert_eq!(key_slot(b"hello").get(), 866);
        assert_eq!(key_slot(b"").get(), 0);
    }

    #[test]
    fn hash_tags() {
        assert_eq!(key_hash_tag(b"{user1000}.following"), b"user1000");
        assert_eq!(
            key_slot(b"{user1000}.following"),
            key_slot(b"{user1000}.followers")
        );
        // Empty tag: the whole key is hashed.
        assert_eq!(key_hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        // Only the first `{` counts.
        assert_eq!(key_hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(key_hash_tag(b"foo{bar}{zap}"), b"bar");
        // No closing brace.
        assert_eq!(key_hash_tag(b"foo{bar"), b"foo{bar");
    }

    #[test]
    fn slot_bounds() {
        assert!(SlotId::try_new(16383).is_some());
        assert!(SlotId::try_new(16384).is_none());
        assert!(SlotId::try_new(-1).is_none());
        assert_eq!(SlotId::all().count(), 16384);
    }
}

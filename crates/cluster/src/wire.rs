//! A tiny bounded binary codec: little-endian integers, length-prefixed byte
//! strings and counted sequences.
//!
//! Why hand-written: the metadata commands and gossip messages cross process
//! boundaries and are read from disk, so decoding must never panic and never
//! allocate from a length it has not checked. Every count read goes through
//! [`Reader::count`], which checks it against a caller-named limit *and*
//! against the bytes actually left (each element needs at least one byte), so
//! a 4-byte lie cannot make us reserve gigabytes.

use std::fmt;

/// Why a byte string could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended before the value did.
    Truncated,
    /// The version byte is not one this code understands.
    UnknownVersion(u8),
    /// An enum tag is not known.
    UnknownTag { what: &'static str, tag: u8 },
    /// A count or length is above its named limit.
    TooLarge {
        what: &'static str,
        len: u64,
        max: u64,
    },
    /// A value is structurally invalid (e.g. slot out of range).
    Invalid(&'static str),
    /// Bytes were left over after the value.
    TrailingBytes(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "input truncated"),
            DecodeError::UnknownVersion(v) => write!(f, "unknown version {v}"),
            DecodeError::UnknownTag { what, tag } => write!(f, "unknown {what} tag {tag}"),
            DecodeError::TooLarge { what, len, max } => {
                write!(f, "{what} length {len} exceeds limit {max}")
            }
            DecodeError::Invalid(what) => write!(f, "invalid {what}"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} trailing bytes"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Appends encoded values to a buffer.
#[derive(Default, Debug)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u128(&mut self, v: u128) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bool(&mut self, v: bool) {
        self.u8(v as u8);
    }

    /// A sequence length. Panics if it does not fit in `u32` (the encoder is
    /// only ever given values that passed the same limits the decoder checks).
    pub fn count(&mut self, n: usize) {
        self.u32(u32::try_from(n).expect("sequence length fits in u32"));
    }

    /// A length-prefixed byte string.
    pub fn bytes(&mut self, b: &[u8]) {
        self.count(b.len());
        self.buf.extend_from_slice(b);
    }
}

/// Reads encoded values from a byte slice; never panics.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn u128(&mut self) -> Result<u128, DecodeError> {
        Ok(u128::from_le_bytes(self.array()?))
    }

    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid("bool")),
        }
    }

    /// A sequence length, checked against `max` and against the bytes left
    /// (`min_elem_size` bytes per element at least), so callers may
    /// `Vec::with_capacity` it safely.
    pub fn count(
        &mut self,
        what: &'static str,
        max: usize,
        min_elem_size: usize,
    ) -> Result<usize, DecodeError> {
        debug_assert!(min_elem_size > 0);
        let n = self.u32()? as usize;
        if n > max {
            return Err(DecodeError::TooLarge {
                what,
                len: n as u64,
                max: max as u64,
            });
        }
        if n.saturating_mul(min_elem_size) > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }

    /// A length-prefixed byte string of at most `max` bytes.
    pub fn bytes(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let n = self.count(what, max, 1)?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_primitives() {
        let mut w = Writer::new();
        w.u8(7);
        w.u16(0xBEEF);
        w.u32(123_456);
        w.u64(u64::MAX);
        w.u128(1 << 100);
        w.bool(true);
        w.bytes(b"abc");
        let b = w.into_bytes();
        let mut r = Reader::new(&b);
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u16().unwrap(), 0xBEEF);
        assert_eq!(r.u32().unwrap(), 123_456);
        assert_eq!(r.u64().unwrap(), u64::MAX);
        assert_eq!(r.u128().unwrap(), 1 << 100);
        assert!(r.bool().unwrap());
        assert_eq!(r.bytes("s", 3).unwrap(), b"abc");
        r.finish().unwrap();
    }

    #[test]
    fn counts_are_bounded_by_limit_and_input() {
        let mut w = Writer::new();
        w.u32(1_000_000);
        let b = w.into_bytes();
        assert!(matches!(
            Reader::new(&b).count("x", 10, 1),
            Err(DecodeError::TooLarge { .. })
        ));
        // Within the limit but more elements than bytes left.
        assert_eq!(
            Reader::new(&b).count("x", usize::MAX, 8),
            Err(DecodeError::Truncated)
        );
        let mut r = Reader::new(&[1, 2]);
        assert_eq!(r.u32(), Err(DecodeError::Truncated));
        assert_eq!(Reader::new(&[2]).bool(), Err(DecodeError::Invalid("bool")));
    }
}

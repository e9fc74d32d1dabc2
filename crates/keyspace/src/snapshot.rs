//! Snapshot and DUMP/RESTORE serialization.
//!
//! Snapshot stream (all integers little-endian):
//! ```text
//! magic "SLRFTKS1" | format u32 | op_counter u64 | last_now_ms u64
//! | nranges u32 | (start u16, end u16)*            -- slots covered
//! | records: 0x01 slot u16 slot_deleted u64         -- per covered slot that
//! |                                                    has keys or deletes
//! |          0x02 key value expire_at u64 version u64
//! | 0xFF key_count u64 | crc32 u32                  -- CRC of all before it
//! ```
//! It is written key by key (streaming, no giant buffer) and read the same
//! way into a staging keyspace, which replaces the live slots only once
//! the CRC checked out: a corrupt snapshot changes nothing. Lengths from
//! the stream are never trusted for preallocation.
//!
//! Values (`type u8` + payload, lengths as LEB128 varints) use the same
//! encoding in DUMP payloads: `value | format u16 | crc32 u32`.

use crate::args::MAX_STRING_LEN;
use crate::db::Db;
use crate::small::SmallBytes;
use crate::types::{Hash, List, Set, Value, ZSet};
use crate::{FrozenKeyspace, Keyspace};
use std::io::{self, Read, Write};
use std::ops::RangeInclusive;

pub const MAGIC: &[u8; 8] = b"SLRFTKS1";
/// Version of the snapshot stream format.
pub const FORMAT_VERSION: u32 = 1;
/// Version of DUMP payloads.
pub const DUMP_VERSION: u16 = 1;
/// Most ranges a snapshot header may list.
pub const MAX_RANGES: u32 = 16384;

const T_SLOT: u8 = 0x01;
const T_KEY: u8 = 0x02;
const T_END: u8 = 0xFF;

const V_STR: u8 = 0;
const V_LIST: u8 = 1;
const V_HASH: u8 = 2;
const V_SET: u8 = 3;
const V_ZSET: u8 = 4;

// ----- CRC32 (IEEE, reflected), table built at compile time -----

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Incremental CRC32.
#[derive(Clone, Copy, Debug)]
pub struct Crc32(u32);

impl Crc32 {
    pub fn new() -> Crc32 {
        Crc32(0xFFFF_FFFF)
    }
    pub fn update(&mut self, data: &[u8]) {
        let mut c = self.0;
        for &b in data {
            c = CRC_TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }
    pub fn finish(&self) -> u32 {
        self.0 ^ 0xFFFF_FFFF
    }
}

impl Default for Crc32 {
    fn default() -> Self {
        Crc32::new()
    }
}

/// One-shot CRC32.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(data);
    c.finish()
}

struct CrcWriter<'a, W: Write> {
    inner: &'a mut W,
    crc: Crc32,
}

impl<W: Write> CrcWriter<'_, W> {
    fn put(&mut self, data: &[u8]) -> io::Result<()> {
        self.crc.update(data);
        self.inner.write_all(data)
    }
}

struct CrcReader<'a, R: Read> {
    inner: &'a mut R,
    crc: Crc32,
}

impl<R: Read> Read for CrcReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

// ----- primitive encoding -----

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn read_u8(r: &mut impl Read) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

fn read_u16(r: &mut impl Read) -> io::Result<u16> {
    let mut b = [0u8; 2];
    r.read_exact(&mut b)?;
    Ok(u16::from_le_bytes(b))
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn read_varint(r: &mut impl Read) -> io::Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = read_u8(r)?;
        v |= ((b & 0x7F) as u64) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(bad("varint too long"))
}

/// Reads a length-prefixed byte string; grows the buffer as bytes arrive.
fn read_bytes(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let len = read_varint(r)?;
    if len > MAX_STRING_LEN as u64 {
        return Err(bad("string too long"));
    }
    let mut v = Vec::new();
    r.take(len).read_to_end(&mut v)?;
    if v.len() as u64 != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(v)
}

// ----- values -----

/// Appends the encoding of a value.
pub fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Str(s) => {
            out.push(V_STR);
            put_bytes(out, s);
        }
        Value::List(l) => {
            out.push(V_LIST);
            put_varint(out, l.len() as u64);
            l.iter().for_each(|e| put_bytes(out, e));
        }
        Value::Hash(h) => {
            out.push(V_HASH);
            put_varint(out, h.len() as u64);
            for (f, val) in h.iter() {
                put_bytes(out, f);
                put_bytes(out, val);
            }
        }
        Value::Set(s) => {
            out.push(V_SET);
            put_varint(out, s.len() as u64);
            s.iter().for_each(|e| put_bytes(out, e));
        }
        Value::ZSet(z) => {
            out.push(V_ZSET);
            put_varint(out, z.len() as u64);
            for (m, score) in z.iter() {
                put_bytes(out, m);
                out.extend_from_slice(&score.to_bits().to_le_bytes());
            }
        }
    }
}

/// Decodes one value. Rejects empty collections and NaN scores (states a
/// live keyspace never holds).
pub fn decode_value(r: &mut impl Read) -> io::Result<Value> {
    let t = read_u8(r)?;
    if t == V_STR {
        return Ok(Value::Str(SmallBytes::from_vec(read_bytes(r)?)));
    }
    let n = read_varint(r)?;
    if n == 0 {
        return Err(bad("empty collection"));
    }
    let v = match t {
        V_LIST => {
            let mut l = List::new();
            for _ in 0..n {
                l.push_back(&read_bytes(r)?);
            }
            Value::List(Box::new(l))
        }
        V_HASH => {
            let mut h = Hash::new();
            for _ in 0..n {
                let f = read_bytes(r)?;
                let val = read_bytes(r)?;
                if !h.insert(&f, &val) {
                    return Err(bad("duplicate hash field"));
                }
            }
            Value::Hash(Box::new(h))
        }
        V_SET => {
            let mut s = Set::new();
            for _ in 0..n {
                if !s.insert(&read_bytes(r)?) {
                    return Err(bad("duplicate set member"));
                }
            }
            Value::Set(Box::new(s))
        }
        V_ZSET => {
            let mut z = ZSet::new();
            for _ in 0..n {
                let m = read_bytes(r)?;
                let score = f64::from_bits(read_u64(r)?);
                if score.is_nan() {
                    return Err(bad("NaN score"));
                }
                z.insert(&m, score);
            }
            if z.len() as u64 != n {
                return Err(bad("duplicate zset member"));
            }
            Value::ZSet(Box::new(z))
        }
        _ => return Err(bad("unknown value type")),
    };
    Ok(v)
}

/// DUMP payload: `value | DUMP_VERSION u16 | crc32 u32`.
pub fn dump_payload(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(v, &mut out);
    out.extend_from_slice(&DUMP_VERSION.to_le_bytes());
    let c = crc32(&out);
    out.extend_from_slice(&c.to_le_bytes());
    out
}

/// Why a RESTORE payload was rejected.
#[derive(Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// Wrong version or checksum ("ERR DUMP payload version or checksum are wrong").
    VersionOrChecksum,
    /// Checksum fine but content invalid ("ERR Bad data format").
    BadData,
}

/// Verifies and decodes a DUMP payload.
pub fn parse_payload(p: &[u8]) -> Result<Value, PayloadError> {
    if p.len() < 6 {
        return Err(PayloadError::VersionOrChecksum);
    }
    let (body, crc) = p.split_at(p.len() - 4);
    let ver = u16::from_le_bytes([body[body.len() - 2], body[body.len() - 1]]);
    if ver != DUMP_VERSION || crc32(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut data = &body[..body.len() - 2];
    let v = decode_value(&mut data).map_err(|_| PayloadError::BadData)?;
    if !data.is_empty() {
        return Err(PayloadError::BadData);
    }
    Ok(v)
}

// ----- snapshot stream -----

/// Writes a snapshot of `ranges` (see the module doc).
pub fn write(
    frozen: &FrozenKeyspace,
    ranges: &[RangeInclusive<u16>],
    w: &mut impl Write,
) -> io::Result<()> {
    let db = &frozen.db;
    let mut cw = CrcWriter {
        inner: w,
        crc: Crc32::new(),
    };
    let mut buf = Vec::with_capacity(64);
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    buf.extend_from_slice(&db.op_counter().to_le_bytes());
    buf.extend_from_slice(&frozen.last_now_ms.to_le_bytes());
    buf.extend_from_slice(&(ranges.len() as u32).to_le_bytes());
    for r in ranges {
        assert!(
            r.start() <= r.end() && *r.end() < slotraft_types::SLOT_COUNT,
            "bad slot range {r:?}"
        );
        buf.extend_from_slice(&r.start().to_le_bytes());
        buf.extend_from_slice(&r.end().to_le_bytes());
    }
    cw.put(&buf)?;
    let mut count = 0u64;
    for r in ranges {
        for slot in r.clone() {
            let deleted = db.slot_deleted(slot);
            if deleted == 0 && db.count_in_slot(slot) == 0 {
                continue; // nothing to say: absent slots restore as empty
            }
            buf.clear();
            buf.push(T_SLOT);
            buf.extend_from_slice(&slot.to_le_bytes());
            buf.extend_from_slice(&deleted.to_le_bytes());
            cw.put(&buf)?;
            for n in db.slot_nodes(slot) {
                buf.clear();
                buf.push(T_KEY);
                put_bytes(&mut buf, n.key());
                encode_value(n.value(), &mut buf);
                buf.extend_from_slice(&n.expire_at().unwrap_or(0).to_le_bytes());
                buf.extend_from_slice(&n.version().to_le_bytes());
                cw.put(&buf)?;
                count += 1;
            }
        }
    }
    buf.clear();
    buf.push(T_END);
    buf.extend_from_slice(&count.to_le_bytes());
    cw.put(&buf)?;
    let crc = cw.crc.finish();
    cw.inner.write_all(&crc.to_le_bytes())
}

/// Reads a snapshot into a staging db and installs it if it is intact.
pub fn read_into(ks: &mut Keyspace, r: &mut impl Read) -> io::Result<()> {
    let mut cr = CrcReader {
        inner: r,
        crc: Crc32::new(),
    };
    let mut magic = [0u8; 8];
    cr.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(bad("not a slotraft keyspace snapshot"));
    }
    if read_u32(&mut cr)? != FORMAT_VERSION {
        return Err(bad("unsupported snapshot format version"));
    }
    let op_counter = read_u64(&mut cr)?;
    let last_now = read_u64(&mut cr)?;
    let nranges = read_u32(&mut cr)?;
    if nranges > MAX_RANGES {
        return Err(bad("too many ranges"));
    }
    let mut covered = vec![false; slotraft_types::SLOT_COUNT as usize];
    for _ in 0..nranges {
        let (a, b) = (read_u16(&mut cr)?, read_u16(&mut cr)?);
        if a > b || b >= slotraft_types::SLOT_COUNT {
            return Err(bad("bad slot range"));
        }
        covered[a as usize..=b as usize]
            .iter_mut()
            .for_each(|c| *c = true);
    }
    let mut staging = Db::new();
    let mut count = 0u64;
    let mut cur_slot: Option<u16> = None;
    loop {
        match read_u8(&mut cr)? {
            T_SLOT => {
                let slot = read_u16(&mut cr)?;
                if slot >= slotraft_types::SLOT_COUNT || !covered[slot as usize] {
                    return Err(bad("slot outside the snapshot's ranges"));
                }
                staging.meta.slot_deleted[slot as usize] = read_u64(&mut cr)?;
                cur_slot = Some(slot);
            }
            T_KEY => {
                let key = read_bytes(&mut cr)?;
                let value = decode_value(&mut cr)?;
                let expire = read_u64(&mut cr)?;
                let version = read_u64(&mut cr)?;
                let slot = slotraft_types::key_slot(&key).get();
                if cur_slot != Some(slot) || staging.contains_raw(&key) {
                    return Err(bad("key in the wrong slot record or duplicated"));
                }
                staging.restore_node(&key, value, expire, version);
                count += 1;
            }
            T_END => break,
            _ => return Err(bad("unknown record")),
        }
    }
    if read_u64(&mut cr)? != count {
        return Err(bad("key count mismatch"));
    }
    let computed = cr.crc.finish();
    if read_u32(cr.inner)? != computed {
        return Err(bad("snapshot checksum mismatch"));
    }
    install(ks, staging, &covered, op_counter, last_now);
    Ok(())
}

fn install(ks: &mut Keyspace, mut staging: Db, covered: &[bool], op_counter: u64, last_now: u64) {
    let full = covered.iter().all(|c| *c);
    let (db, now) = ks.parts_mut();
    if full {
        staging.meta.op_counter = op_counter.max(staging.op_counter());
        *db = staging;
        *now = last_now;
        return;
    }
    for (slot, _) in covered.iter().enumerate().filter(|(_, c)| **c) {
        db.replace_slot_from(&mut staging, slot as u16);
    }
    // Versions must stay unique and growing on this replica.
    db.meta.op_counter = db.meta.op_counter.max(op_counter).max(staging.op_counter());
    *now = (*now).max(last_now);
}

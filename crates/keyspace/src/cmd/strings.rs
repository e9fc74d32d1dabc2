//! String commands: GET/SET family, counters, ranges and bit operations.
//!
//! Strings are stored inline up to 22 bytes, else as exact-size boxed
//! slices (`Value::Str`, [`SmallBytes`]); in-place edits (APPEND, SETRANGE,
//! SETBIT) go through [`str_edit`], which turns the string into a `Vec` and
//! back (no copy for boxed strings: realloc, usually in place).
//! Every size derived from a client-supplied offset is checked against
//! `MAX_STRING_LEN` before anything is allocated.

use super::Handler;
use crate::args::{
    self, err, expire_arg, i64_bytes, int, is, CmdResult, ERR_NOT_INTEGER, ERR_OVERFLOW,
    ERR_STRING_TOO_LONG, ERR_SYNTAX, MAX_STRING_LEN,
};
use crate::db::{Db, SetExpire};
use crate::f80::{self, FloatTarget};
use crate::small::SmallBytes;
use crate::types::Value;
use crate::ExecCtx;
use bytes::Bytes;
use slotraft_resp::Reply;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("get", Handler::Read(get)),
    ("set", Handler::Write(set)),
    ("setnx", Handler::Write(setnx)),
    ("setex", Handler::Write(setex)),
    ("psetex", Handler::Write(psetex)),
    ("getset", Handler::Write(getset)),
    ("getdel", Handler::Write(getdel)),
    ("getex", Handler::Write(getex)),
    ("mget", Handler::Read(mget)),
    ("mset", Handler::Write(mset)),
    ("msetnx", Handler::Write(msetnx)),
    ("incr", Handler::Write(incr)),
    ("decr", Handler::Write(decr)),
    ("incrby", Handler::Write(incrby)),
    ("decrby", Handler::Write(decrby)),
    ("incrbyfloat", Handler::Write(incrbyfloat)),
    ("append", Handler::Write(append)),
    ("strlen", Handler::Read(strlen)),
    ("getrange", Handler::Read(getrange)),
    ("substr", Handler::Read(getrange)),
    ("setrange", Handler::Write(setrange)),
    ("setbit", Handler::Write(setbit)),
    ("getbit", Handler::Read(getbit)),
    ("bitcount", Handler::Read(bitcount)),
    ("bitpos", Handler::Read(bitpos)),
];

const ERR_BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const ERR_BIT_VALUE: &str = "ERR bit is not an integer or out of range";
const ERR_OFFSET_RANGE: &str = "ERR offset is out of range";

fn bulk_or_null(v: Option<&[u8]>) -> Reply {
    v.map_or(Reply::Null, Reply::bulk)
}

fn str_value(b: &[u8]) -> Value {
    Value::Str(SmallBytes::new(b))
}

fn get(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    Ok(bulk_or_null(db.get_str(&argv[1], now)?))
}

fn mget(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let items = argv[1..]
        .iter()
        .map(|k| bulk_or_null(db.get_str(k, now).ok().flatten()))
        .collect();
    Ok(Reply::Array(items))
}

/// Parsed SET / GETEX options (Redis's parseExtendedStringArgumentsOrReply).
#[derive(Default)]
struct SetOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// (argument, seconds?, relative?)
    expire: Option<(&'a [u8], bool, bool)>,
}

fn parse_set_opts(argv: &[Bytes], from: usize, is_set: bool) -> Result<SetOpts<'_>, Reply> {
    let mut o = SetOpts::default();
    let mut j = from;
    while j < argv.len() {
        let a = &argv[j][..];
        let next = argv.get(j + 1).map(|b| &b[..]);
        let no_expire = o.expire.is_none() && !o.keepttl && !o.persist;
        let same_unit =
            |o: &SetOpts, s: bool, r: bool| o.expire.is_none_or(|(_, s2, r2)| s2 == s && r2 == r);
        if is_set && is(a, "nx") && !o.xx {
            o.nx = true;
        } else if is_set && is(a, "xx") && !o.nx {
            o.xx = true;
        } else if is_set && is(a, "get") {
            o.get = true;
        } else if is_set && is(a, "keepttl") && no_expire {
            o.keepttl = true;
        } else if !is_set && is(a, "persist") && no_expire {
            o.persist = true;
        } else if let (Some(n), Some((s, r))) = (next, expire_kind(a)) {
            if o.keepttl || o.persist || !same_unit(&o, s, r) {
                return Err(err(ERR_SYNTAX));
            }
            o.expire = Some((n, s, r));
            j += 1;
        } else {
            return Err(err(ERR_SYNTAX));
        }
        j += 1;
    }
    Ok(o)
}

/// EX/PX/EXAT/PXAT → (seconds?, relative?).
fn expire_kind(a: &[u8]) -> Option<(bool, bool)> {
    if is(a, "ex") {
        Some((true, true))
    } else if is(a, "px") {
        Some((false, true))
    } else if is(a, "exat") {
        Some((true, false))
    } else if is(a, "pxat") {
        Some((false, false))
    } else {
        None
    }
}

fn set(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let o = parse_set_opts(argv, 3, true)?;
    let now = ctx.now_ms;
    let at = match o.expire {
        Some((a, s, r)) => Some(expire_arg(a, s, r, now, "set")?),
        None => None,
    };
    let old = if o.get {
        Some(db.get_str(&argv[1], now)?.map(Bytes::copy_from_slice))
    } else {
        None
    };
    // The existence check costs a lookup: only NX / XX need it.
    let found = (o.nx || o.xx) && db.exists(&argv[1], now);
    if (o.nx && found) || (o.xx && !found) {
        return Ok(match old {
            Some(v) => v.map_or(Reply::Null, Reply::Bulk),
            None => Reply::Null,
        });
    }
    let exp = match at {
        Some(t) => SetExpire::At(t),
        None if o.keepttl => SetExpire::Keep,
        None => SetExpire::Clear,
    };
    db.set(&argv[1], str_value(&argv[2]), exp, now);
    Ok(match old {
        Some(v) => v.map_or(Reply::Null, Reply::Bulk),
        None => Reply::OK,
    })
}

fn setnx(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    if db.exists(&argv[1], ctx.now_ms) {
        return Ok(Reply::Int(0));
    }
    db.set(&argv[1], str_value(&argv[2]), SetExpire::Clear, ctx.now_ms);
    Ok(Reply::Int(1))
}

fn setex_generic(
    db: &mut Db,
    argv: &[Bytes],
    ctx: &ExecCtx,
    seconds: bool,
    name: &str,
) -> CmdResult {
    let at = expire_arg(&argv[2], seconds, true, ctx.now_ms, name)?;
    db.set(&argv[1], str_value(&argv[3]), SetExpire::At(at), ctx.now_ms);
    Ok(Reply::OK)
}

fn setex(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    setex_generic(db, argv, ctx, true, "setex")
}

fn psetex(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    setex_generic(db, argv, ctx, false, "psetex")
}

fn getset(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let old = db
        .get_str(&argv[1], ctx.now_ms)?
        .map(Bytes::copy_from_slice);
    db.set(&argv[1], str_value(&argv[2]), SetExpire::Clear, ctx.now_ms);
    Ok(old.map_or(Reply::Null, Reply::Bulk))
}

fn getdel(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let Some(old) = db
        .get_str(&argv[1], ctx.now_ms)?
        .map(Bytes::copy_from_slice)
    else {
        return Ok(Reply::Null);
    };
    db.delete(&argv[1], ctx.now_ms);
    Ok(Reply::Bulk(old))
}

fn getex(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    // Redis's order: options syntax, key lookup (absent: nil), type, then
    // the expire value.
    let o = parse_set_opts(argv, 2, false)?;
    let now = ctx.now_ms;
    let Some(v) = db.get_str(&argv[1], now)?.map(Bytes::copy_from_slice) else {
        return Ok(Reply::Null);
    };
    let at = match o.expire {
        Some((a, s, r)) => Some((expire_arg(a, s, r, now, "getex")?, r)),
        None => None,
    };
    match at {
        // EXAT/PXAT in the past delete the key (checkAlreadyExpired).
        Some((t, false)) if t <= now => {
            db.delete(&argv[1], now);
        }
        Some((t, _)) => {
            db.set_expire(&argv[1], Some(t), now);
        }
        None if o.persist
            && db
                .lookup(&argv[1], now)
                .and_then(|n| n.expire_at())
                .is_some() =>
        {
            db.set_expire(&argv[1], None, now);
        }
        None => {}
    }
    Ok(Reply::Bulk(v))
}

fn mset_arity(argv: &[Bytes]) -> Result<(), Reply> {
    if argv.len().is_multiple_of(2) {
        return Err(args::wrong_arity(
            &String::from_utf8_lossy(&argv[0]).to_ascii_lowercase(),
        ));
    }
    Ok(())
}

fn mset(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    mset_arity(argv)?;
    for kv in argv[1..].chunks(2) {
        db.set(&kv[0], str_value(&kv[1]), SetExpire::Clear, ctx.now_ms);
    }
    Ok(Reply::OK)
}

fn msetnx(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    mset_arity(argv)?;
    if argv[1..].chunks(2).any(|kv| db.exists(&kv[0], ctx.now_ms)) {
        return Ok(Reply::Int(0));
    }
    mset(db, argv, ctx)?;
    Ok(Reply::Int(1))
}

/// Adds `by` to the integer at `key` (INCR family); keeps the TTL.
fn incr_generic(db: &mut Db, key: &[u8], by: i64, now: u64) -> CmdResult {
    let cur = match db.get_str(key, now)? {
        None => 0,
        Some(s) => args::parse_canonical_i64(s).ok_or_else(|| err(ERR_NOT_INTEGER))?,
    };
    let new = cur.checked_add(by).ok_or_else(|| err(ERR_OVERFLOW))?;
    db.set(
        key,
        Value::Str(SmallBytes::new(&i64_bytes(new))),
        SetExpire::Keep,
        now,
    );
    Ok(Reply::Int(new))
}

fn incr(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    incr_generic(db, &argv[1], 1, ctx.now_ms)
}

fn decr(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    incr_generic(db, &argv[1], -1, ctx.now_ms)
}

fn incrby(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let by = int(&argv[2])?;
    incr_generic(db, &argv[1], by, ctx.now_ms)
}

fn decrby(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let by = int(&argv[2])?;
    if by == i64::MIN {
        return Err(err("ERR decrement would overflow"));
    }
    incr_generic(db, &argv[1], -by, ctx.now_ms)
}

fn incrbyfloat(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    // Redis 7.0: the key's type first, then both values parsed with
    // strtold and added in x87 80-bit long double (see `f80`).
    let now = ctx.now_ms;
    let cur = db.get_str(&argv[1], now)?;
    let text =
        f80::incr_by_float(cur, &argv[2], FloatTarget::String).map_err(|e| err(e.message()))?;
    let text = Bytes::from(text);
    db.set(&argv[1], str_value(&text), SetExpire::Keep, now);
    Ok(Reply::Bulk(text))
}

/// Applies `f` to the string at `key` in place (creating it empty if
/// absent), keeping its TTL. `f` must not exceed `MAX_STRING_LEN`.
fn str_edit<R>(
    db: &mut Db,
    key: &[u8],
    now: u64,
    f: impl FnOnce(&mut Vec<u8>) -> R,
) -> Result<R, Reply> {
    if db.get_str(key, now)?.is_none() {
        db.set(
            key,
            Value::Str(SmallBytes::default()),
            SetExpire::Clear,
            now,
        );
    }
    let mut guard = db
        .get_mut::<Value>(key, now)?
        .expect("present: just checked or created");
    let Value::Str(b) = &mut *guard else {
        unreachable!("type checked above")
    };
    let mut v = std::mem::take(b).into_vec();
    let r = f(&mut v);
    debug_assert!(v.len() <= MAX_STRING_LEN);
    *b = SmallBytes::from_vec(v);
    Ok(r)
}

fn append(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let cur = db.get_str(&argv[1], ctx.now_ms)?.map_or(0, |s| s.len());
    if cur + argv[2].len() > MAX_STRING_LEN {
        return Err(err(ERR_STRING_TOO_LONG));
    }
    let len = str_edit(db, &argv[1], ctx.now_ms, |v| {
        if v.capacity() - v.len() < argv[2].len() {
            // Amortize repeated appends: grow geometrically.
            v.reserve(argv[2].len().max(v.len()));
        }
        v.extend_from_slice(&argv[2]);
        v.len()
    })?;
    Ok(Reply::Int(len as i64))
}

fn strlen(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    Ok(Reply::Int(
        db.get_str(&argv[1], now)?.map_or(0, |s| s.len()) as i64,
    ))
}

fn getrange(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let (mut start, mut end) = (int(&argv[2])?, int(&argv[3])?);
    let s = db.get_str(&argv[1], now)?.unwrap_or(b"");
    if start < 0 && end < 0 && start > end {
        return Ok(Reply::bulk(b""));
    }
    let len = s.len() as i64;
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Ok(Reply::bulk(b""));
    }
    Ok(Reply::bulk(&s[start as usize..=end as usize]))
}

fn setrange(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let offset = int(&argv[2])?;
    if offset < 0 {
        return Err(err(ERR_OFFSET_RANGE));
    }
    let val = &argv[3];
    let cur = db.get_str(&argv[1], ctx.now_ms)?;
    if val.is_empty() {
        return Ok(Reply::Int(cur.map_or(0, |s| s.len()) as i64));
    }
    if offset as u64 + val.len() as u64 > MAX_STRING_LEN as u64 {
        return Err(err(ERR_STRING_TOO_LONG));
    }
    let off = offset as usize;
    let len = str_edit(db, &argv[1], ctx.now_ms, |v| {
        if v.len() < off + val.len() {
            v.resize(off + val.len(), 0);
        }
        v[off..off + val.len()].copy_from_slice(val);
        v.len()
    })?;
    Ok(Reply::Int(len as i64))
}

/// Redis's getBitOffsetFromArgument (no BITFIELD `#` form needed here).
fn bit_offset(arg: &[u8]) -> Result<u64, Reply> {
    match args::parse_canonical_i64(arg) {
        Some(v) if v >= 0 && ((v as u64) >> 3) < MAX_STRING_LEN as u64 => Ok(v as u64),
        _ => Err(err(ERR_BIT_OFFSET)),
    }
}

fn setbit(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let off = bit_offset(&argv[2])?;
    let on = match args::parse_canonical_i64(&argv[3]) {
        Some(0) => false,
        Some(1) => true,
        _ => return Err(err(ERR_BIT_VALUE)),
    };
    db.get_str(&argv[1], ctx.now_ms)?;
    let byte = (off >> 3) as usize;
    let mask = 1u8 << (7 - (off & 7));
    let old = str_edit(db, &argv[1], ctx.now_ms, |v| {
        if v.len() <= byte {
            v.resize(byte + 1, 0);
        }
        let old = v[byte] & mask != 0;
        if on {
            v[byte] |= mask;
        } else {
            v[byte] &= !mask;
        }
        old
    })?;
    Ok(Reply::Int(old as i64))
}

fn getbit(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let off = bit_offset(&argv[2])?;
    let s = db.get_str(&argv[1], now)?.unwrap_or(b"");
    let byte = (off >> 3) as usize;
    let bit = s.get(byte).is_some_and(|b| b & (1 << (7 - (off & 7))) != 0);
    Ok(Reply::Int(bit as i64))
}

/// BYTE/BIT unit option; `None` = syntax error.
fn unit_is_bit(arg: &[u8]) -> Option<bool> {
    if is(arg, "bit") {
        Some(true)
    } else if is(arg, "byte") {
        Some(false)
    } else {
        None
    }
}

/// Normalizes a (start, end) range over `total` units like Redis (negative
/// indexes from the end, clamped). `None` = empty.
fn norm_range(mut start: i64, mut end: i64, total: i64) -> Option<(i64, i64)> {
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    (start <= end).then_some((start, end))
}

#[inline]
fn bit_at(s: &[u8], i: i64) -> bool {
    s[(i >> 3) as usize] & (1 << (7 - (i & 7))) != 0
}

fn bitcount(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let Some(s) = db.get_str(&argv[1], now)? else {
        return Ok(Reply::Int(0));
    };
    let (lo, hi) = match argv.len() {
        2 => match norm_range(0, -1, s.len() as i64) {
            Some((a, b)) => (a * 8, b * 8 + 7),
            None => return Ok(Reply::Int(0)),
        },
        4 | 5 => {
            let (start, end) = (int(&argv[2])?, int(&argv[3])?);
            // Redis 7.0.15 answers an inverted negative range with 0 before
            // it looks at the unit (`BITCOUNT k -1 -100 XX` is 0).
            if start < 0 && end < 0 && start > end {
                return Ok(Reply::Int(0));
            }
            let isbit = match argv.get(4) {
                Some(a) => unit_is_bit(a).ok_or_else(|| err(ERR_SYNTAX))?,
                None => false,
            };
            let total = if isbit {
                s.len() as i64 * 8
            } else {
                s.len() as i64
            };
            match norm_range(start, end, total) {
                None => return Ok(Reply::Int(0)),
                Some((a, b)) if isbit => (a, b),
                Some((a, b)) => (a * 8, b * 8 + 7),
            }
        }
        _ => return Err(err(ERR_SYNTAX)),
    };
    Ok(Reply::Int(count_bits(s, lo, hi) as i64))
}

/// Set bits in the bit range `[lo, hi]`.
fn count_bits(s: &[u8], lo: i64, hi: i64) -> u64 {
    let (first, last) = ((lo >> 3) as usize, (hi >> 3) as usize);
    let mut n: u64 = s[first..=last].iter().map(|b| b.count_ones() as u64).sum();
    for i in (first as i64 * 8)..lo {
        n -= bit_at(s, i) as u64;
    }
    for i in (hi + 1)..((last as i64 + 1) * 8) {
        n -= bit_at(s, i) as u64;
    }
    n
}

fn bitpos(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let bit = match args::parse_canonical_i64(&argv[2]) {
        Some(b @ (0 | 1)) => b == 1,
        Some(_) => return Err(err("ERR The bit argument must be 1 or 0.")),
        None => return Err(err(ERR_NOT_INTEGER)),
    };
    let Some(s) = db.get_str(&argv[1], now)? else {
        return Ok(Reply::Int(if bit { -1 } else { 0 }));
    };
    let len = s.len() as i64;
    let (range, end_given) = match argv.len() {
        3 => (
            norm_range(0, -1, len).map(|(a, b)| (a * 8, b * 8 + 7)),
            false,
        ),
        4..=6 => {
            let start = int(&argv[3])?;
            let isbit = match argv.get(5) {
                Some(a) => unit_is_bit(a).ok_or_else(|| err(ERR_SYNTAX))?,
                None => false,
            };
            let end = match argv.get(4) {
                Some(e) => int(e)?,
                None => len - 1,
            };
            let total = if isbit { len * 8 } else { len };
            let r =
                norm_range(start, end, total)
                    .map(|(a, b)| if isbit { (a, b) } else { (a * 8, b * 8 + 7) });
            (r, argv.len() >= 5)
        }
        _ => return Err(err(ERR_SYNTAX)),
    };
    let Some((lo, hi)) = range else {
        return Ok(Reply::Int(-1));
    };
    if let Some(p) = find_bit(s, lo, hi, bit) {
        return Ok(Reply::Int(p));
    }
    // Not found: looking for 0 without an explicit end, the string is
    // considered zero-padded on the right.
    Ok(Reply::Int(if !bit && !end_given { hi + 1 } else { -1 }))
}

/// First bit equal to `bit` in `[lo, hi]`, skipping whole bytes quickly.
fn find_bit(s: &[u8], lo: i64, hi: i64, bit: bool) -> Option<i64> {
    let skip = if bit { 0x00 } else { 0xFF };
    let mut i = lo;
    while i <= hi {
        if i & 7 == 0 && i + 7 <= hi && s[(i >> 3) as usize] == skip {
            i += 8;
            continue;
        }
        if bit_at(s, i) == bit {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;

    #[test]
    fn set_options() {
        let mut t = T::new();
        t.ok("set k v", "OK");
        t.ok("set k v2 nx", "(nil)");
        t.ok("set k v3 xx get", "v");
        t.ok("get k", "v3");
        t.err("set k v nx xx", "ERR syntax error");
        t.err("set k v ex 10 px 10", "ERR syntax error");
        t.err("set k v ex 0", "ERR invalid expire time in 'set' command");
        t.err(
            "set k v ex abc",
            "ERR value is not an integer or out of range",
        );
        t.err("set k v keepttl ex 1", "ERR syntax error");
        t.err("set k v ex", "ERR syntax error");
        t.ok("set k v ex 10", "OK");
        t.ok("pttl k", "10000");
        t.ok("set k v keepttl", "OK");
        t.ok("pttl k", "10000");
        t.ok("set k v", "OK");
        t.ok("pttl k", "-1");
        t.ok("set n v nx get", "(nil)");
        t.ok("get n", "v");
        t.ok("hset l f v", "1");
        t.err("set l v get", crate::args::ERR_WRONGTYPE);
        t.ok("set l v", "OK");
    }

    #[test]
    fn counters() {
        let mut t = T::new();
        t.ok("incr c", "1");
        t.ok("incrby c 10", "11");
        t.ok("decrby c 20", "-9");
        t.ok("set c 9223372036854775807", "OK");
        t.err("incr c", "ERR increment or decrement would overflow");
        t.err(
            "decrby c -9223372036854775808",
            "ERR decrement would overflow",
        );
        t.ok("set c ' 1'", "OK");
        t.err("incr c", "ERR value is not an integer or out of range");
        t.ok("set f 10.5", "OK");
        t.ok("incrbyfloat f 0.1", "10.6");
        t.ok("incrbyfloat f -5", "5.6");
        t.ok("incrbyfloat g 3.0e3", "3000");
        t.err("incrbyfloat f abc", "ERR value is not a valid float");
        t.err(
            "incrbyfloat f inf",
            "ERR increment would produce NaN or Infinity",
        );
        // Redis 7.0.15 replies (verified): x87 long double arithmetic and
        // strtold parsing; the key's type is checked first.
        t.ok("set k -100", "OK");
        t.ok("incrbyfloat k 0.1", "-99.9");
        t.ok("set k 9223372036854775807", "OK");
        t.ok("incrbyfloat k 3", "9223372036854775810");
        t.ok("set k 0x10", "OK");
        t.ok("incrbyfloat k 5e-3", "16.005");
        t.err(
            "incrbyfloat k +inf",
            "ERR increment would produce NaN or Infinity",
        );
        t.ok(
            "set k 12345678901234567890123456789012345678901234567890",
            "OK",
        );
        t.ok(
            "incrbyfloat k 1",
            "12345678901234567890019423336468287027557880037376",
        );
        t.ok("rpush kl a", "1");
        t.err("incrbyfloat kl abc", crate::args::ERR_WRONGTYPE);
        t.ok("set e 5 ex 100", "OK");
        t.ok("incr e", "6");
        t.ok("ttl e", "100");
    }

    #[test]
    fn ranges_and_append() {
        let mut t = T::new();
        t.ok("append s hello", "5");
        t.ok("append s world", "10");
        t.ok("getrange s 0 4", "hello");
        t.ok("getrange s -5 -1", "world");
        t.ok("getrange s -1 -5", "");
        t.ok("getrange s 5 1000", "world");
        t.ok("getrange nokey 0 -1", "");
        t.ok("setrange s 12 !", "13");
        t.ok("get s", "helloworld\\x00\\x00!");
        t.ok("setrange new 0 ''", "0");
        t.ok("exists new", "0");
        t.err("setrange s -1 x", "ERR offset is out of range");
        t.err(
            "setrange s 536870912 x",
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        );
        t.ok("strlen s", "13");
        t.ok("strlen nokey", "0");
    }

    #[test]
    fn bits() {
        let mut t = T::new();
        t.ok("setbit b 7 1", "0");
        t.ok("setbit b 7 1", "1");
        t.ok("getbit b 7", "1");
        t.ok("getbit b 100", "0");
        t.ok("get b", "\\x01");
        t.err(
            "setbit b 4294967296 1",
            "ERR bit offset is not an integer or out of range",
        );
        t.err(
            "setbit b -1 1",
            "ERR bit offset is not an integer or out of range",
        );
        t.err("setbit b 1 2", "ERR bit is not an integer or out of range");
        t.ok("set f foobar", "OK");
        t.ok("bitcount f", "26");
        t.ok("bitcount f 0 0", "4");
        t.ok("bitcount f 1 1", "6");
        t.ok("bitcount f 1 1 byte", "6");
        t.ok("bitcount f 5 30 bit", "17");
        t.err("bitcount f 0 1 foo", "ERR syntax error");
        t.err("bitcount f 0", "ERR syntax error");
        t.ok("bitcount nokey 0 x", "0");
        // Redis 7.0.15 (verified): an inverted negative range is 0 before
        // the unit is checked; otherwise a bad unit is a syntax error; a
        // missing key is 0 whatever the arguments.
        t.ok("bitcount f -1 -100 xx", "0");
        t.err("bitcount f 1 -100 xx", "ERR syntax error");
        t.err("bitcount f -1 -100 xx yy", "ERR syntax error");
        t.err("bitcount f -1 x xx", crate::args::ERR_NOT_INTEGER);
        t.ok("bitcount nokey -1 -100 xx", "0");
        t.ok("bitcount nokey 1", "0");
        t.ok("set p \\xff\\xf0\\x00", "OK");
        t.ok("bitpos p 0", "12");
        t.ok("set p2 \\x00\\xff\\xf0", "OK");
        t.ok("bitpos p2 1 0", "8");
        t.ok("bitpos p2 1 2", "16");
        t.ok("bitpos p2 1 2 -1 byte", "16");
        t.ok("bitpos p2 1 7 15 bit", "8");
        t.ok("bitpos p2 1 7 -3 bit", "8");
        t.ok("bitpos nokey 0", "0");
        t.ok("bitpos nokey 1", "-1");
        t.ok("set ones \\xff\\xff", "OK");
        t.ok("bitpos ones 0", "16");
        t.ok("bitpos ones 0 0 -1", "-1");
        t.err("bitpos ones 2", "ERR The bit argument must be 1 or 0.");
        // BITPOS checks the unit before the range (unlike BITCOUNT), and a
        // missing key answers after the bit argument only.
        t.err("bitpos ones 1 -1 -100 xx", "ERR syntax error");
        t.ok("bitpos ones 1 -1 -100", "-1");
        t.ok("bitpos nokey 0 0 1 xx", "0");
        t.ok("bitpos nokey 1 a", "-1");
        t.err("bitpos nokey 2", "ERR The bit argument must be 1 or 0.");
    }

    #[test]
    fn multi_key() {
        let mut t = T::new();
        t.ok("mset a 1 b 2", "OK");
        t.ok("mget a b c", "[1,2,(nil)]");
        t.err(
            "mset a 1 b",
            "ERR wrong number of arguments for 'mset' command",
        );
        t.ok("msetnx c 3 a 9", "0");
        t.ok("get a", "1");
        t.ok("msetnx c 3 d 4", "1");
        t.ok("getdel c", "3");
        t.ok("exists c", "0");
        t.ok("getset d 5", "4");
        t.ok("getex d ex 50", "5");
        t.ok("ttl d", "50");
        t.ok("getex d persist", "5");
        t.ok("ttl d", "-1");
        t.err("getex d nx", "ERR syntax error");
        t.ok("getex d pxat 1", "5");
        t.ok("exists d", "0");
        // Redis 7.0.15 (verified): syntax, then the key (missing: nil,
        // wrong type: WRONGTYPE), then the expire value.
        t.ok("getex d ex abc", "(nil)");
        t.ok("getex d ex 0", "(nil)");
        t.err("getex d foo", "ERR syntax error");
        t.err("getex d ex", "ERR syntax error");
        t.ok("set d v", "OK");
        t.err("getex d ex abc", crate::args::ERR_NOT_INTEGER);
        t.err("getex d ex 0", "ERR invalid expire time in 'getex' command");
        t.err("getex d ex 1 px 2", "ERR syntax error");
        t.ok("rpush dl a", "1");
        t.err("getex dl ex abc", crate::args::ERR_WRONGTYPE);
        t.err("getex dl foo", "ERR syntax error");
        t.ok("del d dl", "2");
        t.ok("setex s 10 v", "OK");
        t.err("setex s 0 v", "ERR invalid expire time in 'setex' command");
        t.err(
            "psetex s -5 v",
            "ERR invalid expire time in 'psetex' command",
        );
        t.ok("setnx s x", "0");
        t.ok("setnx s2 x", "1");
    }
}

//! Sorted-set commands: ZADD ZINCRBY ZREM ZSCORE ZMSCORE ZCARD ZCOUNT
//! ZLEXCOUNT ZRANK ZREVRANK, the ZRANGE family (ZRANGE with BYSCORE/BYLEX/
//! REV/LIMIT/WITHSCORES, ZRANGESTORE, ZRANGEBYSCORE, ZREVRANGE,
//! ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX), pops (ZPOPMIN ZPOPMAX
//! ZMPOP and the blocking BZPOPMIN BZPOPMAX BZMPOP), ZREMRANGEBY*, the
//! algebra (ZUNION ZINTER ZDIFF, their STORE forms, ZINTERCARD), ZSCAN and
//! ZRANDMEMBER.
//!
//! Why the ZRANGE family shares one parser: Redis implements all of them as
//! `zrangeGenericCommand` with some options fixed, and the exact errors
//! (which option is a syntax error where, LIMIT without BYSCORE/BYLEX, ...)
//! fall out of that shared loop; we mirror it so the texts match.
//!
//! Every range is answered by rank arithmetic on the order-statistic tree
//! (`types/zset.rs`): a score or lex interval becomes an ascending rank
//! span in O(log n), LIMIT/REV become rank offsets, and the walk is
//! O(log n + m).
//!
//! RESP3: Redis 7.0 sends WITHSCORES results (and ZPOPMIN/ZPOPMAX with a
//! count, ZRANDMEMBER WITHSCORES) as an array of `[member, double]` pairs
//! under RESP3 but flat under RESP2; [`scored`] returns `Reply::Pairs`, whose
//! encoder produces exactly those two shapes.

use super::list::{clamp_range, numkeys, timeout};
use super::set::{read_rng, scan_reply, MAX_RANDOM_REPLY};
use super::Handler;
use crate::args::{self, cursor, err, float, int, is, scan_opts, CmdResult, ERR_SYNTAX};
use crate::db::{Db, SetExpire};
use crate::rng::FixedState;
use crate::types::zset::{Added, LexBound, LexRange, ScoreRange};
use crate::types::{Set, Value, ZSet};
use crate::{BlockSpec, ExecCtx, Outcome};
use bytes::Bytes;
use slotraft_resp::{Protocol, Reply};

/// (name, handler) of every ZSet command.
pub const HANDLERS: &[(&str, Handler)] = &[
    ("zadd", Handler::Write(zadd)),
    ("zincrby", Handler::Write(zincrby)),
    ("zrem", Handler::Write(zrem)),
    ("zscore", Handler::Read(zscore)),
    ("zmscore", Handler::Read(zmscore)),
    ("zcard", Handler::Read(zcard)),
    ("zcount", Handler::Read(zcount)),
    ("zlexcount", Handler::Read(zlexcount)),
    ("zrank", Handler::Read(zrank)),
    ("zrevrank", Handler::Read(zrevrank)),
    ("zrange", Handler::Read(zrange)),
    ("zrangestore", Handler::Write(zrangestore)),
    ("zrangebyscore", Handler::Read(zrangebyscore)),
    ("zrevrangebyscore", Handler::Read(zrevrangebyscore)),
    ("zrangebylex", Handler::Read(zrangebylex)),
    ("zrevrangebylex", Handler::Read(zrevrangebylex)),
    ("zrevrange", Handler::Read(zrevrange)),
    ("zpopmin", Handler::Write(zpopmin)),
    ("zpopmax", Handler::Write(zpopmax)),
    ("bzpopmin", Handler::Blocking(bzpopmin)),
    ("bzpopmax", Handler::Blocking(bzpopmax)),
    ("zmpop", Handler::Write(zmpop)),
    ("bzmpop", Handler::Blocking(bzmpop)),
    ("zremrangebyrank", Handler::Write(zremrangebyrank)),
    ("zremrangebyscore", Handler::Write(zremrangebyscore)),
    ("zremrangebylex", Handler::Write(zremrangebylex)),
    ("zunion", Handler::Read(zunion)),
    ("zinter", Handler::Read(zinter)),
    ("zdiff", Handler::Read(zdiff)),
    ("zunionstore", Handler::Write(zunionstore)),
    ("zinterstore", Handler::Write(zinterstore)),
    ("zdiffstore", Handler::Write(zdiffstore)),
    ("zintercard", Handler::Read(zintercard)),
    ("zscan", Handler::Read(zscan)),
    ("zrandmember", Handler::Read(zrandmember)),
];

const ERR_NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
const ERR_LEX_RANGE: &str = "ERR min or max not valid string range item";
const ERR_NAN: &str = "ERR resulting score is not a number (NaN)";
const ERR_POSITIVE: &str = "ERR value is out of range, must be positive";
const ERR_COUNT_POSITIVE: &str = "ERR count should be greater than 0";
const ERR_RANDOM_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";

// ----- parsing -----

/// `strtod` as Redis's range parser uses it: leading whitespace allowed,
/// nothing after the number, an empty string is 0, NaN rejected.
fn strtod_full(s: &[u8]) -> Option<f64> {
    let start = s
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(s.len());
    let s = &s[start..];
    if s.is_empty() {
        return Some(0.0);
    }
    args::parse_f64(s)
}

fn score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    match arg.first() {
        Some(b'(') => strtod_full(&arg[1..]).map(|v| (v, true)),
        _ => strtod_full(arg).map(|v| (v, false)),
    }
}

/// A ZRANGEBYSCORE-style `min max` pair.
pub fn score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, Reply> {
    match (score_bound(min), score_bound(max)) {
        (Some((min, min_open)), Some((max, max_open))) => Ok(ScoreRange {
            min,
            min_open,
            max,
            max_open,
        }),
        _ => Err(err(ERR_NOT_FLOAT_RANGE)),
    }
}

fn lex_bound(arg: &[u8]) -> Option<LexBound> {
    match arg {
        b"-" => Some(LexBound::NegInf),
        b"+" => Some(LexBound::PosInf),
        [b'[', rest @ ..] => Some(LexBound::Closed(rest.to_vec())),
        [b'(', rest @ ..] => Some(LexBound::Open(rest.to_vec())),
        _ => None,
    }
}

/// A ZRANGEBYLEX-style `min max` pair.
pub fn lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, Reply> {
    match (lex_bound(min), lex_bound(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(err(ERR_LEX_RANGE)),
    }
}

// ----- replies -----

/// Members, with their scores when asked: `Reply::Pairs`, which is flat in
/// RESP2 and `[member, score]` pairs in RESP3, as Redis 7.0 replies.
fn scored<'a>(items: impl IntoIterator<Item = (&'a [u8], f64)>, withscores: bool) -> Reply {
    if withscores {
        Reply::Pairs(
            items
                .into_iter()
                .map(|(m, s)| (Reply::bulk(m), Reply::Double(s)))
                .collect(),
        )
    } else {
        Reply::Array(items.into_iter().map(|(m, _)| Reply::bulk(m)).collect())
    }
}

/// ZPOPMIN/ZPOPMAX without a count: one flat `[member, score]` in both
/// protocols (with a count Redis replies pairs, see [`scored`]).
fn single_scored<'a>(items: impl IntoIterator<Item = (&'a [u8], f64)>) -> Reply {
    let mut out = Vec::new();
    for (m, s) in items {
        out.push(Reply::bulk(m));
        out.push(Reply::Double(s));
    }
    Reply::Array(out)
}

/// `[member, score]` pairs nested in both protocols (ZMPOP/BZMPOP).
fn nested_pairs(items: &[(crate::types::list::Member, f64)]) -> Reply {
    Reply::Array(
        items
            .iter()
            .map(|(m, s)| Reply::Array(vec![Reply::bulk(m), Reply::Double(*s)]))
            .collect(),
    )
}

/// A score as the bulk string Redis writes (`%.17g`), for ZSCAN.
fn score_bytes(s: f64) -> Bytes {
    let enc = Reply::Double(s).to_bytes(Protocol::Resp2);
    // `$<len>\r\n<digits>\r\n`
    let start = enc.iter().position(|&c| c == b'\n').map_or(0, |p| p + 1);
    Bytes::copy_from_slice(&enc[start..enc.len() - 2])
}

fn owned_refs(items: &[(crate::types::list::Member, f64)]) -> impl Iterator<Item = (&[u8], f64)> {
    items.iter().map(|(m, s)| (&m[..], *s))
}

// ----- ZADD / ZINCRBY / ZREM -----

#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What one add did: `score` is the new score if the add was performed.
struct AddResult {
    score: Option<f64>,
    added: bool,
    changed: bool,
}

/// Redis's `zsetAdd` for one member.
fn add_one(z: &mut ZSet, member: &[u8], score: f64, f: AddFlags) -> Result<AddResult, Reply> {
    let nop = AddResult {
        score: None,
        added: false,
        changed: false,
    };
    match z.score(member) {
        Some(cur) => {
            if f.nx {
                return Ok(nop);
            }
            let new = if f.incr { cur + score } else { score };
            if new.is_nan() {
                return Err(err(ERR_NAN));
            }
            if (f.lt && new >= cur) || (f.gt && new <= cur) {
                return Ok(nop);
            }
            let changed = matches!(z.insert(member, new), Added::Updated { .. });
            Ok(AddResult {
                score: Some(new),
                added: false,
                changed,
            })
        }
        None if f.xx => Ok(nop),
        None => {
            z.insert(member, score);
            Ok(AddResult {
                score: Some(score),
                added: true,
                changed: false,
            })
        }
    }
}

fn zadd_flags(argv: &[Bytes]) -> (AddFlags, usize) {
    let mut f = AddFlags::default();
    let mut i = 2;
    while i < argv.len() {
        let a = &argv[i];
        if is(a, "nx") {
            f.nx = true;
        } else if is(a, "xx") {
            f.xx = true;
        } else if is(a, "gt") {
            f.gt = true;
        } else if is(a, "lt") {
            f.lt = true;
        } else if is(a, "ch") {
            f.ch = true;
        } else if is(a, "incr") {
            f.incr = true;
        } else {
            break;
        }
        i += 1;
    }
    (f, i)
}

fn zadd(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let (f, first) = zadd_flags(argv);
    let elements = argv.len() - first;
    if elements == 0 || !elements.is_multiple_of(2) {
        return Err(err(ERR_SYNTAX));
    }
    if f.nx && f.xx {
        return Err(err(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(err(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && elements > 2 {
        return Err(err(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let pairs: Vec<(f64, &Bytes)> = argv[first..]
        .chunks(2)
        .map(|p| float(&p[0]).map(|s| (s, &p[1])))
        .collect::<Result<_, _>>()?;
    let key = &argv[1];
    let missing = db.get_mut::<ZSet>(key, ctx.now_ms)?.is_none();
    if missing && f.xx {
        return Ok(if f.incr { Reply::Null } else { Reply::Int(0) });
    }
    let mut z = db.get_or_create::<ZSet>(key, ctx.now_ms)?;
    let (mut added, mut changed, mut last) = (0i64, 0i64, None);
    for (score, member) in pairs {
        let r = add_one(&mut z, member, score, f)?;
        added += r.added as i64;
        changed += r.changed as i64;
        last = r.score;
    }
    if added == 0 && changed == 0 && !missing {
        z.unmodified();
    }
    if f.incr {
        return Ok(last.map_or(Reply::Null, Reply::Double));
    }
    Ok(Reply::Int(if f.ch { added + changed } else { added }))
}

fn zincrby(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    // Redis runs ZINCRBY through ZADD's parser: a flag word where the
    // increment belongs leaves an odd score/member count → syntax error.
    if ["nx", "xx", "gt", "lt", "ch", "incr"]
        .iter()
        .any(|f| is(&argv[2], f))
    {
        return Err(err(ERR_SYNTAX));
    }
    let by = float(&argv[2])?;
    let mut z = db.get_or_create::<ZSet>(&argv[1], ctx.now_ms)?;
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    let r = add_one(&mut z, &argv[3], by, f)?;
    Ok(r.score.map_or(Reply::Null, Reply::Double))
}

fn zrem(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let Some(mut z) = db.get_mut::<ZSet>(&argv[1], ctx.now_ms)? else {
        return Ok(Reply::Int(0));
    };
    let mut n = 0i64;
    for m in &argv[2..] {
        if z.is_empty() {
            break;
        }
        n += z.remove(m).is_some() as i64;
    }
    if n == 0 {
        z.unmodified();
    }
    Ok(Reply::Int(n))
}

// ----- point reads -----

fn zscore(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let z = db.get_typed::<ZSet>(&argv[1], now)?;
    Ok(z.and_then(|z| z.score(&argv[2]))
        .map_or(Reply::Null, Reply::Double))
}

fn zmscore(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let z = db.get_typed::<ZSet>(&argv[1], now)?;
    let out = argv[2..]
        .iter()
        .map(|m| {
            z.and_then(|z| z.score(m))
                .map_or(Reply::Null, Reply::Double)
        })
        .collect();
    Ok(Reply::Array(out))
}

fn zcard(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    Ok(Reply::Int(
        db.get_typed::<ZSet>(&argv[1], now)?.map_or(0, |z| z.len()) as i64,
    ))
}

fn zcount(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let r = score_range(&argv[2], &argv[3])?;
    let n = db.get_typed::<ZSet>(&argv[1], now)?.map_or(0, |z| {
        let (a, b) = z.score_span(&r);
        b - a
    });
    Ok(Reply::Int(n as i64))
}

fn zlexcount(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let r = lex_range(&argv[2], &argv[3])?;
    let n = db.get_typed::<ZSet>(&argv[1], now)?.map_or(0, |z| {
        let (a, b) = z.lex_span(&r);
        b - a
    });
    Ok(Reply::Int(n as i64))
}

fn rank(db: &Db, argv: &[Bytes], now: u64, rev: bool) -> CmdResult {
    let z = db.get_typed::<ZSet>(&argv[1], now)?;
    Ok(
        match z.and_then(|z| z.rank(&argv[2]).map(|r| (r, z.len()))) {
            Some((r, len)) => Reply::Int(if rev { len - 1 - r } else { r } as i64),
            None => Reply::Null,
        },
    )
}

fn zrank(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    rank(db, argv, now, false)
}

fn zrevrank(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    rank(db, argv, now, true)
}

// ----- the ZRANGE family -----

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Kind {
    Rank,
    Score,
    Lex,
}

/// A parsed range request.
enum Bounds {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

struct RangeReq {
    bounds: Bounds,
    rev: bool,
    withscores: bool,
    /// (offset, count); count < 0 = no limit.
    limit: Option<(i64, i64)>,
}

/// Mirrors Redis's `zrangeGenericCommand` parsing. `a`/`b` index the two
/// range arguments; options start at `b + 1`. `kind`/`rev` are fixed by
/// the legacy commands (then the keyword is a syntax error).
fn parse_range(
    argv: &[Bytes],
    a: usize,
    b: usize,
    mut kind: Option<Kind>,
    mut rev: Option<bool>,
    store: bool,
) -> Result<RangeReq, Reply> {
    let mut withscores = false;
    let mut limit = None;
    let mut j = b + 1;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let o = &argv[j];
        if !store && is(o, "withscores") {
            withscores = true;
        } else if is(o, "limit") && left >= 2 {
            limit = Some((int(&argv[j + 1])?, int(&argv[j + 2])?));
            j += 2;
        } else if rev.is_none() && is(o, "rev") {
            rev = Some(true);
        } else if kind.is_none() && is(o, "bylex") {
            kind = Some(Kind::Lex);
        } else if kind.is_none() && is(o, "byscore") {
            kind = Some(Kind::Score);
        } else {
            return Err(err(ERR_SYNTAX));
        }
        j += 1;
    }
    let kind = kind.unwrap_or(Kind::Rank);
    let rev = rev.unwrap_or(false);
    // Redis's check is `count != -1`: `LIMIT n -1` passes with a rank
    // range (and is then ignored).
    if limit.is_some_and(|(_, count)| count != -1) && kind == Kind::Rank {
        return Err(err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && kind == Kind::Lex {
        return Err(err(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // Score and lex ranges are given as `max min` when reversed.
    let (lo, hi) = if rev && kind != Kind::Rank {
        (&argv[b], &argv[a])
    } else {
        (&argv[a], &argv[b])
    };
    let bounds = match kind {
        Kind::Rank => Bounds::Rank(int(lo)?, int(hi)?),
        Kind::Score => Bounds::Score(score_range(lo, hi)?),
        Kind::Lex => Bounds::Lex(lex_range(lo, hi)?),
    };
    Ok(RangeReq {
        bounds,
        rev,
        withscores,
        limit,
    })
}

/// The ranks `start..end` (counted in the request's direction) it selects.
fn select(z: &ZSet, req: &RangeReq) -> (usize, usize) {
    let len = z.len();
    let (asc_start, asc_end) = match &req.bounds {
        Bounds::Rank(a, b) => {
            return match clamp_range(*a, *b, len) {
                Some((s, e)) => (s, e + 1),
                None => (0, 0),
            }
        }
        Bounds::Score(r) => z.score_span(r),
        Bounds::Lex(r) => z.lex_span(r),
    };
    let (base, end) = if req.rev {
        (len - asc_end, len - asc_start)
    } else {
        (asc_start, asc_end)
    };
    match req.limit {
        None => (base, end),
        // Redis skips `offset` entries with `offset--`: a negative one
        // never reaches 0 and skips everything.
        Some((off, _)) if off < 0 => (0, 0),
        Some((off, count)) => {
            let start = base.saturating_add(off as usize).min(end);
            let stop = if count < 0 {
                end
            } else {
                start.saturating_add(count as usize).min(end)
            };
            (start, stop)
        }
    }
}

fn collect<'a>(z: &'a ZSet, req: &RangeReq) -> Vec<(&'a [u8], f64)> {
    let (s, e) = select(z, req);
    let mut out = Vec::with_capacity(e.saturating_sub(s));
    z.for_range(s, e, req.rev, |m, sc| out.push((m, sc)));
    out
}

fn range_reply(db: &Db, key: &[u8], req: &RangeReq, now: u64) -> CmdResult {
    let Some(z) = db.get_typed::<ZSet>(key, now)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    Ok(scored(collect(z, req), req.withscores))
}

fn zrange(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let req = parse_range(argv, 2, 3, None, None, false)?;
    range_reply(db, &argv[1], &req, now)
}

fn zrangebyscore(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let req = parse_range(argv, 2, 3, Some(Kind::Score), Some(false), false)?;
    range_reply(db, &argv[1], &req, now)
}

fn zrevrangebyscore(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let req = parse_range(argv, 2, 3, Some(Kind::Score), Some(true), false)?;
    range_reply(db, &argv[1], &req, now)
}

fn zrangebylex(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let req = parse_range(argv, 2, 3, Some(Kind::Lex), Some(false), false)?;
    range_reply(db, &argv[1], &req, now)
}

fn zrevrangebylex(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let req = parse_range(argv, 2, 3, Some(Kind::Lex), Some(true), false)?;
    range_reply(db, &argv[1], &req, now)
}

fn zrevrange(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let req = parse_range(argv, 2, 3, Some(Kind::Rank), Some(true), false)?;
    range_reply(db, &argv[1], &req, now)
}

/// Stores `z` at `dst` (deleting `dst` when empty); replies its size.
fn store(db: &mut Db, dst: &[u8], mut z: ZSet, now: u64) -> CmdResult {
    z.compact();
    let n = z.len();
    if n == 0 {
        db.delete(dst, now);
    } else {
        db.set(dst, Value::ZSet(Box::new(z)), SetExpire::Clear, now);
    }
    Ok(Reply::Int(n as i64))
}

fn zrangestore(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let req = parse_range(argv, 3, 4, None, None, true)?;
    let mut out = ZSet::new_large();
    if let Some(z) = db.get_typed::<ZSet>(&argv[2], ctx.now_ms)? {
        for (m, s) in collect(z, &req) {
            out.insert(m, s);
        }
    }
    store(db, &argv[1], out, ctx.now_ms)
}

// ----- pops -----

/// Pops up to `count` members from the min (or max) end, in pop order.
fn pop_n(z: &mut ZSet, max: bool, count: usize) -> Vec<(crate::types::list::Member, f64)> {
    let n = count.min(z.len());
    if max {
        let len = z.len();
        let mut v = z.remove_range(len - n, len);
        v.reverse();
        v
    } else {
        z.remove_range(0, n)
    }
}

fn zpop(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx, max: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(err(ERR_SYNTAX));
    }
    let count = match argv.get(2) {
        None => None,
        Some(a) => {
            let c = args::parse_canonical_i64(a).filter(|&c| c >= 0);
            Some(c.ok_or_else(|| err(ERR_POSITIVE))? as usize)
        }
    };
    let Some(mut z) = db.get_mut::<ZSet>(&argv[1], ctx.now_ms)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count == Some(0) {
        return Ok(Reply::Array(Vec::new()));
    }
    let popped = pop_n(&mut z, max, count.unwrap_or(1));
    Ok(match count {
        None => single_scored(owned_refs(&popped)),
        Some(_) => scored(owned_refs(&popped), true),
    })
}

fn zpopmin(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    zpop(db, argv, ctx, false)
}

fn zpopmax(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    zpop(db, argv, ctx, true)
}

fn bzpop(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx, max: bool) -> Result<Outcome, Reply> {
    let t = timeout(&argv[argv.len() - 1])?;
    let keys = &argv[1..argv.len() - 1];
    for key in keys {
        if let Some(mut z) = db.get_mut::<ZSet>(key, ctx.now_ms)? {
            let (m, s) = pop_n(&mut z, max, 1)
                .pop()
                .expect("a stored zset is never empty");
            let r = Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::bulk(&m),
                Reply::Double(s),
            ]);
            return Ok(Outcome::Reply(r));
        }
    }
    Ok(if ctx.may_block {
        Outcome::Block(BlockSpec {
            keys: keys.to_vec(),
            timeout_ms: t,
        })
    } else {
        Outcome::Reply(Reply::NullArray)
    })
}

fn bzpopmin(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> Result<Outcome, Reply> {
    bzpop(db, argv, ctx, false)
}

fn bzpopmax(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> Result<Outcome, Reply> {
    bzpop(db, argv, ctx, true)
}

/// Parsed `numkeys key... MIN|MAX [COUNT n]` starting at `argv[at]`.
struct Mpop {
    keys: std::ops::Range<usize>,
    max: bool,
    count: usize,
}

fn mpop_args(argv: &[Bytes], at: usize) -> Result<Mpop, Reply> {
    let n = numkeys(argv, at)?;
    let keys = at + 1..at + 1 + n;
    let mut i = keys.end;
    let w = argv.get(i).ok_or_else(|| err(ERR_SYNTAX))?;
    let max = if is(w, "min") {
        false
    } else if is(w, "max") {
        true
    } else {
        return Err(err(ERR_SYNTAX));
    };
    i += 1;
    let mut count = 1usize;
    let mut seen = false;
    while i < argv.len() {
        if !seen && is(&argv[i], "count") && i + 1 < argv.len() {
            let c = args::parse_canonical_i64(&argv[i + 1]).filter(|&c| c > 0);
            count = c.ok_or_else(|| err(ERR_COUNT_POSITIVE))? as usize;
            seen = true;
            i += 2;
        } else {
            return Err(err(ERR_SYNTAX));
        }
    }
    Ok(Mpop { keys, max, count })
}

fn mpop_exec(db: &mut Db, argv: &[Bytes], m: &Mpop, now: u64) -> Result<Option<Reply>, Reply> {
    for key in &argv[m.keys.clone()] {
        if let Some(mut z) = db.get_mut::<ZSet>(key, now)? {
            let popped = pop_n(&mut z, m.max, m.count);
            return Ok(Some(Reply::Array(vec![
                Reply::Bulk(key.clone()),
                nested_pairs(&popped),
            ])));
        }
    }
    Ok(None)
}

fn zmpop(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let m = mpop_args(argv, 1)?;
    Ok(mpop_exec(db, argv, &m, ctx.now_ms)?.unwrap_or(Reply::NullArray))
}

fn bzmpop(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> Result<Outcome, Reply> {
    // Redis parses numkeys, the keys and the options before the timeout.
    let m = mpop_args(argv, 2)?;
    let t = timeout(&argv[1])?;
    match mpop_exec(db, argv, &m, ctx.now_ms)? {
        Some(r) => Ok(Outcome::Reply(r)),
        None if ctx.may_block => Ok(Outcome::Block(BlockSpec {
            keys: argv[m.keys].to_vec(),
            timeout_ms: t,
        })),
        None => Ok(Outcome::Reply(Reply::NullArray)),
    }
}

// ----- ZREMRANGEBY* -----

fn remrange(
    db: &mut Db,
    key: &[u8],
    now: u64,
    span: impl Fn(&ZSet) -> (usize, usize),
) -> CmdResult {
    let Some(mut z) = db.get_mut::<ZSet>(key, now)? else {
        return Ok(Reply::Int(0));
    };
    let (s, e) = span(&z);
    if s >= e {
        z.unmodified();
        return Ok(Reply::Int(0));
    }
    Ok(Reply::Int(z.remove_range(s, e).len() as i64))
}

fn zremrangebyrank(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let (a, b) = (int(&argv[2])?, int(&argv[3])?);
    remrange(db, &argv[1], ctx.now_ms, |z| {
        match clamp_range(a, b, z.len()) {
            Some((s, e)) => (s, e + 1),
            None => (0, 0),
        }
    })
}

fn zremrangebyscore(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let r = score_range(&argv[2], &argv[3])?;
    remrange(db, &argv[1], ctx.now_ms, |z| z.score_span(&r))
}

fn zremrangebylex(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let r = lex_range(&argv[2], &argv[3])?;
    remrange(db, &argv[1], ctx.now_ms, |z| z.lex_span(&r))
}

// ----- ZUNION / ZINTER / ZDIFF -----

#[derive(Copy, Clone, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum Agg {
    Sum,
    Min,
    Max,
}

/// One input of the algebra: a sorted set, a plain set (scores 1, as
/// Redis allows), or nothing (missing key).
#[derive(Copy, Clone)]
enum Src<'a> {
    Z(&'a ZSet),
    S(&'a Set),
    Missing,
}

impl<'a> Src<'a> {
    fn len(&self) -> usize {
        match self {
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
            Src::Missing => 0,
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::Z(z) => z.score(m),
            Src::S(s) => s.contains(m).then_some(1.0),
            Src::Missing => None,
        }
    }

    fn items(&self) -> Vec<(&'a [u8], f64)> {
        match *self {
            Src::Z(z) => z.iter().collect(),
            Src::S(s) => s.iter().map(|m| (m, 1.0)).collect(),
            Src::Missing => Vec::new(),
        }
    }
}

struct Algebra<'a> {
    srcs: Vec<Src<'a>>,
    weights: Vec<f64>,
    agg: Agg,
    withscores: bool,
}

fn load_src<'a>(db: &'a Db, key: &[u8], now: u64) -> Result<Src<'a>, Reply> {
    Ok(match db.get(key, now) {
        None => Src::Missing,
        Some(Value::ZSet(z)) => Src::Z(z),
        Some(Value::Set(s)) => Src::S(s),
        Some(_) => return Err(err(args::ERR_WRONGTYPE)),
    })
}

/// Parses `numkeys key...` at `argv[at]` with Redis's errors; returns the
/// number of keys.
fn algebra_numkeys(argv: &[Bytes], at: usize) -> Result<usize, Reply> {
    let n = int(&argv[at])?;
    if n < 1 {
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        return Err(Reply::error(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if n as u64 > (argv.len() - at - 1) as u64 {
        return Err(err(ERR_SYNTAX));
    }
    Ok(n as usize)
}

/// Mirrors `zunionInterDiffGenericCommand`: numkeys at `argv[at]`, then
/// the keys (type-checked before the options), then WEIGHTS / AGGREGATE /
/// WITHSCORES (the latter only without a destination).
fn parse_algebra<'a>(
    db: &'a Db,
    argv: &[Bytes],
    at: usize,
    op: Op,
    store: bool,
    now: u64,
) -> Result<Algebra<'a>, Reply> {
    let n = algebra_numkeys(argv, at)?;
    let srcs = argv[at + 1..at + 1 + n]
        .iter()
        .map(|k| load_src(db, k, now))
        .collect::<Result<Vec<_>, _>>()?;
    let mut a = Algebra {
        srcs,
        weights: vec![1.0; n],
        agg: Agg::Sum,
        withscores: false,
    };
    let mut j = at + 1 + n;
    while j < argv.len() {
        let remaining = argv.len() - j;
        if op != Op::Diff && remaining > n && is(&argv[j], "weights") {
            for i in 0..n {
                a.weights[i] = args::parse_f64_strict(&argv[j + 1 + i])
                    .ok_or_else(|| err("ERR weight value is not a float"))?;
            }
            j += n + 1;
        } else if op != Op::Diff && remaining >= 2 && is(&argv[j], "aggregate") {
            let v = &argv[j + 1];
            a.agg = if is(v, "sum") {
                Agg::Sum
            } else if is(v, "min") {
                Agg::Min
            } else if is(v, "max") {
                Agg::Max
            } else {
                return Err(err(ERR_SYNTAX));
            };
            j += 2;
        } else if !store && is(&argv[j], "withscores") {
            a.withscores = true;
            j += 1;
        } else {
            return Err(err(ERR_SYNTAX));
        }
    }
    Ok(a)
}

/// `score * weight`, with NaN (0 * inf) read as 0 like Redis.
fn weighted(score: f64, w: f64) -> f64 {
    let v = score * w;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

fn aggregate(agg: Agg, acc: f64, v: f64) -> f64 {
    match agg {
        Agg::Sum => {
            let s = acc + v;
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
        Agg::Min => acc.min(v),
        Agg::Max => acc.max(v),
    }
}

/// The inputs ordered by cardinality (Redis walks the smallest first and
/// aggregates in this order).
fn by_size(srcs: &[Src]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..srcs.len()).collect();
    order.sort_by_key(|&i| srcs[i].len());
    order
}

fn compute(a: &Algebra, op: Op) -> ZSet {
    let mut out = ZSet::new_large();
    match op {
        Op::Union => {
            let mut acc: hashbrown::HashMap<&[u8], f64, FixedState> =
                hashbrown::HashMap::with_hasher(FixedState);
            for (src, &w) in a.srcs.iter().zip(&a.weights) {
                for (m, s) in src.items() {
                    let v = weighted(s, w);
                    acc.entry(m)
                        .and_modify(|x| *x = aggregate(a.agg, *x, v))
                        .or_insert(v);
                }
            }
            for (m, s) in acc {
                out.insert(m, s);
            }
        }
        Op::Inter => {
            if a.srcs.iter().any(|s| matches!(s, Src::Missing)) {
                return out;
            }
            let order = by_size(&a.srcs);
            'members: for (m, s) in a.srcs[order[0]].items() {
                let mut acc = weighted(s, a.weights[order[0]]);
                for &i in &order[1..] {
                    // Redis sanitizes NaN only in the first weighted score; the
                    // later ones (0 * inf = NaN) reach the aggregate raw, where
                    // SUM turns a NaN total into 0 and MIN/MAX ignore it.
                    match a.srcs[i].score(m) {
                        Some(s) => acc = aggregate(a.agg, acc, s * a.weights[i]),
                        None => continue 'members,
                    }
                }
                out.insert(m, acc);
            }
        }
        Op::Diff => {
            for (m, s) in a.srcs[0].items() {
                if a.srcs[1..].iter().all(|o| o.score(m).is_none()) {
                    out.insert(m, s);
                }
            }
        }
    }
    out
}

fn algebra_read(db: &Db, argv: &[Bytes], now: u64, op: Op) -> CmdResult {
    let a = parse_algebra(db, argv, 1, op, false, now)?;
    let z = compute(&a, op);
    Ok(scored(z.iter(), a.withscores))
}

fn algebra_store(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx, op: Op) -> CmdResult {
    let z = {
        let a = parse_algebra(db, argv, 2, op, true, ctx.now_ms)?;
        compute(&a, op)
    };
    store(db, &argv[1], z, ctx.now_ms)
}

fn zunion(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    algebra_read(db, argv, now, Op::Union)
}

fn zinter(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    algebra_read(db, argv, now, Op::Inter)
}

fn zdiff(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    algebra_read(db, argv, now, Op::Diff)
}

fn zunionstore(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    algebra_store(db, argv, ctx, Op::Union)
}

fn zinterstore(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    algebra_store(db, argv, ctx, Op::Inter)
}

fn zdiffstore(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    algebra_store(db, argv, ctx, Op::Diff)
}

fn zintercard(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let n = algebra_numkeys(argv, 1)?;
    let srcs = argv[2..2 + n]
        .iter()
        .map(|k| load_src(db, k, now))
        .collect::<Result<Vec<_>, _>>()?;
    let mut limit = 0usize;
    let mut j = 2 + n;
    while j < argv.len() {
        if is(&argv[j], "limit") && j + 1 < argv.len() {
            let l = args::parse_canonical_i64(&argv[j + 1]).filter(|&l| l >= 0);
            limit = l.ok_or_else(|| err("ERR LIMIT can't be negative"))? as usize;
            j += 2;
        } else {
            return Err(err(ERR_SYNTAX));
        }
    }
    if srcs.iter().any(|s| matches!(s, Src::Missing)) {
        return Ok(Reply::Int(0));
    }
    let order = by_size(&srcs);
    let mut count = 0usize;
    for (m, _) in srcs[order[0]].items() {
        if order[1..].iter().all(|&i| srcs[i].score(m).is_some()) {
            count += 1;
            if limit != 0 && count >= limit {
                break;
            }
        }
    }
    Ok(Reply::Int(count as i64))
}

// ----- ZSCAN / ZRANDMEMBER -----

fn zscan(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let cur = cursor(&argv[2])?;
    let o = scan_opts(argv, 3, false)?;
    let Some(z) = db.get_typed::<ZSet>(&argv[1], now)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    // Small sets (Redis's listpack encoding) come back whole, like Redis.
    let (next, items) = if z.encoding() == "listpack" {
        (0, z.iter().collect())
    } else {
        z.scan(cur, o.count)
    };
    let mut out = Vec::new();
    for (m, s) in items.into_iter().filter(|(m, _)| o.matches(m)) {
        out.push(Reply::bulk(m));
        out.push(Reply::Bulk(score_bytes(s)));
    }
    Ok(scan_reply(next, out))
}

fn zrandmember(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let mut rng = read_rng(db, &argv[1], now);
    let Some(count_arg) = argv.get(2) else {
        let z = db.get_typed::<ZSet>(&argv[1], now)?;
        return Ok(match z {
            Some(z) => {
                let r = rng.below(z.len() as u64) as usize;
                Reply::bulk(z.at_rank(r).expect("rank in range").0)
            }
            None => Reply::Null,
        });
    };
    let count = int(count_arg)?;
    if count == i64::MIN {
        return Err(err(ERR_RANDOM_RANGE));
    }
    let withscores = match argv.len() {
        3 => false,
        4 if is(&argv[3], "withscores") => true,
        _ => return Err(err(ERR_SYNTAX)),
    };
    let Some(z) = db.get_typed::<ZSet>(&argv[1], now)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let ranks: Vec<usize> = if count >= 0 {
        if count as u64 >= z.len() as u64 {
            (0..z.len()).collect()
        } else {
            crate::types::set::distinct_positions(&mut rng, z.len(), count as usize)
        }
    } else {
        let n = count.unsigned_abs();
        if n > MAX_RANDOM_REPLY {
            return Err(err("ERR value is out of range"));
        }
        (0..n).map(|_| rng.below(z.len() as u64) as usize).collect()
    };
    let picks = ranks
        .into_iter()
        .map(|r| z.at_rank(r).expect("rank in range"));
    Ok(scored(picks, withscores))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;

    fn setup() -> T {
        let mut t = T::new();
        t.ok("zadd z 1 a 2 b 3 c 4 d", "4");
        t
    }

    #[test]
    fn zadd_options() {
        let mut t = setup();
        t.ok("zadd z 5 a", "0");
        t.ok("zscore z a", "5");
        t.ok("zadd z ch 6 a 1 e", "2");
        t.ok("zadd z nx 0 a 7 f", "1");
        t.ok("zadd z xx 0 a 7 g", "0");
        t.ok("zscore z g", "(nil)");
        t.ok("zadd z gt ch 5 a 9 b", "2");
        t.ok("zscore z a", "5");
        t.ok("zadd z gt ch 4 a", "0");
        t.ok("zadd z lt ch 1 a 1 b", "2");
        t.ok("zadd z incr 2.5 a", "3.5");
        t.ok("zadd z gt incr -1 a", "(nil)");
        t.ok("zadd nokey xx 1 a", "0");
        t.ok("zadd nokey xx incr 1 a", "(nil)");
        t.ok("exists nokey", "0");
        t.ok("zadd z incr inf a", "inf");
        t.err("zadd z incr -inf a", ERR_NAN);
        t.err("zadd z nan a", "ERR value is not a valid float");
        t.err("zadd z 1 a 2", "ERR syntax error");
        t.err(
            "zadd z nx xx 1 a",
            "ERR XX and NX options at the same time are not compatible",
        );
        t.err(
            "zadd z gt lt 1 a",
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        );
        t.err(
            "zadd z gt nx 1 a",
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        );
        t.err(
            "zadd z incr 1 a 2 b",
            "ERR INCR option supports a single increment-element pair",
        );
        t.err(
            "zadd z 1",
            "ERR wrong number of arguments for 'zadd' command",
        );
        t.ok("set s x", "OK");
        t.err("zadd s 1 a", args::ERR_WRONGTYPE);
        // Redis 7.0.15: ERANGE scores rejected before the type check; ranges
        // (plain strtod) take 1e400 as inf; WEIGHTS reject ERANGE too.
        t.err("zadd s 1e400 a", "ERR value is not a valid float");
        t.err("zincrby s 1e400 a", "ERR value is not a valid float");
        t.err("zadd z 1 a 1e-400 b", "ERR value is not a valid float");
        t.err("zadd z xx incr 1e400 a", "ERR value is not a valid float");
        t.ok("zadd z 1e-310 sub", "1");
        t.ok("zscore z sub", "9.9999999999999694e-311");
        t.ok("zcount z 0 1e400", "7");
        t.ok("zcount z (1e400 +inf", "0");
        t.ok("zcount z (1e300 1e400", "1");
        t.err(
            "zunion 1 z weights 1e400",
            "ERR weight value is not a float",
        );
        t.err(
            "zunionstore d 1 z weights 1e-400",
            "ERR weight value is not a float",
        );
        t.ok("zadd z -inf m +inf n", "2");
        t.ok("zscore z m", "-inf");
    }

    #[test]
    fn zincrby_and_reads() {
        let mut t = setup();
        t.ok("zincrby z 1.5 a", "2.5");
        t.ok("zincrby new 0.1 x", "0.10000000000000001");
        t.err("zincrby z x a", "ERR value is not a valid float");
        // Redis 7.0.15: strtod ERANGE rejected, the increment parsed before
        // the key's type is checked.
        t.err("zincrby z 1e400 a", "ERR value is not a valid float");
        t.err("zincrby z 1e-400 a", "ERR value is not a valid float");
        t.ok("zincrby z inf a", "inf");
        // Redis 7.0.15: ZADD's flag parser runs first.
        t.err("zincrby z NX b", "ERR syntax error");
        t.err("zincrby nokey incr 1", "ERR syntax error");
        t.err("zincrby z -inf a", ERR_NAN);
        t.ok("zmscore z a nope c", "[inf,(nil),3]");
        t.ok("zmscore nokey a", "[(nil)]");
        t.ok("zcard z", "4");
        t.ok("zcard nokey", "0");
        t.ok("zrank z b", "0");
        t.ok("zrevrank z b", "3");
        t.ok("zrank z nope", "(nil)");
        t.ok("zrank nokey a", "(nil)");
        t.ok("zrem z a b nope", "2");
        t.ok("zrem z c d", "2");
        t.ok("exists z", "0");
        assert!(matches!(t.reply("zadd z 1 a"), Reply::Int(1)));
        assert!(matches!(t.reply("zscore z a"), Reply::Double(_)));
    }

    #[test]
    fn counts_and_range_syntax() {
        let mut t = setup();
        t.ok("zcount z 2 3", "2");
        t.ok("zcount z (2 3", "1");
        t.ok("zcount z -inf +inf", "4");
        t.ok("zcount z 3 2", "0");
        t.ok("zcount z '( 1' 3", "2");
        t.err("zcount z x 1", ERR_NOT_FLOAT_RANGE);
        t.err("zcount z '1 ' 1", ERR_NOT_FLOAT_RANGE);
        t.err("zcount z nan 1", ERR_NOT_FLOAT_RANGE);
        t.ok("zadd l 0 a 0 b 0 c 0 d", "4");
        t.ok("zlexcount l - +", "4");
        t.ok("zlexcount l [b (d", "2");
        t.ok("zlexcount l + -", "0");
        t.err("zlexcount l a b", ERR_LEX_RANGE);
        t.err("zrangebylex l a +", ERR_LEX_RANGE);
    }

    #[test]
    fn zrange_variants() {
        let mut t = setup();
        t.ok("zrange z 0 -1", "[a,b,c,d]");
        t.ok("zrange z 0 1 withscores", "[a,1,b,2]");
        t.ok("zrange z 0 1 rev", "[d,c]");
        t.ok("zrange z -100 100", "[a,b,c,d]");
        t.ok("zrange z 3 1", "[]");
        t.ok("zrange z (1 3 byscore", "[b,c]");
        t.ok("zrange z 3 (1 byscore rev", "[c,b]");
        t.ok("zrange z -inf +inf byscore limit 1 2", "[b,c]");
        t.ok("zrange z +inf -inf byscore rev limit 1 -1", "[c,b,a]");
        t.ok("zrange z -inf +inf byscore limit -1 2", "[]");
        t.ok("zrange z -inf +inf byscore limit 0 0", "[]");
        t.ok("zrange nokey 0 -1", "[]");
        t.err(
            "zrange z 0 1 limit 0 1",
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
        t.err(
            "zrange z - + bylex withscores",
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        );
        t.err("zrange z 0 1 rev rev", "ERR syntax error");
        t.err("zrange z 0 1 foo", "ERR syntax error");
        t.err(
            "zrange z x 1",
            "ERR value is not an integer or out of range",
        );
        t.ok("zrangebyscore z 2 +inf withscores limit 0 1", "[b,2]");
        t.err("zrangebyscore z 1 3 rev", "ERR syntax error");
        t.ok("zrevrangebyscore z 3 1", "[c,b,a]");
        t.ok("zrevrange z 0 0 withscores", "[d,4]");
        t.err(
            "zrevrange z 0 -1 limit 0 1",
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
        t.ok("zadd l 0 a 0 b 0 c 0 d", "4");
        t.ok("zrangebylex l (a [c", "[b,c]");
        t.ok("zrevrangebylex l + - limit 1 2", "[c,b]");
        t.ok("zrange l [c - bylex rev", "[c,b,a]");
        t.err(
            "zrangebylex l - + withscores",
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        );
        assert_eq!(show(&t.read("zrange z 0 -1")), "[a,b,c,d]");
    }

    #[test]
    fn zrangestore_cases() {
        let mut t = setup();
        t.ok("zrangestore d z 1 2", "2");
        t.ok("zrange d 0 -1 withscores", "[b,2,c,3]");
        t.ok("zrangestore d z 5 6", "0");
        t.ok("exists d", "0");
        t.ok("zrangestore d z (1 +inf byscore limit 0 1", "1");
        t.err("zrangestore d z 0 -1 withscores", "ERR syntax error");
        t.err(
            "zrangestore d z 0 -1 limit 0 1",
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
        t.ok("zrangestore d nokey 0 -1", "0");
        t.ok("exists d", "0");
    }

    #[test]
    fn pops() {
        let mut t = setup();
        t.ok("zpopmin z", "[a,1]");
        t.ok("zpopmax z 2", "[d,4,c,3]");
        t.ok("zpopmin z 0", "[]");
        t.ok("zpopmin nokey", "[]");
        t.err("zpopmin z -1", ERR_POSITIVE);
        t.err("zpopmin z x", ERR_POSITIVE);
        t.err("zpopmin z 1 2", "ERR syntax error");
        t.ok("zpopmax z 9", "[b,2]");
        t.ok("exists z", "0");
        t.ok("zadd z 1 a 2 b 3 c", "3");
        t.ok("zmpop 2 nokey z max count 2", "[z,[[c,3],[b,2]]]");
        assert_eq!(t.reply("zmpop 1 nokey min"), Reply::NullArray);
        t.err("zmpop 0 z min", "ERR numkeys should be greater than 0");
        t.err("zmpop 1 z foo", "ERR syntax error");
        t.err("zmpop 1 z min count 0", ERR_COUNT_POSITIVE);
        t.ok("bzpopmin nokey z 0", "[z,a,1]");
        match t.run("bzpopmax z 2.5") {
            Outcome::Block(b) => assert_eq!(b.timeout_ms, Some(2500)),
            o => panic!("expected block, got {o:?}"),
        }
        match t.run("bzmpop 0 2 x y min") {
            Outcome::Block(b) => assert_eq!(b.keys.len(), 2),
            o => panic!("expected block, got {o:?}"),
        }
        t.err("bzpopmin z x", "ERR timeout is not a float or out of range");
        t.ok("zadd z 5 e", "1");
        assert_eq!(t.ks.take_ready_keys(), vec![Bytes::from("z")]);
        t.ok("bzmpop 0 1 z max", "[z,[[e,5]]]");
        // Redis 7.0.15: numkeys and options before the timeout.
        t.err(
            "bzmpop abc '' z min",
            "ERR numkeys should be greater than 0",
        );
        t.err("bzmpop -1 1 z min xx", "ERR syntax error");
        t.err(
            "bzmpop abc 1 z min count 0",
            "ERR count should be greater than 0",
        );
        t.err("bzmpop abc 1 z min", args::ERR_TIMEOUT);
        let cmds: Vec<Vec<Bytes>> = ["bzpopmin z 0", "bzmpop 0 1 z min"]
            .iter()
            .map(|l| parse(l))
            .collect();
        let ctx = t.ctx();
        assert_eq!(
            t.ks.execute_multi(&cmds, &[], &ctx),
            Reply::Array(vec![Reply::NullArray, Reply::NullArray])
        );
    }

    #[test]
    fn remrange() {
        let mut t = setup();
        t.ok("zremrangebyrank z 0 0", "1");
        t.ok("zremrangebyscore z (2 3", "1");
        t.ok("zrange z 0 -1", "[b,d]");
        t.ok("zremrangebyrank z 5 9", "0");
        t.ok("zremrangebyscore z -inf +inf", "2");
        t.ok("exists z", "0");
        t.ok("zadd l 0 a 0 b 0 c", "3");
        t.ok("zremrangebylex l [a (c", "2");
        t.ok("zrange l 0 -1", "[c]");
        t.err(
            "zremrangebyrank l x 1",
            "ERR value is not an integer or out of range",
        );
        t.err("zremrangebyscore l x 1", ERR_NOT_FLOAT_RANGE);
        t.err("zremrangebylex l x 1", ERR_LEX_RANGE);
        t.ok("zremrangebyrank nokey 0 -1", "0");
    }

    #[test]
    fn algebra() {
        let mut t = T::new();
        t.ok("zadd a 1 x 2 y 3 z", "3");
        t.ok("zadd b 10 y 20 z 30 w", "3");
        t.ok("sadd s x w", "2");
        t.ok("zunion 2 a b withscores", "[x,1,y,12,z,23,w,30]");
        t.ok(
            "zunion 2 a b weights 2 1 aggregate max withscores",
            "[x,2,y,10,z,20,w,30]",
        );
        t.ok("zinter 2 a b withscores", "[y,12,z,23]");
        t.ok("zinter 2 a b aggregate min", "[y,z]");
        t.ok("zinter 2 a s withscores", "[x,2]");
        t.ok("zdiff 2 a b withscores", "[x,1]");
        t.ok("zinter 2 a nokey", "[]");
        t.ok("zunionstore d 2 a b", "4");
        t.ok("zinterstore d 2 a b weights 1 0", "2");
        t.ok("zrange d 0 -1 withscores", "[y,2,z,3]");
        t.ok("zdiffstore d 2 a a", "0");
        t.ok("exists d", "0");
        t.ok("zintercard 2 a b", "2");
        t.ok("zintercard 2 a b limit 1", "1");
        t.ok("zintercard 2 a nokey", "0");
        // Redis 7.0.15 (verified): in ZINTER only the first weighted score
        // has NaN (inf * 0) read as 0; later ones reach the aggregate raw.
        t.ok("zadd ia inf x 5 y", "2");
        t.ok("zadd ib inf x 5 y", "2");
        t.ok("zinter 2 ia ia weights -1 0 withscores", "[y,-5,x,0]");
        t.ok(
            "zinter 2 ia ib weights 1 0 aggregate min withscores",
            "[y,0,x,inf]",
        );
        t.ok(
            "zinter 2 ia ib weights 1 0 aggregate max withscores",
            "[y,5,x,inf]",
        );
        t.ok("zunion 2 ia ib weights -1 0 withscores", "[x,-inf,y,-5]");
        t.ok("zadd inf +inf m", "1");
        t.ok("zunion 1 inf weights 0 withscores", "[m,0]");
        t.err(
            "zunion 0 a",
            "ERR at least 1 input key is needed for 'zunion' command",
        );
        t.err(
            "zunionstore d 0 a",
            "ERR at least 1 input key is needed for 'zunionstore' command",
        );
        t.err(
            "zintercard 0 a",
            "ERR at least 1 input key is needed for 'zintercard' command",
        );
        t.err("zunion 2 a", "ERR syntax error");
        t.err("zunion 1 a weights x", "ERR weight value is not a float");
        t.err("zunion 1 a aggregate foo", "ERR syntax error");
        t.err("zunionstore d 1 a weights 1 2", "ERR syntax error");
        t.err("zunionstore d 1 a withscores", "ERR syntax error");
        t.err("zdiff 1 a weights 1", "ERR syntax error");
        t.err("zintercard 1 a limit -1", "ERR LIMIT can't be negative");
        t.err("zintercard 3 a b", "ERR syntax error");
        t.err(
            "zintercard x a",
            "ERR value is not an integer or out of range",
        );
        t.ok("set str v", "OK");
        t.err("zunion 1 str weights x", args::ERR_WRONGTYPE);
        t.err("zinter 2 nokey str", args::ERR_WRONGTYPE);
    }

    #[test]
    fn zscan_and_randmember() {
        let mut t = setup();
        t.ok("zscan z 0", "[0,[a,1,b,2,c,3,d,4]]");
        t.ok("zscan z 0 match c", "[0,[c,3]]");
        t.ok("zscan nokey 0", "[0,[]]");
        t.err("zscan z x", "ERR invalid cursor");
        for i in 0..300 {
            t.reply(&format!("zadd big {i} m{i}"));
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut cur = "0".to_string();
        for _ in 0..300 {
            let Reply::Array(parts) = t.read(&format!("zscan big {cur} count 20")) else {
                panic!()
            };
            cur = show(&parts[0]);
            let Reply::Array(items) = &parts[1] else {
                panic!()
            };
            seen.extend(items.iter().step_by(2).map(show));
            if cur == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 300);
        t.ok("zrandmember nokey", "(nil)");
        t.ok("zrandmember nokey 3", "[]");
        let r = t.reply("zrandmember z 10 withscores");
        assert!(matches!(&r, Reply::Pairs(v) if v.len() == 4));
        let r = t.reply("zrandmember z -6");
        assert!(matches!(&r, Reply::Array(v) if v.len() == 6));
        let r = t.reply("zrandmember z 2");
        let Reply::Array(v) = &r else { panic!() };
        assert_eq!(v.len(), 2);
        assert_ne!(v[0], v[1]);
        t.err(
            "zrandmember z x",
            "ERR value is not an integer or out of range",
        );
        t.err("zrandmember z 1 foo", "ERR syntax error");
        t.err("zrandmember z -9223372036854775808", ERR_RANDOM_RANGE);
    }

    #[test]
    fn zrandmember_is_deterministic() {
        let run = || {
            let mut t = setup();
            t.reply("zadd z 9 e");
            show(&t.read("zrandmember z -10 withscores"))
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn noop_writes_keep_watch_versions() {
        let mut t = setup();
        let v = t.ks.watch_version(b"z");
        t.ok("zadd z nx 9 a", "0");
        t.ok("zadd z 1 a", "0");
        t.ok("zrem z nope", "0");
        t.ok("zremrangebyscore z 100 200", "0");
        assert_eq!(t.ks.watch_version(b"z"), v);
        t.ok("zadd z 2 a", "0");
        assert_ne!(t.ks.watch_version(b"z"), v);
    }
}

//! List commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET
//! LINSERT LREM LTRIM LPOS LMOVE RPOPLPUSH LMPOP and the blocking forms
//! BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP.
//!
//! Why one file per family (as mini-redis does): each handler parses its
//! arguments in Redis's order (so the first error Redis would report is the
//! one we report), then touches the db through the typed accessors, which
//! do WRONGTYPE, WATCH versions, "ready" signals for blocked clients and
//! deletion of emptied lists.
//!
//! Blocking: a blocking handler tries the non-blocking operation; when
//! nothing can be popped it returns `Outcome::Block` (the server parks the
//! client and re-executes the command when a key is signalled ready) or, in
//! MULTI (`!ctx.may_block`), Redis's timeout reply.
//!
//! Shared helpers used by the set and zset families too: [`timeout`],
//! [`clamp_range`], [`numkeys`].

use super::Handler;
use crate::args::{self, err, int, is, CmdResult, ERR_SYNTAX};
use crate::db::Db;
use crate::types::list::End;
use crate::types::List;
use crate::{BlockSpec, ExecCtx, Outcome};
use bytes::Bytes;
use slotraft_resp::Reply;

/// (name, handler) of every List command.
pub const HANDLERS: &[(&str, Handler)] = &[
    ("lpush", Handler::Write(lpush)),
    ("rpush", Handler::Write(rpush)),
    ("lpushx", Handler::Write(lpushx)),
    ("rpushx", Handler::Write(rpushx)),
    ("lpop", Handler::Write(lpop)),
    ("rpop", Handler::Write(rpop)),
    ("llen", Handler::Read(llen)),
    ("lrange", Handler::Read(lrange)),
    ("lindex", Handler::Read(lindex)),
    ("lset", Handler::Write(lset)),
    ("linsert", Handler::Write(linsert)),
    ("lrem", Handler::Write(lrem)),
    ("ltrim", Handler::Write(ltrim)),
    ("lpos", Handler::Read(lpos)),
    ("lmove", Handler::Write(lmove)),
    ("rpoplpush", Handler::Write(rpoplpush)),
    ("lmpop", Handler::Write(lmpop)),
    ("blpop", Handler::Blocking(blpop)),
    ("brpop", Handler::Blocking(brpop)),
    ("blmove", Handler::Blocking(blmove)),
    ("brpoplpush", Handler::Blocking(brpoplpush)),
    ("blmpop", Handler::Blocking(blmpop)),
];

const ERR_POSITIVE: &str = "ERR value is out of range, must be positive";
const ERR_NUMKEYS: &str = "ERR numkeys should be greater than 0";
const ERR_COUNT_POSITIVE: &str = "ERR count should be greater than 0";

// ----- shared helpers -----

/// Parses a blocking timeout in seconds like Redis 7.0
/// (`getTimeoutFromObjectOrReply`): a float, multiplied by 1000 and rounded
/// up; values whose milliseconds do not fit an i64 (including `inf`) wrap
/// negative in Redis and are reported as negative. `None` = block forever.
pub fn timeout(arg: &[u8]) -> Result<Option<u64>, Reply> {
    let secs = args::parse_f64(arg).ok_or_else(|| err(args::ERR_TIMEOUT))?;
    let ms = (secs * 1000.0).ceil();
    // 2^63: the first value that does not fit Redis's `long long`.
    const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(0.0..I64_LIMIT).contains(&ms) {
        return Err(err(args::ERR_TIMEOUT_NEGATIVE));
    }
    let ms = ms as u64;
    Ok((ms > 0).then_some(ms))
}

/// Redis's index normalisation for LRANGE/ZRANGE-style `start stop`
/// (negative = from the end, inclusive `stop`): `None` when empty, else
/// the inclusive `(start, stop)` inside `0..len`.
pub fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut start = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    };
    let mut stop = if stop < 0 {
        len.saturating_add(stop)
    } else {
        stop
    };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= len {
        return None;
    }
    if stop >= len {
        stop = len - 1;
    }
    Some((start as usize, stop as usize))
}

/// Parses a `numkeys` argument at `argv[idx]` (LMPOP, SINTERCARD, ZMPOP):
/// must be in `1..` and the keys must fit in argv, else Redis's errors.
pub fn numkeys(argv: &[Bytes], idx: usize) -> Result<usize, Reply> {
    let n = args::parse_canonical_i64(&argv[idx])
        .filter(|&n| n > 0)
        .ok_or_else(|| err(ERR_NUMKEYS))?;
    if n as u64 > (argv.len() - idx - 1) as u64 {
        return Err(err(ERR_SYNTAX));
    }
    Ok(n as usize)
}

fn end_arg(arg: &[u8]) -> Result<End, Reply> {
    if is(arg, "left") {
        Ok(End::Left)
    } else if is(arg, "right") {
        Ok(End::Right)
    } else {
        Err(err(ERR_SYNTAX))
    }
}

fn bulk(v: &[u8]) -> Reply {
    Reply::bulk(v)
}

fn block_on(keys: &[Bytes], timeout_ms: Option<u64>) -> Outcome {
    Outcome::Block(BlockSpec {
        keys: keys.to_vec(),
        timeout_ms,
    })
}

// ----- push -----

fn push(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx, end: End, only_existing: bool) -> CmdResult {
    let key = &argv[1];
    let mut list = if only_existing {
        match db.get_mut::<List>(key, ctx.now_ms)? {
            Some(l) => l,
            None => return Ok(Reply::Int(0)),
        }
    } else {
        db.get_or_create::<List>(key, ctx.now_ms)?
    };
    for v in &argv[2..] {
        list.push(end, v);
    }
    Ok(Reply::Int(list.len() as i64))
}

fn lpush(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    push(db, argv, ctx, End::Left, false)
}

fn rpush(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    push(db, argv, ctx, End::Right, false)
}

fn lpushx(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    push(db, argv, ctx, End::Left, true)
}

fn rpushx(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    push(db, argv, ctx, End::Right, true)
}

// ----- pop -----

fn pop(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx, end: End) -> CmdResult {
    if argv.len() > 3 {
        return Err(args::wrong_arity(if end == End::Left {
            "lpop"
        } else {
            "rpop"
        }));
    }
    let count = match argv.get(2) {
        Some(a) => Some(
            args::parse_canonical_i64(a)
                .filter(|&c| c >= 0)
                .ok_or_else(|| err(ERR_POSITIVE))? as usize,
        ),
        None => None,
    };
    let Some(mut list) = db.get_mut::<List>(&argv[1], ctx.now_ms)? else {
        return Ok(if count.is_some() {
            Reply::NullArray
        } else {
            Reply::Null
        });
    };
    match count {
        None => Ok(list.pop(end).map_or(Reply::Null, |v| bulk(&v))),
        Some(0) => {
            list.unmodified();
            Ok(Reply::Array(Vec::new()))
        }
        Some(n) => {
            let n = n.min(list.len());
            let out = (0..n)
                .filter_map(|_| list.pop(end))
                .map(|v| bulk(&v))
                .collect();
            Ok(Reply::Array(out))
        }
    }
}

fn lpop(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    pop(db, argv, ctx, End::Left)
}

fn rpop(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    pop(db, argv, ctx, End::Right)
}

// ----- reads -----

fn llen(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let n = db.get_typed::<List>(&argv[1], now)?.map_or(0, |l| l.len());
    Ok(Reply::Int(n as i64))
}

fn lrange(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let (start, stop) = (int(&argv[2])?, int(&argv[3])?);
    let Some(list) = db.get_typed::<List>(&argv[1], now)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let items = match clamp_range(start, stop, list.len()) {
        None => Vec::new(),
        Some((a, b)) => list.range(a, b).map(bulk).collect(),
    };
    Ok(Reply::Array(items))
}

/// A list index (negative = from the tail) resolved against `len`.
fn resolve_index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 {
        (len as i64).checked_add(i)?
    } else {
        i
    };
    (i >= 0 && (i as u64) < len as u64).then_some(i as usize)
}

fn lindex(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    // Redis looks the key up before parsing the index.
    let Some(list) = db.get_typed::<List>(&argv[1], now)? else {
        return Ok(Reply::Null);
    };
    let idx = int(&argv[2])?;
    Ok(resolve_index(idx, list.len())
        .and_then(|i| list.get(i))
        .map_or(Reply::Null, bulk))
}

struct LposOpts {
    rank: i64,
    count: Option<usize>,
    maxlen: usize,
}

fn lpos_opts(argv: &[Bytes]) -> Result<LposOpts, Reply> {
    let mut o = LposOpts {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let mut i = 3;
    while i < argv.len() {
        if i + 1 >= argv.len() {
            return Err(err(ERR_SYNTAX));
        }
        let (opt, val) = (&argv[i], &argv[i + 1]);
        if is(opt, "rank") {
            o.rank = int(val)?;
            if o.rank == 0 {
                return Err(err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
            }
        } else if is(opt, "count") {
            let c = args::parse_canonical_i64(val).filter(|&c| c >= 0);
            o.count = Some(c.ok_or_else(|| err("ERR COUNT can't be negative"))? as usize);
        } else if is(opt, "maxlen") {
            let m = args::parse_canonical_i64(val).filter(|&m| m >= 0);
            o.maxlen = m.ok_or_else(|| err("ERR MAXLEN can't be negative"))? as usize;
        } else {
            return Err(err(ERR_SYNTAX));
        }
        i += 2;
    }
    Ok(o)
}

fn lpos(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let o = lpos_opts(argv)?;
    let Some(list) = db.get_typed::<List>(&argv[1], now)? else {
        return Ok(if o.count.is_some() {
            Reply::Array(Vec::new())
        } else {
            Reply::Null
        });
    };
    let from_tail = o.rank < 0;
    // Redis 7.0 negates RANK without an overflow check: i64::MIN behaves
    // like -1 there (the first match from the tail).
    let skip = if o.rank == i64::MIN {
        0
    } else {
        o.rank.unsigned_abs() - 1
    };
    let want = match o.count {
        None => 1,
        Some(0) => usize::MAX,
        // Redis 7.0's COUNT check `matches - rank + 1 >= count` overflows
        // for RANK LLONG_MIN and never stops: every match is returned.
        Some(_) if o.rank == i64::MIN => usize::MAX,
        Some(c) => c,
    };
    let len = list.len();
    let scan = if o.maxlen == 0 {
        len
    } else {
        o.maxlen.min(len)
    };
    let mut found = Vec::new();
    let mut matches = 0u64;
    for k in 0..scan {
        let idx = if from_tail { len - 1 - k } else { k };
        if list.get(idx) == Some(&argv[2][..]) {
            matches += 1;
            if matches > skip {
                found.push(Reply::Int(idx as i64));
                if found.len() >= want {
                    break;
                }
            }
        }
    }
    Ok(match o.count {
        Some(_) => Reply::Array(found),
        None => found.pop().unwrap_or(Reply::Null),
    })
}

// ----- in-place edits -----

fn lset(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    // Redis looks the key up before parsing the index.
    let Some(mut list) = db.get_mut::<List>(&argv[1], ctx.now_ms)? else {
        return Err(err(args::ERR_NO_SUCH_KEY));
    };
    let idx = int(&argv[2])?;
    match resolve_index(idx, list.len()) {
        Some(i) => {
            list.set(i, &argv[3]);
            Ok(Reply::OK)
        }
        None => Err(err("ERR index out of range")),
    }
}

fn linsert(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let after = if is(&argv[2], "after") {
        true
    } else if is(&argv[2], "before") {
        false
    } else {
        return Err(err(ERR_SYNTAX));
    };
    let Some(mut list) = db.get_mut::<List>(&argv[1], ctx.now_ms)? else {
        return Ok(Reply::Int(0));
    };
    match list.position(&argv[3]) {
        Some(p) => {
            list.insert(p + after as usize, &argv[4]);
            Ok(Reply::Int(list.len() as i64))
        }
        None => Ok(Reply::Int(-1)),
    }
}

fn lrem(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let count = int(&argv[2])?;
    let Some(mut list) = db.get_mut::<List>(&argv[1], ctx.now_ms)? else {
        return Ok(Reply::Int(0));
    };
    let n = list.remove_matching(&argv[3], count.unsigned_abs() as usize, count < 0);
    if n == 0 {
        list.unmodified();
    }
    Ok(Reply::Int(n as i64))
}

fn ltrim(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let (start, stop) = (int(&argv[2])?, int(&argv[3])?);
    if let Some(mut list) = db.get_mut::<List>(&argv[1], ctx.now_ms)? {
        let keep = clamp_range(start, stop, list.len());
        if keep != Some((0, list.len().saturating_sub(1))) {
            list.trim(keep);
        }
    }
    Ok(Reply::OK)
}

// ----- moves -----

/// LMOVE core: `Ok(None)` when the source is absent.
fn do_move(
    db: &mut Db,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
    now: u64,
) -> Result<Option<Reply>, Reply> {
    if db.get_typed::<List>(src, now)?.is_none() {
        return Ok(None);
    }
    // Redis checks the destination's type before popping.
    db.get_typed::<List>(dst, now)?;
    let v = {
        let mut s = db.get_mut::<List>(src, now)?.expect("checked present");
        s.pop(from).expect("a stored list is never empty")
    };
    db.get_or_create::<List>(dst, now)?.push(to, &v);
    Ok(Some(bulk(&v)))
}

fn lmove(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let (from, to) = (end_arg(&argv[3])?, end_arg(&argv[4])?);
    Ok(do_move(db, &argv[1], &argv[2], from, to, ctx.now_ms)?.unwrap_or(Reply::Null))
}

fn rpoplpush(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    Ok(do_move(db, &argv[1], &argv[2], End::Right, End::Left, ctx.now_ms)?.unwrap_or(Reply::Null))
}

/// Parsed `numkeys key... LEFT|RIGHT [COUNT n]` starting at `argv[at]`.
struct Mpop {
    keys: std::ops::Range<usize>,
    end: End,
    count: usize,
}

fn mpop_args(argv: &[Bytes], at: usize) -> Result<Mpop, Reply> {
    let n = numkeys(argv, at)?;
    let keys = at + 1..at + 1 + n;
    let mut i = keys.end;
    let end = end_arg(argv.get(i).ok_or_else(|| err(ERR_SYNTAX))?)?;
    i += 1;
    let mut count = 1usize;
    let mut seen_count = false;
    while i < argv.len() {
        if !seen_count && is(&argv[i], "count") && i + 1 < argv.len() {
            let c = args::parse_canonical_i64(&argv[i + 1]).filter(|&c| c > 0);
            count = c.ok_or_else(|| err(ERR_COUNT_POSITIVE))? as usize;
            seen_count = true;
            i += 2;
        } else {
            return Err(err(ERR_SYNTAX));
        }
    }
    Ok(Mpop { keys, end, count })
}

/// Pops up to `count` from the first non-empty list; `Ok(None)` if none.
fn mpop_exec(db: &mut Db, argv: &[Bytes], m: &Mpop, now: u64) -> Result<Option<Reply>, Reply> {
    for key in &argv[m.keys.clone()] {
        if let Some(mut list) = db.get_mut::<List>(key, now)? {
            let n = m.count.min(list.len());
            let items = (0..n)
                .filter_map(|_| list.pop(m.end))
                .map(|v| bulk(&v))
                .collect();
            return Ok(Some(Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Array(items),
            ])));
        }
    }
    Ok(None)
}

fn lmpop(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let m = mpop_args(argv, 1)?;
    Ok(mpop_exec(db, argv, &m, ctx.now_ms)?.unwrap_or(Reply::NullArray))
}

// ----- blocking -----

fn bpop(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx, end: End) -> Result<Outcome, Reply> {
    let t = timeout(&argv[argv.len() - 1])?;
    let keys = &argv[1..argv.len() - 1];
    for key in keys {
        if let Some(mut list) = db.get_mut::<List>(key, ctx.now_ms)? {
            let v = list.pop(end).expect("a stored list is never empty");
            return Ok(Outcome::Reply(Reply::Array(vec![
                Reply::Bulk(key.clone()),
                bulk(&v),
            ])));
        }
    }
    Ok(if ctx.may_block {
        block_on(keys, t)
    } else {
        Outcome::Reply(Reply::NullArray)
    })
}

fn blpop(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> Result<Outcome, Reply> {
    bpop(db, argv, ctx, End::Left)
}

fn brpop(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> Result<Outcome, Reply> {
    bpop(db, argv, ctx, End::Right)
}

fn bmove(
    db: &mut Db,
    argv: &[Bytes],
    ctx: &ExecCtx,
    from: End,
    to: End,
    t: Option<u64>,
) -> Result<Outcome, Reply> {
    match do_move(db, &argv[1], &argv[2], from, to, ctx.now_ms)? {
        Some(r) => Ok(Outcome::Reply(r)),
        None if ctx.may_block => Ok(block_on(&argv[1..2], t)),
        None => Ok(Outcome::Reply(Reply::Null)),
    }
}

fn blmove(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> Result<Outcome, Reply> {
    let (from, to) = (end_arg(&argv[3])?, end_arg(&argv[4])?);
    let t = timeout(&argv[5])?;
    bmove(db, argv, ctx, from, to, t)
}

fn brpoplpush(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> Result<Outcome, Reply> {
    let t = timeout(&argv[3])?;
    bmove(db, argv, ctx, End::Right, End::Left, t)
}

fn blmpop(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> Result<Outcome, Reply> {
    // Redis parses numkeys, the keys and the options before the timeout.
    let m = mpop_args(argv, 2)?;
    let t = timeout(&argv[1])?;
    match mpop_exec(db, argv, &m, ctx.now_ms)? {
        Some(r) => Ok(Outcome::Reply(r)),
        None if ctx.may_block => Ok(block_on(&argv[m.keys], t)),
        None => Ok(Outcome::Reply(Reply::NullArray)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::*;

    #[test]
    fn timeout_parsing() {
        assert_eq!(timeout(b"0"), Ok(None));
        assert_eq!(timeout(b"0.0001"), Ok(Some(1)));
        assert_eq!(timeout(b"1.5"), Ok(Some(1500)));
        assert_eq!(timeout(b"-1"), Err(err(args::ERR_TIMEOUT_NEGATIVE)));
        assert_eq!(timeout(b"inf"), Err(err(args::ERR_TIMEOUT_NEGATIVE)));
        assert_eq!(timeout(b"1e30"), Err(err(args::ERR_TIMEOUT_NEGATIVE)));
        assert_eq!(timeout(b"abc"), Err(err(args::ERR_TIMEOUT)));
    }

    #[test]
    fn clamp_like_redis() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 2)));
        assert_eq!(clamp_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(3, 5, 3), None);
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(clamp_range(0, -1, 0), None);
    }

    #[test]
    fn push_pop_len_range() {
        let mut t = T::new();
        t.ok("rpush l a b c", "3");
        t.ok("lpush l z", "4");
        t.ok("lrange l 0 -1", "[z,a,b,c]");
        t.ok("lrange l -2 100", "[b,c]");
        t.ok("lrange l 5 10", "[]");
        t.ok("lrange nokey 0 -1", "[]");
        t.err(
            "lrange l x 1",
            "ERR value is not an integer or out of range",
        );
        t.ok("llen l", "4");
        t.ok("lpop l", "z");
        t.ok("rpop l 2", "[c,b]");
        t.ok("lpop l 0", "[]");
        t.ok("lpop l 5", "[a]");
        t.ok("exists l", "0");
        t.ok("lpop l", "(nil)");
        assert_eq!(t.reply("lpop l 1"), Reply::NullArray);
        assert_eq!(t.reply("lpop l"), Reply::Null);
        t.err("lpop l -1", ERR_POSITIVE);
        t.err("lpop l abc", ERR_POSITIVE);
        t.err(
            "lpop l 1 2",
            "ERR wrong number of arguments for 'lpop' command",
        );
        t.ok("lpushx l a", "0");
        t.ok("rpush l a", "1");
        t.ok("rpushx l b c", "3");
        t.ok("lpushx l 0", "4");
        t.ok("lrange l 0 -1", "[0,a,b,c]");
        t.ok("set s x", "OK");
        t.err("lpush s a", args::ERR_WRONGTYPE);
        t.err("llen s", args::ERR_WRONGTYPE);
        t.err("lrange s 0 1", args::ERR_WRONGTYPE);
    }

    #[test]
    fn index_set_insert_rem_trim() {
        let mut t = T::new();
        t.ok("rpush l a b c a", "4");
        t.ok("lindex l 0", "a");
        t.ok("lindex l -1", "a");
        t.ok("lindex l 4", "(nil)");
        t.ok("lindex l -5", "(nil)");
        t.ok("lindex nokey 0", "(nil)");
        t.err("lindex l x", "ERR value is not an integer or out of range");
        t.ok("lset l -2 C", "OK");
        t.err("lset l 9 x", "ERR index out of range");
        t.err("lset nokey 0 x", "ERR no such key");
        t.ok("linsert l before C x", "5");
        t.ok("linsert l after a y", "6");
        t.ok("lrange l 0 -1", "[a,y,b,x,C,a]");
        t.ok("linsert l before zz q", "-1");
        t.ok("linsert nokey before a q", "0");
        t.err("linsert l middle a q", "ERR syntax error");
        t.ok("lrem l -1 a", "1");
        t.ok("lrem l 0 zz", "0");
        t.ok("lrange l 0 -1", "[a,y,b,x,C]");
        t.ok("ltrim l 1 -2", "OK");
        t.ok("lrange l 0 -1", "[y,b,x]");
        t.ok("ltrim l 5 1", "OK");
        t.ok("exists l", "0");
        t.ok("ltrim nokey 0 1", "OK");
    }

    #[test]
    fn lpos_options() {
        let mut t = T::new();
        t.ok("rpush l a b c a b a", "6");
        t.ok("lpos l a", "0");
        t.ok("lpos l a rank 2", "3");
        t.ok("lpos l a rank -1", "5");
        t.ok("lpos l a rank -9223372036854775808", "5");
        // Redis 7.0.15 quirk: with RANK LLONG_MIN any COUNT returns every
        // match from the tail (its count check overflows); MAXLEN still bounds.
        t.ok("lpos l a rank -9223372036854775808 count 1", "[5,3,0]");
        t.ok("lpos l a rank -9223372036854775808 count 1 maxlen 2", "[5]");
        t.ok("lpos l a count 0", "[0,3,5]");
        t.ok("lpos l a count 2 rank -1", "[5,3]");
        t.ok("lpos l a maxlen 3 count 0", "[0]");
        t.ok("lpos l zz", "(nil)");
        t.ok("lpos l zz count 1", "[]");
        t.ok("lpos nokey a count 1", "[]");
        t.err("lpos l a rank 0", "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
        t.err("lpos l a count -1", "ERR COUNT can't be negative");
        t.err("lpos l a maxlen -1", "ERR MAXLEN can't be negative");
        t.err("lpos l a rank", "ERR syntax error");
        t.err("lpos l a foo 1", "ERR syntax error");
    }

    #[test]
    fn moves_and_mpop() {
        let mut t = T::new();
        t.ok("rpush s a b c", "3");
        t.ok("lmove s d right left", "c");
        t.ok("rpoplpush s d", "b");
        t.ok("lrange d 0 -1", "[b,c]");
        t.ok("lmove d d left right", "b");
        t.ok("lrange d 0 -1", "[c,b]");
        t.ok("lmove nokey d left left", "(nil)");
        t.err("lmove s d up left", "ERR syntax error");
        t.ok("set str x", "OK");
        t.err("lmove s str left left", args::ERR_WRONGTYPE);
        t.ok("llen s", "1");
        t.ok("lmpop 2 nokey d right count 5", "[d,[b,c]]");
        assert_eq!(t.reply("lmpop 1 d left"), Reply::NullArray);
        t.err("lmpop 0 d left", ERR_NUMKEYS);
        t.err("lmpop x d left", ERR_NUMKEYS);
        t.err("lmpop 2 d left", "ERR syntax error");
        t.err("lmpop 1 d middle", "ERR syntax error");
        t.err("lmpop 1 d left count 0", ERR_COUNT_POSITIVE);
        t.err("lmpop 1 d left count 1 x", "ERR syntax error");
        t.err("lmpop 1 str left", args::ERR_WRONGTYPE);
    }

    #[test]
    fn blocking_pops() {
        let mut t = T::new();
        match t.run("blpop a b 1.5") {
            Outcome::Block(b) => {
                assert_eq!(b.keys, vec![Bytes::from("a"), Bytes::from("b")]);
                assert_eq!(b.timeout_ms, Some(1500));
            }
            o => panic!("expected block, got {o:?}"),
        }
        match t.run("blmpop 0 1 a left") {
            Outcome::Block(b) => assert_eq!(b.timeout_ms, None),
            o => panic!("expected block, got {o:?}"),
        }
        t.ok("rpush b x y", "2");
        assert_eq!(t.ks.take_ready_keys(), vec![Bytes::from("b")]);
        t.ok("blpop a b 0", "[b,x]");
        t.ok("brpop a b 0", "[b,y]");
        t.ok("exists b", "0");
        t.err("blpop a -1", "ERR timeout is negative");
        t.err("blpop a x", "ERR timeout is not a float or out of range");
        t.ok("rpush c 1", "1");
        t.ok("blmove c d left right 0", "1");
        t.ok("rpush c 2", "1");
        t.ok("brpoplpush c d 0", "2");
        t.ok("lrange d 0 -1", "[2,1]");
        t.ok("blmpop 0 2 a d right count 9", "[d,[1,2]]");
        t.err("blmpop 0 0 a left", ERR_NUMKEYS);
        // Redis 7.0.15: numkeys, keys and options are checked before the
        // timeout.
        t.err("blmpop abc '' str left", ERR_NUMKEYS);
        t.err("blmpop -1 2 l2 l1 right xx", "ERR syntax error");
        t.err("blmpop abc 2 l0 l0 left nx", "ERR syntax error");
        t.err(
            "blmpop abc 1 l0 left count 0",
            "ERR count should be greater than 0",
        );
        t.err("blmpop abc 1 l0 left", args::ERR_TIMEOUT);
        t.err("blmpop -1 1 l0 left", args::ERR_TIMEOUT_NEGATIVE);
        t.ok("set str x", "OK");
        t.err("blpop str 0", args::ERR_WRONGTYPE);
    }

    #[test]
    fn blocking_in_multi_replies_null() {
        let mut t = T::new();
        let cmds: Vec<Vec<Bytes>> = [
            "blpop a 0",
            "brpoplpush a b 0",
            "blmove a b left left 0",
            "blmpop 0 1 a left",
        ]
        .iter()
        .map(|l| parse(l))
        .collect();
        let ctx = t.ctx();
        let r = t.ks.execute_multi(&cmds, &[], &ctx);
        assert_eq!(
            r,
            Reply::Array(vec![
                Reply::NullArray,
                Reply::Null,
                Reply::Null,
                Reply::NullArray
            ])
        );
    }

    #[test]
    fn reads_work_through_execute_read() {
        let mut t = T::new();
        t.ok("rpush l a b", "2");
        assert_eq!(show(&t.read("lrange l 0 -1")), "[a,b]");
        assert_eq!(show(&t.read("llen l")), "2");
        assert_eq!(show(&t.read("lindex l 1")), "b");
        assert_eq!(show(&t.read("lpos l b")), "1");
        assert!(t.read("lpush l c").is_error());
    }

    #[test]
    fn noop_writes_keep_watch_versions() {
        let mut t = T::new();
        t.ok("rpush l a", "1");
        let v = t.ks.watch_version(b"l");
        t.ok("lrem l 0 zz", "0");
        t.ok("lpop l 0", "[]");
        t.ok("ltrim l 0 -1", "OK");
        assert_eq!(t.ks.watch_version(b"l"), v);
        t.ok("lpush l b", "2");
        assert_ne!(t.ks.watch_version(b"l"), v);
    }
}

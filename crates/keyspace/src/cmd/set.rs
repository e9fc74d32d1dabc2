//! Set commands: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP
//! SRANDMEMBER SMOVE SINTER SINTERCARD SUNION SDIFF SINTERSTORE SUNIONSTORE
//! SDIFFSTORE SSCAN.
//!
//! Determinism: SPOP (a write) draws from `ctx.seed`; SRANDMEMBER (a read,
//! served by any replica) draws from a seed derived from the read point
//! (time, op counter, key), like HRANDFIELD. Both pick by position in the
//! set's deterministic member order (see `types/set.rs`), never by hash
//! table layout, so replicas with the same state answer the same.
//!
//! Multi-key algebra (SINTER/SUNION/SDIFF) checks every key's type first,
//! as Redis does, so a WRONGTYPE key is reported even after a missing one.

use super::Handler;
use crate::args::{self, cursor, err, int, is, scan_opts, CmdResult, ERR_SYNTAX};
use crate::db::{Db, SetExpire};
use crate::rng::{hash_bytes, mix64, Rng};
use crate::types::{Set, Value};
use crate::ExecCtx;
use bytes::Bytes;
use slotraft_resp::Reply;

/// (name, handler) of every Set command.
pub const HANDLERS: &[(&str, Handler)] = &[
    ("sadd", Handler::Write(sadd)),
    ("srem", Handler::Write(srem)),
    ("smembers", Handler::Read(smembers)),
    ("sismember", Handler::Read(sismember)),
    ("smismember", Handler::Read(smismember)),
    ("scard", Handler::Read(scard)),
    ("spop", Handler::Write(spop)),
    ("srandmember", Handler::Read(srandmember)),
    ("smove", Handler::Write(smove)),
    ("sinter", Handler::Read(sinter)),
    ("sintercard", Handler::Read(sintercard)),
    ("sunion", Handler::Read(sunion)),
    ("sdiff", Handler::Read(sdiff)),
    ("sinterstore", Handler::Write(sinterstore)),
    ("sunionstore", Handler::Write(sunionstore)),
    ("sdiffstore", Handler::Write(sdiffstore)),
    ("sscan", Handler::Read(sscan)),
];

/// Largest reply SRANDMEMBER with a negative count builds at once (Redis
/// has no limit and would try to allocate whatever the client asks).
pub const MAX_RANDOM_REPLY: u64 = 64 * 1024 * 1024;

const ERR_POSITIVE: &str = "ERR value is out of range, must be positive";
const ERR_RANDOM_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";

fn bulk(v: &[u8]) -> Reply {
    Reply::bulk(v)
}

/// The RNG of a read command: a pure function of the read point (time, op
/// counter) and the key, so every replica at the same state agrees.
pub fn read_rng(db: &Db, key: &[u8], now: u64) -> Rng {
    Rng::new(mix64(now ^ mix64(db.op_counter()) ^ hash_bytes(key)))
}

fn sadd(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let mut set = db.get_or_create::<Set>(&argv[1], ctx.now_ms)?;
    let added = argv[2..].iter().filter(|m| set.insert(m)).count();
    if added == 0 {
        set.unmodified();
    }
    Ok(Reply::Int(added as i64))
}

fn srem(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let Some(mut set) = db.get_mut::<Set>(&argv[1], ctx.now_ms)? else {
        return Ok(Reply::Int(0));
    };
    let mut removed = 0;
    for m in &argv[2..] {
        if set.is_empty() {
            break;
        }
        removed += set.remove(m) as i64;
    }
    if removed == 0 {
        set.unmodified();
    }
    Ok(Reply::Int(removed))
}

fn smembers(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let set = db.get_typed::<Set>(&argv[1], now)?;
    Ok(Reply::Set(
        set.map_or_else(Vec::new, |s| s.iter().map(bulk).collect()),
    ))
}

fn sismember(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let set = db.get_typed::<Set>(&argv[1], now)?;
    Ok(Reply::Int(set.is_some_and(|s| s.contains(&argv[2])) as i64))
}

fn smismember(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let set = db.get_typed::<Set>(&argv[1], now)?;
    let out = argv[2..]
        .iter()
        .map(|m| Reply::Int(set.is_some_and(|s| s.contains(m)) as i64))
        .collect();
    Ok(Reply::Array(out))
}

fn scard(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let n = db.get_typed::<Set>(&argv[1], now)?.map_or(0, |s| s.len());
    Ok(Reply::Int(n as i64))
}

fn spop(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    if argv.len() > 3 {
        return Err(err(ERR_SYNTAX));
    }
    let count = match argv.get(2) {
        Some(a) => Some(
            args::parse_canonical_i64(a)
                .filter(|&c| c >= 0)
                .ok_or_else(|| err(ERR_POSITIVE))? as usize,
        ),
        None => None,
    };
    let mut rng = Rng::new(ctx.seed);
    let Some(mut set) = db.get_mut::<Set>(&argv[1], ctx.now_ms)? else {
        return Ok(if count.is_some() {
            Reply::Set(Vec::new())
        } else {
            Reply::Null
        });
    };
    match count {
        None => Ok(set.pop_random(&mut rng).map_or(Reply::Null, |m| bulk(&m))),
        Some(0) => {
            set.unmodified();
            Ok(Reply::Set(Vec::new()))
        }
        Some(n) => {
            let n = n.min(set.len());
            let out = (0..n)
                .filter_map(|_| set.pop_random(&mut rng))
                .map(|m| bulk(&m))
                .collect();
            Ok(Reply::Set(out))
        }
    }
}

fn srandmember(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    if argv.len() > 3 {
        return Err(err(ERR_SYNTAX));
    }
    let mut rng = read_rng(db, &argv[1], now);
    let Some(arg) = argv.get(2) else {
        let set = db.get_typed::<Set>(&argv[1], now)?;
        return Ok(set
            .and_then(|s| s.random_member(&mut rng))
            .map_or(Reply::Null, bulk));
    };
    let count = int(arg)?;
    if count == i64::MIN {
        return Err(err(ERR_RANDOM_RANGE));
    }
    let Some(set) = db.get_typed::<Set>(&argv[1], now)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    if count >= 0 {
        let picks = set.sample_distinct(count as usize, &mut rng);
        return Ok(Reply::Array(picks.into_iter().map(bulk).collect()));
    }
    let n = count.unsigned_abs();
    if n > MAX_RANDOM_REPLY {
        return Err(err("ERR value is out of range"));
    }
    let out = (0..n)
        .filter_map(|_| set.random_member(&mut rng))
        .map(bulk)
        .collect();
    Ok(Reply::Array(out))
}

fn smove(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let (src, dst, m) = (&argv[1], &argv[2], &argv[3]);
    let now = ctx.now_ms;
    // Redis answers 0 for a missing source before type-checking the rest.
    let Some(s) = db.get_typed::<Set>(src, now)? else {
        return Ok(Reply::Int(0));
    };
    let present = s.contains(m);
    db.get_typed::<Set>(dst, now)?;
    if src == dst {
        return Ok(Reply::Int(present as i64));
    }
    if !present {
        return Ok(Reply::Int(0));
    }
    db.get_mut::<Set>(src, now)?
        .expect("checked present")
        .remove(m);
    db.get_or_create::<Set>(dst, now)?.insert(m);
    Ok(Reply::Int(1))
}

/// Looks up every key (all type-checked, like Redis); `None` for absent.
fn load<'a>(db: &'a Db, keys: &[Bytes], now: u64) -> Result<Vec<Option<&'a Set>>, Reply> {
    keys.iter()
        .map(|k| db.get_typed::<Set>(k, now).map_err(Reply::from))
        .collect()
}

/// Members of the intersection (in the smallest set's order), at most
/// `limit` of them (0 = no limit).
fn inter<'a>(sets: &[Option<&'a Set>], limit: usize) -> Vec<&'a [u8]> {
    if sets.iter().any(|s| s.is_none()) {
        return Vec::new();
    }
    let mut sets: Vec<&Set> = sets.iter().flatten().copied().collect();
    sets.sort_by_key(|s| s.len());
    let (first, rest) = sets.split_first().expect("at least one key");
    let mut out = Vec::new();
    for m in first.iter() {
        if rest.iter().all(|s| s.contains(m)) {
            out.push(m);
            if limit != 0 && out.len() >= limit {
                break;
            }
        }
    }
    out
}

fn union(sets: &[Option<&Set>]) -> Set {
    let mut out = Set::new();
    for s in sets.iter().flatten() {
        for m in s.iter() {
            out.insert(m);
        }
    }
    out
}

fn diff(sets: &[Option<&Set>]) -> Set {
    let mut out = Set::new();
    let Some(Some(first)) = sets.first() else {
        return out;
    };
    for m in first.iter() {
        if !sets[1..].iter().flatten().any(|s| s.contains(m)) {
            out.insert(m);
        }
    }
    out
}

fn set_reply<'a>(members: impl Iterator<Item = &'a [u8]>) -> Reply {
    Reply::Set(members.map(bulk).collect())
}

fn sinter(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let sets = load(db, &argv[1..], now)?;
    Ok(set_reply(inter(&sets, 0).into_iter()))
}

fn sunion(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let sets = load(db, &argv[1..], now)?;
    Ok(set_reply(union(&sets).iter()))
}

fn sdiff(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let sets = load(db, &argv[1..], now)?;
    Ok(set_reply(diff(&sets).iter()))
}

fn sintercard(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let n = args::parse_canonical_i64(&argv[1])
        .filter(|&n| n > 0)
        .ok_or_else(|| err("ERR numkeys should be greater than 0"))?;
    if n as u64 > (argv.len() - 2) as u64 {
        return Err(err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let keys = &argv[2..2 + n as usize];
    let mut limit = 0usize;
    let mut i = 2 + n as usize;
    while i < argv.len() {
        if is(&argv[i], "limit") && i + 1 < argv.len() {
            let l = args::parse_canonical_i64(&argv[i + 1]).filter(|&l| l >= 0);
            limit = l.ok_or_else(|| err("ERR LIMIT can't be negative"))? as usize;
            i += 2;
        } else {
            return Err(err(ERR_SYNTAX));
        }
    }
    let sets = load(db, keys, now)?;
    Ok(Reply::Int(inter(&sets, limit).len() as i64))
}

/// Stores `result` at `dst` (deleting `dst` when empty); replies its size.
fn store(db: &mut Db, dst: &[u8], result: Set, now: u64) -> CmdResult {
    let n = result.len();
    if n == 0 {
        db.delete(dst, now);
    } else {
        db.set(dst, Value::Set(Box::new(result)), SetExpire::Clear, now);
    }
    Ok(Reply::Int(n as i64))
}

fn sinterstore(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let sets = load(db, &argv[2..], ctx.now_ms)?;
    let mut out = Set::new();
    for m in inter(&sets, 0) {
        out.insert(m);
    }
    store(db, &argv[1], out, ctx.now_ms)
}

fn sunionstore(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let out = union(&load(db, &argv[2..], ctx.now_ms)?);
    store(db, &argv[1], out, ctx.now_ms)
}

fn sdiffstore(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let out = diff(&load(db, &argv[2..], ctx.now_ms)?);
    store(db, &argv[1], out, ctx.now_ms)
}

fn sscan(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let cur = cursor(&argv[2])?;
    let o = scan_opts(argv, 3, false)?;
    let Some(set) = db.get_typed::<Set>(&argv[1], now)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    // Small integer sets (Redis's intset) come back whole, like Redis.
    let (next, items) = if set.encoding() == "intset" {
        (0, set.iter().collect())
    } else {
        set.scan(cur, o.count)
    };
    let out = items
        .into_iter()
        .filter(|m| o.matches(m))
        .map(bulk)
        .collect();
    Ok(scan_reply(next, out))
}

/// `[cursor, [items...]]`, the SCAN-family reply.
pub fn scan_reply(next: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(items),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::ERR_NOT_INTEGER;
    use crate::test_util::*;

    fn sorted(r: &Reply) -> Vec<String> {
        let (Reply::Set(v) | Reply::Array(v)) = r else {
            panic!("not a collection: {r:?}")
        };
        let mut out: Vec<String> = v.iter().map(show).collect();
        out.sort();
        out
    }

    #[test]
    fn add_rem_members() {
        let mut t = T::new();
        t.ok("sadd s a b c a", "3");
        t.ok("sadd s a", "0");
        t.ok("scard s", "3");
        assert_eq!(sorted(&t.reply("smembers s")), ["a", "b", "c"]);
        assert!(matches!(t.reply("smembers s"), Reply::Set(_)));
        t.ok("sismember s a", "1");
        t.ok("sismember s z", "0");
        t.ok("sismember nokey z", "0");
        t.ok("smismember s a z", "[1,0]");
        t.ok("smismember nokey a", "[0]");
        t.ok("srem s a z", "1");
        t.ok("srem s b c", "2");
        t.ok("exists s", "0");
        t.ok("srem s a", "0");
        t.ok("smembers nokey", "[]");
        t.ok("set str x", "OK");
        t.err("sadd str a", args::ERR_WRONGTYPE);
        t.err("smembers str", args::ERR_WRONGTYPE);
        t.err("scard str", args::ERR_WRONGTYPE);
        t.err("sadd s", "ERR wrong number of arguments for 'sadd' command");
    }

    #[test]
    fn spop_and_srandmember() {
        let mut t = T::new();
        t.ok("sadd s a b c d e", "5");
        let r = t.reply("spop s 2");
        assert!(matches!(&r, Reply::Set(v) if v.len() == 2));
        t.ok("scard s", "3");
        t.ok("spop s 0", "[]");
        assert!(matches!(t.reply("spop s"), Reply::Bulk(_)));
        assert_eq!(sorted(&t.reply("spop s 10")).len(), 2);
        t.ok("exists s", "0");
        t.ok("spop s", "(nil)");
        assert_eq!(t.reply("spop s 3"), Reply::Set(Vec::new()));
        t.err("spop s -1", ERR_POSITIVE);
        t.err("spop s x", ERR_POSITIVE);
        t.err("spop s 1 2", "ERR syntax error");
        t.ok("sadd s a b c", "3");
        assert_eq!(sorted(&t.reply("srandmember s 5")), ["a", "b", "c"]);
        assert_eq!(sorted(&t.reply("srandmember s 2")).len(), 2);
        let r = t.reply("srandmember s -7");
        assert!(matches!(&r, Reply::Array(v) if v.len() == 7));
        t.ok("srandmember nokey 3", "[]");
        t.ok("srandmember nokey", "(nil)");
        t.err("srandmember s x", ERR_NOT_INTEGER);
        t.err("srandmember s -9223372036854775808", ERR_RANDOM_RANGE);
        t.err(
            "srandmember s -9223372036854775807",
            "ERR value is out of range",
        );
        t.ok("scard s", "3");
    }

    #[test]
    fn smove_cases() {
        let mut t = T::new();
        t.ok("sadd a x y", "2");
        t.ok("smove a b x", "1");
        t.ok("smove a b x", "0");
        t.ok("smove a a y", "1");
        t.ok("smove nokey b x", "0");
        t.ok("smove a b y", "1");
        t.ok("exists a", "0");
        t.ok("scard b", "2");
        t.ok("set str v", "OK");
        t.err("smove b str x", args::ERR_WRONGTYPE);
        t.err("smove str b x", args::ERR_WRONGTYPE);
        t.ok("scard b", "2");
    }

    #[test]
    fn algebra() {
        let mut t = T::new();
        t.ok("sadd a 1 2 3 4", "4");
        t.ok("sadd b 3 4 5", "3");
        assert_eq!(sorted(&t.reply("sinter a b")), ["3", "4"]);
        assert_eq!(
            sorted(&t.reply("sunion a b nokey")),
            ["1", "2", "3", "4", "5"]
        );
        assert_eq!(sorted(&t.reply("sdiff a b")), ["1", "2"]);
        assert_eq!(sorted(&t.reply("sdiff nokey a")).len(), 0);
        t.ok("sinter a nokey", "[]");
        t.ok("sintercard 2 a b", "2");
        t.ok("sintercard 2 a b limit 1", "1");
        t.ok("sintercard 2 a nokey", "0");
        t.err("sintercard 0 a", "ERR numkeys should be greater than 0");
        t.err(
            "sintercard 3 a b",
            "ERR Number of keys can't be greater than number of args",
        );
        t.err("sintercard 1 a limit -1", "ERR LIMIT can't be negative");
        t.err("sintercard 1 a foo 1", "ERR syntax error");
        t.ok("sinterstore d a b", "2");
        t.ok("sunionstore d a b", "5");
        t.ok("sdiffstore d a b", "2");
        assert_eq!(sorted(&t.reply("smembers d")), ["1", "2"]);
        t.ok("set str x", "OK");
        t.err("sinter nokey str", args::ERR_WRONGTYPE);
        t.err("sunion a str", args::ERR_WRONGTYPE);
        t.ok("sinterstore str a nokey", "0");
        t.ok("exists str", "0");
        t.ok("sdiffstore d nokey", "0");
        t.ok("exists d", "0");
        t.ok("sunionstore str a", "4");
        t.ok("type str", "set");
    }

    #[test]
    fn sscan_walks_everything() {
        let mut t = T::new();
        t.ok("sadd small 1 2 3", "3");
        t.ok("sscan small 0", "[0,[1,2,3]]");
        for i in 0..100 {
            t.reply(&format!("sadd big m{i}"));
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut cur = "0".to_string();
        for _ in 0..100 {
            let r = t.read(&format!("sscan big {cur} count 7"));
            let Reply::Array(parts) = r else { panic!() };
            cur = show(&parts[0]);
            let Reply::Array(items) = &parts[1] else {
                panic!()
            };
            seen.extend(items.iter().map(show));
            if cur == "0" {
                break;
            }
        }
        assert_eq!(cur, "0");
        assert_eq!(seen.len(), 100);
        t.ok(
            "sscan big 0 match m1? count 1000",
            "[0,[m19,m18,m17,m16,m15,m14,m13,m12,m11,m10]]",
        );
        t.err("sscan big x", "ERR invalid cursor");
        t.ok("sscan nokey 0", "[0,[]]");
    }

    #[test]
    fn spop_is_deterministic_per_seed() {
        let run = || {
            let mut t = T::new();
            for i in 0..50 {
                t.reply(&format!("sadd s m{i}"));
            }
            t.reply("sadd s m3");
            t.reply("srem s m7 m20");
            let popped = show(&t.reply("spop s 5"));
            let rand = show(&t.read("srandmember s -10"));
            (popped, rand)
        };
        assert_eq!(run(), run());
    }
}

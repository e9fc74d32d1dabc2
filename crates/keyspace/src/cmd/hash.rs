//! Hash commands (HSET family, HINCRBY*, HSCAN, HRANDFIELD).

use super::Handler;
use crate::args::{self, cursor, err, int, is, scan_opts, CmdResult, ERR_OVERFLOW};
use crate::db::Db;
use crate::f80::{self, FloatTarget, IncrFloatError};
use crate::rng::{mix64, Rng};
use crate::types::Hash;
use crate::ExecCtx;
use bytes::Bytes;
use slotraft_resp::Reply;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("hset", Handler::Write(hset)),
    ("hmset", Handler::Write(hmset)),
    ("hsetnx", Handler::Write(hsetnx)),
    ("hget", Handler::Read(hget)),
    ("hmget", Handler::Read(hmget)),
    ("hgetall", Handler::Read(hgetall)),
    ("hdel", Handler::Write(hdel)),
    ("hexists", Handler::Read(hexists)),
    ("hlen", Handler::Read(hlen)),
    ("hkeys", Handler::Read(hkeys)),
    ("hvals", Handler::Read(hvals)),
    ("hincrby", Handler::Write(hincrby)),
    ("hincrbyfloat", Handler::Write(hincrbyfloat)),
    ("hstrlen", Handler::Read(hstrlen)),
    ("hscan", Handler::Read(hscan)),
    ("hrandfield", Handler::Read(hrandfield)),
];

/// Largest reply HRANDFIELD with a negative count builds at once. Redis
/// accepts any count down to -LONG_MAX and streams the reply (a huge one
/// can take the server down); we refuse above this bound instead
/// (documented difference).
pub const MAX_RANDFIELD_REPLY: u64 = 16 * 1024 * 1024;

fn pairs_arity(argv: &[Bytes]) -> Result<(), Reply> {
    if !argv.len().is_multiple_of(2) {
        return Err(args::wrong_arity(
            &String::from_utf8_lossy(&argv[0]).to_ascii_lowercase(),
        ));
    }
    Ok(())
}

fn hset_generic(db: &mut Db, argv: &[Bytes], now: u64) -> Result<i64, Reply> {
    pairs_arity(argv)?;
    let mut h = db.get_or_create::<Hash>(&argv[1], now)?;
    let mut added = 0;
    for fv in argv[2..].chunks(2) {
        added += h.insert(&fv[0], &fv[1]) as i64;
    }
    Ok(added)
}

fn hset(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    Ok(Reply::Int(hset_generic(db, argv, ctx.now_ms)?))
}

fn hmset(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    hset_generic(db, argv, ctx.now_ms)?;
    Ok(Reply::OK)
}

fn hsetnx(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    if db
        .get_typed::<Hash>(&argv[1], ctx.now_ms)?
        .is_some_and(|h| h.get(&argv[2]).is_some())
    {
        return Ok(Reply::Int(0));
    }
    db.get_or_create::<Hash>(&argv[1], ctx.now_ms)?
        .insert(&argv[2], &argv[3]);
    Ok(Reply::Int(1))
}

fn hget(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let h = db.get_typed::<Hash>(&argv[1], now)?;
    Ok(h.and_then(|h| h.get(&argv[2]))
        .map_or(Reply::Null, Reply::bulk))
}

fn hmget(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let h = db.get_typed::<Hash>(&argv[1], now)?;
    let items = argv[2..]
        .iter()
        .map(|f| h.and_then(|h| h.get(f)).map_or(Reply::Null, Reply::bulk))
        .collect();
    Ok(Reply::Array(items))
}

fn hgetall(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let h = db.get_typed::<Hash>(&argv[1], now)?;
    let pairs = h.map_or_else(Vec::new, |h| {
        h.iter()
            .map(|(f, v)| (Reply::bulk(f), Reply::bulk(v)))
            .collect()
    });
    Ok(Reply::Map(pairs))
}

fn hdel(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let Some(mut h) = db.get_mut::<Hash>(&argv[1], ctx.now_ms)? else {
        return Ok(Reply::Int(0));
    };
    let present = argv[2..].iter().any(|f| h.get(f).is_some());
    if !present {
        return Ok(Reply::Int(0));
    }
    let n = argv[2..].iter().filter(|f| h.remove(f)).count();
    Ok(Reply::Int(n as i64))
}

fn hexists(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let h = db.get_typed::<Hash>(&argv[1], now)?;
    Ok(Reply::Int(
        h.is_some_and(|h| h.get(&argv[2]).is_some()) as i64
    ))
}

fn hlen(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    Ok(Reply::Int(
        db.get_typed::<Hash>(&argv[1], now)?.map_or(0, |h| h.len()) as i64,
    ))
}

fn hkeys(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let h = db.get_typed::<Hash>(&argv[1], now)?;
    Ok(Reply::Array(h.map_or_else(Vec::new, |h| {
        h.iter().map(|(f, _)| Reply::bulk(f)).collect()
    })))
}

fn hvals(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let h = db.get_typed::<Hash>(&argv[1], now)?;
    Ok(Reply::Array(h.map_or_else(Vec::new, |h| {
        h.iter().map(|(_, v)| Reply::bulk(v)).collect()
    })))
}

fn hstrlen(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let h = db.get_typed::<Hash>(&argv[1], now)?;
    Ok(Reply::Int(
        h.and_then(|h| h.get(&argv[2])).map_or(0, |v| v.len()) as i64,
    ))
}

fn hincrby(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let by = int(&argv[3])?;
    let cur = match db
        .get_typed::<Hash>(&argv[1], ctx.now_ms)?
        .and_then(|h| h.get(&argv[2]))
    {
        None => 0,
        Some(v) => {
            args::parse_canonical_i64(v).ok_or_else(|| err("ERR hash value is not an integer"))?
        }
    };
    let new = cur.checked_add(by).ok_or_else(|| err(ERR_OVERFLOW))?;
    db.get_or_create::<Hash>(&argv[1], ctx.now_ms)?
        .insert(&argv[2], new.to_string().as_bytes());
    Ok(Reply::Int(new))
}

fn hincrbyfloat(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    // Redis 7.0 order: the increment (strtold; infinite rejected), then the
    // key's type, then the field's value; the sum in x87 long double (`f80`).
    match f80::parse(&argv[3]) {
        None => return Err(err(IncrFloatError::IncrNotFloat.message())),
        Some(x) if !x.is_finite() => return Err(err(IncrFloatError::IncrNanOrInfinity.message())),
        Some(_) => {}
    }
    let cur = db
        .get_typed::<Hash>(&argv[1], ctx.now_ms)?
        .and_then(|h| h.get(&argv[2]));
    let text =
        f80::incr_by_float(cur, &argv[3], FloatTarget::HashField).map_err(|e| err(e.message()))?;
    db.get_or_create::<Hash>(&argv[1], ctx.now_ms)?
        .insert(&argv[2], &text);
    Ok(Reply::Bulk(text.into()))
}

/// HSCAN. Small (listpack) hashes are returned whole with cursor 0, like
/// Redis. Big ones are walked in `(hash(field), field)` order; the cursor
/// is the next hash position (top 62 bits + 1), so fields present for the
/// whole scan are returned exactly once.
fn hscan(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    // Redis's order: cursor, then the key (absent: empty scan; wrong type:
    // WRONGTYPE), then the options.
    let cur = cursor(&argv[2])?;
    let Some(h) = db.get_typed::<Hash>(&argv[1], now)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let o = scan_opts(argv, 3, false)?;
    let mut out = Vec::new();
    if h.encoding() == "listpack" {
        for (f, v) in h.iter() {
            if o.matches(f) {
                out.push(Reply::bulk(f));
                out.push(Reply::bulk(v));
            }
        }
        return Ok(scan_reply(0, out));
    }
    let all = h.canonical();
    let mut i = all.partition_point(|(hh, _, _)| (hh >> 2) < cur);
    let mut visited = 0;
    let mut next = 0;
    while i < all.len() {
        let pos = all[i].0 >> 2;
        while i < all.len() && all[i].0 >> 2 == pos {
            visited += 1;
            if o.matches(all[i].1) {
                out.push(Reply::bulk(all[i].1));
                out.push(Reply::bulk(all[i].2));
            }
            i += 1;
        }
        if visited >= o.count && i < all.len() {
            next = pos + 1;
            break;
        }
    }
    Ok(scan_reply(next, out))
}

fn scan_reply(next: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(items),
    ])
}

/// HRANDFIELD: a read command; the randomness derives from the read point
/// (time, op counter) and the key, so it is the same on every replica for
/// the same state, and from content order, not table order.
fn hrandfield(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let mut rng = Rng::new(mix64(
        now ^ mix64(db.op_counter()) ^ crate::rng::hash_bytes(&argv[1]),
    ));
    if argv.len() == 2 {
        let Some(h) = db.get_typed::<Hash>(&argv[1], now)? else {
            return Ok(Reply::Null);
        };
        let all = h.canonical();
        let i = rng.below(all.len() as u64) as usize;
        return Ok(Reply::bulk(all[i].1));
    }
    let count = int(&argv[2])?;
    if count == i64::MIN {
        return Err(err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let withvalues = match argv.len() {
        3 => false,
        4 if is(&argv[3], "withvalues") => true,
        _ => return Err(err(args::ERR_SYNTAX)),
    };
    let Some(h) = db.get_typed::<Hash>(&argv[1], now)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let all = h.canonical();
    let picks: Vec<usize> = if count >= 0 {
        distinct_picks(&mut rng, all.len(), count as usize)
    } else {
        let n = count.unsigned_abs();
        if n > MAX_RANDFIELD_REPLY {
            return Err(err("ERR value is out of range"));
        }
        (0..n)
            .map(|_| rng.below(all.len() as u64) as usize)
            .collect()
    };
    // WITHVALUES: flat in RESP2, `[field, value]` pairs in RESP3 (Redis 7.0).
    if withvalues {
        return Ok(Reply::Pairs(
            picks
                .into_iter()
                .map(|i| (Reply::bulk(all[i].1), Reply::bulk(all[i].2)))
                .collect(),
        ));
    }
    Ok(Reply::Array(
        picks.into_iter().map(|i| Reply::bulk(all[i].1)).collect(),
    ))
}

/// `k` distinct indexes of `0..n` (all of them if `k >= n`), partial
/// Fisher-Yates.
pub fn distinct_picks(rng: &mut Rng, n: usize, k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let k = k.min(n);
    for i in 0..k {
        let j = i + rng.below((n - i) as u64) as usize;
        idx.swap(i, j);
    }
    idx.truncate(k);
    idx
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;

    #[test]
    fn basics() {
        let mut t = T::new();
        t.ok("hset h a 1 b 2", "2");
        t.ok("hset h a 3", "0");
        t.err(
            "hset h a",
            "ERR wrong number of arguments for 'hset' command",
        );
        t.err(
            "hmset h a 1 b",
            "ERR wrong number of arguments for 'hmset' command",
        );
        t.ok("hmset h c 4", "OK");
        t.ok("hget h a", "3");
        t.ok("hget h z", "(nil)");
        t.ok("hmget h a z", "[3,(nil)]");
        t.ok("hlen h", "3");
        t.ok("hexists h c", "1");
        t.ok("hstrlen h c", "1");
        t.ok("hsetnx h a 9", "0");
        t.ok("hsetnx h d 9", "1");
        t.ok("hdel h a z", "1");
        t.ok("hdel h b c d", "3");
        t.ok("exists h", "0");
        t.ok("set s x", "OK");
        t.err("hget s a", crate::args::ERR_WRONGTYPE);
        t.err("hset s a b", crate::args::ERR_WRONGTYPE);
        t.ok("hgetall nokey", "{}");
    }

    #[test]
    fn incr() {
        let mut t = T::new();
        t.ok("hincrby h n 5", "5");
        t.ok("hincrby h n -10", "-5");
        t.err(
            "hincrby h n x",
            "ERR value is not an integer or out of range",
        );
        t.ok("hset h s abc", "1");
        t.err("hincrby h s 1", "ERR hash value is not an integer");
        t.err("hincrbyfloat h s 1", "ERR hash value is not a float");
        t.ok("hincrbyfloat h f 10.5", "10.5");
        t.ok("hincrbyfloat h f 0.1", "10.6");
        // Redis 7.0.15 replies (verified): the increment (strtold, infinity
        // rejected) before the key's type, then the field; long double sum.
        t.ok("hset h pi 3.14", "1");
        t.ok("hincrbyfloat h pi 1.5", "4.64");
        t.ok("hset h x 0x10", "1");
        t.ok("hincrbyfloat h x 5e-3", "16.005");
        t.ok(
            "hincrbyfloat h z 1e400",
            "10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880",
        );
        t.ok("set str v", "OK");
        t.err("hincrbyfloat str f 1e400", crate::args::ERR_WRONGTYPE);
        t.err("hincrbyfloat str f inf", "ERR value is NaN or Infinity");
        t.err("hincrbyfloat str f abc", "ERR value is not a valid float");
        t.err(
            "hincrbyfloat str f 1e5000",
            "ERR value is not a valid float",
        );
        t.ok("hset h big 9223372036854775807", "1");
        t.err(
            "hincrby h big 1",
            "ERR increment or decrement would overflow",
        );
    }

    #[test]
    fn scan_and_random() {
        let mut t = T::new();
        for i in 0..300 {
            t.ok(&format!("hset h f{i} v{i}"), "1");
        }
        t.ok("object encoding h", "hashtable");
        let mut seen = std::collections::BTreeSet::new();
        let mut cur = "0".to_string();
        for _ in 0..1000 {
            let r = t.reply(&format!("hscan h {cur} count 10"));
            let slotraft_resp::Reply::Array(v) = r else {
                panic!()
            };
            let slotraft_resp::Reply::Array(items) = &v[1] else {
                panic!()
            };
            for fv in items.chunks(2) {
                seen.insert(show(&fv[0]));
            }
            cur = show(&v[0]);
            if cur == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 300);
        t.ok("hset small a 1", "1");
        t.ok("hscan small 0", "[0,[a,1]]");
        t.ok("hscan small 0 match b*", "[0,[]]");
        let r = t.reply("hrandfield h 5");
        let slotraft_resp::Reply::Array(v) = r else {
            panic!()
        };
        let uniq: std::collections::BTreeSet<_> = v.iter().map(show).collect();
        assert_eq!(uniq.len(), 5);
        let r = t.reply("hrandfield small -5 withvalues");
        assert!(
            matches!(&r, slotraft_resp::Reply::Pairs(p) if p.len() == 5),
            "pairs (nested in RESP3)"
        );
        assert_eq!(show(&r), "[a,1,a,1,a,1,a,1,a,1]");
        t.ok("hrandfield small 10", "[a]");
        t.ok("hrandfield small", "a");
        t.ok("hrandfield nokey", "(nil)");
        t.ok("hrandfield nokey 3", "[]");
        t.err("hrandfield small 1 foo", "ERR syntax error");
        t.ok("hrandfield small 0", "[]");
        t.err(
            "hrandfield small x",
            "ERR value is not an integer or out of range",
        );
        t.err(
            "hrandfield small -9223372036854775808",
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        );
        // Same state and time: same answer (replicas agree).
        assert_eq!(t.read("hrandfield h 3"), t.read("hrandfield h 3"));
    }
}

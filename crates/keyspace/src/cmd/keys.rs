//! Generic key commands: existence, deletion, renaming, expiry, iteration
//! (KEYS/SCAN/RANDOMKEY), introspection (TYPE/OBJECT), DUMP/RESTORE and the
//! keyspace-wide DBSIZE/FLUSHALL/FLUSHDB.

use super::Handler;
use crate::args::{
    self, cursor, err, int, is, scan_opts, CmdResult, ERR_NOT_INTEGER, ERR_NO_SUCH_KEY, ERR_SYNTAX,
};
use crate::db::{Db, SetExpire};
use crate::rng::{mix64, Rng};
use crate::snapshot::{dump_payload, parse_payload, PayloadError};
use crate::ExecCtx;
use bytes::Bytes;
use slotraft_resp::Reply;

pub const HANDLERS: &[(&str, Handler)] = &[
    ("del", Handler::Write(del)),
    ("unlink", Handler::Write(del)),
    ("exists", Handler::Read(exists)),
    ("type", Handler::Read(type_)),
    ("rename", Handler::Write(rename)),
    ("renamenx", Handler::Write(renamenx)),
    ("keys", Handler::Read(keys)),
    ("scan", Handler::Read(scan)),
    ("randomkey", Handler::Read(randomkey)),
    ("expire", Handler::Write(expire)),
    ("pexpire", Handler::Write(pexpire)),
    ("expireat", Handler::Write(expireat)),
    ("pexpireat", Handler::Write(pexpireat)),
    ("ttl", Handler::Read(ttl)),
    ("pttl", Handler::Read(pttl)),
    ("expiretime", Handler::Read(expiretime)),
    ("pexpiretime", Handler::Read(pexpiretime)),
    ("persist", Handler::Write(persist)),
    ("touch", Handler::Read(exists)),
    ("copy", Handler::Write(copy)),
    ("object|encoding", Handler::Read(object_encoding)),
    ("object|refcount", Handler::Read(object_refcount)),
    ("object|idletime", Handler::Read(object_idletime)),
    ("object|freq", Handler::Read(object_freq)),
    ("object|help", Handler::Read(object_help)),
    ("memory|usage", Handler::Read(memory_usage)),
    ("dump", Handler::Read(dump)),
    ("restore", Handler::Write(restore)),
    ("dbsize", Handler::Read(dbsize)),
    ("flushall", Handler::Write(flush)),
    ("flushdb", Handler::Write(flush)),
];

/// Redis shares integer objects 0..OBJ_SHARED_INTEGERS; OBJECT REFCOUNT
/// reports INT_MAX for them.
const OBJ_SHARED_INTEGERS: i64 = 10000;
const ERR_LFU: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

fn del(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let n = argv[1..]
        .iter()
        .filter(|k| db.delete(k, ctx.now_ms))
        .count();
    Ok(Reply::Int(n as i64))
}

/// EXISTS and TOUCH: counts live keys (repeats count again).
fn exists(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let n = argv[1..].iter().filter(|k| db.exists(k, now)).count();
    Ok(Reply::Int(n as i64))
}

fn type_(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let t = db.get(&argv[1], now).map_or("none", |v| v.type_name());
    Ok(Reply::simple(t))
}

fn rename_generic(db: &mut Db, argv: &[Bytes], now: u64, nx: bool) -> CmdResult {
    if !db.exists(&argv[1], now) {
        return Err(err(ERR_NO_SUCH_KEY));
    }
    if argv[1] == argv[2] {
        return Ok(if nx { Reply::Int(0) } else { Reply::OK });
    }
    if nx && db.exists(&argv[2], now) {
        return Ok(Reply::Int(0));
    }
    let (value, at) = db.take(&argv[1], now).expect("checked present");
    let exp = at.map_or(SetExpire::Clear, SetExpire::At);
    db.set(&argv[2], value, exp, now);
    Ok(if nx { Reply::Int(1) } else { Reply::OK })
}

fn rename(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    rename_generic(db, argv, ctx.now_ms, false)
}

fn renamenx(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    rename_generic(db, argv, ctx.now_ms, true)
}

fn keys(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let pat = &argv[1][..];
    let all = pat == b"*";
    let out = db
        .all_nodes()
        .filter(|n| !n.is_expired(now) && (all || crate::glob::glob_match(pat, n.key(), false)))
        .map(|n| Reply::bulk(n.key()))
        .collect();
    Ok(Reply::Array(out))
}

fn scan(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    let cur = cursor(&argv[1])?;
    let o = scan_opts(argv, 2, true)?;
    let (next, keys) = db.scan(cur, o.count, |n| {
        !n.is_expired(now)
            && o.matches(n.key())
            && o.type_name
                .as_ref()
                .is_none_or(|t| is(t, n.value().type_name()))
    });
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
    ]))
}

/// RANDOMKEY is a read command (served by followers without a log entry),
/// so its randomness comes from the state and time, which every replica
/// agrees on for a given read point.
fn randomkey(db: &Db, _argv: &[Bytes], now: u64) -> CmdResult {
    let mut rng = Rng::new(mix64(now ^ mix64(db.op_counter())));
    Ok(db
        .random_key(&mut rng, now)
        .map_or(Reply::Null, Reply::Bulk))
}

/// EXPIRE family (expireGenericCommand): `basetime` is `now` for relative
/// forms, 0 for absolute ones.
fn expire_generic(
    db: &mut Db,
    argv: &[Bytes],
    now: u64,
    seconds: bool,
    relative: bool,
) -> CmdResult {
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for a in &argv[3..] {
        match () {
            _ if is(a, "nx") => nx = true,
            _ if is(a, "xx") => xx = true,
            _ if is(a, "gt") => gt = true,
            _ if is(a, "lt") => lt = true,
            _ => {
                return Err(Reply::error(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(a)
                )));
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(err(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(err(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let mut when = int(&argv[2])?;
    if seconds {
        when = when
            .checked_mul(1000)
            .ok_or_else(|| args::invalid_expire(&name))?;
    }
    let base = if relative { now as i64 } else { 0 };
    let when = when
        .checked_add(base)
        .ok_or_else(|| args::invalid_expire(&name))?;
    let Some(node) = db.lookup(&argv[1], now) else {
        return Ok(Reply::Int(0));
    };
    let cur = node.expire_at().map(|t| t as i64);
    let refused = (nx && cur.is_some())
        || (xx && cur.is_none())
        || (gt && cur.is_none_or(|c| when <= c))
        || (lt && cur.is_some_and(|c| when >= c));
    if refused {
        return Ok(Reply::Int(0));
    }
    if when <= now as i64 {
        db.delete(&argv[1], now);
    } else {
        db.set_expire(&argv[1], Some(when as u64), now);
    }
    Ok(Reply::Int(1))
}

fn expire(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    expire_generic(db, argv, ctx.now_ms, true, true)
}

fn pexpire(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    expire_generic(db, argv, ctx.now_ms, false, true)
}

fn expireat(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    expire_generic(db, argv, ctx.now_ms, true, false)
}

fn pexpireat(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    expire_generic(db, argv, ctx.now_ms, false, false)
}

/// TTL family: -2 absent, -1 no expiry, else remaining (>= 0).
fn ttl_generic(db: &Db, key: &[u8], now: u64, ms: bool) -> Reply {
    let Some(node) = db.lookup(key, now) else {
        return Reply::Int(-2);
    };
    match node.expire_at() {
        None => Reply::Int(-1),
        Some(at) => {
            let left = at.saturating_sub(now) as i64;
            Reply::Int(if ms { left } else { (left + 500) / 1000 })
        }
    }
}

fn ttl(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    Ok(ttl_generic(db, &argv[1], now, false))
}

fn pttl(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    Ok(ttl_generic(db, &argv[1], now, true))
}

fn expiretime_generic(db: &Db, key: &[u8], now: u64, ms: bool) -> Reply {
    match db.lookup(key, now) {
        None => Reply::Int(-2),
        Some(n) => match n.expire_at() {
            None => Reply::Int(-1),
            Some(at) => Reply::Int(if ms { at as i64 } else { (at / 1000) as i64 }),
        },
    }
}

fn expiretime(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    Ok(expiretime_generic(db, &argv[1], now, false))
}

fn pexpiretime(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    Ok(expiretime_generic(db, &argv[1], now, true))
}

fn persist(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let has = db
        .lookup(&argv[1], ctx.now_ms)
        .and_then(|n| n.expire_at())
        .is_some();
    if has {
        db.set_expire(&argv[1], None, ctx.now_ms);
    }
    Ok(Reply::Int(has as i64))
}

fn copy(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let now = ctx.now_ms;
    let mut replace = false;
    let mut j = 3;
    while j < argv.len() {
        if is(&argv[j], "replace") {
            replace = true;
        } else if is(&argv[j], "db") && j + 1 < argv.len() {
            let dbid = args::parse_canonical_i64(&argv[j + 1])
                .filter(|v| i32::try_from(*v).is_ok())
                .ok_or_else(|| err(ERR_NOT_INTEGER))?;
            if dbid != 0 {
                // One database per keyspace (cluster mode).
                return Err(err("ERR DB index is out of range"));
            }
            j += 1;
        } else {
            return Err(err(ERR_SYNTAX));
        }
        j += 1;
    }
    if argv[1] == argv[2] {
        return Err(err("ERR source and destination objects are the same"));
    }
    let Some(node) = db.lookup(&argv[1], now) else {
        return Ok(Reply::Int(0));
    };
    let (value, at) = (node.value().clone(), node.expire_at());
    if db.exists(&argv[2], now) && !replace {
        return Ok(Reply::Int(0));
    }
    db.set(
        &argv[2],
        value,
        at.map_or(SetExpire::Clear, SetExpire::At),
        now,
    );
    Ok(Reply::Int(1))
}

fn object_encoding(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    Ok(db
        .get(&argv[2], now)
        .map_or(Reply::Null, |v| Reply::bulk(v.encoding())))
}

fn object_refcount(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    Ok(match db.get(&argv[2], now) {
        None => Reply::Null,
        Some(crate::Value::Str(s))
            if args::parse_canonical_i64(s)
                .is_some_and(|v| (0..OBJ_SHARED_INTEGERS).contains(&v)) =>
        {
            Reply::Int(i32::MAX as i64)
        }
        Some(_) => Reply::Int(1),
    })
}

/// We keep no LRU clock per key (it would cost memory and differ between
/// replicas): idle time is always reported as 0.
fn object_idletime(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    Ok(db.get(&argv[2], now).map_or(Reply::Null, |_| Reply::Int(0)))
}

/// The default policy (noeviction) does not track LFU: Redis's error.
fn object_freq(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    match db.get(&argv[2], now) {
        None => Ok(Reply::Null),
        Some(_) => Err(err(ERR_LFU)),
    }
}

fn object_help(_db: &Db, _argv: &[Bytes], _now: u64) -> CmdResult {
    const LINES: &[&str] = &[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Print this help.",
    ];
    Ok(Reply::Array(
        LINES.iter().map(|l| Reply::simple(l)).collect(),
    ))
}

/// MEMORY USAGE key [SAMPLES n]: approximate bytes (node + payload).
fn memory_usage(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    match argv.len() {
        3 => {}
        5 if is(&argv[3], "samples") => {
            int(&argv[4])?;
        }
        _ => return Err(err(ERR_SYNTAX)),
    }
    Ok(db.lookup(&argv[2], now).map_or(Reply::Null, |n| {
        let key_heap = if n.key().len() > crate::db::INLINE_KEY {
            n.key().len()
        } else {
            0
        };
        // Node + its reference count (8) + bucket and allocator slack (16).
        Reply::Int(
            (std::mem::size_of::<crate::db::Node>() + 24 + key_heap + n.value().mem_usage()) as i64,
        )
    }))
}

fn dump(db: &Db, argv: &[Bytes], now: u64) -> CmdResult {
    Ok(db
        .get(&argv[1], now)
        .map_or(Reply::Null, |v| Reply::Bulk(dump_payload(v).into())))
}

fn restore(db: &mut Db, argv: &[Bytes], ctx: &ExecCtx) -> CmdResult {
    let now = ctx.now_ms;
    let (mut replace, mut absttl, mut idle, mut freq) = (false, false, false, false);
    let mut j = 4;
    while j < argv.len() {
        let more = argv.len() - j - 1;
        if is(&argv[j], "replace") {
            replace = true;
        } else if is(&argv[j], "absttl") {
            absttl = true;
        } else if is(&argv[j], "idletime") && more >= 1 && !freq {
            if int(&argv[j + 1])? < 0 {
                return Err(err("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = true;
            j += 1;
        } else if is(&argv[j], "freq") && more >= 1 && !idle {
            if !(0..=255).contains(&int(&argv[j + 1])?) {
                return Err(err("ERR Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = true;
            j += 1;
        } else {
            return Err(err(ERR_SYNTAX));
        }
        j += 1;
    }
    if !replace && db.exists(&argv[1], now) {
        return Err(err("BUSYKEY Target key name already exists."));
    }
    let ttl = int(&argv[2])?;
    if ttl < 0 {
        return Err(err("ERR Invalid TTL value, must be >= 0"));
    }
    let value = parse_payload(&argv[3]).map_err(|e| match e {
        PayloadError::VersionOrChecksum => err("ERR DUMP payload version or checksum are wrong"),
        PayloadError::BadData => err("ERR Bad data format"),
    })?;
    if replace {
        db.delete(&argv[1], now);
    }
    let at = match ttl {
        0 => None,
        t if absttl => Some(t),
        t => Some(t.saturating_add(now as i64)),
    };
    match at {
        Some(t) if t <= now as i64 => {}
        Some(t) => db.set(&argv[1], value, SetExpire::At(t as u64), now),
        None => db.set(&argv[1], value, SetExpire::Clear, now),
    }
    Ok(Reply::OK)
}

fn dbsize(db: &Db, _argv: &[Bytes], _now: u64) -> CmdResult {
    Ok(Reply::Int(db.len() as i64))
}

fn flush(db: &mut Db, argv: &[Bytes], _ctx: &ExecCtx) -> CmdResult {
    match argv.len() {
        1 => {}
        2 if is(&argv[1], "async") || is(&argv[1], "sync") => {}
        _ => return Err(err(ERR_SYNTAX)),
    }
    db.flush();
    Ok(Reply::OK)
}

#[cfg(test)]
mod tests {
    use crate::test_util::*;

    #[test]
    fn del_exists_type_rename() {
        let mut t = T::new();
        t.ok("mset a 1 b 2", "OK");
        t.ok("exists a a b c", "3");
        t.ok("type a", "string");
        t.ok("type zz", "none");
        t.ok("del a c", "1");
        t.err("rename nokey x", "ERR no such key");
        t.ok("expire b 100", "1");
        t.ok("rename b c", "OK");
        t.ok("ttl c", "100");
        t.ok("exists b", "0");
        t.ok("set d 4", "OK");
        t.ok("renamenx c d", "0");
        t.ok("renamenx c c", "0");
        t.ok("rename c c", "OK");
        t.ok("renamenx c e", "1");
        t.ok("unlink d e", "2");
        t.ok("dbsize", "0");
    }

    #[test]
    fn expire_options() {
        let mut t = T::new();
        t.ok("set k v", "OK");
        t.ok("expire k 100 xx", "0");
        t.ok("expire k 100 nx", "1");
        t.ok("expire k 50 gt", "0");
        t.ok("expire k 200 gt", "1");
        t.ok("expire k 300 lt", "0");
        t.ok("expire k 10 lt", "1");
        t.ok("ttl k", "10");
        t.ok("pttl k", "10000");
        t.ok("expiretime k", &((T0 + 10_000) / 1000).to_string());
        t.ok("pexpiretime k", &(T0 + 10_000).to_string());
        t.err(
            "expire k 10 nx xx",
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        );
        t.err(
            "expire k 10 gt lt",
            "ERR GT and LT options at the same time are not compatible",
        );
        t.err("expire k 10 foo", "ERR Unsupported option foo");
        t.err(
            "expire k 9223372036854775807",
            "ERR invalid expire time in 'expire' command",
        );
        t.err(
            "pexpire k 9223372036854775807",
            "ERR invalid expire time in 'pexpire' command",
        );
        t.ok("persist k", "1");
        t.ok("persist k", "0");
        t.ok("ttl k", "-1");
        t.ok("ttl nokey", "-2");
        t.ok("expiretime k", "-1");
        t.ok("expire nokey 10", "0");
        t.ok("set k2 v", "OK");
        t.ok("expire k2 10 lt", "1");
        t.ok("expire k2 -1", "1");
        t.ok("exists k2", "0");
        t.ok("set k3 v px 100", "OK");
        t.now += 100;
        t.ok("pttl k3", "0");
        t.now += 1;
        t.ok("exists k3", "0");
        t.ok("dbsize", "2");
    }

    #[test]
    fn time_never_runs_backwards() {
        let mut t = T::new();
        t.ok("set k v px 100", "OK");
        t.now += 200;
        t.ok("exists k", "0");
        t.now -= 150; // a new leader with a slower clock
        t.ok("exists k", "0");
    }

    #[test]
    fn keys_and_scan() {
        let mut t = T::new();
        for i in 0..100 {
            t.ok(&format!("set key:{i} v"), "OK");
        }
        t.ok("hset h f v", "1");
        let r = t.reply("keys key:1?");
        assert_eq!(show(&r).matches(',').count() + 1, 10);
        let mut seen = std::collections::BTreeSet::new();
        let mut cur = "0".to_string();
        let mut rounds = 0;
        loop {
            let r = t.reply(&format!("scan {cur} count 7 match key:*"));
            let slotraft_resp::Reply::Array(v) = r else {
                panic!()
            };
            let slotraft_resp::Reply::Array(keys) = &v[1] else {
                panic!()
            };
            for k in keys {
                seen.insert(show(k));
            }
            cur = show(&v[0]);
            rounds += 1;
            if cur == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 100);
        assert!(rounds > 5, "count is honored approximately");
        t.ok("scan 0 count 1000 type hash", "[0,[h]]");
        t.err("scan x", "ERR invalid cursor");
        t.err("scan 0 count 0", "ERR syntax error");
        t.err("scan 0 foo", "ERR syntax error");
        assert_ne!(show(&t.reply("randomkey")), "(nil)");
        t.ok("flushall", "OK");
        t.ok("randomkey", "(nil)");
        t.ok("scan 0", "[0,[]]");
        t.err("flushall foo", "ERR syntax error");
    }

    #[test]
    fn copy_and_object() {
        let mut t = T::new();
        t.ok("set a 123", "OK");
        t.ok("object encoding a", "int");
        t.ok("object refcount a", "2147483647");
        t.ok("object encoding nokey", "(nil)");
        t.ok("copy a b", "1");
        t.ok("copy a b", "0");
        t.ok("set a xyz", "OK");
        t.ok("copy a b replace", "1");
        t.ok("get b", "xyz");
        t.err(
            "copy a a",
            "ERR source and destination objects are the same",
        );
        t.err("copy a b db 1", "ERR DB index is out of range");
        t.err("copy a b foo", "ERR syntax error");
        t.ok("copy a c db 0", "1");
        t.ok("object encoding a", "embstr");
        t.ok("hset h f v", "1");
        t.ok("object encoding h", "listpack");
        t.err(
            "object foo a",
            "ERR unknown subcommand 'foo'. Try OBJECT HELP.",
        );
        t.ok("object idletime a", "0");
    }

    #[test]
    fn dump_restore() {
        let mut t = T::new();
        t.ok("hset h a 1 b 2", "2");
        let Reply::Bulk(p) = t.reply("dump h") else {
            panic!()
        };
        let mut argv = parse("restore h2 0 x");
        argv[3] = p.clone();
        let ctx = t.ctx();
        assert_eq!(t.ks.execute(&argv, &ctx).into_reply(), Reply::OK);
        t.ok("hget h2 b", "2");
        assert_eq!(
            show(&t.ks.execute(&argv, &ctx).into_reply()),
            "ERROR:BUSYKEY Target key name already exists."
        );
        let mut bad = p.to_vec();
        bad[2] ^= 1;
        argv[3] = bad.into();
        argv.push("replace".into());
        assert_eq!(
            show(&t.ks.execute(&argv, &ctx).into_reply()),
            "ERROR:ERR DUMP payload version or checksum are wrong"
        );
        argv[3] = p;
        argv[2] = "5000".into();
        assert_eq!(t.ks.execute(&argv, &ctx).into_reply(), Reply::OK);
        t.ok("pttl h2", "5000");
        t.err("restore h3 -1 x", "ERR Invalid TTL value, must be >= 0");
        t.err(
            "restore h3 0 x idletime -1",
            "ERR Invalid IDLETIME value, must be >= 0",
        );
        t.err(
            "restore h3 0 x freq 256",
            "ERR Invalid FREQ value, must be >= 0 and <= 255",
        );
        t.err("restore h3 0 x idletime 1 freq 1", "ERR syntax error");
        t.ok("dump nokey", "(nil)");
    }

    use slotraft_resp::Reply;
}

#!/usr/bin/env python3
"""Generates src/cmd/meta.rs from a real Redis 7.0's COMMAND INFO / COMMAND DOCS.

Usage: redis-server --port 7791 --save '' --daemonize yes
       python3 tools/gen_meta.py 7791 > src/cmd/meta.rs
Why generated: arity, flags, ACL categories, tips and key specs must be
exactly Redis's (cluster clients route with them); copying them by hand
would drift. The command list is the set slotraft supports (issue 2).
"""
import sys
import socket


class Raw:
    """Minimal RESP2 client (redis-py post-processes COMMAND replies)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.f = self.sock.makefile("rb")

    def execute_command(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()

    def read(self):
        line = self.f.readline()[:-2]
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read() for _ in range(n)]
        raise RuntimeError(line)

COMMANDS = """
ping echo hello quit reset select client command info config dbsize time flushall flushdb auth
multi exec discard watch unwatch cluster readonly readwrite asking
del unlink exists type rename renamenx keys scan randomkey expire pexpire expireat pexpireat
ttl pttl expiretime pexpiretime persist touch copy object dump restore
get set setnx setex psetex getset getdel getex mget mset msetnx incr decr incrby decrby
incrbyfloat append strlen getrange setrange setbit getbit bitcount bitpos substr
hset hsetnx hget hmset hmget hgetall hdel hexists hlen hkeys hvals hincrby hincrbyfloat
hstrlen hscan hrandfield
lpush rpush lpushx rpushx lpop rpop llen lrange lindex lset linsert lrem ltrim lpos lmove
rpoplpush lmpop blpop brpop blmove brpoplpush blmpop
sadd srem smembers sismember smismember scard spop srandmember smove sinter sintercard sunion
sdiff sinterstore sunionstore sdiffstore sscan
zadd zrem zscore zmscore zincrby zcard zcount zlexcount zrange zrangestore zrangebyscore
zrevrange zrevrangebyscore zrangebylex zrevrangebylex zrank zrevrank zpopmin zpopmax bzpopmin
bzpopmax zmpop bzmpop zremrangebyrank zremrangebyscore zremrangebylex zunion zinter zdiff
zunionstore zinterstore zdiffstore zscan zrandmember zintercard
lastsave save bgsave shutdown memory
""".split()

SUBS = {
    "client": "id setname getname list info kill no-evict reply help pause unpause tracking trackinginfo getredir caching unblock".split(),
    "command": "count info docs list getkeys getkeysandflags help".split(),
    "config": "get set resetstat rewrite help".split(),
    "object": "encoding refcount idletime freq help".split(),
    "cluster": "info slots shards nodes myid keyslot countkeysinslot getkeysinslot help addslots addslotsrange delslots delslotsrange setslot meet forget replicate reset failover countfailurereports links flushslots saveconfig bumpepoch set-config-epoch replicas slaves".split(),
    "memory": "usage help doctor stats malloc-stats purge".split(),
}


def to_dict(pairs):
    if isinstance(pairs, dict):
        return {k if isinstance(k, str) else k.decode(): v for k, v in pairs.items()}
    it = iter(pairs)
    return {(k if isinstance(k, str) else k.decode()): v for k, v in zip(it, it)}


def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def rstr(x):
    return '"' + s(x).replace("\\", "\\\\").replace('"', '\\"') + '"'


def strs(xs):
    return "&[" + ", ".join(rstr(x) for x in xs) + "]"


def keyspec(ks):
    d = to_dict(ks)
    flags = strs(d.get("flags", []))
    bs = to_dict(d["begin_search"])
    bspec = to_dict(bs["spec"])
    if s(bs["type"]) == "index":
        begin = f"Begin::Index({bspec['index']})"
    elif s(bs["type"]) == "keyword":
        begin = f"Begin::Keyword({rstr(bspec['keyword'])}, {bspec['startfrom']})"
    else:
        begin = "Begin::Unknown"
    fk = to_dict(d["find_keys"])
    fspec = to_dict(fk["spec"])
    if s(fk["type"]) == "range":
        find = f"Find::Range {{ lastkey: {fspec['lastkey']}, keystep: {fspec['keystep']}, limit: {fspec['limit']} }}"
    elif s(fk["type"]) == "keynum":
        find = f"Find::KeyNum {{ keynumidx: {fspec['keynumidx']}, firstkey: {fspec['firstkey']}, keystep: {fspec['keystep']} }}"
    else:
        find = "Find::Unknown"
    return f"KeySpec {{ flags: {flags}, begin: {begin}, find: {find} }}"


def meta(info, docs, name, indent):
    name_, arity, flags, first, last, step, acl, tips, kspecs, subs = info[:10]
    pad = " " * indent
    doc = to_dict(docs.get(name, {})) if docs else {}
    summary = s(doc.get("summary", ""))
    since = s(doc.get("since", ""))
    group = s(doc.get("group", ""))
    complexity = s(doc.get("complexity", ""))
    out = [f"{pad}CommandMeta {{"]
    out.append(f"{pad}    name: {rstr(name_)},")
    out.append(f"{pad}    arity: {arity},")
    out.append(f"{pad}    flags: {strs(flags)},")
    out.append(f"{pad}    first_key: {first},")
    out.append(f"{pad}    last_key: {last},")
    out.append(f"{pad}    step: {step},")
    out.append(f"{pad}    acl: {strs(acl)},")
    out.append(f"{pad}    tips: {strs(tips)},")
    out.append(f"{pad}    key_specs: &[{', '.join(keyspec(k) for k in kspecs)}],")
    out.append(f"{pad}    summary: {rstr(summary)},")
    out.append(f"{pad}    since: {rstr(since)},")
    out.append(f"{pad}    group: {rstr(group)},")
    out.append(f"{pad}    complexity: {rstr(complexity)},")
    sub_docs = to_dict(doc.get("subcommands", {})) if doc else {}
    wanted = SUBS.get(s(name_), [])
    sub_out = []
    for sub in sorted(subs, key=lambda x: s(x[0])):  # stable output (Redis dict order varies)
        sname = s(sub[0])
        if sname.split("|")[1] in wanted:
            sub_out.append(meta(sub, sub_docs, sname, indent + 8))
    if sub_out:
        out.append(f"{pad}    subcommands: &[\n" + ",\n".join(sub_out) + f",\n{pad}    ],")
    else:
        out.append(f"{pad}    subcommands: &[],")
    out.append(f"{pad}}}")
    return "\n".join(out)


def main():
    r = Raw(int(sys.argv[1]))
    print("// @generated by tools/gen_meta.py from redis-server 7.0 COMMAND INFO/DOCS.")
    print("// Do not edit by hand; regenerate (see the script's docstring).")
    print("//! Static command metadata (arity, flags, ACL categories, key specs, docs)")
    print("//! exactly as Redis 7.0 reports it.")
    print()
    print("use super::{Begin, CommandMeta, Find, KeySpec};")
    print()
    print("/// Every command slotraft knows, sorted by name.")
    print("pub static META: &[CommandMeta] = &[")
    for name in sorted(COMMANDS):
        info = r.execute_command("COMMAND", "INFO", name)[0]
        assert info is not None, name
        docs = to_dict(r.execute_command("COMMAND", "DOCS", name))
        print(meta(info, docs, name, 4) + ",")
    print("];")


main()

"""Seeded random command generators, one per data type family.

Each generator returns a list of argv (lists of bytes). Keys come from a
small pool so commands collide; one pool key always holds another type so
WRONGTYPE paths are hit; values include edge cases (empty, binary, huge and
negative integers, inf/nan, malformed numbers). A fraction of commands is
mutated into wrong arity or bad options. Durations are either long (>= 100 s)
or non-positive so that expiry never races the comparison.
"""

import random

EDGE_VALUES = [b"", b"0", b"1", b"-1", b"42", b"3.14", b"-0", b"9223372036854775807",
               b"-9223372036854775808", b"9223372036854775808", b"inf", b"-inf", b"+inf", b"nan",
               b"1e308", b"1e-5", b" 1", b"0x10", b"a", b"abc", b"hello world", b"\x00\xff\r\n",
               b"x" * 100, b"\xe2\x82\xac", b"10", b"-5", b"007"]
INTS = [b"0", b"1", b"-1", b"2", b"5", b"100", b"-100", b"9223372036854775807", b"-9223372036854775808",
        b"9223372036854775808", b"abc", b"", b"1.5", b"+1", b" 3"]
FLOATS = [b"0", b"1.5", b"-2.5", b"inf", b"-inf", b"+inf", b"nan", b"1e308", b"abc", b"", b"3", b"1e400",
          b"0.1", b"-0", b"5e-3"]
SMALL_INTS = [b"0", b"1", b"2", b"3", b"-1", b"-2", b"5", b"10", b"-100", b"100"]
DURATIONS = [b"100", b"1000", b"0", b"-1", b"abc", b"9223372036854775807", b"100000"]
PDURATIONS = [b"100000", b"1000000", b"0", b"-5", b"abc", b"9223372036854775807"]
ABS_TIMES = [b"1", b"4102444800", b"0", b"-1", b"abc"]
PABS_TIMES = [b"1000", b"4102444800000", b"0", b"abc"]
BLOCK_TIMEOUTS = [b"0.01", b"0.01", b"-1", b"abc"]
JUNK = [b"FOO", b"", b"-1", b"NX", b"XX", b"WITHSCORES", b"LIMIT", b"COUNT"]


class Exact(list):
    """An argv that must not be mutated (its validity is the point)."""


class Gen:
    def __init__(self, seed, keys, wrong_key):
        self.r = random.Random(seed)
        self.keys = keys
        self.wrong_key = wrong_key

    def pick(self, xs):
        return self.r.choice(xs)

    def key(self):
        if self.r.random() < 0.1:
            return self.wrong_key
        return self.pick(self.keys)

    def keys_n(self, lo=1, hi=3):
        return [self.key() for _ in range(self.r.randint(lo, hi))]

    def val(self, pool=None):
        if pool is None:
            pool = EDGE_VALUES
        return self.pick(pool)

    def maybe(self, p, items):
        return items if self.r.random() < p else []

    def mutate(self, argv):
        if isinstance(argv, Exact):
            return list(argv)
        x = self.r.random()
        if x < 0.05 and len(argv) > 1:
            return argv[:-1]
        if x < 0.08:
            return argv + [self.pick(JUNK)]
        if x < 0.10 and len(argv) > 2:
            i = self.r.randrange(1, len(argv))
            return argv[:i] + [self.pick(JUNK)] + argv[i + 1:]
        return argv


# --------------------------------------------------------------------------
def strings(g):
    k, v = g.key(), g.val()
    c = g.pick(range(27))
    if c == 0:
        opts = g.pick([[], [b"EX", g.val(DURATIONS)], [b"PX", g.val(PDURATIONS)], [b"EXAT", g.val(ABS_TIMES)],
                       [b"PXAT", g.val(PABS_TIMES)], [b"KEEPTTL"]])
        return [b"SET", k, v] + opts + g.maybe(0.3, [g.pick([b"NX", b"XX"])]) + g.maybe(0.2, [b"GET"])
    if c == 1:
        return [b"GET", k]
    if c == 2:
        return [b"SETNX", k, v]
    if c == 3:
        return [b"SETEX", k, g.val(DURATIONS), v]
    if c == 4:
        return [b"PSETEX", k, g.val(PDURATIONS), v]
    if c == 5:
        return [b"GETSET", k, v]
    if c == 6:
        return [b"GETDEL", k]
    if c == 7:
        return [b"GETEX", k] + g.pick([[], [b"EX", g.val(DURATIONS)], [b"PERSIST"], [b"PX", g.val(PDURATIONS)]])
    if c == 8:
        return [b"MGET"] + g.keys_n(1, 4)
    if c == 9:
        return [b"MSET"] + [x for _ in range(g.r.randint(1, 3)) for x in (g.key(), g.val())]
    if c == 10:
        return [b"MSETNX"] + [x for _ in range(g.r.randint(1, 3)) for x in (g.key(), g.val())]
    if c in (11, 12):
        return [g.pick([b"INCR", b"DECR"]), k]
    if c in (13, 14):
        return [g.pick([b"INCRBY", b"DECRBY"]), k, g.val(INTS)]
    if c == 15:
        return [b"INCRBYFLOAT", k, g.val(FLOATS)]
    if c == 16:
        return [b"APPEND", k, v]
    if c == 17:
        return [b"STRLEN", k]
    if c == 18:
        return [b"GETRANGE", k, g.val(SMALL_INTS), g.val(SMALL_INTS)]
    if c == 19:
        return [b"SETRANGE", k, g.pick([b"0", b"1", b"5", b"20", b"-1", b"536870912", b"abc"]), v]
    if c == 20:
        return [b"SETBIT", k, g.pick([b"0", b"7", b"9", b"100", b"-1", b"4294967296", b"abc"]),
                g.pick([b"0", b"1", b"2"])]
    if c == 21:
        return [b"GETBIT", k, g.pick([b"0", b"7", b"9", b"1000", b"-1"])]
    if c == 22:
        rng = g.maybe(0.7, [g.val(SMALL_INTS), g.val(SMALL_INTS)] + g.maybe(0.4, [g.pick([b"BYTE", b"BIT"])]))
        return [b"BITCOUNT", k] + rng
    if c == 23:
        extra = g.maybe(0.6, [g.val(SMALL_INTS)] + g.maybe(0.5, [g.val(SMALL_INTS)] +
                                                            g.maybe(0.5, [g.pick([b"BYTE", b"BIT"])])))
        return [b"BITPOS", k, g.pick([b"0", b"1", b"2"])] + extra
    if c == 24:
        return [b"SET", k, g.pick(INTS)]
    if c == 25:
        return [b"EXISTS", k]
    return [b"TYPE", k]


def keyspace(g):
    k = g.key()
    c = g.pick(range(24))
    if c == 0:
        return [b"SET", k, g.val()]
    if c == 1:
        return [g.pick([b"DEL", b"UNLINK"])] + g.keys_n(1, 3)
    if c == 2:
        return [b"EXISTS"] + g.keys_n(1, 4)
    if c == 3:
        return [b"TYPE", k]
    if c == 4:
        return [g.pick([b"RENAME", b"RENAMENX"]), k, g.key()]
    if c in (5, 6):
        return [g.pick([b"TTL", b"PTTL"]), k]
    if c == 7:
        return [b"EXPIRE", k, g.val(DURATIONS)] + g.maybe(0.4, [g.pick([b"NX", b"XX", b"GT", b"LT"])])
    if c == 8:
        return [b"PEXPIRE", k, g.val(PDURATIONS)] + g.maybe(0.4, [g.pick([b"NX", b"XX", b"GT", b"LT"])])
    if c == 9:
        return [b"EXPIREAT", k, g.val(ABS_TIMES)] + g.maybe(0.3, [g.pick([b"NX", b"XX", b"GT", b"LT"])])
    if c == 10:
        return [b"PEXPIREAT", k, g.val(PABS_TIMES)]
    if c == 11:
        return [b"PERSIST", k]
    if c == 12:
        return [b"TOUCH"] + g.keys_n(1, 3)
    if c == 13:
        return [b"COPY", k, g.key()] + g.maybe(0.4, [b"REPLACE"])
    if c in (14, 15):
        return [g.pick([b"EXPIRETIME", b"PEXPIRETIME"]), k]
    if c == 16:
        return [b"DBSIZE"]
    if c == 17:
        return [b"KEYS", g.pick([b"*", b"k*", b"k?", b"*1*", b"[a-k]*", b"\\*", b"{t}*"])]
    if c == 18:
        return [b"LPUSH", k, g.val()]
    if c == 19:
        return [b"SADD", k, g.val()]
    if c == 20:
        return [b"RANDOMKEY"]
    if c == 21:
        return [b"HSET", k, b"f", g.val()]
    if c == 22:
        return [b"ZADD", k, g.val(FLOATS), g.val()]
    return [b"GET", k]


FIELDS = [b"f0", b"f1", b"f2", b"f3", b""]


def hashes(g):
    k, f = g.key(), g.pick(FIELDS)
    c = g.pick(range(17))
    if c in (0, 1):
        return [b"HSET", k] + [x for _ in range(g.r.randint(1, 3)) for x in (g.pick(FIELDS), g.val())]
    if c == 2:
        return [b"HSETNX", k, f, g.val()]
    if c == 3:
        return [b"HGET", k, f]
    if c == 4:
        return [b"HMSET", k, f, g.val()]
    if c == 5:
        return [b"HMGET", k] + [g.pick(FIELDS) for _ in range(g.r.randint(1, 3))]
    if c == 6:
        return [b"HGETALL", k]
    if c == 7:
        return [b"HDEL", k] + [g.pick(FIELDS) for _ in range(g.r.randint(1, 3))]
    if c == 8:
        return [b"HEXISTS", k, f]
    if c == 9:
        return [b"HLEN", k]
    if c == 10:
        return [g.pick([b"HKEYS", b"HVALS"]), k]
    if c == 11:
        return [b"HINCRBY", k, f, g.val(INTS)]
    if c == 12:
        return [b"HINCRBYFLOAT", k, f, g.val(FLOATS)]
    if c == 13:
        return [b"HSTRLEN", k, f]
    if c == 14:
        return [b"HRANDFIELD", k] + g.maybe(0.7, [g.pick([b"1", b"3", b"-3", b"0", b"10", b"abc"])] +
                                              g.maybe(0.5, [b"WITHVALUES"]))
    if c == 15:
        return [b"HSET", k, f, g.val(INTS)]
    return [b"DEL", k]


LVALS = [b"a", b"b", b"c", b"1", b"2", b"", b"x" * 70]


def lists(g):
    k = g.key()
    c = g.pick(range(26))
    side = lambda: g.pick([b"LEFT", b"RIGHT"])
    if c in (0, 1, 2):
        return [g.pick([b"LPUSH", b"RPUSH"]), k] + [g.val(LVALS) for _ in range(g.r.randint(1, 4))]
    if c == 3:
        return [g.pick([b"LPUSHX", b"RPUSHX"]), k, g.val(LVALS)]
    if c in (4, 5):
        return [g.pick([b"LPOP", b"RPOP"]), k] + g.maybe(0.4, [g.pick([b"0", b"1", b"2", b"10", b"-1", b"abc"])])
    if c == 6:
        return [b"LLEN", k]
    if c in (7, 8):
        return [b"LRANGE", k, g.val(SMALL_INTS), g.val(SMALL_INTS)]
    if c == 9:
        return [b"LINDEX", k, g.val(SMALL_INTS)]
    if c == 10:
        return [b"LSET", k, g.val(SMALL_INTS), g.val(LVALS)]
    if c == 11:
        return [b"LINSERT", k, g.pick([b"BEFORE", b"AFTER", b"MIDDLE"]), g.val(LVALS), g.val(LVALS)]
    if c == 12:
        return [b"LREM", k, g.val(SMALL_INTS), g.val(LVALS)]
    if c == 13:
        return [b"LTRIM", k, g.val(SMALL_INTS), g.val(SMALL_INTS)]
    if c == 14:
        opts = g.maybe(0.4, [b"RANK", g.pick([b"1", b"-1", b"2", b"0", b"-9223372036854775808"])])
        opts += g.maybe(0.4, [b"COUNT", g.pick([b"0", b"1", b"2", b"-1"])])
        opts += g.maybe(0.3, [b"MAXLEN", g.pick([b"0", b"1", b"2", b"-1"])])
        return [b"LPOS", k, g.val(LVALS)] + opts
    if c == 15:
        return [b"LMOVE", k, g.key(), side(), side()]
    if c == 16:
        return [b"RPOPLPUSH", k, g.key()]
    if c == 17:
        ks = g.keys_n(1, 3)
        return ([b"LMPOP", g.pick([str(len(ks)).encode(), b"0", b"5"])] + ks + [side()] +
                g.maybe(0.4, [b"COUNT", g.pick([b"1", b"2", b"0", b"-1"])]))
    if c == 18:
        return [g.pick([b"BLPOP", b"BRPOP"])] + g.keys_n(1, 2) + [g.val(BLOCK_TIMEOUTS)]
    if c == 19:
        return [b"BLMOVE", k, g.key(), side(), side(), g.val(BLOCK_TIMEOUTS)]
    if c == 20:
        ks = g.keys_n(1, 2)
        return [b"BLMPOP", g.val(BLOCK_TIMEOUTS), str(len(ks)).encode()] + ks + [side()]
    return [b"RPUSH", k, g.val(LVALS), g.val(LVALS)]


SMEMBERS = [b"a", b"b", b"c", b"d", b"1", b"2", b"3", b"-5", b"", b"9223372036854775807", b"x" * 70]


def sets(g):
    k = g.key()
    c = g.pick(range(22))
    m = lambda: g.val(SMEMBERS)
    if c in (0, 1, 2):
        return [b"SADD", k] + [m() for _ in range(g.r.randint(1, 5))]
    if c == 3:
        return [b"SREM", k] + [m() for _ in range(g.r.randint(1, 3))]
    if c == 4:
        return [b"SMEMBERS", k]
    if c == 5:
        return [b"SISMEMBER", k, m()]
    if c == 6:
        return [b"SMISMEMBER", k] + [m() for _ in range(g.r.randint(1, 3))]
    if c == 7:
        return [b"SCARD", k]
    if c == 8:
        return [b"SPOP", k] + g.maybe(0.5, [g.pick([b"0", b"1", b"2", b"100", b"-1", b"abc"])])
    if c == 9:
        return [b"SRANDMEMBER", k] + g.maybe(0.7, [g.pick([b"0", b"1", b"3", b"-3", b"100", b"abc"])])
    if c == 10:
        return [b"SMOVE", k, g.key(), m()]
    if c in (11, 12):
        return [g.pick([b"SINTER", b"SUNION", b"SDIFF"])] + g.keys_n(1, 3)
    if c == 13:
        ks = g.keys_n(1, 3)
        return ([b"SINTERCARD", g.pick([str(len(ks)).encode(), b"0", b"9"])] + ks +
                g.maybe(0.4, [b"LIMIT", g.pick([b"0", b"1", b"-1"])]))
    if c in (14, 15):
        return [g.pick([b"SINTERSTORE", b"SUNIONSTORE", b"SDIFFSTORE"]), g.key()] + g.keys_n(1, 3)
    return [b"SADD", k, m(), m()]


ZMEMBERS = [b"a", b"b", b"c", b"d", b"e", b"", b"1"]
ZRANGE_SCORES = [b"-inf", b"+inf", b"(1", b"1", b"0", b"2.5", b"(abc", b"abc", b"(-inf"]
ZRANGE_LEX = [b"-", b"+", b"[a", b"(b", b"[c", b"a", b"(", b"[", b"[\xff"]
# Lex-range commands only run on these keys, which only ever hold members
# with score 0: Redis leaves lex ranges over different scores unspecified.
LEX_KEYS = [b"zl0", b"zl1"]


def zsets(g):
    k = g.key()
    c = g.pick(range(35))
    m = lambda: g.val(ZMEMBERS)
    s = lambda: g.val(FLOATS + [b"1", b"2", b"3", b"-1", b"1", b"2"])
    if c in (0, 1, 2, 3):
        flags = []
        for f in (b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR"):
            if g.r.random() < 0.12:
                flags.append(f)
        n = 1 if b"INCR" in flags else g.r.randint(1, 3)
        return [b"ZADD", k] + flags + [x for _ in range(n) for x in (s(), m())]
    if c == 4:
        return [b"ZREM", k] + [m() for _ in range(g.r.randint(1, 3))]
    if c == 5:
        return [b"ZSCORE", k, m()]
    if c == 6:
        return [b"ZMSCORE", k] + [m() for _ in range(g.r.randint(1, 3))]
    if c == 7:
        return [b"ZINCRBY", k, s(), m()]
    if c == 8:
        return [b"ZCARD", k]
    if c == 9:
        return [b"ZCOUNT", k, g.val(ZRANGE_SCORES), g.val(ZRANGE_SCORES)]
    lk = g.pick(LEX_KEYS)
    if c == 10:
        return [b"ZLEXCOUNT", lk, g.val(ZRANGE_LEX), g.val(ZRANGE_LEX)]
    if c in (11, 12):
        mode = g.pick([None, b"BYSCORE", b"BYLEX"])
        if mode == b"BYSCORE":
            a, b = g.val(ZRANGE_SCORES), g.val(ZRANGE_SCORES)
        elif mode == b"BYLEX":
            k, a, b = lk, g.val(ZRANGE_LEX), g.val(ZRANGE_LEX)
        else:
            a, b = g.val(SMALL_INTS), g.val(SMALL_INTS)
        opts = ([mode] if mode else []) + g.maybe(0.3, [b"REV"])
        opts += g.maybe(0.3, [b"LIMIT", g.pick([b"0", b"1", b"-1"]), g.pick([b"1", b"2", b"-1", b"0"])])
        opts += g.maybe(0.4, [b"WITHSCORES"])
        g.r.shuffle(opts) if g.r.random() < 0.1 else None
        return [b"ZRANGE", k, a, b] + opts
    if c == 13:
        return [b"ZRANGESTORE", g.key(), k, g.val(SMALL_INTS), g.val(SMALL_INTS)] + g.maybe(0.3, [b"REV"])
    if c == 14:
        return ([g.pick([b"ZRANGEBYSCORE", b"ZREVRANGEBYSCORE"]), k, g.val(ZRANGE_SCORES), g.val(ZRANGE_SCORES)]
                + g.maybe(0.4, [b"WITHSCORES"]) + g.maybe(0.3, [b"LIMIT", g.pick([b"0", b"1"]), g.pick([b"1", b"-1"])]))
    if c == 15:
        return [b"ZREVRANGE", k, g.val(SMALL_INTS), g.val(SMALL_INTS)] + g.maybe(0.4, [b"WITHSCORES"])
    if c == 16:
        return ([g.pick([b"ZRANGEBYLEX", b"ZREVRANGEBYLEX"]), lk, g.val(ZRANGE_LEX), g.val(ZRANGE_LEX)]
                + g.maybe(0.3, [b"LIMIT", g.pick([b"0", b"1"]), g.pick([b"1", b"-1"])]))
    if c == 17:
        return [g.pick([b"ZRANK", b"ZREVRANK"]), k, m()]
    if c in (18, 19):
        return [g.pick([b"ZPOPMIN", b"ZPOPMAX"]), k] + g.maybe(0.5, [g.pick([b"0", b"1", b"2", b"10", b"-1"])])
    if c == 20:
        return [g.pick([b"BZPOPMIN", b"BZPOPMAX"])] + g.keys_n(1, 2) + [g.val(BLOCK_TIMEOUTS)]
    if c == 21:
        ks = g.keys_n(1, 3)
        return ([b"ZMPOP", str(len(ks)).encode()] + ks + [g.pick([b"MIN", b"MAX", b"MID"])] +
                g.maybe(0.4, [b"COUNT", g.pick([b"1", b"3", b"0"])]))
    if c == 22:
        return [b"ZREMRANGEBYRANK", k, g.val(SMALL_INTS), g.val(SMALL_INTS)]
    if c == 23:
        return [b"ZREMRANGEBYSCORE", k, g.val(ZRANGE_SCORES), g.val(ZRANGE_SCORES)]
    if c == 24:
        return [b"ZREMRANGEBYLEX", lk, g.val(ZRANGE_LEX), g.val(ZRANGE_LEX)]
    if c in (29, 30):
        return Exact([b"ZADD", lk] + [x for _ in range(g.r.randint(1, 3)) for x in (b"0", m())])
    if c in (25, 26, 27):
        ks = g.keys_n(1, 3)
        opts = g.maybe(0.3, [b"WEIGHTS"] + [g.pick([b"1", b"2", b"-1", b"0.5", b"inf", b"abc"]) for _ in ks])
        opts += g.maybe(0.3, [b"AGGREGATE", g.pick([b"SUM", b"MIN", b"MAX", b"AVG"])])
        op = g.pick([b"ZUNION", b"ZINTER", b"ZDIFF", b"ZUNIONSTORE", b"ZINTERSTORE", b"ZDIFFSTORE"])
        numkeys = g.pick([str(len(ks)).encode()] * 4 + [b"0", b"-1", b"9"])
        if op == b"ZDIFF" or op == b"ZDIFFSTORE":
            opts = []
        if op.endswith(b"STORE"):
            return [op, g.key(), numkeys] + ks + opts
        return [op, numkeys] + ks + opts + g.maybe(0.5, [b"WITHSCORES"])
    if c == 28:
        return [b"ZRANDMEMBER", k] + g.maybe(0.7, [g.pick([b"1", b"3", b"-3", b"0", b"abc"])] +
                                               g.maybe(0.5, [b"WITHSCORES"]))
    return [b"ZADD", k, s(), m(), s(), m()]


def transactions(g):
    c = g.pick(range(12))
    if c in (0, 1):
        return [b"MULTI"]
    if c == 2:
        return [b"EXEC"]
    if c == 3:
        return [b"DISCARD"]
    if c == 4:
        return [b"WATCH"] + g.keys_n(1, 2)
    if c == 5:
        return [b"UNWATCH"]
    if c == 6:
        return [b"NOSUCHCOMMAND", g.key()]
    if c == 7:
        return [b"GET"]  # wrong arity: queued-time error, EXEC aborts
    sub = g.pick([strings, lists, hashes])
    return sub(g)


def connection(g):
    c = g.pick(range(14))
    if c == 0:
        return [b"PING"]
    if c == 1:
        return [b"PING", g.val()]
    if c == 2:
        return [b"ECHO", g.val()]
    if c == 3:
        return [b"SELECT", g.pick([b"0", b"0", b"abc", b"-1", b"16"])]  # only db 0 exists
    if c == 4:
        return [b"DBSIZE"]
    if c == 5:
        return [b"TIME"]
    if c == 6:
        return [b"CLIENT", b"SETNAME", g.pick([b"conn1", b"a b", b"", b"x\ny"])]
    if c == 7:
        return [b"CLIENT", b"GETNAME"]
    if c == 8:
        return [b"CLIENT", b"ID"]
    if c == 9:
        return [b"SET", g.key(), g.val()]
    if c == 10:
        return [b"EXISTS"] + g.keys_n(1, 3)
    if c == 11:
        return [b"TYPE", g.key()]
    if c == 12:
        return [g.pick([b"FLUSHDB", b"FLUSHALL"])] + g.maybe(0.3, [g.pick([b"ASYNC", b"SYNC", b"FOO"])])
    return [b"NOSUCHCOMMAND"] + g.maybe(0.5, [g.val()])


FAMILIES = {
    "strings": (strings, [b"k0", b"k1", b"k2", b"{t}k3"], (b"lst", [b"RPUSH", b"lst", b"a", b"b"])),
    "keys": (keyspace, [b"k0", b"k1", b"k2", b"{t}k3", b"s"], (b"hsh", [b"HSET", b"hsh", b"f", b"v"])),
    "hashes": (hashes, [b"h0", b"h1", b"h2"], (b"str", [b"SET", b"str", b"v"])),
    "lists": (lists, [b"l0", b"l1", b"l2"], (b"str", [b"SET", b"str", b"v"])),
    "sets": (sets, [b"s0", b"s1", b"s2"], (b"str", [b"SET", b"str", b"v"])),
    "zsets": (zsets, [b"z0", b"z1", b"z2"], (b"lst", [b"RPUSH", b"lst", b"a"])),
    "connection": (connection, [b"k0", b"k1"], (b"lst", [b"RPUSH", b"lst", b"a"])),
    "transactions": (transactions, [b"k0", b"k1", b"l0"], (b"hsh", [b"HSET", b"hsh", b"f", b"v"])),
}


def sequence(family, seed, n):
    fn, keys, (wrong_key, setup) = FAMILIES[family]
    g = Gen(seed * 1000 + sorted(FAMILIES).index(family), keys, wrong_key)
    out = [setup]
    for _ in range(n):
        out.append(g.mutate(fn(g)))
    return out

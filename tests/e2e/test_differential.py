"""Differential tests: seeded random command sequences per data type, sent
over raw RESP to slotraft and to a real redis-server; every reply must match
(byte for byte unless difftools.py's documented rules say otherwise).

Defaults (CI): 20 seeds x 300 commands per family, in RESP2 and in RESP3.
More:  DIFF_SEEDS=200 DIFF_COMMANDS=1000 python3 -m pytest tests/e2e/test_differential.py
       DIFF_SEEDS=7,42 ...   (an explicit seed list, to replay a failure)
DIFF_REPORT=path appends every mismatch as markdown to that file.

After a mismatch the subject's copy of every pool key is overwritten with
the oracle's (type-aware, TTL included) and the sequence goes on, up to
DIFF_MAX_MISMATCHES (default 5) mismatches per sequence; inside MULTI a
mismatch ends the sequence.
"""

import os

import pytest

import gen
from difftools import NONDETERMINISTIC, same, show
from resp_client import ConnectionClosed

# Commands shown before a mismatch in a failure report.
CONTEXT = 6


def seeds():
    spec = os.environ.get("DIFF_SEEDS", "20")
    if "," in spec or "-" in spec and not spec.startswith("-"):
        out = []
        for part in spec.split(","):
            if "-" in part:
                a, b = part.split("-")
                out += range(int(a), int(b) + 1)
            else:
                out.append(int(part))
        return out
    return list(range(1, int(spec) + 1))


def n_commands():
    return int(os.environ.get("DIFF_COMMANDS", "300"))


def contents_before(conn, argv):
    """For a NONDETERMINISTIC command: the leaf values its key holds (asked of
    the oracle before the command runs)."""
    from difftools import leaves
    cmd = argv[0].upper()
    if len(argv) < 2 and cmd != b"RANDOMKEY":
        return None
    q = {
        b"SPOP": lambda: [b"SMEMBERS", argv[1]],
        b"SRANDMEMBER": lambda: [b"SMEMBERS", argv[1]],
        b"HRANDFIELD": lambda: [b"HGETALL", argv[1]],
        b"ZRANDMEMBER": lambda: [b"ZRANGE", argv[1], b"0", b"-1", b"WITHSCORES"],
        b"RANDOMKEY": lambda: [b"KEYS", b"*"],
    }[cmd]()
    r = conn.request(q)
    if r.is_error():
        return {None}
    return set(leaves(r.value)) | {None}


def resync_set(oc, sc, key):
    """After SPOP the two sets legitimately differ: copy the oracle's."""
    members = oc.request([b"SMEMBERS", key])
    sc.request([b"DEL", key])
    if members.kind in "*~" and members.value[1]:
        sc.request([b"SADD", key] + [m[1] for m in members.value[1]])


def max_mismatches():
    return int(os.environ.get("DIFF_MAX_MISMATCHES", "5"))


def copy_key(oc, sc, key):
    """Makes the subject's `key` equal to the oracle's (value and TTL), using
    only basic commands."""
    sc.request([b"DEL", key])
    t = oc.request([b"TYPE", key]).value[1]
    flat = lambda r: [x[1] for x in r.value[1]] if r.kind in "*~" and r.value[1] else []
    if t == b"string":
        sc.request([b"SET", key, oc.request([b"GET", key]).value[1]])
    elif t == b"list":
        items = flat(oc.request([b"LRANGE", key, b"0", b"-1"]))
        sc.request([b"RPUSH", key] + items)
    elif t == b"set":
        sc.request([b"SADD", key] + flat(oc.request([b"SMEMBERS", key])))
    elif t == b"hash":
        r = oc.request([b"HGETALL", key])
        pairs = [x[1] for kv in r.value[1] for x in kv] if r.kind == "%" else flat(r)
        sc.request([b"HSET", key] + pairs)
    elif t == b"zset":
        r = oc.request([b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"])
        items = flat(r)
        if items and isinstance(r.value[1][0][1], list):  # RESP3 pairs
            items = [x[1] for pair in r.value[1] for x in pair[1]]
        args = []
        for i in range(0, len(items), 2):
            args += [items[i + 1], items[i]]
        sc.request([b"ZADD", key] + args)
    else:
        return
    pttl = oc.request([b"PTTL", key]).value[1]
    if isinstance(pttl, int) and pttl > 0:
        sc.request([b"PEXPIRE", key, str(pttl).encode()])


def resync_all(oc, sc, family):
    _, keys, (wrong_key, _) = gen.FAMILIES[family]
    for k in list(keys) + [wrong_key] + gen.LEX_KEYS:
        copy_key(oc, sc, k)


def run_sequence(oracle, subject, family, seed, proto):
    """Returns the list of mismatches (dicts) of one seeded sequence."""
    cmds = gen.sequence(family, seed, n_commands())
    found = []
    with oracle.conn() as oc, subject.conn() as sc:
        if proto == 3:
            ho, hs = oc.request([b"HELLO", b"3"]), sc.request([b"HELLO", b"3"])
            if hs.kind != ho.kind:
                return [dict(family=family, seed=seed, proto=proto, index=-1, argv=[b"HELLO", b"3"],
                             oracle=ho.raw, subject=hs.raw, context=[])]
        for c in (oc, sc):
            c.request([b"FLUSHALL"])
        in_multi = False
        for i, argv in enumerate(cmds):
            cmd = argv[0].upper()
            if cmd == b"CLIENT" and len(argv) > 1 and argv[1].upper() == b"ID":
                cmd = b"CLIENT ID"
            contents = None
            if cmd in NONDETERMINISTIC and not in_multi:
                contents = contents_before(oc, argv)
            ro = oc.request(argv)
            try:
                rs = sc.request(argv)
            except (ConnectionClosed, TimeoutError, OSError) as e:
                rs = None
                err = repr(e)
            if rs is None or not same(cmd, ro, rs, contents):
                found.append(dict(family=family, seed=seed, proto=proto, index=i, argv=argv, oracle=ro.raw,
                                  subject=(rs.raw if rs is not None else err.encode()),
                                  context=cmds[max(0, i - CONTEXT):i]))
                if rs is None or in_multi or cmd == b"MULTI" or len(found) >= max_mismatches():
                    return found
                resync_all(oc, sc, family)
                continue
            if cmd == b"MULTI" and not ro.is_error():
                in_multi = True
            elif cmd in (b"EXEC", b"DISCARD") and not ro.is_error():
                in_multi = False
            if cmd == b"SPOP" and not ro.is_error() and not in_multi:
                resync_set(oc, sc, argv[1])
    return found


def format_failure(f):
    lines = [f"- {f['family']} RESP{f['proto']} seed {f['seed']} command #{f['index']}: `{show(f['argv'])}`",
             f"  - redis:    `{f['oracle'][:400]!r}`",
             f"  - slotraft: `{f['subject'][:400]!r}`"]
    if f["context"]:
        lines.append("  - after: " + " ; ".join(f"`{show(a)}`" for a in f["context"]))
    return "\n".join(lines)


@pytest.mark.parametrize("proto", [2, 3])
@pytest.mark.parametrize("family", sorted(gen.FAMILIES))
def test_differential(both, family, proto):
    oracle, subject = both
    failures = []
    for seed in seeds():
        failures += run_sequence(oracle, subject, family, seed, proto)
    text = "\n".join(format_failure(f) for f in failures)
    report = os.environ.get("DIFF_REPORT")
    if report and failures:
        with open(report, "a") as out:
            out.write(text + "\n")
    assert not failures, f"{len(failures)} mismatches in {len(seeds())} seeds:\n{text}"


def test_generators_cover_wrong_type_arity_and_edges():
    """The generators really produce the cases this suite claims to cover."""
    seen = set()
    for family in gen.FAMILIES:
        for argv in gen.sequence(family, 1, 2000):
            seen.add(argv[0])
            seen.update(a for a in argv[1:] if a in (b"lst", b"hsh", b"str", b"inf", b"", b"9223372036854775808"))
    for needed in [b"lst", b"hsh", b"str", b"inf", b"", b"9223372036854775808", b"ZADD", b"EXEC", b"WATCH",
                   b"SPOP", b"HRANDFIELD", b"LMPOP", b"BLPOP", b"GETEX", b"ZUNION", b"SINTERCARD"]:
        assert needed in seen, needed

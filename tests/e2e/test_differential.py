"""Differential tests: seeded random command sequences per data type, sent
over raw RESP to slotraft and to a real redis-server; every reply must match
(byte for byte unless difftools.py's documented rules say otherwise).

Defaults (CI): 20 seeds x 300 commands per family, in RESP2 and in RESP3.
More:  DIFF_SEEDS=200 DIFF_COMMANDS=1000 python3 -m pytest tests/e2e/test_differential.py
       DIFF_SEEDS=7,42 ...   (an explicit seed list, to replay a failure)
DIFF_REPORT=path appends every mismatch as markdown to that file.

A sequence stops at its first mismatch (the states may diverge after it);
the test reports the first mismatch of every seed.
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


def run_sequence(oracle, subject, family, seed, proto):
    cmds = gen.sequence(family, seed, n_commands())
    with oracle.conn() as oc, subject.conn() as sc:
        if proto == 3:
            ho, hs = oc.request([b"HELLO", b"3"]), sc.request([b"HELLO", b"3"])
            if hs.kind != ho.kind:
                return dict(family=family, seed=seed, proto=proto, index=-1, argv=[b"HELLO", b"3"],
                            oracle=ho.raw, subject=hs.raw, context=[])
        for c in (oc, sc):
            c.request([b"FLUSHALL"])
        in_multi = False
        for i, argv in enumerate(cmds):
            cmd = argv[0].upper()
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
                return dict(family=family, seed=seed, proto=proto, index=i, argv=argv, oracle=ro.raw,
                            subject=(rs.raw if rs is not None else err.encode()),
                            context=cmds[max(0, i - CONTEXT):i])
            if cmd == b"MULTI" and not ro.is_error():
                in_multi = True
            elif cmd in (b"EXEC", b"DISCARD") and not ro.is_error():
                in_multi = False
            if cmd == b"SPOP" and not ro.is_error() and not in_multi:
                resync_set(oc, sc, argv[1])
    return None


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
        f = run_sequence(oracle, subject, family, seed, proto)
        if f:
            failures.append(f)
    text = "\n".join(format_failure(f) for f in failures)
    report = os.environ.get("DIFF_REPORT")
    if report and failures:
        with open(report, "a") as out:
            out.write(text + "\n")
    assert not failures, f"{len(failures)} of {len(seeds())} seeds differ:\n{text}"


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

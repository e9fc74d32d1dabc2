"""Comparison rules for the differential tests (slotraft vs redis-server).

Default: replies must be identical byte for byte. Exceptions, each one
listed in docs/differences-from-redis.md ("Differential-test comparison
rules"), and nothing else:
- UNORDERED commands: same reply type, same elements as a multiset (Redis's
  own order there is a hash-table accident).
- NONDETERMINISTIC commands: same reply type and size, elements drawn from
  the key's actual contents (checked against the oracle's state).
- SHAPE_ONLY (TIME, CLIENT ID): same reply type and size.
- CLOCK commands (TTL, PTTL, EXPIRETIME, PEXPIRETIME): equal, or both
  non-negative and within a small tolerance (the two servers' clocks are
  read a few microseconds apart).
"""

UNORDERED = {b"SMEMBERS", b"SUNION", b"SINTER", b"SDIFF", b"HKEYS", b"HVALS", b"HGETALL", b"KEYS"}
NONDETERMINISTIC = {b"SPOP", b"SRANDMEMBER", b"HRANDFIELD", b"ZRANDMEMBER", b"RANDOMKEY"}
# Server-specific values: same reply type and size only (clock, connection id).
SHAPE_ONLY = {b"TIME", b"CLIENT ID"}
# Tolerance per clock command, in the command's unit.
CLOCK_TOLERANCE = {b"TTL": 2, b"EXPIRETIME": 2, b"PTTL": 1500, b"PEXPIRETIME": 1500}


def canon(v):
    """A hashable, order-preserving canonical form of a decoded reply."""
    kind, payload = v
    if kind == "%":
        return (kind, tuple((canon(k), canon(x)) for k, x in payload))
    if isinstance(payload, list):
        return (kind, tuple(canon(x) for x in payload))
    return v


def pairs_of(v):
    """HGETALL: RESP2 flat array or RESP3 map -> list of (field, value)."""
    kind, payload = v
    if kind == "%":
        return [(canon(k), canon(x)) for k, x in payload]
    return [(canon(payload[i]), canon(payload[i + 1])) for i in range(0, len(payload), 2)]


def leaves(v):
    """Every scalar payload inside a decoded reply."""
    kind, payload = v
    if kind == "%":
        return [y for k, x in payload for y in leaves(k) + leaves(x)]
    if isinstance(payload, list):
        return [y for x in payload for y in leaves(x)]
    return [payload]


def size(v):
    kind, payload = v
    return len(payload) if isinstance(payload, list) else None


def same(cmd, o, s, oracle_contents=None):
    """Whether subject reply `s` is acceptable given oracle reply `o` for the
    command name `cmd` (upper-case bytes). `oracle_contents`: for
    NONDETERMINISTIC commands, the set of leaf values the key holds."""
    if o.raw == s.raw:
        return True
    if o.is_error() or s.is_error():
        return False
    if cmd in SHAPE_ONLY:
        return o.kind == s.kind and size(o.value) == size(s.value)
    if cmd in UNORDERED:
        if o.kind != s.kind or o.value[1] is None or s.value[1] is None:
            return False
        if cmd == b"HGETALL":
            return sorted(map(repr, pairs_of(o.value))) == sorted(map(repr, pairs_of(s.value)))
        return sorted(repr(canon(x)) for x in o.value[1]) == sorted(repr(canon(x)) for x in s.value[1])
    if cmd in NONDETERMINISTIC:
        if o.kind != s.kind or size(o.value) != size(s.value):
            return False
        if oracle_contents is None:
            return True
        return all(x in oracle_contents for x in leaves(s.value))
    if cmd in CLOCK_TOLERANCE:
        a, b = o.value[1], s.value[1]
        if o.kind != ":" or s.kind != ":":
            return False
        return a >= 0 and b >= 0 and abs(a - b) <= CLOCK_TOLERANCE[cmd]
    return False


def show(argv):
    parts = []
    for a in argv:
        a = a if isinstance(a, bytes) else str(a).encode()
        txt = a.decode("utf-8", "backslashreplace")
        if not a or any(c in txt for c in ' "\\') or not a.isascii() or not txt.isprintable():
            txt = '"' + "".join(ch if ch.isprintable() and ch not in '"\\' else "\\x%02x" % ord(ch) if ord(ch) < 256 else ch
                                for ch in a.decode("latin-1")) + '"'
        parts.append(txt)
    return " ".join(parts)

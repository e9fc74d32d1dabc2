"""The comparison rules themselves: they must reject real differences
(otherwise the differential tests could pass on anything)."""

from difftools import same
from resp_client import Reply


def r(raw, value):
    return Reply(raw, value)


def test_exact_by_default():
    a = r(b"$1\r\na\r\n", ("$", b"a"))
    b = r(b"$1\r\nb\r\n", ("$", b"b"))
    assert same(b"GET", a, a)
    assert not same(b"GET", a, b)


def test_errors_always_exact():
    e1 = r(b"-ERR x\r\n", ("-", b"ERR x"))
    e2 = r(b"-ERR y\r\n", ("-", b"ERR y"))
    assert not same(b"SMEMBERS", e1, e2)
    assert not same(b"TTL", e1, e2)


def test_unordered_is_a_multiset():
    ab = r(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n", ("*", [("$", b"a"), ("$", b"b")]))
    ba = r(b"*2\r\n$1\r\nb\r\n$1\r\na\r\n", ("*", [("$", b"b"), ("$", b"a")]))
    aa = r(b"*2\r\n$1\r\na\r\n$1\r\na\r\n", ("*", [("$", b"a"), ("$", b"a")]))
    sab = r(b"~2\r\n$1\r\na\r\n$1\r\nb\r\n", ("~", [("$", b"a"), ("$", b"b")]))
    assert same(b"SMEMBERS", ab, ba)
    assert not same(b"SMEMBERS", ab, aa)
    assert not same(b"SMEMBERS", ab, sab)  # RESP3 set vs array: type matters
    assert not same(b"LRANGE", ab, ba)     # ordered command


def test_hgetall_pairs_stay_paired():
    x = ("*", [("$", b"f"), ("$", b"1"), ("$", b"g"), ("$", b"2")])
    y = ("*", [("$", b"g"), ("$", b"2"), ("$", b"f"), ("$", b"1")])
    z = ("*", [("$", b"f"), ("$", b"2"), ("$", b"g"), ("$", b"1")])
    assert same(b"HGETALL", r(b"x", x), r(b"y", y))
    assert not same(b"HGETALL", r(b"x", x), r(b"z", z))


def test_nondeterministic_checks_shape_and_membership():
    one_a = r(b"a", ("*", [("$", b"a")]))
    one_b = r(b"b", ("*", [("$", b"b")]))
    two = r(b"c", ("*", [("$", b"a"), ("$", b"b")]))
    assert same(b"SRANDMEMBER", one_a, one_b, {b"a", b"b", None})
    assert not same(b"SRANDMEMBER", one_a, one_b, {b"a", None})
    assert not same(b"SRANDMEMBER", one_a, two, {b"a", b"b", None})


def test_clock_tolerance():
    t100 = r(b":100\r\n", (":", 100))
    t99 = r(b":99\r\n", (":", 99))
    t97 = r(b":97\r\n", (":", 97))
    gone = r(b":-2\r\n", (":", -2))
    assert same(b"TTL", t100, t99)
    assert not same(b"TTL", t100, t97)
    assert not same(b"TTL", t100, gone)
    assert not same(b"GET", t100, t99)

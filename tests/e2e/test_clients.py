"""redis-py against slotraft in normal use (and, as a check of the tests
themselves, against redis-server): pipelines, transactions with WATCH,
scan_iter, blocking BLPOP served by a second client, RESP3 (protocol=3)."""

import threading
import time

import pytest
import redis

SERVERS = ["oracle", "subject"]


@pytest.fixture(params=SERVERS)
def server(request, both):
    return request.getfixturevalue(request.param)


def client(server, protocol=2):
    """RESP2 unless asked (redis-py's default protocol changed across versions)."""
    return redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=10, protocol=protocol)


def test_basic_types(server):
    r = client(server)
    assert r.ping()
    assert r.set("s", "v") and r.get("s") == b"v"
    assert r.incrby("n", 5) == 5 and r.incrbyfloat("n", 0.5) == 5.5
    assert r.hset("h", mapping={"a": 1, "b": 2}) == 2 and r.hgetall("h") == {b"a": b"1", b"b": b"2"}
    assert r.rpush("l", 1, 2, 3) == 3 and r.lrange("l", 0, -1) == [b"1", b"2", b"3"]
    assert r.sadd("set", "x", "y") == 2 and r.smembers("set") == {b"x", b"y"}
    assert r.zadd("z", {"a": 1, "b": 2.5}) == 2
    assert r.zrange("z", 0, -1, withscores=True) == [(b"a", 1.0), (b"b", 2.5)]
    assert r.expire("s", 100) and 99 <= r.ttl("s") <= 100
    assert r.delete("s", "n", "h", "l", "set", "z") == 6
    r.rpush("x", 1)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.get("x")


def test_pipeline(server):
    r = client(server)
    p = r.pipeline(transaction=False)
    for i in range(500):
        p.set(f"k{i}", i)
        p.incr(f"k{i}")
    res = p.execute()
    assert res == [x for i in range(500) for x in (True, i + 1)]
    assert r.mget([f"k{i}" for i in range(3)]) == [b"1", b"2", b"3"]


def test_transaction_and_watch(server):
    r = client(server)
    other = client(server)
    r.set("balance", 10)
    with r.pipeline() as p:
        p.watch("balance")
        bal = int(p.get("balance"))
        p.multi()
        p.set("balance", bal - 3)
        assert p.execute() == [True]
    assert r.get("balance") == b"7"
    with r.pipeline() as p:
        p.watch("balance")
        other.incr("balance")  # a concurrent write: EXEC must abort
        p.multi()
        p.set("balance", 0)
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("balance") == b"8"
    p = r.pipeline(transaction=True)
    p.incr("balance").lpush("balance", 1).incr("balance")
    with pytest.raises(redis.ResponseError):
        p.execute()
    assert r.get("balance") == b"10"  # the other commands of EXEC ran


def test_scan_iter(server):
    r = client(server)
    p = r.pipeline(transaction=False)
    for i in range(1200):
        p.set(f"user:{i}", i)
    p.sadd("other", "x")
    p.execute()
    seen = set(r.scan_iter(match="user:*", count=100))
    assert seen == {f"user:{i}".encode() for i in range(1200)}
    assert set(r.scan_iter(_type="set")) == {b"other"}
    r.hset("hh", mapping={f"f{i}": i for i in range(300)})
    assert dict(r.hscan_iter("hh")) == {f"f{i}".encode(): str(i).encode() for i in range(300)}


def test_blpop_woken_by_second_client(server):
    r = client(server)
    pusher = client(server)

    def push():
        time.sleep(0.3)
        pusher.rpush("jobs", "job1")

    t = threading.Thread(target=push, daemon=True)
    start = time.monotonic()
    t.start()
    got = r.blpop(["nothing", "jobs"], timeout=5)
    elapsed = time.monotonic() - start
    t.join(5)
    assert got == (b"jobs", b"job1")
    assert 0.2 <= elapsed < 4
    assert r.blpop(["jobs"], timeout=0.1) is None


def test_resp3(server):
    r = client(server, protocol=3)
    assert r.ping()
    r.hset("h", mapping={"a": "1"})
    assert r.hgetall("h") == {b"a": b"1"}
    r.zadd("z", {"m": 1.5})
    assert r.zscore("z", "m") == 1.5
    r.zadd("z", {"n": 2})
    assert [tuple(x) for x in r.zrange("z", 0, -1, withscores=True)] == [(b"m", 1.5), (b"n", 2.0)]
    r.sadd("s", "a", "b")
    assert r.smembers("s") == {b"a", b"b"}
    assert r.get("missing") is None
    raw = r.execute_command("HELLO", "3")
    assert raw[b"proto"] == 3 if b"proto" in raw else raw["proto"] == 3

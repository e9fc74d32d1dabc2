"""Real multi-process slotraft clusters for the cluster end-to-end tests.

Why a separate module: the cluster tests need N node processes, each on its
OWN loopback address (127.0.0.11, .12, ...), so a network partition can be
made with iptables rules between addresses without touching any other
process on the machine; and they need to kill -9, restart from the data
directory, SIGSTOP and partition single nodes. conftest.py's fixtures are
one-process only.

Every process started here is stopped (SIGTERM, then SIGKILL) and every
temp dir removed by the fixture's finalizer; every wait is bounded; every
iptables rule lives in a chain of our own that `Partition.heal()` removes.
Only 127.0.0.0/8 is ever a network target.
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from conftest import slotraft_binary

# First loopback address of a cluster: node i (1-based) binds 127.0.0.(10+i).
ADDR_BASE = 10
# Largest cluster the helpers build (addresses .11 .. .19).
MAX_NODES = 9
# The cluster bus listens on the client port + this offset.
BUS_PORT_OFFSET = 10000
# Client ports are picked in [PORT_LOW, PORT_HIGH) (bus ports +10000 stay < 65536).
PORT_LOW, PORT_HIGH = 21000, 29000
# Attempts at finding a port range free on every address.
PORT_ATTEMPTS = 50
# How long a node may take to answer PING after spawn / restart.
START_TIMEOUT_S = 30.0
# How long `slotraft cluster create` may wait for cluster_state:ok.
CREATE_WAIT_S = 30
# How long a node gets after SIGTERM before SIGKILL.
STOP_TIMEOUT_S = 5.0
# Gossip failure-detection timeout (ms) given to every node; None keeps the
# server's default, so the fault tests measure "default settings" (issue 5).
NODE_TIMEOUT_MS = int(os.environ["E2E_NODE_TIMEOUT_MS"]) if os.environ.get("E2E_NODE_TIMEOUT_MS") else None
# Extra `slotraft server` arguments for every node, e.g.
# E2E_SLOTRAFT_ARGS="--debug-inject-bug read-without-quorum" to check that
# the fault tests catch a deliberately broken server.
EXTRA_SERVER_ARGS = os.environ.get("E2E_SLOTRAFT_ARGS", "").split()
# Client socket timeout for direct connections (s).
CLIENT_TIMEOUT_S = 5.0
# Upper bound on slot search when building a key for a given slot.
KEY_SEARCH_LIMIT = 2_000_000


def node_ip(i):
    """Loopback address of node i (1-based)."""
    assert 1 <= i <= MAX_NODES
    return f"127.0.0.{ADDR_BASE + i}"


def _port_free(ip, port):
    with socket.socket() as s:
        try:
            s.bind((ip, port))
            return True
        except OSError:
            return False


def pick_ports(n):
    """n client ports, each free (with its bus port) on its node's address."""
    rng = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(PORT_ATTEMPTS):
        base = rng.randrange(PORT_LOW, PORT_HIGH - n)
        ports = [base + i for i in range(n)]
        if all(_port_free(node_ip(i + 1), p) and _port_free(node_ip(i + 1), p + BUS_PORT_OFFSET)
               for i, p in enumerate(ports)):
            return ports
    raise RuntimeError(f"no free port range for {n} nodes after {PORT_ATTEMPTS} attempts")


def key_for_slot(slot, prefix="k"):
    """A key (str) hashing to `slot`, e.g. 'k:1234'. Deterministic."""
    for i in range(KEY_SEARCH_LIMIT):
        k = f"{prefix}:{i}"
        if key_slot(k.encode()) == slot:
            return k
    raise RuntimeError(f"no key for slot {slot} within {KEY_SEARCH_LIMIT} tries")


def keys_in_range(lo, hi, count, prefix="k"):
    """`count` distinct keys whose slots lie in [lo, hi]."""
    out = []
    for i in range(KEY_SEARCH_LIMIT):
        k = f"{prefix}:{i}"
        if lo <= key_slot(k.encode()) <= hi:
            out.append(k)
            if len(out) == count:
                return out
    raise RuntimeError(f"only {len(out)} keys in slots {lo}..{hi}")


class Node:
    """One `slotraft server --cluster-enabled yes` process on its own address."""

    def __init__(self, index, port, datadir, extra_args=()):
        self.index = index
        self.extra_args = list(extra_args)
        self.ip = node_ip(index)
        self.port = port
        self.bus_port = port + BUS_PORT_OFFSET
        self.dir = datadir
        self.log_path = os.path.join(datadir, "node.log")
        self.proc = None
        self.log = None

    @property
    def addr(self):
        return f"{self.ip}:{self.port}"

    def argv(self):
        argv = [slotraft_binary(), "server", "--bind", self.ip, "--port", str(self.port),
                "--dir", self.dir, "--cluster-enabled", "yes", *EXTRA_SERVER_ARGS,
                *self.extra_args]
        if NODE_TIMEOUT_MS is not None:
            argv += ["--cluster-node-timeout", str(NODE_TIMEOUT_MS)]
        return argv

    def start(self):
        """Spawns the process (same dir on a restart) and waits for PING."""
        assert not self.alive(), f"node {self.index} already running"
        os.makedirs(self.dir, exist_ok=True)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.index} exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                if self.client(timeout=1.0).ping():
                    return self
            except (redis.RedisError, OSError) as e:
                last = e
            time.sleep(0.05)
        raise RuntimeError(f"node {self.index} did not answer PING within {START_TIMEOUT_S}s "
                           f"({last}):\n{self.log_tail()}")

    def client(self, timeout=CLIENT_TIMEOUT_S):
        """A plain (non-cluster) redis-py client to this node only. No client
        retries: redis-py >= 6 retries connection errors 3 times with backoff
        of seconds by default, which would hide the server's own timing; the
        tests have their own bounded loops."""
        return redis.Redis(host=self.ip, port=self.port, socket_timeout=timeout,
                           socket_connect_timeout=timeout, decode_responses=True,
                           retry=Retry(NoBackoff(), 0))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        """SIGKILL (no shutdown path at all) and reap."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT_S)
        self._close_log()

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S. Idempotent."""
        if self.alive():
            # A stopped (SIGSTOPped) process must run to handle SIGTERM.
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        self._close_log()

    def _close_log(self):
        if self.log is not None:
            self.log.close()
            self.log = None

    def log_tail(self, n=3000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""


class Cluster:
    """N nodes, created into one cluster with `slotraft cluster create`."""

    def __init__(self, n, root, shards=None, replicas=3, extra_args=()):
        assert 1 <= n <= MAX_NODES
        self.root = root
        self.shards = shards
        self.replicas = min(replicas, n)
        ports = pick_ports(n)
        self.nodes = [Node(i + 1, ports[i], os.path.join(root, f"node-{i + 1}"), extra_args)
                      for i in range(n)]

    def node(self, i):
        """Node by 1-based index."""
        return self.nodes[i - 1]

    def start(self):
        for n in self.nodes:
            n.start()
        argv = [slotraft_binary(), "cluster", "create", *[n.addr for n in self.nodes],
                "--replicas", str(self.replicas), "--wait", str(CREATE_WAIT_S)]
        if self.shards is not None:
            argv += ["--shards", str(self.shards)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=CREATE_WAIT_S + 30)
        if r.returncode != 0:
            raise RuntimeError(f"cluster create failed ({r.returncode}):\n{r.stdout}\n{r.stderr}\n"
                               + self.logs())
        self.wait_writable()
        return self

    def wait_writable(self, timeout=30.0):
        """Until a SET to every shard is acknowledged by its leader.

        `cluster create` returns once every node says cluster_state:ok, but
        the shards' first elections may still be under way (writes answer
        CLUSTERDOWN for ~0.5 s, see the H4 report), so tests wait here.
        """
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                for lo, _, leader, _ in self.slots():
                    leader.client(timeout=2.0).set(key_for_slot(lo, prefix="__ready"), "1")
                return
            except (redis.RedisError, OSError, KeyError) as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"cluster not writable within {timeout}s ({last!r})\n{self.logs()}")

    def stop(self):
        for n in self.nodes:
            n.stop()

    def logs(self):
        return "\n".join(f"--- node {n.index} ({n.addr}) log tail ---\n{n.log_tail()}"
                         for n in self.nodes)

    def live(self):
        return [n for n in self.nodes if n.alive()]

    def cluster_client(self, timeout=CLIENT_TIMEOUT_S, seeds=None, **kw):
        """redis-py RedisCluster seeded with `seeds` (default: every live
        node). Seed only the majority side of a partition: the client takes
        its slot map from a seed, and a cut-off node's map is stale."""
        from redis.cluster import ClusterNode, RedisCluster
        seeds = [ClusterNode(n.ip, n.port) for n in (seeds or self.live())]
        return RedisCluster(startup_nodes=seeds, decode_responses=True, socket_timeout=timeout,
                            socket_connect_timeout=timeout, **kw)

    def by_addr(self, ip, port):
        for n in self.nodes:
            if n.ip == ip and n.port == int(port):
                return n
        raise KeyError(f"{ip}:{port} is not a node of this cluster")

    def slots(self, via=None):
        """[(lo, hi, leader Node, [follower Nodes])] from CLUSTER SLOTS of `via`."""
        src = via or self.live()[0]
        out = []
        # Short timeout: `via` may be SIGSTOPped; callers retry.
        for entry in src.client(timeout=1.0).execute_command("CLUSTER", "SLOTS"):
            lo, hi, master, *replicas = entry
            out.append((int(lo), int(hi), self.by_addr(master[0], master[1]),
                        [self.by_addr(r[0], r[1]) for r in replicas]))
        return sorted(out, key=lambda e: e[0])

    def shard_of_slot(self, slot, via=None):
        for lo, hi, leader, followers in self.slots(via):
            if lo <= slot <= hi:
                return lo, hi, leader, followers
        raise KeyError(f"slot {slot} unassigned")

    def wait_state_ok(self, nodes=None, timeout=30.0):
        """Until every given (default: live) node says cluster_state:ok."""
        nodes = nodes or self.live()
        deadline = time.monotonic() + timeout
        last = {}
        while time.monotonic() < deadline:
            pending = []
            for n in nodes:
                try:
                    info = n.client(timeout=1.0).execute_command("CLUSTER", "INFO")
                    last[n.index] = info
                    if "cluster_state:ok" not in info:
                        pending.append(n.index)
                except (redis.RedisError, OSError) as e:
                    last[n.index] = repr(e)
                    pending.append(n.index)
            if not pending:
                return
            time.sleep(0.1)
        raise AssertionError(f"cluster_state not ok within {timeout}s: {last}\n{self.logs()}")

    def wait_balanced(self, timeout=20.0):
        """Until every node leads at least one shard (the server's balancer moves
        leaders to their preferred nodes a few seconds after the first
        elections); returns the leader indexes per shard."""
        want = min(len(self.nodes), len(self.slots()))
        deadline = time.monotonic() + timeout
        leaders = []
        while time.monotonic() < deadline:
            try:
                leaders = [leader.index for _, _, leader, _ in self.slots()]
                if len(set(leaders)) >= want:
                    return leaders
            except (redis.RedisError, OSError, KeyError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"leaders not spread within {timeout}s: {leaders}")

    def wait_leader_elsewhere(self, slot, old, timeout=15.0, via=None):
        """Until CLUSTER SLOTS (of `via` or any live node) names a leader other than `old`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                leader = self.shard_of_slot(slot, via)[2]
                if leader is not old and leader.alive():
                    return leader
            except (redis.RedisError, OSError, KeyError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"slot {slot} still led by node {old.index} after {timeout}s")


class Partition:
    """iptables DROP rules isolating one node's bus from the others.

    Every rule lives in a chain of our own (named after our pid), jumped to
    from INPUT; heal() removes the jump and the chain, and is idempotent.
    Loopback packets traverse INPUT, so dropping there cuts both directions
    when rules exist for both directions.
    """

    def __init__(self, isolated, others):
        self.chain = f"SLOTRAFT_E2E_{os.getpid()}"[:28]
        self.isolated = isolated
        self.others = others
        self.active = False

    @staticmethod
    def require_tools():
        """Fails (never skips) when the partition tests cannot run."""
        if os.geteuid() != 0:
            pytest.fail("partition tests need root for iptables (CI runs them as root)",
                        pytrace=False)
        if shutil.which("iptables") is None:
            pytest.fail("partition tests need iptables (CI installs it; apt-get install iptables)",
                        pytrace=False)

    def _ipt(self, *args, check=True):
        return subprocess.run(["iptables", *args], capture_output=True, text=True, timeout=10,
                              check=check)

    def apply(self):
        a = self.isolated
        assert a.ip.startswith("127.") and all(o.ip.startswith("127.") for o in self.others)
        self.active = True
        self._ipt("-N", self.chain)
        self._ipt("-I", "INPUT", "-j", self.chain)
        for o in self.others:
            for src, dst in ((a, o), (o, a)):
                # New and established connections to dst's bus ...
                self._ipt("-A", self.chain, "-p", "tcp", "-s", src.ip, "-d", dst.ip,
                          "--dport", str(dst.bus_port), "-j", "DROP")
                # ... and answers from src's bus on connections dst opened.
                self._ipt("-A", self.chain, "-p", "tcp", "-s", src.ip, "-d", dst.ip,
                          "--sport", str(src.bus_port), "-j", "DROP")
        return self

    def heal(self):
        if not self.active:
            return
        self._ipt("-D", "INPUT", "-j", self.chain, check=False)
        self._ipt("-F", self.chain, check=False)
        self._ipt("-X", self.chain, check=False)
        self.active = False


def make_cluster(n=3, shards=None, replicas=3, extra_args=()):
    """Builds and starts a cluster in a fresh temp dir; the caller must call
    `teardown_cluster`. `extra_args` go to every `slotraft server`. Fixtures
    below wrap it."""
    root = tempfile.mkdtemp(prefix="slotraft-cluster-")
    c = Cluster(n, root, shards=shards, replicas=replicas, extra_args=extra_args)
    try:
        c.start()
    except BaseException:
        teardown_cluster(c)
        raise
    return c


def teardown_cluster(c):
    try:
        c.stop()
    finally:
        shutil.rmtree(c.root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster3():
    """A 3-node, 3-shard cluster (3 replicas per shard), shared by a module,
    with one shard leader per node (stable leadership for redis-benchmark)."""
    c = make_cluster(3)
    try:
        c.wait_balanced()
    except BaseException:
        teardown_cluster(c)
        raise
    yield c
    dead = [n.index for n in c.nodes if not n.alive()]
    logs = c.logs() if dead else ""
    teardown_cluster(c)
    if dead:
        pytest.fail(f"nodes {dead} died during the module's tests:\n{logs}", pytrace=False)


@pytest.fixture
def fresh_cluster3():
    """A 3-node cluster for one (destructive) test."""
    c = make_cluster(3)
    yield c
    teardown_cluster(c)

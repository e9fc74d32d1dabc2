"""Fixtures: real server processes on free loopback ports.

- `oracle`: a real `redis-server` (the Debian 7.0 package), no persistence.
- `subject`: the server under test. By default the `slotraft` binary, found
  via $SLOTRAFT_BIN (default: target/release/slotraft at the repo root) and
  built with `cargo build --release -p slotraft-server` if missing. With
  E2E_SUBJECT=redis it is a second redis-server instead, which validates the
  harness itself (every differential test must pass redis-vs-redis).

Every process is killed by a finalizer; every wait is bounded.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from resp_client import RawConn

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# How long a server may take to accept connections and answer PING.
START_TIMEOUT_S = 30.0
# How long `cargo build` may take when the binary is missing.
BUILD_TIMEOUT_S = 1800
# How long a stopped server gets before SIGKILL.
STOP_TIMEOUT_S = 5.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process on 127.0.0.1:port."""

    def __init__(self, name, argv, port, workdir):
        self.name = name
        self.argv = argv
        self.port = port
        self.workdir = workdir
        self.log_path = os.path.join(workdir, name + ".log")
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.workdir,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with RawConn(self.port, timeout=2) as c:
                    r = c.request(["PING"])
                    if r.raw == b"+PONG\r\n":
                        return self
                    last = r
            except (OSError, TimeoutError) as e:
                last = e
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer PING within {START_TIMEOUT_S}s ({last}):\n{self.log_tail()}")

    def log_tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    @property
    def pid(self):
        return self.proc.pid

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT_S)
        self.log.close()

    def conn(self):
        return RawConn(self.port)


def start_redis(name, workdir):
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", workdir, "--daemonize", "no"]
    return Server(name, argv, port, workdir).start()


def slotraft_binary():
    path = os.environ.get("SLOTRAFT_BIN", os.path.join(REPO, "target", "release", "slotraft"))
    if os.path.exists(path):
        return path
    print(f"{path} missing: building it (cargo build --release -p slotraft-server)")
    env = dict(os.environ)
    if "SLOTRAFT_BIN" not in os.environ:
        # The default path is under the repo's own target/ directory.
        env.pop("CARGO_TARGET_DIR", None)
    subprocess.run(["cargo", "build", "--release", "-p", "slotraft-server"], cwd=REPO,
                   check=True, timeout=BUILD_TIMEOUT_S, env=env)
    if not os.path.exists(path):
        pytest.fail(f"built slotraft-server but {path} does not exist", pytrace=False)
    return path


def start_slotraft(workdir):
    port = free_port()
    datadir = os.path.join(workdir, "data")
    os.makedirs(datadir, exist_ok=True)
    argv = [slotraft_binary(), "server", "--bind", "127.0.0.1", "--port", str(port), "--dir", datadir]
    return Server("slotraft", argv, port, workdir).start()


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="slotraft-e2e-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def oracle(workdir):
    d = os.path.join(workdir, "oracle")
    os.makedirs(d)
    s = start_redis("redis-oracle", d)
    yield s
    s.stop()


def subject_kind():
    return os.environ.get("E2E_SUBJECT", "slotraft")


@pytest.fixture(scope="session")
def subject(workdir):
    d = os.path.join(workdir, "subject")
    os.makedirs(d)
    kind = subject_kind()
    if kind == "redis":
        s = start_redis("redis-subject", d)
    elif kind == "slotraft":
        s = start_slotraft(d)
    else:
        raise pytest.UsageError(f"E2E_SUBJECT must be slotraft or redis, not {kind!r}")
    yield s
    if not s.alive():
        pytest.fail(f"{s.name} died during the tests:\n{s.log_tail()}", pytrace=False)
    s.stop()


@pytest.fixture
def both(oracle, subject):
    """(oracle, subject), both flushed."""
    for s in (oracle, subject):
        with s.conn() as c:
            r = c.request(["FLUSHALL"])
            assert r.raw == b"+OK\r\n", f"FLUSHALL on {s.name}: {r}"
    return oracle, subject

"""Raw RESP over TCP for the end-to-end tests.

Why raw sockets instead of a client library: the differential and protocol
tests compare what slotraft and redis-server put on the wire *byte for byte*
(RESP2 and RESP3), and send malformed frames no library would produce.

`RawConn.request(argv)` sends one command and returns a `Reply`: the exact
bytes of one reply plus its decoded value. Decoded values are tuples
(kind, payload) so that RESP3 types stay distinguishable:
  ('+', b'OK') ('-', b'ERR ...') (':', 1) ('$', b'..' or None)
  ('*', [..] or None) ('%', [(k, v), ..]) ('~', [..]) (',', b'1.5')
  ('_', None) ('#', True) ('=', b'txt:..') ('(', b'123') ('>', [..])
"""

import socket
import time

# Every read waits at most this long; a server that does not answer fails
# the test instead of hanging it.
READ_TIMEOUT_S = 10.0
# Largest single reply accepted (bulk or line), a guard against runaway reads.
MAX_REPLY_BYTES = 64 * 1024 * 1024


class ConnectionClosed(Exception):
    pass


class Reply:
    __slots__ = ("raw", "value")

    def __init__(self, raw, value):
        self.raw = raw
        self.value = value

    def __repr__(self):
        r = self.raw if len(self.raw) < 300 else self.raw[:300] + b"..."
        return f"Reply({r!r})"

    @property
    def kind(self):
        return self.value[0]

    def is_error(self):
        return self.value[0] == "-"


def encode(argv):
    out = [b"*%d\r\n" % len(argv)]
    for a in argv:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class RawConn:
    def __init__(self, port, host="127.0.0.1", timeout=READ_TIMEOUT_S):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.pos = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def request(self, argv):
        self.send(encode(argv))
        return self.read_reply()

    # -- reading -----------------------------------------------------------
    def _fill(self):
        try:
            d = self.sock.recv(1 << 16)
        except socket.timeout:
            raise TimeoutError("no reply within %.1fs" % self.sock.gettimeout())
        except ConnectionResetError:
            d = b""
        if not d:
            raise ConnectionClosed()
        if self.pos:
            self.buf = self.buf[self.pos:]
            self.pos = 0
        self.buf += d

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = self.buf[self.pos:i]
                self.pos = i + 2
                return line
            if len(self.buf) - self.pos > MAX_REPLY_BYTES:
                raise ValueError("reply line too long")
            self._fill()

    def _exact(self, n):
        if n > MAX_REPLY_BYTES:
            raise ValueError("reply too long")
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = self.buf[self.pos:self.pos + n]
        self.pos += n + 2
        return data

    def read_reply(self):
        # The buffer is compacted by _fill while reading, so the raw bytes
        # of the reply are collected piece by piece as they are consumed.
        self._raw = []
        value = self._value()
        raw = b"".join(self._raw)
        del self._raw
        return Reply(raw, value)

    def _rec_line(self):
        line = self._line()
        self._raw.append(line + b"\r\n")
        return line

    def _value(self):
        line = self._rec_line()
        if not line:
            raise ValueError("empty reply line")
        t, rest = chr(line[0]), line[1:]
        if t in "+-(,":
            return (t, rest)
        if t == ":":
            return (t, int(rest))
        if t == "_":
            return (t, None)
        if t == "#":
            return (t, rest == b"t")
        if t in "$=!":
            n = int(rest)
            if n < 0:
                return (t, None)
            data = self._exact(n)
            self._raw.append(data + b"\r\n")
            return (t, data)
        if t in "*~>":
            n = int(rest)
            if n < 0:
                return (t, None)
            return (t, [self._value() for _ in range(n)])
        if t == "%":
            n = int(rest)
            return (t, [(self._value(), self._value()) for _ in range(n)])
        if t == "|":
            n = int(rest)
            for _ in range(n):
                self._value()
                self._value()
            return self._value()
        raise ValueError("unknown reply type %r in %r" % (t, line))

    def is_closed(self, wait=0.5):
        """True if the peer closed the connection (after draining replies)."""
        deadline = time.monotonic() + wait
        self.sock.settimeout(0.05)
        try:
            while time.monotonic() < deadline:
                try:
                    d = self.sock.recv(1 << 16)
                except socket.timeout:
                    continue
                except ConnectionResetError:
                    return True
                if not d:
                    return True
                self.buf += d
            return False
        finally:
            self.sock.settimeout(READ_TIMEOUT_S)


def exchange(port, data, wait=0.3, settle=0.05):
    """Sends raw bytes on a fresh connection; returns (all bytes received
    within `wait`, closed-by-peer). For protocol tests."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        s.sendall(data)
        out = b""
        closed = False
        deadline = time.monotonic() + wait
        s.settimeout(settle)
        while time.monotonic() < deadline:
            try:
                d = s.recv(1 << 16)
            except socket.timeout:
                continue
            except ConnectionResetError:
                closed = True
                break
            if not d:
                closed = True
                break
            out += d
        return out, closed
    finally:
        s.close()

//! A minimal Redis Cluster client: blocking sockets with timeouts, a slot
//! map from CLUSTER SLOTS, -MOVED/-ASK redirects, and an honest outcome for
//! every operation.
//!
//! Why our own: the suite's verdicts are only as good as the client's
//! classification. A general-purpose client retries after timeouts or
//! reconnects and resends, which turns "unknown" into "executed twice". Here
//! an attempt is retried only when it certainly did not execute: a redirect
//! or an error Redis defines as "not executed" (MOVED, ASK, TRYAGAIN,
//! CLUSTERDOWN, READONLY, LOADING, MASTERDOWN), or a failure to connect
//! before anything was sent. A timeout, a connection dropped after sending,
//! or `-UNCERTAIN` is [`Res::Unknown`]; every other error is [`Res::Fail`].
//!
//! After a timeout or dropped connection the slot map is reloaded before the
//! next operation (never the same one: that would resend), as cluster
//! clients do; otherwise a client would keep timing out on a paused or cut
//! leader after the shard elected another, and the unavailability windows
//! would measure the client, not the system.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::Bytes;
use slotraft_resp::{encode_request, parse_reply, Reply};
use slotraft_types::{key_slot, SLOT_COUNT};

/// Most redirects/retries of one operation before it is reported failed
/// (nothing executed, so "failed" is honest).
pub const MAX_ATTEMPTS: usize = 12;

/// Largest reply accepted (a list read of a long list is the biggest).
pub const MAX_REPLY_BYTES: usize = 16 << 20;

/// Pause between retries of a "not executed" error.
pub const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Timeout of a connection attempt.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Socket read chunk.
const READ_CHUNK: usize = 64 << 10;

/// One command: its arguments.
pub type Cmd = Vec<Vec<u8>>;

/// Builds a command from text and number arguments.
#[macro_export]
macro_rules! cmd {
    ($($a:expr),* $(,)?) => { vec![$($a.to_string().into_bytes()),*] };
}

/// The outcome of an operation as the client saw it.
#[derive(Clone, Debug, PartialEq)]
pub enum Res {
    /// The reply (for a transaction: the EXEC array).
    Ok(Reply),
    /// Certainly not executed (or a definite error reply).
    Fail(String),
    /// May or may not have executed.
    Unknown(String),
}

/// A blocking connection to one node.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    /// True when the peer has closed (or reset) the connection; a pooled
    /// connection to a killed node is detected before anything is sent.
    fn is_closed(&self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return true;
        }
        let mut b = [0u8; 1];
        let closed = match self.stream.peek(&mut b) {
            Ok(0) => true,
            Ok(_) => false, // unsolicited bytes: treat as alive, parsing will tell
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        };
        closed || self.stream.set_nonblocking(false).is_err()
    }

    /// Sends commands pipelined in one write.
    pub fn send(&mut self, cmds: &[Cmd]) -> io::Result<()> {
        let mut out = Vec::new();
        for c in cmds {
            encode_request(c, &mut out);
        }
        self.stream.write_all(&out)
    }

    /// Reads one reply (bounded by the read timeout and [`MAX_REPLY_BYTES`]).
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        let mut chunk = vec![0u8; READ_CHUNK];
        // Bounded: every iteration either returns or grows `buf`, which is
        // capped by MAX_REPLY_BYTES.
        loop {
            match parse_reply(&self.buf) {
                Ok(Some((r, used))) => {
                    self.buf.drain(..used);
                    return Ok(r);
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            if self.buf.len() > MAX_REPLY_BYTES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "reply too large",
                ));
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// One command, one reply (setup and topology queries).
    pub fn call(&mut self, c: Cmd) -> io::Result<Reply> {
        self.send(&[c])?;
        self.read_reply()
    }
}

/// How an error reply must be handled.
enum ErrKind {
    Moved(SocketAddr),
    Ask(SocketAddr),
    /// Not executed; retry after a pause (and a slot map refresh).
    Retry,
    Uncertain,
    Definite,
}

fn classify(err: &[u8]) -> ErrKind {
    let s = String::from_utf8_lossy(err);
    let mut w = s.split_whitespace();
    let code = w.next().unwrap_or("");
    match code {
        "MOVED" | "ASK" => {
            let slot = w.next().and_then(|x| x.parse::<u16>().ok());
            let addr = w.next().and_then(|x| x.parse::<SocketAddr>().ok());
            match (code, slot, addr) {
                ("MOVED", Some(_), Some(a)) => ErrKind::Moved(a),
                ("ASK", _, Some(a)) => ErrKind::Ask(a),
                _ => ErrKind::Definite,
            }
        }
        "TRYAGAIN" | "CLUSTERDOWN" | "READONLY" | "LOADING" | "MASTERDOWN" | "NOTLEADER" => {
            ErrKind::Retry
        }
        "UNCERTAIN" => ErrKind::Uncertain,
        _ => ErrKind::Definite,
    }
}

/// What one attempt ended with.
enum Attempt {
    Done(Res),
    Redirect(SocketAddr, bool),
    RetryLater(String),
}

/// A cluster client owned by one worker thread.
pub struct ClusterClient {
    seeds: Vec<SocketAddr>,
    /// Whether the target speaks the cluster protocol (CLUSTER SLOTS); a
    /// single node serves every slot otherwise.
    cluster: bool,
    slots: Vec<Option<SocketAddr>>,
    conns: HashMap<SocketAddr, Conn>,
    timeout: Duration,
    /// Set when an attempt timed out or lost its connection: the map may
    /// point at a node that no longer leads; reload before the next op.
    stale: bool,
}

impl ClusterClient {
    pub fn new(seeds: Vec<SocketAddr>, cluster: bool, timeout: Duration) -> ClusterClient {
        assert!(!seeds.is_empty(), "a client needs at least one seed node");
        ClusterClient {
            seeds,
            cluster,
            slots: vec![None; SLOT_COUNT as usize],
            conns: HashMap::new(),
            timeout,
            stale: false,
        }
    }

    /// Reloads the slot map from the first seed that answers CLUSTER SLOTS.
    pub fn refresh(&mut self) {
        self.stale = false;
        if !self.cluster {
            self.slots = vec![Some(self.seeds[0]); SLOT_COUNT as usize];
            return;
        }
        for seed in self.seeds.clone() {
            let Ok(mut c) = Conn::connect(seed, self.timeout) else {
                continue;
            };
            if let Ok(Reply::Array(ranges)) = c.call(cmd!["CLUSTER", "SLOTS"]) {
                if let Some(map) = slot_map(&ranges) {
                    self.slots = map;
                    return;
                }
            }
        }
    }

    /// The slot map as (first, last, master address) ranges.
    pub fn ranges(&mut self) -> Vec<(u16, u16, SocketAddr)> {
        self.refresh();
        let mut out: Vec<(u16, u16, SocketAddr)> = Vec::new();
        for (s, a) in self.slots.iter().enumerate() {
            let Some(a) = a else { continue };
            match out.last_mut() {
                Some(last) if last.2 == *a && usize::from(last.1) + 1 == s => last.1 = s as u16,
                _ => out.push((s as u16, s as u16, *a)),
            }
        }
        out
    }

    /// Runs `cmds` for `key`'s slot: one command alone, or several inside
    /// MULTI/EXEC when `multi`. Bounded by [`MAX_ATTEMPTS`].
    pub fn exec(&mut self, key: &[u8], cmds: &[Cmd], multi: bool) -> Res {
        let slot = key_slot(key).index();
        if self.stale {
            self.refresh();
        }
        let mut target = self.slots[slot];
        let mut asking = false;
        let mut last = String::from("no attempt");
        for attempt in 0..MAX_ATTEMPTS {
            let addr = match target {
                Some(a) => a,
                None => {
                    self.refresh();
                    match self.slots[slot] {
                        Some(a) => a,
                        None => {
                            last = "slot not served".into();
                            std::thread::sleep(RETRY_PAUSE);
                            continue;
                        }
                    }
                }
            };
            match self.attempt(addr, cmds, multi, asking) {
                Attempt::Done(r) => return r,
                Attempt::Redirect(a, ask) => {
                    if !ask {
                        self.slots[slot] = Some(a);
                    }
                    target = Some(a);
                    asking = ask;
                }
                Attempt::RetryLater(why) => {
                    last = why;
                    asking = false;
                    if attempt + 1 < MAX_ATTEMPTS {
                        std::thread::sleep(RETRY_PAUSE);
                        self.refresh();
                    }
                    target = self.slots[slot];
                }
            }
        }
        Res::Fail(format!("gave up: {last}"))
    }

    fn conn(&mut self, addr: SocketAddr) -> io::Result<&mut Conn> {
        if self.conns.get(&addr).is_some_and(Conn::is_closed) {
            self.conns.remove(&addr);
        }
        if !self.conns.contains_key(&addr) {
            let c = Conn::connect(addr, self.timeout)?;
            self.conns.insert(addr, c);
        }
        Ok(self.conns.get_mut(&addr).expect("inserted above"))
    }

    fn attempt(&mut self, addr: SocketAddr, cmds: &[Cmd], multi: bool, asking: bool) -> Attempt {
        let conn = match self.conn(addr) {
            Ok(c) => c,
            // Nothing was sent: certainly not executed.
            Err(e) => return Attempt::RetryLater(format!("connect {addr}: {e}")),
        };
        let mut all: Vec<Cmd> = Vec::with_capacity(cmds.len() + 3);
        if asking {
            all.push(cmd!["ASKING"]);
        }
        if multi {
            all.push(cmd!["MULTI"]);
        }
        all.extend(cmds.iter().cloned());
        if multi {
            all.push(cmd!["EXEC"]);
        }
        let replies = conn.send(&all).and_then(|_| {
            let mut v = Vec::with_capacity(all.len());
            for _ in 0..all.len() {
                v.push(conn.read_reply()?);
            }
            Ok(v)
        });
        match replies {
            Err(e) => {
                self.conns.remove(&addr);
                self.stale = true;
                Attempt::Done(Res::Unknown(format!("{addr}: {e}")))
            }
            Ok(mut v) => {
                let last = v.pop().expect("at least one reply");
                if multi {
                    if let Some(a) = judge_transaction(&v[usize::from(asking)..], &last) {
                        return a;
                    }
                }
                match last {
                    Reply::Error(e) => judge_error(&e),
                    r => Attempt::Done(Res::Ok(r)),
                }
            }
        }
    }
}

/// Judges a MULTI/EXEC exchange from the MULTI reply and the queued
/// replies (`before_exec`) and EXEC's reply; `None` when EXEC's reply alone
/// decides.
fn judge_transaction(before_exec: &[Reply], exec: &Reply) -> Option<Attempt> {
    let (multi, queued) = before_exec.split_first()?;
    if let Reply::Error(e) = multi {
        // Without a transaction the "queued" commands ran on their own: if
        // any of them did not answer with an error, something executed.
        let ran = queued.iter().any(|r| !matches!(r, Reply::Error(_)));
        return Some(if ran {
            Attempt::Done(Res::Unknown(format!(
                "MULTI failed ({}), commands ran alone",
                String::from_utf8_lossy(e)
            )))
        } else {
            judge_error(e)
        });
    }
    // A queued-command error explains an EXECABORT (e.g. MOVED: retry).
    let first_err = queued.iter().find_map(|r| match r {
        Reply::Error(e) => Some(e),
        _ => None,
    });
    match (exec, first_err) {
        (Reply::Error(_), Some(e)) => Some(judge_error(e)),
        _ => None,
    }
}

fn judge_error(e: &Bytes) -> Attempt {
    let text = String::from_utf8_lossy(e).into_owned();
    match classify(e) {
        ErrKind::Moved(a) => Attempt::Redirect(a, false),
        ErrKind::Ask(a) => Attempt::Redirect(a, true),
        ErrKind::Retry => Attempt::RetryLater(text),
        ErrKind::Uncertain => Attempt::Done(Res::Unknown(text)),
        ErrKind::Definite => Attempt::Done(Res::Fail(text)),
    }
}

/// Parses a CLUSTER SLOTS reply into a per-slot master address table.
pub fn slot_map(ranges: &[Reply]) -> Option<Vec<Option<SocketAddr>>> {
    let mut map = vec![None; SLOT_COUNT as usize];
    let mut any = false;
    for r in ranges {
        let Reply::Array(f) = r else { return None };
        let (Some(Reply::Int(a)), Some(Reply::Int(b)), Some(Reply::Array(m))) =
            (f.first(), f.get(1), f.get(2))
        else {
            return None;
        };
        let (Some(Reply::Bulk(ip)), Some(Reply::Int(port))) = (m.first(), m.get(1)) else {
            return None;
        };
        let addr: SocketAddr = format!("{}:{port}", String::from_utf8_lossy(ip))
            .parse()
            .ok()?;
        let (a, b) = (usize::try_from(*a).ok()?, usize::try_from(*b).ok()?);
        if a > b || b >= SLOT_COUNT as usize {
            return None;
        }
        for s in &mut map[a..=b] {
            *s = Some(addr);
        }
        any = true;
    }
    any.then_some(map)
}

/// Text of a bulk/simple reply.
pub fn text(r: &Reply) -> Option<String> {
    match r {
        Reply::Bulk(b) | Reply::Simple(b) | Reply::Verbatim(_, b) => {
            Some(String::from_utf8_lossy(b).into_owned())
        }
        _ => None,
    }
}

/// A bulk reply parsed as an integer; `Ok(None)` for nil.
pub fn int_or_nil(r: &Reply) -> Result<Option<i64>, String> {
    match r {
        Reply::Null | Reply::NullArray => Ok(None),
        Reply::Int(i) => Ok(Some(*i)),
        other => text(other)
            .and_then(|t| t.parse().ok())
            .map(Some)
            .ok_or_else(|| format!("not an integer: {other:?}")),
    }
}

/// Elapsed time since `start` in nanoseconds.
pub fn nanos_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_is_unknown_and_marks_the_map_stale() {
        // A listener that never answers: the kernel completes the
        // handshake, the command is sent, no reply comes.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = l.local_addr().expect("addr");
        let mut c = ClusterClient::new(vec![addr], false, Duration::from_millis(100));
        c.refresh();
        assert!(!c.stale);
        let r = c.exec(b"k", &[cmd!["SET", "k", "v"]], false);
        assert!(matches!(r, Res::Unknown(_)), "timeout must be unknown");
        assert!(c.stale, "a timeout must force a map reload");
        c.refresh();
        assert!(!c.stale);
        drop(l);
    }

    #[test]
    fn classifies_errors() {
        assert!(matches!(
            classify(b"MOVED 12 127.0.0.11:30100"),
            ErrKind::Moved(_)
        ));
        assert!(matches!(
            classify(b"ASK 12 127.0.0.11:30100"),
            ErrKind::Ask(_)
        ));
        assert!(matches!(
            classify(b"CLUSTERDOWN The cluster is down"),
            ErrKind::Retry
        ));
        assert!(matches!(
            classify(b"UNCERTAIN commit timed out"),
            ErrKind::Uncertain
        ));
        assert!(matches!(
            classify(b"WRONGTYPE Operation"),
            ErrKind::Definite
        ));
    }

    fn err(s: &'static str) -> Reply {
        Reply::Error(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn judges_transactions() {
        let moved = err("MOVED 1 127.0.0.12:30101");
        let r = judge_transaction(&[Reply::OK, moved], &err("EXECABORT x"));
        assert!(matches!(r, Some(Attempt::Redirect(_, false))));
        // MULTI refused but the command ran alone: unknown, never failed.
        let r = judge_transaction(
            &[err("ERR nested"), Reply::Int(3)],
            &err("ERR EXEC without MULTI"),
        );
        assert!(matches!(r, Some(Attempt::Done(Res::Unknown(_)))));
        let r = judge_transaction(&[Reply::OK, Reply::QUEUED], &Reply::Array(vec![]));
        assert!(r.is_none());
    }

    #[test]
    fn parses_cluster_slots() {
        let node = |p| {
            Reply::Array(vec![
                Reply::Bulk(Bytes::from_static(b"127.0.0.11")),
                Reply::Int(p),
                Reply::Bulk(Bytes::from_static(b"id")),
            ])
        };
        let r = vec![
            Reply::Array(vec![Reply::Int(0), Reply::Int(99), node(30100)]),
            Reply::Array(vec![Reply::Int(100), Reply::Int(16383), node(30101)]),
        ];
        let m = slot_map(&r).expect("valid");
        assert_eq!(m[99].map(|a| a.port()), Some(30100));
        assert_eq!(m[100].map(|a| a.port()), Some(30101));
        assert!(slot_map(&[Reply::Int(1)]).is_none());
    }
}

//! The request parser: bytes from a client socket in, argument vectors out.
//!
//! Why it looks like this:
//! - **Incremental.** Bytes arrive in arbitrary pieces. The parser keeps its
//!   position inside a multibulk request (how many arguments are left, the
//!   length of the bulk being read, how far a line was already scanned), so
//!   feeding a request one byte at a time costs the same as feeding it whole.
//! - **Zero-copy.** Each bulk argument is split off the front of the caller's
//!   `BytesMut` and frozen, so an argument is never copied; consumed bytes
//!   leave the buffer as soon as they are parsed.
//! - **No allocation from a declared length.** `*1000000` or `$500000000`
//!   reserves nothing: the argument vector starts at most
//!   [`ARGV_PREALLOC_MAX`] long and a bulk is taken only once all of its bytes
//!   are buffered. [`RequestParser::reserve_hint`] tells the IO layer how much
//!   more is worth reading, capped at [`RESERVE_HINT_MAX`].
//! - **Redis-exact errors.** The accepted language and the error for every
//!   malformed input follow Redis 7.0's `processMultibulkBuffer` /
//!   `processInlineBuffer`, quirks included (checked against redis-server):
//!   the two bytes after a bulk are skipped without being checked, a header
//!   line ends at `\r` and the byte after it is skipped, a NUL byte in a
//!   header or inline line hides the terminator (the request stays
//!   incomplete until the size limit trips), `*0`/`*-5`/empty lines are
//!   ignored. The one intended difference: a multibulk count above
//!   `max_multibulk_len` (default 1M, as Redis <= 6.2) is rejected, where
//!   Redis 7.0 accepts up to `INT_MAX`.
//! - **After an error the parser is poisoned**: Redis replies with the error
//!   and closes the connection; every later call returns the same error.

use bytes::{Buf, Bytes, BytesMut};

use crate::Reply;

/// Most argument slots reserved up front for a multibulk request, whatever
/// count the client declared; the vector grows as arguments really arrive.
pub const ARGV_PREALLOC_MAX: usize = 64;

/// Most spent argument vectors a parser keeps for reuse
/// ([`RequestParser::recycle`]): one pipelined read's worth at depth 32.
pub const ARGV_POOL_MAX: usize = 32;

/// Only vectors with at most this many slots are kept for reuse, so the pool
/// holds at most `ARGV_POOL_MAX * ARGV_POOL_CAP_MAX` slots (8 KiB) per
/// connection whatever the requests were.
pub const ARGV_POOL_CAP_MAX: usize = 8;

/// Most arguments of a request the whole-request fast path
/// ([`RequestParser::parse`]) takes; longer requests go the incremental way.
pub const FAST_PATH_MAX_ARGS: usize = 16;

/// Most digits of a count or length the fast path reads (bulks up to
/// 10^12 - 1 bytes; longer numbers go the incremental way).
const FAST_DIGITS_MAX: usize = 12;

/// Longest `*`/`$` header line the fast path looks at: the tag, the digits
/// and `\r\n`.
const FAST_HEADER_MAX: usize = 1 + FAST_DIGITS_MAX + 2;

/// Largest read-ahead [`RequestParser::reserve_hint`] ever suggests.
pub const RESERVE_HINT_MAX: usize = 64 * 1024;

/// A count header above this is invalid whatever the limits (Redis: `INT_MAX`).
const MULTIBULK_COUNT_HARD_MAX: i64 = i32::MAX as i64;

/// Before `AUTH`, Redis accepts at most this many arguments...
const UNAUTHENTICATED_MAX_MULTIBULK: i64 = 10;
/// ... and bulks of at most this many bytes.
const UNAUTHENTICATED_MAX_BULK: i64 = 16384;

/// Size limits, named after Redis's config options.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ParserLimits {
    /// `proto-max-bulk-len`: the largest accepted bulk argument.
    pub proto_max_bulk_len: usize,
    /// The largest accepted argument count of one multibulk request.
    pub max_multibulk_len: usize,
    /// Redis's `PROTO_INLINE_MAX_SIZE`: the most bytes buffered while looking
    /// for the end of an inline line or of a `*`/`$` header line.
    pub max_inline_len: usize,
}

impl Default for ParserLimits {
    fn default() -> Self {
        ParserLimits {
            proto_max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024,
            max_inline_len: 64 * 1024,
        }
    }
}

/// A malformed request. Redis replies `-ERR Protocol error: ...` and closes
/// the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    InvalidMultibulkLength,
    InvalidBulkLength,
    /// The byte found where a `$` was expected.
    ExpectedDollar(u8),
    TooBigInlineRequest,
    TooBigMbulkCountString,
    TooBigBulkCountString,
    UnbalancedQuotes,
    UnauthenticatedMultibulkLength,
    UnauthenticatedBulkLength,
}

impl ProtocolError {
    /// The error line without the leading `-`, byte for byte as Redis sends
    /// it, e.g. `ERR Protocol error: invalid bulk length`.
    pub fn line(&self) -> Vec<u8> {
        let text: &str = match self {
            ProtocolError::InvalidMultibulkLength => "invalid multibulk length",
            ProtocolError::InvalidBulkLength => "invalid bulk length",
            ProtocolError::ExpectedDollar(c) => {
                // Redis prints the raw byte; CR/LF become spaces in replies.
                let c = if matches!(c, b'\r' | b'\n') { b' ' } else { *c };
                let mut v = b"ERR Protocol error: expected '$', got '".to_vec();
                v.push(c);
                v.push(b'\'');
                return v;
            }
            ProtocolError::TooBigInlineRequest => "too big inline request",
            ProtocolError::TooBigMbulkCountString => "too big mbulk count string",
            ProtocolError::TooBigBulkCountString => "too big bulk count string",
            ProtocolError::UnbalancedQuotes => "unbalanced quotes in request",
            ProtocolError::UnauthenticatedMultibulkLength => "unauthenticated multibulk length",
            ProtocolError::UnauthenticatedBulkLength => "unauthenticated bulk length",
        };
        format!("ERR Protocol error: {text}").into_bytes()
    }

    /// The reply to send before closing the connection.
    pub fn to_reply(&self) -> Reply {
        Reply::Error(Bytes::from(self.line()))
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.line()))
    }
}

impl std::error::Error for ProtocolError {}

/// Where the parser is between calls.
#[derive(Debug)]
enum State {
    /// At the start of a request. `scanned` bytes of the buffer are known to
    /// hold no line terminator (only meaningful while the buffer is unchanged
    /// at its front, which holds because nothing is consumed in this state
    /// without leaving it).
    Start {
        scanned: usize,
    },
    /// Inside a multibulk request.
    Args {
        remaining: usize,
        argv: Vec<Bytes>,
        /// The length of the bulk whose header has been read, if any.
        bulk_len: Option<usize>,
        scanned: usize,
    },
    Failed(ProtocolError),
}

/// Result of looking for a header/inline line terminator.
enum Scan {
    Found(usize),
    /// Not in the buffer; this many bytes need not be scanned again.
    Missing(usize),
}

/// Finds `needle` at or after `from`, treating a NUL byte as the end of the
/// data (Redis searches these lines with `strchr`).
fn scan(buf: &[u8], from: usize, needle: u8) -> Scan {
    let from = from.min(buf.len());
    match buf[from..].iter().position(|&c| c == needle || c == 0) {
        Some(i) if buf[from + i] == needle => Scan::Found(from + i),
        // Stuck at a NUL: nothing behind it is ever looked at.
        Some(i) => Scan::Missing(from + i),
        None => Scan::Missing(buf.len()),
    }
}

/// Redis's `string2ll`: optional `-`, no leading zeros, no `+`, no spaces,
/// at most 20 characters, must fit an `i64`.
pub(crate) fn string2ll(s: &[u8]) -> Option<i64> {
    const LONG_STR_SIZE: usize = 21;
    if s.is_empty() || s.len() >= LONG_STR_SIZE {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        if v > i64::MIN.unsigned_abs() {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// An incremental, resumable RESP request parser for one connection.
#[derive(Debug)]
pub struct RequestParser {
    limits: ParserLimits,
    state: State,
    auth_required: bool,
    /// Empty argument vectors handed back by the caller, reused for the next
    /// requests (saves an allocation and a free per pipelined request).
    /// Invariant: each is empty, with capacity in `1..=ARGV_POOL_CAP_MAX`;
    /// at most `ARGV_POOL_MAX` of them.
    pool: Vec<Vec<Bytes>>,
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser::new(ParserLimits::default())
    }
}

impl RequestParser {
    pub fn new(limits: ParserLimits) -> Self {
        RequestParser {
            limits,
            state: State::Start { scanned: 0 },
            auth_required: false,
            pool: Vec::new(),
        }
    }

    /// Hands back a request's argument vector once the request is done, so
    /// a later request reuses its allocation. Large or excess vectors are
    /// simply dropped (see [`ARGV_POOL_MAX`], [`ARGV_POOL_CAP_MAX`]).
    pub fn recycle(&mut self, mut argv: Vec<Bytes>) {
        let cap = argv.capacity();
        if cap == 0 || cap > ARGV_POOL_CAP_MAX || self.pool.len() >= ARGV_POOL_MAX {
            return;
        }
        argv.clear();
        self.pool.push(argv);
    }

    /// An empty vector for a request declaring `count` arguments: a recycled
    /// one if any (it grows as arguments really arrive), else a new one of at
    /// most [`ARGV_PREALLOC_MAX`] slots.
    fn new_argv(&mut self, count: usize) -> Vec<Bytes> {
        match self.pool.pop() {
            Some(v) => {
                debug_assert!(v.is_empty() && v.capacity() <= ARGV_POOL_CAP_MAX);
                v
            }
            None => Vec::with_capacity(count.min(ARGV_PREALLOC_MAX)),
        }
    }

    pub fn limits(&self) -> ParserLimits {
        self.limits
    }

    /// Applies new limits (`CONFIG SET proto-max-bulk-len`); they govern the
    /// next header read.
    pub fn set_limits(&mut self, limits: ParserLimits) {
        self.limits = limits;
    }

    /// While the connection still has to `AUTH`, Redis caps requests at 10
    /// arguments and bulks at 16 KiB (`unauthenticated ... length`).
    pub fn set_auth_required(&mut self, required: bool) {
        self.auth_required = required;
    }

    /// True between requests (nothing of a request is held in the parser).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Start { .. })
    }

    /// Parses the next request from the front of `buf`, removing the bytes it
    /// consumes. `Ok(None)`: more bytes are needed (everything parsed so far
    /// is kept in the parser, so the next call just continues). Empty
    /// requests (`*0`, `*-1`, blank inline lines) are skipped.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        if let Some(argv) = self.parse_complete(buf) {
            return Ok(Some(argv));
        }
        let result = self.parse_inner(buf);
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    /// How many more bytes the request in progress needs at least, capped at
    /// [`RESERVE_HINT_MAX`]; 0 when unknown. `buffered` is the length of the
    /// buffer the next `parse` call will see.
    pub fn reserve_hint(&self, buffered: usize) -> usize {
        match &self.state {
            State::Args {
                bulk_len: Some(n), ..
            } => (n + 2).saturating_sub(buffered).min(RESERVE_HINT_MAX),
            _ => 0,
        }
    }

    /// The fast path for the common pipelined case: a whole, canonical
    /// multibulk request (`\r\n` everywhere, at most
    /// [`FAST_PATH_MAX_ARGS`] arguments, within the limits, no AUTH pending)
    /// at the front of `buf`. It is located by index without touching `buf`,
    /// then split off once and the arguments are slices of it (one buffer
    /// split instead of one per argument and header). Anything else —
    /// incomplete, malformed, quirky, over a limit — returns None with
    /// nothing consumed, and the incremental parser handles it, errors
    /// included; on what the fast path accepts both yield the same argv.
    fn parse_complete(&mut self, buf: &mut BytesMut) -> Option<Vec<Bytes>> {
        if self.auth_required || !matches!(self.state, State::Start { scanned: 0 }) {
            return None;
        }
        let (count, mut pos) = fast_header(buf, 0, b'*')?;
        let count = usize::try_from(count).ok()?;
        if count == 0 || count > FAST_PATH_MAX_ARGS.min(self.limits.max_multibulk_len) {
            return None;
        }
        let mut ranges = [(0usize, 0usize); FAST_PATH_MAX_ARGS];
        for range in &mut ranges[..count] {
            let (len, start) = fast_header(buf, pos, b'$')?;
            let len = usize::try_from(len).ok()?;
            if len > self.limits.proto_max_bulk_len {
                return None;
            }
            let end = start.checked_add(len)?;
            if buf.get(end..end.checked_add(2)?)? != b"\r\n" {
                return None;
            }
            *range = (start, end);
            pos = end + 2;
        }
        let request = buf.split_to(pos).freeze();
        let mut argv = self.new_argv(count);
        argv.extend(ranges[..count].iter().map(|&(a, b)| request.slice(a..b)));
        Some(argv)
    }

    fn parse_inner(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        // Bounded: every iteration that does not return consumes at least
        // one byte of `buf` (an ignored empty request).
        loop {
            match &mut self.state {
                State::Failed(e) => return Err(e.clone()),
                State::Start { scanned } => {
                    let Some(&first) = buf.first() else {
                        *scanned = 0;
                        return Ok(None);
                    };
                    let from = *scanned;
                    let step = if first == b'*' {
                        self.start_multibulk(buf, from)?
                    } else {
                        self.inline(buf, from)?
                    };
                    match step {
                        Step::Pending => return Ok(None),
                        Step::Skipped => continue,
                        Step::Request(argv) => return Ok(Some(argv)),
                        Step::Continue => return self.read_args(buf),
                    }
                }
                State::Args { .. } => return self.read_args(buf),
            }
        }
    }

    /// Reads the `*N\r\n` header.
    fn start_multibulk(&mut self, buf: &mut BytesMut, from: usize) -> Result<Step, ProtocolError> {
        let end = match scan(buf, from.max(1), b'\r') {
            Scan::Missing(n) => {
                if buf.len() > self.limits.max_inline_len {
                    return Err(ProtocolError::TooBigMbulkCountString);
                }
                self.state = State::Start { scanned: n };
                return Ok(Step::Pending);
            }
            Scan::Found(i) => i,
        };
        // The byte after `\r` must be buffered (Redis skips it unchecked).
        if end + 2 > buf.len() {
            self.state = State::Start { scanned: end };
            return Ok(Step::Pending);
        }
        let count = match string2ll(&buf[1..end]) {
            Some(n) if n <= MULTIBULK_COUNT_HARD_MAX => n,
            _ => return Err(ProtocolError::InvalidMultibulkLength),
        };
        if self.auth_required && count > UNAUTHENTICATED_MAX_MULTIBULK {
            return Err(ProtocolError::UnauthenticatedMultibulkLength);
        }
        if count > self.limits.max_multibulk_len as i64 {
            return Err(ProtocolError::InvalidMultibulkLength);
        }
        buf.advance(end + 2);
        if count <= 0 {
            self.state = State::Start { scanned: 0 };
            return Ok(Step::Skipped);
        }
        let count = count as usize;
        self.state = State::Args {
            remaining: count,
            argv: self.new_argv(count),
            bulk_len: None,
            scanned: 0,
        };
        Ok(Step::Continue)
    }

    /// Reads one inline line.
    fn inline(&mut self, buf: &mut BytesMut, from: usize) -> Result<Step, ProtocolError> {
        let newline = match scan(buf, from, b'\n') {
            Scan::Missing(n) => {
                if buf.len() > self.limits.max_inline_len {
                    return Err(ProtocolError::TooBigInlineRequest);
                }
                self.state = State::Start { scanned: n };
                return Ok(Step::Pending);
            }
            Scan::Found(i) => i,
        };
        let line_end = if newline > 0 && buf[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        let argv =
            crate::inline::split_args(&buf[..line_end]).ok_or(ProtocolError::UnbalancedQuotes)?;
        buf.advance(newline + 1);
        self.state = State::Start { scanned: 0 };
        Ok(if argv.is_empty() {
            Step::Skipped
        } else {
            Step::Request(argv)
        })
    }

    /// Reads `$len\r\n<bytes>\r\n` arguments until the request is complete.
    fn read_args(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let limits = self.limits;
        let auth_required = self.auth_required;
        let State::Args {
            remaining,
            argv,
            bulk_len,
            scanned,
        } = &mut self.state
        else {
            unreachable!("read_args outside a multibulk request");
        };
        // Bounded: each iteration consumes one argument or returns.
        while *remaining > 0 {
            let len = match *bulk_len {
                Some(len) => len,
                None => match read_bulk_header(buf, scanned, limits, auth_required)? {
                    Some(len) => {
                        *bulk_len = Some(len);
                        len
                    }
                    None => return Ok(None),
                },
            };
            if buf.len() < len + 2 {
                return Ok(None);
            }
            argv.push(buf.split_to(len).freeze());
            // Redis skips the two bytes after a bulk without checking them.
            buf.advance(2);
            *bulk_len = None;
            *remaining -= 1;
        }
        let State::Args { argv, .. } =
            std::mem::replace(&mut self.state, State::Start { scanned: 0 })
        else {
            unreachable!()
        };
        debug_assert!(!argv.is_empty());
        Ok(Some(argv))
    }
}

/// Reads a `$len\r\n` header; `Ok(None)` if incomplete.
fn read_bulk_header(
    buf: &mut BytesMut,
    scanned: &mut usize,
    limits: ParserLimits,
    auth_required: bool,
) -> Result<Option<usize>, ProtocolError> {
    if buf.is_empty() {
        *scanned = 0;
        return Ok(None);
    }
    let end = match scan(buf, *scanned, b'\r') {
        Scan::Missing(n) => {
            if buf.len() > limits.max_inline_len {
                return Err(ProtocolError::TooBigBulkCountString);
            }
            *scanned = n;
            return Ok(None);
        }
        Scan::Found(i) => i,
    };
    if end + 2 > buf.len() {
        *scanned = end;
        return Ok(None);
    }
    if buf[0] != b'$' {
        return Err(ProtocolError::ExpectedDollar(buf[0]));
    }
    let len = match string2ll(&buf[1..end]) {
        Some(n) if n >= 0 && n as u64 <= limits.proto_max_bulk_len as u64 => n,
        _ => return Err(ProtocolError::InvalidBulkLength),
    };
    if auth_required && len > UNAUTHENTICATED_MAX_BULK {
        return Err(ProtocolError::UnauthenticatedBulkLength);
    }
    buf.advance(end + 2);
    *scanned = 0;
    Ok(Some(len as usize))
}

/// The fast path's header: `<tag><string2ll number>\r\n` at `pos`, with its
/// value and the position after it; None for anything else (incomplete,
/// longer than [`FAST_HEADER_MAX`], another terminator, not a number).
fn fast_header(buf: &[u8], pos: usize, tag: u8) -> Option<(i64, usize)> {
    let rest = buf.get(pos..)?;
    if rest.first() != Some(&tag) {
        return None;
    }
    let window = &rest[..rest.len().min(FAST_HEADER_MAX)];
    let cr = window.iter().position(|&c| c == b'\r')?;
    if window.get(cr + 1) != Some(&b'\n') {
        return None;
    }
    Some((fast_number(&window[1..cr])?, pos + cr + 2))
}

/// A count or length as the fast path accepts it: 1 to [`FAST_DIGITS_MAX`]
/// decimal digits, no sign, no leading zero (but `0` itself). On these,
/// [`string2ll`] gives the same value; anything else is None.
fn fast_number(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || digits.len() > FAST_DIGITS_MAX {
        return None;
    }
    if digits[0] == b'0' && digits.len() > 1 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// What one step at the start of a request produced.
enum Step {
    Pending,
    Skipped,
    Request(Vec<Bytes>),
    /// A multibulk header was read; arguments follow.
    Continue,
}

/// Appends `argv` as a RESP multibulk request (what clients send).
pub fn encode_request<A: AsRef<[u8]>>(argv: &[A], out: &mut Vec<u8>) {
    out.push(b'*');
    out.extend_from_slice(argv.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(a.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(p: &mut RequestParser, wire: &[u8]) -> Vec<Vec<Bytes>> {
        let mut buf = BytesMut::from(wire);
        let mut out = Vec::new();
        while let Some(argv) = p.parse(&mut buf).expect("valid requests") {
            out.push(argv);
        }
        assert!(buf.is_empty());
        out
    }

    #[test]
    fn recycled_vectors_are_reused_empty_and_bounded() {
        let mut p = RequestParser::default();
        let first = parse_all(&mut p, b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n");
        let ptr = first[0].as_ptr();
        for argv in first {
            p.recycle(argv);
        }
        let second = parse_all(&mut p, b"*2\r\n$3\r\nget\r\n$1\r\nk\r\n");
        assert_eq!(second[0], vec![Bytes::from("get"), Bytes::from("k")]);
        assert_eq!(second[0].as_ptr(), ptr, "the recycled vector is reused");

        // Large vectors are not kept; the pool never exceeds its limit.
        p.recycle(Vec::with_capacity(ARGV_POOL_CAP_MAX + 1));
        assert!(p.pool.is_empty());
        for _ in 0..ARGV_POOL_MAX + 5 {
            p.recycle(vec![Bytes::from("x")]);
        }
        assert_eq!(p.pool.len(), ARGV_POOL_MAX);
        assert!(p.pool.iter().all(Vec::is_empty));
    }

    /// Every request of `wire`, through `parse` (fast path first) or only
    /// the incremental path, with the error that ended it, if any.
    fn outcome(wire: &[u8], fast: bool) -> (Vec<Vec<Bytes>>, Option<ProtocolError>, usize) {
        let mut p = RequestParser::default();
        let mut buf = BytesMut::from(wire);
        let mut out = Vec::new();
        for _ in 0..wire.len() + 1 {
            let r = if fast {
                p.parse(&mut buf)
            } else {
                p.parse_inner(&mut buf)
            };
            match r {
                Ok(Some(argv)) => out.push(argv),
                Ok(None) => return (out, None, buf.len()),
                Err(e) => return (out, Some(e), buf.len()),
            }
        }
        unreachable!("every parse consumes a request or stops")
    }

    #[test]
    fn fast_path_agrees_with_the_incremental_parser() {
        let cases: &[&[u8]] = &[
            b"*2\r\n$3\r\nget\r\n$1\r\nk\r\n*1\r\n$4\r\nping\r\n",
            b"*1\r\n$0\r\n\r\n",
            b"*2\r\n$3\r\nget\r\n$1\r\nk\r",
            b"*2\r\n$3\r\nget\r\n$1\r\nkXY",
            b"*2\rX$3\r\nget\r\n$1\r\nk\r\n",
            b"*1\r\n$3\r\ngetXY",
            b"*1\r\n$-1\r\n",
            b"*1\r\n$03\r\nget\r\n",
            b"*1\r\n+3\r\nget\r\n",
            b"*0\r\n*-1\r\n*1\r\n$1\r\na\r\n",
            b"*17\r\n$1\r\na\r\n",
            b"*1\r\n$99999999999999999999999\r\nx\r\n",
            b"*1\r\n$1\0\r\na\r\n",
            b"ping\r\n*1\r\n$4\r\nping\r\n",
        ];
        for wire in cases {
            assert_eq!(outcome(wire, true), outcome(wire, false), "{wire:?}");
        }
        let mut many = Vec::new();
        for n in 1..=FAST_PATH_MAX_ARGS + 1 {
            let argv: Vec<String> = (0..n).map(|i| format!("a{i}")).collect();
            encode_request(&argv, &mut many);
        }
        assert_eq!(outcome(&many, true), outcome(&many, false));
        assert_eq!(outcome(&many, true).0.len(), FAST_PATH_MAX_ARGS + 1);
    }

    #[test]
    fn fast_numbers_agree_with_string2ll() {
        for s in [
            "0",
            "1",
            "7",
            "42",
            "999999999999",
            "1000000000000",
            "00",
            "01",
            "-1",
            "+1",
            "",
            "1a",
            " 1",
        ] {
            let fast = fast_number(s.as_bytes());
            if let Some(v) = fast {
                assert_eq!(string2ll(s.as_bytes()), Some(v), "{s}");
            }
            let accepted = ["0", "1", "7", "42", "999999999999"].contains(&s);
            assert_eq!(fast.is_some(), accepted, "{s}");
        }
    }

    #[test]
    fn a_recycled_vector_grows_for_a_longer_request() {
        let mut p = RequestParser::default();
        p.recycle(Vec::with_capacity(1));
        let argv = parse_all(&mut p, b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
        assert_eq!(argv[0].len(), 3);
    }
}

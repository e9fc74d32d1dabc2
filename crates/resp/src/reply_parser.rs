//! Parsing RESP2/RESP3 *replies* (what a server sends) into [`Reply`].
//!
//! Why: tests decode what slotraft and redis-server answer, and a future
//! proxy forwards replies from a shard. It is the inverse of
//! [`Reply::encode`] for RESP3 (up to `Null`/`NullArray`, which RESP3 spells
//! identically as `_`), and for RESP2 it yields the downgraded shapes.
//!
//! It is not incremental: it parses from the start of a slice and reports
//! how many bytes the reply used, or that the slice is incomplete. Declared
//! lengths never size an allocation ([`PREALLOC_MAX`]) and nesting is capped
//! ([`MAX_DEPTH`]) so hostile input cannot exhaust memory or the stack.

use bytes::Bytes;

use crate::request::string2ll;
use crate::Reply;

/// Deepest nesting of aggregates accepted.
pub const MAX_DEPTH: usize = 128;

/// Most elements reserved up front for an aggregate, whatever its header says.
pub const PREALLOC_MAX: usize = 64;

/// A malformed reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyError {
    UnknownType(u8),
    BadInteger,
    BadDouble,
    BadBool,
    BadLength,
    /// A bulk/verbatim payload not followed by CRLF.
    MissingCrlf,
    /// A verbatim string whose format is not `txt` or `mkd`.
    BadVerbatim,
    TooDeep,
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed RESP reply: {self:?}")
    }
}

impl std::error::Error for ReplyError {}

/// Parses one reply at the start of `buf`. `Ok(None)` if `buf` holds only a
/// prefix of a reply; otherwise the reply and the number of bytes it used.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0) {
        Ok(r) => Ok(Some((r, pos))),
        Err(Incomplete::Need) => Ok(None),
        Err(Incomplete::Bad(e)) => Err(e),
    }
}

enum Incomplete {
    Need,
    Bad(ReplyError),
}

impl From<ReplyError> for Incomplete {
    fn from(e: ReplyError) -> Self {
        Incomplete::Bad(e)
    }
}

type R<T> = Result<T, Incomplete>;

/// The line starting at `*pos` (without CRLF); advances past the CRLF.
fn line<'a>(buf: &'a [u8], pos: &mut usize) -> R<&'a [u8]> {
    let rest = &buf[*pos..];
    let i = rest
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or(Incomplete::Need)?;
    *pos += i + 2;
    Ok(&rest[..i])
}

fn int(s: &[u8]) -> R<i64> {
    Ok(string2ll(s).ok_or(ReplyError::BadInteger)?)
}

/// A length header: -1 means null.
fn length(s: &[u8]) -> R<Option<usize>> {
    match string2ll(s) {
        Some(-1) => Ok(None),
        Some(n) if n >= 0 => Ok(Some(n as usize)),
        _ => Err(ReplyError::BadLength.into()),
    }
}

/// `n` payload bytes then CRLF.
fn payload(buf: &[u8], pos: &mut usize, n: usize) -> R<Bytes> {
    let end = pos.checked_add(n).ok_or(ReplyError::BadLength)?;
    if buf.len() < end.saturating_add(2) {
        return Err(Incomplete::Need);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(ReplyError::MissingCrlf.into());
    }
    let b = Bytes::copy_from_slice(&buf[*pos..end]);
    *pos = end + 2;
    Ok(b)
}

fn items(buf: &[u8], pos: &mut usize, n: usize, depth: usize) -> R<Vec<Reply>> {
    let mut v = Vec::with_capacity(n.min(PREALLOC_MAX));
    for _ in 0..n {
        v.push(parse_at(buf, pos, depth + 1)?);
    }
    Ok(v)
}

fn parse_double(s: &[u8]) -> R<f64> {
    let s = std::str::from_utf8(s).map_err(|_| ReplyError::BadDouble)?;
    let d = match s {
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        "nan" => f64::NAN,
        _ => s.parse::<f64>().map_err(|_| ReplyError::BadDouble)?,
    };
    Ok(d)
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> R<Reply> {
    if depth > MAX_DEPTH {
        return Err(ReplyError::TooDeep.into());
    }
    let &tag = buf.get(*pos).ok_or(Incomplete::Need)?;
    *pos += 1;
    let head = line(buf, pos)?;
    let reply = match tag {
        b'+' => Reply::Simple(Bytes::copy_from_slice(head)),
        b'-' => Reply::Error(Bytes::copy_from_slice(head)),
        b':' => Reply::Int(int(head)?),
        b'(' => Reply::BigNumber(Bytes::copy_from_slice(head)),
        b',' => Reply::Double(parse_double(head)?),
        b'_' if head.is_empty() => Reply::Null,
        b'#' => match head {
            b"t" => Reply::Bool(true),
            b"f" => Reply::Bool(false),
            _ => return Err(ReplyError::BadBool.into()),
        },
        b'$' => match length(head)? {
            None => Reply::Null,
            Some(n) => Reply::Bulk(payload(buf, pos, n)?),
        },
        b'!' => match length(head)? {
            None => return Err(ReplyError::BadLength.into()),
            Some(n) => Reply::Error(payload(buf, pos, n)?),
        },
        b'=' => verbatim(buf, pos, head)?,
        b'*' => match length(head)? {
            None => Reply::NullArray,
            Some(n) => Reply::Array(items(buf, pos, n, depth)?),
        },
        b'~' | b'>' => {
            let n = length(head)?.ok_or(ReplyError::BadLength)?;
            let v = items(buf, pos, n, depth)?;
            if tag == b'~' {
                Reply::Set(v)
            } else {
                Reply::Push(v)
            }
        }
        b'%' => {
            let n = length(head)?.ok_or(ReplyError::BadLength)?;
            let mut pairs = Vec::with_capacity(n.min(PREALLOC_MAX));
            for _ in 0..n {
                let k = parse_at(buf, pos, depth + 1)?;
                let v = parse_at(buf, pos, depth + 1)?;
                pairs.push((k, v));
            }
            Reply::Map(pairs)
        }
        other => return Err(ReplyError::UnknownType(other).into()),
    };
    Ok(reply)
}

fn verbatim(buf: &[u8], pos: &mut usize, head: &[u8]) -> R<Reply> {
    let n = length(head)?.ok_or(ReplyError::BadLength)?;
    let body = payload(buf, pos, n)?;
    if body.len() < 4 || body[3] != b':' {
        return Err(ReplyError::BadVerbatim.into());
    }
    let fmt = match &body[..3] {
        b"txt" => "txt",
        b"mkd" => "mkd",
        _ => return Err(ReplyError::BadVerbatim.into()),
    };
    Ok(Reply::Verbatim(fmt, body.slice(4..)))
}

//! The reply model shared by the keyspace (which produces replies) and the
//! server (which encodes them for a connection's protocol version).
//!
//! Replies are semantic (a map, a double, a set), like Redis's `addReply*`
//! family; the encoder downgrades them to RESP2 exactly as Redis does
//! (maps become flat arrays, doubles become bulk strings, booleans become
//! integers, `Null` becomes `$-1` and `NullArray` becomes `*-1`).

use bytes::Bytes;

/// Protocol version negotiated with `HELLO`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// One reply to one command.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`-style status line. Must not contain CR or LF.
    Simple(Bytes),
    /// `-ERR ...`: the full error line without the leading `-`, e.g.
    /// `"ERR wrong number of arguments for 'get' command"` or
    /// `"WRONGTYPE Operation against a key holding the wrong kind of value"`.
    /// Must not contain CR or LF.
    Error(Bytes),
    Int(i64),
    Bulk(Bytes),
    /// A null bulk string: RESP2 `$-1`, RESP3 `_`.
    Null,
    /// A null array: RESP2 `*-1`, RESP3 `_`.
    NullArray,
    Array(Vec<Reply>),
    /// RESP3 map; RESP2 flat array `k1 v1 k2 v2 ...`.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 set; RESP2 array.
    Set(Vec<Reply>),
    /// RESP3 double; RESP2 bulk string formatted as Redis does.
    Double(f64),
    /// RESP3 boolean; RESP2 integer 1/0.
    Bool(bool),
    /// RESP3 verbatim string (`=len\r\ntxt:...`); RESP2 bulk string.
    /// The first field is the 3-letter format, e.g. `"txt"`.
    Verbatim(&'static str, Bytes),
    /// RESP3 big number; RESP2 bulk string.
    BigNumber(Bytes),
    /// RESP3 push (`>`), e.g. for pub/sub; RESP2 array.
    Push(Vec<Reply>),
    /// Pairs such as `ZRANGE ... WITHSCORES` or `HRANDFIELD ... WITHVALUES`:
    /// RESP2 flat array `m1 s1 m2 s2 ...`, RESP3 array of 2-element arrays
    /// `[[m1, s1], [m2, s2], ...]` — exactly Redis 7.0's two shapes.
    Pairs(Vec<(Reply, Reply)>),
}

impl Reply {
    pub const OK: Reply = Reply::Simple(Bytes::from_static(b"OK"));
    pub const QUEUED: Reply = Reply::Simple(Bytes::from_static(b"QUEUED"));

    /// A status reply from static text.
    pub fn simple(s: &'static str) -> Reply {
        Reply::Simple(Bytes::from_static(s.as_bytes()))
    }

    /// An error reply; `msg` is the whole line including its code prefix
    /// (`ERR`, `WRONGTYPE`, ...). CR/LF are replaced by spaces, as Redis does.
    pub fn error(msg: impl Into<String>) -> Reply {
        let mut s: String = msg.into();
        if s.contains(['\r', '\n']) {
            s = s.replace(['\r', '\n'], " ");
        }
        Reply::Error(Bytes::from(s))
    }

    /// A bulk string copied from bytes.
    pub fn bulk(b: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(b.as_ref()))
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the wire form of this reply for `proto` to `out`.
    pub fn encode(&self, proto: Protocol, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(s) => line(out, b'+', s),
            Reply::Error(e) => line(out, b'-', e),
            Reply::Int(i) => {
                out.push(b':');
                push_int(out, *i);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Bulk(b) => bulk(out, b),
            Reply::Null => match proto {
                Protocol::Resp2 => out.extend_from_slice(b"$-1\r\n"),
                Protocol::Resp3 => out.extend_from_slice(b"_\r\n"),
            },
            Reply::NullArray => match proto {
                Protocol::Resp2 => out.extend_from_slice(b"*-1\r\n"),
                Protocol::Resp3 => out.extend_from_slice(b"_\r\n"),
            },
            Reply::Array(items) => {
                header(out, b'*', items.len());
                for it in items {
                    it.encode(proto, out);
                }
            }
            Reply::Map(pairs) => {
                match proto {
                    Protocol::Resp2 => header(out, b'*', pairs.len() * 2),
                    Protocol::Resp3 => header(out, b'%', pairs.len()),
                }
                for (k, v) in pairs {
                    k.encode(proto, out);
                    v.encode(proto, out);
                }
            }
            Reply::Set(items) => {
                let tag = if proto == Protocol::Resp3 { b'~' } else { b'*' };
                header(out, tag, items.len());
                for it in items {
                    it.encode(proto, out);
                }
            }
            Reply::Push(items) => {
                let tag = if proto == Protocol::Resp3 { b'>' } else { b'*' };
                header(out, tag, items.len());
                for it in items {
                    it.encode(proto, out);
                }
            }
            Reply::Pairs(pairs) => {
                match proto {
                    Protocol::Resp2 => header(out, b'*', pairs.len() * 2),
                    Protocol::Resp3 => header(out, b'*', pairs.len()),
                }
                for (a, b) in pairs {
                    if proto == Protocol::Resp3 {
                        header(out, b'*', 2);
                    }
                    a.encode(proto, out);
                    b.encode(proto, out);
                }
            }
            Reply::Double(d) => match proto {
                Protocol::Resp2 => bulk(out, format_double(*d).as_bytes()),
                Protocol::Resp3 => {
                    out.push(b',');
                    out.extend_from_slice(format_double(*d).as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
            },
            Reply::Bool(b) => match proto {
                Protocol::Resp2 => out.extend_from_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
                Protocol::Resp3 => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            },
            Reply::Verbatim(fmt, text) => match proto {
                Protocol::Resp2 => bulk(out, text),
                Protocol::Resp3 => {
                    header(out, b'=', text.len() + 4);
                    out.extend_from_slice(fmt.as_bytes());
                    out.push(b':');
                    out.extend_from_slice(text);
                    out.extend_from_slice(b"\r\n");
                }
            },
            Reply::BigNumber(n) => match proto {
                Protocol::Resp2 => bulk(out, n),
                Protocol::Resp3 => line(out, b'(', n),
            },
        }
    }

    /// Convenience: the encoded bytes.
    pub fn to_bytes(&self, proto: Protocol) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(proto, &mut v);
        v
    }
}

/// Formats a double the way Redis 7.0 replies with one (`%.17g`, with
/// `inf`/`-inf`/`nan` spelled as Redis spells them).
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_string();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    format_g17(d)
}

/// C's `%.17g`.
fn format_g17(d: f64) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    const P: i32 = 17;
    // Scientific form with P significant digits decides the exponent.
    let sci = format!("{:.*e}", (P - 1) as usize, d);
    let (mantissa, exp) = sci.split_once('e').expect("rust {:e} has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    if !(-4..P).contains(&exp) {
        let m = trim_fraction(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (P - 1 - exp).max(0) as usize;
        trim_fraction(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn line(out: &mut Vec<u8>, tag: u8, s: &[u8]) {
    debug_assert!(!s.contains(&b'\r') && !s.contains(&b'\n'));
    out.push(tag);
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

fn header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    push_int(out, len as i64);
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    header(out, b'$', b.len());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

fn push_int(out: &mut Vec<u8>, i: i64) {
    let mut buf = [0u8; 20];
    let mut n = i.unsigned_abs();
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[pos..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: &Reply, p: Protocol) -> String {
        String::from_utf8(r.to_bytes(p)).unwrap()
    }

    #[test]
    fn resp2_downgrades() {
        let m = Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))]);
        assert_eq!(enc(&m, Protocol::Resp2), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&m, Protocol::Resp3), "%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Reply::Null, Protocol::Resp2), "$-1\r\n");
        assert_eq!(enc(&Reply::NullArray, Protocol::Resp2), "*-1\r\n");
        assert_eq!(enc(&Reply::NullArray, Protocol::Resp3), "_\r\n");
        assert_eq!(enc(&Reply::Bool(true), Protocol::Resp2), ":1\r\n");
        assert_eq!(enc(&Reply::Double(1.5), Protocol::Resp2), "$3\r\n1.5\r\n");
        assert_eq!(enc(&Reply::Double(1.5), Protocol::Resp3), ",1.5\r\n");
        assert_eq!(
            enc(&Reply::Int(i64::MIN), Protocol::Resp2),
            ":-9223372036854775808\r\n"
        );
        assert_eq!(
            enc(
                &Reply::Verbatim("txt", Bytes::from_static(b"hi")),
                Protocol::Resp3
            ),
            "=6\r\ntxt:hi\r\n"
        );
    }

    #[test]
    fn pairs_nest_only_in_resp3() {
        let p = Reply::Pairs(vec![(Reply::bulk("m"), Reply::Double(1.5))]);
        assert_eq!(enc(&p, Protocol::Resp2), "*2\r\n$1\r\nm\r\n$3\r\n1.5\r\n");
        assert_eq!(enc(&p, Protocol::Resp3), "*1\r\n*2\r\n$1\r\nm\r\n,1.5\r\n");
        assert_eq!(enc(&Reply::Pairs(vec![]), Protocol::Resp3), "*0\r\n");
    }

    #[test]
    fn doubles_like_redis() {
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(-2.5), "-2.5");
        assert_eq!(format_double(123456.0), "123456");
    }

    #[test]
    fn error_strips_newlines() {
        assert_eq!(
            Reply::error("ERR a\r\nb"),
            Reply::Error(Bytes::from_static(b"ERR a  b"))
        );
    }
}

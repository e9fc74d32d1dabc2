//! Argument parsing helpers with Redis 7.0's exact error strings.
//!
//! Every handler parses through these so the error texts (which clients and
//! the differential tests compare byte for byte) live in one place.

use bytes::Bytes;
use slotraft_resp::Reply;

pub const ERR_NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const ERR_NOT_FLOAT: &str = "ERR value is not a valid float";
pub const ERR_SYNTAX: &str = "ERR syntax error";
pub const ERR_WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const ERR_OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const ERR_NO_SUCH_KEY: &str = "ERR no such key";
pub const ERR_NAN_OR_INF: &str = "ERR increment would produce NaN or Infinity";
pub const ERR_STRING_TOO_LONG: &str =
    "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const ERR_OUT_OF_RANGE_POSITIVE: &str = "ERR value is out of range, must be positive";
pub const ERR_INVALID_CURSOR: &str = "ERR invalid cursor";
pub const ERR_TIMEOUT: &str = "ERR timeout is not a float or out of range";
pub const ERR_TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";

/// Redis's `proto-max-bulk-len` default (512 MiB): the largest string value.
pub const MAX_STRING_LEN: usize = 512 * 1024 * 1024;

/// Handlers return `Ok(reply)` or `Err(error_reply)`; `?` on parse helpers.
pub type CmdResult = Result<Reply, Reply>;

/// The WRONGTYPE condition, returned by typed db accessors.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WrongType;

impl From<WrongType> for Reply {
    fn from(_: WrongType) -> Reply {
        err(ERR_WRONGTYPE)
    }
}

/// An error reply from static text.
pub fn err(msg: &'static str) -> Reply {
    Reply::Error(Bytes::from_static(msg.as_bytes()))
}

/// `ERR wrong number of arguments for 'name' command`.
pub fn wrong_arity(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// Redis's `string2ll`: a strict, canonical signed 64-bit integer (no `+`,
/// no leading zeros, no spaces, no `-0`).
pub fn parse_canonical_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// An i64 argument, or Redis's "not an integer" error.
pub fn int(arg: &[u8]) -> Result<i64, Reply> {
    parse_canonical_i64(arg).ok_or_else(|| err(ERR_NOT_INTEGER))
}

/// An i64 argument with a custom error message.
pub fn int_or(arg: &[u8], msg: &'static str) -> Result<i64, Reply> {
    parse_canonical_i64(arg).ok_or_else(|| err(msg))
}

/// Redis's `strtod`-based float parsing (getDoubleFromObject): accepts
/// `inf`/`-inf`/`+inf`, exponents, leading `.`; rejects spaces, empty
/// strings and NaN.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() {
        return None;
    }
    let txt = std::str::from_utf8(s).ok()?;
    let lower = txt.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if body.starts_with("nan") {
        return None;
    }
    if body.starts_with("0x") {
        return parse_hex_f64(&lower);
    }
    // Rust accepts "infinity"/"inf" like strtod.
    let v: f64 = txt.parse().ok()?;
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

/// strtod's hexadecimal form: `[+-]0x h* [. h*] [p [+-] d+]` (lowercased).
fn parse_hex_f64(s: &str) -> Option<f64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let rest = rest.strip_prefix("0x")?;
    let (mant, exp) = match rest.split_once('p') {
        Some((m, e)) => (m, Some(e)),
        None => (rest, None),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    if let Some(e) = exp {
        let e: i32 = e.parse().ok()?;
        v *= 2f64.powi(e);
    }
    Some(if neg { -v } else { v })
}

/// Redis's `getDoubleFromObject` (ZADD/ZINCRBY scores, WEIGHTS): like
/// [`parse_f64`], but strtod's ERANGE results are rejected the way Redis
/// checks them: an overflow to +-inf from a finite literal (`1e400`), and an
/// underflow to zero from a non-zero literal (`1e-400`, `2e-324`). Results
/// that underflow to a subnormal (`1e-310`) are accepted, like Redis.
pub fn parse_f64_strict(s: &[u8]) -> Option<f64> {
    let v = parse_f64(s)?;
    let lower = s.to_ascii_lowercase();
    let body = lower
        .strip_prefix(b"+")
        .or_else(|| lower.strip_prefix(b"-"));
    let body = body.unwrap_or(&lower);
    if v.is_infinite() && !body.starts_with(b"inf") {
        return None;
    }
    if v == 0.0 && mantissa_is_nonzero(body) {
        return None;
    }
    Some(v)
}

/// Whether an (unsigned, lowercased, already validated) float literal's
/// mantissa has a non-zero digit: decimal before `e`, hex before `p`.
fn mantissa_is_nonzero(body: &[u8]) -> bool {
    let (digits, exp_mark) = match body.strip_prefix(b"0x") {
        Some(hex) => (hex, b'p'),
        None => (body, b'e'),
    };
    digits
        .iter()
        .take_while(|&&c| c != exp_mark)
        .any(|&c| c.is_ascii_hexdigit() && c != b'0')
}

/// A float argument, or Redis's "not a valid float" error
/// (`getDoubleFromObjectOrReply`: ERANGE is rejected, see
/// [`parse_f64_strict`]).
pub fn float(arg: &[u8]) -> Result<f64, Reply> {
    parse_f64_strict(arg).ok_or_else(|| err(ERR_NOT_FLOAT))
}

/// ASCII case-insensitive option match (`arg` vs lowercase `opt`).
pub fn is(arg: &[u8], opt: &str) -> bool {
    arg.eq_ignore_ascii_case(opt.as_bytes())
}

/// Formats an i64 as a bulk/integer-ready byte string.
pub fn i64_bytes(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// Formats a double like INCRBYFLOAT / HINCRBYFLOAT reply (Redis's
/// `ld2string(.., LD_STR_HUMAN)`: `%.17Lf` on a long double, trailing zeros
/// trimmed, never exponent notation). We compute in f64, so to hide f64's
/// last-digit noise (0.1+0.2) the way the long double's extra precision
/// does, we print 16 significant digits. Documented difference: results
/// needing the 17th digit differ in that digit.
pub fn format_human_f64(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return match v {
            x if x.is_nan() => "nan".to_string(),
            x if x == f64::INFINITY => "inf".to_string(),
            x if x == f64::NEG_INFINITY => "-inf".to_string(),
            _ => "0".to_string(),
        };
    }
    let mag = v.abs().log10().floor() as i32;
    let decimals = (15 - mag).clamp(0, 340) as usize;
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".to_string()
    } else {
        s
    }
}

/// `ERR invalid expire time in 'name' command`.
pub fn invalid_expire(name: &str) -> Reply {
    Reply::error(format!("ERR invalid expire time in '{name}' command"))
}

/// Redis's `getExpireMillisecondsOrReply` (SET/SETEX/PSETEX/GETEX): a
/// positive integer in seconds or ms, relative to `now` or absolute.
/// Returns the absolute unix ms.
pub fn expire_arg(
    arg: &[u8],
    seconds: bool,
    relative: bool,
    now: u64,
    name: &str,
) -> Result<u64, Reply> {
    let v = int(arg)?;
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(invalid_expire(name));
    }
    let ms = if seconds { v * 1000 } else { v };
    let at = if relative {
        ms.checked_add(now as i64)
    } else {
        Some(ms)
    };
    match at {
        Some(t) if t > 0 => Ok(t as u64),
        _ => Err(invalid_expire(name)),
    }
}

/// A SCAN-family cursor, parsed like Redis's `strtoul`: optional sign
/// (a negative value wraps, so "-1" is the largest cursor), digits only, no
/// leading space; an empty string is cursor 0; overflow is an error.
pub fn cursor(arg: &[u8]) -> Result<u64, Reply> {
    let bad = || err(ERR_INVALID_CURSOR);
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if !digits.iter().all(|c| c.is_ascii_digit()) || (digits.is_empty() && !arg.is_empty()) {
        return Err(bad());
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((c - b'0') as u64))
            .ok_or_else(bad)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// Parses SCAN-family options `[MATCH pattern] [COUNT n] [TYPE t]` starting
/// at `argv[from]`. `allow_type` is only true for SCAN itself.
pub fn scan_opts(argv: &[Bytes], from: usize, allow_type: bool) -> Result<ScanOpts, Reply> {
    let mut o = ScanOpts {
        pattern: None,
        count: 10,
        type_name: None,
    };
    let mut i = from;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if is(&argv[i], "count") && more >= 1 {
            let c = int(&argv[i + 1])?;
            if c < 1 {
                return Err(err(ERR_SYNTAX));
            }
            o.count = c as usize;
            i += 2;
        } else if is(&argv[i], "match") && more >= 1 {
            o.pattern = Some(argv[i + 1].clone());
            i += 2;
        } else if allow_type && is(&argv[i], "type") && more >= 1 {
            o.type_name = Some(argv[i + 1].clone());
            i += 2;
        } else {
            return Err(err(ERR_SYNTAX));
        }
    }
    Ok(o)
}

/// Options shared by SCAN, HSCAN, SSCAN, ZSCAN.
#[derive(Clone, Debug)]
pub struct ScanOpts {
    pub pattern: Option<Bytes>,
    pub count: usize,
    pub type_name: Option<Bytes>,
}

impl ScanOpts {
    /// True if `item` passes the MATCH filter (if any).
    pub fn matches(&self, item: &[u8]) -> bool {
        match &self.pattern {
            None => true,
            Some(p) => p[..] == b"*"[..] || crate::glob::glob_match(p, item, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_integers() {
        assert_eq!(parse_canonical_i64(b"0"), Some(0));
        assert_eq!(parse_canonical_i64(b"-1"), Some(-1));
        assert_eq!(parse_canonical_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_canonical_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"-",
            b"1a",
        ] {
            assert_eq!(parse_canonical_i64(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn floats_like_strtod() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b".5"), Some(0.5));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1 "), None);
        assert_eq!(parse_f64(b""), None);
        assert_eq!(parse_f64(b"abc"), None);
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b"-0x1.8p1"), Some(-3.0));
        assert_eq!(parse_f64(b"0x"), None);
        assert_eq!(parse_f64(b"0xg"), None);
        // strtod ERANGE, as Redis 7.0.15 replies to ZADD (verified).
        assert_eq!(parse_f64(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_f64_strict(b"1e400"), None);
        assert_eq!(parse_f64_strict(b"-1e400"), None);
        assert_eq!(parse_f64_strict(b"1e-400"), None);
        assert_eq!(parse_f64_strict(b"2e-324"), None);
        assert_eq!(parse_f64_strict(b"0x1p-1080"), None);
        assert_eq!(parse_f64_strict(b"3e-324"), Some(5e-324));
        assert_eq!(parse_f64_strict(b"1e-310"), Some(1e-310));
        assert_eq!(parse_f64_strict(b"0e-400"), Some(0.0));
        assert_eq!(parse_f64_strict(b"-0.000e-999"), Some(-0.0));
        assert_eq!(parse_f64_strict(b"1e308"), Some(1e308));
        assert_eq!(parse_f64_strict(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64_strict(b"+Infinity"), Some(f64::INFINITY));
    }

    #[test]
    fn human_floats() {
        assert_eq!(format_human_f64(10.5), "10.5");
        assert_eq!(format_human_f64(3.0), "3");
        assert_eq!(format_human_f64(0.1 + 0.2), "0.3");
        assert_eq!(format_human_f64(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(format_human_f64(-0.0), "0");
        assert_eq!(format_human_f64(5.0e3), "5000");
    }
}

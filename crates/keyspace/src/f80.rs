//! Software x87 80-bit extended-precision floats for INCRBYFLOAT / HINCRBYFLOAT.
//!
//! Why this exists: Redis 7.0 computes `INCRBYFLOAT` and `HINCRBYFLOAT` in C
//! `long double`, which on x86-64 is the x87 80-bit format (64-bit mantissa with
//! an explicit integer bit, 15-bit exponent). Replies and stored values must be
//! byte-identical to Redis, and every replica must compute the very same bytes on
//! any CPU (aarch64's `long double` is 128-bit, some targets use 64-bit). So we
//! never touch the host's floating point: parsing (`strtold`), addition and
//! printing (`printf("%.17Lf")`) are reimplemented exactly with integer
//! arithmetic, using a small bounded big-unsigned-integer type.
//!
//! Redis behaviour reproduced (verified against redis-server 7.0.15):
//! - `string2ld`: empty input, input of `MAX_LONG_DOUBLE_CHARS` bytes or more,
//!   leading whitespace, trailing garbage, NaN, and values that overflow to
//!   infinity or underflow to zero (`ERANGE`) are rejected. Decimal (with
//!   exponent), hexadecimal (`0x1.8p3`) and `inf`/`infinity` are accepted.
//! - `ld2string(.., LD_STR_HUMAN)`: `%.17Lf` (round-half-even on the exact
//!   binary value), trailing zeros and a trailing `.` removed, `-0` printed `0`.
//!
//! Verification: the unit tests hold 108 (current, increment, reply) triples
//! captured from a real redis-server 7.0.15 on x86-64; during development a
//! randomized differential run of 6000 INCRBYFLOAT and 3000 HINCRBYFLOAT cases
//! (decimal, hex, subnormal, overflow-edge, tie, cancellation and long-digit
//! inputs) matched byte for byte.
//!
//! Cost: bounded by `MAX_LONG_DOUBLE_CHARS`; the worst inputs (5k-digit
//! strings, extreme exponents) take about 2 ms in a release build.
//!
//! Wiring: declare it `pub mod f80;` (the helpers beyond [`incr_by_float`] are
//! public API and would be dead code in a private module).
//!
//! Representation: see [`F80`].

use std::cmp::Ordering;

/// Redis `MAX_LONG_DOUBLE_CHARS`: inputs of this many bytes or more are rejected.
pub const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// Mantissa bits of the x87 extended format (explicit integer bit included).
const MANT_BITS: u32 = 64;
/// Exponent of the mantissa's least significant bit for the smallest normal
/// (and every subnormal) value: 2^(1 - 16383 - 63).
const MIN_LSB_EXP: i32 = -16445;
/// Exponent of the mantissa's least significant bit for the largest finite
/// values: 2^(32766 - 16383 - 63). Max finite = (2^64 - 1) * 2^16320.
const MAX_LSB_EXP: i32 = 16320;
/// Decimal / binary exponents in the input saturate here; far beyond any
/// representable value, so saturation never changes a result.
const EXP_SATURATION: i64 = 1_000_000_000;
/// How many bits below the larger operand's lowest bit a far-smaller addend is
/// clamped to: it then only acts as a sticky bit (see [`add`]).
const ADD_STICKY_GAP: i32 = 130;
/// Fractional decimal digits printed by `%.17Lf`.
const HUMAN_FRAC_DIGITS: usize = 17;

/// What kind of value an [`F80`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Zero,
    /// `mant * 2^exp`. Invariant: `MIN_LSB_EXP <= exp <= MAX_LSB_EXP`, `mant != 0`,
    /// and `mant >= 2^63` unless `exp == MIN_LSB_EXP` (subnormal).
    Finite {
        mant: u64,
        exp: i32,
    },
    Inf,
    Nan,
}

/// An x87 80-bit extended float: a sign plus zero / finite / infinity / NaN.
/// Finite values are `mant * 2^exp` with a normalized 64-bit mantissa (top bit
/// set) except for subnormals, which sit at the minimum exponent. Equality is
/// structural (so `-0 != +0` and `NaN == NaN`), which is what tests want.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct F80 {
    neg: bool,
    kind: Kind,
}

impl F80 {
    /// Positive zero.
    pub const ZERO: F80 = F80 {
        neg: false,
        kind: Kind::Zero,
    };

    fn inf(neg: bool) -> F80 {
        F80 {
            neg,
            kind: Kind::Inf,
        }
    }

    fn nan() -> F80 {
        F80 {
            neg: false,
            kind: Kind::Nan,
        }
    }

    /// Exact conversion of an integer (every i64 fits a 64-bit mantissa).
    pub fn from_i64(v: i64) -> F80 {
        let neg = v < 0;
        round(neg, &Big::from_u64(v.unsigned_abs()), 0, false)
    }

    /// True unless infinite or NaN.
    pub fn is_finite(self) -> bool {
        matches!(self.kind, Kind::Zero | Kind::Finite { .. })
    }

    /// True for NaN.
    pub fn is_nan(self) -> bool {
        self.kind == Kind::Nan
    }

    /// The nearest `f64` (round-half-even; overflow gives infinity).
    pub fn to_f64(self) -> f64 {
        let sign = if self.neg { -1.0 } else { 1.0 };
        match self.kind {
            Kind::Zero => sign * 0.0,
            Kind::Inf => sign * f64::INFINITY,
            Kind::Nan => f64::NAN,
            Kind::Finite { mant, exp } => {
                let fmt = Precision {
                    bits: 53,
                    min_lsb: -1074,
                    max_lsb: 971,
                };
                match round_general(&Big::from_u64(mant), exp, false, fmt) {
                    Rounded::Zero => sign * 0.0,
                    Rounded::Overflow => sign * f64::INFINITY,
                    Rounded::Value { mant, exp } => {
                        // Invariant: mant < 2^53; subnormal iff mant < 2^52 at -1074.
                        let bits = if mant < (1 << 52) {
                            mant
                        } else {
                            let biased = u64::try_from(exp + 52 + 1023).expect("in range");
                            (biased << 52) | (mant & ((1 << 52) - 1))
                        };
                        sign * f64::from_bits(bits)
                    }
                }
            }
        }
    }
}

/// Free-function form of [`F80::is_finite`].
pub fn is_finite(x: F80) -> bool {
    x.is_finite()
}

/// Free-function form of [`F80::to_f64`].
pub fn to_f64(x: F80) -> f64 {
    x.to_f64()
}

// ---------------------------------------------------------------------------
// Minimal bounded big unsigned integer.
// ---------------------------------------------------------------------------

/// Little-endian base-2^32 unsigned integer. Invariant: no trailing zero limb.
/// Sizes are bounded by the callers: at most ~17k bits from a
/// `MAX_LONG_DOUBLE_CHARS` input plus the ~16.5k-bit exponent range.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big {
    limbs: Vec<u32>,
}

impl Big {
    fn zero() -> Big {
        Big { limbs: Vec::new() }
    }

    fn from_u64(v: u64) -> Big {
        let mut b = Big {
            limbs: vec![v as u32, (v >> 32) as u32],
        };
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    fn bit_len(&self) -> u32 {
        match self.limbs.last() {
            None => 0,
            Some(&top) => (self.limbs.len() as u32 - 1) * 32 + (32 - top.leading_zeros()),
        }
    }

    fn bit(&self, i: u32) -> bool {
        let limb = (i / 32) as usize;
        limb < self.limbs.len() && (self.limbs[limb] >> (i % 32)) & 1 == 1
    }

    /// True if any bit strictly below bit `i` is set.
    fn any_below(&self, i: u32) -> bool {
        let full = (i / 32) as usize;
        let n = full.min(self.limbs.len());
        if self.limbs[..n].iter().any(|&l| l != 0) {
            return true;
        }
        let rem = i % 32;
        full < self.limbs.len() && rem > 0 && self.limbs[full] & ((1u32 << rem) - 1) != 0
    }

    /// `self * m + a`.
    fn mul_add_small(&mut self, m: u32, a: u32) {
        let mut carry = u64::from(a);
        for l in &mut self.limbs {
            let t = u64::from(*l) * u64::from(m) + carry;
            *l = t as u32;
            carry = t >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
        self.trim();
    }

    fn shl(&self, n: u32) -> Big {
        if self.is_zero() {
            return Big::zero();
        }
        let words = (n / 32) as usize;
        let bits = n % 32;
        let mut limbs = vec![0u32; words];
        let mut carry = 0u32;
        for &l in &self.limbs {
            if bits == 0 {
                limbs.push(l);
            } else {
                limbs.push((l << bits) | carry);
                carry = l >> (32 - bits);
            }
        }
        if carry != 0 {
            limbs.push(carry);
        }
        Big { limbs }
    }

    fn shr(&self, n: u32) -> Big {
        let words = (n / 32) as usize;
        if words >= self.limbs.len() {
            return Big::zero();
        }
        let bits = n % 32;
        let src = &self.limbs[words..];
        let mut limbs = Vec::with_capacity(src.len());
        for i in 0..src.len() {
            let lo = src[i] >> bits;
            let hi = if bits == 0 {
                0
            } else {
                src.get(i + 1).map_or(0, |&h| h << (32 - bits))
            };
            limbs.push(lo | hi);
        }
        let mut b = Big { limbs };
        b.trim();
        b
    }

    fn add(&self, o: &Big) -> Big {
        let n = self.limbs.len().max(o.limbs.len());
        let mut limbs = Vec::with_capacity(n + 1);
        let mut carry = 0u64;
        for i in 0..n {
            let t = u64::from(*self.limbs.get(i).unwrap_or(&0))
                + u64::from(*o.limbs.get(i).unwrap_or(&0))
                + carry;
            limbs.push(t as u32);
            carry = t >> 32;
        }
        if carry != 0 {
            limbs.push(carry as u32);
        }
        Big { limbs }
    }

    /// `self - o`; requires `self >= o`.
    fn sub(&self, o: &Big) -> Big {
        assert!(self.cmp_big(o) != Ordering::Less, "Big::sub underflow");
        let mut limbs = Vec::with_capacity(self.limbs.len());
        let mut borrow = 0i64;
        for (i, &l) in self.limbs.iter().enumerate() {
            let mut t = i64::from(l) - i64::from(*o.limbs.get(i).unwrap_or(&0)) - borrow;
            borrow = 0;
            if t < 0 {
                t += 1 << 32;
                borrow = 1;
            }
            limbs.push(t as u32);
        }
        debug_assert_eq!(borrow, 0);
        let mut b = Big { limbs };
        b.trim();
        b
    }

    fn cmp_big(&self, o: &Big) -> Ordering {
        self.limbs
            .len()
            .cmp(&o.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(o.limbs.iter().rev()))
    }

    /// Divides in place by `d`, returning the remainder.
    fn divmod_small(&mut self, d: u32) -> u32 {
        assert!(d != 0);
        let mut rem = 0u64;
        for l in self.limbs.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*l);
            *l = (cur / u64::from(d)) as u32;
            rem = cur % u64::from(d);
        }
        self.trim();
        rem as u32
    }

    fn pow10(n: u32) -> Big {
        let mut b = Big::from_u64(1);
        let mut left = n;
        while left >= 9 {
            b.mul_add_small(1_000_000_000, 0);
            left -= 9;
        }
        b.mul_add_small(10u32.pow(left), 0);
        b
    }

    fn to_u64(&self) -> u64 {
        assert!(self.bit_len() <= 64);
        self.limbs
            .iter()
            .rev()
            .fold(0u64, |acc, &l| (acc << 32) | u64::from(l))
    }

    fn to_decimal(&self) -> String {
        let mut chunks = Vec::new();
        let mut n = self.clone();
        while !n.is_zero() {
            chunks.push(n.divmod_small(1_000_000_000));
        }
        let mut s = chunks.last().map_or("0".to_string(), |c| c.to_string());
        for c in chunks.iter().rev().skip(1) {
            s.push_str(&format!("{c:09}"));
        }
        s
    }
}

// ---------------------------------------------------------------------------
// Rounding.
// ---------------------------------------------------------------------------

/// A binary floating format to round into.
#[derive(Clone, Copy)]
struct Precision {
    bits: u32,
    min_lsb: i32,
    max_lsb: i32,
}

const X87: Precision = Precision {
    bits: MANT_BITS,
    min_lsb: MIN_LSB_EXP,
    max_lsb: MAX_LSB_EXP,
};

enum Rounded {
    Zero,
    Overflow,
    Value { mant: u64, exp: i32 },
}

/// Rounds `(n + sticky*epsilon) * 2^e` (n != 0, epsilon an infinitesimal below
/// n's lowest bit) half-to-even into `fmt`.
fn round_general(n: &Big, e: i32, sticky: bool, fmt: Precision) -> Rounded {
    debug_assert!(!n.is_zero());
    let top = i64::from(e) + i64::from(n.bit_len()) - 1;
    let lsb = (top - i64::from(fmt.bits) + 1).max(i64::from(fmt.min_lsb));
    let shift = lsb - i64::from(e);
    let (mut mant, mut exp): (u128, i64) = if shift <= 0 {
        let sh = u32::try_from(-shift).expect("shift fits");
        (u128::from(n.shl(sh).to_u64()), lsb)
    } else {
        let sh = u32::try_from(shift.min(i64::from(u32::MAX) - 1)).expect("shift fits");
        let q = n.shr(sh).to_u64();
        let half = n.bit(sh - 1);
        let rest = sticky || n.any_below(sh - 1);
        let up = half && (rest || q & 1 == 1);
        (u128::from(q) + u128::from(up), lsb)
    };
    if mant >> fmt.bits != 0 {
        // Rounding carried out of the mantissa: renormalize (exact, low bit is 0).
        mant >>= 1;
        exp += 1;
    }
    if mant == 0 {
        return Rounded::Zero;
    }
    if exp > i64::from(fmt.max_lsb) {
        return Rounded::Overflow;
    }
    Rounded::Value {
        mant: u64::try_from(mant).expect("mantissa fits"),
        exp: i32::try_from(exp).expect("exp in range"),
    }
}

/// Rounds into an [`F80`]; overflow gives infinity, underflow gives zero.
fn round(neg: bool, n: &Big, e: i32, sticky: bool) -> F80 {
    if n.is_zero() {
        return F80 {
            neg,
            kind: Kind::Zero,
        };
    }
    match round_general(n, e, sticky, X87) {
        Rounded::Zero => F80 {
            neg,
            kind: Kind::Zero,
        },
        Rounded::Overflow => F80::inf(neg),
        Rounded::Value { mant, exp } => F80 {
            neg,
            kind: Kind::Finite { mant, exp },
        },
    }
}

// ---------------------------------------------------------------------------
// Addition.
// ---------------------------------------------------------------------------

/// Correctly rounded (half-to-even) `a + b`, as the x87 FPU computes it with
/// 64-bit precision control (Linux's default).
pub fn add(a: F80, b: F80) -> F80 {
    match (a.kind, b.kind) {
        (Kind::Nan, _) | (_, Kind::Nan) => F80::nan(),
        (Kind::Inf, Kind::Inf) if a.neg != b.neg => F80::nan(),
        (Kind::Inf, _) => a,
        (_, Kind::Inf) => b,
        (Kind::Zero, Kind::Zero) => F80 {
            neg: a.neg && b.neg,
            kind: Kind::Zero,
        },
        (Kind::Zero, _) => b,
        (_, Kind::Zero) => a,
        (Kind::Finite { mant: ma, exp: ea }, Kind::Finite { mant: mb, exp: eb }) => {
            add_finite((a.neg, ma, ea), (b.neg, mb, eb))
        }
    }
}

fn add_finite(a: (bool, u64, i32), b: (bool, u64, i32)) -> F80 {
    // Order so that `hi` has the larger exponent.
    let (hi, mut lo) = if a.2 >= b.2 { (a, b) } else { (b, a) };
    if hi.2 - lo.2 > ADD_STICKY_GAP {
        // hi is normal here (a subnormal has the minimum exponent), so hi >=
        // 2^(hi.exp+63) and every rounding boundary is a multiple of
        // 2^(hi.exp-2). Any addend below 2^(hi.exp-66) lands strictly between the
        // same two boundaries, so a tiny stand-in of the same sign rounds alike.
        lo = (lo.0, 1, hi.2 - ADD_STICKY_GAP);
    }
    let shift = u32::try_from(hi.2 - lo.2).expect("non-negative");
    let big_hi = Big::from_u64(hi.1).shl(shift);
    let big_lo = Big::from_u64(lo.1);
    if hi.0 == lo.0 {
        return round(hi.0, &big_hi.add(&big_lo), lo.2, false);
    }
    match big_hi.cmp_big(&big_lo) {
        Ordering::Equal => F80::ZERO,
        Ordering::Greater => round(hi.0, &big_hi.sub(&big_lo), lo.2, false),
        Ordering::Less => round(lo.0, &big_lo.sub(&big_hi), lo.2, false),
    }
}

// ---------------------------------------------------------------------------
// Parsing (Redis string2ld = glibc strtold + Redis's checks).
// ---------------------------------------------------------------------------

/// Parses like Redis 7.0 `string2ld`. Returns `None` where Redis replies
/// "value is not a valid float".
pub fn parse(s: &[u8]) -> Option<F80> {
    if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS {
        return None;
    }
    let (neg, body) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Some(F80::inf(neg));
    }
    let is_hex = body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x';
    let exact = if is_hex {
        parse_hex(&body[2..])?
    } else {
        parse_decimal(body)?
    };
    finish_parse(neg, exact)
}

/// An exactly parsed magnitude, before rounding.
enum Exact {
    Zero,
    /// `digits * 10^exp10`; `digits` has exactly `ndigits` decimal digits.
    Decimal {
        digits: Big,
        ndigits: i64,
        exp10: i64,
    },
    /// `mant * 2^exp2`
    Binary {
        mant: Big,
        exp2: i64,
    },
}

/// Splits `s` as `int[.frac]` followed by the rest; requires at least one digit.
fn split_mantissa(s: &[u8], is_digit: fn(u8) -> bool) -> Option<(&[u8], &[u8], &[u8])> {
    let int_len = s.iter().take_while(|&&c| is_digit(c)).count();
    let (int, rest) = s.split_at(int_len);
    let (frac, rest) = match rest.first() {
        Some(b'.') => {
            let r = &rest[1..];
            let n = r.iter().take_while(|&&c| is_digit(c)).count();
            r.split_at(n)
        }
        _ => (&rest[..0], rest),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    Some((int, frac, rest))
}

/// Parses `[+-]digits` after an exponent marker, saturating; the whole slice
/// must be consumed.
fn parse_exponent(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits.iter().fold(0i64, |acc, &c| {
        (acc * 10 + i64::from(c - b'0')).min(EXP_SATURATION)
    });
    Some(if neg { -v } else { v })
}

fn parse_decimal(s: &[u8]) -> Option<Exact> {
    let (int, frac, rest) = split_mantissa(s, |c| c.is_ascii_digit())?;
    let exp = match rest.first() {
        None => 0,
        Some(b'e' | b'E') => parse_exponent(&rest[1..])?,
        Some(_) => return None,
    };
    // Significant digits: leading zeros dropped, then 9 digits per limb step.
    let all: Vec<u8> = int.iter().chain(frac).copied().collect();
    let first = all.iter().position(|&c| c != b'0');
    let Some(first) = first else {
        return Some(Exact::Zero);
    };
    let sig = &all[first..];
    let mut digits = Big::zero();
    for chunk in sig.chunks(9) {
        let v = chunk
            .iter()
            .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'));
        digits.mul_add_small(10u32.pow(chunk.len() as u32), v);
    }
    let exp10 = exp - frac.len() as i64;
    Some(Exact::Decimal {
        digits,
        ndigits: sig.len() as i64,
        exp10,
    })
}

fn parse_hex(s: &[u8]) -> Option<Exact> {
    let (int, frac, rest) = split_mantissa(s, |c| c.is_ascii_hexdigit())?;
    let exp = match rest.first() {
        None => 0,
        Some(b'p' | b'P') => parse_exponent(&rest[1..])?,
        Some(_) => return None,
    };
    let mut mant = Big::zero();
    for &c in int.iter().chain(frac) {
        let d = (c as char).to_digit(16).expect("hex digit");
        mant.mul_add_small(16, d);
    }
    if mant.is_zero() {
        return Some(Exact::Zero);
    }
    let exp2 = exp - 4 * frac.len() as i64;
    Some(Exact::Binary { mant, exp2 })
}

/// Rounds the exact value; Redis rejects results that overflowed to infinity
/// or underflowed to zero (strtold's ERANGE cases).
fn finish_parse(neg: bool, exact: Exact) -> Option<F80> {
    let v = match exact {
        Exact::Zero => {
            return Some(F80 {
                neg,
                kind: Kind::Zero,
            })
        }
        Exact::Binary { mant, exp2 } => round_binary(neg, &mant, exp2),
        Exact::Decimal {
            digits,
            ndigits,
            exp10,
        } => round_decimal(neg, &digits, ndigits, exp10),
    };
    match v.kind {
        Kind::Finite { .. } => Some(v),
        _ => None,
    }
}

fn round_binary(neg: bool, mant: &Big, exp2: i64) -> F80 {
    // Clamp far-out-of-range exponents: the result is inf or 0 either way, and
    // mant has at most ~20k bits, so the clamp cannot change the outcome.
    let top = exp2 + i64::from(mant.bit_len());
    if top > i64::from(MAX_LSB_EXP) + 64 + 1 {
        return F80::inf(neg);
    }
    if top < i64::from(MIN_LSB_EXP) - 2 {
        return F80 {
            neg,
            kind: Kind::Zero,
        };
    }
    round(neg, mant, i32::try_from(exp2).expect("clamped"), false)
}

/// Rounds `digits * 10^exp10` exactly.
fn round_decimal(neg: bool, digits: &Big, ndigits: i64, exp10: i64) -> F80 {
    // value < 10^(exp10 + ndigits); value >= 10^(exp10 + ndigits - 1).
    debug_assert_eq!(digits.to_decimal().len() as i64, ndigits);
    let mag = exp10 + ndigits;
    if mag > 4934 {
        return F80::inf(neg);
    }
    if mag < -4952 {
        // value < 1e-4952 < half the smallest subnormal (~1.8e-4951).
        return F80 {
            neg,
            kind: Kind::Zero,
        };
    }
    if exp10 >= 0 {
        let p = Big::pow10(u32::try_from(exp10).expect("bounded"));
        let n = mul_big(digits, &p);
        return round(neg, &n, 0, false);
    }
    let den = Big::pow10(u32::try_from(-exp10).expect("bounded"));
    // Scale so the quotient has at least 66 bits (64 + round bit + guard).
    let k = 67 + i64::from(den.bit_len()) - i64::from(digits.bit_len());
    let (num, den) = if k >= 0 {
        (digits.shl(u32::try_from(k).expect("bounded")), den)
    } else {
        (digits.clone(), den.shl(u32::try_from(-k).expect("bounded")))
    };
    let (q, rem_nonzero) = div_small_quotient(&num, &den);
    round(neg, &q, i32::try_from(-k).expect("bounded"), rem_nonzero)
}

/// Schoolbook product.
fn mul_big(a: &Big, b: &Big) -> Big {
    let mut out = vec![0u32; a.limbs.len() + b.limbs.len() + 1];
    for (i, &x) in a.limbs.iter().enumerate() {
        let mut carry = 0u64;
        for (j, &y) in b.limbs.iter().enumerate() {
            let t = u64::from(out[i + j]) + u64::from(x) * u64::from(y) + carry;
            out[i + j] = t as u32;
            carry = t >> 32;
        }
        out[i + b.limbs.len()] = carry as u32;
    }
    let mut r = Big { limbs: out };
    r.trim();
    r
}

/// Bound on quotient bits in [`div_small_quotient`]; the callers scale the
/// operands so the quotient has 66..=68 bits.
const MAX_QUOTIENT_BITS: u32 = 96;

/// `floor(num / den)` and whether the remainder is nonzero, for a quotient of
/// at most `MAX_QUOTIENT_BITS` bits (binary long division).
fn div_small_quotient(num: &Big, den: &Big) -> (Big, bool) {
    let qbits = (num.bit_len() + 1).saturating_sub(den.bit_len());
    assert!(qbits <= MAX_QUOTIENT_BITS, "quotient too wide");
    let mut rem = num.clone();
    let mut q = 0u128;
    for i in (0..qbits).rev() {
        let t = den.shl(i);
        if rem.cmp_big(&t) != Ordering::Less {
            rem = rem.sub(&t);
            q |= 1 << i;
        }
    }
    let qb = Big::from_u64(q as u64).add(&Big::from_u64((q >> 64) as u64).shl(64));
    (qb, !rem.is_zero())
}

// ---------------------------------------------------------------------------
// Formatting (Redis ld2string LD_STR_HUMAN).
// ---------------------------------------------------------------------------

/// Redis `ld2string(.., LD_STR_HUMAN)`: glibc `%.17Lf` (exact value rounded
/// half-to-even at 17 fractional digits), trailing zeros and `.` trimmed, and
/// `-0` printed as `0`. Infinity prints `inf`/`-inf`; NaN prints `nan` (Redis
/// never stores either).
pub fn format_human(x: F80) -> String {
    let (mant, exp) = match x.kind {
        Kind::Nan => return "nan".to_string(),
        Kind::Inf => return if x.neg { "-inf" } else { "inf" }.to_string(),
        Kind::Zero => return "0".to_string(),
        Kind::Finite { mant, exp } => (mant, exp),
    };
    // scaled = round(mant * 2^exp * 10^17)
    let m = mul_big(&Big::from_u64(mant), &Big::pow10(HUMAN_FRAC_DIGITS as u32));
    let scaled = if exp >= 0 {
        m.shl(exp.unsigned_abs())
    } else {
        let sh = exp.unsigned_abs();
        let q = m.shr(sh);
        let half = m.bit(sh - 1);
        let rest = m.any_below(sh - 1);
        let odd = q.bit(0);
        if half && (rest || odd) {
            q.add(&Big::from_u64(1))
        } else {
            q
        }
    };
    let mut digits = scaled.to_decimal();
    if digits.len() <= HUMAN_FRAC_DIGITS {
        digits = format!("{:0>width$}", digits, width = HUMAN_FRAC_DIGITS + 1);
    }
    let (int, frac) = digits.split_at(digits.len() - HUMAN_FRAC_DIGITS);
    let frac = frac.trim_end_matches('0');
    let mut out = String::with_capacity(digits.len() + 2);
    // "-0.00000000000000000" trims to "-0", which Redis rewrites as "0".
    if x.neg && !(int == "0" && frac.is_empty()) {
        out.push('-');
    }
    out.push_str(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

// ---------------------------------------------------------------------------
// Redis-facing helper.
// ---------------------------------------------------------------------------

/// Which command is incrementing: only the "current value is not a float"
/// error text differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatTarget {
    /// INCRBYFLOAT on a string key.
    String,
    /// HINCRBYFLOAT on a hash field.
    HashField,
}

/// Errors of INCRBYFLOAT / HINCRBYFLOAT, with Redis's exact texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncrFloatError {
    /// The stored string is not a float: "ERR value is not a valid float".
    ValueNotFloat,
    /// The stored hash field is not a float: "ERR hash value is not a float".
    HashValueNotFloat,
    /// The increment is not a float: "ERR value is not a valid float".
    IncrNotFloat,
    /// "ERR increment would produce NaN or Infinity".
    NanOrInfinity,
    /// HINCRBYFLOAT only: the increment itself is infinite, checked before the
    /// stored value is read: "ERR value is NaN or Infinity".
    IncrNanOrInfinity,
}

impl IncrFloatError {
    /// The full error line (without the leading `-`).
    pub fn message(self) -> &'static str {
        match self {
            IncrFloatError::ValueNotFloat | IncrFloatError::IncrNotFloat => {
                "ERR value is not a valid float"
            }
            IncrFloatError::HashValueNotFloat => "ERR hash value is not a float",
            IncrFloatError::NanOrInfinity => "ERR increment would produce NaN or Infinity",
            IncrFloatError::IncrNanOrInfinity => "ERR value is NaN or Infinity",
        }
    }
}

/// INCRBYFLOAT / HINCRBYFLOAT: `current` is the stored value (`None` when the
/// key or field is absent, meaning 0). Returns the new value's bytes, which are
/// both what is stored and the bulk reply. HINCRBYFLOAT validates the
/// increment (parse, then "is it infinite") before the stored value (Redis 7.0
/// order); INCRBYFLOAT has no early infinity check and its two parse errors
/// share one text, so its order is unobservable.
pub fn incr_by_float(
    current: Option<&[u8]>,
    incr: &[u8],
    target: FloatTarget,
) -> Result<Vec<u8>, IncrFloatError> {
    let inc = parse(incr).ok_or(IncrFloatError::IncrNotFloat)?;
    if target == FloatTarget::HashField && !inc.is_finite() {
        return Err(IncrFloatError::IncrNanOrInfinity);
    }
    let cur = match current {
        None => F80::ZERO,
        Some(c) => parse(c).ok_or(match target {
            FloatTarget::String => IncrFloatError::ValueNotFloat,
            FloatTarget::HashField => IncrFloatError::HashValueNotFloat,
        })?,
    };
    let sum = add(cur, inc);
    if !sum.is_finite() {
        return Err(IncrFloatError::NanOrInfinity);
    }
    let out = format_human(sum);
    // Largest finite value prints 4933 integer digits + 18: always fits Redis's buffer.
    debug_assert!(out.len() < MAX_LONG_DOUBLE_CHARS);
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (current value or absent, increment, reply) captured from a real
    /// redis-server 7.0.15 (x86-64) with `SET k <current>; INCRBYFLOAT k <incr>`.
    const REDIS_INCRBYFLOAT: &[(Option<&str>, &str, &str)] = &[
        (Some("-100"), "0.1", "-99.9"),
        (Some("0.1"), "0.2", "0.3"),
        (Some("0.3"), "0.1", "0.4"),
        (None, "0.1", "0.1"),
        (Some("9223372036854775807"), "3", "9223372036854775810"),
        (Some("18446744073709551615"), "1", "18446744073709551616"),
        (Some("18446744073709551616"), "0.5", "18446744073709551616"),
        (Some("-1"), "1e308", "99999999999999999996685879655845645660560099847415567207797047994921734868838061872100126921888539320446747225054013223152134749593960583597420814430196418767959100019603190778663109604507106667939153395788938914560543563061268364901618630217086589253444881623791300855757318142424510452728255046343928578048"),
        (Some("0"), "1e400", "10000000000000000000281880683947586514586453433629052038625910693539685534008629862039363994848324160522094053927317616200295822777259255734023828976593340661017797447434546173917862448116674971723778943824391593338047470675026246684401359237513603830343735485505244955964979021825038280091068414947402456898653040951017512658092615827588920183472511643316591362664138176309734806343732497430221946880"),
        (Some("1e4932"), "1e4932", "ERR increment would produce NaN or Infinity"),
        (Some("1.18973149535723176502e+4932"), "0", "1189731495357231765021263853030970205169063322294624200440323733891737005522970722616410290336528882853545697807495577314427443153670288434198125573853743678673593200706973263201915918282961524365529510646791086614311790632169778838896134786560600399148753433211454911160088679845154866512852340149773037600009125479393966223151383622417838542743917838138717805889487540575168226347659235576974805113725649020884855222494791399377585026011773549180099796226026859508558883608159846900235645132346594476384939859276456284579661772930407806609229102715046085388087959327781622986827547830768080040150694942303411728957777100335714010559775242124057347007386251660110828379119623008469277200965153500208474470792443848545912886723000619085126472111951361467527633519562927597957250278002980795904193139603021470997035276467445530922022679656280991498232083329641241038509239184734786121921697210543484287048353408113042573002216421348917347174234800714880751002064390517234247656004721768096486107994943415703476320643558624207443504424380566136017608837478165389027809576975977286860071487028287955567141404632615832623602762896316173978484254486860609948270867968048078702511858930838546584223040908805996294594586201903766048446790926002225410530775901065760671347200125846406957030257138960983757998926954553052368560758683179223113639519468850880771872104705203957587480013143131444254943919940175753169339392366881856189129931729104252921236835159922322050998001677102784035360140829296398115122877768135706045789343535451696539561254048846447169786893211671087229088082778350518228857646062218739702851655083720992349483334435228984751232753726636066213902281264706234075352071724058665079518217303463782631353393706774901950197841690441824738063162828586857741432581165364040218402724913393320949219498422442730427019873044536620350262386957804682003601447291997123095530057206141866974852846856186514832715974481203121946751686379343096189615107330065552421485195201762858595091051839472502863871632494167613804996319791441870254302706758495192008837915169401581740046711477877201459644461175204059453504764721807975761111720846273639279600339670470037613374509553184150073796412605047923251661354841291884211340823015473304754067072818763503617332908005951896325207071673904547777129682265206225651439919376804400292380903112437912614776255964694221981375146967079446870358004392507659451618379811859392049544036114915310782251072691486979809240946772142727012404377187409216756613634938900451232351668146089322400697993176017805338191849981933008410985993938760292601390911414526003720284872132411955424282101831204216104467404621635336900583664606591156298764745525068145003932941404131495400677602951005962253022823003631473824681059648442441324864573137437595096416168048024129351876204668135636877532814675538798871771836512893947195335061885003267607354388673368002074387849657014576090349857571243045102038730494854256702479339322809110526041538528994849203991091946129912491633289917998094380337879522093131466946149705939664152375949285890960489916121944989986384837022486672249148924678410206183364627416969576307632480235587975245253737035433882960862753427740016333434055083537048507374544819754722228975281083020898682633020285259923084168054539687911418297629988964576482765287504562854924265165217750799516259669229114977788962356670956627138482018191348321687995863652637620978285070099337294396784639879024914514222742527006363942327998483976739987154418554201562244154926653014515504685489258620276085761837129763358761215382565129633538141663949516556000264159186554850057052611431952919918807954522394649627635630178580896692226406235382898535867595990647008385687123810329591926494846250768992258419305480763620215089022149220528069842018350840586938493815498909445461977893029113576516775406232278298314033473276603952231603422824717528181818844304880921321933550869873395861276073670866652375555675803171490108477320096424318780070008797346032906278943553743564448851907191616455141155761939399690767415156402826543664026760095087523945507341556135867933066031744720924446513532366647649735400851967040771103640538150073486891798364049570606189535005089840913826869535090066783324472578712196604415284924840041850932811908963634175739897166596000759487800619164094854338758520657116541072260996288150123144377944008749301944744330784388995701842710004808305012177123560622895076269042856800047718893158089358515593863176652948089031267747029662545110861548958395087796755464137944895960527975209874813839762578592105756284401759349324162148339565350189196811389091843795734703269406342890087805846940352453479398080674273236297887100867175802531561302356064878709259865288416350972529537091114317204887747405539054009425375424119317944175137064689643861517718849867010341532542385911089624710885385808688837777258648564145934262121086647588489260031762345960769508849149662444156604419552086811989770240"),
        (Some("1"), "1e4933", "ERR value is not a valid float"),
        (Some("1"), "1e-4000", "1"),
        (Some("0"), "1e-4000", "0"),
        (Some("0"), "1e-4960", "ERR value is not a valid float"),
        (Some("0x10"), "5e-3", "16.005"),
        (Some("0x1p3"), "0x.8", "8.5"),
        (Some("0X1P-18"), "0", "0.00000381469726562"),
        (Some("0"), "0x1p-18", "0.00000381469726562"),
        (Some("1"), "+inf", "ERR increment would produce NaN or Infinity"),
        (Some("1"), "-Infinity", "ERR increment would produce NaN or Infinity"),
        (Some("1"), "inf", "ERR increment would produce NaN or Infinity"),
        (Some("-0"), "0", "0"),
        (Some("-0"), "-0", "0"),
        (Some("0"), "-0.0000000000000000001", "0"),
        (Some("1.5"), "-1.5", "0"),
        (Some("12345678901234567890123456789"), "1", "12345678901234567890421678080"),
        (Some("1"), " 1", "ERR value is not a valid float"),
        (Some("1"), "1 ", "ERR value is not a valid float"),
        (Some("1"), "", "ERR value is not a valid float"),
        (Some("1"), "nan", "ERR value is not a valid float"),
        (Some("1"), "1e", "ERR value is not a valid float"),
        (Some("1"), "--1", "ERR value is not a valid float"),
        (Some(" 1"), "1", "ERR value is not a valid float"),
        (Some("abc"), "1", "ERR value is not a valid float"),
        (Some("1"), "1e+3", "1001"),
        (Some("1"), "1E+03", "1001"),
        (Some("1"), ".5", "1.5"),
        (Some("1"), "5.", "6"),
        (Some("1"), ".", "ERR value is not a valid float"),
        (Some("1"), "0x", "ERR value is not a valid float"),
        (Some("1"), "+.5e-1", "1.05"),
        (Some("3.0e3"), "-2.5e+2", "2750"),
        (Some("1"), "0.00000000000000001", "1.00000000000000001"),
        (Some("1"), "0.000000000000000015", "1.00000000000000001"),
        (Some("1"), "0.000000000000000025", "1.00000000000000003"),
        (Some("0"), "5e-18", "0"),
        (Some("0"), "1.5e-17", "0.00000000000000002"),
        (Some("100"), "-0.00000000000000001", "99.99999999999999999"),
        (Some("0"), "123456789.123456789123456789", "123456789.12345678912242875"),
        (Some("10.5"), "0x1.8p1", "13.5"),
        (Some("1"), "infinity", "ERR increment would produce NaN or Infinity"),
        (Some("0"), "-1e-20", "0"),
        (Some("1"), "1e-4950", "1"),
        (Some("0"), "3.6e-4951", "0"),
        (Some("0"), "1e-4951", "ERR value is not a valid float"),
        (Some("0"), "0.1e-4950", "ERR value is not a valid float"),
    ];

    /// A sample of a 6000-case randomized differential run against the same
    /// redis-server (subnormals, overflow edge, exact binary fractions whose
    /// `%.17Lf` rounding ties, near-2^64 midpoints, long digit strings).
    const REDIS_INCRBYFLOAT_HARD: &[(Option<&str>, &str, &str)] = &[
        (
            Some("+181978"),
            "8659848728688851247211.72478643138126062",
            "8659848728688851428864",
        ),
        (
            Some("0x233c027978c3p-72"),
            "0.000000047657",
            "0.000000055860651",
        ),
        (
            Some("0x1.692bdc5e2cd46ed5p-11755"),
            "+639.6",
            "639.59999999999999998",
        ),
        (
            Some("-0x1.25dabe69340d34a8p-5490"),
            "-3900315890635428321",
            "-3900315890635428321",
        ),
        (None, "0.0000000000000000043438", "0"),
        (None, "+0.0000000000000009423", "0.00000000000000094"),
        (
            Some("+0.000000000000056922"),
            "-0.00000000081230",
            "-0.00000000081224308",
        ),
        (
            Some("-52842"),
            "+13246382.15364",
            "13193540.15364000000045053",
        ),
        (
            Some("+0xf4EA.9cfaCd5F9cc3a86D"),
            "-0x1Edddp-6706",
            "62698.61320193847929261",
        ),
        (Some("9630496251610"), "-0x8e20p-87", "9630496251610"),
        (
            Some("614662810348.42901216424"),
            "+805.246779907339767E-1377",
            "614662810348.42901217937469482",
        ),
        (
            Some("0x1.6b7e0ee9add6812fp-15176"),
            "0.0000000000000028853",
            "0.00000000000000289",
        ),
        (
            Some("86262052233638959354510630e-4968"),
            "-0x4179dea04d9816ap-61",
            "-0.12788291651558852",
        ),
        (None, "0x8d5787a903p-17", "4631491.83010101318359375"),
        (
            Some("0xc870386p-33"),
            "4204582287136867166.05108901371477",
            "4204582287136867166",
        ),
        (
            Some("-38e-4950"),
            "632281977183634.384643611125001860",
            "632281977183634.3846435546875",
        ),
        (
            Some("-295147905179352825904.4999999999999999999999"),
            "-0x11p-66",
            "-295147905179352825920",
        ),
        (
            Some("-147573952589676412944.50000000000000000001"),
            "-77125e-4945",
            "-147573952589676412944",
        ),
        (
            Some("9223372036854775807"),
            "0xbab882873p-28",
            "9223372036854775994",
        ),
        (None, "0xa8372bb3f180p-86", "0.00000000000239049"),
        (Some("-9007199254740995"), "-61e-4944", "-9007199254740995"),
        (
            Some("-0x5313491bp-28"),
            "-0x9210f2bp-87",
            "-5.19220839068293572",
        ),
        (
            Some("-0x1.2c4b589b78983cc1p-11698"),
            "18446744073709551612",
            "18446744073709551612",
        ),
        (
            Some("7522926013713202884567e-4943"),
            "0x50170699bf3950dfp-33",
            "671843148.87348416063468903",
        ),
        (
            Some("0x2b90e4b07p-66"),
            "-232347735239498949024314853e-758",
            "0.00000000015849215",
        ),
        (
            Some("-0x1bc6773fp-6"),
            "0x51a314b56904fdp-34",
            "-5943575.80721656995592639",
        ),
        (None, "90676608743541278837.15856", "90676608743541278840"),
        (
            Some("-461470996559173617440057e-586"),
            "0.000000000000000066194",
            "0.00000000000000007",
        ),
        (None, "-5556154742475292e-4964", "0"),
        (
            Some("0x1.1bb6d3fd1fd0706bp-14337"),
            "4503599627370495",
            "4503599627370495",
        ),
        (
            Some("4302360458215243046073600935127550E-3487"),
            "73786976294838206472.5",
            "73786976294838206472",
        ),
        (
            Some("41524574678222.136369"),
            "-0x1c5e348p-72",
            "41524574678222.1363677978515625",
        ),
        (
            Some("-3803785907"),
            "-36893488147419103236",
            "-36893488151222889144",
        ),
        (
            Some("66E-1319"),
            "0xe62d03c8308eae1p-48",
            "3682.81342333762848185",
        ),
        (None, "0XeaDbEAF3e.DcDea7", "63044497214.86277240514755249"),
        (
            Some("+0.0066956"),
            "677035818029321305110878215e-4964",
            "0.0066956",
        ),
        (
            None,
            "-1267650600228229401496703205376",
            "-1267650600228229401496703205376",
        ),
        (
            Some("0.000027544"),
            "36893488147419103236",
            "36893488147419103236",
        ),
        (
            Some("-10938942."),
            "-0x1.08460d500dfc8907p-8695",
            "-10938942",
        ),
        (
            Some("-0xA56.BeE2bc0"),
            "590295810358705651744",
            "590295810358705649056",
        ),
        (
            Some("0XAdAc0D2AafB0b99bF2EP-12428"),
            "-60444178742083416e-4985",
            "ERR value is not a valid float",
        ),
        (
            None,
            "1.18973149535723176674516e+4932",
            "ERR value is not a valid float",
        ),
        (
            Some("683e-4980"),
            "-0xc4b2d8fc40accc42ep-85",
            "ERR value is not a valid float",
        ),
        (
            Some("-4.611686018427388e+18.50000000000000000001"),
            "-4503599627370492",
            "ERR value is not a valid float",
        ),
        (
            Some("4e-4969"),
            "0.0000000000054066",
            "ERR value is not a valid float",
        ),
        (
            Some("0x195756af4a476c42p-19"),
            "-346857e-4967",
            "ERR value is not a valid float",
        ),
        (
            Some("866719.199723920"),
            "-2.305843009213694e+18.50000000000000000001",
            "ERR value is not a valid float",
        ),
        (
            Some("1.18973149535723176963634e+4932"),
            "0.00000008815",
            "ERR value is not a valid float",
        ),
        (
            Some("0x8d5d671eac96d7p-88"),
            "0x1p",
            "ERR value is not a valid float",
        ),
        (
            Some("-8636e-4971"),
            "+9313454481215023133758523.9508798442229483743347008",
            "ERR value is not a valid float",
        ),
        (
            Some("36893488147419103234.5"),
            "-51127168e-4963",
            "ERR value is not a valid float",
        ),
        (None, "1.2.3", "ERR value is not a valid float"),
    ];

    fn reply(r: Result<Vec<u8>, IncrFloatError>) -> String {
        match r {
            Ok(v) => String::from_utf8(v).expect("ascii"),
            Err(e) => e.message().to_string(),
        }
    }

    #[test]
    fn matches_real_redis_incrbyfloat() {
        assert!(REDIS_INCRBYFLOAT.len() >= 40);
        assert!(REDIS_INCRBYFLOAT_HARD.len() >= 40);
        for &(cur, inc, want) in REDIS_INCRBYFLOAT.iter().chain(REDIS_INCRBYFLOAT_HARD) {
            let got = reply(incr_by_float(
                cur.map(str::as_bytes),
                inc.as_bytes(),
                FloatTarget::String,
            ));
            assert_eq!(got, want, "current {cur:?} incr {inc:?}");
        }
    }

    #[test]
    fn matches_real_redis_hincrbyfloat_errors() {
        // Captured with HSET h f <cur>; HINCRBYFLOAT h f <incr> on redis 7.0.15.
        let cases: &[(Option<&str>, &str, &str)] = &[
            (Some("abc"), "1", "ERR hash value is not a float"),
            (Some("abc"), "x", "ERR value is not a valid float"),
            (None, "1e4933", "ERR value is not a valid float"),
            (Some(" 2"), "1", "ERR hash value is not a float"),
            (None, "0.1", "0.1"),
            // Captured from the differential run: the early increment check.
            (
                Some("-147573952589676412944"),
                "-inf",
                "ERR value is NaN or Infinity",
            ),
            (Some("inf"), "-inf", "ERR value is NaN or Infinity"),
            (
                Some("-1.1897314953572317698381e+4932"),
                "inf",
                "ERR value is NaN or Infinity",
            ),
            (Some("abc"), "+Infinity", "ERR value is NaN or Infinity"),
            (
                Some("inf"),
                "1",
                "ERR increment would produce NaN or Infinity",
            ),
        ];
        for &(cur, inc, want) in cases {
            let got = reply(incr_by_float(
                cur.map(str::as_bytes),
                inc.as_bytes(),
                FloatTarget::HashField,
            ));
            assert_eq!(got, want, "current {cur:?} incr {inc:?}");
        }
    }

    #[test]
    fn hincrbyfloat_1e4932_value_and_overflow() {
        // redis: HINCRBYFLOAT h z 0.1 -> 0.1; then 1e4932 -> a 4933-digit
        // integer; then 1e4932 again -> NaN/Infinity error.
        let v = incr_by_float(Some(b"0.1"), b"1e4932", FloatTarget::HashField).unwrap();
        assert_eq!(v.len(), 4933);
        assert!(v.starts_with(b"10000000000000000000060189493879638913238"));
        assert!(v.ends_with(b"8113791886622720"));
        assert_eq!(
            incr_by_float(Some(&v), b"1e4932", FloatTarget::HashField),
            Err(IncrFloatError::NanOrInfinity)
        );
    }

    #[test]
    fn long_inputs_match_real_redis() {
        // redis 7.0.15: INCRBYFLOAT with "1." + 5117 zeros (5119 bytes) -> "1";
        // one more zero (5120 bytes) -> not a valid float; 0.(3000 threes) ->
        // 0.33333333333333333.
        let mut a = b"1.".to_vec();
        a.extend(std::iter::repeat_n(b'0', 5117));
        assert_eq!(reply(incr_by_float(None, &a, FloatTarget::String)), "1");
        assert_eq!(
            reply(incr_by_float(Some(&a), b"1", FloatTarget::String)),
            "2"
        );
        a.push(b'0');
        assert_eq!(
            reply(incr_by_float(None, &a, FloatTarget::String)),
            "ERR value is not a valid float"
        );
        assert_eq!(
            reply(incr_by_float(Some(&a), b"1", FloatTarget::String)),
            "ERR value is not a valid float"
        );
        let mut c = b"0.".to_vec();
        c.extend(std::iter::repeat_n(b'3', 3000));
        assert_eq!(
            reply(incr_by_float(None, &c, FloatTarget::String)),
            "0.33333333333333333"
        );
    }

    #[test]
    fn parse_rejections_and_limits() {
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"\t1",
            b"nan",
            b"-nan",
            b"1e",
            b"1e+",
            b"--1",
            b".",
            b"0x",
            b"0x1p",
            b"infin",
            b"1\x002",
            b"e5",
            b"1e4933",
            b"-1e4933",
            b"1e-4960",
            b"0x1p-16500",
            b"0x1p16384",
        ] {
            assert_eq!(parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        let long = vec![b'1'; MAX_LONG_DOUBLE_CHARS];
        assert_eq!(parse(&long), None);
        let ok_long = vec![b'1'; MAX_LONG_DOUBLE_CHARS - 1];
        assert!(parse(&ok_long).is_none(), "5119 digits overflow");
        let mut zeros = b"0.".to_vec();
        zeros.extend(std::iter::repeat_n(b'0', 5000));
        zeros.push(b'1');
        assert_eq!(parse(&zeros), None, "underflows to zero");
        assert_eq!(parse(b"0e-99999999999"), Some(F80::ZERO));
        assert_eq!(parse(b"INFINITY"), Some(F80::inf(false)));
        assert_eq!(parse(b"-Inf"), Some(F80::inf(true)));
    }

    #[test]
    fn parse_exact_values() {
        assert_eq!(parse(b"0x10"), Some(F80::from_i64(16)));
        assert_eq!(parse(b"1e3"), Some(F80::from_i64(1000)));
        assert_eq!(
            parse(b"-9223372036854775808"),
            Some(F80::from_i64(i64::MIN))
        );
        // 2^64 - 1 is exactly representable; 2^64 + 1 rounds to 2^64 (tie to even).
        let max = parse(b"18446744073709551615").unwrap();
        assert_eq!(format_human(max), "18446744073709551615");
        assert_eq!(
            format_human(parse(b"18446744073709551617").unwrap()),
            "18446744073709551616"
        );
        // 2^64 + 3 is a tie between 2^64+2 and 2^64+4: even mantissa wins.
        assert_eq!(
            format_human(parse(b"18446744073709551619").unwrap()),
            "18446744073709551620"
        );
        // Smallest subnormal and the largest finite value.
        let tiny = parse(b"0x1p-16445").unwrap();
        assert_eq!(
            tiny.kind,
            Kind::Finite {
                mant: 1,
                exp: MIN_LSB_EXP
            }
        );
        assert_eq!(parse(b"3.6e-4951"), Some(tiny));
        let big = parse(b"0x1.fffffffffffffffep16383").unwrap();
        assert_eq!(
            big.kind,
            Kind::Finite {
                mant: u64::MAX,
                exp: MAX_LSB_EXP
            }
        );
        assert_eq!(parse(b"1.18973149535723176502e+4932"), Some(big));
        assert!(!add(big, big).is_finite());
    }

    #[test]
    fn add_special_values() {
        let inf = F80::inf(false);
        let ninf = F80::inf(true);
        let nz = parse(b"-0").unwrap();
        assert!(add(inf, ninf).is_nan());
        assert_eq!(add(inf, F80::from_i64(1)), inf);
        assert_eq!(add(nz, nz), nz);
        assert_eq!(add(nz, F80::ZERO), F80::ZERO);
        assert_eq!(add(F80::from_i64(5), F80::from_i64(-5)), F80::ZERO);
        // 1 + 2^-64 is a tie: rounds to 1 (even); 1 + 2^-64 + tiny rounds up.
        let one = F80::from_i64(1);
        let half_ulp = parse(b"0x1p-64").unwrap();
        assert_eq!(add(one, half_ulp), one);
        let up = add(one, parse(b"0x1.8p-64").unwrap());
        assert_eq!(up, add(one, parse(b"0x1p-63").unwrap()));
        assert_ne!(up, one);
        // A far-smaller addend only matters as a sticky bit.
        let tiny = parse(b"1e-4000").unwrap();
        assert_eq!(add(one, tiny), one);
        assert_eq!(format_human(add(one, parse(b"-1e-4000").unwrap())), "1");
    }

    #[test]
    fn to_f64_examples() {
        assert_eq!(
            parse(b"-6.8160858154296875").unwrap().to_f64(),
            -6.8160858154296875
        );
        assert_eq!(parse(b"0.1").unwrap().to_f64(), 0.1);
        assert_eq!(parse(b"-2.5").unwrap().to_f64(), -2.5);
        assert_eq!(parse(b"1e400").unwrap().to_f64(), f64::INFINITY);
        assert_eq!(parse(b"4.9406564584124654e-324").unwrap().to_f64(), 5e-324);
        assert_eq!(parse(b"1e-400").unwrap().to_f64(), 0.0);
        assert!(is_finite(parse(b"1").unwrap()));
        assert_eq!(to_f64(F80::ZERO), 0.0);
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn add_is_commutative(a in any::<f64>(), b in any::<f64>(), ea in -60i32..60, eb in -60i32..60) {
            let pa = parse(format!("{:e}", a * 2f64.powi(ea)).as_bytes());
            let pb = parse(format!("{:e}", b * 2f64.powi(eb)).as_bytes());
            if let (Some(pa), Some(pb)) = (pa, pb) {
                prop_assert_eq!(add(pa, pb), add(pb, pa));
            }
        }

        #[test]
        fn parse_f64_text_round_trips_through_to_f64(a in any::<f64>()) {
            prop_assume!(a.is_finite() && a != 0.0);
            // Exact hex text of `a` (no host float parsing involved).
            let bits = a.to_bits();
            let raw_exp = ((bits >> 52) & 0x7ff) as i64;
            let frac = bits & ((1 << 52) - 1);
            let (m, e) = if raw_exp == 0 { (frac, -1074) } else { (frac | (1 << 52), raw_exp - 1075) };
            let sign = if a < 0.0 { "-" } else { "" };
            let p = parse(format!("{sign}0x{m:x}p{e}").as_bytes()).expect("hex parses");
            prop_assert_eq!(p.to_f64(), a);
            // Decimal and scientific spellings of one number parse alike.
            let d = parse(format!("{a}").as_bytes()).expect("decimal parses");
            let sci = parse(format!("{a:e}").as_bytes()).expect("scientific parses");
            prop_assert_eq!(d, sci);
        }

        #[test]
        fn integer_sums_are_exact(a in -(1i64 << 62)..(1i64 << 62), b in -(1i64 << 62)..(1i64 << 62)) {
            let s = add(F80::from_i64(a), F80::from_i64(b));
            prop_assert_eq!(format_human(s), (a + b).to_string());
        }

        #[test]
        fn f64_sums_match_hardware_when_exact(a in -1_000_000i64..1_000_000, b in -1_000_000i64..1_000_000, k in 0u32..20) {
            // a/2^k + b/2^k is exact in both formats; compare with f64.
            let d = 2f64.powi(k as i32);
            let fa = a as f64 / d;
            let fb = b as f64 / d;
            // Exact hex text: shortest-decimal f64 text need not be exact in 80 bits.
            let hex = |v: i64| format!("{}0x{:x}p-{k}", if v < 0 { "-" } else { "" }, v.unsigned_abs());
            let s = add(parse(hex(a).as_bytes()).unwrap(), parse(hex(b).as_bytes()).unwrap());
            prop_assert_eq!(s.to_f64(), fa + fb);
        }
    }
}

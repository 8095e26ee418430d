//! Extended-precision arithmetic in software, with the x87's rounding
//! control, precision control, exception flags, its "rounded up" C1 bit
//! and its masked and unmasked responses (SDM vol. 1, 4.7-4.9 and 8.5).
//!
//! Pure Rust on `u128` rather than Berkeley SoftFloat through
//! softfloat-sys: that crate's build script refuses every host but
//! x86-64 Linux (xlat must build on aarch64 hosts), its state lives in C
//! thread-locals, and it reports neither the round-up bit (C1) nor the
//! exponent-adjusted results of unmasked overflow and underflow, which
//! the x87 needs.

use super::float80::{sw, Class, BIAS, F80, J};
use std::cmp::Ordering;

/// Rounding control (FCW bits 10-11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    Nearest,
    Down,
    Up,
    Zero,
}

impl Rounding {
    pub fn from_bits(rc: u16) -> Rounding {
        match rc & 3 {
            0 => Rounding::Nearest,
            1 => Rounding::Down,
            2 => Rounding::Up,
            _ => Rounding::Zero,
        }
    }
}

/// The x87 detects tininess after rounding: a result that rounds up to
/// the smallest normal is not tiny (checked against the host by the
/// tests).
const TININESS_AFTER_ROUNDING: bool = true;

/// One operation's view of the control word, and what it reports.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    pub rc: Rounding,
    /// Significand bits kept by precision-controlled operations: 24, 53
    /// or 64 (FCW bits 8-9).
    pub prec: u32,
    /// The exception masks (FCW bits 0-5).
    pub masks: u16,
    /// Exception flags raised (status-word positions).
    pub flags: u16,
    /// The last rounding increased the magnitude (C1 when PE is set).
    pub c1: bool,
}

impl Ctx {
    pub fn new(fcw: u16) -> Ctx {
        Ctx {
            rc: Rounding::from_bits(fcw >> 10),
            prec: match (fcw >> 8) & 3 {
                0 => 24,
                2 => 53,
                // 1 is reserved; the hardware treats it as 64 bits.
                _ => 64,
            },
            masks: fcw & sw::EXCEPTIONS,
            flags: 0,
            c1: false,
        }
    }

    /// Whether an exception in `f` is unmasked.
    #[inline]
    pub fn unmasked(&self, f: u16) -> bool {
        self.masks & f != f
    }

    /// Raised flags whose exceptions are unmasked.
    #[inline]
    pub fn unmasked_raised(&self) -> u16 {
        self.flags & !self.masks & sw::EXCEPTIONS
    }

    /// Invalid operation; its masked response is the QNaN indefinite.
    pub fn invalid(&mut self) -> F80 {
        self.flags |= sw::IE;
        F80::INDEFINITE
    }

    /// Raises #D when any operand is a denormal; true when the instruction
    /// must stop there (the exception is unmasked).
    pub fn denormal_operands(&mut self, ops: &[F80]) -> bool {
        if ops.iter().any(|o| o.is_denormal()) {
            self.flags |= sw::DE;
            return self.unmasked(sw::DE);
        }
        false
    }
}

/// A destination format for rounding: significand bits and the unbiased
/// exponent range of its normals, plus the exponent adjustment the x87
/// applies to results of unmasked overflow and underflow (SDM vol. 1,
/// 4.9.1.4).
#[derive(Clone, Copy, Debug)]
pub struct Format {
    pub prec: u32,
    pub emin: i32,
    pub emax: i32,
    pub adjust: i32,
}

pub const EXTENDED: Format = Format {
    prec: 64,
    emin: 1 - BIAS,
    emax: BIAS,
    adjust: 24576,
};
pub const DOUBLE: Format = Format {
    prec: 53,
    emin: -1022,
    emax: 1023,
    adjust: 1536,
};
pub const SINGLE: Format = Format {
    prec: 24,
    emin: -126,
    emax: 127,
    adjust: 192,
};

/// A rounded result before encoding: `sig` holds the kept bits with the
/// integer bit at 63 (clear for a denormal, whose exponent is `emin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rounded {
    pub sign: bool,
    pub exp: i32,
    pub sig: u64,
    pub inf: bool,
}

/// Shifts right, OR-ing every bit shifted out into bit 0 (sticky).
#[inline]
pub fn shift_right_jam(x: u128, d: u32) -> u128 {
    match d {
        0 => x,
        1..=127 => (x >> d) | ((x << (128 - d)) != 0) as u128,
        _ => (x != 0) as u128,
    }
}

/// Whether dropping the low `shift` bits of `sig` rounds the kept part up.
#[inline]
fn round_up(rc: Rounding, sign: bool, sig: u128, shift: u32) -> bool {
    let rest = sig & ((1u128 << shift) - 1);
    if rest == 0 {
        return false;
    }
    match rc {
        Rounding::Nearest => {
            let half = 1u128 << (shift - 1);
            rest > half || (rest == half && (sig >> shift) & 1 == 1)
        }
        Rounding::Up => !sign,
        Rounding::Down => sign,
        Rounding::Zero => false,
    }
}

/// Rounds `sig * 2^(e - 127)` (bit 127 of `sig` set) to `prec` bits in
/// format `f`, raising PE/UE/OE with the x87's masked and unmasked
/// responses.
pub fn round(c: &mut Ctx, f: &Format, prec: u32, sign: bool, e: i32, sig: u128) -> Rounded {
    debug_assert!(sig >> 127 == 1);
    let shift = 128 - prec;
    let keep = |m: u128| (m << (64 - prec)) as u64;
    if e < f.emin {
        let carries = round_up(c.rc, sign, sig, shift) && (sig >> shift) + 1 == 1u128 << prec;
        let tiny = !(TININESS_AFTER_ROUNDING && e == f.emin - 1 && carries);
        if tiny && c.unmasked(sw::UE) {
            // Unmasked underflow: the rounded significand with the
            // exponent biased up into range.
            c.flags |= sw::UE;
            let mut r = round_normal(c, f, prec, sign, e, sig);
            r.exp += f.adjust;
            if r.exp < f.emin {
                // Still out of range after the adjustment (only FSCALE
                // gets here): a signed zero.
                c.flags |= sw::PE;
                c.c1 = false;
                return Rounded {
                    sign,
                    exp: f.emin,
                    sig: 0,
                    inf: false,
                };
            }
            return r;
        }
        let den = shift_right_jam(sig, (f.emin - e) as u32);
        let inexact = den & ((1u128 << shift) - 1) != 0;
        let up = round_up(c.rc, sign, den, shift);
        let m = (den >> shift) + up as u128;
        c.c1 = up;
        if inexact {
            c.flags |= sw::PE;
            if tiny {
                c.flags |= sw::UE;
            }
        }
        return Rounded {
            sign,
            exp: f.emin,
            sig: keep(m),
            inf: false,
        };
    }
    let r = round_normal(c, f, prec, sign, e, sig);
    if r.exp <= f.emax {
        return r;
    }
    if c.unmasked(sw::OE) {
        c.flags |= sw::OE;
        if r.exp - f.adjust > f.emax {
            // Beyond the adjustment's reach (FSCALE): infinity.
            c.flags |= sw::PE;
            c.c1 = true;
            return Rounded {
                sign,
                exp: f.emax,
                sig: J,
                inf: true,
            };
        }
        return Rounded {
            exp: r.exp - f.adjust,
            ..r
        };
    }
    c.flags |= sw::OE | sw::PE;
    let to_inf = match c.rc {
        Rounding::Nearest => true,
        Rounding::Up => !sign,
        Rounding::Down => sign,
        Rounding::Zero => false,
    };
    c.c1 = to_inf;
    Rounded {
        sign,
        exp: f.emax,
        sig: if to_inf { J } else { keep((1u128 << prec) - 1) },
        inf: to_inf,
    }
}

/// Rounding with an unbounded exponent.
fn round_normal(c: &mut Ctx, _f: &Format, prec: u32, sign: bool, e: i32, sig: u128) -> Rounded {
    let shift = 128 - prec;
    let inexact = sig & ((1u128 << shift) - 1) != 0;
    let up = round_up(c.rc, sign, sig, shift);
    let mut m = (sig >> shift) + up as u128;
    let mut e = e;
    if m >> prec != 0 {
        m >>= 1;
        e += 1;
    }
    if inexact {
        c.flags |= sw::PE;
    }
    c.c1 = up;
    Rounded {
        sign,
        exp: e,
        sig: (m << (64 - prec)) as u64,
        inf: false,
    }
}

pub fn pack_extended(r: Rounded) -> F80 {
    if r.inf {
        F80::infinity(r.sign)
    } else if r.sig == 0 {
        F80::zero(r.sign)
    } else if r.sig & J == 0 {
        F80::new(r.sign, 0, r.sig)
    } else {
        F80::new(r.sign, (r.exp + BIAS) as u16, r.sig)
    }
}

/// Encodes a rounded result as an IEEE single or double (`frac_bits` 23 or
/// 52, `bias` 127 or 1023).
pub fn pack_ieee(r: Rounded, frac_bits: u32, bias: i32) -> u64 {
    let (exp_max, sign_bit) = if frac_bits == 23 {
        (0xffu64, (r.sign as u64) << 31)
    } else {
        (0x7ffu64, (r.sign as u64) << 63)
    };
    if r.inf {
        return sign_bit | (exp_max << frac_bits);
    }
    let frac = (r.sig >> (63 - frac_bits)) & ((1u64 << frac_bits) - 1);
    if r.sig & J == 0 {
        return sign_bit | frac;
    }
    sign_bit | (((r.exp + bias) as u64) << frac_bits) | frac
}

/// Normalises a nonzero `sig * 2^(e - 127)` and rounds it to the
/// precision-controlled extended result.
pub fn round_extended(c: &mut Ctx, sign: bool, e: i32, sig: u128) -> F80 {
    let prec = c.prec;
    round_extended_to(c, prec, sign, e, sig)
}

/// `round_extended` at an explicit precision (instructions that ignore PC
/// round to 64 bits).
pub fn round_extended_to(c: &mut Ctx, prec: u32, sign: bool, e: i32, sig: u128) -> F80 {
    let lz = sig.leading_zeros();
    pack_extended(round(c, &EXTENDED, prec, sign, e - lz as i32, sig << lz))
}

/// x87 NaN propagation for two operands (SDM vol. 1, table 4-7): an SNaN
/// raises #IA; an SNaN against a QNaN yields the QNaN; two NaNs of the
/// same kind yield the one with the larger significand.
pub fn propagate_nan(c: &mut Ctx, a: F80, b: F80) -> F80 {
    if a.is_snan() || b.is_snan() {
        c.flags |= sw::IE;
    }
    let r = match (a.is_nan(), b.is_nan()) {
        (true, false) => a,
        (false, true) => b,
        _ if a.is_snan() != b.is_snan() => {
            if a.is_snan() {
                b
            } else {
                a
            }
        }
        _ => {
            let (ma, mb) = (a.sig | (1 << 62), b.sig | (1 << 62));
            match ma.cmp(&mb) {
                Ordering::Greater => a,
                Ordering::Less => b,
                Ordering::Equal => {
                    if a.se <= b.se {
                        a
                    } else {
                        b
                    }
                }
            }
        }
    };
    r.quiet()
}

/// One-operand NaN/unsupported handling: `Some(result)` when settled.
pub fn special1(c: &mut Ctx, a: F80) -> Option<F80> {
    match a.class() {
        Class::Unsupported => Some(c.invalid()),
        Class::SNaN => {
            c.flags |= sw::IE;
            Some(a.quiet())
        }
        Class::QNaN => Some(a),
        _ => None,
    }
}

/// Two-operand NaN/unsupported handling: `Some(result)` when settled.
pub fn special2(c: &mut Ctx, a: F80, b: F80) -> Option<F80> {
    if a.is_unsupported() || b.is_unsupported() {
        return Some(c.invalid());
    }
    if a.is_nan() || b.is_nan() {
        return Some(propagate_nan(c, a, b));
    }
    None
}

/// a + b, or a - b when `sub`.
pub fn add(c: &mut Ctx, a: F80, b: F80, sub: bool) -> F80 {
    if let Some(r) = special2(c, a, b) {
        return r;
    }
    let b = if sub { b.negate() } else { b };
    match (a.class(), b.class()) {
        (Class::Infinity, Class::Infinity) => {
            return if a.sign() == b.sign() { a } else { c.invalid() };
        }
        (Class::Infinity, _) => {
            c.denormal_operands(&[b]);
            return a;
        }
        (_, Class::Infinity) => {
            c.denormal_operands(&[a]);
            return b;
        }
        _ => {}
    }
    if c.denormal_operands(&[a, b]) {
        return F80::INDEFINITE;
    }
    match (a.is_zero(), b.is_zero()) {
        (true, true) => {
            let sign = if a.sign() == b.sign() {
                a.sign()
            } else {
                c.rc == Rounding::Down
            };
            return F80::zero(sign);
        }
        (true, false) => return reround(c, b),
        (false, true) => return reround(c, a),
        _ => {}
    }
    let (mut sa, mut ea, mut ma) = a.unpack();
    let (mut sb, mut eb, mut mb) = b.unpack();
    if eb > ea || (eb == ea && mb > ma) {
        std::mem::swap(&mut sa, &mut sb);
        std::mem::swap(&mut ea, &mut eb);
        std::mem::swap(&mut ma, &mut mb);
    }
    // The integer bit at 125 leaves room for a carry; the 62 bits below
    // the significand keep exact guard bits for any cancellation.
    let x = (ma as u128) << 62;
    let y = shift_right_jam((mb as u128) << 62, (ea - eb).min(200) as u32);
    let (sign, sum) = if sa == sb { (sa, x + y) } else { (sa, x - y) };
    if sum == 0 {
        return F80::zero(c.rc == Rounding::Down);
    }
    round_extended(c, sign, ea + 2, sum)
}

/// A finite value rounded to the current precision (x + 0).
fn reround(c: &mut Ctx, a: F80) -> F80 {
    let (s, e, m) = a.unpack();
    round_extended(c, s, e, (m as u128) << 64)
}

pub fn mul(c: &mut Ctx, a: F80, b: F80) -> F80 {
    if let Some(r) = special2(c, a, b) {
        return r;
    }
    let sign = a.sign() != b.sign();
    let (ca, cb) = (a.class(), b.class());
    match (ca, cb) {
        (Class::Infinity, Class::Zero) | (Class::Zero, Class::Infinity) => return c.invalid(),
        (Class::Infinity, _) | (_, Class::Infinity) => {
            c.denormal_operands(&[a, b]);
            return F80::infinity(sign);
        }
        _ => {}
    }
    if c.denormal_operands(&[a, b]) {
        return F80::INDEFINITE;
    }
    if a.is_zero() || b.is_zero() {
        return F80::zero(sign);
    }
    let (_, ea, ma) = a.unpack();
    let (_, eb, mb) = b.unpack();
    round_extended(c, sign, ea + eb + 1, ma as u128 * mb as u128)
}

pub fn div(c: &mut Ctx, a: F80, b: F80) -> F80 {
    if let Some(r) = special2(c, a, b) {
        return r;
    }
    let sign = a.sign() != b.sign();
    match (a.class(), b.class()) {
        (Class::Infinity, Class::Infinity) | (Class::Zero, Class::Zero) => return c.invalid(),
        (Class::Infinity, _) => {
            c.denormal_operands(&[b]);
            return F80::infinity(sign);
        }
        (_, Class::Infinity) => {
            c.denormal_operands(&[a]);
            return F80::zero(sign);
        }
        _ => {}
    }
    // A finite dividend over zero is #Z alone, even when the dividend is
    // a denormal (checked on the host: no #D then).
    if b.is_zero() && !a.is_zero() {
        c.flags |= sw::ZE;
        return F80::infinity(sign);
    }
    if c.denormal_operands(&[a, b]) {
        return F80::INDEFINITE;
    }
    if a.is_zero() {
        return F80::zero(sign);
    }
    let (_, ea, ma) = a.unpack();
    let (_, eb, mb) = b.unpack();
    let n = (ma as u128) << 63;
    let (q1, r1) = (n / mb as u128, n % mb as u128);
    let n2 = r1 << 64;
    let (q2, r2) = (n2 / mb as u128, n2 % mb as u128);
    let q = (q1 << 64) | q2 | (r2 != 0) as u128;
    round_extended(c, sign, ea - eb, q)
}

/// The square root of a 128-bit fixed-point radicand with 126 fraction
/// bits, as 68 root bits (integer bit at 67) and whether it was inexact.
fn sqrt_bits(radicand: u128) -> (u128, bool) {
    let mut rem: u128 = 0;
    let mut root: u128 = 0;
    for i in 0..68 {
        let pair = if i < 64 {
            (radicand >> (126 - 2 * i)) & 3
        } else {
            0
        };
        rem = (rem << 2) | pair;
        let trial = (root << 2) | 1;
        root <<= 1;
        if rem >= trial {
            rem -= trial;
            root |= 1;
        }
    }
    (root, rem != 0)
}

pub fn sqrt(c: &mut Ctx, a: F80) -> F80 {
    if let Some(r) = special1(c, a) {
        return r;
    }
    match a.class() {
        Class::Zero => return a,
        _ if a.sign() => return c.invalid(),
        Class::Infinity => return a,
        _ => {}
    }
    if c.denormal_operands(&[a]) {
        return F80::INDEFINITE;
    }
    let (_, e, m) = a.unpack();
    let radicand = if e & 1 == 0 {
        (m as u128) << 63
    } else {
        (m as u128) << 64
    };
    let (root, inexact) = sqrt_bits(radicand);
    round_extended(c, false, e.div_euclid(2), (root << 60) | inexact as u128)
}

/// Rounds a finite value to an integer magnitude under `rc`: (magnitude,
/// inexact, rounded up). `None` when the magnitude reaches 2^64.
pub fn round_magnitude(rc: Rounding, a: F80) -> Option<(u128, bool, bool)> {
    if a.is_zero() {
        return Some((0, false, false));
    }
    let (s, e, m) = a.unpack();
    if e >= 64 {
        return None;
    }
    // Fixed point with 64 fraction bits.
    let fx = if e >= 0 {
        ((m as u128) << 1) << e
    } else {
        shift_right_jam((m as u128) << 1, (-e) as u32)
    };
    let inexact = fx as u64 != 0;
    let up = round_up(rc, s, fx, 64);
    Some(((fx >> 64) + up as u128, inexact, up))
}

/// An exact integer magnitude below 2^64 as an extended value.
pub fn from_magnitude(sign: bool, mag: u128) -> F80 {
    if mag == 0 {
        return F80::zero(sign);
    }
    if mag >> 64 != 0 {
        return F80::new(sign, (BIAS + 64) as u16, J);
    }
    let m = mag as u64;
    let lz = m.leading_zeros();
    F80::new(sign, (BIAS + 63 - lz as i32) as u16, m << lz)
}

pub fn from_i64(v: i64) -> F80 {
    from_magnitude(v < 0, v.unsigned_abs() as u128)
}

/// FRNDINT: to an integral value under the rounding control (no
/// precision control).
pub fn round_to_int(c: &mut Ctx, a: F80) -> F80 {
    if let Some(r) = special1(c, a) {
        return r;
    }
    match a.class() {
        Class::Zero | Class::Infinity => return a,
        _ => {}
    }
    if c.denormal_operands(&[a]) {
        return F80::INDEFINITE;
    }
    let (s, e, _) = a.unpack();
    if e >= 63 {
        return a;
    }
    let (mag, inexact, up) = round_magnitude(c.rc, a).expect("below 2^63");
    if inexact {
        c.flags |= sw::PE;
    }
    c.c1 = up;
    from_magnitude(s, mag)
}

/// Integer store (FIST/FISTP/FISTTP) to `bits` bits: the value, or the
/// integer indefinite with #IA when it is a NaN, infinite, unsupported or
/// out of range.
pub fn to_int(c: &mut Ctx, a: F80, bits: u32, truncate: bool) -> u64 {
    let indefinite = 1u64 << (bits - 1);
    match a.class() {
        Class::Unsupported | Class::QNaN | Class::SNaN | Class::Infinity => {
            c.flags |= sw::IE;
            return indefinite;
        }
        _ => {}
    }
    let rc = if truncate { Rounding::Zero } else { c.rc };
    let Some((mag, inexact, up)) = round_magnitude(rc, a) else {
        c.flags |= sw::IE;
        return indefinite;
    };
    let limit = if a.sign() {
        1u128 << (bits - 1)
    } else {
        (1u128 << (bits - 1)) - 1
    };
    if mag > limit {
        c.flags |= sw::IE;
        return indefinite;
    }
    if inexact {
        c.flags |= sw::PE;
    }
    c.c1 = up;
    let v = if a.sign() {
        (mag as u64).wrapping_neg()
    } else {
        mag as u64
    };
    v & (u64::MAX >> (64 - bits))
}

/// FLD m32fp / m64fp: exact widening. #IA for an SNaN (quietened), #D for a
/// denormal.
pub fn from_ieee(c: &mut Ctx, bits: u64, double: bool) -> F80 {
    let (frac_bits, exp_bits, bias) = if double { (52, 11, 1023) } else { (23, 8, 127) };
    let sign = (bits >> (frac_bits + exp_bits)) & 1 != 0;
    let exp = ((bits >> frac_bits) & ((1 << exp_bits) - 1)) as i32;
    let frac = bits & ((1u64 << frac_bits) - 1);
    let exp_max = (1 << exp_bits) - 1;
    if exp == exp_max {
        let v = F80::new(sign, 0x7fff, J | (frac << (63 - frac_bits)));
        if frac != 0 && v.is_snan() {
            c.flags |= sw::IE;
            return v.quiet();
        }
        return v;
    }
    if exp == 0 {
        if frac == 0 {
            return F80::zero(sign);
        }
        c.flags |= sw::DE;
        let m = frac << (63 - frac_bits);
        let lz = m.leading_zeros() as i32;
        return F80::new(sign, (1 - bias - lz + BIAS) as u16, m << lz);
    }
    F80::new(
        sign,
        (exp - bias + BIAS) as u16,
        J | (frac << (63 - frac_bits)),
    )
}

/// FST m32fp / m64fp: rounding to the narrower format (its precision, not
/// PC). Unsupported values and SNaNs raise #IA (masked: the indefinite or
/// the quietened NaN).
pub fn to_ieee(c: &mut Ctx, a: F80, double: bool) -> u64 {
    let (frac_bits, f, exp_max) = if double {
        (52u32, DOUBLE, 0x7ffu64)
    } else {
        (23u32, SINGLE, 0xffu64)
    };
    let sign_shift = if double { 63 } else { 31 };
    let sign = (a.sign() as u64) << sign_shift;
    match a.class() {
        Class::Unsupported => {
            c.flags |= sw::IE;
            return (1u64 << sign_shift) | (exp_max << frac_bits) | (1 << (frac_bits - 1));
        }
        Class::QNaN | Class::SNaN => {
            if a.is_snan() {
                c.flags |= sw::IE;
            }
            let frac = ((a.sig << 1) >> (64 - frac_bits)) | (1 << (frac_bits - 1));
            return sign | (exp_max << frac_bits) | frac;
        }
        Class::Infinity => return sign | (exp_max << frac_bits),
        Class::Zero => return sign,
        _ => {}
    }
    let (s, e, m) = a.unpack();
    let r = round(c, &f, f.prec, s, e, (m as u128) << 64);
    pack_ieee(r, frac_bits, -f.emin + 1)
}

/// The result of a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    Less,
    Equal,
    Greater,
    Unordered,
}

/// FCOM (`quiet` false: any NaN raises #IA) and FUCOM (`quiet`: only an
/// SNaN does).
pub fn compare(c: &mut Ctx, a: F80, b: F80, quiet: bool) -> Relation {
    if a.is_unsupported() || b.is_unsupported() {
        c.flags |= sw::IE;
        return Relation::Unordered;
    }
    if a.is_nan() || b.is_nan() {
        if !quiet || a.is_snan() || b.is_snan() {
            c.flags |= sw::IE;
        }
        return Relation::Unordered;
    }
    c.denormal_operands(&[a, b]);
    match (a.is_zero(), b.is_zero()) {
        (true, true) => return Relation::Equal,
        (true, false) => {
            return if b.sign() {
                Relation::Greater
            } else {
                Relation::Less
            }
        }
        (false, true) => {
            return if a.sign() {
                Relation::Less
            } else {
                Relation::Greater
            }
        }
        _ => {}
    }
    if a.sign() != b.sign() {
        return if a.sign() {
            Relation::Less
        } else {
            Relation::Greater
        };
    }
    let key = |v: F80| {
        if v.is_infinity() {
            (i32::MAX, 0)
        } else {
            let (_, e, m) = v.unpack();
            (e, m)
        }
    };
    let ord = key(a).cmp(&key(b));
    let ord = if a.sign() { ord.reverse() } else { ord };
    match ord {
        Ordering::Less => Relation::Less,
        Ordering::Equal => Relation::Equal,
        Ordering::Greater => Relation::Greater,
    }
}

/// FPREM (truncating quotient) and FPREM1 (IEEE, nearest quotient):
/// (remainder, low quotient bits, complete). A reduction is partial when
/// the exponents differ by 64 or more (SDM vol. 2, FPREM).
pub fn remainder(c: &mut Ctx, a: F80, b: F80, nearest: bool) -> (F80, u64, bool) {
    if let Some(r) = special2(c, a, b) {
        return (r, 0, true);
    }
    if a.is_infinity() || b.is_zero() {
        return (c.invalid(), 0, true);
    }
    if b.is_infinity() {
        c.denormal_operands(&[a]);
        return (a, 0, true);
    }
    if c.denormal_operands(&[a, b]) {
        return (F80::INDEFINITE, 0, true);
    }
    if a.is_zero() {
        return (a, 0, true);
    }
    let (sa, ea, ma) = a.unpack();
    let (_, eb, mb) = b.unpack();
    let d = ea - eb;
    let exact = |c: &mut Ctx, sign: bool, e_lsb: i32, mag: u128| {
        if mag == 0 {
            F80::zero(sign)
        } else {
            round_extended_to(c, 64, sign, e_lsb + 127, mag)
        }
    };
    if d < 0 {
        if nearest && d == -1 && ma > mb {
            // |a| > |b|/2: the quotient rounds to 1.
            let mag = 2 * mb as u128 - ma as u128;
            return (exact(c, !sa, eb - 64, mag), 1, true);
        }
        return (exact(c, sa, ea - 63, ma as u128), 0, true);
    }
    if d >= 64 {
        // Partial: reduce by b * 2^(d - N) with N = 32 + (d mod 32)... the
        // hardware's N is implementation-dependent in [32, 63].
        let n = partial_shift(d);
        let x = (ma as u128) << n;
        let rem = x % mb as u128;
        return (exact(c, sa, ea - 63 - n as i32, rem), 0, false);
    }
    let x = (ma as u128) << d;
    let mut q = x / mb as u128;
    let mut rem = x % mb as u128;
    let mut sign = sa;
    if nearest && (2 * rem > mb as u128 || (2 * rem == mb as u128 && q & 1 == 1)) {
        q += 1;
        rem = mb as u128 - rem;
        sign = !sa;
    }
    (exact(c, sign, eb - 63, rem), q as u64 & 7, true)
}

/// The N of a partial FPREM/FPREM1 step for exponent difference `d >= 64`.
fn partial_shift(d: i32) -> u32 {
    32 + ((d - 32) % 32) as u32
}

/// FSCALE: a * 2^trunc(b), rounded at 64 bits.
pub fn scale(c: &mut Ctx, a: F80, b: F80) -> F80 {
    if let Some(r) = special2(c, a, b) {
        return r;
    }
    if b.is_infinity() {
        c.denormal_operands(&[a]);
        return match (a.class(), b.sign()) {
            (Class::Infinity, true) | (Class::Zero, false) => c.invalid(),
            (Class::Infinity, false) | (Class::Zero, true) => a,
            (_, true) => F80::zero(a.sign()),
            (_, false) => F80::infinity(a.sign()),
        };
    }
    if c.denormal_operands(&[a, b]) {
        return F80::INDEFINITE;
    }
    if a.is_infinity() || a.is_zero() {
        return a;
    }
    if b.is_zero() && a.class() == Class::Denormal {
        // Scaling by +-0 returns a denormal unchanged: no #U even when
        // unmasked (a pseudo-denormal still comes back normalised;
        // measured on the host).
        return a;
    }
    let n = if b.is_zero() {
        0
    } else {
        let (sb, eb, mb) = b.unpack();
        let mag = if eb < 0 {
            0
        } else if eb >= 20 {
            1 << 20
        } else {
            (mb >> (63 - eb)) as i32
        };
        if sb {
            -mag
        } else {
            mag
        }
    };
    let (s, e, m) = a.unpack();
    round_extended_to(c, 64, s, e + n, (m as u128) << 64)
}

/// FXTRACT: (exponent, significand).
pub fn extract(c: &mut Ctx, a: F80) -> (F80, F80) {
    if let Some(r) = special1(c, a) {
        return (r, r);
    }
    match a.class() {
        Class::Zero => {
            c.flags |= sw::ZE;
            return (F80::infinity(true), a);
        }
        Class::Infinity => return (F80::INFINITY, a),
        _ => {}
    }
    if c.denormal_operands(&[a]) {
        return (F80::INDEFINITE, F80::INDEFINITE);
    }
    let (s, e, m) = a.unpack();
    (from_i64(e as i64), F80::new(s, BIAS as u16, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx::new(0x037f)
    }

    fn f(x: f64) -> F80 {
        from_ieee(&mut ctx(), x.to_bits(), true)
    }

    fn d(v: F80) -> f64 {
        f64::from_bits(to_ieee(&mut ctx(), v, true))
    }

    #[test]
    fn basic_arithmetic_matches_doubles_where_exact() {
        let mut c = ctx();
        assert_eq!(d(add(&mut c, f(1.5), f(2.25), false)), 3.75);
        assert_eq!(d(add(&mut c, f(1.5), f(2.25), true)), -0.75);
        assert_eq!(d(mul(&mut c, f(-3.0), f(0.5))), -1.5);
        assert_eq!(d(div(&mut c, f(1.0), f(8.0))), 0.125);
        assert_eq!(d(sqrt(&mut c, f(2.25))), 1.5);
        assert_eq!(c.flags, 0);
        // 1/3 is inexact; at 64 bits it rounds down (...5555), C1 clear.
        let third = div(&mut c, f(1.0), f(3.0));
        assert_eq!(third.sig, 0xaaaa_aaaa_aaaa_aaab);
        assert!(c.c1);
        assert_eq!(c.flags, sw::PE);
    }

    #[test]
    fn precision_control_rounds_the_significand() {
        let mut c = Ctx::new(0x007f); // PC = 24 bits
        let third = div(&mut c, f(1.0), f(3.0));
        assert_eq!(third.sig, 0xaaaa_ab00_0000_0000);
        let mut c = Ctx::new(0x027f); // PC = 53 bits
        let third = div(&mut c, f(1.0), f(3.0));
        assert_eq!(d(third), 1.0 / 3.0);
        assert_eq!(third.sig & 0x7ff, 0);
    }

    #[test]
    fn rounding_control_directs_inexact_results() {
        for (rc, sig) in [
            (0x0000u16, 0xaaaa_aaaa_aaaa_aaabu64),
            (0x0400, 0xaaaa_aaaa_aaaa_aaaa),
            (0x0800, 0xaaaa_aaaa_aaaa_aaab),
            (0x0c00, 0xaaaa_aaaa_aaaa_aaaa),
        ] {
            let mut c = Ctx::new(0x037f | rc);
            assert_eq!(div(&mut c, f(1.0), f(3.0)).sig, sig, "rc {rc:#x}");
        }
        let mut c = Ctx::new(0x037f | 0x0400);
        assert_eq!(add(&mut c, f(1.0), f(-1.0), false), F80::zero(true));
    }

    #[test]
    fn masked_exceptions_give_the_defined_responses() {
        let mut c = ctx();
        assert_eq!(div(&mut c, f(1.0), f(0.0)), F80::INFINITY);
        assert_eq!(c.flags, sw::ZE);
        let mut c = ctx();
        assert_eq!(div(&mut c, f(0.0), f(0.0)), F80::INDEFINITE);
        assert_eq!(c.flags, sw::IE);
        let mut c = ctx();
        assert_eq!(sqrt(&mut c, f(-1.0)), F80::INDEFINITE);
        let mut c = ctx();
        let big = F80::new(false, 0x7ffe, J);
        assert_eq!(mul(&mut c, big, big), F80::INFINITY);
        assert_eq!(c.flags, sw::OE | sw::PE);
        let mut c = Ctx::new(0x0f7f); // round toward zero: largest finite
        assert_eq!(mul(&mut c, big, big), F80::new(false, 0x7ffe, u64::MAX));
        let mut c = ctx();
        let tiny = F80::new(false, 1, J);
        let r = mul(&mut c, tiny, F80::new(false, BIAS as u16 - 1, J | 1));
        assert_eq!(r, F80::new(false, 0, 1 << 62));
        assert_eq!(c.flags, sw::UE | sw::PE);
    }

    #[test]
    fn unmasked_overflow_and_underflow_adjust_the_exponent() {
        let mut c = Ctx::new(0x0377); // OE unmasked
        let big = F80::new(false, 0x7ffe, J);
        let r = mul(&mut c, big, big);
        assert_eq!(c.flags, sw::OE);
        assert_eq!(
            r,
            F80::new(false, (0x7ffe + 0x7ffe - BIAS - 24576) as u16, J)
        );
        let mut c = Ctx::new(0x036f); // UE unmasked
        let tiny = F80::new(false, 1, J);
        let r = mul(&mut c, tiny, tiny);
        assert_eq!(c.flags, sw::UE);
        assert_eq!(r, F80::new(false, (2 - BIAS + 24576) as u16, J));
    }

    #[test]
    fn nan_propagation() {
        let mut c = ctx();
        let q1 = F80::new(false, 0x7fff, 0xc000_0000_0000_0001);
        let q2 = F80::new(true, 0x7fff, 0xc000_0000_0000_0002);
        let s1 = F80::new(false, 0x7fff, 0x8000_0000_0000_0005);
        assert_eq!(add(&mut c, q1, q2, false), q2);
        assert_eq!(c.flags, 0);
        assert_eq!(add(&mut c, s1, q1, false), q1);
        assert_eq!(c.flags, sw::IE);
        assert_eq!(mul(&mut c, s1, f(1.0)), s1.quiet());
        assert_eq!(
            add(&mut c, F80::new(false, 5, 1), f(1.0), false),
            F80::INDEFINITE
        );
    }

    #[test]
    fn integer_conversions_and_indefinite() {
        let mut c = ctx();
        assert_eq!(to_int(&mut c, f(2.5), 16, false), 2);
        assert_eq!(to_int(&mut c, f(3.5), 16, false), 4);
        assert_eq!(to_int(&mut c, f(-2.5), 32, true), (-2i32) as u32 as u64);
        assert_eq!(c.flags, sw::PE);
        assert_eq!(to_int(&mut c, f(32768.0), 16, false), 0x8000);
        assert_eq!(c.flags & sw::IE, sw::IE);
        let mut c = ctx();
        assert_eq!(to_int(&mut c, f(-32768.0), 16, false), 0x8000);
        assert_eq!(c.flags, 0);
        assert_eq!(to_int(&mut c, F80::INDEFINITE, 64, false), 1 << 63);
        assert_eq!(from_i64(i64::MIN), F80::new(true, (BIAS + 63) as u16, J));
        assert_eq!(d(from_i64(-12345)), -12345.0);
    }

    #[test]
    fn remainders_and_quotient_bits() {
        let mut c = ctx();
        let (r, q, done) = remainder(&mut c, f(17.0), f(5.0), false);
        assert_eq!((d(r), q, done), (2.0, 3, true));
        let (r, q, _) = remainder(&mut c, f(17.0), f(5.0), true);
        assert_eq!((d(r), q), (2.0, 3));
        let (r, q, _) = remainder(&mut c, f(18.0), f(5.0), true);
        assert_eq!((d(r), q), (-2.0, 4));
        let (r, q, _) = remainder(&mut c, f(-7.0), f(2.0), false);
        assert_eq!((d(r), q), (-1.0, 3));
        let (_, _, done) = remainder(&mut c, f(1e30), f(3.0), false);
        assert!(!done);
        assert_eq!(c.flags, 0);
    }

    #[test]
    fn scale_extract_round() {
        let mut c = ctx();
        assert_eq!(d(scale(&mut c, f(3.0), f(4.9))), 48.0);
        assert_eq!(d(scale(&mut c, f(3.0), f(-1.5))), 1.5);
        let (e, s) = extract(&mut c, f(-48.0));
        assert_eq!((d(e), d(s)), (5.0, -1.5));
        assert_eq!(d(round_to_int(&mut c, f(2.5))), 2.0);
        assert_eq!(d(round_to_int(&mut c, f(-0.7))), -1.0);
        let mut c = Ctx::new(0x0b7f); // up
        assert_eq!(d(round_to_int(&mut c, f(-0.7))), -0.0);
        assert!(round_to_int(&mut c, f(-0.7)).sign());
    }

    #[test]
    fn ieee_conversions() {
        let mut c = ctx();
        assert_eq!(
            to_ieee(&mut c, f(1.0 / 3.0), false),
            (1.0f32 / 3.0).to_bits() as u64
        );
        assert_eq!(c.flags, sw::PE);
        let mut c = ctx();
        let v = from_ieee(&mut c, 1, false); // smallest single denormal
        assert_eq!(c.flags, sw::DE);
        assert_eq!(to_ieee(&mut c, v, false), 1);
        let mut c = ctx();
        assert_eq!(
            to_ieee(&mut c, F80::new(false, 5, 1), true),
            0xfff8_0000_0000_0000
        );
        assert_eq!(c.flags, sw::IE);
        let mut c = ctx();
        let snan = from_ieee(&mut c, 0x7f80_0001, false);
        assert_eq!(c.flags, sw::IE);
        assert!(!snan.is_snan());
    }
}

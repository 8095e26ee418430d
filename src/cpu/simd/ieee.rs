//! IEEE binary32/binary64 arithmetic as SSE/SSE2 do it (SDM vol. 1,
//! 4.8 and 11.5): exact results rounded once by the x87 soft-float's
//! `round` in the destination's format (tininess after rounding, like the
//! x87), MXCSR's DAZ (denormal sources read as zero) and FTZ (masked
//! underflow returns zero with UE and PE), and SSE's NaN rules: an SNaN
//! raises IE; the result is the first NaN operand, quietened; invalid
//! operations return the QNaN "real indefinite" (sign set, quiet bit).
//!
//! Exception flags are collected in an x87 `Ctx` (the six flags have the
//! same positions in MXCSR and the x87 status word); its masks are
//! MXCSR's, so `round` also reports UE for exact tiny results when #U is
//! unmasked (SDM vol. 1, 11.5.2.5). A faulting instruction never writes
//! its destination, so the x87's adjusted unmasked results are dropped.

use crate::cpu::x87::float80::sw;
pub use crate::cpu::x87::softfloat::Relation as Rel;
pub use crate::cpu::x87::softfloat::Rounding;
use crate::cpu::x87::softfloat::{pack_ieee, round, shift_right_jam, Ctx, Format, DOUBLE, SINGLE};

/// One instruction's view of MXCSR, and the flags it raised.
pub struct Env {
    pub c: Ctx,
    pub daz: bool,
    pub ftz: bool,
}

impl Env {
    pub fn new(mxcsr: u32) -> Env {
        let fcw = ((mxcsr >> 7) & 0x3f) as u16 | (((mxcsr >> 13) & 3) as u16) << 10 | 0x300;
        Env {
            c: Ctx::new(fcw),
            daz: mxcsr & (1 << 6) != 0,
            ftz: mxcsr & (1 << 15) != 0,
        }
    }

    /// The exception flags raised so far (MXCSR bits 0-5).
    pub fn flags(&self) -> u16 {
        self.c.flags
    }

    fn raise(&mut self, f: u16) {
        self.c.flags |= f;
    }

    /// DAZ: a denormal source reads as a zero of its sign.
    pub fn prep(&self, f: Fmt, x: u64) -> u64 {
        if self.daz && f.is_denormal(x) {
            x & f.sign_bit()
        } else {
            x
        }
    }

    fn invalid(&mut self, f: Fmt) -> u64 {
        self.raise(sw::IE);
        f.indefinite()
    }

    fn denormals(&mut self, f: Fmt, ops: &[u64]) {
        if ops.iter().any(|&x| f.is_denormal(x)) {
            self.raise(sw::DE);
        }
    }

    /// SSE NaN propagation for two operands: `Some` when either is a NaN.
    fn nan2(&mut self, f: Fmt, a: u64, b: u64) -> Option<u64> {
        if !f.is_nan(a) && !f.is_nan(b) {
            return None;
        }
        if f.is_snan(a) || f.is_snan(b) {
            self.raise(sw::IE);
        }
        Some(if f.is_nan(a) { f.quiet(a) } else { f.quiet(b) })
    }

    fn nan1(&mut self, f: Fmt, a: u64) -> Option<u64> {
        if !f.is_nan(a) {
            return None;
        }
        if f.is_snan(a) {
            self.raise(sw::IE);
        }
        Some(f.quiet(a))
    }

    /// Rounds the nonzero `sig * 2^(e - 127)` to format `f`, with FTZ.
    pub fn pack(&mut self, f: Fmt, sign: bool, e: i32, sig: u128) -> u64 {
        let lz = sig.leading_zeros();
        let before = self.c.flags;
        let r = round(&mut self.c, &f.f, f.f.prec, sign, e - lz as i32, sig << lz);
        let bits = pack_ieee(r, f.frac, f.bias());
        let tiny = (self.c.flags & !before & sw::UE != 0) || (f.exp(bits) == 0 && !r.inf);
        if self.ftz && tiny && !self.c.unmasked(sw::UE) {
            self.raise(sw::UE | sw::PE);
            return f.zero(sign);
        }
        bits
    }

    /// A finite nonzero value through rounding (x + 0: FTZ may apply).
    fn exact(&mut self, f: Fmt, x: u64) -> u64 {
        let (s, e, m) = f.unpack(x);
        self.pack(f, s, e, m)
    }
}

/// A format: fraction and exponent widths and the rounding format.
#[derive(Clone, Copy, Debug)]
pub struct Fmt {
    pub frac: u32,
    pub ebits: u32,
    pub f: Format,
}

pub const F32: Fmt = Fmt {
    frac: 23,
    ebits: 8,
    f: SINGLE,
};
pub const F64: Fmt = Fmt {
    frac: 52,
    ebits: 11,
    f: DOUBLE,
};

impl Fmt {
    pub fn bits(self) -> u32 {
        1 + self.ebits + self.frac
    }
    pub fn sign_bit(self) -> u64 {
        1 << (self.frac + self.ebits)
    }
    fn exp_max(self) -> u64 {
        (1 << self.ebits) - 1
    }
    fn bias(self) -> i32 {
        (1 << (self.ebits - 1)) - 1
    }
    pub fn exp(self, x: u64) -> u64 {
        (x >> self.frac) & self.exp_max()
    }
    fn fraction(self, x: u64) -> u64 {
        x & ((1 << self.frac) - 1)
    }
    pub fn sign(self, x: u64) -> bool {
        x & self.sign_bit() != 0
    }
    pub fn is_nan(self, x: u64) -> bool {
        self.exp(x) == self.exp_max() && self.fraction(x) != 0
    }
    pub fn is_snan(self, x: u64) -> bool {
        self.is_nan(x) && x & (1 << (self.frac - 1)) == 0
    }
    pub fn is_inf(self, x: u64) -> bool {
        self.exp(x) == self.exp_max() && self.fraction(x) == 0
    }
    pub fn is_zero(self, x: u64) -> bool {
        x & !self.sign_bit() == 0
    }
    pub fn is_denormal(self, x: u64) -> bool {
        self.exp(x) == 0 && self.fraction(x) != 0
    }
    pub fn quiet(self, x: u64) -> u64 {
        x | 1 << (self.frac - 1)
    }
    /// The QNaN "real indefinite".
    pub fn indefinite(self) -> u64 {
        self.sign_bit() | self.exp_max() << self.frac | 1 << (self.frac - 1)
    }
    pub fn inf(self, sign: bool) -> u64 {
        self.zero(sign) | self.exp_max() << self.frac
    }
    pub fn zero(self, sign: bool) -> u64 {
        if sign {
            self.sign_bit()
        } else {
            0
        }
    }
    /// A finite nonzero value as (sign, e, sig): `sig * 2^(e - 127)` with
    /// bit 127 of `sig` set.
    pub fn unpack(self, x: u64) -> (bool, i32, u128) {
        let exp = self.exp(x) as i32;
        let mut m = self.fraction(x);
        let e = if exp == 0 {
            1 - self.bias() - self.frac as i32
        } else {
            m |= 1 << self.frac;
            exp - self.bias() - self.frac as i32
        };
        let sig = m as u128;
        let lz = sig.leading_zeros();
        (self.sign(x), e + 127 - lz as i32, sig << lz)
    }
}

/// a + b, or a - b when `sub`.
pub fn add(e: &mut Env, f: Fmt, a: u64, b: u64, sub: bool) -> u64 {
    let (a, b) = (e.prep(f, a), e.prep(f, b));
    if let Some(r) = e.nan2(f, a, b) {
        return r;
    }
    let b = if sub { b ^ f.sign_bit() } else { b };
    match (f.is_inf(a), f.is_inf(b)) {
        (true, true) => {
            return if f.sign(a) == f.sign(b) {
                a
            } else {
                e.invalid(f)
            }
        }
        (true, false) => {
            e.denormals(f, &[b]);
            return a;
        }
        (false, true) => {
            e.denormals(f, &[a]);
            return b;
        }
        _ => {}
    }
    e.denormals(f, &[a, b]);
    match (f.is_zero(a), f.is_zero(b)) {
        (true, true) => {
            let sign = if f.sign(a) == f.sign(b) {
                f.sign(a)
            } else {
                e.c.rc == Rounding::Down
            };
            return f.zero(sign);
        }
        (true, false) => return e.exact(f, b),
        (false, true) => return e.exact(f, a),
        _ => {}
    }
    let (mut sa, mut ea, mut ma) = f.unpack(a);
    let (mut sb, mut eb, mut mb) = f.unpack(b);
    if (eb, mb) > (ea, ma) {
        std::mem::swap(&mut sa, &mut sb);
        std::mem::swap(&mut ea, &mut eb);
        std::mem::swap(&mut ma, &mut mb);
    }
    let x = ma >> 2;
    let y = shift_right_jam(mb >> 2, (ea - eb).min(200) as u32);
    let sum = if sa == sb { x + y } else { x - y };
    if sum == 0 {
        return f.zero(e.c.rc == Rounding::Down);
    }
    e.pack(f, sa, ea + 2, sum)
}

pub fn mul(e: &mut Env, f: Fmt, a: u64, b: u64) -> u64 {
    let (a, b) = (e.prep(f, a), e.prep(f, b));
    if let Some(r) = e.nan2(f, a, b) {
        return r;
    }
    let sign = f.sign(a) != f.sign(b);
    if (f.is_inf(a) && f.is_zero(b)) || (f.is_zero(a) && f.is_inf(b)) {
        return e.invalid(f);
    }
    e.denormals(f, &[a, b]);
    if f.is_inf(a) || f.is_inf(b) {
        return f.inf(sign);
    }
    if f.is_zero(a) || f.is_zero(b) {
        return f.zero(sign);
    }
    let (_, ea, ma) = f.unpack(a);
    let (_, eb, mb) = f.unpack(b);
    let p = (ma >> 64) * (mb >> 64);
    e.pack(f, sign, ea + eb + 1, p)
}

pub fn div(e: &mut Env, f: Fmt, a: u64, b: u64) -> u64 {
    let (a, b) = (e.prep(f, a), e.prep(f, b));
    if let Some(r) = e.nan2(f, a, b) {
        return r;
    }
    let sign = f.sign(a) != f.sign(b);
    if (f.is_inf(a) && f.is_inf(b)) || (f.is_zero(a) && f.is_zero(b)) {
        return e.invalid(f);
    }
    // A finite dividend over zero: #Z takes precedence over #D.
    if f.is_zero(b) && !f.is_inf(a) {
        e.raise(sw::ZE);
        return f.inf(sign);
    }
    e.denormals(f, &[a, b]);
    if f.is_inf(a) {
        return f.inf(sign);
    }
    if f.is_inf(b) || f.is_zero(a) {
        return f.zero(sign);
    }
    let (_, ea, ma) = f.unpack(a);
    let (_, eb, mb) = f.unpack(b);
    let (na, nb) = (ma >> 64, mb >> 64);
    let q = (na << 64) / nb;
    let sticky = ((na << 64) % nb != 0) as u128;
    e.pack(f, sign, ea - eb + 63, q | sticky)
}

/// Integer square root of a `u128` (floor) by digit recurrence.
fn isqrt(n: u128) -> u128 {
    let mut rem = 0u128;
    let mut root = 0u128;
    for i in (0..64).rev() {
        rem = (rem << 2) | ((n >> (2 * i)) & 3);
        root <<= 1;
        let trial = (root << 1) | 1;
        if rem >= trial {
            rem -= trial;
            root |= 1;
        }
    }
    root
}

pub fn sqrt(e: &mut Env, f: Fmt, a: u64) -> u64 {
    let a = e.prep(f, a);
    if let Some(r) = e.nan1(f, a) {
        return r;
    }
    if f.is_zero(a) {
        return a;
    }
    if f.sign(a) {
        return e.invalid(f);
    }
    if f.is_inf(a) {
        return a;
    }
    e.denormals(f, &[a]);
    let (_, ea, ma) = f.unpack(a);
    // value = m * 2^E with m = ma >> 64; make the exponent even.
    let m = ma >> 64;
    let big_e = ea - 63;
    let s = if big_e & 1 != 0 { 63 } else { 64 };
    let n = m << s;
    let r = isqrt(n);
    let sticky = (r * r != n) as u128;
    e.pack(f, false, (big_e - s) / 2 + 127, r | sticky)
}

/// Conversion between the two formats (CVTSS2SD, CVTSD2SS, ...): NaNs
/// keep their payload's top bits and are quietened.
pub fn convert(e: &mut Env, from: Fmt, to: Fmt, a: u64) -> u64 {
    let a = e.prep(from, a);
    let sign = from.sign(a);
    if from.is_nan(a) {
        if from.is_snan(a) {
            e.raise(sw::IE);
        }
        let frac = a & ((1 << from.frac) - 1);
        let frac = if to.frac > from.frac {
            frac << (to.frac - from.frac)
        } else {
            frac >> (from.frac - to.frac)
        };
        return to.quiet(to.inf(sign) | frac);
    }
    if from.is_inf(a) {
        return to.inf(sign);
    }
    if from.is_zero(a) {
        return to.zero(sign);
    }
    e.denormals(from, &[a]);
    let (s, ex, m) = from.unpack(a);
    e.pack(to, s, ex, m)
}

/// A signed integer to format `f` (CVTSI2SS, CVTDQ2PS, ...).
pub fn from_int(e: &mut Env, f: Fmt, v: i64) -> u64 {
    if v == 0 {
        return 0;
    }
    e.pack(f, v < 0, 127, v.unsigned_abs() as u128)
}

/// Format `f` to a `bits`-wide signed integer, rounded by MXCSR.RC or
/// truncated; NaNs and out-of-range values give the integer indefinite
/// (only the top bit set) and raise IE.
pub fn to_int(e: &mut Env, f: Fmt, a: u64, bits: u32, truncate: bool) -> u64 {
    let a = e.prep(f, a);
    let indefinite = 1u64 << (bits - 1);
    if f.is_nan(a) || f.is_inf(a) {
        e.raise(sw::IE);
        return indefinite;
    }
    if f.is_zero(a) {
        return 0;
    }
    let (sign, ex, m) = f.unpack(a);
    let shift = 127 - ex;
    if shift <= 0 {
        e.raise(sw::IE);
        return indefinite;
    }
    let shift = shift as u32;
    let (int, rest) = if shift >= 128 {
        (0u128, if shift == 128 { m } else { 1 })
    } else {
        (m >> shift, m << (128 - shift))
    };
    let rc = if truncate { Rounding::Zero } else { e.c.rc };
    let int = int + rounds_up(rc, sign, int, rest) as u128;
    let limit = 1u128 << (bits - 1);
    if (!sign && int >= limit) || (sign && int > limit) {
        e.raise(sw::IE);
        return indefinite;
    }
    if rest != 0 {
        e.raise(sw::PE);
    }
    let v = if sign {
        (int as u64).wrapping_neg()
    } else {
        int as u64
    };
    v & (u64::MAX >> (64 - bits))
}

/// Whether the magnitude `int` with the discarded fraction bits `rest`
/// (binary point above bit 127) rounds away from zero under `rc`.
fn rounds_up(rc: Rounding, sign: bool, int: u128, rest: u128) -> bool {
    rest != 0
        && match rc {
            Rounding::Nearest => rest >> 127 == 1 && (rest << 1 != 0 || int & 1 == 1),
            Rounding::Up => !sign,
            Rounding::Down => sign,
            Rounding::Zero => false,
        }
}

/// Format `f` rounded to an integral value of the same format under
/// `rc` (ROUNDPS/PD/SS/SD): an SNaN raises IE and is quietened, zeros and
/// infinities pass unchanged, a result of zero keeps the source's sign,
/// and an inexact result raises PE unless `quiet_inexact` (imm8[3]).
/// DAZ applies to the source; DE is never raised (SDM vol. 2, ROUNDPS).
pub fn round_integral(e: &mut Env, f: Fmt, a: u64, rc: Rounding, quiet_inexact: bool) -> u64 {
    let a = e.prep(f, a);
    if let Some(n) = e.nan1(f, a) {
        return n;
    }
    if f.is_inf(a) || f.is_zero(a) {
        return a;
    }
    let (sign, ex, m) = f.unpack(a);
    let shift = 127 - ex;
    if shift <= 0 {
        return a;
    }
    let shift = shift as u32;
    let (int, rest) = if shift >= 128 {
        (0u128, if shift == 128 { m } else { 1 })
    } else {
        (m >> shift, m << (128 - shift))
    };
    if rest == 0 {
        return a;
    }
    if !quiet_inexact {
        e.raise(sw::PE);
    }
    let int = int + rounds_up(rc, sign, int, rest) as u128;
    if int == 0 {
        return f.zero(sign);
    }
    // Exact: an integer below 2^(frac+1) needs no rounding.
    e.pack(f, sign, 127, int)
}

/// Ordered comparison; `signal_qnan`: a QNaN raises IE too (COMIS, the
/// LT/LE predicates), else only an SNaN does.
pub fn compare(e: &mut Env, f: Fmt, a: u64, b: u64, signal_qnan: bool) -> Rel {
    let (a, b) = (e.prep(f, a), e.prep(f, b));
    if f.is_nan(a) || f.is_nan(b) {
        if signal_qnan || f.is_snan(a) || f.is_snan(b) {
            e.raise(sw::IE);
        }
        return Rel::Unordered;
    }
    e.denormals(f, &[a, b]);
    let key = |x: u64| {
        let mag = (x & !f.sign_bit()) as i128;
        if f.sign(x) {
            -mag
        } else {
            mag
        }
    };
    match key(a).cmp(&key(b)) {
        std::cmp::Ordering::Less => Rel::Less,
        std::cmp::Ordering::Equal => Rel::Equal,
        std::cmp::Ordering::Greater => Rel::Greater,
    }
}

/// MIN/MAX: any NaN raises IE and, like two zeros, returns the second
/// operand unchanged (SDM vol. 2, MINPS).
pub fn min_max(e: &mut Env, f: Fmt, a: u64, b: u64, max: bool) -> u64 {
    let (a, b) = (e.prep(f, a), e.prep(f, b));
    if f.is_nan(a) || f.is_nan(b) {
        e.raise(sw::IE);
        return b;
    }
    match compare(e, f, a, b, true) {
        Rel::Less if !max => a,
        Rel::Greater if max => a,
        _ => b,
    }
}

/// RCPSS/RCPPS: an approximation of 1/a within 1.5 * 2^-12 (here the
/// correctly rounded reciprocal). Denormal sources read as zero and tiny
/// results flush to zero; no exceptions.
pub fn rcp(a: u32) -> u32 {
    let f = F32;
    let x = a as u64;
    if f.is_nan(x) {
        return f.quiet(x) as u32;
    }
    let sign = f.sign(x);
    if f.is_inf(x) {
        return f.zero(sign) as u32;
    }
    if f.is_zero(x) || f.is_denormal(x) {
        return f.inf(sign) as u32;
    }
    let r = (1.0 / f32::from_bits(a) as f64) as f32;
    if r.abs() < f32::MIN_POSITIVE {
        return f.zero(sign) as u32;
    }
    r.to_bits()
}

/// RSQRTSS/RSQRTPS: an approximation of 1/sqrt(a) (correctly rounded
/// here); negative sources give the indefinite, zeros and denormals an
/// infinity of their sign; no exceptions.
pub fn rsqrt(a: u32) -> u32 {
    let f = F32;
    let x = a as u64;
    if f.is_nan(x) {
        return f.quiet(x) as u32;
    }
    let sign = f.sign(x);
    if f.is_zero(x) || f.is_denormal(x) {
        return f.inf(sign) as u32;
    }
    if sign {
        return f.indefinite() as u32;
    }
    if f.is_inf(x) {
        return 0;
    }
    ((1.0 / (f32::from_bits(a) as f64).sqrt()) as f32).to_bits()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env::new(0x1f80)
    }

    #[test]
    fn arithmetic_matches_ieee_round_to_nearest() {
        let mut e = env();
        let v = |x: f64| x.to_bits();
        assert_eq!(add(&mut e, F64, v(1.0), v(2.0), false), v(3.0));
        assert_eq!(add(&mut e, F64, v(0.1), v(0.2), false), v(0.1 + 0.2));
        assert_eq!(mul(&mut e, F64, v(1.1), v(3.3)), v(1.1 * 3.3));
        assert_eq!(div(&mut e, F64, v(1.0), v(3.0)), v(1.0 / 3.0));
        assert_eq!(sqrt(&mut e, F64, v(2.0)), v(2f64.sqrt()));
        let s = |x: f32| x.to_bits() as u64;
        assert_eq!(div(&mut e, F32, s(2.0), s(7.0)), s(2.0 / 7.0));
        assert_eq!(e.flags(), sw::PE);
    }

    #[test]
    fn invalid_operations_give_the_indefinite() {
        let mut e = env();
        let inf = F32.inf(false);
        assert_eq!(add(&mut e, F32, inf, inf, true), 0xffc0_0000);
        assert_eq!(e.flags(), sw::IE);
        let mut e = env();
        assert_eq!(
            sqrt(&mut e, F64, (-1.0f64).to_bits()),
            0xfff8_0000_0000_0000
        );
        let mut e = env();
        assert_eq!(
            to_int(&mut e, F32, 3e9f32.to_bits() as u64, 32, false),
            0x8000_0000
        );
        assert_eq!(e.flags(), sw::IE);
    }

    #[test]
    fn first_nan_operand_wins() {
        let mut e = env();
        let snan = 0x7f80_0001;
        let qnan = 0xffc0_1234;
        assert_eq!(add(&mut e, F32, snan, qnan, false), 0x7fc0_0001);
        assert_eq!(e.flags(), sw::IE);
        assert_eq!(min_max(&mut e, F32, qnan, snan, false), snan);
    }

    #[test]
    fn ftz_and_daz() {
        // 2^-126 * 0.5 underflows: FTZ gives +0 with UE and PE.
        let mut e = Env::new(0x1f80 | 0x8000);
        let min = f32::MIN_POSITIVE.to_bits() as u64;
        assert_eq!(mul(&mut e, F32, min, 0.5f32.to_bits() as u64), 0);
        assert_eq!(e.flags(), sw::UE | sw::PE);
        // DAZ: a denormal source is zero, without DE.
        let mut e = Env::new(0x1f80 | 0x40);
        assert_eq!(add(&mut e, F32, 1, 0, false), 0);
        assert_eq!(e.flags(), 0);
    }
}

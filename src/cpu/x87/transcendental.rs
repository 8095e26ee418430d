//! FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1: special
//! operands as the SDM's tables give them, finite ones through the
//! 128-bit kernels of `math` and one final rounding under RC. Operands
//! of FSIN/FCOS/FSINCOS/FPTAN with |x| >= 2^63 set C2 and leave the stack
//! alone (SDM vol. 2, FSIN). An unmasked #D ends the instruction before
//! anything is computed, so it raises nothing else (#P of a rounded pi
//! included; measured on the host).

use super::float80::{sw, Class, BIAS, F80};
use super::math;
use super::softfloat::{self as sf, Ctx};
use super::wide::Wide;
use super::{begin, commit, ctx, set_cc, stack_fault, Kind, R};
use crate::cpu::exec::Exec;
use iced_x86::{Instruction, Mnemonic as M};

pub fn transcendental(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, Kind::Numeric)?;
    let m = insn.mnemonic();
    let binary = matches!(m, M::Fpatan | M::Fyl2x | M::Fyl2xp1);
    let pushes = matches!(m, M::Fsincos | M::Fptan);
    // C2 (argument out of range) is cleared by every other outcome of
    // FSIN/FCOS/FSINCOS/FPTAN, stack faults included (checked on the host).
    if matches!(m, M::Fsin | M::Fcos | M::Fsincos | M::Fptan) {
        set_cc(ex, sw::C2, 0);
    }
    let x = &ex.s.x87;
    if x.is_empty(0) || (binary && x.is_empty(1)) {
        if stack_fault(ex, false) {
            let x = &mut ex.s.x87;
            if binary {
                x.set_st(1, F80::INDEFINITE);
                x.pop();
            } else {
                x.set_st(0, F80::INDEFINITE);
                // Pushed even over a full ST(7) (checked on the host).
                if pushes {
                    x.push(F80::INDEFINITE);
                }
            }
        }
        return Ok(());
    }
    let (a, b) = (x.st(0), x.st(1));
    let mut c = ctx(ex);
    if binary {
        let r = match m {
            M::Fpatan => patan(&mut c, b, a),
            M::Fyl2x => yl2x(&mut c, b, a),
            _ => yl2xp1(&mut c, b, a),
        };
        if commit(ex, &c, false) {
            ex.s.x87.set_st(1, r);
            ex.s.x87.pop();
        }
        return Ok(());
    }
    if m == M::F2xm1 {
        let r = f2xm1(&mut c, a);
        if commit(ex, &c, false) {
            ex.s.x87.set_st(0, r);
        }
        return Ok(());
    }
    if pushes && !ex.s.x87.is_empty(7) {
        if stack_fault(ex, true) {
            ex.s.x87.set_st(0, F80::INDEFINITE);
            ex.s.x87.push(F80::INDEFINITE);
        }
        return Ok(());
    }
    let Some((first, second)) = trig(&mut c, m, a) else {
        // Out of range: C2 = 1 and C1 = 0 (nothing rounded), nothing else
        // changes.
        set_cc(ex, sw::C2 | sw::C1, sw::C2);
        return Ok(());
    };
    if commit(ex, &c, false) {
        ex.s.x87.set_st(0, first);
        if let Some(v) = second {
            ex.s.x87.push(v);
        }
        set_cc(ex, sw::C2, 0);
    }
    Ok(())
}

/// FSIN/FCOS/FSINCOS/FPTAN: (new ST(0) value, value pushed after it), or
/// `None` when |x| >= 2^63.
fn trig(c: &mut Ctx, m: M, a: F80) -> Option<(F80, Option<F80>)> {
    let pair = |v: F80| match m {
        M::Fsincos | M::Fptan => (v, Some(v)),
        _ => (v, None),
    };
    if let Some(r) = sf::special1(c, a) {
        return Some(pair(r));
    }
    match a.class() {
        Class::Infinity => return Some(pair(c.invalid())),
        Class::Zero => {
            return Some(match m {
                M::Fsin => (a, None),
                M::Fcos => (F80::ONE, None),
                // FSINCOS: sine stays below, cosine on top.
                M::Fsincos => (a, Some(F80::ONE)),
                _ => (a, Some(F80::ONE)),
            });
        }
        _ => {}
    }
    if a.exp() >= 16383 + 63 {
        return None;
    }
    if c.denormal_operands(&[a]) {
        return Some(pair(F80::INDEFINITE));
    }
    if a.exp() < TINY_TRIG {
        // x (sine, tangent) and 1 (cosine) come back unrounded: #P with
        // C1 = 0 in every rounding mode, even where the true value rounds
        // to the neighbour below, and #U for a denormal x (measured on
        // the host).
        let x = if m == M::Fcos {
            F80::ONE
        } else {
            let w = Wide::from_f80(a);
            let x = w.to_f80(c);
            if w.exp < 1 - BIAS {
                c.flags |= sw::UE;
            }
            x
        };
        c.flags |= sw::PE;
        c.c1 = false;
        return Some(match m {
            M::Fsin | M::Fcos => (x, None),
            // FSINCOS: sine stays below, cosine on top; FPTAN pushes 1.
            _ => (x, Some(F80::ONE)),
        });
    }
    let (s, co) = math::sin_cos(Wide::from_f80(a));
    Some(match m {
        M::Fsin => (s.to_f80(c), None),
        M::Fcos => (co.to_f80(c), None),
        M::Fsincos => {
            let sin = s.to_f80(c);
            (sin, Some(co.to_f80(c)))
        }
        _ => {
            // The quotient of sine and cosine cut to 67 bits, rounded
            // once (`math::INNER_BITS`). Below 2^-33 that lies just
            // below |x| (the cut sine is below x, the cut cosine 1 -
            // 2^-67), though the true tangent lies above.
            let bits = math::INNER_BITS;
            let tan = s.truncate(bits).div(co.truncate(bits));
            (tan.to_f80(c), Some(F80::ONE))
        }
    })
}

/// Biased exponent below which FSIN/FCOS/FSINCOS/FPTAN return their
/// argument (or 1) unrounded: |x| < 2^-68.
const TINY_TRIG: u16 = 0x3fff - 68;

/// F2XM1: 2^x - 1, defined for -1 <= x <= 1.
fn f2xm1(c: &mut Ctx, a: F80) -> F80 {
    if let Some(r) = sf::special1(c, a) {
        return r;
    }
    match a.class() {
        Class::Zero => return a,
        Class::Infinity if a.sign() => return F80::ONE.negate(),
        Class::Infinity => return a,
        _ => {}
    }
    if c.denormal_operands(&[a]) {
        return F80::INDEFINITE;
    }
    let x = Wide::from_f80(a);
    if x.exp < 0 || (x.exp == 0 && x.sig == 1 << 127) {
        // x times (2^x - 1)/x cut to 67 bits, rounded once
        // (`math::INNER_BITS`).
        let p = if x.exp == 0 {
            // x = 1 and -1: (2^x - 1)/x is 1 and 1/2 exactly, yet the
            // host raises #P (F2XM1(1) = 1, C1 = 0 in every mode).
            Wide::ONE.scale(-(x.sign as i32))
        } else {
            math::exp2m1(x).div(x).truncate(math::INNER_BITS)
        };
        return round_inexact(c, p.mul(x));
    }
    // Outside the defined range: 2^n * 2^f - 1 with f in [-1/2, 1/2].
    let n = x.round_magnitude().min(40000) as i32;
    let n = if x.sign { -n } else { n };
    let f = x.sub(Wide::from_int(n as i64));
    math::exp2m1(f)
        .add(Wide::ONE)
        .scale(n)
        .sub(Wide::ONE)
        .to_f80(c)
}

/// The sign-carrying infinity or zero of a special case.
fn inf(sign: bool) -> F80 {
    F80::infinity(sign)
}

/// FYL2X: y * log2(x).
fn yl2x(c: &mut Ctx, y: F80, x: F80) -> F80 {
    if let Some(r) = sf::special2(c, x, y) {
        return r;
    }
    let (cx, cy) = (x.class(), y.class());
    if x.sign() && cx != Class::Zero {
        return c.invalid();
    }
    let one = x == F80::ONE;
    match (cx, cy) {
        (Class::Zero, Class::Zero) | (Class::Infinity, Class::Zero) => return c.invalid(),
        (_, Class::Infinity) if one => return c.invalid(),
        (Class::Zero, Class::Infinity) => return inf(!y.sign()),
        (Class::Zero, _) => {
            // #Z alone: a denormal y raises no #D here (measured on the
            // host).
            c.flags |= sw::ZE;
            return inf(!y.sign());
        }
        (Class::Infinity, _) => {
            if c.denormal_operands(&[y]) {
                return F80::INDEFINITE;
            }
            return inf(y.sign());
        }
        (_, Class::Infinity) | (_, Class::Zero) => {
            if c.denormal_operands(&[x]) {
                return F80::INDEFINITE;
            }
            let below_one = Wide::from_f80(x).abs_lt(Wide::ONE);
            let sign = y.sign() != below_one;
            return if cy == Class::Zero {
                F80::zero(if one { y.sign() } else { sign })
            } else {
                inf(sign)
            };
        }
        _ => {}
    }
    if c.denormal_operands(&[x, y]) {
        return F80::INDEFINITE;
    }
    // y times log2(x) cut to 67 bits, rounded once (`math::INNER_BITS`).
    let mut l = math::log2(Wide::from_f80(x));
    if l.is_zero() {
        // x = 1: an exact zero.
        return l.mul(Wide::from_f80(y)).to_f80(c);
    }
    if l.sign {
        // Below 1 the host's log2 lies just inside the true value even
        // where that is an integer: FYL2X(3, 0.5) rounds -3 + tiny
        // (C1 = 1 under RN, -2.99... under RZ), 2^-16445 a value above
        // -16445.
        l = Wide::new(true, l.exp, l.sig - 1);
    }
    // #P even for an exact power of two (FYL2X(3, 8) = 9 with #P).
    round_inexact(c, l.truncate(math::INNER_BITS).mul(Wide::from_f80(y)))
}

/// FYL2XP1: y * log2(x + 1), defined for |x| < 1 - sqrt(2)/2.
fn yl2xp1(c: &mut Ctx, y: F80, x: F80) -> F80 {
    if let Some(r) = sf::special2(c, x, y) {
        return r;
    }
    let (cx, cy) = (x.class(), y.class());
    let sign = x.sign() != y.sign();
    match (cx, cy) {
        (Class::Zero, Class::Infinity) | (Class::Infinity, Class::Zero) => return c.invalid(),
        (Class::Infinity, _) if x.sign() => return c.invalid(),
        (Class::Zero, _) | (_, Class::Zero) => {
            if c.denormal_operands(&[x, y]) {
                return F80::INDEFINITE;
            }
            return F80::zero(sign);
        }
        (_, Class::Infinity) | (Class::Infinity, _) => {
            if c.denormal_operands(&[x, y]) {
                return F80::INDEFINITE;
            }
            return inf(sign);
        }
        _ => {}
    }
    if c.denormal_operands(&[x, y]) {
        return F80::INDEFINITE;
    }
    let wx = Wide::from_f80(x);
    if x.sign() && !wx.abs_lt(Wide::ONE) {
        return c.invalid();
    }
    let l = math::log2_1p(wx).truncate(math::INNER_BITS);
    round_inexact(c, l.mul(Wide::from_f80(y)))
}

/// FPATAN: atan2(y, x) with IEEE's special cases.
fn patan(c: &mut Ctx, y: F80, x: F80) -> F80 {
    if let Some(r) = sf::special2(c, x, y) {
        return r;
    }
    let (cx, cy) = (x.class(), y.class());
    let signed = |c: &mut Ctx, v: Wide| {
        Wide {
            sign: y.sign(),
            ..v
        }
        .to_f80(c)
    };
    match (cx, cy) {
        (_, Class::Zero) => {
            if c.denormal_operands(&[x]) {
                return F80::INDEFINITE;
            }
            return if x.sign() { signed(c, math::PI) } else { y };
        }
        (Class::Infinity, Class::Infinity) => {
            let quarter = math::PI_4;
            let v = if x.sign() {
                math::PI.sub(quarter)
            } else {
                quarter
            };
            return signed(c, v);
        }
        (Class::Zero, _) | (_, Class::Infinity) => {
            if c.denormal_operands(&[x, y]) {
                return F80::INDEFINITE;
            }
            return signed(c, math::PI_2);
        }
        (Class::Infinity, _) => {
            if c.denormal_operands(&[y]) {
                return F80::INDEFINITE;
            }
            return if x.sign() {
                signed(c, math::PI)
            } else {
                F80::zero(y.sign())
            };
        }
        _ => {}
    }
    if c.denormal_operands(&[x, y]) {
        return F80::INDEFINITE;
    }
    round_inexact(c, math::atan2(Wide::from_f80(y), Wide::from_f80(x)))
}

/// Rounds the last step's result under RC and raises #P: the inner
/// values cut to `math::INNER_BITS` are inexact even where the cut
/// value rounds exactly, and #P says so (the host raises it there, with
/// C1 = 0).
fn round_inexact(c: &mut Ctx, v: Wide) -> F80 {
    let r = v.to_f80(c);
    // Tiny and (so) inexact is a masked underflow too, even where the cut
    // value fit a denormal exactly (the host raises #U there).
    if r.class() == Class::Denormal && c.masks & sw::UE != 0 {
        c.flags |= sw::UE;
    }
    c.flags |= sw::PE;
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::x87::float80::J;

    fn f(x: f64) -> F80 {
        sf::from_ieee(&mut Ctx::new(0x037f), x.to_bits(), true)
    }

    #[test]
    fn exact_and_special_results() {
        let mut c = Ctx::new(0x037f);
        assert_eq!(yl2x(&mut c, f(3.0), f(1.0)), f(0.0));
        assert_eq!(c.flags, 0);
        assert_eq!(f2xm1(&mut c, f(1.0)), F80::ONE);
        assert_eq!(f2xm1(&mut c, f(-1.0)), f(-0.5));
        assert_eq!(yl2x(&mut c, f(1.0), f(-2.0)), F80::INDEFINITE);
        let mut c = Ctx::new(0x037f);
        assert_eq!(yl2x(&mut c, f(2.0), f(0.0)), F80::infinity(true));
        assert_eq!(c.flags, sw::ZE);
        let pi = patan(&mut c, f(0.0).negate(), f(-1.0));
        assert_eq!((pi.se, pi.sig), (0xc000, 0xc90fdaa22168c235));
        assert_eq!(patan(&mut c, f(1.0), f(1.0)).sig, 0xc90fdaa22168c235);
        let mut c = Ctx::new(0x037f);
        assert!(trig(&mut c, M::Fsin, F80::new(false, 16383 + 63, J)).is_none());
    }
}

#[cfg(test)]
#[path = "transcendental_host_cases.rs"]
mod host_cases;

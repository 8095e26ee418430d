//! Loads, stores and register moves: FLD/FILD/FBLD and the constants,
//! FST/FSTP/FIST/FISTP/FISTTP/FBSTP, FXCH and FCMOVcc, with their
//! conversions (SDM vol. 2, FLD ... FBSTP; vol. 1, 8.2).

use super::float80::{sw, Class, F80};
use super::softfloat::{self, Ctx, Rounding};
use super::{begin, check_write, commit, ctx, has_memory, read_bytes, read_int, set_cc};
use super::{st_index, stack_fault, write_bytes, Kind, R};
use crate::cpu::exec::Exec;
use crate::cpu::state::rflags::{CF, PF, ZF};
use iced_x86::{Instruction, MemorySize as S, Mnemonic as M};

/// The constants of FLD1 ... FLDLN2 to 128 bits (integer bit at 127) with
/// their unbiased exponents. The hardware keeps more than 64 bits of
/// each and rounds it under the rounding control (SDM vol. 1, 8.3.8).
const PI: (u128, i32) = (0xc90fdaa22168c234c4c6628b80dc1cd1, 1);
const L2E: (u128, i32) = (0xb8aa3b295c17f0bbbe87fed0691d3e88, 0);
const L2T: (u128, i32) = (0xd49a784bcd1b8afe492bf6ff4dafdb4c, 1);
const LG2: (u128, i32) = (0x9a209a84fbcff7988f8959ac0b7c9178, -2);
const LN2: (u128, i32) = (0xb17217f7d1cf79abc9e3b39803f2f6af, -1);

/// A positive 128-bit constant rounded to 64 bits under `rc`.
pub(super) fn constant(rc: Rounding, (sig, exp): (u128, i32)) -> F80 {
    let hi = (sig >> 64) as u64;
    let lo = sig as u64;
    let up = match rc {
        Rounding::Nearest => lo > 1 << 63 || (lo == 1 << 63 && hi & 1 == 1),
        Rounding::Up => lo != 0,
        Rounding::Down | Rounding::Zero => false,
    };
    F80::new(false, (exp + 16383) as u16, hi + up as u64)
}

/// Packed BCD (18 digits and a sign byte) to extended: exact.
fn from_bcd(b: &[u8; 10]) -> F80 {
    let v = b[..9].iter().rev().fold(0u64, |v, d| {
        v * 100 + (d >> 4) as u64 * 10 + (d & 15) as u64
    });
    softfloat::from_magnitude(b[9] & 0x80 != 0, v as u128)
}

/// The packed BCD indefinite (SDM vol. 1, table 4-4).
const BCD_INDEFINITE: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff];

/// Extended to packed BCD under the rounding control; #IA (masked: the
/// BCD indefinite) beyond 18 digits.
fn to_bcd(c: &mut Ctx, v: F80) -> [u8; 10] {
    if matches!(
        v.class(),
        Class::Unsupported | Class::QNaN | Class::SNaN | Class::Infinity
    ) {
        c.flags |= sw::IE;
        return BCD_INDEFINITE;
    }
    let Some((mag, inexact, up)) = softfloat::round_magnitude(c.rc, v) else {
        c.flags |= sw::IE;
        return BCD_INDEFINITE;
    };
    if mag > 999_999_999_999_999_999 {
        c.flags |= sw::IE;
        return BCD_INDEFINITE;
    }
    if inexact {
        c.flags |= sw::PE;
    }
    c.c1 = up;
    let mut out = [0u8; 10];
    let mut m = mag as u64;
    for b in out.iter_mut().take(9) {
        let lo = (m % 10) as u8;
        m /= 10;
        let hi = (m % 10) as u8;
        m /= 10;
        *b = (hi << 4) | lo;
    }
    out[9] = if v.sign() { 0x80 } else { 0 };
    out
}

/// FLD, FILD, FBLD and the constant loads: push a value.
pub fn load(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, Kind::Numeric)?;
    let mut c = ctx(ex);
    let rc = c.rc;
    let value = match insn.mnemonic() {
        M::Fld if has_memory(insn) => match insn.memory_size() {
            S::Float80 => {
                let mut b = [0u8; 10];
                read_bytes(ex, insn, 0, &mut b)?;
                Some(F80::from_bytes(&b))
            }
            size => {
                let double = size == S::Float64;
                let n = if double { 8 } else { 4 };
                let mut b = [0u8; 8];
                read_bytes(ex, insn, 0, &mut b[..n])?;
                Some(softfloat::from_ieee(&mut c, u64::from_le_bytes(b), double))
            }
        },
        M::Fld => None,
        M::Fild => {
            let n = insn.memory_size().size();
            Some(softfloat::from_i64(read_int(ex, insn, n)?))
        }
        M::Fbld => {
            let mut b = [0u8; 10];
            read_bytes(ex, insn, 0, &mut b)?;
            Some(from_bcd(&b))
        }
        M::Fld1 => Some(F80::ONE),
        M::Fldz => Some(F80::ZERO),
        M::Fldpi => Some(constant(rc, PI)),
        M::Fldl2e => Some(constant(rc, L2E)),
        M::Fldl2t => Some(constant(rc, L2T)),
        M::Fldlg2 => Some(constant(rc, LG2)),
        _ => Some(constant(rc, LN2)),
    };
    // FLD ST(i) of an empty register is an underflow even when the push
    // would also overflow (checked on the host).
    if value.is_none() && ex.s.x87.is_empty(st_index(insn, 0)) {
        if stack_fault(ex, false) {
            ex.s.x87.push(F80::INDEFINITE);
        }
        return Ok(());
    }
    if !ex.s.x87.is_empty(7) {
        if stack_fault(ex, true) {
            ex.s.x87.push(F80::INDEFINITE);
        }
        return Ok(());
    }
    let value = value.unwrap_or_else(|| ex.s.x87.st(st_index(insn, 0)));
    commit(ex, &c, false);
    // Only an unmasked #IA (an SNaN) stops the load: a denormal single or
    // double is loaded even when #D is unmasked (checked on the host).
    if c.unmasked_raised() & sw::IE == 0 {
        ex.s.x87.push(value);
    }
    Ok(())
}

/// FSTPNCE (D9 D8+i, the reserved alias of FSTP ST(i)): on the host an
/// empty ST(0) raises nothing and leaves ST(i) alone; otherwise it is
/// FSTP ST(i). Either way C1 is cleared and the stack popped.
fn fstpnce(ex: &mut Exec, i: usize) {
    if !ex.s.x87.is_empty(0) {
        let v = ex.s.x87.st(0);
        ex.s.x87.set_st(i, v);
    }
    set_cc(ex, sw::C1, 0);
    ex.s.x87.pop();
}

/// FST, FSTP, FIST, FISTP, FISTTP, FBSTP.
pub fn store(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, Kind::Numeric)?;
    let m = insn.mnemonic();
    let pop = matches!(m, M::Fstp | M::Fstpnce | M::Fistp | M::Fisttp | M::Fbstp);
    if m == M::Fstpnce {
        fstpnce(ex, st_index(insn, 0));
        return Ok(());
    }
    if !has_memory(insn) {
        let i = st_index(insn, 0);
        if ex.s.x87.is_empty(0) {
            if stack_fault(ex, false) {
                ex.s.x87.set_st(i, F80::INDEFINITE);
                if pop {
                    ex.s.x87.pop();
                }
            }
            return Ok(());
        }
        let v = ex.s.x87.st(0);
        ex.s.x87.set_st(i, v);
        set_cc(ex, sw::C1, 0);
        if pop {
            ex.s.x87.pop();
        }
        return Ok(());
    }
    let size = insn.memory_size();
    let len = size.size();
    check_write(ex, insn, 0, len as u32)?;
    let empty = ex.s.x87.is_empty(0);
    let v = ex.s.x87.st(0);
    let mut c = ctx(ex);
    let bytes: [u8; 10] = match size {
        S::Float32 | S::Float64 => {
            let bits = if empty {
                if size == S::Float32 {
                    0xffc0_0000
                } else {
                    0xfff8_0000_0000_0000
                }
            } else {
                softfloat::to_ieee(&mut c, v, size == S::Float64)
            };
            let mut b = [0u8; 10];
            b[..8].copy_from_slice(&bits.to_le_bytes());
            b
        }
        S::Float80 => {
            if empty {
                F80::INDEFINITE.to_bytes()
            } else {
                v.to_bytes()
            }
        }
        S::Bcd => {
            if empty {
                BCD_INDEFINITE
            } else {
                to_bcd(&mut c, v)
            }
        }
        _ => {
            let bits = 8 * len as u32;
            let n = if empty {
                1u64 << (bits - 1)
            } else {
                softfloat::to_int(&mut c, v, bits, m == M::Fisttp)
            };
            let mut b = [0u8; 10];
            b[..8].copy_from_slice(&n.to_le_bytes());
            b
        }
    };
    if empty {
        if !stack_fault(ex, false) {
            return Ok(());
        }
    } else if !commit(ex, &c, true) {
        return Ok(());
    }
    write_bytes(ex, insn, 0, &bytes[..len])?;
    if pop {
        ex.s.x87.pop();
    }
    Ok(())
}

/// FXCH ST(i).
pub fn exchange(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, Kind::Numeric)?;
    let i = if insn.op_count() > 1 {
        st_index(insn, 1)
    } else {
        1
    };
    let x = &ex.s.x87;
    let (e0, ei) = (x.is_empty(0), x.is_empty(i));
    let (a, b) = (x.st(0), x.st(i));
    if e0 || ei {
        if stack_fault(ex, false) {
            let a = if e0 { F80::INDEFINITE } else { a };
            let b = if ei { F80::INDEFINITE } else { b };
            ex.s.x87.set_st(0, b);
            ex.s.x87.set_st(i, a);
        }
        return Ok(());
    }
    ex.s.x87.set_st(0, b);
    ex.s.x87.set_st(i, a);
    set_cc(ex, sw::C1, 0);
    Ok(())
}

/// FCMOVcc ST(0), ST(i): the condition reads CF, ZF and PF.
pub fn fcmov(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, Kind::Numeric)?;
    let f = ex.s.flags();
    let (cf, zf, pf) = (f & CF != 0, f & ZF != 0, f & PF != 0);
    let cond = match insn.mnemonic() {
        M::Fcmovb => cf,
        M::Fcmove => zf,
        M::Fcmovbe => cf || zf,
        M::Fcmovu => pf,
        M::Fcmovnb => !cf,
        M::Fcmovne => !zf,
        M::Fcmovnbe => !cf && !zf,
        _ => !pf,
    };
    let i = st_index(insn, 1);
    if ex.s.x87.is_empty(0) || ex.s.x87.is_empty(i) {
        if stack_fault(ex, false) {
            ex.s.x87.set_st(0, F80::INDEFINITE);
        }
        return Ok(());
    }
    if cond {
        let v = ex.s.x87.st(i);
        ex.s.x87.set_st(0, v);
    }
    set_cc(ex, sw::C1, 0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::x87::float80::J;

    #[test]
    fn constants_follow_the_rounding_control() {
        assert_eq!(constant(Rounding::Nearest, PI).sig, 0xc90fdaa22168c235);
        assert_eq!(constant(Rounding::Down, PI).sig, 0xc90fdaa22168c234);
        assert_eq!(constant(Rounding::Nearest, L2T).sig, 0xd49a784bcd1b8afe);
        assert_eq!(constant(Rounding::Up, L2T).sig, 0xd49a784bcd1b8aff);
        assert_eq!(constant(Rounding::Nearest, LG2).sig, 0x9a209a84fbcff799);
        assert_eq!(constant(Rounding::Zero, LG2).sig, 0x9a209a84fbcff798);
        assert_eq!(constant(Rounding::Nearest, LN2).se, 0x3ffe);
        assert_eq!(constant(Rounding::Nearest, L2E).sig & J, J);
    }

    #[test]
    fn bcd_round_trip_and_indefinite() {
        let b = [0x89, 0x67, 0x45, 0x23, 0x01, 0, 0, 0, 0x99, 0x80];
        let v = from_bcd(&b);
        let mut c = Ctx::new(0x037f);
        assert_eq!(
            softfloat::to_int(&mut c, v, 64, false) as i64,
            -990_000_000_123_456_789
        );
        assert_eq!(to_bcd(&mut c, v), b);
        assert_eq!(c.flags, 0);
        let too_big = softfloat::from_i64(1_000_000_000_000_000_000);
        assert_eq!(to_bcd(&mut c, too_big), BCD_INDEFINITE);
        assert_eq!(c.flags, sw::IE);
        let mut c = Ctx::new(0x037f);
        let half = softfloat::from_ieee(&mut c, 2.5f64.to_bits(), true);
        assert_eq!(to_bcd(&mut c, half)[0], 0x02);
        assert_eq!(c.flags, sw::PE);
        assert_eq!(
            from_bcd(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]),
            F80::zero(true)
        );
    }
}

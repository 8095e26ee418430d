//! Decimal adjust: DAA, DAS, AAA, AAS, AAM, AAD, and the undocumented SALC.
//! Flag rules from the SDM pseudo-code of each instruction.

use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::flags::szp;
use crate::cpu::state::rflags::{AF, ARITH, CF};
use crate::cpu::state::RAX;
use iced_x86::Instruction;

type R = Result<(), Fault>;

fn al(ex: &Exec) -> u64 {
    ex.reg(RAX, 1)
}

pub fn daa(ex: &mut Exec, _insn: &Instruction) -> R {
    let old_al = al(ex);
    let old_cf = ex.s.flag(CF);
    let mut v = old_al;
    let mut f = 0;
    if v & 0xf > 9 || ex.s.flag(AF) {
        v += 6;
        f |= AF;
        if old_cf || v > 0xff {
            f |= CF;
        }
    }
    if old_al > 0x99 || old_cf {
        v += 0x60;
        f |= CF;
    } else {
        f &= !CF;
    }
    let v = v & 0xff;
    ex.set_reg(RAX, 1, v);
    ex.s.set_arith_flags(ARITH, f | szp(v, 1));
    Ok(())
}

pub fn das(ex: &mut Exec, _insn: &Instruction) -> R {
    let old_al = al(ex);
    let old_cf = ex.s.flag(CF);
    let mut v = old_al;
    let mut f = 0;
    if v & 0xf > 9 || ex.s.flag(AF) {
        f |= AF;
        if old_cf || v < 6 {
            f |= CF;
        }
        v = v.wrapping_sub(6) & 0xff;
    }
    if old_al > 0x99 || old_cf {
        v = v.wrapping_sub(0x60) & 0xff;
        f |= CF;
    }
    ex.set_reg(RAX, 1, v);
    ex.s.set_arith_flags(ARITH, f | szp(v, 1));
    Ok(())
}

/// AAA/AAS: adjust AX after an unpacked-BCD add or subtract. `up` adds.
fn ascii_adjust(ex: &mut Exec, up: bool) -> R {
    let ax = ex.reg(RAX, 2);
    let adjust = ax & 0xf > 9 || ex.s.flag(AF);
    let mut v = ax;
    if adjust {
        v = if up {
            v.wrapping_add(0x106)
        } else {
            // SDM: AX <- AX - 6; AH <- AH - 1 (the borrow reaches AH).
            v.wrapping_sub(6).wrapping_sub(0x100)
        };
    }
    let v = (v & 0xff00) | (v & 0x0f);
    ex.set_reg(RAX, 2, v);
    let f = if adjust { AF | CF } else { 0 };
    ex.s.set_arith_flags(ARITH, f | szp(v, 1));
    Ok(())
}

pub fn aaa(ex: &mut Exec, _insn: &Instruction) -> R {
    ascii_adjust(ex, true)
}

pub fn aas(ex: &mut Exec, _insn: &Instruction) -> R {
    ascii_adjust(ex, false)
}

pub fn aam(ex: &mut Exec, insn: &Instruction) -> R {
    let base = insn.immediate(0) & 0xff;
    if base == 0 {
        return Err(Fault::DE);
    }
    let a = al(ex);
    let v = ((a / base) << 8) | (a % base);
    ex.set_reg(RAX, 2, v);
    ex.s.set_arith_flags(ARITH, szp(v, 1));
    Ok(())
}

pub fn aad(ex: &mut Exec, insn: &Instruction) -> R {
    let base = insn.immediate(0) & 0xff;
    let ax = ex.reg(RAX, 2);
    let v = ((ax >> 8) * base + (ax & 0xff)) & 0xff;
    ex.set_reg(RAX, 2, v);
    ex.s.set_arith_flags(ARITH, szp(v, 1));
    Ok(())
}

/// SALC (D6): AL = CF ? 0xFF : 0, flags untouched.
pub fn salc(ex: &mut Exec, _insn: &Instruction) -> R {
    let v = if ex.s.flag(CF) { 0xff } else { 0 };
    ex.set_reg(RAX, 1, v);
    Ok(())
}

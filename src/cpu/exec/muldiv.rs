//! MUL, IMUL (one, two and three operands), DIV, IDIV.
//! The one-operand forms use the accumulator pair AL/AX:DX/EAX:EDX/RAX:RDX.

use super::operand::{sext, size_mask};
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::flags::szp;
use crate::cpu::state::rflags::{ARITH, CF, OF};
use crate::cpu::state::{RAX, RDX};
use iced_x86::Instruction;

type R = Result<(), Fault>;

/// Writes a double-width product to AX or rDX:rAX.
fn store_wide(ex: &mut Exec, size: u32, lo: u64, hi: u64) {
    if size == 1 {
        ex.set_reg(RAX, 2, (hi << 8) | lo);
    } else {
        ex.set_reg(RAX, size, lo);
        ex.set_reg(RDX, size, hi);
    }
}

/// Reads AX or rDX:rAX as (high, low).
fn load_wide(ex: &Exec, size: u32) -> (u64, u64) {
    if size == 1 {
        let ax = ex.reg(RAX, 2);
        (ax >> 8, ax & 0xff)
    } else {
        (ex.reg(RDX, size), ex.reg(RAX, size))
    }
}

/// CF = OF = `overflow`; SF/ZF/PF follow the low half (undefined by the
/// SDM, this is what current Intel parts produce); AF reads as clear.
fn mul_flags(ex: &mut Exec, overflow: bool, lo: u64, size: u32) {
    let of = if overflow { CF | OF } else { 0 };
    ex.s.set_arith_flags(ARITH, of | szp(lo, size as u8));
}

pub fn mul(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let b = ex.read_op(insn, 0)? as u128;
    let a = ex.reg(RAX, size) as u128;
    let p = a * b;
    let bits = size * 8;
    let lo = p as u64 & size_mask(size);
    let hi = (p >> bits) as u64 & size_mask(size);
    store_wide(ex, size, lo, hi);
    mul_flags(ex, hi != 0, lo, size);
    Ok(())
}

pub fn imul(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let bits = size * 8;
    let mask = size_mask(size);
    if insn.op_count() == 1 {
        let b = sext(ex.read_op(insn, 0)?, size) as i128;
        let a = sext(ex.reg(RAX, size), size) as i128;
        let p = a * b;
        let lo = p as u64 & mask;
        let hi = (p >> bits) as u64 & mask;
        store_wide(ex, size, lo, hi);
        mul_flags(ex, p != sext(lo, size) as i128, lo, size);
        return Ok(());
    }
    // Two- and three-operand forms: dst = src1 * src2, truncated.
    let (x, y) = if insn.op_count() == 3 {
        (ex.read_op(insn, 1)?, ex.read_op(insn, 2)?)
    } else {
        (ex.read_op(insn, 0)?, ex.read_op(insn, 1)?)
    };
    let p = sext(x, size) as i128 * sext(y, size) as i128;
    let lo = p as u64 & mask;
    ex.write_op(insn, 0, lo)?;
    mul_flags(ex, p != sext(lo, size) as i128, lo, size);
    Ok(())
}

pub fn div(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let d = ex.read_op(insn, 0)? as u128;
    if d == 0 {
        return Err(Fault::DE);
    }
    let (hi, lo) = load_wide(ex, size);
    let n = ((hi as u128) << (size * 8)) | lo as u128;
    let q = n / d;
    if q > size_mask(size) as u128 {
        return Err(Fault::DE);
    }
    let r = (n % d) as u64;
    store_quotient(ex, size, q as u64, r);
    Ok(())
}

pub fn idiv(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let d = sext(ex.read_op(insn, 0)?, size) as i128;
    if d == 0 {
        return Err(Fault::DE);
    }
    let (hi, lo) = load_wide(ex, size);
    let bits = size * 8;
    let raw = ((hi as u128) << bits) | lo as u128;
    // Sign-extend the 2*bits-wide dividend.
    let n = ((raw << (128 - 2 * bits)) as i128) >> (128 - 2 * bits);
    let (q, r) = match (n.checked_div(d), n.checked_rem(d)) {
        (Some(q), Some(r)) => (q, r),
        _ => return Err(Fault::DE),
    };
    let min = -(1i128 << (bits - 1));
    let max = (1i128 << (bits - 1)) - 1;
    if q < min || q > max {
        return Err(Fault::DE);
    }
    let mask = size_mask(size);
    store_quotient(ex, size, q as u64 & mask, r as u64 & mask);
    Ok(())
}

/// Quotient to AL/rAX, remainder to AH/rDX.
fn store_quotient(ex: &mut Exec, size: u32, q: u64, r: u64) {
    if size == 1 {
        ex.set_reg(RAX, 2, (r << 8) | q);
    } else {
        ex.set_reg(RAX, size, q);
        ex.set_reg(RDX, size, r);
    }
}

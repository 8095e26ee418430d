//! Shifts and rotates: SHL/SAL, SHR, SAR, ROL, ROR, RCL, RCR, SHLD, SHRD.
//! Counts are masked to 5 bits (6 for 64-bit operands); a masked count of
//! zero changes nothing, not even the flags (SDM vol. 2, SAL/SAR/SHL/SHR).

use super::operand::size_mask;
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::flags::szp;
use crate::cpu::state::rflags::{ARITH, CF, OF};
use iced_x86::{Instruction, Mnemonic};

type R = Result<(), Fault>;

/// The masked shift count: from CL, an immediate, or the implicit 1.
fn count(ex: &mut Exec, insn: &Instruction, n: u32, size: u32) -> Result<u32, Fault> {
    let raw = if insn.op_count() > n {
        ex.read_op(insn, n)?
    } else {
        1
    };
    Ok((raw & if size == 8 { 0x3f } else { 0x1f }) as u32)
}

/// A masked count of zero changes no flags and no bits, but a 32-bit
/// register destination is still written, which clears bits 63..32 in
/// 64-bit mode (as on hardware).
fn zero_count(ex: &mut Exec, insn: &Instruction, size: u32, a: u64) -> R {
    if size == 4 && insn.op_kind(0) == iced_x86::OpKind::Register {
        ex.write_op(insn, 0, a)?;
    }
    Ok(())
}

pub fn shift(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let c = count(ex, insn, 1, size)?;
    let a = ex.read_op_rmw(insn, 0)?;
    if c == 0 {
        return zero_count(ex, insn, size, a);
    }
    let bits = size * 8;
    let mask = size_mask(size);
    let msb = |v: u64| (v >> (bits - 1)) & 1;
    let cf_in = ex.s.flag(CF) as u64;
    let wide = a as u128;
    let (r, cf, of, arith) = match insn.mnemonic() {
        Mnemonic::Shl | Mnemonic::Sal => {
            let r = ((wide << c) as u64) & mask;
            let cf = ((wide << c) >> bits) as u64 & 1;
            (r, cf, msb(r) ^ cf, true)
        }
        Mnemonic::Shr => {
            let r = (wide >> c) as u64;
            let cf = if c <= bits { (a >> (c - 1)) & 1 } else { 0 };
            // OF is defined for a count of 1 only; for larger counts take
            // it from the last single-bit step, as the 286 does.
            let before_last = if c <= bits { a >> (c - 1) } else { 0 };
            (r, cf, msb(before_last), true)
        }
        Mnemonic::Sar => {
            let s = super::operand::sext(a, size) as i128;
            let r = (s >> c.min(127)) as u64 & mask;
            let cf = ((s >> (c - 1).min(127)) & 1) as u64;
            (r, cf, 0, true)
        }
        Mnemonic::Rol => {
            let k = c % bits;
            let r = if k == 0 {
                a
            } else {
                ((a << k) | (a >> (bits - k))) & mask
            };
            (r, r & 1, msb(r) ^ (r & 1), false)
        }
        Mnemonic::Ror => {
            let k = c % bits;
            let r = if k == 0 {
                a
            } else {
                ((a >> k) | (a << (bits - k))) & mask
            };
            (r, msb(r), msb(r) ^ ((r >> (bits - 2)) & 1), false)
        }
        Mnemonic::Rcl => {
            // Rotate the (bits+1)-bit value CF:dst.
            let k = if bits < 32 { c % (bits + 1) } else { c };
            let v = (cf_in as u128) << bits | wide;
            let full = (1u128 << (bits + 1)) - 1;
            let v = if k == 0 {
                v
            } else {
                ((v << k) | (v >> (bits + 1 - k))) & full
            };
            let r = v as u64 & mask;
            let cf = (v >> bits) as u64 & 1;
            (r, cf, msb(r) ^ cf, false)
        }
        _ => {
            // RCR
            let k = if bits < 32 { c % (bits + 1) } else { c };
            let v = (cf_in as u128) << bits | wide;
            let full = (1u128 << (bits + 1)) - 1;
            let v = if k == 0 {
                v
            } else {
                ((v >> k) | (v << (bits + 1 - k))) & full
            };
            let r = v as u64 & mask;
            let cf = (v >> bits) as u64 & 1;
            (r, cf, msb(r) ^ ((r >> (bits - 2)) & 1), false)
        }
    };
    ex.write_op(insn, 0, r)?;
    let mut f = (cf * CF) | (of * OF);
    if arith {
        f |= szp(r, size as u8);
        ex.s.set_arith_flags(ARITH, f);
    } else {
        ex.s.set_arith_flags(CF | OF, f);
    }
    Ok(())
}

/// SHLD/SHRD: shift `dst` filling from `src`.
pub fn double_shift(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let c = count(ex, insn, 2, size)?;
    let a = ex.read_op_rmw(insn, 0)?;
    let b = ex.read_op(insn, 1)?;
    if c == 0 {
        return zero_count(ex, insn, size, a);
    }
    let bits = size * 8;
    let mask = size_mask(size);
    let left = insn.mnemonic() == Mnemonic::Shld;
    let (r, cf) = if bits == 16 {
        // Counts above 16 see the dst:src:dst concatenation (as Bochs
        // models the hardware); 48 bits hold it.
        let v = (a << 32) | (b << 16) | a;
        if left {
            let s = (v as u128) << c;
            ((s >> 32) as u64 & mask, (s >> 48) as u64 & 1)
        } else {
            ((v >> c) & mask, (v >> (c - 1)) & 1)
        }
    } else if left {
        (((a << c) | (b >> (bits - c))) & mask, (a >> (bits - c)) & 1)
    } else {
        (((a >> c) | (b << (bits - c))) & mask, (a >> (c - 1)) & 1)
    };
    ex.write_op(insn, 0, r)?;
    let of = ((a ^ r) >> (bits - 1)) & 1;
    // AF is undefined; it reads as clear.
    ex.s.set_arith_flags(ARITH, (cf * CF) | (of * OF) | szp(r, size as u8));
    Ok(())
}

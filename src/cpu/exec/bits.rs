//! Bit instructions: BT, BTS, BTR, BTC, BSF, BSR (and F3-prefixed as
//! TZCNT/LZCNT), BSWAP, POPCNT.

use super::operand::{sext, size_mask};
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::state::rflags::{ARITH, CF, ZF};
use iced_x86::{Instruction, Mnemonic, OpKind};

type R = Result<(), Fault>;

/// BT/BTS/BTR/BTC. With a memory operand and a register bit offset, the
/// offset is signed and may select any bit relative to the operand's address
/// (SDM vol. 2, BT: "bit base" addressing).
pub fn bit_test(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let bits = size as u64 * 8;
    let raw = ex.read_op(insn, 1)?;
    let modify = insn.mnemonic() != Mnemonic::Bt;
    let (seg, off, bit) =
        if insn.op_kind(0) == OpKind::Memory && insn.op_kind(1) == OpKind::Register {
            let offset = sext(raw, size);
            let words = offset >> bits.trailing_zeros();
            let addr_mask = size_mask(super::operand::addr_size(insn));
            let off = ex
                .effective_offset(insn)
                .wrapping_add((words * size as i64) as u64)
                & addr_mask;
            (Some(ex.mem_seg(insn)), off, (offset as u64) & (bits - 1))
        } else {
            (None, 0, raw & (bits - 1))
        };
    let value = match seg {
        Some(seg) => ex.read_mem(seg, off, size)?,
        None => ex.read_op(insn, 0)?,
    };
    let set = (value >> bit) & 1 != 0;
    if modify {
        let m = 1u64 << bit;
        let new = match insn.mnemonic() {
            Mnemonic::Bts => value | m,
            Mnemonic::Btr => value & !m,
            _ => value ^ m,
        };
        match seg {
            Some(seg) => ex.write_mem(seg, off, size, new)?,
            None => ex.write_op(insn, 0, new)?,
        }
    }
    ex.s.set_flag(CF, set);
    Ok(())
}

/// BSF/BSR: a zero source sets ZF and leaves the destination unchanged.
pub fn bit_scan(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let v = ex.read_op(insn, 1)? & size_mask(size);
    if v == 0 {
        ex.s.set_flag(ZF, true);
        return Ok(());
    }
    // Without BMI1/LZCNT (CPUID reports neither) the F3-prefixed forms
    // TZCNT and LZCNT execute as BSF and BSR, as on the CPUs xlat models;
    // kernels rely on that ("rep bsf").
    let idx = if matches!(insn.mnemonic(), Mnemonic::Bsf | Mnemonic::Tzcnt) {
        v.trailing_zeros()
    } else {
        63 - v.leading_zeros()
    };
    ex.write_op(insn, 0, idx as u64)?;
    ex.s.set_flag(ZF, false);
    Ok(())
}

pub fn bswap(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let v = ex.read_op(insn, 0)?;
    let r = match size {
        // BSWAP of a 16-bit register is undefined; hardware gives zero.
        2 => 0,
        4 => (v as u32).swap_bytes() as u64,
        _ => v.swap_bytes(),
    };
    ex.write_op(insn, 0, r)
}

/// POPCNT: the number of set bits; ZF = (source == 0), the other
/// arithmetic flags cleared (SDM vol. 2, POPCNT).
pub fn popcnt(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let v = ex.read_op(insn, 1)? & size_mask(size);
    ex.write_op(insn, 0, v.count_ones() as u64)?;
    ex.s.set_arith_flags(ARITH, if v == 0 { ZF } else { 0 });
    Ok(())
}

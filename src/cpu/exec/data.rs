//! Data movement: MOV, MOVZX/MOVSX, XCHG, LEA, far-pointer loads, sign
//! extensions of the accumulator, XLAT, LAHF/SAHF, CMOVcc, SETcc, CMPXCHG,
//! XADD, CMPXCHG8B/16B, NOP.

use super::operand::{addr_size, seg_index, sext, size_mask};
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::flags::FlagOp;
use crate::cpu::state::rflags::{AF, CF, FIXED1, PF, SF, ZF};
use crate::cpu::state::{RAX, RBX, RCX, RDX};
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

type R = Result<(), Fault>;

pub fn nop(_ex: &mut Exec, _insn: &Instruction) -> R {
    Ok(())
}

pub fn mov(ex: &mut Exec, insn: &Instruction) -> R {
    let v = ex.read_op(insn, 1)?;
    if ex.operands_planned(insn) {
        // GPRs, memory and immediates only: no segment register involved.
        return ex.write_op(insn, 0, v);
    }
    if insn.op_kind(0) == OpKind::Register && insn.op_register(0).is_segment_register() {
        let r = insn.op_register(0);
        if r == Register::CS {
            return Err(Fault::UD);
        }
        return ex.load_segment(seg_index(r), v as u16);
    }
    if insn.op_kind(1) == OpKind::Register
        && insn.op_register(1).is_segment_register()
        && insn.op_kind(0) == OpKind::Register
    {
        // MOV r32, Sreg zero-extends the selector.
        let size = ex.op_size(insn, 0);
        return ex.write_op(insn, 0, v & size_mask(size.min(4)));
    }
    ex.write_op(insn, 0, v)
}

pub fn movzx(ex: &mut Exec, insn: &Instruction) -> R {
    let v = ex.read_op(insn, 1)?;
    ex.write_op(insn, 0, v)
}

pub fn movsx(ex: &mut Exec, insn: &Instruction) -> R {
    let src = ex.op_size(insn, 1);
    let dst = ex.op_size(insn, 0);
    let v = ex.read_op(insn, 1)?;
    ex.write_op(insn, 0, sext(v, src) as u64 & size_mask(dst))
}

pub fn xchg(ex: &mut Exec, insn: &Instruction) -> R {
    let a = ex.read_op_rmw(insn, 0)?;
    let b = ex.read_op(insn, 1)?;
    // Memory (if any) is operand 0 in iced's form; write it first so a
    // fault leaves the register untouched.
    ex.write_op(insn, 0, b)?;
    ex.write_op(insn, 1, a)
}

pub fn lea(ex: &mut Exec, insn: &Instruction) -> R {
    let off = ex.effective_offset(insn);
    let size = ex.op_size(insn, 0);
    ex.write_op(insn, 0, off & size_mask(size))
}

/// LDS/LES/LSS/LFS/LGS: offset then selector from an m16:16/32/64 pointer.
pub fn load_far_pointer(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let seg = ex.mem_seg(insn);
    let off = ex.effective_offset(insn);
    let offset = ex.read_mem(seg, off, size)?;
    let asz = size_mask(addr_size(insn));
    let sel = ex.read_mem(seg, off.wrapping_add(size as u64) & asz, 2)? as u16;
    let target = match insn.mnemonic() {
        Mnemonic::Lds => Register::DS,
        Mnemonic::Les => Register::ES,
        Mnemonic::Lss => Register::SS,
        Mnemonic::Lfs => Register::FS,
        _ => Register::GS,
    };
    ex.load_segment(seg_index(target), sel)?;
    ex.write_op(insn, 0, offset)
}

/// CBW/CWDE/CDQE: sign-extend the low half of the accumulator into it.
pub fn widen_accumulator(ex: &mut Exec, insn: &Instruction) -> R {
    let size = match insn.mnemonic() {
        Mnemonic::Cbw => 2,
        Mnemonic::Cwde => 4,
        _ => 8,
    };
    let v = sext(ex.reg(RAX, size / 2), size / 2) as u64;
    ex.set_reg(RAX, size, v & size_mask(size));
    Ok(())
}

/// CWD/CDQ/CQO: sign of the accumulator into rDX.
pub fn sign_into_dx(ex: &mut Exec, insn: &Instruction) -> R {
    let size = match insn.mnemonic() {
        Mnemonic::Cwd => 2,
        Mnemonic::Cdq => 4,
        _ => 8,
    };
    let neg = sext(ex.reg(RAX, size), size) < 0;
    ex.set_reg(RDX, size, if neg { size_mask(size) } else { 0 });
    Ok(())
}

/// XLAT: iced presents the table operand as [seg:rBX + AL].
pub fn xlat(ex: &mut Exec, insn: &Instruction) -> R {
    let v = ex.read_op(insn, 0)?;
    ex.set_reg(RAX, 1, v);
    Ok(())
}

pub fn lahf(ex: &mut Exec, _insn: &Instruction) -> R {
    let f = ex.s.flags() & (SF | ZF | AF | PF | CF) | FIXED1;
    ex.s.gpr[RAX] = (ex.s.gpr[RAX] & !0xff00) | (f << 8);
    Ok(())
}

pub fn sahf(ex: &mut Exec, _insn: &Instruction) -> R {
    let ah = (ex.s.gpr[RAX] >> 8) & 0xff;
    ex.s.set_arith_flags(SF | ZF | AF | PF | CF, ah);
    Ok(())
}

pub fn cmovcc(ex: &mut Exec, insn: &Instruction) -> R {
    let taken = super::condition(ex.s, insn.condition_code());
    cmov_if(ex, insn, taken)
}

/// CMOVcc once its condition is known.
#[inline(always)]
pub fn cmov_if(ex: &mut Exec, insn: &Instruction, taken: bool) -> R {
    let v = ex.read_op(insn, 1)?;
    let dst = if taken { v } else { ex.read_op(insn, 0)? };
    // A 32-bit destination is written (zero-extended) even when false.
    ex.write_op(insn, 0, dst)
}

pub fn setcc(ex: &mut Exec, insn: &Instruction) -> R {
    let v = super::condition(ex.s, insn.condition_code()) as u64;
    ex.write_op(insn, 0, v)
}

pub fn cmpxchg(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let dst = ex.read_op_rmw(insn, 0)?;
    let src = ex.read_op(insn, 1)?;
    let acc = ex.reg(RAX, size);
    let r = acc.wrapping_sub(dst) & size_mask(size);
    if acc == dst {
        ex.write_op(insn, 0, src)?;
    } else {
        // A memory destination is written back unchanged (a locked RMW
        // cycle); a register destination is left alone, so its upper half
        // survives in 64-bit mode.
        if insn.op_kind(0) == OpKind::Memory {
            ex.write_op(insn, 0, dst)?;
        }
        ex.set_reg(RAX, size, dst);
    }
    ex.s.lazy.set(FlagOp::Sub, size as u8, acc, dst, r);
    Ok(())
}

pub fn xadd(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let a = ex.read_op_rmw(insn, 0)?;
    let b = ex.read_op(insn, 1)?;
    let r = a.wrapping_add(b) & size_mask(size);
    ex.write_op(insn, 0, r)?;
    ex.write_op(insn, 1, a)?;
    // When both operands are the same register the sum wins.
    if insn.op_kind(0) == OpKind::Register && insn.op_register(0) == insn.op_register(1) {
        ex.write_op(insn, 0, r)?;
    }
    ex.s.lazy.set(FlagOp::Add, size as u8, a, b, r);
    Ok(())
}

/// CMPXCHG8B / CMPXCHG16B: compare rDX:rAX with m64/m128.
pub fn cmpxchg_wide(ex: &mut Exec, insn: &Instruction) -> R {
    let half = if insn.mnemonic() == Mnemonic::Cmpxchg16b {
        8
    } else {
        4
    };
    let seg = ex.mem_seg(insn);
    let off = ex.effective_offset(insn);
    if half == 8 && off & 15 != 0 {
        return Err(Fault::gp(0));
    }
    let asz = size_mask(addr_size(insn));
    let lo = ex.read_mem(seg, off, half)?;
    let hi = ex.read_mem(seg, off.wrapping_add(half as u64) & asz, half)?;
    let equal = lo == ex.reg(RAX, half) && hi == ex.reg(RDX, half);
    let (new_lo, new_hi) = if equal {
        (ex.reg(RBX, half), ex.reg(RCX, half))
    } else {
        (lo, hi)
    };
    ex.check_write(seg, off, half * 2)?;
    ex.write_mem(seg, off, half, new_lo)?;
    ex.write_mem(seg, off.wrapping_add(half as u64) & asz, half, new_hi)?;
    if !equal {
        ex.set_reg(RAX, half, lo);
        ex.set_reg(RDX, half, hi);
    }
    ex.s.set_flag(ZF, equal);
    Ok(())
}

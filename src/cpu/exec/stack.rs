//! Stack instructions: PUSH, POP, PUSHA/POPA, PUSHF/POPF, ENTER, LEAVE.

use super::operand::{seg_index, size_mask};
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::state::rflags::{IOPL, RF, VM};
use crate::cpu::state::{RBP, RSP, SS};
use iced_x86::{Instruction, OpKind};

type R = Result<(), Fault>;

/// Operand size of a stack instruction from its encoding (16/32/64 bits).
#[inline]
pub fn stack_op_size(insn: &Instruction) -> u32 {
    match insn.op_code().operand_size() {
        16 => 2,
        64 => 8,
        32 => 4,
        _ => match insn.code_size() {
            iced_x86::CodeSize::Code16 => 2,
            iced_x86::CodeSize::Code64 => 8,
            _ => 4,
        },
    }
}

pub fn push(ex: &mut Exec, insn: &Instruction) -> R {
    let size = stack_op_size(insn);
    // Immediates arrive sign-extended to the operand size already.
    let v = ex.read_op(insn, 0)? & size_mask(size);
    if size > 2 && insn.op_kind(0) == OpKind::Register && insn.op_register(0).is_segment_register()
    {
        // A selector pushed with a 32/64-bit operand size: recent Intel
        // CPUs make a 16-bit move and leave the rest of the slot as it was
        // (SDM vol. 2, PUSH); the whole slot must still be writable.
        let ss = ex.stack_size();
        let sp = ex.reg(RSP, ss).wrapping_sub(size as u64) & size_mask(ss);
        ex.check_write(SS, sp, size)?;
        ex.write_mem(SS, sp, 2, v)?;
        ex.set_reg(RSP, ss, sp);
        return Ok(());
    }
    ex.push(size, v)
}

pub fn pop(ex: &mut Exec, insn: &Instruction) -> R {
    let size = stack_op_size(insn);
    let v = ex.pop(size)?;
    if insn.op_kind(0) == OpKind::Register && insn.op_register(0).is_segment_register() {
        return ex.load_segment(seg_index(insn.op_register(0)), v as u16);
    }
    // POP [rSP+x] addresses with the incremented rSP (SDM vol. 2, POP).
    ex.write_op(insn, 0, v)
}

pub fn pusha(ex: &mut Exec, insn: &Instruction) -> R {
    let size = stack_op_size(insn);
    let sp = ex.reg(RSP, size);
    // Each push checks its own word: SP wraps within the segment.
    for i in 0..8 {
        let v = if i == RSP { sp } else { ex.reg(i, size) };
        ex.push(size, v)?;
    }
    Ok(())
}

pub fn popa(ex: &mut Exec, insn: &Instruction) -> R {
    let size = stack_op_size(insn);
    for i in (0..8).rev() {
        let v = ex.pop(size)?;
        if i != RSP {
            ex.set_reg(i, size, v);
        }
    }
    Ok(())
}

pub fn pushf(ex: &mut Exec, insn: &Instruction) -> R {
    let size = stack_op_size(insn);
    if ex.s.rflags & VM != 0 && ex.s.rflags & IOPL != IOPL {
        return Err(Fault::gp(0));
    }
    // VM and RF read as clear in the pushed image.
    let f = ex.s.flags() & !(VM | RF);
    ex.push(size, f & size_mask(size))
}

pub fn popf(ex: &mut Exec, insn: &Instruction) -> R {
    let size = stack_op_size(insn);
    let old = ex.s.flags();
    // In V86 mode POPF is IOPL-sensitive.
    if old & VM != 0 && old & IOPL != IOPL {
        return Err(Fault::gp(0));
    }
    let v = ex.pop(size)?;
    let cpl = ex.cpl();
    crate::cpu::interrupt::apply_popped_flags(ex, v, size, cpl);
    // POPF always clears RF (unlike IRET, which loads it).
    ex.s.rflags &= !RF;
    ex.yield_now = true;
    Ok(())
}

pub fn enter(ex: &mut Exec, insn: &Instruction) -> R {
    let size = stack_op_size(insn);
    let alloc = insn.immediate(0) & 0xffff;
    let level = insn.immediate(1) & 0x1f;
    let ss = ex.stack_size();
    ex.push(size, ex.reg(RBP, size))?;
    let frame = ex.reg(RSP, ss);
    if level > 0 {
        let mut bp = ex.reg(RBP, ss);
        for _ in 1..level {
            bp = bp.wrapping_sub(size as u64) & size_mask(ss);
            let v = ex.read_mem(SS, bp, size)?;
            ex.push(size, v)?;
        }
        ex.push(size, frame & size_mask(size))?;
    }
    let sp = ex.reg(RSP, ss).wrapping_sub(alloc) & size_mask(ss);
    // The final frame must be writable (SDM: #SS if it is not).
    if alloc > 0 {
        ex.check_write(SS, sp, 1)?;
    }
    ex.set_reg(RBP, size, frame);
    ex.set_reg(RSP, ss, sp);
    Ok(())
}

pub fn leave(ex: &mut Exec, insn: &Instruction) -> R {
    let size = stack_op_size(insn);
    let ss = ex.stack_size();
    let bp = ex.reg(RBP, ss);
    let v = ex.read_mem(SS, bp, size)?;
    ex.set_reg(RSP, ss, bp.wrapping_add(size as u64) & size_mask(ss));
    ex.set_reg(RBP, size, v);
    Ok(())
}

//! ADD, ADC, SUB, SBB, CMP, INC, DEC, NEG: integer arithmetic with lazy flags.

use super::operand::size_mask;
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::flags::FlagOp;
use crate::cpu::state::rflags::CF;
use iced_x86::Instruction;

type R = Result<(), Fault>;

/// Shared shape of two-operand arithmetic: `dst = f(dst, src, carry)`.
#[inline]
fn binary(ex: &mut Exec, insn: &Instruction, op: FlagOp, carry_in: bool, write: bool) -> R {
    let size = ex.op_size(insn, 0);
    let a = if write {
        ex.read_op_rmw(insn, 0)?
    } else {
        ex.read_op(insn, 0)?
    };
    let b = ex.read_op(insn, 1)?;
    let c = (carry_in && ex.s.flag(CF)) as u64;
    let r = match op {
        FlagOp::Add => a.wrapping_add(b).wrapping_add(c),
        _ => a.wrapping_sub(b).wrapping_sub(c),
    } & size_mask(size);
    if write {
        ex.write_op(insn, 0, r)?;
    }
    ex.s.lazy.set(op, size as u8, a, b, r);
    Ok(())
}

pub fn add(ex: &mut Exec, insn: &Instruction) -> R {
    binary(ex, insn, FlagOp::Add, false, true)
}

pub fn adc(ex: &mut Exec, insn: &Instruction) -> R {
    binary(ex, insn, FlagOp::Add, true, true)
}

pub fn sub(ex: &mut Exec, insn: &Instruction) -> R {
    binary(ex, insn, FlagOp::Sub, false, true)
}

pub fn sbb(ex: &mut Exec, insn: &Instruction) -> R {
    binary(ex, insn, FlagOp::Sub, true, true)
}

pub fn cmp(ex: &mut Exec, insn: &Instruction) -> R {
    binary(ex, insn, FlagOp::Sub, false, false)
}

/// INC/DEC leave CF alone: fold the pending CF into RFLAGS first so the
/// partial lazy record finds the right CF there (the record supplies the
/// other five).
#[inline]
fn step(ex: &mut Exec, insn: &Instruction, op: FlagOp) -> R {
    let size = ex.op_size(insn, 0);
    let a = ex.read_op_rmw(insn, 0)?;
    let r = match op {
        FlagOp::Inc => a.wrapping_add(1),
        _ => a.wrapping_sub(1),
    } & size_mask(size);
    ex.write_op(insn, 0, r)?;
    let cf = ex.s.lazy.flag_bits(ex.s.rflags, CF);
    ex.s.rflags = (ex.s.rflags & !CF) | cf;
    ex.s.lazy.set(op, size as u8, a, 1, r);
    Ok(())
}

pub fn inc(ex: &mut Exec, insn: &Instruction) -> R {
    step(ex, insn, FlagOp::Inc)
}

pub fn dec(ex: &mut Exec, insn: &Instruction) -> R {
    step(ex, insn, FlagOp::Dec)
}

pub fn neg(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let b = ex.read_op_rmw(insn, 0)?;
    let r = 0u64.wrapping_sub(b) & size_mask(size);
    ex.write_op(insn, 0, r)?;
    ex.s.lazy.set(FlagOp::Sub, size as u8, 0, b, r);
    Ok(())
}

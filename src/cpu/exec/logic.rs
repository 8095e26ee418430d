//! AND, OR, XOR, TEST, NOT.

use super::operand::size_mask;
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::flags::FlagOp;
use iced_x86::Instruction;

type R = Result<(), Fault>;

#[inline]
fn binary(ex: &mut Exec, insn: &Instruction, f: fn(u64, u64) -> u64, write: bool) -> R {
    let size = ex.op_size(insn, 0);
    let a = if write {
        ex.read_op_rmw(insn, 0)?
    } else {
        ex.read_op(insn, 0)?
    };
    let b = ex.read_op(insn, 1)?;
    let r = f(a, b) & size_mask(size);
    if write {
        ex.write_op(insn, 0, r)?;
    }
    ex.s.lazy.set(FlagOp::Logic, size as u8, a, b, r);
    Ok(())
}

pub fn and(ex: &mut Exec, insn: &Instruction) -> R {
    binary(ex, insn, |a, b| a & b, true)
}

pub fn or(ex: &mut Exec, insn: &Instruction) -> R {
    binary(ex, insn, |a, b| a | b, true)
}

pub fn xor(ex: &mut Exec, insn: &Instruction) -> R {
    binary(ex, insn, |a, b| a ^ b, true)
}

pub fn test(ex: &mut Exec, insn: &Instruction) -> R {
    binary(ex, insn, |a, b| a & b, false)
}

pub fn not(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let a = ex.read_op_rmw(insn, 0)?;
    ex.write_op(insn, 0, !a & size_mask(size))
}

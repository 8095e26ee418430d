//! Control transfer: JMP, Jcc, JrCXZ, LOOPcc, CALL, RET, INT n/INT3/INTO/
//! INT1, IRET, BOUND, and the condition-code evaluator shared with CMOVcc and
//! SETcc.

use super::operand::{addr_size, sext, size_mask};
use super::stack::stack_op_size;
use super::Exec;
use crate::cpu::fault::{vector, Fault};
use crate::cpu::interrupt::{self, EventKind};
use crate::cpu::state::rflags::{CF, OF, PF, SF, ZF};
use crate::cpu::state::{CpuState, CS, RCX};
use iced_x86::{ConditionCode, Instruction, Mnemonic, OpKind};

type R = Result<(), Fault>;

/// Evaluates an x86 condition code against the current flags (inlined, so
/// a constant condition folds to the flags it tests).
#[inline(always)]
pub fn condition(s: &CpuState, cc: ConditionCode) -> bool {
    let want = match cc {
        ConditionCode::o | ConditionCode::no => OF,
        ConditionCode::b | ConditionCode::ae => CF,
        ConditionCode::e | ConditionCode::ne => ZF,
        ConditionCode::be | ConditionCode::a => CF | ZF,
        ConditionCode::s | ConditionCode::ns => SF,
        ConditionCode::p | ConditionCode::np => PF,
        ConditionCode::l | ConditionCode::ge => SF | OF,
        ConditionCode::le | ConditionCode::g => ZF | SF | OF,
        ConditionCode::None => 0,
    };
    let f = s.lazy.flag_bits(s.rflags, want);
    let on = |b: u64| f & b != 0;
    match cc {
        ConditionCode::o => on(OF),
        ConditionCode::no => !on(OF),
        ConditionCode::b => on(CF),
        ConditionCode::ae => !on(CF),
        ConditionCode::e => on(ZF),
        ConditionCode::ne => !on(ZF),
        ConditionCode::be => on(CF) || on(ZF),
        ConditionCode::a => !on(CF) && !on(ZF),
        ConditionCode::s => on(SF),
        ConditionCode::ns => !on(SF),
        ConditionCode::p => on(PF),
        ConditionCode::np => !on(PF),
        ConditionCode::l => on(SF) != on(OF),
        ConditionCode::ge => on(SF) == on(OF),
        ConditionCode::le => on(ZF) || on(SF) != on(OF),
        ConditionCode::g => !on(ZF) && on(SF) == on(OF),
        ConditionCode::None => true,
    }
}

impl Exec<'_> {
    /// Transfers control to `target` within CS, after the limit check that
    /// every near branch makes (#GP(0) outside the segment).
    pub fn near_jump(&mut self, target: u64) -> R {
        let ok = if super::super::decode_cache::code_bitness(self.s) == 64 {
            super::operand::canonical(target)
        } else {
            target <= self.s.seg[CS].limit as u64
        };
        if !ok {
            return Err(Fault::gp(0));
        }
        self.next_rip = target;
        Ok(())
    }
}

/// Operand size of a near branch (2, 4 or 8 bytes).
fn branch_size(ex: &Exec, insn: &Instruction) -> u32 {
    match insn.op_kind(0) {
        OpKind::NearBranch16 => 2,
        OpKind::NearBranch32 => 4,
        OpKind::NearBranch64 => 8,
        _ => ex.op_size(insn, 0),
    }
}

/// The target of a near JMP/CALL: relative, or from a register/memory.
fn near_target(ex: &mut Exec, insn: &Instruction) -> Result<u64, Fault> {
    match insn.op_kind(0) {
        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64 => {
            Ok(insn.near_branch_target())
        }
        _ => ex.read_op(insn, 0),
    }
}

/// The (selector, offset) of a far JMP/CALL: immediate or m16:16/32/64.
fn far_target(ex: &mut Exec, insn: &Instruction) -> Result<(u16, u64, u32), Fault> {
    match insn.op_kind(0) {
        OpKind::FarBranch16 => Ok((insn.far_branch_selector(), insn.far_branch16() as u64, 2)),
        OpKind::FarBranch32 => Ok((insn.far_branch_selector(), insn.far_branch32() as u64, 4)),
        _ => {
            let size = insn.memory_size().size() as u32 - 2;
            let seg = ex.mem_seg(insn);
            let off = ex.effective_offset(insn);
            let offset = ex.read_mem(seg, off, size)?;
            let asz = size_mask(addr_size(insn));
            let sel = ex.read_mem(seg, off.wrapping_add(size as u64) & asz, 2)?;
            Ok((sel as u16, offset, size))
        }
    }
}

pub fn jmp(ex: &mut Exec, insn: &Instruction) -> R {
    let size = branch_size(ex, insn);
    let t = near_target(ex, insn)? & size_mask(size);
    ex.near_jump(t)
}

pub fn jcc(ex: &mut Exec, insn: &Instruction) -> R {
    if condition(ex.s, insn.condition_code()) {
        ex.near_jump(insn.near_branch_target())?;
    }
    Ok(())
}

/// Width of the counter register used by JrCXZ/LOOP: the address size.
fn counter_size(insn: &Instruction) -> u32 {
    use iced_x86::Code::*;
    match insn.code() {
        Jcxz_rel8_16 | Jcxz_rel8_32 | Loop_rel8_16_CX | Loop_rel8_32_CX | Loope_rel8_16_CX
        | Loope_rel8_32_CX | Loopne_rel8_16_CX | Loopne_rel8_32_CX => 2,
        Jrcxz_rel8_16 | Jrcxz_rel8_64 | Loop_rel8_16_RCX | Loop_rel8_64_RCX | Loope_rel8_16_RCX
        | Loope_rel8_64_RCX | Loopne_rel8_16_RCX | Loopne_rel8_64_RCX => 8,
        _ => 4,
    }
}

pub fn jrcxz(ex: &mut Exec, insn: &Instruction) -> R {
    if ex.reg(RCX, counter_size(insn)) == 0 {
        ex.near_jump(insn.near_branch_target())?;
    }
    Ok(())
}

pub fn loop_(ex: &mut Exec, insn: &Instruction) -> R {
    let size = counter_size(insn);
    let count = ex.reg(RCX, size).wrapping_sub(1) & size_mask(size);
    let zf = ex.s.flag(ZF);
    let take = count != 0
        && match insn.mnemonic() {
            Mnemonic::Loope => zf,
            Mnemonic::Loopne => !zf,
            _ => true,
        };
    if take {
        ex.near_jump(insn.near_branch_target())?;
    }
    ex.set_reg(RCX, size, count);
    Ok(())
}

pub fn call(ex: &mut Exec, insn: &Instruction) -> R {
    let size = branch_size(ex, insn);
    let t = near_target(ex, insn)? & size_mask(size);
    let ret = ex.next_rip;
    ex.near_jump(t)?;
    ex.push(size, ret & size_mask(size))
}

pub fn ret(ex: &mut Exec, insn: &Instruction) -> R {
    let size = stack_op_size(insn);
    let t = ex.pop(size)?;
    ex.near_jump(t)?;
    if insn.op_count() == 1 {
        ex.release_stack(insn.immediate(0) & 0xffff);
    }
    Ok(())
}

pub fn jmp_far(ex: &mut Exec, insn: &Instruction) -> R {
    let (sel, off, _) = far_target(ex, insn)?;
    ex.far_jump(sel, off)
}

pub fn call_far(ex: &mut Exec, insn: &Instruction) -> R {
    let (sel, off, size) = far_target(ex, insn)?;
    ex.far_call(sel, off, size)
}

pub fn ret_far(ex: &mut Exec, insn: &Instruction) -> R {
    let size = stack_op_size(insn);
    let imm = if insn.op_count() == 1 {
        insn.immediate(0) & 0xffff
    } else {
        0
    };
    ex.far_return(size, imm)
}

pub fn int(ex: &mut Exec, insn: &Instruction) -> R {
    let v = insn.immediate(0) as u8;
    interrupt::raise(ex, v, None, EventKind::Software)
}

pub fn int3(ex: &mut Exec, _insn: &Instruction) -> R {
    interrupt::raise(ex, vector::BP, None, EventKind::Software)
}

pub fn into(ex: &mut Exec, _insn: &Instruction) -> R {
    if ex.s.flag(OF) {
        interrupt::raise(ex, vector::OF, None, EventKind::Software)?;
    }
    Ok(())
}

/// INT1 / ICEBP: a #DB trap that ignores the IDT gate's DPL.
pub fn int1(ex: &mut Exec, _insn: &Instruction) -> R {
    interrupt::raise(ex, vector::DB, None, EventKind::Icebp)
}

pub fn iret(ex: &mut Exec, insn: &Instruction) -> R {
    let size = stack_op_size(insn);
    interrupt::iret(ex, size)
}

/// BOUND: #BR unless lower <= index <= upper (signed).
pub fn bound(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let idx = sext(ex.read_op(insn, 0)?, size);
    let seg = ex.mem_seg(insn);
    let off = ex.effective_offset(insn);
    let asz = size_mask(addr_size(insn));
    let lo = sext(ex.read_mem(seg, off, size)?, size);
    let hi = sext(
        ex.read_mem(seg, off.wrapping_add(size as u64) & asz, size)?,
        size,
    );
    if idx < lo || idx > hi {
        return Err(Fault::BR);
    }
    Ok(())
}

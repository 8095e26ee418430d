//! PUSH r, POP r, near CALL rel, RET and JMP rel: in 64-bit mode, and in
//! 32-bit code on a 32-bit stack (SS.B, checked as it runs). The stack
//! slot is a planned memory operand [RSP - W] or [RSP] in SS, so the host
//! TLB serves it and a miss fills it like any other operand.

use super::access::{get, host_index, load, put, reg};
use super::{Exit, FastHandler};
use crate::cpu::decode_cache::Decoded;
use crate::cpu::exec::operand::canonical;
use crate::cpu::exec::operand_plan::{MemPlan, OpPlan, OperandPlan, RegPlan, NO_REG};
use crate::cpu::exec::Exec;
use crate::cpu::state::{CS, RSP, SS};
use iced_x86::{Code, Instruction, Mnemonic as M, OpKind};

type R = Result<(), Exit>;

/// SS.B: a 32-bit stack pointer (ESP) outside 64-bit mode.
const ATTR_BIG: u16 = 1 << 14;

/// RSP after moving it by `delta` bytes: 64-bit mode moves all of it, a
/// 32-bit stack writes ESP (clearing the upper half, as any 32-bit GPR
/// write does).
#[inline(always)]
fn moved_sp<const LONG: bool>(sp: u64, delta: i64) -> u64 {
    let v = sp.wrapping_add(delta as u64);
    if LONG {
        v
    } else {
        v as u32 as u64
    }
}

/// Outside 64-bit mode the plan assumed a 32-bit stack.
#[inline(always)]
fn stack_ok<const LONG: bool>(ex: &Exec) -> bool {
    LONG || ex.s.seg[SS].attr & ATTR_BIG != 0
}

/// A near target the CPU may jump to: canonical in 64-bit mode, within
/// CS's limit otherwise (else the generic handler raises #GP).
#[inline(always)]
fn target_ok<const LONG: bool>(ex: &Exec, target: u64) -> bool {
    if LONG {
        canonical(target)
    } else {
        target <= ex.s.seg[CS].limit as u64
    }
}

fn push_op<const W: u8, const LONG: bool>(ex: &mut Exec, d: &Decoded) -> R {
    let src = reg(d.plan.ops[0]).ok_or(Exit::Miss)?;
    if !stack_ok::<LONG>(ex) {
        return Err(Exit::Miss);
    }
    let v = get::<W>(&ex.s.gpr, src);
    let i = host_index::<W, LONG>(ex, &d.plan.mem, true).ok_or(Exit::Miss)?;
    ex.mem.host_write(i, W as u32, v).ok_or(Exit::Miss)?;
    ex.s.gpr[RSP] = moved_sp::<LONG>(ex.s.gpr[RSP], -(W as i64));
    Ok(())
}

fn pop_op<const W: u8, const LONG: bool>(ex: &mut Exec, d: &Decoded) -> R {
    let dst = reg(d.plan.ops[0]).ok_or(Exit::Miss)?;
    if !stack_ok::<LONG>(ex) {
        return Err(Exit::Miss);
    }
    let v = load::<W, LONG>(ex, &d.plan.mem).ok_or(Exit::Miss)?;
    ex.s.gpr[RSP] = moved_sp::<LONG>(ex.s.gpr[RSP], W as i64);
    put::<W>(&mut ex.s.gpr, dst, v);
    Ok(())
}

/// CALL rel: the target (in `plan.imm`) is checked before the push, as
/// the generic CALL does.
fn call_op<const W: u8, const LONG: bool>(ex: &mut Exec, d: &Decoded) -> R {
    let target = d.plan.imm;
    if !target_ok::<LONG>(ex, target) || !stack_ok::<LONG>(ex) {
        return Err(Exit::Miss);
    }
    let i = host_index::<W, LONG>(ex, &d.plan.mem, true).ok_or(Exit::Miss)?;
    ex.mem
        .host_write(i, W as u32, d.next_ip)
        .ok_or(Exit::Miss)?;
    ex.s.gpr[RSP] = moved_sp::<LONG>(ex.s.gpr[RSP], -(W as i64));
    ex.next_rip = target;
    Ok(())
}

fn ret_op<const W: u8, const LONG: bool>(ex: &mut Exec, d: &Decoded) -> R {
    if !stack_ok::<LONG>(ex) {
        return Err(Exit::Miss);
    }
    let target = load::<W, LONG>(ex, &d.plan.mem).ok_or(Exit::Miss)?;
    if !target_ok::<LONG>(ex, target) {
        return Err(Exit::Miss);
    }
    ex.s.gpr[RSP] = moved_sp::<LONG>(ex.s.gpr[RSP], W as i64);
    ex.next_rip = target;
    Ok(())
}

fn jmp_op(ex: &mut Exec, d: &Decoded) -> R {
    ex.near_jump(d.plan.imm).map_err(|f| ex.fault(f))
}

/// The `w`-byte stack slot at RSP + `disp` in SS, with a `w`-byte stack
/// pointer.
fn stack_slot(disp: i64, w: u16) -> MemPlan {
    MemPlan {
        disp: disp as u64,
        base: RSP as u8,
        index: NO_REG,
        scale_shift: 0,
        seg: SS as u8,
        addr_shift: if w == 8 { 0 } else { 32 },
        index_shift: 0,
        unplanned: false,
        size: w,
    }
}

/// The handler for a covered stack or jump instruction in code of
/// `bitness` bits; fills in the stack slot and the branch target of
/// `plan`.
pub fn select(insn: &Instruction, plan: &mut OperandPlan, bitness: u32) -> Option<FastHandler> {
    let (w, near): (u16, OpKind) = match bitness {
        64 => (8, OpKind::NearBranch64),
        32 => (4, OpKind::NearBranch32),
        _ => return None,
    };
    let long = bitness == 64;
    let gpr = |op: OpPlan| matches!(op, OpPlan::Gpr(RegPlan { size, .. }) if size as u16 == w);
    let (handler, slot): (FastHandler, i64) = match insn.mnemonic() {
        M::Jmp if insn.op0_kind() == near => {
            plan.imm = insn.near_branch_target();
            return Some(jmp_op);
        }
        M::Push if insn.op_count() == 1 && gpr(plan.ops[0]) => (
            if long {
                push_op::<8, true>
            } else {
                push_op::<4, false>
            },
            -(w as i64),
        ),
        M::Pop if insn.op_count() == 1 && gpr(plan.ops[0]) => {
            if matches!(plan.ops[0], OpPlan::Gpr(r) if r.index as usize == RSP) {
                return None;
            }
            (
                if long {
                    pop_op::<8, true>
                } else {
                    pop_op::<4, false>
                },
                0,
            )
        }
        M::Call if insn.op0_kind() == near => {
            plan.imm = insn.near_branch_target();
            (
                if long {
                    call_op::<8, true>
                } else {
                    call_op::<4, false>
                },
                -(w as i64),
            )
        }
        M::Ret if insn.code() == if long { Code::Retnq } else { Code::Retnd } => (
            if long {
                ret_op::<8, true>
            } else {
                ret_op::<4, false>
            },
            0,
        ),
        _ => return None,
    };
    plan.mem = stack_slot(slot, w);
    Some(handler)
}

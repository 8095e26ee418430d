//! PUSH r64, POP r64, near CALL rel32, RET and JMP rel in 64-bit mode
//! (JMP in any mode): the stack slot is a planned memory operand
//! [RSP - 8] or [RSP] in SS, so the host TLB serves it and a miss fills it
//! like any other operand.

use super::access::{get, host_index, put, reg};
use super::{Exit, FastHandler};
use crate::cpu::decode_cache::Decoded;
use crate::cpu::exec::operand::canonical;
use crate::cpu::exec::operand_plan::{MemPlan, OpPlan, OperandPlan, RegPlan, NO_REG};
use crate::cpu::exec::Exec;
use crate::cpu::state::{RSP, SS};
use iced_x86::{Code, Instruction, Mnemonic as M, OpKind};

type R = Result<(), Exit>;

fn push_op(ex: &mut Exec, d: &Decoded) -> R {
    let src = reg(d.plan.ops[0]).ok_or(Exit::Miss)?;
    let v = get::<8>(&ex.s.gpr, src);
    let i = host_index::<8, true>(ex, &d.plan.mem, true).ok_or(Exit::Miss)?;
    ex.mem.host_write(i, 8, v).ok_or(Exit::Miss)?;
    ex.s.gpr[RSP] = ex.s.gpr[RSP].wrapping_sub(8);
    Ok(())
}

fn pop_op(ex: &mut Exec, d: &Decoded) -> R {
    let dst = reg(d.plan.ops[0]).ok_or(Exit::Miss)?;
    let i = host_index::<8, true>(ex, &d.plan.mem, false).ok_or(Exit::Miss)?;
    let v = ex.mem.host_read(i, 8).ok_or(Exit::Miss)?;
    ex.s.gpr[RSP] = ex.s.gpr[RSP].wrapping_add(8);
    put::<8>(&mut ex.s.gpr, dst, v);
    Ok(())
}

/// CALL rel32: the target (in `plan.imm`) is checked before the push, as
/// the generic CALL does.
fn call_op(ex: &mut Exec, d: &Decoded) -> R {
    let target = d.plan.imm;
    if !canonical(target) {
        return Err(Exit::Miss);
    }
    let i = host_index::<8, true>(ex, &d.plan.mem, true).ok_or(Exit::Miss)?;
    ex.mem.host_write(i, 8, d.next_ip).ok_or(Exit::Miss)?;
    ex.s.gpr[RSP] = ex.s.gpr[RSP].wrapping_sub(8);
    ex.next_rip = target;
    Ok(())
}

fn ret_op(ex: &mut Exec, d: &Decoded) -> R {
    let i = host_index::<8, true>(ex, &d.plan.mem, false).ok_or(Exit::Miss)?;
    let target = ex.mem.host_read(i, 8).ok_or(Exit::Miss)?;
    if !canonical(target) {
        return Err(Exit::Miss);
    }
    ex.s.gpr[RSP] = ex.s.gpr[RSP].wrapping_add(8);
    ex.next_rip = target;
    Ok(())
}

fn jmp_op(ex: &mut Exec, d: &Decoded) -> R {
    ex.near_jump(d.plan.imm).map_err(|f| ex.fault(f))
}

/// The 8-byte stack slot at RSP + `disp` in SS.
fn stack_slot(disp: i64) -> MemPlan {
    MemPlan {
        disp: disp as u64,
        base: RSP as u8,
        index: NO_REG,
        scale_shift: 0,
        seg: SS as u8,
        addr_shift: 0,
        index_shift: 0,
        unplanned: false,
        size: 8,
    }
}

/// The handler for a covered stack or jump instruction; fills in the
/// stack slot and the branch target of `plan`.
pub fn select(insn: &Instruction, plan: &mut OperandPlan, long: bool) -> Option<FastHandler> {
    let near = matches!(insn.op0_kind(), OpKind::NearBranch32 | OpKind::NearBranch64);
    let r64 = |op: OpPlan| matches!(op, OpPlan::Gpr(RegPlan { size: 8, .. }));
    let h: FastHandler = match insn.mnemonic() {
        M::Jmp if near => {
            plan.imm = insn.near_branch_target();
            return Some(jmp_op);
        }
        _ if !long => return None,
        M::Push if insn.op_count() == 1 && r64(plan.ops[0]) => {
            plan.mem = stack_slot(-8);
            push_op
        }
        M::Pop if insn.op_count() == 1 && r64(plan.ops[0]) => {
            if let OpPlan::Gpr(r) = plan.ops[0] {
                if r.index as usize == RSP {
                    return None;
                }
            }
            plan.mem = stack_slot(0);
            pop_op
        }
        M::Call if insn.op0_kind() == OpKind::NearBranch64 => {
            plan.imm = insn.near_branch_target();
            plan.mem = stack_slot(-8);
            call_op
        }
        M::Ret if insn.code() == Code::Retnq => {
            plan.mem = stack_slot(0);
            ret_op
        }
        _ => return None,
    };
    Some(h)
}

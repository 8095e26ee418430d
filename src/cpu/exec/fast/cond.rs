//! Jcc, CMOVcc and SETcc with the condition as a const parameter, so the
//! flag test folds to the one or two flags it needs; a Jcc's target sits
//! in the operand plan's immediate.

use super::super::operand_plan::{OpPlan, OperandPlan};
use super::super::{control::condition, Exec};
use super::access::{get, load, put, reg};
use super::{install_plan, Exit, FastHandler};
use crate::cpu::decode_cache::Decoded;
use iced_x86::{ConditionCode, Instruction, OpKind};

type R = Result<(), Exit>;

/// The condition code with discriminant `n` (iced-x86's numbering).
const fn cc(n: u8) -> ConditionCode {
    use ConditionCode::*;
    match n {
        1 => o,
        2 => no,
        3 => b,
        4 => ae,
        5 => e,
        6 => ne,
        7 => be,
        8 => a,
        9 => s,
        10 => ns,
        11 => p,
        12 => np,
        13 => l,
        14 => ge,
        15 => le,
        16 => g,
        _ => None,
    }
}

fn jcc<const CC: u8>(ex: &mut Exec, d: &Decoded) -> R {
    if condition(ex.s, cc(CC)) {
        ex.near_jump(d.plan.imm).map_err(|f| ex.fault(f))?;
    }
    Ok(())
}

fn setcc<const CC: u8>(ex: &mut Exec, d: &Decoded) -> R {
    install_plan(ex, d);
    let v = condition(ex.s, cc(CC)) as u64;
    ex.write_op(&d.insn, 0, v).map_err(|f| ex.fault(f))
}

fn cmovcc<const CC: u8>(ex: &mut Exec, d: &Decoded) -> R {
    install_plan(ex, d);
    let taken = condition(ex.s, cc(CC));
    super::super::data::cmov_if(ex, &d.insn, taken).map_err(|f| ex.fault(f))
}

/// CMOVcc r, r of `S` bytes: a 32-bit destination is written (zero-
/// extended) even when the condition is false.
fn cmov_rr<const CC: u8, const S: u8>(ex: &mut Exec, d: &Decoded) -> R {
    let (Some(dst), Some(src)) = (reg(d.plan.ops[0]), reg(d.plan.ops[1])) else {
        return Err(Exit::Miss);
    };
    let v = if condition(ex.s, cc(CC)) { src } else { dst };
    let v = get::<S>(&ex.s.gpr, v);
    put::<S>(&mut ex.s.gpr, dst, v);
    Ok(())
}

/// CMOVcc r, m: the memory operand is read (and may fault) whatever the
/// condition.
fn cmov_rm<const CC: u8, const S: u8, const LONG: bool>(ex: &mut Exec, d: &Decoded) -> R {
    let Some(dst) = reg(d.plan.ops[0]) else {
        return Err(Exit::Miss);
    };
    let Some(v) = load::<S, LONG>(ex, &d.plan.mem) else {
        return Err(Exit::Miss);
    };
    let v = if condition(ex.s, cc(CC)) {
        v
    } else {
        get::<S>(&ex.s.gpr, dst)
    };
    put::<S>(&mut ex.s.gpr, dst, v);
    Ok(())
}

macro_rules! by_condition {
    ($f:ident $(, $p:tt)*) => {
        [
            $f::<0 $(, $p)*>, $f::<1 $(, $p)*>, $f::<2 $(, $p)*>, $f::<3 $(, $p)*>,
            $f::<4 $(, $p)*>, $f::<5 $(, $p)*>, $f::<6 $(, $p)*>, $f::<7 $(, $p)*>,
            $f::<8 $(, $p)*>, $f::<9 $(, $p)*>, $f::<10 $(, $p)*>, $f::<11 $(, $p)*>,
            $f::<12 $(, $p)*>, $f::<13 $(, $p)*>, $f::<14 $(, $p)*>, $f::<15 $(, $p)*>,
            $f::<16 $(, $p)*>,
        ]
    };
}

const JCC: [FastHandler; 17] = by_condition!(jcc);
const SETCC: [FastHandler; 17] = by_condition!(setcc);
const CMOVCC: [FastHandler; 17] = by_condition!(cmovcc);
const CMOV_RR32: [FastHandler; 17] = by_condition!(cmov_rr, 4);
const CMOV_RR64: [FastHandler; 17] = by_condition!(cmov_rr, 8);
const CMOV_RM32: [FastHandler; 17] = by_condition!(cmov_rm, 4, false);
const CMOV_RM32_LONG: [FastHandler; 17] = by_condition!(cmov_rm, 4, true);
const CMOV_RM64_LONG: [FastHandler; 17] = by_condition!(cmov_rm, 8, true);

/// The handler for a conditional instruction, if `insn` is one; a near
/// Jcc's target goes into `plan.imm`.
pub fn select(insn: &Instruction, plan: &mut OperandPlan, bitness: u32) -> Option<FastHandler> {
    use iced_x86::Mnemonic as M;
    let n = insn.condition_code() as usize;
    if n == 0 || n >= JCC.len() {
        return None;
    }
    let near = matches!(
        insn.op0_kind(),
        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
    );
    match insn.mnemonic() {
        M::Ja
        | M::Jae
        | M::Jb
        | M::Jbe
        | M::Je
        | M::Jg
        | M::Jge
        | M::Jl
        | M::Jle
        | M::Jne
        | M::Jno
        | M::Jnp
        | M::Jns
        | M::Jo
        | M::Jp
        | M::Js
            if near =>
        {
            plan.imm = insn.near_branch_target();
            Some(JCC[n])
        }
        M::Cmova
        | M::Cmovae
        | M::Cmovb
        | M::Cmovbe
        | M::Cmove
        | M::Cmovg
        | M::Cmovge
        | M::Cmovl
        | M::Cmovle
        | M::Cmovne
        | M::Cmovno
        | M::Cmovnp
        | M::Cmovns
        | M::Cmovo
        | M::Cmovp
        | M::Cmovs => Some(cmov(plan, bitness == 64).unwrap_or(CMOVCC)[n]),
        M::Seta
        | M::Setae
        | M::Setb
        | M::Setbe
        | M::Sete
        | M::Setg
        | M::Setge
        | M::Setl
        | M::Setle
        | M::Setne
        | M::Setno
        | M::Setnp
        | M::Setns
        | M::Seto
        | M::Setp
        | M::Sets => Some(SETCC[n]),
        _ => None,
    }
}

/// The CMOVcc table for the plan's form and size, when a fast one exists.
fn cmov(plan: &OperandPlan, long: bool) -> Option<[FastHandler; 17]> {
    let size = plan.sizes[0];
    match (plan.ops, size, long) {
        ([OpPlan::Gpr(_), OpPlan::Gpr(_)], 4, _) => Some(CMOV_RR32),
        ([OpPlan::Gpr(_), OpPlan::Gpr(_)], 8, _) => Some(CMOV_RR64),
        ([OpPlan::Gpr(_), OpPlan::Mem], 4, false) if !plan.mem.unplanned => Some(CMOV_RM32),
        ([OpPlan::Gpr(_), OpPlan::Mem], 4, true) if !plan.mem.unplanned => Some(CMOV_RM32_LONG),
        ([OpPlan::Gpr(_), OpPlan::Mem], 8, true) if !plan.mem.unplanned => Some(CMOV_RM64_LONG),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The const numbering matches iced-x86's discriminants.
    #[test]
    fn condition_numbers_round_trip() {
        for n in 0..17u8 {
            assert_eq!(cc(n) as u8, n);
        }
    }
}

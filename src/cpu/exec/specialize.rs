//! Handlers picked at decode time for hot forms whose generic handler
//! would look something up on every execution: the condition of a Jcc,
//! CMOVcc or SETcc becomes a const parameter (so the flag test folds to
//! the one or two flags it needs), and a Jcc's target sits in the operand
//! plan's immediate.

use super::{control::condition, Exec};
use crate::cpu::catalog::Handler;
use crate::cpu::fault::Fault;
use iced_x86::{ConditionCode, Instruction, OpKind};

type R = Result<(), Fault>;

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

fn jcc<const CC: u8>(ex: &mut Exec, _insn: &Instruction) -> R {
    if condition(ex.s, cc(CC)) {
        ex.near_jump(ex.plan.imm)?;
    }
    Ok(())
}

fn cmovcc<const CC: u8>(ex: &mut Exec, insn: &Instruction) -> R {
    let taken = condition(ex.s, cc(CC));
    super::data::cmov_if(ex, insn, taken)
}

fn setcc<const CC: u8>(ex: &mut Exec, insn: &Instruction) -> R {
    let v = condition(ex.s, cc(CC)) as u64;
    ex.write_op(insn, 0, v)
}

macro_rules! by_condition {
    ($f:ident) => {
        [
            $f::<0>, $f::<1>, $f::<2>, $f::<3>, $f::<4>, $f::<5>, $f::<6>, $f::<7>, $f::<8>,
            $f::<9>, $f::<10>, $f::<11>, $f::<12>, $f::<13>, $f::<14>, $f::<15>, $f::<16>,
        ]
    };
}

const JCC: [Handler; 17] = by_condition!(jcc);
const CMOVCC: [Handler; 17] = by_condition!(cmovcc);
const SETCC: [Handler; 17] = by_condition!(setcc);

/// The handler to run `insn` with, given the catalog's `generic` one, and
/// the immediate its plan should carry (`None`: leave the plan's).
pub fn specialize(insn: &Instruction, generic: Handler) -> (Handler, Option<u64>) {
    use iced_x86::Mnemonic as M;
    let n = insn.condition_code() as usize;
    if n == 0 || n >= JCC.len() {
        return (generic, None);
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
            (JCC[n], Some(insn.near_branch_target()))
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
        | M::Cmovs => (CMOVCC[n], None),
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
        | M::Sets => (SETCC[n], None),
        _ => (generic, None),
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

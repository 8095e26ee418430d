//! Comparisons: FCOM/FCOMP/FCOMPP, FUCOM/FUCOMP/FUCOMPP, FICOM/FICOMP and
//! FTST set C3/C2/C0; FCOMI/FCOMIP/FUCOMI/FUCOMIP set ZF/PF/CF; FXAM
//! classifies ST(0) (SDM vol. 1, 8.3.6 and table 8-7).

use super::float80::{sw, Class, F80};
use super::softfloat::{self as sf, Relation};
use super::{begin, commit, ctx, has_memory, read_real, set_cc, st_index, stack_fault, Kind, R};
use crate::cpu::exec::Exec;
use crate::cpu::state::rflags::{AF, CF, OF, PF, SF, ZF};
use iced_x86::{Instruction, Mnemonic as M};

pub fn compare(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, Kind::Numeric)?;
    let m = insn.mnemonic();
    let pops = match m {
        M::Fcompp | M::Fucompp => 2,
        M::Fcomp | M::Fucomp | M::Ficomp | M::Fcomip | M::Fucomip => 1,
        _ => 0,
    };
    let quiet = matches!(
        m,
        M::Fucom | M::Fucomp | M::Fucompp | M::Fucomi | M::Fucomip
    );
    let eflags = matches!(m, M::Fcomi | M::Fcomip | M::Fucomi | M::Fucomip);
    let mut c = ctx(ex);
    let (b, b_empty, b_denormal) = if has_memory(insn) {
        let (v, d) = read_real(ex, insn)?;
        (v, false, d)
    } else if m == M::Ftst {
        (F80::ZERO, false, false)
    } else {
        let i = match insn.op_count() {
            0 => 1,
            1 => st_index(insn, 0),
            _ => st_index(insn, 1),
        };
        (ex.s.x87.st(i), ex.s.x87.is_empty(i), false)
    };
    // The condition codes (or ZF/PF/CF) are set even when the exception
    // is unmasked, "unordered" after a stack underflow; but an unmasked
    // #I or #D leaves the stack unpopped (checked on the host).
    let c1 = ex.s.x87.fsw & sw::C1;
    let (relation, completes) = if ex.s.x87.is_empty(0) || b_empty {
        (Relation::Unordered, stack_fault(ex, false))
    } else {
        let a = ex.s.x87.st(0);
        if b_denormal && !a.is_nan() && !a.is_unsupported() {
            c.flags |= sw::DE;
        }
        let r = sf::compare(&mut c, a, b, quiet);
        commit(ex, &c, false);
        // FCOMI and friends leave C1 alone (the host does, though the
        // SDM says "set to 0").
        if eflags {
            set_cc(ex, sw::C1, c1);
        }
        (r, c.unmasked_raised() & (sw::IE | sw::DE) == 0)
    };
    if eflags {
        let bits = match relation {
            Relation::Greater => 0,
            Relation::Less => CF,
            Relation::Equal => ZF,
            Relation::Unordered => ZF | PF | CF,
        };
        let f = ex.s.flags();
        ex.s.set_flags((f & !(ZF | PF | CF | OF | SF | AF)) | bits);
    } else {
        let cc = match relation {
            Relation::Greater => 0,
            Relation::Less => sw::C0,
            Relation::Equal => sw::C3,
            Relation::Unordered => sw::C3 | sw::C2 | sw::C0,
        };
        set_cc(ex, sw::C3 | sw::C2 | sw::C0, cc);
    }
    if completes {
        for _ in 0..pops {
            ex.s.x87.pop();
        }
    }
    Ok(())
}

/// FXAM: the class of ST(0) in C3/C2/C0 and its sign in C1; never raises.
pub fn fxam(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, Kind::Numeric)?;
    let v = ex.s.x87.st(0);
    let class = if ex.s.x87.is_empty(0) {
        sw::C3 | sw::C0
    } else {
        match v.class() {
            Class::Unsupported => 0,
            Class::QNaN | Class::SNaN => sw::C0,
            Class::Normal => sw::C2,
            Class::Infinity => sw::C2 | sw::C0,
            Class::Zero => sw::C3,
            Class::Denormal | Class::PseudoDenormal => sw::C3 | sw::C2,
        }
    };
    let sign = if v.sign() { sw::C1 } else { 0 };
    set_cc(ex, sw::CC, class | sign);
    Ok(())
}

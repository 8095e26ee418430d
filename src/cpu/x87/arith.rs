//! Arithmetic: FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR in all their forms (ST(0)
//! with memory or ST(i), ST(i) with ST(0), the popping and the integer
//! variants), and the one-register operations FSQRT, FABS, FCHS, FRNDINT,
//! FSCALE, FXTRACT, FPREM and FPREM1.

use super::float80::{sw, F80};
use super::softfloat::{self as sf, Ctx};
use super::{begin, commit, ctx, has_memory, read_real, set_cc, st_index, stack_fault, Kind, R};
use crate::cpu::exec::Exec;
use iced_x86::{Instruction, Mnemonic as M};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    SubR,
    Mul,
    Div,
    DivR,
}

fn apply(c: &mut Ctx, op: Op, a: F80, b: F80) -> F80 {
    match op {
        Op::Add => sf::add(c, a, b, false),
        Op::Sub => sf::add(c, a, b, true),
        Op::SubR => sf::add(c, b, a, true),
        Op::Mul => sf::mul(c, a, b),
        Op::Div => sf::div(c, a, b),
        Op::DivR => sf::div(c, b, a),
    }
}

/// dest = dest op src, where dest is ST(0) (memory and ST(0), ST(i)
/// forms) or ST(i) (the ST(i), ST(0) and popping forms).
pub fn binary(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, Kind::Numeric)?;
    let m = insn.mnemonic();
    let op = match m {
        M::Fadd | M::Faddp | M::Fiadd => Op::Add,
        M::Fsub | M::Fsubp | M::Fisub => Op::Sub,
        M::Fsubr | M::Fsubrp | M::Fisubr => Op::SubR,
        M::Fmul | M::Fmulp | M::Fimul => Op::Mul,
        M::Fdiv | M::Fdivp | M::Fidiv => Op::Div,
        _ => Op::DivR,
    };
    let pop = matches!(
        m,
        M::Faddp | M::Fsubp | M::Fsubrp | M::Fmulp | M::Fdivp | M::Fdivrp
    );
    let mut c = ctx(ex);
    let (dest, a, b) = if has_memory(insn) {
        let (b, denormal) = read_real(ex, insn)?;
        if ex.s.x87.is_empty(0) {
            underflow(ex, 0, false);
            return Ok(());
        }
        let a = ex.s.x87.st(0);
        // A denormal dividend of FDIVR over a zero ST(0) is #Z alone (as
        // in `softfloat::div`).
        let over_zero = matches!(m, M::Fdivr | M::Fidivr) && a.is_zero();
        if denormal && !a.is_nan() && !a.is_unsupported() && !over_zero {
            c.flags |= sw::DE;
            if c.unmasked(sw::DE) {
                commit(ex, &c, false);
                return Ok(());
            }
        }
        (0, a, b)
    } else {
        let (d, s) = match insn.op_count() {
            0 => (1, 0),
            _ => (st_index(insn, 0), st_index(insn, 1)),
        };
        if ex.s.x87.is_empty(d) || ex.s.x87.is_empty(s) {
            underflow(ex, d, pop);
            return Ok(());
        }
        (d, ex.s.x87.st(d), ex.s.x87.st(s))
    };
    let r = apply(&mut c, op, a, b);
    if commit(ex, &c, false) {
        ex.s.x87.set_st(dest, r);
        if pop {
            ex.s.x87.pop();
        }
    }
    Ok(())
}

/// Stack underflow with the masked response: the QNaN indefinite in the
/// destination (then the pop, for popping forms).
fn underflow(ex: &mut Exec, dest: usize, pop: bool) {
    if stack_fault(ex, false) {
        ex.s.x87.set_st(dest, F80::INDEFINITE);
        if pop {
            ex.s.x87.pop();
        }
    }
}

/// FSQRT, FABS, FCHS, FRNDINT, FSCALE, FXTRACT, FPREM, FPREM1.
pub fn unary(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, Kind::Numeric)?;
    let m = insn.mnemonic();
    let needs_st1 = matches!(m, M::Fscale | M::Fprem | M::Fprem1);
    // C2 (reduction incomplete) is cleared by every outcome but a partial
    // remainder, stack faults and NaN results included (checked on the
    // host).
    if matches!(m, M::Fprem | M::Fprem1) {
        set_cc(ex, sw::C2, 0);
    }
    let x = &ex.s.x87;
    if x.is_empty(0) || (needs_st1 && x.is_empty(1)) {
        if m == M::Fxtract {
            // Both results are the indefinite, pushed even over a full
            // ST(7) (checked on the host).
            if stack_fault(ex, false) {
                ex.s.x87.set_st(0, F80::INDEFINITE);
                ex.s.x87.push(F80::INDEFINITE);
            }
        } else {
            underflow(ex, 0, false);
        }
        return Ok(());
    }
    let a = x.st(0);
    let b = x.st(1);
    let mut c = ctx(ex);
    match m {
        M::Fabs | M::Fchs => {
            let r = if m == M::Fabs { a.abs() } else { a.negate() };
            ex.s.x87.set_st(0, r);
            set_cc(ex, sw::C1, 0);
        }
        M::Fsqrt | M::Frndint | M::Fscale => {
            let r = match m {
                M::Fsqrt => sf::sqrt(&mut c, a),
                M::Frndint => sf::round_to_int(&mut c, a),
                _ => sf::scale(&mut c, a, b),
            };
            if commit(ex, &c, false) {
                ex.s.x87.set_st(0, r);
            }
        }
        M::Fxtract => {
            if !ex.s.x87.is_empty(7) {
                if stack_fault(ex, true) {
                    ex.s.x87.set_st(0, F80::INDEFINITE);
                    ex.s.x87.push(F80::INDEFINITE);
                }
                return Ok(());
            }
            let (exp, sig) = sf::extract(&mut c, a);
            if commit(ex, &c, false) {
                ex.s.x87.set_st(0, exp);
                ex.s.x87.push(sig);
            }
        }
        _ => {
            let (r, q, complete) = sf::remainder(&mut c, a, b, m == M::Fprem1);
            // A remainder at the bottom of the range with J set is the
            // normal of exponent 1, not a pseudo-denormal (as the host
            // writes it).
            let r = if r.exp() == 0 && r.sig & super::float80::J != 0 {
                F80 { se: r.se | 1, ..r }
            } else {
                r
            };
            if commit(ex, &c, false) {
                ex.s.x87.set_st(0, r);
                // A NaN result leaves C0 and C3 alone (as the host does).
                if r.is_nan() {
                    return Ok(());
                }
                let cc = if complete {
                    (if q & 4 != 0 { sw::C0 } else { 0 })
                        | (if q & 2 != 0 { sw::C3 } else { 0 })
                        | (if q & 1 != 0 { sw::C1 } else { 0 })
                } else {
                    sw::C2
                };
                // A partial remainder clears C0, C1 and C3 (as the host
                // does).
                set_cc(ex, sw::CC, cc);
            }
        }
    }
    Ok(())
}

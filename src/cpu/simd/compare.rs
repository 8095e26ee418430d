//! CMPPS/CMPPD/CMPSS/CMPSD (the eight SSE predicates of imm8[2:0]) and
//! COMISS/COMISD/UCOMISS/UCOMISD (EFLAGS: unordered ZF=PF=CF=1, less
//! CF=1, equal ZF=1; OF, SF and AF cleared).

use super::float::shape;
use super::ieee::{self, Rel};
use super::mxcsr::{commit, env};
use super::{begin, lane, read, set_xmm, with_lane, xmm, xmm_index, R};
use crate::cpu::exec::Exec;
use crate::cpu::state::rflags::{ARITH, CF, PF, ZF};
use iced_x86::{Instruction, Mnemonic as M};

/// Whether predicate `p` holds for `rel`; LT, LE, NLT and NLE signal on
/// QNaNs too.
fn predicate(p: u64, rel: Rel) -> bool {
    let r = match p & 3 {
        0 => rel == Rel::Equal,
        1 => rel == Rel::Less,
        2 => rel == Rel::Less || rel == Rel::Equal,
        _ => rel == Rel::Unordered,
    };
    r != (p & 4 != 0)
}

pub fn cmp(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, true)?;
    let (f, scalar) = shape(insn);
    let w = (f.bits() / 8) as usize;
    let d = xmm_index(insn.op_register(0));
    let a = xmm(ex, d);
    let b = read(ex, insn, 1, if scalar { w as u32 } else { 16 })?;
    let p = insn.immediate(2) & 7;
    let signal = matches!(p & 3, 1 | 2);
    let mut e = env(ex);
    let n = if scalar { 1 } else { 16 / w };
    let mut r = a;
    for i in 0..n {
        let rel = ieee::compare(&mut e, f, lane(a, i, w), lane(b, i, w), signal);
        r = with_lane(r, i, w, if predicate(p, rel) { u64::MAX } else { 0 });
    }
    commit(ex, &e)?;
    set_xmm(ex, d, r);
    Ok(())
}

pub fn comis(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, true)?;
    let (f, _) = shape(insn);
    let w = (f.bits() / 8) as usize;
    let a = lane(xmm(ex, xmm_index(insn.op_register(0))), 0, w);
    let b = lane(read(ex, insn, 1, w as u32)?, 0, w);
    let mut e = env(ex);
    let signal = matches!(insn.mnemonic(), M::Comiss | M::Comisd);
    let rel = ieee::compare(&mut e, f, a, b, signal);
    commit(ex, &e)?;
    let bits = match rel {
        Rel::Unordered => ZF | PF | CF,
        Rel::Less => CF,
        Rel::Equal => ZF,
        Rel::Greater => 0,
    };
    // OF, SF and AF are cleared with the rest of the arithmetic flags.
    ex.s.set_arith_flags(ARITH, bits);
    Ok(())
}

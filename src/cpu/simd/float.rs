//! Packed and scalar single/double arithmetic (ADD, SUB, MUL, DIV, SQRT,
//! MIN, MAX, RCP, RSQRT) and the bitwise FP logic (AND, ANDN, OR, XOR).
//! Scalar forms compute lane 0 and keep the rest of the destination.

use super::ieee::{self, Env, Fmt, F32, F64};
use super::mxcsr::{commit, env};
use super::{begin, lane, read, set_xmm, with_lane, xmm, xmm_index, R};
use crate::cpu::exec::Exec;
use iced_x86::{Instruction, MemorySize as S, Mnemonic as M};

/// Element format and whether the form is scalar, from its memory size.
pub(crate) fn shape(insn: &Instruction) -> (Fmt, bool) {
    match insn.code().op_code().memory_size() {
        S::Float32 => (F32, true),
        S::Float64 => (F64, true),
        S::Packed128_Float64 => (F64, false),
        _ => (F32, false),
    }
}

fn op(e: &mut Env, f: Fmt, m: M, a: u64, b: u64) -> u64 {
    use M::*;
    match m {
        Addps | Addpd | Addss | Addsd => ieee::add(e, f, a, b, false),
        Subps | Subpd | Subss | Subsd => ieee::add(e, f, a, b, true),
        Mulps | Mulpd | Mulss | Mulsd => ieee::mul(e, f, a, b),
        Divps | Divpd | Divss | Divsd => ieee::div(e, f, a, b),
        Sqrtps | Sqrtpd | Sqrtss | Sqrtsd => ieee::sqrt(e, f, b),
        Minps | Minpd | Minss | Minsd => ieee::min_max(e, f, a, b, false),
        Maxps | Maxpd | Maxss | Maxsd => ieee::min_max(e, f, a, b, true),
        Rcpps | Rcpss => ieee::rcp(b as u32) as u64,
        _ => ieee::rsqrt(b as u32) as u64,
    }
}

/// xmm1 = xmm1 op xmm2/m (lane-wise).
pub fn arith(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, true)?;
    let (f, scalar) = shape(insn);
    let w = (f.bits() / 8) as usize;
    let d = xmm_index(insn.op_register(0));
    let a = xmm(ex, d);
    let b = read(ex, insn, 1, if scalar { w as u32 } else { 16 })?;
    let mut e = env(ex);
    let m = insn.mnemonic();
    let n = if scalar { 1 } else { 16 / w };
    let mut r = a;
    for i in 0..n {
        r = with_lane(r, i, w, op(&mut e, f, m, lane(a, i, w), lane(b, i, w)));
    }
    commit(ex, &e)?;
    set_xmm(ex, d, r);
    Ok(())
}

/// ANDPS/ANDPD, ANDNPS/ANDNPD, ORPS/ORPD, XORPS/XORPD: bitwise, no
/// exceptions.
pub fn logic(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, true)?;
    let d = xmm_index(insn.op_register(0));
    let a = xmm(ex, d);
    let b = read(ex, insn, 1, 16)?;
    let r = match insn.mnemonic() {
        M::Andps | M::Andpd => a & b,
        M::Andnps | M::Andnpd => !a & b,
        M::Orps | M::Orpd => a | b,
        _ => a ^ b,
    };
    set_xmm(ex, d, r);
    Ok(())
}

//! SSE3's floating-point pair arithmetic: ADDSUBPS/PD (subtract in the
//! even lanes, add in the odd ones) and HADDPS/PD, HSUBPS/PD (adjacent
//! pairs of the destination, then of the source). Each element is one
//! IEEE operation with MXCSR's rounding, DAZ/FTZ and exceptions.

use super::ieee::{self, F32, F64};
use super::mxcsr::{commit, env};
use super::{begin, from_lanes, lane, read, set_xmm, xmm, xmm_index, R};
use crate::cpu::exec::Exec;
use iced_x86::{Instruction, Mnemonic as M};

pub fn horizontal(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, true)?;
    let m = insn.mnemonic();
    let f = match m {
        M::Addsubpd | M::Haddpd | M::Hsubpd => F64,
        _ => F32,
    };
    let w = (f.bits() / 8) as usize;
    let n = 16 / w;
    let d = xmm_index(insn.op_register(0));
    let a = xmm(ex, d);
    let b = read(ex, insn, 1, 16)?;
    let mut e = env(ex);
    let r = match m {
        M::Addsubps | M::Addsubpd => from_lanes(n, w, |i| {
            ieee::add(&mut e, f, lane(a, i, w), lane(b, i, w), i % 2 == 0)
        }),
        _ => {
            let sub = matches!(m, M::Hsubps | M::Hsubpd);
            from_lanes(n, w, |i| {
                let src = if i < n / 2 { a } else { b };
                let j = 2 * (i % (n / 2));
                ieee::add(&mut e, f, lane(src, j, w), lane(src, j + 1, w), sub)
            })
        }
    };
    commit(ex, &e)?;
    set_xmm(ex, d, r);
    Ok(())
}

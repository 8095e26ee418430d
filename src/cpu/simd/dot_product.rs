//! DPPS/DPPD: the dot product of the elements imm8[7:4] selects (the
//! others count as +0.0), summed in pairs, then written to the elements
//! imm8[3:0] selects (+0.0 elsewhere). Every multiply and add rounds
//! under MXCSR, pairs first (SDM vol. 2, DPPS "Operation").

use super::ieee::{self, Env, Fmt, F32, F64};
use super::mxcsr::{commit, env};
use super::{begin, from_lanes, lane, read, set_xmm, xmm, xmm_index, R};
use crate::cpu::exec::Exec;
use iced_x86::{Instruction, Mnemonic as M};

pub(crate) fn dot(e: &mut Env, f: Fmt, a: u128, b: u128, imm: u64) -> u128 {
    let w = (f.bits() / 8) as usize;
    let n = 16 / w;
    let products: Vec<u64> = (0..n)
        .map(|i| {
            if imm >> (4 + i) & 1 != 0 {
                ieee::mul(e, f, lane(a, i, w), lane(b, i, w))
            } else {
                0
            }
        })
        .collect();
    // Every destination element gets the same sum; only which NaN wins
    // depends on the order of the operands of each addition, and the
    // host CPUs add with the operands in this order (checked by
    // hostcheck): DPPS element i = (p[i^1] + p[i]) + (p[k^1] + p[k]) with
    // k = i^2, DPPD element i = p[i] + p[i^1].
    let sum = |e: &mut Env, i: usize| {
        if n == 4 {
            let k = i ^ 2;
            let far = ieee::add(e, f, products[k ^ 1], products[k], false);
            let near = ieee::add(e, f, products[i ^ 1], products[i], false);
            ieee::add(e, f, near, far, false)
        } else {
            ieee::add(e, f, products[i], products[i ^ 1], false)
        }
    };
    from_lanes(n, w, |i| {
        let s = sum(e, i);
        if imm >> i & 1 != 0 {
            s
        } else {
            0
        }
    })
}

pub fn dot_product(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, true)?;
    let f = if insn.mnemonic() == M::Dppd { F64 } else { F32 };
    let d = xmm_index(insn.op_register(0));
    let a = xmm(ex, d);
    let b = read(ex, insn, 1, 16)?;
    let mut e = env(ex);
    let r = dot(&mut e, f, a, b, insn.immediate(2));
    commit(ex, &e)?;
    set_xmm(ex, d, r);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpps_masks_inputs_and_outputs() {
        let v = |x: [f32; 4]| from_lanes(4, 4, |i| x[i].to_bits() as u64);
        let mut e = Env::new(0x1f80);
        let r = dot(
            &mut e,
            F32,
            v([1.0, 2.0, 3.0, 4.0]),
            v([5.0, 6.0, 7.0, 8.0]),
            0xd5,
        );
        // Lanes 0, 2, 3 in: 5 + 21 + 32 = 58, out to lanes 0 and 2.
        assert_eq!(r, v([58.0, 0.0, 58.0, 0.0]));
    }
}

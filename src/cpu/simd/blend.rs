//! SSE4.1's blends: each element from the destination or the source, by
//! an imm8 bit (PBLENDW, BLENDPS, BLENDPD) or by the sign bit of the
//! matching element of the implicit XMM0 (PBLENDVB, BLENDVPS, BLENDVPD).

use super::{begin, from_lanes, lane, read, set_xmm, xmm, xmm_index, R};
use crate::cpu::exec::Exec;
use iced_x86::{Instruction, Mnemonic as M};

/// `a` with the elements of `w` bytes that `pick(i)` selects from `b`.
pub(crate) fn select(a: u128, b: u128, w: usize, pick: impl Fn(usize) -> bool) -> u128 {
    from_lanes(16 / w, w, |i| lane(if pick(i) { b } else { a }, i, w))
}

pub fn blend(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, true)?;
    let d = xmm_index(insn.op_register(0));
    let a = xmm(ex, d);
    let b = read(ex, insn, 1, 16)?;
    let m = insn.mnemonic();
    let w = match m {
        M::Pblendw => 2,
        M::Blendps | M::Blendvps => 4,
        M::Blendpd | M::Blendvpd => 8,
        _ => 1,
    };
    let r = if matches!(m, M::Pblendw | M::Blendps | M::Blendpd) {
        let imm = insn.immediate(2);
        select(a, b, w, |i| imm >> i & 1 != 0)
    } else {
        let mask = xmm(ex, 0);
        select(a, b, w, |i| lane(mask, i, w) >> (8 * w - 1) != 0)
    };
    set_xmm(ex, d, r);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_by_bit() {
        let r = select(0, u128::MAX, 2, |i| i == 1 || i == 7);
        assert_eq!(r, 0xffff << 112 | 0xffff_0000);
    }
}

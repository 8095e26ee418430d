//! SSSE3's packed integer instructions, on MMX (8 bytes) and XMM (16
//! bytes) registers: PSHUFB, the horizontal PHADD*/PHSUB* (pairs of the
//! destination, then of the source), PMADDUBSW, PMULHRSW, PSIGN*, PABS*
//! and PALIGNR (SDM vol. 2).

use super::{begin_auto, from_lanes, lane, mmx_transition, read, reg_bytes, write, R};
use crate::cpu::exec::Exec;
use iced_x86::{Instruction, Mnemonic as M};

fn sx(v: u64, w: usize) -> i64 {
    let s = 64 - 8 * w as u32;
    ((v << s) as i64) >> s
}

fn sat16(v: i64) -> u64 {
    v.clamp(i16::MIN as i64, i16::MAX as i64) as u64
}

/// Element width in bytes of the width-suffixed forms.
fn width(m: M) -> usize {
    match m {
        M::Psignb | M::Pabsb => 1,
        M::Phaddd | M::Phsubd | M::Psignd | M::Pabsd => 4,
        _ => 2,
    }
}

/// `a` (destination) op `b` (source) over `bytes` bytes.
pub(crate) fn compute(m: M, a: u128, b: u128, bytes: usize, imm: u64) -> u128 {
    let w = width(m);
    let n = bytes / w;
    match m {
        M::Pshufb => from_lanes(bytes, 1, |i| {
            let sel = lane(b, i, 1);
            if sel & 0x80 != 0 {
                0
            } else {
                lane(a, sel as usize & (bytes - 1), 1)
            }
        }),
        M::Phaddw | M::Phaddd | M::Phaddsw | M::Phsubw | M::Phsubd | M::Phsubsw => {
            from_lanes(n, w, |i| {
                let src = if i < n / 2 { a } else { b };
                let j = 2 * (i % (n / 2));
                let (x, y) = (sx(lane(src, j, w), w), sx(lane(src, j + 1, w), w));
                match m {
                    M::Phaddw | M::Phaddd => x.wrapping_add(y) as u64,
                    M::Phsubw | M::Phsubd => x.wrapping_sub(y) as u64,
                    M::Phaddsw => sat16(x + y),
                    _ => sat16(x - y),
                }
            })
        }
        // Unsigned bytes of the destination times signed bytes of the
        // source, adjacent products summed with signed saturation.
        M::Pmaddubsw => from_lanes(n, 2, |i| {
            let p = |k: usize| lane(a, k, 1) as i64 * sx(lane(b, k, 1), 1);
            sat16(p(2 * i) + p(2 * i + 1))
        }),
        M::Pmulhrsw => from_lanes(n, 2, |i| {
            let p = sx(lane(a, i, 2), 2) * sx(lane(b, i, 2), 2);
            (((p >> 14) + 1) >> 1) as u64
        }),
        M::Psignb | M::Psignw | M::Psignd => from_lanes(n, w, |i| {
            let s = sx(lane(b, i, w), w);
            let x = sx(lane(a, i, w), w);
            match s.signum() {
                -1 => x.wrapping_neg() as u64,
                0 => 0,
                _ => x as u64,
            }
        }),
        M::Pabsb | M::Pabsw | M::Pabsd => from_lanes(n, w, |i| sx(lane(b, i, w), w).unsigned_abs()),
        _ => {
            // PALIGNR: destination:source shifted right by imm8 bytes.
            let shift = imm as usize;
            from_lanes(bytes, 1, |i| {
                let k = i + shift;
                if k < bytes {
                    lane(b, k, 1)
                } else if k < 2 * bytes {
                    lane(a, k - bytes, 1)
                } else {
                    0
                }
            })
        }
    }
}

pub fn ssse3(ex: &mut Exec, insn: &Instruction) -> R {
    let u = begin_auto(ex, insn)?;
    let bytes = reg_bytes(insn, 0);
    let a = read(ex, insn, 0, bytes)?;
    let b = read(ex, insn, 1, bytes)?;
    let imm = if insn.op_count() > 2 {
        insn.immediate(2) & 0xff
    } else {
        0
    };
    let mut r = compute(insn.mnemonic(), a, b, bytes as usize, imm);
    if bytes == 8 {
        r &= u64::MAX as u128;
    }
    write(ex, insn, 0, bytes, r)?;
    if u.mm {
        mmx_transition(ex);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pshufb_zeroes_on_the_high_bit_and_wraps_the_index() {
        let a: u128 = 0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100;
        // Selectors 0x80 (zero), 0x11 (index 1 in XMM), 0x0f.
        let b: u128 = 0x000f_1180;
        let r = compute(M::Pshufb, a, b, 16, 0);
        assert_eq!(r & 0xff_ffff, 0x000f_0100);
        // MMX: the index is 3 bits.
        let r = compute(M::Pshufb, 0x0706_0504_0302_0100, 0x0f, 8, 0);
        assert_eq!(r & 0xff, 7);
    }

    #[test]
    fn pmulhrsw_rounds_and_pabs_of_the_minimum_stays() {
        let r = compute(M::Pmulhrsw, 0x8000, 0x8000, 16, 0);
        assert_eq!(r & 0xffff, 0x8000, "(-1 * -1) rounds to 0x8000");
        let r = compute(M::Pabsb, 0, 0x80ff, 16, 0);
        assert_eq!(r & 0xffff, 0x8001);
    }

    #[test]
    fn palignr_shifts_the_concatenation() {
        let r = compute(M::Palignr, 0x1111, 0x2222_3333, 8, 2);
        assert_eq!(r, 0x1111_0000_0000_2222);
        assert_eq!(compute(M::Palignr, 1, 2, 8, 16), 0);
        assert_eq!(compute(M::Palignr, 5, 2, 16, 16), 5);
    }

    #[test]
    fn phaddsw_saturates_and_psign_negates() {
        let r = compute(M::Phaddsw, 0x7fff_0001, 0, 16, 0);
        assert_eq!(r & 0xffff, 0x7fff);
        let r = compute(M::Psignw, 0x0005_0005_0005, 0x8000_0000_0001, 16, 0);
        assert_eq!(r & 0xffff_ffff_ffff, 0xfffb_0000_0005);
    }
}

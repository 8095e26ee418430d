//! SSE4.2's string compares PCMPESTRI/PCMPESTRM (explicit lengths in
//! EAX/EDX, RAX/RDX with REX.W) and PCMPISTRI/PCMPISTRM (a zero element
//! ends each string). The imm8 selects the element type (bits 1:0),
//! the aggregation (3:2: equal any, ranges, equal each, equal ordered),
//! the polarity (5:4) and the output (6: least/most significant index,
//! or bit/element mask). SDM vol. 2, 4.1 "Imm8 Control Byte Operation
//! for PCMPESTRI / PCMPESTRM / PCMPISTRI / PCMPISTRM".

use super::{begin, from_lanes, lane, read, set_xmm, xmm, xmm_index, R};
use crate::cpu::exec::Exec;
use crate::cpu::state::rflags::{ARITH, CF, OF, SF, ZF};
use crate::cpu::state::{RAX, RCX, RDX};
use iced_x86::{Instruction, Mnemonic as M};

/// What the comparison produces before it is written out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// IntRes2: one bit per element.
    pub res: u32,
    /// Elements per register (16 bytes or 8 words).
    pub count: usize,
    pub flags: u64,
}

/// Element `i` of `v` as an integer of the imm8's type.
fn element(v: u128, i: usize, imm: u8) -> i64 {
    let w = if imm & 1 != 0 { 2 } else { 1 };
    let x = lane(v, i, w);
    if imm & 2 != 0 {
        let s = 64 - 8 * w as u32;
        ((x << s) as i64) >> s
    } else {
        x as i64
    }
}

/// Elements before the first zero one (all of them without one).
pub(crate) fn implicit_length(v: u128, imm: u8) -> usize {
    let count = if imm & 1 != 0 { 8 } else { 16 };
    (0..count)
        .find(|&i| element(v, i, imm) == 0)
        .unwrap_or(count)
}

/// The absolute value of a length register, saturated to the count.
pub(crate) fn explicit_length(reg: i64, imm: u8) -> usize {
    let count = if imm & 1 != 0 { 8 } else { 16 };
    reg.unsigned_abs().min(count as u64) as usize
}

/// Compares `a` (xmm1, valid for `la` elements) with `b` (xmm2/m128, `lb`
/// elements).
pub(crate) fn compare(a: u128, la: usize, b: u128, lb: usize, imm: u8) -> Outcome {
    let count = if imm & 1 != 0 { 8 } else { 16 };
    let ea = |i: usize| element(a, i, imm);
    let eb = |j: usize| element(b, j, imm);
    let mut res1 = 0u32;
    for j in 0..count {
        let hit = match (imm >> 2) & 3 {
            // Equal any: b[j] is one of a's valid elements.
            0 => j < lb && (0..la).any(|i| ea(i) == eb(j)),
            // Ranges: a holds (low, high) pairs; b[j] within one of them.
            1 => {
                j < lb
                    && (0..count / 2).any(|p| {
                        let (lo, hi) = (2 * p, 2 * p + 1);
                        lo < la && hi < la && ea(lo) <= eb(j) && eb(j) <= ea(hi)
                    })
            }
            // Equal each: a[j] == b[j]; both invalid is true.
            2 => match (j < la, j < lb) {
                (true, true) => ea(j) == eb(j),
                (false, false) => true,
                _ => false,
            },
            // Equal ordered: a (the needle) starts at b[j]; a's invalid
            // elements match anything, b's invalid ones nothing.
            _ => (0..count - j).all(|i| {
                if i >= la {
                    true
                } else if j + i >= lb {
                    false
                } else {
                    ea(i) == eb(j + i)
                }
            }),
        };
        res1 |= (hit as u32) << j;
    }
    let all = (1u32 << count) - 1;
    let valid_b = (1u32 << lb) - 1;
    let res = match (imm >> 4) & 3 {
        1 => !res1 & all,
        3 => res1 ^ valid_b,
        _ => res1,
    };
    let mut flags = 0;
    if res != 0 {
        flags |= CF;
    }
    if lb < count {
        flags |= ZF;
    }
    if la < count {
        flags |= SF;
    }
    if res & 1 != 0 {
        flags |= OF;
    }
    Outcome { res, count, flags }
}

pub fn string_compare(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, true)?;
    let m = insn.mnemonic();
    let a = xmm(ex, xmm_index(insn.op_register(0)));
    let b = read(ex, insn, 1, 16)?;
    let imm = insn.immediate(2) as u8;
    let (la, lb) = match m {
        M::Pcmpistri | M::Pcmpistrm => (implicit_length(a, imm), implicit_length(b, imm)),
        _ => {
            let wide = matches!(m, M::Pcmpestri64 | M::Pcmpestrm64);
            let len = |v: u64| if wide { v as i64 } else { v as i32 as i64 };
            (
                explicit_length(len(ex.s.gpr[RAX]), imm),
                explicit_length(len(ex.s.gpr[RDX]), imm),
            )
        }
    };
    let o = compare(a, la, b, lb, imm);
    if matches!(m, M::Pcmpestri | M::Pcmpestri64 | M::Pcmpistri) {
        let index = if o.res == 0 {
            o.count as u32
        } else if imm & 0x40 != 0 {
            31 - o.res.leading_zeros()
        } else {
            o.res.trailing_zeros()
        };
        // A 32-bit write: RCX's upper half is zeroed.
        ex.s.gpr[RCX] = index as u64;
    } else {
        let mask = if imm & 0x40 != 0 {
            let w = 16 / o.count;
            from_lanes(
                o.count,
                w,
                |i| {
                    if o.res >> i & 1 != 0 {
                        u64::MAX
                    } else {
                        0
                    }
                },
            )
        } else {
            o.res as u128
        };
        set_xmm(ex, 0, mask);
    }
    ex.s.set_arith_flags(ARITH, o.flags);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &[u8]) -> u128 {
        let mut b = [0u8; 16];
        b[..text.len()].copy_from_slice(text);
        u128::from_le_bytes(b)
    }

    #[test]
    fn equal_any_finds_the_set_members() {
        let (a, b) = (s(b"ae"), s(b"hello, sea"));
        let o = compare(a, implicit_length(a, 0), b, implicit_length(b, 0), 0);
        assert_eq!(o.res, 1 << 1 | 1 << 8 | 1 << 9);
        assert_eq!(o.flags, CF | ZF | SF);
    }

    #[test]
    fn ranges_and_negative_polarity() {
        let a = s(b"az");
        let b = s(b"aB-z");
        let o = compare(a, 2, b, 4, 0b0100);
        assert_eq!(o.res, 0b1001);
        // Masked negative: invert only b's valid elements.
        let o = compare(a, 2, b, 4, 0b11_0100);
        assert_eq!(o.res, 0b0110);
        let o = compare(a, 2, b, 4, 0b01_0100);
        assert_eq!(o.res, 0xfff6);
    }

    #[test]
    fn equal_ordered_matches_needles_running_off_the_end() {
        let (a, b) = (s(b"lo"), s(b"hello lol"));
        let o = compare(a, 2, b, 9, 0b1100);
        assert_eq!(o.res, 1 << 3 | 1 << 6);
        // "lo" against "...l" at the end: a valid needle element past
        // b's end is no match.
        let (a, b) = (s(b"lx"), s(b"abl"));
        assert_eq!(compare(a, 2, b, 3, 0b1100).res, 0);
        // An empty needle matches everywhere.
        assert_eq!(compare(0, 0, b, 3, 0b1100).res, 0xffff);
    }

    #[test]
    fn equal_each_with_invalid_tails_and_signed_words() {
        let (a, b) = (s(b"abcd"), s(b"abxd"));
        let o = compare(a, 4, b, 3, 0b1000);
        // Elements 4.. are invalid in both: true; element 3 only in a.
        assert_eq!(o.res, 0xfff3);
        assert_eq!(o.flags, CF | ZF | SF | OF);
        // Signed words: -1 is in the range [-2, 5].
        let a: u128 = 0x0005_fffe;
        let o = compare(a, 2, 0xffff, 1, 0b0111);
        assert_eq!(o.res, 1);
        assert_eq!(o.count, 8);
    }

    #[test]
    fn lengths() {
        assert_eq!(explicit_length(-3, 0), 3);
        assert_eq!(explicit_length(i64::MIN, 1), 8);
        assert_eq!(explicit_length(100, 0), 16);
        assert_eq!(implicit_length(s(b"abc"), 0), 3);
        assert_eq!(implicit_length(0x0061_0000_0062, 1), 1);
        assert_eq!(implicit_length(u128::MAX, 1), 8);
    }
}

//! SSE4.1's integer instructions that are not lane-wise: PMOVSX*/PMOVZX*
//! (widen the low elements of the source), PTEST (flags only),
//! PHMINPOSUW and MPSADBW (SDM vol. 2).

use super::{begin, from_lanes, lane, read, set_xmm, xmm, xmm_index, R};
use crate::cpu::exec::Exec;
use crate::cpu::state::rflags::{ARITH, CF, ZF};
use iced_x86::{Instruction, Mnemonic as M, OpKind};

/// Reads the source operand: the whole register, or the form's memory
/// size (PMOVSX/ZX read only the elements they widen).
fn source(ex: &mut Exec, insn: &Instruction) -> Result<u128, crate::cpu::fault::Fault> {
    let bytes = if insn.op_kind(1) == OpKind::Memory {
        insn.memory_size().size() as u32
    } else {
        16
    };
    read(ex, insn, 1, bytes)
}

/// (source element bytes, destination element bytes, sign-extend).
fn widths(m: M) -> (usize, usize, bool) {
    use M::*;
    match m {
        Pmovsxbw => (1, 2, true),
        Pmovsxbd => (1, 4, true),
        Pmovsxbq => (1, 8, true),
        Pmovsxwd => (2, 4, true),
        Pmovsxwq => (2, 8, true),
        Pmovsxdq => (4, 8, true),
        Pmovzxbw => (1, 2, false),
        Pmovzxbd => (1, 4, false),
        Pmovzxbq => (1, 8, false),
        Pmovzxwd => (2, 4, false),
        Pmovzxwq => (2, 8, false),
        _ => (4, 8, false),
    }
}

pub(crate) fn widen(m: M, v: u128) -> u128 {
    let (from, to, signed) = widths(m);
    from_lanes(16 / to, to, |i| {
        let x = lane(v, i, from);
        if signed {
            let s = 64 - 8 * from as u32;
            (((x << s) as i64) >> s) as u64
        } else {
            x
        }
    })
}

pub fn extend(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, true)?;
    let v = source(ex, insn)?;
    set_xmm(
        ex,
        xmm_index(insn.op_register(0)),
        widen(insn.mnemonic(), v),
    );
    Ok(())
}

/// PTEST: ZF = (dst AND src) == 0, CF = (NOT dst AND src) == 0; AF, OF,
/// PF and SF cleared.
pub fn ptest(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, true)?;
    let a = xmm(ex, xmm_index(insn.op_register(0)));
    let b = read(ex, insn, 1, 16)?;
    let mut f = 0;
    if a & b == 0 {
        f |= ZF;
    }
    if !a & b == 0 {
        f |= CF;
    }
    ex.s.set_arith_flags(ARITH, f);
    Ok(())
}

/// The smallest unsigned word of `v` (the lowest index on ties) in bits
/// 0-15, its index in bits 16-18, zeros above.
pub(crate) fn min_position(v: u128) -> u128 {
    let (i, x) = (0..8)
        .map(|i| (i, lane(v, i, 2)))
        .min_by_key(|&(i, x)| (x, i))
        .unwrap_or((0, 0));
    (x | (i as u64) << 16) as u128
}

pub fn phminposuw(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, true)?;
    let b = read(ex, insn, 1, 16)?;
    set_xmm(ex, xmm_index(insn.op_register(0)), min_position(b));
    Ok(())
}

/// Eight sums of absolute differences between a 4-byte block of the
/// source (imm8[1:0]) and sliding 4-byte windows of the destination
/// starting at byte 0 or 4 (imm8[2]).
pub(crate) fn sad_blocks(a: u128, b: u128, imm: u64) -> u128 {
    let src = 4 * (imm as usize & 3);
    let dst = 4 * ((imm as usize >> 2) & 1);
    from_lanes(8, 2, |i| {
        (0..4)
            .map(|k| (lane(a, dst + i + k, 1) as u8).abs_diff(lane(b, src + k, 1) as u8) as u64)
            .sum()
    })
}

pub fn mpsadbw(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, true)?;
    let d = xmm_index(insn.op_register(0));
    let a = xmm(ex, d);
    let b = read(ex, insn, 1, 16)?;
    set_xmm(ex, d, sad_blocks(a, b, insn.immediate(2)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_signed_and_unsigned() {
        assert_eq!(widen(M::Pmovsxbw, 0x80ff) & 0xffff_ffff, 0xff80_ffff);
        assert_eq!(widen(M::Pmovzxbw, 0x80ff) & 0xffff_ffff, 0x0080_00ff);
        assert_eq!(widen(M::Pmovsxdq, 0x1_8000_0000), 0x1_ffff_ffff_8000_0000);
    }

    #[test]
    fn phminposuw_takes_the_first_minimum() {
        let v: u128 = 0x0005_0003_0009_0003 << 64 | 0x0004_0004_0004_0004;
        assert_eq!(min_position(v), 0x0004_0003);
        let v: u128 = 0x0009_0009_0001_0009 << 64 | 0x0002_0002_0002_0002;
        assert_eq!(min_position(v), 0x0005_0001);
    }

    #[test]
    fn mpsadbw_slides_over_the_destination() {
        let a: u128 = 0x0706_0504_0302_0100;
        let r = sad_blocks(a, 0x0302_0100, 0);
        assert_eq!(lane(r, 0, 2), 0);
        assert_eq!(lane(r, 1, 2), 4);
        let r = sad_blocks(a, 0x0302_0100 << 32, 1 | 4);
        assert_eq!(lane(r, 0, 2), 16);
    }
}

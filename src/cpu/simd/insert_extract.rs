//! SSE4.1's element inserts and extracts: INSERTPS (with its zero mask),
//! EXTRACTPS, PINSRB/PINSRD/PINSRQ and PEXTRB/PEXTRD/PEXTRQ, between XMM
//! elements and general registers or memory. Extracts to a register
//! zero-extend; the index is the imm8's low bits.

use super::{begin, lane, read, set_xmm, with_lane, write, xmm, xmm_index, R};
use crate::cpu::exec::Exec;
use iced_x86::{Instruction, Mnemonic as M, OpKind};

/// INSERTPS: element imm8[7:6] of the source register (or the m32) into
/// element imm8[5:4], then the elements set in imm8[3:0] zeroed.
pub(crate) fn insertps(a: u128, src: u64, imm: u64) -> u128 {
    let r = with_lane(a, (imm as usize >> 4) & 3, 4, src);
    (0..4).fold(r, |r, i| {
        if imm >> i & 1 != 0 {
            with_lane(r, i, 4, 0)
        } else {
            r
        }
    })
}

pub fn insert_extract(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, true)?;
    let m = insn.mnemonic();
    let imm = insn.immediate(2);
    let w = match m {
        M::Pinsrb | M::Pextrb => 1,
        M::Pinsrq | M::Pextrq => 8,
        _ => 4,
    };
    let index = imm as usize & (16 / w - 1);
    match m {
        M::Insertps => {
            let d = xmm_index(insn.op_register(0));
            let a = xmm(ex, d);
            let src = if insn.op_kind(1) == OpKind::Memory {
                read(ex, insn, 1, 4)? as u64
            } else {
                lane(read(ex, insn, 1, 16)?, (imm as usize >> 6) & 3, 4)
            };
            set_xmm(ex, d, insertps(a, src, imm));
        }
        M::Pinsrb | M::Pinsrd | M::Pinsrq => {
            let d = xmm_index(insn.op_register(0));
            let a = xmm(ex, d);
            let src = read(ex, insn, 1, w as u32)? as u64;
            set_xmm(ex, d, with_lane(a, index, w, src));
        }
        _ => {
            // EXTRACTPS, PEXTRB/D/Q: to r32/r64 (zero-extended) or memory.
            let v = lane(xmm(ex, xmm_index(insn.op_register(1))), index, w);
            let bytes = if insn.op_kind(0) == OpKind::Memory {
                w as u32
            } else {
                8
            };
            write(ex, insn, 0, bytes, v as u128)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insertps_places_then_zeroes() {
        let a: u128 = 0x4444_4444_3333_3333_2222_2222_1111_1111;
        let r = insertps(a, 0xaaaa_aaaa, 2 << 4 | 0b0001);
        assert_eq!(r, 0x4444_4444_aaaa_aaaa_2222_2222_0000_0000);
        assert_eq!(insertps(a, 5, 0x0f), 0);
    }
}

//! Data rearrangement: PACKSSWB/PACKSSDW/PACKUSWB/PACKUSDW, PUNPCK*,
//! UNPCK*PS/PD, PSHUFW/PSHUFD/PSHUFHW/PSHUFLW, SHUFPS/SHUFPD, PINSRW,
//! PEXTRW (to a register, or SSE4.1's m16) and SSE3's duplicating moves
//! MOVSLDUP/MOVSHDUP/MOVDDUP.

use super::{begin_auto, from_lanes, lane, mmx_transition, read, reg_bytes, write, R};
use crate::cpu::exec::Exec;
use iced_x86::{Instruction, Mnemonic as M, OpKind};

fn sx(v: u64, w: usize) -> i64 {
    let s = 64 - 8 * w as u32;
    ((v << s) as i64) >> s
}

pub fn shuffle(ex: &mut Exec, insn: &Instruction) -> R {
    let u = begin_auto(ex, insn)?;
    let m = insn.mnemonic();
    if m == M::Pextrw {
        let bytes = reg_bytes(insn, 1) as usize;
        let v = read(ex, insn, 1, bytes as u32)?;
        let n = bytes / 2;
        let i = (insn.immediate(2) as usize) & (n - 1);
        // SSE4.1's form may store to m16; to a register it zero-extends.
        let out = if insn.op_kind(0) == OpKind::Memory {
            2
        } else {
            4
        };
        write(ex, insn, 0, out, lane(v, i, 2) as u128)?;
        if u.mm {
            mmx_transition(ex);
        }
        return Ok(());
    }
    let bytes = reg_bytes(insn, 0) as usize;
    let a = read(ex, insn, 0, bytes as u32)?;
    // The MMX low unpacks read only 32 bits of memory.
    let src_bytes = match m {
        M::Punpcklbw | M::Punpcklwd | M::Punpckldq if bytes == 8 => 4,
        M::Pinsrw => 2,
        M::Movddup => 8,
        _ => bytes as u32,
    };
    let b = read(ex, insn, 1, src_bytes)?;
    let imm = if insn.op_count() > 2 {
        insn.immediate(2) as usize
    } else {
        0
    };
    let unpack = |w: usize, high: bool| {
        let half = bytes / w / 2;
        let base = if high { half } else { 0 };
        from_lanes(bytes / w, w, |i| {
            let src = if i % 2 == 0 { a } else { b };
            lane(src, base + i / 2, w)
        })
    };
    let pack = |w: usize, f: fn(i64) -> u64| {
        let n = bytes / w;
        from_lanes(2 * n, w / 2, |i| {
            let src = if i < n { a } else { b };
            f(sx(lane(src, i % n, w), w))
        })
    };
    let r: u128 = match m {
        M::Punpcklbw => unpack(1, false),
        M::Punpcklwd => unpack(2, false),
        M::Punpckldq | M::Unpcklps => unpack(4, false),
        M::Punpcklqdq | M::Unpcklpd => unpack(8, false),
        M::Punpckhbw => unpack(1, true),
        M::Punpckhwd => unpack(2, true),
        M::Punpckhdq | M::Unpckhps => unpack(4, true),
        M::Punpckhqdq | M::Unpckhpd => unpack(8, true),
        M::Packsswb => pack(2, |v| v.clamp(-128, 127) as u64),
        M::Packssdw => pack(4, |v| v.clamp(-32768, 32767) as u64),
        M::Packuswb => pack(2, |v| v.clamp(0, 255) as u64),
        M::Packusdw => pack(4, |v| v.clamp(0, 65535) as u64),
        M::Movsldup => from_lanes(4, 4, |i| lane(b, i & !1, 4)),
        M::Movshdup => from_lanes(4, 4, |i| lane(b, i | 1, 4)),
        M::Movddup => from_lanes(2, 8, |_| lane(b, 0, 8)),
        M::Pshufw | M::Pshufd => {
            let w = if m == M::Pshufw { 2 } else { 4 };
            from_lanes(4, w, |i| lane(b, (imm >> (2 * i)) & 3, w))
        }
        M::Pshuflw | M::Pshufhw => {
            let base = if m == M::Pshufhw { 4 } else { 0 };
            from_lanes(8, 2, |i| {
                if i / 4 == base / 4 {
                    lane(b, base + ((imm >> (2 * (i % 4))) & 3), 2)
                } else {
                    lane(b, i, 2)
                }
            })
        }
        M::Shufps => from_lanes(4, 4, |i| {
            let src = if i < 2 { a } else { b };
            lane(src, (imm >> (2 * i)) & 3, 4)
        }),
        M::Shufpd => lane(a, imm & 1, 8) as u128 | (lane(b, (imm >> 1) & 1, 8) as u128) << 64,
        _ => {
            // PINSRW: from a general register (low word) or m16.
            let n = bytes / 2;
            let x = if insn.op_kind(1) == OpKind::Memory {
                b as u64
            } else {
                b as u64 & 0xffff
            };
            super::with_lane(a, imm & (n - 1), 2, x)
        }
    };
    write(ex, insn, 0, bytes as u32, r)?;
    if u.mm {
        mmx_transition(ex);
    }
    Ok(())
}

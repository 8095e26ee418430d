//! Packed integer arithmetic on MMX (64-bit) and XMM (128-bit) registers:
//! wrapping and saturating add/subtract, multiplies, PMADDWD, PSADBW,
//! logic, compares, min/max, averages and the shifts (by register,
//! memory or immediate; PSLLDQ/PSRLDQ by bytes), and the lane-wise
//! additions of SSE4.1/4.2 (PMULLD, PMULDQ, PMIN*/PMAX*, PCMPEQQ,
//! PCMPGTQ). One lane function per instruction, applied over 8 or 16
//! bytes.

use super::{begin_auto, from_lanes, lane, mmx_transition, read, reg_bytes, write, R};
use crate::cpu::exec::Exec;
use iced_x86::{Instruction, Mnemonic as M, OpKind};

fn sx(v: u64, w: usize) -> i64 {
    let s = 64 - 8 * w as u32;
    ((v << s) as i64) >> s
}

fn sat_s(v: i64, w: usize) -> u64 {
    let max = (1i64 << (8 * w - 1)) - 1;
    v.clamp(-max - 1, max) as u64
}

fn sat_u(v: i64, w: usize) -> u64 {
    v.clamp(0, (1i64 << (8 * w)) - 1) as u64
}

/// A lane function: (destination lane, source lane, lane bytes) -> lane.
type LaneFn = fn(u64, u64, usize) -> u64;

/// Element width in bytes and the lane function of a lane-wise op.
fn lanewise(m: M) -> Option<(usize, LaneFn)> {
    use M::*;
    Some(match m {
        Paddb | Paddw | Paddd | Paddq | Psubb | Psubw | Psubd | Psubq => {
            let w = match m {
                Paddb | Psubb => 1,
                Paddw | Psubw => 2,
                Paddd | Psubd => 4,
                _ => 8,
            };
            if matches!(m, Paddb | Paddw | Paddd | Paddq) {
                (w, |a, b, _| a.wrapping_add(b))
            } else {
                (w, |a, b, _| a.wrapping_sub(b))
            }
        }
        Paddsb => (1, |a, b, w| sat_s(sx(a, w) + sx(b, w), w)),
        Paddsw => (2, |a, b, w| sat_s(sx(a, w) + sx(b, w), w)),
        Psubsb => (1, |a, b, w| sat_s(sx(a, w) - sx(b, w), w)),
        Psubsw => (2, |a, b, w| sat_s(sx(a, w) - sx(b, w), w)),
        Paddusb => (1, |a, b, w| sat_u(a as i64 + b as i64, w)),
        Paddusw => (2, |a, b, w| sat_u(a as i64 + b as i64, w)),
        Psubusb => (1, |a, b, w| sat_u(a as i64 - b as i64, w)),
        Psubusw => (2, |a, b, w| sat_u(a as i64 - b as i64, w)),
        Pmullw => (2, |a, b, _| a.wrapping_mul(b)),
        Pmulhw => (2, |a, b, w| ((sx(a, w) * sx(b, w)) >> 16) as u64),
        Pmulhuw => (2, |a, b, _| (a * b) >> 16),
        Pmuludq => (8, |a, b, _| (a & 0xffff_ffff) * (b & 0xffff_ffff)),
        Pmaddwd => (4, |a, b, _| {
            let p = |i: u32| (a >> i) as u16 as i16 as i64 * ((b >> i) as u16 as i16 as i64);
            (p(0) + p(16)) as u64
        }),
        Psadbw => (8, |a, b, _| {
            (0..8)
                .map(|i| ((a >> (8 * i)) as u8).abs_diff((b >> (8 * i)) as u8) as u64)
                .sum()
        }),
        Pcmpeqb | Pcmpeqw | Pcmpeqd => {
            let w = match m {
                Pcmpeqb => 1,
                Pcmpeqw => 2,
                _ => 4,
            };
            (w, |a, b, _| if a == b { u64::MAX } else { 0 })
        }
        Pcmpgtb | Pcmpgtw | Pcmpgtd => {
            let w = match m {
                Pcmpgtb => 1,
                Pcmpgtw => 2,
                _ => 4,
            };
            (w, |a, b, w| if sx(a, w) > sx(b, w) { u64::MAX } else { 0 })
        }
        Pminub => (1, |a, b, _| a.min(b)),
        Pmaxub => (1, |a, b, _| a.max(b)),
        Pminsw => (2, |a, b, w| if sx(a, w) < sx(b, w) { a } else { b }),
        Pmaxsw => (2, |a, b, w| if sx(a, w) > sx(b, w) { a } else { b }),
        Pavgb => (1, |a, b, _| (a + b + 1) >> 1),
        Pavgw => (2, |a, b, _| (a + b + 1) >> 1),
        Pmulld => (4, |a, b, _| a.wrapping_mul(b)),
        Pmuldq => (8, |a, b, _| (sx(a, 4) * sx(b, 4)) as u64),
        Pminsb | Pminsd => (if m == Pminsb { 1 } else { 4 }, |a, b, w| {
            if sx(a, w) < sx(b, w) {
                a
            } else {
                b
            }
        }),
        Pmaxsb | Pmaxsd => (if m == Pmaxsb { 1 } else { 4 }, |a, b, w| {
            if sx(a, w) > sx(b, w) {
                a
            } else {
                b
            }
        }),
        Pminuw => (2, |a, b, _| a.min(b)),
        Pminud => (4, |a, b, _| a.min(b)),
        Pmaxuw => (2, |a, b, _| a.max(b)),
        Pmaxud => (4, |a, b, _| a.max(b)),
        Pcmpeqq => (8, |a, b, _| if a == b { u64::MAX } else { 0 }),
        Pcmpgtq => (
            8,
            |a, b, _| if (a as i64) > (b as i64) { u64::MAX } else { 0 },
        ),
        _ => return None,
    })
}

/// Shift direction and element width of the shift family.
fn shift_kind(m: M) -> Option<(u8, usize)> {
    use M::*;
    Some(match m {
        Psllw => (0, 2),
        Pslld => (0, 4),
        Psllq => (0, 8),
        Psrlw => (1, 2),
        Psrld => (1, 4),
        Psrlq => (1, 8),
        Psraw => (2, 2),
        Psrad => (2, 4),
        _ => return None,
    })
}

pub fn integer(ex: &mut Exec, insn: &Instruction) -> R {
    let u = begin_auto(ex, insn)?;
    let bytes = reg_bytes(insn, 0) as usize;
    let m = insn.mnemonic();
    let a = read(ex, insn, 0, bytes as u32)?;
    let imm = insn.op_kind(1) != OpKind::Register && insn.op_kind(1) != OpKind::Memory;
    let b = read(ex, insn, 1, bytes as u32)?;
    let r = if let Some((w, f)) = lanewise(m) {
        from_lanes(bytes / w, w, |i| f(lane(a, i, w), lane(b, i, w), w))
    } else if let Some((dir, w)) = shift_kind(m) {
        // By register or memory: the whole low quadword is the count.
        let count = if imm { b as u64 & 0xff } else { b as u64 };
        let bits = 8 * w as u64;
        from_lanes(bytes / w, w, |i| {
            let x = lane(a, i, w);
            match dir {
                0 if count < bits => x << count,
                1 if count < bits => x >> count,
                2 => (sx(x, w) >> count.min(bits - 1)) as u64,
                _ => 0,
            }
        })
    } else {
        match m {
            M::Pand => a & b,
            M::Pandn => !a & b,
            M::Por => a | b,
            M::Pxor => a ^ b,
            M::Pslldq => {
                let n = (b & 0xff) as u32;
                if n > 15 {
                    0
                } else {
                    a << (8 * n)
                }
            }
            _ => {
                // PSRLDQ
                let n = (b & 0xff) as u32;
                if n > 15 {
                    0
                } else {
                    a >> (8 * n)
                }
            }
        }
    };
    let r = if bytes == 8 { r & u64::MAX as u128 } else { r };
    write(ex, insn, 0, bytes as u32, r)?;
    if u.mm {
        mmx_transition(ex);
    }
    Ok(())
}

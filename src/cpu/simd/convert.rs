//! CVT*: between packed/scalar single and double, signed 32/64-bit
//! integers (in general registers, MMX registers and XMM lanes) and the
//! floating-point formats; the CVTT* forms truncate. Out-of-range and NaN
//! sources give the integer indefinite (only the sign bit) with IE.

use super::ieee::{self, Env, Fmt, F32, F64};
use super::mxcsr::{commit, env};
use super::{begin_auto, from_lanes, lane, mmx_transition, read, write, xmm, xmm_index, R};
use crate::cpu::exec::Exec;
use iced_x86::{Instruction, Mnemonic as M};

fn sext32(v: u64) -> i64 {
    v as u32 as i32 as i64
}

pub fn convert(ex: &mut Exec, insn: &Instruction) -> R {
    let u = begin_auto(ex, insn)?;
    let m = insn.mnemonic();
    let mut e = env(ex);
    let dst_xmm = insn.op_register(0).is_xmm();
    let old = if dst_xmm {
        xmm(ex, xmm_index(insn.op_register(0)))
    } else {
        0
    };
    let ints = |e: &mut Env, f: Fmt, src: u128, n: usize, bits: u32, t: bool| {
        let w = (f.bits() / 8) as usize;
        from_lanes(n, (bits / 8) as usize, |i| {
            ieee::to_int(e, f, lane(src, i, w), bits, t)
        })
    };
    let result: u128 = match m {
        M::Cvtpi2ps => {
            let s = read(ex, insn, 1, 8)?;
            let v0 = ieee::from_int(&mut e, F32, sext32(lane(s, 0, 4)));
            let v1 = ieee::from_int(&mut e, F32, sext32(lane(s, 1, 4)));
            (old & !(u64::MAX as u128)) | v0 as u128 | (v1 as u128) << 32
        }
        M::Cvtpi2pd | M::Cvtdq2pd => {
            let s = read(ex, insn, 1, 8)?;
            let v0 = ieee::from_int(&mut e, F64, sext32(lane(s, 0, 4)));
            let v1 = ieee::from_int(&mut e, F64, sext32(lane(s, 1, 4)));
            v0 as u128 | (v1 as u128) << 64
        }
        M::Cvtsi2ss | M::Cvtsi2sd => {
            let bytes = ex.op_size(insn, 1);
            let s = read(ex, insn, 1, bytes)? as u64;
            let v = if bytes == 8 { s as i64 } else { sext32(s) };
            if m == M::Cvtsi2ss {
                (old & !(u32::MAX as u128)) | ieee::from_int(&mut e, F32, v) as u128
            } else {
                (old & !(u64::MAX as u128)) | ieee::from_int(&mut e, F64, v) as u128
            }
        }
        M::Cvtps2pi | M::Cvttps2pi => {
            let s = read(ex, insn, 1, 8)?;
            ints(&mut e, F32, s, 2, 32, m == M::Cvttps2pi)
        }
        M::Cvtpd2pi | M::Cvttpd2pi => {
            let s = read(ex, insn, 1, 16)?;
            ints(&mut e, F64, s, 2, 32, m == M::Cvttpd2pi)
        }
        M::Cvtss2si | M::Cvttss2si | M::Cvtsd2si | M::Cvttsd2si => {
            let single = matches!(m, M::Cvtss2si | M::Cvttss2si);
            let f = if single { F32 } else { F64 };
            let s = read(ex, insn, 1, f.bits() / 8)?;
            let bits = insn.op_register(0).size() as u32 * 8;
            let t = matches!(m, M::Cvttss2si | M::Cvttsd2si);
            ieee::to_int(&mut e, f, lane(s, 0, (f.bits() / 8) as usize), bits, t) as u128
        }
        M::Cvtps2pd => {
            let s = read(ex, insn, 1, 8)?;
            let v0 = ieee::convert(&mut e, F32, F64, lane(s, 0, 4));
            let v1 = ieee::convert(&mut e, F32, F64, lane(s, 1, 4));
            v0 as u128 | (v1 as u128) << 64
        }
        M::Cvtpd2ps => {
            let s = read(ex, insn, 1, 16)?;
            let v0 = ieee::convert(&mut e, F64, F32, lane(s, 0, 8));
            let v1 = ieee::convert(&mut e, F64, F32, lane(s, 1, 8));
            v0 as u128 | (v1 as u128) << 32
        }
        M::Cvtss2sd => {
            let s = read(ex, insn, 1, 4)?;
            (old & !(u64::MAX as u128)) | ieee::convert(&mut e, F32, F64, lane(s, 0, 4)) as u128
        }
        M::Cvtsd2ss => {
            let s = read(ex, insn, 1, 8)?;
            (old & !(u32::MAX as u128)) | ieee::convert(&mut e, F64, F32, lane(s, 0, 8)) as u128
        }
        M::Cvtdq2ps => {
            let s = read(ex, insn, 1, 16)?;
            let mut r = 0u128;
            for i in 0..4 {
                r |= (ieee::from_int(&mut e, F32, sext32(lane(s, i, 4))) as u128) << (32 * i);
            }
            r
        }
        M::Cvtps2dq | M::Cvttps2dq => {
            let s = read(ex, insn, 1, 16)?;
            ints(&mut e, F32, s, 4, 32, m == M::Cvttps2dq)
        }
        _ => {
            // CVTPD2DQ / CVTTPD2DQ: the upper half is zeroed.
            let s = read(ex, insn, 1, 16)?;
            ints(&mut e, F64, s, 2, 32, m == M::Cvttpd2dq)
        }
    };
    commit(ex, &e)?;
    let bytes = ex.op_size(insn, 0);
    write(ex, insn, 0, bytes, result)?;
    if u.mm {
        mmx_transition(ex);
    }
    Ok(())
}

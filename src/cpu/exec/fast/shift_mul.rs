//! SHL/SAL, SHR and SAR of a register by an immediate or CL, and the two-
//! and three-operand IMUL, with the flags `shift::shift` and
//! `muldiv::imul` give.

use super::access::{get, load, put, reg, sign_extend};
use super::{Exit, FastHandler};
use crate::cpu::decode_cache::Decoded;
use crate::cpu::exec::operand_plan::OpPlan;
use crate::cpu::exec::Exec;
use crate::cpu::flags::szp;
use crate::cpu::state::rflags::{ARITH, CF, OF};
use iced_x86::Mnemonic as M;

type R = Result<(), Exit>;

const SHL: u8 = 0;
const SHR: u8 = 1;
const SAR: u8 = 2;

#[inline(always)]
fn mask<const S: u8>() -> u64 {
    u64::MAX >> (64 - 8 * S as u32)
}

fn shift_op<const OP: u8, const S: u8>(ex: &mut Exec, d: &Decoded) -> R {
    let p = &d.plan;
    let Some(dst) = reg(p.ops[0]) else {
        return Err(Exit::Miss);
    };
    let raw = match p.ops[1] {
        OpPlan::Imm => p.imm,
        OpPlan::Gpr(r) => get::<1>(&ex.s.gpr, r),
        _ => return Err(Exit::Miss),
    };
    let c = (raw & if S == 8 { 0x3f } else { 0x1f }) as u32;
    let a = get::<S>(&ex.s.gpr, dst);
    if c == 0 {
        // No flags, no bits; a 32-bit register is still written.
        put::<S>(&mut ex.s.gpr, dst, a);
        return Ok(());
    }
    let bits = S as u32 * 8;
    let msb = |v: u64| (v >> (bits - 1)) & 1;
    let (r, cf, of) = match OP {
        SHL => {
            let wide = (a as u128) << c;
            let r = wide as u64 & mask::<S>();
            let cf = (wide >> bits) as u64 & 1;
            (r, cf, msb(r) ^ cf)
        }
        SHR => {
            // c <= bits always holds for the masked count of a 32- or
            // 64-bit operand; 8- and 16-bit ones may shift all bits out.
            let r = ((a as u128) >> c) as u64;
            let before_last = if c <= bits { a >> (c - 1) } else { 0 };
            (r, before_last & 1, msb(before_last))
        }
        _ => {
            let s = sign_extend(a, S) as i64 as i128;
            let r = (s >> c.min(127)) as u64 & mask::<S>();
            let cf = ((s >> (c - 1).min(127)) & 1) as u64;
            (r, cf, 0)
        }
    };
    put::<S>(&mut ex.s.gpr, dst, r);
    ex.s.set_arith_flags(ARITH, (cf * CF) | (of * OF) | szp(r, S));
    Ok(())
}

/// IMUL r, r/m or IMUL r, r/m, imm: the product truncated to the operand
/// size; CF = OF = the truncation lost something.
fn imul_op<const S: u8, const MEM: bool, const THREE: bool, const LONG: bool>(
    ex: &mut Exec,
    d: &Decoded,
) -> R {
    let p = &d.plan;
    let Some(dst) = reg(p.ops[0]) else {
        return Err(Exit::Miss);
    };
    let src = if MEM {
        load::<S, LONG>(ex, &p.mem).ok_or(Exit::Miss)?
    } else {
        get::<S>(&ex.s.gpr, reg(p.ops[1]).ok_or(Exit::Miss)?)
    };
    let (x, y) = if THREE {
        (src, d.insn.immediate(2) & mask::<S>())
    } else {
        (get::<S>(&ex.s.gpr, dst), src)
    };
    let sext = |v: u64| sign_extend(v, S) as i64 as i128;
    let prod = sext(x) * sext(y);
    let lo = prod as u64 & mask::<S>();
    put::<S>(&mut ex.s.gpr, dst, lo);
    let lost = if prod != sext(lo) { CF | OF } else { 0 };
    ex.s.set_arith_flags(ARITH, lost | szp(lo, S));
    Ok(())
}

/// A shift of a register by an immediate or CL, size index `s`.
pub fn shift(m: M, s: usize) -> Option<FastHandler> {
    let table: [FastHandler; 4] = match m {
        M::Shl | M::Sal => [
            shift_op::<SHL, 1>,
            shift_op::<SHL, 2>,
            shift_op::<SHL, 4>,
            shift_op::<SHL, 8>,
        ],
        M::Shr => [
            shift_op::<SHR, 1>,
            shift_op::<SHR, 2>,
            shift_op::<SHR, 4>,
            shift_op::<SHR, 8>,
        ],
        M::Sar => [
            shift_op::<SAR, 1>,
            shift_op::<SAR, 2>,
            shift_op::<SAR, 4>,
            shift_op::<SAR, 8>,
        ],
        _ => return None,
    };
    Some(table[s & 3])
}

/// IMUL of size index `s` (2, 4 or 8 bytes) with a register or memory
/// source and maybe an immediate.
pub fn imul(s: usize, mem: bool, three: bool, long: bool) -> Option<FastHandler> {
    macro_rules! sizes {
        ($mem:tt, $three:tt, $long:tt) => {
            [
                None,
                Some(imul_op::<2, $mem, $three, $long> as FastHandler),
                Some(imul_op::<4, $mem, $three, $long>),
                Some(imul_op::<8, $mem, $three, $long>),
            ]
        };
    }
    let table: [Option<FastHandler>; 4] = match (mem, three, long) {
        (false, false, _) => sizes!(false, false, false),
        (false, true, _) => sizes!(false, true, false),
        (true, false, false) => sizes!(true, false, false),
        (true, false, true) => sizes!(true, false, true),
        (true, true, false) => sizes!(true, true, false),
        (true, true, true) => sizes!(true, true, true),
    };
    table[s & 3]
}

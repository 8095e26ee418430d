//! ADD, OR, ADC, SBB, AND, SUB, XOR, CMP and TEST with lazy flags, as
//! `arith::binary` and `logic::binary` do them.

use super::access::{get, host_index, load, put, reg};
use super::{Exit, FastHandler, Form, MI, MR, RI, RM, RR};
use crate::cpu::decode_cache::Decoded;
use crate::cpu::exec::Exec;
use crate::cpu::flags::FlagOp;
use crate::cpu::state::rflags::CF;
use iced_x86::Mnemonic as M;

type R = Result<(), Exit>;

const ADD: u8 = 0;
const OR: u8 = 1;
const ADC: u8 = 2;
const SBB: u8 = 3;
const AND: u8 = 4;
const SUB: u8 = 5;
const XOR: u8 = 6;
const CMP: u8 = 7;
const TEST: u8 = 8;

/// The operation number of a covered mnemonic.
pub fn op_of(m: M) -> Option<u8> {
    Some(match m {
        M::Add => ADD,
        M::Or => OR,
        M::Adc => ADC,
        M::Sbb => SBB,
        M::And => AND,
        M::Sub => SUB,
        M::Xor => XOR,
        M::Cmp => CMP,
        M::Test => TEST,
        _ => return None,
    })
}

#[inline(always)]
fn mask<const S: u8>() -> u64 {
    u64::MAX >> (64 - 8 * S as u32)
}

fn binary_op<const OP: u8, const S: u8, const F: u8, const LONG: bool>(
    ex: &mut Exec,
    d: &Decoded,
) -> R {
    let p = &d.plan;
    let writes = OP != CMP && OP != TEST;
    // Operand 0: a register, or memory (checked for writing when written
    // back, as a read-modify-write cycle is).
    let (a, at) = match F {
        MR | MI => match host_index::<S, LONG>(ex, &p.mem, writes) {
            Some(i) => match ex.mem.host_read(i, S as u32) {
                Some(v) => (v, i),
                None => return Err(Exit::Miss),
            },
            None => return Err(Exit::Miss),
        },
        _ => match reg(p.ops[0]) {
            Some(r) => (get::<S>(&ex.s.gpr, r), 0),
            None => return Err(Exit::Miss),
        },
    };
    let b = match F {
        RR | MR => match reg(p.ops[1]) {
            Some(r) => get::<S>(&ex.s.gpr, r),
            None => return Err(Exit::Miss),
        },
        RI | MI => p.imm,
        _ => match load::<S, LONG>(ex, &p.mem) {
            Some(v) => v,
            None => return Err(Exit::Miss),
        },
    };
    let carry = match OP {
        ADC | SBB => ex.s.flag(CF) as u64,
        _ => 0,
    };
    let (r, flag_op) = match OP {
        ADD | ADC => (a.wrapping_add(b).wrapping_add(carry), FlagOp::Add),
        SUB | SBB | CMP => (a.wrapping_sub(b).wrapping_sub(carry), FlagOp::Sub),
        AND | TEST => (a & b, FlagOp::Logic),
        OR => (a | b, FlagOp::Logic),
        _ => (a ^ b, FlagOp::Logic),
    };
    let r = r & mask::<S>();
    if writes {
        match F {
            MR | MI => {
                if ex.mem.host_write(at, S as u32, r).is_none() {
                    return Err(Exit::Miss);
                }
            }
            _ => match reg(p.ops[0]) {
                Some(dst) => put::<S>(&mut ex.s.gpr, dst, r),
                None => return Err(Exit::Miss),
            },
        }
    }
    ex.s.lazy.set(flag_op, S, a, b, r);
    Ok(())
}

macro_rules! by_size {
    ($op:tt, $form:tt, $long:tt) => {
        [
            binary_op::<$op, 1, $form, $long> as FastHandler,
            binary_op::<$op, 2, $form, $long>,
            binary_op::<$op, 4, $form, $long>,
            binary_op::<$op, 8, $form, $long>,
        ]
    };
}

macro_rules! by_form {
    ($op:tt, $form:expr, $long:expr) => {
        match ($form, $long) {
            (Form::RegReg, _) => by_size!($op, RR, false),
            (Form::RegImm, _) => by_size!($op, RI, false),
            (Form::RegMem, false) => by_size!($op, RM, false),
            (Form::RegMem, true) => by_size!($op, RM, true),
            (Form::MemReg, false) => by_size!($op, MR, false),
            (Form::MemReg, true) => by_size!($op, MR, true),
            (Form::MemImm, false) => by_size!($op, MI, false),
            (Form::MemImm, true) => by_size!($op, MI, true),
        }
    };
}

/// The handler of operation `op` (`op_of`) in `form`, size index `s`.
pub fn binary(op: u8, form: Form, s: usize, long: bool) -> FastHandler {
    let table: [FastHandler; 4] = match op {
        ADD => by_form!(ADD, form, long),
        OR => by_form!(OR, form, long),
        ADC => by_form!(ADC, form, long),
        SBB => by_form!(SBB, form, long),
        AND => by_form!(AND, form, long),
        SUB => by_form!(SUB, form, long),
        XOR => by_form!(XOR, form, long),
        CMP => by_form!(CMP, form, long),
        _ => by_form!(TEST, form, long),
    };
    table[s & 3]
}

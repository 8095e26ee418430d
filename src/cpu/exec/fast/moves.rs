//! MOV, MOVZX/MOVSX/MOVSXD and LEA.

use super::access::{get, host_index, load, put, reg, sign_extend};
use super::{Exit, FastHandler, Form, MI, MR, RI, RM, RR};
use crate::cpu::decode_cache::Decoded;
use crate::cpu::exec::Exec;

type R = Result<(), Exit>;

fn mov_op<const S: u8, const F: u8, const LONG: bool>(ex: &mut Exec, d: &Decoded) -> R {
    let p = &d.plan;
    match F {
        RR | RI | RM => {
            let Some(dst) = reg(p.ops[0]) else {
                return Err(Exit::Miss);
            };
            let v = match F {
                RR => match reg(p.ops[1]) {
                    Some(src) => get::<S>(&ex.s.gpr, src),
                    None => return Err(Exit::Miss),
                },
                RI => p.imm,
                _ => match load::<S, LONG>(ex, &p.mem) {
                    Some(v) => v,
                    None => return Err(Exit::Miss),
                },
            };
            put::<S>(&mut ex.s.gpr, dst, v);
            Ok(())
        }
        _ => {
            let v = match F {
                MR => match reg(p.ops[1]) {
                    Some(src) => get::<S>(&ex.s.gpr, src),
                    None => return Err(Exit::Miss),
                },
                _ => p.imm,
            };
            match host_index::<S, LONG>(ex, &p.mem, true) {
                Some(i) if ex.mem.host_write(i, S as u32, v).is_some() => Ok(()),
                _ => Err(Exit::Miss),
            }
        }
    }
}

fn extend_op<const D: u8, const S: u8, const SIGN: bool, const F: u8, const LONG: bool>(
    ex: &mut Exec,
    d: &Decoded,
) -> R {
    let p = &d.plan;
    let Some(dst) = reg(p.ops[0]) else {
        return Err(Exit::Miss);
    };
    let v = match F {
        RR => match reg(p.ops[1]) {
            Some(src) => get::<S>(&ex.s.gpr, src),
            None => return Err(Exit::Miss),
        },
        _ => match load::<S, LONG>(ex, &p.mem) {
            Some(v) => v,
            None => return Err(Exit::Miss),
        },
    };
    let v = if SIGN { sign_extend(v, S) } else { v };
    put::<D>(&mut ex.s.gpr, dst, v);
    Ok(())
}

/// LEA: the effective address, wrapped to the address size by the plan
/// and to the operand size by the write.
fn lea_op<const D: u8>(ex: &mut Exec, d: &Decoded) -> R {
    let Some(dst) = reg(d.plan.ops[0]) else {
        return Err(Exit::Miss);
    };
    let off = d.plan.mem.offset(&ex.s.gpr);
    put::<D>(&mut ex.s.gpr, dst, off);
    Ok(())
}

macro_rules! by_size {
    ($f:ident, $($p:tt),*) => {
        [$f::<1, $($p),*>, $f::<2, $($p),*>, $f::<4, $($p),*>, $f::<8, $($p),*>]
    };
}

/// MOV of size index `s` (see `super::size_index`) in form `form`.
pub fn mov(form: Form, s: usize, long: bool) -> FastHandler {
    let table: [FastHandler; 4] = match (form, long) {
        (Form::RegReg, _) => by_size!(mov_op, RR, false),
        (Form::RegImm, _) => by_size!(mov_op, RI, false),
        (Form::RegMem, false) => by_size!(mov_op, RM, false),
        (Form::RegMem, true) => by_size!(mov_op, RM, true),
        (Form::MemReg, false) => by_size!(mov_op, MR, false),
        (Form::MemReg, true) => by_size!(mov_op, MR, true),
        (Form::MemImm, false) => by_size!(mov_op, MI, false),
        (Form::MemImm, true) => by_size!(mov_op, MI, true),
    };
    table[s & 3]
}

macro_rules! extend_table {
    ($sign:tt, $form:tt, $long:tt) => {
        [
            (1, 0, extend_op::<2, 1, $sign, $form, $long> as FastHandler),
            (2, 0, extend_op::<4, 1, $sign, $form, $long>),
            (3, 0, extend_op::<8, 1, $sign, $form, $long>),
            (2, 1, extend_op::<4, 2, $sign, $form, $long>),
            (3, 1, extend_op::<8, 2, $sign, $form, $long>),
            (3, 2, extend_op::<8, 4, $sign, $form, $long>),
        ]
    };
}

/// MOVZX (`sign` false) or MOVSX/MOVSXD from size index `src` to `dst`
/// (`src < dst`), register or memory source.
pub fn extend(form: Form, sign: bool, dst: usize, src: usize, long: bool) -> FastHandler {
    let table = match (sign, form == Form::RegReg, long) {
        (false, true, _) => extend_table!(false, RR, false),
        (true, true, _) => extend_table!(true, RR, false),
        (false, false, false) => extend_table!(false, RM, false),
        (false, false, true) => extend_table!(false, RM, true),
        (true, false, false) => extend_table!(true, RM, false),
        (true, false, true) => extend_table!(true, RM, true),
    };
    table
        .iter()
        .find(|(d, s, _)| (*d, *s) == (dst, src))
        .map_or(super::generic, |(_, _, h)| *h)
}

/// LEA into a register of size index `s`.
pub fn lea(s: usize) -> FastHandler {
    [lea_op::<1>, lea_op::<2>, lea_op::<4>, lea_op::<8>][s & 3]
}

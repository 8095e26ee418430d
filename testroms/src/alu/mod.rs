//! The ALU ROMs: ADD..XOR, INC/DEC/NEG (`alu`) and the shifts and rotates
//! (`shift`) on 8-, 16- and 32-bit operands, in register, immediate and
//! memory forms, each case starting from a known FLAGS value and checking
//! the result and every flag the SDM defines for it.

pub mod model;

use crate::harness::{m16, m32, m8, Harness, Operand};
use iced_x86::code_asm::*;
use model::{eval, Op, AF, CF, OF, PF, SF, ZF};

/// Scratch memory for the memory forms (DS = 0).
const MEM: u32 = 0x1000;

/// How the instruction names its operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `op reg, reg` (`op reg, cl` for shifts; `op reg` for unary ops).
    Reg,
    /// `op reg, imm` (`op reg, 1` or `op reg, imm8` for shifts).
    Imm,
    /// `op [mem], reg` (`op [mem], cl` for shifts; `op [mem]` for unary).
    Mem,
}

#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub op: Op,
    pub width: u32,
    pub dst: u32,
    pub src: u32,
    pub flags_in: u16,
    pub form: Form,
    /// Which register pair to use, so that decoding of every register
    /// number (and of AH..BH) gets exercised.
    pub regs: usize,
}

impl Case {
    pub fn describe(&self) -> String {
        let form = match self.form {
            Form::Reg => "r",
            Form::Imm => "i",
            Form::Mem => "m",
        };
        format!(
            "{}{} {} {:X},{:X} f={:03X}",
            self.op.name(),
            self.width,
            form,
            self.dst,
            self.src,
            self.flags_in
        )
    }
}

const REGS8: [(AsmRegister8, AsmRegister8); 4] = [(al, bl), (ah, ch), (dl, dh), (bh, al)];
const REGS16: [(AsmRegister16, AsmRegister16); 4] = [(ax, bx), (cx, dx), (si, di), (bp, ax)];
const REGS32: [(AsmRegister32, AsmRegister32); 4] =
    [(eax, ebx), (ecx, edx), (esi, edi), (ebp, eax)];

/// FLAGS before case `i`: CF alternates, and the other arithmetic flags are
/// all set every other pair of cases, so a flag the instruction forgets to
/// write shows up as a stale value.
fn flags_in(i: usize) -> u16 {
    let mut f = 0;
    if i % 2 == 1 {
        f |= CF;
    }
    if (i / 2) % 2 == 1 {
        f |= PF | AF | ZF | SF | OF;
    }
    f
}

fn width_mask(width: u32) -> u32 {
    if width == 32 {
        u32::MAX
    } else {
        (1 << width) - 1
    }
}

/// Operand pairs that reach each flag: carries out of bit 3 and the top
/// bit, signed overflow both ways, zero, and plain values.
fn binary_operands(width: u32) -> Vec<(u32, u32)> {
    let m = width_mask(width);
    let top = 1u32 << (width - 1);
    vec![
        (top - 1, 1),
        (m, 1),
        (top, top),
        (0x0f, 0x01),
        (0x1234_5678 & m, 0x0fed_cba9 & m),
        (0, 0),
        (top, 1),
        (0, 1),
    ]
}

fn unary_operands(width: u32) -> Vec<u32> {
    let m = width_mask(width);
    let top = 1u32 << (width - 1);
    vec![0, 1, top - 1, top, m, 0x0f & m, 0xa5a5_a5a5 & m]
}

/// Counts whose results the SDM defines for every shift and rotate (below
/// the width), plus masked ones: 0x21 acts as 1, 32 as 0.
fn shift_counts(width: u32) -> Vec<u32> {
    let mut counts = vec![0, 1, 3, width - 1];
    counts.push(if width == 32 { 32 } else { 0x21 });
    counts
}

/// Every case of both ROMs, in order.
pub fn cases() -> Vec<Case> {
    let mut out = arith_cases();
    out.extend(shift_cases());
    out
}

fn arith_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut i = 0;
    for width in [8, 16, 32] {
        for op in [
            Op::Add,
            Op::Adc,
            Op::Sub,
            Op::Sbb,
            Op::Cmp,
            Op::And,
            Op::Or,
            Op::Xor,
            Op::Test,
        ] {
            for (dst, src) in binary_operands(width) {
                let form = [Form::Reg, Form::Imm, Form::Mem][i % 3];
                out.push(Case {
                    op,
                    width,
                    dst,
                    src,
                    flags_in: flags_in(i),
                    form,
                    regs: i % 4,
                });
                i += 1;
            }
        }
        for op in [Op::Inc, Op::Dec, Op::Neg] {
            for dst in unary_operands(width) {
                let form = [Form::Reg, Form::Mem][i % 2];
                out.push(Case {
                    op,
                    width,
                    dst,
                    src: 0,
                    flags_in: flags_in(i),
                    form,
                    regs: i % 4,
                });
                i += 1;
            }
        }
    }
    out
}

fn shift_cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut i = 0;
    for width in [8, 16, 32] {
        let m = width_mask(width);
        let top = 1u32 << (width - 1);
        for op in [
            Op::Shl,
            Op::Shr,
            Op::Sar,
            Op::Rol,
            Op::Ror,
            Op::Rcl,
            Op::Rcr,
        ] {
            for dst in [top | 1, 0x5a5a_5a5a & m] {
                for count in shift_counts(width) {
                    // The CL form for every count; immediates for some.
                    let form = match i % 3 {
                        0 => Form::Imm,
                        1 => Form::Reg,
                        _ => Form::Mem,
                    };
                    out.push(Case {
                        op,
                        width,
                        dst,
                        src: count,
                        flags_in: flags_in(i),
                        form,
                        regs: i % 4,
                    });
                    i += 1;
                }
            }
        }
    }
    out
}

pub fn build_alu() -> Result<Vec<u8>, IcedError> {
    let mut h = Harness::new("alu")?;
    for case in arith_cases() {
        emit_case(&mut h, &case)?;
    }
    lahf_sahf(&mut h)?;
    h.finish()
}

pub fn build_shift() -> Result<Vec<u8>, IcedError> {
    let mut h = Harness::new("shift")?;
    for case in shift_cases() {
        emit_case(&mut h, &case)?;
    }
    h.finish()
}

/// Sets up the operands and FLAGS, runs the instruction, checks FLAGS and
/// the destination.
fn emit_case(h: &mut Harness, case: &Case) -> Result<(), IcedError> {
    let want = eval(case.op, case.width, case.dst, case.src, case.flags_in);
    let desc = case.describe();
    let a = &mut h.a;
    // For shifts in CL form the count register is CL, so the pair's second
    // register is not used; pick destinations other than CL/CX/ECX.
    let shift_cl = case.op.is_shift() && case.form != Form::Imm;
    let regs = if shift_cl && case.regs == 1 {
        0
    } else {
        case.regs
    };
    let dst: Operand = match case.width {
        8 if case.form == Form::Mem => m8(ptr(MEM)),
        16 if case.form == Form::Mem => m16(ptr(MEM)),
        32 if case.form == Form::Mem => m32(ptr(MEM)),
        8 => REGS8[regs].0.into(),
        16 => REGS16[regs].0.into(),
        _ => REGS32[regs].0.into(),
    };
    // Load the destination and the source (or count).
    match dst {
        Operand::R8(r) => a.mov(r, case.dst)?,
        Operand::R16(r) => a.mov(r, case.dst)?,
        Operand::R32(r) => a.mov(r, case.dst)?,
        Operand::M8(m) | Operand::M16(m) | Operand::M32(m) => a.mov(m, case.dst)?,
    }
    if shift_cl {
        a.mov(cl, case.src)?;
    } else if !case.op.is_shift() && !case.op.is_unary() && case.form != Form::Imm {
        match case.width {
            8 => a.mov(REGS8[regs].1, case.src)?,
            16 => a.mov(REGS16[regs].1, case.src)?,
            _ => a.mov(REGS32[regs].1, case.src)?,
        }
    }
    // FLAGS: known arithmetic bits, IF/TF/DF clear.
    a.push(u32::from(case.flags_in) | 0x0002)?;
    a.popf()?;
    emit_op(a, case, dst, regs)?;
    h.check_flags(want.mask, want.flags & want.mask, &format!("{desc} flags"))?;
    h.check(dst, want.result, &format!("{desc} result"))
}

fn emit_op(a: &mut CodeAssembler, case: &Case, dst: Operand, regs: usize) -> Result<(), IcedError> {
    let imm = |width: u32, v: u32| match width {
        8 => i32::from(v as u8 as i8),
        16 => i32::from(v as u16 as i16),
        _ => v as i32,
    };
    macro_rules! binary {
        ($method:ident) => {
            match (dst, case.form) {
                (Operand::R8(r), Form::Imm) => a.$method(r, imm(8, case.src)),
                (Operand::R16(r), Form::Imm) => a.$method(r, imm(16, case.src)),
                (Operand::R32(r), Form::Imm) => a.$method(r, imm(32, case.src)),
                (Operand::R8(r), _) => a.$method(r, REGS8[regs].1),
                (Operand::R16(r), _) => a.$method(r, REGS16[regs].1),
                (Operand::R32(r), _) => a.$method(r, REGS32[regs].1),
                (Operand::M8(m), _) => a.$method(m, REGS8[regs].1),
                (Operand::M16(m), _) => a.$method(m, REGS16[regs].1),
                (Operand::M32(m), _) => a.$method(m, REGS32[regs].1),
            }
        };
    }
    macro_rules! unary {
        ($method:ident) => {
            match dst {
                Operand::R8(r) => a.$method(r),
                Operand::R16(r) => a.$method(r),
                Operand::R32(r) => a.$method(r),
                Operand::M8(m) | Operand::M16(m) | Operand::M32(m) => a.$method(m),
            }
        };
    }
    macro_rules! shift {
        ($method:ident) => {
            match (dst, case.form) {
                (Operand::R8(r), Form::Imm) => a.$method(r, case.src as i32),
                (Operand::R16(r), Form::Imm) => a.$method(r, case.src as i32),
                (Operand::R32(r), Form::Imm) => a.$method(r, case.src as i32),
                (Operand::R8(r), _) => a.$method(r, cl),
                (Operand::R16(r), _) => a.$method(r, cl),
                (Operand::R32(r), _) => a.$method(r, cl),
                (Operand::M8(m) | Operand::M16(m) | Operand::M32(m), _) => a.$method(m, cl),
            }
        };
    }
    match case.op {
        Op::Add => binary!(add),
        Op::Adc => binary!(adc),
        Op::Sub => binary!(sub),
        Op::Sbb => binary!(sbb),
        Op::Cmp => binary!(cmp),
        Op::And => binary!(and),
        Op::Or => binary!(or),
        Op::Xor => binary!(xor),
        Op::Test => binary!(test),
        Op::Inc => unary!(inc),
        Op::Dec => unary!(dec),
        Op::Neg => unary!(neg),
        Op::Shl => shift!(shl),
        Op::Shr => shift!(shr),
        Op::Sar => shift!(sar),
        Op::Rol => shift!(rol),
        Op::Ror => shift!(ror),
        Op::Rcl => shift!(rcl),
        Op::Rcr => shift!(rcr),
    }
}

/// LAHF/SAHF move SF ZF AF PF CF between FLAGS and AH (bit 1 reads as 1).
fn lahf_sahf(h: &mut Harness) -> Result<(), IcedError> {
    let a = &mut h.a;
    a.push(u32::from(SF | PF | CF | OF) | 0x0002)?;
    a.popf()?;
    a.mov(ah, 0u32)?;
    a.lahf()?;
    h.check(ah, u32::from(SF | PF | CF) | 0x02, "lahf")?;
    // SAHF writes the low five flags and leaves OF alone.
    let a = &mut h.a;
    a.push(u32::from(CF | OF) | 0x0002)?;
    a.popf()?;
    a.mov(ah, u32::from(ZF | AF) | 0x02)?;
    a.sahf()?;
    h.check_flags(model::ARITH, ZF | AF | OF, "sahf")
}

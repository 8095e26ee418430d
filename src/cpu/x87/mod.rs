//! The x87 FPU: 80-bit registers with real rounding and precision
//! control, the instruction set of the 387 and its successors up to
//! FISTTP, FXSAVE/FXRSTOR and the XSAVE feature set for the x87 and SSE
//! components, and its exception model (SDM vol. 1, ch. 8).
//!
//! Files, one job each: `float80` (the format and its encodings),
//! `softfloat` (correctly rounded arithmetic and conversions), `wide` and
//! `math` (128-bit internal arithmetic for the transcendental functions),
//! `stack` (TOP, tags, status bookkeeping), and the instruction families
//! `load_store`, `arith`, `compare`, `control`, `environment`
//! (FSTENV/FSAVE layouts), `fxsave`, `xsave` and `transcendental`.
//!
//! Exceptions. Every instruction computes with a [`softfloat::Ctx`] built
//! from the control word; its raised flags are merged into the status
//! word by [`commit`]. Masked exceptions get the SDM's default responses.
//! An unmasked one sets ES and B and stays pending: the next *waiting* x87
//! instruction (or WAIT/FWAIT) raises #MF (vector 16) when CR0.NE = 1.
//!
//! With CR0.NE = 0 a PC reports x87 errors through FERR# and IRQ13
//! instead. The interpreter sets `X87State::ferr_pending` when an unmasked
//! exception becomes pending under CR0.NE = 0; the board should take it
//! (`X87State::take_ferr`) and raise IRQ13 on the slave PIC, and the guest's
//! handler clears the error with FNCLEX (and an OUT to port F0h, which on
//! the AT asserts IGNNE#). Waiting instructions do not freeze meanwhile:
//! they go on as if IGNNE# were asserted.

mod arith;
mod compare;
mod control;
mod environment;
pub mod float80;
mod fxsave;
mod load_store;
mod math;
pub mod softfloat;
mod stack;
mod transcendental;
mod wide;
pub mod xsave;

#[cfg(all(test, target_arch = "x86_64"))]
mod host_tests;
#[cfg(test)]
mod hostcheck_found_tests;
#[cfg(test)]
mod program_tests;
#[cfg(test)]
mod xsave_tests;

use crate::cpu::catalog::Handler;
use crate::cpu::exec::operand::{addr_size, size_mask};
use crate::cpu::exec::Exec;
use crate::cpu::fault::{vector, Fault};
use crate::cpu::mmu::Access;
use crate::cpu::state::{cr0, CS};
use float80::{sw, F80};
use iced_x86::{Code, Instruction, Mnemonic as M, OpKind, Register};
use softfloat::Ctx;

type R = Result<(), Fault>;

/// The handler for an x87 instruction (the D8-DF escapes, FXSAVE/
/// FXRSTOR and the XSAVE family), or `None` for codes that are no x87 instruction of ours.
pub fn handler(code: Code) -> Option<Handler> {
    Some(match code.mnemonic() {
        M::Fld
        | M::Fild
        | M::Fbld
        | M::Fld1
        | M::Fldz
        | M::Fldpi
        | M::Fldl2e
        | M::Fldl2t
        | M::Fldlg2
        | M::Fldln2 => load_store::load,
        M::Fst | M::Fstp | M::Fstpnce | M::Fist | M::Fistp | M::Fisttp | M::Fbstp => {
            load_store::store
        }
        M::Fxch => load_store::exchange,
        M::Fcmovb
        | M::Fcmove
        | M::Fcmovbe
        | M::Fcmovu
        | M::Fcmovnb
        | M::Fcmovne
        | M::Fcmovnbe
        | M::Fcmovnu => load_store::fcmov,
        M::Fadd
        | M::Faddp
        | M::Fiadd
        | M::Fsub
        | M::Fsubp
        | M::Fisub
        | M::Fsubr
        | M::Fsubrp
        | M::Fisubr
        | M::Fmul
        | M::Fmulp
        | M::Fimul
        | M::Fdiv
        | M::Fdivp
        | M::Fidiv
        | M::Fdivr
        | M::Fdivrp
        | M::Fidivr => arith::binary,
        M::Fsqrt
        | M::Fabs
        | M::Fchs
        | M::Frndint
        | M::Fscale
        | M::Fxtract
        | M::Fprem
        | M::Fprem1 => arith::unary,
        M::Fcom
        | M::Fcomp
        | M::Fcompp
        | M::Fucom
        | M::Fucomp
        | M::Fucompp
        | M::Ficom
        | M::Ficomp
        | M::Ftst
        | M::Fcomi
        | M::Fcomip
        | M::Fucomi
        | M::Fucomip => compare::compare,
        M::Fxam => compare::fxam,
        M::Fldcw
        | M::Fstcw
        | M::Fnstcw
        | M::Fstsw
        | M::Fnstsw
        | M::Fclex
        | M::Fnclex
        | M::Finit
        | M::Fninit
        | M::Ffree
        | M::Ffreep
        | M::Fincstp
        | M::Fdecstp
        | M::Fnop
        | M::Feni
        | M::Fneni
        | M::Fdisi
        | M::Fndisi
        | M::Fsetpm
        | M::Fnsetpm => control::control,
        M::Fldenv | M::Fstenv | M::Fnstenv | M::Fsave | M::Fnsave | M::Frstor => {
            environment::environment
        }
        M::Fxsave | M::Fxsave64 | M::Fxrstor | M::Fxrstor64 => fxsave::fxsave_fxrstor,
        M::Xsave | M::Xsave64 | M::Xsaveopt | M::Xsaveopt64 | M::Xrstor | M::Xrstor64 => {
            xsave::xsave_xrstor
        }
        M::Xgetbv => xsave::xgetbv,
        M::Xsetbv => xsave::xsetbv,
        M::Fsin
        | M::Fcos
        | M::Fsincos
        | M::Fptan
        | M::Fpatan
        | M::F2xm1
        | M::Fyl2x
        | M::Fyl2xp1 => transcendental::transcendental,
        _ => return None,
    })
}

/// How an instruction takes part in the FPU's bookkeeping (SDM vol. 1,
/// 8.1.8 and 8.3.12).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Waits (raises a pending #MF) and records FIP/FCS/FOP/FDP/FDS.
    Numeric,
    /// Waits but leaves the last-instruction pointers alone (FLDCW,
    /// FSTSW, FCLEX, FINIT, FLDENV, FSTENV, FSAVE, FRSTOR).
    Control,
    /// FNINIT, FNCLEX, FNSTSW, FNSTCW, FNSTENV, FNSAVE, FXSAVE, FXRSTOR:
    /// no wait, no pointer update.
    NoWait,
}

/// The checks every x87 instruction makes first, in the hardware's order:
/// #NM when CR0.EM or CR0.TS is set, then a pending unmasked exception
/// (#MF when CR0.NE = 1) for waiting instructions; then the
/// last-instruction pointers of numeric instructions.
pub(super) fn begin(ex: &mut Exec, insn: &Instruction, kind: Kind) -> R {
    if ex.s.cr0 & (cr0::EM | cr0::TS) != 0 {
        return Err(Fault::NM);
    }
    if kind != Kind::NoWait {
        pending_error(ex)?;
    }
    if kind == Kind::Numeric {
        let fop = opcode_bits(ex);
        let x = &mut ex.s.x87;
        x.fop = fop;
        x.fip = ex.s.rip;
        x.fcs = ex.s.seg[CS].selector;
        if insn.op_count() > 0 && insn.op_kind(0) == OpKind::Memory {
            let off = ex.effective_offset(insn);
            let sel = ex.s.seg[ex.mem_seg(insn)].selector;
            let x = &mut ex.s.x87;
            x.fdp = off;
            x.fds = sel;
        }
    }
    Ok(())
}

/// WAIT/FWAIT and the waiting x87 instructions: an unmasked exception left
/// pending by an earlier instruction is reported now.
pub fn pending_error(ex: &mut Exec) -> R {
    if ex.s.x87.fsw & sw::ES != 0 && ex.s.cr0 & cr0::NE != 0 {
        return Err(Fault::new(vector::MF));
    }
    Ok(())
}

/// FOP: the low three bits of the escape byte and the ModR/M byte, read
/// from the instruction bytes (prefixes skipped).
fn opcode_bits(ex: &mut Exec) -> u16 {
    let lin = ex.s.seg[CS].base.wrapping_add(ex.s.rip);
    let access = Access::fetch(ex.user_access());
    let byte = |ex: &mut Exec, i: u64| -> Option<u8> {
        let a = lin.wrapping_add(i);
        let a = if ex.long_mode() { a } else { a & 0xffff_ffff };
        let p = ex.translate(a, access).ok()?;
        Some(ex.mem.read_u8(p))
    };
    let long = crate::cpu::decode_cache::code_bitness(ex.s) == 64;
    for i in 0..14 {
        let Some(b) = byte(ex, i) else { return 0 };
        match b {
            0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 | 0x66 | 0x67 | 0xf0 | 0xf2 | 0xf3 | 0x9b => {}
            0x40..=0x4f if long => {}
            0xd8..=0xdf => {
                let modrm = byte(ex, i + 1).unwrap_or(0);
                return ((b as u16 & 7) << 8) | modrm as u16;
            }
            _ => return 0,
        }
    }
    0
}

/// The arithmetic context for the current control word.
pub(super) fn ctx(ex: &Exec) -> Ctx {
    Ctx::new(ex.s.x87.fcw)
}

/// Sets exception flags in the status word, with ES/B (and FERR#) when
/// any of them is unmasked.
pub(super) fn signal(ex: &mut Exec, flags: u16) {
    let x = &mut ex.s.x87;
    x.fsw |= flags;
    if flags & !x.fcw & sw::EXCEPTIONS != 0 {
        if x.fsw & sw::ES == 0 && ex.s.cr0 & cr0::NE == 0 {
            x.ferr_pending = true;
            // The board raises IRQ13 when the run loop returns: return now,
            // not after the rest of the time slice.
            ex.yield_now = true;
        }
        x.fsw |= sw::ES | sw::B;
    }
}

/// Merges an operation's flags into the status word; C1 reports whether
/// an inexact result was rounded up. Returns whether the result may be
/// written: not after an unmasked #I, #D or #Z, nor after an unmasked #O
/// or #U when the destination is memory (SDM vol. 1, 4.9.2 and 8.5).
pub(super) fn commit(ex: &mut Exec, c: &Ctx, to_memory: bool) -> bool {
    let unmasked = c.unmasked_raised();
    let mut flags = c.flags;
    let mut c1 = c.c1 && flags & sw::PE != 0;
    let mut write = unmasked & (sw::IE | sw::DE | sw::ZE) == 0;
    if write && to_memory && unmasked & (sw::OE | sw::UE) != 0 {
        // Nothing stored, nothing popped; the inexact condition is not
        // reported (even when #P is unmasked: checked on the host).
        write = false;
        c1 = false;
        flags &= !sw::PE;
    }
    let x = &mut ex.s.x87;
    x.fsw &= !sw::C1;
    if c1 {
        x.fsw |= sw::C1;
    }
    signal(ex, flags);
    write
}

/// Stack overflow (a push onto a non-empty register) or underflow (an
/// empty operand): #IS with C1 telling them apart. Returns whether the
/// exception is masked, i.e. whether the default response (the QNaN
/// indefinite) should be written.
pub(super) fn stack_fault(ex: &mut Exec, overflow: bool) -> bool {
    let x = &mut ex.s.x87;
    x.fsw &= !sw::C1;
    if overflow {
        x.fsw |= sw::C1;
    }
    signal(ex, sw::IE | sw::SF);
    ex.s.x87.fcw & sw::IE != 0
}

/// Sets the condition code bits in `mask` to `bits`.
pub(super) fn set_cc(ex: &mut Exec, mask: u16, bits: u16) {
    let x = &mut ex.s.x87;
    x.fsw = (x.fsw & !mask) | (bits & mask);
}

/// ST index of register operand `n`.
pub(super) fn st_index(insn: &Instruction, n: u32) -> usize {
    (insn.op_register(n) as usize).wrapping_sub(Register::ST0 as usize) & 7
}

/// Whether the instruction has a memory operand (as operand 0).
pub(super) fn has_memory(insn: &Instruction) -> bool {
    insn.op_count() > 0 && insn.op_kind(0) == OpKind::Memory
}

/// Reads `buf.len()` bytes at the memory operand plus `at`.
pub(super) fn read_bytes(ex: &mut Exec, insn: &Instruction, at: u64, buf: &mut [u8]) -> R {
    let seg = ex.mem_seg(insn);
    let mask = size_mask(addr_size(insn));
    let base = ex.effective_offset(insn).wrapping_add(at);
    let mut i = 0;
    while i < buf.len() {
        let n = (buf.len() - i).min(8);
        let v = ex.read_mem(seg, base.wrapping_add(i as u64) & mask, n as u32)?;
        buf[i..i + n].copy_from_slice(&v.to_le_bytes()[..n]);
        i += n;
    }
    Ok(())
}

/// Checks that `len` bytes at the memory operand plus `at` can be
/// written, so that a multi-part store never faults half-way.
pub(super) fn check_write(ex: &mut Exec, insn: &Instruction, at: u64, len: u32) -> R {
    let seg = ex.mem_seg(insn);
    let mask = size_mask(addr_size(insn));
    let base = ex.effective_offset(insn).wrapping_add(at) & mask;
    ex.check_write(seg, base, len)
}

/// Writes `buf` at the memory operand plus `at`.
pub(super) fn write_bytes(ex: &mut Exec, insn: &Instruction, at: u64, buf: &[u8]) -> R {
    let seg = ex.mem_seg(insn);
    let mask = size_mask(addr_size(insn));
    let base = ex.effective_offset(insn).wrapping_add(at);
    let mut i = 0;
    while i < buf.len() {
        let n = (buf.len() - i).min(8);
        let mut w = [0u8; 8];
        w[..n].copy_from_slice(&buf[i..i + n]);
        ex.write_mem(
            seg,
            base.wrapping_add(i as u64) & mask,
            n as u32,
            u64::from_le_bytes(w),
        )?;
        i += n;
    }
    Ok(())
}

/// Reads an integer memory operand of `size` bytes, sign-extended.
pub(super) fn read_int(ex: &mut Exec, insn: &Instruction, size: usize) -> Result<i64, Fault> {
    let mut b = [0u8; 8];
    read_bytes(ex, insn, 0, &mut b[..size])?;
    let v = u64::from_le_bytes(b);
    let shift = 64 - 8 * size as u32;
    Ok(((v << shift) as i64) >> shift)
}

/// A memory operand widened to 80 bits without raising anything (the
/// operation decides about SNaNs), and whether it was a denormal.
pub(super) fn read_real(ex: &mut Exec, insn: &Instruction) -> Result<(F80, bool), Fault> {
    use iced_x86::MemorySize as S;
    Ok(match insn.memory_size() {
        S::Float32 | S::Float64 => {
            let double = insn.memory_size() == S::Float64;
            let n = if double { 8 } else { 4 };
            let mut b = [0u8; 8];
            read_bytes(ex, insn, 0, &mut b[..n])?;
            let bits = u64::from_le_bytes(b);
            let mut c = Ctx::new(0x037f);
            let v = softfloat::from_ieee(&mut c, bits, double);
            let v = if c.flags & sw::IE != 0 {
                // Keep the SNaN signalling: the operation reports it.
                F80 {
                    sig: v.sig & !(1 << 62),
                    ..v
                }
            } else {
                v
            };
            (v, c.flags & sw::DE != 0)
        }
        S::Float80 => {
            let mut b = [0u8; 10];
            read_bytes(ex, insn, 0, &mut b)?;
            (F80::from_bytes(&b), false)
        }
        S::Int16 => (softfloat::from_i64(read_int(ex, insn, 2)?), false),
        S::Int32 => (softfloat::from_i64(read_int(ex, insn, 4)?), false),
        _ => (softfloat::from_i64(read_int(ex, insn, 8)?), false),
    })
}

//! MXCSR (SDM vol. 1, 10.2.3): exception flags (bits 0-5), DAZ (6),
//! exception masks (7-12), rounding control (13-14) and FTZ (15);
//! LDMXCSR/STMXCSR; and the end of every SIMD floating-point instruction:
//! merge the raised flags, and raise #XM (or #UD without CR4.OSXMMEXCPT)
//! when one of them is unmasked.

use super::ieee::Env;
use super::{begin, R};
use crate::cpu::exec::Exec;
use crate::cpu::fault::{vector, Fault};
use crate::cpu::state::cr4;
use iced_x86::{Instruction, Mnemonic as M};

pub const IE: u32 = 1 << 0;
pub const DE: u32 = 1 << 1;
pub const ZE: u32 = 1 << 2;
pub const OE: u32 = 1 << 3;
pub const UE: u32 = 1 << 4;
pub const PE: u32 = 1 << 5;
pub const FLAGS: u32 = 0x3f;
pub const DAZ: u32 = 1 << 6;
pub const MASK_SHIFT: u32 = 7;
pub const RC_SHIFT: u32 = 13;
pub const FTZ: u32 = 1 << 15;
/// The power-on value: all exceptions masked, round to nearest.
pub const DEFAULT: u32 = 0x1f80;
/// Bits LDMXCSR and FXRSTOR accept (MXCSR_MASK: DAZ is supported); the
/// rest raise #GP(0).
pub const WRITABLE: u32 = 0xffff;

/// The arithmetic environment MXCSR selects.
pub fn env(ex: &Exec) -> Env {
    Env::new(ex.s.mxcsr)
}

/// Ends a SIMD floating-point instruction: ORs the raised flags into
/// MXCSR; an unmasked one faults (the caller has not written anything).
/// An unmasked pre-computation exception (IE, DE, ZE) in any element
/// stops the instruction before the post-computation ones (OE, UE, PE)
/// are looked at, so only its flags are reported (SDM vol. 1, 11.5.2).
pub fn commit(ex: &mut Exec, e: &Env) -> R {
    let mut flags = e.flags() as u32;
    let unmasked = flags & !(ex.s.mxcsr >> MASK_SHIFT) & FLAGS;
    if unmasked & PRE != 0 {
        flags &= PRE;
    }
    ex.s.mxcsr |= flags;
    if unmasked != 0 {
        return Err(xm(ex));
    }
    Ok(())
}

/// The pre-computation exceptions.
const PRE: u32 = IE | DE | ZE;

/// #XM when the OS handles it (CR4.OSXMMEXCPT), else #UD.
pub fn xm(ex: &Exec) -> Fault {
    if ex.s.cr4 & cr4::OSXMMEXCPT != 0 {
        Fault::new(vector::XM)
    } else {
        Fault::UD
    }
}

/// LDMXCSR m32 / STMXCSR m32.
pub fn ldmxcsr_stmxcsr(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, true)?;
    if insn.mnemonic() == M::Ldmxcsr {
        let v = super::read(ex, insn, 0, 4)? as u32;
        if v & !WRITABLE != 0 {
            return Err(Fault::gp(0));
        }
        ex.s.mxcsr = v;
        Ok(())
    } else {
        let v = ex.s.mxcsr as u128;
        super::write(ex, insn, 0, 4, v)
    }
}

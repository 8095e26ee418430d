//! The XSAVE feature set for the two legacy state components, x87 (bit 0)
//! and SSE (bit 1): XCR0 with XGETBV/XSETBV, and XSAVE, XSAVEOPT and the
//! standard form of XRSTOR (SDM vol. 1, ch. 13; vol. 2, XSAVE/XRSTOR).
//!
//! The area is the 512-byte FXSAVE image (the legacy region) followed by
//! the 64-byte XSAVE header: XSTATE_BV at 512, XCOMP_BV at 520. No
//! compacted form (no XSAVEC/XSAVES), so XCOMP_BV must be zero.
//!
//! The init optimisation is not tracked: every requested component counts
//! as in use (XINUSE[i] = 1 is always allowed, SDM 13.6), so XSAVE sets its
//! XSTATE_BV bit. XSAVEOPT's modified optimisation is optional and not
//! used: it saves what XSAVE saves.

use super::fxsave::{image_mxcsr, load_sse, load_x87, store_sse, store_x87, used_len, xmm_count};
use super::{check_write, read_bytes, write_bytes, R};
use crate::cpu::exec::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::state::{cr0, cr4, X87State, RAX, RCX, RDX};
use iced_x86::{Instruction, Mnemonic as M};

/// State components xlat supports: x87 and SSE.
pub const XCR0_SUPPORTED: u64 = 0b11;
/// XCR0 after RESET: x87 only.
pub const XCR0_RESET: u64 = 1;
/// The area size for every supported XCR0 value: legacy region + header.
pub const AREA_SIZE: u32 = 576;

const X87: u64 = 1;
const SSE: u64 = 2;
/// Offset of the XSAVE header (XSTATE_BV, XCOMP_BV, reserved).
const HEADER: u64 = 512;

/// #UD unless CR4.OSXSAVE enables the feature set (LOCK is already #UD:
/// the decoder rejects it on these opcodes).
fn require_osxsave(ex: &Exec) -> R {
    if ex.s.cr4 & cr4::OSXSAVE == 0 {
        return Err(Fault::UD);
    }
    Ok(())
}

/// XGETBV: EDX:EAX = XCR[ECX]; only XCR0 exists (CPUID.(0DH,1):EAX[2],
/// XINUSE through ECX = 1, is not reported). Any privilege level.
pub fn xgetbv(ex: &mut Exec, _insn: &Instruction) -> R {
    require_osxsave(ex)?;
    if ex.reg(RCX, 4) != 0 {
        return Err(Fault::gp(0));
    }
    let v = ex.s.xcr0;
    ex.set_reg(RAX, 4, v & 0xffff_ffff);
    ex.set_reg(RDX, 4, v >> 32);
    Ok(())
}

/// XSETBV: XCR[ECX] = EDX:EAX at CPL 0 (V86 mode is CPL 3: #GP). XCR0
/// must keep x87 enabled and set no unsupported component.
pub fn xsetbv(ex: &mut Exec, _insn: &Instruction) -> R {
    require_osxsave(ex)?;
    ex.require_cpl0()?;
    let v = (ex.reg(RDX, 4) << 32) | ex.reg(RAX, 4);
    if ex.reg(RCX, 4) != 0 || v & !XCR0_SUPPORTED != 0 || v & X87 == 0 {
        return Err(Fault::gp(0));
    }
    ex.s.xcr0 = v;
    Ok(())
}

/// XSAVE, XSAVEOPT, XRSTOR and their REX.W forms.
pub fn xsave_xrstor(ex: &mut Exec, insn: &Instruction) -> R {
    require_osxsave(ex)?;
    // Unlike FXSAVE, CR0.EM does not matter: only TS raises #NM.
    if ex.s.cr0 & cr0::TS != 0 {
        return Err(Fault::NM);
    }
    let m = insn.mnemonic();
    let save = matches!(m, M::Xsave | M::Xsave64 | M::Xsaveopt | M::Xsaveopt64);
    let wide = matches!(m, M::Xsave64 | M::Xsaveopt64 | M::Xrstor64);
    let seg = ex.mem_seg(insn);
    let off = ex.effective_offset(insn);
    let lin = ex.linear(seg, off, AREA_SIZE, save)?;
    if lin & 63 != 0 {
        return Err(Fault::gp(0));
    }
    let rfbm = ex.s.xcr0 & ((ex.reg(RDX, 4) << 32) | ex.reg(RAX, 4));
    if save {
        xsave(ex, insn, rfbm, wide)
    } else {
        xrstor(ex, insn, rfbm, wide)
    }
}

/// Writes the requested components and sets their XSTATE_BV bits; the
/// other bytes of the area (other components, XCOMP_BV, the rest of the
/// header and bytes 416-511) are left as they are.
fn xsave(ex: &mut Exec, insn: &Instruction, rfbm: u64, wide: bool) -> R {
    check_write(ex, insn, 0, AREA_SIZE)?;
    let mut bv = [0u8; 8];
    read_bytes(ex, insn, HEADER, &mut bv)?;
    let xmm = xmm_count(ex.s);
    let mut b = vec![0u8; used_len(xmm)];
    if rfbm & X87 != 0 {
        store_x87(ex.s, &mut b, wide);
        write_bytes(ex, insn, 0, &b[0..24])?;
        write_bytes(ex, insn, 32, &b[32..160])?;
    }
    if rfbm & SSE != 0 {
        store_sse(ex.s, &mut b, xmm);
        write_bytes(ex, insn, 24, &b[24..32])?;
        write_bytes(ex, insn, 160, &b[160..])?;
    }
    let bv = u64::from_le_bytes(bv) | rfbm;
    write_bytes(ex, insn, HEADER, &bv.to_le_bytes())
}

/// The standard form of XRSTOR (SDM vol. 1, 13.8.1): every check comes
/// before any state changes.
fn xrstor(ex: &mut Exec, insn: &Instruction, rfbm: u64, wide: bool) -> R {
    let xmm = xmm_count(ex.s);
    let mut b = vec![0u8; used_len(xmm)];
    read_bytes(ex, insn, 0, &mut b)?;
    let mut header = [0u8; 24];
    read_bytes(ex, insn, HEADER, &mut header)?;
    let xstate_bv = u64::from_le_bytes(header[0..8].try_into().unwrap());
    // Bytes 8-23 of the header (XCOMP_BV and the next reserved quadword)
    // must be zero in the standard form; a set XCOMP_BV[63] asks for the
    // compacted form, which this CPU does not support: #GP either way.
    // XSTATE_BV may name only components enabled in XCR0.
    if header[8..24].iter().any(|&x| x != 0) || xstate_bv & !ex.s.xcr0 != 0 {
        return Err(Fault::gp(0));
    }
    // The standard form loads MXCSR from memory whenever RFBM[1] (or the
    // unsupported RFBM[2]) is set, even when XSTATE_BV[1] = 0 initialises
    // the XMM registers.
    let mxcsr = if rfbm & SSE != 0 {
        Some(image_mxcsr(&b)?)
    } else {
        None
    };
    if rfbm & X87 != 0 {
        if xstate_bv & X87 != 0 {
            load_x87(ex.s, &b, wide);
        } else {
            // The x87 init configuration: FCW 037FH, everything else
            // zero, all registers empty and zero.
            ex.s.x87 = X87State::default();
        }
    }
    if let Some(mxcsr) = mxcsr {
        ex.s.mxcsr = mxcsr;
        if xstate_bv & SSE != 0 {
            load_sse(ex.s, &b, xmm);
        } else {
            for r in &mut ex.s.xmm[..xmm] {
                *r = [0, 0];
            }
        }
    }
    Ok(())
}

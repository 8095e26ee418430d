//! FXSAVE/FXRSTOR: the 512-byte x87 + SSE state image (SDM vol. 2,
//! FXSAVE, table 3-53), in its 32-bit form (FIP/FDP with selectors) and
//! its REX.W form (64-bit FIP/FDP). The area must be 16-byte aligned.
//! Neither instruction waits on a pending x87 exception.
//!
//! XSAVE's legacy region has the same layout, so the per-component
//! halves (`store_x87`/`store_sse`, `load_x87`/`load_sse`) are shared
//! with `xsave`.

use super::float80::F80;
use super::{begin, check_write, read_bytes, write_bytes, Kind, R};
use crate::cpu::exec::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::state::CpuState;
use iced_x86::{Instruction, Mnemonic as M};

/// MXCSR bits FXRSTOR accepts (DAZ included); the rest raise #GP(0).
pub const MXCSR_MASK: u32 = crate::cpu::simd::mxcsr::WRITABLE;

/// Bytes FXSAVE writes: the header, eight x87/MMX slots and the XMM
/// registers (eight, or sixteen in 64-bit mode); the rest of the 512
/// bytes is left alone.
pub(super) fn used_len(xmm: usize) -> usize {
    160 + 16 * xmm
}

/// XMM registers the legacy image holds in the current mode.
pub(super) fn xmm_count(s: &CpuState) -> usize {
    if crate::cpu::decode_cache::code_bitness(s) == 64 {
        16
    } else {
        8
    }
}

pub fn fxsave_fxrstor(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, Kind::NoWait)?;
    let m = insn.mnemonic();
    let wide = matches!(m, M::Fxsave64 | M::Fxrstor64);
    let save = matches!(m, M::Fxsave | M::Fxsave64);
    let xmm = xmm_count(ex.s);
    let seg = ex.mem_seg(insn);
    let off = ex.effective_offset(insn);
    let lin = ex.linear(seg, off, 512, save)?;
    if lin & 15 != 0 {
        return Err(Fault::gp(0));
    }
    let len = used_len(xmm);
    let mut b = vec![0u8; len];
    if save {
        check_write(ex, insn, 0, 512)?;
        store_x87(ex.s, &mut b, wide);
        store_sse(ex.s, &mut b, xmm);
        write_bytes(ex, insn, 0, &b)?;
    } else {
        read_bytes(ex, insn, 0, &mut b)?;
        let mxcsr = image_mxcsr(&b)?;
        ex.s.mxcsr = mxcsr;
        load_x87(ex.s, &b, wide);
        load_sse(ex.s, &b, xmm);
    }
    Ok(())
}

/// The x87 part of the image: bytes 0-23 (control, status, abridged
/// tags, FOP, FIP/FCS, FDP/FDS) and the registers at 32-159.
pub(super) fn store_x87(s: &CpuState, b: &mut [u8], wide: bool) {
    let x = &s.x87;
    b[0..2].copy_from_slice(&x.fcw.to_le_bytes());
    b[2..4].copy_from_slice(&x.fsw.to_le_bytes());
    b[4] = x.abridged_tags();
    b[5] = 0;
    b[6..8].copy_from_slice(&(x.fop & 0x7ff).to_le_bytes());
    if wide {
        b[8..16].copy_from_slice(&x.fip.to_le_bytes());
        b[16..24].copy_from_slice(&x.fdp.to_le_bytes());
    } else {
        b[8..12].copy_from_slice(&(x.fip as u32).to_le_bytes());
        b[12..14].copy_from_slice(&x.fcs.to_le_bytes());
        b[14..16].fill(0);
        b[16..20].copy_from_slice(&(x.fdp as u32).to_le_bytes());
        b[20..22].copy_from_slice(&x.fds.to_le_bytes());
        b[22..24].fill(0);
    }
    for i in 0..8 {
        let at = 32 + 16 * i;
        b[at..at + 10].copy_from_slice(&x.st(i).to_bytes());
        b[at + 10..at + 16].fill(0);
    }
}

/// The SSE part of the image: MXCSR and MXCSR_MASK at 24-31 and the XMM
/// registers from 160 on.
pub(super) fn store_sse(s: &CpuState, b: &mut [u8], xmm: usize) {
    b[24..28].copy_from_slice(&s.mxcsr.to_le_bytes());
    b[28..32].copy_from_slice(&MXCSR_MASK.to_le_bytes());
    for i in 0..xmm {
        let at = 160 + 16 * i;
        b[at..at + 8].copy_from_slice(&s.xmm[i][0].to_le_bytes());
        b[at + 8..at + 16].copy_from_slice(&s.xmm[i][1].to_le_bytes());
    }
}

/// The image's MXCSR, or #GP(0) when it sets a reserved bit.
pub(super) fn image_mxcsr(b: &[u8]) -> Result<u32, Fault> {
    let mxcsr = u32::from_le_bytes(b[24..28].try_into().unwrap());
    if mxcsr & !MXCSR_MASK != 0 {
        return Err(Fault::gp(0));
    }
    Ok(mxcsr)
}

/// Loads the x87 part of the image (see `store_x87`).
pub(super) fn load_x87(s: &mut CpuState, b: &[u8], wide: bool) {
    let x = &mut s.x87;
    x.fcw = (u16::from_le_bytes([b[0], b[1]]) & 0x1f7f) | 0x40;
    x.fsw = u16::from_le_bytes([b[2], b[3]]);
    x.fop = u16::from_le_bytes([b[6], b[7]]) & 0x7ff;
    if wide {
        x.fip = u64::from_le_bytes(b[8..16].try_into().unwrap());
        x.fdp = u64::from_le_bytes(b[16..24].try_into().unwrap());
    } else {
        x.fip = u32::from_le_bytes(b[8..12].try_into().unwrap()) as u64;
        x.fcs = u16::from_le_bytes([b[12], b[13]]);
        x.fdp = u32::from_le_bytes(b[16..20].try_into().unwrap()) as u64;
        x.fds = u16::from_le_bytes([b[20], b[21]]);
    }
    for i in 0..8 {
        let v = F80::from_bytes(b[32 + 16 * i..42 + 16 * i].try_into().unwrap());
        let r = x.phys(i);
        x.set_phys_reg(r, v);
    }
    x.load_abridged_tags(b[4]);
    x.update_summary();
}

/// Loads the XMM registers of the image (MXCSR is the caller's: its rules
/// differ between FXRSTOR and XRSTOR).
pub(super) fn load_sse(s: &mut CpuState, b: &[u8], xmm: usize) {
    for i in 0..xmm {
        let at = 160 + 16 * i;
        s.xmm[i][0] = u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        s.xmm[i][1] = u64::from_le_bytes(b[at + 8..at + 16].try_into().unwrap());
    }
}

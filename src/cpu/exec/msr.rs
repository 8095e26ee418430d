//! RDMSR/WRMSR and the model-specific registers xlat implements.

use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::state::{RAX, RCX, RDX};
use iced_x86::Instruction;

type R = Result<(), Fault>;

/// The time-stamp counter: the TSC offset plus retired instructions, until
/// the machine's virtual clock drives it.
pub fn tsc(ex: &Exec) -> u64 {
    ex.s.tsc.wrapping_add(ex.s.icount)
}

mod index {
    pub const TSC: u32 = 0x10;
    pub const APIC_BASE: u32 = 0x1b;
    pub const SYSENTER_CS: u32 = 0x174;
    pub const SYSENTER_ESP: u32 = 0x175;
    pub const SYSENTER_EIP: u32 = 0x176;
    pub const PAT: u32 = 0x277;
    pub const EFER: u32 = 0xc000_0080;
    pub const STAR: u32 = 0xc000_0081;
    pub const LSTAR: u32 = 0xc000_0082;
    pub const CSTAR: u32 = 0xc000_0083;
    pub const SFMASK: u32 = 0xc000_0084;
    pub const FS_BASE: u32 = 0xc000_0100;
    pub const GS_BASE: u32 = 0xc000_0101;
    pub const KERNEL_GS_BASE: u32 = 0xc000_0102;
    pub const TSC_AUX: u32 = 0xc000_0103;
}

pub fn rdmsr(ex: &mut Exec, _insn: &Instruction) -> R {
    ex.require_cpl0()?;
    let m = &ex.s.msr;
    let v = match ex.reg(RCX, 4) as u32 {
        index::TSC => tsc(ex),
        index::APIC_BASE => m.apic_base,
        index::SYSENTER_CS => m.sysenter_cs,
        index::SYSENTER_ESP => m.sysenter_esp,
        index::SYSENTER_EIP => m.sysenter_eip,
        index::PAT => m.pat,
        index::EFER => m.efer,
        index::STAR => m.star,
        index::LSTAR => m.lstar,
        index::CSTAR => m.cstar,
        index::SFMASK => m.sfmask,
        index::FS_BASE => ex.s.seg[crate::cpu::state::FS].base,
        index::GS_BASE => ex.s.seg[crate::cpu::state::GS].base,
        index::KERNEL_GS_BASE => m.kernel_gs_base,
        index::TSC_AUX => m.tsc_aux,
        _ => return Err(Fault::gp(0)),
    };
    ex.set_reg(RAX, 4, v & 0xffff_ffff);
    ex.set_reg(RDX, 4, v >> 32);
    Ok(())
}

pub fn wrmsr(ex: &mut Exec, _insn: &Instruction) -> R {
    ex.require_cpl0()?;
    let v = (ex.reg(RDX, 4) << 32) | ex.reg(RAX, 4);
    let index = ex.reg(RCX, 4) as u32;
    let icount = ex.s.icount;
    let m = &mut ex.s.msr;
    match index {
        index::TSC => ex.s.tsc = v.wrapping_sub(icount),
        index::APIC_BASE => m.apic_base = v & 0xf_ffff_fd00 | 0x100,
        index::SYSENTER_CS => m.sysenter_cs = v & 0xffff_ffff,
        index::SYSENTER_ESP => m.sysenter_esp = v,
        index::SYSENTER_EIP => m.sysenter_eip = v,
        index::PAT => m.pat = v,
        // No EFER feature is implemented yet: only SCE-free zero is valid.
        index::EFER if v != 0 => return Err(Fault::gp(0)),
        index::EFER => m.efer = v,
        index::STAR => m.star = v,
        index::LSTAR => m.lstar = v,
        index::CSTAR => m.cstar = v,
        index::SFMASK => m.sfmask = v,
        index::FS_BASE => ex.s.seg[crate::cpu::state::FS].base = v,
        index::GS_BASE => ex.s.seg[crate::cpu::state::GS].base = v,
        index::KERNEL_GS_BASE => m.kernel_gs_base = v,
        index::TSC_AUX => m.tsc_aux = v & 0xffff_ffff,
        _ => return Err(Fault::gp(0)),
    }
    Ok(())
}

//! System and miscellaneous instructions: HLT, flag bit operations, port I/O,
//! CPUID, RDTSC, descriptor-table registers, MSW/CRn/DRn, MSRs, cache
//! control, and the instructions that are #UD in real mode.

use super::operand::size_mask;
use super::Exec;
use crate::cpu::cpuid::cpuid;
use crate::cpu::fault::Fault;
use crate::cpu::state::cr0;
use crate::cpu::state::rflags::{AC, CF, DF, IF, IOPL, VM};
use crate::cpu::state::{DescriptorTable, RAX, RBX, RCX, RDX};
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

type R = Result<(), Fault>;

impl Exec<'_> {
    /// #GP(0) unless running at CPL 0.
    pub fn require_cpl0(&self) -> R {
        if self.cpl() != 0 {
            return Err(Fault::gp(0));
        }
        Ok(())
    }

    fn iopl(&self) -> u32 {
        ((self.s.rflags & IOPL) >> 12) as u32
    }

    /// I/O privilege check for IN/OUT/INS/OUTS. The TSS permission bitmap
    /// consult comes with the protected-mode work; until then a guest
    /// without I/O privilege is refused.
    pub fn check_io(&self, _port: u16, _size: u32) -> R {
        if self.s.protected_mode() && (self.cpl() > self.iopl() || self.s.rflags & VM != 0) {
            return Err(Fault::gp(0));
        }
        Ok(())
    }

    /// #UD outside protected mode (and in V86 mode) for the instructions
    /// that only exist there.
    fn require_protected(&self) -> R {
        if !self.s.protected_mode() || self.s.rflags & VM != 0 {
            return Err(Fault::UD);
        }
        Ok(())
    }
}

pub fn hlt(ex: &mut Exec, _insn: &Instruction) -> R {
    ex.require_cpl0()?;
    ex.s.halted = true;
    ex.yield_now = true;
    Ok(())
}

/// CLC, STC, CMC, CLD, STD.
pub fn flag_op(ex: &mut Exec, insn: &Instruction) -> R {
    match insn.mnemonic() {
        Mnemonic::Clc => ex.s.set_flag(CF, false),
        Mnemonic::Stc => ex.s.set_flag(CF, true),
        Mnemonic::Cmc => {
            let cf = ex.s.flag(CF);
            ex.s.set_flag(CF, !cf);
        }
        Mnemonic::Cld => ex.s.rflags &= !DF,
        Mnemonic::Std => ex.s.rflags |= DF,
        Mnemonic::Clac => ex.s.rflags &= !AC,
        _ => ex.s.rflags |= AC,
    }
    Ok(())
}

/// CLI/STI: IOPL-sensitive in protected and V86 mode.
pub fn interrupt_flag(ex: &mut Exec, insn: &Instruction) -> R {
    if ex.s.protected_mode() && ex.cpl() > ex.iopl() {
        return Err(Fault::gp(0));
    }
    if insn.mnemonic() == Mnemonic::Cli {
        ex.s.rflags &= !IF;
    } else {
        ex.s.rflags |= IF;
    }
    ex.yield_now = true;
    Ok(())
}

fn port_of(ex: &Exec, insn: &Instruction, n: u32) -> u16 {
    match insn.op_kind(n) {
        OpKind::Register => ex.reg(RDX, 2) as u16,
        _ => insn.immediate(n) as u16 & 0xff,
    }
}

pub fn in_(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 0);
    let port = port_of(ex, insn, 1);
    ex.check_io(port, size)?;
    let v = ex.io.read(port, size as u8) as u64;
    ex.set_reg(RAX, size, v);
    Ok(())
}

pub fn out(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 1);
    let port = port_of(ex, insn, 0);
    ex.check_io(port, size)?;
    let v = ex.reg(RAX, size);
    ex.io.write(port, size as u8, v as u32);
    ex.yield_now = true;
    Ok(())
}

pub fn cpuid_insn(ex: &mut Exec, _insn: &Instruction) -> R {
    let (a, b, c, d) = cpuid(ex.reg(RAX, 4) as u32, ex.reg(RCX, 4) as u32);
    ex.set_reg(RAX, 4, a as u64);
    ex.set_reg(RBX, 4, b as u64);
    ex.set_reg(RCX, 4, c as u64);
    ex.set_reg(RDX, 4, d as u64);
    Ok(())
}

/// The time-stamp counter: the TSC offset plus retired instructions, until
/// the machine's virtual clock drives it.
fn tsc(ex: &Exec) -> u64 {
    ex.s.tsc.wrapping_add(ex.s.icount)
}

pub fn rdtsc(ex: &mut Exec, _insn: &Instruction) -> R {
    if ex.s.cr4 & (1 << 2) != 0 && ex.cpl() != 0 {
        return Err(Fault::gp(0));
    }
    let t = tsc(ex);
    ex.set_reg(RAX, 4, t & 0xffff_ffff);
    ex.set_reg(RDX, 4, t >> 32);
    Ok(())
}

/// WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set.
pub fn wait(ex: &mut Exec, _insn: &Instruction) -> R {
    if ex.s.cr0 & (cr0::MP | cr0::TS) == cr0::MP | cr0::TS {
        return Err(Fault::NM);
    }
    Ok(())
}

/// x87 escape opcodes: #NM when CR0.EM or CR0.TS says so; the FPU itself is
/// not built yet (CPUID reports no FPU), so otherwise #UD.
pub fn x87_escape(ex: &mut Exec, insn: &Instruction) -> R {
    if ex.s.cr0 & (cr0::EM | cr0::TS) != 0 {
        return Err(Fault::NM);
    }
    super::undefined(ex, insn)
}

pub fn ud(_ex: &mut Exec, _insn: &Instruction) -> R {
    Err(Fault::UD)
}

/// Instructions that exist only in protected mode (SLDT, STR, LLDT, LTR,
/// VERR, VERW, LAR, LSL, ARPL): #UD in real and V86 mode.
pub fn protected_only(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_protected()?;
    log::warn!(
        "{:?} in protected mode is not implemented yet",
        insn.mnemonic()
    );
    Err(Fault::UD)
}

/// LGDT/LIDT: a 16-bit operand size loads only 24 bits of base.
pub fn load_descriptor_table(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_cpl0()?;
    let seg = ex.mem_seg(insn);
    let off = ex.effective_offset(insn);
    let asz = size_mask(super::operand::addr_size(insn));
    let limit = ex.read_mem(seg, off, 2)? as u32;
    let bits64 = insn.code_size() == iced_x86::CodeSize::Code64;
    let base = if bits64 {
        ex.read_mem(seg, off.wrapping_add(2) & asz, 8)?
    } else {
        let b = ex.read_mem(seg, off.wrapping_add(2) & asz, 4)?;
        if insn.op_code().operand_size() == 32 {
            b
        } else {
            b & 0x00ff_ffff
        }
    };
    let t = DescriptorTable { base, limit };
    if insn.mnemonic() == Mnemonic::Lgdt {
        ex.s.gdtr = t;
    } else {
        ex.s.idtr = t;
    }
    Ok(())
}

/// SGDT/SIDT: the 386 and later store a zero top byte with a 16-bit
/// operand size (the 286 stored 0xFF).
pub fn store_descriptor_table(ex: &mut Exec, insn: &Instruction) -> R {
    let t = if insn.mnemonic() == Mnemonic::Sgdt {
        ex.s.gdtr
    } else {
        ex.s.idtr
    };
    let seg = ex.mem_seg(insn);
    let off = ex.effective_offset(insn);
    let asz = size_mask(super::operand::addr_size(insn));
    let bits64 = insn.code_size() == iced_x86::CodeSize::Code64;
    let (base, len) = if bits64 {
        (t.base, 8)
    } else {
        (t.base & 0xffff_ffff, 4)
    };
    let base = if !bits64 && insn.op_code().operand_size() != 32 {
        base & 0x00ff_ffff
    } else {
        base
    };
    ex.check_write(seg, off, 2 + len)?;
    ex.write_mem(seg, off, 2, t.limit as u64)?;
    ex.write_mem(seg, off.wrapping_add(2) & asz, len, base)
}

pub fn smsw(ex: &mut Exec, insn: &Instruction) -> R {
    let v = ex.s.cr0;
    let size = ex.op_size(insn, 0);
    ex.write_op(insn, 0, v & size_mask(size))
}

/// LMSW: loads PE, MP, EM and TS; it can set PE but never clear it.
pub fn lmsw(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_cpl0()?;
    let v = ex.read_op(insn, 0)? & 0xf;
    let old = ex.s.cr0;
    ex.s.cr0 = (old & !0xe) | (v & 0xe) | ((old | v) & cr0::PE);
    ex.yield_now = true;
    Ok(())
}

pub fn clts(ex: &mut Exec, _insn: &Instruction) -> R {
    ex.require_cpl0()?;
    ex.s.cr0 &= !cr0::TS;
    Ok(())
}

fn cr_index(r: Register) -> Option<usize> {
    match r {
        Register::CR0 => Some(0),
        Register::CR2 => Some(2),
        Register::CR3 => Some(3),
        Register::CR4 => Some(4),
        Register::CR8 => Some(8),
        _ => None,
    }
}

/// MOV to/from CR0, CR2, CR3, CR4, CR8.
pub fn mov_cr(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_cpl0()?;
    let to_cr = insn.op_register(0).is_cr();
    let (cr, gpr) = if to_cr {
        (insn.op_register(0), insn.op_register(1))
    } else {
        (insn.op_register(1), insn.op_register(0))
    };
    let idx = cr_index(cr).ok_or(Fault::UD)?;
    if !to_cr {
        let v = match idx {
            0 => ex.s.cr0,
            2 => ex.s.cr2,
            3 => ex.s.cr3,
            4 => ex.s.cr4,
            _ => ex.s.cr8,
        };
        ex.set_gpr(gpr, v);
        return Ok(());
    }
    let v = ex.gpr(gpr);
    match idx {
        0 => {
            // High reserved bits, PG without PE, NW without CD: #GP(0); the
            // low reserved bits are ignored (SDM vol. 3, 2.5).
            let writable = 0xe005_003f_u64;
            if v >> 32 != 0
                || (v & cr0::PG != 0 && v & cr0::PE == 0)
                || (v & cr0::NW != 0 && v & cr0::CD == 0)
            {
                return Err(Fault::gp(0));
            }
            ex.s.cr0 = (v & writable) | cr0::ET;
        }
        2 => ex.s.cr2 = v,
        3 => ex.s.cr3 = v,
        4 => {
            // No CR4 features are implemented yet: every bit is reserved.
            if v != 0 {
                return Err(Fault::gp(0));
            }
            ex.s.cr4 = v;
        }
        _ => {
            if v > 15 {
                return Err(Fault::gp(0));
            }
            ex.s.cr8 = v;
        }
    }
    ex.yield_now = true;
    Ok(())
}

/// MOV to/from DR0-DR7 (DR4/DR5 alias DR6/DR7 while CR4.DE is clear).
pub fn mov_dr(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_cpl0()?;
    let to_dr = insn.op_register(0).is_dr();
    let (dr, gpr) = if to_dr {
        (insn.op_register(0), insn.op_register(1))
    } else {
        (insn.op_register(1), insn.op_register(0))
    };
    let mut idx = (dr as u32 - Register::DR0 as u32) as usize;
    if idx == 4 || idx == 5 {
        if ex.s.cr4 & (1 << 3) != 0 {
            return Err(Fault::UD);
        }
        idx += 2;
    }
    if idx > 7 {
        return Err(Fault::UD);
    }
    if to_dr {
        let v = ex.gpr(gpr);
        ex.s.dr[idx] = match idx {
            6 => (v & 0xe00f) | 0xffff_0ff0,
            7 => (v & 0xffff_2bff) | 0x400,
            _ => v,
        };
    } else {
        let v = ex.s.dr[idx];
        ex.set_gpr(gpr, v);
    }
    Ok(())
}

/// INVD, WBINVD, INVLPG: no caches are modelled; the soft TLB flushes
/// itself on any paging change once paging exists.
pub fn cache_control(ex: &mut Exec, _insn: &Instruction) -> R {
    ex.require_cpl0()
}

mod msr {
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
        msr::TSC => tsc(ex),
        msr::APIC_BASE => m.apic_base,
        msr::SYSENTER_CS => m.sysenter_cs,
        msr::SYSENTER_ESP => m.sysenter_esp,
        msr::SYSENTER_EIP => m.sysenter_eip,
        msr::PAT => m.pat,
        msr::EFER => m.efer,
        msr::STAR => m.star,
        msr::LSTAR => m.lstar,
        msr::CSTAR => m.cstar,
        msr::SFMASK => m.sfmask,
        msr::FS_BASE => ex.s.seg[crate::cpu::state::FS].base,
        msr::GS_BASE => ex.s.seg[crate::cpu::state::GS].base,
        msr::KERNEL_GS_BASE => m.kernel_gs_base,
        msr::TSC_AUX => m.tsc_aux,
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
        msr::TSC => ex.s.tsc = v.wrapping_sub(icount),
        msr::APIC_BASE => m.apic_base = v & 0xf_ffff_fd00 | 0x100,
        msr::SYSENTER_CS => m.sysenter_cs = v & 0xffff_ffff,
        msr::SYSENTER_ESP => m.sysenter_esp = v,
        msr::SYSENTER_EIP => m.sysenter_eip = v,
        msr::PAT => m.pat = v,
        // No EFER feature is implemented yet: only SCE-free zero is valid.
        msr::EFER if v != 0 => return Err(Fault::gp(0)),
        msr::EFER => m.efer = v,
        msr::STAR => m.star = v,
        msr::LSTAR => m.lstar = v,
        msr::CSTAR => m.cstar = v,
        msr::SFMASK => m.sfmask = v,
        msr::FS_BASE => ex.s.seg[crate::cpu::state::FS].base = v,
        msr::GS_BASE => ex.s.seg[crate::cpu::state::GS].base = v,
        msr::KERNEL_GS_BASE => m.kernel_gs_base = v,
        msr::TSC_AUX => m.tsc_aux = v & 0xffff_ffff,
        _ => return Err(Fault::gp(0)),
    }
    Ok(())
}

//! System and miscellaneous instructions: HLT, flag bit operations, port I/O,
//! CPUID, RDTSC, descriptor-table registers, MSW/CRn/DRn, MSRs, cache
//! control, and the instructions that are #UD in real mode.

use super::operand::size_mask;
use super::Exec;
use crate::cpu::cpuid::cpuid;
use crate::cpu::fault::Fault;
use crate::cpu::state::cr0;
use crate::cpu::state::rflags::{AC, CF, DF, IF, IOPL};
use crate::cpu::state::{DescriptorTable, RAX, RBX, RCX, RDX};
use iced_x86::{Instruction, Mnemonic, OpKind};

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
        // STI delays interrupts by one instruction (so STI; HLT sleeps
        // safely), but only when it actually sets IF.
        if ex.s.rflags & IF == 0 {
            ex.s.interrupt_shadow = true;
        }
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
    ex.io.sync_time(ex.s.icount);
    let v = ex.io.read(port, size as u8) as u64;
    ex.set_reg(RAX, size, v);
    Ok(())
}

pub fn out(ex: &mut Exec, insn: &Instruction) -> R {
    let size = ex.op_size(insn, 1);
    let port = port_of(ex, insn, 0);
    ex.check_io(port, size)?;
    let v = ex.reg(RAX, size);
    ex.io.sync_time(ex.s.icount);
    ex.io.write(port, size as u8, v as u32);
    ex.yield_now = true;
    Ok(())
}

pub fn cpuid_insn(ex: &mut Exec, _insn: &Instruction) -> R {
    let leaf = ex.reg(RAX, 4) as u32;
    let (a, b, mut c, d) = cpuid(leaf, ex.reg(RCX, 4) as u32);
    // CPUID.1:ECX.OSXSAVE reflects CR4.OSXSAVE.
    if leaf == 1 && ex.s.cr4 & crate::cpu::state::cr4::OSXSAVE != 0 {
        c |= crate::cpu::cpuid::ecx1::OSXSAVE;
    }
    ex.set_reg(RAX, 4, a as u64);
    ex.set_reg(RBX, 4, b as u64);
    ex.set_reg(RCX, 4, c as u64);
    ex.set_reg(RDX, 4, d as u64);
    Ok(())
}

pub fn rdtsc(ex: &mut Exec, _insn: &Instruction) -> R {
    if ex.s.cr4 & (1 << 2) != 0 && ex.cpl() != 0 {
        return Err(Fault::gp(0));
    }
    let t = super::msr::tsc(ex);
    ex.set_reg(RAX, 4, t & 0xffff_ffff);
    ex.set_reg(RDX, 4, t >> 32);
    Ok(())
}

/// WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set, then a pending
/// unmasked x87 exception (#MF, or FERR# with CR0.NE = 0: see `cpu::x87`).
pub fn wait(ex: &mut Exec, _insn: &Instruction) -> R {
    if ex.s.cr0 & (cr0::MP | cr0::TS) == cr0::MP | cr0::TS {
        return Err(Fault::NM);
    }
    crate::cpu::x87::pending_error(ex)
}

/// x87 escape opcodes that are no instruction of the FPU xlat models (the
/// 287XL's FSTDW/FSTSG, FRSTPM, Cyrix extensions): #NM when CR0.EM or
/// CR0.TS says so, else #UD.
pub fn x87_escape(ex: &mut Exec, insn: &Instruction) -> R {
    if ex.s.cr0 & (cr0::EM | cr0::TS) != 0 {
        return Err(Fault::NM);
    }
    super::undefined(ex, insn)
}

pub fn ud(_ex: &mut Exec, _insn: &Instruction) -> R {
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

/// RDTSCP: the TSC in EDX:EAX and IA32_TSC_AUX in ECX.
pub fn rdtscp(ex: &mut Exec, insn: &Instruction) -> R {
    rdtsc(ex, insn)?;
    let aux = ex.s.msr.tsc_aux & 0xffff_ffff;
    ex.set_reg(RCX, 4, aux);
    Ok(())
}

/// SWAPGS: exchanges GS.base with IA32_KERNEL_GS_BASE (64-bit mode, CPL 0).
pub fn swapgs(ex: &mut Exec, _insn: &Instruction) -> R {
    if crate::cpu::decode_cache::code_bitness(ex.s) != 64 {
        return Err(Fault::UD);
    }
    ex.require_cpl0()?;
    let gs = &mut ex.s.seg[crate::cpu::state::GS].base;
    std::mem::swap(gs, &mut ex.s.msr.kernel_gs_base);
    Ok(())
}

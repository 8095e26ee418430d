//! Protected-mode-only instructions: SLDT, STR, LLDT, LTR, LAR, LSL, VERR,
//! VERW, ARPL (all #UD in real and V86 mode), and the I/O permission check.

use super::descriptor::{system_type as st, Descriptor};
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::state::rflags::{IOPL, VM, ZF};
use iced_x86::{Instruction, Mnemonic, OpKind};

type R = Result<(), Fault>;

impl Exec<'_> {
    /// In IA-32e mode LDT and TSS descriptors are 16 bytes: bits 63..32 of
    /// the base sit in the second half.
    fn system_descriptor_high(&mut self, sel: u16) -> Result<u64, Fault> {
        if !self.long_mode() {
            return Ok(0);
        }
        let at = self
            .descriptor_address(sel.wrapping_add(8))
            .ok_or(Fault::gp(Fault::sel(sel)))?;
        Ok((self.read_system(at, 4)? & 0xffff_ffff) << 32)
    }

    fn require_protected(&self) -> R {
        if !self.descriptors_apply() {
            return Err(Fault::UD);
        }
        Ok(())
    }

    /// I/O privilege check for IN/OUT/INS/OUTS (SDM vol. 1, 19.5): above
    /// IOPL, or in V86 mode, every port byte must be clear in the TSS's
    /// I/O permission bitmap.
    pub fn check_io(&mut self, port: u16, size: u32) -> R {
        let iopl = ((self.s.rflags & IOPL) >> 12) as u32;
        if !self.s.protected_mode() || (self.s.rflags & VM == 0 && self.cpl() <= iopl) {
            return Ok(());
        }
        let tr = self.s.tr;
        // Only a 32-bit TSS has a bitmap.
        if tr.attr & 0x8 == 0 || tr.limit < 103 {
            return Err(Fault::gp(0));
        }
        let map = self.read_system(tr.base + 102, 2)?;
        let byte = map + port as u64 / 8;
        if byte + 1 > tr.limit as u64 {
            return Err(Fault::gp(0));
        }
        let bits = self.read_system(tr.base + byte, 2)?;
        let mask = ((1u64 << size) - 1) << (port % 8);
        if bits & mask != 0 {
            return Err(Fault::gp(0));
        }
        Ok(())
    }
}

/// SLDT/STR: store the LDTR/TR selector (zero-extended to a register).
pub fn store_task_register(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_protected()?;
    let sel = if insn.mnemonic() == Mnemonic::Sldt {
        ex.s.ldtr.selector
    } else {
        ex.s.tr.selector
    };
    ex.write_op(insn, 0, sel as u64)
}

/// LLDT: a null selector disables the LDT.
pub fn lldt(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_protected()?;
    ex.require_cpl0()?;
    let sel = ex.read_op(insn, 0)? as u16;
    let err = Fault::sel(sel);
    if sel & 0xfffc == 0 {
        ex.s.ldtr = Default::default();
        return Ok(());
    }
    if sel & 4 != 0 {
        return Err(Fault::gp(err));
    }
    let d = ex.read_descriptor(sel, Fault::gp(err))?;
    if d.is_segment() || d.kind() != st::LDT {
        return Err(Fault::gp(err));
    }
    if !d.present() {
        return Err(Fault::np(err));
    }
    ex.s.ldtr = d.to_segment(sel);
    ex.s.ldtr.base |= ex.system_descriptor_high(sel)?;
    Ok(())
}

/// LTR: loads an available TSS and marks it busy.
pub fn ltr(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_protected()?;
    ex.require_cpl0()?;
    let sel = ex.read_op(insn, 0)? as u16;
    let err = Fault::sel(sel);
    if sel & 0xfffc == 0 {
        return Err(Fault::gp(0));
    }
    if sel & 4 != 0 {
        return Err(Fault::gp(err));
    }
    let d = ex.read_descriptor(sel, Fault::gp(err))?;
    if d.is_segment() || !matches!(d.kind(), st::TSS16_AVAILABLE | st::TSS32_AVAILABLE) {
        return Err(Fault::gp(err));
    }
    if !d.present() {
        return Err(Fault::np(err));
    }
    let high = ex.system_descriptor_high(sel)?;
    ex.set_descriptor_type(sel, d, d.kind() | 2)?;
    ex.s.tr = Descriptor(d.0 | (2 << 40)).to_segment(sel);
    ex.s.tr.base |= high;
    Ok(())
}

/// The descriptor a LAR/LSL/VERR/VERW may look at, or None (ZF = 0).
fn visible_descriptor(ex: &mut Exec, sel: u16) -> Result<Option<Descriptor>, Fault> {
    if sel & 0xfffc == 0 || ex.descriptor_address(sel).is_none() {
        return Ok(None);
    }
    let d = ex.read_descriptor(sel, Fault::gp(0))?;
    let rpl = (sel & 3) as u32;
    let privileged = ex.cpl() > d.dpl() || rpl > d.dpl();
    if d.is_segment() {
        // Conforming code is visible from any level.
        if privileged && !d.conforming() {
            return Ok(None);
        }
    } else if privileged {
        return Ok(None);
    }
    Ok(Some(d))
}

/// LAR/LSL: access rights or limit of a descriptor, when visible.
pub fn load_access(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_protected()?;
    let sel = ex.read_op(insn, 1)? as u16;
    let lar = insn.mnemonic() == Mnemonic::Lar;
    let d = visible_descriptor(ex, sel)?.filter(|d| {
        d.is_segment()
            || match d.kind() {
                st::TSS16_AVAILABLE
                | st::TSS16_BUSY
                | st::LDT
                | st::TSS32_AVAILABLE
                | st::TSS32_BUSY => true,
                st::CALL_GATE16 | st::TASK_GATE | st::CALL_GATE32 => lar,
                _ => false,
            }
    });
    match d {
        Some(d) => {
            let v = if lar {
                (d.0 >> 32) & 0x00f0_ff00
            } else {
                d.limit() as u64
            };
            let size = ex.op_size(insn, 0);
            ex.write_op(insn, 0, v & super::operand::size_mask(size))?;
            ex.s.set_flag(ZF, true);
        }
        None => ex.s.set_flag(ZF, false),
    }
    Ok(())
}

/// VERR/VERW: ZF = 1 when the segment is readable/writable from here.
pub fn verify(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_protected()?;
    let sel = ex.read_op(insn, 0)? as u16;
    let ok = visible_descriptor(ex, sel)?.is_some_and(|d| {
        if insn.mnemonic() == Mnemonic::Verr {
            d.readable()
        } else {
            d.writable_data()
        }
    });
    ex.s.set_flag(ZF, ok);
    Ok(())
}

/// ARPL: raise the destination selector's RPL to the source's.
pub fn arpl(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_protected()?;
    let dst = ex.read_op(insn, 0)?;
    let src = if insn.op_kind(1) == OpKind::Register {
        ex.read_op(insn, 1)?
    } else {
        0
    };
    if dst & 3 < src & 3 {
        ex.write_op(insn, 0, (dst & !3) | (src & 3))?;
        ex.s.set_flag(ZF, true);
    } else {
        ex.s.set_flag(ZF, false);
    }
    Ok(())
}

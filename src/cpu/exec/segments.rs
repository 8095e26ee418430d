//! Segment-register loads (SDM vol. 3, 5.5-5.7 and MOV/POP/LDS in vol. 2).
//! Real mode computes the base from the selector and keeps the cached limit
//! and attributes (which is what makes unreal mode work); V86 mode forces
//! the 8086 view; protected mode loads the descriptor after its checks.

use super::descriptor::Descriptor;
use super::operand::size_mask;
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::state::rflags::VM;
use crate::cpu::state::{Segment, CS, DS, ES, FS, GS, RSP, SS};

type R = Result<(), Fault>;

/// Attribute bits of a segment V86 mode loads (present, DPL 3, accessed).
const V86_DATA: u16 = 0xf3;
const V86_CODE: u16 = 0xfb;

impl Exec<'_> {
    /// Current privilege level.
    #[inline]
    pub fn cpl(&self) -> u32 {
        if !self.s.protected_mode() {
            0
        } else if self.s.rflags & VM != 0 {
            3
        } else {
            (self.s.seg[CS].selector & 3) as u32
        }
    }

    /// True in protected mode outside V86: descriptors apply.
    #[inline]
    pub fn descriptors_apply(&self) -> bool {
        self.s.protected_mode() && self.s.rflags & VM == 0
    }

    /// Loads a data or stack segment register (MOV, POP, LxS).
    pub fn load_segment(&mut self, seg: usize, selector: u16) -> R {
        if !self.descriptors_apply() {
            let sr = &mut self.s.seg[seg];
            if self.s.rflags & VM != 0 {
                *sr = Segment::real_mode(selector, if seg == CS { V86_CODE } else { V86_DATA });
            } else {
                sr.selector = selector;
                sr.base = (selector as u64) << 4;
            }
        } else if seg == SS
            && selector & 0xfffc == 0
            && crate::cpu::decode_cache::code_bitness(self.s) == 64
            && self.cpl() < 3
            && (selector & 3) as u32 == self.cpl()
        {
            // 64-bit mode allows a null SS below ring 3.
            self.s.seg[SS] = Segment {
                selector,
                attr: ((selector & 3) << 5) | 0x93,
                ..Segment::default()
            };
        } else if seg == SS {
            let cpl = self.cpl();
            let (sreg, d) = self.check_stack_segment(selector, cpl, Fault::gp)?;
            self.mark_accessed(selector, d)?;
            self.s.seg[SS] = sreg;
        } else {
            self.load_data_segment(seg, selector)?;
        }
        if seg == SS {
            // The stack width may change; let the block end. Interrupts
            // wait for the instruction that loads (E)SP next.
            self.s.interrupt_shadow = true;
            self.yield_now = true;
        }
        Ok(())
    }

    /// DS/ES/FS/GS in protected mode: a null selector loads an unusable
    /// segment; otherwise data or readable code within privilege.
    fn load_data_segment(&mut self, seg: usize, selector: u16) -> R {
        if selector & 0xfffc == 0 {
            self.s.seg[seg] = Segment {
                selector,
                ..Segment::default()
            };
            return Ok(());
        }
        let err = Fault::sel(selector);
        let d = self.read_descriptor(selector, Fault::gp(err))?;
        if !d.readable() {
            return Err(Fault::gp(err));
        }
        let rpl = (selector & 3) as u32;
        if !d.conforming() && (rpl > d.dpl() || self.cpl() > d.dpl()) {
            return Err(Fault::gp(err));
        }
        if !d.present() {
            return Err(Fault::np(err));
        }
        self.mark_accessed(selector, d)?;
        self.s.seg[seg] = d.to_segment(selector);
        Ok(())
    }

    /// Checks `selector` as a stack segment for privilege `cpl`. `fault`
    /// builds the error for a bad selector (#GP for loads, #TS for stack
    /// switches); a not-present segment raises #SS.
    pub fn check_stack_segment(
        &mut self,
        selector: u16,
        cpl: u32,
        fault: impl Fn(u32) -> Fault,
    ) -> Result<(Segment, Descriptor), Fault> {
        let err = Fault::sel(selector);
        if selector & 0xfffc == 0 {
            return Err(fault(0));
        }
        let d = self.read_descriptor(selector, fault(err))?;
        if (selector & 3) as u32 != cpl || !d.writable_data() || d.dpl() != cpl {
            return Err(fault(err));
        }
        if !d.present() {
            return Err(Fault::ss(err));
        }
        Ok((d.to_segment(selector), d))
    }

    /// Loads CS from a checked code descriptor at privilege `cpl`.
    pub fn set_code_segment(&mut self, selector: u16, d: Descriptor, cpl: u32) -> R {
        self.mark_accessed(selector, d)?;
        self.s.seg[CS] = d.to_segment((selector & 0xfffc) | cpl as u16);
        self.yield_now = true;
        Ok(())
    }

    /// After a return to an outer privilege level, data segments the new
    /// level may not use become null (SDM vol. 3, 5.8.6).
    pub fn drop_inaccessible_segments(&mut self) {
        let cpl = self.cpl();
        for seg in [ES, DS, FS, GS] {
            let sr = self.s.seg[seg];
            let dpl = ((sr.attr >> 5) & 3) as u32;
            let code = sr.attr & 0x18 == 0x18;
            let conforming_code = code && sr.attr & 4 != 0;
            if sr.attr & 0x80 != 0 && !conforming_code && dpl < cpl {
                self.s.seg[seg] = Segment::default();
            }
        }
    }

    /// Loads CS for a real-mode or V86 far transfer.
    pub fn set_code_segment_real(&mut self, selector: u16) {
        if self.s.rflags & VM != 0 {
            self.s.seg[CS] = Segment::real_mode(selector, V86_CODE);
        } else {
            let sr = &mut self.s.seg[CS];
            sr.selector = selector;
            sr.base = (selector as u64) << 4;
        }
    }

    /// Drops `bytes` from the stack (RET imm16, RETF).
    pub fn release_stack(&mut self, bytes: u64) {
        let ss = self.stack_size();
        let sp = self.reg(RSP, ss).wrapping_add(bytes) & size_mask(ss);
        self.set_reg(RSP, ss, sp);
    }
}

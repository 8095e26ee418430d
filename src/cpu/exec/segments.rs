//! Segment-register loads and far transfers. Real and virtual-8086 mode
//! compute the base from the selector; protected mode goes through
//! descriptors (the system-architecture work extends this file).

use super::operand::size_mask;
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::state::rflags::VM;
use crate::cpu::state::{Segment, CS, RSP, SS};

type R = Result<(), Fault>;

impl Exec<'_> {
    /// Current privilege level.
    pub fn cpl(&self) -> u32 {
        if !self.s.protected_mode() {
            0
        } else if self.s.rflags & VM != 0 {
            3
        } else {
            (self.s.seg[CS].selector & 3) as u32
        }
    }

    /// Loads a data/stack segment register (MOV, POP, LxS).
    pub fn load_segment(&mut self, seg: usize, selector: u16) -> R {
        if self.s.protected_mode() && self.s.rflags & VM == 0 {
            log::warn!("protected-mode segment loads are not implemented yet");
            return Err(Fault::gp(selector as u32 & 0xfffc));
        }
        let sr = &mut self.s.seg[seg];
        // Real mode keeps the cached limit and attributes (unreal mode);
        // V86 mode forces the 8086 view.
        sr.selector = selector;
        sr.base = (selector as u64) << 4;
        if self.s.rflags & VM != 0 {
            *sr = Segment::real_mode(selector, if seg == CS { 0xfb } else { 0xf3 });
        }
        if seg == SS {
            // Loading SS may change the stack width; let the block end.
            self.yield_now = true;
        }
        Ok(())
    }

    /// Far JMP (and the transfer part of far CALL).
    pub fn far_jump(&mut self, selector: u16, offset: u64) -> R {
        if self.s.protected_mode() && self.s.rflags & VM == 0 {
            log::warn!("protected-mode far transfers are not implemented yet");
            return Err(Fault::gp(selector as u32 & 0xfffc));
        }
        if offset > self.s.seg[CS].limit as u64 {
            return Err(Fault::gp(0));
        }
        let sr = &mut self.s.seg[CS];
        sr.selector = selector;
        sr.base = (selector as u64) << 4;
        self.next_rip = offset;
        Ok(())
    }

    /// RETF's transfer; the caller releases the stack afterwards.
    pub fn far_return(&mut self, selector: u16, offset: u64, _size: u32) -> R {
        self.far_jump(selector, offset)
    }

    /// Drops `bytes` from the stack (RET imm16, RETF).
    pub fn release_stack(&mut self, bytes: u64) {
        let ss = self.stack_size();
        let sp = self.reg(RSP, ss).wrapping_add(bytes) & size_mask(ss);
        self.set_reg(RSP, ss, sp);
    }
}

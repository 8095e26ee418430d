//! Long-mode specifics (SDM vol. 3, 6.14 and 7.7): 64-bit IDT gates with
//! the IST, the 64-bit TSS, IRETQ, and 16-byte system descriptors.

use super::descriptor::Descriptor;
use super::operand::canonical;
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::state::rflags::{IF, NT, RF, TF, VM};
use crate::cpu::state::{Segment, CS, RSP, SS};

type R = Result<(), Fault>;

/// 64-bit gate types (S = 0).
const INTERRUPT_GATE64: u8 = 14;
const TRAP_GATE64: u8 = 15;

impl Exec<'_> {
    /// IA-32e mode is active (EFER.LMA).
    #[inline]
    pub fn long_mode(&self) -> bool {
        self.s.msr.efer & (1 << 10) != 0
    }

    /// RSPn (level 0-2) or ISTn (index 1-7, as `3 + n`) from the 64-bit TSS.
    fn tss64_stack(&mut self, slot: u64) -> Result<u64, Fault> {
        let off = if slot < 3 {
            4 + slot * 8
        } else {
            36 + (slot - 4) * 8
        };
        let tr = self.s.tr;
        if off + 7 > tr.limit as u64 {
            return Err(Fault::ts(Fault::sel(tr.selector)));
        }
        self.read_system(tr.base.wrapping_add(off), 8)
    }

    /// Pushes on a 64-bit stack by linear address (supervisor access).
    fn push64(&mut self, rsp: &mut u64, v: u64) -> R {
        let at = rsp.wrapping_sub(8);
        if !canonical(at) {
            return Err(Fault::ss(0));
        }
        self.write_linear(at, 8, v, false)?;
        *rsp = at;
        Ok(())
    }

    /// Delivers `vec` through a 16-byte IDT gate.
    pub fn deliver_long(
        &mut self,
        vec: u8,
        error_code: Option<u32>,
        software: bool,
        ext: u32,
        ret: u64,
    ) -> R {
        let idt_err = vec as u32 * 8 + 2 + ext;
        if vec as u64 * 16 + 15 > self.s.idtr.limit as u64 {
            return Err(Fault::gp(idt_err));
        }
        let at = self.s.idtr.base.wrapping_add(vec as u64 * 16);
        let lo = Descriptor(self.read_system(at, 8)?);
        let hi = self.read_system(at + 8, 8)?;
        if lo.is_segment() || !matches!(lo.kind(), INTERRUPT_GATE64 | TRAP_GATE64) {
            return Err(Fault::gp(idt_err));
        }
        let cpl = self.cpl();
        if software && lo.dpl() < cpl {
            return Err(Fault::gp(idt_err));
        }
        if !lo.present() {
            return Err(Fault::np(idt_err));
        }
        let csel = lo.gate_selector();
        if csel & 0xfffc == 0 {
            return Err(Fault::gp(ext));
        }
        let cerr = Fault::sel(csel) + ext;
        let cd = self.read_descriptor(csel, Fault::gp(cerr))?;
        // The handler must be 64-bit code (L = 1, D = 0).
        if !cd.is_code() || cd.dpl() > cpl || cd.0 & (1 << 53) == 0 || cd.0 & (1 << 54) != 0 {
            return Err(Fault::gp(cerr));
        }
        if !cd.present() {
            return Err(Fault::np(cerr));
        }
        let target = lo.gate_offset() | ((hi & 0xffff_ffff) << 32);
        if !canonical(target) {
            return Err(Fault::gp(ext));
        }
        let new_cpl = if cd.conforming() { cpl } else { cd.dpl() };
        let ist = (lo.0 >> 32) & 7;
        let old_rsp = self.s.gpr[RSP];
        let mut rsp = if ist != 0 {
            self.tss64_stack(3 + ist)?
        } else if new_cpl < cpl {
            self.tss64_stack(new_cpl as u64)?
        } else {
            old_rsp
        };
        rsp &= !0xf;
        let flags = self.s.flags();
        let old_ss = self.s.seg[SS].selector as u64;
        let old_cs = self.s.seg[CS].selector as u64;
        self.push64(&mut rsp, old_ss)?;
        self.push64(&mut rsp, old_rsp)?;
        self.push64(&mut rsp, flags)?;
        self.push64(&mut rsp, old_cs)?;
        self.push64(&mut rsp, ret)?;
        if let Some(code) = error_code {
            self.push64(&mut rsp, code as u64)?;
        }
        if new_cpl < cpl {
            // A privilege change loads a null SS with RPL = new CPL.
            self.s.seg[SS] = Segment {
                selector: new_cpl as u16,
                attr: ((new_cpl as u16) << 5) | 0x13 | 0x80,
                ..Segment::default()
            };
        }
        self.s.gpr[RSP] = rsp;
        let mut new_flags = flags & !(TF | NT | RF | VM);
        if lo.kind() == INTERRUPT_GATE64 {
            new_flags &= !IF;
        }
        self.s.set_flags(new_flags);
        self.set_code_segment(csel, cd, new_cpl)?;
        self.next_rip = target;
        Ok(())
    }

    /// IRET in IA-32e mode: always pops RIP, CS, RFLAGS, RSP and SS (from
    /// 64-bit mode; from compatibility mode the frame is `size` wide).
    pub fn iret_long(&mut self, size: u32) -> R {
        if self.s.rflags & NT != 0 {
            return Err(Fault::gp(0));
        }
        let s64 = size as u64;
        let ip = self.peek_stack(0, size)?;
        let cs = self.peek_stack(s64, size)? as u16;
        let flags = self.peek_stack(2 * s64, size)?;
        let cpl = self.cpl();
        let rpl = (cs & 3) as u32;
        let d = self.return_code_segment(cs)?;
        let to64 = d.0 & (1 << 53) != 0;
        if (to64 && !canonical(ip)) || (!to64 && ip > d.limit() as u64) {
            return Err(Fault::gp(0));
        }
        let bitness64 = super::super::decode_cache::code_bitness(self.s) == 64;
        let (sp, ss_sel) = if bitness64 || rpl != cpl {
            (
                self.peek_stack(3 * s64, size)?,
                self.peek_stack(4 * s64, size)? as u16,
            )
        } else {
            (
                self.s.gpr[RSP].wrapping_add(3 * s64),
                self.s.seg[SS].selector,
            )
        };
        let ss = if ss_sel & 0xfffc == 0 && to64 && rpl != 3 {
            Segment {
                selector: ss_sel,
                attr: ((rpl as u16) << 5) | 0x93,
                ..Segment::default()
            }
        } else {
            let (ss, sd) = self.check_stack_segment(ss_sel, rpl, Fault::gp)?;
            self.mark_accessed(ss_sel, sd)?;
            ss
        };
        self.set_code_segment(cs, d, rpl)?;
        self.s.seg[SS] = ss;
        self.s.gpr[RSP] = if to64 { sp } else { sp & 0xffff_ffff };
        crate::cpu::interrupt::apply_popped_flags(self, flags, size, cpl);
        if rpl > cpl {
            self.drop_inaccessible_segments();
        }
        self.next_rip = ip;
        Ok(())
    }
}

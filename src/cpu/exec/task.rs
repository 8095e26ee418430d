//! Hardware task switching (SDM vol. 3, 7.3): JMP/CALL to a TSS or task
//! gate, interrupts through task gates, and IRET with NT set.

use super::descriptor::{system_type as st, Descriptor};
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::state::rflags::{NT, VM};
use crate::cpu::state::{cr0, Segment, CS, DS, ES, FS, GS, SS};

type R = Result<(), Fault>;

/// What started the switch; it decides busy bits, NT and the back link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskSwitch {
    Jmp,
    Call,
    /// An interrupt or exception through a task gate (nests like CALL).
    Interrupt,
    Iret,
}

/// Offsets of the fields in a 32-bit and a 16-bit TSS.
struct Layout {
    ip: u64,
    flags: u64,
    gprs: u64,
    segs: u64,
    ldt: u64,
    /// Bytes per register/selector slot.
    reg: u32,
    seg_stride: u64,
    min_limit: u32,
}

const TSS32: Layout = Layout {
    ip: 32,
    flags: 36,
    gprs: 40,
    segs: 72,
    ldt: 96,
    reg: 4,
    seg_stride: 4,
    min_limit: 0x67,
};

const TSS16: Layout = Layout {
    ip: 14,
    flags: 16,
    gprs: 18,
    segs: 34,
    ldt: 42,
    reg: 2,
    seg_stride: 2,
    min_limit: 0x2b,
};

fn layout(is32: bool) -> &'static Layout {
    if is32 {
        &TSS32
    } else {
        &TSS16
    }
}

impl Exec<'_> {
    /// Switches from the current task to the TSS `sel`/`d`. `error_code` is
    /// pushed on the new task's stack for exceptions that have one.
    pub fn task_switch(
        &mut self,
        sel: u16,
        d: Descriptor,
        how: TaskSwitch,
        error_code: Option<u32>,
    ) -> R {
        let err = Fault::sel(sel);
        let new32 = matches!(d.kind(), st::TSS32_AVAILABLE | st::TSS32_BUSY);
        let new = layout(new32);
        if d.limit() < new.min_limit {
            return Err(Fault::ts(err));
        }
        let old_sel = self.s.tr.selector;
        let old = layout(self.s.tr.attr & 0x8 != 0);
        let old_base = self.s.tr.base;
        let new_base = d.base();
        if self.s.tr.limit < old.min_limit {
            return Err(Fault::ts(Fault::sel(old_sel)));
        }

        // Read the whole new state first: nothing changes if it faults.
        let r = new.reg;
        let ip = self.read_system(new_base + new.ip, r)?;
        let flags = self.read_system(new_base + new.flags, r)?;
        let mut gprs = [0u64; 8];
        for (i, g) in gprs.iter_mut().enumerate() {
            *g = self.read_system(new_base + new.gprs + i as u64 * r as u64, r)?;
        }
        let mut sels = [0u16; 6];
        let seg_count = if new32 { 6 } else { 4 };
        for (i, s) in sels.iter_mut().enumerate().take(seg_count) {
            *s = self.read_system(new_base + new.segs + i as u64 * new.seg_stride, 2)? as u16;
        }
        let ldt = self.read_system(new_base + new.ldt, 2)? as u16;
        let cr3 = if new32 {
            Some(self.read_system(new_base + 28, 4)?)
        } else {
            None
        };

        // Save the outgoing task.
        let mut out_flags = self.s.flags();
        if how == TaskSwitch::Iret {
            out_flags &= !NT;
        }
        let or = old.reg;
        self.write_system(old_base + old.ip, or, self.next_rip)?;
        self.write_system(old_base + old.flags, or, out_flags)?;
        for i in 0..8 {
            let v = self.s.gpr[i];
            self.write_system(old_base + old.gprs + i as u64 * or as u64, or, v)?;
        }
        let old_count = if old.reg == 4 { 6 } else { 4 };
        for i in 0..old_count {
            let v = self.s.seg[i].selector as u64;
            self.write_system(old_base + old.segs + i as u64 * old.seg_stride, 2, v)?;
        }

        // Busy bits and the back link.
        if matches!(how, TaskSwitch::Jmp | TaskSwitch::Iret) {
            let od = self.read_descriptor(old_sel, Fault::ts(Fault::sel(old_sel)))?;
            self.set_descriptor_type(old_sel, od, od.kind() & !2)?;
        }
        let mut new_flags = flags;
        if matches!(how, TaskSwitch::Call | TaskSwitch::Interrupt) {
            self.write_system(new_base, 2, old_sel as u64)?;
            new_flags |= NT;
        }
        if how != TaskSwitch::Iret {
            self.set_descriptor_type(sel, d, d.kind() | 2)?;
        }

        // Load the incoming task.
        self.s.tr = Descriptor(d.0 | (2u64 << 40)).to_segment(sel);
        self.s.cr0 |= cr0::TS;
        if let Some(cr3) = cr3 {
            if self.s.cr0 & cr0::PG != 0 {
                crate::cpu::mmu::load_cr3(self.s, self.mem, self.tlb, cr3)?;
            }
        }
        let mask = if new32 { 0xffff_ffff } else { 0xffff };
        for (i, g) in gprs.iter().enumerate() {
            if new32 {
                self.s.gpr[i] = *g;
            } else {
                self.set_reg(i, 2, *g);
            }
        }
        let keep = if new32 { 0 } else { self.s.flags() & !0xffff };
        self.s.set_flags(keep | (new_flags & mask));
        self.next_rip = ip & mask;
        self.s.ldtr.selector = ldt;
        self.yield_now = true;

        // Segment loads may fault; they fault in the new task's context.
        self.load_task_ldt(ldt)?;
        if self.s.rflags & VM != 0 {
            for (i, s) in sels.iter().enumerate() {
                self.s.seg[i] = Segment::real_mode(*s, if i == CS { 0xfb } else { 0xf3 });
            }
        } else {
            self.load_task_segments(&sels[..seg_count])?;
        }
        if let Some(code) = error_code {
            let size = if new32 { 4 } else { 2 };
            self.push(size, code as u64)?;
        }
        Ok(())
    }

    fn load_task_ldt(&mut self, ldt: u16) -> R {
        let err = Fault::sel(ldt);
        if ldt & 0xfffc == 0 {
            self.s.ldtr = Segment::default();
            return Ok(());
        }
        if ldt & 4 != 0 {
            return Err(Fault::ts(err));
        }
        let d = self.read_descriptor(ldt, Fault::ts(err))?;
        if d.is_segment() || d.kind() != st::LDT {
            return Err(Fault::ts(err));
        }
        if !d.present() {
            return Err(Fault::ts(err));
        }
        self.s.ldtr = d.to_segment(ldt);
        Ok(())
    }

    /// CS, SS, then data segments, each checked as the SDM's task-switch
    /// steps say (#TS for bad selectors, #NP/#SS when not present).
    fn load_task_segments(&mut self, sels: &[u16]) -> R {
        let cs = sels[CS];
        let cpl = (cs & 3) as u32;
        let cerr = Fault::sel(cs);
        if cs & 0xfffc == 0 {
            return Err(Fault::ts(cerr));
        }
        let cd = self.read_descriptor(cs, Fault::ts(cerr))?;
        let ok = cd.is_code()
            && if cd.conforming() {
                cd.dpl() <= cpl
            } else {
                cd.dpl() == cpl
            };
        if !ok {
            return Err(Fault::ts(cerr));
        }
        if !cd.present() {
            return Err(Fault::np(cerr));
        }
        self.mark_accessed(cs, cd)?;
        self.s.seg[CS] = cd.to_segment(cs);
        let (ss, sd) = self.check_stack_segment(sels[SS], cpl, Fault::ts)?;
        self.mark_accessed(sels[SS], sd)?;
        self.s.seg[SS] = ss;
        for seg in [ES, DS, FS, GS] {
            let Some(&sel) = sels.get(seg) else {
                self.s.seg[seg] = Segment::default();
                continue;
            };
            if sel & 0xfffc == 0 {
                self.s.seg[seg] = Segment {
                    selector: sel,
                    ..Segment::default()
                };
                continue;
            }
            let err = Fault::sel(sel);
            let d = self.read_descriptor(sel, Fault::ts(err))?;
            let rpl = (sel & 3) as u32;
            if !d.readable() || (!d.conforming() && (d.dpl() < cpl || d.dpl() < rpl)) {
                return Err(Fault::ts(err));
            }
            if !d.present() {
                return Err(Fault::np(err));
            }
            self.mark_accessed(sel, d)?;
            self.s.seg[seg] = d.to_segment(sel);
        }
        Ok(())
    }
}

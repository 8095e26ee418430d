//! Far JMP, CALL and RET in every mode (SDM vol. 3, 5.8 and the JMP/CALL/
//! RET pages of vol. 2): code segments, call gates with stack switching
//! through the TSS, and task switches through TSS descriptors and task gates.

use super::descriptor::{system_type as st, Descriptor};
use super::operand::size_mask;
use super::task::TaskSwitch;
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::state::{Segment, CS, RSP, SS};

type R = Result<(), Fault>;

/// A stack that is not loaded yet: pushes are checked against its own
/// limit and land through supervisor accesses.
pub struct PendingStack {
    pub seg: Segment,
    pub sp: u64,
    /// Stack-pointer width in bytes (from the segment's B bit).
    pub width: u32,
}

impl PendingStack {
    pub fn new(seg: Segment, sp: u64) -> Self {
        let width = if seg.big() { 4 } else { 2 };
        PendingStack {
            seg,
            sp: sp & size_mask(width),
            width,
        }
    }

    pub fn push(&mut self, ex: &mut Exec, size: u32, v: u64) -> R {
        let sp = self.sp.wrapping_sub(size as u64) & size_mask(self.width);
        let lin = ex.segment_linear(
            &self.seg,
            SS,
            sp,
            size,
            true,
            Fault::ss(Fault::sel(self.seg.selector)),
        )?;
        ex.write_linear(lin, size, v, false)?;
        self.sp = sp;
        Ok(())
    }
}

impl Exec<'_> {
    /// SS:ESP for privilege `level` from the current TSS.
    pub fn tss_stack(&mut self, level: u32) -> Result<(u16, u64), Fault> {
        let tr = self.s.tr;
        let ts = Fault::ts(Fault::sel(tr.selector));
        let is32 = tr.attr & 0x8 != 0;
        let (sp_off, ss_off, sp_size) = if is32 {
            (4 + level as u64 * 8, 8 + level as u64 * 8, 4)
        } else {
            (2 + level as u64 * 4, 4 + level as u64 * 4, 2)
        };
        if ss_off + 1 > tr.limit as u64 {
            return Err(ts);
        }
        let sp = self.read_system(tr.base.wrapping_add(sp_off), sp_size)?;
        let ss = self.read_system(tr.base.wrapping_add(ss_off), 2)? as u16;
        Ok((ss, sp))
    }

    /// Far JMP to `selector:offset`.
    pub fn far_jump(&mut self, selector: u16, offset: u64) -> R {
        if !self.descriptors_apply() {
            return self.real_far_jump(selector, offset);
        }
        let err = Fault::sel(selector);
        let d = self.far_target_descriptor(selector)?;
        let cpl = self.cpl();
        if d.is_code() {
            self.check_code_target(selector, d, cpl)?;
            return self.enter_code(selector, d, cpl, offset);
        }
        if d.is_segment() {
            return Err(Fault::gp(err));
        }
        match d.kind() {
            st::CALL_GATE16 | st::CALL_GATE32 => {
                let (csel, cd) = self.check_call_gate(selector, d, cpl)?;
                if !cd.conforming() && cd.dpl() != cpl {
                    return Err(Fault::gp(Fault::sel(csel)));
                }
                let off = gate_target(d);
                self.enter_code(csel, cd, cpl, off)
            }
            st::TSS16_AVAILABLE | st::TSS32_AVAILABLE | st::TASK_GATE => {
                self.task_via(selector, d, TaskSwitch::Jmp)
            }
            _ => Err(Fault::gp(err)),
        }
    }

    /// Far CALL to `selector:offset` with a `size`-byte return frame.
    pub fn far_call(&mut self, selector: u16, offset: u64, size: u32) -> R {
        let (old_cs, ret) = (self.cs(), self.next_rip);
        if !self.descriptors_apply() {
            self.push(size, old_cs as u64)?;
            self.push(size, ret)?;
            return self.real_far_jump(selector, offset);
        }
        let err = Fault::sel(selector);
        let d = self.far_target_descriptor(selector)?;
        let cpl = self.cpl();
        if d.is_code() {
            self.check_code_target(selector, d, cpl)?;
            self.check_branch_limit(d, offset)?;
            self.push(size, old_cs as u64)?;
            self.push(size, ret)?;
            return self.enter_code(selector, d, cpl, offset);
        }
        if d.is_segment() {
            return Err(Fault::gp(err));
        }
        match d.kind() {
            st::CALL_GATE16 | st::CALL_GATE32 => {
                self.call_through_gate(selector, d, cpl, old_cs, ret)
            }
            st::TSS16_AVAILABLE | st::TSS32_AVAILABLE | st::TASK_GATE => {
                self.task_via(selector, d, TaskSwitch::Call)
            }
            _ => Err(Fault::gp(err)),
        }
    }

    /// RETF: pops `size`-byte EIP and CS, then releases `imm` bytes; a
    /// return to an outer level also pops ESP and SS.
    pub fn far_return(&mut self, size: u32, imm: u64) -> R {
        let off = self.peek_stack(0, size)?;
        let sel = self.peek_stack(size as u64, size)? as u16;
        if !self.descriptors_apply() {
            self.real_far_jump(sel, off)?;
            self.release_stack(2 * size as u64 + imm);
            return Ok(());
        }
        let cpl = self.cpl();
        let rpl = (sel & 3) as u32;
        let d = self.return_code_segment(sel)?;
        if rpl == cpl {
            self.check_branch_limit(d, off)?;
            self.enter_code(sel, d, cpl, off)?;
            self.release_stack(2 * size as u64 + imm);
            return Ok(());
        }
        // Return to an outer level: the caller's SS:ESP sits above the
        // parameters.
        let new_sp = self.peek_stack(2 * size as u64 + imm, size)?;
        let ss_sel = self.peek_stack(3 * size as u64 + imm, size)? as u16;
        let (ss, sd) = self.check_stack_segment(ss_sel, rpl, Fault::gp)?;
        self.check_branch_limit(d, off)?;
        self.mark_accessed(ss_sel, sd)?;
        self.enter_code(sel, d, rpl, off)?;
        self.s.seg[SS] = ss;
        let width = if ss.big() { 4 } else { 2 };
        self.set_reg(RSP, width, new_sp.wrapping_add(imm) & size_mask(width));
        self.drop_inaccessible_segments();
        Ok(())
    }

    /// The descriptor a far JMP/CALL names (a null selector is #GP(0)).
    fn far_target_descriptor(&mut self, selector: u16) -> Result<Descriptor, Fault> {
        let err = Fault::sel(selector);
        if err == 0 {
            return Err(Fault::gp(0));
        }
        self.read_descriptor(selector, Fault::gp(err))
    }

    /// Checks the code segment a RETF/IRET returns to (SDM vol. 2, RET and
    /// IRET): not more privileged than now, conforming DPL <= RPL or
    /// non-conforming DPL = RPL, and present.
    pub fn return_code_segment(&mut self, cs: u16) -> Result<Descriptor, Fault> {
        let err = Fault::sel(cs);
        if err == 0 {
            return Err(Fault::gp(0));
        }
        let rpl = (cs & 3) as u32;
        if rpl < self.cpl() {
            return Err(Fault::gp(err));
        }
        let d = self.read_descriptor(cs, Fault::gp(err))?;
        let dpl_ok = if d.conforming() {
            d.dpl() <= rpl
        } else {
            d.dpl() == rpl
        };
        if !d.is_code() || !dpl_ok {
            return Err(Fault::gp(err));
        }
        if !d.present() {
            return Err(Fault::np(err));
        }
        Ok(d)
    }

    fn real_far_jump(&mut self, selector: u16, offset: u64) -> R {
        if offset > self.s.seg[CS].limit as u64 {
            return Err(Fault::gp(0));
        }
        self.set_code_segment_real(selector);
        self.next_rip = offset;
        Ok(())
    }

    /// Privilege rules for a direct far JMP/CALL to a code segment.
    fn check_code_target(&self, selector: u16, d: Descriptor, cpl: u32) -> R {
        let err = Fault::sel(selector);
        let rpl = (selector & 3) as u32;
        let ok = if d.conforming() {
            d.dpl() <= cpl
        } else {
            rpl <= cpl && d.dpl() == cpl
        };
        if !ok {
            return Err(Fault::gp(err));
        }
        if !d.present() {
            return Err(Fault::np(err));
        }
        Ok(())
    }

    /// The target offset must lie within the code segment, or, for a
    /// 64-bit code segment in IA-32e mode, be canonical.
    fn check_branch_limit(&self, d: Descriptor, offset: u64) -> R {
        let to_64bit = self.long_mode() && d.0 & (1 << 53) != 0;
        let ok = if to_64bit {
            super::operand::canonical(offset)
        } else {
            offset <= d.limit() as u64
        };
        if !ok {
            return Err(Fault::gp(0));
        }
        Ok(())
    }

    /// Loads CS (RPL = `cpl`) and jumps to `offset` after the limit check.
    fn enter_code(&mut self, selector: u16, d: Descriptor, cpl: u32, offset: u64) -> R {
        self.check_branch_limit(d, offset)?;
        self.set_code_segment(selector, d, cpl)?;
        self.next_rip = offset;
        Ok(())
    }

    /// Checks a call gate and its target code segment.
    fn check_call_gate(
        &mut self,
        selector: u16,
        gate: Descriptor,
        cpl: u32,
    ) -> Result<(u16, Descriptor), Fault> {
        let err = Fault::sel(selector);
        let rpl = (selector & 3) as u32;
        if gate.dpl() < cpl || gate.dpl() < rpl {
            return Err(Fault::gp(err));
        }
        if !gate.present() {
            return Err(Fault::np(err));
        }
        let csel = gate.gate_selector();
        if csel & 0xfffc == 0 {
            return Err(Fault::gp(0));
        }
        let cerr = Fault::sel(csel);
        let cd = self.read_descriptor(csel, Fault::gp(cerr))?;
        if !cd.is_code() || cd.dpl() > cpl {
            return Err(Fault::gp(cerr));
        }
        if !cd.present() {
            return Err(Fault::np(cerr));
        }
        Ok((csel, cd))
    }

    /// CALL through a call gate; to a more privileged non-conforming
    /// segment it switches to the TSS stack and copies the parameters.
    fn call_through_gate(
        &mut self,
        selector: u16,
        gate: Descriptor,
        cpl: u32,
        old_cs: u16,
        ret: u64,
    ) -> R {
        let (csel, cd) = self.check_call_gate(selector, gate, cpl)?;
        let size = if gate.kind() == st::CALL_GATE32 { 4 } else { 2 };
        let target = gate_target(gate);
        self.check_branch_limit(cd, target)?;
        if cd.conforming() || cd.dpl() == cpl {
            self.push(size, old_cs as u64)?;
            self.push(size, ret & size_mask(size))?;
            return self.enter_code(csel, cd, cpl, target);
        }
        let new_cpl = cd.dpl();
        let (ss_sel, sp) = self.tss_stack(new_cpl)?;
        let (ss, sd) = self.check_stack_segment(ss_sel, new_cpl, Fault::ts)?;
        let count = gate.gate_param_count() as u64;
        let mut params = Vec::with_capacity(count as usize);
        for i in (0..count).rev() {
            params.push(self.peek_stack(i * size as u64, size)?);
        }
        let old_ss = self.s.seg[SS].selector as u64;
        let old_sp = self.reg(RSP, self.stack_size());
        let mut stack = PendingStack::new(ss, sp);
        stack.push(self, size, old_ss)?;
        stack.push(self, size, old_sp & size_mask(size))?;
        for p in params {
            stack.push(self, size, p)?;
        }
        stack.push(self, size, old_cs as u64)?;
        stack.push(self, size, ret & size_mask(size))?;
        self.mark_accessed(ss_sel, sd)?;
        self.s.seg[SS] = stack.seg;
        self.set_reg(RSP, stack.width, stack.sp);
        self.enter_code(csel, cd, new_cpl, target)
    }

    /// JMP/CALL to a TSS descriptor or through a task gate.
    fn task_via(&mut self, selector: u16, d: Descriptor, how: TaskSwitch) -> R {
        let err = Fault::sel(selector);
        let cpl = self.cpl();
        if d.dpl() < cpl || d.dpl() < (selector & 3) as u32 {
            return Err(Fault::gp(err));
        }
        if !d.present() {
            return Err(Fault::np(err));
        }
        let (tss_sel, tss) = if d.kind() == st::TASK_GATE {
            let tsel = d.gate_selector();
            let terr = Fault::sel(tsel);
            if tsel & 4 != 0 {
                return Err(Fault::gp(terr));
            }
            let td = self.read_descriptor(tsel, Fault::gp(terr))?;
            if !matches!(td.kind(), st::TSS16_AVAILABLE | st::TSS32_AVAILABLE) || td.is_segment() {
                return Err(Fault::gp(terr));
            }
            if !td.present() {
                return Err(Fault::np(terr));
            }
            (tsel, td)
        } else {
            (selector, d)
        };
        self.task_switch(tss_sel, tss, how, None)
    }
}

/// The offset a call gate points at (16-bit gates use the low word).
fn gate_target(gate: Descriptor) -> u64 {
    if gate.kind() == st::CALL_GATE32 {
        gate.gate_offset()
    } else {
        gate.gate_offset() & 0xffff
    }
}

//! Exception and interrupt delivery in real and protected mode (with V86
//! and task gates), IRET, and the double/triple-fault rules.

use super::exec::descriptor::{system_type as st, Descriptor};
use super::exec::far_transfer::PendingStack;
use super::exec::operand::size_mask;
use super::exec::task::TaskSwitch;
use super::exec::Exec;
use super::fault::{vector, Fault};
use super::state::rflags::{self, AC, ID, IF, IOPL, NT, RF, TF, VIF, VIP, VM};
use super::state::{Segment, CS, DS, ES, FS, GS, RSP, SS};
use super::StopReason;

/// How an event arose; it decides the return address and some checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A fault or trap raised by the CPU.
    Exception,
    /// INT n, INT3, INTO.
    Software,
    /// INT1 (ICEBP).
    Icebp,
    /// A maskable or non-maskable interrupt from outside the CPU.
    External,
}

/// Delivers `vec`. The return address is `ex.next_rip` for software
/// interrupts and `ex.s.rip` (the faulting instruction) otherwise.
fn deliver(ex: &mut Exec, vec: u8, error_code: Option<u32>, kind: EventKind) -> Result<(), Fault> {
    let ret = match kind {
        EventKind::Software | EventKind::Icebp => ex.next_rip,
        EventKind::Exception | EventKind::External => ex.s.rip,
    };
    let start_rsp = ex.s.gpr[RSP];
    let start_ss = ex.s.seg[SS];
    let result = if ex.long_mode() {
        let ext = matches!(kind, EventKind::Exception | EventKind::External) as u32;
        ex.deliver_long(vec, error_code, kind == EventKind::Software, ext, ret)
    } else if ex.s.protected_mode() {
        deliver_protected(ex, vec, error_code, kind, ret)
    } else {
        deliver_real(ex, vec, ret)
    };
    match result {
        Ok(()) => {
            ex.s.halted = false;
            ex.yield_now = true;
            ex.s.rip = ex.next_rip;
            Ok(())
        }
        Err(f) => {
            ex.s.gpr[RSP] = start_rsp;
            ex.s.seg[SS] = start_ss;
            Err(f)
        }
    }
}

/// Real mode: through the IVT, pushing FLAGS, CS and IP.
fn deliver_real(ex: &mut Exec, vec: u8, ret: u64) -> Result<(), Fault> {
    let entry = vec as u64 * 4;
    if entry + 3 > ex.s.idtr.limit as u64 {
        return Err(Fault::gp(vec as u32 * 8 + 2));
    }
    let base = ex.s.idtr.base + entry;
    let ip = ex.read_system(base & 0xffff_ffff, 2)?;
    let cs = ex.read_system((base + 2) & 0xffff_ffff, 2)? as u16;
    let flags = ex.s.flags();
    ex.push(2, flags & 0xffff)?;
    ex.push(2, ex.s.seg[CS].selector as u64)?;
    ex.push(2, ret & 0xffff)?;
    ex.s.set_flags(flags & !(IF | TF | AC | RF));
    ex.set_code_segment_real(cs);
    ex.next_rip = ip;
    Ok(())
}

/// Protected mode (SDM vol. 3, 6.12): through an interrupt, trap or task
/// gate, switching to the TSS stack when entering a more privileged level.
fn deliver_protected(
    ex: &mut Exec,
    vec: u8,
    error_code: Option<u32>,
    kind: EventKind,
    ret: u64,
) -> Result<(), Fault> {
    let ext = matches!(kind, EventKind::Exception | EventKind::External) as u32;
    let idt_err = vec as u32 * 8 + 2 + ext;
    if vec as u64 * 8 + 7 > ex.s.idtr.limit as u64 {
        return Err(Fault::gp(idt_err));
    }
    let gate = Descriptor(ex.read_system(ex.s.idtr.base.wrapping_add(vec as u64 * 8), 8)?);
    let kind_ok = !gate.is_segment()
        && matches!(
            gate.kind(),
            st::INTERRUPT_GATE16
                | st::INTERRUPT_GATE32
                | st::TRAP_GATE16
                | st::TRAP_GATE32
                | st::TASK_GATE
        );
    if !kind_ok {
        return Err(Fault::gp(idt_err));
    }
    let cpl = ex.cpl();
    if kind == EventKind::Software && gate.dpl() < cpl {
        return Err(Fault::gp(idt_err));
    }
    if !gate.present() {
        return Err(Fault::np(idt_err));
    }
    if gate.kind() == st::TASK_GATE {
        let tsel = gate.gate_selector();
        let terr = Fault::sel(tsel) + ext;
        let td = ex.read_descriptor(tsel, Fault::ts(terr))?;
        if tsel & 4 != 0
            || td.is_segment()
            || !matches!(td.kind(), st::TSS16_AVAILABLE | st::TSS32_AVAILABLE)
        {
            return Err(Fault::ts(terr));
        }
        if !td.present() {
            return Err(Fault::np(terr));
        }
        ex.next_rip = ret;
        return ex.task_switch(tsel, td, TaskSwitch::Interrupt, error_code);
    }
    let csel = gate.gate_selector();
    if csel & 0xfffc == 0 {
        return Err(Fault::gp(ext));
    }
    let cerr = Fault::sel(csel) + ext;
    let cd = ex.read_descriptor(csel, Fault::gp(cerr))?;
    if !cd.is_code() || cd.dpl() > cpl {
        return Err(Fault::gp(cerr));
    }
    if !cd.present() {
        return Err(Fault::np(cerr));
    }
    let size = if matches!(gate.kind(), st::INTERRUPT_GATE32 | st::TRAP_GATE32) {
        4
    } else {
        2
    };
    let target = if size == 4 {
        gate.gate_offset()
    } else {
        gate.gate_offset() & 0xffff
    };
    if target > cd.limit() as u64 {
        return Err(Fault::gp(ext));
    }
    let flags = ex.s.flags();
    let from_v86 = flags & VM != 0;
    let old_cs = ex.s.seg[CS].selector as u64;
    let new_cpl = if cd.conforming() { cpl } else { cd.dpl() };
    if new_cpl < cpl {
        if from_v86 && new_cpl != 0 {
            return Err(Fault::gp(cerr));
        }
        let (ss_sel, sp) = ex.tss_stack(new_cpl)?;
        let (ss, sd) = ex.check_stack_segment(ss_sel, new_cpl, |e| Fault::ts(e + ext))?;
        let old_ss = ex.s.seg[SS].selector as u64;
        let old_sp = ex.reg(RSP, 4);
        let mut stack = PendingStack::new(ss, sp);
        if from_v86 {
            for seg in [GS, FS, DS, ES] {
                let v = ex.s.seg[seg].selector as u64;
                stack.push(ex, size, v)?;
            }
        }
        stack.push(ex, size, old_ss)?;
        stack.push(ex, size, old_sp & size_mask(size))?;
        stack.push(ex, size, flags & size_mask(size))?;
        stack.push(ex, size, old_cs)?;
        stack.push(ex, size, ret & size_mask(size))?;
        if let Some(code) = error_code {
            stack.push(ex, size, code as u64)?;
        }
        ex.mark_accessed(ss_sel, sd)?;
        ex.s.seg[SS] = stack.seg;
        ex.set_reg(RSP, stack.width, stack.sp);
        if from_v86 {
            for seg in [GS, FS, DS, ES] {
                ex.s.seg[seg] = Segment::default();
            }
        }
    } else {
        if from_v86 {
            return Err(Fault::gp(cerr));
        }
        ex.push(size, flags & size_mask(size))?;
        ex.push(size, old_cs)?;
        ex.push(size, ret & size_mask(size))?;
        if let Some(code) = error_code {
            ex.push(size, code as u64)?;
        }
    }
    let mut new_flags = flags & !(TF | NT | VM | RF);
    if matches!(gate.kind(), st::INTERRUPT_GATE16 | st::INTERRUPT_GATE32) {
        new_flags &= !IF;
    }
    ex.s.set_flags(new_flags);
    ex.set_code_segment(csel, cd, new_cpl)?;
    ex.next_rip = target;
    Ok(())
}

/// Fault-class exceptions (the rest are traps or aborts).
fn is_fault_class(vec: u8) -> bool {
    matches!(vec, 0 | 5 | 6 | 7 | 10..=14 | 16 | 17 | 19 | 20)
}

/// Whether an exception pushes an error code (SDM vol. 3, table 6-1).
fn has_error_code(vec: u8) -> bool {
    matches!(vec, 8 | 10..=14 | 17 | 21)
}

/// INT n / INT3 / INTO / ICEBP from a handler. In V86 mode with IOPL < 3,
/// INT n is IOPL-sensitive and raises #GP(0) to the monitor.
pub fn raise(
    ex: &mut Exec,
    vec: u8,
    error_code: Option<u32>,
    kind: EventKind,
) -> Result<(), Fault> {
    if kind == EventKind::Software && ex.s.rflags & VM != 0 && ex.s.rflags & IOPL != IOPL {
        return Err(Fault::gp(0));
    }
    deliver(ex, vec, error_code, kind)
}

/// Delivers an external interrupt (from the PIC or local APIC) before the
/// instruction at CS:RIP; a fault during delivery escalates as usual.
pub fn deliver_external(ex: &mut Exec, vec: u8) -> Result<(), StopReason> {
    match deliver(ex, vec, None, EventKind::External) {
        Ok(()) => Ok(()),
        Err(fault) => deliver_fault(ex, fault),
    }
}

/// Delivers a fault raised by an instruction whose state has been rolled
/// back, escalating to #DF and to shutdown as SDM vol. 3, 6.15 (table 6-5)
/// says.
pub fn deliver_fault(ex: &mut Exec, fault: Fault) -> Result<(), StopReason> {
    // Faults push RF = 1 so that IRET restarts the instruction without a
    // repeated instruction breakpoint (SDM vol. 3, 17.3.1.1); #DB sets its
    // own rules (instruction breakpoints are restarted the same way).
    if is_fault_class(fault.vector) {
        ex.s.rflags |= RF;
    }
    let mut current = fault;
    for _ in 0..4 {
        // CR2 takes the faulting address as the #PF is raised (so a #PF
        // met while delivering another leaves its own address there).
        if let Some(addr) = current.cr2 {
            ex.s.cr2 = addr;
        }
        let code = if has_error_code(current.vector) {
            Some(current.error_code.unwrap_or(0))
        } else {
            None
        };
        match deliver(ex, current.vector, code, EventKind::Exception) {
            Ok(()) => return Ok(()),
            Err(next) => {
                if current.vector == vector::DF {
                    return Err(StopReason::TripleFault);
                }
                let pf = vector::PF;
                let double = (current.contributory() && next.contributory())
                    || (current.vector == pf && (next.contributory() || next.vector == pf));
                current = if double {
                    Fault::with_code(vector::DF, 0)
                } else {
                    next
                };
            }
        }
    }
    Err(StopReason::TripleFault)
}

/// IRET / IRETD in every mode.
pub fn iret(ex: &mut Exec, size: u32) -> Result<(), Fault> {
    let flags = ex.s.flags();
    if !ex.s.protected_mode() {
        return iret_real(ex, size, false);
    }
    if flags & VM != 0 {
        if flags & IOPL != IOPL {
            return Err(Fault::gp(0));
        }
        return iret_real(ex, size, true);
    }
    if ex.long_mode() {
        return ex.iret_long(size);
    }
    if flags & NT != 0 {
        return iret_task(ex);
    }
    let ip = ex.peek_stack(0, size)?;
    let cs = ex.peek_stack(size as u64, size)? as u16;
    let new_flags = ex.peek_stack(2 * size as u64, size)?;
    let cpl = ex.cpl();
    if size == 4 && new_flags & VM != 0 && cpl == 0 {
        return iret_to_v86(ex, ip, cs, new_flags);
    }
    let rpl = (cs & 3) as u32;
    let d = ex.return_code_segment(cs)?;
    if ip > d.limit() as u64 {
        return Err(Fault::gp(0));
    }
    if rpl == cpl {
        ex.release_stack(3 * size as u64);
        ex.set_code_segment(cs, d, cpl)?;
    } else {
        let sp = ex.peek_stack(3 * size as u64, size)?;
        let ss_sel = ex.peek_stack(4 * size as u64, size)? as u16;
        let (ss, sd) = ex.check_stack_segment(ss_sel, rpl, Fault::gp)?;
        ex.mark_accessed(ss_sel, sd)?;
        ex.set_code_segment(cs, d, rpl)?;
        ex.s.seg[SS] = ss;
        let width = if ss.big() { 4 } else { 2 };
        ex.set_reg(RSP, width, sp & size_mask(width));
        ex.drop_inaccessible_segments();
    }
    apply_popped_flags(ex, new_flags, size, cpl);
    ex.next_rip = ip;
    ex.yield_now = true;
    Ok(())
}

/// Which flags a POPF/IRET may change at privilege `cpl` (SDM vol. 2,
/// IRET and POPF): IOPL at CPL 0 only, IF when CPL <= IOPL; VM, VIF and VIP
/// are never taken from a same-mode return.
pub fn apply_popped_flags(ex: &mut Exec, popped: u64, size: u32, cpl: u32) {
    let old = ex.s.flags();
    let iopl = ((old & IOPL) >> 12) as u32;
    let mut writable = (rflags::WRITABLE & !(VM | VIF | VIP)) & size_mask(size);
    if size >= 4 {
        writable |= RF | AC | ID;
    }
    if ex.s.protected_mode() && cpl > 0 {
        writable &= !IOPL;
    }
    if ex.s.protected_mode() && cpl > iopl {
        writable &= !IF;
    }
    if old & VM != 0 {
        writable &= !IOPL;
    }
    ex.s.set_flags((old & !writable) | (popped & writable));
}

/// IRET in real mode, or in V86 mode with IOPL 3.
fn iret_real(ex: &mut Exec, size: u32, v86: bool) -> Result<(), Fault> {
    let ip = ex.peek_stack(0, size)?;
    let cs = ex.peek_stack(size as u64, size)? as u16;
    let flags = ex.peek_stack(2 * size as u64, size)?;
    if ip > ex.s.seg[CS].limit as u64 {
        return Err(Fault::gp(0));
    }
    ex.release_stack(3 * size as u64);
    if v86 {
        apply_popped_flags(ex, flags, size, 3);
    } else {
        let old = ex.s.flags();
        let keep = if size == 2 {
            !0xffffu64
        } else {
            VM | VIP | VIF
        };
        ex.s.set_flags((old & keep) | (flags & !keep));
    }
    ex.set_code_segment_real(cs);
    ex.next_rip = ip;
    ex.yield_now = true;
    Ok(())
}

/// IRETD from CPL 0 with VM set in the popped EFLAGS: back to V86 mode.
fn iret_to_v86(ex: &mut Exec, ip: u64, cs: u16, flags: u64) -> Result<(), Fault> {
    let mut vals = [0u64; 6];
    for (i, v) in vals.iter_mut().enumerate() {
        *v = ex.peek_stack(12 + 4 * i as u64, 4)?;
    }
    let [sp, ss, es, ds, fs, gs] = vals;
    ex.s.set_flags(flags);
    for (seg, sel) in [(ES, es), (DS, ds), (FS, fs), (GS, gs), (SS, ss)] {
        ex.s.seg[seg] = Segment::real_mode(sel as u16, 0xf3);
    }
    ex.s.seg[CS] = Segment::real_mode(cs, 0xfb);
    ex.s.gpr[RSP] = sp & 0xffff_ffff;
    ex.next_rip = ip & 0xffff;
    ex.yield_now = true;
    Ok(())
}

/// IRET with NT set: return to the task in the back link.
fn iret_task(ex: &mut Exec) -> Result<(), Fault> {
    let link = ex.read_system(ex.s.tr.base, 2)? as u16;
    let err = Fault::sel(link);
    if link & 4 != 0 {
        return Err(Fault::ts(err));
    }
    let d = ex.read_descriptor(link, Fault::ts(err))?;
    if d.is_segment() || !matches!(d.kind(), st::TSS16_BUSY | st::TSS32_BUSY) {
        return Err(Fault::ts(err));
    }
    if !d.present() {
        return Err(Fault::np(err));
    }
    // The outgoing task's busy bit is cleared by the switch.
    ex.task_switch(link, d, TaskSwitch::Iret, None)
}

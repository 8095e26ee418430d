//! Exception and interrupt delivery, IRET, and the double/triple-fault rules.

use super::exec::Exec;
use super::fault::{vector, Fault};
use super::state::rflags::{AC, IF, RF, TF, VIF, VIP, VM};
use super::state::{CS, RSP};
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
}

/// Delivers `vector` through the IVT (real mode). The return address is
/// `ex.next_rip` for software interrupts and `ex.s.rip` otherwise.
fn deliver(ex: &mut Exec, vec: u8, error_code: Option<u32>, kind: EventKind) -> Result<(), Fault> {
    let ret = match kind {
        EventKind::Software | EventKind::Icebp => ex.next_rip,
        _ => ex.s.rip,
    };
    if ex.s.protected_mode() {
        log::warn!("protected-mode interrupt delivery is not implemented yet (vector {vec})");
        return Err(Fault::gp(vec as u32 * 8 + 2));
    }
    let _ = error_code; // Real mode pushes no error codes.
    let entry = vec as u64 * 4;
    if entry + 3 > ex.s.idtr.limit as u64 {
        return Err(Fault::gp(vec as u32 * 8 + 2));
    }
    let base = ex.s.idtr.base + entry;
    let ip = ex.read_linear(base & 0xffff_ffff, 2, false)?;
    let cs = ex.read_linear((base + 2) & 0xffff_ffff, 2, false)? as u16;
    let start_rsp = ex.s.gpr[RSP];
    let flags = ex.s.flags();
    let pushed = ex
        .push(2, flags & 0xffff)
        .and_then(|_| ex.push(2, ex.s.seg[CS].selector as u64))
        .and_then(|_| ex.push(2, ret & 0xffff));
    if let Err(f) = pushed {
        ex.s.gpr[RSP] = start_rsp;
        return Err(f);
    }
    ex.s.set_flags(flags & !(IF | TF | AC | RF));
    let sr = &mut ex.s.seg[CS];
    sr.selector = cs;
    sr.base = (cs as u64) << 4;
    ex.s.rip = ip;
    ex.next_rip = ip;
    ex.s.halted = false;
    ex.yield_now = true;
    Ok(())
}

/// INT n / INT3 / INTO / ICEBP from a handler.
pub fn raise(
    ex: &mut Exec,
    vec: u8,
    error_code: Option<u32>,
    kind: EventKind,
) -> Result<(), Fault> {
    deliver(ex, vec, error_code, kind)
}

/// Delivers a fault raised by an instruction whose state has been rolled
/// back, escalating to #DF and to shutdown as SDM vol. 3, 6.15 (table 6-5)
/// says.
pub fn deliver_fault(ex: &mut Exec, fault: Fault) -> Result<(), StopReason> {
    let mut current = fault;
    for _ in 0..4 {
        match deliver(ex, current.vector, current.error_code, EventKind::Exception) {
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

/// IRET in real mode: pop IP, CS and FLAGS.
pub fn iret(ex: &mut Exec, size: u32) -> Result<(), Fault> {
    if ex.s.protected_mode() && ex.s.rflags & VM == 0 {
        log::warn!("protected-mode IRET is not implemented yet");
        return Err(Fault::gp(0));
    }
    let ip = ex.peek_stack(0, size)?;
    let cs = ex.peek_stack(size as u64, size)? as u16;
    let flags = ex.peek_stack(2 * size as u64, size)?;
    if ip > ex.s.seg[CS].limit as u64 {
        return Err(Fault::gp(0));
    }
    ex.release_stack(3 * size as u64);
    let old = ex.s.flags();
    let keep = if size == 2 {
        !0xffffu64
    } else {
        VM | VIP | VIF
    };
    ex.s.set_flags((old & keep) | (flags & !keep));
    let sr = &mut ex.s.seg[CS];
    sr.selector = cs;
    sr.base = (cs as u64) << 4;
    ex.next_rip = ip;
    ex.yield_now = true;
    Ok(())
}

//! The short path of a planned memory operand: the effective address, the
//! segment check, the TLB and the A20 gate in one go, for the common case
//! of a flat or in-limit data access within one page. Anything unusual
//! (limits, odd segment types, page crossings, breakpoints, TLB misses)
//! returns `None`, and the general path does the whole access again,
//! faulting where the architecture says.

use super::operand::canonical;
use super::operand_plan::MemPlan;
use super::Exec;
use crate::cpu::decode_cache::code_bitness;
use crate::cpu::state::{CpuState, FS};

impl Exec<'_> {
    /// The physical address of the planned memory operand when the short
    /// path can serve it.
    #[inline(always)]
    pub(super) fn planned_phys(&self, write: bool) -> Option<u64> {
        let s = &*self.s;
        let long = code_bitness(s) == 64;
        let linear = plan_linear(s, &self.plan.mem, write, long)?;
        // Page crossing, breakpoints, paging and the A20 gate: as every
        // short-path data access.
        self.fast_data_phys(linear, self.plan.mem.size as u32, write)
    }
}

/// The linear address of memory operand `m` when no segment rule needs
/// the general path: `long` (64-bit mode) has no limits and only FS and
/// GS keep a base; otherwise a present, expand-up data segment (writable
/// for a write) with the access within its limit. `None` for anything
/// else, including real mode's code-segment overrides and non-canonical
/// addresses.
#[inline(always)]
pub(super) fn plan_linear(s: &CpuState, m: &MemPlan, write: bool, long: bool) -> Option<u64> {
    if m.unplanned {
        return None;
    }
    let off = m.offset(&s.gpr);
    let size = m.size as u64;
    let seg = m.seg as usize;
    if long {
        // Within one page both ends share the canonical check.
        let base = if seg >= FS { s.seg.get(seg)?.base } else { 0 };
        let linear = base.wrapping_add(off);
        return canonical(linear).then_some(linear);
    }
    let sr = s.seg.get(seg)?;
    let attr = sr.attr;
    if attr & 0x8c != 0x80 || (write && attr & 0x02 == 0) {
        return None;
    }
    let last = off.wrapping_add(size.wrapping_sub(1));
    if last > sr.limit as u64 || last < off {
        return None;
    }
    Some(sr.base.wrapping_add(off) & 0xffff_ffff)
}

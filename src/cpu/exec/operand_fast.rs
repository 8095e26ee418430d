//! The short path of a planned memory operand: the effective address, the
//! segment check, the TLB and the A20 gate in one go, for the common case
//! of a flat or in-limit data access within one page. Anything unusual
//! (limits, odd segment types, page crossings, breakpoints, TLB misses)
//! returns `None`, and the general path does the whole access again,
//! faulting where the architecture says.

use super::operand::canonical;
use super::Exec;
use crate::cpu::state::{efer, CS, FS};

/// CS.L: a 64-bit code segment (with EFER.LMA).
const ATTR_LONG: u16 = 1 << 13;

impl Exec<'_> {
    /// The physical address of the planned memory operand when the short
    /// path can serve it.
    #[inline(always)]
    pub(super) fn planned_phys(&self, write: bool) -> Option<u64> {
        let m = &self.plan.mem;
        let s = &*self.s;
        if m.unplanned {
            return None;
        }
        let off = m.offset(&s.gpr);
        let size = m.size as u64;
        let seg = m.seg as usize;
        let long = s.msr.efer & efer::LMA != 0;
        let linear = if long && s.seg[CS].attr & ATTR_LONG != 0 {
            // 64-bit mode: no limits, only FS and GS keep a base. Within
            // one page both ends share the canonical check.
            let base = if seg >= FS { s.seg.get(seg)?.base } else { 0 };
            let linear = base.wrapping_add(off);
            if !canonical(linear) {
                return None;
            }
            linear
        } else {
            // A present, expand-up data segment (writable for a write),
            // the access within its limit; anything else (including real
            // mode's code-segment overrides) takes the general path.
            let sr = s.seg.get(seg)?;
            let attr = sr.attr;
            if attr & 0x8c != 0x80 || (write && attr & 0x02 == 0) {
                return None;
            }
            let last = off.wrapping_add(size.wrapping_sub(1));
            if last > sr.limit as u64 || last < off {
                return None;
            }
            sr.base.wrapping_add(off) & 0xffff_ffff
        };
        // Page crossing, breakpoints, paging and the A20 gate: as every
        // short-path data access.
        self.fast_data_phys(linear, m.size as u32, write)
    }
}

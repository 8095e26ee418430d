//! Debug exceptions (SDM vol. 3, 17.2-17.3): instruction and data
//! breakpoints from DR0-DR3/DR7, and the TF single-step trap.

use super::Exec;
use crate::cpu::state::CS;

/// DR6 bits.
pub const DR6_BS: u64 = 1 << 14;

/// Breakpoint length in bytes from a DR7 LEN field.
fn len_of(field: u64) -> u64 {
    match field {
        0 => 1,
        1 => 2,
        2 => 8,
        _ => 4,
    }
}

impl Exec<'_> {
    /// True when any breakpoint is enabled in DR7 (the cheap guard).
    #[inline]
    pub fn breakpoints_enabled(&self) -> bool {
        self.s.dr[7] & 0xff != 0
    }

    /// DR6 B0-B3 bits of enabled breakpoints of `rw` type (0 execute,
    /// 1 write, 3 read/write) that cover any of `size` bytes at `linear`.
    fn matching_breakpoints(&self, linear: u64, size: u64, write: bool, execute: bool) -> u64 {
        let dr7 = self.s.dr[7];
        let mut hits = 0;
        for i in 0..4 {
            if (dr7 >> (i * 2)) & 3 == 0 {
                continue;
            }
            let rw = (dr7 >> (16 + i * 4)) & 3;
            let kind_ok = match rw {
                0 => execute,
                1 => write && !execute,
                3 => !execute,
                _ => false,
            };
            if !kind_ok {
                continue;
            }
            let len = if rw == 0 {
                1
            } else {
                len_of((dr7 >> (18 + i * 4)) & 3)
            };
            let start = self.s.dr[i as usize] & !(len - 1);
            if linear < start + len && start < linear.wrapping_add(size) {
                hits |= 1 << i;
            }
        }
        hits
    }

    /// Records data breakpoints hit by an access; the #DB trap follows the
    /// instruction.
    #[inline]
    pub fn note_data_access(&mut self, linear: u64, size: u32, write: bool) {
        if self.breakpoints_enabled() {
            self.pending_db |= self.matching_breakpoints(linear, size as u64, write, false);
        }
    }

    /// DR6 bits of instruction breakpoints at the current CS:RIP.
    pub fn instruction_breakpoints(&self) -> u64 {
        let linear = self.s.seg[CS].base.wrapping_add(self.s.rip);
        self.matching_breakpoints(linear, 1, false, true)
    }
}

//! The MMU: linear-to-physical translation through the paging structures,
//! with one soft TLB per vCPU (shared with the JIT later).

mod tlb;

pub use tlb::Tlb;

use super::fault::Fault;
use super::state::{cr0, CpuState};
use crate::mem::GuestMemory;

/// What an access wants from a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub write: bool,
    /// A CPL-3 access (implicit supervisor accesses, such as descriptor
    /// table reads, pass false).
    pub user: bool,
    /// An instruction fetch (NX applies).
    pub fetch: bool,
}

impl Access {
    pub const fn read(user: bool) -> Self {
        Access {
            write: false,
            user,
            fetch: false,
        }
    }

    pub const fn write(user: bool) -> Self {
        Access {
            write: true,
            user,
            fetch: false,
        }
    }

    pub const fn fetch(user: bool) -> Self {
        Access {
            write: false,
            user,
            fetch: true,
        }
    }
}

/// Translates a linear address to a physical one, walking the page tables
/// when paging is on (setting accessed/dirty bits, raising #PF).
pub fn translate(
    s: &mut CpuState,
    mem: &mut GuestMemory,
    tlb: &mut Tlb,
    linear: u64,
    access: Access,
) -> Result<u64, Fault> {
    if s.cr0 & cr0::PG == 0 {
        return Ok(mem.a20_mask(linear & 0xffff_ffff));
    }
    let _ = (tlb, access);
    log::warn!("paging is not implemented yet (linear {linear:#x})");
    Err(Fault::gp(0))
}

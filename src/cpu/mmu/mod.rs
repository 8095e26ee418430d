//! The MMU: linear-to-physical translation through the paging structures
//! (SDM vol. 3, chapter 4), with one soft TLB per vCPU (shared with the JIT
//! later).

mod entry;
mod host_tlb;
mod pdpte;
mod tlb;
mod walk;

#[cfg(test)]
mod tests;

pub use host_tlb::HostTlb;
pub use pdpte::read_pdptes;
pub use tlb::{flags as tlb_flags, Tlb, TlbEntry};

use super::fault::Fault;
use super::state::{cr0, cr4, efer, rflags, CpuState, CS};
use crate::mem::GuestMemory;

/// The physical-address width xlat implements, reported in CPUID
/// 0x80000008 and used for every reserved-bit check.
pub const MAXPHYADDR: u32 = 40;

/// Whether 4-level paging supports 1 GiB pages (CPUID 0x80000001 EDX.26).
pub const PDPE1GB: bool = true;

/// #PF error-code bits (SDM vol. 3, 4.7).
pub mod pf_error {
    /// 0: the page was not present; 1: a protection violation.
    pub const P: u32 = 1 << 0;
    /// The access was a write.
    pub const W: u32 = 1 << 1;
    /// The access was a user-mode access.
    pub const U: u32 = 1 << 2;
    /// A reserved bit was set in some paging-structure entry.
    pub const RSVD: u32 = 1 << 3;
    /// The access was an instruction fetch (reported only with SMEP, or with
    /// NXE under PAE/4-level paging).
    pub const ID: u32 = 1 << 4;
}

/// Access kinds, as bits of an index into a TLB entry's `allowed` mask.
pub mod kind {
    pub const WRITE: usize = 1 << 0;
    pub const FETCH: usize = 1 << 1;
    pub const USER: usize = 1 << 2;
    /// A supervisor data access that SMAP lets through because EFLAGS.AC=1
    /// (an explicit access, or an implicit one at CPL < 3).
    pub const AC_EXEMPT: usize = 1 << 3;
    pub const COUNT: usize = 16;
}

/// What an access wants from a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub write: bool,
    /// A user-mode access: an explicit access at CPL 3. Implicit
    /// supervisor-mode accesses pass false.
    pub user: bool,
    /// An instruction fetch (NX and SMEP apply).
    pub fetch: bool,
    /// An implicit supervisor-mode access (GDT/LDT/IDT/TSS reads and writes,
    /// SDM 4.6): at CPL 3 SMAP applies to it whatever EFLAGS.AC says.
    pub implicit: bool,
}

impl Access {
    pub const fn read(user: bool) -> Self {
        Access {
            write: false,
            user,
            fetch: false,
            implicit: false,
        }
    }

    pub const fn write(user: bool) -> Self {
        Access {
            write: true,
            user,
            fetch: false,
            implicit: false,
        }
    }

    pub const fn fetch(user: bool) -> Self {
        Access {
            write: false,
            user,
            fetch: true,
            implicit: false,
        }
    }

    /// An implicit supervisor-mode access to a system data structure.
    pub const fn implicit(write: bool) -> Self {
        Access {
            write,
            user: false,
            fetch: false,
            implicit: true,
        }
    }

    /// This access's kind (`kind` bits) in the current state.
    #[inline]
    pub fn kind(self, s: &CpuState) -> usize {
        let mut k = self.write as usize | (self.fetch as usize) << 1 | (self.user as usize) << 2;
        if !self.user && s.rflags & rflags::AC != 0 && !(self.implicit && cpl3(s)) {
            k |= kind::AC_EXEMPT;
        }
        k
    }
}

/// CPL 3: V86 mode or a CS with RPL 3 (paging implies protected mode).
#[inline]
fn cpl3(s: &CpuState) -> bool {
    s.rflags & rflags::VM != 0 || s.seg[CS].selector & 3 == 3
}

/// Which paging structures translate linear addresses (SDM 4.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagingMode {
    None,
    Legacy32,
    Pae,
    Level4,
}

pub fn paging_mode(s: &CpuState) -> PagingMode {
    if s.cr0 & cr0::PG == 0 {
        PagingMode::None
    } else if s.cr4 & cr4::PAE == 0 {
        PagingMode::Legacy32
    } else if s.msr.efer & efer::LMA == 0 {
        PagingMode::Pae
    } else {
        PagingMode::Level4
    }
}

/// Translates a linear address to a physical one, walking the page tables
/// when paging is on (setting accessed/dirty bits, raising #PF). Outside
/// IA-32e mode only the low 32 bits of `linear` count.
#[inline]
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
    let linear = if s.msr.efer & efer::LMA != 0 {
        linear
    } else {
        linear & 0xffff_ffff
    };
    let k = access.kind(s);
    match tlb.lookup(linear, k) {
        Some(phys) => Ok(mem.a20_mask(phys)),
        None => translate_miss(s, mem, tlb, linear, access, k),
    }
}

/// The TLB missed (or the entry does not allow this access, or a write
/// needs the dirty bit set): walk and refill.
#[inline(never)]
fn translate_miss(
    s: &mut CpuState,
    mem: &mut GuestMemory,
    tlb: &mut Tlb,
    linear: u64,
    access: Access,
    k: usize,
) -> Result<u64, Fault> {
    let mode = paging_mode(s);
    if mode == PagingMode::Level4 && ((linear as i64) << 16 >> 16) as u64 != linear {
        // Callers check canonical form with the right exception (#GP or
        // #SS); this only keeps a non-canonical address out of the walk.
        return Err(Fault::gp(0));
    }
    let leaf = walk::walk(s, mem, linear, access, k, mode)?;
    let allowed = walk::allowed_kinds(s, leaf.flags);
    tlb.insert(linear, leaf.phys, leaf.flags, allowed, leaf.page_shift);
    Ok(mem.a20_mask(leaf.phys | (linear & 0xfff)))
}

/// Loads CR3 as MOV CR3 (and a task switch) does: reserved-bit check in
/// IA-32e mode (#GP(0)), PDPTE load under PAE paging (#GP(0) on reserved
/// bits, leaving CR3 and the PDPTEs unchanged), then the TLB flush of
/// non-global entries (all entries without CR4.PGE; SDM 4.10.4.1).
pub fn load_cr3(
    s: &mut CpuState,
    mem: &mut GuestMemory,
    tlb: &mut Tlb,
    value: u64,
) -> Result<(), Fault> {
    let mode = paging_mode(s);
    let value = if s.msr.efer & efer::LMA != 0 {
        // Bits 63:MAXPHYADDR are reserved (no PCIDs).
        if value >> MAXPHYADDR != 0 {
            return Err(Fault::gp(0));
        }
        value
    } else {
        value & 0xffff_ffff
    };
    if mode == PagingMode::Pae {
        s.pdpte = read_pdptes(mem, value)?;
    }
    s.cr3 = value;
    if s.cr4 & cr4::PGE != 0 {
        tlb.flush_non_global();
    } else {
        tlb.flush_all();
    }
    Ok(())
}

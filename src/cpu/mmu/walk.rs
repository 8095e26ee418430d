//! The page walk: 32-bit paging (4 KiB and PSE/PSE-36 4 MiB pages), PAE
//! paging (4 KiB and 2 MiB pages, PDPTEs from their registers) and 4-level
//! paging (4 KiB, 2 MiB and 1 GiB pages), with the access-rights rules of
//! SDM vol. 3, 4.6 and the accessed/dirty updates of 4.8.

use super::entry::{self, A, D, G, P, PS, RW, US, XD};
use super::tlb::flags;
use super::{kind, pf_error, Access, PagingMode, PDPE1GB};
use crate::cpu::fault::Fault;
use crate::cpu::state::{cr0, cr4, efer, CpuState};
use crate::mem::GuestMemory;

/// A successful walk's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// Physical address of the 4 KiB frame holding the linear address.
    pub phys: u64,
    /// `tlb::flags` bits.
    pub flags: u8,
    /// log2 of the mapped page's size.
    pub page_shift: u8,
}

/// The paging controls the permission rules read. All of them flush the
/// TLB when they change, so a TLB entry's `allowed` mask stays valid.
#[derive(Clone, Copy)]
struct Controls {
    wp: bool,
    smep: bool,
    smap: bool,
}

impl Controls {
    fn of(s: &CpuState) -> Self {
        Controls {
            wp: s.cr0 & cr0::WP != 0,
            smep: s.cr4 & cr4::SMEP != 0,
            smap: s.cr4 & cr4::SMAP != 0,
        }
    }
}

/// Whether access kind `k` may use a page with `tlb::flags` `f` (SDM 4.6.1).
fn permitted(k: usize, f: u8, c: Controls) -> bool {
    let user_page = f & flags::USER != 0;
    let writable = f & flags::WRITABLE != 0;
    let write = k & kind::WRITE != 0;
    if k & kind::FETCH != 0 {
        if f & flags::NX != 0 {
            return false;
        }
        return if k & kind::USER != 0 {
            user_page
        } else {
            !(user_page && c.smep)
        };
    }
    if k & kind::USER != 0 {
        return user_page && (writable || !write);
    }
    // Supervisor-mode data access.
    if user_page && c.smap && k & kind::AC_EXEMPT == 0 {
        return false;
    }
    writable || !write || !c.wp
}

/// The access kinds that may use a page with flags `f` without walking:
/// the permitted ones, minus writes while the dirty bit is still clear.
pub fn allowed_kinds(s: &CpuState, f: u8) -> u16 {
    let c = Controls::of(s);
    let mut mask = 0u16;
    for k in 0..kind::COUNT {
        if permitted(k, f, c) && (k & kind::WRITE == 0 || f & flags::DIRTY != 0) {
            mask |= 1 << k;
        }
    }
    mask
}

/// One paging-structure entry the walk used.
#[derive(Clone, Copy, Default)]
struct Used {
    addr: u64,
    value: u64,
}

/// Walks the paging structures for `linear`. `k` is `access`'s kind. On
/// success the accessed bits of every entry used, and on a write the leaf's
/// dirty bit, are set; a faulting walk changes nothing (SDM 4.8).
pub fn walk(
    s: &CpuState,
    mem: &mut GuestMemory,
    linear: u64,
    access: Access,
    k: usize,
    mode: PagingMode,
) -> Result<Leaf, Fault> {
    let nxe = s.msr.efer & efer::NXE != 0;
    let pae_or_long = !matches!(mode, PagingMode::Legacy32);
    let mut code = 0;
    if access.write {
        code |= pf_error::W;
    }
    if access.user {
        code |= pf_error::U;
    }
    if access.fetch && (s.cr4 & cr4::SMEP != 0 || (pae_or_long && nxe)) {
        code |= pf_error::ID;
    }
    let not_present = Fault::pf(code, linear);
    let reserved = Fault::pf(code | pf_error::P | pf_error::RSVD, linear);

    let mut used = [Used::default(); 4];
    let mut n = 0;
    // Reads an entry, checks P and its reserved bits, and records it.
    let mut step = |mem: &mut GuestMemory, addr: u64, wide: bool, rsvd: u64| {
        let addr = mem.a20_mask(addr);
        let value = mem.read(addr, if wide { 8 } else { 4 });
        if value & P == 0 {
            return Err(not_present);
        }
        if value & rsvd != 0 {
            return Err(reserved);
        }
        used[n] = Used { addr, value };
        n += 1;
        Ok(value)
    };

    let (frame, page_shift) = match mode {
        // Without paging a linear address is physical (never walked).
        PagingMode::None => {
            return Ok(Leaf {
                phys: linear & 0xffff_f000,
                flags: flags::WRITABLE | flags::USER | flags::DIRTY,
                page_shift: 12,
            })
        }
        PagingMode::Legacy32 => {
            let pde = step(
                mem,
                (s.cr3 & 0xffff_f000) | ((linear >> 20) & 0xffc),
                false,
                0,
            )?;
            if pde & PS != 0 && s.cr4 & cr4::PSE != 0 {
                if pde & entry::PSE_PDE_RSVD != 0 {
                    return Err(reserved);
                }
                (entry::pse_4m_base(pde), 22)
            } else {
                let pte = step(
                    mem,
                    (pde & 0xffff_f000) | ((linear >> 10) & 0xffc),
                    false,
                    0,
                )?;
                (pte & 0xffff_f000, 12)
            }
        }
        PagingMode::Pae => {
            // The PDPTE registers were checked for reserved bits when loaded.
            let pdpte = s.pdpte[((linear >> 30) & 3) as usize];
            if pdpte & P == 0 {
                return Err(not_present);
            }
            let rsvd = entry::pae_rsvd(nxe);
            let pde_addr = (pdpte & entry::ADDR_MASK) + ((linear >> 21) & 0x1ff) * 8;
            let pde = step(mem, pde_addr, true, rsvd)?;
            if pde & PS != 0 {
                if pde & entry::LARGE_2M_RSVD != 0 {
                    return Err(reserved);
                }
                (pde & entry::ADDR_MASK & !0x1f_ffff, 21)
            } else {
                let pte_addr = (pde & entry::ADDR_MASK) + ((linear >> 12) & 0x1ff) * 8;
                let pte = step(mem, pte_addr, true, rsvd)?;
                (pte & entry::ADDR_MASK, 12)
            }
        }
        PagingMode::Level4 => {
            let rsvd = entry::long_rsvd(nxe);
            let index = |shift: u32| ((linear >> shift) & 0x1ff) * 8;
            let pml4e = step(mem, (s.cr3 & entry::ADDR_MASK) + index(39), true, rsvd | PS)?;
            let pdpte_rsvd = if PDPE1GB { rsvd } else { rsvd | PS };
            let pdpte = step(
                mem,
                (pml4e & entry::ADDR_MASK) + index(30),
                true,
                pdpte_rsvd,
            )?;
            if pdpte & PS != 0 {
                if pdpte & entry::LARGE_1G_RSVD != 0 {
                    return Err(reserved);
                }
                (pdpte & entry::ADDR_MASK & !0x3fff_ffff, 30)
            } else {
                let pde = step(mem, (pdpte & entry::ADDR_MASK) + index(21), true, rsvd)?;
                if pde & PS != 0 {
                    if pde & entry::LARGE_2M_RSVD != 0 {
                        return Err(reserved);
                    }
                    (pde & entry::ADDR_MASK & !0x1f_ffff, 21)
                } else {
                    let pte = step(mem, (pde & entry::ADDR_MASK) + index(12), true, rsvd)?;
                    (pte & entry::ADDR_MASK, 12)
                }
            }
        }
    };
    let used = &used[..n];
    let leaf = used[n - 1].value;

    // Access rights combine over every level (SDM 4.6.1); XD counts only
    // with NXE (without it the bit is reserved and already faulted).
    let mut f = flags::WRITABLE | flags::USER;
    for u in used {
        if u.value & RW == 0 {
            f &= !flags::WRITABLE;
        }
        if u.value & US == 0 {
            f &= !flags::USER;
        }
        if nxe && pae_or_long && u.value & XD != 0 {
            f |= flags::NX;
        }
    }
    if leaf & G != 0 && s.cr4 & cr4::PGE != 0 {
        f |= flags::GLOBAL;
    }
    if !permitted(k, f, Controls::of(s)) {
        return Err(Fault::pf(code | pf_error::P, linear));
    }

    // Accessed and dirty bits, set the way a locked OR would: re-read each
    // entry (an entry may map itself) and write only when a bit is missing.
    for (i, u) in used.iter().enumerate() {
        let want = if i == used.len() - 1 && access.write {
            A | D
        } else {
            A
        };
        let cur = mem.read(u.addr, 4);
        if cur & want != want {
            mem.write(u.addr, 4, cur | want);
        }
    }
    if access.write || leaf & D != 0 {
        f |= flags::DIRTY;
    }

    let offset_in_page = linear & ((1u64 << page_shift) - 1) & !0xfff;
    Ok(Leaf {
        phys: frame | offset_in_page,
        flags: f,
        page_shift,
    })
}

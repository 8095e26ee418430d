//! Paging scenarios: page tables built in guest memory, translated through
//! `translate`, checked against SDM vol. 3, chapter 4.

use super::entry::{A, D, G, P, PS, RW, US, XD};
use super::pf_error as pf;
use super::*;
use crate::cpu::state::{cr0, cr4, efer, rflags, CpuState, CS};
use crate::mem::GuestMemory;

const UPA: u64 = P | RW | US;

struct Machine {
    s: CpuState,
    mem: GuestMemory,
    tlb: Tlb,
}

impl Machine {
    /// Protected mode with paging in `cr4`'s mode, CR3 = 0x1000, CPL 0.
    fn new(cr4v: u64, efer_v: u64) -> Self {
        let mut s = CpuState {
            cr0: cr0::PE | cr0::PG | cr0::ET,
            cr3: 0x1000,
            cr4: cr4v,
            ..CpuState::default()
        };
        s.msr.efer = efer_v;
        s.seg[CS].selector = 0x08;
        Machine {
            s,
            mem: GuestMemory::new(16 << 20).unwrap(),
            tlb: Tlb::default(),
        }
    }

    fn legacy() -> Self {
        Self::new(0, 0)
    }

    /// PAE paging with the PDPT at 0x1000 (PDPTEs loaded from it).
    fn pae(nxe: bool) -> Self {
        let efer_v = if nxe { efer::NXE } else { 0 };
        Self::new(cr4::PAE, efer_v)
    }

    /// 4-level paging (IA-32e mode), PML4 at 0x1000.
    fn long(nxe: bool) -> Self {
        let efer_v = efer::LME | efer::LMA | if nxe { efer::NXE } else { 0 };
        Self::new(cr4::PAE, efer_v)
    }

    fn set32(&mut self, addr: u64, v: u64) {
        self.mem.write(addr, 4, v);
    }

    fn set64(&mut self, addr: u64, v: u64) {
        self.mem.write(addr, 8, v);
    }

    fn get(&mut self, addr: u64) -> u64 {
        self.mem.read(addr, 8)
    }

    fn tr(&mut self, linear: u64, access: Access) -> Result<u64, Fault> {
        translate(&mut self.s, &mut self.mem, &mut self.tlb, linear, access)
    }

    fn read(&mut self, linear: u64) -> Result<u64, Fault> {
        self.tr(linear, Access::read(false))
    }

    fn write(&mut self, linear: u64) -> Result<u64, Fault> {
        self.tr(linear, Access::write(false))
    }

    fn cr3(&mut self, v: u64) -> Result<(), Fault> {
        load_cr3(&mut self.s, &mut self.mem, &mut self.tlb, v)
    }

    /// 32-bit paging: maps `linear`'s 4 KiB page to `phys` with PTE flags
    /// `pte_flags`, through the page table at `pt32(linear)` (PDE flags
    /// `pde_flags`).
    fn map32(&mut self, linear: u64, phys: u64, pde_flags: u64, pte_flags: u64) {
        let pde = 0x1000 + ((linear >> 22) << 2);
        self.set32(pde, pt32(linear) | pde_flags);
        self.set32(pte32(linear), phys | pte_flags);
    }

    /// PAE: PDPT at 0x1000, PD at 0x2000, PT at 0x3000 (one of each).
    fn map_pae(&mut self, linear: u64, phys: u64, pde_flags: u64, pte_flags: u64) {
        self.set64(0x1000 + ((linear >> 30) & 3) * 8, 0x2000 | P);
        self.set64(0x2000 + ((linear >> 21) & 0x1ff) * 8, 0x3000 | pde_flags);
        self.set64(0x3000 + ((linear >> 12) & 0x1ff) * 8, phys | pte_flags);
        self.s.pdpte = read_pdptes(&mut self.mem, self.s.cr3).unwrap();
    }

    /// 4-level: PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000.
    fn map_long(&mut self, linear: u64, phys: u64, upper_flags: u64, pte_flags: u64) {
        let i = |shift: u32| ((linear >> shift) & 0x1ff) * 8;
        self.set64(0x1000 + i(39), 0x2000 | upper_flags);
        self.set64(0x2000 + i(30), 0x3000 | upper_flags);
        self.set64(0x3000 + i(21), 0x4000 | upper_flags);
        self.set64(0x4000 + i(12), phys | pte_flags);
    }
}

/// The page table `map32` uses for `linear`: one per PDE, from 2 MiB up.
fn pt32(linear: u64) -> u64 {
    0x20_0000 + ((linear >> 22) << 12)
}

/// Where `map32` puts `linear`'s PTE.
fn pte32(linear: u64) -> u64 {
    pt32(linear) + (((linear >> 12) & 0x3ff) << 2)
}

fn pf_fault(code: u32, linear: u64) -> Result<u64, Fault> {
    Err(Fault::pf(code, linear))
}

// ---- 32-bit paging ----

#[test]
fn legacy_4k_translation_sets_accessed_then_dirty() {
    let mut m = Machine::legacy();
    m.map32(0x0040_3000, 0x0012_3000, UPA, UPA);
    assert_eq!(m.read(0x0040_3abc), Ok(0x0012_3abc));
    let pte = pte32(0x0040_3000);
    assert_eq!(m.mem.read(0x1004, 4), pt32(0x0040_3000) | UPA | A);
    assert_eq!(m.mem.read(pte, 4), 0x0012_3000 | UPA | A);
    // The write goes through the entry the read cached, whose dirty bit
    // was clear: it walks again and sets D on the leaf only.
    assert_eq!(m.write(0x0040_3abc), Ok(0x0012_3abc));
    assert_eq!(m.mem.read(0x1004, 4), pt32(0x0040_3000) | UPA | A);
    assert_eq!(m.mem.read(pte, 4), 0x0012_3000 | UPA | A | D);
    // Now the TLB knows D is set: clearing it behind the TLB's back is not
    // noticed until an invalidation (hardware may behave the same).
    m.set32(pte, 0x0012_3000 | UPA | A);
    assert_eq!(m.write(0x0040_3000), Ok(0x0012_3000));
    assert_eq!(m.mem.read(pte, 4) & D, 0);
    m.tlb.flush_page(0x0040_3000);
    m.write(0x0040_3000).unwrap();
    assert_eq!(m.mem.read(pte, 4) & D, D);
}

#[test]
fn not_present_faults_carry_the_error_code_and_address() {
    let mut m = Machine::legacy();
    assert_eq!(m.read(0x0080_0123), pf_fault(0, 0x0080_0123));
    m.map32(0x0080_0000, 0x5000, UPA, 0);
    assert_eq!(
        m.tr(0x0080_0123, Access::write(true)),
        pf_fault(pf::W | pf::U, 0x0080_0123)
    );
    // A faulting walk sets no accessed bit, and translate never writes CR2.
    assert_eq!(m.mem.read(0x1008, 4), pt32(0x0080_0000) | UPA);
    assert_eq!(m.s.cr2, 0);
}

#[test]
fn user_and_read_only_pages_and_cr0_wp() {
    let mut m = Machine::legacy();
    m.map32(0x1000_0000, 0x5000, P | RW, P | RW); // supervisor page
    m.map32(0x2000_0000, 0x6000, UPA, P | US); // user read-only
    let lin = 0x1000_0010;
    assert_eq!(m.tr(lin, Access::read(true)), pf_fault(pf::P | pf::U, lin));
    let ro = 0x2000_0020;
    assert_eq!(m.tr(ro, Access::read(true)), Ok(0x6020));
    assert_eq!(
        m.tr(ro, Access::write(true)),
        pf_fault(pf::P | pf::W | pf::U, ro)
    );
    // Supervisor writes ignore R/W while CR0.WP=0...
    assert_eq!(m.write(ro), Ok(0x6020));
    // ...and respect it with WP=1 (a WP change flushes the TLB).
    m.s.cr0 |= cr0::WP;
    m.tlb.flush_all();
    assert_eq!(m.write(ro), pf_fault(pf::P | pf::W, ro));
    // R/W=0 in the PDE alone is enough.
    m.map32(0x3000_0000, 0x7000, P | US, UPA);
    assert_eq!(
        m.tr(0x3000_0000, Access::write(true)),
        pf_fault(pf::P | pf::W | pf::U, 0x3000_0000)
    );
}

#[test]
fn a_protection_fault_sets_no_accessed_bits() {
    let mut m = Machine::legacy();
    m.map32(0x1000_0000, 0x5000, P | RW, P | RW);
    assert!(m.tr(0x1000_0000, Access::read(true)).is_err());
    assert_eq!(m.mem.read(0x1000 + (0x40 << 2), 4) & A, 0);
    assert_eq!(m.mem.read(pte32(0x1000_0000), 4) & A, 0);
}

#[test]
fn pse_4m_pages_with_pse36_high_bits() {
    let mut m = Machine::new(cr4::PSE, 0);
    // 4 MiB page at physical 0x12_0040_0000 (bits 39:32 from PDE 20:13).
    m.set32(
        0x1000 + (0x300 << 2),
        0x0040_0000 | (0x12 << 13) | UPA | PS | G,
    );
    assert_eq!(m.read(0xc012_3456), Ok(0x12_0052_3456));
    assert_eq!(m.mem.read(0x1c00, 4) & A, A);
    m.write(0xc012_3456).unwrap();
    assert_eq!(m.mem.read(0x1c00, 4) & D, D);
    // Bit 21 is reserved with MAXPHYADDR = 40.
    m.set32(0x1000 + (0x301 << 2), 0x0080_0000 | (1 << 21) | UPA | PS);
    assert_eq!(m.read(0xc040_0000), pf_fault(pf::P | pf::RSVD, 0xc040_0000));
    // Without CR4.PSE the PS bit is ignored: the PDE points to a table.
    let mut m = Machine::legacy();
    m.set32(0x1000, 0x2000 | UPA | PS);
    m.set32(0x2004, 0x9000 | UPA);
    assert_eq!(m.read(0x1234), Ok(0x9234));
}

#[test]
fn global_pages_survive_cr3_loads_only_with_pge() {
    let mut m = Machine::new(cr4::PGE, 0);
    m.map32(0x0040_0000, 0x5000, UPA, UPA | G);
    m.map32(0x0040_1000, 0x6000, UPA, UPA);
    m.read(0x0040_0000).unwrap();
    m.read(0x0040_1000).unwrap();
    // Remap both pages behind the TLB's back, then reload CR3.
    m.map32(0x0040_0000, 0x7000, UPA, UPA | G);
    m.map32(0x0040_1000, 0x8000, UPA, UPA);
    m.cr3(0x1000).unwrap();
    assert_eq!(m.read(0x0040_0000), Ok(0x5000), "global entry kept");
    assert_eq!(m.read(0x0040_1000), Ok(0x8000), "non-global re-walked");
    // INVLPG drops a global entry too.
    m.tlb.flush_page(0x0040_0fff);
    assert_eq!(m.read(0x0040_0000), Ok(0x7000));
    // Without PGE the G bit means nothing.
    m.s.cr4 = 0;
    m.tlb.flush_all();
    m.read(0x0040_0000).unwrap();
    m.map32(0x0040_0000, 0x9000, UPA, UPA | G);
    m.cr3(0x1000).unwrap();
    assert_eq!(m.read(0x0040_0000), Ok(0x9000));
}

#[test]
fn self_mapping_page_directory_keeps_both_updates() {
    // The PDE for 0xffc0_0000 points at the directory itself, so the PTE
    // used for 0xffff_f000 is that same PDE: both A and D must stick.
    let mut m = Machine::legacy();
    m.set32(0x1ffc, 0x1000 | UPA);
    assert_eq!(m.write(0xffff_f004), Ok(0x1004));
    assert_eq!(m.mem.read(0x1ffc, 4), 0x1000 | UPA | A | D);
}

#[test]
fn fetch_error_code_has_id_only_with_smep_or_pae_nxe() {
    let mut m = Machine::legacy();
    m.s.msr.efer = efer::NXE;
    assert_eq!(m.tr(0x5000, Access::fetch(false)), pf_fault(0, 0x5000));
    m.s.cr4 |= cr4::SMEP;
    assert_eq!(m.tr(0x5000, Access::fetch(false)), pf_fault(pf::ID, 0x5000));
    let mut m = Machine::pae(true);
    m.map_pae(0x5000, 0x9000, UPA, 0);
    assert_eq!(
        m.tr(0x5000, Access::fetch(true)),
        pf_fault(pf::ID | pf::U, 0x5000)
    );
    let mut m = Machine::pae(false);
    m.map_pae(0x5000, 0x9000, UPA, 0);
    assert_eq!(m.tr(0x5000, Access::fetch(true)), pf_fault(pf::U, 0x5000));
}

// ---- PAE paging ----

#[test]
fn pae_4k_and_2m_pages() {
    let mut m = Machine::pae(false);
    m.map_pae(0x8040_3000, 0x1_2345_6000, UPA, UPA);
    assert_eq!(m.read(0x8040_3010), Ok(0x1_2345_6010));
    assert_eq!(m.get(0x2000 + 2 * 8) & A, A);
    // The PDPTE register has no accessed bit to set.
    assert_eq!(m.get(0x1010), 0x2000 | P);
    // A 2 MiB page.
    m.set64(0x2000 + 5 * 8, 0x0060_0000 | UPA | PS);
    assert_eq!(m.write(0x80b1_2345), Ok(0x0071_2345));
    assert_eq!(m.get(0x2028) & (A | D), A | D);
    // Address bits 20:13 of a 2 MiB PDE are reserved.
    m.set64(0x2000 + 6 * 8, 0x0080_0000 | (1 << 13) | UPA | PS);
    assert_eq!(m.read(0x80c0_0000), pf_fault(pf::P | pf::RSVD, 0x80c0_0000));
}

#[test]
fn pae_pdptes_come_from_the_registers_not_memory() {
    let mut m = Machine::pae(false);
    m.map_pae(0x0000_1000, 0x9000, UPA, UPA);
    // Clearing the PDPTE in memory changes nothing until CR3 is loaded.
    m.set64(0x1000, 0);
    m.tlb.flush_all();
    assert_eq!(m.read(0x1000), Ok(0x9000));
    m.cr3(0x1000).unwrap();
    assert_eq!(m.read(0x1000), pf_fault(0, 0x1000));
}

#[test]
fn pae_cr3_load_with_reserved_pdpte_bits_is_gp_and_changes_nothing() {
    let mut m = Machine::pae(false);
    m.map_pae(0x1000, 0x9000, UPA, UPA);
    m.set64(0x4008, 0x5000 | P | RW); // R/W is reserved in a PDPTE
    assert_eq!(m.cr3(0x4000), Err(Fault::gp(0)));
    assert_eq!(m.s.cr3, 0x1000);
    assert_eq!(m.s.pdpte[0], 0x2000 | P);
    m.set64(0x4008, 0x5000 | P);
    m.cr3(0x4000).unwrap();
    assert_eq!(m.s.pdpte[1], 0x5000 | P);
}

#[test]
fn xd_is_reserved_without_nxe_and_blocks_fetches_with_it() {
    let mut m = Machine::pae(false);
    m.map_pae(0x1000, 0x9000, UPA, UPA | XD);
    assert_eq!(m.read(0x1000), pf_fault(pf::P | pf::RSVD, 0x1000));
    let mut m = Machine::pae(true);
    m.map_pae(0x1000, 0x9000, UPA | XD, UPA);
    assert_eq!(m.read(0x1000), Ok(0x9000));
    assert_eq!(
        m.tr(0x1000, Access::fetch(true)),
        pf_fault(pf::P | pf::U | pf::ID, 0x1000)
    );
    assert_eq!(
        m.tr(0x1000, Access::fetch(false)),
        pf_fault(pf::P | pf::ID, 0x1000)
    );
}

// ---- 4-level paging ----

#[test]
fn four_level_walk_4k_2m_1g() {
    let mut m = Machine::long(false);
    let lin = 0xffff_8000_1234_5678u64;
    m.map_long(lin, 0xab_cdef_0000, UPA, UPA);
    assert_eq!(m.read(lin), Ok(0xab_cdef_0678));
    for table in [0x1000u64, 0x2000, 0x3000] {
        let i = match table {
            0x1000 => (lin >> 39) & 0x1ff,
            0x2000 => (lin >> 30) & 0x1ff,
            _ => (lin >> 21) & 0x1ff,
        };
        assert_eq!(m.get(table + i * 8) & A, A);
    }
    // A 2 MiB page in the same PD, a 1 GiB page in the same PDPT.
    let lin2 = 0x0000_0000_0060_1234u64;
    m.map_long(lin2, 0, UPA, UPA);
    m.set64(0x3000 + 3 * 8, 0x20_0040_0000 | UPA | PS);
    // (entry 3 covers 0x60_0000..0x80_0000)
    assert_eq!(m.read(lin2), Ok(0x20_0040_1234));
    m.set64(0x2008, 0x80_4000_0000 | UPA | PS);
    assert_eq!(m.write(0x4765_4321), Ok(0x80_4765_4321));
    assert_eq!(m.get(0x2008) & (A | D), A | D);
}

#[test]
fn four_level_reserved_bits() {
    let mut m = Machine::long(false);
    let lin = 0x0000_7fff_0000_0000u64;
    m.map_long(lin, 0x5000, UPA, UPA);
    assert!(m.read(lin).is_ok());
    // Bits 62:52 are ignored...
    let pml4 = 0x1000 + ((lin >> 39) & 0x1ff) * 8;
    m.set64(pml4, 0x2000 | UPA | (0x7ff << 52));
    m.tlb.flush_all();
    assert!(m.read(lin).is_ok());
    // ...bits 51:MAXPHYADDR are not, nor PS in a PML4E, nor XD without NXE.
    for bad in [1u64 << 40, 1 << 51, PS, XD] {
        m.set64(pml4, 0x2000 | UPA | bad);
        m.tlb.flush_all();
        assert_eq!(
            m.tr(lin, Access::write(true)),
            pf_fault(pf::P | pf::W | pf::U | pf::RSVD, lin),
            "{bad:#x}"
        );
    }
    // Address bits 29:13 of a 1 GiB page are reserved.
    m.set64(pml4, 0x2000 | UPA);
    let pdpte = 0x2000 + ((lin >> 30) & 0x1ff) * 8;
    m.set64(pdpte, 0x4000_0000 | (1 << 20) | UPA | PS);
    m.tlb.flush_all();
    assert_eq!(m.read(lin), pf_fault(pf::P | pf::RSVD, lin));
}

#[test]
fn four_level_not_present_at_each_level() {
    let mut m = Machine::long(true);
    let lin = 0x0000_0012_3456_7000u64;
    m.map_long(lin, 0x5000, UPA, UPA);
    let entries = [
        0x1000 + ((lin >> 39) & 0x1ff) * 8,
        0x2000 + ((lin >> 30) & 0x1ff) * 8,
        0x3000 + ((lin >> 21) & 0x1ff) * 8,
        0x4000 + ((lin >> 12) & 0x1ff) * 8,
    ];
    for e in entries {
        let saved = m.get(e);
        m.set64(e, saved & !P);
        m.tlb.flush_all();
        assert_eq!(m.tr(lin, Access::fetch(false)), pf_fault(pf::ID, lin));
        m.set64(e, saved);
    }
    m.tlb.flush_all();
    assert_eq!(m.tr(lin, Access::fetch(false)), Ok(0x5000));
}

// ---- SMEP / SMAP ----

#[test]
fn smep_blocks_supervisor_fetches_from_user_pages() {
    let mut m = Machine::pae(true);
    m.s.cr4 |= cr4::SMEP;
    m.map_pae(0x1000, 0x9000, UPA, UPA);
    assert_eq!(
        m.tr(0x1000, Access::fetch(false)),
        pf_fault(pf::P | pf::ID, 0x1000)
    );
    // User fetches and supervisor data reads are fine.
    assert_eq!(m.tr(0x1000, Access::fetch(true)), Ok(0x9000));
    assert_eq!(m.read(0x1000), Ok(0x9000));
}

#[test]
fn smap_with_ac_and_implicit_accesses() {
    let mut m = Machine::legacy();
    m.s.cr4 |= cr4::SMAP;
    m.map32(0x1000, 0x9000, UPA, UPA);
    assert_eq!(m.read(0x1000), pf_fault(pf::P, 0x1000));
    assert_eq!(m.write(0x1000), pf_fault(pf::P | pf::W, 0x1000));
    // EFLAGS.AC=1 lets explicit supervisor accesses through (no TLB flush:
    // AC changes with STAC/CLAC).
    m.s.rflags |= rflags::AC;
    assert_eq!(m.read(0x1000), Ok(0x9000));
    assert_eq!(m.write(0x1000), Ok(0x9000));
    // Implicit supervisor accesses at CPL 0 follow AC too...
    assert_eq!(m.tr(0x1000, Access::implicit(false)), Ok(0x9000));
    // ...but at CPL 3 they are always checked.
    m.s.seg[CS].selector = 0x1b;
    assert_eq!(
        m.tr(0x1000, Access::implicit(true)),
        pf_fault(pf::P | pf::W, 0x1000)
    );
    // And user accesses are not affected by SMAP at all.
    assert_eq!(m.tr(0x1000, Access::write(true)), Ok(0x9000));
    m.s.rflags &= !rflags::AC;
    m.s.seg[CS].selector = 0x08;
    assert_eq!(m.read(0x1000), pf_fault(pf::P, 0x1000));
}

#[test]
fn paging_off_is_identity_with_a20() {
    let mut m = Machine::legacy();
    m.s.cr0 &= !cr0::PG;
    assert_eq!(m.read(0x1234_5678), Ok(0x1234_5678));
    m.mem.set_a20(false);
    assert_eq!(m.read(0x0010_0000), Ok(0));
}

#[test]
fn a20_applies_after_paging() {
    let mut m = Machine::legacy();
    m.map32(0x0040_0000, 0x0010_0000, UPA, UPA);
    m.mem.set_a20(false);
    assert_eq!(m.read(0x0040_0010), Ok(0x10));
}

#[test]
fn code_runs_through_paging_and_sets_dirty_bits() {
    use crate::cpu::state::{Segment, RAX};
    use crate::cpu::{Cpu, StopReason};
    use crate::devices::bus::PortBus;
    let mut m = Machine::legacy();
    // Identity-map the first 4 MiB, then make linear 0x0040_0000 hold the
    // code (physical 0x9000) and linear 0x0040_1000 the data (0xa000).
    m.set32(0x1000, 0x2000 | UPA);
    for i in 0..1024u64 {
        m.set32(0x2000 + i * 4, (i << 12) | UPA);
    }
    m.map32(0x0040_0000, 0x9000, UPA, UPA);
    m.map32(0x0040_1000, 0xa000, UPA, UPA);
    m.mem.write(0xa000, 4, 0x1234_5678);
    // mov eax, [0x401000]; mov [0x401004], eax; hlt
    let code = [
        0xa1, 0x00, 0x10, 0x40, 0x00, 0xa3, 0x04, 0x10, 0x40, 0x00, 0xf4,
    ];
    m.mem.write_bytes(0x9000, &code);
    let mut cpu = Cpu::new();
    cpu.state = m.s.clone();
    let flat = |sel, attr| Segment {
        selector: sel,
        attr,
        limit: 0xffff_ffff,
        base: 0,
    };
    cpu.state.seg = [flat(0x10, 0xc093); 6];
    cpu.state.seg[CS] = flat(0x08, 0xc09b);
    cpu.state.rip = 0x0040_0000;
    let mut io = PortBus::default();
    assert_eq!(cpu.run(&mut m.mem, &mut io, 10, None), StopReason::Halted);
    assert_eq!(cpu.state.gpr[RAX], 0x1234_5678);
    assert_eq!(m.mem.read(0xa004, 4), 0x1234_5678);
    assert_eq!(m.mem.read(pte32(0x0040_0000), 4) & (A | D), A);
    assert_eq!(m.mem.read(pte32(0x0040_1000), 4) & (A | D), A | D);
}

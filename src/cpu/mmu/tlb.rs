//! The soft TLB: recent linear-page to physical-page translations with the
//! permissions the walk found. Direct-mapped and keyed by the 4 KiB linear
//! page, so a hit is one compare and one bit test (SDM vol. 3, 4.10.2).
//!
//! An entry is only ever created by a successful walk, so it never caches a
//! not-present or faulting translation; it may go stale when the guest edits
//! its page tables without invalidating, exactly as hardware may.

/// Entry flags: what the walk found, for permission checks and the JIT.
pub mod flags {
    /// R/W=1 in every paging-structure entry used.
    pub const WRITABLE: u8 = 1 << 0;
    /// U/S=1 in every paging-structure entry used (a user-mode address).
    pub const USER: u8 = 1 << 1;
    /// XD=1 in some entry used, with EFER.NXE on.
    pub const NX: u8 = 1 << 2;
    /// The leaf's dirty bit is already set: writes need no walk.
    pub const DIRTY: u8 = 1 << 3;
    /// A global page (leaf G=1 with CR4.PGE=1): survives CR3 loads.
    pub const GLOBAL: u8 = 1 << 4;
    /// The page holds translated code (kept for the JIT).
    pub const CODE: u8 = 1 << 5;
}

/// Number of entries; a power of two.
pub const ENTRIES: usize = 512;

/// A tag no page-aligned linear address can equal.
const INVALID: u64 = 1;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbEntry {
    /// The 4 KiB-aligned linear page, or `INVALID`.
    pub tag: u64,
    /// The 4 KiB-aligned physical page (before the A20 gate).
    pub phys: u64,
    /// One bit per access kind (`mmu::kind`) that may use this entry
    /// without a walk; write kinds need `flags::DIRTY` as well.
    pub allowed: u16,
    pub flags: u8,
    /// log2 of the size of the page the walk found (12, 21, 22 or 30), for
    /// INVLPG of large pages.
    pub page_shift: u8,
}

const EMPTY: TlbEntry = TlbEntry {
    tag: INVALID,
    phys: 0,
    allowed: 0,
    flags: 0,
    page_shift: 12,
};

pub struct Tlb {
    entries: Box<[TlbEntry; ENTRIES]>,
    /// Linear page to RAM index for the fast handlers; flushed with this.
    pub host: HostTlb,
    /// Counts flushes: what was found through a translation (the decode
    /// cache's fetch entries) holds only while this stands.
    pub generation: u64,
    /// Some valid entry came from a page larger than 4 KiB.
    has_large: bool,
}

impl Default for Tlb {
    fn default() -> Self {
        Tlb {
            entries: Box::new([EMPTY; ENTRIES]),
            host: HostTlb::default(),
            generation: 0,
            has_large: false,
        }
    }
}

use super::host_tlb::HostTlb;

#[inline]
fn slot(linear: u64) -> usize {
    (linear >> 12) as usize & (ENTRIES - 1)
}

impl Tlb {
    /// The physical address of `linear` if a valid entry allows access
    /// kind `kind`.
    #[inline]
    pub fn lookup(&self, linear: u64, kind: usize) -> Option<u64> {
        let e = &self.entries[slot(linear)];
        if e.tag == linear & !0xfff && e.allowed & (1 << kind) != 0 {
            Some(e.phys | (linear & 0xfff))
        } else {
            None
        }
    }

    /// The entry for `linear`'s page, if one is cached.
    pub fn entry(&self, linear: u64) -> Option<&TlbEntry> {
        let e = &self.entries[slot(linear)];
        (e.tag == linear & !0xfff).then_some(e)
    }

    /// Caches a translation of `linear`'s page to the physical page `phys`.
    pub fn insert(&mut self, linear: u64, phys: u64, flags: u8, allowed: u16, page_shift: u8) {
        self.has_large |= page_shift > 12;
        self.entries[slot(linear)] = TlbEntry {
            tag: linear & !0xfff,
            phys: phys & !0xfff,
            allowed,
            flags,
            page_shift,
        };
    }

    /// Drops every translation (CR3 load without PGE, paging-mode changes).
    pub fn flush_all(&mut self) {
        self.entries.fill(EMPTY);
        self.host.flush();
        self.generation += 1;
        self.has_large = false;
    }

    /// Drops translations of non-global pages (CR3 load with PGE on).
    pub fn flush_non_global(&mut self) {
        self.host.flush();
        self.generation += 1;
        for e in self.entries.iter_mut() {
            if e.flags & flags::GLOBAL == 0 {
                *e = EMPTY;
            }
        }
    }

    /// Drops the translation of one linear page, global or not, and every
    /// entry that came from a large page covering it (INVLPG, SDM 4.10.4.1).
    pub fn flush_page(&mut self, linear: u64) {
        let e = &mut self.entries[slot(linear)];
        if e.tag == linear & !0xfff {
            *e = EMPTY;
        }
        self.host.flush_page(linear);
        self.generation += 1;
        if self.has_large {
            self.host.flush();
            for e in self.entries.iter_mut() {
                let shift = e.page_shift as u32;
                if shift > 12 && e.tag != INVALID && (e.tag ^ linear) >> shift == 0 {
                    *e = EMPTY;
                }
            }
        }
    }

    /// Number of valid entries (tests and statistics).
    pub fn len(&self) -> usize {
        self.entries.iter().filter(|e| e.tag != INVALID).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: u16 = 0xffff;

    #[test]
    fn hit_needs_matching_page_and_allowed_kind() {
        let mut t = Tlb::default();
        t.insert(0x0040_1000, 0x9000, 0, 0b1, 12);
        assert_eq!(t.lookup(0x0040_1234, 0), Some(0x9234));
        assert_eq!(t.lookup(0x0040_1234, 1), None);
        // Same slot, other page.
        assert_eq!(t.lookup(0x0040_1000 + (ENTRIES as u64) * 4096, 0), None);
    }

    #[test]
    fn non_global_flush_keeps_global_entries() {
        let mut t = Tlb::default();
        t.insert(0x1000, 0x5000, flags::GLOBAL, ALL, 12);
        t.insert(0x2000, 0x6000, 0, ALL, 12);
        t.flush_non_global();
        assert!(t.lookup(0x1000, 0).is_some());
        assert!(t.lookup(0x2000, 0).is_none());
        t.flush_all();
        assert!(t.is_empty());
    }

    #[test]
    fn flush_page_drops_every_entry_of_a_large_page() {
        let mut t = Tlb::default();
        // Two 4 KiB pieces of one 4 MiB page, and an unrelated small page.
        t.insert(0x0040_0000, 0x80_0000, flags::GLOBAL, ALL, 22);
        t.insert(0x0070_3000, 0xb0_3000, flags::GLOBAL, ALL, 22);
        t.insert(0x0080_5000, 0x5000, 0, ALL, 12);
        t.flush_page(0x0055_5555);
        assert!(t.lookup(0x0040_0000, 0).is_none());
        assert!(t.lookup(0x0070_3000, 0).is_none());
        assert!(t.lookup(0x0080_5000, 0).is_some());
        t.flush_page(0x0080_5fff);
        assert!(t.is_empty());
    }
}

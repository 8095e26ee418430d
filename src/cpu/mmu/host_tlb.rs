//! The host TLB: linear page to an index into guest RAM, for the
//! interpreter's fast handlers. A hit replaces the segment-free part of a
//! data access (TLB lookup, A20 gate, RAM/MMIO/ROM test, code-page note)
//! with one compare.
//!
//! An entry is only made from an access the short path already allowed
//! (`Exec::fast_data_phys`), to a page of plain RAM; a write entry also
//! needs a page without decoded code, so writes through it never have to
//! note self-modifying code. Every flush of the soft TLB flushes this one
//! too, and `GuestMemory::host_map_epoch` (A20 changes, new code pages)
//! flushes it before a block runs.

/// Number of entries; a power of two.
pub const ENTRIES: usize = 512;

/// A tag no lookup produces: lookups put only `kind` bits (< 0x10) below
/// the page number.
const INVALID: u64 = 0xfff;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HostEntry {
    /// Page | access kind for reads, or `INVALID`.
    read_tag: u64,
    /// Page | access kind for writes, or `INVALID`.
    write_tag: u64,
    /// Index in guest RAM of the page's first byte.
    ram: u64,
}

const EMPTY: HostEntry = HostEntry {
    read_tag: INVALID,
    write_tag: INVALID,
    ram: 0,
};

pub struct HostTlb {
    entries: Box<[HostEntry; ENTRIES]>,
    /// `GuestMemory::host_map_epoch` when the entries were made.
    pub epoch: u64,
}

impl Default for HostTlb {
    fn default() -> Self {
        HostTlb {
            entries: Box::new([EMPTY; ENTRIES]),
            epoch: 0,
        }
    }
}

#[inline(always)]
fn slot(linear: u64) -> usize {
    (linear >> 12) as usize & (ENTRIES - 1)
}

impl HostTlb {
    /// The RAM index of `size` bytes at `linear` for an access of `kind`
    /// (`mmu::kind` bits without WRITE) when one entry covers all of them:
    /// the tag is compared with the last byte's page, so an access that
    /// crosses a page never hits.
    #[inline(always)]
    pub fn lookup(&self, linear: u64, size: u64, kind: u64, write: bool) -> Option<usize> {
        let e = &self.entries[slot(linear)];
        let want = (linear.wrapping_add(size - 1) & !0xfff) | kind;
        let tag = if write { e.write_tag } else { e.read_tag };
        (tag == want).then(|| (e.ram + (linear & 0xfff)) as usize)
    }

    /// Records that `linear`'s page is RAM page `ram` for accesses of
    /// `kind`; a write entry serves reads of the same kind as well.
    pub fn fill(&mut self, linear: u64, ram: u64, kind: u64, write: bool) {
        let e = &mut self.entries[slot(linear)];
        let tag = (linear & !0xfff) | kind;
        let ram = ram & !0xfff;
        if e.ram != ram || (e.read_tag != tag && e.write_tag != tag) {
            *e = EMPTY;
        }
        e.ram = ram;
        e.read_tag = tag;
        if write {
            e.write_tag = tag;
        }
    }

    pub fn flush(&mut self) {
        self.entries.fill(EMPTY);
    }

    /// Drops what maps `linear`'s page.
    pub fn flush_page(&mut self, linear: u64) {
        let e = &mut self.entries[slot(linear)];
        if (e.read_tag ^ linear) & !0xfff == 0 || (e.write_tag ^ linear) & !0xfff == 0 {
            *e = EMPTY;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_needs_page_kind_and_direction() {
        let mut t = HostTlb::default();
        t.fill(0x7000_1000, 0x3000, 4, false);
        assert_eq!(t.lookup(0x7000_1ff8, 8, 4, false), Some(0x3ff8));
        assert_eq!(t.lookup(0x7000_1ff8, 8, 0, false), None, "other kind");
        assert_eq!(t.lookup(0x7000_1ff8, 8, 4, true), None, "read entry only");
        assert_eq!(t.lookup(0x7000_1ff9, 8, 4, false), None, "crosses the page");
        t.fill(0x7000_1000, 0x3000, 4, true);
        assert_eq!(t.lookup(0x7000_1000, 4, 4, true), Some(0x3000));
        assert_eq!(t.lookup(0x7000_1000, 4, 4, false), Some(0x3000));
    }

    #[test]
    fn refill_with_another_kind_or_page_drops_the_write_entry() {
        let mut t = HostTlb::default();
        t.fill(0x1000, 0x9000, 0, true);
        t.fill(0x1000, 0x9000, 4, false);
        assert_eq!(t.lookup(0x1000, 1, 0, true), None);
        assert_eq!(t.lookup(0x1000, 1, 4, false), Some(0x9000));
        t.fill(0x1000 + (ENTRIES as u64) * 4096, 0x5000, 4, false);
        assert_eq!(t.lookup(0x1000, 1, 4, false), None);
    }

    #[test]
    fn flushes_forget_entries() {
        let mut t = HostTlb::default();
        t.fill(0x1000, 0x9000, 0, true);
        t.fill(0x2000, 0xa000, 0, true);
        t.flush_page(0x1abc);
        assert_eq!(t.lookup(0x1000, 1, 0, false), None);
        assert_eq!(t.lookup(0x2000, 1, 0, false), Some(0xa000));
        t.flush();
        assert_eq!(t.lookup(0x2000, 1, 0, false), None);
    }
}

//! Guest physical memory: one anonymous RAM mapping, ROM regions and MMIO
//! windows on a physical map, and the A20 gate.

mod code_pages;
mod pam;
mod ram;

pub use code_pages::CodePages;
pub use pam::Pam;
pub use ram::Ram;

use crate::devices::bus::MmioBus;

/// A read-only region of the physical map (firmware images).
struct Rom {
    base: u64,
    data: Vec<u8>,
}

/// Where a physical address lands.
enum Target<'a> {
    Ram(usize),
    Rom(&'a Rom, usize),
    Mmio,
    Unmapped,
}

/// The guest's physical address space.
pub struct GuestMemory {
    ram: Ram,
    roms: Vec<Rom>,
    mmio: MmioBus,
    /// One flag per RAM page: true when a ROM or MMIO window covers part of
    /// it, so accesses there must take the slow path.
    overlaid_pages: Vec<bool>,
    /// When false, address line 20 is forced low (8086 wrap-around at 1 MiB).
    a20_enabled: bool,
    /// Counts changes that may invalidate a host TLB entry: A20 flips and
    /// new ROM/MMIO overlays (code pages count their own marks).
    layout_changes: u64,
    /// Pages that hold decoded guest code; writes to them must invalidate it.
    pub code_pages: CodePages,
    /// The chipset's shadow-RAM map of 0xC0000-0xFFFFF, once a board has
    /// one (`set_pam`); without it ROMs simply shadow RAM there.
    pam: Option<Pam>,
}

impl GuestMemory {
    /// RAM of `ram_size` bytes at physical 0, nothing else mapped.
    pub fn new(ram_size: u64) -> std::io::Result<Self> {
        let ram = Ram::new(ram_size)?;
        let pages = ram.len().div_ceil(4096);
        Ok(GuestMemory {
            ram,
            roms: Vec::new(),
            mmio: MmioBus::default(),
            overlaid_pages: vec![false; pages],
            a20_enabled: true,
            layout_changes: 0,
            code_pages: CodePages::new(pages),
            pam: None,
        })
    }

    pub fn ram_size(&self) -> u64 {
        self.ram.len() as u64
    }

    /// Maps `data` read-only at `base`; later ROMs shadow RAM and earlier ROMs.
    pub fn add_rom(&mut self, base: u64, data: Vec<u8>) {
        self.mark_overlaid(base, data.len() as u64);
        self.roms.push(Rom { base, data });
    }

    /// Places an MMIO window on the physical map.
    pub fn add_mmio(
        &mut self,
        base: u64,
        len: u64,
        dev: Box<dyn crate::devices::bus::MmioDevice>,
    ) -> Result<(), crate::devices::bus::OverlapError> {
        self.mmio.register(base, len, dev)?;
        self.mark_overlaid(base, len);
        Ok(())
    }

    /// Sends accesses that reach neither RAM, ROM nor an MMIO window to
    /// `dev` (the PCI bus: memory BARs the guest places at run time), with
    /// the absolute address as the offset.
    pub fn set_mmio_fallback(&mut self, dev: Box<dyn crate::devices::bus::MmioDevice>) {
        self.mmio.set_fallback(dev);
    }

    fn mark_overlaid(&mut self, base: u64, len: u64) {
        self.layout_changes += 1;
        let first = base >> 12;
        let last = base.saturating_add(len.max(1) - 1) >> 12;
        for page in first..=last.min(self.overlaid_pages.len() as u64) {
            if let Some(flag) = self.overlaid_pages.get_mut(page as usize) {
                *flag = true;
            }
        }
    }

    pub fn set_a20(&mut self, enabled: bool) {
        self.layout_changes += (self.a20_enabled != enabled) as u64;
        self.a20_enabled = enabled;
    }

    pub fn a20_enabled(&self) -> bool {
        self.a20_enabled
    }

    /// Applies the A20 gate to a physical address.
    #[inline]
    pub fn a20_mask(&self, addr: u64) -> u64 {
        if self.a20_enabled {
            addr
        } else {
            addr & !(1 << 20)
        }
    }

    /// Applies the chipset's PAM registers to 0xC0000-0xFFFFF. Decoded code
    /// from pages whose reads now come from elsewhere is dropped.
    pub fn set_pam(&mut self, pam: Pam) {
        let old = self.pam.unwrap_or_default();
        if self.pam.is_none() {
            self.mark_overlaid(pam::PAM_START, pam::PAM_END - pam::PAM_START);
        }
        for page in old.pages_changed(&pam) {
            self.code_pages.note_write(page);
        }
        self.pam = Some(pam);
    }

    /// The PAM registers in effect (all zero before a board sets them).
    pub fn pam(&self) -> Pam {
        self.pam.unwrap_or_default()
    }

    /// Where a read or write of `addr` lands, with the PAM's say in
    /// 0xC0000-0xFFFFF: DRAM there, or else the ROM or nothing.
    #[inline]
    fn target_for(&self, addr: u64, write: bool) -> Target<'_> {
        match self.pam.and_then(|p| p.to_dram(addr, write)) {
            Some(true) if addr < self.ram.len() as u64 => Target::Ram(addr as usize),
            Some(true) => Target::Unmapped,
            Some(false) => match self.target(addr) {
                Target::Ram(_) => Target::Unmapped,
                other => other,
            },
            None => self.target(addr),
        }
    }

    fn target(&self, addr: u64) -> Target<'_> {
        for rom in self.roms.iter().rev() {
            if addr >= rom.base && addr - rom.base < rom.data.len() as u64 {
                return Target::Rom(rom, (addr - rom.base) as usize);
            }
        }
        if self.mmio.contains(addr) {
            return Target::Mmio;
        }
        if addr < self.ram.len() as u64 {
            return Target::Ram(addr as usize);
        }
        Target::Unmapped
    }

    /// The RAM bytes at `addr..addr+len` when they are plain RAM (no ROM or
    /// MMIO overlay), for fast paths and loaders.
    #[inline]
    pub fn ram_slice(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let end = addr.checked_add(len as u64)?;
        if len == 0 || end > self.ram.len() as u64 || self.overlaid(addr, end) {
            return None;
        }
        Some(&self.ram.as_slice()[addr as usize..end as usize])
    }

    /// Whether any byte of `start..end` (within RAM) lies in a page that a
    /// ROM or MMIO window touches.
    #[inline]
    fn overlaid(&self, start: u64, end: u64) -> bool {
        let (first, last) = ((start >> 12) as usize, ((end - 1) >> 12) as usize);
        self.overlaid_pages[first]
            || (last != first && self.overlaid_pages[last])
            || (last > first + 1 && self.overlaid_pages[first + 1..last].iter().any(|&f| f))
    }

    pub fn read_u8(&mut self, addr: u64) -> u8 {
        match self.target_for(addr, false) {
            Target::Ram(i) => self.ram.as_slice()[i],
            Target::Rom(rom, i) => rom.data[i],
            // Unmapped: the fallback (PCI memory decode) or the floating bus.
            Target::Mmio | Target::Unmapped => self.mmio.read(addr, 1) as u8,
        }
    }

    pub fn write_u8(&mut self, addr: u64, value: u8) {
        match self.target_for(addr, true) {
            Target::Ram(i) => {
                self.ram.as_mut_slice()[i] = value;
                self.code_pages.note_write(addr);
            }
            Target::Mmio | Target::Unmapped => self.mmio.write(addr, 1, value as u64),
            Target::Rom(..) => {}
        }
    }

    /// Changes since which a host TLB entry may be stale: its owner flushes
    /// when this differs from the value at its fills.
    #[inline]
    pub fn host_map_epoch(&self) -> u64 {
        self.layout_changes + self.code_pages.marks()
    }

    /// The RAM index of the page at physical `addr` when a host TLB entry
    /// may map it: plain RAM with 8 bytes to spare after it (fast reads
    /// load 8 bytes), and for `write` no decoded code on it.
    pub fn host_page(&self, addr: u64, write: bool) -> Option<u64> {
        let page = addr & !0xfff;
        let index = (page >> 12) as usize;
        let ram_ok = page.checked_add(0x1000 + 8)? <= self.ram.len() as u64;
        let plain = !*self.overlaid_pages.get(index)?;
        let code = self.code_pages.has_code(page);
        (ram_ok && plain && !(write && code)).then_some(page)
    }

    /// Little-endian read of `size` (1, 2, 4 or 8) bytes at RAM index
    /// `index`: one 8-byte load and a mask (`host_page` and `read` make
    /// sure the 8 bytes are RAM).
    #[inline(always)]
    pub fn host_read(&self, index: usize, size: u32) -> Option<u64> {
        let b = self.ram.as_slice().get(index..index + 8)?;
        let w = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        Some(w & (u64::MAX >> (64 - 8 * size.clamp(1, 8))))
    }

    /// Little-endian write of `size` (1, 2, 4 or 8) bytes at RAM index
    /// `index`, without a code-page note: `write` makes it, a host TLB
    /// write hit needs none (its page has no code). `None` for other
    /// sizes or past RAM.
    #[inline(always)]
    pub fn host_write(&mut self, index: usize, size: u32, value: u64) -> Option<()> {
        let ram = self.ram.as_mut_slice();
        match size {
            1 => *ram.get_mut(index)? = value as u8,
            2 => ram
                .get_mut(index..index + 2)?
                .copy_from_slice(&(value as u16).to_le_bytes()),
            4 => ram
                .get_mut(index..index + 4)?
                .copy_from_slice(&(value as u32).to_le_bytes()),
            8 => ram
                .get_mut(index..index + 8)?
                .copy_from_slice(&value.to_le_bytes()),
            _ => return None,
        }
        Some(())
    }

    /// The RAM index of `size` bytes at `addr` when they sit in one plain
    /// RAM page (the common case, served without a copy loop).
    #[inline(always)]
    fn plain_ram_index(&self, addr: u64, size: u32) -> Option<usize> {
        let end = addr.wrapping_add(size as u64);
        let within_page = (addr & 0xfff) + size as u64 <= 0x1000;
        if within_page && end <= self.ram.len() as u64 && end > addr {
            let page = (addr >> 12) as usize;
            if !*self.overlaid_pages.get(page)? {
                return Some(addr as usize);
            }
        }
        None
    }

    /// Little-endian read of `size` (1, 2, 4 or 8) bytes.
    #[inline(always)]
    pub fn read(&mut self, addr: u64, size: u32) -> u64 {
        if let Some(i) = self.plain_ram_index(addr, size) {
            // When RAM goes on that far (the bytes past the access are RAM
            // too, and masked off).
            if let Some(v) = self.host_read(i, size) {
                return v;
            }
        }
        self.read_slow(addr, size)
    }

    #[inline(never)]
    fn read_slow(&mut self, addr: u64, size: u32) -> u64 {
        let len = size as usize;
        if let Some(bytes) = self.ram_slice(addr, len) {
            let mut buf = [0u8; 8];
            buf[..len].copy_from_slice(bytes);
            return u64::from_le_bytes(buf);
        }
        if self.one_mmio_access(addr, size) {
            return self.mmio.read(addr, size);
        }
        let mut value = 0u64;
        for i in 0..size as u64 {
            value |= (self.read_u8(self.a20_mask(addr.wrapping_add(i))) as u64) << (8 * i);
        }
        value
    }

    /// Little-endian write of `size` (1, 2, 4 or 8) bytes.
    #[inline]
    pub fn write(&mut self, addr: u64, size: u32, value: u64) {
        if let Some(i) = self.plain_ram_index(addr, size) {
            if self.host_write(i, size, value).is_some() {
                // One page: one note covers it.
                self.code_pages.note_write(addr);
                return;
            }
        }
        self.write_slow(addr, size, value)
    }

    fn write_slow(&mut self, addr: u64, size: u32, value: u64) {
        let len = size as usize;
        let end = addr.saturating_add(len as u64);
        if len > 0 && end <= self.ram.len() as u64 && !self.overlaid(addr, end) {
            let i = addr as usize;
            self.ram.as_mut_slice()[i..i + len].copy_from_slice(&value.to_le_bytes()[..len]);
            self.code_pages.note_write(addr);
            self.code_pages.note_write(end - 1);
            return;
        }
        if self.one_mmio_access(addr, size) {
            return self.mmio.write(addr, size, value);
        }
        for i in 0..size as u64 {
            self.write_u8(
                self.a20_mask(addr.wrapping_add(i)),
                (value >> (8 * i)) as u8,
            );
        }
    }

    /// Whether an access of `size` bytes at `addr` goes to the MMIO bus as
    /// one access: inside one window, or wholly unclaimed (the fallback).
    fn one_mmio_access(&self, addr: u64, size: u32) -> bool {
        let Some(last) = addr.checked_add(size.max(1) as u64 - 1) else {
            return false;
        };
        match (self.target(addr), self.target(last)) {
            (Target::Mmio, Target::Mmio) => self.mmio.contains(last),
            (Target::Unmapped, Target::Unmapped) => {
                // Below 1 MiB the PAM and the A20 gate have their say
                // byte by byte.
                let claimed = self.mmio.overlaps(addr, last) || self.mmio.contains(last);
                addr >= pam::PAM_END && self.a20_enabled && !claimed
            }
            _ => false,
        }
    }

    /// Copies `data` into guest memory (loaders); bytes past RAM are dropped.
    pub fn write_bytes(&mut self, addr: u64, data: &[u8]) {
        // Page by page: plain RAM pages in one copy, the rest byte-wise.
        let mut done = 0usize;
        while done < data.len() {
            let at = addr + done as u64;
            let chunk = ((0x1000 - (at & 0xfff)) as usize).min(data.len() - done);
            if let Some(dst) = self.ram_slice_mut(at, chunk) {
                dst.copy_from_slice(&data[done..done + chunk]);
                self.code_pages.note_write(at);
            } else {
                for (i, b) in data[done..done + chunk].iter().enumerate() {
                    self.write_u8(at + i as u64, *b);
                }
            }
            done += chunk;
        }
    }

    /// REP MOVS in bulk over `len` bytes starting at the lowest addresses
    /// `src` and `dst`, moving `size`-byte elements in ascending or
    /// descending order (DF) with the CPU's element-by-element result even
    /// when the ranges overlap. False when either range is not plain RAM
    /// (the caller then takes the careful path).
    pub fn copy_ram(
        &mut self,
        src: u64,
        dst: u64,
        len: usize,
        size: usize,
        descending: bool,
    ) -> bool {
        let plain = |m: &Self, a: u64| {
            a.checked_add(len as u64)
                .is_some_and(|end| len > 0 && end <= m.ram.len() as u64 && !m.overlaid(a, end))
        };
        if !plain(self, src) || !plain(self, dst) {
            return false;
        }
        let (s, d) = (src as usize, dst as usize);
        let ram = self.ram.as_mut_slice();
        let disjoint = d + len <= s || s + len <= d;
        // Moving away from the source in the copy's direction behaves like
        // memmove; towards it, each element reads what earlier ones wrote.
        if disjoint || (descending && d > s) || (!descending && d < s) {
            ram.copy_within(s..s + len, d);
        } else {
            let n = len / size;
            for k in 0..n {
                let k = if descending { n - 1 - k } else { k };
                let mut e = [0u8; 8];
                e[..size].copy_from_slice(&ram[s + k * size..s + (k + 1) * size]);
                ram[d + k * size..d + (k + 1) * size].copy_from_slice(&e[..size]);
            }
        }
        self.code_pages.note_write(dst);
        self.code_pages.note_write(dst + len as u64 - 1);
        true
    }

    /// REP STOS in bulk: `count` elements of `size` bytes of `value`.
    pub fn fill_ram(&mut self, dst: u64, value: u64, size: u32, count: usize) -> bool {
        let len = count * size as usize;
        let Some(bytes) = self.ram_slice_mut(dst, len) else {
            return false;
        };
        let pattern = &value.to_le_bytes()[..size as usize];
        for chunk in bytes.chunks_exact_mut(size as usize) {
            chunk.copy_from_slice(pattern);
        }
        self.code_pages.note_write(dst);
        self.code_pages.note_write(dst + len as u64 - 1);
        true
    }

    /// Mutable plain-RAM bytes (no ROM or MMIO overlay). The caller must
    /// tell `code_pages` about the write.
    pub fn ram_slice_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        let end = addr.checked_add(len as u64)?;
        if len == 0 || end > self.ram.len() as u64 || self.overlaid(addr, end) {
            return None;
        }
        Some(&mut self.ram.as_mut_slice()[addr as usize..end as usize])
    }

    /// Copies guest memory into `buf` (instruction fetch across regions).
    pub fn read_bytes(&mut self, addr: u64, buf: &mut [u8]) {
        if let Some(bytes) = self.ram_slice(addr, buf.len()) {
            buf.copy_from_slice(bytes);
            return;
        }
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.read_u8(self.a20_mask(addr + i as u64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_reads_back_what_was_written() {
        let mut m = GuestMemory::new(1 << 20).unwrap();
        m.write(0x1234, 4, 0xdead_beef);
        assert_eq!(m.read(0x1234, 4), 0xdead_beef);
        assert_eq!(m.read(0x1235, 2), 0xadbe);
        assert_eq!(m.read_u8(0x1237), 0xde);
    }

    #[test]
    fn unmapped_reads_all_ones_and_writes_vanish() {
        let mut m = GuestMemory::new(4096).unwrap();
        m.write(0x10_0000, 2, 0x1234);
        assert_eq!(m.read(0x10_0000, 2), 0xffff);
        // A word straddling the end of RAM: low byte RAM, high byte open bus.
        m.write_u8(4095, 0x12);
        assert_eq!(m.read(4095, 2), 0xff12);
    }

    #[test]
    fn pam_moves_the_bios_area_between_rom_and_shadow_ram() {
        let mut m = GuestMemory::new(1 << 20).unwrap();
        m.add_rom(0xe0000, vec![0xaa; 0x20000]);
        m.set_pam(Pam::default());
        // Reset state: reads from ROM (or nothing), writes dropped.
        m.write(0xf0010, 1, 0x55);
        assert_eq!(m.read(0xf0010, 1), 0xaa);
        assert_eq!(m.read(0xc0000, 1), 0xff, "no ROM at C0000: the bus floats");
        // Write-enable F0000, copy the ROM down, then read-enable it.
        m.set_pam(Pam([0x20, 0, 0, 0, 0, 0, 0]));
        m.write(0xf0010, 1, 0x55);
        assert_eq!(m.read(0xf0010, 1), 0xaa, "reads still from ROM");
        m.set_pam(Pam([0x30, 0, 0, 0, 0, 0, 0]));
        assert_eq!(m.read(0xf0010, 2), 0x0055, "shadow RAM now");
        assert_eq!(m.read(0xeffff, 1), 0xaa, "E0000 segments unchanged");
        // Read-only shadow: writes go to the ROM side and vanish.
        m.set_pam(Pam([0x10, 0, 0, 0, 0, 0, 0]));
        m.write(0xf0010, 1, 0x66);
        assert_eq!(m.read(0xf0010, 1), 0x55);
    }

    #[test]
    fn rom_shadows_ram_and_ignores_writes() {
        let mut m = GuestMemory::new(1 << 20).unwrap();
        m.add_rom(0xf0000, vec![0xaa; 0x10000]);
        m.write(0xf0010, 1, 0x55);
        assert_eq!(m.read(0xf0010, 1), 0xaa);
        assert!(m.ram_slice(0xeffff, 2).is_none());
    }

    /// Element-by-element REP MOVS as the CPU does it, for reference.
    fn reference_copy(
        ram: &mut [u8],
        src: usize,
        dst: usize,
        n: usize,
        size: usize,
        descending: bool,
    ) {
        for k in 0..n {
            let k = if descending { n - 1 - k } else { k };
            let e: Vec<u8> = ram[src + k * size..src + (k + 1) * size].to_vec();
            ram[dst + k * size..dst + (k + 1) * size].copy_from_slice(&e);
        }
    }

    #[test]
    fn bulk_copy_matches_element_by_element_copy() {
        for size in [1usize, 2, 4, 8] {
            for descending in [false, true] {
                for delta in [-9i64, -4, -1, 0, 1, 3, 4, 8, 40, -40] {
                    let mut m = GuestMemory::new(1 << 16).unwrap();
                    let mut reference = vec![0u8; 256];
                    for (i, b) in reference.iter_mut().enumerate() {
                        *b = (i * 7 + 1) as u8;
                    }
                    m.write_bytes(0, &reference);
                    let (src, n) = (64usize, 12usize);
                    let dst = (src as i64 + delta) as usize;
                    reference_copy(&mut reference, src, dst, n, size, descending);
                    assert!(m.copy_ram(src as u64, dst as u64, n * size, size, descending));
                    let mut got = vec![0u8; 256];
                    m.read_bytes(0, &mut got);
                    assert_eq!(
                        got, reference,
                        "size {size} descending {descending} delta {delta}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_size_round_trips_at_page_edges() {
        let mut m = GuestMemory::new(3 << 12).unwrap();
        for size in [1u32, 2, 4, 8] {
            for addr in [0x0u64, 0xffc, 0xffd, 0xfff, 0x1ff8, 0x2ffc] {
                let v = 0x8877_6655_4433_2211u64 & (u64::MAX >> (64 - 8 * size));
                m.write(addr, size, v);
                let end = (addr + size as u64).min(3 << 12);
                let ram_bytes = (end - addr) as u32;
                let expect_mask = u64::MAX >> (64 - 8 * ram_bytes);
                let open_bus = !expect_mask & (u64::MAX >> (64 - 8 * size));
                assert_eq!(
                    m.read(addr, size),
                    (v & expect_mask) | open_bus,
                    "{size}@{addr:#x}"
                );
            }
        }
    }

    #[test]
    fn a20_gate_wraps_at_one_megabyte() {
        let mut m = GuestMemory::new(2 << 20).unwrap();
        m.write_u8(0x10_0000, 1);
        m.write_u8(0, 2);
        assert_eq!(m.a20_mask(0x10_0000), 0x10_0000);
        m.set_a20(false);
        assert_eq!(m.read_u8(m.a20_mask(0x10_0000)), 2);
    }
}

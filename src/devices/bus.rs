//! Port-I/O and MMIO buses: ordered maps of address ranges to devices.
//! Registration refuses overlaps, so wiring mistakes show at build time of
//! the machine, not as a device answering for its neighbour.

use std::collections::BTreeMap;
use std::fmt;

/// A device on the port-I/O bus. `offset` is relative to the base the device
/// was registered at; `size` is 1, 2 or 4 bytes.
pub trait PortDevice {
    fn read(&mut self, offset: u16, size: u8) -> u32;
    fn write(&mut self, offset: u16, size: u8, value: u32);
}

/// A device on the MMIO bus. `offset` is relative to its base; `size` is 1, 2,
/// 4 or 8 bytes.
pub trait MmioDevice {
    fn read(&mut self, offset: u64, size: u32) -> u64;
    fn write(&mut self, offset: u64, size: u32, value: u64);
}

#[derive(Debug, PartialEq, Eq)]
pub struct OverlapError {
    pub base: u64,
    pub len: u64,
}

impl fmt::Display for OverlapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bus range {:#x}+{:#x} overlaps a registered device",
            self.base, self.len
        )
    }
}

impl std::error::Error for OverlapError {}

/// Ranges keyed by base; each entry holds its length and device.
struct RangeMap<D: ?Sized> {
    ranges: BTreeMap<u64, (u64, Box<D>)>,
}

impl<D: ?Sized> Default for RangeMap<D> {
    fn default() -> Self {
        RangeMap {
            ranges: BTreeMap::new(),
        }
    }
}

impl<D: ?Sized> RangeMap<D> {
    fn insert(&mut self, base: u64, len: u64, dev: Box<D>) -> Result<(), OverlapError> {
        let end = base.checked_add(len).ok_or(OverlapError { base, len })?;
        let clash_below = self
            .ranges
            .range(..end)
            .next_back()
            .is_some_and(|(b, (l, _))| b + l > base);
        if len == 0 || clash_below {
            return Err(OverlapError { base, len });
        }
        self.ranges.insert(base, (len, dev));
        Ok(())
    }

    /// The device covering `addr` and the offset of `addr` within it.
    fn find(&mut self, addr: u64) -> Option<(&mut D, u64)> {
        let (base, (len, dev)) = self.ranges.range_mut(..=addr).next_back()?;
        (addr - base < *len).then(|| (dev.as_mut(), addr - base))
    }

    fn contains(&self, addr: u64) -> bool {
        self.ranges
            .range(..=addr)
            .next_back()
            .is_some_and(|(b, (l, _))| addr - b < *l)
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.ranges
            .range(..end)
            .next_back()
            .is_some_and(|(b, (l, _))| b + l > start)
    }
}

/// The 64 KiB I/O port space. Unclaimed ports read as all ones and ignore
/// writes, as on a PC's ISA bus.
#[derive(Default)]
pub struct PortBus {
    map: RangeMap<dyn PortDevice>,
    /// The machine's clock: the CPU publishes its instruction count here
    /// before each access, so timer devices read the present time.
    pub clock: Option<crate::machine::clock::Clock>,
    /// Where accesses to ports no registered range claims go (the PCI
    /// bus, whose functions decode I/O windows the guest moves at run
    /// time). It gets the absolute port as the offset.
    fallback: Option<Box<dyn PortDevice>>,
}

impl PortBus {
    pub fn register(
        &mut self,
        base: u16,
        len: u16,
        dev: Box<dyn PortDevice>,
    ) -> Result<(), OverlapError> {
        self.map.insert(base as u64, len as u64, dev)
    }

    /// Sends accesses to unclaimed ports to `dev` (with the absolute port as
    /// the offset) instead of floating the bus.
    pub fn set_fallback(&mut self, dev: Box<dyn PortDevice>) {
        self.fallback = Some(dev);
    }

    /// Publishes the vCPU's retired-instruction count to the clock.
    #[inline]
    pub fn sync_time(&self, icount: u64) {
        if let Some(c) = &self.clock {
            c.set_icount(icount);
        }
    }

    pub fn read(&mut self, port: u16, size: u8) -> u32 {
        let size = size.clamp(1, 4);
        match self.map.find(port as u64) {
            Some((dev, off)) => dev.read(off as u16, size),
            None => match &mut self.fallback {
                Some(dev) => dev.read(port, size),
                None => u32::MAX >> (32 - 8 * size as u32),
            },
        }
    }

    pub fn write(&mut self, port: u16, size: u8, value: u32) {
        match self.map.find(port as u64) {
            Some((dev, off)) => dev.write(off as u16, size, value),
            None => {
                if let Some(dev) = &mut self.fallback {
                    dev.write(port, size, value);
                }
            }
        }
    }
}

/// Memory-mapped device windows on the physical map.
#[derive(Default)]
pub struct MmioBus {
    map: RangeMap<dyn MmioDevice>,
    /// Where accesses no registered window (nor RAM or ROM) claims go: the
    /// PCI bus, whose functions' memory BARs move at run time. It gets the
    /// absolute address as the offset.
    fallback: Option<Box<dyn MmioDevice>>,
}

impl MmioBus {
    pub fn register(
        &mut self,
        base: u64,
        len: u64,
        dev: Box<dyn MmioDevice>,
    ) -> Result<(), OverlapError> {
        self.map.insert(base, len, dev)
    }

    pub fn contains(&self, addr: u64) -> bool {
        self.map.contains(addr)
    }

    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.map.overlaps(start, end)
    }

    /// Sends accesses to unclaimed addresses to `dev` (with the absolute
    /// address as the offset) instead of floating the bus.
    pub fn set_fallback(&mut self, dev: Box<dyn MmioDevice>) {
        self.fallback = Some(dev);
    }

    pub fn read(&mut self, addr: u64, size: u32) -> u64 {
        let size = size.clamp(1, 8);
        match self.map.find(addr) {
            Some((dev, off)) => dev.read(off, size),
            None => match &mut self.fallback {
                Some(dev) => dev.read(addr, size),
                None => u64::MAX >> (64 - 8 * size),
            },
        }
    }

    pub fn write(&mut self, addr: u64, size: u32, value: u64) {
        match self.map.find(addr) {
            Some((dev, off)) => dev.write(off, size, value),
            None => {
                if let Some(dev) = &mut self.fallback {
                    dev.write(addr, size, value);
                }
            }
        }
    }
}

/// A device shared between the bus and the machine (which also drives its
/// timers or reads its interrupt output): the bus forwards to it.
impl<T: PortDevice + ?Sized> PortDevice for std::sync::Arc<std::sync::Mutex<T>> {
    fn read(&mut self, offset: u16, size: u8) -> u32 {
        self.lock()
            .unwrap_or_else(|e| e.into_inner())
            .read(offset, size)
    }

    fn write(&mut self, offset: u16, size: u8, value: u32) {
        self.lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(offset, size, value)
    }
}

/// The MMIO counterpart: the memory map forwards to a device the machine
/// also drives (the local APIC, I/O APIC and HPET).
impl<T: MmioDevice + ?Sized> MmioDevice for std::sync::Arc<std::sync::Mutex<T>> {
    fn read(&mut self, offset: u64, size: u32) -> u64 {
        self.lock()
            .unwrap_or_else(|e| e.into_inner())
            .read(offset, size)
    }

    fn write(&mut self, offset: u64, size: u32, value: u64) {
        self.lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(offset, size, value)
    }
}

/// ISA devices are byte-wide: a 16- or 32-bit access is split by the bus into
/// byte accesses at consecutive ports, low byte first. `read_byte` gets the
/// port offset of each byte (which may lie past the device's range: it should
/// answer 0xff there, as the empty bus would).
pub fn split_read(offset: u16, size: u8, mut read_byte: impl FnMut(u16) -> u8) -> u32 {
    (0..size.clamp(1, 4) as u16).fold(0, |acc, i| {
        acc | (read_byte(offset.wrapping_add(i)) as u32) << (8 * i)
    })
}

/// The write counterpart of [`split_read`].
pub fn split_write(offset: u16, size: u8, value: u32, mut write_byte: impl FnMut(u16, u8)) {
    for i in 0..size.clamp(1, 4) as u16 {
        write_byte(offset.wrapping_add(i), (value >> (8 * i)) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Latch(u32);
    impl PortDevice for Latch {
        fn read(&mut self, offset: u16, _size: u8) -> u32 {
            self.0 + offset as u32
        }
        fn write(&mut self, _offset: u16, _size: u8, value: u32) {
            self.0 = value;
        }
    }

    #[test]
    fn ports_route_by_range_with_offsets() {
        let mut bus = PortBus::default();
        bus.register(0x60, 2, Box::new(Latch(0x10))).unwrap();
        assert_eq!(bus.read(0x61, 1), 0x11);
        bus.write(0x60, 1, 0x40);
        assert_eq!(bus.read(0x60, 1), 0x40);
        assert_eq!(bus.read(0x62, 1), 0xff);
        assert_eq!(bus.read(0x5f, 2), 0xffff);
    }

    #[test]
    fn unclaimed_ports_go_to_the_fallback_with_absolute_port() {
        let mut bus = PortBus::default();
        bus.register(0x60, 2, Box::new(Latch(0x10))).unwrap();
        assert_eq!(bus.read(0x1234, 2), 0xffff);
        bus.set_fallback(Box::new(Latch(0)));
        assert_eq!(bus.read(0x1234, 1), 0x1234);
        bus.write(0x61, 1, 0x40);
        assert_eq!(bus.read(0x60, 1), 0x40, "claimed ports never reach it");
    }

    struct Cell(u64);
    impl MmioDevice for Cell {
        fn read(&mut self, offset: u64, _size: u32) -> u64 {
            self.0 ^ offset
        }
        fn write(&mut self, _offset: u64, _size: u32, value: u64) {
            self.0 = value;
        }
    }

    #[test]
    fn unclaimed_mmio_goes_to_the_fallback_with_absolute_address() {
        let mut bus = MmioBus::default();
        bus.register(0x1000, 0x100, Box::new(Cell(0))).unwrap();
        assert_eq!(bus.read(0x8000, 4), 0xffff_ffff, "floats without one");
        bus.set_fallback(Box::new(Cell(0)));
        assert_eq!(bus.read(0x8000, 4), 0x8000);
        bus.write(0x1010, 4, 0x55);
        assert_eq!(bus.read(0x1000, 4), 0x55, "claimed windows never reach it");
        bus.write(0x8000, 4, 0x100);
        assert_eq!(bus.read(0x8000, 4), 0x8100);
    }

    #[test]
    fn overlapping_ranges_are_refused() {
        let mut bus = PortBus::default();
        bus.register(0x60, 4, Box::new(Latch(0))).unwrap();
        assert!(bus.register(0x63, 1, Box::new(Latch(0))).is_err());
        assert!(bus.register(0x5f, 2, Box::new(Latch(0))).is_err());
        assert!(bus.register(0x64, 1, Box::new(Latch(0))).is_ok());
        assert!(bus.register(0x70, 0, Box::new(Latch(0))).is_err());
    }
}

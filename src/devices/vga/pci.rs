//! The VGA as a PCI function, as QEMU's `-vga std` / `-device VGA`
//! (QEMU's docs/specs/standard-vga.rst): 1234:1111, class 0x030000,
//! subsystem 1af4:1100, revision 2 (the QEMU extended registers exist).
//!
//! - BAR0: the framebuffer, 16 MiB of prefetchable 32-bit memory.
//! - BAR2: 4 KiB of MMIO registers: 0x400-0x41F the VGA ports
//!   0x3C0-0x3DF (byte-wide), 0x500-0x515 the dispi registers (16 bits
//!   each, register n at 0x500 + 2n), 0x600 the QEMU extension (its size,
//!   and the framebuffer byte order). 0x000-0x3FF would hold an EDID blob;
//!   it reads zeros (no EDID), so drivers use their default modes.
//! - The expansion ROM BAR holds the PCI VGA BIOS (SeaBIOS copies and runs
//!   it from there, as it does QEMU's), when one is given.
//!
//! The legacy ports and the 0xA0000 window decode whatever the command
//! register says, as on QEMU; the BARs follow the command register and
//! their address registers on every access (the bus is the memory map's
//! fallback, see `devices::pci`).

use super::{lock, SharedVga, VGA_PORTS, VRAM_SIZE};
use crate::devices::pci::{PciBarKind, PciConfig, PciFunction, ROM_REGION};

/// The slot QEMU's PC machines give the VGA: 00:02.0.
pub const VGA_PCI_DEVICE: u8 = 2;
/// Size of the MMIO register BAR.
pub const MMIO_BAR_SIZE: u64 = 0x1000;

const LFB_BAR: usize = 0;
const MMIO_BAR: usize = 2;

/// Windows in the MMIO BAR.
const MMIO_VGA_PORTS: u64 = 0x400;
const MMIO_VGA_PORTS_SIZE: u64 = 0x20;
const MMIO_DISPI: u64 = 0x500;
const MMIO_DISPI_SIZE: u64 = 0x0b * 2;
const MMIO_QEXT: u64 = 0x600;
const MMIO_QEXT_SIZE: u64 = 8;
/// The byte-order register's values: the framebuffer is little-endian.
const QEXT_LITTLE_ENDIAN: u32 = 0x1e1e_1e1e;

pub struct VgaPci {
    config: PciConfig,
    vga: SharedVga,
    rom: Vec<u8>,
}

impl VgaPci {
    /// The function driving `vga`, with `rom` (may be empty: no ROM BAR)
    /// behind its expansion ROM BAR.
    pub fn new(vga: SharedVga, rom: Vec<u8>) -> Self {
        let mut config = PciConfig::new(0x1234, 0x1111, 0x03_00_00, 0x02, 0x00);
        // Subsystem vendor and ID, read-only.
        config.define(0x2c, 0xf4, 0);
        config.define(0x2d, 0x1a, 0);
        config.define(0x2e, 0x00, 0);
        config.define(0x2f, 0x11, 0);
        config.set_bar(
            LFB_BAR,
            VRAM_SIZE as u64,
            PciBarKind::Memory32 { prefetchable: true },
        );
        config.set_bar(
            MMIO_BAR,
            MMIO_BAR_SIZE,
            PciBarKind::Memory32 {
                prefetchable: false,
            },
        );
        if !rom.is_empty() {
            config.set_rom_bar(rom.len() as u64);
        }
        VgaPci { config, vga, rom }
    }

    /// Puts the ROM behind the expansion ROM BAR (before the guest runs).
    pub fn set_rom(&mut self, rom: Vec<u8>) {
        if !rom.is_empty() {
            self.config.set_rom_bar(rom.len() as u64);
        }
        self.rom = rom;
    }

    /// What firmware does for the card before an OS starts: the
    /// framebuffer and register BARs at `lfb` and `mmio`, the ROM BAR (left
    /// disabled) at `rom`, and memory and I/O decoding on.
    pub fn firmware_setup(&mut self, lfb: u32, mmio: u32, rom: u32) {
        let all = 0xffff_ffff;
        self.config.write(0x10 + 4 * LFB_BAR as u8, lfb, all);
        self.config.write(0x10 + 4 * MMIO_BAR as u8, mmio, all);
        self.config.write(0x30, rom, all);
        self.config.write(0x04, 0x0003, 0xffff);
    }

    fn mmio_regs_read(&mut self, offset: u64, size: u32) -> u64 {
        let mut vga = lock(&self.vga);
        match offset {
            o if (MMIO_VGA_PORTS..MMIO_VGA_PORTS + MMIO_VGA_PORTS_SIZE).contains(&o) => {
                let port = 0x3c0 + (o - MMIO_VGA_PORTS) as u16;
                (0..size as u16).fold(0, |v, i| {
                    let p = port.wrapping_add(i);
                    let b = if p < VGA_PORTS.0 + VGA_PORTS.1 {
                        vga.read_port(p)
                    } else {
                        0
                    };
                    v | (b as u64) << (8 * i)
                })
            }
            o if (MMIO_DISPI..MMIO_DISPI + MMIO_DISPI_SIZE).contains(&o) => {
                // As QEMU: an access selects the register through the
                // index, then reads it; wider accesses take the next too.
                let first = (o - MMIO_DISPI) / 2;
                let regs = ((o & 1) + size as u64).div_ceil(2);
                let mut value = 0u128;
                for r in 0..regs {
                    vga.dispi.index = (first + r) as u16;
                    value |= (vga.dispi.read() as u128) << (16 * r);
                }
                (value >> (8 * (o & 1))) as u64 & (u64::MAX >> (64 - 8 * size))
            }
            o if (MMIO_QEXT..MMIO_QEXT + MMIO_QEXT_SIZE).contains(&o) => {
                let regs = MMIO_QEXT_SIZE | (QEXT_LITTLE_ENDIAN as u64) << 32;
                regs >> (8 * (o - MMIO_QEXT)) & (u64::MAX >> (64 - 8 * size))
            }
            _ => 0,
        }
    }

    fn mmio_regs_write(&mut self, offset: u64, size: u32, value: u64) {
        let mut vga = lock(&self.vga);
        match offset {
            o if (MMIO_VGA_PORTS..MMIO_VGA_PORTS + MMIO_VGA_PORTS_SIZE).contains(&o) => {
                let port = 0x3c0 + (o - MMIO_VGA_PORTS) as u16;
                for i in 0..size as u16 {
                    let p = port.wrapping_add(i);
                    if p < VGA_PORTS.0 + VGA_PORTS.1 {
                        vga.write_port(p, (value >> (8 * i)) as u8);
                    }
                }
            }
            o if (MMIO_DISPI..MMIO_DISPI + MMIO_DISPI_SIZE).contains(&o) => {
                // Narrow or odd accesses merge into whole 16-bit registers.
                let first = (o - MMIO_DISPI) / 2;
                let shift = 8 * (o & 1);
                let regs = ((o & 1) + size as u64).div_ceil(2);
                let mask = ((u64::MAX >> (64 - 8 * size)) as u128) << shift;
                let value = (value as u128) << shift;
                for r in 0..regs {
                    vga.dispi.index = (first + r) as u16;
                    let lanes = 0xffffu128 << (16 * r);
                    if mask & lanes == 0 {
                        continue;
                    }
                    let old = (vga.dispi.read() as u128) << (16 * r);
                    let new = (old & !mask | value & mask) & lanes;
                    vga.dispi_write((new >> (16 * r)) as u16);
                }
            }
            // The byte-order register: only little-endian is offered, so
            // a request for big-endian leaves it (and the picture) as is.
            _ => {}
        }
    }
}

impl PciFunction for VgaPci {
    fn config_read(&mut self, reg: u8) -> u32 {
        self.config.read(reg)
    }
    fn config_write(&mut self, reg: u8, value: u32, mask: u32) {
        self.config.write(reg, value, mask)
    }
    fn decodes_memory(&self) -> bool {
        true
    }
    fn mmio_decode(&self, addr: u64) -> Option<(usize, u64)> {
        self.config.decode_memory_bars(addr)
    }
    fn mmio_read(&mut self, region: usize, offset: u64, size: u32) -> u64 {
        let size = size.clamp(1, 8);
        match region {
            LFB_BAR => lock(&self.vga).lfb_read(offset, size),
            MMIO_BAR => self.mmio_regs_read(offset, size),
            ROM_REGION => (0..size as u64).fold(0, |v, i| {
                let b = offset
                    .checked_add(i)
                    .and_then(|at| self.rom.get(at as usize))
                    .copied()
                    .unwrap_or(0xff);
                v | (b as u64) << (8 * i)
            }),
            _ => u64::MAX >> (64 - 8 * size),
        }
    }
    fn mmio_write(&mut self, region: usize, offset: u64, size: u32, value: u64) {
        let size = size.clamp(1, 8);
        match region {
            LFB_BAR => lock(&self.vga).lfb_write(offset, size, value),
            MMIO_BAR => self.mmio_regs_write(offset, size, value),
            _ => {} // the ROM ignores writes
        }
    }
    fn reset(&mut self) {
        self.config.reset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::bus::PortBus;
    use crate::devices::pci::{register_pci, register_pci_memory, PciBus};
    use crate::devices::system_control::SystemControl;
    use crate::devices::vga::{register_legacy_vga, Vga};
    use crate::mem::GuestMemory;
    use std::sync::{Arc, Mutex};

    const RAM: u64 = 2 << 20;

    /// The card on a bus, with the legacy interface and memory decoding
    /// wired as the board does.
    fn rig(rom: Vec<u8>) -> (PortBus, GuestMemory, SharedVga) {
        let mut io = PortBus::default();
        let mut mem = GuestMemory::new(RAM).unwrap();
        let vga = Arc::new(Mutex::new(Vga::new()));
        register_legacy_vga(&mut io, &mut mem, &vga).unwrap();
        let mut bus = PciBus::new(SystemControl::new());
        let f = VgaPci::new(vga.clone(), rom);
        bus.add(VGA_PCI_DEVICE, 0, Box::new(f)).unwrap();
        let pci = Arc::new(Mutex::new(bus));
        register_pci(&mut io, &pci).unwrap();
        register_pci_memory(&mut mem, &pci);
        (io, mem, vga)
    }

    fn cfg(io: &mut PortBus, reg: u8, value: Option<u32>) -> u32 {
        io.write(
            0xcf8,
            4,
            0x8000_0000 | (VGA_PCI_DEVICE as u32) << 11 | reg as u32,
        );
        if let Some(v) = value {
            io.write(0xcfc, 4, v);
        }
        io.read(0xcfc, 4)
    }

    #[test]
    fn identifies_as_qemus_std_vga() {
        let (mut io, _, _) = rig(Vec::new());
        assert_eq!(cfg(&mut io, 0x00, None), 0x1111_1234);
        assert_eq!(cfg(&mut io, 0x08, None), 0x0300_0002, "class, revision 2");
        assert_eq!(cfg(&mut io, 0x2c, None), 0x1100_1af4, "subsystem");
        assert_eq!(cfg(&mut io, 0x2c, Some(0)), 0x1100_1af4, "read-only");
        assert_eq!(cfg(&mut io, 0x10, None), 0x8, "prefetchable memory");
        assert_eq!(cfg(&mut io, 0x30, None), 0, "no ROM without an image");
        assert_eq!(cfg(&mut io, 0x30, Some(!0)), 0);
    }

    #[test]
    fn bars_size_like_hardware() {
        let (mut io, _, _) = rig(vec![0x55; 40_000]);
        assert_eq!(cfg(&mut io, 0x10, Some(!0)), 0xff00_0008, "16 MiB");
        assert_eq!(cfg(&mut io, 0x14, Some(!0)), 0, "BAR1 reserved");
        assert_eq!(cfg(&mut io, 0x18, Some(!0)), 0xffff_f000, "4 KiB");
        assert_eq!(cfg(&mut io, 0x30, Some(!1)), 0xffff_0000, "64 KiB ROM");
        assert_eq!(cfg(&mut io, 0x30, Some(!0)), 0xffff_0001);
    }

    #[test]
    fn framebuffer_follows_bar0_and_the_command_register() {
        let (mut io, mut mem, vga) = rig(Vec::new());
        cfg(&mut io, 0x10, Some(0xfd00_0000));
        assert_eq!(mem.read(0xfd00_0000, 4), 0xffff_ffff, "decoding off");
        cfg(&mut io, 0x04, Some(0x3));
        mem.write(0xfd00_0000 + 4 * 801, 4, 0x00ff_8000);
        assert_eq!(mem.read(0xfd00_0000 + 4 * 801, 4), 0x00ff_8000);
        assert_eq!(vga.lock().unwrap().lfb_read(4 * 801, 4), 0x00ff_8000);
        // Moved: the old place floats, the new one shows the same memory.
        cfg(&mut io, 0x10, Some(0xe000_0000));
        assert_eq!(mem.read(0xfd00_0000 + 4 * 801, 4), 0xffff_ffff);
        assert_eq!(mem.read(0xe000_0000 + 4 * 801, 8), 0x00ff_8000);
        // Sizing in passing (all ones) leaves the bar at the top: harmless.
        cfg(&mut io, 0x10, Some(!0));
        assert_eq!(mem.read(0xff00_0000 + 4 * 801, 4), 0x00ff_8000);
        // RAM wins over a BAR placed on it.
        cfg(&mut io, 0x10, Some(0));
        mem.write(0x1000, 4, 0x1234_5678);
        assert_eq!(mem.read(0x1000, 4), 0x1234_5678);
        assert_eq!(vga.lock().unwrap().lfb_read(0x1000, 4), 0);
        cfg(&mut io, 0x04, Some(0));
        cfg(&mut io, 0x10, Some(0xe000_0000));
        assert_eq!(mem.read(0xe000_0000 + 4 * 801, 4), 0xffff_ffff);
    }

    #[test]
    fn mmio_bar_reaches_dispi_vga_ports_and_qemu_extension() {
        let (mut io, mut mem, vga) = rig(Vec::new());
        cfg(&mut io, 0x18, Some(0xfebf_0000));
        cfg(&mut io, 0x04, Some(0x2));
        let regs = 0xfebf_0000u64;
        assert_eq!(mem.read(regs + 0x500, 2), 0xb0c5, "dispi ID");
        assert_eq!(mem.read(regs + 0x514, 2), 256, "video memory in 64 KiB");
        for (i, v) in [(1u64, 800u64), (2, 600), (3, 32), (4, 0x41)] {
            mem.write(regs + 0x500 + 2 * i, 2, v);
        }
        assert_eq!(mem.read(regs + 0x502, 4), 600 << 16 | 800, "two at once");
        let frame = vga.lock().unwrap().render();
        assert_eq!((frame.width, frame.height), (800, 600));
        // The ports 0x3C0-0x3DF: the DAC through MMIO, read back by port.
        mem.write(regs + 0x408, 1, 5);
        for c in [1u64, 2, 3] {
            mem.write(regs + 0x409, 1, c);
        }
        io.write(0x3c7, 1, 5);
        let rgb: Vec<u32> = (0..3).map(|_| io.read(0x3c9, 1)).collect();
        assert_eq!(rgb, [1, 2, 3]);
        assert_eq!(mem.read(regs + 0x600, 4), 8, "extension size");
        assert_eq!(mem.read(regs + 0x604, 4), 0x1e1e_1e1e, "little-endian");
        mem.write(regs + 0x604, 4, 0xbebe_bebe);
        assert_eq!(mem.read(regs + 0x604, 4), 0x1e1e_1e1e, "stays so");
        assert_eq!(mem.read(regs, 4), 0, "no EDID");
    }

    #[test]
    fn rom_bar_shows_the_vga_bios_when_enabled() {
        let mut rom = vec![0u8; 0x9000];
        rom[..3].copy_from_slice(&[0x55, 0xaa, 0x48]);
        let (mut io, mut mem, _) = rig(rom);
        cfg(&mut io, 0x04, Some(0x2));
        cfg(&mut io, 0x30, Some(0xfebe_0000));
        assert_eq!(mem.read(0xfebe_0000, 2), 0xffff, "enable bit clear");
        cfg(&mut io, 0x30, Some(0xfebe_0001));
        assert_eq!(mem.read(0xfebe_0000, 4), 0x0048_aa55);
        assert_eq!(mem.read(0xfebe_9000, 2), 0xffff, "past the image");
        mem.write(0xfebe_0000, 2, 0);
        assert_eq!(mem.read(0xfebe_0000, 2), 0xaa55, "read-only");
    }

    #[test]
    fn hostile_placements_and_traffic_do_not_panic() {
        let (mut io, mut mem, vga) = rig(vec![0xaa; 100]);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Every BAR on the same address, overlapping each other and the
        // legacy window's neighbourhood.
        for reg in [0x10u8, 0x18, 0x30] {
            cfg(&mut io, reg, Some(0xfff0_0001));
        }
        cfg(&mut io, 0x04, Some(0x3));
        for _ in 0..20_000 {
            let r = next();
            let size = [1u32, 2, 4, 8][(r & 3) as usize];
            let addr = match r >> 2 & 3 {
                0 => 0xfff0_0000 + (r >> 8) % 0x2000,
                1 => 0xfeff_fff0 + (r >> 8) % 0x40,
                2 => u64::MAX - (r >> 8) % 16,
                _ => 0xa_0000 + (r >> 8) % 0x2_0000,
            };
            match r >> 4 & 7 {
                0 => {
                    cfg(
                        &mut io,
                        [0x04, 0x10, 0x18, 0x30][(r >> 40 & 3) as usize],
                        Some((r >> 32) as u32),
                    );
                }
                1..=3 => mem.write(addr, size, r),
                _ => {
                    mem.read(addr, size);
                }
            }
        }
        let _ = vga.lock().unwrap().render();
    }
}

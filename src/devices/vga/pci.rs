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

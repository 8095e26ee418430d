//! PCI bus 0 behind configuration mechanism #1 (PCI Local Bus spec 3.0,
//! 3.2.2.3.2): CONFIG_ADDRESS at 0xCF8 (32-bit accesses only) and
//! CONFIG_DATA at 0xCFC-0xCFF (byte, word and dword accesses, the low
//! address bits selecting the bytes). Also the PIIX's reset control
//! register at 0xCF9 (byte accesses), and the functions of an i440FX/PIIX
//! board:
//!
//! - 00:00.0 the i440FX host bridge (8086:1237);
//! - 00:01.0 the PIIX3 PCI-to-ISA bridge (8086:7000), multi-function, with
//!   the PIRQ route control registers at 0x60-0x63;
//! - 00:01.3 the PIIX4 power management function (8086:7113): PMBA (0x40)
//!   and PMREGMISC (0x80, PMIOSE) place its 64-byte I/O block, which holds
//!   the ACPI PM1a event block (PMSTS/PMEN at +0), PM1a control (PMCNTRL
//!   at +4), the 24-bit ACPI PM timer (PMTMR at +8) and GPE0 (GPSTS/GPEN at
//!   +0xC). Writing SUS_TYP (ACPI SLP_TYP) = 0 — soft off, S5 on the PIIX4
//!   (datasheet 11.7.3.3) — with SUS_EN (SLP_EN) requests a power-off.
//!
//! Unclaimed functions, and every bus but 0, read all ones (vendor 0xFFFF).
//!
//! # Adding functions
//!
//! A function implements [`PciFunction`]; most embed a [`PciConfig`], which
//! keeps the standard header with per-byte write masks and sizes BARs the
//! way hardware does (writing all ones reads back the size mask). A
//! function's I/O BARs (or other I/O windows, like PMBA) are decoded
//! through [`PciFunction::io_decode`]: the bus is installed as the port
//! bus's fallback, so ports no fixed ISA device claims reach it.
//! Memory BARs (and the expansion ROM BAR) work the same way through
//! [`PciFunction::mmio_decode`]: the bus is the memory map's fallback
//! ([`register_pci_memory`]), so an address that neither RAM, a ROM nor a
//! fixed MMIO window claims reaches the function whose BAR covers it now.
//! BARs therefore follow every write to them and to the command register,
//! and a hostile placement (over RAM, over another BAR, over the APICs)
//! only shadows itself: RAM and fixed windows win, then the lowest slot.
//!
//! Interrupts: a function's INTx pin is wired by the board through the
//! PIIX's PIRQ routing ([`Piix3IsaBridge::pirq_route`]) and to I/O APIC
//! pins 16-19.

use super::bus::{MmioDevice, OverlapError, PortBus, PortDevice};
use super::irq::IrqLine;
use super::system_control::SharedSystemControl;
use crate::machine::clock::Clock;
use crate::mem::GuestMemory;
use std::sync::{Arc, Mutex};

/// CONFIG_ADDRESS; the 8-port window up to CONFIG_DATA's last byte.
pub const PCI_CONFIG_PORT: u16 = 0xcf8;
/// The PIIX reset control register.
pub const RESET_CONTROL_PORT: u16 = 0xcf9;
/// The ACPI PM timer's frequency.
pub const PM_TIMER_HZ: u64 = 3_579_545;
/// SUS_TYP value of soft off (S5) on the PIIX4; the DSDT's \_S5 package
/// must carry it.
pub const SLP_TYP_S5: u8 = 0;
/// Size of the PIIX4 PM I/O block.
pub const PM_IO_SIZE: u16 = 64;

/// One PCI function as the bus sees it (`Send`: the bus is shared like
/// every device).
pub trait PciFunction: Send {
    /// The configuration dword at `reg` (a multiple of 4, below 256).
    fn config_read(&mut self, reg: u8) -> u32;
    /// Writes the bytes of `value` selected by `mask` (0xff per byte) to
    /// the configuration dword at `reg`.
    fn config_write(&mut self, reg: u8, value: u32, mask: u32);
    /// Which of the function's I/O windows decodes `port` now, and the
    /// offset in it.
    fn io_decode(&self, _port: u16) -> Option<(usize, u16)> {
        None
    }
    fn io_read(&mut self, _region: usize, _offset: u16, size: u8) -> u32 {
        u32::MAX >> (32 - 8 * size.clamp(1, 4) as u32)
    }
    fn io_write(&mut self, _region: usize, _offset: u16, _size: u8, _value: u32) {}
    /// Whether the function has memory BARs (asked once, when it is added
    /// to the bus, so memory decoding only visits these).
    fn decodes_memory(&self) -> bool {
        false
    }
    /// Which of the function's memory windows decodes physical `addr` now,
    /// and the offset in it.
    fn mmio_decode(&self, _addr: u64) -> Option<(usize, u64)> {
        None
    }
    fn mmio_read(&mut self, _region: usize, _offset: u64, size: u32) -> u64 {
        u64::MAX >> (64 - 8 * size.clamp(1, 8))
    }
    fn mmio_write(&mut self, _region: usize, _offset: u64, _size: u32, _value: u64) {}
    /// A board reset.
    fn reset(&mut self) {}
}

/// A function the machine also drives (timers, routing): the bus forwards.
impl<T: PciFunction + ?Sized> PciFunction for Arc<Mutex<T>> {
    fn config_read(&mut self, reg: u8) -> u32 {
        self.lock()
            .unwrap_or_else(|e| e.into_inner())
            .config_read(reg)
    }
    fn config_write(&mut self, reg: u8, value: u32, mask: u32) {
        self.lock()
            .unwrap_or_else(|e| e.into_inner())
            .config_write(reg, value, mask)
    }
    fn io_decode(&self, port: u16) -> Option<(usize, u16)> {
        self.lock()
            .unwrap_or_else(|e| e.into_inner())
            .io_decode(port)
    }
    fn io_read(&mut self, region: usize, offset: u16, size: u8) -> u32 {
        self.lock()
            .unwrap_or_else(|e| e.into_inner())
            .io_read(region, offset, size)
    }
    fn io_write(&mut self, region: usize, offset: u16, size: u8, value: u32) {
        self.lock()
            .unwrap_or_else(|e| e.into_inner())
            .io_write(region, offset, size, value)
    }
    fn decodes_memory(&self) -> bool {
        self.lock()
            .unwrap_or_else(|e| e.into_inner())
            .decodes_memory()
    }
    fn mmio_decode(&self, addr: u64) -> Option<(usize, u64)> {
        self.lock()
            .unwrap_or_else(|e| e.into_inner())
            .mmio_decode(addr)
    }
    fn mmio_read(&mut self, region: usize, offset: u64, size: u32) -> u64 {
        self.lock()
            .unwrap_or_else(|e| e.into_inner())
            .mmio_read(region, offset, size)
    }
    fn mmio_write(&mut self, region: usize, offset: u64, size: u32, value: u64) {
        self.lock()
            .unwrap_or_else(|e| e.into_inner())
            .mmio_write(region, offset, size, value)
    }
    fn reset(&mut self) {
        self.lock().unwrap_or_else(|e| e.into_inner()).reset()
    }
}

/// What a base address register decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PciBarKind {
    Io,
    Memory32 {
        prefetchable: bool,
    },
    /// Takes this BAR and the next.
    Memory64 {
        prefetchable: bool,
    },
}

const COMMAND: usize = 0x04;
const COMMAND_IO: u16 = 1 << 0;
const COMMAND_MEMORY: u16 = 1 << 1;
const BAR0: usize = 0x10;
/// The expansion ROM base address register (type-0 header).
const ROM_BAR: usize = 0x30;
const ROM_ENABLE: u32 = 1;
const INTERRUPT_LINE: usize = 0x3c;
const INTERRUPT_PIN: usize = 0x3d;

/// A type-0 configuration space: the bytes, which bits a write may change
/// or clear (write-1-to-clear status bits), and the BARs' sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciConfig {
    bytes: [u8; 256],
    writable: [u8; 256],
    write_one_clears: [u8; 256],
    bars: [Option<(u64, PciBarKind)>; 6],
    /// The expansion ROM's size, if the function has one.
    rom_size: Option<u64>,
    /// The bytes at power-on, for reset.
    initial: [u8; 256],
}

impl PciConfig {
    /// A header with IDs, class code (base class, subclass, programming
    /// interface as 0xBBSSPP), revision and header type (bit 7:
    /// multi-function). Command (I/O, memory, bus master, parity, SERR,
    /// INTx disable), cache line size, latency timer and interrupt line
    /// are writable; the status register's error bits are write-1-to-clear.
    pub fn new(vendor: u16, device: u16, class: u32, revision: u8, header_type: u8) -> Self {
        let mut c = PciConfig {
            bytes: [0; 256],
            writable: [0; 256],
            write_one_clears: [0; 256],
            bars: [None; 6],
            rom_size: None,
            initial: [0; 256],
        };
        c.bytes[0..2].copy_from_slice(&vendor.to_le_bytes());
        c.bytes[2..4].copy_from_slice(&device.to_le_bytes());
        c.bytes[8] = revision;
        c.bytes[9..12].copy_from_slice(&class.to_le_bytes()[..3]);
        c.bytes[0x0e] = header_type;
        c.writable[COMMAND] = 0x47;
        c.writable[COMMAND + 1] = 0x05;
        c.write_one_clears[0x07] = 0xf9;
        c.writable[0x0c] = 0xff;
        c.writable[0x0d] = 0xff;
        c.writable[INTERRUPT_LINE] = 0xff;
        c.initial = c.bytes;
        c
    }

    /// Gives the function a BAR of `size` bytes (a power of two; at least
    /// 4 for I/O, 16 for memory).
    pub fn set_bar(&mut self, index: usize, size: u64, kind: PciBarKind) {
        let size = size.next_power_of_two();
        let offset = BAR0 + 4 * index;
        let (type_bits, size) = match kind {
            PciBarKind::Io => (0x1u64, size.max(4)),
            PciBarKind::Memory32 { prefetchable } => ((prefetchable as u64) << 3, size.max(16)),
            PciBarKind::Memory64 { prefetchable } => {
                (0x4 | (prefetchable as u64) << 3, size.max(16))
            }
        };
        let low_bits = if kind == PciBarKind::Io { 0x3 } else { 0xf };
        let mask = !(size - 1) & !low_bits;
        let width = if matches!(kind, PciBarKind::Memory64 { .. }) {
            8
        } else {
            4
        };
        for i in 0..width {
            self.writable[offset + i] = (mask >> (8 * i)) as u8;
            self.bytes[offset + i] = (type_bits >> (8 * i)) as u8;
        }
        self.bars[index] = Some((size, kind));
        self.initial = self.bytes;
    }

    /// Gives the function an expansion ROM BAR of `size` bytes (a power of
    /// two, at least 2 KiB): address bits 31:11 above the size, and the
    /// enable bit 0, are writable.
    pub fn set_rom_bar(&mut self, size: u64) {
        let size = size.next_power_of_two().clamp(0x800, 1 << 31);
        let mask = (!(size - 1) as u32) | ROM_ENABLE;
        for i in 0..4 {
            self.writable[ROM_BAR + i] = (mask >> (8 * i)) as u8;
            self.bytes[ROM_BAR + i] = 0;
        }
        self.rom_size = Some(size);
        self.initial = self.bytes;
    }

    /// The expansion ROM's base and size while memory decoding and the
    /// ROM's enable bit are on and it has a (non-zero) address.
    pub fn rom_bar(&self) -> Option<(u64, u64)> {
        let size = self.rom_size?;
        let reg = self.dword(ROM_BAR);
        let base = (reg & !0x7ff) as u64;
        (self.command() & COMMAND_MEMORY != 0 && reg & ROM_ENABLE != 0 && base != 0)
            .then_some((base, size))
    }

    /// Which memory BAR decodes `addr`, and the offset in it; the
    /// expansion ROM counts as region 6.
    pub fn decode_memory_bars(&self, addr: u64) -> Option<(usize, u64)> {
        (0..6)
            .filter_map(|i| Some((i, self.memory_bar(i)?)))
            .chain(self.rom_bar().map(|r| (ROM_REGION, r)))
            .find_map(|(i, (base, size))| {
                let off = addr.checked_sub(base)?;
                (off < size).then_some((i, off))
            })
    }

    /// The INTx pin the function uses (1 = INTA#).
    pub fn set_interrupt_pin(&mut self, pin: u8) {
        self.bytes[INTERRUPT_PIN] = pin;
        self.initial = self.bytes;
    }

    /// Sets a byte's power-on value and which of its bits are writable
    /// (device-specific registers).
    pub fn define(&mut self, offset: usize, value: u8, writable: u8) {
        self.bytes[offset] = value;
        self.writable[offset] = writable;
        self.initial = self.bytes;
    }

    pub fn byte(&self, offset: usize) -> u8 {
        self.bytes[offset]
    }

    pub fn word(&self, offset: usize) -> u16 {
        u16::from_le_bytes([self.bytes[offset], self.bytes[offset + 1]])
    }

    pub fn dword(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.bytes[offset..offset + 4].try_into().unwrap())
    }

    pub fn command(&self) -> u16 {
        self.word(COMMAND)
    }

    pub fn read(&self, reg: u8) -> u32 {
        self.dword((reg & 0xfc) as usize)
    }

    pub fn write(&mut self, reg: u8, value: u32, mask: u32) {
        let base = (reg & 0xfc) as usize;
        for i in 0..4 {
            let lane = (mask >> (8 * i)) as u8;
            if lane == 0 {
                // A byte the access does not cover keeps its value.
                continue;
            }
            let byte = (value >> (8 * i)) as u8 & lane;
            let at = base + i;
            let w = self.writable[at];
            self.bytes[at] = (self.bytes[at] & !w) | (byte & w);
            self.bytes[at] &= !(byte & self.write_one_clears[at]);
        }
    }

    pub fn reset(&mut self) {
        self.bytes = self.initial;
    }

    /// An I/O BAR's base and size while I/O decoding is on and it has been
    /// given a (non-zero) address.
    pub fn io_bar(&self, index: usize) -> Option<(u16, u16)> {
        let (size, kind) = self.bars.get(index).copied().flatten()?;
        if kind != PciBarKind::Io || self.command() & COMMAND_IO == 0 {
            return None;
        }
        let base = self.dword(BAR0 + 4 * index) & !3;
        (base != 0 && base <= 0xffff).then_some((base as u16, size.min(0x1_0000) as u16))
    }

    /// A memory BAR's base and size while memory decoding is on and it has
    /// been given a (non-zero) address.
    pub fn memory_bar(&self, index: usize) -> Option<(u64, u64)> {
        let (size, kind) = self.bars.get(index).copied().flatten()?;
        if self.command() & COMMAND_MEMORY == 0 {
            return None;
        }
        let low = (self.dword(BAR0 + 4 * index) & !0xf) as u64;
        let base = match kind {
            PciBarKind::Io => return None,
            PciBarKind::Memory32 { .. } => low,
            PciBarKind::Memory64 { .. } => low | (self.dword(BAR0 + 4 * index + 4) as u64) << 32,
        };
        (base != 0).then_some((base, size))
    }

    /// Which I/O BAR decodes `port`, and the offset in it.
    pub fn decode_io_bars(&self, port: u16) -> Option<(usize, u16)> {
        (0..6).find_map(|i| {
            let (base, size) = self.io_bar(i)?;
            let off = port.wrapping_sub(base);
            (port >= base && (off as u32) < size as u32).then_some((i, off))
        })
    }
}

/// The region number [`PciConfig::decode_memory_bars`] gives the
/// expansion ROM.
pub const ROM_REGION: usize = 6;

/// A function that is nothing but its configuration space (a host bridge).
impl PciFunction for PciConfig {
    fn config_read(&mut self, reg: u8) -> u32 {
        self.read(reg)
    }
    fn config_write(&mut self, reg: u8, value: u32, mask: u32) {
        self.write(reg, value, mask)
    }
    fn io_decode(&self, port: u16) -> Option<(usize, u16)> {
        self.decode_io_bars(port)
    }
    fn reset(&mut self) {
        PciConfig::reset(self)
    }
}

/// The i440FX PCI and memory controller at 00:00.0. PAM (0x59-0x5F) and
/// SMRAM (0x72) are kept as plain registers; shadow RAM control is not
/// applied to the memory map.
pub fn i440fx_host_bridge() -> PciConfig {
    let mut c = PciConfig::new(0x8086, 0x1237, 0x06_00_00, 0x02, 0x00);
    c.define(COMMAND, 0x06, 0x00); // memory and bus master, fixed
    c.define(COMMAND + 1, 0x00, 0x00);
    for offset in 0x59..=0x5f {
        c.define(offset, 0x00, 0xff);
    }
    c.define(0x72, 0x02, 0x78);
    c
}

/// The PIIX3 PCI-to-ISA bridge at 00:01.0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piix3IsaBridge {
    config: PciConfig,
}

impl Default for Piix3IsaBridge {
    fn default() -> Self {
        Self::new()
    }
}

impl Piix3IsaBridge {
    pub fn new() -> Self {
        // Multi-function: the PM function at .3 is found by the scan.
        let mut config = PciConfig::new(0x8086, 0x7000, 0x06_01_00, 0x00, 0x80);
        config.define(COMMAND, 0x07, 0x08);
        // Device-specific registers: plain storage, as firmware leaves them.
        for offset in 0x40..=0xff {
            config.define(offset, 0x00, 0xff);
        }
        // PIRQ route control: routing disabled at reset.
        for offset in 0x60..=0x63 {
            config.define(offset, 0x80, 0x8f);
        }
        Piix3IsaBridge { config }
    }

    /// The ISA IRQ PIRQ`n` (0-3 for A-D) is routed to, if routing is
    /// enabled and the IRQ is one the PIIX accepts (not 0-2, 8 or 13).
    pub fn pirq_route(&self, n: usize) -> Option<u8> {
        let v = self.config.byte(0x60 + n);
        let irq = v & 0x0f;
        (v & 0x80 == 0 && !matches!(irq, 0..=2 | 8 | 13)).then_some(irq)
    }
}

impl PciFunction for Piix3IsaBridge {
    fn config_read(&mut self, reg: u8) -> u32 {
        self.config.read(reg)
    }
    fn config_write(&mut self, reg: u8, value: u32, mask: u32) {
        self.config.write(reg, value, mask)
    }
    fn reset(&mut self) {
        self.config.reset()
    }
}

// PIIX4 PM I/O registers (datasheet 11.7.3; ACPI PM1a event/control).
const PMSTS: u16 = 0x00;
const PMEN: u16 = 0x02;
const PMCNTRL: u16 = 0x04;
const PMTMR: u16 = 0x08;
const GPSTS: u16 = 0x0c;
const GPEN: u16 = 0x0e;

/// PMSTS bits: TMROF_STS, BM_STS, GBL_STS, PWRBTN_STS, RTC_STS, WAK_STS.
const PMSTS_BITS: u16 = 0x8531;
const TMROF: u16 = 1 << 0;
const PWRBTN: u16 = 1 << 8;
/// PMEN bits: TMROF_EN, GBL_EN, PWRBTN_EN, RTC_EN.
const PMEN_BITS: u16 = 0x0521;
const SCI_EN: u16 = 1 << 0;
/// PMCNTRL bits that read back: SCI_EN, BRLD_EN_BM, SUS_TYP.
const PMCNTRL_BITS: u16 = 0x1c03;
const SUS_EN: u16 = 1 << 13;

const PMBA: usize = 0x40;
const PMREGMISC: usize = 0x80;

/// Everything of the PM function that a snapshot needs besides its
/// configuration space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PmState {
    pmsts: u16,
    pmen: u16,
    pmcntrl: u16,
    gpsts: u16,
    gpen: u16,
    /// PM timer ticks up to which overflows have been noted.
    timer_checked: u64,
}

impl PmState {
    /// The PM1 status register (PMSTS) as the guest reads it.
    pub fn pmsts(&self) -> u16 {
        self.pmsts
    }
}

/// The PIIX4 power management function at 00:01.3, with the clock its PM
/// timer counts, its SCI (IRQ9) and the board's power-off request.
pub struct Piix4Pm {
    config: PciConfig,
    state: PmState,
    clock: Clock,
    sci: IrqLine,
    control: SharedSystemControl,
}

pub type SharedPiix4Pm = Arc<Mutex<Piix4Pm>>;

fn pm_ticks(ns: u64) -> u64 {
    (ns as u128 * PM_TIMER_HZ as u128 / 1_000_000_000) as u64
}

impl Piix4Pm {
    pub fn new(clock: Clock, sci: IrqLine, control: SharedSystemControl) -> Self {
        let mut config = PciConfig::new(0x8086, 0x7113, 0x06_80_00, 0x03, 0x00);
        config.set_interrupt_pin(1);
        config.define(INTERRUPT_LINE, 9, 0xff);
        // PMBA: I/O space indicator, base in bits 15:6.
        config.define(PMBA, 0x01, 0xc0);
        config.define(PMBA + 1, 0x00, 0xff);
        config.define(PMREGMISC, 0x00, 0x01);
        // SMBus base (0x90) and host configuration (0xD2): stored only.
        config.define(0x90, 0x01, 0xf0);
        config.define(0x91, 0x00, 0xff);
        config.define(0xd2, 0x00, 0x0f);
        let timer_checked = pm_ticks(clock.now_ns());
        sci.lower();
        Piix4Pm {
            config,
            state: PmState {
                pmsts: 0,
                pmen: 0,
                pmcntrl: 0,
                gpsts: 0,
                gpen: 0,
                timer_checked,
            },
            clock,
            sci,
            control,
        }
    }

    pub fn state(&self) -> &PmState {
        &self.state
    }

    /// The PM I/O block's base while PMIOSE enables it.
    pub fn io_base(&self) -> Option<u16> {
        let base = self.config.word(PMBA) & 0xffc0;
        (self.config.byte(PMREGMISC) & 1 != 0 && base != 0).then_some(base)
    }

    /// The 24-bit PM timer now.
    pub fn timer(&self) -> u32 {
        (pm_ticks(self.clock.now_ns()) & 0xff_ffff) as u32
    }

    /// SCI_EN: the chipset is in ACPI mode.
    pub fn sci_enabled(&self) -> bool {
        self.state.pmcntrl & SCI_EN != 0
    }

    /// Switches ACPI mode, as the firmware's SMI handler does on the
    /// FADT's ACPI_ENABLE/ACPI_DISABLE (see `devices::apm`).
    pub fn set_sci_enabled(&mut self, on: bool) {
        if on {
            self.state.pmcntrl |= SCI_EN;
        } else {
            self.state.pmcntrl &= !SCI_EN;
        }
        self.update_sci();
    }

    /// The power button was pressed (PWRBTN_STS; an SCI if enabled).
    pub fn press_power_button(&mut self) {
        self.state.pmsts |= PWRBTN;
        self.update_sci();
    }

    fn update_sci(&mut self) {
        let s = &self.state;
        let events = s.pmsts & s.pmen & PMEN_BITS != 0 || s.gpsts & s.gpen != 0;
        self.sci.set_level(s.pmcntrl & SCI_EN != 0 && events);
    }

    /// When the PM timer's bit 23 next toggles, if that would raise an SCI.
    pub fn next_deadline_ns(&self) -> Option<u64> {
        let s = &self.state;
        if s.pmen & TMROF == 0 || s.pmcntrl & SCI_EN == 0 || s.pmsts & TMROF != 0 {
            return None;
        }
        let next = (s.timer_checked >> 23 << 23) + (1 << 23);
        Some((next as u128 * 1_000_000_000).div_ceil(PM_TIMER_HZ as u128) as u64)
    }

    /// Notes PM timer overflows (bit 23 toggling) up to the clock.
    pub fn advance(&mut self) {
        let now = pm_ticks(self.clock.now_ns());
        if now >> 23 > self.state.timer_checked >> 23 {
            self.state.pmsts |= TMROF;
        }
        self.state.timer_checked = self.state.timer_checked.max(now);
        self.update_sci();
    }

    fn read_byte(&self, offset: u16) -> u8 {
        let word = |w: u16| (w >> (8 * (offset & 1))) as u8;
        if (PMTMR..PMTMR + 4).contains(&offset) {
            return (self.timer() >> (8 * (offset - PMTMR))) as u8;
        }
        match offset & !1 {
            PMSTS => word(self.state.pmsts),
            PMEN => word(self.state.pmen),
            PMCNTRL => word(self.state.pmcntrl),
            GPSTS => word(self.state.gpsts),
            GPEN => word(self.state.gpen),
            _ => 0,
        }
    }

    fn write_byte(&mut self, offset: u16, value: u8) {
        let shift = 8 * (offset & 1);
        let lane = 0xffu16 << shift;
        let v = (value as u16) << shift;
        let s = &mut self.state;
        match offset & !1 {
            PMSTS => s.pmsts &= !(v & PMSTS_BITS),
            PMEN => s.pmen = (s.pmen & !lane) | (v & PMEN_BITS),
            PMCNTRL => {
                s.pmcntrl = (s.pmcntrl & !lane) | (v & PMCNTRL_BITS & lane);
                if v & SUS_EN != 0 {
                    let sus_typ = ((s.pmcntrl >> 10) & 7) as u8;
                    if sus_typ == SLP_TYP_S5 {
                        self.control.request_poweroff();
                    } else {
                        log::warn!("piix4 pm: sleep type {sus_typ} not supported");
                    }
                }
            }
            GPSTS => s.gpsts &= !v,
            GPEN => s.gpen = (s.gpen & !lane) | v,
            _ => {} // PMTMR is read-only; the rest is not modelled
        }
    }

    /// A guest access to the PM I/O block at `offset`.
    fn pm_read(&mut self, offset: u16, size: u8) -> u32 {
        self.advance();
        (0..size.clamp(1, 4) as u16).fold(0, |acc, i| {
            acc | (self.read_byte(offset.wrapping_add(i)) as u32) << (8 * i)
        })
    }

    fn pm_write(&mut self, offset: u16, size: u8, value: u32) {
        self.advance();
        for i in 0..size.clamp(1, 4) as u16 {
            self.write_byte(offset.wrapping_add(i), (value >> (8 * i)) as u8);
        }
        self.update_sci();
    }
}

impl PciFunction for Piix4Pm {
    fn config_read(&mut self, reg: u8) -> u32 {
        self.config.read(reg)
    }
    fn config_write(&mut self, reg: u8, value: u32, mask: u32) {
        self.config.write(reg, value, mask)
    }
    fn io_decode(&self, port: u16) -> Option<(usize, u16)> {
        let base = self.io_base()?;
        let off = port.wrapping_sub(base);
        (port >= base && off < PM_IO_SIZE).then_some((0, off))
    }
    fn io_read(&mut self, _region: usize, offset: u16, size: u8) -> u32 {
        self.pm_read(offset, size)
    }
    fn io_write(&mut self, _region: usize, offset: u16, size: u8, value: u32) {
        self.pm_write(offset, size, value)
    }
    fn reset(&mut self) {
        self.config.reset();
        let checked = pm_ticks(self.clock.now_ns());
        self.state = PmState {
            pmsts: 0,
            pmen: 0,
            pmcntrl: 0,
            gpsts: 0,
            gpen: 0,
            timer_checked: checked,
        };
        self.update_sci();
    }
}

/// A (device, function) slot that already has a function.
#[derive(Debug, PartialEq, Eq)]
pub struct PciSlotTaken {
    pub device: u8,
    pub function: u8,
}

impl std::fmt::Display for PciSlotTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PCI slot 00:{:02x}.{} is taken",
            self.device, self.function
        )
    }
}

impl std::error::Error for PciSlotTaken {}

/// Bus 0, its configuration mechanism and the reset control register.
pub struct PciBus {
    /// CONFIG_ADDRESS: enable (31), bus (23:16), device (15:11), function
    /// (10:8), register (7:2).
    address: u32,
    /// Reset control: SRST (bit 1, hard reset) and bit 3 as written.
    reset_control: u8,
    control: SharedSystemControl,
    /// Indexed by device << 3 | function.
    functions: Vec<Option<Box<dyn PciFunction>>>,
    /// The slots whose functions have memory BARs, in slot order.
    memory_slots: Vec<usize>,
}

pub type SharedPciBus = Arc<Mutex<PciBus>>;

impl PciBus {
    pub fn new(control: SharedSystemControl) -> Self {
        PciBus {
            address: 0,
            reset_control: 0,
            control,
            functions: (0..256).map(|_| None).collect(),
            memory_slots: Vec::new(),
        }
    }

    /// Puts `function` at 00:`device`.`number`.
    pub fn add(
        &mut self,
        device: u8,
        number: u8,
        function: Box<dyn PciFunction>,
    ) -> Result<(), PciSlotTaken> {
        let index = ((device & 31) << 3 | (number & 7)) as usize;
        let slot = &mut self.functions[index];
        if slot.is_some() {
            return Err(PciSlotTaken {
                device,
                function: number,
            });
        }
        if function.decodes_memory() {
            self.memory_slots.push(index);
            self.memory_slots.sort_unstable();
        }
        *slot = Some(function);
        Ok(())
    }

    /// A board reset: every function and the mechanism's registers.
    pub fn reset(&mut self) {
        self.address = 0;
        self.reset_control = 0;
        for f in self.functions.iter_mut().flatten() {
            f.reset();
        }
    }

    /// A configuration dword of 00:`device`.`function`, as the board reads
    /// chipset registers (all ones when the slot is empty).
    pub fn config_read(&mut self, device: u8, function: u8, reg: u8) -> u32 {
        match self.functions[((device & 31) << 3 | (function & 7)) as usize].as_mut() {
            Some(f) => f.config_read(reg & 0xfc),
            None => u32::MAX,
        }
    }

    /// The function CONFIG_ADDRESS selects, if enabled and on bus 0.
    fn selected(&mut self) -> Option<&mut Box<dyn PciFunction>> {
        let a = self.address;
        if a & 0x8000_0000 == 0 || (a >> 16) & 0xff != 0 {
            return None;
        }
        self.functions[((a >> 8) & 0xff) as usize].as_mut()
    }

    /// A read of the 0xCF8-0xCFF window (`offset` from 0xCF8).
    fn read_port(&mut self, offset: u16, size: u8) -> u32 {
        let all_ones = u32::MAX >> (32 - 8 * size.clamp(1, 4) as u32);
        match (offset, size) {
            (0, 4) => self.address,
            (1, 1) => self.reset_control as u32,
            (4..=7, _) => {
                let lane = offset - 4;
                let reg = (self.address & 0xfc) as u8;
                let dword = match self.selected() {
                    Some(f) => f.config_read(reg),
                    None => u32::MAX,
                };
                // Bytes past 0xCFF are not ours: the bus floats.
                let value = (dword >> (8 * lane)) as u64 | (u64::MAX << (32 - 8 * lane));
                value as u32 & all_ones
            }
            _ => all_ones,
        }
    }

    fn write_port(&mut self, offset: u16, size: u8, value: u32) {
        match (offset, size) {
            (0, 4) => self.address = value & 0x80ff_fffc,
            (1, 1) => {
                // RCPU (bit 2) resets, hard or soft per SRST (bit 1); both
                // are a board reset here.
                if value & 0x04 != 0 {
                    self.control.request_reset();
                }
                self.reset_control = value as u8 & 0x0a;
            }
            (4..=7, _) => {
                let lane = (offset - 4) as u32;
                let bytes = u32::MAX >> (32 - 8 * size.clamp(1, 4) as u32);
                let mask = bytes << (8 * lane);
                let reg = (self.address & 0xfc) as u8;
                if let Some(f) = self.selected() {
                    f.config_write(reg, value << (8 * lane), mask);
                }
            }
            _ => {}
        }
    }

    /// A port access no ISA device claimed: the function decoding it, if
    /// any, answers.
    pub fn io_read(&mut self, port: u16, size: u8) -> Option<u32> {
        self.functions.iter_mut().flatten().find_map(|f| {
            let (region, offset) = f.io_decode(port)?;
            Some(f.io_read(region, offset, size))
        })
    }

    /// Returns whether a function decoded the port.
    pub fn io_write(&mut self, port: u16, size: u8, value: u32) -> bool {
        for f in self.functions.iter_mut().flatten() {
            if let Some((region, offset)) = f.io_decode(port) {
                f.io_write(region, offset, size, value);
                return true;
            }
        }
        false
    }
}

impl PciBus {
    /// The function whose memory BAR decodes `addr` now, if any.
    fn memory_target(&mut self, addr: u64) -> Option<(&mut Box<dyn PciFunction>, usize, u64)> {
        let functions = &mut self.functions;
        let (slot, region, offset) = self.memory_slots.iter().find_map(|&slot| {
            let (region, offset) = functions[slot].as_ref()?.mmio_decode(addr)?;
            Some((slot, region, offset))
        })?;
        Some((functions[slot].as_mut()?, region, offset))
    }

    /// A memory access nothing else claimed; all ones when no BAR decodes
    /// it (master abort).
    pub fn mmio_read(&mut self, addr: u64, size: u32) -> u64 {
        match self.memory_target(addr) {
            Some((f, region, offset)) => f.mmio_read(region, offset, size),
            None => u64::MAX >> (64 - 8 * size.clamp(1, 8)),
        }
    }

    pub fn mmio_write(&mut self, addr: u64, size: u32, value: u64) {
        if let Some((f, region, offset)) = self.memory_target(addr) {
            f.mmio_write(region, offset, size, value);
        }
    }
}

/// The memory map's fallback: functions' memory BARs (offset = the
/// physical address).
struct PciMemoryDecoder(SharedPciBus);

impl MmioDevice for PciMemoryDecoder {
    fn read(&mut self, addr: u64, size: u32) -> u64 {
        let mut bus = self.0.lock().unwrap_or_else(|e| e.into_inner());
        bus.mmio_read(addr, size)
    }

    fn write(&mut self, addr: u64, size: u32, value: u64) {
        let mut bus = self.0.lock().unwrap_or_else(|e| e.into_inner());
        bus.mmio_write(addr, size, value);
    }
}

/// Makes the bus decode the memory addresses nothing else claims (its
/// functions' memory and ROM BARs).
pub fn register_pci_memory(mem: &mut GuestMemory, pci: &SharedPciBus) {
    mem.set_mmio_fallback(Box::new(PciMemoryDecoder(pci.clone())));
}

/// The configuration window 0xCF8-0xCFF.
struct PciConfigPorts(SharedPciBus);

impl PortDevice for PciConfigPorts {
    fn read(&mut self, offset: u16, size: u8) -> u32 {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .read_port(offset, size)
    }

    fn write(&mut self, offset: u16, size: u8, value: u32) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_port(offset, size, value)
    }
}

/// The port bus's fallback: functions' I/O windows (offset = the port).
struct PciIoDecoder(SharedPciBus);

impl PortDevice for PciIoDecoder {
    fn read(&mut self, port: u16, size: u8) -> u32 {
        let mut bus = self.0.lock().unwrap_or_else(|e| e.into_inner());
        bus.io_read(port, size)
            .unwrap_or(u32::MAX >> (32 - 8 * size.clamp(1, 4) as u32))
    }

    fn write(&mut self, port: u16, size: u8, value: u32) {
        let mut bus = self.0.lock().unwrap_or_else(|e| e.into_inner());
        bus.io_write(port, size, value);
    }
}

/// Puts the configuration mechanism (and reset control) at 0xCF8-0xCFF and
/// makes the bus decode the ports nothing else claims.
pub fn register_pci(io: &mut PortBus, pci: &SharedPciBus) -> Result<(), OverlapError> {
    io.register(PCI_CONFIG_PORT, 8, Box::new(PciConfigPorts(pci.clone())))?;
    io.set_fallback(Box::new(PciIoDecoder(pci.clone())));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::irq::{IrqLines, SharedIrqLines};
    use crate::devices::system_control::SystemControl;
    use crate::machine::clock::VirtualClock;

    /// The i440FX/PIIX board's PCI functions on a port bus.
    struct Rig {
        io: PortBus,
        clock: Clock,
        lines: SharedIrqLines,
        control: SharedSystemControl,
        isa: Arc<Mutex<Piix3IsaBridge>>,
        pm: SharedPiix4Pm,
    }

    impl Rig {
        fn new() -> Self {
            let clock = VirtualClock::deterministic();
            let lines = IrqLines::new();
            let control = SystemControl::new();
            let mut bus = PciBus::new(control.clone());
            let isa = Arc::new(Mutex::new(Piix3IsaBridge::new()));
            let pm = Arc::new(Mutex::new(Piix4Pm::new(
                clock.clone(),
                lines.line(9),
                control.clone(),
            )));
            bus.add(0, 0, Box::new(i440fx_host_bridge())).unwrap();
            bus.add(1, 0, Box::new(isa.clone())).unwrap();
            bus.add(1, 3, Box::new(pm.clone())).unwrap();
            let pci = Arc::new(Mutex::new(bus));
            let mut io = PortBus::default();
            register_pci(&mut io, &pci).unwrap();
            Rig {
                io,
                clock,
                lines,
                control,
                isa,
                pm,
            }
        }

        fn address(dev: u8, func: u8, reg: u8) -> u32 {
            0x8000_0000 | (dev as u32) << 11 | (func as u32) << 8 | reg as u32
        }

        fn cfg_read(&mut self, dev: u8, func: u8, reg: u8) -> u32 {
            self.io
                .write(0xcf8, 4, Self::address(dev, func, reg & 0xfc));
            self.io.read(0xcfc + (reg & 3) as u16, 4)
        }

        fn cfg_write(&mut self, dev: u8, func: u8, reg: u8, size: u8, value: u32) {
            self.io
                .write(0xcf8, 4, Self::address(dev, func, reg & 0xfc));
            self.io.write(0xcfc + (reg & 3) as u16, size, value);
        }

        /// Firmware's PM setup: PMBA 0x600, PMIOSE.
        fn enable_pm(&mut self) {
            self.cfg_write(1, 3, 0x40, 4, 0x601);
            self.cfg_write(1, 3, 0x80, 1, 0x01);
        }
    }

    #[test]
    fn identifies_the_board_functions() {
        let mut rig = Rig::new();
        assert_eq!(rig.cfg_read(0, 0, 0), 0x1237_8086);
        assert_eq!(rig.cfg_read(1, 0, 0), 0x7000_8086);
        assert_eq!(rig.cfg_read(1, 3, 0), 0x7113_8086);
        assert_eq!(rig.cfg_read(0, 0, 8) >> 8, 0x06_00_00);
        assert_eq!(rig.cfg_read(1, 0, 8) >> 8, 0x06_01_00);
        assert_eq!(rig.cfg_read(1, 3, 8), 0x0680_0003);
        assert_eq!(
            (rig.cfg_read(1, 0, 0x0c) >> 16) & 0xff,
            0x80,
            "multi-function"
        );
        assert_eq!(rig.cfg_read(1, 3, 0x3c) >> 8 & 0xff, 1, "INTA#");
    }

    #[test]
    fn unclaimed_functions_and_other_buses_read_all_ones() {
        let mut rig = Rig::new();
        assert_eq!(rig.cfg_read(2, 0, 0), 0xffff_ffff);
        assert_eq!(rig.cfg_read(1, 1, 0), 0xffff_ffff);
        rig.io.write(0xcf8, 4, 0x8001_0000);
        assert_eq!(rig.io.read(0xcfc, 4), 0xffff_ffff, "bus 1");
        rig.io.write(0xcf8, 4, 0x0000_0000);
        assert_eq!(rig.io.read(0xcfc, 4), 0xffff_ffff, "enable bit clear");
        rig.io.write(0xcfc, 4, 0);
        assert_eq!(rig.cfg_read(0, 0, 0), 0x1237_8086);
    }

    #[test]
    fn config_address_register_is_dword_only() {
        let mut rig = Rig::new();
        rig.io.write(0xcf8, 4, 0xffff_ffff);
        assert_eq!(rig.io.read(0xcf8, 4), 0x80ff_fffc);
        // Linux's mechanism #2 probe writes bytes here; they must not land.
        rig.io.write(0xcf8, 1, 0);
        rig.io.write(0xcfa, 1, 0);
        assert_eq!(rig.io.read(0xcf8, 4), 0x80ff_fffc);
        assert_eq!(rig.io.read(0xcf8, 1), 0xff);
        assert_eq!(rig.io.read(0xcfa, 1), 0xff);
    }

    #[test]
    fn byte_and_word_data_accesses() {
        let mut rig = Rig::new();
        rig.io.write(0xcf8, 4, Rig::address(0, 0, 0));
        assert_eq!(rig.io.read(0xcfc, 2), 0x8086);
        assert_eq!(rig.io.read(0xcfe, 2), 0x1237);
        assert_eq!(rig.io.read(0xcfd, 1), 0x80);
        assert_eq!(rig.io.read(0xcff, 1), 0x12);
        assert_eq!(
            rig.io.read(0xcfd, 2),
            0x3780,
            "unaligned word inside the dword"
        );
        assert_eq!(rig.io.read(0xcff, 2), 0xff12, "the byte past 0xCFF floats");
        // Interrupt line byte write through 0xCFC + 0 of dword 0x3C.
        rig.cfg_write(1, 3, 0x3c, 1, 0x0b);
        assert_eq!(rig.cfg_read(1, 3, 0x3c) & 0xff, 0x0b);
        rig.cfg_write(0, 0, 0x5a, 1, 0x33);
        assert_eq!(rig.cfg_read(0, 0, 0x58) >> 16 & 0xff, 0x33, "PAM1");
        // Read-only IDs ignore writes.
        rig.cfg_write(0, 0, 0, 4, 0);
        assert_eq!(rig.cfg_read(0, 0, 0), 0x1237_8086);
    }

    #[test]
    fn pirq_route_registers() {
        let mut rig = Rig::new();
        assert_eq!(rig.cfg_read(1, 0, 0x60), 0x8080_8080);
        assert_eq!(rig.isa.lock().unwrap().pirq_route(0), None);
        rig.cfg_write(1, 0, 0x60, 4, 0x0b0a_0b8a);
        assert_eq!(rig.cfg_read(1, 0, 0x60), 0x0b0a_0b8a);
        let isa = rig.isa.lock().unwrap();
        assert_eq!(isa.pirq_route(0), None, "disabled");
        assert_eq!(isa.pirq_route(1), Some(11));
        assert_eq!(isa.pirq_route(2), Some(10));
        assert_eq!(isa.pirq_route(3), Some(11));
        drop(isa);
        rig.cfg_write(1, 0, 0x62, 1, 0x02);
        assert_eq!(
            rig.isa.lock().unwrap().pirq_route(2),
            None,
            "IRQ2 is not routable"
        );
    }

    #[test]
    fn bar_sizing_by_writing_all_ones() {
        let mut c = PciConfig::new(0x1af4, 0x1000, 0x02_00_00, 0, 0);
        c.set_bar(0, 0x20, PciBarKind::Io);
        c.set_bar(
            1,
            0x1000,
            PciBarKind::Memory32 {
                prefetchable: false,
            },
        );
        c.set_bar(2, 0x4000, PciBarKind::Memory64 { prefetchable: true });
        let mut bus = PciBus::new(SystemControl::new());
        bus.add(3, 0, Box::new(c)).unwrap();
        let pci = Arc::new(Mutex::new(bus));
        let mut io = PortBus::default();
        register_pci(&mut io, &pci).unwrap();
        let mut cfg = |reg: u8, value: Option<u32>| {
            io.write(0xcf8, 4, Rig::address(3, 0, reg));
            if let Some(v) = value {
                io.write(0xcfc, 4, v);
            }
            io.read(0xcfc, 4)
        };
        assert_eq!(cfg(0x10, None), 0x1, "I/O BAR type bit");
        assert_eq!(cfg(0x10, Some(0xffff_ffff)), 0xffff_ffe1);
        assert_eq!(cfg(0x14, Some(0xffff_ffff)), 0xffff_f000);
        assert_eq!(cfg(0x18, Some(0xffff_ffff)), 0xffff_c00c);
        assert_eq!(cfg(0x1c, Some(0xffff_ffff)), 0xffff_ffff);
        assert_eq!(cfg(0x20, Some(0xffff_ffff)), 0, "BAR 4 absent");
        cfg(0x10, Some(0xc040));
        cfg(0x18, Some(0xfe00_0000));
        cfg(0x1c, Some(0x1));
        // Decoding needs the command register.
        let mut c = PciConfig::new(0x1af4, 0x1000, 0x02_00_00, 0, 0);
        c.set_bar(0, 0x20, PciBarKind::Io);
        c.set_bar(2, 0x4000, PciBarKind::Memory64 { prefetchable: true });
        c.write(0x10, 0xc041, 0xffff_ffff);
        c.write(0x18, 0xfe00_0000, 0xffff_ffff);
        c.write(0x1c, 0x1, 0xffff_ffff);
        assert_eq!(c.io_bar(0), None);
        c.write(0x04, 0x3, 0xffff);
        assert_eq!(c.io_bar(0), Some((0xc040, 0x20)));
        assert_eq!(c.memory_bar(2), Some((0x1_fe00_0000, 0x4000)));
        assert_eq!(c.decode_io_bars(0xc05f), Some((0, 0x1f)));
        assert_eq!(c.decode_io_bars(0xc060), None);
    }

    #[test]
    fn narrow_writes_leave_the_other_bytes_of_the_dword() {
        let mut c = PciConfig::new(0x8086, 0x1234, 0, 0, 0);
        for offset in 0x40..0x44 {
            c.define(offset, 0x00, 0xff);
        }
        c.write(0x40, 0x8000, 0x0000_ffff);
        c.write(0x40, 0x8000_0000, 0xffff_0000);
        assert_eq!(c.read(0x40), 0x8000_8000);
        c.write(0x40, 0x0000_1200, 0x0000_ff00);
        assert_eq!(c.read(0x40), 0x8000_1200);
    }

    #[test]
    fn status_error_bits_are_write_one_to_clear() {
        let mut c = PciConfig::new(0x8086, 0x1234, 0, 0, 0);
        c.define(0x07, 0x80, 0x00);
        c.write(0x04, 0x0000_0000, 0xffff_ffff);
        assert_eq!(c.read(0x04) >> 16, 0x8000, "writing 0 keeps it");
        c.write(0x04, 0x8000_0000, 0xffff_ffff);
        assert_eq!(c.read(0x04) >> 16, 0);
    }

    #[test]
    fn pm_block_appears_at_pmba_only_with_pmiose() {
        let mut rig = Rig::new();
        assert_eq!(rig.cfg_read(1, 3, 0x40), 0x1);
        rig.cfg_write(1, 3, 0x40, 4, 0xffff_ffff);
        assert_eq!(rig.cfg_read(1, 3, 0x40), 0xffc1, "64-byte I/O space");
        rig.cfg_write(1, 3, 0x40, 4, 0x601);
        assert_eq!(rig.io.read(0x608, 4), 0xffff_ffff, "PMIOSE clear");
        rig.cfg_write(1, 3, 0x80, 1, 0xff);
        assert_eq!(rig.cfg_read(1, 3, 0x80) & 0xff, 1);
        rig.clock.set_icount(1_000_000_000);
        assert_eq!(rig.io.read(0x608, 4), 3_579_545);
        assert_eq!(rig.io.read(0x640, 4), 0xffff_ffff, "past the block");
    }

    #[test]
    fn pm_timer_is_24_bits_and_overflow_raises_sci() {
        let mut rig = Rig::new();
        rig.enable_pm();
        // SCI_EN and TMROF_EN.
        rig.io.write(0x604, 2, 0x0001);
        rig.io.write(0x602, 2, 0x0001);
        let d = rig.pm.lock().unwrap().next_deadline_ns().unwrap();
        let ns_for =
            |ticks: u64| (ticks as u128 * 1_000_000_000).div_ceil(PM_TIMER_HZ as u128) as u64;
        assert_eq!(d, ns_for(1 << 23));
        rig.clock.set_icount(d - 1);
        rig.pm.lock().unwrap().advance();
        assert_eq!(rig.lines.levels() & (1 << 9), 0);
        rig.clock.set_icount(d);
        rig.pm.lock().unwrap().advance();
        assert_ne!(rig.lines.levels() & (1 << 9), 0, "SCI");
        assert_eq!(rig.io.read(0x600, 2) & 1, 1, "TMROF_STS");
        assert_eq!(rig.io.read(0x608, 4), 1 << 23);
        rig.io.write(0x600, 2, 0x0001);
        assert_eq!(rig.lines.levels() & (1 << 9), 0, "cleared");
        assert_eq!(
            rig.pm.lock().unwrap().next_deadline_ns(),
            Some(ns_for(1 << 24))
        );
        rig.clock.set_icount(ns_for((1 << 24) + 1));
        assert_eq!(rig.io.read(0x608, 4), 1, "wraps at 24 bits");
    }

    #[test]
    fn power_button_event_needs_sci_en() {
        let mut rig = Rig::new();
        rig.enable_pm();
        rig.io.write(0x602, 2, 0x0100);
        rig.pm.lock().unwrap().press_power_button();
        assert_eq!(rig.io.read(0x600, 2), 0x0100);
        assert_eq!(rig.lines.levels() & (1 << 9), 0);
        rig.io.write(0x604, 2, 0x0001);
        assert_ne!(rig.lines.levels() & (1 << 9), 0);
        // Clearing the status drops the SCI.
        rig.io.write(0x600, 2, 0x0100);
        assert_eq!(rig.lines.levels() & (1 << 9), 0);
    }

    #[test]
    fn slp_en_with_s5_requests_power_off() {
        let mut rig = Rig::new();
        rig.enable_pm();
        // S1 (SUS_TYP 1) is not supported: nothing happens.
        rig.io.write(0x604, 2, 1 << 10 | 1 << 13);
        assert!(!rig.control.poweroff_requested());
        assert_eq!(rig.io.read(0x604, 2), 1 << 10, "SUS_EN reads 0");
        rig.io.write(0x604, 2, (SLP_TYP_S5 as u32) << 10 | 1 << 13);
        assert!(rig.control.take_poweroff_request());
    }

    #[test]
    fn reset_control_register() {
        let mut rig = Rig::new();
        rig.io.write(0xcf9, 1, 0x02);
        assert!(!rig.control.reset_pending());
        assert_eq!(rig.io.read(0xcf9, 1), 0x02);
        rig.io.write(0xcf9, 1, 0x06);
        assert!(rig.control.take_reset_request());
        assert_eq!(rig.io.read(0xcf9, 1), 0x02);
        // A dword write at 0xCF8 is CONFIG_ADDRESS, never a reset.
        rig.io.write(0xcf8, 4, 0x0000_0600);
        assert!(!rig.control.reset_pending());
    }

    #[test]
    fn reset_restores_power_on_config() {
        let control = SystemControl::new();
        let mut bus = PciBus::new(control);
        bus.add(1, 0, Box::new(Piix3IsaBridge::new())).unwrap();
        assert!(bus.add(1, 0, Box::new(Piix3IsaBridge::new())).is_err());
        bus.address = Rig::address(1, 0, 0x60);
        bus.write_port(4, 4, 0x0505_0505);
        assert_eq!(bus.read_port(4, 4), 0x0505_0505);
        bus.reset();
        bus.address = Rig::address(1, 0, 0x60);
        assert_eq!(bus.read_port(4, 4), 0x8080_8080);
    }

    #[test]
    fn random_port_traffic_never_panics() {
        let mut rig = Rig::new();
        rig.enable_pm();
        let mut x: u64 = 0x5851_f42d_4c95_7f2d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const PORTS: [u16; 10] = [
            0xcf8, 0xcf9, 0xcfa, 0xcfc, 0xcfd, 0xcfe, 0xcff, 0x600, 0x604, 0x608,
        ];
        for _ in 0..100_000 {
            let r = next();
            let size = [1u8, 2, 4, 4][(r >> 4 & 3) as usize];
            let port = PORTS[(r >> 8) as usize % PORTS.len()] + (r >> 12 & 1) as u16;
            match r & 7 {
                0 => rig
                    .io
                    .write(0xcf8, 4, 0x8000_0000 | (r >> 20) as u32 & 0x0000_0ffc),
                1..=3 => rig.io.write(port, size, (r >> 32) as u32),
                4 | 5 => {
                    rig.io.read(port, size);
                }
                6 => {
                    rig.clock.set_icount(r >> 34);
                    rig.pm.lock().unwrap().advance();
                }
                _ => {
                    rig.control.take_reset_request();
                    rig.control.take_poweroff_request();
                }
            }
        }
        // The identity registers survive anything a guest writes.
        assert_eq!(rig.cfg_read(0, 0, 0), 0x1237_8086);
        assert_eq!(rig.cfg_read(1, 3, 0), 0x7113_8086);
    }
}

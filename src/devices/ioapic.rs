//! An Intel 82093AA I/O APIC at 0xFEC00000: an index register (IOREGSEL,
//! offset 0x00) and a data window (IOWIN, offset 0x10) onto the ID, version
//! and arbitration registers and 24 redirection table entries (82093AA
//! datasheet, sections 3.0-3.2).
//!
//! Each entry holds a vector, delivery mode, destination mode, pin
//! polarity, remote IRR (read-only), trigger mode, mask and destination.
//!
//! # Inputs
//!
//! The I/O APIC takes its 24 pins as bit masks of asserted levels and of
//! rising edges seen since the last call ([`IoApic::set_inputs`]), so the
//! board decides which line reaches which pin. On this PC (see
//! `machine::platform`) ISA IRQ n goes to pin n except IRQ0 (the PIT, or
//! HPET timer 0 in legacy replacement mode), which goes to pin 2 — the
//! interrupt source override every PC's MADT declares; IRQ2 (the 8259
//! cascade) reaches no pin; PCI PIRQA-D go to pins 16-19; HPET timers may be
//! routed to pins 20-23. Pin 0 is not wired (no virtual-wire mode B). For
//! a board with nothing to remap, [`IoApic::update`] samples `IrqLines`
//! one to one.
//!
//! Lines carry the *asserted* state, whatever the wire's electrical
//! polarity: the polarity bit describes the wire the firmware's tables
//! describe, and is stored and read back but not applied (as QEMU does).
//!
//! # Edge and level
//!
//! An edge-triggered entry latches a rising edge on its pin if unmasked (an
//! edge on a masked pin is lost) and sends one message for it. A
//! level-triggered entry (fixed or lowest-priority delivery) sends a
//! message while its pin is asserted, unmasked and remote IRR is clear;
//! remote IRR is set when the local APIC accepts the message and cleared by
//! an EOI for the entry's vector ([`IoApic::eoi`], from the local APIC's
//! EOI broadcast), after which a still-asserted pin sends again. Switching
//! an entry to edge-triggered clears remote IRR, which Linux uses on
//! I/O APICs without an EOI register.
//!
//! Messages leave through [`IoApic::service`], which hands each to the
//! machine's local APIC(s) and learns whether one accepted it.

use super::bus::MmioDevice;
use super::irq::IrqLines;
use super::lapic::{ApicMessage, DeliveryMode, Destination};
use std::sync::{Arc, Mutex};

/// Where the I/O APIC sits on every PC.
pub const IOAPIC_BASE: u64 = 0xfec0_0000;
/// The window the board decodes for it.
pub const IOAPIC_SIZE: u64 = 0x1000;
/// Redirection table entries (input pins).
pub const IOAPIC_PINS: usize = 24;
/// Version register: 82093AA version 0x11, maximum redirection entry 23.
pub const IOAPIC_VERSION: u32 = 0x0017_0011;

const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;

const REG_ID: u8 = 0x00;
const REG_VERSION: u8 = 0x01;
const REG_ARBITRATION: u8 = 0x02;
const REG_REDIRECTION: u8 = 0x10;

const RTE_DEST_LOGICAL: u64 = 1 << 11;
const RTE_REMOTE_IRR: u64 = 1 << 14;
const RTE_LEVEL: u64 = 1 << 15;
const RTE_MASKED: u64 = 1 << 16;
/// Vector, delivery mode, destination mode, polarity, trigger mode, mask
/// and destination; delivery status and remote IRR are read-only.
const RTE_WRITABLE: u64 = 0xff00_0000_0001_afff;

/// Everything of the I/O APIC that a snapshot needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoApicState {
    /// Bits 27:24 of the ID register.
    id: u8,
    /// IOREGSEL.
    select: u8,
    redirection: [u64; IOAPIC_PINS],
    /// Pin levels as last sampled (bit n = pin n).
    levels: u32,
    /// Edges latched on unmasked edge-triggered pins, not yet sent.
    edges: u32,
}

/// The 82093AA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoApic {
    state: IoApicState,
}

/// The I/O APIC as the machine shares it between the memory map and its
/// run loop.
pub type SharedIoApic = Arc<Mutex<IoApic>>;

impl Default for IoApic {
    fn default() -> Self {
        Self::new()
    }
}

impl IoApic {
    /// The reset state: ID 0, every entry masked (datasheet 3.2.4).
    pub fn new() -> Self {
        IoApic {
            state: IoApicState {
                id: 0,
                select: 0,
                redirection: [RTE_MASKED; IOAPIC_PINS],
                levels: 0,
                edges: 0,
            },
        }
    }

    /// A board reset (the pins keep their levels).
    pub fn reset(&mut self) {
        let levels = self.state.levels;
        *self = Self::new();
        self.state.levels = levels;
    }

    pub fn state(&self) -> &IoApicState {
        &self.state
    }

    pub fn restore(&mut self, state: IoApicState) {
        self.state = state;
    }

    /// Redirection table entry `pin` (for the machine's diagnostics).
    pub fn redirection(&self, pin: usize) -> u64 {
        self.state.redirection[pin]
    }

    /// Whether an entry is handled with remote IRR: level-triggered fixed or
    /// lowest-priority delivery (NMI, INIT and ExtINT are edge-like).
    fn level_semantics(entry: u64) -> bool {
        entry & RTE_LEVEL != 0
            && matches!(
                DeliveryMode::from_bits((entry >> 8) as u32),
                DeliveryMode::Fixed | DeliveryMode::LowestPriority
            )
    }

    /// Samples the pins: `levels` asserted now, `edges` rising edges since
    /// the last call (bit n = pin n; bits past 23 are ignored).
    pub fn set_inputs(&mut self, levels: u32, edges: u32) {
        let rising = (levels & !self.state.levels) | edges;
        for (pin, &entry) in self.state.redirection.iter().enumerate() {
            let bit = 1 << pin;
            if rising & bit != 0 && entry & RTE_MASKED == 0 && !Self::level_semantics(entry) {
                self.state.edges |= bit;
            }
        }
        self.state.levels = levels & ((1 << IOAPIC_PINS) - 1);
    }

    /// Samples `IrqLines` with line n on pin n (consumes the edges).
    pub fn update(&mut self, lines: &IrqLines) {
        let edges = lines.take_edges();
        self.set_inputs(lines.levels(), edges);
    }

    /// Sends the messages that are due, each through `deliver`, which
    /// returns whether a local APIC accepted it.
    pub fn service(&mut self, mut deliver: impl FnMut(&ApicMessage) -> bool) {
        for pin in 0..IOAPIC_PINS {
            let bit = 1 << pin;
            let entry = self.state.redirection[pin];
            if entry & RTE_MASKED != 0 {
                continue;
            }
            if Self::level_semantics(entry) {
                if self.state.levels & bit != 0
                    && entry & RTE_REMOTE_IRR == 0
                    && deliver(&Self::message(entry))
                {
                    self.state.redirection[pin] |= RTE_REMOTE_IRR;
                }
            } else if self.state.edges & bit != 0 {
                self.state.edges &= !bit;
                deliver(&Self::message(entry));
            }
        }
    }

    fn message(entry: u64) -> ApicMessage {
        let dest = (entry >> 56) as u8;
        ApicMessage {
            vector: entry as u8,
            mode: DeliveryMode::from_bits((entry >> 8) as u32),
            // The 82093AA compares 4-bit physical IDs; xAPIC-era I/O APICs
            // take all 8 bits, which is what 8-bit local APIC IDs need.
            destination: if entry & RTE_DEST_LOGICAL != 0 {
                Destination::Logical(dest)
            } else {
                Destination::Physical(dest)
            },
            level_triggered: entry & RTE_LEVEL != 0,
            assert: true,
        }
    }

    /// A local APIC's EOI broadcast for `vector`: level-triggered entries
    /// with that vector clear remote IRR (and send again at the next
    /// [`IoApic::service`] if their pin is still asserted).
    pub fn eoi(&mut self, vector: u8) {
        for entry in &mut self.state.redirection {
            if *entry as u8 == vector && *entry & RTE_LEVEL != 0 {
                *entry &= !RTE_REMOTE_IRR;
            }
        }
    }

    fn read_register(&self, index: u8) -> u32 {
        match index {
            REG_ID => (self.state.id as u32) << 24,
            REG_VERSION => IOAPIC_VERSION,
            REG_ARBITRATION => (self.state.id as u32) << 24,
            0x10..=0x3f => {
                let entry = self.state.redirection[((index - REG_REDIRECTION) / 2) as usize];
                if index & 1 == 0 {
                    entry as u32
                } else {
                    (entry >> 32) as u32
                }
            }
            _ => 0,
        }
    }

    fn write_register(&mut self, index: u8, value: u32) {
        match index {
            REG_ID => self.state.id = (value >> 24) as u8 & 0x0f,
            0x10..=0x3f => {
                let pin = ((index - REG_REDIRECTION) / 2) as usize;
                let old = self.state.redirection[pin];
                let written = if index & 1 == 0 {
                    (old & !0xffff_ffff) | value as u64
                } else {
                    (old & 0xffff_ffff) | (value as u64) << 32
                };
                let mut entry = (old & !RTE_WRITABLE) | (written & RTE_WRITABLE);
                if entry & RTE_LEVEL == 0 {
                    entry &= !RTE_REMOTE_IRR;
                }
                if Self::level_semantics(entry) || entry & RTE_MASKED != 0 {
                    // A latched edge belongs to an unmasked edge entry.
                    self.state.edges &= !(1 << pin);
                }
                self.state.redirection[pin] = entry;
            }
            _ => {} // version and arbitration are read-only
        }
    }
}

impl MmioDevice for IoApic {
    fn read(&mut self, offset: u64, size: u32) -> u64 {
        let value = match offset {
            IOREGSEL..=0x03 => (self.state.select as u64) >> (8 * (offset - IOREGSEL)),
            IOWIN..=0x13 => {
                (self.read_register(self.state.select) as u64) >> (8 * (offset - IOWIN))
            }
            _ => 0,
        };
        match size {
            1 => value & 0xff,
            2 => value & 0xffff,
            _ => value & 0xffff_ffff,
        }
    }

    fn write(&mut self, offset: u64, size: u32, value: u64) {
        match offset {
            IOREGSEL => self.state.select = value as u8,
            IOWIN..=0x13 => {
                // Narrow writes merge into the register's other bytes.
                let shift = 8 * (offset - IOWIN) as u32;
                let mask = match size {
                    1 => 0xffu32,
                    2 => 0xffff,
                    _ => 0xffff_ffff,
                }
                .checked_shl(shift)
                .unwrap_or(0);
                let select = self.state.select;
                let old = self.read_register(select);
                let new = (old & !mask) | ((value as u32).checked_shl(shift).unwrap_or(0) & mask);
                self.write_register(select, new);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::bus::MmioBus;
    use crate::devices::lapic::Lapic;
    use crate::machine::clock::VirtualClock;

    /// An I/O APIC on the MMIO bus and a local APIC (ID 0, enabled) for it
    /// to deliver to.
    struct Rig {
        bus: MmioBus,
        ioapic: SharedIoApic,
        lapic: Lapic,
    }

    impl Rig {
        fn new() -> Self {
            let ioapic = Arc::new(Mutex::new(IoApic::new()));
            let mut bus = MmioBus::default();
            bus.register(IOAPIC_BASE, IOAPIC_SIZE, Box::new(ioapic.clone()))
                .unwrap();
            let mut lapic = Lapic::new(VirtualClock::deterministic(), 0, true);
            lapic.mmio_write(0xf0, 4, 0x1ff);
            Rig { bus, ioapic, lapic }
        }

        fn read_reg(&mut self, index: u8) -> u32 {
            self.bus.write(IOAPIC_BASE, 4, index as u64);
            self.bus.read(IOAPIC_BASE + 0x10, 4) as u32
        }

        fn write_reg(&mut self, index: u8, value: u32) {
            self.bus.write(IOAPIC_BASE, 4, index as u64);
            self.bus.write(IOAPIC_BASE + 0x10, 4, value as u64);
        }

        fn program(&mut self, pin: u8, low: u32, dest: u8) {
            self.write_reg(0x11 + 2 * pin, (dest as u32) << 24);
            self.write_reg(0x10 + 2 * pin, low);
        }

        fn pins(&mut self, levels: u32, edges: u32) {
            let mut io = self.ioapic.lock().unwrap();
            io.set_inputs(levels, edges);
            let lapic = &mut self.lapic;
            io.service(|m| lapic.receive(m));
        }

        fn eoi(&mut self) {
            self.lapic.mmio_write(0xb0, 4, 0);
            let mut io = self.ioapic.lock().unwrap();
            while let Some(v) = self.lapic.take_eoi_broadcast() {
                io.eoi(v);
            }
            let lapic = &mut self.lapic;
            io.service(|m| lapic.receive(m));
        }
    }

    #[test]
    fn identification_registers() {
        let mut rig = Rig::new();
        assert_eq!(rig.read_reg(REG_VERSION), 0x0017_0011);
        rig.write_reg(REG_ID, 0xffff_ffff);
        assert_eq!(rig.read_reg(REG_ID), 0x0f00_0000);
        assert_eq!(rig.read_reg(REG_ARBITRATION), 0x0f00_0000);
        rig.write_reg(REG_VERSION, 0);
        assert_eq!(rig.read_reg(REG_VERSION), 0x0017_0011);
        assert_eq!(rig.bus.read(IOAPIC_BASE, 1), REG_VERSION as u64);
    }

    #[test]
    fn entries_reset_masked_and_keep_writable_bits() {
        let mut rig = Rig::new();
        for pin in 0..24u8 {
            assert_eq!(rig.read_reg(0x10 + 2 * pin), 0x1_0000);
            assert_eq!(rig.read_reg(0x11 + 2 * pin), 0);
        }
        rig.write_reg(0x10, 0xffff_ffff);
        assert_eq!(
            rig.read_reg(0x10),
            0x1_afff,
            "status and remote IRR are read-only"
        );
        rig.write_reg(0x11, 0xffff_ffff);
        assert_eq!(rig.read_reg(0x11), 0xff00_0000);
        assert_eq!(rig.read_reg(0x40), 0, "past the table");
    }

    #[test]
    fn edge_interrupt_is_delivered_once_per_edge() {
        let mut rig = Rig::new();
        rig.program(2, 0x30, 0);
        rig.pins(1 << 2, 1 << 2);
        assert_eq!(rig.lapic.acknowledge(), 0x30);
        rig.pins(1 << 2, 0);
        assert_eq!(rig.lapic.pending_vector(), None, "no new edge");
        // A pulse (high then low between samples) is an edge too.
        rig.pins(0, 1 << 2);
        assert_eq!(
            rig.lapic.pending_vector(),
            None,
            "requested again, but 0x30 is still in service"
        );
        rig.eoi();
        assert_eq!(rig.lapic.acknowledge(), 0x30);
    }

    #[test]
    fn edges_on_masked_pins_are_lost() {
        let mut rig = Rig::new();
        rig.program(4, 0x1_0031, 0);
        rig.pins(1 << 4, 1 << 4);
        rig.program(4, 0x31, 0);
        rig.pins(1 << 4, 0);
        assert_eq!(rig.lapic.pending_vector(), None);
    }

    #[test]
    fn level_interrupt_uses_remote_irr_until_eoi() {
        let mut rig = Rig::new();
        rig.program(16, 0xa040, 0); // level, active low, vector 0x40
        rig.pins(1 << 16, 0);
        assert_ne!(rig.read_reg(0x10 + 32) & (1 << 14), 0, "remote IRR set");
        assert_eq!(rig.lapic.acknowledge(), 0x40);
        rig.pins(1 << 16, 0);
        assert_eq!(rig.lapic.pending_vector(), None, "remote IRR blocks");
        // EOI with the line still asserted: sent again.
        rig.eoi();
        assert_eq!(rig.lapic.acknowledge(), 0x40);
        // The device lowers its line, then the EOI: nothing more.
        rig.pins(0, 0);
        rig.eoi();
        assert_eq!(rig.read_reg(0x10 + 32) & (1 << 14), 0);
        assert_eq!(rig.lapic.pending_vector(), None);
    }

    #[test]
    fn masked_level_interrupt_is_held_until_unmasked() {
        let mut rig = Rig::new();
        rig.program(9, 0x1_8041, 0);
        rig.pins(1 << 9, 0);
        assert_eq!(rig.lapic.pending_vector(), None);
        rig.program(9, 0x8041, 0);
        rig.pins(1 << 9, 0);
        assert_eq!(rig.lapic.pending_vector(), Some(0x41));
    }

    #[test]
    fn switching_to_edge_clears_remote_irr() {
        let mut rig = Rig::new();
        rig.program(10, 0x8042, 0);
        rig.pins(1 << 10, 0);
        assert_ne!(rig.read_reg(0x10 + 20) & (1 << 14), 0);
        rig.write_reg(0x10 + 20, 0x1_0042);
        rig.write_reg(0x10 + 20, 0x1_8042);
        assert_eq!(rig.read_reg(0x10 + 20) & (1 << 14), 0);
    }

    #[test]
    fn destinations_not_matching_are_not_accepted() {
        let mut rig = Rig::new();
        rig.program(5, 0x8050, 7); // level, physical APIC 7: nobody
        rig.pins(1 << 5, 0);
        assert_eq!(rig.lapic.pending_vector(), None);
        assert_eq!(rig.read_reg(0x10 + 10) & (1 << 14), 0, "not accepted");
        rig.program(5, 0x8850, 0x01); // logical, flat: needs LDR bit 0
        rig.lapic.mmio_write(0xd0, 4, 0x0100_0000);
        rig.pins(1 << 5, 0);
        assert_eq!(rig.lapic.pending_vector(), Some(0x50));
        // Broadcast reaches us too.
        rig.program(6, 0x60, 0xff);
        rig.pins(1 << 5 | 1 << 6, 1 << 6);
        assert_eq!(rig.lapic.acknowledge(), 0x60);
    }

    #[test]
    fn nmi_delivery_mode() {
        let mut rig = Rig::new();
        rig.program(3, 0x400, 0);
        rig.pins(1 << 3, 1 << 3);
        assert!(rig.lapic.take_nmi());
    }

    #[test]
    fn eoi_only_touches_level_entries_with_that_vector() {
        let mut rig = Rig::new();
        rig.program(17, 0x8070, 0);
        rig.program(18, 0x8071, 0);
        rig.pins(3 << 17, 0);
        rig.ioapic.lock().unwrap().eoi(0x70);
        assert_eq!(rig.read_reg(0x10 + 34) & (1 << 14), 0);
        assert_ne!(rig.read_reg(0x10 + 36) & (1 << 14), 0);
    }

    #[test]
    fn narrow_window_accesses() {
        let mut rig = Rig::new();
        rig.bus.write(IOAPIC_BASE, 1, 0x12);
        rig.bus.write(IOAPIC_BASE + 0x10, 1, 0x33);
        assert_eq!(rig.read_reg(0x12), 0x1_0033);
        rig.bus.write(IOAPIC_BASE + 0x12, 1, 0x00);
        assert_eq!(rig.read_reg(0x12), 0x33, "byte 2 unmasks");
        assert_eq!(rig.bus.read(IOAPIC_BASE + 0x11, 1), 0x00);
        assert_eq!(rig.bus.read(IOAPIC_BASE + 0x20, 4), 0);
    }

    #[test]
    fn random_register_traffic_never_panics() {
        let mut rig = Rig::new();
        let mut x: u64 = 0x0123_4567_89ab_cdef;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..100_000 {
            let r = next();
            let size = [1u32, 2, 4, 8][(r >> 4 & 3) as usize];
            let offset = [0u64, 0x10, 0x11, 0x13, 0x20, 0x40, 0xfff][(r >> 6) as usize % 7];
            match r & 7 {
                0 | 1 => rig.bus.write(IOAPIC_BASE, 1, (r >> 8) % 0x44),
                2 | 3 => rig.bus.write(IOAPIC_BASE + offset, size, r >> 32),
                4 => {
                    rig.bus.read(IOAPIC_BASE + offset, size);
                }
                5 => rig.pins((r >> 12) as u32, (r >> 40) as u32),
                6 => {
                    if rig.lapic.pending_vector().is_some() {
                        rig.lapic.acknowledge();
                    }
                }
                _ => rig.eoi(),
            }
            let io = rig.ioapic.lock().unwrap();
            for pin in 0..IOAPIC_PINS {
                let e = io.redirection(pin);
                assert_eq!(e & !(RTE_WRITABLE | RTE_REMOTE_IRR), 0);
                if e & RTE_LEVEL == 0 {
                    assert_eq!(e & RTE_REMOTE_IRR, 0, "remote IRR only on level entries");
                }
            }
        }
    }
}

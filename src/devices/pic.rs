//! The PC/AT's two cascaded Intel 8259A programmable interrupt controllers
//! (master at 0x20-0x21, slave at 0xA0-0xA1, the slave's INT output on the
//! master's IR2) and the PIIX edge/level control registers (ELCR) at
//! 0x4D0-0x4D1.
//!
//! Behaviour follows the 8259A datasheet (Intel 231468): the ICW1-ICW4
//! initialisation sequence, OCW1 (IMR), OCW2 (EOI, specific EOI, rotation),
//! OCW3 (IRR/ISR read select, poll, special mask), auto-EOI, special fully
//! nested mode and the spurious-IR7 answer to an INTA with nothing left to
//! serve. Deliberate simplifications:
//! - ICW4's uPM bit is ignored: an x86 takes the vector from the second INTA
//!   cycle, so the chip always answers as in 8086 mode (so does QEMU).
//! - ICW1's ADI and A7-A5 (MCS-80 call addresses) and ICW4's BUF/M-S bits are
//!   stored but have no effect: master and slave are fixed by the board.
//!
//! # Inputs
//!
//! The PIC does not hold the interrupt lines: the machine passes them in with
//! [`Pic8259::update`] (which consumes the edges latched in [`IrqLines`]) or
//! [`Pic8259::set_inputs`] (levels and rising edges it got elsewhere, e.g.
//! when the same edges must also reach an I/O APIC). Call one of them after
//! devices may have changed their lines and before asking [`Pic8259::intr`].
//!
//! An input in edge mode (its ELCR bit clear and ICW1.LTIM clear) sets its
//! IRR bit on a rising edge, and the bit stays set until the INTA cycle that
//! serves it, even if the line falls again (a device that pulses its line is
//! not lost). An input in level mode requests an interrupt exactly while it
//! is high. Line 2 of `IrqLines` is ignored: on an AT the master's IR2 is the
//! cascade, and ISA IRQ2 is wired to the slave's IR1 (IRQ9) by the board.
//!
//! The master's IR2 sees the slave's INT output and, being an edge-triggered
//! input (its ELCR bit is forced to 0), latches a request on its rising edge.
//! If the slave's request goes away before the INTA cycle (a level-triggered
//! line dropped), the master still serves IR2 and the slave answers with its
//! IR7 vector without setting its ISR: the spurious IRQ15 a PC shows, which
//! the guest must still acknowledge with an EOI to the master.

use super::bus::{split_read, split_write, OverlapError, PortBus, PortDevice};
use super::irq::IrqLines;
use std::sync::{Arc, Mutex};

/// The master's command and data ports.
pub const PIC_MASTER_BASE: u16 = 0x20;
/// The slave's command and data ports.
pub const PIC_SLAVE_BASE: u16 = 0xa0;
/// ELCR1 (IRQ0-7) and ELCR2 (IRQ8-15).
pub const ELCR_BASE: u16 = 0x4d0;

/// The master input the slave's INT output is wired to.
const CASCADE_IR: u8 = 2;

// ICW1 bits.
const ICW1_IC4: u8 = 0x01;
const ICW1_SNGL: u8 = 0x02;
const ICW1_LTIM: u8 = 0x08;
const ICW1_INIT: u8 = 0x10;
// ICW4 bits.
const ICW4_AEOI: u8 = 0x02;
const ICW4_SFNM: u8 = 0x10;
// OCW3 bits.
const OCW3_SELECT: u8 = 0x08;
const OCW3_POLL: u8 = 0x04;

/// Where a chip is in its initialisation sequence: which ICW the next write
/// to its odd port is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InitStep {
    Ready,
    Icw2,
    Icw3,
    Icw4,
}

/// One 8259A.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pic8259Chip {
    /// Interrupt request register.
    irr: u8,
    /// In-service register.
    isr: u8,
    /// Interrupt mask register (OCW1).
    imr: u8,
    /// Levels last seen on the IR pins, for edge detection.
    pins: u8,
    /// T7-T3 of the vectors (ICW2).
    vector_base: u8,
    icw1: u8,
    /// Master: which IRs have a slave; slave: its ID in bits 2-0.
    icw3: u8,
    icw4: u8,
    step: InitStep,
    /// The IR with the lowest priority (7 after ICW1); rotation moves it.
    lowest: u8,
    /// OCW2 "rotate in automatic EOI mode".
    rotate_on_aeoi: bool,
    /// OCW3 special mask mode.
    special_mask: bool,
    /// OCW3 RR/RIS: the even port reads ISR instead of IRR.
    read_isr: bool,
    /// OCW3 P: the next read is a poll (an interrupt acknowledge).
    poll: bool,
    /// ELCR: 1 = level-triggered input.
    elcr: u8,
    /// ELCR bits that can be set (PIIX forces IRQ0, 1, 2, 8, 13 to edge).
    elcr_writable: u8,
    is_master: bool,
}

impl Pic8259Chip {
    fn new(is_master: bool) -> Self {
        Pic8259Chip {
            irr: 0,
            isr: 0,
            imr: 0,
            pins: 0,
            vector_base: 0,
            icw1: 0,
            // Until a guest programs them, the chips are wired as on every
            // AT: the slave answers for the master's IR2.
            icw3: if is_master {
                1 << CASCADE_IR
            } else {
                CASCADE_IR
            },
            icw4: 0,
            step: InitStep::Ready,
            lowest: 7,
            rotate_on_aeoi: false,
            special_mask: false,
            read_isr: false,
            poll: false,
            elcr: 0,
            elcr_writable: if is_master { 0xf8 } else { 0xde },
            is_master,
        }
    }

    /// Inputs that are level-triggered: by ELCR, or all of them with LTIM.
    fn level_mask(&self) -> u8 {
        if self.icw1 & ICW1_LTIM != 0 {
            0xff
        } else {
            self.elcr
        }
    }

    fn single(&self) -> bool {
        self.icw1 & ICW1_SNGL != 0
    }

    fn auto_eoi(&self) -> bool {
        self.icw4 & ICW4_AEOI != 0
    }

    /// Whether IR `ir` of this (master) chip has a slave behind it.
    fn cascades(&self, ir: u8) -> bool {
        self.is_master && !self.single() && self.icw3 & (1 << ir) != 0
    }

    /// Samples the IR pins: `levels` now, plus rising edges that may have
    /// come and gone since the last look.
    fn set_pins(&mut self, levels: u8, edges: u8) {
        let level = self.level_mask();
        let rising = (levels & !self.pins) | edges;
        self.irr = (self.irr & !level) | (levels & level) | (rising & !level);
        self.pins = levels;
    }

    /// The IR of highest priority among `mask`'s bits, under the current
    /// rotation (the IR after `lowest` has the highest priority).
    fn highest(&self, mask: u8) -> Option<u8> {
        (1..=8)
            .map(|r| (self.lowest + r) & 7)
            .find(|&ir| mask & (1 << ir) != 0)
    }

    /// 0 for the highest priority, 7 for the lowest.
    fn rank(&self, ir: u8) -> u8 {
        ir.wrapping_sub(self.lowest).wrapping_sub(1) & 7
    }

    /// The IR this chip would interrupt for now: its INT output. An unmasked
    /// request wins if its priority is above every level in service, where
    /// special mask mode lets masked levels in service not count, and special
    /// fully nested mode lets a slave's own level not block the slave.
    fn pending(&self) -> Option<u8> {
        let request = self.highest(self.irr & !self.imr)?;
        let mut in_service = self.isr;
        if self.special_mask {
            in_service &= !self.imr;
        }
        if self.is_master && self.icw4 & ICW4_SFNM != 0 && !self.single() {
            in_service &= !self.icw3;
        }
        match self.highest(in_service) {
            Some(current) if self.rank(current) <= self.rank(request) => None,
            _ => Some(request),
        }
    }

    /// The chip's part of an INTA cycle (or poll) for `ir`: an edge request
    /// is consumed (a level one stays while the pin is high), and the level
    /// goes in service unless auto-EOI ends it at once.
    fn acknowledge(&mut self, ir: u8) {
        let bit = 1 << ir;
        if self.level_mask() & bit == 0 {
            self.irr &= !bit;
        }
        if self.auto_eoi() {
            if self.rotate_on_aeoi {
                self.lowest = ir;
            }
        } else {
            self.isr |= bit;
        }
    }

    /// Non-specific EOI: ends the highest-priority level in service.
    fn end_highest(&mut self) -> Option<u8> {
        let ir = self.highest(self.isr)?;
        self.isr &= !(1 << ir);
        Some(ir)
    }

    /// A poll read: the pending level with bit 7 set, acknowledged as by an
    /// INTA cycle; 0 if nothing is pending.
    fn poll_read(&mut self) -> u8 {
        match self.pending() {
            Some(ir) => {
                self.acknowledge(ir);
                0x80 | ir
            }
            None => 0,
        }
    }

    fn read(&mut self, a0: bool) -> u8 {
        if self.poll {
            self.poll = false;
            return self.poll_read();
        }
        match (a0, self.read_isr) {
            (true, _) => self.imr,
            (false, true) => self.isr,
            (false, false) => self.irr,
        }
    }

    fn write(&mut self, a0: bool, value: u8) {
        if a0 {
            self.write_data(value);
        } else if value & ICW1_INIT != 0 {
            self.icw1(value);
        } else if value & OCW3_SELECT != 0 {
            self.ocw3(value);
        } else {
            self.ocw2(value);
        }
    }

    /// ICW1 starts initialisation (datasheet, "Initialization Command
    /// Words"): the edge sense latches are reset (a line already high must
    /// fall and rise again), IMR is cleared, IR7 gets the lowest priority,
    /// special mask mode is cleared and the even port reads IRR; without IC4
    /// every ICW4 function is zero. ISR is cleared too, as QEMU and Bochs
    /// do, so a guest re-initialising with a level in service does not hang.
    fn icw1(&mut self, value: u8) {
        self.icw1 = value;
        self.step = InitStep::Icw2;
        self.irr &= self.level_mask();
        self.irr &= self.pins;
        self.isr = 0;
        self.imr = 0;
        self.lowest = 7;
        self.special_mask = false;
        self.read_isr = false;
        self.poll = false;
        self.rotate_on_aeoi = false;
        if value & ICW1_IC4 == 0 {
            self.icw4 = 0;
        }
    }

    fn write_data(&mut self, value: u8) {
        let ic4 = self.icw1 & ICW1_IC4 != 0;
        let after_icw3 = if ic4 { InitStep::Icw4 } else { InitStep::Ready };
        match self.step {
            InitStep::Icw2 => {
                self.vector_base = value & 0xf8;
                self.step = if self.single() {
                    after_icw3
                } else {
                    InitStep::Icw3
                };
            }
            InitStep::Icw3 => {
                self.icw3 = value;
                self.step = after_icw3;
            }
            InitStep::Icw4 => {
                self.icw4 = value;
                self.step = InitStep::Ready;
            }
            InitStep::Ready => self.imr = value,
        }
    }

    /// OCW2: R, SL, EOI in bits 7-5, the level in bits 2-0.
    fn ocw2(&mut self, value: u8) {
        let level = value & 7;
        match value >> 5 {
            0b000 => self.rotate_on_aeoi = false,
            0b100 => self.rotate_on_aeoi = true,
            0b001 => {
                self.end_highest();
            }
            0b101 => {
                if let Some(ir) = self.end_highest() {
                    self.lowest = ir;
                }
            }
            0b011 => self.isr &= !(1 << level),
            0b111 => {
                self.isr &= !(1 << level);
                self.lowest = level;
            }
            0b110 => self.lowest = level,
            _ => {} // 0b010: no operation
        }
    }

    /// OCW3: ESMM/SMM in bits 6-5, P in bit 2, RR/RIS in bits 1-0.
    fn ocw3(&mut self, value: u8) {
        match (value >> 5) & 3 {
            0b11 => self.special_mask = true,
            0b10 => self.special_mask = false,
            _ => {}
        }
        if value & OCW3_POLL != 0 {
            self.poll = true;
        }
        match value & 3 {
            0b10 => self.read_isr = false,
            0b11 => self.read_isr = true,
            _ => {}
        }
    }
}

/// The AT's pair of 8259As and the ELCR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pic8259 {
    master: Pic8259Chip,
    slave: Pic8259Chip,
}

/// The PIC as the machine shares it between the port bus and the vCPU.
pub type SharedPic = Arc<Mutex<Pic8259>>;

impl Default for Pic8259 {
    fn default() -> Self {
        Self::new()
    }
}

impl Pic8259 {
    /// Both chips in their power-on state: vector base 0, nothing masked,
    /// every input edge-triggered. Firmware initialises them before use.
    pub fn new() -> Self {
        Pic8259 {
            master: Pic8259Chip::new(true),
            slave: Pic8259Chip::new(false),
        }
    }

    /// Samples the ISA interrupt lines: their levels, and the rising edges
    /// latched since the last call (consumed).
    pub fn update(&mut self, lines: &IrqLines) {
        let edges = lines.take_edges();
        self.set_inputs(lines.levels(), edges);
    }

    /// Samples the ISA interrupt lines given as bit masks (bit n = IRQ n):
    /// current `levels` and rising `edges` seen since the last call.
    pub fn set_inputs(&mut self, levels: u32, edges: u32) {
        self.slave.set_pins((levels >> 8) as u8, (edges >> 8) as u8);
        let cascade = 1 << CASCADE_IR;
        let master_pins = (self.master.pins & cascade) | (levels as u8 & !cascade);
        self.master.set_pins(master_pins, edges as u8 & !cascade);
        self.sync_cascade();
    }

    /// Feeds the slave's INT output to the master's IR2.
    fn sync_cascade(&mut self) {
        let cascade = 1 << CASCADE_IR;
        let out = if self.slave.pending().is_some() {
            cascade
        } else {
            0
        };
        let pins = (self.master.pins & !cascade) | out;
        self.master.set_pins(pins, 0);
    }

    /// The INTR pin: the master has an unmasked request of higher priority
    /// than everything it has in service.
    pub fn intr(&self) -> bool {
        self.master.pending().is_some()
    }

    /// The CPU's INTA cycle: the vector of the request being served, which
    /// goes from IRR to ISR (or ends at once with auto-EOI). With nothing to
    /// serve the answer is the spurious vector, IR7 of the chip asked, and
    /// no ISR bit is set in that chip. A cascaded IR whose slave does not
    /// claim it (ICW3 IDs that do not match the wiring) reads the undriven
    /// bus: 0xFF.
    pub fn acknowledge(&mut self) -> u8 {
        let Some(ir) = self.master.pending() else {
            return self.master.vector_base | 7;
        };
        let vector = if self.master.cascades(ir) {
            if !self.slave.single() && self.slave.icw3 & 7 == ir {
                match self.slave.pending() {
                    Some(slave_ir) => {
                        self.slave.acknowledge(slave_ir);
                        self.slave.vector_base | slave_ir
                    }
                    None => self.slave.vector_base | 7,
                }
            } else {
                0xff
            }
        } else {
            self.master.vector_base | ir
        };
        self.master.acknowledge(ir);
        self.sync_cascade();
        vector
    }

    fn read_port(&mut self, port: u16) -> u8 {
        let value = match port {
            0x20 | 0x21 => self.master.read(port & 1 != 0),
            0xa0 | 0xa1 => self.slave.read(port & 1 != 0),
            0x4d0 => self.master.elcr,
            0x4d1 => self.slave.elcr,
            _ => 0xff,
        };
        self.sync_cascade();
        value
    }

    fn write_port(&mut self, port: u16, value: u8) {
        match port {
            0x20 | 0x21 => self.master.write(port & 1 != 0, value),
            0xa0 | 0xa1 => self.slave.write(port & 1 != 0, value),
            // A trigger mode change applies at the next sample of the pins;
            // a request latched as an edge stays latched.
            0x4d0 => self.master.elcr = value & self.master.elcr_writable,
            0x4d1 => self.slave.elcr = value & self.slave.elcr_writable,
            _ => {}
        }
        self.sync_cascade();
    }
}

/// One of the PIC's port windows on the bus.
struct PicPorts {
    pic: SharedPic,
    base: u16,
}

impl PortDevice for PicPorts {
    fn read(&mut self, offset: u16, size: u8) -> u32 {
        let mut pic = self.pic.lock().unwrap_or_else(|e| e.into_inner());
        split_read(offset, size, |off| {
            if off < 2 {
                pic.read_port(self.base + off)
            } else {
                0xff
            }
        })
    }

    fn write(&mut self, offset: u16, size: u8, value: u32) {
        let mut pic = self.pic.lock().unwrap_or_else(|e| e.into_inner());
        split_write(offset, size, value, |off, byte| {
            if off < 2 {
                pic.write_port(self.base + off, byte);
            }
        });
    }
}

/// Puts the PIC on the bus: master 0x20-0x21, slave 0xA0-0xA1, ELCR
/// 0x4D0-0x4D1.
pub fn register_pic(bus: &mut PortBus, pic: &SharedPic) -> Result<(), OverlapError> {
    for base in [PIC_MASTER_BASE, PIC_SLAVE_BASE, ELCR_BASE] {
        let ports = PicPorts {
            pic: pic.clone(),
            base,
        };
        bus.register(base, 2, Box::new(ports))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::irq::SharedIrqLines;

    /// A PIC on a port bus with its interrupt lines, driven the way a guest
    /// and a board would.
    struct Rig {
        bus: PortBus,
        pic: SharedPic,
        lines: SharedIrqLines,
    }

    impl Rig {
        fn new() -> Self {
            let pic: SharedPic = Arc::new(Mutex::new(Pic8259::new()));
            let mut bus = PortBus::default();
            register_pic(&mut bus, &pic).unwrap();
            Rig {
                bus,
                pic,
                lines: IrqLines::new(),
            }
        }

        /// The PC's usual programming (Linux, SeaBIOS): vectors 0x20/0x28.
        fn initialised() -> Self {
            let mut rig = Rig::new();
            rig.init(0x20, 0x28, 0x01, 0x01);
            rig
        }

        fn init(&mut self, master_base: u8, slave_base: u8, icw4_m: u8, icw4_s: u8) {
            self.out(0x20, 0x11);
            self.out(0x21, master_base);
            self.out(0x21, 0x04);
            self.out(0x21, icw4_m);
            self.out(0xa0, 0x11);
            self.out(0xa1, slave_base);
            self.out(0xa1, 0x02);
            self.out(0xa1, icw4_s);
        }

        fn out(&mut self, port: u16, value: u8) {
            self.bus.write(port, 1, value as u32);
        }

        fn inb(&mut self, port: u16) -> u8 {
            self.bus.read(port, 1) as u8
        }

        fn sample(&self) {
            self.pic.lock().unwrap().update(&self.lines);
        }

        fn raise(&self, irq: u32) {
            self.lines.line(irq).raise();
            self.sample();
        }

        fn lower(&self, irq: u32) {
            self.lines.line(irq).lower();
            self.sample();
        }

        fn pulse(&self, irq: u32) {
            self.lines.line(irq).pulse();
            self.sample();
        }

        fn intr(&self) -> bool {
            self.pic.lock().unwrap().intr()
        }

        fn ack(&self) -> u8 {
            self.pic.lock().unwrap().acknowledge()
        }

        fn irr(&mut self, base: u16) -> u8 {
            self.out(base, 0x0a);
            self.inb(base)
        }

        fn isr(&mut self, base: u16) -> u8 {
            self.out(base, 0x0b);
            let v = self.inb(base);
            self.out(base, 0x0a);
            v
        }

        fn eoi(&mut self, base: u16) {
            self.out(base, 0x20);
        }
    }

    #[test]
    fn initialisation_sets_vector_bases_and_cascade() {
        let mut rig = Rig::initialised();
        assert!(!rig.intr());
        rig.pulse(0);
        assert!(rig.intr());
        assert_eq!(rig.ack(), 0x20);
        assert!(!rig.intr());
        assert_eq!(rig.isr(0x20), 0x01);
        rig.eoi(0x20);
        assert_eq!(rig.isr(0x20), 0);

        rig.pulse(9);
        assert!(rig.intr());
        assert_eq!(rig.ack(), 0x29);
        assert_eq!(rig.isr(0xa0), 0x02, "slave IR1 in service");
        assert_eq!(rig.isr(0x20), 0x04, "master IR2 in service");
        rig.eoi(0xa0);
        rig.eoi(0x20);
        assert_eq!(rig.isr(0xa0) | rig.isr(0x20), 0);
        assert!(!rig.intr());
    }

    #[test]
    fn icw2_keeps_only_t7_t3() {
        let mut rig = Rig::new();
        rig.init(0x0f, 0x77, 0x01, 0x01);
        rig.pulse(1);
        assert_eq!(rig.ack(), 0x09);
        rig.eoi(0x20);
        rig.pulse(15);
        assert_eq!(rig.ack(), 0x77);
    }

    #[test]
    fn imr_masks_requests_until_unmasked() {
        let mut rig = Rig::initialised();
        rig.out(0x21, 0xfe);
        assert_eq!(rig.inb(0x21), 0xfe);
        rig.pulse(3);
        assert!(!rig.intr(), "IRQ3 is masked");
        assert_eq!(rig.irr(0x20), 0x08, "but requested");
        rig.out(0x21, 0x00);
        assert!(rig.intr());
        assert_eq!(rig.ack(), 0x23);
        // Masking the cascade masks every slave IRQ.
        rig.eoi(0x20);
        rig.out(0x21, 0x04);
        rig.pulse(12);
        assert!(!rig.intr());
        rig.out(0x21, 0x00);
        assert_eq!(rig.ack(), 0x2c);
    }

    #[test]
    fn fixed_priority_nests_higher_levels_only() {
        let mut rig = Rig::initialised();
        rig.pulse(3);
        assert_eq!(rig.ack(), 0x23);
        rig.pulse(5);
        assert!(!rig.intr(), "IRQ5 waits while IRQ3 is in service");
        rig.pulse(3);
        assert!(!rig.intr(), "so does IRQ3 itself");
        rig.pulse(1);
        assert!(rig.intr(), "IRQ1 preempts");
        assert_eq!(rig.ack(), 0x21);
        assert_eq!(rig.isr(0x20), 0x0a);
        // Non-specific EOI ends the highest level in service: IRQ1.
        rig.eoi(0x20);
        assert_eq!(rig.isr(0x20), 0x08);
        assert!(!rig.intr());
        rig.eoi(0x20);
        assert!(rig.intr());
        assert_eq!(rig.ack(), 0x23, "the second IRQ3 edge was latched");
        rig.eoi(0x20);
        assert_eq!(rig.ack(), 0x25);
        rig.eoi(0x20);
        assert!(!rig.intr());
    }

    #[test]
    fn slave_levels_rank_between_irq1_and_irq3() {
        let mut rig = Rig::initialised();
        rig.pulse(3);
        rig.pulse(14);
        assert_eq!(rig.ack(), 0x2e, "IRQ14 via IR2 beats IRQ3");
        rig.pulse(8);
        assert!(!rig.intr(), "master IR2 in service blocks the slave");
        rig.eoi(0xa0);
        rig.eoi(0x20);
        assert_eq!(rig.ack(), 0x28);
        rig.eoi(0xa0);
        rig.eoi(0x20);
        assert_eq!(rig.ack(), 0x23);
    }

    #[test]
    fn specific_eoi_clears_the_named_level() {
        let mut rig = Rig::initialised();
        rig.pulse(4);
        rig.ack();
        rig.pulse(0);
        rig.ack();
        assert_eq!(rig.isr(0x20), 0x11);
        rig.out(0x20, 0x64); // specific EOI, level 4
        assert_eq!(rig.isr(0x20), 0x01);
        rig.out(0x20, 0x67); // specific EOI for a level not in service
        assert_eq!(rig.isr(0x20), 0x01);
    }

    #[test]
    fn rotation_commands_move_the_lowest_priority() {
        let mut rig = Rig::initialised();
        // Rotate on non-specific EOI: the served level becomes the lowest.
        rig.pulse(1);
        assert_eq!(rig.ack(), 0x21);
        rig.out(0x20, 0xa0);
        rig.pulse(1);
        rig.pulse(6);
        assert_eq!(rig.ack(), 0x26, "IR1 is now the lowest priority");
        // Set priority: IR6 lowest, so IR7 is the highest.
        rig.out(0x20, 0xc6);
        rig.pulse(7);
        assert!(rig.intr(), "IR7 outranks IR6 in service");
        assert_eq!(rig.ack(), 0x27);
        // Rotate on specific EOI for IR7: IR0 becomes the highest.
        rig.out(0x20, 0xe7);
        assert_eq!(rig.isr(0x20), 0x40);
        rig.out(0x20, 0x66);
        assert_eq!(rig.isr(0x20), 0);
        rig.pulse(0);
        assert_eq!(rig.ack(), 0x20);
        assert_eq!(rig.irr(0x20), 0x02, "IR1 still waits");
    }

    #[test]
    fn ocw3_selects_irr_or_isr_and_data_port_reads_imr() {
        let mut rig = Rig::initialised();
        rig.out(0x21, 0x80);
        rig.pulse(5);
        rig.pulse(6);
        rig.ack();
        rig.out(0x20, 0x0b);
        assert_eq!(rig.inb(0x20), 0x20, "ISR");
        assert_eq!(rig.inb(0x20), 0x20, "selection persists");
        assert_eq!(rig.inb(0x21), 0x80, "odd port reads IMR");
        rig.out(0x20, 0x08); // OCW3 without RR: no change
        assert_eq!(rig.inb(0x20), 0x20);
        rig.out(0x20, 0x0a);
        assert_eq!(rig.inb(0x20), 0x40, "IRR");
    }

    #[test]
    fn poll_mode_acknowledges_on_read() {
        let mut rig = Rig::initialised();
        rig.out(0x20, 0x0c);
        assert_eq!(rig.inb(0x20), 0x00, "nothing pending");
        rig.pulse(6);
        rig.pulse(4);
        rig.out(0x20, 0x0c);
        assert_eq!(rig.inb(0x21), 0x84, "either port answers a poll");
        assert_eq!(rig.isr(0x20), 0x10);
        assert_eq!(rig.inb(0x21), 0x00, "poll is one-shot: IMR again");
        rig.eoi(0x20);
        rig.out(0xa0, 0x0c);
        assert_eq!(rig.inb(0xa0), 0x00);
        rig.pulse(13);
        rig.out(0xa0, 0x0c);
        assert_eq!(rig.inb(0xa0), 0x85);
        assert_eq!(rig.isr(0xa0), 0x20);
    }

    #[test]
    fn auto_eoi_leaves_nothing_in_service() {
        let mut rig = Rig::new();
        rig.init(0x08, 0x70, 0x03, 0x03);
        rig.pulse(2 + 8);
        assert_eq!(rig.ack(), 0x72);
        assert_eq!(rig.isr(0x20), 0);
        assert_eq!(rig.isr(0xa0), 0);
        rig.pulse(5);
        assert_eq!(rig.ack(), 0x0d);
        // Rotate in AEOI mode: each served level becomes the lowest.
        rig.out(0x20, 0x80);
        rig.pulse(3);
        assert_eq!(rig.ack(), 0x0b);
        rig.pulse(3);
        rig.pulse(4);
        assert_eq!(rig.ack(), 0x0c, "IR3 now has the lowest priority");
        rig.out(0x20, 0x00);
        rig.pulse(7);
        assert_eq!(
            rig.ack(),
            0x0f,
            "IR4 was rotated to the bottom: IR7 before IR3"
        );
        assert_eq!(rig.ack(), 0x0b);
        rig.pulse(3);
        rig.pulse(6);
        assert_eq!(rig.ack(), 0x0e, "rotation off: the order stays");
    }

    #[test]
    fn level_triggered_inputs_follow_the_line() {
        let mut rig = Rig::initialised();
        rig.bus.write(0x4d0, 1, 0x60); // IRQ5 and IRQ6 level
        assert_eq!(rig.inb(0x4d0), 0x60);
        rig.raise(5);
        assert_eq!(rig.ack(), 0x25);
        rig.eoi(0x20);
        assert!(rig.intr(), "still high: requests again after EOI");
        rig.lower(5);
        assert!(!rig.intr(), "request withdrawn with the line");
        assert_eq!(rig.irr(0x20), 0);
        // Pulses are not seen by a level input.
        rig.pulse(6);
        assert_eq!(rig.irr(0x20), 0);
        // A slave level input re-requests through the cascade edge.
        rig.bus.write(0x4d1, 1, 0x04); // IRQ10 level
        rig.raise(10);
        assert_eq!(rig.ack(), 0x2a);
        rig.eoi(0xa0);
        rig.eoi(0x20);
        assert_eq!(rig.ack(), 0x2a, "still high after both EOIs");
    }

    #[test]
    fn edge_inputs_need_a_new_rising_edge() {
        let mut rig = Rig::initialised();
        rig.raise(4);
        assert_eq!(rig.ack(), 0x24);
        rig.eoi(0x20);
        assert!(!rig.intr(), "held high: no new request");
        rig.lower(4);
        rig.raise(4);
        assert_eq!(rig.ack(), 0x24);
    }

    #[test]
    fn elcr_forces_piix_edge_only_irqs() {
        let mut rig = Rig::new();
        rig.bus.write(0x4d0, 1, 0xff);
        rig.bus.write(0x4d1, 1, 0xff);
        assert_eq!(rig.inb(0x4d0), 0xf8, "IRQ0-2 stay edge");
        assert_eq!(rig.inb(0x4d1), 0xde, "IRQ8 and IRQ13 stay edge");
        assert_eq!(rig.bus.read(0x4d0, 2), 0xdef8);
    }

    #[test]
    fn ltim_makes_every_input_level_triggered() {
        let mut rig = Rig::new();
        rig.init(0x20, 0x28, 0x01, 0x01);
        rig.out(0x20, 0x19);
        rig.out(0x21, 0x20);
        rig.out(0x21, 0x04);
        rig.out(0x21, 0x01);
        rig.pulse(5);
        assert!(!rig.intr());
        rig.raise(5);
        assert_eq!(rig.ack(), 0x25);
    }

    #[test]
    fn request_gone_before_inta_gives_spurious_irq7() {
        let mut rig = Rig::initialised();
        rig.bus.write(0x4d0, 1, 0x20); // IRQ5 level
        rig.raise(5);
        assert!(rig.intr());
        rig.lower(5);
        assert_eq!(rig.ack(), 0x27);
        assert_eq!(rig.isr(0x20), 0, "no ISR bit for a spurious IRQ7");
        // A real IRQ7 does set ISR.
        rig.pulse(7);
        assert_eq!(rig.ack(), 0x27);
        assert_eq!(rig.isr(0x20), 0x80);
    }

    #[test]
    fn slave_request_gone_gives_spurious_irq15_with_master_in_service() {
        let mut rig = Rig::initialised();
        rig.bus.write(0x4d1, 1, 0x08); // IRQ11 level
        rig.raise(11);
        rig.lower(11);
        assert!(rig.intr(), "the master latched the cascade edge");
        assert_eq!(rig.ack(), 0x2f);
        assert_eq!(rig.isr(0xa0), 0);
        assert_eq!(rig.isr(0x20), 0x04, "the master still needs its EOI");
        rig.eoi(0x20);
        assert!(!rig.intr());
    }

    #[test]
    fn acknowledge_with_nothing_pending_is_spurious() {
        let mut rig = Rig::initialised();
        assert_eq!(rig.ack(), 0x27);
        assert_eq!(rig.isr(0x20), 0);
    }

    #[test]
    fn special_mask_mode_lets_lower_levels_in() {
        let mut rig = Rig::initialised();
        rig.pulse(3);
        assert_eq!(rig.ack(), 0x23);
        rig.pulse(6);
        assert!(!rig.intr());
        rig.out(0x21, 0x08); // mask IR3 ...
        rig.out(0x20, 0x68); // ... and set special mask mode
        assert!(rig.intr(), "IRQ6 gets through below IRQ3 in service");
        assert_eq!(rig.ack(), 0x26);
        rig.out(0x20, 0x66); // specific EOI 6
        rig.out(0x20, 0x48); // reset special mask mode
        rig.pulse(6);
        assert!(!rig.intr(), "IRQ3 in service blocks again");
    }

    #[test]
    fn special_fully_nested_mode_lets_a_higher_slave_level_through() {
        let mut rig = Rig::new();
        rig.init(0x20, 0x28, 0x11, 0x01);
        rig.pulse(12);
        assert_eq!(rig.ack(), 0x2c);
        rig.pulse(9);
        assert!(rig.intr(), "IRQ9 outranks IRQ12 on the slave");
        assert_eq!(rig.ack(), 0x29);
        rig.pulse(13);
        assert!(!rig.intr(), "but IRQ13 does not");
        // Without SFNM, master IR2 in service blocks it.
        let rig = Rig::initialised();
        rig.pulse(12);
        rig.ack();
        rig.pulse(9);
        assert!(!rig.intr());
    }

    #[test]
    fn icw1_resets_mask_service_and_edge_latches() {
        let mut rig = Rig::initialised();
        rig.out(0x21, 0xff);
        rig.pulse(1);
        rig.out(0x21, 0x00);
        rig.ack();
        rig.pulse(4);
        rig.raise(6);
        rig.out(0x21, 0x5a);
        rig.out(0x20, 0x0b);
        rig.init(0x40, 0x48, 0x01, 0x01);
        assert_eq!(rig.inb(0x21), 0, "IMR cleared");
        assert_eq!(rig.isr(0x20), 0);
        assert_eq!(rig.irr(0x20), 0, "latched edges forgotten");
        assert!(!rig.intr(), "a line already high is not a new edge");
        rig.lower(6);
        rig.raise(6);
        assert_eq!(rig.ack(), 0x46);
    }

    #[test]
    fn single_mode_skips_icw3() {
        let mut rig = Rig::new();
        rig.out(0x20, 0x13); // single, IC4
        rig.out(0x21, 0x50);
        rig.out(0x21, 0x01); // this is ICW4, not ICW3
        rig.out(0x21, 0xfe); // OCW1
        assert_eq!(rig.inb(0x21), 0xfe);
        rig.pulse(0);
        assert_eq!(rig.ack(), 0x50);
    }

    #[test]
    fn without_ic4_the_sequence_ends_after_icw3() {
        let mut rig = Rig::new();
        rig.out(0x20, 0x10);
        rig.out(0x21, 0x30);
        rig.out(0x21, 0x04);
        rig.out(0x21, 0x7f); // OCW1
        assert_eq!(rig.inb(0x21), 0x7f);
    }

    #[test]
    fn slave_with_the_wrong_id_leaves_the_bus_floating() {
        let mut rig = Rig::initialised();
        rig.out(0xa0, 0x11);
        rig.out(0xa1, 0x28);
        rig.out(0xa1, 0x03); // claims IR3
        rig.out(0xa1, 0x01);
        rig.pulse(8);
        assert!(rig.intr());
        assert_eq!(rig.ack(), 0xff);
    }

    #[test]
    fn wide_accesses_are_split_into_bytes() {
        let mut rig = Rig::initialised();
        rig.pulse(3);
        rig.bus.write(0x20, 2, 0xa50a); // OCW3 read IRR, then IMR = 0xa5
        assert_eq!(rig.bus.read(0x20, 2), 0xa508);
        assert_eq!(
            rig.bus.read(0x21, 4),
            0xffff_ffa5,
            "past the window: open bus"
        );
    }

    #[test]
    fn irq2_line_is_not_the_cascade_input() {
        let mut rig = Rig::initialised();
        rig.pulse(2);
        assert!(!rig.intr());
        assert_eq!(rig.irr(0x20), 0);
    }

    #[test]
    fn random_port_traffic_never_panics() {
        let mut rig = Rig::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const PORTS: [u16; 8] = [0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, 0x22, 0x4cf];
        for _ in 0..200_000 {
            let r = next();
            let port = PORTS[(r & 7) as usize];
            let size = [1u8, 2, 4, 3][(r >> 3 & 3) as usize];
            match r >> 5 & 7 {
                0..=2 => rig.bus.write(port, size, (r >> 16) as u32),
                3 | 4 => {
                    rig.bus.read(port, size);
                }
                5 => {
                    let lines = (r >> 16) as u32;
                    rig.pic.lock().unwrap().set_inputs(lines, lines >> 7);
                }
                _ => {
                    let mut pic = rig.pic.lock().unwrap();
                    if pic.intr() {
                        pic.acknowledge();
                    } else {
                        // Spurious: IR7 of the master, whatever its base.
                        assert_eq!(pic.acknowledge() & 7, 7);
                    }
                }
            }
        }
    }
}

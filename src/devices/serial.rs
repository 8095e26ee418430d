//! 16550A UARTs (COM1-COM4) on vm-superio's `Serial`, with what a PC guest
//! needs and that crate does not model added around it.
//!
//! vm-superio 0.8 keeps the registers, the divisor latch, the receive buffer,
//! loopback of THR into RBR and of MCR into MSR, and writes transmitted bytes
//! to our `Write`. What it lacks or gets wrong for a PC, and what this wrapper
//! does instead (each checked against the NS PC16550D datasheet):
//!
//! - **Interrupt output.** Its `Trigger` is a push button with no way to
//!   de-assert, but the 16550's INTRPT pin is a level: high while any enabled
//!   interrupt is pending (datasheet, IIR). On a PC that pin reaches the 8259
//!   through a buffer enabled by the OUT2 output (MCR bit 3), and in loopback
//!   the output pins are forced inactive, so no IRQ reaches the PIC. The
//!   trigger is therefore a no-op; after every access this wrapper computes the
//!   pending interrupt itself and drives the `IrqLine` to
//!   `OUT2 && !loop && pending`. The PIC sees a rising edge whenever a new
//!   interrupt becomes pending after the line had dropped.
//! - **IIR.** vm-superio ORs the RDA and THRE identifiers (0x04|0x02 reads as
//!   0x06, "receiver line status") and clears every source on an IIR read.
//!   Here IIR reports the highest-priority source (line status > received
//!   data/timeout > THR empty > modem status); an IIR read clears only a THRE
//!   indication, received data stays pending until RBR is drained.
//! - **FCR** is ignored by vm-superio and its IIR always claims FIFOs are on.
//!   Here FCR bit 0 enables the FIFOs (a change clears them), bits 1 clears
//!   the receive FIFO, bits 6-7 set the trigger level, and IIR bits 6-7 read
//!   11 only while FIFOs are enabled. The receiver holds 16 bytes in FIFO mode
//!   and 1 byte in 16450 mode (vm-superio's buffer is 64 deep; we never let it
//!   fill past the 16550A's limit).
//! - **Overrun** (LSR bit 1, line status interrupt): set when loopback
//!   transmits into a full receiver; cleared by reading LSR. Host input is
//!   never overrun: `enqueue_input` accepts only what fits and the caller keeps
//!   the rest.
//! - **MSR delta bits** (DCTS, DDSR, TERI, DDCD) and the modem status
//!   interrupt: vm-superio has neither. Here they are latched whenever the
//!   modem inputs change (in practice: MCR writes in loopback, or entering and
//!   leaving loopback) and cleared by reading MSR.
//! - **RBR when empty** reads the last byte received, not 0.
//! - **Reset values**: vm-superio starts with MCR = OUT2 and LCR = 8N1; the
//!   16550 resets both to 0, so the wrapper writes them back.
//!
//! Not modelled: baud-rate timing (bytes move instantly, so THR is empty again
//! as soon as it is written and the character timeout fires at once), parity,
//! framing and break, the transmit FIFO, DMA mode signals.

use super::bus::{split_read, split_write, OverlapError, PortBus, PortDevice};
use super::irq::{IrqLine, SharedIrqLines};
use std::convert::Infallible;
use std::io::Write;
use std::sync::{Arc, Mutex};
use vm_superio::serial::NoEvents;
use vm_superio::{Serial, Trigger};

/// The four PC serial ports and their conventional wiring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComPort {
    Com1,
    Com2,
    Com3,
    Com4,
}

impl ComPort {
    pub fn base(self) -> u16 {
        match self {
            ComPort::Com1 => 0x3f8,
            ComPort::Com2 => 0x2f8,
            ComPort::Com3 => 0x3e8,
            ComPort::Com4 => 0x2e8,
        }
    }

    pub fn irq(self) -> u32 {
        match self {
            ComPort::Com1 | ComPort::Com3 => 4,
            ComPort::Com2 | ComPort::Com4 => 3,
        }
    }
}

/// Eight registers per UART.
pub const UART_PORTS: u16 = 8;

// Register offsets (datasheet table II).
const RBR_THR: u16 = 0;
const IER: u16 = 1;
const IIR_FCR: u16 = 2;
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;
const MSR: u16 = 6;
const SCR: u16 = 7;

const LCR_DLAB: u8 = 0x80;
const MCR_OUT2: u8 = 0x08;
const MCR_LOOP: u8 = 0x10;
/// MCR bits 5-7 are always 0 on the 16550A.
const MCR_MASK: u8 = 0x1f;
const IER_RDA: u8 = 0x01;
const IER_THRE: u8 = 0x02;
const IER_RLS: u8 = 0x04;
const IER_MS: u8 = 0x08;
const LSR_OE: u8 = 0x02;
const FCR_ENABLE: u8 = 0x01;
const FCR_CLEAR_RX: u8 = 0x02;

// IIR identifiers, highest priority first.
const IIR_NONE: u8 = 0x01;
const IIR_RLS: u8 = 0x06;
const IIR_RDA: u8 = 0x04;
const IIR_TIMEOUT: u8 = 0x0c;
const IIR_THRE: u8 = 0x02;
const IIR_MS: u8 = 0x00;
const IIR_FIFOS_ON: u8 = 0xc0;

const FIFO_DEPTH: usize = 16;

/// vm-superio notifies through this; we compute the level ourselves (see the
/// module comment), so its pushes are ignored.
pub struct NoTrigger;

impl Trigger for NoTrigger {
    type E = Infallible;
    fn trigger(&self) -> Result<(), Infallible> {
        Ok(())
    }
}

type Inner = Serial<NoTrigger, NoEvents, Box<dyn Write + Send>>;

pub struct Uart16550 {
    uart: Inner,
    irq: IrqLine,
    /// Capacity of vm-superio's receive buffer when empty.
    buffer_size: usize,
    /// Shadow of IER (readable even while DLAB hides it).
    ier: u8,
    /// Shadow of MCR.
    mcr: u8,
    fifo_enabled: bool,
    /// Receive FIFO trigger level: 1, 4, 8 or 14 bytes.
    rx_trigger: usize,
    /// A THR-empty interrupt not yet acknowledged by an IIR read.
    thre_pending: bool,
    /// LSR overrun error, cleared by reading LSR.
    overrun: bool,
    /// MSR bits 0-3, cleared by reading MSR.
    msr_delta: u8,
    /// The level we last drove on the IRQ line.
    irq_high: bool,
    /// What RBR shows once the receiver is empty.
    last_rx: u8,
}

impl Uart16550 {
    pub fn new(irq: IrqLine, out: Box<dyn Write + Send>) -> Self {
        let uart = Serial::new(NoTrigger, out);
        let buffer_size = uart.fifo_capacity();
        let mut dev = Uart16550 {
            uart,
            irq,
            buffer_size,
            ier: 0,
            mcr: 0,
            fifo_enabled: false,
            rx_trigger: 1,
            thre_pending: false,
            overrun: false,
            msr_delta: 0,
            irq_high: false,
            last_rx: 0,
        };
        dev.apply_reset_values();
        dev
    }

    /// Master reset: registers to their datasheet reset values, FIFOs empty,
    /// interrupt output low. The output stream is kept.
    pub fn reset(&mut self) {
        let old = std::mem::replace(
            &mut self.uart,
            Serial::new(NoTrigger, Box::new(std::io::sink())),
        );
        self.uart = Serial::new(NoTrigger, old.into_writer());
        self.ier = 0;
        self.mcr = 0;
        self.fifo_enabled = false;
        self.rx_trigger = 1;
        self.thre_pending = false;
        self.overrun = false;
        self.msr_delta = 0;
        self.last_rx = 0;
        self.apply_reset_values();
    }

    fn apply_reset_values(&mut self) {
        // vm-superio presets OUT2 and 8N1; the chip resets MCR and LCR to 0.
        let _ = self.uart.write(MCR as u8, 0);
        let _ = self.uart.write(LCR as u8, 0);
        self.update_irq();
    }

    /// Bytes from the host (e.g. stdin) arriving on the serial input. Returns
    /// how many were accepted: the receiver holds 16 bytes with FIFOs on, 1
    /// without, and none in loopback (the input pin is disconnected); the
    /// caller keeps the rest and offers them again later.
    pub fn enqueue_input(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.input_room());
        if n == 0 {
            return 0;
        }
        let accepted = self.uart.enqueue_raw_bytes(&bytes[..n]).unwrap_or(0);
        self.update_irq();
        accepted
    }

    /// How many host bytes `enqueue_input` would accept now.
    pub fn input_room(&self) -> usize {
        if self.loopback() {
            0
        } else {
            self.rx_limit().saturating_sub(self.rx_count())
        }
    }

    /// The level of the interrupt output as the PIC sees it.
    pub fn irq_level(&self) -> bool {
        self.irq_high
    }

    fn rx_count(&self) -> usize {
        self.buffer_size - self.uart.fifo_capacity()
    }

    fn rx_limit(&self) -> usize {
        if self.fifo_enabled {
            FIFO_DEPTH
        } else {
            1
        }
    }

    fn loopback(&self) -> bool {
        self.mcr & MCR_LOOP != 0
    }

    fn dlab(&mut self) -> bool {
        self.uart.read(LCR as u8) & LCR_DLAB != 0
    }

    /// The highest-priority pending interrupt (datasheet table IV).
    fn interrupt_id(&self) -> u8 {
        let rx = self.rx_count();
        if self.ier & IER_RLS != 0 && self.overrun {
            IIR_RLS
        } else if self.ier & IER_RDA != 0 && rx > 0 {
            if self.fifo_enabled && rx < self.rx_trigger {
                IIR_TIMEOUT
            } else {
                IIR_RDA
            }
        } else if self.ier & IER_THRE != 0 && self.thre_pending {
            IIR_THRE
        } else if self.ier & IER_MS != 0 && self.msr_delta != 0 {
            IIR_MS
        } else {
            IIR_NONE
        }
    }

    fn update_irq(&mut self) {
        let mcr = self.mcr;
        let gate = mcr & MCR_OUT2 != 0 && mcr & MCR_LOOP == 0;
        let high = gate && self.interrupt_id() != IIR_NONE;
        // Only drive the line when our output changes: with OUT2 off the
        // buffer is tri-stated, and COM1/COM3 (COM2/COM4) share a line.
        if high != self.irq_high {
            self.irq_high = high;
            self.irq.set_level(high);
        }
    }

    /// Drops everything in the receiver (FCR bit 1, FIFO enable changes).
    fn clear_rx(&mut self) {
        let lcr = self.uart.read(LCR as u8);
        let _ = self.uart.write(LCR as u8, lcr & !LCR_DLAB);
        // Bounded by the buffer size: each read pops one byte.
        for _ in 0..self.buffer_size {
            if self.rx_count() == 0 {
                break;
            }
            self.uart.read(RBR_THR as u8);
        }
        let _ = self.uart.write(LCR as u8, lcr);
    }

    fn transmit(&mut self, byte: u8) {
        if self.loopback() && self.rx_count() >= self.rx_limit() {
            // The receiver is full: the new character is an overrun. In 16450
            // mode it overwrites RBR; in FIFO mode it is lost (datasheet, LSR
            // bit 1).
            self.overrun = true;
            if !self.fifo_enabled {
                self.uart.read(RBR_THR as u8);
                let _ = self.uart.write(RBR_THR as u8, byte);
            }
        } else {
            // An output error loses the byte, as a disconnected line would.
            let _ = self.uart.write(RBR_THR as u8, byte);
        }
        // Transmission is instantaneous: THR is empty again at once.
        self.thre_pending = true;
    }

    fn write_fcr(&mut self, value: u8) {
        let enable = value & FCR_ENABLE != 0;
        if enable != self.fifo_enabled {
            self.clear_rx();
            self.fifo_enabled = enable;
        }
        // With FCR bit 0 clear the other bits are not programmed.
        if enable {
            if value & FCR_CLEAR_RX != 0 {
                self.clear_rx();
            }
            self.rx_trigger = [1, 4, 8, 14][(value >> 6) as usize];
        }
    }

    fn write_mcr(&mut self, value: u8) {
        let before = self.uart.read(MSR as u8) & 0xf0;
        self.mcr = value & MCR_MASK;
        let _ = self.uart.write(MCR as u8, self.mcr);
        let after = self.uart.read(MSR as u8) & 0xf0;
        let changed = before ^ after;
        // DCTS, DDSR, DDCD on any change; TERI on RI going inactive.
        let mut delta = (changed >> 4) & 0b1011;
        if before & 0x40 != 0 && after & 0x40 == 0 {
            delta |= 0b0100;
        }
        self.msr_delta |= delta;
    }

    fn read_byte(&mut self, offset: u16) -> u8 {
        match offset {
            RBR_THR if !self.dlab() => {
                // An empty receiver still presents the last byte received
                // (vm-superio would answer 0).
                if self.rx_count() > 0 {
                    self.last_rx = self.uart.read(RBR_THR as u8);
                }
                self.last_rx
            }
            RBR_THR | IER | LCR | MCR | SCR => self.uart.read(offset as u8),
            IIR_FCR => {
                let id = self.interrupt_id();
                if id == IIR_THRE {
                    self.thre_pending = false;
                }
                id | if self.fifo_enabled { IIR_FIFOS_ON } else { 0 }
            }
            LSR => {
                let lsr = self.uart.read(LSR as u8) | if self.overrun { LSR_OE } else { 0 };
                self.overrun = false;
                lsr
            }
            MSR => {
                let msr = (self.uart.read(MSR as u8) & 0xf0) | self.msr_delta;
                self.msr_delta = 0;
                msr
            }
            _ => 0xff,
        }
    }

    fn write_byte(&mut self, offset: u16, value: u8) {
        let dlab = self.dlab();
        match offset {
            RBR_THR if !dlab => self.transmit(value),
            IER if !dlab => {
                let old = self.ier;
                self.ier = value & 0x0f;
                let _ = self.uart.write(IER as u8, value);
                // Enabling the THRE interrupt while THR is empty (always, here)
                // makes it pending at once.
                if self.ier & IER_THRE != 0 && old & IER_THRE == 0 {
                    self.thre_pending = true;
                }
            }
            RBR_THR | IER | LCR | SCR => {
                let _ = self.uart.write(offset as u8, value);
            }
            IIR_FCR => self.write_fcr(value),
            MCR => self.write_mcr(value),
            // LSR and MSR writes are factory-test only: ignored.
            _ => {}
        }
    }
}

impl PortDevice for Uart16550 {
    fn read(&mut self, offset: u16, size: u8) -> u32 {
        let value = split_read(offset, size, |off| self.read_byte(off));
        self.update_irq();
        value
    }

    fn write(&mut self, offset: u16, size: u8, value: u32) {
        split_write(offset, size, value, |off, byte| self.write_byte(off, byte));
        self.update_irq();
    }
}

/// Builds the UART for `port`, wires it to that port's ISA IRQ line, and
/// registers its eight ports. The returned handle is for the host side
/// (`enqueue_input`) and for `reset()`.
pub fn register_serial(
    bus: &mut PortBus,
    irqs: &SharedIrqLines,
    port: ComPort,
    out: Box<dyn Write + Send>,
) -> Result<Arc<Mutex<Uart16550>>, OverlapError> {
    register_serial_on(bus, irqs.line(port.irq()), port, out)
}

/// As [`register_serial`], with the interrupt output on `irq` (for boards
/// that share one ISA IRQ between two UARTs through a wired OR).
pub fn register_serial_on(
    bus: &mut PortBus,
    irq: IrqLine,
    port: ComPort,
    out: Box<dyn Write + Send>,
) -> Result<Arc<Mutex<Uart16550>>, OverlapError> {
    let dev = Arc::new(Mutex::new(Uart16550::new(irq, out)));
    bus.register(port.base(), UART_PORTS, Box::new(dev.clone()))?;
    Ok(dev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::irq::IrqLines;

    /// An output sink the test can look into.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    struct Rig {
        bus: PortBus,
        irqs: SharedIrqLines,
        com1: Arc<Mutex<Uart16550>>,
        out: Capture,
    }

    const COM1: u16 = 0x3f8;

    impl Rig {
        fn new() -> Rig {
            let irqs = IrqLines::new();
            let mut bus = PortBus::default();
            let out = Capture::default();
            let com1 =
                register_serial(&mut bus, &irqs, ComPort::Com1, Box::new(out.clone())).unwrap();
            Rig {
                bus,
                irqs,
                com1,
                out,
            }
        }
        fn rd(&mut self, reg: u16) -> u8 {
            self.bus.read(COM1 + reg, 1) as u8
        }
        fn wr(&mut self, reg: u16, v: u8) {
            self.bus.write(COM1 + reg, 1, v as u32)
        }
        fn irq4(&self) -> bool {
            self.irqs.levels() & (1 << 4) != 0
        }
        fn input(&self, bytes: &[u8]) -> usize {
            self.com1.lock().unwrap().enqueue_input(bytes)
        }
        fn output(&self) -> Vec<u8> {
            self.out.0.lock().unwrap().clone()
        }
    }

    #[test]
    fn registers_start_at_their_reset_values() {
        let mut r = Rig::new();
        assert_eq!(r.rd(IER), 0);
        assert_eq!(r.rd(IIR_FCR), 0x01, "no interrupt, FIFOs off");
        assert_eq!(r.rd(LCR), 0);
        assert_eq!(r.rd(MCR), 0);
        assert_eq!(r.rd(LSR), 0x60, "THR and transmitter empty");
        assert_eq!(r.rd(MSR), 0xb0, "CTS, DSR, DCD from the host side");
        assert_eq!(r.rd(SCR), 0);
        assert!(!r.irq4());
    }

    #[test]
    fn transmitted_bytes_reach_the_output() {
        let mut r = Rig::new();
        for &b in b"hi\n" {
            assert_ne!(r.rd(LSR) & 0x20, 0);
            r.wr(RBR_THR, b);
        }
        assert_eq!(r.output(), b"hi\n");
    }

    #[test]
    fn scratch_and_divisor_latch_are_separate_storage() {
        let mut r = Rig::new();
        r.wr(SCR, 0x5a);
        assert_eq!(r.rd(SCR), 0x5a);
        r.wr(LCR, 0x80 | 0x03);
        r.wr(RBR_THR, 0x01);
        r.wr(IER, 0x00);
        assert_eq!((r.rd(RBR_THR), r.rd(IER)), (0x01, 0x00));
        r.wr(LCR, 0x03);
        assert_eq!(r.rd(IER), 0, "IER untouched by the divisor write");
        assert_eq!(r.rd(LCR), 0x03);
        assert!(r.output().is_empty(), "a divisor write is not a transmit");
        r.wr(IER, 0xff);
        assert_eq!(r.rd(IER), 0x0f, "IER bits 4-7 are always 0");
        r.wr(MCR, 0xff);
        assert_eq!(r.rd(MCR), 0x1f, "MCR bits 5-7 are always 0");
    }

    #[test]
    fn received_data_raises_irq4_until_drained() {
        let mut r = Rig::new();
        r.wr(IER, IER_RDA);
        r.wr(MCR, MCR_OUT2 | 0x03);
        assert_eq!(r.input(b"a"), 1);
        assert!(r.irq4());
        assert_eq!(r.irqs.take_edges(), 1 << 4);
        assert_eq!(r.rd(LSR) & 1, 1);
        assert_eq!(r.rd(IIR_FCR), 0x04);
        assert!(r.irq4(), "reading IIR does not clear received data");
        assert_eq!(r.rd(RBR_THR), b'a');
        assert!(!r.irq4());
        assert_eq!(r.rd(IIR_FCR), 0x01);
        assert_eq!(r.rd(LSR) & 1, 0);
        assert_eq!(
            r.rd(RBR_THR),
            b'a',
            "an empty RBR still holds the last byte"
        );
    }

    #[test]
    fn out2_gates_the_interrupt_onto_the_isa_line() {
        let mut r = Rig::new();
        r.wr(IER, IER_RDA);
        r.input(b"x");
        assert_eq!(r.rd(IIR_FCR), 0x04, "pending inside the chip");
        assert!(!r.irq4(), "but OUT2 is off");
        r.wr(MCR, MCR_OUT2);
        assert!(r.irq4());
        r.wr(MCR, 0);
        assert!(!r.irq4());
    }

    #[test]
    fn thr_empty_interrupt_is_acknowledged_by_reading_iir() {
        let mut r = Rig::new();
        r.wr(MCR, MCR_OUT2);
        r.wr(IER, IER_THRE);
        assert!(r.irq4(), "enabling THRE with THR empty interrupts at once");
        assert_eq!(r.rd(IIR_FCR), 0x02);
        assert!(!r.irq4());
        assert_eq!(r.rd(IIR_FCR), 0x01);
        r.irqs.take_edges();
        r.wr(RBR_THR, b'z');
        assert!(r.irq4(), "THR drained again: a new interrupt");
        assert_eq!(r.irqs.take_edges(), 1 << 4);
        // Re-enabling (0 -> 1) raises it again, as Linux's THRE test expects.
        r.rd(IIR_FCR);
        r.wr(IER, 0);
        r.wr(IER, IER_THRE);
        assert_eq!(r.rd(IIR_FCR), 0x02);
    }

    #[test]
    fn received_data_outranks_thr_empty() {
        let mut r = Rig::new();
        r.wr(MCR, MCR_OUT2);
        r.wr(IER, IER_RDA | IER_THRE);
        r.input(b"q");
        assert_eq!(r.rd(IIR_FCR), 0x04, "one identifier, not 0x04|0x02");
        assert_eq!(r.rd(IIR_FCR), 0x04);
        assert_eq!(r.rd(RBR_THR), b'q');
        assert!(r.irq4(), "THRE still pending");
        assert_eq!(r.rd(IIR_FCR), 0x02);
        assert!(!r.irq4());
    }

    #[test]
    fn fifo_control_depth_trigger_and_clear() {
        let mut r = Rig::new();
        assert_eq!(r.input(b"abc"), 1, "16450 mode holds one byte");
        r.wr(IIR_FCR, 0x01);
        assert_eq!(r.rd(LSR) & 1, 0, "enabling the FIFOs clears them");
        assert_eq!(r.rd(IIR_FCR) & 0xc0, 0xc0);
        assert_eq!(r.input(&[7; 20]), 16, "16-byte receive FIFO");
        assert_eq!(r.input(b"x"), 0);
        r.wr(IIR_FCR, 0x01 | FCR_CLEAR_RX | 0x80);
        assert_eq!(r.rd(LSR) & 1, 0, "FCR bit 1 clears the receive FIFO");
        r.wr(IER, IER_RDA);
        r.input(b"abc");
        assert_eq!(r.rd(IIR_FCR), 0xcc, "below the 8-byte trigger: timeout");
        r.input(b"defgh");
        assert_eq!(r.rd(IIR_FCR), 0xc4, "at the trigger level");
        for &b in b"abcdefgh" {
            assert_eq!(r.rd(RBR_THR), b);
        }
        assert_eq!(r.rd(IIR_FCR), 0xc1);
        r.wr(IIR_FCR, 0x00);
        assert_eq!(r.rd(IIR_FCR), 0x01, "FIFOs off again");
    }

    #[test]
    fn loopback_routes_thr_to_rbr_and_mcr_to_msr() {
        let mut r = Rig::new();
        r.wr(MCR, MCR_LOOP);
        assert_eq!(r.input(b"x"), 0, "serial input is disconnected in loopback");
        r.rd(MSR);
        r.wr(RBR_THR, 0xa5);
        assert!(r.output().is_empty());
        assert_eq!(r.rd(LSR) & 1, 1);
        assert_eq!(r.rd(RBR_THR), 0xa5);
        // Linux's loopback check: RTS|OUT2 must read back as CTS|DCD.
        r.wr(MCR, MCR_LOOP | 0x0a);
        assert_eq!(r.rd(MSR) & 0xf0, 0x90);
        r.wr(MCR, MCR_LOOP | 0x05);
        assert_eq!(r.rd(MSR), 0x60 | 0x0b, "DSR|RI now, with DCTS, DDSR, DDCD");
        r.wr(MCR, MCR_LOOP);
        assert_eq!(r.rd(MSR), 0x02 | 0x04, "DDSR and TERI");
        r.wr(MCR, 0);
        assert_eq!(r.rd(MSR) & 0xf0, 0xb0);
    }

    #[test]
    fn loopback_interrupts_stay_inside_the_chip() {
        let mut r = Rig::new();
        r.wr(IER, IER_RDA);
        r.wr(MCR, MCR_LOOP | MCR_OUT2);
        r.wr(RBR_THR, 1);
        assert_eq!(r.rd(IIR_FCR), 0x04);
        assert!(!r.irq4(), "output pins are forced inactive in loopback");
    }

    #[test]
    fn loopback_overrun_sets_lsr_oe() {
        let mut r = Rig::new();
        r.wr(IER, IER_RLS | IER_RDA);
        r.wr(MCR, MCR_LOOP);
        r.wr(RBR_THR, 1);
        r.wr(RBR_THR, 2);
        assert_eq!(r.rd(IIR_FCR), 0x06, "line status outranks data");
        assert_eq!(r.rd(LSR) & 0x03, 0x03);
        assert_eq!(r.rd(LSR) & 0x02, 0, "reading LSR clears OE");
        assert_eq!(r.rd(RBR_THR), 2, "in 16450 mode the new byte overwrites");
        r.wr(IIR_FCR, 0x01);
        for i in 0..17 {
            r.wr(RBR_THR, i);
        }
        assert_eq!(r.rd(LSR) & 0x02, 0x02);
        for i in 0..16 {
            assert_eq!(r.rd(RBR_THR), i, "in FIFO mode the 17th byte is lost");
        }
        assert_eq!(r.rd(LSR) & 1, 0);
    }

    #[test]
    fn modem_status_interrupt_until_msr_is_read() {
        let mut r = Rig::new();
        r.wr(IER, IER_MS);
        r.wr(MCR, MCR_LOOP);
        r.rd(MSR);
        r.wr(MCR, MCR_LOOP | 0x02);
        assert_eq!(r.rd(IIR_FCR), 0x00);
        r.rd(MSR);
        assert_eq!(r.rd(IIR_FCR), 0x01);
    }

    #[test]
    fn com_ports_sit_at_their_bases_and_irqs() {
        let irqs = IrqLines::new();
        let mut bus = PortBus::default();
        let ports = [ComPort::Com1, ComPort::Com2, ComPort::Com3, ComPort::Com4];
        for p in ports {
            register_serial(&mut bus, &irqs, p, Box::new(std::io::sink())).unwrap();
        }
        for p in ports {
            bus.write(p.base() + SCR, 1, p.base() as u32 & 0xff);
            bus.write(p.base() + MCR, 1, MCR_OUT2 as u32);
            bus.write(p.base() + IER, 1, IER_THRE as u32);
            assert_ne!(irqs.levels() & (1 << p.irq()), 0, "{p:?}");
            bus.read(p.base() + IIR_FCR, 1);
            assert_eq!(irqs.levels() & (1 << p.irq()), 0, "{p:?}");
        }
        for p in ports {
            assert_eq!(bus.read(p.base() + SCR, 1), p.base() as u32 & 0xff);
        }
        assert_eq!((ComPort::Com2.irq(), ComPort::Com3.irq()), (3, 4));
    }

    #[test]
    fn a_gated_off_port_does_not_pull_down_a_shared_line() {
        let irqs = IrqLines::new();
        let mut bus = PortBus::default();
        register_serial(&mut bus, &irqs, ComPort::Com1, Box::new(std::io::sink())).unwrap();
        register_serial(&mut bus, &irqs, ComPort::Com3, Box::new(std::io::sink())).unwrap();
        bus.write(0x3f8 + MCR, 1, MCR_OUT2 as u32);
        bus.write(0x3f8 + IER, 1, IER_THRE as u32);
        bus.write(0x3e8 + IER, 1, IER_THRE as u32);
        bus.read(0x3e8 + IIR_FCR, 1);
        assert_ne!(irqs.levels() & (1 << 4), 0);
    }

    #[test]
    fn reset_restores_power_on_state_and_keeps_output() {
        let mut r = Rig::new();
        r.wr(IER, 0x0f);
        r.wr(MCR, MCR_OUT2);
        r.wr(IIR_FCR, 0x01);
        r.wr(RBR_THR, b'k');
        assert!(r.irq4());
        r.com1.lock().unwrap().reset();
        assert!(!r.irq4());
        assert_eq!((r.rd(IER), r.rd(MCR), r.rd(IIR_FCR)), (0, 0, 0x01));
        r.wr(RBR_THR, b'!');
        assert_eq!(r.output(), b"k!");
    }

    #[test]
    fn wide_accesses_split_into_bytes() {
        let mut r = Rig::new();
        r.bus.write(COM1 + SCR, 2, 0xbeef);
        assert_eq!(r.rd(SCR), 0xef);
        assert_eq!(r.bus.read(COM1 + LCR, 2), 0x0000);
        assert_eq!(r.bus.read(COM1 + SCR, 2), 0xffef, "past the UART: open bus");
    }

    #[test]
    fn random_port_traffic_never_panics() {
        let mut r = Rig::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let reg = (x % 8) as u16;
            let size = [1, 2, 4][((x >> 8) % 3) as usize];
            let value = (x >> 24) as u32;
            match (x >> 16) % 8 {
                0..=3 => r.bus.write(COM1 + reg, size, value),
                4..=6 => {
                    r.bus.read(COM1 + reg, size);
                }
                _ => {
                    r.input(&value.to_le_bytes()[..(x >> 40) as usize % 4]);
                }
            }
            let dev = r.com1.lock().unwrap();
            assert!(dev.rx_count() <= FIFO_DEPTH);
            assert_eq!(dev.irq_level(), r.irq4());
        }
    }
}

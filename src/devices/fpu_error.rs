//! The PC/AT's coprocessor-error latch: an x87 error (FERR#, with CR0.NE
//! clear) raises IRQ13 until software writes port 0xF0, which clears the
//! latch (and on the AT asserted IGNNE#).

use super::bus::PortDevice;
use super::irq::IrqLine;

pub struct FpuErrorLatch {
    irq13: IrqLine,
    latched: bool,
}

impl FpuErrorLatch {
    pub fn new(irq13: IrqLine) -> Self {
        FpuErrorLatch {
            irq13,
            latched: false,
        }
    }

    /// The CPU signalled FERR#.
    pub fn raise(&mut self) {
        self.latched = true;
        self.irq13.raise();
    }

    pub fn latched(&self) -> bool {
        self.latched
    }
}

impl PortDevice for FpuErrorLatch {
    fn read(&mut self, _offset: u16, _size: u8) -> u32 {
        0xff
    }

    fn write(&mut self, _offset: u16, _size: u8, _value: u32) {
        self.latched = false;
        self.irq13.lower();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::irq::IrqLines;

    #[test]
    fn ferr_raises_irq13_until_port_f0_is_written() {
        let lines = IrqLines::new();
        let mut latch = FpuErrorLatch::new(lines.line(13));
        latch.raise();
        assert_eq!(lines.levels(), 1 << 13);
        latch.write(0, 1, 0);
        assert_eq!(lines.levels(), 0);
        assert!(!latch.latched());
    }
}

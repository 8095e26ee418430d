//! Interrupt request lines: devices hold an `IrqLine` handle and drive its
//! level; the interrupt controllers (PIC, I/O APIC) read the levels and the
//! edges latched since they last looked. Atomics, so that a device on
//! another thread (or a future vCPU thread) can raise a line.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Up to 32 lines: 0-15 are the ISA IRQs, 16-23 the I/O APIC's PCI pins.
#[derive(Default)]
pub struct IrqLines {
    /// Current level of each line.
    level: AtomicU32,
    /// Rising edges not yet consumed by a controller.
    edges: AtomicU32,
}

pub type SharedIrqLines = Arc<IrqLines>;

impl IrqLines {
    pub fn new() -> SharedIrqLines {
        Arc::new(IrqLines::default())
    }

    /// A handle for line `n` (0..32).
    pub fn line(self: &Arc<Self>, n: u32) -> IrqLine {
        assert!(n < 32, "IRQ line {n} out of range");
        IrqLine {
            lines: self.clone(),
            bit: 1 << n,
        }
    }

    /// The level of every line.
    pub fn levels(&self) -> u32 {
        self.level.load(Ordering::Acquire)
    }

    /// Rising edges since the last call (then forgotten).
    pub fn take_edges(&self) -> u32 {
        self.edges.swap(0, Ordering::AcqRel)
    }

    fn set(&self, bit: u32, high: bool) {
        if high {
            let old = self.level.fetch_or(bit, Ordering::AcqRel);
            if old & bit == 0 {
                self.edges.fetch_or(bit, Ordering::AcqRel);
            }
        } else {
            self.level.fetch_and(!bit, Ordering::AcqRel);
        }
    }
}

/// One device's interrupt output.
#[derive(Clone)]
pub struct IrqLine {
    lines: SharedIrqLines,
    bit: u32,
}

impl IrqLine {
    pub fn set_level(&self, high: bool) {
        self.lines.set(self.bit, high);
    }

    pub fn raise(&self) {
        self.set_level(true);
    }

    pub fn lower(&self) {
        self.set_level(false);
    }

    /// An edge: high then low (ISA devices that pulse their line).
    pub fn pulse(&self) {
        self.raise();
        self.lower();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_edges() {
        let lines = IrqLines::new();
        let irq4 = lines.line(4);
        irq4.raise();
        assert_eq!(lines.levels(), 1 << 4);
        irq4.raise();
        assert_eq!(lines.take_edges(), 1 << 4, "one edge for two raises");
        assert_eq!(lines.take_edges(), 0);
        irq4.lower();
        irq4.pulse();
        assert_eq!(lines.levels(), 0);
        assert_eq!(lines.take_edges(), 1 << 4);
    }
}

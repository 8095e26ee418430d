//! The board's A20 gate and reset request, shared by the devices that drive
//! them (the i8042's output port, System Control Port A at 0x92) and the
//! machine, which applies them.
//!
//! Contract with the machine: after every guest port write (and after host
//! input that reaches the i8042), the run loop checks
//! [`SystemControl::take_reset_request`] and, if set, resets the board —
//! CPUs, and the devices' own `reset()` methods, which put their A20 sources
//! back to their power-on values. It reads [`SystemControl::a20_enabled`] to
//! decide whether physical address bit 20 is forced to 0 (A20M#).
//!
//! A20 has two sources, as on PC chipsets (PIIX/ICH): the keyboard
//! controller's A20GATE output and port 0x92's "fast A20" bit. The CPU sees
//! A20 enabled when *either* is set, so each device owns its own latch here and
//! one source turning A20 off does not override the other.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

/// Which device drives an A20 request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum A20Source {
    /// The i8042's output port bit 1 (commands 0xD1, 0xDD, 0xDF).
    KeyboardController,
    /// System Control Port A (0x92) bit 1.
    FastA20,
}

impl A20Source {
    fn bit(self) -> u8 {
        match self {
            A20Source::KeyboardController => 1,
            A20Source::FastA20 => 2,
        }
    }
}

/// Shared A20/reset state: atomics, so the machine can poll it from the vCPU
/// thread while devices sit behind their own locks.
#[derive(Debug, Default)]
pub struct SystemControl {
    /// One bit per [`A20Source`] that currently enables A20.
    a20_sources: AtomicU8,
    /// Set by a device asking for a board reset; cleared by the machine.
    reset_requested: AtomicBool,
    /// Set by the ACPI PM block entering S5 (soft off); cleared by the
    /// machine when it takes the request.
    poweroff_requested: AtomicBool,
}

pub type SharedSystemControl = Arc<SystemControl>;

impl SystemControl {
    /// At power-on both A20 sources are off: the 8086 wrap-around is visible.
    pub fn new() -> SharedSystemControl {
        Arc::new(SystemControl::default())
    }

    /// Whether the CPU's address line 20 is passed through (either source on).
    pub fn a20_enabled(&self) -> bool {
        self.a20_sources.load(Ordering::Acquire) != 0
    }

    /// Whether `source` is currently asking for A20.
    pub fn a20_source(&self, source: A20Source) -> bool {
        self.a20_sources.load(Ordering::Acquire) & source.bit() != 0
    }

    pub fn set_a20(&self, source: A20Source, enabled: bool) {
        if enabled {
            self.a20_sources.fetch_or(source.bit(), Ordering::AcqRel);
        } else {
            self.a20_sources.fetch_and(!source.bit(), Ordering::AcqRel);
        }
    }

    /// A device asks for a board reset (INIT/RESET of the CPUs).
    pub fn request_reset(&self) {
        self.reset_requested.store(true, Ordering::Release);
    }

    /// Whether a reset is pending, without consuming it.
    pub fn reset_pending(&self) -> bool {
        self.reset_requested.load(Ordering::Acquire)
    }

    /// The machine takes the pending reset request (then forgotten).
    pub fn take_reset_request(&self) -> bool {
        self.reset_requested.swap(false, Ordering::AcqRel)
    }

    /// A device asks for the board to power off (ACPI S5: SLP_TYP=S5 with
    /// SLP_EN in PM1 control).
    pub fn request_poweroff(&self) {
        self.poweroff_requested.store(true, Ordering::Release);
    }

    /// Whether a power-off is pending, without consuming it.
    pub fn poweroff_requested(&self) -> bool {
        self.poweroff_requested.load(Ordering::Acquire)
    }

    /// The machine takes the pending power-off request (then forgotten).
    pub fn take_poweroff_request(&self) -> bool {
        self.poweroff_requested.swap(false, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a20_is_the_or_of_both_sources() {
        let sc = SystemControl::new();
        assert!(!sc.a20_enabled());
        sc.set_a20(A20Source::KeyboardController, true);
        sc.set_a20(A20Source::FastA20, true);
        sc.set_a20(A20Source::FastA20, false);
        assert!(sc.a20_enabled(), "the KBC still holds A20 on");
        sc.set_a20(A20Source::KeyboardController, false);
        assert!(!sc.a20_enabled());
    }

    #[test]
    fn reset_request_is_taken_once() {
        let sc = SystemControl::new();
        assert!(!sc.take_reset_request());
        sc.request_reset();
        assert!(sc.reset_pending());
        assert!(sc.take_reset_request());
        assert!(!sc.take_reset_request());
    }

    #[test]
    fn poweroff_request_is_taken_once() {
        let sc = SystemControl::new();
        assert!(!sc.poweroff_requested());
        sc.request_poweroff();
        assert!(sc.poweroff_requested());
        assert!(sc.take_poweroff_request());
        assert!(!sc.take_poweroff_request());
    }
}

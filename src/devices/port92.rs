//! System Control Port A (port 0x92, "PS/2 fast A20 and reset"), as the PC
//! chipsets (PIIX/ICH) keep it:
//!
//! | bit | meaning |
//! |-----|---------|
//! | 0 | alternate fast reset: a 0->1 transition resets the CPUs |
//! | 1 | fast A20 gate (ORed with the keyboard controller's A20 output) |
//! | 2 | reserved, reads 0 |
//! | 3 | security lock latch: write-once, cleared only by a reset |
//! | 4 | watchdog timeout status: read-only, 0 (no watchdog) |
//! | 5 | reserved, reads 0 |
//! | 6-7 | fixed-disk activity LEDs: read/write, no effect |

use super::bus::{split_read, split_write, OverlapError, PortBus, PortDevice};
use super::system_control::{A20Source, SharedSystemControl};
use std::sync::{Arc, Mutex};

pub const PORT92_BASE: u16 = 0x92;

const FAST_RESET: u8 = 1 << 0;
const FAST_A20: u8 = 1 << 1;
const LOCK: u8 = 1 << 3;
/// Bits a write stores; the rest read as 0.
const WRITABLE: u8 = FAST_RESET | FAST_A20 | LOCK | 0xc0;

pub struct SystemControlPortA {
    /// The latched register value (only `WRITABLE` bits).
    value: u8,
    control: SharedSystemControl,
}

impl SystemControlPortA {
    pub fn new(control: SharedSystemControl) -> Self {
        let mut port = SystemControlPortA { value: 0, control };
        port.reset();
        port
    }

    /// Power-on/board-reset state: fast A20 off, reset bit clear, lock open.
    pub fn reset(&mut self) {
        self.value = 0;
        self.control.set_a20(A20Source::FastA20, false);
    }

    fn write_byte(&mut self, value: u8) {
        let old = self.value;
        // The lock bit, once set, stays set until reset.
        let new = (value & WRITABLE) | (old & LOCK);
        self.value = new;
        self.control
            .set_a20(A20Source::FastA20, new & FAST_A20 != 0);
        if new & FAST_RESET != 0 && old & FAST_RESET == 0 {
            self.control.request_reset();
        }
    }
}

impl PortDevice for SystemControlPortA {
    fn read(&mut self, offset: u16, size: u8) -> u32 {
        split_read(offset, size, |off| if off == 0 { self.value } else { 0xff })
    }

    fn write(&mut self, offset: u16, size: u8, value: u32) {
        split_write(offset, size, value, |off, byte| {
            if off == 0 {
                self.write_byte(byte);
            }
        })
    }
}

/// Registers port 0x92 (one byte) and returns the shared device, whose
/// `reset()` the machine calls on a board reset.
pub fn register_port92(
    bus: &mut PortBus,
    control: SharedSystemControl,
) -> Result<Arc<Mutex<SystemControlPortA>>, OverlapError> {
    let dev = Arc::new(Mutex::new(SystemControlPortA::new(control)));
    bus.register(PORT92_BASE, 1, Box::new(dev.clone()))?;
    Ok(dev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::system_control::SystemControl;

    fn setup() -> (PortBus, SharedSystemControl, Arc<Mutex<SystemControlPortA>>) {
        let sc = SystemControl::new();
        let mut bus = PortBus::default();
        let dev = register_port92(&mut bus, sc.clone()).unwrap();
        (bus, sc, dev)
    }

    #[test]
    fn fast_a20_follows_bit_1_and_reads_back() {
        let (mut bus, sc, _) = setup();
        assert_eq!(bus.read(0x92, 1), 0);
        bus.write(0x92, 1, 0x02);
        assert!(sc.a20_enabled());
        assert_eq!(bus.read(0x92, 1), 0x02);
        bus.write(0x92, 1, 0x00);
        assert!(!sc.a20_enabled());
        assert!(!sc.take_reset_request());
    }

    #[test]
    fn fast_a20_is_ored_with_the_keyboard_controller() {
        let (mut bus, sc, _) = setup();
        sc.set_a20(A20Source::KeyboardController, true);
        bus.write(0x92, 1, 0x02);
        bus.write(0x92, 1, 0x00);
        assert!(sc.a20_enabled());
    }

    #[test]
    fn reset_only_on_a_rising_edge_of_bit_0() {
        let (mut bus, sc, dev) = setup();
        bus.write(0x92, 1, 0x01);
        assert!(sc.take_reset_request());
        // Still 1: no new edge, no new reset.
        bus.write(0x92, 1, 0x03);
        assert!(!sc.take_reset_request());
        assert_eq!(bus.read(0x92, 1), 0x03);
        bus.write(0x92, 1, 0x00);
        assert!(!sc.take_reset_request());
        bus.write(0x92, 1, 0x01);
        assert!(sc.take_reset_request());
        // The machine resets the board: the port returns to 0 and A20 off.
        dev.lock().unwrap().reset();
        assert_eq!(bus.read(0x92, 1), 0);
        assert!(!sc.a20_enabled());
    }

    #[test]
    fn reserved_bits_read_zero_and_lock_is_sticky() {
        let (mut bus, _, _) = setup();
        bus.write(0x92, 1, 0xfe);
        assert_eq!(bus.read(0x92, 1), 0xca, "bits 2, 4, 5 read as 0");
        bus.write(0x92, 1, 0x00);
        assert_eq!(bus.read(0x92, 1), 0x08, "the lock latch stays set");
    }

    #[test]
    fn wide_accesses_touch_only_port_92() {
        let (mut bus, sc, _) = setup();
        bus.write(0x92, 2, 0xff02);
        assert!(sc.a20_enabled());
        assert_eq!(bus.read(0x92, 2), 0xff02);
        assert_eq!(bus.read(0x92, 4), 0xffff_ff02);
    }

    #[test]
    fn random_writes_never_panic() {
        let (mut bus, sc, _) = setup();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let size = [1, 2, 4][(x % 3) as usize];
            if x & 0x100 != 0 {
                bus.write(0x92, size, (x >> 32) as u32);
            } else {
                let v = bus.read(0x92, size);
                assert_eq!(v as u8 & 0x34, 0, "reserved bits stay 0");
            }
            sc.take_reset_request();
        }
    }
}

//! The PC's legacy devices, created and wired to the port bus, the IRQ
//! lines and the clock, and the per-slice housekeeping the run loop does
//! with them (timers, interrupt acknowledge, A20 and reset requests).

use super::clock::Clock;
use crate::devices::bus::{OverlapError, PortBus};
use crate::devices::fpu_error::FpuErrorLatch;
use crate::devices::i8042::{register_i8042, I8042};
use crate::devices::irq::{IrqLines, SharedIrqLines};
use crate::devices::pic::{register_pic, Pic8259, SharedPic};
use crate::devices::pit::{register_pit, Pit8254, SharedPit};
use crate::devices::port92::{register_port92, SystemControlPortA};
use crate::devices::rtc::{register_rtc, Mc146818, SharedRtc};
use crate::devices::serial::{register_serial, ComPort, Uart16550};
use crate::devices::system_control::{SharedSystemControl, SystemControl};
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

/// ISA IRQ numbers of the timers.
const IRQ_PIT: u32 = 0;
const IRQ_KEYBOARD: u32 = 1;
const IRQ_RTC: u32 = 8;
const IRQ_MOUSE: u32 = 12;
const IRQ_FPU: u32 = 13;
/// Writing here clears the coprocessor-error latch.
const FPU_ERROR_PORT: u16 = 0xf0;

pub struct Platform {
    pub irq: SharedIrqLines,
    pub pic: SharedPic,
    pub pit: SharedPit,
    pub rtc: SharedRtc,
    pub com1: Arc<Mutex<Uart16550>>,
    pub i8042: Arc<Mutex<I8042>>,
    pub port92: Arc<Mutex<SystemControlPortA>>,
    pub control: SharedSystemControl,
    pub fpu_error: Arc<Mutex<FpuErrorLatch>>,
}

/// Locks a device, taking it over even if a previous holder panicked (the
/// device state is plain data, so it stays usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Platform {
    /// Creates the devices and registers them on `io`.
    pub fn build(
        io: &mut PortBus,
        clock: &Clock,
        ram: u64,
        serial: Box<dyn Write + Send>,
    ) -> Result<Self, OverlapError> {
        let irq = IrqLines::new();
        let pic = Arc::new(Mutex::new(Pic8259::new()));
        register_pic(io, &pic)?;
        let pit = Arc::new(Mutex::new(Pit8254::new(clock.clone(), irq.line(IRQ_PIT))));
        register_pit(io, &pit)?;
        let rtc = Arc::new(Mutex::new(Mc146818::new(clock.clone(), irq.line(IRQ_RTC))));
        lock(&rtc).set_memory_size(ram);
        register_rtc(io, &rtc)?;
        let com1 = register_serial(io, &irq, ComPort::Com1, serial)?;
        let control = SystemControl::new();
        let i8042 = register_i8042(
            io,
            irq.line(IRQ_KEYBOARD),
            irq.line(IRQ_MOUSE),
            control.clone(),
        )?;
        let port92 = register_port92(io, control.clone())?;
        let fpu_error = Arc::new(Mutex::new(FpuErrorLatch::new(irq.line(IRQ_FPU))));
        io.register(FPU_ERROR_PORT, 1, Box::new(fpu_error.clone()))?;
        Ok(Platform {
            irq,
            pic,
            pit,
            rtc,
            com1,
            i8042,
            port92,
            control,
            fpu_error,
        })
    }

    /// Brings the timers up to the clock's present.
    pub fn advance_timers(&self) {
        lock(&self.pit).advance();
        lock(&self.rtc).advance();
    }

    /// The earliest time a timer wants the run loop back.
    pub fn next_deadline_ns(&self) -> Option<u64> {
        let pit = lock(&self.pit).next_deadline_ns();
        let rtc = lock(&self.rtc).next_deadline_ns();
        match (pit, rtc) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The PIC's INTR output after sampling the IRQ lines.
    pub fn interrupt_pending(&self) -> bool {
        let mut pic = lock(&self.pic);
        pic.update(&self.irq);
        pic.intr()
    }

    /// The INTA cycle: the vector to deliver.
    pub fn acknowledge(&self) -> u8 {
        lock(&self.pic).acknowledge()
    }

    /// The CPU signalled an x87 error through FERR# (CR0.NE clear).
    pub fn fpu_error(&self) {
        lock(&self.fpu_error).raise();
    }

    /// Puts every device back in its power-on state (a board reset).
    pub fn reset(&self) {
        lock(&self.com1).reset();
        lock(&self.i8042).reset();
        lock(&self.port92).reset();
    }
}

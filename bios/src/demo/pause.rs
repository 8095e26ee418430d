//! Holding the text screen long enough to read: the PIT ticks at 100 Hz
//! on IRQ 0 through the 8259A, and the CPU halts between ticks (so with
//! xlat's deterministic clock the wait costs almost no instructions).

use crate::rom::{install_handler, label_here};
use iced_x86::code_asm::*;

/// Tick count kept by the IRQ 0 handler (conventional RAM, through SS).
const TICKS: u32 = 0x0504;
/// The master PIC's vectors start here (IRQ 0 = INT 8, as on a PC).
const PIC_BASE_VECTOR: u8 = 0x08;
/// 1193182 Hz / 11932 = 100 Hz.
const PIT_DIVISOR: u32 = 11932;
pub const TICKS_PER_SECOND: u32 = 100;

/// Waits `ticks` hundredths of a second with interrupts on, then masks
/// the timer again and returns with interrupts off. Clobbers AX.
pub fn wait(a: &mut CodeAssembler, ticks: u16) -> Result<(), IcedError> {
    install_handler(a, PIC_BASE_VECTOR, |a| {
        a.inc(word_ptr(TICKS).ss())?;
        a.push(ax)?;
        a.mov(al, 0x20)?; // non-specific EOI
        a.out(0x20u32, al)?;
        a.pop(ax)?;
        a.iret()
    })?;
    a.mov(word_ptr(TICKS).ss(), 0u32)?;
    // ICW1-4 for both 8259As (edge triggered, cascade on IRQ 2, 8086
    // mode); then only IRQ 0 unmasked.
    for (port, icw2, icw3, mask) in [
        (0x20u32, PIC_BASE_VECTOR, 0x04u8, 0xfeu8),
        (0xa0, 0x70, 0x02, 0xff),
    ] {
        for (i, value) in [0x11, icw2, icw3, 0x01, mask].into_iter().enumerate() {
            a.mov(al, u32::from(value))?;
            a.out(if i == 0 { port } else { port + 1 }, al)?;
        }
    }
    // PIT channel 0: rate generator (mode 2), low then high byte.
    a.mov(al, 0x34)?;
    a.out(0x43u32, al)?;
    a.mov(al, PIT_DIVISOR & 0xff)?;
    a.out(0x40u32, al)?;
    a.mov(al, PIT_DIVISOR >> 8)?;
    a.out(0x40u32, al)?;
    a.sti()?;
    let again = label_here(a)?;
    a.hlt()?;
    a.cmp(word_ptr(TICKS).ss(), u32::from(ticks))?;
    a.jb(again)?;
    a.cli()?;
    a.mov(al, 0xff)?;
    a.out(0x21u32, al)
}

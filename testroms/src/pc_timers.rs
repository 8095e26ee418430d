//! The PC's interrupt path in real mode: the 8259A pair initialised as a
//! BIOS does, the local APIC in virtual-wire mode (vectors 08h and 70h, cascade on IR2), the 8254's channel 0
//! waking STI;HLT through IRQ0 exactly once per tick, the MC146818's
//! periodic interrupt arriving through the slave PIC (IRQ8), register C
//! acknowledging it, and register D reporting valid RAM and time.

use crate::harness::{m16, Harness};
use iced_x86::code_asm::*;
use xlat_bios::rom::install_handler;

/// Tick counters, through SS (= 0).
const PIT_TICKS: u32 = 0x0520;
const RTC_TICKS: u32 = 0x0522;
const RTC_FLAGS: u32 = 0x0524;

fn out(a: &mut CodeAssembler, port: u32, value: u32) -> Result<(), IcedError> {
    a.mov(al, value)?;
    a.out(port, al)
}

/// ICW1-ICW4 for both PICs, everything masked.
pub(crate) fn init_pics(a: &mut CodeAssembler) -> Result<(), IcedError> {
    for (base, vector, cascade) in [(0x20, 0x08, 0x04), (0xa0, 0x70, 0x02)] {
        out(a, base, 0x11)?;
        out(a, base + 1, vector)?;
        out(a, base + 1, cascade)?;
        out(a, base + 1, 0x01)?;
        out(a, base + 1, 0xff)?;
    }
    Ok(())
}

/// Out of reset the local APIC masks LINT0, where the 8259A's INTR
/// arrives; firmware sets up virtual-wire mode (LINT0 = ExtINT), as done
/// here through FS in unreal mode. (A machine without a local APIC ignores
/// the write and takes INTR directly.)
pub(crate) fn virtual_wire(a: &mut CodeAssembler) -> Result<(), IcedError> {
    const GDT: u32 = 0x1000;
    // Null descriptor, then flat 4 GiB read/write data at selector 8.
    a.mov(dword_ptr(GDT).ss(), 0u32)?;
    a.mov(dword_ptr(GDT + 4).ss(), 0u32)?;
    a.mov(dword_ptr(GDT + 8).ss(), 0x0000_ffffu32)?;
    a.mov(dword_ptr(GDT + 12).ss(), 0x00cf_9200u32)?;
    // The GDTR image: limit 15, base GDT.
    a.mov(word_ptr(GDT + 16).ss(), 15u32)?;
    a.mov(dword_ptr(GDT + 18).ss(), GDT)?;
    a.lgdt(ptr(GDT + 16).ss())?;
    a.mov(eax, cr0)?;
    a.or(al, 1)?;
    a.mov(cr0, eax)?;
    a.mov(bx, 8u32)?;
    a.mov(fs, bx)?;
    a.and(al, 0xfe)?;
    a.mov(cr0, eax)?;
    a.xor(bx, bx)?;
    a.mov(fs, bx)?;
    // LVT LINT0 (0xFEE00350): ExtINT, unmasked.
    a.mov(ebx, 0xfee0_0350u32)?;
    a.mov(dword_ptr(ebx).fs(), 0x700u32)
}

/// Sleeps with STI;HLT `n` times (each wake-up is one interrupt).
fn sleep_for_interrupts(a: &mut CodeAssembler, n: u32) -> Result<(), IcedError> {
    a.mov(cx, n)?;
    let mut again = a.create_label();
    a.set_label(&mut again)?;
    a.sti()?;
    a.hlt()?;
    a.cli()?;
    a.loop_(again)
}

pub fn build() -> Result<Vec<u8>, IcedError> {
    let mut h = Harness::new("pc_timers")?;
    let a = &mut h.a;
    a.cli()?;
    a.mov(word_ptr(PIT_TICKS).ss(), 0)?;
    a.mov(word_ptr(RTC_TICKS).ss(), 0)?;
    install_handler(a, 0x08, |a| {
        a.push(ax)?;
        a.inc(word_ptr(PIT_TICKS).ss())?;
        out(a, 0x20, 0x20)?;
        a.pop(ax)?;
        a.iret()
    })?;
    install_handler(a, 0x70, |a| {
        a.push(ax)?;
        a.inc(word_ptr(RTC_TICKS).ss())?;
        // Reading register C acknowledges the RTC's interrupt.
        out(a, 0x70, 0x0c)?;
        a.in_(al, 0x71)?;
        a.mov(byte_ptr(RTC_FLAGS).ss(), al)?;
        out(a, 0xa0, 0x20)?;
        out(a, 0x20, 0x20)?;
        a.pop(ax)?;
        a.iret()
    })?;
    init_pics(a)?;
    virtual_wire(a)?;

    // PIT channel 0: mode 2, count 1193 (about 1 kHz); unmask IRQ0 only.
    out(a, 0x43, 0x34)?;
    out(a, 0x40, 1193 & 0xff)?;
    out(a, 0x40, 1193 >> 8)?;
    out(a, 0x21, 0xfe)?;
    sleep_for_interrupts(a, 10)?;
    out(a, 0x21, 0xff)?;
    h.print("PIT IRQ0\r\n")?;
    h.check(m16(ptr(PIT_TICKS).ss()), 10, "PIT: ten wake-ups, ten ticks")?;

    // RTC: register D says the clock is valid.
    let a = &mut h.a;
    out(a, 0x70, 0x0d)?;
    a.in_(al, 0x71)?;
    h.check(al, 0x80, "RTC register D: VRT")?;

    // RTC periodic interrupt at 1024 Hz through IRQ8 on the slave PIC.
    let a = &mut h.a;
    out(a, 0x70, 0x0a)?;
    out(a, 0x71, 0x26)?;
    out(a, 0x70, 0x0b)?;
    a.in_(al, 0x71)?;
    a.or(al, 0x40)?;
    a.mov(ah, al)?;
    out(a, 0x70, 0x0b)?;
    a.mov(al, ah)?;
    a.out(0x71, al)?;
    out(a, 0xa1, 0xfe)?;
    out(a, 0x21, 0xfb)?;
    sleep_for_interrupts(a, 3)?;
    out(a, 0x21, 0xff)?;
    out(a, 0xa1, 0xff)?;
    // Turn PIE off again.
    out(a, 0x70, 0x0b)?;
    a.in_(al, 0x71)?;
    a.and(al, 0xbf)?;
    a.mov(ah, al)?;
    out(a, 0x70, 0x0b)?;
    a.mov(al, ah)?;
    a.out(0x71, al)?;
    h.print("RTC IRQ8\r\n")?;
    h.check(
        m16(ptr(RTC_TICKS).ss()),
        3,
        "RTC: three periodic interrupts",
    )?;
    // Register C said "interrupt request, periodic" (IRQF | PF).
    let a = &mut h.a;
    a.mov(al, byte_ptr(RTC_FLAGS).ss())?;
    a.and(al, 0xc0)?;
    h.check(al, 0xc0, "RTC register C: IRQF and PF")?;
    h.finish()
}

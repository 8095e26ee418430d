//! Interrupts and exceptions in real mode: INT n, INT3 and INTO through the
//! IVT and back with IRET; #DE (DIV by zero, quotient overflow), #UD (UD2)
//! and #BR (BOUND) pushing the address of the faulting instruction; LIDT
//! moving the IVT.
//!
//! One recording handler per vector notes what the CPU pushed; the test code
//! compares that with the address of the instruction it ran, which it learns
//! with CALL/POP (code_asm cannot take a label's address in 16-bit code).

use crate::alu::model::{CF, OF};
use crate::harness::{m16, m8, Harness};
use iced_x86::code_asm::*;
use xlat_bios::rom::{install_handler, ROM_SEGMENT};

/// What the recording handlers write, through SS (= 0).
const HIT: u32 = 0x0510; // byte: vector of the last handler run
const SAVED_IP: u32 = 0x0512;
const SAVED_CS: u32 = 0x0514;
const SAVED_FLAGS: u32 = 0x0516;
/// Bytes the handler adds to the pushed IP, to step over a faulting
/// instruction (0 for traps such as INT n, which push the next IP).
const SKIP: u32 = 0x0518;
const INNER_FLAGS: u32 = 0x051a;
/// BOUND's pair of limits.
const BOUNDS: u32 = 0x0600;
/// An IDTR image, and where LIDT moves the IVT to.
const IDTR_IMAGE: u32 = 0x0620;
const MOVED_IVT: u32 = 0x0800;

const IF: u16 = 1 << 9;
const TF: u16 = 1 << 8;

/// A handler that records the vector and the IRET frame, then returns past
/// `SKIP` bytes.
fn recorder(vector: u8) -> impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError> {
    move |a| {
        a.push(bp)?;
        a.mov(bp, sp)?;
        a.push(ax)?;
        a.mov(byte_ptr(HIT).ss(), u32::from(vector))?;
        // Frame: [bp+2] IP, [bp+4] CS, [bp+6] FLAGS.
        a.mov(ax, word_ptr(bp + 2))?;
        a.mov(word_ptr(SAVED_IP).ss(), ax)?;
        a.mov(ax, word_ptr(bp + 4))?;
        a.mov(word_ptr(SAVED_CS).ss(), ax)?;
        a.mov(ax, word_ptr(bp + 6))?;
        a.mov(word_ptr(SAVED_FLAGS).ss(), ax)?;
        a.pushf()?;
        a.pop(ax)?;
        a.mov(word_ptr(INNER_FLAGS).ss(), ax)?;
        a.mov(ax, word_ptr(SKIP).ss())?;
        a.add(word_ptr(bp + 2), ax)?;
        a.pop(ax)?;
        a.pop(bp)?;
        a.iret()
    }
}

/// BX = offset of this POP (one byte); the next instruction is at BX+1.
fn mark_here(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut pop = a.create_label();
    a.call(pop)?;
    a.set_label(&mut pop)?;
    a.pop(bx)
}

/// Before an event: nothing recorded yet, and how far to skip.
fn arm(a: &mut CodeAssembler, skip: u32) -> Result<(), IcedError> {
    a.mov(byte_ptr(HIT).ss(), 0xff)?;
    a.mov(word_ptr(SKIP).ss(), skip)
}

/// Checks that `vector` ran and pushed IP = BX + `ip_from_bx` and CS = F000.
fn expect_event(h: &mut Harness, vector: u8, ip_from_bx: u32, what: &str) -> Result<(), IcedError> {
    h.check(
        m8(ptr(HIT).ss()),
        u32::from(vector),
        &format!("{what}: vector"),
    )?;
    let a = &mut h.a;
    a.push(ax)?;
    a.mov(ax, word_ptr(SAVED_IP).ss())?;
    a.sub(ax, bx)?;
    h.check(
        ax,
        ip_from_bx,
        &format!("{what}: pushed IP - address of mark"),
    )?;
    h.a.pop(ax)?;
    h.check(
        m16(ptr(SAVED_CS).ss()),
        u32::from(ROM_SEGMENT),
        &format!("{what}: pushed CS"),
    )
}

pub fn build() -> Result<Vec<u8>, IcedError> {
    let mut h = Harness::new("interrupts")?;
    for vector in [0u8, 3, 4, 5, 6, 0x40, 0x41] {
        install_handler(&mut h.a, vector, recorder(vector))?;
    }
    int_n(&mut h)?;
    divide_errors(&mut h)?;
    invalid_opcode(&mut h)?;
    bound(&mut h)?;
    int3_into(&mut h)?;
    moved_ivt(&mut h)?;
    h.finish()
}

/// INT n pushes FLAGS, CS and the next IP, clears IF and TF, and IRET
/// restores all three.
fn int_n(h: &mut Harness) -> Result<(), IcedError> {
    h.print("int 0x40 / iret\r\n")?;
    let a = &mut h.a;
    arm(a, 0)?;
    a.mov(ax, 0x1234u32)?;
    a.mov(dx, sp)?;
    // IF set (nothing can interrupt: no device raises IRQs) and CF set.
    a.push(u32::from(IF | CF) | 2)?;
    a.popf()?;
    mark_here(a)?;
    a.int(0x40)?;
    h.check_flags(IF | CF, IF | CF, "int 0x40: IRET restores IF and CF")?;
    h.a.cli()?;
    expect_event(h, 0x40, 3, "int 0x40")?;
    h.check(
        m16(ptr(SAVED_FLAGS).ss()),
        u32::from(IF | CF) | 2,
        "int 0x40: pushed FLAGS",
    )?;
    h.a.and(word_ptr(INNER_FLAGS).ss(), u32::from(IF | TF))?;
    h.check(
        m16(ptr(INNER_FLAGS).ss()),
        0,
        "int 0x40: IF and TF clear in the handler",
    )?;
    h.check(ax, 0x1234, "int 0x40: AX kept")?;
    h.a.sub(dx, sp)?;
    h.check(dx, 0, "int 0x40: SP balanced")
}

/// #DE is a fault: the pushed IP is that of the DIV (including prefixes),
/// and the registers are as before it.
fn divide_errors(h: &mut Harness) -> Result<(), IcedError> {
    h.print("#DE\r\n")?;
    // 16-bit divide by zero (F7 F1).
    let a = &mut h.a;
    arm(a, 2)?;
    a.mov(dx, 0x0007u32)?;
    a.mov(ax, 100u32)?;
    a.xor(cx, cx)?;
    mark_here(a)?;
    a.div(cx)?;
    expect_event(h, 0, 1, "div cx (0)")?;
    h.check(ax, 100, "div cx (0): AX kept")?;
    h.check(dx, 7, "div cx (0): DX kept")?;

    // 8-bit quotient overflow: 0x1000 / 0x10 = 0x100 (F6 F1).
    let a = &mut h.a;
    arm(a, 2)?;
    a.mov(ax, 0x1000u32)?;
    a.mov(cl, 0x10u32)?;
    mark_here(a)?;
    a.div(cl)?;
    expect_event(h, 0, 1, "div cl (overflow)")?;
    h.check(ax, 0x1000, "div cl (overflow): AX kept")?;

    // Signed overflow: -32768 / -1 = 32768 does not fit (F7 F9).
    let a = &mut h.a;
    arm(a, 2)?;
    a.mov(dx, 0xffffu32)?;
    a.mov(ax, 0x8000u32)?;
    a.mov(cx, 0xffffu32)?;
    mark_here(a)?;
    a.idiv(cx)?;
    expect_event(h, 0, 1, "idiv cx (-32768 / -1)")?;

    // 32-bit divide by zero: the pushed IP is at the 0x66 prefix (66 F7 F1).
    let a = &mut h.a;
    arm(a, 3)?;
    a.xor(ecx, ecx)?;
    a.mov(eax, 0x1234_5678u32)?;
    mark_here(a)?;
    a.div(ecx)?;
    expect_event(h, 0, 1, "div ecx (0)")?;
    h.check(eax, 0x1234_5678, "div ecx (0): EAX kept")?;

    // A divide that works does not fault.
    let a = &mut h.a;
    arm(a, 0)?;
    a.xor(dx, dx)?;
    a.mov(ax, 100u32)?;
    a.mov(cx, 7u32)?;
    a.div(cx)?;
    h.check(m8(ptr(HIT).ss()), 0xff, "div 100 / 7: no exception")?;
    h.check(ax, 14, "div 100 / 7: quotient")?;
    h.check(dx, 2, "div 100 / 7: remainder")?;

    // AAM 0 divides by zero too (D4 00).
    let a = &mut h.a;
    arm(a, 2)?;
    a.mov(ax, 0x0055u32)?;
    mark_here(a)?;
    a.aam(0)?;
    expect_event(h, 0, 1, "aam 0")?;
    h.check(ax, 0x0055, "aam 0: AX kept")
}

fn invalid_opcode(h: &mut Harness) -> Result<(), IcedError> {
    h.print("#UD\r\n")?;
    let a = &mut h.a;
    arm(a, 2)?;
    mark_here(a)?;
    a.ud2()?;
    expect_event(h, 6, 1, "ud2")
}

/// BOUND raises #BR (vector 5, a fault) when the index is outside the
/// signed, inclusive [lower, upper] pair in memory.
fn bound(h: &mut Harness) -> Result<(), IcedError> {
    h.print("#BR\r\n")?;
    let a = &mut h.a;
    a.mov(word_ptr(BOUNDS), 10)?;
    a.mov(word_ptr(BOUNDS + 2), 20)?;
    for (index, faults) in [
        (25u32, true),
        (9, true),
        (10, false),
        (20, false),
        (0xfff0, true),
    ] {
        let what = format!("bound ax={index}, [10, 20]");
        // BOUND ax, [disp16]: 62 06 lo hi.
        arm(&mut h.a, 4)?;
        h.a.mov(ax, index)?;
        mark_here(&mut h.a)?;
        h.a.bound(ax, ptr(BOUNDS))?;
        if faults {
            expect_event(h, 5, 1, &what)?;
        } else {
            h.check(m8(ptr(HIT).ss()), 0xff, &format!("{what}: no exception"))?;
        }
        h.check(ax, index, &format!("{what}: AX kept"))?;
    }
    Ok(())
}

/// INT3 and INTO are traps: they push the address of the next instruction.
/// INTO does nothing unless OF is set.
fn int3_into(h: &mut Harness) -> Result<(), IcedError> {
    h.print("int3, into\r\n")?;
    let a = &mut h.a;
    arm(a, 0)?;
    mark_here(a)?;
    a.int3()?;
    expect_event(h, 3, 2, "int3")?;

    let a = &mut h.a;
    arm(a, 0)?;
    a.push(2u32)?;
    a.popf()?;
    a.into()?;
    h.check(m8(ptr(HIT).ss()), 0xff, "into with OF=0: no interrupt")?;
    let a = &mut h.a;
    a.push(u32::from(OF) | 2)?;
    a.popf()?;
    mark_here(a)?;
    a.into()?;
    expect_event(h, 4, 2, "into with OF=1")
}

/// In real mode the IVT is wherever IDTR says (LIDT works since the 286).
/// The moved table's vector 0x41 points at the handler of vector 0x40, so
/// INT 0x41 shows which table was read.
fn moved_ivt(h: &mut Harness) -> Result<(), IcedError> {
    h.print("lidt moves the IVT\r\n")?;
    let a = &mut h.a;
    a.mov(eax, dword_ptr(0x40 * 4).ss())?;
    a.mov(dword_ptr(MOVED_IVT + 0x41 * 4).ss(), eax)?;
    a.mov(word_ptr(IDTR_IMAGE).ss(), 0x3ff)?;
    a.mov(dword_ptr(IDTR_IMAGE + 2).ss(), MOVED_IVT)?;
    a.lidt(ptr(IDTR_IMAGE).ss())?;
    arm(a, 0)?;
    a.int(0x41)?;
    // Back to the table at 0 before anything else can fault.
    a.mov(dword_ptr(IDTR_IMAGE + 2).ss(), 0)?;
    a.lidt(ptr(IDTR_IMAGE).ss())?;
    h.check(m8(ptr(HIT).ss()), 0x40, "int 0x41 through the moved IVT")?;
    let a = &mut h.a;
    arm(a, 0)?;
    a.int(0x41)?;
    h.check(
        m8(ptr(HIT).ss()),
        0x41,
        "int 0x41 through the IVT at 0 again",
    )
}

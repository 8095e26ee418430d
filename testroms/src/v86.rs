//! Virtual-8086 mode: entered by IRETD with EFLAGS.VM; with IOPL 0 the
//! IOPL-sensitive instructions (CLI, STI, PUSHF, POPF, INT n, IRET) raise
//! #GP(0) to the ring-0 monitor, which sees VM and the V86 CS:IP, SS:SP in
//! its frame; IN/OUT are checked against the TSS I/O permission bitmap
//! (bytes and words); with IOPL 3 they run, and INT n goes through the
//! IDT to the ring-0 handler.

use crate::harness::{m32, Harness};
use crate::sys::*;
use iced_x86::code_asm::*;
use xlat_bios::rom::ROM_SEGMENT;

/// The I/O bitmap follows the 0x68-byte TSS; 8 KiB and the closing 0xFF.
const IOMAP: u32 = TSS_BASE + 0x68;
const V86_STACK: u32 = 0x6c00;

pub fn build() -> Result<Vec<u8>, IcedError> {
    let lib = Lib::new("v86")?.assemble()?;
    let mut t = Tables::standard(&lib);
    t.gdt[usize::from(TSS_SEL / 8)] = seg(TSS_BASE, 0x68 + 0x2000, TSS32_AVAIL, 0);
    // INT n from V86 (CPL 3) needs a DPL-3 gate.
    t.idt[0x44] = gate(CS16, lib.stub(0x44), INT_GATE32 | dpl(3), 0);

    let mut h = Harness::new("v86")?;
    enter_pm(&mut h)?;
    // Deny every port but the console, the exit port and 0x80.
    let a = &mut h.a;
    a.mov(edi, IOMAP)?;
    a.mov(ecx, 0x2001u32)?;
    a.mov(al, 0xff)?;
    a.rep().stosb()?;
    for port in [0xe9u32, 0xf4, 0x80] {
        a.and(byte_ptr(IOMAP + port / 8), !(1u32 << (port % 8)) & 0xff)?;
    }

    h.print("V86 with IOPL 0\r\n")?;
    v86(&mut h, 0, |h| {
        h.a.mov(ax, cs)?;
        h.check(ax, u32::from(ROM_SEGMENT), "V86: CS is a real-mode segment")?;
        type Emit = fn(&mut CodeAssembler) -> Result<(), IcedError>;
        let sensitive: [(&str, Emit); 7] = [
            ("cli", |a| a.cli()),
            ("sti", |a| a.sti()),
            ("pushf", |a| a.pushf()),
            ("popf", |a| a.popf()),
            ("int 0x40", |a| a.int(0x40)),
            ("iret", |a| a.iret()),
            ("out 0x81 (denied)", |a| a.out(0x81, al)),
        ];
        for (what, emit) in sensitive {
            expect_fault(
                h,
                &format!("V86 IOPL 0: {what}"),
                13,
                Some(0),
                Pushed::AtInstruction,
                |_| Ok(()),
                emit,
            )?;
        }
        h.check(
            m32(ptr(REC_CS).ss()),
            u32::from(ROM_SEGMENT),
            "V86 #GP: pushed CS",
        )?;
        h.a.mov(eax, dword_ptr(REC_EFLAGS).ss())?;
        h.a.and(eax, EF_VM | EF_IOPL3)?;
        h.check(eax, EF_VM, "V86 #GP: pushed EFLAGS has VM, IOPL 0")?;
        h.check(m32(ptr(REC_SS).ss()), 0, "V86 #GP: pushed SS")?;
        h.check(
            m32(ptr(REC_HSS).ss()),
            u32::from(DS),
            "V86 #GP: monitor on TSS.SS0",
        )?;
        expect_fault(
            h,
            "V86: in ax, 0x7f (0x7f denied)",
            13,
            Some(0),
            Pushed::AtInstruction,
            |_| Ok(()),
            |a| a.in_(ax, 0x7f),
        )?;
        // Allowed ports run without a fault.
        h.a.mov(dword_ptr(REC_VEC).ss(), 0xffff_ffffu32)?;
        h.a.in_(al, 0x80)?;
        h.a.out(0x80, al)?;
        check_no_fault(h, "V86: in/out 0x80 (allowed)")
    })?;

    h.print("V86 with IOPL 3\r\n")?;
    v86(&mut h, EF_IOPL3, |h| {
        h.a.mov(dword_ptr(REC_VEC).ss(), 0xffff_ffffu32)?;
        h.a.cli()?;
        h.a.pushf()?;
        h.a.popf()?;
        check_no_fault(h, "V86 IOPL 3: cli, pushf, popf")?;
        expect_fault(
            h,
            "V86 IOPL 3: int 0x44 through the IDT",
            0x44,
            Some(0),
            Pushed::After(2),
            |_| Ok(()),
            |a| a.int(0x44),
        )?;
        h.a.mov(eax, dword_ptr(REC_EFLAGS).ss())?;
        h.a.and(eax, EF_VM)?;
        h.check(eax, EF_VM, "V86 IOPL 3: int 0x44: pushed VM")?;
        // The bitmap still applies with IOPL 3.
        expect_fault(
            h,
            "V86 IOPL 3: out 0x81 (denied)",
            13,
            Some(0),
            Pushed::AtInstruction,
            |_| Ok(()),
            |a| a.out(0x81, al),
        )
    })?;
    h.a.mov(ax, cs)?;
    h.check(ax, u32::from(CS16), "back in protected mode")?;
    h.finish_with(&[t.placed(), (LIB_OFFSET, lib.bytes)])
}

/// Runs `body` in V86 mode (CS = F000, SS:SP = 0:V86_STACK, data segments
/// 0) with EFLAGS = VM | `iopl`, then returns to ring 0: with IOPL 3
/// through `BACK_TO_RING0`; with IOPL 0 (where INT n faults) by pointing
/// the #GP gate there and faulting, then restoring the gate.
fn v86(
    h: &mut Harness,
    iopl: u32,
    body: impl FnOnce(&mut Harness) -> Result<(), IcedError>,
) -> Result<(), IcedError> {
    let mut enter = h.a.create_label();
    let mut after = h.a.create_label();
    let mut user = h.a.create_label();
    h.a.call(enter)?;
    h.a.jmp(after)?;
    h.a.set_label(&mut enter)?;
    h.a.mov(dword_ptr(SAVED_ESP0).ss(), esp)?;
    for value in [
        0,
        0,
        0,
        0,
        0,
        V86_STACK,
        EF_VM | iopl | 2,
        u32::from(ROM_SEGMENT),
    ] {
        pushd(&mut h.a, value)?;
    }
    address_of(&mut h.a, ax, user)?;
    h.a.movzx(eax, ax)?;
    h.a.push(eax)?;
    h.a.iretd()?;
    h.a.set_label(&mut user)?;
    body(h)?;
    let gp = IDT_BASE + 13 * 8;
    let back = IDT_BASE + u32::from(BACK_TO_RING0) * 8;
    if iopl == EF_IOPL3 {
        h.a.int(u32::from(BACK_TO_RING0))?;
    } else {
        h.a.mov(eax, dword_ptr(back).ss())?;
        h.a.mov(dword_ptr(gp).ss(), eax)?;
        h.a.mov(eax, dword_ptr(back + 4).ss())?;
        h.a.mov(dword_ptr(gp + 4).ss(), eax)?;
        h.a.cli()?;
    }
    h.a.set_label(&mut after)?;
    // Put the #GP gate back from the template in the image.
    let template = TABLES_OFFSET as u32 + 13 * 8;
    h.a.mov(eax, dword_ptr(template).cs())?;
    h.a.mov(dword_ptr(gp).ss(), eax)?;
    h.a.mov(eax, dword_ptr(template + 4).cs())?;
    h.a.mov(dword_ptr(gp + 4).ss(), eax)
}

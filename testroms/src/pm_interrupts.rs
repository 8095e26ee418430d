//! Interrupts and exceptions in protected mode: INT n through 32-bit
//! interrupt and trap gates (IF cleared or kept) and a 16-bit interrupt
//! gate (16-bit frame); INT n against a DPL-0 gate from ring 3 and a
//! not-present gate (error code vector * 8 + 2); #DE, #UD, #BR, INT3,
//! INT 3, INTO and ICEBP with the pushed EIP of a fault or a trap; #DF
//! from a #GP whose gate is not present; TF single-step with DR6.BS;
//! DR0 instruction breakpoints (fault, suppressed by RF) and DR1 data
//! write breakpoints (trap) with DR6.B0/B1.

use crate::harness::{m16, m32, Harness};
use crate::sys::*;
use iced_x86::code_asm::*;

const BOUNDS: u32 = SCRATCH + 0x20;
const WATCHED: u32 = SCRATCH + 0x40;
/// NOP; RETF, the target of the instruction breakpoint.
const STUB: u32 = SCRATCH + 0x100;
/// Written by the 16-bit handler.
const REC16_IP: u32 = SCRATCH + 0x80;
const REC16_CS: u32 = SCRATCH + 0x82;
const REC16_FLAGS: u32 = SCRATCH + 0x84;

pub fn build() -> Result<Vec<u8>, IcedError> {
    let mut lib = Lib::new("pm_interrupts")?;
    // A handler for a 16-bit interrupt gate: IP, CS, FLAGS (words).
    let mut h16 = lib.a.create_label();
    {
        let a = &mut lib.a;
        a.set_label(&mut h16)?;
        a.push(bp)?;
        a.mov(bp, sp)?;
        a.push(ax)?;
        for (disp, rec) in [(2, REC16_IP), (4, REC16_CS), (6, REC16_FLAGS)] {
            a.mov(ax, word_ptr(bp + disp))?;
            a.mov(word_ptr(rec).ss(), ax)?;
        }
        a.mov(dword_ptr(REC_VEC).ss(), 0x42)?;
        a.mov(ax, word_ptr(RESUME).ss())?;
        a.mov(word_ptr(bp + 2), ax)?;
        a.pop(ax)?;
        a.pop(bp)?;
        a.iret()?;
    }
    let lib = lib.assemble()?;
    let mut t = Tables::standard(&lib);
    t.idt[0x41] = gate(CS16, lib.stub(0x41), TRAP_GATE32, 0);
    t.idt[0x42] = gate(CS16, lib.addr(&h16), INT_GATE16, 0);
    t.idt[0x43] &= !(1u64 << 47);
    let low = t.add(seg(0, 0xffff, CODE_XR, 0));
    t.idt[0x44] = gate(CS16, lib.stub(0x44), INT_GATE32 | dpl(3), 0);

    let mut h = Harness::new("pm_interrupts")?;
    enter_pm(&mut h)?;
    gates(&mut h)?;
    exceptions(&mut h)?;
    double_fault(&mut h)?;
    single_step(&mut h)?;
    breakpoints(&mut h, low)?;
    h.finish_with(&[t.placed(), (LIB_OFFSET, lib.bytes)])
}

fn set_flags(a: &mut CodeAssembler, flags: u32) -> Result<(), IcedError> {
    pushd(a, flags | 2)?;
    a.popfd()
}

fn gates(h: &mut Harness) -> Result<(), IcedError> {
    h.print("interrupt, trap and 16-bit gates\r\n")?;
    h.a.mov(edx, esp)?;
    expect_fault(
        h,
        "int 0x40 (interrupt gate)",
        0x40,
        Some(0),
        Pushed::After(2),
        |a| set_flags(a, EF_IF | EF_CF),
        |a| a.int(0x40),
    )?;
    h.check_flags(EF_IF as u16, EF_IF as u16, "int 0x40: IRET restores IF")?;
    h.a.cli()?;
    h.check(
        m32(ptr(REC_EFLAGS).ss()),
        EF_IF | EF_CF | 2,
        "int 0x40: pushed EFLAGS",
    )?;
    h.check(
        m32(ptr(REC_CS).ss()),
        u32::from(CS16),
        "int 0x40: pushed CS",
    )?;
    h.a.and(dword_ptr(REC_HFLAGS).ss(), EF_IF | EF_TF)?;
    h.check(
        m32(ptr(REC_HFLAGS).ss()),
        0,
        "int 0x40: IF, TF clear in the handler",
    )?;
    h.a.sub(edx, esp)?;
    h.check(edx, 0, "int 0x40: ESP balanced")?;

    expect_fault(
        h,
        "int 0x41 (trap gate)",
        0x41,
        Some(0),
        Pushed::After(2),
        |a| set_flags(a, EF_IF),
        |a| a.int(0x41),
    )?;
    h.a.cli()?;
    h.a.and(dword_ptr(REC_HFLAGS).ss(), EF_IF)?;
    h.check(
        m32(ptr(REC_HFLAGS).ss()),
        EF_IF,
        "int 0x41: IF kept in the handler",
    )?;

    h.a.mov(edx, esp)?;
    expect_fault(
        h,
        "int 0x42 (16-bit gate)",
        0x42,
        None,
        Pushed::Unchecked,
        |a| set_flags(a, EF_CF),
        |a| a.int(0x42),
    )?;
    h.a.mov(ax, word_ptr(REC16_IP).ss())?;
    h.a.sub(ax, word_ptr(MARK).ss())?;
    h.check(ax, MARK_LEN + 2, "int 0x42: 16-bit frame IP")?;
    h.check(
        m16(ptr(REC16_CS).ss()),
        u32::from(CS16),
        "int 0x42: 16-bit frame CS",
    )?;
    h.check(
        m16(ptr(REC16_FLAGS).ss()),
        EF_CF | 2,
        "int 0x42: 16-bit frame FLAGS",
    )?;
    h.a.sub(edx, esp)?;
    h.check(edx, 0, "int 0x42: ESP balanced")?;

    expect_fault(
        h,
        "int 0x43 (gate not present)",
        11,
        Some(0x43 * 8 + 2),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| a.int(0x43),
    )?;
    ring3(h, EF_IOPL3, |h| {
        expect_fault(
            h,
            "ring 3: int 0x40 (DPL 0 gate)",
            13,
            Some(0x40 * 8 + 2),
            Pushed::AtInstruction,
            |_| Ok(()),
            |a| a.int(0x40),
        )?;
        expect_fault(
            h,
            "ring 3: int 0x44 (DPL 3 gate)",
            0x44,
            Some(0),
            Pushed::After(2),
            |_| Ok(()),
            |a| a.int(0x44),
        )?;
        h.check(
            m32(ptr(REC_CS).ss()),
            u32::from(CS16_3),
            "ring 3: int 0x44: pushed CS",
        )?;
        h.check(
            m32(ptr(REC_SS).ss()),
            u32::from(DS_3),
            "ring 3: int 0x44: pushed SS",
        )?;
        h.check(
            m32(ptr(REC_HSS).ss()),
            u32::from(DS),
            "ring 3: int 0x44: handler SS = SS0",
        )?;
        h.check(
            m32(ptr(REC_FRAME).ss()),
            RING0_STACK - 20,
            "ring 3: int 0x44: frame at ESP0 - 20",
        )?;
        // INT3 and INTO are not INT n: they check the gate's DPL too.
        expect_fault(
            h,
            "ring 3: int3 (DPL 0 gate)",
            13,
            Some(3 * 8 + 2),
            Pushed::AtInstruction,
            |_| Ok(()),
            |a| a.int3(),
        )?;
        h.a.nop()
    })
}

fn exceptions(h: &mut Harness) -> Result<(), IcedError> {
    h.print("faults and traps\r\n")?;
    expect_fault(
        h,
        "div by zero",
        0,
        Some(0),
        Pushed::AtInstruction,
        |a| {
            a.mov(eax, 0x1234u32)?;
            a.xor(ecx, ecx)?;
            a.xor(edx, edx)
        },
        |a| a.div(ecx),
    )?;
    h.check(eax, 0x1234, "div by zero: EAX kept")?;
    expect_fault(
        h,
        "ud2",
        6,
        Some(0),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| a.ud2(),
    )?;
    expect_fault(
        h,
        "lock mov",
        6,
        Some(0),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| a.db(&[0xf0, 0x89, 0xc0]),
    )?;
    h.a.mov(dword_ptr(BOUNDS).ss(), 10)?;
    h.a.mov(dword_ptr(BOUNDS + 4).ss(), 20)?;
    expect_fault(
        h,
        "bound",
        5,
        Some(0),
        Pushed::AtInstruction,
        |a| a.mov(eax, 21u32),
        |a| a.bound(eax, ptr(BOUNDS).ss()),
    )?;
    expect_fault(
        h,
        "int3",
        3,
        Some(0),
        Pushed::After(1),
        |_| Ok(()),
        |a| a.int3(),
    )?;
    expect_fault(
        h,
        "int 3",
        3,
        Some(0),
        Pushed::After(2),
        |_| Ok(()),
        |a| a.int(3),
    )?;
    expect_fault(
        h,
        "into",
        4,
        Some(0),
        Pushed::After(1),
        |a| set_flags(a, 1 << 11),
        |a| a.into(),
    )?;
    expect_fault(
        h,
        "icebp",
        1,
        Some(0),
        Pushed::After(1),
        |_| Ok(()),
        |a| a.int1(),
    )?;
    expect_fault(
        h,
        "mov cr5 (reserved)",
        6,
        Some(0),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| a.db(&[0x0f, 0x20, 0xe8]),
    )
}

/// #GP through a not-present gate: the #NP that follows is contributory
/// too, so the CPU raises #DF with error code 0.
fn double_fault(h: &mut Harness) -> Result<(), IcedError> {
    h.print("double fault\r\n")?;
    let present = IDT_BASE + 13 * 8 + 5;
    h.a.and(byte_ptr(present).ss(), u32::from(NOT_PRESENT))?;
    expect_fault(
        h,
        "#GP through a not-present gate",
        8,
        Some(0),
        Pushed::Unchecked,
        |a| a.xor(cx, cx),
        |a| a.mov(ss, cx),
    )?;
    h.a.or(byte_ptr(present).ss(), 0x80)?;
    // #DE then a #DE-class fault is not a double fault: #PF/#GP pairs
    // aside, a benign exception (#UD) during delivery of a benign one...
    // keep to the documented pair above.
    h.a.nop()
}

fn single_step(h: &mut Harness) -> Result<(), IcedError> {
    h.print("single step\r\n")?;
    h.a.xor(eax, eax)?;
    h.a.mov(dr6, eax)?;
    // POPFD sets TF; the trap comes after the instruction that follows
    // it. MARK + 5 is the POPFD (66 9D), then a one-byte NOP.
    expect_fault(
        h,
        "TF single-step",
        1,
        None,
        Pushed::After(3),
        |a| pushd(a, EF_TF | 2),
        |a| {
            a.popfd()?;
            a.nop()
        },
    )?;
    h.a.mov(eax, dword_ptr(REC_DR6).ss())?;
    h.a.and(eax, 0x4000)?;
    h.check(eax, 0x4000, "TF single-step: DR6.BS")?;
    h.check(
        m32(ptr(REC_EFLAGS).ss()),
        EF_TF | 2,
        "TF single-step: pushed EFLAGS has TF",
    )?;
    h.a.and(dword_ptr(REC_HFLAGS).ss(), EF_TF)?;
    h.check(
        m32(ptr(REC_HFLAGS).ss()),
        0,
        "TF single-step: TF clear in the handler",
    )
}

fn breakpoints(h: &mut Harness, low: u16) -> Result<(), IcedError> {
    h.print("debug registers\r\n")?;
    // DR0: execution breakpoint on a NOP; RETF in RAM, run through `low`
    // (a 16-bit code segment with base 0).
    h.a.mov(word_ptr(STUB).ss(), 0xcb90)?;
    h.a.mov(eax, STUB)?;
    h.a.mov(dr0, eax)?;
    h.a.mov(eax, 1u32)?; // L0, execute, length 1
    h.a.mov(dr7, eax)?;
    h.a.mov(dword_ptr(REC_VEC).ss(), 0xffff_ffffu32)?;
    // The handler resumes after the NOP, at the RETF.
    h.a.mov(dword_ptr(RESUME).ss(), STUB + 1)?;
    h.a.call_far(low, STUB)?;
    h.check(m32(ptr(REC_VEC).ss()), 1, "DR0 execute: vector")?;
    h.check(
        m32(ptr(REC_EIP).ss()),
        STUB,
        "DR0 execute: pushed EIP (a fault)",
    )?;
    h.check(
        m32(ptr(REC_CS).ss()),
        u32::from(low),
        "DR0 execute: pushed CS",
    )?;
    h.a.mov(eax, dword_ptr(REC_DR6).ss())?;
    h.a.and(eax, 0x400f)?;
    h.check(eax, 1, "DR0 execute: DR6.B0")?;

    // IRETD to the breakpoint with RF set: no fault this time.
    let mut after = h.a.create_label();
    h.a.mov(dword_ptr(REC_VEC).ss(), 0xffff_ffffu32)?;
    h.a.push(u32::from(CS16))?;
    address_of(&mut h.a, ax, after)?;
    h.a.push(ax)?;
    pushd(&mut h.a, EF_RF | 2)?;
    pushd(&mut h.a, u32::from(low))?;
    pushd(&mut h.a, STUB)?;
    h.a.iretd()?;
    h.a.set_label(&mut after)?;
    h.check(
        m32(ptr(REC_VEC).ss()),
        0xffff_ffff,
        "DR0 with RF=1: no fault",
    )?;
    h.a.mov(dword_ptr(RESUME).ss(), 0)?;

    // DR1: 4-byte write breakpoint (a trap: the write is done).
    h.a.mov(eax, WATCHED)?;
    h.a.mov(dr1, eax)?;
    h.a.mov(eax, (1 << 2) | (0b01 << 20) | (0b11 << 22))?;
    h.a.mov(dr7, eax)?;
    h.a.mov(eax, dword_ptr(WATCHED).ss())?;
    check_no_fault_since_arm(h)?;
    expect_fault(
        h,
        "DR1 data write",
        1,
        None,
        Pushed::Unchecked,
        |a| a.mov(eax, 0xabcdu32),
        |a| a.mov(dword_ptr(WATCHED + 2).ss(), eax),
    )?;
    h.check(
        m32(ptr(WATCHED + 2).ss()),
        0xabcd,
        "DR1 data write: the write happened",
    )?;
    h.a.mov(eax, dword_ptr(REC_DR6).ss())?;
    h.a.and(eax, 0x400f)?;
    h.check(eax, 2, "DR1 data write: DR6.B1")?;
    h.a.xor(eax, eax)?;
    h.a.mov(dr7, eax)
}

/// The read of the watched dword above must not have fired DR1.
fn check_no_fault_since_arm(h: &mut Harness) -> Result<(), IcedError> {
    h.check(
        m32(ptr(REC_VEC).ss()),
        0xffff_ffff,
        "DR1 read: no trap on a write-only breakpoint",
    )
}

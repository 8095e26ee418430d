//! Hardware task switching: CALL to a 32-bit TSS and IRET back (NT set,
//! back link, both busy bits, registers saved and restored), the same
//! through a task gate in the IDT (INT n), JMP to a TSS (no NT, no back
//! link, the old task's busy bit cleared) and JMP back, a CALL to a busy
//! TSS (#GP), and a round trip through a 16-bit TSS.

use crate::harness::{m16, m32, m8, Harness};
use crate::sys::*;
use iced_x86::code_asm::*;

const TSS_B: u32 = 0x5000;
const TSS_C: u32 = 0x5200;
const STACK_B: u32 = 0x6000;
const STACK_C: u32 = 0x6400;
/// Records written by the tasks.
const B_TR: u32 = SCRATCH;
const B_EFLAGS: u32 = SCRATCH + 4;
const B_LINK: u32 = SCRATCH + 8;
const B_BUSY_A: u32 = SCRATCH + 12;
const B_BUSY_B: u32 = SCRATCH + 13;
const B_COUNT: u32 = SCRATCH + 16;
const C_TR: u32 = SCRATCH + 20;
const C_FLAGS: u32 = SCRATCH + 24;
const C_LINK: u32 = SCRATCH + 28;
const C_AX: u32 = SCRATCH + 32;

pub fn build() -> Result<Vec<u8>, IcedError> {
    let mut lib = Lib::new("task_switch")?;
    // Selectors are known before the GDT is: standard ones, then ours.
    let sel_b = FIRST_FREE;
    let sel_c = FIRST_FREE + 8;
    let mut task_b = lib.a.create_label();
    let mut task_c = lib.a.create_label();
    {
        let a = &mut lib.a;
        // Task B: record, then return the way it was entered.
        a.set_label(&mut task_b)?;
        a.str(ax)?;
        a.movzx(eax, ax)?;
        a.mov(dword_ptr(B_TR), eax)?;
        a.pushfd()?;
        a.pop(eax)?;
        a.mov(dword_ptr(B_EFLAGS), eax)?;
        a.movzx(eax, word_ptr(TSS_B))?;
        a.mov(dword_ptr(B_LINK), eax)?;
        a.mov(al, byte_ptr(GDT_BASE + u32::from(TSS_SEL) + 5))?;
        a.mov(byte_ptr(B_BUSY_A), al)?;
        a.mov(al, byte_ptr(GDT_BASE + u32::from(sel_b) + 5))?;
        a.mov(byte_ptr(B_BUSY_B), al)?;
        a.inc(dword_ptr(B_COUNT))?;
        a.mov(ebx, 0xbbbb_bbbbu32)?;
        let mut by_jmp = a.create_label();
        a.mov(eax, dword_ptr(B_EFLAGS))?;
        a.test(eax, EF_NT)?;
        a.jz(by_jmp)?;
        a.iretd()?;
        a.jmp(task_b)?;
        a.set_label(&mut by_jmp)?;
        a.jmp_far(TSS_SEL, 0)?;
        a.jmp(task_b)?;

        // Task C (16-bit TSS).
        a.set_label(&mut task_c)?;
        a.str(ax)?;
        a.mov(word_ptr(C_TR), ax)?;
        a.pushf()?;
        a.pop(ax)?;
        a.mov(word_ptr(C_FLAGS), ax)?;
        a.mov(ax, word_ptr(TSS_C))?;
        a.mov(word_ptr(C_LINK), ax)?;
        a.mov(word_ptr(C_AX), 0xc0c0)?;
        a.iret()?;
        a.jmp(task_c)?;
    }
    let lib = lib.assemble()?;
    let mut t = Tables::standard(&lib);
    assert_eq!(t.add(seg(TSS_B, 0x67, TSS32_AVAIL, 0)), sel_b);
    assert_eq!(t.add(seg(TSS_C, 0x2b, TSS16_AVAIL, 0)), sel_c);
    t.idt[0x50] = gate(sel_b, 0, TASK_GATE, 0);

    let mut h = Harness::new("task_switch")?;
    enter_pm(&mut h)?;
    let a = &mut h.a;
    // TSS B: CS16:task_b, flat data, its own stack, EFLAGS = 2.
    a.mov(edi, TSS_B)?;
    a.mov(ecx, 0x68u32)?;
    a.xor(al, al)?;
    a.rep().stosb()?;
    for (off, value) in [
        (0x20, lib.addr(&task_b)),
        (0x24, 2),
        (0x38, STACK_B),
        (0x48, u32::from(DS)),
        (0x4c, u32::from(CS16)),
        (0x50, u32::from(DS)),
        (0x54, u32::from(DS)),
        (0x58, u32::from(DS)),
        (0x5c, u32::from(DS)),
    ] {
        a.mov(dword_ptr(TSS_B + off), value)?;
    }
    a.mov(word_ptr(TSS_B + 0x66), 0x68)?;
    // TSS C (16-bit): IP, FLAGS, SP, ES, CS, SS, DS.
    a.mov(edi, TSS_C)?;
    a.mov(ecx, 0x2cu32)?;
    a.rep().stosb()?;
    for (off, value) in [
        (0x0e, lib.addr(&task_c)),
        (0x10, 2),
        (0x1a, STACK_C),
        (0x22, u32::from(DS)),
        (0x24, u32::from(CS16)),
        (0x26, u32::from(DS)),
        (0x28, u32::from(DS)),
    ] {
        a.mov(word_ptr(TSS_C + off), value)?;
    }
    a.mov(dword_ptr(B_COUNT), 0)?;

    let busy_a = GDT_BASE + u32::from(TSS_SEL) + 5;
    let busy_b = GDT_BASE + u32::from(sel_b) + 5;
    h.print("call to a TSS, iret back\r\n")?;
    round_trip(&mut h, "call", |a| a.call_far(sel_b, 0))?;
    h.print("int through a task gate\r\n")?;
    round_trip(&mut h, "task gate", |a| a.int(0x50))?;
    h.check(m32(ptr(B_COUNT)), 2, "task B ran twice")?;
    // The second run resumed after task B's IRETD (its saved EIP), which
    // jumps back to its start: it ran from the top both times.

    h.print("jmp to a TSS and back\r\n")?;
    h.a.mov(ebx, 0x5555_aaaau32)?;
    h.a.jmp_far(sel_b, 0)?;
    h.check(ebx, 0x5555_aaaa, "jmp: EBX restored from TSS A")?;
    h.a.and(dword_ptr(B_EFLAGS), EF_NT)?;
    h.check(m32(ptr(B_EFLAGS)), 0, "jmp: NT clear in task B")?;
    h.check(
        m8(ptr(B_BUSY_A)),
        u32::from(TSS32_AVAIL),
        "jmp: task A not busy in B",
    )?;
    h.check(
        m8(ptr(B_BUSY_B)),
        u32::from(TSS32_BUSY),
        "jmp: task B busy in B",
    )?;
    h.check(
        m8(ptr(busy_b)),
        u32::from(TSS32_AVAIL),
        "jmp back: task B not busy",
    )?;
    h.check(
        m8(ptr(busy_a)),
        u32::from(TSS32_BUSY),
        "jmp back: task A busy",
    )?;

    expect_fault(
        &mut h,
        "call to the busy current TSS",
        13,
        Some(u32::from(TSS_SEL)),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| a.call_far(TSS_SEL, 0),
    )?;

    h.print("16-bit TSS\r\n")?;
    h.a.mov(ax, 0x1234u32)?;
    h.a.call_far(sel_c, 0)?;
    h.check(ax, 0x1234, "16-bit task: AX restored")?;
    h.check(m16(ptr(C_TR)), u32::from(sel_c), "16-bit task: TR")?;
    h.check(m16(ptr(C_FLAGS)), EF_NT | 2, "16-bit task: NT")?;
    h.check(
        m16(ptr(C_LINK)),
        u32::from(TSS_SEL),
        "16-bit task: back link",
    )?;
    h.a.str(ax)?;
    h.check(ax, u32::from(TSS_SEL), "after the 16-bit task: TR")?;
    h.check(
        m8(ptr(GDT_BASE + u32::from(sel_c) + 5)),
        u32::from(TSS16_AVAIL),
        "16-bit TSS not busy after IRET",
    )?;
    h.finish_with(&[t.placed(), (LIB_OFFSET, lib.bytes)])
}

/// Switches to task B with `switch` (nesting), which IRETs back.
fn round_trip(
    h: &mut Harness,
    what: &str,
    switch: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Result<(), IcedError> {
    let sel_b = FIRST_FREE;
    let busy_a = GDT_BASE + u32::from(TSS_SEL) + 5;
    let busy_b = GDT_BASE + u32::from(sel_b) + 5;
    h.a.mov(ebx, 0x1234_abcdu32)?;
    h.a.mov(edx, esp)?;
    switch(&mut h.a)?;
    h.check(
        ebx,
        0x1234_abcd,
        &format!("{what}: EBX restored from TSS A"),
    )?;
    h.a.sub(edx, esp)?;
    h.check(edx, 0, &format!("{what}: ESP restored"))?;
    h.check(
        m32(ptr(B_TR)),
        u32::from(sel_b),
        &format!("{what}: TR in task B"),
    )?;
    h.a.and(dword_ptr(B_EFLAGS), EF_NT)?;
    h.check(
        m32(ptr(B_EFLAGS)),
        EF_NT,
        &format!("{what}: NT set in task B"),
    )?;
    h.check(
        m32(ptr(B_LINK)),
        u32::from(TSS_SEL),
        &format!("{what}: back link"),
    )?;
    h.check(
        m8(ptr(B_BUSY_A)),
        u32::from(TSS32_BUSY),
        &format!("{what}: task A busy in B"),
    )?;
    h.check(
        m8(ptr(B_BUSY_B)),
        u32::from(TSS32_BUSY),
        &format!("{what}: task B busy in B"),
    )?;
    h.check(
        m8(ptr(busy_b)),
        u32::from(TSS32_AVAIL),
        &format!("{what}: task B not busy after IRET"),
    )?;
    h.check(
        m8(ptr(busy_a)),
        u32::from(TSS32_BUSY),
        &format!("{what}: task A still busy"),
    )?;
    h.a.str(ax)?;
    h.check(ax, u32::from(TSS_SEL), &format!("{what}: TR after IRET"))?;
    h.a.pushfd()?;
    h.a.pop(eax)?;
    h.a.and(eax, EF_NT)?;
    h.check(eax, 0, &format!("{what}: NT clear in task A"))
}

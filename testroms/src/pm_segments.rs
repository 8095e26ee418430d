//! Protected-mode segmentation: entering protected mode and going back to
//! real mode (and to unreal mode); segment-register loads and their checks
//! with exact error codes (#GP, #NP, #SS); limit checks, read-only and
//! expand-down data; the descriptor cache outliving a change to the GDT;
//! accessed bits; conforming code called from ring 3; LAR, LSL, VERR,
//! VERW, ARPL, SGDT, SIDT, SLDT, STR, LLDT, LTR and SMSW.

use crate::harness::{m32, m8, Harness};
use crate::sys::*;
use iced_x86::code_asm::*;
use iced_x86::{Code, Instruction, MemoryOperand, Register};
use xlat_bios::rom::install_handler;

const ZF: u16 = 1 << 6;

struct Sels {
    small: u16,
    exec_only: u16,
    read_only: u16,
    not_present: u16,
    down16: u16,
    down32: u16,
    fresh: u16,
    conforming: u16,
    int_gate: u16,
    call_gate: u16,
    beyond: u16,
}

pub fn build() -> Result<Vec<u8>, IcedError> {
    let lib = Lib::new("pm_segments")?.assemble()?;
    let mut t = Tables::standard(&lib);
    let s = Sels {
        small: t.add(seg(0x8000, 0xff, DATA_RW, 0)),
        exec_only: t.add(seg(ROM_BASE, 0xffff, CODE_X, 0)),
        read_only: t.add(seg(0, 0xfffff, DATA_R, G | DB)),
        not_present: t.add(seg(0, 0xffff, DATA_RW & NOT_PRESENT, 0)),
        down16: t.add(seg(0x8000, 0x0fff, DATA_DOWN_RW, 0)),
        down32: t.add(seg(0x8000, 0x0fff, DATA_DOWN_RW, DB)),
        fresh: t.add(seg(0x8000, 0xffff, DATA_RW, 0)),
        conforming: t.add(seg(ROM_BASE, 0xffff, CODE_CONFORMING_XR, 0)),
        int_gate: t.add(gate(CS16, 0, INT_GATE32, 0)),
        call_gate: t.add(gate(CS16, 0, CALL_GATE32, 0)),
        beyond: 0,
    };
    let s = Sels {
        beyond: (t.gdt.len() as u16 + 4) * 8,
        ..s
    };

    let mut h = Harness::new("pm_segments")?;
    h.print("enter protected mode\r\n")?;
    enter_pm(&mut h)?;
    h.a.smsw(ax)?;
    h.a.and(ax, 1)?;
    h.check(ax, 1, "MSW.PE after entering protected mode")?;
    h.a.mov(ax, cs)?;
    h.check(ax, u32::from(CS16), "CS after the far jump")?;
    selector_loads(&mut h, &s)?;
    limits(&mut h, &s)?;
    cache_and_accessed(&mut h, &s)?;
    descriptor_tables(&mut h)?;
    lar_lsl_verr(&mut h, &s)?;
    conforming(&mut h, &s)?;
    real_and_unreal(&mut h)?;
    h.finish_with(&[t.placed(), (LIB_OFFSET, lib.bytes)])
}

/// MOV to DS or SS with `sel`, expected to raise `vector` with `error`.
fn bad_load(
    h: &mut Harness,
    what: &str,
    to_ss: bool,
    sel: u16,
    vector: u8,
    error: u32,
) -> Result<(), IcedError> {
    expect_fault(
        h,
        what,
        vector,
        Some(error),
        Pushed::AtInstruction,
        |a| {
            a.mov(cx, u32::from(sel))?;
            a.mov(dx, if to_ss { ss } else { ds })
        },
        |a| if to_ss { a.mov(ss, cx) } else { a.mov(ds, cx) },
    )?;
    // A faulting load leaves the register as it was.
    h.a.mov(ax, if to_ss { ss } else { ds })?;
    h.a.sub(ax, dx)?;
    h.check(ax, 0, &format!("{what}: register unchanged"))
}

fn selector_loads(h: &mut Harness, s: &Sels) -> Result<(), IcedError> {
    h.print("segment loads\r\n")?;
    // A null selector loads into DS (RPL ignored); using it faults.
    h.a.mov(ax, 3u32)?;
    h.a.mov(ds, ax)?;
    h.a.mov(ax, ds)?;
    h.check(ax, 3, "null selector (RPL 3) loads into DS")?;
    expect_fault(
        h,
        "read through a null DS",
        13,
        Some(0),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| a.mov(al, byte_ptr(0)),
    )?;
    load_data_segments(&mut h.a, DS)?;

    bad_load(h, "mov ss, null", true, 0, 13, 0)?;
    bad_load(
        h,
        "mov ds, beyond the GDT limit",
        false,
        s.beyond,
        13,
        u32::from(s.beyond),
    )?;
    bad_load(
        h,
        "mov ds, execute-only code",
        false,
        s.exec_only,
        13,
        u32::from(s.exec_only),
    )?;
    bad_load(
        h,
        "mov ds, TSS descriptor",
        false,
        TSS_SEL,
        13,
        u32::from(TSS_SEL),
    )?;
    bad_load(h, "mov ds, LDT selector, LDTR null", false, 0x0c, 13, 0x0c)?;
    bad_load(
        h,
        "mov ss, read-only data",
        true,
        s.read_only,
        13,
        u32::from(s.read_only),
    )?;
    bad_load(
        h,
        "mov ss, DPL 3 data at CPL 0",
        true,
        DS_3,
        13,
        u32::from(DS_3 & !3),
    )?;
    bad_load(
        h,
        "mov ss, DPL 0 data with RPL 3",
        true,
        DS | 3,
        13,
        u32::from(DS),
    )?;
    bad_load(h, "mov ss, readable code", true, CS16, 13, u32::from(CS16))?;
    bad_load(
        h,
        "mov ds, DPL 0 data, RPL 3",
        false,
        DS | 3,
        13,
        u32::from(DS),
    )?;
    bad_load(
        h,
        "mov ds, not present",
        false,
        s.not_present,
        11,
        u32::from(s.not_present),
    )?;
    bad_load(
        h,
        "mov ss, not present",
        true,
        s.not_present,
        12,
        u32::from(s.not_present),
    )?;
    // RPL 1 of a DPL 0 data segment loaded by CPL 0: max(CPL, RPL) > DPL.
    bad_load(
        h,
        "mov es/ds, RPL 1 > DPL 0",
        false,
        s.small | 1,
        13,
        u32::from(s.small),
    )?;

    // Readable code loads into DS; DS_3 (DPL 3) loads into DS at CPL 0.
    h.a.mov(ax, u32::from(CS16))?;
    h.a.mov(ds, ax)?;
    h.a.mov(ax, u32::from(DS_3))?;
    h.a.mov(ds, ax)?;
    h.a.mov(ax, ds)?;
    h.check(ax, u32::from(DS_3), "DS_3 loads into DS at CPL 0")?;
    load_data_segments(&mut h.a, DS)?;
    // POP DS with a bad selector faults with ESP unchanged.
    h.a.mov(edx, esp)?;
    expect_fault(
        h,
        "pop ds, not present",
        11,
        Some(u32::from(s.not_present)),
        Pushed::AtInstruction,
        |a| a.push(u32::from(s.not_present)),
        |a| a.pop(ds),
    )?;
    h.a.pop(ax)?;
    h.a.sub(edx, esp)?;
    h.check(edx, 0, "pop ds, not present: ESP restored")?;
    // LSS faults on the SS part without changing ESP.
    h.a.mov(dword_ptr(SCRATCH).ss(), 0x1234u32)?;
    h.a.mov(word_ptr(SCRATCH + 4).ss(), u32::from(s.not_present))?;
    h.a.mov(edx, esp)?;
    expect_fault(
        h,
        "lss esp, not present",
        12,
        Some(u32::from(s.not_present)),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| a.lss(esp, ptr(SCRATCH).ss()),
    )?;
    h.a.sub(edx, esp)?;
    h.check(edx, 0, "lss esp, not present: ESP unchanged")
}

fn limits(h: &mut Harness, s: &Sels) -> Result<(), IcedError> {
    h.print("limits, read-only, expand-down\r\n")?;
    // `small`: base 0x8000, limit 0xFF.
    h.a.mov(byte_ptr(0x80ff), 0x5a)?;
    h.a.mov(ax, u32::from(s.small))?;
    h.a.mov(es, ax)?;
    h.a.mov(al, byte_ptr(0xff).es())?;
    h.check(al, 0x5a, "read at the limit")?;
    expect_fault(
        h,
        "byte past the limit",
        13,
        Some(0),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| a.mov(al, byte_ptr(0x100).es()),
    )?;
    expect_fault(
        h,
        "word straddling the limit",
        13,
        Some(0),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| a.mov(ax, word_ptr(0xff).es()),
    )?;
    // Through SS: #SS(0). SS = RDS (limit 0xFFFF; SP-based stack).
    h.a.mov(ax, u32::from(RDS))?;
    h.a.mov(ss, ax)?;
    expect_fault(
        h,
        "SS-relative access past the limit",
        12,
        Some(0),
        Pushed::AtInstruction,
        |a| a.mov(ebx, 0x1_0000u32),
        |a| a.mov(eax, dword_ptr(ebx).ss()),
    )?;
    h.a.mov(ax, u32::from(DS))?;
    h.a.mov(ss, ax)?;

    // Read-only data and code: writes fault.
    h.a.mov(ax, u32::from(s.read_only))?;
    h.a.mov(es, ax)?;
    h.a.mov(al, byte_ptr(SCRATCH).es())?;
    expect_fault(
        h,
        "write to read-only data",
        13,
        Some(0),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| a.mov(byte_ptr(SCRATCH).es(), al),
    )?;
    expect_fault(
        h,
        "write through CS",
        13,
        Some(0),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| a.mov(byte_ptr(0xf000).cs(), al),
    )?;

    // Expand-down, 16-bit, limit 0xFFF: offsets 0x1000..=0xFFFF.
    h.a.mov(dword_ptr(0x9000), 0x1122_3344u32)?;
    h.a.mov(ebx, 0x1_7fffu32)?;
    h.a.mov(byte_ptr(ebx), 0x77)?;
    h.a.mov(ax, u32::from(s.down16))?;
    h.a.mov(es, ax)?;
    h.a.mov(eax, dword_ptr(0x1000).es())?;
    h.check(eax, 0x1122_3344, "expand-down: read at limit + 1")?;
    h.a.mov(al, byte_ptr(0xffff).es())?;
    h.check(al, 0x77, "expand-down: read at 0xFFFF")?;
    expect_fault(
        h,
        "expand-down read at the limit",
        13,
        Some(0),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| a.mov(al, byte_ptr(0x0fff).es()),
    )?;
    expect_fault(
        h,
        "expand-down 16-bit word at 0xFFFF",
        13,
        Some(0),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| a.mov(ax, word_ptr(0xffff).es()),
    )?;
    // 32-bit (B=1): the upper bound is 4 GiB - 1.
    h.a.mov(ebx, 0x1_8000u32)?;
    h.a.mov(dword_ptr(ebx), 0x5566_7788u32)?;
    h.a.mov(ax, u32::from(s.down32))?;
    h.a.mov(es, ax)?;
    h.a.mov(ebx, 0x1_0000u32)?;
    h.a.mov(eax, dword_ptr(ebx).es())?;
    h.check(eax, 0x5566_7788, "expand-down 32-bit: read at 0x10000")?;
    load_data_segments(&mut h.a, DS)
}

fn cache_and_accessed(h: &mut Harness, s: &Sels) -> Result<(), IcedError> {
    h.print("descriptor cache, accessed bit\r\n")?;
    let desc = GDT_BASE + u32::from(s.fresh);
    h.check(
        m8(ptr(desc + 5).ss()),
        u32::from(DATA_RW),
        "accessed clear before load",
    )?;
    h.a.mov(byte_ptr(0x8010), 0x11)?;
    h.a.mov(byte_ptr(0x9010), 0x22)?;
    h.a.mov(ax, u32::from(s.fresh))?;
    h.a.mov(es, ax)?;
    h.check(
        m8(ptr(desc + 5).ss()),
        u32::from(DATA_RW | 1),
        "load sets the accessed bit",
    )?;
    // Move the segment to 0x9000 in the GDT: ES keeps its cached base.
    h.a.mov(byte_ptr(desc + 3).ss(), 0x90)?;
    h.a.mov(al, byte_ptr(0x10).es())?;
    h.check(al, 0x11, "cached base survives a GDT write")?;
    h.a.mov(ax, es)?;
    h.a.mov(es, ax)?;
    h.a.mov(al, byte_ptr(0x10).es())?;
    h.check(al, 0x22, "reload picks up the new base")?;
    // Even with the descriptor marked not present, ES still works.
    h.a.and(byte_ptr(desc + 5).ss(), u32::from(NOT_PRESENT))?;
    h.a.mov(al, byte_ptr(0x10).es())?;
    h.check(al, 0x22, "cached segment usable after P cleared")?;
    load_data_segments(&mut h.a, DS)
}

fn descriptor_tables(h: &mut Harness) -> Result<(), IcedError> {
    h.print("sgdt/sidt/lldt/sldt/ltr/str\r\n")?;
    let a = &mut h.a;
    a.sgdt(ptr(SCRATCH).ss())?;
    a.sidt(ptr(SCRATCH + 8).ss())?;
    h.check(m32(ptr(SCRATCH + 2).ss()), GDT_BASE, "sgdt base")?;
    h.check(m32(ptr(SCRATCH + 10).ss()), IDT_BASE, "sidt base")?;
    h.check(
        crate::harness::m16(ptr(SCRATCH + 8).ss()),
        0x7ff,
        "sidt limit",
    )?;

    // enter_pm's LTR marked the TSS busy; loading it again faults.
    h.a.str(ax)?;
    h.check(ax, u32::from(TSS_SEL), "str after ltr")?;
    h.check(
        m8(ptr(GDT_BASE + u32::from(TSS_SEL) + 5).ss()),
        u32::from(TSS32_BUSY),
        "ltr sets the busy bit",
    )?;
    expect_fault(
        h,
        "ltr of a busy TSS",
        13,
        Some(u32::from(TSS_SEL)),
        Pushed::AtInstruction,
        |a| a.mov(ax, u32::from(TSS_SEL)),
        |a| a.ltr(ax),
    )?;
    expect_fault(
        h,
        "lldt of a data segment",
        13,
        Some(u32::from(DS)),
        Pushed::AtInstruction,
        |a| a.mov(ax, u32::from(DS)),
        |a| a.lldt(ax),
    )?;
    // An LDT with a data segment at 0x9000 in slot 0 (selector 0x04).
    let ldt_data = seg(0x9000, 0xffff, DATA_RW, 0);
    let a = &mut h.a;
    a.mov(dword_ptr(LDT_BASE).ss(), ldt_data as u32)?;
    a.mov(dword_ptr(LDT_BASE + 4).ss(), (ldt_data >> 32) as u32)?;
    a.mov(byte_ptr(0x9020), 0x5e)?;
    a.mov(ax, u32::from(LDT_SEL))?;
    a.lldt(ax)?;
    a.sldt(cx)?;
    h.check(cx, u32::from(LDT_SEL), "sldt after lldt")?;
    h.a.mov(ax, 0x04u32)?;
    h.a.mov(es, ax)?;
    h.a.mov(al, byte_ptr(0x20).es())?;
    h.check(al, 0x5e, "read through an LDT selector")?;
    bad_load(h, "mov ds, beyond the LDT limit", false, 0x0104, 13, 0x0104)?;
    load_data_segments(&mut h.a, DS)
}

fn lar_lsl_verr(h: &mut Harness, s: &Sels) -> Result<(), IcedError> {
    h.print("lar/lsl/verr/verw/arpl\r\n")?;
    for (sel, valid, rights) in [
        (DS, true, 0x00c0_9300u32),
        (CS16, true, 0x0000_9b00),
        (TSS_SEL, true, 0x0000_8b00),
        (s.call_gate, true, 0x0000_8c00),
        (0, false, 0),
        (s.beyond, false, 0),
        (s.int_gate, false, 0),
    ] {
        let what = format!("lar {sel:#x}");
        h.a.mov(ecx, u32::from(sel))?;
        h.a.mov(eax, 0xdead_beefu32)?;
        h.a.lar(eax, ecx)?;
        h.check_flags(ZF, if valid { ZF } else { 0 }, &format!("{what}: ZF"))?;
        if valid {
            h.a.and(eax, 0x00f0_ff00)?;
            h.check(eax, rights, &format!("{what}: rights"))?;
        } else {
            h.check(eax, 0xdead_beef, &format!("{what}: EAX unchanged"))?;
        }
    }
    for (sel, valid, limit) in [
        (DS, true, 0xffff_ffffu32),
        (CS16, true, 0xffff),
        (TSS_SEL, true, 0x67),
        (s.small, true, 0xff),
        (s.call_gate, false, 0),
    ] {
        let what = format!("lsl {sel:#x}");
        h.a.mov(ecx, u32::from(sel))?;
        h.a.mov(eax, 0xdead_beefu32)?;
        h.a.lsl(eax, ecx)?;
        h.check_flags(ZF, if valid { ZF } else { 0 }, &format!("{what}: ZF"))?;
        h.check(
            eax,
            if valid { limit } else { 0xdead_beef },
            &format!("{what}: limit"),
        )?;
    }
    for (sel, write, ok) in [
        (CS16, false, true),
        (s.exec_only, false, false),
        (DS, true, true),
        (CS16, true, false),
        (s.read_only, true, false),
        (s.read_only, false, true),
        (TSS_SEL, false, false),
    ] {
        let what = format!("{} {sel:#x}", if write { "verw" } else { "verr" });
        h.a.mov(cx, u32::from(sel))?;
        if write {
            h.a.verw(cx)?;
        } else {
            h.a.verr(cx)?;
        }
        h.check_flags(ZF, if ok { ZF } else { 0 }, &what)?;
    }
    // ARPL raises the destination's RPL to the source's.
    h.a.mov(ax, 0x0010u32)?;
    h.a.mov(cx, 0x0033u32)?;
    h.a.arpl(ax, cx)?;
    h.check_flags(ZF, ZF, "arpl raises RPL: ZF")?;
    h.check(ax, 0x0013, "arpl raises RPL")?;
    h.a.mov(cx, 0x0001u32)?;
    h.a.arpl(ax, cx)?;
    h.check_flags(ZF, 0, "arpl keeps a higher RPL: ZF")?;
    h.check(ax, 0x0013, "arpl keeps a higher RPL")
}

/// Ring 3 calls a conforming DPL-0 segment (CPL stays 3) and fails to call
/// a non-conforming one.
fn conforming(h: &mut Harness, s: &Sels) -> Result<(), IcedError> {
    h.print("conforming code from ring 3\r\n")?;
    let mut callee = h.a.create_label();
    let mut over = h.a.create_label();
    h.a.jmp(over)?;
    h.a.set_label(&mut callee)?;
    h.a.mov(ax, cs)?;
    h.a.mov(word_ptr(SCRATCH + 4).ss(), ax)?;
    h.a.retf()?;
    h.a.set_label(&mut over)?;
    let conf = s.conforming;
    ring3(h, EF_IOPL3, |h| {
        let call_far = |a: &mut CodeAssembler| {
            a.add_instruction(Instruction::with1(
                Code::Call_m1616,
                MemoryOperand::with_base_displ_size_bcst_seg(
                    Register::None,
                    i64::from(SCRATCH),
                    2,
                    false,
                    Register::SS,
                ),
            )?)
        };
        address_of(&mut h.a, ax, callee)?;
        h.a.mov(word_ptr(SCRATCH).ss(), ax)?;
        h.a.mov(word_ptr(SCRATCH + 2).ss(), u32::from(conf | 3))?;
        call_far(&mut h.a)?;
        h.check(
            crate::harness::m16(ptr(SCRATCH + 4).ss()),
            u32::from(conf | 3),
            "conforming callee: CS.RPL = CPL 3",
        )?;
        h.a.mov(ax, cs)?;
        h.check(ax, u32::from(CS16_3), "back from the conforming callee")?;
        h.a.mov(word_ptr(SCRATCH + 2).ss(), u32::from(CS16 | 3))?;
        expect_fault(
            h,
            "ring 3 far call to non-conforming DPL 0",
            13,
            Some(u32::from(CS16)),
            Pushed::AtInstruction,
            |_| Ok(()),
            call_far,
        )?;
        bad_load(
            h,
            "ring 3: mov ds, DPL 0 data",
            false,
            DS,
            13,
            u32::from(DS),
        )?;
        h.a.mov(cx, u32::from(DS))?;
        h.a.verr(cx)?;
        h.check_flags(ZF, 0, "ring 3: verr DPL 0 data")?;
        h.a.mov(cx, u32::from(conf))?;
        h.a.verr(cx)?;
        h.check_flags(ZF, ZF, "ring 3: verr conforming readable code")?;
        h.a.nop()
    })
}

/// Back to real mode with 4 GiB limits in the caches (unreal mode), then
/// again with 64 KiB limits, where an offset past 0xFFFF faults.
fn real_and_unreal(h: &mut Harness) -> Result<(), IcedError> {
    h.print("unreal mode\r\n")?;
    h.a.mov(ebx, 0x20_0000u32)?;
    h.a.mov(dword_ptr(ebx), 0x1234_5678u32)?;
    h.check(
        m32(ptr(ebx)),
        0x1234_5678,
        "write at 2 MiB in protected mode",
    )?;
    leave_pm(h, DS)?;
    h.a.smsw(ax)?;
    h.a.and(ax, 1)?;
    h.check(ax, 0, "MSW.PE after leaving protected mode")?;
    h.a.mov(eax, dword_ptr(ebx))?;
    h.check(eax, 0x1234_5678, "unreal: read at 2 MiB through DS")?;
    h.a.mov(ax, 0x1000u32)?;
    h.a.mov(fs, ax)?;
    h.a.mov(eax, dword_ptr(ebx - 0x1_0000).fs())?;
    h.check(
        eax,
        0x1234_5678,
        "unreal: FS reloaded in real mode keeps its limit",
    )?;

    h.print("real mode limits\r\n")?;
    enter_pm(h)?;
    leave_pm(h, RDS)?;
    install_handler(&mut h.a, 13, |a| {
        a.push(bp)?;
        a.mov(bp, sp)?;
        a.push(ax)?;
        a.mov(dword_ptr(REC_VEC).ss(), 13)?;
        a.mov(ax, word_ptr(RESUME).ss())?;
        a.mov(word_ptr(bp + 2), ax)?;
        a.pop(ax)?;
        a.pop(bp)?;
        a.iret()
    })?;
    let mut resume = h.a.create_label();
    arm(&mut h.a, resume)?;
    h.a.mov(ebx, 0x1_0000u32)?;
    h.a.mov(eax, dword_ptr(ebx))?;
    h.fail("real-mode limit: offset 0x10000 past 64 KiB: no #GP")?;
    h.a.set_label(&mut resume)?;
    h.check(m32(ptr(REC_VEC).ss()), 13, "real-mode limit: #GP vector")
}

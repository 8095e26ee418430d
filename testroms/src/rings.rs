//! Privilege levels: IRET to ring 3; a ring-3 far CALL through a 32-bit
//! call gate to ring 0 with the stack switched to TSS.SS0:ESP0 and two
//! parameters copied, back with RETF 8; call gates not present or above
//! CPL; privileged and IOPL-sensitive instructions in ring 3 (#GP(0));
//! SYSENTER/SYSEXIT round trip with the SYSENTER MSRs.

use crate::harness::{m32, Harness};
use crate::sys::*;
use iced_x86::code_asm::*;
use iced_x86::{Code, Instruction};

/// Records of the call-gate handler and the SYSENTER code.
const GATE_EIP: u32 = SCRATCH;
const GATE_CS: u32 = SCRATCH + 4;
const GATE_P0: u32 = SCRATCH + 8;
const GATE_P1: u32 = SCRATCH + 12;
const GATE_ESP: u32 = SCRATCH + 16;
const GATE_SS: u32 = SCRATCH + 20;
const GATE_MY_SS: u32 = SCRATCH + 24;
const GATE_MY_ESP: u32 = SCRATCH + 28;
const SYS_CS: u32 = SCRATCH + 0x40;
const SYS_SS: u32 = SCRATCH + 0x44;
const SYS_ESP: u32 = SCRATCH + 0x48;
const SYS_EFLAGS: u32 = SCRATCH + 0x4c;

const MSR_SYSENTER_CS: u32 = 0x174;
const MSR_SYSENTER_ESP: u32 = 0x175;
const MSR_SYSENTER_EIP: u32 = 0x176;

pub fn build() -> Result<Vec<u8>, IcedError> {
    let mut lib = Lib::new("rings")?;
    // Ring-0 end of the call gate: [esp] EIP, +4 CS, +8 and +12 the
    // parameters, +16 ESP, +20 SS of the caller.
    let mut gate_handler = lib.a.create_label();
    {
        let a = &mut lib.a;
        a.set_label(&mut gate_handler)?;
        a.push(eax)?;
        for (disp, rec) in [
            (4, GATE_EIP),
            (8, GATE_CS),
            (12, GATE_P0),
            (16, GATE_P1),
            (20, GATE_ESP),
            (24, GATE_SS),
        ] {
            a.mov(eax, dword_ptr(esp + disp))?;
            a.mov(dword_ptr(rec).ss(), eax)?;
        }
        a.xor(eax, eax)?;
        a.mov(ax, ss)?;
        a.mov(dword_ptr(GATE_MY_SS).ss(), eax)?;
        a.lea(eax, dword_ptr(esp + 4))?;
        a.mov(dword_ptr(GATE_MY_ESP).ss(), eax)?;
        a.pop(eax)?;
        a.add_instruction(Instruction::with1(Code::Retfd_imm16, 8)?)?;
    }
    let lib = lib.assemble()?;

    // 32-bit code: the SYSENTER entry point (ring 0, flat) and where
    // SYSEXIT lands (ring 3, flat), which returns to 16-bit ring-3 code
    // with a 16-bit RETF.
    let mut blob = Blob::new(32, EXTRA_OFFSET, u64::from(ROM_BASE) + EXTRA_OFFSET as u64)?;
    let mut sysenter_entry = blob.a.create_label();
    let mut sysexit_landing = blob.a.create_label();
    {
        let a = &mut blob.a;
        a.set_label(&mut sysenter_entry)?;
        a.xor(eax, eax)?;
        a.mov(ax, cs)?;
        a.mov(dword_ptr(SYS_CS), eax)?;
        a.mov(ax, ss)?;
        a.mov(dword_ptr(SYS_SS), eax)?;
        a.mov(dword_ptr(SYS_ESP), esp)?;
        a.pushfd()?;
        a.pop(eax)?;
        a.mov(dword_ptr(SYS_EFLAGS), eax)?;
        a.sysexit()?;
        a.set_label(&mut sysexit_landing)?;
        a.add_instruction(Instruction::with(Code::Retfw))?;
    }
    let blob = blob.assemble()?;

    let mut t = Tables::standard(&lib);
    let gate3 = t.add(gate(CS16, lib.addr(&gate_handler), CALL_GATE32 | dpl(3), 2)) | 3;
    let gate0 = t.add(gate(CS16, lib.addr(&gate_handler), CALL_GATE32, 2)) | 3;
    let gate_np = t.add(gate(
        CS16,
        lib.addr(&gate_handler),
        (CALL_GATE32 | dpl(3)) & NOT_PRESENT,
        2,
    )) | 3;

    let mut h = Harness::new("rings")?;
    enter_pm(&mut h)?;
    set_sysenter_msrs(&mut h, blob.addr(&sysenter_entry) as u32)?;
    h.print("iret to ring 3\r\n")?;
    ring3(&mut h, EF_IOPL3, |h| {
        h.a.mov(ax, cs)?;
        h.check(ax, u32::from(CS16_3), "ring 3: CS")?;
        h.a.mov(ax, ss)?;
        h.check(ax, u32::from(DS_3), "ring 3: SS")?;
        h.check(esp, RING3_STACK, "ring 3: ESP")?;
        call_gates(h, gate3, gate0, gate_np)?;
        sysenter(h, &blob, &sysexit_landing)
    })?;
    h.a.mov(ax, cs)?;
    h.check(ax, u32::from(CS16), "back in ring 0: CS")?;
    h.print("privileged instructions in ring 3, IOPL 0\r\n")?;
    ring3(&mut h, 0, privileged)?;
    h.finish_with(&[t.placed(), (LIB_OFFSET, lib.bytes), blob.placed()])
}

fn call_gates(h: &mut Harness, gate3: u16, gate0: u16, gate_np: u16) -> Result<(), IcedError> {
    h.print("ring 3 -> ring 0 call gate\r\n")?;
    h.a.mov(edx, esp)?;
    pushd(&mut h.a, 0x1111_1111)?;
    pushd(&mut h.a, 0x2222_2222)?;
    h.a.mov(ebx, esp)?;
    mark(&mut h.a)?;
    call_far32(&mut h.a, gate3, 0)?;
    h.a.sub(edx, esp)?;
    h.check(edx, 0, "call gate: RETF 8 pops the parameters")?;
    h.a.mov(ax, cs)?;
    h.check(ax, u32::from(CS16_3), "call gate: back in ring 3")?;
    h.check(
        m32(ptr(GATE_CS).ss()),
        u32::from(CS16_3),
        "call gate: pushed CS",
    )?;
    h.a.mov(eax, dword_ptr(GATE_EIP).ss())?;
    h.a.sub(ax, word_ptr(MARK).ss())?;
    h.check(eax, MARK_LEN + 8, "call gate: pushed EIP after the CALL")?;
    h.check(
        m32(ptr(GATE_P0).ss()),
        0x2222_2222,
        "call gate: parameter 0",
    )?;
    h.check(
        m32(ptr(GATE_P1).ss()),
        0x1111_1111,
        "call gate: parameter 1",
    )?;
    h.a.cmp(dword_ptr(GATE_ESP).ss(), ebx)?;
    h.a.sete(al)?;
    h.check(al, 1, "call gate: pushed ESP of the caller")?;
    h.check(
        m32(ptr(GATE_SS).ss()),
        u32::from(DS_3),
        "call gate: pushed SS",
    )?;
    h.check(
        m32(ptr(GATE_MY_SS).ss()),
        u32::from(DS),
        "call gate: SS = TSS.SS0",
    )?;
    h.check(
        m32(ptr(GATE_MY_ESP).ss()),
        RING0_STACK - 24,
        "call gate: ESP = TSS.ESP0 - 24",
    )?;

    expect_fault(
        h,
        "call gate DPL 0 from ring 3",
        13,
        Some(u32::from(gate0 & !3)),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| call_far32(a, gate0, 0),
    )?;
    expect_fault(
        h,
        "call gate not present",
        11,
        Some(u32::from(gate_np & !3)),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| call_far32(a, gate_np, 0),
    )
}

fn sysenter(h: &mut Harness, blob: &BlobImage, landing: &CodeLabel) -> Result<(), IcedError> {
    h.print("sysenter/sysexit\r\n")?;
    // `set_sysenter_msrs` wrote the MSRs in ring 0. SYSEXIT lands in flat
    // 32-bit code that returns here with a 16-bit RETF.
    let mut back = h.a.create_label();
    h.a.push(u32::from(CS16_3))?;
    address_of(&mut h.a, ax, back)?;
    h.a.push(ax)?;
    h.a.mov(esi, esp)?;
    h.a.mov(ecx, esp)?;
    h.a.mov(edx, blob.addr(landing) as u32)?;
    h.a.sysenter()?;
    h.a.set_label(&mut back)?;
    h.a.mov(ax, cs)?;
    h.check(ax, u32::from(CS16_3), "sysexit: back in 16-bit ring 3")?;
    h.a.add(esi, 4)?;
    h.a.sub(esi, esp)?;
    h.check(esi, 0, "sysexit: ESP from ECX")?;
    h.check(
        m32(ptr(SYS_CS).ss()),
        u32::from(CS32),
        "sysenter: CS = SYSENTER_CS",
    )?;
    h.check(
        m32(ptr(SYS_SS).ss()),
        u32::from(CS32 + 8),
        "sysenter: SS = SYSENTER_CS + 8",
    )?;
    h.check(
        m32(ptr(SYS_ESP).ss()),
        RING0_STACK,
        "sysenter: ESP = SYSENTER_ESP",
    )?;
    h.a.and(dword_ptr(SYS_EFLAGS).ss(), EF_IF)?;
    h.check(m32(ptr(SYS_EFLAGS).ss()), 0, "sysenter: IF cleared")
}

/// Sets the SYSENTER MSRs (ring 0).
fn set_sysenter_msrs(h: &mut Harness, eip: u32) -> Result<(), IcedError> {
    for (msr, value) in [
        (MSR_SYSENTER_CS, u32::from(CS32)),
        (MSR_SYSENTER_ESP, RING0_STACK),
        (MSR_SYSENTER_EIP, eip),
    ] {
        h.a.mov(ecx, msr)?;
        h.a.mov(eax, value)?;
        h.a.xor(edx, edx)?;
        h.a.wrmsr()?;
    }
    Ok(())
}

/// Ring 3 with IOPL 0: every privileged or IOPL-sensitive instruction
/// raises #GP(0) at the instruction. (A failure here prints through OUT,
/// which faults too: the ROM then fails with an unexpected #GP.)
fn privileged(h: &mut Harness) -> Result<(), IcedError> {
    type Emit = fn(&mut CodeAssembler) -> Result<(), IcedError>;
    let cases: [(&str, Emit); 12] = [
        ("hlt", |a| a.hlt()),
        ("cli", |a| a.cli()),
        ("sti", |a| a.sti()),
        ("mov eax, cr0", |a| a.mov(eax, cr0)),
        ("mov cr3, eax", |a| a.mov(cr3, eax)),
        ("mov eax, dr7", |a| a.mov(eax, dr7)),
        ("lgdt", |a| a.lgdt(ptr(SCRATCH).ss())),
        ("lidt", |a| a.lidt(ptr(SCRATCH).ss())),
        ("ltr", |a| a.ltr(ax)),
        ("rdmsr", |a| a.rdmsr()),
        ("in al, dx (IOPL 0, no bitmap)", |a| a.in_(al, dx)),
        ("out 0x80, al", |a| a.out(0x80, al)),
    ];
    for (what, emit) in cases {
        expect_fault(
            h,
            &format!("ring 3: {what}"),
            13,
            Some(0),
            Pushed::AtInstruction,
            |a| {
                a.mov(dx, 0x80u32)?;
                a.mov(ax, u32::from(TSS_SEL))
            },
            emit,
        )?;
    }
    // CLTS and LMSW too; SMSW and STR are not privileged.
    expect_fault(
        h,
        "ring 3: clts",
        13,
        Some(0),
        Pushed::AtInstruction,
        |_| Ok(()),
        |a| a.clts(),
    )?;
    h.a.smsw(ax)?;
    h.a.and(ax, 1)?;
    h.check(ax, 1, "ring 3: smsw works")
}

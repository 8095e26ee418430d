//! Long mode: from 16-bit protected mode through EFER.LME and CR0.PG with
//! 4-level paging (2 MiB pages) into compatibility mode (EFER.LMA), then
//! 64-bit code: 64-bit arithmetic, RIP-relative addressing, a 64-bit IDT
//! with an IST stack, canonical-address #GP and #SS, FS/GS base MSRs and
//! SWAPGS, CMPXCHG16B, a SYSRET to ring 3 and SYSCALL back (STAR, LSTAR,
//! SFMASK), the 64-bit FXSAVE/XSAVE images (`long_mode_fpu`); back to
//! 16-bit compatibility mode for the checks, and out of long mode to real
//! mode.
//!
//! The 64-bit code records its results in memory (`RES`); the checks run
//! in 16-bit compatibility mode with the usual harness.

use crate::harness::{m32, Harness};
use crate::sys::*;
use iced_x86::code_asm::*;
use iced_x86::{Code, Instruction, MemoryOperand, Register};

const PML4: u32 = 0x30000;
const PDPT: u32 = 0x31000;
const PDIR: u32 = 0x32000;
const TSS64: u32 = 0x5000;
const IST1_TOP: u32 = 0x5800;
/// Where the 64-bit IDT sits in the image, and its size in vectors.
const IDT64_OFFSET: usize = 0xcc00;
const IDT64_VECTORS: usize = 0x21;
const IDTR64_OFFSET: usize = 0xcff0;

/// Results of the 64-bit code (qwords unless said).
const RES: u32 = SCRATCH + 0x100;
const R_ADD: u32 = RES;
const R_RIPREL_LEA: u32 = RES + 0x08;
const R_RIPREL_LOAD: u32 = RES + 0x10;
const R_GP_VEC: u32 = RES + 0x18;
const R_GP_ERR: u32 = RES + 0x1c;
const R_SS_VEC: u32 = RES + 0x20;
const R_SS_ERR: u32 = RES + 0x24;
const R_IST_FRAME: u32 = RES + 0x28;
const R_FS: u32 = RES + 0x30;
const R_GS: u32 = RES + 0x31;
const R_GS_SWAPPED: u32 = RES + 0x32;
const R_KGS_AFTER: u32 = RES + 0x38;
const R_CX16_ZF: u32 = RES + 0x40;
const R_CX16_LO: u32 = RES + 0x48;
const R_CX16_HI: u32 = RES + 0x50;
const R_SC_RCX: u32 = RES + 0x58;
const R_SC_R11: u32 = RES + 0x60;
const R_SC_RFLAGS: u32 = RES + 0x68;
const R_SC_CS: u32 = RES + 0x70;
const R_USER_CS: u32 = RES + 0x74;
const R_USER_SS: u32 = RES + 0x78;
const R_USER_LABEL: u32 = RES + 0x80;
const R_DONE: u32 = RES + 0x88;
const CX16_MEM: u32 = RES + 0xa0; // 16-byte aligned
/// Handler records and resume point of the 64-bit recorder.
pub(crate) const L_VEC: u32 = RES + 0xc0;
pub(crate) const L_ERR: u32 = RES + 0xc4;
const L_FRAME: u32 = RES + 0xc8;
const L_RESUME: u32 = RES + 0xd0;
/// The 16-bit return point (offset in CS16) and the saved kernel RSP.
const RET16: u32 = RES + 0xd8;
const SAVED_RSP: u32 = RES + 0xe0;

const MSR_EFER: u32 = 0xc000_0080;
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_SFMASK: u32 = 0xc000_0084;
const MSR_FS_BASE: u32 = 0xc000_0100;
const MSR_GS_BASE: u32 = 0xc000_0101;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;

pub fn build() -> Result<Vec<u8>, IcedError> {
    let lib = Lib::new("long_mode")?.assemble()?;
    let mut t = Tables::standard(&lib);
    let tss64 = t.add(seg(TSS64, 0x67, TSS32_AVAIL, 0));
    t.add(0);
    // SYSRET's layout: STAR[63:48] + 8 = ring-3 data, + 16 = ring-3 64-bit
    // code.
    let user_ds = t.add(seg(0, 0xfffff, DATA_RW | dpl(3), G | DB));
    let user_cs64 = t.add(seg(0, 0xfffff, CODE_XR | dpl(3), G | L));
    let sysret_base = user_ds - 8;

    let base = u64::from(ROM_BASE) + EXTRA_OFFSET as u64;
    let mut blob = Blob::new(64, EXTRA_OFFSET, base)?;
    let entry = code64(&mut blob.a)?;
    let stubs = entry.stubs.clone();
    let blob = blob.assemble()?;
    assert!(
        blob.bytes.len() <= IDT64_OFFSET - EXTRA_OFFSET,
        "64-bit code too big"
    );

    let mut idt = vec![0u8; IDT64_VECTORS * 16];
    for (v, stub) in stubs.iter().enumerate() {
        let ist = if v == 0x20 { 1 } else { 0 };
        let g = gate64(CS64, blob.addr(stub), INT_GATE32, ist);
        idt[v * 16..v * 16 + 8].copy_from_slice(&g[0].to_le_bytes());
        idt[v * 16 + 8..v * 16 + 16].copy_from_slice(&g[1].to_le_bytes());
    }
    let idtr = pseudo_descriptor(ROM_BASE + IDT64_OFFSET as u32, idt.len() - 1);

    let mut h = Harness::new("long_mode")?;
    enter_pm(&mut h)?;
    h.print("enter long mode\r\n")?;
    let a = &mut h.a;
    // PML4[0] -> PDPT[0] -> PD: 2 MiB pages identity-mapping 0..4 MiB.
    for (at, value) in [
        (PML4, PDPT | 7),
        (PDPT, PDIR | 7),
        (PDIR, 0x87),
        (PDIR + 8, 0x20_0000 | 0x87),
    ] {
        a.mov(ebx, at)?;
        a.mov(dword_ptr(ebx), value)?;
        a.mov(dword_ptr(ebx + 4), 0)?;
    }
    a.mov(eax, cr4)?;
    a.or(eax, 1 << 5)?; // PAE
    a.mov(cr4, eax)?;
    a.mov(eax, PML4)?;
    a.mov(cr3, eax)?;
    a.mov(ecx, MSR_EFER)?;
    a.rdmsr()?;
    a.or(eax, (1 << 8) | 1)?; // LME, SCE
    a.wrmsr()?;
    a.mov(eax, cr0)?;
    a.or(eax, 1 << 31)?;
    a.mov(cr0, eax)?;
    // Compatibility mode now (CS16 is not a 64-bit segment).
    a.mov(ecx, MSR_EFER)?;
    a.rdmsr()?;
    a.and(eax, 1 << 10)?;
    h.check(eax, 1 << 10, "EFER.LMA after CR0.PG")?;
    let a = &mut h.a;
    a.add_instruction(Instruction::with1(
        Code::Lidt_m1632,
        MemoryOperand::with_base_displ_size_bcst_seg(
            Register::None,
            IDTR64_OFFSET as i64,
            2,
            false,
            Register::CS,
        ),
    )?)?;
    // The 64-bit TSS: IST1 for vector 0x20.
    a.mov(dword_ptr(TSS64 + 0x24).ss(), IST1_TOP)?;
    a.mov(dword_ptr(TSS64 + 0x28).ss(), 0)?;
    a.mov(dword_ptr(TSS64 + 4).ss(), RING0_STACK)?;
    a.mov(dword_ptr(TSS64 + 8).ss(), 0)?;
    a.mov(ax, u32::from(tss64))?;
    a.ltr(ax)?;
    // MSRs for SYSCALL/SYSRET and the segment bases.
    for (msr, lo, hi) in [
        (
            MSR_STAR,
            0,
            (u32::from(sysret_base) << 16) | u32::from(CS64),
        ),
        (MSR_LSTAR, blob.addr(&entry.syscall) as u32, 0),
        (MSR_SFMASK, EF_IF | EF_TF | (1 << 10), 0),
        (MSR_FS_BASE, 0x9000, 0),
        (MSR_GS_BASE, 0x9100, 0),
        (MSR_KERNEL_GS_BASE, 0x9200, 0),
    ] {
        a.mov(ecx, msr)?;
        a.mov(eax, lo)?;
        a.mov(edx, hi)?;
        a.wrmsr()?;
    }
    a.mov(byte_ptr(0x9010).ss(), 0x11)?;
    a.mov(byte_ptr(0x9110).ss(), 0x22)?;
    a.mov(byte_ptr(0x9210).ss(), 0x33)?;
    // Off to 64-bit code, which comes back to `back` with RETFQ.
    let mut back = a.create_label();
    address_of(a, ax, back)?;
    a.movzx(eax, ax)?;
    a.mov(dword_ptr(RET16).ss(), eax)?;
    a.mov(dword_ptr(RET16 + 4).ss(), 0)?;
    jmp_far32(a, CS64, blob.addr(&entry.start) as u32)?;
    a.set_label(&mut back)?;
    load_data_segments(a, DS)?;
    h.print("back in 16-bit compatibility mode\r\n")?;
    checks(&mut h, &blob, &entry, user_cs64, user_ds)?;

    h.print("leave long mode\r\n")?;
    let a = &mut h.a;
    a.mov(eax, cr0)?;
    a.and(eax, !(1u32 << 31))?;
    a.mov(cr0, eax)?;
    a.mov(ecx, MSR_EFER)?;
    a.rdmsr()?;
    a.and(eax, !(1u32 << 8))?;
    a.wrmsr()?;
    a.and(eax, 1 << 10)?;
    h.check(eax, 0, "EFER.LMA after CR0.PG cleared")?;
    let a = &mut h.a;
    a.mov(eax, cr4)?;
    a.and(eax, !(1u32 << 5))?;
    a.mov(cr4, eax)?;
    leave_pm(&mut h, RDS)?;
    h.a.smsw(ax)?;
    h.a.and(ax, 1)?;
    h.check(ax, 0, "real mode again")?;

    let mut tail = idt;
    tail.resize(IDTR64_OFFSET - IDT64_OFFSET, 0);
    tail.extend_from_slice(&idtr);
    h.finish_with(&[
        t.placed(),
        (LIB_OFFSET, lib.bytes),
        blob.placed(),
        (IDT64_OFFSET, tail),
    ])
}

fn checks(
    h: &mut Harness,
    blob: &BlobImage,
    entry: &Entry64,
    user_cs64: u16,
    user_ds: u16,
) -> Result<(), IcedError> {
    h.check(m32(ptr(R_DONE).ss()), 0x600d, "64-bit code ran to its end")?;
    h.check(m32(ptr(R_ADD).ss()), 0x0000_0001, "64-bit add: low dword")?;
    h.check(
        m32(ptr(R_ADD + 4).ss()),
        0xffff_0001,
        "64-bit add: high dword",
    )?;
    let data = blob.addr(&entry.data);
    h.check(m32(ptr(R_RIPREL_LEA).ss()), data as u32, "lea rip-relative")?;
    h.check(
        m32(ptr(R_RIPREL_LEA + 4).ss()),
        (data >> 32) as u32,
        "lea rip-relative: high",
    )?;
    h.check(
        m32(ptr(R_RIPREL_LOAD).ss()),
        0x89ab_cdef,
        "load rip-relative: low",
    )?;
    h.check(
        m32(ptr(R_RIPREL_LOAD + 4).ss()),
        0x0123_4567,
        "load rip-relative: high",
    )?;
    h.check(m32(ptr(R_GP_VEC).ss()), 13, "non-canonical load: #GP")?;
    h.check(m32(ptr(R_GP_ERR).ss()), 0, "non-canonical load: error code")?;
    h.check(m32(ptr(R_SS_VEC).ss()), 12, "non-canonical RBP access: #SS")?;
    h.check(
        m32(ptr(R_SS_ERR).ss()),
        0,
        "non-canonical RBP access: error code",
    )?;
    h.check(
        m32(ptr(R_IST_FRAME).ss()),
        IST1_TOP - 40,
        "int 0x20 on IST1: frame",
    )?;
    h.check(crate::harness::m8(ptr(R_FS).ss()), 0x11, "FS base MSR")?;
    h.check(crate::harness::m8(ptr(R_GS).ss()), 0x22, "GS base MSR")?;
    h.check(
        crate::harness::m8(ptr(R_GS_SWAPPED).ss()),
        0x33,
        "GS after swapgs",
    )?;
    h.check(
        m32(ptr(R_KGS_AFTER).ss()),
        0x9100,
        "KERNEL_GS_BASE after swapgs",
    )?;
    h.check(m32(ptr(R_CX16_ZF).ss()), 1, "cmpxchg16b: ZF")?;
    h.check(
        m32(ptr(R_CX16_LO).ss()),
        0xaaaa_0000,
        "cmpxchg16b: low qword stored",
    )?;
    h.check(
        m32(ptr(R_CX16_HI + 4).ss()),
        0xbbbb_0000,
        "cmpxchg16b: high qword stored",
    )?;
    h.check(
        m32(ptr(R_USER_CS).ss()),
        u32::from(user_cs64 | 3),
        "sysret: CS",
    )?;
    h.check(
        m32(ptr(R_USER_SS).ss()),
        u32::from(user_ds | 3),
        "sysret: SS",
    )?;
    let a = &mut h.a;
    a.mov(eax, dword_ptr(R_SC_RCX).ss())?;
    a.sub(eax, dword_ptr(R_USER_LABEL).ss())?;
    h.check(eax, 0, "syscall: RCX = RIP after the SYSCALL")?;
    h.a.and(dword_ptr(R_SC_R11).ss(), EF_IF | EF_TF | (1 << 10) | 2)?;
    h.check(
        m32(ptr(R_SC_R11).ss()),
        0x402,
        "syscall: R11 = user RFLAGS (DF set)",
    )?;
    h.a.and(dword_ptr(R_SC_RFLAGS).ss(), EF_IF | EF_TF | (1 << 10))?;
    h.check(m32(ptr(R_SC_RFLAGS).ss()), 0, "syscall: SFMASK cleared DF")?;
    h.check(
        m32(ptr(R_SC_CS).ss()),
        u32::from(CS64),
        "syscall: CS from STAR",
    )?;
    crate::long_mode_fpu::checks(h, blob.addr(&entry.fpu.fadd))
}

struct Entry64 {
    start: CodeLabel,
    syscall: CodeLabel,
    data: CodeLabel,
    stubs: Vec<CodeLabel>,
    fpu: crate::long_mode_fpu::Fpu64,
}

/// Arms the 64-bit recorder to resume at `resume`. Clobbers RAX.
pub(crate) fn arm64(a: &mut CodeAssembler, resume: CodeLabel) -> Result<(), IcedError> {
    a.mov(dword_ptr(L_VEC), 0xffff_ffffu32)?;
    a.lea(rax, ptr(resume))?;
    a.mov(qword_ptr(L_RESUME), rax)
}

fn code64(a: &mut CodeAssembler) -> Result<Entry64, IcedError> {
    let mut start = a.create_label();
    let mut syscall = a.create_label();
    let mut data = a.create_label();
    let mut common = a.create_label();
    let mut stubs = Vec::new();
    for v in 0..IDT64_VECTORS as u8 {
        let mut l = a.create_label();
        a.set_label(&mut l)?;
        stubs.push(l);
        if !has_error_code(v) {
            a.push(0)?;
        }
        a.push(i32::from(v))?;
        a.jmp(common)?;
    }
    // [rsp] vector, +8 error, +16 RIP, +24 CS, +32 RFLAGS, +40 RSP, +48 SS
    a.set_label(&mut common)?;
    a.push(rax)?;
    a.mov(rax, qword_ptr(rsp + 8))?;
    a.mov(dword_ptr(L_VEC), eax)?;
    a.mov(rax, qword_ptr(rsp + 16))?;
    a.mov(dword_ptr(L_ERR), eax)?;
    a.lea(rax, qword_ptr(rsp + 24))?;
    a.mov(qword_ptr(L_FRAME), rax)?;
    a.mov(rax, qword_ptr(L_RESUME))?;
    let mut unexpected = a.create_label();
    a.test(rax, rax)?;
    a.jz(unexpected)?;
    a.mov(qword_ptr(rsp + 24), rax)?;
    a.mov(qword_ptr(L_RESUME), 0)?;
    a.pop(rax)?;
    a.add(rsp, 16)?;
    a.iretq()?;
    a.set_label(&mut unexpected)?;
    for b in format!(
        "{} long_mode: unexpected exception in 64-bit mode, vector 0x",
        crate::FAIL_MARK
    )
    .bytes()
    {
        a.mov(al, u32::from(b))?;
        a.out(0xe9, al)?;
    }
    a.mov(eax, dword_ptr(L_VEC))?;
    for shift in [4u32, 0] {
        a.mov(ecx, eax)?;
        a.shr(ecx, shift)?;
        a.and(ecx, 0xf)?;
        a.add(ecx, u32::from(b'0'))?;
        let mut digit = a.create_label();
        a.cmp(ecx, u32::from(b'9'))?;
        a.jbe(digit)?;
        a.add(ecx, 7)?;
        a.set_label(&mut digit)?;
        a.push(rax)?;
        a.mov(eax, ecx)?;
        a.out(0xe9, al)?;
        a.pop(rax)?;
    }
    a.mov(al, 0x0a)?;
    a.out(0xe9, al)?;
    a.mov(al, u32::from(crate::EXIT_FAIL))?;
    a.out(0xf4, al)?;
    a.hlt()?;

    a.set_label(&mut start)?;
    a.mov(ax, u32::from(DS))?;
    a.mov(ds, ax)?;
    a.mov(es, ax)?;
    a.mov(ss, ax)?;
    a.mov(dword_ptr(R_DONE), 0)?;
    // 64-bit arithmetic: 0xFFFF_FFFF + 0xFFFF_0000_0000_0002 carries into
    // bit 32: 0xFFFF_0001_0000_0001.
    a.mov(rax, 0xffff_ffffu64)?;
    a.mov(rbx, 0xffff_0000_0000_0002u64)?;
    a.add(rax, rbx)?;
    a.mov(qword_ptr(R_ADD), rax)?;
    // RIP-relative.
    a.lea(rax, ptr(data))?;
    a.mov(qword_ptr(R_RIPREL_LEA), rax)?;
    a.mov(rax, qword_ptr(data))?;
    a.mov(qword_ptr(R_RIPREL_LOAD), rax)?;
    // Canonical checks.
    let mut after_gp = a.create_label();
    arm64(a, after_gp)?;
    a.mov(rbx, 0x0000_8000_0000_0000u64)?;
    a.mov(rax, qword_ptr(rbx))?;
    a.set_label(&mut after_gp)?;
    a.mov(eax, dword_ptr(L_VEC))?;
    a.mov(dword_ptr(R_GP_VEC), eax)?;
    a.mov(eax, dword_ptr(L_ERR))?;
    a.mov(dword_ptr(R_GP_ERR), eax)?;
    let mut after_ss = a.create_label();
    arm64(a, after_ss)?;
    a.push(rbp)?;
    a.mov(rbp, 0xffff_0000_0000_0000u64 >> 1)?;
    a.mov(rax, qword_ptr(rbp))?;
    a.set_label(&mut after_ss)?;
    a.pop(rbp)?;
    a.mov(eax, dword_ptr(L_VEC))?;
    a.mov(dword_ptr(R_SS_VEC), eax)?;
    a.mov(eax, dword_ptr(L_ERR))?;
    a.mov(dword_ptr(R_SS_ERR), eax)?;
    // IST.
    let mut after_ist = a.create_label();
    arm64(a, after_ist)?;
    a.int(0x20)?;
    a.set_label(&mut after_ist)?;
    a.mov(rax, qword_ptr(L_FRAME))?;
    a.mov(qword_ptr(R_IST_FRAME), rax)?;
    // FS/GS bases and SWAPGS.
    a.mov(al, byte_ptr(0x10).fs())?;
    a.mov(byte_ptr(R_FS), al)?;
    a.mov(al, byte_ptr(0x10).gs())?;
    a.mov(byte_ptr(R_GS), al)?;
    a.swapgs()?;
    a.mov(al, byte_ptr(0x10).gs())?;
    a.mov(byte_ptr(R_GS_SWAPPED), al)?;
    a.mov(ecx, MSR_KERNEL_GS_BASE)?;
    a.rdmsr()?;
    a.mov(dword_ptr(R_KGS_AFTER), eax)?;
    a.swapgs()?;
    // CMPXCHG16B.
    a.mov(qword_ptr(CX16_MEM), 0x1111)?;
    a.mov(qword_ptr(CX16_MEM + 8), 0x2222)?;
    a.mov(eax, 0x1111u32)?;
    a.mov(edx, 0x2222u32)?;
    a.mov(ebx, 0xaaaa_0000u32)?;
    a.mov(rcx, 0xbbbb_0000_0000_0000u64)?;
    a.cmpxchg16b(xmmword_ptr(CX16_MEM))?;
    a.setz(al)?;
    a.movzx(eax, al)?;
    a.mov(dword_ptr(R_CX16_ZF), eax)?;
    a.mov(rax, qword_ptr(CX16_MEM))?;
    a.mov(qword_ptr(R_CX16_LO), rax)?;
    a.mov(rax, qword_ptr(CX16_MEM + 8))?;
    a.mov(qword_ptr(R_CX16_HI), rax)?;
    // SYSRET to ring 3 (DF set in R11), which SYSCALLs back.
    let mut user = a.create_label();
    let mut after_syscall = a.create_label();
    a.mov(qword_ptr(SAVED_RSP), rsp)?;
    a.lea(rcx, ptr(user))?;
    a.mov(r11d, 0x402u32)?;
    a.sysretq()?;
    a.set_label(&mut user)?;
    a.mov(esp, RING3_STACK)?;
    a.xor(eax, eax)?;
    a.mov(ax, cs)?;
    a.mov(dword_ptr(R_USER_CS), eax)?;
    a.mov(ax, ss)?;
    a.mov(dword_ptr(R_USER_SS), eax)?;
    let mut after_user = a.create_label();
    a.lea(rax, ptr(after_user))?;
    a.mov(qword_ptr(R_USER_LABEL), rax)?;
    a.syscall()?;
    a.set_label(&mut after_user)?;
    a.hlt()?; // never: SYSCALL does not come back here
    a.set_label(&mut syscall)?;
    a.mov(qword_ptr(R_SC_RCX), rcx)?;
    a.mov(qword_ptr(R_SC_R11), r11)?;
    a.pushfq()?;
    a.pop(rax)?;
    a.mov(qword_ptr(R_SC_RFLAGS), rax)?;
    a.xor(eax, eax)?;
    a.mov(ax, cs)?;
    a.mov(dword_ptr(R_SC_CS), eax)?;
    a.mov(rsp, qword_ptr(SAVED_RSP))?;
    a.jmp(after_syscall)?;
    a.set_label(&mut after_syscall)?;
    let fpu = crate::long_mode_fpu::code64(a)?;
    a.mov(dword_ptr(R_DONE), 0x600d)?;
    // Back to 16-bit compatibility mode: RETFQ to CS16:RET16.
    a.push(i32::from(CS16))?;
    a.push(qword_ptr(RET16))?;
    a.add_instruction(Instruction::with(Code::Retfq))?;
    a.set_label(&mut data)?;
    a.dq(&[0x0123_4567_89ab_cdef])?;
    Ok(Entry64 {
        start,
        syscall,
        data,
        stubs,
        fpu,
    })
}

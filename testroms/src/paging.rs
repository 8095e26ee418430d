//! Paging: 2-level 4 KiB pages, accessed and dirty bits exactly where the
//! hardware writes them, #PF error codes and CR2 (not present, write to
//! read-only with CR0.WP on and off, user access to a supervisor page,
//! reserved bit), a precisely restartable REP MOVSB faulting half-way,
//! INVLPG and CR3 reloads, global pages flushed by toggling CR4.PGE, PSE
//! 4 MiB pages, then PAE with NX through EFER.NXE.

use crate::harness::{m32, Harness};
use crate::sys::*;
use iced_x86::code_asm::*;
use iced_x86::Instruction;

const PD: u32 = 0x10000;
const PT0: u32 = 0x11000;
const PT1: u32 = 0x12000;
const PDPT: u32 = 0x13000;
const PAE_PD: u32 = 0x14000;
const PAE_PT0: u32 = 0x15000;
const PAE_PT1: u32 = 0x16000;
/// Physical pages the aliases point at.
const PHYS_A: u32 = 0x20000;
const PHYS_B: u32 = 0x21000;
const PHYS_RO: u32 = 0x23000;
const PHYS_SUP: u32 = 0x24000;
/// Linear addresses mapped by PT1.
const ALIAS: u32 = 0x40_0000;

const P: u32 = 1;
const RW: u32 = 2;
const US: u32 = 4;
const G_BIT: u32 = 0x100;
const PS: u32 = 0x80;
const ACC: u32 = 0x20;
const DIRTY: u32 = 0x40;

const CR0_PG: u32 = 1 << 31;
const CR0_WP: u32 = 1 << 16;
const CR4_PSE: u32 = 1 << 4;
const CR4_PAE: u32 = 1 << 5;
const CR4_PGE: u32 = 1 << 7;
const EFER: u32 = 0xc000_0080;

pub fn build() -> Result<Vec<u8>, IcedError> {
    let lib = Lib::new("paging")?.assemble()?;
    let t = Tables::standard(&lib);
    // 32-bit code at a flat address: a 16-bit RETF back to CS16, where the
    // #PF of an instruction fetch resumes.
    let mut blob = Blob::new(32, EXTRA_OFFSET, u64::from(ROM_BASE) + EXTRA_OFFSET as u64)?;
    let mut back16 = blob.a.create_label();
    blob.a.set_label(&mut back16)?;
    blob.a
        .add_instruction(Instruction::with(iced_x86::Code::Retfw))?;
    let blob = blob.assemble()?;

    let mut h = Harness::new("paging")?;
    enter_pm(&mut h)?;
    two_level(&mut h)?;
    faults(&mut h)?;
    tlb(&mut h)?;
    pse(&mut h)?;
    pae_nx(&mut h, blob.addr(&back16) as u32)?;
    h.finish_with(&[t.placed(), (LIB_OFFSET, lib.bytes), blob.placed()])
}

fn store(a: &mut CodeAssembler, addr: u32, value: u32) -> Result<(), IcedError> {
    a.mov(ebx, addr)?;
    a.mov(dword_ptr(ebx), value)
}

/// Checks the dword at `addr` masked with `mask`. Clobbers EAX, EBX.
fn check_at(h: &mut Harness, addr: u32, mask: u32, want: u32, what: &str) -> Result<(), IcedError> {
    h.a.mov(ebx, addr)?;
    h.a.mov(eax, dword_ptr(ebx))?;
    h.a.and(eax, mask)?;
    h.check(eax, want, what)
}

/// `count` entries from `at`, mapping from `phys` with `flags`, each
/// `size` bytes (4 or 8, the upper half zero).
fn fill(
    a: &mut CodeAssembler,
    at: u32,
    phys: u32,
    flags: u32,
    count: u32,
    size: u32,
) -> Result<(), IcedError> {
    a.mov(edi, at)?;
    a.mov(eax, phys | flags)?;
    a.mov(ecx, count)?;
    let mut l = a.create_label();
    a.set_label(&mut l)?;
    a.mov(dword_ptr(edi), eax)?;
    if size == 8 {
        a.mov(dword_ptr(edi + 4), 0)?;
    }
    a.add(eax, 0x1000)?;
    a.add(edi, size)?;
    a.dec(ecx)?;
    a.jnz(l)
}

fn zero(a: &mut CodeAssembler, at: u32, len: u32) -> Result<(), IcedError> {
    a.mov(edi, at)?;
    a.mov(ecx, len / 4)?;
    let mut l = a.create_label();
    a.set_label(&mut l)?;
    a.mov(dword_ptr(edi), 0)?;
    a.add(edi, 4)?;
    a.dec(ecx)?;
    a.jnz(l)
}

fn two_level(h: &mut Harness) -> Result<(), IcedError> {
    h.print("2-level paging, accessed and dirty bits\r\n")?;
    let a = &mut h.a;
    zero(a, PD, 0x3000)?;
    fill(a, PT0, 0, P | RW | US, 1024, 4)?;
    store(a, PD, PT0 | P | RW | US)?;
    store(a, PD + 4, PT1 | P | RW | US)?;
    store(a, PT1, PHYS_A | P | RW | US)?;
    store(a, PT1 + 4, PHYS_B | P | RW | US)?;
    store(a, PT1 + 12, PHYS_RO | P | US)?;
    store(a, PT1 + 16, PHYS_SUP | P | RW)?;
    store(a, PHYS_A, 0xaaaa_0001)?;
    store(a, PHYS_B, 0xbbbb_0002)?;
    a.mov(eax, PD)?;
    a.mov(cr3, eax)?;
    a.mov(eax, cr0)?;
    a.or(eax, CR0_PG | CR0_WP)?;
    a.mov(cr0, eax)?;
    // Code fetch and stack use set A (not D) on the code page's PTE, A on
    // the PDE; the stack page is written: D.
    check_at(h, PD, ACC | DIRTY, ACC, "PDE 0: A set, D untouched")?;
    check_at(
        h,
        PT0 + 0xf0 * 4,
        ACC | DIRTY,
        ACC,
        "PTE of the code page: A, not D",
    )?;
    check_at(h, PT1, ACC | DIRTY, 0, "PTE not used yet: A and D clear")?;
    h.a.mov(ebx, ALIAS + 0x1000)?;
    h.a.mov(eax, dword_ptr(ebx))?;
    check_at(
        h,
        PT1 + 4,
        ACC | DIRTY,
        ACC,
        "read through the alias: A only",
    )?;
    check_at(h, PD + 4, ACC | DIRTY, ACC, "PDE of the alias: A only")?;
    h.a.mov(ebx, ALIAS)?;
    h.a.mov(eax, dword_ptr(ebx))?;
    h.check(eax, 0xaaaa_0001, "read through the alias")?;
    h.a.mov(dword_ptr(ebx), 0x1234_5678u32)?;
    check_at(
        h,
        PT1,
        ACC | DIRTY,
        ACC | DIRTY,
        "write through the alias: A and D",
    )?;
    check_at(h, PD + 4, ACC | DIRTY, ACC, "PDE after a write: A, no D")?;
    check_at(
        h,
        PHYS_A,
        !0,
        0x1234_5678,
        "write through the alias lands in the frame",
    )
}

/// Runs `access` (one instruction, EBX = `addr`) expecting #PF with
/// `error` and CR2 = `addr`.
fn page_fault(
    h: &mut Harness,
    what: &str,
    addr: u32,
    error: u32,
    access: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Result<(), IcedError> {
    page_fault_at(h, what, true, addr, error, access)
}

/// `page_fault`; in ring 3 (`ring0` false) CR2 is neither cleared nor
/// checked (MOV CR2 is privileged).
fn page_fault_at(
    h: &mut Harness,
    what: &str,
    ring0: bool,
    addr: u32,
    error: u32,
    access: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Result<(), IcedError> {
    expect_fault(
        h,
        what,
        14,
        Some(error),
        Pushed::AtInstruction,
        |a| {
            if ring0 {
                a.xor(eax, eax)?;
                a.mov(cr2, eax)?;
            }
            a.mov(ebx, addr)
        },
        access,
    )?;
    if !ring0 {
        return Ok(());
    }
    h.a.mov(eax, cr2)?;
    h.check(eax, addr, &format!("{what}: CR2"))
}

fn faults(h: &mut Harness) -> Result<(), IcedError> {
    h.print("page faults\r\n")?;
    page_fault(h, "read, not present", ALIAS + 0x2000, 0, |a| {
        a.mov(eax, dword_ptr(ebx))
    })?;
    page_fault(h, "write, not present", ALIAS + 0x2010, 2, |a| {
        a.mov(dword_ptr(ebx), eax)
    })?;
    page_fault(h, "write to read-only, WP=1", ALIAS + 0x3000, 3, |a| {
        a.mov(dword_ptr(ebx), eax)
    })?;
    check_at(h, PT1 + 12, DIRTY, 0, "faulting write leaves D clear")?;
    // WP=0: the supervisor writes read-only pages.
    let a = &mut h.a;
    a.mov(eax, cr0)?;
    a.and(eax, !CR0_WP)?;
    a.mov(cr0, eax)?;
    a.mov(ebx, ALIAS + 0x3000)?;
    a.mov(dword_ptr(ebx), 0x0bad_f00du32)?;
    a.mov(eax, cr0)?;
    a.or(eax, CR0_WP)?;
    a.mov(cr0, eax)?;
    check_at(
        h,
        PHYS_RO,
        !0,
        0x0bad_f00d,
        "WP=0: supervisor write to read-only",
    )?;

    // A not-present PDE: the whole 4 MiB.
    page_fault(h, "read, PDE not present", 0xc0_1234, 0, |a| {
        a.mov(eax, dword_ptr(ebx))
    })?;

    // Precise restart: REP MOVSB runs into a not-present page after 8
    // bytes; ECX, ESI and EDI say how far it got.
    let a = &mut h.a;
    a.mov(esi, 0x9000u32)?;
    a.mov(edi, ALIAS + 0x2000 - 8)?;
    a.mov(ecx, 16u32)?;
    a.mov(edx, edi)?;
    page_fault(h, "rep movsb into a missing page", ALIAS + 0x2000, 2, |a| {
        a.add_instruction(Instruction::with_rep_movsb(32)?)
    })?;
    h.check(ecx, 8, "rep movsb: ECX at the fault")?;
    h.check(edi, ALIAS + 0x2000, "rep movsb: EDI at the fault")?;
    h.check(esi, 0x9008, "rep movsb: ESI at the fault")?;

    ring3(h, EF_IOPL3, |h| {
        page_fault_at(
            h,
            "ring 3: read of a supervisor page",
            false,
            ALIAS + 0x4000,
            5,
            |a| a.mov(eax, dword_ptr(ebx)),
        )?;
        page_fault_at(
            h,
            "ring 3: write to a read-only page",
            false,
            ALIAS + 0x3000,
            7,
            |a| a.mov(dword_ptr(ebx), eax),
        )?;
        page_fault_at(
            h,
            "ring 3: write, not present",
            false,
            ALIAS + 0x2000,
            6,
            |a| a.mov(dword_ptr(ebx), eax),
        )
    })?;
    h.a.mov(eax, cr2)?;
    h.check(eax, ALIAS + 0x2000, "ring 3: write, not present: CR2")
}

fn tlb(h: &mut Harness) -> Result<(), IcedError> {
    h.print("invlpg, cr3 reload, global pages\r\n")?;
    let a = &mut h.a;
    // Point the alias at the other frame: INVLPG makes it visible.
    a.mov(ebx, ALIAS + 4)?;
    a.mov(eax, dword_ptr(ebx))?;
    store(a, PT1 + 4, PHYS_A | P | RW | US)?;
    a.mov(ebx, ALIAS + 0x1000)?;
    a.invlpg(ptr(ebx))?;
    a.mov(eax, dword_ptr(ebx))?;
    h.check(eax, 0x1234_5678, "after invlpg: the new frame")?;
    // And back, made visible by a CR3 reload.
    let a = &mut h.a;
    store(a, PT1 + 4, PHYS_B | P | RW | US)?;
    a.mov(eax, cr3)?;
    a.mov(cr3, eax)?;
    a.mov(ebx, ALIAS + 0x1000)?;
    a.mov(eax, dword_ptr(ebx))?;
    h.check(eax, 0xbbbb_0002, "after a CR3 reload: the new frame")?;
    // A global page: changed and flushed by toggling CR4.PGE.
    let a = &mut h.a;
    a.mov(eax, cr4)?;
    a.or(eax, CR4_PGE)?;
    a.mov(cr4, eax)?;
    store(a, PT1 + 4, PHYS_B | P | RW | US | G_BIT)?;
    a.mov(eax, cr3)?;
    a.mov(cr3, eax)?;
    a.mov(ebx, ALIAS + 0x1000)?;
    a.mov(eax, dword_ptr(ebx))?;
    store(a, PT1 + 4, PHYS_A | P | RW | US | G_BIT)?;
    a.mov(eax, cr4)?;
    a.and(eax, !CR4_PGE)?;
    a.mov(cr4, eax)?;
    a.mov(ebx, ALIAS + 0x1000)?;
    a.mov(eax, dword_ptr(ebx))?;
    h.check(eax, 0x1234_5678, "after toggling CR4.PGE: the new frame")
}

fn pse(h: &mut Harness) -> Result<(), IcedError> {
    h.print("PSE 4 MiB pages\r\n")?;
    let a = &mut h.a;
    a.mov(eax, cr4)?;
    a.or(eax, CR4_PSE)?;
    a.mov(cr4, eax)?;
    // Linear 8 MiB -> physical 0, one 4 MiB page.
    store(a, PD + 8, P | RW | PS)?;
    a.mov(ebx, 0x80_0000 + PHYS_B)?;
    a.mov(eax, dword_ptr(ebx))?;
    h.check(eax, 0xbbbb_0002, "read through a 4 MiB page")?;
    check_at(h, PD + 8, ACC | DIRTY, ACC, "4 MiB PDE after a read: A")?;
    h.a.mov(ebx, 0x80_0000 + PHYS_B + 4)?;
    h.a.mov(dword_ptr(ebx), 0x4444_4444u32)?;
    check_at(
        h,
        PD + 8,
        ACC | DIRTY,
        ACC | DIRTY,
        "4 MiB PDE after a write: A and D",
    )?;
    check_at(h, PHYS_B + 4, !0, 0x4444_4444, "write through a 4 MiB page")?;
    // PSE off: the same PDE points at a page table (physical 0).
    let a = &mut h.a;
    a.mov(eax, cr4)?;
    a.and(eax, !CR4_PSE)?;
    a.mov(cr4, eax)?;
    a.mov(eax, cr3)?;
    a.mov(cr3, eax)?;
    store(a, PD + 8, 0)?;
    a.mov(eax, cr3)?;
    a.mov(cr3, eax)
}

fn pae_nx(h: &mut Harness, back16: u32) -> Result<(), IcedError> {
    h.print("PAE, NX\r\n")?;
    let a = &mut h.a;
    // Paging off to switch formats.
    a.mov(eax, cr0)?;
    a.and(eax, !CR0_PG)?;
    a.mov(cr0, eax)?;
    zero(a, PDPT, 0x4000)?;
    store(a, PDPT, PAE_PD | P)?;
    store(a, PAE_PD, PAE_PT0 | P | RW | US)?;
    store(a, PAE_PD + 8, PAE_PT1 | P | RW | US)?;
    fill(a, PAE_PT0, 0, P | RW | US, 512, 8)?;
    // 2 MiB -> PHYS_A (NX), 2 MiB + 4 KiB -> PHYS_B (reserved bit 51).
    store(a, PAE_PT1, PHYS_A | P | RW | US)?;
    store(a, PAE_PT1 + 4, 0x8000_0000)?;
    store(a, PAE_PT1 + 8, PHYS_B | P | RW | US)?;
    store(a, PAE_PT1 + 12, 1 << 19)?;
    // NX needs EFER.NXE.
    a.mov(ecx, EFER)?;
    a.rdmsr()?;
    a.or(eax, 1 << 11)?;
    a.wrmsr()?;
    a.mov(eax, cr4)?;
    a.or(eax, CR4_PAE)?;
    a.mov(cr4, eax)?;
    a.mov(eax, PDPT)?;
    a.mov(cr3, eax)?;
    a.mov(eax, cr0)?;
    a.or(eax, CR0_PG)?;
    a.mov(cr0, eax)?;
    h.a.mov(ebx, 0x20_0000u32)?;
    h.a.mov(eax, dword_ptr(ebx))?;
    h.check(eax, 0x1234_5678, "PAE: read of an NX page")?;
    check_at(h, PAE_PT1, ACC | DIRTY, ACC, "PAE: PTE A after a read")?;
    check_at(h, PAE_PD + 8, ACC | DIRTY, ACC, "PAE: PDE A")?;
    page_fault(h, "PAE: reserved bit 51", 0x20_1000, 9, |a| {
        a.mov(eax, dword_ptr(ebx))
    })?;
    // Fetch from the NX page through flat CS32: #PF with I/D; the handler
    // resumes in 32-bit code that RETFs (16-bit) to the pushed CS16:IP.
    let mut back = h.a.create_label();
    h.a.push(u32::from(CS16))?;
    address_of(&mut h.a, ax, back)?;
    h.a.push(ax)?;
    h.a.mov(dword_ptr(REC_VEC).ss(), 0xffff_ffffu32)?;
    h.a.mov(dword_ptr(RESUME).ss(), back16)?;
    jmp_far32(&mut h.a, CS32, 0x20_0000)?;
    h.a.set_label(&mut back)?;
    h.check(
        m32(ptr(REC_VEC).ss()),
        14,
        "PAE: fetch from an NX page: vector",
    )?;
    h.check(
        m32(ptr(REC_ERR).ss()),
        0x11,
        "PAE: fetch from an NX page: error code",
    )?;
    h.check(
        m32(ptr(REC_EIP).ss()),
        0x20_0000,
        "PAE: fetch from an NX page: EIP",
    )?;
    h.a.mov(eax, cr2)?;
    h.check(eax, 0x20_0000, "PAE: fetch from an NX page: CR2")?;
    // Paging off again for the end.
    let a = &mut h.a;
    a.mov(eax, cr0)?;
    a.and(eax, !CR0_PG)?;
    a.mov(cr0, eax)
}

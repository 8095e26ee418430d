//! Small MMX/SSE programs run through the interpreter in 32-bit protected
//! mode: the MMX/x87 aliasing and EMMS, the CR0/CR4 gates (#UD, #NM),
//! #MF before an MMX instruction, #GP for misaligned aligned forms, and
//! #XM (or #UD) for unmasked SIMD exceptions, which write nothing.

use crate::cpu::state::{cr0, cr4, RAX};
use crate::cpu::{Cpu, StopReason};
use crate::devices::bus::PortBus;
use crate::mem::GuestMemory;
use iced_x86::code_asm::*;

const CODE: u64 = 0x4000;
pub(super) const DATA: u64 = 0x8000;

/// A flat 32-bit protected-mode CPU whose exception handlers put the
/// vector in EAX and halt.
pub(super) fn machine(
    build: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> (Cpu, GuestMemory) {
    let mut mem = GuestMemory::new(1 << 20).unwrap();
    let mut a = CodeAssembler::new(32).unwrap();
    build(&mut a).unwrap();
    a.hlt().unwrap();
    let code = a.assemble(CODE).unwrap();
    mem.write_bytes(CODE, &code);
    let mut cpu = crate::cpu::test_support::flat_protected_mode(&mut mem, CODE);
    let s = &mut cpu.state;
    s.cr0 |= cr0::MP;
    s.cr4 = cr4::OSFXSR | cr4::OSXMMEXCPT;
    s.gpr[RAX] = 0xffff;
    (cpu, mem)
}

pub(super) fn run(cpu: &mut Cpu, mem: &mut GuestMemory) {
    let mut io = PortBus::default();
    assert_eq!(cpu.run(mem, &mut io, 1000, None), StopReason::Halted);
}

/// The vector of the exception the program ended with (0xffff: none).
/// A one-instruction program for the gate tests.
pub(super) type Prog = fn(&mut CodeAssembler) -> Result<(), IcedError>;

/// Runs each program with CR0 bits set and CR4 bits cleared, and checks
/// the vector it ends with (0xffff: no fault).
pub(super) fn assert_gate_vectors(cases: &[(Prog, u64, u64, u64)]) {
    for (i, &(prog, set_cr0, clear_cr4, vector)) in cases.iter().enumerate() {
        let (mut cpu, mut mem) = machine(prog);
        cpu.state.cr0 |= set_cr0;
        cpu.state.cr4 &= !clear_cr4;
        run(&mut cpu, &mut mem);
        assert_eq!(outcome(&cpu), vector, "case {i}");
    }
}

pub(super) fn outcome(cpu: &Cpu) -> u64 {
    cpu.state.gpr[RAX]
}

#[test]
fn mmx_aliases_the_x87_registers_and_emms_empties_them() {
    let (mut cpu, mut mem) = machine(|a| {
        a.fninit()?;
        a.fld1()?;
        a.movq(mm0, qword_ptr(DATA as u32))?;
        a.paddw(mm0, mm0)?;
        a.movq(qword_ptr(DATA as u32 + 8), mm0)?;
        a.mov(eax, 0xffff)?;
        Ok(())
    });
    mem.write(DATA, 8, 0x0001_0002_8000_7fff);
    run(&mut cpu, &mut mem);
    assert_eq!(outcome(&cpu), 0xffff);
    assert_eq!(mem.read(DATA + 8, 8), 0x0002_0004_0000_fffe);
    let x = &cpu.state.x87;
    assert_eq!(x.top(), 0, "TOP=0 after an MMX instruction");
    assert_eq!(x.ftw, 0, "all tags valid");
    assert_eq!(&x.st[0][8..], &[0xff, 0xff], "exponent bits all ones");
    assert_eq!(x.abridged_tags(), 0xff);

    let (mut cpu, mut mem) = machine(|a| {
        a.pxor(mm3, mm3)?;
        a.emms()?;
        Ok(())
    });
    run(&mut cpu, &mut mem);
    assert_eq!(cpu.state.x87.ftw, 0xffff, "EMMS: all empty");
}

#[test]
fn cr0_and_cr4_gates() {
    let sse = |a: &mut CodeAssembler| a.addps(xmm0, xmm1);
    let mmx = |a: &mut CodeAssembler| a.paddb(mm0, mm1);
    let cases: [(Prog, u64, u64, u64); 6] = [
        (sse, cr0::EM, 0, 6),
        (sse, 0, cr4::OSFXSR, 6),
        (sse, cr0::TS, 0, 7),
        (mmx, cr0::EM, 0, 6),
        (mmx, cr0::TS, 0, 7),
        // MMX does not need CR4.OSFXSR.
        (mmx, 0, cr4::OSFXSR, 0xffff),
    ];
    assert_gate_vectors(&cases);
}

#[test]
fn a_pending_x87_exception_stops_an_mmx_instruction() {
    let (mut cpu, mut mem) = machine(|a| {
        a.fninit()?;
        a.fldcw(word_ptr(DATA as u32))?;
        a.fld1()?;
        a.fldz()?;
        a.fdivp(st1, st0)?;
        a.paddb(mm0, mm1)?;
        Ok(())
    });
    mem.write(DATA, 2, 0x037b);
    run(&mut cpu, &mut mem);
    assert_eq!(outcome(&cpu), 16);
}

#[test]
fn aligned_forms_fault_on_misaligned_operands() {
    let (mut cpu, mut mem) = machine(|a| {
        a.movups(xmm0, xmmword_ptr(DATA as u32 + 8))?;
        a.movaps(xmmword_ptr(DATA as u32 + 0x20), xmm0)?;
        a.addps(xmm0, xmmword_ptr(DATA as u32 + 4))?;
        Ok(())
    });
    mem.write(DATA + 8, 8, 0x1122_3344_5566_7788);
    run(&mut cpu, &mut mem);
    assert_eq!(outcome(&cpu), 13);
    assert_eq!(mem.read(DATA + 0x20, 8), 0x1122_3344_5566_7788);
}

#[test]
fn unmasked_simd_exceptions_fault_without_writing() {
    for (osxmmexcpt, vector) in [(true, 19), (false, 6)] {
        let (mut cpu, mut mem) = machine(|a| {
            a.ldmxcsr(dword_ptr(DATA as u32))?;
            a.movss(xmm0, dword_ptr(DATA as u32 + 4))?;
            a.xorps(xmm1, xmm1)?;
            a.divss(xmm0, xmm1)?;
            Ok(())
        });
        // #Z unmasked.
        mem.write(DATA, 4, 0x1f80 & !(1 << 9));
        mem.write(DATA + 4, 4, 1.5f32.to_bits() as u64);
        if !osxmmexcpt {
            cpu.state.cr4 &= !cr4::OSXMMEXCPT;
        }
        run(&mut cpu, &mut mem);
        assert_eq!(outcome(&cpu), vector);
        assert_eq!(cpu.state.xmm[0][0] as u32, 1.5f32.to_bits(), "unchanged");
        assert_eq!(cpu.state.mxcsr & 0x3f, 1 << 2, "ZE set");
    }
}

#[test]
fn ldmxcsr_rejects_reserved_bits() {
    let (mut cpu, mut mem) = machine(|a| a.ldmxcsr(dword_ptr(DATA as u32)));
    mem.write(DATA, 4, 0x1_1f80);
    run(&mut cpu, &mut mem);
    assert_eq!(outcome(&cpu), 13);
}

#[test]
fn an_unmasked_precomputation_exception_hides_the_post_computation_flags() {
    let (mut cpu, mut mem) = machine(|a| {
        a.ldmxcsr(dword_ptr(DATA as u32))?;
        a.movups(xmm0, xmmword_ptr(DATA as u32 + 0x10))?;
        a.movups(xmm1, xmmword_ptr(DATA as u32 + 0x20))?;
        a.divps(xmm0, xmm1)?;
        Ok(())
    });
    // #Z unmasked; lane 0 divides by zero, lane 1 is inexact (1/3).
    mem.write(DATA, 4, 0x1f80 & !(1 << 9));
    let ones = 1f32.to_bits() as u64 | (1f32.to_bits() as u64) << 32;
    mem.write(DATA + 0x10, 8, ones);
    mem.write(DATA + 0x18, 8, ones);
    mem.write(DATA + 0x20, 8, (3f32.to_bits() as u64) << 32);
    run(&mut cpu, &mut mem);
    assert_eq!(outcome(&cpu), 19);
    assert_eq!(cpu.state.mxcsr & 0x3f, 1 << 2, "ZE only, no PE");
}

#[test]
fn every_legacy_mmx_to_sse4_2_form_is_in_the_catalog() {
    let mut n = 0;
    for code in iced_x86::Code::values() {
        if super::in_scope(code) {
            n += 1;
            assert!(crate::cpu::catalog::entry(code).implemented, "{code:?}");
        }
    }
    assert_eq!(
        n, 422,
        "legacy MMX/SSE/SSE2/CLFLUSH/SSE3/SSSE3/SSE4.1/SSE4.2 forms"
    );
    // MONITOR/MWAIT have their own CPUID bit, which xlat does not report.
    for code in [iced_x86::Code::Monitord, iced_x86::Code::Mwait] {
        assert!(!crate::cpu::catalog::entry(code).implemented, "{code:?}");
    }
}

//! The SSE3 to SSE4.2 forms through the interpreter: the CR0/CR4 gates on
//! their MMX and XMM forms, which m128 operands must be aligned, #XM from
//! ROUNDSS (and its precision suppression), MONITOR/MWAIT as #UD.
//! Results themselves are compared with the host CPU by hostcheck.

use super::tests::{assert_gate_vectors, machine, outcome, run, Prog, DATA};
use crate::cpu::state::{cr0, cr4};
use iced_x86::code_asm::*;

#[test]
fn cr0_and_cr4_gate_the_new_forms() {
    let pshufb_mm: Prog = |a| a.pshufb(mm0, mm1);
    let pshufb_xmm: Prog = |a| a.pshufb(xmm0, xmm1);
    let roundps: Prog = |a| a.roundps(xmm0, xmm1, 0);
    let pcmpistri: Prog = |a| a.pcmpistri(xmm0, xmm1, 0);
    let cases: [(Prog, u64, u64, u64); 7] = [
        (pshufb_mm, cr0::EM, 0, 6),
        (pshufb_mm, cr0::TS, 0, 7),
        // SSSE3's MMX forms do not need CR4.OSFXSR.
        (pshufb_mm, 0, cr4::OSFXSR, 0xffff),
        (pshufb_xmm, 0, cr4::OSFXSR, 6),
        (roundps, cr0::TS, 0, 7),
        (roundps, cr0::EM, 0, 6),
        (pcmpistri, 0, cr4::OSFXSR, 6),
    ];
    assert_gate_vectors(&cases);
}

#[test]
fn lddqu_and_the_string_compares_take_misaligned_operands() {
    let (mut cpu, mut mem) = machine(|a| {
        a.lddqu(xmm0, xmmword_ptr(DATA as u32 + 1))?;
        a.pcmpistri(xmm0, xmmword_ptr(DATA as u32 + 3), 0x08)?;
        Ok(())
    });
    mem.write_bytes(DATA + 1, b"abcdefgh\0");
    run(&mut cpu, &mut mem);
    assert_eq!(outcome(&cpu), 0xffff);
    assert_eq!(cpu.state.xmm[0][0], u64::from_le_bytes(*b"abcdefgh"));
    // Equal each, "abcdefgh" against "cdefgh": no valid pair is equal,
    // elements 6-7 (valid only in the first) differ, and elements past
    // both ends count as equal: the least significant match is 8.
    assert_eq!(cpu.state.gpr[1], 8);
}

#[test]
fn aligned_sse4_forms_fault_on_misaligned_operands() {
    type Prog = fn(&mut CodeAssembler) -> Result<(), IcedError>;
    let progs: [Prog; 3] = [
        |a| a.ptest(xmm0, xmmword_ptr(DATA as u32 + 8)),
        |a| a.movntdqa(xmm0, xmmword_ptr(DATA as u32 + 4)),
        |a| a.pshufb(xmm0, xmmword_ptr(DATA as u32 + 2)),
    ];
    for (i, prog) in progs.into_iter().enumerate() {
        let (mut cpu, mut mem) = machine(prog);
        run(&mut cpu, &mut mem);
        assert_eq!(outcome(&cpu), 13, "case {i}");
    }
}

#[test]
fn roundss_precision_fault_and_its_suppression() {
    for (imm, vector) in [(0u32, 19u64), (8, 0xffff)] {
        let (mut cpu, mut mem) = machine(move |a| {
            a.ldmxcsr(dword_ptr(DATA as u32))?;
            a.movss(xmm1, dword_ptr(DATA as u32 + 4))?;
            a.movss(xmm0, dword_ptr(DATA as u32 + 8))?;
            a.roundss(xmm0, xmm1, imm)?;
            Ok(())
        });
        // #P unmasked.
        mem.write(DATA, 4, 0x1f80 & !(1 << 12));
        mem.write(DATA + 4, 4, 2.5f32.to_bits() as u64);
        mem.write(DATA + 8, 4, 7.0f32.to_bits() as u64);
        run(&mut cpu, &mut mem);
        assert_eq!(outcome(&cpu), vector, "imm8 {imm:#x}");
        let want = if vector == 19 { 7.0f32 } else { 2.0 };
        assert_eq!(cpu.state.xmm[0][0] as u32, want.to_bits());
        let pe = if vector == 19 { 1 << 5 } else { 0 };
        assert_eq!(cpu.state.mxcsr & 0x3f, pe);
    }
}

#[test]
fn monitor_and_mwait_are_undefined() {
    type Prog = fn(&mut CodeAssembler) -> Result<(), IcedError>;
    let progs: [Prog; 2] = [|a| a.monitor(), |a| a.mwait()];
    for prog in progs {
        let (mut cpu, mut mem) = machine(prog);
        run(&mut cpu, &mut mem);
        assert_eq!(outcome(&cpu), 6);
    }
}

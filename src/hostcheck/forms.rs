//! Which instruction forms hostcheck tests, and how their operands are
//! drawn: legacy-encoded integer forms valid in 64-bit mode at CPL 3 that
//! xlat implements, without control flow, stack, I/O or string effects.

use crate::cpu::catalog;
use iced_x86::{Code, EncodingKind, Mnemonic, OpCodeOperandKind as K, Register};

/// How one operand is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperandSpec {
    /// A general register of this many bytes.
    Gpr(u32),
    /// Register or memory of this many bytes.
    GprOrMem(u32),
    /// A fixed register (AL, CL, DX, ...).
    Fixed(Register),
    /// An immediate of this many bytes (sign-extended by the CPU when the
    /// form says so).
    Imm(u32),
    /// The constant 1 of the shift-by-one forms.
    One,
    /// An XMM register.
    Xmm,
    /// An MMX register.
    Mm,
    /// XMM register or memory of this many bytes.
    XmmOrMem(u32),
    /// MMX register or memory of this many bytes.
    MmOrMem(u32),
    /// Memory only, this many bytes.
    Mem(u32),
    /// MASKMOVQ/MASKMOVDQU's implicit DS:[rDI] (RDI points at the buffer).
    SegRdi,
    /// ST(0), fixed.
    St0,
    /// ST(i), any of the eight.
    Sti,
}

#[derive(Clone, Debug)]
pub struct Form {
    pub code: Code,
    pub name: String,
    pub ops: Vec<OperandSpec>,
    /// An x87 form: the case seeds and compares the FPU state.
    pub x87: bool,
}

/// Mnemonics left out, each for a reason: they touch state outside the
/// register/flags/buffer view (CPUID, RDTSC, segments, stack), depend on
/// addresses that differ between host and guest (LEA, CMPXCHG8B/16B use RBX
/// as data), or fault at CPL 3.
const EXCLUDED: &[Mnemonic] = &[
    Mnemonic::Cpuid,
    Mnemonic::Rdtsc,
    Mnemonic::Rdtscp,
    Mnemonic::Rdpid,
    Mnemonic::Lea,
    Mnemonic::Cmpxchg8b,
    Mnemonic::Cmpxchg16b,
    Mnemonic::Lss,
    Mnemonic::Lfs,
    Mnemonic::Lgs,
    Mnemonic::Cli,
    Mnemonic::Sti,
    Mnemonic::Hlt,
    Mnemonic::Swapgs,
    Mnemonic::Syscall,
    Mnemonic::Sysret,
    Mnemonic::Sysenter,
    Mnemonic::Sysexit,
    Mnemonic::Int,
    Mnemonic::Int1,
    Mnemonic::Int3,
    Mnemonic::Ud0,
    Mnemonic::Ud1,
    Mnemonic::Ud2,
    Mnemonic::Wait,
    Mnemonic::Smsw,
    Mnemonic::Str,
    Mnemonic::Sldt,
    Mnemonic::Sgdt,
    Mnemonic::Sidt,
    Mnemonic::Lar,
    Mnemonic::Lsl,
    Mnemonic::Verr,
    Mnemonic::Verw,
    // Without BMI1/LZCNT in xlat's CPUID these encodings are BSF/BSR; the
    // host has them as TZCNT/LZCNT.
    Mnemonic::Tzcnt,
    Mnemonic::Lzcnt,
    // Port I/O faults at CPL 3 with IOPL 0 (the host's user mode).
    Mnemonic::In,
    Mnemonic::Out,
    // XCR0 is the host kernel's on one side, xlat's reset value on the
    // other; and ECX != 0 raises #GP.
    Mnemonic::Xgetbv,
];

fn operand(kind: K, mem: u32) -> Option<OperandSpec> {
    use OperandSpec::*;
    Some(match kind {
        K::xmm_reg | K::xmm_rm => Xmm,
        K::mm_reg | K::mm_rm => Mm,
        K::xmm_or_mem => XmmOrMem(mem),
        K::mm_or_mem => MmOrMem(mem),
        K::mem => Mem(mem),
        K::seg_rDI => SegRdi,
        K::r8_or_mem => GprOrMem(1),
        K::r16_or_mem => GprOrMem(2),
        K::r32_or_mem => GprOrMem(4),
        K::r64_or_mem => GprOrMem(8),
        K::r8_reg | K::r8_opcode => Gpr(1),
        K::r16_reg | K::r16_rm | K::r16_opcode => Gpr(2),
        K::r32_reg | K::r32_rm | K::r32_opcode => Gpr(4),
        K::r64_reg | K::r64_rm | K::r64_opcode => Gpr(8),
        K::al => Fixed(Register::AL),
        K::cl => Fixed(Register::CL),
        K::ax => Fixed(Register::AX),
        K::dx => Fixed(Register::DX),
        K::es => Fixed(Register::ES),
        K::cs => Fixed(Register::CS),
        K::ss => Fixed(Register::SS),
        K::ds => Fixed(Register::DS),
        K::eax => Fixed(Register::EAX),
        K::rax => Fixed(Register::RAX),
        K::imm8 | K::imm8sex16 | K::imm8sex32 | K::imm8sex64 => Imm(1),
        K::imm16 => Imm(2),
        K::imm32 | K::imm32sex64 => Imm(4),
        K::imm64 => Imm(8),
        K::imm8_const_1 => One,
        K::st0 => St0,
        K::sti_opcode => Sti,
        _ => return None,
    })
}

/// Integer forms of 32-bit code (run in a 32-bit compatibility-mode code
/// segment on the host, in 32-bit protected mode in xlat): every form
/// valid outside 64-bit mode with 8-, 16- or 32-bit operands, including
/// the encodings that mean something else (or nothing) in 64-bit mode:
/// INC/DEC 40-4F, the BCD instructions, the 82h group, ARPL, SALC.
pub fn compat32_forms() -> Vec<Form> {
    use OperandSpec::*;
    forms_in_mode(false, false, false, |code| {
        crate::cpu::simd::handler(code).is_none() && !COMPAT32_EXCLUDED.contains(&code.mnemonic())
    })
    .into_iter()
    .filter(|f| {
        !f.ops.iter().any(|o| {
            matches!(
                o,
                Xmm | Mm
                    | XmmOrMem(_)
                    | MmOrMem(_)
                    | Mem(_)
                    | SegRdi
                    | Gpr(8)
                    | GprOrMem(8)
                    | Imm(8)
                    | Fixed(Register::RAX)
            )
        })
    })
    .chain(compat32_stack_forms())
    .collect()
}

/// The stack forms of the 32-bit run, with ESP inside the compared buffer:
/// PUSHA/POPA, PUSH/POP of registers and memory, PUSH imm, PUSHF, and
/// PUSH of CS/SS/DS/ES (whose selectors are the same on both sides). Not
/// POP of a segment register, POPF (TF, AC), ENTER/LEAVE (ESP from EBP),
/// nor FS/GS (the host's hold its TLS).
fn compat32_stack_forms() -> Vec<Form> {
    use OperandSpec::*;
    forms_in_mode(false, true, false, |code| {
        matches!(
            code.mnemonic(),
            Mnemonic::Pusha
                | Mnemonic::Pushad
                | Mnemonic::Popa
                | Mnemonic::Popad
                | Mnemonic::Push
                | Mnemonic::Pop
                | Mnemonic::Pushf
                | Mnemonic::Pushfd
        )
    })
    .into_iter()
    .filter(|f| {
        f.ops.iter().all(|o| match *o {
            Gpr(n) | GprOrMem(n) => n <= 4,
            Imm(n) => n <= 4,
            Fixed(r) => {
                matches!(r, Register::ES | Register::CS | Register::SS | Register::DS)
                    && f.code.mnemonic() == Mnemonic::Push
            }
            _ => false,
        })
    })
    .collect()
}

/// Left out of the 32-bit run besides `EXCLUDED`: LDS/LES load segment
/// registers (and mean VEX prefixes in 64-bit mode); BOUND and INTO trap.
const COMPAT32_EXCLUDED: &[Mnemonic] = &[Mnemonic::Lds, Mnemonic::Les, Mnemonic::Bound];

/// Every integer form hostcheck can test today.
pub fn integer_forms() -> Vec<Form> {
    use OperandSpec::*;
    forms_where(|code| crate::cpu::simd::handler(code).is_none())
        .into_iter()
        .filter(|f| {
            !f.ops
                .iter()
                .any(|o| matches!(o, Xmm | Mm | XmmOrMem(_) | MmOrMem(_) | Mem(_) | SegRdi))
        })
        .collect()
}

/// The MMX, SSE, SSE2, SSE3, SSSE3, SSE4.1 and SSE4.2 forms (and their
/// cache-control companions) whose features `host_has` reports.
pub fn simd_forms(host_has: impl Fn(Code) -> bool) -> Vec<Form> {
    forms_where(|code| crate::cpu::simd::handler(code).is_some() && host_has(code))
}

fn forms_where(want: impl Fn(Code) -> bool) -> Vec<Form> {
    forms_in_mode(true, false, false, want)
}

/// Every x87 form of 64-bit mode (`long`) or of 32-bit code: the D8-DF
/// escapes (loads and stores of every memory type, arithmetic,
/// compares, FCMOVcc, constants, transcendentals, control and
/// environment instructions) and FXSAVE/FXRSTOR. Not the XSAVE family,
/// whose state components and XCR0 are the host kernel's.
pub fn x87_forms(long: bool) -> Vec<Form> {
    forms_in_mode(long, false, true, |code| {
        use Mnemonic::*;
        !matches!(
            code.mnemonic(),
            Xsave | Xsave64 | Xsaveopt | Xsaveopt64 | Xrstor | Xrstor64 | Xgetbv | Xsetbv
        )
    })
}

/// Forms valid in 64-bit mode (`long`) or in 32-bit code; the stack forms
/// alone when `stack`, else none of them; the x87 forms alone when `x87`,
/// else none of them.
fn forms_in_mode(long: bool, stack: bool, x87: bool, want: impl Fn(Code) -> bool) -> Vec<Form> {
    let mut forms = Vec::new();
    for code in Code::values() {
        let op = code.op_code();
        if code == Code::INVALID
            || !op.is_instruction()
            || op.encoding() != EncodingKind::Legacy
            || !(if long { op.mode64() } else { op.mode32() })
            // Encodings iced decodes only on request (CMPXCHG486's 0F A6,
            // say): on this CPU and in xlat they are something else.
            || op.decoder_option() != iced_x86::DecoderOptions::NONE
            || !op.cpl3()
            || !catalog::entry(code).implemented
            || !want(code)
        {
            continue;
        }
        let m = code.mnemonic();
        // x87 forms seed and compare the FPU state: they are a list of
        // their own.
        if EXCLUDED.contains(&m) || crate::cpu::x87::handler(code).is_some() != x87 {
            continue;
        }
        let Some(ops) = (0..op.op_count())
            .map(|i| operand(op.op_kind(i), op.memory_size().size() as u32))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        // Control flow, stack and string forms are out of scope.
        let mut probe = iced_x86::Instruction::default();
        probe.set_code(code);
        if probe.is_string_instruction()
            || probe.flow_control() != iced_x86::FlowControl::Next
            || probe.is_stack_instruction() != stack
        {
            continue;
        }
        // BSWAP of a 16-bit register is undefined.
        if code == Code::Bswap_r16 {
            continue;
        }
        forms.push(Form {
            code,
            name: format!("{code:?}"),
            ops,
            x87,
        });
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alu_families_are_covered() {
        let names: Vec<String> = integer_forms().into_iter().map(|f| f.name).collect();
        for want in [
            "Add_rm32_r32",
            "Adc_AL_imm8",
            "Imul_r64_rm64_imm32",
            "Shld_rm16_r16_CL",
            "Bsf_r32_rm32",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing");
        }
        assert!(!names
            .iter()
            .any(|n| n.starts_with("Push") || n.starts_with("Lea")));
    }

    #[test]
    fn compat32_has_the_forms_64_bit_mode_lacks() {
        let names: Vec<String> = compat32_forms().into_iter().map(|f| f.name).collect();
        for want in [
            "Inc_r32",
            "Dec_r16",
            "Aaa",
            "Das",
            "Aam_imm8",
            "Aad_imm8",
            "Add_rm8_imm8_82",
            "Arpl_rm16_r16",
            "Salc",
            "Add_rm32_r32",
            "Imul_r16_rm16_imm16",
            "Pushad",
            "Popaw",
            "Push_r32",
            "Pop_rm16",
            "Pushd_imm8",
            "Pushd_CS",
            "Pushfd",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing");
        }
        // No 64-bit operands (ENDBR64 is a hint NOP in any mode).
        assert!(!names
            .iter()
            .any(|n| n.contains("_r64") || n.contains("m64") || n.starts_with("Les")));
    }
}

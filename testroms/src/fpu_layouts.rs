//! What the state-saving instructions write: FNSTENV/FNSAVE in the 16-bit
//! real-mode layout and the 32-bit protected-mode layout (control, status
//! and tag words, FIP/FCS/FOP, FDP/FDS, the register stack), FXSAVE's
//! image (abridged tags, MXCSR, MXCSR_MASK, register offsets), and the
//! XSAVE feature set: CPUID bits, XCR0 through XGETBV/XSETBV, the XSAVE
//! header, which bytes XSAVE writes, XRSTOR's init and header checks.

use crate::harness::{m16, m32, m8, Harness};
use crate::real_mode_faults::{clear_records, install_recorders};
use crate::sys::*;
use iced_x86::code_asm::*;
use iced_x86::{Code, Instruction, MemoryOperand, Register};

const NAME: &str = "fpu_layouts";

const OSFXSR: u32 = 1 << 9;
const OSXSAVE: u32 = 1 << 18;

// Data and save areas, through SS (base 0 in both modes).
const TWO: u32 = SCRATCH; // 2.0f
const THREE: u32 = SCRATCH + 4; // 3.0f
const MXCSR_VALUE: u32 = SCRATCH + 8;
const MXCSR_DEFAULT: u32 = SCRATCH + 12;
const FCW_VALUE: u32 = SCRATCH + 16;
const PATTERN: u32 = SCRATCH + 0x20; // 16 bytes, XMM0's value
const ENV: u32 = SCRATCH + 0x100;
const SAVE: u32 = SCRATCH + 0x180;
const FX: u32 = SCRATCH + 0x200; // 16-byte aligned
const XS: u32 = SCRATCH + 0x400; // 64-byte aligned
const XS_LEN: u32 = 576;

/// The MXCSR the images should hold: default with FZ.
const MXCSR: u32 = 0x9f80;
const XMM0_DWORDS: [u32; 4] = [0x1122_3344, 0x5566_7788, 0x99aa_bbcc, 0xddee_ff00];

const UD: u8 = 6;
const GP: u8 = 13;

/// FOP of `fadd dword [ss:THREE]`: escape D8, ModR/M 06.
const FOP: u32 = 0x006;
/// After `prepare`: ST0 = 5.0, ST1 = 2.0, TOP = 6.
const FSW: u32 = 0x3000;
const FTW: u32 = 0x0fff;

/// A memory operand at `disp` in SS, for instructions built by hand.
fn ss_mem(disp: u32) -> MemoryOperand {
    MemoryOperand::with_base_displ_size_bcst_seg(
        Register::None,
        disp as i64,
        2,
        false,
        Register::SS,
    )
}

pub fn build() -> Result<Vec<u8>, IcedError> {
    let lib = Lib::new(NAME)?.assemble()?;
    let t = Tables::standard(&lib);
    let mut h = Harness::new(NAME)?;
    install_recorders(&mut h, NAME, &[UD, GP])?;
    clear_records(&mut h.a)?;
    constants(&mut h.a)?;
    let a = &mut h.a;
    a.mov(eax, cr4)?;
    a.or(eax, OSFXSR)?;
    a.mov(cr4, eax)?;
    h.print("real mode\r\n")?;
    env_real(&mut h)?;
    fxsave(&mut h, "real", 0xf000, 0)?;
    xsave(&mut h)?;
    h.print("protected mode\r\n")?;
    enter_pm(&mut h)?;
    env_pm(&mut h)?;
    fxsave(&mut h, "pm", u32::from(CS16), u32::from(DS))?;
    xsave_pm(&mut h)?;
    h.finish_with(&[t.placed(), (LIB_OFFSET, lib.bytes)])
}

fn constants(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(dword_ptr(TWO).ss(), 2.0f32.to_bits())?;
    a.mov(dword_ptr(THREE).ss(), 3.0f32.to_bits())?;
    a.mov(dword_ptr(MXCSR_VALUE).ss(), MXCSR)?;
    a.mov(dword_ptr(MXCSR_DEFAULT).ss(), 0x1f80u32)?;
    a.mov(word_ptr(FCW_VALUE).ss(), 0x027fu32)?;
    for (i, d) in XMM0_DWORDS.iter().enumerate() {
        a.mov(dword_ptr(PATTERN + 4 * i as u32).ss(), *d)?;
    }
    Ok(())
}

/// Two loads and an add with a memory operand, the last numeric
/// instruction: its address goes to `MARK` (+ MARK_LEN).
fn prepare(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.fninit()?;
    a.fld(dword_ptr(TWO).ss())?;
    a.fld(dword_ptr(TWO).ss())?;
    mark(a)?;
    a.fadd(dword_ptr(THREE).ss())
}

/// AX = the word at `at` minus the address of the marked instruction.
fn minus_mark(h: &mut Harness, at: u32) -> Result<(), IcedError> {
    h.a.mov(ax, word_ptr(at).ss())?;
    h.a.sub(ax, word_ptr(MARK).ss())
}

/// The register stack after `prepare`, from `at` on, `stride` bytes apart.
fn check_stack(h: &mut Harness, m: &str, at: u32, stride: u32) -> Result<(), IcedError> {
    h.check(
        m32(ptr(at + 4).ss()),
        0xa000_0000,
        &format!("{m}: ST0 significand"),
    )?;
    h.check(m16(ptr(at + 8).ss()), 0x4001, &format!("{m}: ST0 exponent"))?;
    h.check(
        m32(ptr(at + stride + 4).ss()),
        0x8000_0000,
        &format!("{m}: ST1 significand"),
    )?;
    h.check(
        m16(ptr(at + stride + 8).ss()),
        0x4000,
        &format!("{m}: ST1 exponent"),
    )
}

/// Real mode, 16-bit operand size: the 14-byte environment with 20-bit
/// linear instruction and data pointers, FOP beside FIP[19:16].
fn env_real(h: &mut Harness) -> Result<(), IcedError> {
    prepare(&mut h.a)?;
    h.a.fnstenv(ptr(ENV).ss())?;
    h.check(m16(ptr(ENV).ss()), 0x037f, "real fnstenv: FCW")?;
    h.check(m16(ptr(ENV + 2).ss()), FSW, "real fnstenv: FSW")?;
    h.check(m16(ptr(ENV + 4).ss()), FTW, "real fnstenv: FTW")?;
    minus_mark(h, ENV + 6)?;
    h.check(ax, MARK_LEN, "real fnstenv: FIP[15:0]")?;
    h.check(
        m16(ptr(ENV + 8).ss()),
        0xf000 | FOP,
        "real fnstenv: FIP[19:16] and FOP",
    )?;
    h.check(m16(ptr(ENV + 10).ss()), THREE, "real fnstenv: FDP[15:0]")?;
    h.check(m16(ptr(ENV + 12).ss()), 0, "real fnstenv: FDP[19:16]")?;
    prepare(&mut h.a)?;
    h.a.fnsave(ptr(SAVE).ss())?;
    h.check(m16(ptr(SAVE + 2).ss()), FSW, "real fnsave: FSW")?;
    check_stack(h, "real fnsave", SAVE + 14, 10)?;
    // FNSAVE reinitialises the FPU.
    h.a.fnstsw(ax)?;
    h.check(ax, 0, "real fnsave: FSW after")
}

/// Protected mode, 32-bit operand size (0x66 in CS16): the 28-byte
/// environment with FIP/FCS, FOP in bits 16-26 of the FCS dword, FDP/FDS.
fn env_pm(h: &mut Harness) -> Result<(), IcedError> {
    prepare(&mut h.a)?;
    raw(
        &mut h.a,
        Instruction::with1(Code::Fnstenv_m28byte, ss_mem(ENV))?,
    )?;
    h.check(m16(ptr(ENV).ss()), 0x037f, "pm fnstenv: FCW")?;
    h.check(m16(ptr(ENV + 4).ss()), FSW, "pm fnstenv: FSW")?;
    h.check(m16(ptr(ENV + 8).ss()), FTW, "pm fnstenv: FTW")?;
    minus_mark(h, ENV + 12)?;
    h.check(ax, MARK_LEN, "pm fnstenv: FIP")?;
    h.check(m16(ptr(ENV + 14).ss()), 0, "pm fnstenv: FIP[31:16]")?;
    h.check(m16(ptr(ENV + 16).ss()), u32::from(CS16), "pm fnstenv: FCS")?;
    h.check(m16(ptr(ENV + 18).ss()), FOP, "pm fnstenv: FOP")?;
    h.check(m32(ptr(ENV + 20).ss()), THREE, "pm fnstenv: FDP")?;
    h.check(m16(ptr(ENV + 24).ss()), u32::from(DS), "pm fnstenv: FDS")?;
    prepare(&mut h.a)?;
    raw(
        &mut h.a,
        Instruction::with1(Code::Fnsave_m108byte, ss_mem(SAVE))?,
    )?;
    h.check(m16(ptr(SAVE + 4).ss()), FSW, "pm fnsave: FSW")?;
    check_stack(h, "pm fnsave", SAVE + 28, 10)
}

/// FXSAVE (16-bit operand size: FIP/FCS and FDP/FDS as offset and
/// selector) with MXCSR and XMM0 set.
fn fxsave(h: &mut Harness, m: &str, fcs: u32, fds: u32) -> Result<(), IcedError> {
    let a = &mut h.a;
    a.ldmxcsr(dword_ptr(MXCSR_VALUE).ss())?;
    a.movups(xmm0, xmmword_ptr(PATTERN).ss())?;
    prepare(a)?;
    a.fxsave(ptr(FX).ss())?;
    h.check(m16(ptr(FX).ss()), 0x037f, &format!("{m} fxsave: FCW"))?;
    h.check(m16(ptr(FX + 2).ss()), FSW, &format!("{m} fxsave: FSW"))?;
    h.check(
        m8(ptr(FX + 4).ss()),
        0xc0,
        &format!("{m} fxsave: abridged FTW"),
    )?;
    h.check(m16(ptr(FX + 6).ss()), FOP, &format!("{m} fxsave: FOP"))?;
    minus_mark(h, FX + 8)?;
    h.check(ax, MARK_LEN, &format!("{m} fxsave: FIP"))?;
    h.check(m16(ptr(FX + 12).ss()), fcs, &format!("{m} fxsave: FCS"))?;
    h.check(m32(ptr(FX + 16).ss()), THREE, &format!("{m} fxsave: FDP"))?;
    h.check(m16(ptr(FX + 20).ss()), fds, &format!("{m} fxsave: FDS"))?;
    h.check(m32(ptr(FX + 24).ss()), MXCSR, &format!("{m} fxsave: MXCSR"))?;
    h.check(
        m32(ptr(FX + 28).ss()),
        0xffff,
        &format!("{m} fxsave: MXCSR_MASK"),
    )?;
    check_stack(h, &format!("{m} fxsave"), FX + 32, 16)?;
    h.check(
        m32(ptr(FX + 160).ss()),
        XMM0_DWORDS[0],
        &format!("{m} fxsave: XMM0[31:0]"),
    )?;
    h.check(
        m32(ptr(FX + 172).ss()),
        XMM0_DWORDS[3],
        &format!("{m} fxsave: XMM0[127:96]"),
    )?;
    h.a.ldmxcsr(dword_ptr(MXCSR_DEFAULT).ss())?;
    h.a.fninit()
}

/// Fills the XSAVE area with `byte`. Clobbers ECX, EDI, AL (ES = 0).
fn fill_xs(a: &mut CodeAssembler, byte: u32) -> Result<(), IcedError> {
    a.mov(al, byte)?;
    a.mov(di, XS)?;
    a.mov(cx, XS_LEN)?;
    a.rep().stosb()
}

/// XSETBV with ECX = 0 and EDX:EAX = `v`.
fn xsetbv(a: &mut CodeAssembler, v: u32) -> Result<(), IcedError> {
    a.xor(ecx, ecx)?;
    a.xor(edx, edx)?;
    a.mov(eax, v)?;
    a.xsetbv()
}

/// Real mode: CPUID, XCR0, XSAVE and XRSTOR.
fn xsave(h: &mut Harness) -> Result<(), IcedError> {
    let a = &mut h.a;
    a.mov(eax, 1u32)?;
    a.cpuid()?;
    a.and(ecx, (1u32 << 26) | (1 << 27))?;
    h.check(ecx, 1 << 26, "cpuid 1: XSAVE, no OSXSAVE yet")?;
    let a = &mut h.a;
    a.mov(eax, cr4)?;
    a.or(eax, OSXSAVE)?;
    a.mov(cr4, eax)?;
    a.mov(eax, 1u32)?;
    a.cpuid()?;
    a.and(ecx, 1u32 << 27)?;
    h.check(ecx, 1 << 27, "cpuid 1: OSXSAVE follows CR4")?;
    h.a.xor(ecx, ecx)?;
    h.a.xgetbv()?;
    h.check(eax, 1, "xgetbv: XCR0 after reset")?;
    xsetbv(&mut h.a, 3)?;
    h.a.xgetbv()?;
    h.check(eax, 3, "xgetbv: XCR0 = 3")?;
    h.check(edx, 0, "xgetbv: EDX")?;
    let a = &mut h.a;
    a.mov(eax, 0xdu32)?;
    a.xor(ecx, ecx)?;
    a.cpuid()?;
    a.and(eax, 3u32)?;
    h.check(eax, 3, "cpuid 0Dh: x87 and SSE in XCR0's valid bits")?;
    h.check(ebx, XS_LEN, "cpuid 0Dh: size for XCR0 = 3")?;
    for bad in [0u32, 2] {
        expect_fault(
            h,
            &format!("xsetbv {bad}"),
            GP,
            None,
            Pushed::AtInstruction,
            |a| {
                a.xor(ecx, ecx)?;
                a.xor(edx, edx)?;
                a.mov(eax, bad)
            },
            |a| a.xsetbv(),
        )?;
    }

    // All of x87 and SSE: the legacy region is FXSAVE's; the XMM8-15
    // slots, XCOMP_BV and XSTATE_BV's other bits are left alone.
    let a = &mut h.a;
    fill_xs(a, 0xaa)?;
    a.ldmxcsr(dword_ptr(MXCSR_VALUE).ss())?;
    a.movups(xmm0, xmmword_ptr(PATTERN).ss())?;
    prepare(a)?;
    a.xor(edx, edx)?;
    a.mov(eax, 3u32)?;
    a.xsave(ptr(XS).ss())?;
    h.check(m16(ptr(XS).ss()), 0x037f, "xsave: FCW")?;
    h.check(m8(ptr(XS + 4).ss()), 0xc0, "xsave: abridged FTW")?;
    h.check(m32(ptr(XS + 24).ss()), MXCSR, "xsave: MXCSR")?;
    h.check(m32(ptr(XS + 28).ss()), 0xffff, "xsave: MXCSR_MASK")?;
    check_stack(h, "xsave", XS + 32, 16)?;
    h.check(m32(ptr(XS + 160).ss()), XMM0_DWORDS[0], "xsave: XMM0")?;
    h.check(
        m32(ptr(XS + 288).ss()),
        0xaaaa_aaaa,
        "xsave: XMM8 slot untouched",
    )?;
    h.check(
        m32(ptr(XS + 512).ss()),
        0xaaaa_aaab,
        "xsave: XSTATE_BV[31:0]",
    )?;
    h.check(
        m32(ptr(XS + 516).ss()),
        0xaaaa_aaaa,
        "xsave: XSTATE_BV[63:32]",
    )?;
    h.check(
        m32(ptr(XS + 520).ss()),
        0xaaaa_aaaa,
        "xsave: XCOMP_BV untouched",
    )?;

    // x87 only: MXCSR and the XMM registers are SSE state.
    let a = &mut h.a;
    fill_xs(a, 0)?;
    a.xor(edx, edx)?;
    a.mov(eax, 1u32)?;
    a.xsave(ptr(XS).ss())?;
    h.check(m16(ptr(XS).ss()), 0x037f, "xsave x87: FCW")?;
    h.check(m32(ptr(XS + 24).ss()), 0, "xsave x87: no MXCSR")?;
    h.check(m32(ptr(XS + 160).ss()), 0, "xsave x87: no XMM0")?;
    h.check(m32(ptr(XS + 512).ss()), 1, "xsave x87: XSTATE_BV")?;

    // XSTATE_BV = 0: XRSTOR puts both components in their init state,
    // but the standard form still loads MXCSR from the image.
    let a = &mut h.a;
    a.mov(dword_ptr(XS + 512).ss(), 0u32)?;
    a.mov(dword_ptr(XS + 24).ss(), 0x7f80u32)?;
    a.fldcw(word_ptr(FCW_VALUE).ss())?;
    a.fld1()?;
    a.xor(edx, edx)?;
    a.mov(eax, 3u32)?;
    a.xrstor(ptr(XS).ss())?;
    a.fnstcw(word_ptr(ENV).ss())?;
    h.check(m16(ptr(ENV).ss()), 0x037f, "xrstor init: FCW")?;
    h.a.fnstsw(ax)?;
    h.check(ax, 0, "xrstor init: FSW")?;
    h.a.stmxcsr(dword_ptr(ENV).ss())?;
    h.check(m32(ptr(ENV).ss()), 0x7f80, "xrstor init: MXCSR from memory")?;
    h.a.movd(eax, xmm0)?;
    h.check(eax, 0, "xrstor init: XMM0")?;

    // Header checks: XCOMP_BV must be 0 (no compacted form), XSTATE_BV
    // only XCR0's bits.
    for (what, at, v) in [
        ("xrstor XCOMP_BV set", XS + 520, 1u32),
        ("xrstor XSTATE_BV bit 2", XS + 512, 4),
    ] {
        expect_fault(
            h,
            what,
            GP,
            None,
            Pushed::AtInstruction,
            |a| {
                a.mov(dword_ptr(at).ss(), v)?;
                a.xor(edx, edx)?;
                a.mov(eax, 3u32)
            },
            |a| a.xrstor(ptr(XS).ss()),
        )?;
        h.a.mov(dword_ptr(at).ss(), 0u32)?;
    }
    expect_fault(
        h,
        "xsave misaligned",
        GP,
        None,
        Pushed::AtInstruction,
        |a| a.mov(eax, 3u32),
        |a| a.xsave(ptr(XS + 0x10).ss()),
    )?;
    h.a.ldmxcsr(dword_ptr(MXCSR_DEFAULT).ss())?;
    h.a.fninit()
}

/// Protected mode: #GP(0) for a misaligned area, #UD once CR4.OSXSAVE is
/// clear.
fn xsave_pm(h: &mut Harness) -> Result<(), IcedError> {
    h.a.xor(edx, edx)?;
    h.a.mov(eax, 3u32)?;
    h.a.xsave(ptr(XS).ss())?;
    h.check(m32(ptr(XS + 512).ss()), 3, "pm xsave: XSTATE_BV")?;
    expect_fault(
        h,
        "pm xsave misaligned",
        GP,
        Some(0),
        Pushed::AtInstruction,
        |a| a.mov(eax, 3u32),
        |a| a.xsave(ptr(XS + 0x20).ss()),
    )?;
    expect_fault(
        h,
        "pm xgetbv without OSXSAVE",
        UD,
        None,
        Pushed::AtInstruction,
        |a| {
            a.mov(eax, cr4)?;
            a.and(eax, !OSXSAVE)?;
            a.mov(cr4, eax)?;
            a.xor(ecx, ecx)
        },
        |a| a.xgetbv(),
    )?;
    expect_fault(
        h,
        "pm xsave without OSXSAVE",
        UD,
        None,
        Pushed::AtInstruction,
        |a| a.mov(eax, 3u32),
        |a| a.xsave(ptr(XS).ss()),
    )
}

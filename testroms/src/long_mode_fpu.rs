//! The x87/SSE state images in 64-bit mode, part of the `long_mode` ROM:
//! FXSAVE64 (REX.W: 64-bit FIP and FDP) against FXSAVE without REX.W
//! (FIP/FCS and FDP/FDS), XMM8-15 in the image, MXCSR and MXCSR_MASK, an
//! FXRSTOR64 round trip; XSAVE64/XSAVEOPT64/XRSTOR64 with XCR0 = x87|SSE
//! (XSTATE_BV, the legacy region, a component outside the mask left
//! alone on save and on restore); #GP(0) for misaligned areas and for
//! XRSTOR's reserved header bits (SDM vol. 1, 10.5 and 13.4-13.8; vol. 2,
//! FXSAVE table 3-56).
//!
//! The 64-bit code (`code64`) records into memory; `checks` runs in
//! 16-bit compatibility mode with the usual harness.

use crate::harness::{m16, m32, m8, Harness};
use crate::sys::SCRATCH;
use iced_x86::code_asm::*;

const TWO: u32 = SCRATCH + 0x400;
const THREE: u32 = SCRATCH + 0x404;
const MXCSR_VALUE: u32 = SCRATCH + 0x408;
const R_CW: u32 = SCRATCH + 0x410;
const R_X9: u32 = SCRATCH + 0x414;
const R_XR_CW: u32 = SCRATCH + 0x418;
const R_XR_X8: u32 = SCRATCH + 0x41c;
const R_XR_X10: u32 = SCRATCH + 0x420;
const R_MISALIGNED_FX: u32 = SCRATCH + 0x424;
const R_MISALIGNED_XS: u32 = SCRATCH + 0x428;
const R_BV_BIT2: u32 = SCRATCH + 0x42c;
const R_XCOMP: u32 = SCRATCH + 0x430;
const R_ERRS: u32 = SCRATCH + 0x434;
const R_XSO_CW: u32 = SCRATCH + 0x438;
const R_XSO_BV: u32 = SCRATCH + 0x43c;
const R_XSO_BV_HI: u32 = SCRATCH + 0x440;
/// FXSAVE64 and FXSAVE images (16-byte aligned), XSAVE areas (64).
const FX64: u32 = SCRATCH + 0x800;
const FX32: u32 = SCRATCH + 0xa00;
const XS: u32 = SCRATCH + 0xc00;
const XS1: u32 = SCRATCH + 0x1400;
const XS_LEN: u32 = 576;

/// XMM8 and XMM15's low qwords (their high qwords are 0: MOVQ).
const X8: u64 = 0x0888_7777_6666_5555;
const X15: u64 = 0x0f0f_eeee_dddd_cccc;
const X10: u64 = 0x1010_2020_3030_4040;
/// The MXCSR the images hold: default with FZ.
const MXCSR: u32 = 0x9f80;
/// After `prepare`: ST0 = 5.0, ST1 = 2.0, TOP = 6.
const FSW: u32 = 0x3000;
/// FOP of `fadd dword [disp32]` in 64-bit mode: D8, ModR/M 04 (SIB).
const FOP: u32 = 0x004;

/// What the 64-bit code leaves for `checks`.
pub struct Fpu64 {
    /// The FADD whose address FIP must hold.
    pub fadd: CodeLabel,
}

/// Two loads and an add from memory: the last numeric instruction is the
/// FADD at `fadd`.
fn prepare(a: &mut CodeAssembler, fadd: Option<&mut CodeLabel>) -> Result<(), IcedError> {
    a.fninit()?;
    a.fld(dword_ptr(TWO))?;
    a.fld(dword_ptr(TWO))?;
    if let Some(l) = fadd {
        a.set_label(l)?;
    }
    a.fadd(dword_ptr(THREE))
}

/// Fills `len` bytes at `at` with `byte`.
fn fill(a: &mut CodeAssembler, at: u32, len: u32, byte: u32) -> Result<(), IcedError> {
    a.mov(al, byte)?;
    a.mov(edi, at)?;
    a.mov(ecx, len)?;
    a.rep().stosb()
}

/// Runs `fault` (which must raise #GP) with the recorder armed; stores the
/// vector at `at` and adds the error code to `R_ERRS`.
fn expect_gp(
    a: &mut CodeAssembler,
    at: u32,
    setup: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
    fault: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Result<(), IcedError> {
    let mut after = a.create_label();
    setup(a)?;
    crate::long_mode::arm64(a, after)?;
    fault(a)?;
    a.set_label(&mut after)?;
    a.mov(eax, dword_ptr(crate::long_mode::L_VEC))?;
    a.mov(dword_ptr(at), eax)?;
    a.mov(eax, dword_ptr(crate::long_mode::L_ERR))?;
    a.add(dword_ptr(R_ERRS), eax)
}

/// The 64-bit part, run at CPL 0 after the SYSCALL test.
pub fn code64(a: &mut CodeAssembler) -> Result<Fpu64, IcedError> {
    let mut fadd = a.create_label();
    // SYSCALL left SS = STAR's selector + 8, which no IRETQ could reload.
    a.mov(ax, u32::from(crate::sys::DS))?;
    a.mov(ss, ax)?;
    // CR4.OSFXSR and OSXSAVE; XCR0 = x87 | SSE.
    a.mov(rax, cr4)?;
    a.or(eax, (1u32 << 9) | (1 << 18))?;
    a.mov(cr4, rax)?;
    a.xor(ecx, ecx)?;
    a.xor(edx, edx)?;
    a.mov(eax, 3u32)?;
    a.xsetbv()?;
    a.mov(dword_ptr(TWO), 2.0f32.to_bits())?;
    a.mov(dword_ptr(THREE), 3.0f32.to_bits())?;
    a.mov(dword_ptr(MXCSR_VALUE), MXCSR)?;
    a.mov(dword_ptr(R_ERRS), 0u32)?;
    a.ldmxcsr(dword_ptr(MXCSR_VALUE))?;
    a.mov(rax, X8)?;
    a.movq(xmm8, rax)?;
    a.mov(rax, X15)?;
    a.movq(xmm15, rax)?;

    // FXSAVE64, then FXSAVE without REX.W, of the same state.
    fill(a, FX64, 1024, 0xaa)?;
    prepare(a, Some(&mut fadd))?;
    a.fxsave64(ptr(FX64))?;
    a.fxsave(ptr(FX32))?;

    // FXRSTOR64 round trip (of the second image): a new control word and
    // XMM9.
    a.mov(word_ptr(FX32), 0x027fu32)?;
    a.mov(dword_ptr(FX32 + 160 + 16 * 9), 0x9999_0009u32)?;
    a.fxrstor64(ptr(FX32))?;
    a.fnstcw(word_ptr(R_CW))?;
    a.movd(eax, xmm9)?;
    a.mov(dword_ptr(R_X9), eax)?;

    // XSAVE64 of both components over a filled area; XSAVE of x87 alone
    // over another fill (0x55: XSTATE_BV bit 1 clear, and it must stay so).
    fill(a, XS, XS_LEN, 0xaa)?;
    fill(a, XS1, XS_LEN, 0x55)?;
    prepare(a, None)?;
    a.xor(edx, edx)?;
    a.mov(eax, 3u32)?;
    a.xsave64(ptr(XS))?;
    a.mov(eax, 1u32)?;
    a.xsave(ptr(XS1))?;
    // XSAVEOPT64 of the same (modified: FCW) state into the XSAVE area.
    a.fldcw(word_ptr(R_CW))?;
    a.mov(eax, 3u32)?;
    a.xsaveopt64(ptr(XS))?;
    a.mov(ax, word_ptr(XS))?;
    a.mov(word_ptr(R_XSO_CW), ax)?;
    a.mov(eax, dword_ptr(XS + 512))?;
    a.mov(dword_ptr(R_XSO_BV), eax)?;
    a.mov(eax, dword_ptr(XS + 516))?;
    a.mov(dword_ptr(R_XSO_BV_HI), eax)?;
    // A header XRSTOR takes: XSTATE_BV = 3, the rest zero.
    fill(a, XS + 512, 64, 0)?;
    a.mov(dword_ptr(XS + 512), 3u32)?;

    // XRSTOR64 with both components: FCW and XMM8 come back; then x87
    // only: XMM10 stays.
    a.mov(word_ptr(XS), 0x037fu32)?;
    a.mov(dword_ptr(XS + 160 + 16 * 8), 0x8888_0008u32)?;
    a.mov(eax, 3u32)?;
    a.xrstor64(ptr(XS))?;
    a.fnstcw(word_ptr(R_XR_CW))?;
    a.movd(eax, xmm8)?;
    a.mov(dword_ptr(R_XR_X8), eax)?;
    a.mov(rax, X10)?;
    a.movq(xmm10, rax)?;
    a.mov(dword_ptr(XS + 160 + 16 * 10), 0u32)?;
    a.mov(eax, 1u32)?;
    a.xrstor64(ptr(XS))?;
    a.movd(eax, xmm10)?;
    a.mov(dword_ptr(R_XR_X10), eax)?;

    // #GP(0): misaligned FXSAVE64 (16) and XSAVE64 (64) areas, XRSTOR64
    // with an XSTATE_BV bit outside XCR0, with XCOMP_BV set.
    expect_gp(
        a,
        R_MISALIGNED_FX,
        |_| Ok(()),
        |a| a.fxsave64(ptr(FX64 + 8)),
    )?;
    expect_gp(
        a,
        R_MISALIGNED_XS,
        |a| a.mov(eax, 3u32),
        |a| a.xsave64(ptr(XS + 0x20)),
    )?;
    expect_gp(
        a,
        R_BV_BIT2,
        |a| {
            a.mov(dword_ptr(XS + 512), 7u32)?;
            a.mov(eax, 3u32)
        },
        |a| a.xrstor64(ptr(XS)),
    )?;
    expect_gp(
        a,
        R_XCOMP,
        |a| {
            a.mov(dword_ptr(XS + 512), 3u32)?;
            a.mov(dword_ptr(XS + 520), 1u32)?;
            a.mov(eax, 3u32)
        },
        |a| a.xrstor64(ptr(XS)),
    )?;
    a.mov(dword_ptr(XS + 520), 0u32)?;
    a.mov(dword_ptr(MXCSR_VALUE), 0x1f80u32)?;
    a.ldmxcsr(dword_ptr(MXCSR_VALUE))?;
    a.fninit()?;
    Ok(Fpu64 { fadd })
}

/// Checks what `code64` recorded; `fadd` is the FADD's address.
pub fn checks(h: &mut Harness, fadd: u64) -> Result<(), IcedError> {
    // FXSAVE64.
    h.check(m16(ptr(FX64).ss()), 0x037f, "fxsave64: FCW")?;
    h.check(m16(ptr(FX64 + 2).ss()), FSW, "fxsave64: FSW")?;
    h.check(m8(ptr(FX64 + 4).ss()), 0xc0, "fxsave64: abridged FTW")?;
    h.check(m16(ptr(FX64 + 6).ss()), FOP, "fxsave64: FOP")?;
    h.check(m32(ptr(FX64 + 8).ss()), fadd as u32, "fxsave64: FIP[31:0]")?;
    h.check(
        m32(ptr(FX64 + 12).ss()),
        (fadd >> 32) as u32,
        "fxsave64: FIP[63:32]",
    )?;
    h.check(m32(ptr(FX64 + 16).ss()), THREE, "fxsave64: FDP[31:0]")?;
    h.check(m32(ptr(FX64 + 20).ss()), 0, "fxsave64: FDP[63:32]")?;
    h.check(m32(ptr(FX64 + 24).ss()), MXCSR, "fxsave64: MXCSR")?;
    h.check(m32(ptr(FX64 + 28).ss()), 0xffff, "fxsave64: MXCSR_MASK")?;
    h.check(
        m32(ptr(FX64 + 32 + 4).ss()),
        0xa000_0000,
        "fxsave64: ST0 significand",
    )?;
    h.check(
        m16(ptr(FX64 + 32 + 8).ss()),
        0x4001,
        "fxsave64: ST0 exponent",
    )?;
    h.check(
        m16(ptr(FX64 + 48 + 8).ss()),
        0x4000,
        "fxsave64: ST1 exponent",
    )?;
    h.check(
        m32(ptr(FX64 + 160 + 16 * 8).ss()),
        X8 as u32,
        "fxsave64: XMM8[31:0]",
    )?;
    h.check(
        m32(ptr(FX64 + 160 + 16 * 8 + 8).ss()),
        0,
        "fxsave64: XMM8[95:64]",
    )?;
    h.check(
        m32(ptr(FX64 + 160 + 16 * 15 + 4).ss()),
        (X15 >> 32) as u32,
        "fxsave64: XMM15[63:32]",
    )?;
    h.check(
        m32(ptr(FX64 + 464).ss()),
        0xaaaa_aaaa,
        "fxsave64: bytes 464-511 untouched",
    )?;
    // FXSAVE without REX.W: offsets and selectors.
    h.check(m16(ptr(FX32 + 2).ss()), FSW, "fxsave: FSW")?;
    h.check(m32(ptr(FX32 + 8).ss()), fadd as u32, "fxsave: FIP")?;
    h.check(
        m16(ptr(FX32 + 12).ss()),
        u32::from(crate::sys::CS64),
        "fxsave: FCS",
    )?;
    h.check(m32(ptr(FX32 + 16).ss()), THREE, "fxsave: FDP")?;
    h.check(
        m16(ptr(FX32 + 20).ss()),
        u32::from(crate::sys::DS),
        "fxsave: FDS",
    )?;
    h.check(
        m32(ptr(FX32 + 160 + 16 * 15).ss()),
        X15 as u32,
        "fxsave: XMM15 in 64-bit mode",
    )?;
    // FXRSTOR64.
    h.check(m16(ptr(R_CW).ss()), 0x027f, "fxrstor64: FCW")?;
    h.check(m32(ptr(R_X9).ss()), 0x9999_0009, "fxrstor64: XMM9")?;
    // XSAVE64 and XSAVE with RFBM = x87 only.
    h.check(m16(ptr(XS + 6).ss()), FOP, "xsave64: FOP")?;
    h.check(
        m32(ptr(XS + 12).ss()),
        (fadd >> 32) as u32,
        "xsave64: FIP[63:32]",
    )?;
    h.check(m32(ptr(XS + 24).ss()), MXCSR, "xsave64: MXCSR")?;
    h.check(
        m32(ptr(XS + 160 + 16 * 15).ss()),
        X15 as u32,
        "xsave64: XMM15",
    )?;
    // XSTATE_BV = (old AND NOT RFBM) OR (XINUSE AND RFBM).
    h.check(
        m32(ptr(XS1 + 512).ss()),
        0x5555_5555,
        "xsave x87: XSTATE_BV",
    )?;
    h.check(
        m32(ptr(XS1 + 24).ss()),
        0x5555_5555,
        "xsave x87: MXCSR untouched",
    )?;
    h.check(
        m32(ptr(XS1 + 160 + 16 * 8).ss()),
        0x5555_5555,
        "xsave x87: XMM8 untouched",
    )?;
    h.check(m16(ptr(XS1).ss()), 0x037f, "xsave x87: FCW")?;
    // XSAVEOPT64 over it: the changed control word, XSTATE_BV.
    h.check(m16(ptr(R_XSO_CW).ss()), 0x027f, "xsaveopt64: FCW")?;
    h.check(
        m32(ptr(R_XSO_BV).ss()),
        0xaaaa_aaab,
        "xsaveopt64: XSTATE_BV[31:0]",
    )?;
    h.check(
        m32(ptr(R_XSO_BV_HI).ss()),
        0xaaaa_aaaa,
        "xsave64: XSTATE_BV[63:32] untouched",
    )?;
    h.check(m16(ptr(R_XR_CW).ss()), 0x037f, "xrstor64: FCW")?;
    h.check(m32(ptr(R_XR_X8).ss()), 0x8888_0008, "xrstor64: XMM8")?;
    h.check(
        m32(ptr(R_XR_X10).ss()),
        X10 as u32,
        "xrstor64 x87 only: XMM10 kept",
    )?;
    h.check(
        m32(ptr(R_MISALIGNED_FX).ss()),
        13,
        "fxsave64 misaligned: #GP",
    )?;
    h.check(
        m32(ptr(R_MISALIGNED_XS).ss()),
        13,
        "xsave64 misaligned: #GP",
    )?;
    h.check(
        m32(ptr(R_BV_BIT2).ss()),
        13,
        "xrstor64 XSTATE_BV bit 2: #GP",
    )?;
    h.check(m32(ptr(R_XCOMP).ss()), 13, "xrstor64 XCOMP_BV set: #GP")?;
    h.check(m32(ptr(R_ERRS).ss()), 0, "the #GPs: error codes 0")
}

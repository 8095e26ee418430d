//! x87 and SSE exceptions, in real mode and in protected mode (CS16 with
//! the handler library): #NM from CR0.TS for x87 and SSE, CR0.EM (x87 #NM,
//! SSE #UD), WAIT/FWAIT faulting only with TS and MP, #UD for SSE without
//! CR4.OSFXSR, an unmasked SSE exception as #XM with CR4.OSXMMEXCPT and
//! #UD without, and an unmasked x87 exception reported at the next waiting
//! instruction as #MF (vector 16) with CR0.NE = 1.
//!
//! A second ROM, `fpu_ferr`, checks the PC's other report of that
//! exception: in real mode with NE = 0, IRQ13 through FERR# and the slave
//! 8259A (separate because it aborts QEMU 7.2).

use crate::harness::{m16, Harness};
use crate::real_mode_faults::{clear_records, install_recorders};
use crate::sys::*;
use iced_x86::code_asm::*;
use xlat_bios::rom::install_handler;

const NAME: &str = "fpu_exceptions";

// CR0 and CR4 bits.
const MP: u32 = 1 << 1;
const EM: u32 = 1 << 2;
const TS: u32 = 1 << 3;
const NE: u32 = 1 << 5;
const OSFXSR: u32 = 1 << 9;
const OSXMMEXCPT: u32 = 1 << 10;

// Scratch data, through SS (base 0 in both modes).
const FCW_ZM_UNMASKED: u32 = SCRATCH;
const MXCSR_ZM_UNMASKED: u32 = SCRATCH + 4;
const MXCSR_DEFAULT: u32 = SCRATCH + 8;
const ONES: u32 = SCRATCH + 0x10; // four 1.0f, 16-byte aligned
/// IRQ13 handler runs, and the vector it ran as.
const IRQ13_HITS: u32 = SCRATCH + 0x20;

const NM: u8 = 7;
const UD: u8 = 6;
const MF: u8 = 16;
const XM: u8 = 19;

/// CR0 = (CR0 & !clear) | set. Clobbers EAX.
fn cr0_bits(a: &mut CodeAssembler, set: u32, clear: u32) -> Result<(), IcedError> {
    a.mov(eax, cr0)?;
    a.and(eax, !clear)?;
    a.or(eax, set)?;
    a.mov(cr0, eax)
}

/// CR4 = (CR4 & !clear) | set. Clobbers EAX.
fn cr4_bits(a: &mut CodeAssembler, set: u32, clear: u32) -> Result<(), IcedError> {
    a.mov(eax, cr4)?;
    a.and(eax, !clear)?;
    a.or(eax, set)?;
    a.mov(cr4, eax)
}

fn nothing(_: &mut CodeAssembler) -> Result<(), IcedError> {
    Ok(())
}

/// Runs `event` and checks that it raised nothing.
fn expect_no_fault(
    h: &mut Harness,
    what: &str,
    event: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Result<(), IcedError> {
    let mut resume = h.a.create_label();
    arm(&mut h.a, resume)?;
    event(&mut h.a)?;
    h.a.set_label(&mut resume)?;
    h.a.mov(dword_ptr(RESUME).ss(), 0u32)?;
    check_no_fault(h, what)
}

pub fn build() -> Result<Vec<u8>, IcedError> {
    let lib = Lib::new(NAME)?.assemble()?;
    let t = Tables::standard(&lib);
    let mut h = Harness::new(NAME)?;
    install_recorders(&mut h, NAME, &[UD, NM, MF, XM])?;
    clear_records(&mut h.a)?;
    constants(&mut h.a)?;
    h.print("real mode\r\n")?;
    all_checks(&mut h, "real")?;
    h.print("protected mode\r\n")?;
    enter_pm(&mut h)?;
    all_checks(&mut h, "pm")?;
    h.finish_with(&[t.placed(), (LIB_OFFSET, lib.bytes)])
}

fn constants(a: &mut CodeAssembler) -> Result<(), IcedError> {
    // FCW 037FH with ZM (bit 2) clear; MXCSR 1F80H with ZM (bit 9) clear.
    a.mov(word_ptr(FCW_ZM_UNMASKED).ss(), 0x037bu32)?;
    a.mov(dword_ptr(MXCSR_ZM_UNMASKED).ss(), 0x1d80u32)?;
    a.mov(dword_ptr(MXCSR_DEFAULT).ss(), 0x1f80u32)?;
    for i in 0..4 {
        a.mov(dword_ptr(ONES + 4 * i).ss(), 0x3f80_0000u32)?;
    }
    Ok(())
}

/// The checks both modes share; `m` prefixes every check name.
fn all_checks(h: &mut Harness, m: &str) -> Result<(), IcedError> {
    h.a.fninit()?;
    cr0_bits(&mut h.a, NE, EM | TS | MP)?;
    cr4_bits(&mut h.a, OSFXSR | OSXMMEXCPT, 0)?;
    device_not_available(h, m)?;
    emulation(h, m)?;
    sse_gates(h, m)?;
    math_fault(h, m)
}

/// CR0.TS: x87 and SSE raise #NM; WAIT only when MP is set as well.
fn device_not_available(h: &mut Harness, m: &str) -> Result<(), IcedError> {
    cr0_bits(&mut h.a, TS, MP)?;
    expect_fault(
        h,
        &format!("{m} TS: fld1"),
        NM,
        None,
        Pushed::AtInstruction,
        nothing,
        |a| a.fld1(),
    )?;
    expect_fault(
        h,
        &format!("{m} TS: movaps"),
        NM,
        None,
        Pushed::AtInstruction,
        nothing,
        |a| a.movaps(xmm0, xmm1),
    )?;
    expect_no_fault(h, &format!("{m} TS without MP: fwait"), |a| a.wait())?;
    expect_fault(
        h,
        &format!("{m} TS+MP: fwait"),
        NM,
        None,
        Pushed::AtInstruction,
        |a| cr0_bits(a, MP, 0),
        |a| a.wait(),
    )?;
    cr0_bits(&mut h.a, 0, TS | MP)
}

/// CR0.EM: x87 instructions raise #NM, SSE ones #UD; WAIT ignores EM.
fn emulation(h: &mut Harness, m: &str) -> Result<(), IcedError> {
    cr0_bits(&mut h.a, EM | MP, 0)?;
    expect_fault(
        h,
        &format!("{m} EM: fld1"),
        NM,
        None,
        Pushed::AtInstruction,
        nothing,
        |a| a.fld1(),
    )?;
    expect_fault(
        h,
        &format!("{m} EM: movaps"),
        UD,
        None,
        Pushed::AtInstruction,
        nothing,
        |a| a.movaps(xmm0, xmm1),
    )?;
    expect_no_fault(h, &format!("{m} EM+MP: fwait"), |a| a.wait())?;
    cr0_bits(&mut h.a, 0, EM | MP)
}

/// SSE needs CR4.OSFXSR; an unmasked SSE exception is #XM with
/// CR4.OSXMMEXCPT and #UD without it.
fn sse_gates(h: &mut Harness, m: &str) -> Result<(), IcedError> {
    cr4_bits(&mut h.a, 0, OSFXSR)?;
    expect_fault(
        h,
        &format!("{m} no OSFXSR: movaps"),
        UD,
        None,
        Pushed::AtInstruction,
        nothing,
        |a| a.movaps(xmm0, xmm1),
    )?;
    cr4_bits(&mut h.a, OSFXSR, 0)?;
    let divide = |a: &mut CodeAssembler| -> Result<(), IcedError> {
        a.movaps(xmm0, xmmword_ptr(ONES).ss())?;
        a.xorps(xmm1, xmm1)?;
        a.ldmxcsr(dword_ptr(MXCSR_ZM_UNMASKED).ss())
    };
    expect_fault(
        h,
        &format!("{m} OSXMMEXCPT: divps by 0"),
        XM,
        None,
        Pushed::AtInstruction,
        divide,
        |a| a.divps(xmm0, xmm1),
    )?;
    // The destination is left alone and MXCSR.ZE is set.
    h.a.stmxcsr(dword_ptr(SCRATCH + 0x30).ss())?;
    h.check(
        m16(ptr(SCRATCH + 0x30).ss()),
        0x1d84,
        &format!("{m} #XM: MXCSR"),
    )?;
    h.a.movd(eax, xmm0)?;
    h.check(eax, 0x3f80_0000, &format!("{m} #XM: destination kept"))?;
    cr4_bits(&mut h.a, 0, OSXMMEXCPT)?;
    expect_fault(
        h,
        &format!("{m} no OSXMMEXCPT: divps by 0"),
        UD,
        None,
        Pushed::AtInstruction,
        divide,
        |a| a.divps(xmm0, xmm1),
    )?;
    cr4_bits(&mut h.a, OSXMMEXCPT, 0)?;
    h.a.ldmxcsr(dword_ptr(MXCSR_DEFAULT).ss())
}

/// FLDCW with ZM clear, then 1/0: the FDIVP itself does not fault; the
/// exception is pending (ES and B set) and the next waiting instruction,
/// FWAIT or an x87 one, raises #MF; FNSTSW does not wait.
fn math_fault(h: &mut Harness, m: &str) -> Result<(), IcedError> {
    let divide = |a: &mut CodeAssembler| -> Result<(), IcedError> {
        a.fninit()?;
        a.fldcw(word_ptr(FCW_ZM_UNMASKED).ss())?;
        a.fld1()?;
        a.fldz()?;
        a.fdivp(st1, st0)
    };
    expect_no_fault(h, &format!("{m} unmasked 1/0"), |a| {
        divide(a)?;
        a.fnstsw(ax)
    })?;
    h.a.and(ax, 0x80ffu32)?;
    h.check(ax, 0x8084, &format!("{m} unmasked 1/0: FSW B, ES, ZE"))?;
    expect_fault(
        h,
        &format!("{m} pending: fwait"),
        MF,
        None,
        Pushed::AtInstruction,
        divide,
        |a| a.wait(),
    )?;
    expect_fault(
        h,
        &format!("{m} pending: fld1"),
        MF,
        None,
        Pushed::AtInstruction,
        divide,
        |a| a.fld1(),
    )?;
    expect_no_fault(h, &format!("{m} pending: fnclex"), |a| {
        divide(a)?;
        a.fnclex()?;
        a.wait()
    })?;
    h.a.fninit()
}

/// The `fpu_ferr` ROM.
pub fn build_ferr() -> Result<Vec<u8>, IcedError> {
    let mut h = Harness::new(FERR_NAME)?;
    install_recorders(&mut h, FERR_NAME, &[MF])?;
    clear_records(&mut h.a)?;
    constants(&mut h.a)?;
    irq13(&mut h)?;
    h.finish()
}

const FERR_NAME: &str = "fpu_ferr";

/// Real mode with CR0.NE = 0: the pending exception asserts FERR#, which
/// the PC routes to IRQ13 (slave 8259A, vector 75h); no #MF. The handler
/// clears the exception (FNCLEX), writes port F0h and acknowledges both
/// PICs.
fn irq13(h: &mut Harness) -> Result<(), IcedError> {
    h.print("FERR# and IRQ13\r\n")?;
    let a = &mut h.a;
    a.mov(word_ptr(IRQ13_HITS).ss(), 0u32)?;
    install_handler(a, 0x75, |a| {
        a.push(ax)?;
        a.inc(word_ptr(IRQ13_HITS).ss())?;
        a.fnclex()?;
        a.xor(al, al)?;
        a.out(0xf0, al)?;
        a.mov(al, 0x20u32)?;
        a.out(0xa0, al)?;
        a.out(0x20, al)?;
        a.pop(ax)?;
        a.iret()
    })?;
    crate::pc_timers::init_pics(a)?;
    crate::pc_timers::virtual_wire(a)?;
    // Unmask the cascade (master IR2) and IRQ13 (slave IR5).
    a.mov(al, 0xfbu32)?;
    a.out(0x21, al)?;
    a.mov(al, 0xdfu32)?;
    a.out(0xa1, al)?;
    cr0_bits(a, 0, NE)?;
    expect_no_fault(h, "real NE=0: no #MF", |a| {
        a.fninit()?;
        a.fldcw(word_ptr(FCW_ZM_UNMASKED).ss())?;
        a.fld1()?;
        a.fldz()?;
        a.fdivp(st1, st0)?;
        a.sti()?;
        a.wait()?;
        a.mov(cx, 100u32)?;
        let mut spin = a.create_label();
        a.set_label(&mut spin)?;
        a.loop_(spin)?;
        a.cli()
    })?;
    h.check(m16(ptr(IRQ13_HITS).ss()), 1, "real NE=0: IRQ13 taken once")?;
    h.a.fnstsw(ax)?;
    h.a.and(ax, 0x80ffu32)?;
    h.check(ax, 0, "real NE=0: handler's FNCLEX")?;
    let a = &mut h.a;
    // Mask the PICs again, NE back on.
    a.mov(al, 0xffu32)?;
    a.out(0x21, al)?;
    a.out(0xa1, al)?;
    cr0_bits(a, NE, 0)?;
    a.fninit()
}

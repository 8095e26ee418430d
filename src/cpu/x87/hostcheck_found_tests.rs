//! The behaviours `xlat hostcheck` found the host CPU to have where xlat
//! differed, one test each: one instruction from a prepared x87 state in
//! real mode.

use super::float80::{sw, F80, J};
use crate::cpu::state::{cr0, Segment, CS};
use crate::cpu::Cpu;
use crate::devices::bus::PortBus;
use crate::mem::GuestMemory;

/// Runs `code` (one instruction) with the stack holding `stack` (pushed
/// in order, so the last is ST(0)) under control word `fcw`; `mem` is
/// placed at 0x200. Returns the CPU.
fn run(fcw: u16, stack: &[F80], mem: &[u8], code: &[u8]) -> Cpu {
    let mut m = GuestMemory::new(1 << 16).unwrap();
    m.write_bytes(0x200, mem);
    m.write_bytes(0x100, code);
    let mut cpu = Cpu::new();
    cpu.state.seg[CS] = Segment::real_mode(0, Segment::ATTR_REAL_CODE);
    cpu.state.rip = 0x100;
    cpu.state.cr0 |= cr0::NE;
    let x = &mut cpu.state.x87;
    x.init();
    x.fcw = fcw;
    for &v in stack {
        x.push(v);
    }
    cpu.run(&mut m, &mut PortBus::default(), 1, None);
    assert_eq!(
        cpu.state.rip,
        0x100 + code.len() as u64,
        "{code:02x?} faulted"
    );
    cpu
}

fn top(cpu: &Cpu) -> u16 {
    (cpu.state.x87.fsw >> 11) & 7
}

const DENORMAL: F80 = F80 { sig: 1, se: 0 };
const ALL_MASKED: u16 = 0x037f;

#[test]
fn fcomp_with_unmasked_denormal_sets_cc_but_does_not_pop() {
    // fcomp st1 with ST(0) a denormal and #D unmasked.
    let cpu = run(0x037d, &[F80::ONE, DENORMAL], &[], &[0xd8, 0xd9]);
    let fsw = cpu.state.x87.fsw;
    assert_eq!(fsw & (sw::DE | sw::ES), sw::DE | sw::ES);
    assert_eq!(fsw & (sw::C3 | sw::C2 | sw::C0), sw::C0, "less");
    assert_eq!(top(&cpu), 6, "not popped");
}

#[test]
fn fcom_underflow_with_unmasked_invalid_says_unordered() {
    let cpu = run(0x037e, &[], &[], &[0xd8, 0xd1]);
    let fsw = cpu.state.x87.fsw;
    assert_eq!(fsw & (sw::IE | sw::SF), sw::IE | sw::SF);
    assert_eq!(fsw & sw::CC, sw::C3 | sw::C2 | sw::C0);
}

#[test]
fn fcomi_leaves_c1_alone() {
    let mut m = GuestMemory::new(1 << 16).unwrap();
    m.write_bytes(0x100, &[0xdb, 0xf1]); // fcomi st1
    let mut cpu = Cpu::new();
    cpu.state.seg[CS] = Segment::real_mode(0, Segment::ATTR_REAL_CODE);
    cpu.state.rip = 0x100;
    let x = &mut cpu.state.x87;
    x.init();
    x.push(F80::ONE);
    x.push(F80::ONE);
    x.fsw |= sw::C1;
    cpu.run(&mut m, &mut PortBus::default(), 1, None);
    assert_ne!(cpu.state.x87.fsw & sw::C1, 0);
}

#[test]
fn fld_of_an_empty_register_is_an_underflow_even_over_a_full_st7() {
    // Seven full registers: ST(7) is full, and ST(7) is the empty source.
    let stack = [F80::ONE; 7];
    let mut cpu = run(ALL_MASKED, &stack, &[], &[0xd9, 0xc7]);
    let x = &mut cpu.state.x87;
    assert_eq!(
        x.fsw & (sw::IE | sw::SF | sw::C1),
        sw::IE | sw::SF,
        "C1 = 0"
    );
    assert_eq!(x.st(0), F80::INDEFINITE);
    assert!(!x.is_empty(0));
}

#[test]
fn fld_of_a_denormal_single_loads_even_with_denormal_unmasked() {
    let cpu = run(0x037d, &[], &1u32.to_le_bytes(), &[0xd9, 0x06, 0x00, 0x02]);
    let x = &cpu.state.x87;
    assert_eq!(x.fsw & (sw::DE | sw::ES), sw::DE | sw::ES);
    assert!(!x.is_empty(0));
    assert_eq!(x.st(0).exp(), 16383 - 149);
}

#[test]
fn a_denormal_over_zero_is_divide_by_zero_alone() {
    // fdiv st0, st1: a denormal ST(0) over a zero ST(1).
    let cpu = run(ALL_MASKED, &[F80::ZERO, DENORMAL], &[], &[0xd8, 0xf1]);
    let x = &cpu.state.x87;
    assert_eq!(x.fsw & sw::EXCEPTIONS, sw::ZE);
    assert_eq!(x.st(0), F80::INFINITY);
    // FDIVR of a denormal double over a zero ST(0): the same.
    let cpu = run(
        ALL_MASKED,
        &[F80::ZERO],
        &1u64.to_le_bytes(),
        &[0xdc, 0x3e, 0x00, 0x02],
    );
    assert_eq!(cpu.state.x87.fsw & sw::EXCEPTIONS, sw::ZE);
}

#[test]
fn fstpnce_of_an_empty_st0_only_pops() {
    let mut m = GuestMemory::new(1 << 16).unwrap();
    m.write_bytes(0x100, &[0xd9, 0xd9]); // fstpnce st1
    let mut cpu = Cpu::new();
    cpu.state.seg[CS] = Segment::real_mode(0, Segment::ATTR_REAL_CODE);
    cpu.state.rip = 0x100;
    let x = &mut cpu.state.x87;
    x.init();
    x.push(F80::ONE);
    x.push(F80::ZERO);
    x.free(0);
    cpu.run(&mut m, &mut PortBus::default(), 1, None);
    let x = &cpu.state.x87;
    assert_eq!(x.fsw & sw::EXCEPTIONS, 0, "nothing raised");
    assert_eq!(top(&cpu), 7, "popped");
    assert_eq!(x.st(0), F80::ONE, "ST(1) untouched");
}

#[test]
fn fprem_clears_c2_on_nan_and_keeps_c0_c3() {
    let nan = F80::INDEFINITE;
    let mut m = GuestMemory::new(1 << 16).unwrap();
    m.write_bytes(0x100, &[0xd9, 0xf8]);
    let mut cpu = Cpu::new();
    cpu.state.seg[CS] = Segment::real_mode(0, Segment::ATTR_REAL_CODE);
    cpu.state.rip = 0x100;
    let x = &mut cpu.state.x87;
    x.init();
    x.push(F80::ONE);
    x.push(nan);
    x.fsw |= sw::C3 | sw::C2 | sw::C0;
    cpu.run(&mut m, &mut PortBus::default(), 1, None);
    assert_eq!(cpu.state.x87.fsw & sw::CC, sw::C3 | sw::C0);
}

#[test]
fn fprem_writes_a_bottom_remainder_as_a_normal() {
    // 1.5 * 2^-16382 rem 2^-16382 = 0.5 * 2^-16382 ... with J set at the
    // bottom exponent it must read exponent 1.
    let a = F80::new(false, 1, J | (J >> 1));
    let b = F80::new(false, 1, J);
    let cpu = run(ALL_MASKED, &[b, a], &[], &[0xd9, 0xf8]);
    let r = cpu.state.x87.st(0);
    assert!(r.exp() != 0 || r.sig & J == 0, "pseudo-denormal {r:?}");
}

#[test]
fn trig_and_fxtract_underflow_push_over_a_full_st7_and_clear_c2() {
    for code in [[0xd9, 0xfb], [0xd9, 0xf2], [0xd9, 0xf4]] {
        // ST(0) empty, ST(7) full: TOP=0 with only R7 (ST(7)) full.
        let mut m = GuestMemory::new(1 << 16).unwrap();
        m.write_bytes(0x100, &code);
        let mut cpu = Cpu::new();
        cpu.state.seg[CS] = Segment::real_mode(0, Segment::ATTR_REAL_CODE);
        cpu.state.rip = 0x100;
        let x = &mut cpu.state.x87;
        x.init();
        x.push(F80::ONE);
        x.set_top(0);
        x.fsw |= sw::C2;
        cpu.run(&mut m, &mut PortBus::default(), 1, None);
        let x = &cpu.state.x87;
        assert_eq!(top(&cpu), 7, "{code:02x?} pushed");
        assert_eq!(x.st(0), F80::INDEFINITE);
        if code[1] != 0xf4 {
            assert_eq!(x.fsw & sw::C2, 0, "{code:02x?}");
        }
    }
}

#[test]
fn fldenv_of_a_16_bit_protected_mode_image_zeroes_fop() {
    // 32-bit protected mode, o16 fldenv [0x200].
    let mut m = GuestMemory::new(1 << 16).unwrap();
    let mut env = [0u8; 14];
    env[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    env[4..6].copy_from_slice(&0xffffu16.to_le_bytes());
    m.write_bytes(0x200, &env);
    m.write_bytes(0x100, &[0x66, 0xd9, 0x25, 0x00, 0x02, 0x00, 0x00]);
    let mut cpu = Cpu::new();
    let s = &mut cpu.state;
    s.cr0 |= cr0::PE;
    s.seg[CS] = Segment {
        selector: 0x8,
        attr: 0xc09b,
        limit: 0xffff_ffff,
        base: 0,
    };
    for seg in [crate::cpu::state::DS, crate::cpu::state::SS] {
        s.seg[seg] = Segment {
            selector: 0x10,
            attr: 0xc093,
            limit: 0xffff_ffff,
            base: 0,
        };
    }
    s.rip = 0x100;
    s.x87.fop = 0x123;
    cpu.run(&mut m, &mut PortBus::default(), 1, None);
    assert_eq!(cpu.state.rip, 0x107);
    assert_eq!(cpu.state.x87.fop, 0);
}

#[test]
fn out_of_range_trig_sets_c2_and_clears_c1() {
    let huge = F80::new(false, 16383 + 63, J);
    let mut m = GuestMemory::new(1 << 16).unwrap();
    m.write_bytes(0x100, &[0xd9, 0xfe]); // fsin
    let mut cpu = Cpu::new();
    cpu.state.seg[CS] = Segment::real_mode(0, Segment::ATTR_REAL_CODE);
    cpu.state.rip = 0x100;
    let x = &mut cpu.state.x87;
    x.init();
    x.push(huge);
    x.fsw |= sw::C1;
    cpu.run(&mut m, &mut PortBus::default(), 1, None);
    let x = &cpu.state.x87;
    assert_eq!(x.fsw & (sw::C2 | sw::C1), sw::C2);
    assert_eq!(x.st(0), huge);
}

#[test]
fn trig_of_a_tiny_argument_reports_no_rounding_up_below_2_pow_minus_69() {
    // Measured on the host: FSIN and FCOS of 2^-70 give x and 1 with #P
    // and C1 = 0; of 2^-68, C1 = 1.
    for (exp, c1) in [(0x3fff - 70, 0), (0x3fff - 68, sw::C1)] {
        let x = F80::new(false, exp, J);
        for code in [[0xd9, 0xfe], [0xd9, 0xff]] {
            let cpu = run(ALL_MASKED, &[x], &[], &code);
            let fsw = cpu.state.x87.fsw;
            assert_eq!(fsw & sw::PE, sw::PE, "{code:02x?} {exp:#x}");
            assert_eq!(fsw & sw::C1, c1, "{code:02x?} {exp:#x}");
            let want = if code[1] == 0xfe { x } else { F80::ONE };
            assert_eq!(cpu.state.x87.st(0), want, "{code:02x?} {exp:#x}");
        }
    }
}

#[test]
fn fscale_by_zero_returns_a_denormal_without_underflow() {
    // Host: ST(0) unchanged, #D only, though #U is unmasked (FCW 036Fh).
    let d = F80::new(false, 0, 0x3cbb24994b365faf);
    for zero in [F80::new(false, 0, 0), F80::new(true, 0, 0)] {
        let cpu = run(0x036f, &[zero, d], &[], &[0xd9, 0xfd]);
        let x = &cpu.state.x87;
        assert_eq!(x.st(0), d);
        assert_eq!(x.fsw & 0x3f, sw::DE);
    }
}

//! Differential tests against the host's own x87 (x86-64 hosts only): the
//! same operands, control word and instruction bytes run natively and
//! through the interpreter, and the registers and status words must agree.

use super::float80::{sw, F80, J};
use crate::cpu::state::{cr0, Segment, CS};
use crate::cpu::Cpu;
use crate::devices::bus::PortBus;
use crate::mem::GuestMemory;
use std::arch::asm;

/// Defines a function that runs `$op` on the host x87 with ST(1) and ST(0)
/// loaded under control word `fcw`, and returns ST(0), ST(1) and the status
/// word right after it.
macro_rules! host_op {
    ($name:ident, $op:literal) => {
        fn $name(fcw: u16, st1: F80, st0: F80) -> (F80, F80, u16) {
            let a = st1.to_bytes();
            let b = st0.to_bytes();
            let mut r0 = [0u8; 10];
            let mut r1 = [0u8; 10];
            let mut status = 0u16;
            let default_cw = 0x037fu16;
            // SAFETY: the block only touches the x87 stack (declared
            // clobbered, and left empty by FNINIT) and the locals passed
            // by pointer; exceptions are cleared before any waiting
            // instruction could trap.
            unsafe {
                asm!(
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    "fld tbyte ptr [{a}]",
                    "fld tbyte ptr [{b}]",
                    $op,
                    "fnstsw word ptr [{sw}]",
                    "fnclex",
                    "fldcw word ptr [{dcw}]",
                    "fstp tbyte ptr [{r0}]",
                    "fstp tbyte ptr [{r1}]",
                    "fninit",
                    cw = in(reg) &fcw,
                    dcw = in(reg) &default_cw,
                    a = in(reg) a.as_ptr(),
                    b = in(reg) b.as_ptr(),
                    sw = in(reg) &mut status,
                    r0 = in(reg) r0.as_mut_ptr(),
                    r1 = in(reg) r1.as_mut_ptr(),
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                    options(nostack),
                );
            }
            (F80::from_bytes(&r0), F80::from_bytes(&r1), status)
        }
    };
}

host_op!(host_faddp, ".byte 0xde, 0xc1");
host_op!(host_fsubp, ".byte 0xde, 0xe9");
host_op!(host_fsubrp, ".byte 0xde, 0xe1");
host_op!(host_fmulp, ".byte 0xde, 0xc9");
host_op!(host_fdivp, ".byte 0xde, 0xf9");
host_op!(host_fdivrp, ".byte 0xde, 0xf1");
host_op!(host_fsqrt, ".byte 0xd9, 0xfa");
host_op!(host_frndint, ".byte 0xd9, 0xfc");
host_op!(host_fscale, ".byte 0xd9, 0xfd");
host_op!(host_fprem, ".byte 0xd9, 0xf8");
host_op!(host_fprem1, ".byte 0xd9, 0xf5");
host_op!(host_fxtract, ".byte 0xd9, 0xf4");
host_op!(host_fcom, ".byte 0xd8, 0xd1");
host_op!(host_fucom, ".byte 0xdd, 0xe1");
host_op!(host_fxam, ".byte 0xd9, 0xe5");
host_op!(host_ftst, ".byte 0xd9, 0xe4");
host_op!(host_fsin, ".byte 0xd9, 0xfe");
host_op!(host_fcos, ".byte 0xd9, 0xff");
host_op!(host_fsincos, ".byte 0xd9, 0xfb");
host_op!(host_fptan, ".byte 0xd9, 0xf2");
host_op!(host_fpatan, ".byte 0xd9, 0xf3");
host_op!(host_f2xm1, ".byte 0xd9, 0xf0");
host_op!(host_fyl2x, ".byte 0xd9, 0xf1");
host_op!(host_fyl2xp1, ".byte 0xd9, 0xf9");
host_op!(host_fldpi, ".byte 0xd9, 0xeb");
host_op!(host_fldlg2, ".byte 0xd9, 0xec");
host_op!(host_fldl2e, ".byte 0xd9, 0xea");

struct Faults(Option<crate::cpu::Fault>);

impl crate::cpu::Observer for Faults {
    fn before(&mut self, _: &crate::cpu::CpuState, _: &iced_x86::Instruction, _: &[u8]) {}
    fn after(&mut self, _: &crate::cpu::CpuState, fault: Option<crate::cpu::Fault>) {
        self.0 = self.0.or(fault);
    }
}

/// The same in the interpreter: one instruction in real mode.
pub(super) fn emu_op(fcw: u16, st1: F80, st0: F80, code: &[u8]) -> (F80, F80, u16) {
    let mut mem = GuestMemory::new(1 << 16).unwrap();
    let mut io = PortBus::default();
    mem.write_bytes(0x100, code);
    let mut cpu = Cpu::new();
    cpu.state.seg[CS] = Segment::real_mode(0, Segment::ATTR_REAL_CODE);
    cpu.state.rip = 0x100;
    cpu.state.cr0 |= cr0::NE;
    let x = &mut cpu.state.x87;
    x.init();
    x.fcw = fcw;
    x.push(st1);
    x.push(st0);
    let mut seen = Faults(None);
    cpu.run(&mut mem, &mut io, 1, Some(&mut seen));
    assert_eq!(seen.0, None, "{code:02x?} faulted");
    let x = &cpu.state.x87;
    (x.st(0), x.st(1), x.fsw)
}

pub(super) struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// An operand biased toward edges: zeros, denormals, the exponent
    /// extremes, NaNs, unsupported encodings and short significands
    /// (exact results and ties).
    pub fn operand(&mut self, near: Option<F80>) -> F80 {
        let r = self.next();
        let sign = r & 1 != 0;
        let exp: u16 = match (r >> 1) % 20 {
            0 => 0,
            1 => 0x7fff,
            2 => 1 + (r >> 8) as u16 % 3,
            3 => 0x7ffe - (r >> 8) as u16 % 3,
            4..=9 if near.is_some() => {
                let e = near.unwrap().exp() as i32 + ((r >> 8) % 5) as i32 - 2;
                e.clamp(1, 0x7ffe) as u16
            }
            _ => (16383 - 70 + (r >> 8) % 140) as u16,
        };
        let s = self.next();
        let sig = match (r >> 24) % 8 {
            0 => J | (s & 0xffff_0000_0000_0000),
            1 => J | (s >> 40),
            2 => s & !J,
            3 => J | 1 << 62 | (s & 0xff),
            _ => J | s,
        };
        let drop_j = if exp == 0 {
            (r >> 30) % 4 != 0
        } else {
            (r >> 30) % 64 == 0
        };
        let sig = if drop_j { sig & !J } else { sig };
        F80::new(sign, exp, sig)
    }

    pub fn control_word(&mut self) -> u16 {
        let r = self.next();
        let masks = if r % 3 == 0 {
            (r >> 8) as u16 & 0x3f
        } else {
            0x3f
        };
        let pc = [0x300u16, 0x200, 0x000][(r >> 16) as usize % 3];
        let rc = ((r >> 20) as u16 & 3) << 10;
        0x40 | masks | pc | rc
    }
}

type HostFn = fn(u16, F80, F80) -> (F80, F80, u16);

/// Runs `n` random cases of one instruction; `both` compares ST(1) too.
fn differential(name: &str, host: HostFn, code: &[u8], both: bool, seed: u64, n: usize) {
    let mut rng = Rng(seed);
    let mut failures = Vec::new();
    for _ in 0..n {
        let fcw = rng.control_word();
        let a = rng.operand(None);
        let b = rng.operand(Some(a));
        let h = host(fcw, a, b);
        let e = emu_op(fcw, a, b, code);
        let ok = h.0 == e.0 && h.2 == e.2 && (!both || h.1 == e.1);
        if !ok && failures.len() < 12 {
            failures.push(format!(
                "{name} fcw={fcw:04x} st1={:04x}:{:016x} st0={:04x}:{:016x}\n   host st0={:04x}:{:016x} st1={:04x}:{:016x} sw={:04x}\n   emu  st0={:04x}:{:016x} st1={:04x}:{:016x} sw={:04x}",
                a.se, a.sig, b.se, b.sig, h.0.se, h.0.sig, h.1.se, h.1.sig, h.2, e.0.se, e.0.sig,
                e.1.se, e.1.sig, e.2
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn add_sub_match_the_host() {
    differential("faddp", host_faddp, &[0xde, 0xc1], false, 1, 20000);
    differential("fsubp", host_fsubp, &[0xde, 0xe9], false, 2, 20000);
    differential("fsubrp", host_fsubrp, &[0xde, 0xe1], false, 3, 10000);
}

#[test]
fn mul_div_match_the_host() {
    differential("fmulp", host_fmulp, &[0xde, 0xc9], false, 4, 20000);
    differential("fdivp", host_fdivp, &[0xde, 0xf9], false, 5, 20000);
    differential("fdivrp", host_fdivrp, &[0xde, 0xf1], false, 6, 10000);
}

#[test]
fn sqrt_rndint_scale_match_the_host() {
    differential("fsqrt", host_fsqrt, &[0xd9, 0xfa], true, 7, 20000);
    differential("frndint", host_frndint, &[0xd9, 0xfc], true, 8, 20000);
    differential("fscale", host_fscale, &[0xd9, 0xfd], true, 9, 20000);
    differential("fxtract", host_fxtract, &[0xd9, 0xf4], true, 10, 10000);
}

#[test]
fn remainders_match_the_host() {
    differential("fprem", host_fprem, &[0xd9, 0xf8], true, 11, 20000);
    differential("fprem1", host_fprem1, &[0xd9, 0xf5], true, 12, 20000);
}

#[test]
fn compares_and_fxam_match_the_host() {
    differential("fcom", host_fcom, &[0xd8, 0xd1], true, 13, 10000);
    differential("fucom", host_fucom, &[0xdd, 0xe1], true, 14, 10000);
    differential("ftst", host_ftst, &[0xd9, 0xe4], true, 15, 5000);
    differential("fxam", host_fxam, &[0xd9, 0xe5], true, 16, 5000);
}

#[test]
fn constants_match_the_host() {
    for rc in 0..4u16 {
        let fcw = 0x037f | (rc << 10);
        let z = F80::ZERO;
        for (host, code) in [
            (host_fldpi as HostFn, [0xd9, 0xeb]),
            (host_fldlg2, [0xd9, 0xec]),
            (host_fldl2e, [0xd9, 0xea]),
        ] {
            // Two registers are in use, so the load lands in ST(0) with
            // the others below it.
            let h = host(fcw, z, z);
            let e = emu_op(fcw, z, z, &code);
            assert_eq!((h.0, h.2), (e.0, e.2), "{code:02x?} rc {rc}");
        }
    }
}

/// Transcendentals: within `ulps` units in the last place of the host.
fn close(name: &str, host: HostFn, code: &[u8], seed: u64, n: usize, ulps: u64, both: bool) {
    let mut rng = Rng(seed);
    let mut failures = Vec::new();
    let mut worst = 0u64;
    for _ in 0..n {
        let a = rng.operand(None);
        let mut b = rng.operand(Some(a));
        if code == [0xd9, 0xf0] || code == [0xd9, 0xf9] {
            // F2XM1 and FYL2XP1 are defined only on a small range.
            let limit = if code[1] == 0xf0 { 16383 } else { 16381 };
            if b.exp() >= limit && b.exp() != 0x7fff {
                b = F80::new(b.sign(), limit - 1 - (b.exp() & 7), b.sig);
            }
        }
        let fcw = 0x037f;
        let h = host(fcw, a, b);
        let e = emu_op(fcw, a, b, code);
        let diff = |x: F80, y: F80| -> u64 {
            if x == y {
                return 0;
            }
            if x.se != y.se {
                // Neighbours across a binade boundary.
                let wide =
                    |v: F80| ((v.exp() as i128) << 63) + (v.sig as i128 & 0x7fff_ffff_ffff_ffff);
                if x.sign() == y.sign() {
                    return (wide(x) - wide(y)).unsigned_abs().min(u64::MAX as u128) as u64;
                }
                return u64::MAX;
            }
            x.sig.abs_diff(y.sig)
        };
        let d = if both {
            diff(h.0, e.0).max(diff(h.1, e.1))
        } else {
            diff(h.0, e.0)
        };
        let sw_ok = (h.2 & !(sw::PE | sw::C1)) == (e.2 & !(sw::PE | sw::C1));
        if d <= ulps && d > worst {
            worst = d;
        }
        if (d > ulps || !sw_ok) && failures.len() < 12 {
            failures.push(format!(
                "{name} st1={:04x}:{:016x} st0={:04x}:{:016x}\n   host st0={:04x}:{:016x} st1={:04x}:{:016x} sw={:04x}\n   emu  st0={:04x}:{:016x} st1={:04x}:{:016x} sw={:04x}",
                a.se, a.sig, b.se, b.sig, h.0.se, h.0.sig, h.1.se, h.1.sig, h.2, e.0.se, e.0.sig,
                e.1.se, e.1.sig, e.2
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{name}: worst difference {worst} ulp");
}

#[test]
fn transcendentals_are_close_to_the_host() {
    close("fsin", host_fsin, &[0xd9, 0xfe], 21, 5000, 1, true);
    close("fcos", host_fcos, &[0xd9, 0xff], 22, 5000, 1, true);
    close("fsincos", host_fsincos, &[0xd9, 0xfb], 23, 5000, 1, true);
    close("fptan", host_fptan, &[0xd9, 0xf2], 24, 5000, 1, true);
    close("fpatan", host_fpatan, &[0xd9, 0xf3], 25, 5000, 1, false);
    close("f2xm1", host_f2xm1, &[0xd9, 0xf0], 26, 5000, 1, false);
    close("fyl2x", host_fyl2x, &[0xd9, 0xf1], 27, 5000, 1, false);
    close("fyl2xp1", host_fyl2xp1, &[0xd9, 0xf9], 28, 5000, 1, false);
}

/// Defines a host function that stores ST(0) with `$op` (memory operand
/// `[{m}]`) and returns the 10 bytes written and the status word.
macro_rules! host_store {
    ($name:ident, $op:literal) => {
        fn $name(fcw: u16, st0: F80) -> ([u8; 10], u16) {
            let b = st0.to_bytes();
            let mut out = [0u8; 10];
            let mut status = 0u16;
            // SAFETY: as in `host_op!`.
            unsafe {
                asm!(
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    "fld tbyte ptr [{b}]",
                    $op,
                    "fnstsw word ptr [{sw}]",
                    "fninit",
                    cw = in(reg) &fcw,
                    b = in(reg) b.as_ptr(),
                    m = in(reg) out.as_mut_ptr(),
                    sw = in(reg) &mut status,
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                    options(nostack),
                );
            }
            (out, status)
        }
    };
}

host_store!(host_fst32, "fstp dword ptr [{m}]");
host_store!(host_fst64, "fstp qword ptr [{m}]");
host_store!(host_fist16, "fistp word ptr [{m}]");
host_store!(host_fist32, "fistp dword ptr [{m}]");
host_store!(host_fist64, "fistp qword ptr [{m}]");
host_store!(host_fisttp32, "fisttp dword ptr [{m}]");
host_store!(host_fbstp, "fbstp tbyte ptr [{m}]");

/// The interpreter side: ST(0) stored to 0:0x400 by `code` (real mode,
/// 16-bit addressing).
fn emu_store(fcw: u16, st0: F80, code: &[u8]) -> ([u8; 10], u16) {
    let mut mem = GuestMemory::new(1 << 16).unwrap();
    let mut io = PortBus::default();
    mem.write_bytes(0x100, code);
    let mut cpu = Cpu::new();
    cpu.state.seg[CS] = Segment::real_mode(0, Segment::ATTR_REAL_CODE);
    cpu.state.rip = 0x100;
    let x = &mut cpu.state.x87;
    x.init();
    x.fcw = fcw;
    x.push(st0);
    let mut seen = Faults(None);
    cpu.run(&mut mem, &mut io, 1, Some(&mut seen));
    assert_eq!(seen.0, None, "{code:02x?} faulted");
    let mut out = [0u8; 10];
    for (i, b) in out.iter_mut().enumerate() {
        *b = mem.read_u8(0x400 + i as u64);
    }
    (out, cpu.state.x87.fsw)
}

#[test]
fn memory_stores_match_the_host() {
    type Store = fn(u16, F80) -> ([u8; 10], u16);
    let cases: [(&str, Store, [u8; 4]); 7] = [
        ("fstp m32", host_fst32, [0xd9, 0x1e, 0x00, 0x04]),
        ("fstp m64", host_fst64, [0xdd, 0x1e, 0x00, 0x04]),
        ("fistp m16", host_fist16, [0xdf, 0x1e, 0x00, 0x04]),
        ("fistp m32", host_fist32, [0xdb, 0x1e, 0x00, 0x04]),
        ("fistp m64", host_fist64, [0xdf, 0x3e, 0x00, 0x04]),
        ("fisttp m32", host_fisttp32, [0xdb, 0x0e, 0x00, 0x04]),
        ("fbstp", host_fbstp, [0xdf, 0x36, 0x00, 0x04]),
    ];
    let mut failures = Vec::new();
    for (n, (name, host, code)) in cases.iter().enumerate() {
        let mut rng = Rng(100 + n as u64);
        for _ in 0..10000 {
            let fcw = rng.control_word();
            let mut v = rng.operand(None);
            if n >= 2 && rng.next() % 2 == 0 {
                // Integer-sized magnitudes, where the range checks bite.
                v = F80::new(v.sign(), 16383 + (rng.next() % 66) as u16, v.sig);
            }
            let h = host(fcw, v);
            let e = emu_store(fcw, v, code);
            if h != e && failures.len() < 12 {
                failures.push(format!(
                    "{name} fcw={fcw:04x} v={:04x}:{:016x}\n   host {:02x?} sw={:04x}\n   emu  {:02x?} sw={:04x}",
                    v.se, v.sig, h.0, h.1, e.0, e.1
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn control_word_and_environment_words_match_the_host() {
    for cw in [0x0000u16, 0xffff, 0x1234, 0x037f, 0xf0c0] {
        let mut env = [0u8; 28];
        // SAFETY: as in `host_op!`; FNSTENV writes the 28 bytes of `env`.
        unsafe {
            asm!(
                "fninit",
                "fldcw word ptr [{cw}]",
                "fld1",
                "fnstenv [{m}]",
                "fninit",
                cw = in(reg) &cw,
                m = in(reg) env.as_mut_ptr(),
                out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                options(nostack),
            );
        }
        let mut x = crate::cpu::state::X87State {
            fcw: (cw & 0x1f7f) | 0x40,
            ..Default::default()
        };
        x.push(F80::ONE);
        let layout = super::environment::Layout {
            op32: true,
            real: false,
        };
        let ours = super::environment::store_env(&x, layout);
        assert_eq!(ours[..12], env[..12], "fcw {cw:04x}");
    }
}

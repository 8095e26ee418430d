//! What the integer ALU instructions compute, written from the SDM's
//! descriptions (vol. 2, ADD..XOR, SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR), so the
//! ALU ROM can carry its expected results and flags as constants.
//!
//! Only flags the SDM defines for a case are in `Outcome::mask`; the unit
//! test at the bottom checks the model against the host CPU.

pub const CF: u16 = 1 << 0;
pub const PF: u16 = 1 << 2;
pub const AF: u16 = 1 << 4;
pub const ZF: u16 = 1 << 6;
pub const SF: u16 = 1 << 7;
pub const OF: u16 = 1 << 11;
pub const ARITH: u16 = CF | PF | AF | ZF | SF | OF;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Adc,
    Sub,
    Sbb,
    Cmp,
    And,
    Or,
    Xor,
    Test,
    Inc,
    Dec,
    Neg,
    Shl,
    Shr,
    Sar,
    Rol,
    Ror,
    Rcl,
    Rcr,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Adc => "adc",
            Op::Sub => "sub",
            Op::Sbb => "sbb",
            Op::Cmp => "cmp",
            Op::And => "and",
            Op::Or => "or",
            Op::Xor => "xor",
            Op::Test => "test",
            Op::Inc => "inc",
            Op::Dec => "dec",
            Op::Neg => "neg",
            Op::Shl => "shl",
            Op::Shr => "shr",
            Op::Sar => "sar",
            Op::Rol => "rol",
            Op::Ror => "ror",
            Op::Rcl => "rcl",
            Op::Rcr => "rcr",
        }
    }

    pub fn is_shift(self) -> bool {
        matches!(
            self,
            Op::Shl | Op::Shr | Op::Sar | Op::Rol | Op::Ror | Op::Rcl | Op::Rcr
        )
    }

    pub fn is_unary(self) -> bool {
        matches!(self, Op::Inc | Op::Dec | Op::Neg)
    }
}

/// The destination's new value, FLAGS, and which arithmetic flags are defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub result: u32,
    pub flags: u16,
    pub mask: u16,
}

fn width_mask(width: u32) -> u64 {
    (1u64 << width) - 1
}

fn sign(width: u32, v: u64) -> bool {
    v >> (width - 1) & 1 != 0
}

/// SF, ZF, PF of a result.
fn szp(width: u32, r: u64) -> u16 {
    let mut f = 0;
    if sign(width, r) {
        f |= SF;
    }
    if r & width_mask(width) == 0 {
        f |= ZF;
    }
    if (r as u8).count_ones() % 2 == 0 {
        f |= PF;
    }
    f
}

fn add(width: u32, a: u64, b: u64, c: u64) -> (u64, u16) {
    let m = width_mask(width);
    let wide = a + b + c;
    let r = wide & m;
    let mut f = szp(width, r);
    if wide > m {
        f |= CF;
    }
    if sign(width, (a ^ r) & (b ^ r)) {
        f |= OF;
    }
    if (a ^ b ^ r) & 0x10 != 0 {
        f |= AF;
    }
    (r, f)
}

fn sub(width: u32, a: u64, b: u64, c: u64) -> (u64, u16) {
    let m = width_mask(width);
    let r = a.wrapping_sub(b).wrapping_sub(c) & m;
    let mut f = szp(width, r);
    if a < b + c {
        f |= CF;
    }
    if sign(width, (a ^ b) & (a ^ r)) {
        f |= OF;
    }
    if (a ^ b ^ r) & 0x10 != 0 {
        f |= AF;
    }
    (r, f)
}

/// Evaluates `op dst, src` (src is the count for shifts and rotates; unused
/// by INC/DEC/NEG) on `width`-bit values, starting from `flags_in`.
pub fn eval(op: Op, width: u32, dst: u32, src: u32, flags_in: u16) -> Outcome {
    let m = width_mask(width);
    let a = u64::from(dst) & m;
    let b = u64::from(src) & m;
    let cf = u64::from(flags_in & CF);
    let (r, f, mask) = match op {
        Op::Add => (add(width, a, b, 0).0, add(width, a, b, 0).1, ARITH),
        Op::Adc => (add(width, a, b, cf).0, add(width, a, b, cf).1, ARITH),
        Op::Sub => (sub(width, a, b, 0).0, sub(width, a, b, 0).1, ARITH),
        Op::Sbb => (sub(width, a, b, cf).0, sub(width, a, b, cf).1, ARITH),
        Op::Cmp => (a, sub(width, a, b, 0).1, ARITH),
        // AF is undefined after the logical operations; CF and OF clear.
        Op::And => (a & b, szp(width, a & b), ARITH & !AF),
        Op::Or => (a | b, szp(width, a | b), ARITH & !AF),
        Op::Xor => (a ^ b, szp(width, a ^ b), ARITH & !AF),
        Op::Test => (a, szp(width, a & b), ARITH & !AF),
        // INC and DEC leave CF alone.
        Op::Inc => {
            let (r, f) = add(width, a, 1, 0);
            (r, (f & !CF) | (flags_in & CF), ARITH)
        }
        Op::Dec => {
            let (r, f) = sub(width, a, 1, 0);
            (r, (f & !CF) | (flags_in & CF), ARITH)
        }
        Op::Neg => {
            let (r, f) = sub(width, 0, a, 0);
            (r, f, ARITH)
        }
        _ => return shift(op, width, a, src, flags_in),
    };
    Outcome {
        result: r as u32,
        flags: f,
        mask,
    }
}

fn shift(op: Op, width: u32, a: u64, count: u32, flags_in: u16) -> Outcome {
    let m = width_mask(width);
    let n = count & 0x1f;
    let msb = |v: u64| sign(width, v);
    if n == 0 {
        // A masked count of zero changes nothing, flags included.
        return Outcome {
            result: a as u32,
            flags: flags_in & ARITH,
            mask: ARITH,
        };
    }
    let bit = |v: u64, i: u32| v >> i & 1 != 0;
    let (r, cf, of, szp_defined) = match op {
        Op::Shl => {
            assert!(
                n <= width,
                "CF is undefined for SHL counts beyond the width"
            );
            let r = (a << n) & m;
            let cf = bit(a, width - n);
            (r, cf, msb(r) ^ cf, true)
        }
        Op::Shr => {
            assert!(
                n <= width,
                "CF is undefined for SHR counts beyond the width"
            );
            let r = a >> n;
            (r, bit(a, n - 1), msb(a), true)
        }
        Op::Sar => {
            let signed = ((a << (64 - width)) as i64) >> (64 - width);
            let r = (signed >> n.min(width - 1)) as u64 & m;
            let cf = bit(signed as u64, (n - 1).min(63));
            (r, cf, false, true)
        }
        Op::Rol => {
            let k = n % width;
            let r = ((a << k) | (a >> ((width - k) % width))) & m;
            let cf = r & 1 != 0;
            (r, cf, msb(r) ^ cf, false)
        }
        Op::Ror => {
            let k = n % width;
            let r = ((a >> k) | (a << ((width - k) % width))) & m;
            (r, msb(r), msb(r) ^ bit(r, width - 2), false)
        }
        Op::Rcl | Op::Rcr => {
            // Rotate the (width + 1)-bit value CF:dst.
            let k = n % (width + 1);
            let mut v = a | (u64::from(flags_in & CF) << width);
            for _ in 0..k {
                v = if op == Op::Rcl {
                    ((v << 1) | (v >> width)) & (m << 1 | 1)
                } else {
                    ((v >> 1) | ((v & 1) << width)) & (m << 1 | 1)
                };
            }
            let r = v & m;
            let cf = bit(v, width);
            let of = if op == Op::Rcl {
                msb(r) ^ cf
            } else {
                msb(r) ^ bit(r, width - 2)
            };
            (r, cf, of, false)
        }
        _ => unreachable!("not a shift: {op:?}"),
    };
    let mut flags = if cf { CF } else { 0 };
    if of {
        flags |= OF;
    }
    // OF is defined for 1-bit counts only; AF is undefined after shifts;
    // rotates leave SF, ZF, AF and PF alone.
    let mut mask = CF;
    if n == 1 {
        mask |= OF;
    }
    if szp_defined {
        flags |= szp(width, r);
        mask |= SF | ZF | PF;
    } else {
        flags |= flags_in & (SF | ZF | PF | AF);
        mask |= SF | ZF | PF | AF;
    }
    Outcome {
        result: r as u32,
        flags: flags & mask,
        mask,
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod host_check {
    //! The model against the host CPU: every case the ALU ROM uses.
    use super::*;
    use std::arch::asm;

    macro_rules! host_op {
        ($insn:literal, $modifier:literal, $class:ident, $t:ty, $dst:expr, $src:expr, $flags_in:expr) => {{
            let mut d = $dst as $t;
            let s = $src as $t;
            let flags: u64;
            // SAFETY: register-only arithmetic; pushfq/popfq use the stack
            // asm! provides (no `nostack`), and only arithmetic flags change.
            unsafe {
                asm!(
                    "pushfq",
                    "and qword ptr [rsp], ~0x8d5",
                    "or qword ptr [rsp], {fin}",
                    "popfq",
                    concat!($insn, " {d:", $modifier, "}, {s:", $modifier, "}"),
                    "pushfq",
                    "pop {fout}",
                    d = inout($class) d,
                    s = in($class) s,
                    fin = in(reg) u64::from($flags_in),
                    fout = out(reg) flags,
                );
            }
            (d as u32, flags as u16)
        }};
    }

    macro_rules! host_unary {
        ($insn:literal, $modifier:literal, $class:ident, $t:ty, $dst:expr, $src:expr, $flags_in:expr) => {{
            let mut d = $dst as $t;
            let _ = $src;
            let flags: u64;
            // SAFETY: as in host_op.
            unsafe {
                asm!(
                    "pushfq",
                    "and qword ptr [rsp], ~0x8d5",
                    "or qword ptr [rsp], {fin}",
                    "popfq",
                    concat!($insn, " {d:", $modifier, "}"),
                    "pushfq",
                    "pop {fout}",
                    d = inout($class) d,
                    fin = in(reg) u64::from($flags_in),
                    fout = out(reg) flags,
                );
            }
            (d as u32, flags as u16)
        }};
    }

    macro_rules! host_shift {
        ($insn:literal, $modifier:literal, $class:ident, $t:ty, $dst:expr, $count:expr, $flags_in:expr) => {{
            let mut d = $dst as $t;
            let flags: u64;
            // SAFETY: as in host_op.
            unsafe {
                asm!(
                    "pushfq",
                    "and qword ptr [rsp], ~0x8d5",
                    "or qword ptr [rsp], {fin}",
                    "popfq",
                    concat!($insn, " {d:", $modifier, "}, cl"),
                    "pushfq",
                    "pop {fout}",
                    d = inout($class) d,
                    in("cl") $count as u8,
                    fin = in(reg) u64::from($flags_in),
                    fout = out(reg) flags,
                );
            }
            (d as u32, flags as u16)
        }};
    }

    macro_rules! by_width {
        ($mac:ident, $insn:literal, $width:expr, $d:expr, $s:expr, $f:expr) => {
            match $width {
                8 => $mac!($insn, "", reg_byte, u8, $d, $s, $f),
                16 => $mac!($insn, "x", reg, u16, $d, $s, $f),
                _ => $mac!($insn, "e", reg, u32, $d, $s, $f),
            }
        };
    }

    fn host(op: Op, width: u32, d: u32, s: u32, f: u16) -> (u32, u16) {
        match op {
            Op::Add => by_width!(host_op, "add", width, d, s, f),
            Op::Adc => by_width!(host_op, "adc", width, d, s, f),
            Op::Sub => by_width!(host_op, "sub", width, d, s, f),
            Op::Sbb => by_width!(host_op, "sbb", width, d, s, f),
            Op::Cmp => by_width!(host_op, "cmp", width, d, s, f),
            Op::And => by_width!(host_op, "and", width, d, s, f),
            Op::Or => by_width!(host_op, "or", width, d, s, f),
            Op::Xor => by_width!(host_op, "xor", width, d, s, f),
            Op::Test => by_width!(host_op, "test", width, d, s, f),
            Op::Inc => by_width!(host_unary, "inc", width, d, s, f),
            Op::Dec => by_width!(host_unary, "dec", width, d, s, f),
            Op::Neg => by_width!(host_unary, "neg", width, d, s, f),
            Op::Shl => by_width!(host_shift, "shl", width, d, s, f),
            Op::Shr => by_width!(host_shift, "shr", width, d, s, f),
            Op::Sar => by_width!(host_shift, "sar", width, d, s, f),
            Op::Rol => by_width!(host_shift, "rol", width, d, s, f),
            Op::Ror => by_width!(host_shift, "ror", width, d, s, f),
            Op::Rcl => by_width!(host_shift, "rcl", width, d, s, f),
            Op::Rcr => by_width!(host_shift, "rcr", width, d, s, f),
        }
    }

    #[test]
    fn model_matches_host_cpu() {
        for case in crate::alu::cases() {
            let want = eval(case.op, case.width, case.dst, case.src, case.flags_in);
            let (r, f) = host(case.op, case.width, case.dst, case.src, case.flags_in);
            assert_eq!(
                (r, f & want.mask),
                (want.result, want.flags & want.mask),
                "{}",
                case.describe()
            );
        }
    }
}

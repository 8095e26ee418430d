//! Lazy arithmetic flags: the last flag-producing operation is recorded as
//! (operation, size, operands, result) and the six status flags are computed
//! only when something reads them. Shared by the interpreter and the JIT.

use super::state::rflags::*;

/// Which operation produced the pending flags.
#[repr(u8)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlagOp {
    /// Nothing pending: RFLAGS holds the truth.
    #[default]
    None = 0,
    /// ADD/ADC: a + b (+ carry) = res.
    Add,
    /// SUB/SBB/CMP/NEG: a - b (- borrow) = res.
    Sub,
    /// AND/OR/XOR/TEST: CF = OF = AF = 0.
    Logic,
    /// INC: like Add with b = 1, CF untouched.
    Inc,
    /// DEC: like Sub with b = 1, CF untouched.
    Dec,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LazyFlags {
    pub op: FlagOp,
    /// Operand size in bytes (1, 2, 4, 8).
    pub size: u8,
    pub a: u64,
    pub b: u64,
    pub res: u64,
}

/// Parity of the low byte: PF is set when it has an even number of ones.
#[inline]
pub fn parity(v: u64) -> bool {
    (v as u8).count_ones() % 2 == 0
}

/// SF, ZF and PF of a result of `size` bytes.
#[inline]
pub fn szp(res: u64, size: u8) -> u64 {
    let bits = size as u32 * 8;
    let mask = u64::MAX >> (64 - bits);
    let mut f = 0;
    if res & mask == 0 {
        f |= ZF;
    }
    if (res >> (bits - 1)) & 1 != 0 {
        f |= SF;
    }
    if parity(res) {
        f |= PF;
    }
    f
}

impl LazyFlags {
    #[inline]
    pub fn set(&mut self, op: FlagOp, size: u8, a: u64, b: u64, res: u64) {
        *self = LazyFlags {
            op,
            size,
            a,
            b,
            res,
        };
    }

    #[inline]
    pub fn clear(&mut self) {
        self.op = FlagOp::None;
    }

    /// The flag bits this operation defines (the rest come from RFLAGS).
    #[inline]
    fn mask(&self) -> u64 {
        match self.op {
            FlagOp::None => 0,
            FlagOp::Inc | FlagOp::Dec => ARITH & !CF,
            _ => ARITH,
        }
    }

    /// The status flags the pending operation produced.
    pub fn compute(&self) -> u64 {
        let (a, b, r) = (self.a, self.b, self.res);
        let top = self.size as u32 * 8 - 1;
        let bit = |v: u64| (v >> top) & 1 != 0;
        let mut f = szp(r, self.size);
        match self.op {
            FlagOp::None => return 0,
            FlagOp::Logic => return f,
            FlagOp::Add | FlagOp::Inc => {
                // Carry out of the top bit, from the carry-chain identity.
                if bit((a & b) | ((a | b) & !r)) {
                    f |= CF;
                }
                if bit((a ^ r) & (b ^ r)) {
                    f |= OF;
                }
            }
            FlagOp::Sub | FlagOp::Dec => {
                if bit((!a & b) | (!(a ^ b) & r)) {
                    f |= CF;
                }
                if bit((a ^ b) & (a ^ r)) {
                    f |= OF;
                }
            }
        }
        if (a ^ b ^ r) & 0x10 != 0 {
            f |= AF;
        }
        f
    }

    /// The bits `want` of RFLAGS with the pending operation's flags merged
    /// in, computing only those (a Jcc needs one or two flags, not six).
    #[inline(always)]
    pub fn flag_bits(&self, rflags: u64, want: u64) -> u64 {
        let m = self.mask();
        let mut f = rflags & want & !m;
        let need = want & m;
        if need == 0 {
            return f;
        }
        let (a, b, r) = (self.a, self.b, self.res);
        let top = self.size as u32 * 8 - 1;
        let bit = |v: u64| (v >> (top & 63)) & 1 != 0;
        if need & ZF != 0 && r & (u64::MAX >> ((63 - top) & 63)) == 0 {
            f |= ZF;
        }
        if need & SF != 0 && bit(r) {
            f |= SF;
        }
        if need & PF != 0 && parity(r) {
            f |= PF;
        }
        if need & (CF | OF | AF) != 0 {
            // The carry-chain identities of `compute`, for the flags asked.
            let (carry, overflow) = match self.op {
                FlagOp::Add | FlagOp::Inc => ((a & b) | ((a | b) & !r), (a ^ r) & (b ^ r)),
                FlagOp::Sub | FlagOp::Dec => ((!a & b) | (!(a ^ b) & r), (a ^ b) & (a ^ r)),
                FlagOp::Logic | FlagOp::None => return f,
            };
            if need & CF != 0 && bit(carry) {
                f |= CF;
            }
            if need & OF != 0 && bit(overflow) {
                f |= OF;
            }
            if need & AF != 0 && (a ^ b ^ r) & 0x10 != 0 {
                f |= AF;
            }
        }
        f
    }

    /// RFLAGS with the pending operation's flags merged in.
    #[inline]
    pub fn merge(&self, rflags: u64) -> u64 {
        if self.op == FlagOp::None {
            return rflags;
        }
        let m = self.mask();
        (rflags & !m) | (self.compute() & m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asking for some flags gives what the whole computation gives.
    #[test]
    fn flag_bits_agree_with_compute() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let ops = [
            FlagOp::Add,
            FlagOp::Sub,
            FlagOp::Logic,
            FlagOp::Inc,
            FlagOp::Dec,
        ];
        for i in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let size = [1u8, 2, 4, 8][(x & 3) as usize];
            let mask = u64::MAX >> (64 - 8 * size as u32);
            let (a, b) = (x.rotate_left(7) & mask, (x >> 3).rotate_right(11) & mask);
            let op = ops[(i % 5) as usize];
            let r = match op {
                FlagOp::Add | FlagOp::Inc => a.wrapping_add(b),
                FlagOp::Sub | FlagOp::Dec => a.wrapping_sub(b),
                _ => a & b,
            } & mask;
            let mut l = LazyFlags::default();
            l.set(op, size, a, b, r);
            let rflags = x.rotate_left(23) & ARITH;
            let want = x.rotate_left(31) & ARITH;
            assert_eq!(
                l.flag_bits(rflags, want),
                l.merge(rflags) & want,
                "{op:?} {size} {a:x} {b:x}"
            );
        }
    }

    fn flags(op: FlagOp, size: u8, a: u64, b: u64, res: u64) -> u64 {
        let mut l = LazyFlags::default();
        l.set(op, size, a, b, res);
        l.compute()
    }

    #[test]
    fn add_sets_carry_and_overflow() {
        assert_eq!(flags(FlagOp::Add, 1, 0xff, 1, 0), CF | ZF | PF | AF);
        assert_eq!(flags(FlagOp::Add, 1, 0x7f, 1, 0x80), OF | SF | AF);
        // ADC with carry in: 0xff + 0 + 1 = 0 carry out.
        assert_eq!(flags(FlagOp::Add, 1, 0xff, 0, 0) & CF, CF);
    }

    #[test]
    fn sub_sets_borrow_and_overflow() {
        assert_eq!(flags(FlagOp::Sub, 2, 0, 1, 0xffff), CF | SF | PF | AF);
        assert_eq!(flags(FlagOp::Sub, 2, 0x8000, 1, 0x7fff), OF | PF | AF);
        // SBB 0 - 0 - 1 = all ones, borrow out.
        assert_eq!(flags(FlagOp::Sub, 1, 0, 0, 0xff) & CF, CF);
    }

    /// `flag_bits` agrees with the full computation for every flag subset.
    #[test]
    fn partial_flags_match_full_flags() {
        let samples = [
            (FlagOp::Add, 1, 0xff, 1, 0),
            (FlagOp::Sub, 2, 0x8000, 1, 0x7fff),
            (FlagOp::Logic, 4, 0xf0, 0x0f, 0),
            (FlagOp::Inc, 8, u64::MAX, 1, 0),
            (FlagOp::Dec, 1, 0, 1, 0xff),
            (FlagOp::None, 0, 0, 0, 0),
        ];
        for (op, size, a, b, res) in samples {
            let mut l = LazyFlags::default();
            l.set(op, size, a, b, res);
            for rflags in [0x2, 0x2 | ARITH] {
                for want in 0..=ARITH {
                    let want = want & ARITH;
                    assert_eq!(
                        l.flag_bits(rflags, want),
                        l.merge(rflags) & want,
                        "{op:?} size {size} want {want:#x}"
                    );
                }
            }
        }
    }

    #[test]
    fn inc_keeps_carry_from_rflags() {
        let mut l = LazyFlags::default();
        l.set(FlagOp::Inc, 1, 0xff, 1, 0);
        assert_eq!(l.merge(CF) & CF, CF);
        assert_eq!(l.merge(0) & (CF | ZF), ZF);
    }
}

//! A 128-bit-significand float for the transcendental functions' inner
//! evaluation (the role Bochs gives float128): about 126 good bits, so
//! that one final rounding to 64 bits lands within an ulp. Not IEEE: no
//! special values, inner roundings truncate into a sticky bit 0.

use super::float80::F80;
use super::softfloat::{self, Ctx};

/// `sig * 2^(exp - 127)`, with bit 127 of `sig` set (or `sig` zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wide {
    pub sign: bool,
    pub exp: i32,
    pub sig: u128,
}

/// The full 256-bit product of two 128-bit integers as (high, low).
fn mul_128(a: u128, b: u128) -> (u128, u128) {
    const M: u128 = u64::MAX as u128;
    let (ah, al, bh, bl) = (a >> 64, a & M, b >> 64, b & M);
    let ll = al * bl;
    let lh = al * bh;
    let hl = ah * bl;
    let hh = ah * bh;
    let mid = (ll >> 64) + (lh & M) + (hl & M);
    let lo = (ll & M) | (mid << 64);
    let hi = hh + (lh >> 64) + (hl >> 64) + (mid >> 64);
    (hi, lo)
}

impl Wide {
    pub const ZERO: Wide = Wide {
        sign: false,
        exp: 0,
        sig: 0,
    };
    pub const ONE: Wide = Wide {
        sign: false,
        exp: 0,
        sig: 1 << 127,
    };

    pub fn new(sign: bool, exp: i32, sig: u128) -> Wide {
        if sig == 0 {
            return Wide { sign, ..Wide::ZERO };
        }
        let lz = sig.leading_zeros();
        Wide {
            sign,
            exp: exp - lz as i32,
            sig: sig << lz,
        }
    }

    /// A 128-bit constant given with its integer bit at 127.
    pub const fn konst(sig: u128, exp: i32) -> Wide {
        Wide {
            sign: false,
            exp,
            sig,
        }
    }

    /// A finite extended value (pseudo-denormals read as denormals).
    pub fn from_f80(v: F80) -> Wide {
        if v.sig == 0 {
            return Wide {
                sign: v.sign(),
                ..Wide::ZERO
            };
        }
        let (s, e, m) = v.unpack();
        Wide::new(s, e, (m as u128) << 64)
    }

    pub fn from_int(v: i64) -> Wide {
        Wide::new(v < 0, 127, v.unsigned_abs() as u128)
    }

    pub fn is_zero(self) -> bool {
        self.sig == 0
    }

    pub fn negate(self) -> Wide {
        Wide {
            sign: !self.sign,
            ..self
        }
    }

    pub fn abs(self) -> Wide {
        Wide {
            sign: false,
            ..self
        }
    }

    /// Multiplies by 2^n.
    pub fn scale(self, n: i32) -> Wide {
        Wide {
            exp: self.exp + n,
            ..self
        }
    }

    pub fn mul(self, o: Wide) -> Wide {
        if self.is_zero() || o.is_zero() {
            return Wide {
                sign: self.sign != o.sign,
                ..Wide::ZERO
            };
        }
        let (hi, lo) = mul_128(self.sig, o.sig);
        // hi has bit 127 or 126 set; pull one bit from lo if needed. The
        // rest of lo goes into the sticky bit 0.
        let (sig, exp, rest) = if hi >> 127 == 1 {
            (hi, self.exp + o.exp + 1, lo)
        } else {
            ((hi << 1) | (lo >> 127), self.exp + o.exp, lo << 1)
        };
        Wide {
            sign: self.sign != o.sign,
            exp,
            sig: sig | (rest != 0) as u128,
        }
    }

    pub fn add(self, o: Wide) -> Wide {
        if self.is_zero() {
            return o;
        }
        if o.is_zero() {
            return self;
        }
        let (big, small) = if (self.exp, self.sig) >= (o.exp, o.sig) {
            (self, o)
        } else {
            (o, self)
        };
        let d = (big.exp - small.exp).min(200) as u32;
        let x = (big.sig >> 1) | (big.sig & 1);
        let y = softfloat::shift_right_jam((small.sig >> 1) | (small.sig & 1), d);
        // Bit 0 is sticky ("something nonzero below"). In a sum the two
        // sticky bits are OR-ed, never added: 1 - 2^-127 (sticky) plus a
        // sticky tail would otherwise carry into exactly 1. A difference
        // subtracts the tail's sticky bit (the result lies below), and
        // keeps one when both were sticky.
        let sum = if big.sign == small.sign {
            ((x & !1) + (y & !1)) | ((x | y) & 1)
        } else {
            (x - y) | (x & y & 1)
        };
        Wide::new(big.sign, big.exp + 1, sum)
    }

    pub fn sub(self, o: Wide) -> Wide {
        self.add(o.negate())
    }

    /// Long division, 128 quotient bits.
    pub fn div(self, o: Wide) -> Wide {
        let sign = self.sign != o.sign;
        if self.is_zero() || o.is_zero() {
            return Wide { sign, ..Wide::ZERO };
        }
        let (n, d) = (self.sig, o.sig);
        let mut rem = n;
        let mut carry = false;
        let mut q: u128 = 0;
        for _ in 0..128 {
            let ge = carry || rem >= d;
            q = (q << 1) | ge as u128;
            if ge {
                rem = rem.wrapping_sub(d);
            }
            carry = rem >> 127 == 1;
            rem <<= 1;
        }
        Wide::new(sign, self.exp - o.exp, q | (rem != 0) as u128)
    }

    /// Keeps the top `bits` bits of the significand (truncation toward
    /// zero).
    pub fn truncate(self, bits: u32) -> Wide {
        Wide {
            sig: self.sig & !(u128::MAX >> bits),
            ..self
        }
    }

    /// The nearest integer (ties away from zero) of a value below 2^64 in
    /// magnitude, as a magnitude.
    pub fn round_magnitude(self) -> u64 {
        if self.is_zero() || self.exp < -1 {
            return 0;
        }
        if self.exp == -1 {
            // [1/2, 1): rounds to 1.
            return 1;
        }
        let shift = 127 - self.exp;
        if shift <= 0 {
            return u64::MAX;
        }
        let shift = shift as u32;
        let q = self.sig >> shift;
        let half = (self.sig >> (shift - 1)) & 1;
        (q + half) as u64
    }

    /// Rounds to an extended value at 64 bits under `c`'s rounding control.
    pub fn to_f80(self, c: &mut Ctx) -> F80 {
        if self.is_zero() {
            return F80::zero(self.sign);
        }
        softfloat::round_extended_to(c, 64, self.sign, self.exp, self.sig)
    }

    /// |self| < |o|.
    pub fn abs_lt(self, o: Wide) -> bool {
        if self.is_zero() {
            return !o.is_zero();
        }
        !o.is_zero() && (self.exp, self.sig) < (o.exp, o.sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_exact_where_it_should_be() {
        let three = Wide::from_int(3);
        let seven = Wide::from_int(-7);
        assert_eq!(three.mul(seven), Wide::from_int(-21));
        assert_eq!(three.add(seven), Wide::from_int(-4));
        assert!(seven.sub(seven).is_zero());
        let third = Wide::ONE.div(three);
        assert!(third.mul(three).add(Wide::ONE.negate()).exp < -120);
        assert_eq!(Wide::from_int(21).div(three), Wide::from_int(7));
        assert_eq!(Wide::from_int(5).scale(-1).round_magnitude(), 3);
    }

    #[test]
    fn sticky_bits_never_carry_into_the_value() {
        // 1 - 2^-128 (bit 0 sticky) plus a sticky tail stays below 1,
        // and below it minus the tail stays below 1 too.
        let below_one = Wide::new(false, -1, u128::MAX);
        let tail = Wide::ONE.scale(-300);
        assert!(below_one.add(tail).abs_lt(Wide::ONE));
        assert!(below_one.sub(tail).abs_lt(below_one));
        // A product's lost low half lands in the sticky bit.
        let x = Wide::new(false, 0, (1 << 127) | 1);
        assert_eq!(x.mul(x).sig & 3, 3);
        assert_eq!(Wide::ONE.mul(Wide::ONE), Wide::ONE);
    }
}

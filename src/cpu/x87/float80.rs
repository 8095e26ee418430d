//! The 80-bit extended-precision format (SDM vol. 1, 4.2.2 and 8.2.2):
//! its encodings, including the ones the 387 and later no longer
//! support, and the status-word bits that arithmetic reports.

/// Status-word bits (SDM vol. 1, figure 8-4). The six exception flags
/// share their positions with the control word's masks.
pub mod sw {
    pub const IE: u16 = 1 << 0;
    pub const DE: u16 = 1 << 1;
    pub const ZE: u16 = 1 << 2;
    pub const OE: u16 = 1 << 3;
    pub const UE: u16 = 1 << 4;
    pub const PE: u16 = 1 << 5;
    pub const SF: u16 = 1 << 6;
    pub const ES: u16 = 1 << 7;
    pub const C0: u16 = 1 << 8;
    pub const C1: u16 = 1 << 9;
    pub const C2: u16 = 1 << 10;
    pub const TOP_SHIFT: u16 = 11;
    pub const TOP: u16 = 7 << TOP_SHIFT;
    pub const C3: u16 = 1 << 14;
    pub const B: u16 = 1 << 15;
    /// The six exception flags.
    pub const EXCEPTIONS: u16 = 0x3f;
    pub const CC: u16 = C0 | C1 | C2 | C3;
}

/// Exponent bias and limits of the extended format.
pub const BIAS: i32 = 16383;
pub const EXP_MAX: u16 = 0x7fff;
/// The integer bit (J), explicit in this format.
pub const J: u64 = 1 << 63;

/// One 80-bit register value: significand with its explicit integer bit,
/// and sign plus 15-bit biased exponent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct F80 {
    pub sig: u64,
    pub se: u16,
}

/// What an 80-bit encoding means to the 387 and later (SDM vol. 1, table
/// 8-3). Unnormals, pseudo-infinities and pseudo-NaNs are "unsupported":
/// every arithmetic use raises invalid operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Zero,
    /// Exponent 0, J = 0, nonzero fraction.
    Denormal,
    /// Exponent 0 with J = 1: read as a denormal whose exponent is 1.
    PseudoDenormal,
    Normal,
    Infinity,
    QNaN,
    SNaN,
    Unsupported,
}

impl F80 {
    pub const ZERO: F80 = F80 { sig: 0, se: 0 };
    pub const ONE: F80 = F80 {
        sig: J,
        se: BIAS as u16,
    };
    /// The QNaN floating-point indefinite (SDM vol. 1, table 4-3).
    pub const INDEFINITE: F80 = F80 {
        sig: 0xc000_0000_0000_0000,
        se: 0xffff,
    };
    pub const INFINITY: F80 = F80 {
        sig: J,
        se: EXP_MAX,
    };

    pub const fn new(sign: bool, exp: u16, sig: u64) -> F80 {
        F80 {
            sig,
            se: ((sign as u16) << 15) | (exp & EXP_MAX),
        }
    }

    pub fn from_bytes(b: &[u8; 10]) -> F80 {
        F80 {
            sig: u64::from_le_bytes(b[..8].try_into().unwrap()),
            se: u16::from_le_bytes([b[8], b[9]]),
        }
    }

    pub fn to_bytes(self) -> [u8; 10] {
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&self.sig.to_le_bytes());
        b[8..].copy_from_slice(&self.se.to_le_bytes());
        b
    }

    #[inline]
    pub fn sign(self) -> bool {
        self.se & 0x8000 != 0
    }

    #[inline]
    pub fn exp(self) -> u16 {
        self.se & EXP_MAX
    }

    pub fn with_sign(self, sign: bool) -> F80 {
        F80 {
            sig: self.sig,
            se: (self.se & EXP_MAX) | ((sign as u16) << 15),
        }
    }

    pub fn negate(self) -> F80 {
        F80 {
            sig: self.sig,
            se: self.se ^ 0x8000,
        }
    }

    pub fn abs(self) -> F80 {
        self.with_sign(false)
    }

    pub fn zero(sign: bool) -> F80 {
        F80::ZERO.with_sign(sign)
    }

    pub fn infinity(sign: bool) -> F80 {
        F80::INFINITY.with_sign(sign)
    }

    pub fn class(self) -> Class {
        let e = self.exp();
        let j = self.sig & J != 0;
        let frac = self.sig & !J;
        match e {
            0 if self.sig == 0 => Class::Zero,
            0 if j => Class::PseudoDenormal,
            0 => Class::Denormal,
            EXP_MAX if !j => Class::Unsupported,
            EXP_MAX if frac == 0 => Class::Infinity,
            EXP_MAX if frac & (1 << 62) != 0 => Class::QNaN,
            EXP_MAX => Class::SNaN,
            _ if !j => Class::Unsupported,
            _ => Class::Normal,
        }
    }

    pub fn is_nan(self) -> bool {
        matches!(self.class(), Class::QNaN | Class::SNaN)
    }

    pub fn is_snan(self) -> bool {
        self.class() == Class::SNaN
    }

    pub fn is_zero(self) -> bool {
        self.class() == Class::Zero
    }

    /// Denormal or pseudo-denormal: an operand that raises #D.
    pub fn is_denormal(self) -> bool {
        matches!(self.class(), Class::Denormal | Class::PseudoDenormal)
    }

    pub fn is_unsupported(self) -> bool {
        self.class() == Class::Unsupported
    }

    pub fn is_infinity(self) -> bool {
        self.class() == Class::Infinity
    }

    /// The NaN with its quiet bit set.
    pub fn quiet(self) -> F80 {
        F80 {
            sig: self.sig | (1 << 62),
            se: self.se,
        }
    }

    /// A finite nonzero value as (sign, unbiased exponent, significand
    /// normalised so that bit 63 is set). Denormals (and pseudo-denormals)
    /// use the minimum exponent, as the hardware reads them.
    pub fn unpack(self) -> (bool, i32, u64) {
        let e = (self.exp() as i32).max(1) - BIAS;
        let lz = self.sig.leading_zeros() as i32;
        (self.sign(), e - lz, self.sig << lz)
    }

    /// The full 2-bit tag of a non-empty register (SDM vol. 1, 8.1.7):
    /// 0 valid, 1 zero, 2 special (NaN, infinity, denormal, unsupported).
    pub fn tag(self) -> u16 {
        match self.class() {
            Class::Normal => 0,
            Class::Zero => 1,
            _ => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_the_special_encodings() {
        assert_eq!(F80::ZERO.class(), Class::Zero);
        assert_eq!(F80::ONE.class(), Class::Normal);
        assert_eq!(F80::INDEFINITE.class(), Class::QNaN);
        assert_eq!(F80::INFINITY.class(), Class::Infinity);
        assert_eq!(F80::new(false, 0, 1).class(), Class::Denormal);
        assert_eq!(F80::new(false, 0, J | 1).class(), Class::PseudoDenormal);
        assert_eq!(F80::new(false, 1, 1).class(), Class::Unsupported);
        assert_eq!(F80::new(false, EXP_MAX, 0).class(), Class::Unsupported);
        assert_eq!(F80::new(false, EXP_MAX, 1).class(), Class::Unsupported);
        assert_eq!(F80::new(false, EXP_MAX, J | 1).class(), Class::SNaN);
        assert_eq!(F80::INDEFINITE.tag(), 2);
        assert_eq!(F80::zero(true).tag(), 1);
    }

    #[test]
    fn unpack_normalises_denormals() {
        let (s, e, m) = F80::new(true, 0, 1).unpack();
        assert!(s);
        assert_eq!(m, J);
        assert_eq!(e, 1 - BIAS - 63);
        assert_eq!(F80::new(false, 0, J).unpack(), (false, 1 - BIAS, J));
        let b = F80::INDEFINITE.to_bytes();
        assert_eq!(F80::from_bytes(&b), F80::INDEFINITE);
    }
}

//! The transcendental kernels on `Wide` values: argument reduction by
//! pi/2, sine/cosine series, the exponential, the logarithm (through
//! atanh) and the arctangent (through a table of atan(k/8)). Constants
//! are given to 128 bits (integer bit at 127, unbiased exponent).

use super::wide::Wide;

pub const PI_2: Wide = Wide::konst(0xc90fdaa22168c234c4c6628b80dc1cd1, 0);
pub const PI: Wide = Wide::konst(0xc90fdaa22168c234c4c6628b80dc1cd1, 1);
pub const PI_4: Wide = Wide::konst(0xc90fdaa22168c234c4c6628b80dc1cd1, -1);
const TWO_OVER_PI: Wide = Wide::konst(0xa2f9836e4e441529fc2757d1f534ddc0, -1);
const LN2: Wide = Wide::konst(0xb17217f7d1cf79abc9e3b39803f2f6af, -1);
const LOG2E: Wide = Wide::konst(0xb8aa3b295c17f0bbbe87fed0691d3e88, 0);
/// sqrt(2), the split point that keeps log's series argument small.
const SQRT2: Wide = Wide::konst(0xb504f333f9de6484597d89b3754abe9f, 0);

/// atan(k/8) for k = 0..8.
const ATAN_K8: [Wide; 9] = [
    Wide::ZERO,
    Wide::konst(0xfeadd4d5617b6e32c897989f3e888ef7, -4),
    Wide::konst(0xfadbafc96406eb156dc79ef5f7a217e5, -3),
    Wide::konst(0xb7b0ca0f26f784738aa32122dcfe4483, -2),
    Wide::konst(0xed63382b0dda7b456fe445ecbc3a8d03, -2),
    Wide::konst(0x8f005d5ef7f59f9b5c835e1665c43747, -1),
    Wide::konst(0xa4bc7d1934f7092419a87f2a457dac9e, -1),
    Wide::konst(0xb8053e2bc2319e73cb2da55210a4443d, -1),
    Wide::konst(0xc90fdaa22168c234c4c6628b80dc1cd1, -1),
];

/// pi/2 as the x87 reduces by it: the 66-bit approximation Intel
/// documents (SDM vol. 1, 8.3.10), C90FDAA22168C234C(.11b), in two
/// pieces so that q*P1 and q*P2 are exact for q < 2^64. Results for large
/// arguments follow the hardware's (not the true) period; checked against
/// the host's FSIN by the tests.
const PI_2_PIECES: [Wide; 2] = [
    Wide::konst(0xc90fdaa22168c234 << 64, 0),
    Wide::konst(3 << 126, -64),
];

/// Reduces `x` (|x| < 2^63) to r in [-pi/4, pi/4] with x = q*pi/2 + r;
/// returns (r, q mod 4).
pub fn reduce(x: Wide) -> (Wide, u32) {
    if !PI_4.abs_lt(x) {
        return (x, 0);
    }
    let q = x.abs().mul(TWO_OVER_PI).round_magnitude();
    let qw = Wide::new(false, 127, q as u128);
    let mut r = x.abs();
    for p in PI_2_PIECES {
        r = r.sub(qw.mul(p));
    }
    let q = (q & 3) as u32;
    if x.sign {
        (r.negate(), (4 - q) & 3)
    } else {
        (r, q)
    }
}

/// Sums a series whose k-th term is `term(k-1) * ratio(k)`, starting at
/// `first`, until the terms no longer matter at 128 bits.
fn series(first: Wide, mut next: impl FnMut(Wide, i64) -> Wide) -> Wide {
    let mut term = first;
    let mut sum = first;
    for k in 1..200 {
        term = next(term, k);
        // The last, negligible term still goes in: its sticky bit makes
        // the sum inexact in the right direction.
        sum = sum.add(term);
        if term.is_zero() || term.exp < sum.exp - 130 {
            break;
        }
    }
    sum
}

/// sin(r) for |r| <= pi/4.
pub fn sin_reduced(r: Wide) -> Wide {
    let r2 = r.mul(r).negate();
    series(r, |t, k| {
        t.mul(r2).div(Wide::from_int((2 * k) * (2 * k + 1)))
    })
}

/// cos(r) for |r| <= pi/4.
pub fn cos_reduced(r: Wide) -> Wide {
    let r2 = r.mul(r).negate();
    series(Wide::ONE, |t, k| {
        t.mul(r2).div(Wide::from_int((2 * k - 1) * (2 * k)))
    })
}

/// (sin x, cos x) for |x| < 2^63.
pub fn sin_cos(x: Wide) -> (Wide, Wide) {
    let (r, q) = reduce(x);
    let (s, c) = (sin_reduced(r), cos_reduced(r));
    match q {
        0 => (s, c),
        1 => (c, s.negate()),
        2 => (s.negate(), c.negate()),
        _ => (c.negate(), s),
    }
}

/// e^t - 1 for |t| <= 1: the series on t/2^8, then expm1(2u) =
/// expm1(u) * (expm1(u) + 2) eight times.
fn expm1(t: Wide) -> Wide {
    let u = t.scale(-8);
    let mut e = series(u, |term, k| term.mul(u).div(Wide::from_int(k + 1)));
    let two = Wide::from_int(2);
    for _ in 0..8 {
        e = e.mul(e.add(two));
    }
    e
}

/// 2^x - 1 for |x| <= 1.
pub fn exp2m1(x: Wide) -> Wide {
    expm1(x.mul(LN2))
}

/// 2 * atanh(s) = ln((1 + s) / (1 - s)) for small |s|.
fn two_atanh(s: Wide) -> Wide {
    let s2 = s.mul(s);
    let sum = series(s, |t, k| {
        // t_k = s^(2k+1) / (2k+1), from t_(k-1) = s^(2k-1) / (2k-1).
        t.mul(s2)
            .mul(Wide::from_int(2 * k - 1))
            .div(Wide::from_int(2 * k + 1))
    });
    sum.scale(1)
}

/// log2(x) for finite x > 0.
pub fn log2(x: Wide) -> Wide {
    let mut e = x.exp;
    let mut m = Wide { exp: 0, ..x };
    if SQRT2.abs_lt(m) {
        m = m.scale(-1);
        e += 1;
    }
    let one = Wide::ONE;
    let s = m.sub(one).div(m.add(one));
    Wide::from_int(e as i64).add(two_atanh(s).mul(LOG2E))
}

/// log2(1 + x) for small |x| (FYL2XP1's range).
pub fn log2_1p(x: Wide) -> Wide {
    let s = x.div(x.add(Wide::from_int(2)));
    two_atanh(s).mul(LOG2E)
}

/// atan(t) for 0 <= t <= 1: atan(k/8) + atan((t - k/8) / (1 + t*k/8)).
fn atan_unit(t: Wide) -> Wide {
    let k = t.scale(3).round_magnitude().min(8);
    let c = Wide::from_int(k as i64).scale(-3);
    let u = t.sub(c).div(Wide::ONE.add(t.mul(c)));
    let u2 = u.mul(u).negate();
    let tail = series(u, |term, j| {
        term.mul(u2)
            .mul(Wide::from_int(2 * j - 1))
            .div(Wide::from_int(2 * j + 1))
    });
    ATAN_K8[k as usize].add(tail)
}

/// pi as FPATAN adds it: the 66-bit pi of `PI_2_PIECES`, doubled. Its
/// results near +-pi and +-pi/2 round this value, not the true pi
/// (measured on the host).
const PI_66: Wide = Wide::konst((0xc90fdaa22168c234 << 64) | (3 << 62), 1);

/// Significand bits of the x87's inner results: its log2 (FYL2X,
/// FYL2XP1), its (2^x - 1)/x (F2XM1), its arctangent of a ratio below 1
/// (FPATAN) and its sine and cosine inside FPTAN behave as values
/// truncated toward zero to 67 bits (64 plus guard, round and sticky
/// positions), which the last step (a product, a quotient, or a sum
/// with a multiple of pi/2) combines exactly and rounds once under RC,
/// C1 telling whether that rounding went up from the cut value; the cut
/// bits still make the result inexact (#P). Fitted on the host (random
/// cases, results and C1 compared), mismatches against the model (and
/// against the correctly rounded result): FYL2X 20 of 32,679 (2,700;
/// 2,700 and 1,300 with 66 and 68 bits), FPTAN with |x| < 2^-8 none of
/// 15,000 (8,700), FPATAN with |y/x| < 2^-40 none of 8,281 (about 240);
/// the rest is the host's own approximation error (see
/// tests/hostcheck.rs).
pub const INNER_BITS: u32 = 67;

/// atan2(y, x) for finite, not both zero, assembled as the x87 does:
/// the arctangent A of the smaller-over-larger ratio (cut to
/// `INNER_BITS`), then A, pi - A, pi/2 - A or pi/2 + A with `PI_66`.
pub fn atan2(y: Wide, x: Wide) -> Wide {
    let (ay, ax) = (y.abs(), x.abs());
    let half = PI_66.scale(-1);
    let a = if ax.is_zero() {
        half
    } else if !ax.abs_lt(ay) {
        let a = atan_unit(ay.div(ax)).truncate(INNER_BITS);
        if x.sign {
            PI_66.sub(a)
        } else {
            a
        }
    } else {
        let a = atan_unit(ax.div(ay)).truncate(INNER_BITS);
        if x.sign {
            half.add(a)
        } else {
            half.sub(a)
        }
    };
    Wide { sign: y.sign, ..a }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(x: f64) -> Wide {
        if x == 0.0 {
            return Wide::ZERO;
        }
        let bits = x.to_bits();
        let e = ((bits >> 52) & 0x7ff) as i32 - 1023;
        let m = (bits & ((1 << 52) - 1)) | (1 << 52);
        Wide::new(x < 0.0, e, (m as u128) << 75)
    }

    fn f(v: Wide) -> f64 {
        if v.is_zero() {
            return 0.0;
        }
        let m = (v.sig >> 64) as f64 / (1u128 << 63) as f64;
        let r = m * 2f64.powi(v.exp);
        if v.sign {
            -r
        } else {
            r
        }
    }

    #[test]
    fn kernels_agree_with_the_host_libm() {
        for x in [0.1, 0.5, 1.0, 2.0, -3.0, 10.0, 1e6, -123456.789] {
            let (s, c) = sin_cos(w(x));
            // The hardware's 66-bit pi costs accuracy as |x| grows.
            let tolerance = 1e-15 * x.abs().max(1.0);
            assert!((f(s) - x.sin()).abs() < tolerance, "sin {x}");
            assert!((f(c) - x.cos()).abs() < tolerance, "cos {x}");
        }
        for x in [0.5, -0.5, 1.0, -1.0, 0.001] {
            assert!(
                (f(exp2m1(w(x))) - (2f64.powf(x) - 1.0)).abs() < 1e-15,
                "{x}"
            );
        }
        for x in [0.5, 1.5, 3.0, 1e10, 1e-10, 1.0] {
            assert!((f(log2(w(x))) - x.log2()).abs() < 1e-14, "log2 {x}");
        }
        assert!((f(log2_1p(w(0.25))) - 1.25f64.log2()).abs() < 1e-15);
        for (y, x) in [(1.0, 1.0), (1.0, -2.0), (-3.0, 0.5), (0.3, 0.0), (2.0, 7.0)] {
            let a: f64 = y;
            assert!((f(atan2(w(y), w(x))) - a.atan2(x)).abs() < 1e-15, "{y} {x}");
        }
    }
}

//! Cases where the host CPU (an Intel Xeon, checked with `xlat
//! hostcheck` and the differential tests) departs from the correctly
//! rounded result: each expected value, C1 and flag set below is what
//! the host produced for these operands.

use super::*;

/// An extended value from its sign/exponent word and significand.
fn v(se: u16, sig: u64) -> F80 {
    F80::new(se & 0x8000 != 0, se & 0x7fff, sig)
}

fn f(x: f64) -> F80 {
    sf::from_ieee(&mut Ctx::new(0x037f), x.to_bits(), true)
}

/// Rounding control `rc` (0 nearest, 1 down, 2 up, 3 zero), every
/// exception masked.
fn rc(rc: u16) -> Ctx {
    Ctx::new(0x037f | rc << 10)
}

/// Checks a result, the C1 the status word would show and the flags.
#[track_caller]
fn check(c: &Ctx, r: F80, want: F80, c1: bool, flags: u16) {
    assert_eq!((r.se, r.sig), (want.se, want.sig), "result");
    assert_eq!(c.c1 && c.flags & sw::PE != 0, c1, "C1");
    assert_eq!(c.flags, flags, "flags");
}

fn first(c: &mut Ctx, m: M, x: F80) -> (F80, Option<F80>) {
    trig(c, m, x).expect("in range")
}

#[test]
fn trig_of_tiny_arguments_returns_them_unrounded() {
    // Below 2^-68: x itself under RZ too (the true sine rounds to x - 1
    // ulp there), C1 = 0.
    let x = v(0x3fba, 0xd784f03447ca3585);
    let mut c = rc(3);
    let r = first(&mut c, M::Fsin, x).0;
    check(&c, r, x, false, sw::PE);
    let mut c = rc(1);
    let r = first(&mut c, M::Fcos, v(0xbfb9, 0x86ff3ad900125feb)).0;
    check(&c, r, F80::ONE, false, sw::PE);
    // A denormal sine is also tiny: #U with #P.
    let d = v(0x8000, 1);
    let mut c = rc(0);
    let r = first(&mut c, M::Fsin, d).0;
    check(&c, r, d, false, sw::DE | sw::UE | sw::PE);
    // The cosine of a denormal is 1: no #U, even unmasked (FCW 0366h).
    let mut c = Ctx::new(0x0366);
    let r = first(&mut c, M::Fcos, v(0x8000, 0x0013b7d9153ab49c)).0;
    check(&c, r, F80::ONE, false, sw::DE | sw::PE);
}

#[test]
fn small_sines_keep_their_cubic_term() {
    // sin x = x - x^3/6 with x^3/6 near 2^-129 x: below x under RZ.
    let mut c = rc(3);
    let r = first(&mut c, M::Fsin, v(0x3fc0, 0xfba1710a9ec32463)).0;
    check(&c, r, v(0x3fc0, 0xfba1710a9ec32462), false, sw::PE);
}

#[test]
fn small_tangents_lie_just_below_x() {
    let mut c = rc(1);
    let r = first(&mut c, M::Fptan, v(0x3fce, 0x97586019e99d8b31)).0;
    check(&c, r, v(0x3fce, 0x97586019e99d8b30), false, sw::PE);
    let x = v(0x3fd2, 0xe908388187a35785);
    let mut c = rc(0);
    let r = first(&mut c, M::Fptan, x).0;
    check(&c, r, x, true, sw::PE);
}

#[test]
fn fyl2x_multiplies_by_a_67_bit_log2() {
    let mut c = rc(0);
    let r = yl2x(&mut c, f(3.0), f(8.0));
    check(&c, r, f(9.0), false, sw::PE);
    // log2(1/2) lies just above -1.
    let mut c = rc(0);
    let r = yl2x(&mut c, f(3.0), f(0.5));
    check(&c, r, f(-3.0), true, sw::PE);
    let mut c = rc(3);
    let r = yl2x(&mut c, f(3.0), f(0.5));
    check(&c, r, v(0xc000, 0xbfffffffffffffff), false, sw::PE);
    let mut c = rc(0);
    let r = yl2x(&mut c, v(0x3ffe, 0xe000000000000000), v(0, 1));
    check(&c, r, v(0xc00c, 0xe0d5800000000000), true, sw::DE | sw::PE);
    // The correctly rounded product would be ...0e with C1 = 1.
    let mut c = rc(1);
    let r = yl2x(
        &mut c,
        v(0xbfe3, 0xe800000000000000),
        v(0x4039, 0xdbf3b04bf5047a3e),
    );
    check(&c, r, v(0xbfe9, 0xd514cf228c30ff0d), true, sw::PE);
    // (FYL2XP1: correctly rounded, ...1f with C1 = 1.)
    let mut c = rc(0);
    let r = yl2xp1(
        &mut c,
        v(0xbff7, 0xfd2f8a3ccc48b74e),
        v(0xbff1, 0xc11547b657cff5cb),
    );
    check(&c, r, v(0x3feb, 0x89c1563472de131e), false, sw::PE);
}

#[test]
fn f2xm1_multiplies_x_by_a_67_bit_quotient() {
    for mode in 0..4 {
        let mut c = rc(mode);
        let r = f2xm1(&mut c, f(1.0));
        check(&c, r, F80::ONE, false, sw::PE);
    }
    // Correctly rounded: ...47 with C1 = 1.
    let mut c = rc(2);
    let r = f2xm1(&mut c, v(0x3fc1, 0x8556e8e2e5acfc0d));
    check(&c, r, v(0x3fc0, 0xb8d90868f1cbf746), true, sw::PE);
}

#[test]
fn fpatan_adds_a_66_bit_pi() {
    // Near pi: the true pi would give ...73 with C1 = 1.
    let mut c = rc(2);
    let r = patan(
        &mut c,
        v(0x3fbf, 0xc20ce075c5f65277),
        v(0xbfec, 0xa403cc0465066455),
    );
    check(&c, r, v(0x4000, 0xc90fdaa221666472), true, sw::PE);
    // A tiny ratio: y/x cut to 67 bits (correctly rounded: ...62, C1 = 1).
    let mut c = rc(1);
    let r = patan(
        &mut c,
        v(0xbfe9, 0xf694cb5843225b49),
        v(0x4031, 0x8bbb4ac597f729a4),
    );
    check(&c, r, v(0xbfb7, 0xe1e0f3cdaaaab061), false, sw::PE);
}

#[test]
fn an_unmasked_denormal_raises_nothing_else() {
    // atan2(denormal, -0) would round pi/2 (#P); #D alone stops it.
    let mut c = Ctx::new(0x0761);
    patan(&mut c, v(0x0000, 0x3db4af24548447c6), v(0x8000, 0));
    assert_eq!(c.flags, sw::DE);
    // FYL2X of a zero x: #Z alone, no #D for a pseudo-denormal y.
    let mut c = Ctx::new(0x1b64);
    let r = yl2x(&mut c, v(0x0000, 0xccbc92e5658eec4b), v(0, 0));
    assert_eq!((r, c.flags), (F80::infinity(true), sw::ZE));
}

#[test]
fn a_denormal_arctangent_underflows_even_when_its_cut_value_fits() {
    // FPATAN of a pseudo-denormal over 5.75 under RC down (FCW 157Fh):
    // the result is a denormal the host flags #D, #U and #P (its inner
    // value is inexact; the cut value happens to fit exactly).
    let mut c = Ctx::new(0x157f);
    let y = v(0x0000, 0xba3f2a6c5530e598);
    let x = v(0x4000, 0xb800000000000000);
    let r = patan(&mut c, y, x);
    check(
        &c,
        r,
        v(0x0000, 0x40c80ec181ce3999),
        false,
        sw::DE | sw::UE | sw::PE,
    );
}

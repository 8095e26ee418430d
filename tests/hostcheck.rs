//! A bounded hostcheck run: every integer, MMX, SSE and SSE2 form against
//! the host CPU. (`xlat hostcheck` runs 10,000 cases per form; CI runs a
//! sample.)

#[cfg(target_arch = "x86_64")]
#[test]
fn integer_and_simd_forms_match_the_host_cpu() {
    let opts = xlat::hostcheck::Options {
        cases: 200,
        filter: None,
        seed: 0x1234_5678,
        verbose: true,
    };
    let mut out = Vec::new();
    let tally = xlat::hostcheck::run(&opts, &mut out).expect("hostcheck runs");
    let report = String::from_utf8_lossy(&out);
    assert!(
        tally.forms > 400,
        "too few forms: {}\n{report}",
        tally.forms
    );
    // Every legacy MMX/SSE/SSE2 form with operands hostcheck can draw
    // (all of them: 311), unless the host lacks the feature.
    let simd = xlat::hostcheck::simd_forms(|_| true).len();
    assert!(simd >= 300, "too few SIMD forms: {simd}");
    for want in [
        "Addps_xmm_xmmm128",
        "Cvtsd2si_r64_xmmm64",
        "Pmaddwd_mm_mmm64",
        "Psubusb_xmm_xmmm128",
    ] {
        assert!(report.contains(want), "{want} not checked\n{report}");
    }
    assert_eq!(tally.failed, 0, "differences from the host:\n{report}");
}

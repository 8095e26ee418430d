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
        mode: xlat::hostcheck::Mode::Long,
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

/// 32-bit code: every integer form valid outside 64-bit mode (and the
/// stack forms, with ESP in the compared buffer), natively in a
/// compatibility-mode code segment and in 32-bit protected mode.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[test]
fn compat32_forms_match_the_host_cpu() {
    let opts = xlat::hostcheck::Options {
        cases: 200,
        filter: None,
        seed: 0x8765_4321,
        verbose: true,
        mode: xlat::hostcheck::Mode::Compat32,
    };
    let mut out = Vec::new();
    let tally = xlat::hostcheck::run(&opts, &mut out).expect("hostcheck runs");
    let report = String::from_utf8_lossy(&out);
    let forms = xlat::hostcheck::compat32_forms().len() as u64;
    assert_eq!(tally.forms, forms, "{report}");
    assert!(forms > 350, "too few compat32 forms: {forms}\n{report}");
    for want in [
        "compat32 Inc_r32 ",
        "compat32 Daa ",
        "compat32 Aam_imm8 ",
        "compat32 Sub_rm8_imm8_82 ",
        "compat32 Arpl_rm16_r16 ",
        "compat32 Adc_rm16_r16 ",
        "compat32 Pushad ",
        "compat32 Popaw ",
        "compat32 Pushd_DS ",
    ] {
        assert!(report.contains(want), "{want} not checked\n{report}");
    }
    assert_eq!(tally.failed, 0, "differences from the host:\n{report}");
}

//! A bounded hostcheck run: every integer, MMX, SSE, SSE2, SSE3, SSSE3,
//! SSE4.1 and SSE4.2 form (and POPCNT, CRC32) against the host CPU, and
//! the x87 forms with their FPU state. (`xlat hostcheck` runs 10,000
//! cases per form; CI runs a sample.)

#[cfg(target_arch = "x86_64")]
#[test]
fn integer_and_simd_forms_match_the_host_cpu() {
    let opts = xlat::hostcheck::Options {
        cases: 200,
        filter: None,
        features: Vec::new(),
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
    // Every legacy MMX to SSE4.2 form with operands hostcheck can draw
    // (all of them), unless the host lacks the feature.
    let simd = xlat::hostcheck::simd_forms(|_| true).len();
    assert!(simd >= 400, "too few SIMD forms: {simd}");
    for want in [
        "Fld_m80fp",
        "Fbstp_m80bcd",
        "Fisttp_m64int",
        "Fnstenv_m28byte",
        "Fxrstor64_m512byte",
        "Fsincos",
        "Addps_xmm_xmmm128",
        "Cvtsd2si_r64_xmmm64",
        "Pmaddwd_mm_mmm64",
        "Psubusb_xmm_xmmm128",
        "Haddps_xmm_xmmm128",
        "Pshufb_mm_mmm64",
        "Roundsd_xmm_xmmm64_imm8",
        "Pcmpestri64_xmm_xmmm128_imm8",
        "Popcnt_r64_rm64",
        "Crc32_r64_rm8",
    ] {
        assert!(report.contains(want), "{want} not checked\n{report}");
    }
    assert_no_differences(&report);
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
        features: Vec::new(),
        seed: 0x8765_4321,
        verbose: true,
        mode: xlat::hostcheck::Mode::Compat32,
    };
    let mut out = Vec::new();
    let tally = xlat::hostcheck::run(&opts, &mut out).expect("hostcheck runs");
    let report = String::from_utf8_lossy(&out);
    let forms = xlat::hostcheck::compat32_forms().len() as u64;
    let x87 = xlat::hostcheck::x87_forms(false).len() as u64;
    assert_eq!(tally.forms, forms + x87, "{report}");
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
    assert_no_differences(&report);
}

/// `--feature x87` selects the x87 forms alone, in both modes: their
/// FPU state (registers, tags, control and status words, pointers) and
/// memory operands agree with the host's, bit for bit except the
/// transcendentals' one-ulp accuracy (result and C1) the output reports
/// (see `assert_no_differences`).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[test]
fn x87_forms_match_the_host_cpu() {
    let opts = xlat::hostcheck::Options {
        cases: 100,
        filter: None,
        features: vec!["x87".into()],
        seed: 0x87,
        verbose: true,
        mode: xlat::hostcheck::Mode::All,
    };
    let mut out = Vec::new();
    let tally = xlat::hostcheck::run(&opts, &mut out).expect("hostcheck runs");
    let report = String::from_utf8_lossy(&out);
    let forms =
        (xlat::hostcheck::x87_forms(true).len() + xlat::hostcheck::x87_forms(false).len()) as u64;
    assert_eq!(tally.forms, forms, "{report}");
    assert!(forms > 250, "too few x87 forms: {forms}\n{report}");
    for want in [
        "Fcomip_st0_sti ",
        "Fprem1 ",
        "Fnsave_m108byte ",
        "compat32 Frstor_m94byte ",
        "compat32 Fxsave_m512byte ",
        "compat32 Fild_m16int ",
    ] {
        assert!(report.contains(want), "{want} not checked\n{report}");
    }
    assert_no_differences(&report);
}

/// `--feature` keeps exactly the forms of the named CPUID features:
/// SSE4.2 is PCMPGTQ, the six string compares and the five CRC32 forms.
#[cfg(target_arch = "x86_64")]
#[test]
fn the_feature_filter_selects_one_instruction_set() {
    let opts = xlat::hostcheck::Options {
        cases: 50,
        filter: None,
        features: vec!["sse4_2".into()],
        seed: 7,
        verbose: true,
        mode: xlat::hostcheck::Mode::Long,
    };
    let mut out = Vec::new();
    let tally = xlat::hostcheck::run(&opts, &mut out).expect("hostcheck runs");
    let report = String::from_utf8_lossy(&out);
    assert_eq!(tally.forms, 12, "{report}");
    assert!(report.contains("Pcmpistrm_xmm_xmmm128_imm8"), "{report}");
    assert!(report.contains("Crc32_r32_rm16"), "{report}");
    assert!(!report.contains("Pmulld"), "{report}");
    assert_eq!(tally.failed, 0, "{report}");
}

/// Every form's row in `report` shows 0 failed cases. The x87
/// transcendentals (FSIN, FCOS, FSINCOS, FPTAN, FPATAN, FYL2X, FYL2XP1,
/// F2XM1) pass with a result within one ulp of the host's, C1 included
/// (see `hostcheck::x87::compare`), and are counted in the report's 1ulp
/// column: xlat models how the host forms its results (inner values cut
/// to 67 bits, a 66-bit pi, unrounded tiny arguments; `cpu::x87::math`),
/// but not the host's own approximations of sin, cos, atan, log2(1 + x)
/// and 2^x - 1, whose error (about 2^-67) sometimes puts its inner value
/// on the other side of a rounding boundary from the true one.
#[cfg(target_arch = "x86_64")]
fn assert_no_differences(report: &str) {
    for line in report.lines().filter(|l| !l.starts_with(' ')) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 6 {
            continue;
        }
        let name = cols[cols.len() - 6];
        let Ok(failed) = cols[cols.len() - 3].parse::<u64>() else {
            continue;
        };
        if failed > 0 {
            panic!("{name}: differences from the host:\n{report}");
        }
    }
}

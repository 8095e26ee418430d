//! A bounded hostcheck run: every integer form against the host CPU.
//! (`xlat hostcheck` runs 10,000 cases per form; CI runs a sample.)

#[cfg(target_arch = "x86_64")]
#[test]
fn integer_forms_match_the_host_cpu() {
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
    assert_eq!(tally.failed, 0, "differences from the host:\n{report}");
}

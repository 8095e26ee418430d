//! SingleStepTests 80286 real-mode suite through the interpreter, over the
//! copy in ../shared/conformance (never copied into this repository).

use std::path::PathBuf;

#[test]
fn sst_80286_real_mode_suite_passes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/sst-80286");
    assert!(
        dir.is_dir(),
        "conformance data missing: expected the SingleStepTests 80286 suite at {} \
         (the shared/ folder beside the repository)",
        dir.display()
    );
    let mut out = Vec::new();
    let opts = xlat::sst::Options {
        verbose: true,
        ..Default::default()
    };
    let summary = xlat::sst::run_paths(&[dir], &opts, &mut out).expect("suite runs");
    let report = String::from_utf8_lossy(&out);
    let total = summary.passed + summary.failed + summary.skipped;
    println!("{report}");
    assert!(total >= 97_000, "suite looks truncated: {total} tests");
    assert_eq!(summary.failed, 0, "conformance failures:\n{report}");
    assert!(
        summary.skipped * 100 < total,
        "more than 1% skipped ({} of {total})",
        summary.skipped
    );
}

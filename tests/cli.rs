//! The command line: bad input is reported in one line and a non-zero exit;
//! tracing prints one line per instruction.

use std::process::{Command, Output};

fn xlat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xlat"))
        .args(args)
        .output()
        .expect("run xlat")
}

/// A file in cargo's scratch folder for integration tests.
fn scratch_file(name: &str, bytes: &[u8]) -> String {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, bytes).expect("write scratch file");
    path.to_str().unwrap().to_owned()
}

/// Fails unless xlat exited non-zero with exactly one line on stderr,
/// starting "xlat: " and containing every one of `needles`.
fn assert_one_line_error(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = format!("status {:?}, stderr:\n{stderr}", out.status.code());
    assert!(!out.status.success(), "{report}");
    assert_ne!(out.status.code(), None, "killed by a signal: {report}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want a one-line error: {report}");
    assert!(lines[0].starts_with("xlat: "), "{report}");
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "error does not mention {needle:?}: {report}"
        );
    }
    assert!(out.stdout.is_empty(), "nothing on stdout: {report}");
}

#[test]
fn missing_bios_file() {
    let path = concat!(env!("CARGO_TARGET_TMPDIR"), "/no-such-firmware.rom");
    let out = xlat(&["--bios", path]);
    assert_one_line_error(&out, &["no-such-firmware.rom"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bios_of_bad_size() {
    let path = scratch_file("odd-size.rom", &[0xf4; 1000]);
    let out = xlat(&["--bios", &path]);
    assert_one_line_error(&out, &["1000", "4096"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn empty_bios() {
    let path = scratch_file("empty.rom", &[]);
    let out = xlat(&["--bios", &path]);
    assert_one_line_error(&out, &["empty"]);
}

#[test]
fn bios_too_large() {
    let path = scratch_file("huge.rom", &vec![0xf4; (16 << 20) + 4096]);
    let out = xlat(&["--bios", &path]);
    assert_one_line_error(&out, &["16781312"]);
}

#[test]
fn memory_size_with_unknown_unit() {
    let out = xlat(&["-m", "12Q"]);
    assert_one_line_error(&out, &["12Q"]);
}

#[test]
fn unknown_vga_model() {
    let out = xlat(&["--vga", "cirrus"]);
    assert_one_line_error(&out, &["cirrus", "std, isa or none"]);
}

#[test]
fn unknown_flag() {
    let out = xlat(&["--frobnicate"]);
    assert_one_line_error(&out, &["--frobnicate"]);
}

#[test]
fn trace_text_prints_each_instruction() {
    let out = xlat(&["--trace-text", "--max-instructions", "20"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "status {:?}, stderr:\n{stderr}",
        out.status.code()
    );
    let trace: Vec<&str> = stderr.lines().filter(|l| l.starts_with("f000:")).collect();
    assert_eq!(trace.len(), 20, "one line per instruction:\n{stderr}");
    // The first instruction is the far jump at the reset vector.
    assert!(trace[0].starts_with("f000:0000fff0 "), "{}", trace[0]);
    assert!(
        trace[0].contains("ea") && trace[0].contains("jmp"),
        "{}",
        trace[0]
    );
    // Then the demo's entry at F000:0000, starting with CLI.
    assert!(trace[1].starts_with("f000:00000000 "), "{}", trace[1]);
    assert!(trace[1].contains("cli"), "{}", trace[1]);
    assert!(stderr.contains("stopped after 20 instructions"), "{stderr}");
}

#[test]
fn instruction_limit_stops_the_demo() {
    let out = xlat(&["--max-instructions", "1000"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("stopped after 1000 instructions"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("xlat built-in demo"), "{stdout}");
    assert!(!stdout.contains("demo finished"), "{stdout}");
}

/// `xlat bench linux` checks its inputs before booting anything: a missing
/// image is named in one line.
#[test]
fn bench_linux_names_a_missing_image() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-guests-here");
    let out = xlat(&["bench", "linux", "--guests", dir.to_str().unwrap()]);
    assert_one_line_error(&out, &["vmlinuz-686", "is missing"]);
}

/// With the images present but no QEMU, the one-line error says so.
#[test]
fn bench_linux_names_a_missing_qemu() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fake-guests");
    std::fs::create_dir_all(&dir).expect("scratch folder");
    for name in ["vmlinuz-amd64", "initramfs-test-amd64.cpio.gz"] {
        std::fs::write(dir.join(name), b"not a kernel").expect("scratch file");
    }
    let out = xlat(&[
        "bench",
        "linux",
        "--arch",
        "amd64",
        "--guests",
        dir.to_str().unwrap(),
        "--qemu",
        "/nonexistent/qemu-system-x86_64",
    ]);
    assert_one_line_error(&out, &["/nonexistent/qemu-system-x86_64", "qemu"]);
}

#[test]
fn missing_or_unusable_drive_images() {
    for flag in ["--hda", "--hdb", "--cdrom"] {
        let path = concat!(env!("CARGO_TARGET_TMPDIR"), "/no-such-image.img");
        let out = xlat(&[flag, path]);
        assert_one_line_error(&out, &["no-such-image.img"]);
    }
    let tiny = scratch_file("tiny-disk.img", &[0; 100]);
    assert_one_line_error(&xlat(&["--hda", &tiny]), &["smaller than a sector"]);
    assert_one_line_error(
        &xlat(&["--hda", env!("CARGO_TARGET_TMPDIR")]),
        &["cannot open disk image"],
    );
    assert_one_line_error(&xlat(&["--boot", "z"]), &["--boot"]);
}

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
    // Past the mode set and font load, where the title is printed.
    let out = xlat(&["--max-instructions", "10000"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("stopped after 10000 instructions"),
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
    for flag in ["--hda", "--hdb", "--cdrom", "--fda"] {
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
    let empty = scratch_file("empty-floppy.img", &[]);
    assert_one_line_error(&xlat(&["--fda", &empty]), &["floppy image", "empty"]);
    assert_one_line_error(
        &xlat(&["--fda", env!("CARGO_TARGET_TMPDIR")]),
        &["cannot open floppy image"],
    );
}

/// `--display window` where no window can open is an error, before the
/// guest runs.
#[test]
fn display_window_without_a_desktop_is_a_one_line_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .args(["--display", "window", "--max-instructions", "100000"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("run xlat");
    assert_one_line_error(&out, &["window"]);
}

/// With the default `--display auto`, a desktop in the environment but
/// stdout in a pipe (as here) means no window: not even an attempt to
/// reach the (nonexistent) X server.
#[test]
fn display_auto_stays_headless_in_a_pipe() {
    let out = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .args(["--max-instructions", "10000"])
        .env("DISPLAY", ":250")
        .output()
        .expect("run xlat");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("window"), "{stderr}");
}

/// On a terminal (util-linux's `script` gives xlat one) with DISPLAY set,
/// auto tries a window; when the X server is not there, xlat warns in one
/// line and runs headless.
#[test]
fn display_auto_on_a_terminal_falls_back_with_a_warning() {
    let command = format!("{} --max-instructions 10000", env!("CARGO_BIN_EXE_xlat"));
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("DISPLAY", ":250")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run util-linux's script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("window")).collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(
        warnings[0].starts_with("xlat: cannot open a window")
            && warnings[0].contains("going on without a display"),
        "{text}"
    );
    assert!(text.contains("xlat built-in demo"), "{text}");
}

//! Debian's stock kernels (686 and amd64) boot through the interpreter to the test
//! initramfs's marker line. The images come from Debian's packages via
//! scripts/fetch-linux-guests.sh (CI runs it first); without them these
//! tests fail and say so.

use std::path::PathBuf;
use std::process::Command;

fn guests() -> PathBuf {
    std::env::var_os("XLAT_GUESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/xlat-guests")
        })
}

fn image(name: &str) -> PathBuf {
    let path = guests().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-linux-guests.sh (Debian's kernel and busybox packages)",
        path.display()
    );
    path
}

/// Boots `kernel` with `initrd` and returns what the serial console printed.
fn boot(kernel: &str, initrd: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .arg("--kernel")
        .arg(image(kernel))
        .arg("--initrd")
        .arg(image(initrd))
        .args([
            "--append",
            "console=ttyS0 panic=-1",
            "-m",
            "256M",
            "--no-reboot",
        ])
        .args(["--max-instructions", "15000000000", "--stats"])
        .output()
        .expect("run xlat");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    stdout
}

/// Boots `kernel` with the test initramfs of `arch` and checks /init's
/// marker line.
fn assert_reaches_userspace(kernel: &str, arch: &str, marker: &str) {
    let console = boot(kernel, &format!("initramfs-test-{arch}.cpio.gz"));
    let tail: String = console
        .lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        console.contains(marker),
        "no marker from /init; the console ended with:\n{tail}"
    );
}

#[test]
fn debian_686_kernel_reaches_userspace() {
    assert_reaches_userspace("vmlinuz-686", "686", "XLAT-BOOT-OK i686");
}

#[test]
fn debian_amd64_kernel_reaches_userspace() {
    assert_reaches_userspace("vmlinuz-amd64", "amd64", "XLAT-BOOT-OK x86_64");
}

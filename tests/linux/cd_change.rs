//! A disc changed from xlat's monitor while Linux runs: sr_mod sees the
//! media change (the drive's UNIT ATTENTION) and reads the new disc, its
//! contents and its size, instead of what it cached from the old one. The
//! guest side is scripts/initramfs/cdrom.init (built by
//! scripts/fetch-linux-guests.sh); without the images this test fails and
//! says so.

use super::console::Session;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// A raw disc image of `len` bytes whose block 16 (where an ISO 9660
/// volume descriptor would be) starts with the line `mark`: what
/// cdrom.init prints is that line and the size in 512-byte sectors.
fn disc(path: &Path, mark: &str, len: usize) {
    let mut data = vec![0u8; len];
    let line = format!("{mark}\n");
    data[16 * 2048..16 * 2048 + line.len()].copy_from_slice(line.as_bytes());
    std::fs::write(path, data).unwrap();
}

/// A temporary directory of this test's own.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xlat-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// cdrom.init's report for `when` ("first", "second"): the rest of its
/// "XLAT-CD WHEN ..." line.
fn report(console: &str, when: &str) -> Option<String> {
    let prefix = format!("XLAT-CD {when} ");
    console
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|rest| rest.trim_end().to_string())
}

/// The disc's line in the monitor's `info block`.
fn info_line(iso: &Path) -> String {
    format!("ide1-cd0: {} (raw, read-only)", iso.display())
}

#[test]
fn linux_reads_the_new_disc_after_a_change_from_the_monitor() {
    // Different sizes, so a stale capacity shows as well as stale data.
    let (a_len, b_len) = (1 << 20, 3 << 20);
    let dir = scratch_dir("cd-change");
    let (a_iso, b_iso) = (dir.join("a.iso"), dir.join("b.iso"));
    disc(&a_iso, "DISC-A", a_len);
    disc(&b_iso, "DISC-B", b_len);

    let mut s = Session::start(
        "vmlinuz-amd64",
        "initramfs-cdrom-amd64.cpio.gz",
        &["--cdrom", a_iso.to_str().unwrap()],
    );
    let at = s.expect(0, "XLAT-CD CHANGE-NOW", Duration::from_secs(30 * 60));
    assert_eq!(
        report(&s.console(), "first"),
        Some(format!("DISC-A {}", a_len / 512)),
        "the guest did not read disc A; the console ended with:\n{}",
        s.tail()
    );

    // Ctrl-A c to the monitor, the change, Ctrl-A c back to the guest; the
    // guest keeps running, blocked in `read` until the last line. The
    // monitor talks on stderr.
    let limit = Duration::from_secs(60);
    s.type_text("\x01c");
    let m = s.expect_stderr(0, "(xlat) ", limit);
    s.type_text("info block\r");
    let m = s.expect_stderr(m, &info_line(&a_iso), limit);
    let m = s.expect_stderr(m, "not locked, tray closed", limit);
    s.type_text(&format!("change ide1-cd0 {}\r", b_iso.display()));
    let m = s.expect_stderr(m, "(xlat) ", limit);
    s.type_text("info block\r");
    let m = s.expect_stderr(m, &info_line(&b_iso), limit);
    s.expect_stderr(m, "(xlat) ", limit);
    s.type_text("\x01c\r");

    s.expect(at, "XLAT-CD second ", Duration::from_secs(10 * 60));
    let status = s.wait_exit(Duration::from_secs(10 * 60));
    let console = s.console();
    assert_eq!(
        report(&console, "second"),
        Some(format!("DISC-B {}", b_len / 512)),
        "the guest did not read disc B after the change; the console ended with:\n{}",
        s.tail()
    );
    assert!(
        status.success()
            && s.stderr()
                .contains("the guest powered the machine off (ACPI S5)"),
        "`poweroff -f` did not end xlat through ACPI S5 ({status}); stderr:\n{}",
        s.stderr()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

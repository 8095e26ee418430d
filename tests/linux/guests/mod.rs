//! Guest images from scripts/fetch-linux-guests.sh, for the tests that boot
//! Debian's kernels.

use std::path::PathBuf;
use std::process::Command;

/// Where the fetch script caches images: $XLAT_GUESTS or ~/.cache/xlat-guests.
pub fn guests_dir() -> PathBuf {
    std::env::var_os("XLAT_GUESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/xlat-guests")
        })
}

/// The path of a cached image; fails the test, naming the script, when the
/// image is absent.
pub fn image(name: &str) -> PathBuf {
    let path = guests_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-linux-guests.sh (Debian's kernel and busybox packages)",
        path.display()
    );
    path
}

/// How a run of xlat ended: its exit status, the serial console (stdout)
/// and its own messages (stderr).
pub struct Boot {
    pub success: bool,
    pub console: String,
    pub stderr: String,
}

/// Runs `xlat` (set up by the caller) to its end, echoing its stderr into
/// the test's output.
pub fn run_to_end(xlat: &mut Command) -> Boot {
    let out = xlat.output().expect("run xlat");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("{stderr}");
    Boot {
        success: out.status.success(),
        console: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    }
}

//! `xlat bench linux`: boots Debian's kernels to the test initramfs's
//! marker line with xlat's interpreter and with QEMU's TCG, side by side,
//! and prints the wall time of each and their ratio (issue 5's yardstick).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The line the test initramfs's /init prints once userspace runs.
const MARKER: &str = "XLAT-BOOT-OK";
/// The kernel command line both emulators get (as tests/linux/boot.rs).
const APPEND: &str = "console=ttyS0 panic=-1";

pub struct Options {
    /// Where vmlinuz-<arch> and initramfs-test-<arch>.cpio.gz live.
    pub guests: PathBuf,
    /// The QEMU binary.
    pub qemu: PathBuf,
    /// Guest RAM in MiB, for both.
    pub memory_mib: u64,
    /// Kernel flavours to boot ("686", "amd64").
    pub arches: Vec<String>,
    /// Give up on one boot after this long.
    pub timeout: Duration,
}

/// Default folder of the guest images (scripts/fetch-linux-guests.sh).
pub fn default_guests() -> PathBuf {
    std::env::var_os("XLAT_GUESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/xlat-guests")
        })
}

struct Images {
    arch: String,
    kernel: PathBuf,
    initrd: PathBuf,
}

/// Checks everything the run needs before starting any of it.
fn preflight(opts: &Options) -> Result<Vec<Images>, String> {
    let mut images = Vec::new();
    for arch in &opts.arches {
        let kernel = opts.guests.join(format!("vmlinuz-{arch}"));
        let initrd = opts.guests.join(format!("initramfs-test-{arch}.cpio.gz"));
        for path in [&kernel, &initrd] {
            if !path.is_file() {
                return Err(format!(
                    "{} is missing: run scripts/fetch-linux-guests.sh",
                    path.display()
                ));
            }
        }
        images.push(Images {
            arch: arch.clone(),
            kernel,
            initrd,
        });
    }
    let probe = Command::new(&opts.qemu)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return Err(format!(
            "cannot run {}: install Debian's qemu-system-x86 package (or pass --qemu)",
            opts.qemu.display()
        ));
    }
    Ok(images)
}

/// Seconds from spawning `cmd` to the marker on its stdout; the child is
/// killed once the marker shows (or on timeout).
fn time_to_marker(mut cmd: Command, what: &str, timeout: Duration) -> Result<f64, String> {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            if String::from_utf8_lossy(&line).contains(MARKER) {
                let _ = tx.send(());
                return;
            }
        }
    });
    let outcome = match rx.recv_timeout(timeout) {
        Ok(()) => Ok(start.elapsed().as_secs_f64()),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
            "{what} printed no {MARKER} within {} s",
            timeout.as_secs()
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(format!("{what} ended without printing {MARKER}"))
        }
    };
    stop(&mut child);
    let _ = reader.join();
    outcome
}

fn stop(child: &mut Child) {
    if !matches!(child.try_wait(), Ok(Some(_))) {
        let _ = child.kill();
    }
    let _ = child.wait();
}

fn xlat_command(img: &Images, memory_mib: u64) -> Result<Command, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find xlat itself: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--kernel")
        .arg(&img.kernel)
        .arg("--initrd")
        .arg(&img.initrd)
        .args(["--append", APPEND, "-m", &format!("{memory_mib}M")])
        .args(["--no-reboot", "--max-instructions", "30000000000"]);
    Ok(cmd)
}

fn qemu_command(qemu: &Path, img: &Images, memory_mib: u64) -> Command {
    let mut cmd = Command::new(qemu);
    cmd.args(["-accel", "tcg", "-kernel"])
        .arg(&img.kernel)
        .arg("-initrd")
        .arg(&img.initrd)
        .args(["-append", APPEND, "-m", &format!("{memory_mib}M")])
        .args(["-nographic", "-no-reboot"]);
    cmd
}

pub fn run(opts: &Options) -> Result<ExitCode, String> {
    let images = preflight(opts)?;
    println!(
        "{:<8} {:>12} {:>12} {:>8}",
        "kernel", "xlat (s)", "qemu tcg (s)", "ratio"
    );
    for img in &images {
        let xlat = time_to_marker(
            xlat_command(img, opts.memory_mib)?,
            &format!("xlat ({})", img.arch),
            opts.timeout,
        )?;
        let qemu = time_to_marker(
            qemu_command(&opts.qemu, img, opts.memory_mib),
            &format!("qemu ({})", img.arch),
            opts.timeout,
        )?;
        println!(
            "{:<8} {:>12.2} {:>12.2} {:>7.1}x",
            img.arch,
            xlat,
            qemu,
            xlat / qemu.max(1e-9)
        );
    }
    Ok(ExitCode::SUCCESS)
}

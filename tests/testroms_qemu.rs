//! Runs every test ROM under QEMU (qemu-system-x86_64, TCG) as an outside
//! reference for the ROMs themselves: a ROM that QEMU fails is suspect.
//! Where QEMU is known to deviate from the SDM, the ROM lists the checks
//! (`qemu_deviations`); exactly those must fail, so a fixed QEMU or a new
//! failure both show up.
//!
//! Needs Debian's `qemu-system-x86` package (.ci/run installs it).

use std::collections::BTreeSet;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

include!(concat!(env!("OUT_DIR"), "/testroms.rs"));

const QEMU: &str = "qemu-system-x86_64";
/// Every ROM finishes in well under a second on QEMU.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The Intel vendor string: the ROMs check CPUID for it, and QEMU then
/// follows Intel where AMD differs (SYSENTER/SYSCALL in long mode).
const CPU: &str = "max,vendor=GenuineIntel";

fn qemu(rom: &str) -> (Option<i32>, String) {
    let mut child = Command::new(QEMU)
        .args(["-accel", "tcg", "-cpu", CPU, "-m", "32", "-bios", rom])
        .args(["-display", "none", "-serial", "none", "-monitor", "none"])
        .args(["-nodefaults", "-no-reboot", "-debugcon", "stdio"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {QEMU} ({e}): install Debian's qemu-system-x86 package")
        });
    let mut out = child.stdout.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for qemu") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{QEMU} -bios {rom} ran longer than {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (
        status.code(),
        String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
    )
}

/// ROMs that crash QEMU itself, with why. QEMU must still die on them
/// (killed by a signal after the ROM started), so a fixed QEMU shows up
/// and the ROM leaves this list.
const QEMU_ABORTS: &[(&str, &str)] = &[(
    "fpu_ferr",
    "QEMU 7.2 TCG raises IRQ13 for FERR# from the vCPU thread without the I/O-thread \
     lock and aborts (assertion in tcg_handle_interrupt)",
)];

fn run_rom(name: &str) {
    let rom = TEST_ROMS
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no test ROM named {name}"));
    let (status, stdout) = qemu(rom.path);
    let report = format!("ROM {name} on QEMU: exit status {status:?}\n--- stdout\n{stdout}");
    if let Some((_, why)) = QEMU_ABORTS.iter().find(|(n, _)| *n == name) {
        assert!(
            status.is_none() && stdout.contains(&format!("{name}: start")),
            "QEMU no longer aborts on ROM {name} ({why}): remove it from QEMU_ABORTS\n{report}"
        );
        return;
    }
    // "FAIL <rom>: <check>: details": each failure must belong to a known
    // deviation, and each known deviation must still fail.
    let prefix = format!("FAIL {name}: ");
    let mut unexplained = Vec::new();
    let mut seen = BTreeSet::new();
    for rest in stdout.lines().filter_map(|l| l.strip_prefix(&prefix)) {
        match rom
            .qemu_deviations
            .iter()
            .find(|(check, _)| rest.starts_with(&format!("{check}:")))
        {
            Some((check, _)) => {
                seen.insert(*check);
            }
            None => unexplained.push(rest),
        }
    }
    let known: BTreeSet<&str> = rom.qemu_deviations.iter().map(|(c, _)| *c).collect();
    assert!(
        unexplained.is_empty(),
        "failures QEMU is not known for: {unexplained:?}\n{report}"
    );
    assert_eq!(
        seen, known,
        "known QEMU deviations that no longer fail (remove them)\n{report}"
    );
    if known.is_empty() {
        assert_eq!(status, Some(rom.expected_status), "{report}");
        assert!(stdout.contains("checks passed"), "{report}");
    } else {
        // The ROM ran to its end and reported the known failures.
        assert!(stdout.contains("FAILED checks"), "{report}");
    }
}

macro_rules! rom_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                run_rom($name);
            }
        )*

        #[test]
        fn every_rom_has_a_qemu_test() {
            let mut names: Vec<&str> = TEST_ROMS.iter().map(|r| r.name).collect();
            names.sort_unstable();
            let mut tested = vec![$($name),*];
            tested.sort_unstable();
            assert_eq!(names, tested);
        }
    };
}

rom_tests! {
    qemu_alu => "alu",
    qemu_shift => "shift",
    qemu_strings => "strings",
    qemu_interrupts => "interrupts",
    qemu_wide => "wide",
    qemu_pc_timers => "pc_timers",
    qemu_pm_segments => "pm_segments",
    qemu_pm_interrupts => "pm_interrupts",
    qemu_rings => "rings",
    qemu_paging => "paging",
    qemu_long_mode => "long_mode",
    qemu_task_switch => "task_switch",
    qemu_v86 => "v86",
    qemu_smc => "smc",
    qemu_fpu_exceptions => "fpu_exceptions",
    qemu_fpu_layouts => "fpu_layouts",
    qemu_fpu_ferr => "fpu_ferr",
}

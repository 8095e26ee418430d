//! Runs every test ROM (testroms/, assembled by build.rs) and the built-in
//! demo through the real `xlat` binary.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

include!(concat!(env!("OUT_DIR"), "/testroms.rs"));

/// Far more than any ROM needs (the largest runs a few million
/// instructions); a ROM stuck in a loop stops here instead of hanging.
const MAX_INSTRUCTIONS: &str = "200000000";
/// Wall-clock guard on top of the instruction limit.
const TIMEOUT: Duration = Duration::from_secs(120);

struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs xlat with `args`, killing it if it outlives `TIMEOUT`.
fn xlat(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start xlat");
    // Drain both pipes on threads so a chatty guest cannot block on a full
    // pipe while we wait.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for xlat") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("xlat {args:?} ran longer than {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        status: status.code(),
        stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
    }
}

fn run_rom(name: &str) {
    let rom = TEST_ROMS
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no test ROM named {name}"));
    let run = xlat(&["--bios", rom.path, "--max-instructions", MAX_INSTRUCTIONS]);
    let report = format!(
        "ROM {name}: exit status {:?}, want {}\n--- stdout\n{}--- stderr\n{}",
        run.status, rom.expected_status, run.stdout, run.stderr
    );
    let passed = run.status == Some(rom.expected_status)
        && !run.stdout.contains("FAIL")
        && run.stdout.contains("checks passed");
    match rom.pending {
        None => assert!(passed, "{report}"),
        // A pending ROM must still fail: when it passes, xlat has caught up
        // and the ROM leaves the list (no silent skips either way).
        Some(why) => assert!(
            !passed,
            "ROM {name} now passes on xlat: remove it from PENDING in \
             testroms/src/lib.rs (it was pending because {why})"
        ),
    }
}

/// One test per ROM, so they run in parallel and fail by name.
macro_rules! rom_tests {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                run_rom($name);
            }
        )*

        #[test]
        fn every_rom_has_a_test() {
            let mut names: Vec<&str> = TEST_ROMS.iter().map(|r| r.name).collect();
            names.sort_unstable();
            let mut tested = vec![$($name),*];
            tested.sort_unstable();
            assert_eq!(names, tested);
        }
    };
}

rom_tests! {
    rom_alu => "alu",
    rom_shift => "shift",
    rom_strings => "strings",
    rom_interrupts => "interrupts",
    rom_wide => "wide",
    rom_pc_timers => "pc_timers",
    rom_pm_segments => "pm_segments",
    rom_pm_interrupts => "pm_interrupts",
    rom_rings => "rings",
    rom_paging => "paging",
    rom_long_mode => "long_mode",
    rom_task_switch => "task_switch",
    rom_v86 => "v86",
    rom_smc => "smc",
    rom_fpu_exceptions => "fpu_exceptions",
    rom_fpu_layouts => "fpu_layouts",
    rom_fpu_ferr => "fpu_ferr",
}

#[test]
fn demo_runs_to_a_clean_halt() {
    // The limit bounds guest time too (1 ns per instruction), and the demo
    // holds its text screen for seconds with the CPU halted.
    let run = xlat(&["--max-instructions", "20000000000"]);
    let report = format!("--- stdout\n{}--- stderr\n{}", run.stdout, run.stderr);
    assert_eq!(run.status, Some(0), "{report}");
    for line in [
        "xlat built-in demo",
        "PE=0: running in real mode",
        "CPUID vendor: GenuineIntel",
        "sieve of Eratosthenes below 65536: 6542 primes, sum 202288087 (0x0C0EABD7)",
        "CRC-32(\"123456789\") = 0xCBF43926",
        "demo finished",
    ] {
        assert!(run.stdout.contains(line), "missing {line:?}\n{report}");
    }
    // It halted (the message for --max-instructions would say "stopped").
    assert!(run.stderr.contains("MIPS"), "{report}");
    assert!(!run.stderr.contains("stopped after"), "{report}");
}

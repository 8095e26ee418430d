//! Debian's SeaBIOS (package `seabios`, which CI installs) runs its power-on
//! self test on xlat's board: it shadows itself into RAM through the
//! i440FX PAM registers, sizes memory from CMOS, enumerates and sets up
//! the PCI devices, finds the PM timer and the serial ports, and reaches
//! its boot attempt. Its log comes out of port 0x402 (--debugcon).

use std::path::Path;
use std::process::Command;

const SEABIOS: &str = "/usr/share/seabios/bios.bin";

#[test]
fn seabios_runs_its_post_to_the_boot_attempt() {
    assert!(
        Path::new(SEABIOS).is_file(),
        "{SEABIOS} is missing: install Debian's seabios package (apt-get install seabios)"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .args(["--bios", SEABIOS, "-m", "64M", "--serial", "none"])
        .args(["--debugcon", "stdio", "--max-instructions", "5000000000"])
        .output()
        .expect("run xlat");
    let log = String::from_utf8_lossy(&out.stdout);
    for line in [
        "SeaBIOS (version",
        "RamSize: 0x04000000 [cmos]",
        "Relocating init from",
        "PCI: init bdf=00:00.0 id=8086:1237",
        "PCI: init bdf=00:01.3 id=8086:7113",
        "Using pmtimer",
        "Found 4 serial ports",
        "PS2 keyboard initialized",
        "No bootable device.",
    ] {
        assert!(
            log.contains(line),
            "SeaBIOS's log lacks {line:?}; it was:\n{log}"
        );
    }
}

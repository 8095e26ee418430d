//! What the bootloader tests share: the tools that build their images, a
//! boot of xlat with Debian's SeaBIOS, and the checks that Linux came up on
//! xlat's own ACPI and SMBIOS tables and powered the machine off.

use std::path::Path;
use std::process::Command;

pub const SEABIOS: &str = "/usr/share/seabios/bios.bin";

/// The kernel command line: the serial console and nothing that turns
/// platform features off; `panic=-1` makes a panic end the run at once.
pub const APPEND: &str = "console=ttyS0 panic=-1";

/// A syslinux/isolinux configuration that boots /vmlinuz with /initrd.gz.
pub fn syslinux_cfg() -> String {
    format!(
        "DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL /vmlinuz\n  \
         INITRD /initrd.gz\n  APPEND {APPEND}\n"
    )
}

/// Fails the test, naming the Debian packages, unless every file exists.
pub fn require(files: &[(&str, &str)]) {
    let missing: Vec<&str> = files
        .iter()
        .filter(|(path, _)| !Path::new(path).exists())
        .map(|&(_, package)| package)
        .collect();
    assert!(
        missing.is_empty(),
        "missing tools: apt-get install {} (Debian packages; .ci/run installs them)",
        missing.join(" ")
    );
}

/// Runs a command that builds part of an image; fails the test with its
/// output if it fails.
pub fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Console lines that show Linux found xlat's tables through SeaBIOS: the
/// SMBIOS from fw_cfg, the RSDP SeaBIOS placed with our OEM ID, the FADT,
/// DSDT (S5, PCI root bridge, ISA devices), MADT (the I/O APIC) and HPET.
const PLATFORM_LINES: &[&str] = &[
    "SMBIOS 2.8 present.",
    "DMI: xlat xlat PC, BIOS",
    "(v02 XLAT  )",
    "ACPI: FACP 0x",
    "ACPI: DSDT 0x",
    "ACPI: HPET 0x",
    "IOAPIC[0]: apic_id 0, version 17, address 0xfec00000, GSI 0-23",
    "ACPI: PM: (supports S0 S5)",
    "hpet0: at MMIO 0xfed00000",
    "PCI Root Bridge [PCI0] (domain 0000 [bus 00-ff])",
    "pnp: PnP ACPI: found 4 devices",
];

/// Boots SeaBIOS with `drive_args` and checks that Linux printed `marker`
/// from /init, saw the platform through xlat's tables, and that its
/// `poweroff -f` ended xlat through ACPI S5 with exit status 0.
pub fn assert_boots_linux(drive_args: &[&str], marker: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .args(["--bios", SEABIOS, "-m", "256M", "--no-reboot"])
        .args(drive_args)
        .args(["--max-instructions", "20000000000", "--stats"])
        .output()
        .expect("run xlat");
    let console = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    let tail: Vec<&str> = console.lines().rev().take(30).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    assert!(
        console.contains(marker),
        "no marker from /init; the console ended with:\n{}",
        tail.join("\n")
    );
    for line in PLATFORM_LINES {
        assert!(
            console.contains(line),
            "no {line:?} on the console:\n{console}"
        );
    }
    assert!(
        out.status.code() == Some(0)
            && stderr.contains("the guest powered the machine off (ACPI S5)"),
        "`poweroff -f` did not end xlat through ACPI S5 ({}); stderr:\n{stderr}",
        out.status
    );
}

/// A scratch folder for one test's image, removed when dropped (also when
/// the test fails).
pub struct ScratchDir(pub std::path::PathBuf);

impl ScratchDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("xlat-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the scratch folder");
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

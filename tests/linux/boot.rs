//! Debian's stock kernels (686 and amd64) boot through the interpreter to the test
//! initramfs's marker line, find the platform through the ACPI tables, and
//! power the machine off through ACPI S5 when /init runs `poweroff -f`. The
//! images come from Debian's packages via
//! scripts/fetch-linux-guests.sh (CI runs it first); without them these
//! tests fail and say so.

use super::guests;

use guests::{image, run_to_end, Boot};
use std::process::Command;

/// Boots `kernel` with `initrd`.
fn boot(kernel: &str, initrd: &str) -> Boot {
    run_to_end(
        Command::new(env!("CARGO_BIN_EXE_xlat"))
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
            .args(["--max-instructions", "15000000000", "--stats"]),
    )
}

/// Console lines that show the kernel found the platform through ACPI: the
/// tables, the I/O APIC from the MADT, the AML interpreter with S5 from the
/// DSDT, the HPET from its table and the PCI root bridge from the DSDT;
/// the SMBIOS tables, and the MTRRs programmed as firmware would.
const PLATFORM_LINES: &[&str] = &[
    "SMBIOS 2.8 present.",
    "DMI: xlat xlat PC, BIOS",
    "ACPI: RSDP 0x000000000009FC00",
    "ACPI: FACP 0x",
    "ACPI: DSDT 0x",
    "ACPI: HPET 0x",
    "IOAPIC[0]: apic_id 0, version 17, address 0xfec00000, GSI 0-23",
    "ACPI: Interpreter enabled",
    "ACPI: PM: (supports S0 S5)",
    "ACPI: Using IOAPIC for interrupt routing",
    "hpet0: at MMIO 0xfed00000",
    "PCI Root Bridge [PCI0] (domain 0000 [bus 00-ff])",
    "PCI host bridge to bus 0000:00",
    "pnp: PnP ACPI: found 4 devices",
];

/// Boots `kernel` with the test initramfs of `arch` and checks /init's
/// marker line, the platform lines and the ACPI power-off.
fn assert_reaches_userspace(kernel: &str, arch: &str, marker: &str) {
    let Boot {
        success,
        console,
        stderr,
    } = boot(kernel, &format!("initramfs-test-{arch}.cpio.gz"));
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
    for line in PLATFORM_LINES {
        assert!(console.contains(line), "no {line:?} on the console");
    }
    assert!(
        success && stderr.contains("the guest powered the machine off (ACPI S5)"),
        "`poweroff -f` did not end xlat through ACPI S5; stderr:\n{stderr}"
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

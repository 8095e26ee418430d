//! Linux's own IDE driver (ata_piix + sd_mod) on xlat's PIIX3 IDE function:
//! a guest writes a pattern to /dev/sda by DMA, the host finds it in the
//! image file, and a second boot reads it back unchanged; writes under
//! --snapshot never reach the file. The guest side is
//! scripts/initramfs/disk.init (built by scripts/fetch-linux-guests.sh);
//! without the images these tests fail and say so.

use super::guests;

use guests::{image, run_to_end, Boot};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where disk.init writes the pattern, and how much (keep in step with it).
const PATTERN_OFFSET: usize = 1 << 20;
const PATTERN_LEN: usize = 2 << 20;
const IMAGE_LEN: usize = 8 << 20;
/// What the host fills the image with, so stray writes show.
const FILLER: u8 = 0xe5;

/// The pattern disk.init writes for `seed`: `seq -w` from 10^14 + seed * 10^7,
/// one 15-digit number and a newline per 16 bytes.
fn pattern(seed: u64) -> Vec<u8> {
    let first = 100_000_000_000_000 + seed * 10_000_000;
    (0..(PATTERN_LEN / 16) as u64)
        .flat_map(|i| format!("{:015}\n", first + i).into_bytes())
        .collect()
}

/// Boots Debian's amd64 kernel with the disk initramfs, `image_file` on the
/// primary master, `steps` as xlat.disk= and `extra` flags for xlat.
fn boot(image_file: &Path, steps: &str, extra: &[&str]) -> Boot {
    run_to_end(
        Command::new(env!("CARGO_BIN_EXE_xlat"))
            .arg("--kernel")
            .arg(image("vmlinuz-amd64"))
            .arg("--initrd")
            .arg(image("initramfs-disk-amd64.cpio.gz"))
            .arg("--hda")
            .arg(image_file)
            .args(extra)
            .arg("--append")
            .arg(format!("console=ttyS0 panic=-1 xlat.disk={steps}"))
            .args(["-m", "256M", "--no-reboot"])
            .args(["--max-instructions", "20000000000", "--stats"]),
    )
}

/// Console lines that show libata found the disk on the PIIX3 (which does
/// multiword DMA 2 at most) and the SCSI disk on top.
const DRIVER_LINES: &[&str] = &[
    "ata1: PATA max MWDMA2 cmd 0x1f0 ctl 0x3f6 bmdma 0x",
    "ata1.00: ATA-6: XLAT HARDDISK, 1.0, max UDMA/100",
    "ata1.00: 16384 sectors, multi 0: LBA48",
    "sd 0:0:0:0: [sda] 16384 512-byte logical blocks",
    "sd 0:0:0:0: [sda] Attached SCSI disk",
];

/// Checks a boot attached the disk with DMA and ended with the ACPI
/// power-off; returns /init's result lines (after "XLAT-DISK ").
fn results_of(boot: &Boot) -> Vec<String> {
    let tail: String = boot
        .console
        .lines()
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .join("\n");
    for line in DRIVER_LINES {
        assert!(
            boot.console.contains(line),
            "no {line:?} on the console:\n{tail}"
        );
    }
    let results: Vec<String> = boot
        .console
        .lines()
        .filter_map(|l| {
            l.split_once("XLAT-DISK ")
                .map(|(_, r)| r.trim().to_string())
        })
        .collect();
    eprintln!("guest results: {results:?}");
    assert_eq!(
        results.first().map(String::as_str),
        Some("MODE XFER_MW_DMA_2"),
        "libata did not put the disk in DMA mode; the console ended with:\n{tail}"
    );
    assert!(
        boot.success
            && boot
                .stderr
                .contains("the guest powered the machine off (ACPI S5)"),
        "`poweroff -f` did not end xlat through ACPI S5; stderr:\n{}",
        boot.stderr
    );
    results[1..].to_vec()
}

/// The md5 in a step's result line "WHAT SEED OK MD5", failing on anything
/// else.
fn step_sum<'a>(result: Option<&'a String>, what: &str, seed: u64) -> &'a str {
    let result = result.unwrap_or_else(|| panic!("no result line for {what} {seed}"));
    result
        .strip_prefix(&format!("{what} {seed} OK "))
        .unwrap_or_else(|| panic!("{what} {seed} failed in the guest: XLAT-DISK {result}"))
}

/// A fresh image in its own temporary directory.
fn scratch_image(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xlat-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("disk.img");
    std::fs::write(&path, vec![FILLER; IMAGE_LEN]).unwrap();
    path
}

/// Checks the image holds `expected` where disk.init writes and the filler
/// everywhere else.
fn assert_image_holds(path: &Path, expected: &[u8]) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(bytes.len(), IMAGE_LEN, "the image changed size");
    let written = &bytes[PATTERN_OFFSET..PATTERN_OFFSET + PATTERN_LEN];
    if let Some(at) = (0..PATTERN_LEN).find(|&i| written[i] != expected[i]) {
        let sector = (PATTERN_OFFSET + at) / 512;
        panic!(
            "the image differs from the pattern at byte {} (sector {sector}): {:?} vs {:?}",
            PATTERN_OFFSET + at,
            String::from_utf8_lossy(&written[at..(at + 32).min(PATTERN_LEN)]),
            String::from_utf8_lossy(&expected[at..(at + 32).min(PATTERN_LEN)]),
        );
    }
    let outside = bytes[..PATTERN_OFFSET]
        .iter()
        .chain(&bytes[PATTERN_OFFSET + PATTERN_LEN..])
        .position(|&b| b != FILLER);
    assert_eq!(outside, None, "the guest wrote outside the pattern");
}

/// Console lines that show libata found the CD-ROM on the secondary
/// channel and sr_mod attached it.
const CDROM_LINES: &[&str] = &[
    "ata2.00: ATAPI: XLAT DVD-ROM, 1.0, max UDMA/100",
    "scsi 1:0:0:0: CD-ROM            XLAT     XLAT DVD-ROM",
    "sr 1:0:0:0: [sr0] scsi",
];

/// Boot 1 writes a pattern (read back in the guest after dropping the page
/// cache) and the host finds it in the file. Boot 2, with --snapshot,
/// reads it back from the file, then writes a second pattern that the
/// guest reads back from its overlay while the file stays as boot 1 left
/// it; it also reads a third pattern from a CD-ROM image through sr_mod.
#[test]
fn linux_writes_a_disk_that_a_second_boot_reads_back() {
    let (seed, throwaway, cd_seed) = (4242, 77, 31337);
    let path = scratch_image("disk-persist");
    let expected = pattern(seed);
    let cd = path.with_file_name("cd.img");
    std::fs::write(&cd, pattern(cd_seed)).unwrap();

    let first = results_of(&boot(&path, &format!("write:{seed}"), &[]));
    let wrote = step_sum(first.first(), "WROTE", seed);
    assert_image_holds(&path, &expected);

    let second = boot(
        &path,
        &format!("read:{seed},write:{throwaway},cd:{cd_seed}"),
        &["--snapshot", "--cdrom", cd.to_str().unwrap()],
    );
    let cd_lines = CDROM_LINES.iter().find(|l| !second.console.contains(*l));
    let second_results = results_of(&second);
    assert_eq!(
        cd_lines, None,
        "missing on the console:\n{}",
        second.console
    );
    let second = second_results;
    let read = step_sum(second.first(), "READ", seed);
    assert_eq!(
        read, wrote,
        "the second boot did not read back what the first wrote"
    );
    let overlay = step_sum(second.get(1), "WROTE", throwaway);
    assert_ne!(overlay, wrote, "the two patterns must differ");
    step_sum(second.get(2), "CD", cd_seed);
    assert_image_holds(&path, &expected);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

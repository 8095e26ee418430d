//! Linux from a hard disk through SeaBIOS and syslinux: the test builds a
//! partitioned raw image — syslinux's MBR, one active FAT16 partition made
//! with mkfs.fat at 1 MiB, Debian's amd64 kernel and the test initramfs
//! copied in with mtools, syslinux installed into the partition through
//! mtools (no root, no loop device) — boots it with `--hda`, and checks
//! the marker, xlat's ACPI and SMBIOS tables and the ACPI power-off.

use super::bootloader;
use super::guests;

use bootloader::{assert_boots_linux, require, run, syslinux_cfg, ScratchDir};
use std::fs;
use std::path::Path;
use std::process::Command;

const MBR_BIN: &str = "/usr/lib/syslinux/mbr/mbr.bin";
const MKFS_FAT: &str = "/usr/sbin/mkfs.fat";
const MCOPY: &str = "/usr/bin/mcopy";
const SYSLINUX: &str = "/usr/bin/syslinux";

const SECTOR: u64 = 512;
const DISK_SECTORS: u64 = 32 << 11; // 32 MiB
const PART_START: u64 = 2048;
/// FAT16 with LBA addressing.
const PART_TYPE_FAT16_LBA: u8 = 0x0e;

/// CHS of `lba` for the 16-head, 63-sector geometry of a small IDE disk;
/// the partition entry's (head, sector | cylinder high bits, cylinder low).
fn chs(lba: u64) -> [u8; 3] {
    let c = lba / (16 * 63);
    let h = (lba / 63) % 16;
    let s = lba % 63 + 1;
    [h as u8, ((c >> 2) & 0xc0) as u8 | s as u8, c as u8]
}

/// The MBR: syslinux's boot code, one active partition, the signature.
fn mbr() -> Vec<u8> {
    let code = fs::read(MBR_BIN).expect("read mbr.bin");
    let mut mbr = vec![0u8; SECTOR as usize];
    let n = code.len().min(440);
    mbr[..n].copy_from_slice(&code[..n]);
    let sectors = DISK_SECTORS - PART_START;
    let entry = &mut mbr[446..462];
    entry[0] = 0x80;
    entry[1..4].copy_from_slice(&chs(PART_START));
    entry[4] = PART_TYPE_FAT16_LBA;
    entry[5..8].copy_from_slice(&chs(DISK_SECTORS - 1));
    entry[8..12].copy_from_slice(&(PART_START as u32).to_le_bytes());
    entry[12..16].copy_from_slice(&(sectors as u32).to_le_bytes());
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    mbr
}

/// mtools' name for the partition inside the image file.
fn fat(img: &Path) -> String {
    format!("{}@@{}", img.display(), PART_START * SECTOR)
}

#[test]
fn syslinux_fat_disk_boots_debian_amd64_kernel() {
    require(&[
        (bootloader::SEABIOS, "seabios"),
        (MBR_BIN, "syslinux-common"),
        (SYSLINUX, "syslinux"),
        (MKFS_FAT, "dosfstools"),
        (MCOPY, "mtools"),
    ]);
    let kernel = guests::image("vmlinuz-amd64");
    let initrd = guests::image("initramfs-test-amd64.cpio.gz");
    let scratch = ScratchDir::new("disk-linux");
    let img = scratch.0.join("disk.img");
    fs::write(&img, mbr()).unwrap();
    let file = fs::OpenOptions::new().write(true).open(&img).unwrap();
    file.set_len(DISK_SECTORS * SECTOR).unwrap();
    drop(file);
    let kib = (DISK_SECTORS - PART_START) * SECTOR / 1024;
    run(Command::new(MKFS_FAT)
        .args(["-F", "16", "-n", "XLAT", "--offset"])
        .arg(PART_START.to_string())
        .arg(&img)
        .arg(kib.to_string()));
    let cfg = scratch.0.join("syslinux.cfg");
    fs::write(&cfg, syslinux_cfg()).unwrap();
    for (src, name) in [
        (kernel.as_path(), "::vmlinuz"),
        (initrd.as_path(), "::initrd.gz"),
        (cfg.as_path(), "::syslinux.cfg"),
    ] {
        run(Command::new(MCOPY)
            .arg("-i")
            .arg(fat(&img))
            .arg(src)
            .arg(name));
    }
    run(Command::new(SYSLINUX)
        .args(["--install", "--offset"])
        .arg((PART_START * SECTOR).to_string())
        .arg(&img));

    let img_arg = img.to_str().unwrap().to_owned();
    assert_boots_linux(
        &["--hda", &img_arg, "--boot", "c"],
        "XLAT-BOOT-OK x86_64 BOOT_IMAGE=/vmlinuz",
    );
}

#[test]
fn partition_entry_addresses_the_fat_partition() {
    require(&[(MBR_BIN, "syslinux-common")]);
    let mbr = mbr();
    assert_eq!(&mbr[510..], &[0x55, 0xaa]);
    assert_eq!(mbr[446], 0x80, "active");
    // LBA 2048 = cylinder 2, head 0, sector 33 in 16x63 geometry.
    assert_eq!(&mbr[447..450], &[0, 33, 2]);
    assert_eq!(u32::from_le_bytes(mbr[454..458].try_into().unwrap()), 2048);
}

//! Linux from a CD through SeaBIOS and isolinux: the test builds an El
//! Torito ISO (Debian's isolinux and syslinux-common, written with xorriso)
//! holding Debian's amd64 kernel and the test initramfs, boots it with
//! `--cdrom X.iso --boot d`, and checks that /init printed its marker, that
//! Linux found xlat's ACPI and SMBIOS tables (handed to SeaBIOS over
//! fw_cfg) and that `poweroff -f` ended xlat with exit status 0.

use super::bootloader;
use super::guests;

use bootloader::{assert_boots_linux, require, run, syslinux_cfg, ScratchDir};
use std::fs;
use std::process::Command;

const ISOLINUX_BIN: &str = "/usr/lib/ISOLINUX/isolinux.bin";
const LDLINUX_C32: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";
const XORRISO: &str = "/usr/bin/xorriso";

#[test]
fn isolinux_cd_boots_debian_amd64_kernel() {
    require(&[
        (bootloader::SEABIOS, "seabios"),
        (ISOLINUX_BIN, "isolinux"),
        (LDLINUX_C32, "syslinux-common"),
        (XORRISO, "xorriso"),
    ]);
    let kernel = guests::image("vmlinuz-amd64");
    let initrd = guests::image("initramfs-test-amd64.cpio.gz");
    let scratch = ScratchDir::new("cd-linux");
    let dir = &scratch.0;
    let root = dir.join("root");
    fs::create_dir_all(root.join("isolinux")).unwrap();
    fs::copy(ISOLINUX_BIN, root.join("isolinux/isolinux.bin")).unwrap();
    fs::copy(LDLINUX_C32, root.join("isolinux/ldlinux.c32")).unwrap();
    fs::write(root.join("isolinux/isolinux.cfg"), syslinux_cfg()).unwrap();
    fs::copy(kernel, root.join("vmlinuz")).unwrap();
    fs::copy(initrd, root.join("initrd.gz")).unwrap();
    let iso = dir.join("linux.iso");
    run(Command::new(XORRISO)
        .args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(&iso)
        .args(["-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat"])
        .args(["-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"])
        .arg(&root));

    let iso_arg = iso.to_str().unwrap().to_owned();
    assert_boots_linux(
        &["--cdrom", &iso_arg, "--boot", "d"],
        "XLAT-BOOT-OK x86_64 BOOT_IMAGE=/vmlinuz",
    );
}

//! Debian's kernels booted through xlat, as one test binary: each boot
//! takes minutes, cargo runs test binaries one after another, and libtest
//! runs the tests of one binary side by side (one per core).
//!
//! - `boot`: both kernels by direct boot to the test initramfs's marker,
//!   the platform found through ACPI, and the power-off through S5.
//! - `serial_console`: commands typed into the amd64 busybox shell.
//! - `isolinux_cd`, `syslinux_disk`: the amd64 kernel booted by SeaBIOS
//!   and a real bootloader from a CD and from a FAT hard disk.
//! - `disk_persist`: Linux's ata_piix writing a disk that a second boot
//!   reads back.
//! - `cd_change`: a disc changed from the monitor, seen by Linux's sr_mod.
//! - `framebuffer`: bochs-drm's console on the PCI VGA at two resolutions.

mod bootloader;
mod console;
mod guests;

mod boot;
mod cd_change;
mod disk_persist;
mod framebuffer;
mod isolinux_cd;
mod serial_console;
mod syslinux_disk;

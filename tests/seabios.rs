//! Debian's SeaBIOS (package `seabios`, which CI installs) runs its power-on
//! self test on xlat's board: it shadows itself into RAM through the
//! i440FX PAM registers, reads fw_cfg, enumerates the PCI devices, finds
//! the PM timer and the serial ports, runs the VGA BIOS from the same
//! package (the PCI card's from its ROM BAR, as on QEMU; the ISA card's
//! through fw_cfg), and reaches its boot attempt. Its log comes out of port
//! 0x402 (--debugcon); its screen is checked as VGA text and as a
//! screenshot.

use std::path::{Path, PathBuf};
use std::process::Command;
use xlat::machine::{Machine, MachineConfig};

const SEABIOS: &str = "/usr/share/seabios/bios.bin";
const VGABIOS: &str = "/usr/share/seabios/vgabios-isavga.bin";

fn require(path: &str) {
    assert!(
        Path::new(path).is_file(),
        "{path} is missing: install Debian's seabios package (apt-get install seabios)"
    );
}

#[test]
fn seabios_runs_its_post_to_the_boot_attempt() {
    require(SEABIOS);
    let out = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .args(["--bios", SEABIOS, "-m", "64M", "--serial", "none"])
        .args(["--debugcon", "stdio", "--max-instructions", "3000000000"])
        .output()
        .expect("run xlat");
    let log = String::from_utf8_lossy(&out.stdout);
    for line in [
        "SeaBIOS (version",
        "Found QEMU fw_cfg",
        "RamSize: 0x04000000 [cmos]",
        "Relocating init from",
        "PCI: init bdf=00:00.0 id=8086:1237",
        "PCI: init bdf=00:01.3 id=8086:7113",
        // The PCI VGA (the default): BARs placed as on QEMU, its ROM run.
        "PCI: map device bdf=00:02.0  bar 0, addr fd000000, size 01000000 [prefmem]",
        "PCI: map device bdf=00:02.0  bar 6, addr febe0000, size 00010000 [mem]",
        "PCI: init bdf=00:02.0 id=1234:1111",
        "Running option rom at c000:0003",
        "VBE DISPI: lfb_addr=fd000000, size 16 MB",
        "Using pmtimer",
        "Start SeaVGABIOS",
        "set VGA mode 3",
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

#[test]
fn seabios_banner_is_on_the_vga_text_screen() {
    require(SEABIOS);
    require(VGABIOS);
    let mut config = MachineConfig::new(64 << 20, std::fs::read(SEABIOS).unwrap());
    config.console = Box::new(std::io::sink());
    config.serial = Box::new(std::io::sink());
    // The ISA card, with the VGA BIOS offered through fw_cfg.
    config.vga = xlat::devices::vga::VgaModel::Isa;
    let mut machine = Machine::build(config).unwrap();
    machine
        .add_vga_rom(std::fs::read(VGABIOS).unwrap())
        .unwrap();
    machine.run(Some(3_000_000_000), None);
    let rows = machine
        .platform
        .vga
        .lock()
        .unwrap()
        .text_rows()
        .expect("a text mode");
    assert_eq!(rows.len(), 25);
    assert_eq!(rows[0].len(), 80);
    assert!(
        rows[0].starts_with("SeaBIOS (version 1.16"),
        "the screen:\n{}",
        rows.join("\n")
    );
    assert!(rows.iter().any(|r| r.starts_with("No bootable device.")));
}

#[test]
fn screenshot_shows_the_banner_in_the_firmware_font() {
    require(SEABIOS);
    let shot = std::env::temp_dir().join(format!("xlat-seabios-{}.png", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .args(["--bios", SEABIOS, "-m", "64M", "--serial", "none"])
        .args(["--max-instructions", "3000000000", "--screenshot"])
        .arg(&shot)
        .status()
        .expect("run xlat");
    assert!(status.success());
    let (w, h, rgb) = decode(&shot);
    std::fs::remove_file(&shot).unwrap();
    // Mode 3: 80x25 cells of 9x16 pixels.
    assert_eq!((w, h), (720, 400));
    let at = |x: usize, y: usize| &rgb[3 * (y * w + x)..3 * (y * w + x) + 3];
    let gray = [0xaa, 0xaa, 0xaa];
    // The first cell is 'S': gray pixels in it, black in the ninth column.
    let lit = (0..16)
        .flat_map(|y| (0..8).map(move |x| (x, y)))
        .filter(|&(x, y)| at(x, y) == gray);
    assert!(lit.count() > 10, "no glyph in the first cell");
    assert!((0..16).all(|y| at(8, y) == [0, 0, 0]));
    // The lower half of the screen is empty.
    assert!((250..400).all(|y| (0..720).all(|x| at(x, y) == [0, 0, 0])));
}

fn decode(path: &PathBuf) -> (usize, usize, Vec<u8>) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    (info.width as usize, info.height as usize, buf)
}

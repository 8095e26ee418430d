//! SeaBIOS boots from the floppy controller: a hand-made boot sector
//! (assembled here with iced-x86's code_asm) that reads sectors from
//! several tracks and both heads with INT 13h and writes one, and Debian's
//! GRUB rescue floppy (package `grub-rescue-pc`, which CI installs) to its
//! command line, read back from VGA text memory.

mod boot_sector;

use boot_sector::{BootProgram, DATA};
use iced_x86::code_asm::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use xlat::devices::i8042::Set2Key;
use xlat::machine::{BootDevice, Machine, MachineConfig, RunOutcome};

const SEABIOS: &str = "/usr/share/seabios/bios.bin";
/// The VGA BIOS of the default card, the PCI std VGA (from its ROM BAR).
const VGABIOS: &str = "/usr/share/seabios/vgabios-stdvga.bin";
const GRUB_FLOPPY: &str = "/usr/lib/grub-rescue/grub-rescue-floppy.img";
const FLOPPY_144: usize = 1_474_560;
// The boot sector's data: messages and the table of reads.
const MSG_BOOT: u16 = DATA;
const MSG_OK: u16 = DATA + 0x10;
const MSG_FAIL: u16 = DATA + 0x20;
const READS: u16 = DATA + 0x30;
const WRITTEN: &[u8; 8] = b"WROTE-FD";
const READ_BUF: u16 = 0x8000;
const WRITE_BUF: u16 = 0x9000;
/// INT 13h AH=02 requests: count, cylinder, sector, head. Every sector
/// of the image starts with its LBA and "FD", which the program checks.
/// None crosses the end of a track: SeaBIOS asks the controller for
/// sectors up to sector + count - 1, which an 82077AA (unlike QEMU's
/// model) does not find past the track's last sector.
const READ_TABLE: [[u8; 4]; 5] = [
    [1, 0, 2, 0],
    [3, 1, 16, 1],
    [2, 2, 17, 0],
    [18, 40, 1, 0],
    [1, 79, 18, 1],
];
/// Where the program writes WRITE_BUF: cylinder 60, head 1, sector 5.
const WRITE_CHS: (u8, u8, u8) = (60, 1, 5);

fn lba(c: u8, h: u8, s: u8) -> u16 {
    (c as u16 * 2 + h as u16) * 18 + s as u16 - 1
}

fn boot_sector() -> Result<Vec<u8>, IcedError> {
    let mut p = BootProgram::begin(MSG_BOOT)?;
    let (fail, a) = (p.fail, &mut p.a);
    let mut next_read = a.create_label();
    let mut verify = a.create_label();
    let mut reads_done = a.create_label();
    a.mov(si, READS as i32)?;
    a.set_label(&mut next_read)?;
    a.mov(al, byte_ptr(si))?;
    a.test(al, al)?;
    a.jz(reads_done)?;
    a.mov(ch, byte_ptr(si + 1))?;
    a.mov(cl, byte_ptr(si + 2))?;
    a.mov(dx, bp)?;
    a.mov(dh, byte_ptr(si + 3))?;
    a.mov(bx, READ_BUF as i32)?;
    a.mov(ah, 2)?;
    a.push(si)?;
    a.int(0x13)?;
    a.pop(si)?;
    a.jc(fail)?;
    // Each sector read must start with the LBA the table expects, "FD".
    a.xor(cx, cx)?;
    a.mov(cl, byte_ptr(si))?;
    a.mov(ax, word_ptr(si + 4))?;
    a.mov(di, READ_BUF as i32)?;
    a.set_label(&mut verify)?;
    a.cmp(word_ptr(di), ax)?;
    a.jne(fail)?;
    a.cmp(word_ptr(di + 2), 0x4446)?;
    a.jne(fail)?;
    a.inc(ax)?;
    a.add(di, 512)?;
    a.dec(cx)?;
    a.jnz(verify)?;
    a.add(si, 6)?;
    a.jmp(next_read)?;
    a.set_label(&mut reads_done)?;
    // Write WRITE_BUF (the marker, then 0xA5s) to one sector.
    a.mov(di, WRITE_BUF as i32)?;
    a.mov(al, 0xa5)?;
    a.mov(cx, 512)?;
    a.rep().stosb()?;
    a.mov(di, WRITE_BUF as i32)?;
    a.mov(si, (READS + 0x30) as i32)?;
    a.mov(cx, 8)?;
    a.rep().movsb()?;
    a.mov(ax, 0x0301)?;
    a.mov(ch, WRITE_CHS.0 as u32)?;
    a.mov(cl, WRITE_CHS.2 as u32)?;
    a.mov(dx, bp)?;
    a.mov(dh, WRITE_CHS.1 as u32)?;
    a.mov(bx, WRITE_BUF as i32)?;
    a.int(0x13)?;
    a.jc(fail)?;
    p.say(MSG_OK)?;
    let mut table = Vec::new();
    for &[count, c, s, h] in READ_TABLE.iter() {
        table.extend_from_slice(&[count, c, s, h]);
        table.extend_from_slice(&lba(c, h, s).to_le_bytes());
    }
    p.finish(
        MSG_FAIL,
        &[
            (MSG_BOOT, b"FDC-BOOT\n\0"),
            (MSG_OK, b"FDC-RW-OK\n\0"),
            (MSG_FAIL, b"FDC-FAIL\n\0"),
            (READS, &table),
            (READS + 0x30, WRITTEN),
        ],
    )
}

fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).is_file(),
        "{path} is missing: install Debian's {package} package (apt-get install {package})"
    );
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xlat-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn seabios_boots_a_floppy_that_reads_tracks_and_writes_through_int13() {
    require(SEABIOS, "seabios");
    let dir = scratch_dir("floppy-boot");
    let image = dir.join("a.img");
    let mut disk = vec![0u8; FLOPPY_144];
    for (n, sector) in disk.chunks_mut(512).enumerate() {
        sector.fill(n as u8);
        sector[..2].copy_from_slice(&(n as u16).to_le_bytes());
        sector[2..4].copy_from_slice(b"FD");
    }
    disk[..512].copy_from_slice(&boot_sector().unwrap());
    std::fs::write(&image, &disk).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .args(["--bios", SEABIOS, "-m", "16M", "--serial", "none"])
        .args(["--max-instructions", "1000000000", "--boot", "a"])
        .args(["--fda", image.to_str().unwrap()])
        .output()
        .expect("run xlat");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    for marker in ["FDC-BOOT", "FDC-RW-OK"] {
        assert!(text.contains(marker), "no {marker}; output:\n{text}");
    }
    assert_eq!(
        out.status.code(),
        Some(33),
        "exit via 0xF4; output:\n{text}"
    );
    let after = std::fs::read(&image).unwrap();
    let at = lba(WRITE_CHS.0, WRITE_CHS.1, WRITE_CHS.2) as usize * 512;
    assert_eq!(&after[at..at + 8], WRITTEN, "the sector reached the file");
    assert!(after[at + 8..at + 512].iter().all(|&b| b == 0xa5));
    assert_eq!(&after[..at], &disk[..at], "nothing else changed");
    assert_eq!(&after[at + 512..], &disk[at + 512..]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The VGA text screen, one string per row (empty in graphics modes).
fn screen(machine: &Machine) -> Vec<String> {
    machine
        .platform
        .vga
        .lock()
        .unwrap()
        .text_rows()
        .unwrap_or_default()
}

/// Runs in slices until some row contains `text`, at most `limit`
/// instructions; false when it never showed.
fn run_until(machine: &mut Machine, text: &str, limit: u64) -> bool {
    const SLICE: u64 = 20_000_000;
    let mut ran = 0;
    while ran < limit {
        let outcome = machine.run(Some(SLICE), None);
        assert_eq!(outcome, RunOutcome::InstructionLimit, "the guest stopped");
        ran += SLICE;
        if screen(machine).iter().any(|r| r.contains(text)) {
            return true;
        }
    }
    false
}

#[test]
fn grub_rescue_floppy_boots_to_the_grub_prompt() {
    require(SEABIOS, "seabios");
    require(VGABIOS, "seabios");
    require(GRUB_FLOPPY, "grub-rescue-pc");
    // A copy, so that nothing the guest does reaches the package's file.
    let dir = scratch_dir("grub-floppy");
    let image = dir.join("grub.img");
    std::fs::copy(GRUB_FLOPPY, &image).unwrap();
    let mut config = MachineConfig::new(64 << 20, std::fs::read(SEABIOS).unwrap());
    config.console = Box::new(std::io::sink());
    config.serial = Box::new(std::io::sink());
    let mut machine = Machine::build(config).unwrap();
    machine
        .add_vga_rom(std::fs::read(VGABIOS).unwrap())
        .unwrap();
    machine.attach_floppy(0, &image).unwrap();
    machine.set_boot_order(&[BootDevice::Floppy]);
    assert!(
        run_until(&mut machine, "GNU GRUB  version 2.", 400_000_000),
        "no GRUB menu; the screen:\n{}",
        screen(&machine).join("\n")
    );
    // 'c' (set 2 scancode 0x21) opens GRUB's command line.
    {
        let mut kbd = machine.platform.i8042.lock().unwrap();
        kbd.key_event(Set2Key::new(0x21), true);
        kbd.key_event(Set2Key::new(0x21), false);
    }
    assert!(
        run_until(&mut machine, "grub>", 100_000_000),
        "no grub> prompt; the screen:\n{}",
        screen(&machine).join("\n")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

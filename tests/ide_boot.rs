//! SeaBIOS boots a hand-made disk from the IDE controller: the boot sector
//! (assembled here with iced-x86's code_asm) prints a marker on port 0xE9,
//! reads sector 1 with INT 13h AH=42h and checks it, writes sector 2 with
//! AH=43h and exits through port 0xF4. The test then finds the written
//! sector in the image file.

mod boot_sector;

use boot_sector::{BootProgram, DATA};
use iced_x86::code_asm::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const SEABIOS: &str = "/usr/share/seabios/bios.bin";
const MSG_BOOT: u16 = DATA;
const MSG_READ: u16 = DATA + 0x10;
const MSG_WRITE: u16 = DATA + 0x20;
const MSG_FAIL: u16 = DATA + 0x30;
const DAP_READ: u16 = DATA + 0x40;
const DAP_WRITE: u16 = DATA + 0x50;
const EXPECT: u16 = DATA + 0x60;
const READ_BUF: u16 = 0x8000;
const WRITE_BUF: u16 = 0x9000;
const SECTOR1: &[u8; 8] = b"XLATSEC1";
const WRITTEN: &[u8; 8] = b"WROTE-IT";

/// The boot program; `write` adds the AH=43h write of sector 2 (disks).
/// `read_lba` is the block its AH=42h read fetches.
fn boot_sector(write: bool, read_lba: u64) -> Result<Vec<u8>, IcedError> {
    let mut p = BootProgram::begin(MSG_BOOT)?;
    let (fail, a) = (p.fail, &mut p.a);
    // Extended read of sector 1 to READ_BUF, then compare.
    a.mov(ah, 0x42)?;
    a.mov(dx, bp)?;
    a.mov(si, DAP_READ as i32)?;
    a.int(0x13)?;
    a.jc(fail)?;
    a.mov(si, READ_BUF as i32)?;
    a.mov(di, EXPECT as i32)?;
    a.mov(cx, 8)?;
    a.repe().cmpsb()?;
    a.jne(fail)?;
    p.say(MSG_READ)?;
    if write {
        write_sector2(&mut p)?;
    }
    // Disk address packets: size, 0, count, offset, segment, LBA.
    let dap = |buf: u16, lba: u64| {
        let mut d = vec![0x10, 0, 1, 0];
        d.extend_from_slice(&buf.to_le_bytes());
        d.extend_from_slice(&0u16.to_le_bytes());
        d.extend_from_slice(&lba.to_le_bytes());
        d
    };
    p.finish(
        MSG_FAIL,
        &[
            (MSG_BOOT, b"IDE-BOOT\n\0"),
            (MSG_READ, b"READ-OK\n\0"),
            (MSG_WRITE, b"WRITE-OK\n\0"),
            (MSG_FAIL, b"DISK-FAIL\n\0"),
            (DAP_READ, &dap(READ_BUF, read_lba)),
            (DAP_WRITE, &dap(WRITE_BUF, 2)),
            (EXPECT, SECTOR1),
            (EXPECT + 8, WRITTEN),
        ],
    )
}

/// Fills WRITE_BUF (the marker, then 0xA5s) and writes it to sector 2.
fn write_sector2(p: &mut BootProgram) -> Result<(), IcedError> {
    let (fail, a) = (p.fail, &mut p.a);
    a.mov(di, WRITE_BUF as i32)?;
    a.mov(al, 0xa5)?;
    a.mov(cx, 512)?;
    a.rep().stosb()?;
    a.mov(si, (EXPECT + 8) as i32)?;
    a.mov(di, WRITE_BUF as i32)?;
    a.mov(cx, 8)?;
    a.rep().movsb()?;
    a.mov(ax, 0x4300)?;
    a.mov(dx, bp)?;
    a.mov(si, DAP_WRITE as i32)?;
    a.int(0x13)?;
    a.jc(fail)?;
    p.say(MSG_WRITE)
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xlat-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs xlat on `args` with SeaBIOS: named by --bios, or (`default`)
/// picked by xlat itself because a drive is given.
fn run_seabios(default: bool, args: &[&str]) -> (String, Option<i32>) {
    assert!(
        Path::new(SEABIOS).is_file(),
        "{SEABIOS} is missing: install Debian's seabios package"
    );
    let bios: &[&str] = if default { &[] } else { &["--bios", SEABIOS] };
    let out = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .args(bios)
        .args(["-m", "32M", "--serial", "none"])
        .args(["--max-instructions", "3000000000"])
        .args(args)
        .output()
        .expect("run xlat");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (text, out.status.code())
}

#[test]
fn seabios_boots_a_disk_that_reads_and_writes_through_int13() {
    let dir = scratch_dir("ide-boot");
    let image = dir.join("disk.img");
    let mut disk = vec![0u8; 2 << 20];
    disk[..512].copy_from_slice(&boot_sector(true, 1).unwrap());
    for chunk in disk[512..1024].chunks_mut(8) {
        chunk.copy_from_slice(SECTOR1);
    }
    std::fs::write(&image, &disk).unwrap();
    let (out, code) = run_seabios(false, &["--hda", image.to_str().unwrap(), "--boot", "c"]);
    for marker in ["IDE-BOOT", "READ-OK", "WRITE-OK"] {
        assert!(out.contains(marker), "no {marker}; output:\n{out}");
    }
    assert_eq!(code, Some(33), "exit through port 0xF4; output:\n{out}");
    let after = std::fs::read(&image).unwrap();
    assert_eq!(&after[1024..1032], WRITTEN, "sector 2 reached the file");
    assert!(after[1032..1536].iter().all(|&b| b == 0xa5));
    assert_eq!(&after[..1024], &disk[..1024], "nothing else changed");
    assert!(after[1536..].iter().all(|&b| b == 0));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A minimal El Torito CD image (ISO 9660 volume descriptors, a boot
/// catalog with a no-emulation entry) whose boot image is `boot`, and
/// block 21 holding the marker the boot program reads.
fn el_torito_iso(boot: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 2048;
    let mut iso = vec![0u8; 32 * BLOCK];
    let descriptor = |iso: &mut Vec<u8>, block: usize, kind: u8| {
        let d = &mut iso[block * BLOCK..];
        d[0] = kind;
        d[1..6].copy_from_slice(b"CD001");
        d[6] = 1;
    };
    descriptor(&mut iso, 16, 1); // primary volume descriptor
    iso[16 * BLOCK + 80..16 * BLOCK + 84].copy_from_slice(&32u32.to_le_bytes());
    iso[16 * BLOCK + 84..16 * BLOCK + 88].copy_from_slice(&32u32.to_be_bytes());
    descriptor(&mut iso, 17, 0); // boot record
    let mut id = [0u8; 32];
    id[..23].copy_from_slice(b"EL TORITO SPECIFICATION");
    iso[17 * BLOCK + 7..17 * BLOCK + 39].copy_from_slice(&id);
    iso[17 * BLOCK + 0x47..17 * BLOCK + 0x4b].copy_from_slice(&19u32.to_le_bytes());
    descriptor(&mut iso, 18, 0xff); // terminator

    // Boot catalog: validation entry (words sum to zero), then the initial
    // entry: bootable, no emulation, 4 virtual sectors at 20.
    let cat = 19 * BLOCK;
    iso[cat] = 1;
    iso[cat + 4..cat + 8].copy_from_slice(b"XLAT");
    iso[cat + 30] = 0x55;
    iso[cat + 31] = 0xaa;
    let sum = (0..16).fold(0u16, |s, i| {
        s.wrapping_add(u16::from_le_bytes([iso[cat + 2 * i], iso[cat + 2 * i + 1]]))
    });
    iso[cat + 28..cat + 30].copy_from_slice(&sum.wrapping_neg().to_le_bytes());
    iso[cat + 32] = 0x88;
    iso[cat + 38..cat + 40].copy_from_slice(&4u16.to_le_bytes());
    iso[cat + 40..cat + 44].copy_from_slice(&20u32.to_le_bytes());
    iso[20 * BLOCK..20 * BLOCK + boot.len()].copy_from_slice(boot);
    for chunk in iso[21 * BLOCK..22 * BLOCK].chunks_mut(8) {
        chunk.copy_from_slice(SECTOR1);
    }
    iso
}

/// Without --bios, a drive makes xlat boot Debian's SeaBIOS, as QEMU does.
#[test]
fn seabios_boots_an_el_torito_cd_and_reads_it_through_int13() {
    let dir = scratch_dir("cd-boot");
    let image = dir.join("cd.iso");
    std::fs::write(&image, el_torito_iso(&boot_sector(false, 21).unwrap())).unwrap();
    // A bootable disk too, which fails the test if it runs: --boot d
    // (CMOS boot order) must pick the CD.
    let disk = dir.join("disk.img");
    let mut sector = vec![0u8; 1 << 20];
    sector[..5].copy_from_slice(&[0xb0, 0x11, 0xe6, 0xf4, 0xf4]); // exit 35
    sector[510] = 0x55;
    sector[511] = 0xaa;
    std::fs::write(&disk, &sector).unwrap();
    let (out, code) = run_seabios(
        true,
        &[
            "--cdrom",
            image.to_str().unwrap(),
            "--hda",
            disk.to_str().unwrap(),
            "--boot",
            "d",
        ],
    );
    for marker in ["IDE-BOOT", "READ-OK"] {
        assert!(out.contains(marker), "no {marker}; output:\n{out}");
    }
    assert_eq!(code, Some(33), "exit through port 0xF4; output:\n{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

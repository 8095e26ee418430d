//! The monitor changes the CD while a guest runs, and the guest sees it as
//! it would on a real drive. SeaBIOS boots a hand-made disk whose boot
//! sector (assembled here with iced-x86's code_asm) drives the secondary
//! IDE channel's ATAPI CD-ROM by PIO packets: it reads block 16 of CD A,
//! then polls TEST UNIT READY once per timer tick. The test types
//! `Ctrl-A c`, `change ide1-cd0 B.iso`, `screendump`, `Ctrl-A c` on the
//! serial console; the guest gets UNIT ATTENTION (REQUEST SENSE: ASC 28h)
//! once, READ CAPACITY gives B's size, and block 16 now holds B's marker.
//! Then `system_powerdown` sets the PIIX4 PM block's PWRBTN_STS, which the
//! guest polls, and the guest exits through port 0xF4.

mod boot_sector;

use boot_sector::{BootProgram, DATA};
use iced_x86::code_asm::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SEABIOS: &str = "/usr/share/seabios/bios.bin";
const MSG_BOOT: u16 = DATA;
const MSG_A: u16 = DATA + 0x08;
const MSG_UA: u16 = DATA + 0x10;
const MSG_B: u16 = DATA + 0x18;
const MSG_PWR: u16 = DATA + 0x20;
const MSG_FAIL: u16 = DATA + 0x28;
const CDB_READ16: u16 = DATA + 0x30;
const CDB_TUR: u16 = DATA + 0x3c;
const CDB_SENSE: u16 = DATA + 0x48;
const CDB_CAPACITY: u16 = DATA + 0x54;
const MARK_A: u16 = DATA + 0x60;
const MARK_B: u16 = DATA + 0x68;
const BUF: u16 = 0x8000;
/// CD B's size in blocks (A's is different), and the markers that open
/// block 16 of each.
const B_BLOCKS: u32 = 40;
const A_MARK: &[u8; 8] = b"CD-A-B16";
const B_MARK: &[u8; 8] = b"CD-B-B16";

/// The secondary channel's command block and device control register.
const CMD: u16 = 0x170;
const CTL: u16 = 0x376;

/// `pkt`: sends the 12-byte packet at SI to the secondary master, reads
/// any data into ES:DI. CF set on CHECK CONDITION, with the error
/// register (sense key in bits 7-4) in AL.
fn packet_routine(a: &mut CodeAssembler, pkt: &mut CodeLabel) -> Result<(), IcedError> {
    let mut busy1 = a.create_label();
    let mut busy2 = a.create_label();
    let mut phase = a.create_label();
    let mut busy3 = a.create_label();
    let mut done = a.create_label();
    let mut error = a.create_label();
    a.set_label(pkt)?;
    a.mov(dx, (CMD + 6) as i32)?;
    a.mov(al, 0xa0)?; // device 0
    a.out(dx, al)?;
    a.mov(dx, (CMD + 7) as i32)?;
    a.set_label(&mut busy1)?;
    a.in_(al, dx)?;
    a.test(al, 0x80)?;
    a.jnz(busy1)?;
    a.mov(dx, (CMD + 1) as i32)?;
    a.xor(al, al)?; // features: PIO
    a.out(dx, al)?;
    a.mov(dx, (CMD + 4) as i32)?;
    a.out(dx, al)?; // byte count limit 0x0800
    a.inc(dx)?;
    a.mov(al, 0x08)?;
    a.out(dx, al)?;
    a.mov(dx, (CMD + 7) as i32)?;
    a.mov(al, 0xa0)?; // PACKET
    a.out(dx, al)?;
    a.set_label(&mut busy2)?;
    a.in_(al, dx)?;
    a.test(al, 0x80)?;
    a.jnz(busy2)?;
    a.test(al, 0x08)?;
    a.jz(busy2)?;
    a.mov(dx, CMD as i32)?;
    a.mov(cx, 6)?;
    a.rep().outsw()?;
    a.set_label(&mut phase)?;
    a.mov(dx, (CMD + 7) as i32)?;
    a.set_label(&mut busy3)?;
    a.in_(al, dx)?;
    a.test(al, 0x80)?;
    a.jnz(busy3)?;
    a.test(al, 0x01)?;
    a.jnz(error)?;
    a.test(al, 0x08)?;
    a.jz(done)?; // status phase; TEST cleared CF
    a.mov(dx, (CMD + 4) as i32)?;
    a.in_(al, dx)?;
    a.mov(cl, al)?;
    a.inc(dx)?;
    a.in_(al, dx)?;
    a.mov(ch, al)?;
    a.shr(cx, 1)?;
    a.mov(dx, CMD as i32)?;
    a.rep().insw()?;
    a.jmp(phase)?;
    a.set_label(&mut error)?;
    a.mov(dx, (CMD + 1) as i32)?;
    a.in_(al, dx)?;
    a.stc()?;
    a.set_label(&mut done)?;
    a.ret()
}

fn boot_sector() -> Result<Vec<u8>, IcedError> {
    let mut p = BootProgram::begin(MSG_BOOT)?;
    let mut pkt = p.a.create_label();
    let mut poll = p.a.create_label();
    let mut ready = p.a.create_label();
    let mut power = p.a.create_label();
    let fail = p.fail;
    let compare = |a: &mut CodeAssembler, mark: u16| -> Result<(), IcedError> {
        a.mov(si, BUF as i32)?;
        a.mov(di, mark as i32)?;
        a.mov(cx, 8)?;
        a.repe().cmpsb()?;
        a.jne(fail)
    };
    let send = |a: &mut CodeAssembler, cdb: u16| -> Result<(), IcedError> {
        a.mov(si, cdb as i32)?;
        a.mov(di, BUF as i32)?;
        a.call(pkt)
    };
    let a = &mut p.a;
    // Polled: no INTRQ from the drive.
    a.mov(dx, CTL as i32)?;
    a.mov(al, 0x02)?;
    a.out(dx, al)?;
    a.xor(bx, bx)?; // unit attentions seen
    send(a, CDB_READ16)?;
    a.jc(fail)?;
    compare(a, MARK_A)?;
    p.say(MSG_A)?;
    let a = &mut p.a;
    // Once per timer tick: TEST UNIT READY.
    a.set_label(&mut poll)?;
    a.sti()?;
    a.hlt()?;
    send(a, CDB_TUR)?;
    a.jnc(ready)?;
    a.shr(al, 4)?;
    a.cmp(al, 0x02)?; // NOT READY: still changing
    a.je(poll)?;
    a.cmp(al, 0x06)?; // UNIT ATTENTION, else fail
    a.jne(fail)?;
    send(a, CDB_SENSE)?;
    a.jc(fail)?;
    a.cmp(byte_ptr(BUF as u32 + 12), 0x28)?; // medium may have changed
    a.jne(fail)?;
    a.inc(bx)?;
    p.say(MSG_UA)?;
    let a = &mut p.a;
    a.jmp(poll)?;
    a.set_label(&mut ready)?;
    a.test(bx, bx)?;
    a.jz(poll)?;
    // The new disc: its capacity, then its block 16.
    send(a, CDB_CAPACITY)?;
    a.jc(fail)?;
    a.cmp(dword_ptr(BUF as u32), (B_BLOCKS - 1).swap_bytes() as i32)?;
    a.jne(fail)?;
    send(a, CDB_READ16)?;
    a.jc(fail)?;
    compare(a, MARK_B)?;
    p.say(MSG_B)?;
    let a = &mut p.a;
    // The PIIX4 PM block (00:01.3, PMBA at 0x40) where firmware put it;
    // wait for PWRBTN_STS.
    a.mov(eax, 0x8000_0b40u32 as i32)?;
    a.mov(dx, 0xcf8)?;
    a.out(dx, eax)?;
    a.mov(dl, 0xfc)?;
    a.in_(ax, dx)?;
    a.and(ax, 0xffc0)?;
    a.mov(bx, ax)?;
    a.set_label(&mut power)?;
    a.sti()?;
    a.hlt()?;
    a.mov(dx, bx)?;
    a.in_(ax, dx)?;
    a.test(ah, 0x01)?;
    a.jz(power)?;
    p.say(MSG_PWR)?;
    // The packet routine, jumped over to finish's exit.
    let mut exit = p.a.create_label();
    p.a.jmp(exit)?;
    packet_routine(&mut p.a, &mut pkt)?;
    p.a.set_label(&mut exit)?;
    let cdb = |op: u8, lba: u8, len: u8| {
        let mut c = [0u8; 12];
        c[0] = op;
        c[5] = lba;
        match op {
            0x28 => c[8] = len,
            _ => c[4] = len,
        }
        c
    };
    p.finish(
        MSG_FAIL,
        &[
            (MSG_BOOT, b"MEDIA\n\0"),
            (MSG_A, b"A-OK\n\0"),
            (MSG_UA, b"UA-28\n\0"),
            (MSG_B, b"B-OK\n\0"),
            (MSG_PWR, b"PWRBTN\n\0"),
            (MSG_FAIL, b"CD-FAIL\n\0"),
            (CDB_READ16, &cdb(0x28, 16, 1)),
            (CDB_TUR, &cdb(0x00, 0, 0)),
            (CDB_SENSE, &cdb(0x03, 0, 18)),
            (CDB_CAPACITY, &cdb(0x25, 0, 0)),
            (MARK_A, A_MARK),
            (MARK_B, B_MARK),
        ],
    )
}

fn iso(blocks: usize, mark: &[u8; 8]) -> Vec<u8> {
    let mut data = vec![0u8; blocks * 2048];
    data[16 * 2048..16 * 2048 + 8].copy_from_slice(mark);
    data
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xlat-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Output lines of the child, from a thread per stream.
fn lines_of(stream: impl Read + Send + 'static, tx: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
}

/// Waits for a line containing `marker`, collecting all lines in `seen`.
fn wait_for(rx: &mpsc::Receiver<String>, seen: &mut String, marker: &str, until: Instant) -> bool {
    while !seen.contains(marker) {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
            }
            Err(_) => return false,
        }
    }
    true
}

#[test]
fn monitor_change_gives_the_guest_a_unit_attention_and_the_new_disc() {
    assert!(
        Path::new(SEABIOS).is_file(),
        "{SEABIOS} is missing: install Debian's seabios package"
    );
    let dir = scratch_dir("media-change");
    let (disk, a_iso, b_iso, shot) = (
        dir.join("disk.img"),
        dir.join("a.iso"),
        dir.join("b.iso"),
        dir.join("shot.png"),
    );
    let mut image = vec![0u8; 1 << 20];
    image[..512].copy_from_slice(&boot_sector().unwrap());
    std::fs::write(&disk, &image).unwrap();
    std::fs::write(&a_iso, iso(64, A_MARK)).unwrap();
    std::fs::write(&b_iso, iso(B_BLOCKS as usize, B_MARK)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .args(["-m", "32M", "--serial", "stdio", "--display", "none"])
        .args(["--max-instructions", "20000000000", "--boot", "c"])
        .arg("--hda")
        .arg(&disk)
        .arg("--cdrom")
        .arg(&a_iso)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run xlat");
    let (tx, rx) = mpsc::channel();
    lines_of(child.stdout.take().unwrap(), tx.clone());
    lines_of(child.stderr.take().unwrap(), tx);
    let mut stdin = child.stdin.take().unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    let mut seen = String::new();
    let mut step = |seen: &mut String, marker: &str, then: &[u8]| {
        if !wait_for(&rx, seen, marker, until) {
            let _ = child.kill();
            panic!("no {marker} in time; output:\n{seen}");
        }
        stdin.write_all(then).unwrap();
        stdin.flush().unwrap();
    };
    let change = format!(
        "\x01cinfo block\rchange ide1-cd0 {}\rscreendump {}\r\x01c",
        b_iso.display(),
        shot.display()
    );
    step(&mut seen, "A-OK", change.as_bytes());
    step(&mut seen, "B-OK", b"\x01csystem_powerdown\r\x01c");
    step(&mut seen, "PWRBTN", b"");
    drop(stdin);
    let status = child.wait().unwrap();
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.push_str(&line);
        seen.push('\n');
    }
    assert_eq!(
        status.code(),
        Some(33),
        "exit through port 0xF4; output:\n{seen}"
    );
    assert_eq!(
        seen.matches("UA-28").count(),
        1,
        "one unit attention:\n{seen}"
    );
    let info = format!("ide1-cd0: {} (raw, read-only)", a_iso.display());
    assert!(seen.contains(&info), "info block shows CD A:\n{seen}");
    assert!(seen.contains("(xlat) "), "the prompt:\n{seen}");
    let png = std::fs::read(&shot).expect("screendump wrote the file");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A bare `--cdrom` is a drive with no disc: SeaBIOS finds it and gets
/// NOT READY when it tries to boot from it (its "code 0003").
#[test]
fn a_bare_cdrom_flag_is_an_empty_drive_that_is_not_ready() {
    assert!(
        Path::new(SEABIOS).is_file(),
        "{SEABIOS} is missing: install Debian's seabios package"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .args(["--cdrom", "--boot", "d", "--display", "none"])
        .args(["--serial", "none", "--debugcon", "stdio"])
        .args(["--max-instructions", "3000000000"])
        .output()
        .expect("run xlat");
    let log = String::from_utf8_lossy(&out.stdout);
    for line in [
        "DVD/CD [ata1-0: XLAT DVD-ROM",
        "Boot failed: Could not read from CDROM (code 0003)",
    ] {
        assert!(log.contains(line), "no {line:?} in SeaBIOS's log:\n{log}");
    }
}

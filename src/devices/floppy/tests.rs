//! The controller driven through its ports (and DMA channel 2) the way a
//! BIOS or Linux drives it.

use super::*;
use crate::devices::ide::{FileBackend, MemBackend};
use crate::devices::irq::{IrqLines, SharedIrqLines};
use crate::devices::isa_dma::{register_isa_dma, SharedIsaDma};
use crate::mem::GuestMemory;

const MSR: u16 = 0x3f4;
const FIFO: u16 = 0x3f5;
const DOR: u16 = 0x3f2;
const IMAGE_144: usize = 1_474_560;

/// Sector `lba`'s bytes: its number, then a pattern.
fn sector_bytes(lba: usize) -> Vec<u8> {
    let mut s: Vec<u8> = (0..512).map(|i| (i as u8) ^ (lba as u8)).collect();
    s[..2].copy_from_slice(&(lba as u16).to_le_bytes());
    s
}

fn image() -> Vec<u8> {
    (0..IMAGE_144 / 512).flat_map(sector_bytes).collect()
}

struct Rig {
    io: PortBus,
    dma: SharedIsaDma,
    fdc: SharedFdc,
    irq: SharedIrqLines,
    mem: GuestMemory,
}

impl Rig {
    fn with_backend(backend: Box<dyn crate::devices::ide::BlockBackend>) -> Self {
        let mut io = PortBus::default();
        let dma = register_isa_dma(&mut io).unwrap();
        dma.lock().unwrap().firmware_setup();
        let irq = IrqLines::new();
        let line = dma.lock().unwrap().request_line(FDC_DMA_CHANNEL);
        let fdc = Arc::new(Mutex::new(Fdc82077::new(irq.line(FDC_IRQ), line)));
        register_fdc(&mut io, &fdc).unwrap();
        fdc.lock()
            .unwrap()
            .insert(0, Diskette::new(backend).unwrap());
        Rig {
            io,
            dma,
            fdc,
            irq,
            mem: GuestMemory::new(1 << 20).unwrap(),
        }
    }

    fn new() -> Self {
        Self::with_backend(Box::new(MemBackend::new(image(), false)))
    }

    fn outb(&mut self, port: u16, v: u8) {
        self.io.write(port, 1, v as u32);
    }

    fn inb(&mut self, port: u16) -> u8 {
        self.io.read(port, 1) as u8
    }

    fn irq6(&self) -> bool {
        self.irq.levels() & 1 << FDC_IRQ != 0
    }

    /// Writes a command, each byte only when the MSR asks for one.
    fn command(&mut self, bytes: &[u8]) {
        for &b in bytes {
            assert_eq!(self.inb(MSR) & 0xc0, 0x80, "MSR wants a command byte");
            self.outb(FIFO, b);
        }
    }

    /// Reads result bytes while the MSR offers them.
    fn results(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.inb(MSR) & 0xd0 == 0xd0 && out.len() < 16 {
            out.push(self.inb(FIFO));
        }
        out
    }

    fn sense_interrupt(&mut self) -> Vec<u8> {
        self.command(&[0x08]);
        self.results()
    }

    /// What the run loop does between CPU slices.
    fn service_dma(&mut self) {
        let mut dma = self.dma.lock().unwrap();
        if dma.ready(FDC_DMA_CHANNEL) {
            let mut t = dma.transfer(FDC_DMA_CHANNEL, &mut self.mem);
            self.fdc.lock().unwrap().service_dma(&mut t);
        }
    }

    /// Channel 2 set up as SeaBIOS does: `len` bytes at `addr`.
    fn program_dma(&mut self, addr: u32, len: u16, to_memory: bool) {
        self.outb(0x0a, 0x06);
        self.outb(0x0c, 0);
        self.outb(0x04, addr as u8);
        self.outb(0x04, (addr >> 8) as u8);
        self.outb(0x0c, 0);
        self.outb(0x05, (len - 1) as u8);
        self.outb(0x05, ((len - 1) >> 8) as u8);
        self.outb(0x0b, if to_memory { 0x46 } else { 0x4a });
        self.outb(0x81, (addr >> 16) as u8);
        self.outb(0x0a, 0x02);
    }

    fn seek(&mut self, cylinder: u8) {
        self.command(&[0x0f, 0x00, cylinder]);
        assert!(self.irq6());
        assert_eq!(self.sense_interrupt(), [0x20, cylinder]);
    }
}

#[test]
fn version_dumpreg_configure_lock_and_perpendicular() {
    let mut r = Rig::new();
    r.command(&[0x10]);
    assert_eq!(r.results(), [0x90]);
    r.command(&[0x03, 0xaf, 0x02]); // SPECIFY
    r.command(&[0x13, 0x00, 0x57, 0x09]); // CONFIGURE: EIS, POLL off, thr 7
    r.command(&[0x12, 0x87]); // PERPENDICULAR: OW, drive 0, GAP, WGATE
    r.command(&[0x94]); // LOCK
    assert_eq!(r.results(), [0x10]);
    r.command(&[0x0e]);
    assert_eq!(r.results(), [0, 0, 0, 0, 0xaf, 0x02, 0, 0x87, 0x57, 0x09]);
    // A DSR reset under LOCK keeps EFIFO/FIFOTHR and PRETRK, clears EIS
    // and POLL (so polling reports come), GAP and WGATE.
    r.outb(0x3f4, 0x80);
    for d in 0..4 {
        assert_eq!(r.sense_interrupt(), [0xc0 | d, 0]);
    }
    r.command(&[0x0e]);
    assert_eq!(r.results(), [0, 0, 0, 0, 0xaf, 0x02, 0, 0x84, 0x07, 0x09]);
    r.command(&[0x14]); // UNLOCK
    assert_eq!(r.results(), [0x00]);
}

#[test]
fn dor_reset_raises_irq6_and_reports_four_polling_changes() {
    let mut r = Rig::new();
    assert!(!r.irq6());
    assert_eq!(r.inb(DOR), 0x0c, "power-on DOR");
    r.outb(DOR, 0x08);
    assert_eq!(r.inb(MSR), 0, "held in reset");
    assert!(!r.irq6());
    r.outb(DOR, 0x1c);
    assert!(r.irq6(), "interrupt after reset");
    assert_eq!(r.inb(0x3f0) & 0x80, 0x80, "SRA shows it");
    assert_eq!(r.sense_interrupt(), [0xc0, 0]);
    assert!(!r.irq6(), "SENSE INTERRUPT acknowledges");
    assert_eq!(r.sense_interrupt(), [0xc1, 0]);
    assert_eq!(r.sense_interrupt(), [0xc2, 0]);
    assert_eq!(r.sense_interrupt(), [0xc3, 0]);
    assert_eq!(r.sense_interrupt(), [0x80], "nothing left: invalid");
    // The DMA gate closed: INT is not driven.
    r.outb(DOR, 0x10);
    r.outb(DOR, 0x14);
    assert!(!r.irq6());
    r.outb(DOR, 0x1c);
    assert!(r.irq6());
}

#[test]
fn seek_recalibrate_and_sense_drive_status() {
    let mut r = Rig::new();
    assert_eq!(r.inb(0x3f7) & 0x80, 0x80, "disk changed at power-on");
    r.command(&[0x0f, 0x04, 40]); // SEEK head 1, cylinder 40
    assert_eq!(r.inb(MSR), 0x81, "drive 0 busy until sensed");
    assert_eq!(r.sense_interrupt(), [0x20, 40], "head bit always 0");
    assert_eq!(r.inb(MSR), 0x80);
    assert_eq!(r.inb(0x3f7) & 0x80, 0, "the step cleared disk change");
    r.command(&[0x04, 0x00]);
    assert_eq!(r.results(), [0x28]);
    r.command(&[0xcf, 0x00, 5]); // RELATIVE SEEK in by 5
    assert_eq!(r.sense_interrupt(), [0x20, 45]);
    r.command(&[0x8f, 0x00, 50]); // out by 50: wraps like the 8-bit PCN
    assert_eq!(r.sense_interrupt(), [0x20, 251]);
    r.command(&[0x07, 0x00]);
    assert_eq!(r.sense_interrupt(), [0x20, 0]);
    r.command(&[0x04, 0x00]);
    assert_eq!(r.results(), [0x38], "track 0");
    // Drives 1 and 2 are not there: no track 0 signal, equipment check.
    r.command(&[0x07, 0x01]);
    r.command(&[0x07, 0x02]);
    assert_eq!(r.sense_interrupt(), [0x71, 0]);
    assert_eq!(r.sense_interrupt(), [0x72, 0]);
}

#[test]
fn invalid_commands_answer_0x80_without_an_interrupt() {
    let mut r = Rig::new();
    for op in [0x00, 0x18, 0x02, 0x16, 0x0c, 0x09, 0xff, 0x25, 0x8d] {
        r.command(&[op]);
        assert_eq!(r.results(), [0x80], "opcode {op:#x}");
        assert!(!r.irq6());
    }
}

#[test]
fn read_data_by_chs_with_multitrack_through_dma() {
    let mut r = Rig::new();
    r.outb(0x3f7, 0); // 500 kb/s
    r.seek(5);
    // MT: sectors 17-18 of head 0, then 1-2 of head 1.
    r.program_dma(0x2_0000, 4 * 512, true);
    r.command(&[0xe6, 0x00, 5, 0, 17, 2, 18, 0x1b, 0xff]);
    assert_eq!(r.inb(MSR) & 0xf0, 0x10, "executing, DMA");
    r.service_dma();
    assert!(r.irq6());
    assert_eq!(r.results(), [0x04, 0, 0, 5, 1, 3, 2]);
    assert!(!r.irq6());
    for (i, lba) in [5 * 36 + 16, 5 * 36 + 17, 5 * 36 + 18, 5 * 36 + 19]
        .into_iter()
        .enumerate()
    {
        let mut buf = vec![0; 512];
        r.mem.read_bytes(0x2_0000 + 512 * i as u64, &mut buf);
        assert_eq!(buf, sector_bytes(lba), "sector {i}");
    }
}

#[test]
fn read_errors_wrong_cylinder_rate_and_end_of_cylinder() {
    let mut r = Rig::new();
    r.outb(0x3f7, 0);
    // Wrong cylinder in the ID: no data, wrong cylinder.
    r.command(&[0x66, 0x00, 3, 0, 1, 2, 18, 0x1b, 0xff]);
    assert_eq!(r.results(), [0x40, 0x04, 0x10, 3, 0, 1, 2]);
    // Sector 19 does not exist.
    r.command(&[0x66, 0x00, 0, 0, 19, 2, 19, 0x1b, 0xff]);
    assert_eq!(r.results()[..3], [0x40, 0x04, 0x00]);
    // 250 kb/s: a 1.44M disk shows no address marks.
    r.outb(0x3f7, 2);
    r.command(&[0x66, 0x00, 0, 0, 1, 2, 18, 0x1b, 0xff]);
    assert_eq!(r.results()[..3], [0x40, 0x01, 0x00]);
    r.command(&[0x4a, 0x00]); // READ ID fails the same way
    assert_eq!(r.results()[..2], [0x40, 0x01]);
    // Without terminal count the read runs to EOT: end of cylinder.
    r.outb(0x3f7, 0);
    r.program_dma(0x1000, 4 * 512, true);
    r.command(&[0x66, 0x00, 0, 0, 17, 2, 18, 0x1b, 0xff]);
    r.service_dma();
    assert_eq!(r.results(), [0x40, 0x80, 0x00, 1, 0, 1, 2]);
    r.command(&[0x4a, 0x04]); // READ ID on head 1
    let id = r.results();
    assert_eq!(id[..5], [0x04, 0, 0, 0, 1]);
    assert!((1..=18).contains(&id[5]));
}

#[test]
fn write_data_and_format_reach_the_image_file() {
    let dir = std::env::temp_dir().join(format!("xlat-fdc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a.img");
    std::fs::write(&path, image()).unwrap();
    let backend = FileBackend::open(&path, false).unwrap();
    let mut r = Rig::with_backend(Box::new(backend));
    r.outb(0x3f7, 0);
    r.seek(2);
    r.mem.write_bytes(0x3000, &[0xa5; 512]);
    r.mem.write_bytes(0x3200, &[0x5a; 512]);
    r.program_dma(0x3000, 1024, false);
    r.command(&[0xc5, 0x04, 2, 1, 7, 2, 18, 0x1b, 0xff]);
    r.service_dma();
    assert_eq!(r.results(), [0x04, 0, 0, 2, 1, 9, 2]);
    // FORMAT track 3 head 0: four IDs, fill byte 0xE5.
    r.seek(3);
    let ids: Vec<u8> = (1..=4u8).flat_map(|s| [3, 0, s, 2]).collect();
    r.mem.write_bytes(0x4000, &ids);
    r.program_dma(0x4000, 16, false);
    r.command(&[0x4d, 0x00, 2, 4, 0x6c, 0xe5]);
    r.service_dma();
    assert_eq!(r.results()[..3], [0x00, 0, 0]);
    let file = std::fs::read(&path).unwrap();
    let at = |c: usize, h: usize, s: usize| ((c * 2 + h) * 18 + s - 1) * 512;
    assert_eq!(file[at(2, 1, 7)..][..512], [0xa5; 512]);
    assert_eq!(file[at(2, 1, 8)..][..512], [0x5a; 512]);
    assert_eq!(
        file[at(2, 1, 9)..][..512],
        sector_bytes(at(2, 1, 9) / 512)[..]
    );
    assert_eq!(file[at(3, 0, 1)..][..4 * 512], [0xe5; 4 * 512]);
    assert_eq!(
        file[at(3, 0, 5)..][..512],
        sector_bytes(at(3, 0, 5) / 512)[..]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn write_protected_diskettes_refuse_writes() {
    let mut r = Rig::with_backend(Box::new(MemBackend::new(image(), true)));
    r.outb(0x3f7, 0);
    r.command(&[0x04, 0x00]);
    assert_eq!(r.results()[0] & 0x40, 0x40);
    r.program_dma(0x3000, 512, false);
    r.command(&[0xc5, 0x00, 0, 0, 1, 2, 18, 0x1b, 0xff]);
    assert_eq!(r.results()[..3], [0x40, 0x02, 0x00]);
}

#[test]
fn non_dma_mode_moves_data_through_the_fifo() {
    let mut r = Rig::new();
    r.outb(0x3f7, 0);
    r.command(&[0x03, 0xaf, 0x03]); // SPECIFY, ND
    r.command(&[0x46, 0x00, 0, 0, 18, 2, 18, 0x1b, 0xff]);
    let mut data = Vec::new();
    while r.inb(MSR) & 0xe0 == 0xe0 {
        assert!(r.irq6(), "INT asks for each byte");
        data.push(r.inb(FIFO));
    }
    assert_eq!(data, sector_bytes(17));
    assert_eq!(r.results(), [0x40, 0x80, 0, 1, 0, 1, 2], "EOT: EN");
    // A write the same way.
    r.command(&[0x45, 0x00, 0, 0, 2, 2, 2, 0x1b, 0xff]);
    for i in 0..512 {
        assert_eq!(r.inb(MSR) & 0xe0, 0xa0);
        r.outb(FIFO, i as u8);
    }
    assert_eq!(r.results()[..2], [0x40, 0x80]);
    r.command(&[0x46, 0x00, 0, 0, 2, 2, 2, 0x1b, 0xff]);
    let back: Vec<u8> = (0..512).map(|_| r.inb(FIFO)).collect();
    assert_eq!(back, (0..512).map(|i| i as u8).collect::<Vec<_>>());
}

#[test]
fn hostile_register_sequences_never_panic_or_escape() {
    let mut r = Rig::new();
    let mut seed = 0x9e37_79b9u32;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    for _ in 0..20_000 {
        let v = next();
        let port = match v & 7 {
            0..=3 => FIFO,
            4 => 0x3f0 + (v >> 8) as u16 % 8,
            5 => (v >> 8) as u16 & 0x0f,
            6 => 0x81,
            _ => MSR,
        };
        if v >> 31 != 0 {
            r.outb(port, (v >> 16) as u8);
        } else {
            r.inb(port);
        }
        if v & 0x300 == 0 {
            r.service_dma();
        }
    }
}

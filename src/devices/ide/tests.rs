//! The controller driven through its ports, as a guest driver does.

use super::ata::AtaDisk;
use super::atapi::{AtapiCdrom, CD_BLOCK};
use super::channel::Media;
use super::*;
use crate::devices::irq::{IrqLines, SharedIrqLines};

const BM: u16 = 0xc000;

struct Rig {
    io: PortBus,
    ide: SharedPiixIde,
    lines: SharedIrqLines,
    mem: GuestMemory,
}

/// A disk of `sectors` sectors, sector n filled with n's low byte.
fn disk(sectors: usize) -> Media {
    let data: Vec<u8> = (0..sectors * 512).map(|i| (i / 512) as u8).collect();
    Media::Disk(AtaDisk::new(Box::new(MemBackend::new(data, false)), "SN1"))
}

fn cdrom(blocks: usize) -> Media {
    let data: Vec<u8> = (0..blocks * CD_BLOCK)
        .map(|i| (i / CD_BLOCK) as u8 ^ 0x5a)
        .collect();
    Media::Cdrom(AtapiCdrom::new(Box::new(MemBackend::new(data, true))))
}

impl Rig {
    fn new(primary: Vec<(usize, Media)>, secondary: Vec<(usize, Media)>) -> Self {
        let lines = IrqLines::new();
        let mut ide = PiixIde::new(lines.line(14), lines.line(15));
        for (pos, m) in primary {
            ide.attach(0, pos, m);
        }
        for (pos, m) in secondary {
            ide.attach(1, pos, m);
        }
        // Firmware: I/O and bus master on, channels enabled, BMIBA.
        ide.config_write(0x04, 0x5, 0xffff);
        ide.config_write(0x40, 0x8000_8000, 0xffff_ffff);
        ide.config_write(0x20, BM as u32 | 1, 0xffff_ffff);
        let ide = Arc::new(Mutex::new(ide));
        let mut io = PortBus::default();
        register_ide(&mut io, &ide).unwrap();
        Rig {
            io,
            ide,
            lines,
            mem: GuestMemory::new(1 << 20).unwrap(),
        }
    }

    fn outb(&mut self, port: u16, v: u8) {
        self.io.write(port, 1, v as u32);
    }
    fn inb(&mut self, port: u16) -> u8 {
        self.io.read(port, 1) as u8
    }
    fn irq14(&self) -> bool {
        self.lines.levels() & (1 << 14) != 0
    }
    fn bm_write(&mut self, off: u16, size: u8, v: u32) {
        let port = BM + off;
        let (region, o) = self.ide.lock().unwrap().io_decode(port).unwrap();
        self.ide.lock().unwrap().io_write(region, o, size, v);
    }
    fn bm_read(&mut self, off: u16) -> u8 {
        let (region, o) = self.ide.lock().unwrap().io_decode(BM + off).unwrap();
        self.ide.lock().unwrap().io_read(region, o, 1) as u8
    }

    /// Registers of a 28-bit LBA command on the primary master.
    fn lba28(&mut self, lba: u32, count: u8) {
        self.outb(0x1f6, 0xe0 | (lba >> 24) as u8 & 0xf);
        self.outb(0x1f2, count);
        self.outb(0x1f3, lba as u8);
        self.outb(0x1f4, (lba >> 8) as u8);
        self.outb(0x1f5, (lba >> 16) as u8);
    }

    fn read_words(&mut self, port: u16, n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|_| (self.io.read(port, 2) as u16).to_le_bytes())
            .collect()
    }

    fn backend_byte(&self, ch: usize, pos: usize, at: usize) -> u8 {
        let mut ide = self.ide.lock().unwrap();
        let drive = ide.channels[ch].drives[pos].as_mut().unwrap();
        let Media::Disk(d) = &mut drive.media else {
            panic!("not a disk")
        };
        let mut b = [0u8];
        d.backend().read_at(at as u64, &mut b).unwrap();
        b[0]
    }
}

#[test]
fn pci_identity_and_decode_enable() {
    let lines = IrqLines::new();
    let ide = PiixIde::new(lines.line(14), lines.line(15));
    let mut ide2 = ide;
    assert_eq!(ide2.config_read(0), 0x7010_8086);
    assert_eq!(ide2.config_read(8) >> 8, 0x01_01_80);
    ide2.config_write(0x20, 0xffff_ffff, 0xffff_ffff);
    assert_eq!(ide2.config_read(0x20), 0xffff_fff1, "16-byte I/O BAR");
    let ide = Arc::new(Mutex::new(ide2));
    let mut io = PortBus::default();
    register_ide(&mut io, &ide).unwrap();
    assert_eq!(io.read(0x1f7, 1), 0xff, "decode off: the bus floats");
    ide.lock().unwrap().config_write(0x04, 1, 0xffff);
    assert_eq!(io.read(0x1f7, 1), 0xff, "IDETIM decode still off");
    ide.lock().unwrap().config_write(0x40, 0x8000, 0xffff);
    assert_eq!(io.read(0x1f7, 1), 0x00, "empty channel reads zero");
}

#[test]
fn signature_identify_and_absent_slave() {
    let mut r = Rig::new(vec![(0, disk(4096))], vec![(0, cdrom(16))]);
    // Software reset.
    r.outb(0x3f6, 0x04);
    assert_eq!(r.inb(0x1f7), 0x80, "BSY during SRST");
    r.outb(0x3f6, 0x00);
    assert_eq!(r.inb(0x1f7), 0x50);
    assert_eq!(
        [
            r.inb(0x1f1),
            r.inb(0x1f2),
            r.inb(0x1f3),
            r.inb(0x1f4),
            r.inb(0x1f5)
        ],
        [1, 1, 1, 0, 0]
    );
    r.outb(0x376, 0x04);
    r.outb(0x376, 0x00);
    assert_eq!([r.inb(0x174), r.inb(0x175), r.inb(0x177)], [0x14, 0xeb, 0]);
    // The slave is absent: its registers read zero, the 0x55 probe fails.
    r.outb(0x1f6, 0xb0);
    r.outb(0x1f2, 0x55);
    assert_eq!((r.inb(0x1f2), r.inb(0x1f7)), (0, 0));
    r.outb(0x1f6, 0xa0);
    assert_eq!(r.inb(0x1f2), 0x55, "the master latched the write too");
    // IDENTIFY DEVICE.
    r.outb(0x1f7, 0xec);
    assert!(r.irq14());
    assert_eq!(r.inb(0x1f7), 0x58, "DRDY DSC DRQ");
    assert!(!r.irq14(), "reading status acknowledges");
    let id = r.read_words(0x1f0, 256);
    assert_eq!(r.inb(0x1f7), 0x50);
    let word = |n: usize| u16::from_le_bytes([id[2 * n], id[2 * n + 1]]);
    assert_eq!(word(0), 0x0040);
    assert_eq!((word(1), word(3), word(6)), (4, 16, 63));
    assert_eq!((word(60), word(61)), (4096, 0));
    assert_eq!((word(100), word(101)), (4096, 0));
    assert_eq!(word(83) & (1 << 10), 1 << 10, "48-bit");
    assert_eq!(&id[54..62], b"LXTAH RA", "model, byte-swapped");
    assert_eq!(id.iter().fold(0u8, |a, b| a.wrapping_add(*b)), 0);
    // The CD-ROM aborts IDENTIFY DEVICE and answers IDENTIFY PACKET.
    r.outb(0x177, 0xec);
    assert_eq!((r.inb(0x177) & 1, r.inb(0x171)), (1, 0x04));
    assert_eq!((r.inb(0x174), r.inb(0x175)), (0x14, 0xeb));
    r.outb(0x177, 0xa1);
    let id = r.read_words(0x170, 256);
    assert_eq!(u16::from_le_bytes([id[0], id[1]]), 0x85c0);
}

#[test]
fn pio_read_write_multiple_and_chs() {
    let mut r = Rig::new(vec![(0, disk(4096))], vec![]);
    r.lba28(5, 3);
    r.outb(0x1f7, 0x20);
    for n in 5..8u8 {
        assert_eq!(r.inb(0x1f7) & 0x08, 0x08);
        let data = r.read_words(0x1f0, 256);
        assert!(data.iter().all(|&b| b == n), "sector {n}");
    }
    assert_eq!(r.inb(0x1f7), 0x50, "no DRQ after the last sector");
    // Write two sectors with 32-bit accesses.
    r.lba28(100, 2);
    r.outb(0x1f7, 0x30);
    assert!(!r.irq14(), "no interrupt before the first block");
    for i in 0..256u32 {
        r.io.write(0x1f0, 4, 0xa1a1_a1a1 ^ (i / 128));
    }
    assert!(r.irq14());
    assert_eq!(r.inb(0x1f7), 0x50);
    assert_eq!(r.backend_byte(0, 0, 100 * 512), 0xa1);
    assert_eq!(r.backend_byte(0, 0, 101 * 512 + 4), 0xa0);
    assert_eq!(r.backend_byte(0, 0, 102 * 512), 102);
    // READ MULTIPLE needs SET MULTIPLE MODE.
    r.lba28(1, 4);
    r.outb(0x1f7, 0xc4);
    assert_eq!((r.inb(0x1f7) & 1, r.inb(0x1f1)), (1, 0x04));
    r.outb(0x1f2, 3);
    r.outb(0x1f7, 0xc6);
    assert_eq!(r.inb(0x1f7) & 1, 1, "3 is not a power of two");
    r.outb(0x1f2, 4);
    r.outb(0x1f7, 0xc6);
    assert_eq!(r.inb(0x1f7), 0x50);
    r.lba28(1, 6);
    r.outb(0x1f7, 0xc4);
    let block = r.read_words(0x1f0, 1024);
    assert_eq!(
        (block[0], block[2047]),
        (1, 4),
        "four sectors per DRQ block"
    );
    let rest = r.read_words(0x1f0, 512);
    assert_eq!((rest[0], rest[1023]), (5, 6));
    assert_eq!(r.inb(0x1f7), 0x50);
    // CHS: cylinder 1, head 2, sector 3 = (1*16+2)*63+2.
    r.outb(0x1f6, 0xa2);
    r.outb(0x1f2, 1);
    r.outb(0x1f3, 3);
    r.outb(0x1f4, 1);
    r.outb(0x1f5, 0);
    r.outb(0x1f7, 0x20);
    assert_eq!(r.read_words(0x1f0, 256)[0], ((18 * 63 + 2) & 0xff) as u8);
    // Sector 0 does not exist in CHS terms.
    r.outb(0x1f3, 0);
    r.outb(0x1f7, 0x20);
    assert_eq!(r.inb(0x1f7) & 1, 1);
}

#[test]
fn lba48_reads_above_28_bits_of_count_and_address() {
    let mut r = Rig::new(vec![(0, disk(300))], vec![]);
    // LBA48: 260 sectors from 20 — beyond the disk: aborted.
    let ext = |r: &mut Rig, lba: u64, count: u16| {
        r.outb(0x1f6, 0x40);
        for (port, hi, lo) in [
            (0x1f2, (count >> 8) as u8, count as u8),
            (0x1f3, (lba >> 24) as u8, lba as u8),
            (0x1f4, (lba >> 32) as u8, (lba >> 8) as u8),
            (0x1f5, (lba >> 40) as u8, (lba >> 16) as u8),
        ] {
            r.outb(port, hi);
            r.outb(port, lo);
        }
    };
    ext(&mut r, 20, 290);
    r.outb(0x1f7, 0x24);
    assert_eq!((r.inb(0x1f7), r.inb(0x1f1)), (0x51, 0x04));
    ext(&mut r, 1 << 32, 1);
    r.outb(0x1f7, 0x24);
    assert_eq!(r.inb(0x1f7) & 1, 1, "LBA past the disk");
    ext(&mut r, 2, 260);
    r.outb(0x3f6, 0x80);
    assert_eq!(r.inb(0x1f2), 1, "HOB reads the previous count byte");
    r.outb(0x3f6, 0x00);
    r.outb(0x1f7, 0x24);
    let mut last = 0;
    for n in 0..260u32 {
        let s = r.read_words(0x1f0, 256);
        assert_eq!(s[0], (2 + n) as u8);
        last = s[511];
    }
    assert_eq!(last, 5, "sector 261");
    assert_eq!(r.inb(0x1f7), 0x50);
}

#[test]
fn dma_through_a_prd_table_and_nien() {
    let mut r = Rig::new(vec![(0, disk(64))], vec![]);
    // Two PRDs: 512 bytes at 0x10000, 1024 at 0x20000 (EOT).
    r.mem.write(0x8000, 4, 0x10000);
    r.mem.write(0x8004, 4, 512);
    r.mem.write(0x8008, 4, 0x20000);
    r.mem.write(0x800c, 4, 0x8000_0400);
    r.bm_write(4, 4, 0x8000);
    r.lba28(10, 3);
    r.outb(0x1f7, 0xc8);
    assert_eq!(r.inb(0x3f6), 0x58);
    r.ide.lock().unwrap().service_dma(&mut r.mem);
    assert_eq!(r.mem.read(0x10000, 1), 0, "nothing before start");
    r.bm_write(0, 1, 0x09); // start, write to memory
    assert!(r.ide.lock().unwrap().dma_pending());
    r.ide.lock().unwrap().service_dma(&mut r.mem);
    assert_eq!(r.mem.read(0x10000, 1), 10);
    assert_eq!(r.mem.read(0x101ff, 1), 10);
    assert_eq!(r.mem.read(0x20000, 1), 11);
    assert_eq!(r.mem.read(0x203ff, 1), 12);
    assert_eq!(r.bm_read(2) & 0x07, 0x04, "interrupt, not active");
    assert!(r.irq14());
    assert_eq!(r.inb(0x1f7), 0x50);
    r.bm_write(2, 1, 0x04);
    r.bm_write(0, 1, 0x00);
    assert_eq!(r.bm_read(2) & 0x07, 0);
    // WRITE DMA from memory, with nIEN: no interrupt line.
    r.outb(0x3f6, 0x02);
    r.mem.write_bytes(0x10000, &[0xee; 512]);
    r.mem.write(0x8004, 4, 0x8000_0200);
    r.lba28(40, 1);
    r.outb(0x1f7, 0xca);
    r.bm_write(0, 1, 0x01);
    r.ide.lock().unwrap().service_dma(&mut r.mem);
    assert_eq!(r.backend_byte(0, 0, 40 * 512 + 7), 0xee);
    assert!(!r.irq14(), "nIEN masks INTRQ");
    assert_eq!(r.bm_read(2) & 0x04, 0x04, "but the bus master saw it");
    // A table too short for the data ends the command with an error.
    r.bm_write(0, 1, 0x00);
    r.lba28(0, 2);
    r.outb(0x1f7, 0xc8);
    r.bm_write(0, 1, 0x09);
    r.ide.lock().unwrap().service_dma(&mut r.mem);
    assert_eq!(r.inb(0x1f7) & 1, 1);
    assert_eq!(r.bm_read(2) & 0x03, 0x02, "BM error, not active");
}

#[test]
fn hostile_prds_stay_inside_guest_memory() {
    let mut r = Rig::new(vec![(0, disk(256))], vec![]);
    // Addresses past RAM and a table that never ends.
    for i in 0..4u64 {
        r.mem.write(0x8000 + 8 * i, 4, 0xffff_0000);
        r.mem.write(0x8004 + 8 * i, 4, 0);
    }
    r.bm_write(4, 4, 0x8000);
    r.outb(0x1f6, 0x40);
    r.outb(0x1f2, 0);
    r.outb(0x1f2, 0);
    r.outb(0x1f3, 0);
    r.outb(0x1f7, 0x25); // READ DMA EXT, 65536 sectors: past the disk
    assert_eq!(r.inb(0x1f7) & 1, 1);
    r.lba28(0, 0); // 256 sectors
    r.outb(0x1f7, 0xc8);
    r.bm_write(4, 4, 0xffff_fff8); // the table runs off the top of memory
    r.bm_write(0, 1, 0x09);
    r.ide.lock().unwrap().service_dma(&mut r.mem);
    assert_eq!(r.inb(0x1f7) & 0x08, 0, "the command ended");
}

#[test]
fn unknown_commands_abort_and_diagnostic_passes() {
    let mut r = Rig::new(vec![(0, disk(64))], vec![]);
    for cmd in [0x00u8, 0x01, 0x50, 0xa0, 0xa1, 0xff, 0x08] {
        r.outb(0x1f7, cmd);
        assert_eq!((r.inb(0x1f7), r.inb(0x1f1)), (0x51, 0x04), "cmd {cmd:#x}");
    }
    r.outb(0x1f7, 0x90);
    assert_eq!((r.inb(0x1f7), r.inb(0x1f1)), (0x50, 0x01));
    r.outb(0x1f1, 0x03);
    r.outb(0x1f2, 0x46); // UDMA mode 6: not supported
    r.outb(0x1f7, 0xef);
    assert_eq!(r.inb(0x1f7) & 1, 1);
    r.outb(0x1f2, 0x22);
    r.outb(0x1f7, 0xef);
    assert_eq!(r.inb(0x1f7), 0x50);
    r.outb(0x1f7, 0xec);
    let id = r.read_words(0x1f0, 256);
    assert_eq!(
        u16::from_le_bytes([id[126], id[127]]),
        0x0407,
        "MWDMA2 selected"
    );
    r.outb(0x1f7, 0xe7);
    assert_eq!(r.inb(0x1f7), 0x50, "FLUSH CACHE");
}

/// Sends a 12-byte packet on the secondary master.
fn packet(r: &mut Rig, cdb: &[u8], limit: u16, dma: bool) {
    r.outb(0x176, 0xa0);
    r.outb(0x171, dma as u8);
    r.outb(0x174, limit as u8);
    r.outb(0x175, (limit >> 8) as u8);
    r.outb(0x177, 0xa0);
    assert_eq!(r.inb(0x177) & 0x08, 0x08, "DRQ for the packet");
    assert_eq!(r.inb(0x172) & 3, 1, "C/D");
    let mut c = [0u8; 12];
    c[..cdb.len()].copy_from_slice(cdb);
    for w in c.chunks(2) {
        r.io.write(0x170, 2, u16::from_le_bytes([w[0], w[1]]) as u32);
    }
}

#[test]
fn atapi_read10_in_byte_count_limited_pieces_and_sense() {
    let mut r = Rig::new(vec![], vec![(0, cdrom(32))]);
    packet(&mut r, &[0x28, 0, 0, 0, 0, 3, 0, 0, 2], 2048, false);
    let irq15 = |r: &Rig| r.lines.levels() & (1 << 15) != 0;
    for block in 3..5u8 {
        assert!(irq15(&r));
        assert_eq!(r.inb(0x177), 0x58);
        assert_eq!(r.inb(0x172) & 3, 2, "I/O, data");
        assert_eq!((r.inb(0x174), r.inb(0x175)), (0x00, 0x08));
        let d = r.read_words(0x170, 1024);
        assert!(d.iter().all(|&b| b == block ^ 0x5a));
    }
    assert!(irq15(&r), "status phase interrupts");
    assert_eq!(r.inb(0x177), 0x50);
    assert_eq!(r.inb(0x172) & 3, 3);
    // Out of range: CHECK CONDITION, ILLEGAL REQUEST, then REQUEST SENSE.
    packet(&mut r, &[0x28, 0, 0, 0, 0, 31, 0, 0, 2], 2048, false);
    assert_eq!(r.inb(0x177) & 1, 1);
    assert_eq!(r.inb(0x171) >> 4, 5);
    packet(&mut r, &[0x03, 0, 0, 0, 18], 18, false);
    let s = r.read_words(0x170, 9);
    assert_eq!((s[2], s[12]), (5, 0x21));
    // A limit below the block size splits a block.
    packet(&mut r, &[0x28, 0, 0, 0, 0, 1, 0, 0, 1], 1000, false);
    assert_eq!(r.inb(0x174) as u16 | (r.inb(0x175) as u16) << 8, 1000);
    r.read_words(0x170, 500);
    r.read_words(0x170, 500);
    assert_eq!(r.inb(0x174) as u16 | (r.inb(0x175) as u16) << 8, 48);
    r.read_words(0x170, 24);
    assert_eq!(r.inb(0x177), 0x50);
}

#[test]
fn a_disc_changed_mid_read_ends_the_read_with_an_error() {
    let mut r = Rig::new(vec![], vec![(0, cdrom(32))]);
    packet(&mut r, &[0x28, 0, 0, 0, 0, 3, 0, 0, 2], 2048, false);
    r.read_words(0x170, 1024);
    {
        let mut ide = r.ide.lock().unwrap();
        let Some(Media::Cdrom(cd)) = ide.media_mut(1, 0) else {
            panic!("no CD-ROM")
        };
        cd.change(Box::new(MemBackend::new(vec![0xee; 64 * CD_BLOCK], true)))
            .unwrap();
        ide.medium_changed(1, 0);
    }
    assert_eq!(r.inb(0x177) & 0x09, 0x01, "ERR, no more data");
    assert_eq!(r.read_words(0x170, 1), [0, 0]);
    // The next command learns of the change; then the new disc reads.
    packet(&mut r, &[0x00], 0, false);
    assert_eq!(r.inb(0x171) >> 4, 6, "UNIT ATTENTION");
    packet(&mut r, &[0x28, 0, 0, 0, 0, 40, 0, 0, 1], 2048, false);
    assert_eq!(r.inb(0x177), 0x58);
    assert!(r.read_words(0x170, 1024).iter().all(|&b| b == 0xee));
}

#[test]
fn atapi_read_by_dma() {
    let mut r = Rig::new(vec![], vec![(0, cdrom(8))]);
    r.mem.write(0x8000, 4, 0x30000);
    r.mem.write(0x8004, 4, 0x8000_1000);
    r.bm_write(8 + 4, 4, 0x8000);
    packet(&mut r, &[0xa8, 0, 0, 0, 0, 6, 0, 0, 0, 2], 0, true);
    r.bm_write(8, 1, 0x09);
    r.ide.lock().unwrap().service_dma(&mut r.mem);
    assert_eq!(r.mem.read(0x30000, 1), 6 ^ 0x5a);
    assert_eq!(r.mem.read(0x30fff, 1), 7 ^ 0x5a);
    assert_eq!(r.inb(0x177), 0x50);
    assert_eq!(r.inb(0x172) & 3, 3);
}

#[test]
fn random_port_traffic_never_panics() {
    let mut r = Rig::new(vec![(0, disk(64)), (1, cdrom(4))], vec![(0, cdrom(2))]);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    const PORTS: [u16; 20] = [
        0x1f0, 0x1f1, 0x1f2, 0x1f3, 0x1f4, 0x1f5, 0x1f6, 0x1f7, 0x3f6, 0x170, 0x171, 0x172, 0x173,
        0x174, 0x175, 0x176, 0x177, 0x376, 0x1f0, 0x170,
    ];
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let size = [1u8, 2, 4, 1][(x >> 4 & 3) as usize];
        match x & 7 {
            0..=2 => {
                let port = PORTS[(x >> 8) as usize % PORTS.len()];
                r.io.write(port, size, (x >> 32) as u32);
            }
            3 | 4 => {
                let port = PORTS[(x >> 8) as usize % PORTS.len()];
                r.io.read(port, size);
            }
            5 => r
                .ide
                .lock()
                .unwrap()
                .io_write(4, (x >> 8) as u16 & 15, size, (x >> 32) as u32),
            6 => {
                r.mem.write((x >> 20) & 0xfff8, 8, x);
                r.ide.lock().unwrap().service_dma(&mut r.mem);
            }
            _ if x >> 40 & 15 == 0 => {
                let mut ide = r.ide.lock().unwrap();
                ide.reset();
                ide.firmware_setup();
            }
            _ => {}
        }
    }
}

#[test]
fn seabios_style_enable_sequence_decodes_the_primary_channel() {
    let lines = IrqLines::new();
    let mut ide = PiixIde::new(lines.line(14), lines.line(15));
    ide.attach(0, 0, disk(64));
    ide.config_write(0x20, 0xc000, 0xffff_ffff);
    ide.config_write(0x40, 0x8000, 0xffff);
    ide.config_write(0x40, 0x8000_0000, 0xffff_0000);
    ide.config_write(0x04, 0x103, 0xffff);
    assert_eq!(ide.config_read(0x40), 0x8000_8000);
    let ide = Arc::new(Mutex::new(ide));
    let mut io = PortBus::default();
    register_ide(&mut io, &ide).unwrap();
    assert_eq!(io.read(0x1f7, 1), 0x50);
}

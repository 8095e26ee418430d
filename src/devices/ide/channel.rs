//! One IDE channel: up to two devices (master and slave) sharing the
//! command block (8 ports), the control block (Device Control / Alternate
//! Status) and one interrupt line, and the channel's bus-master registers.
//! The protocols are ATA/ATAPI-6 clause 9: PIO data-in/out, DMA and PACKET.

use super::ata::{AtaDisk, Outcome};
use super::atapi::{AtapiCdrom, Sense};
use super::backend::BlockBackend;
use super::busmaster::BusMaster;
use super::identify::valid_transfer_mode;
use super::taskfile::*;
use super::transfer::{Sink, Source, SECTOR};
use crate::devices::irq::IrqLine;

/// What sits at a device position.
pub enum Media {
    Disk(AtaDisk),
    Cdrom(AtapiCdrom),
}

pub struct Drive {
    pub tf: TaskFile,
    pub status: u8,
    pub error: u8,
    pub media: Media,
}

impl Drive {
    pub fn new(media: Media) -> Self {
        let mut d = Drive {
            tf: TaskFile::default(),
            status: 0,
            error: 0,
            media,
        };
        d.signature();
        d
    }

    fn is_packet(&self) -> bool {
        matches!(self.media, Media::Cdrom(_))
    }

    /// The state after a reset or diagnostic: signature, "passed",
    /// ready (an ATAPI device leaves DRDY clear).
    fn signature(&mut self) {
        let packet = self.is_packet();
        self.tf.set_signature(packet);
        self.error = 0x01;
        self.status = if packet { 0 } else { DRDY | DSC };
    }

    fn backend(&mut self) -> &mut dyn BlockBackend {
        match &mut self.media {
            Media::Disk(d) => d.backend(),
            Media::Cdrom(c) => c.backend(),
        }
    }
}

/// The data phase in progress, owned by the device that started it.
pub enum Transfer {
    Idle,
    /// The host reads `buf` (one DRQ block); then the next from `src`.
    PioIn {
        buf: Vec<u8>,
        pos: usize,
        src: Source,
        block: usize,
        packet: bool,
    },
    /// The host writes one DRQ block into `buf`; then it goes to `sink`.
    PioOut {
        buf: Vec<u8>,
        block: usize,
        sink: Sink,
    },
    /// The host writes the 12-byte command packet.
    Packet {
        cdb: [u8; 12],
        pos: usize,
        dma: bool,
        limit: u16,
    },
    /// Waiting for the bus master.
    DmaIn {
        src: Source,
        packet: bool,
    },
    DmaOut {
        sink: Sink,
    },
}

pub struct Channel {
    pub drives: [Option<Drive>; 2],
    pub selected: usize,
    control: u8,
    intrq: bool,
    irq: IrqLine,
    pub transfer: Transfer,
    pub owner: usize,
    pub bm: BusMaster,
}

impl Channel {
    pub fn new(irq: IrqLine) -> Self {
        irq.lower();
        Channel {
            drives: [None, None],
            selected: 0,
            control: 0,
            intrq: false,
            irq,
            transfer: Transfer::Idle,
            owner: 0,
            bm: BusMaster::default(),
        }
    }

    pub fn attach(&mut self, position: usize, media: Media) {
        self.drives[position & 1] = Some(Drive::new(media));
        // Bus-master status bits 5/6: the drive is DMA capable.
        self.bm.set_drive_capable(position & 1);
    }

    /// A hardware reset.
    pub fn reset(&mut self) {
        for d in self.drives.iter_mut().flatten() {
            d.signature();
            match &mut d.media {
                Media::Disk(disk) => disk.reset(),
                Media::Cdrom(cd) => cd.reset(),
            }
        }
        self.selected = 0;
        self.control = 0;
        self.transfer = Transfer::Idle;
        self.bm.reset();
        self.intrq = false;
        self.update_irq();
    }

    fn update_irq(&self) {
        self.irq
            .set_level(self.intrq && self.control & CONTROL_NIEN == 0);
    }

    /// The selected device asserts INTRQ (also latched in the bus
    /// master's status, as the PIIX does).
    pub fn raise(&mut self) {
        self.intrq = true;
        self.bm.note_interrupt();
        self.update_irq();
    }

    fn drive(&mut self) -> Option<&mut Drive> {
        self.drives[self.selected].as_mut()
    }

    fn owner_drive(&mut self) -> Option<&mut Drive> {
        self.drives[self.owner].as_mut()
    }

    /// Reads command block register `reg` (1-7; 0 is the data port).
    pub fn read_register(&mut self, reg: u16) -> u8 {
        let hob = self.control & CONTROL_HOB != 0;
        let Some(d) = self.drives[self.selected].as_ref() else {
            // No device answers; the other one drives zeros (as QEMU).
            return 0;
        };
        match reg {
            1 => d.error,
            7 => {
                let s = d.status;
                self.intrq = false;
                self.update_irq();
                s
            }
            _ => d.tf.read(reg, hob),
        }
    }

    pub fn alternate_status(&self) -> u8 {
        self.drives[self.selected].as_ref().map_or(0, |d| d.status)
    }

    pub fn write_register(&mut self, reg: u16, value: u8) {
        if reg == 7 {
            self.command(value);
            return;
        }
        // Both devices latch the shared registers; a write clears HOB.
        self.control &= !CONTROL_HOB;
        for d in self.drives.iter_mut().flatten() {
            d.tf.write(reg, value);
        }
        if reg == 6 {
            self.selected = (value & DEVICE_DEV != 0) as usize;
        }
    }

    pub fn write_control(&mut self, value: u8) {
        let was_reset = self.control & CONTROL_SRST != 0;
        let reset = value & CONTROL_SRST != 0;
        self.control = value;
        if reset && !was_reset {
            self.transfer = Transfer::Idle;
            self.intrq = false;
            for d in self.drives.iter_mut().flatten() {
                d.status = BSY;
            }
        } else if !reset && was_reset {
            for d in self.drives.iter_mut().flatten() {
                d.signature();
            }
            self.selected = 0;
        }
        self.update_irq();
    }

    fn command(&mut self, cmd: u8) {
        if self.drive().is_none() {
            return;
        }
        self.intrq = false;
        self.update_irq();
        self.transfer = Transfer::Idle;
        self.owner = self.selected;
        if cmd == 0x90 {
            // EXECUTE DEVICE DIAGNOSTIC addresses both devices.
            for d in self.drives.iter_mut().flatten() {
                d.signature();
            }
            self.raise();
            return;
        }
        let d = self.drives[self.selected].as_mut().expect("checked");
        let outcome = match &mut d.media {
            Media::Disk(disk) => match cmd {
                0xa0 | 0xa1 | 0x08 => Outcome::Error(ABRT),
                _ => disk.execute(cmd, &mut d.tf),
            },
            Media::Cdrom(cd) => match cmd {
                0xa0 => {
                    self.start_packet();
                    return;
                }
                0xa1 => Outcome::PioIn {
                    src: Source::bytes(cd.identify()),
                    block: SECTOR,
                },
                0x08 => {
                    // DEVICE RESET.
                    d.signature();
                    Outcome::Quiet
                }
                0xec => {
                    // IDENTIFY DEVICE: aborted with the signature in
                    // place, so the host knows to use IDENTIFY PACKET.
                    d.tf.set_signature(true);
                    Outcome::Error(ABRT)
                }
                0xef => match d.tf.feature {
                    0x03 if valid_transfer_mode(d.tf.count) => {
                        cd.set_transfer_mode(d.tf.count);
                        Outcome::Complete
                    }
                    0x02 | 0x82 | 0xaa | 0x55 | 0x66 | 0xcc => Outcome::Complete,
                    _ => Outcome::Error(ABRT),
                },
                0xe0 | 0xe1 | 0xe6 => Outcome::Complete,
                0xe5 => {
                    d.tf.count = 0xff;
                    Outcome::Complete
                }
                _ => Outcome::Error(ABRT),
            },
        };
        self.apply(outcome);
    }

    fn apply(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Complete => self.complete(),
            Outcome::Quiet => {}
            Outcome::Error(e) => self.fail(e),
            Outcome::PioIn { src, block } => self.next_block_in(src, block, false),
            Outcome::PioOut { sink, block } => {
                let d = self.owner_drive().expect("owner");
                d.status = DRDY | DSC | DRQ;
                let block = block.min(sink.remaining() as usize);
                self.transfer = Transfer::PioOut {
                    buf: Vec::with_capacity(block),
                    block,
                    sink,
                };
            }
            Outcome::DmaIn(src) => self.wait_dma(Transfer::DmaIn { src, packet: false }),
            Outcome::DmaOut(sink) => self.wait_dma(Transfer::DmaOut { sink }),
        }
    }

    fn wait_dma(&mut self, t: Transfer) {
        if let Some(d) = self.owner_drive() {
            d.status = DRDY | DSC | DRQ;
        }
        self.transfer = t;
    }

    /// The command ended well: ready, interrupt.
    pub fn complete(&mut self) {
        self.transfer = Transfer::Idle;
        if let Some(d) = self.owner_drive() {
            d.error = 0;
            d.status = DRDY | DSC;
            if d.is_packet() {
                d.tf.count = IREASON_IO | IREASON_COD;
            }
        }
        self.raise();
    }

    /// The command failed with `error`.
    pub fn fail(&mut self, error: u8) {
        self.transfer = Transfer::Idle;
        if let Some(d) = self.owner_drive() {
            d.error = error;
            d.status = DRDY | DSC | ERR;
            if d.is_packet() {
                d.tf.count = IREASON_IO | IREASON_COD;
            }
        }
        self.raise();
    }

    /// A packet command failed: CHECK CONDITION, the sense key in the
    /// error register's high nibble.
    fn fail_packet(&mut self, sense: Sense) {
        let abrt = if sense.key == super::atapi::ILLEGAL_REQUEST {
            ABRT
        } else {
            0
        };
        self.fail(sense.key << 4 | abrt);
    }

    /// A data error mid-transfer.
    pub fn media_error(&mut self) {
        let cd = match self.owner_drive().map(|d| &mut d.media) {
            Some(Media::Cdrom(cd)) => Some(cd.read_error()),
            _ => None,
        };
        match cd {
            Some(sense) => self.fail_packet(sense),
            None => self.fail(0x40 | ABRT), // UNC
        }
    }

    /// Presents the next DRQ block of a data-in command, or ends it.
    fn next_block_in(&mut self, mut src: Source, block: usize, packet: bool) {
        let owner = self.owner;
        let Some(d) = self.drives[owner].as_mut() else {
            return;
        };
        if src.remaining() == 0 {
            self.transfer = Transfer::Idle;
            d.status = DRDY | DSC;
            if packet {
                // The status phase of a packet command interrupts.
                self.complete();
            }
            return;
        }
        match src.take(block, d.backend()) {
            Ok(buf) => {
                d.status = DRDY | DSC | DRQ;
                if packet {
                    d.tf.count = IREASON_IO;
                    d.tf.set_byte_count(buf.len() as u16);
                }
                self.transfer = Transfer::PioIn {
                    buf,
                    pos: 0,
                    src,
                    block,
                    packet,
                };
                self.raise();
            }
            Err(e) => {
                log::warn!("ide: read failed: {e}");
                self.media_error();
            }
        }
    }

    /// PACKET: DRQ for the command packet (C/D set, no interrupt).
    fn start_packet(&mut self) {
        let d = self.owner_drive().expect("owner");
        let dma = d.tf.feature & 1 != 0;
        let limit = match d.tf.byte_count() {
            0 | 0xffff => 0xfffe,
            n => n & !1,
        };
        d.status = DRDY | DRQ;
        d.tf.count = IREASON_COD;
        self.transfer = Transfer::Packet {
            cdb: [0; 12],
            pos: 0,
            dma,
            limit,
        };
    }

    fn run_packet(&mut self, cdb: [u8; 12], dma: bool, limit: u16) {
        let Some(Drive {
            media: Media::Cdrom(cd),
            ..
        }) = self.owner_drive()
        else {
            return;
        };
        match cd.execute(&cdb) {
            Err(sense) => self.fail_packet(sense),
            Ok(None) => self.complete(),
            Ok(Some(src)) if dma => {
                if let Some(d) = self.owner_drive() {
                    d.tf.count = IREASON_IO;
                }
                self.wait_dma(Transfer::DmaIn { src, packet: true });
            }
            Ok(Some(src)) => self.next_block_in(src, limit.max(2) as usize, true),
        }
    }

    /// The data port, read `size` bytes at a time.
    pub fn read_data(&mut self, size: u8) -> u32 {
        if self.selected != self.owner {
            return 0;
        }
        let Transfer::PioIn { buf, pos, .. } = &mut self.transfer else {
            return 0;
        };
        let mut value = 0u32;
        for i in 0..size.clamp(1, 4) as usize {
            if let Some(b) = buf.get(*pos) {
                value |= (*b as u32) << (8 * i);
                *pos += 1;
            }
        }
        if *pos >= buf.len() {
            if let Transfer::PioIn {
                src, block, packet, ..
            } = std::mem::replace(&mut self.transfer, Transfer::Idle)
            {
                self.next_block_in(src, block, packet);
            }
        }
        value
    }

    pub fn write_data(&mut self, size: u8, value: u32) {
        if self.selected != self.owner {
            return;
        }
        let bytes = &value.to_le_bytes()[..size.clamp(1, 4) as usize];
        match &mut self.transfer {
            Transfer::Packet {
                cdb,
                pos,
                dma,
                limit,
            } => {
                for b in bytes {
                    if *pos < 12 {
                        cdb[*pos] = *b;
                        *pos += 1;
                    }
                }
                if *pos == 12 {
                    let (cdb, dma, limit) = (*cdb, *dma, *limit);
                    self.transfer = Transfer::Idle;
                    self.run_packet(cdb, dma, limit);
                }
            }
            Transfer::PioOut { buf, block, .. } => {
                let room = *block - buf.len();
                buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
                if buf.len() == *block {
                    self.block_written();
                }
            }
            _ => {}
        }
    }

    /// A full DRQ block of a data-out command arrived: write it; then the
    /// next block or the end, each with an interrupt.
    fn block_written(&mut self) {
        let Transfer::PioOut {
            buf,
            block,
            mut sink,
        } = std::mem::replace(&mut self.transfer, Transfer::Idle)
        else {
            return;
        };
        let owner = self.owner;
        let Some(d) = self.drives[owner].as_mut() else {
            return;
        };
        if let Err(e) = sink.put(&buf, d.backend()) {
            log::warn!("ide: write failed: {e}");
            self.fail(0x40 | ABRT);
            return;
        }
        if sink.remaining() == 0 {
            self.complete();
        } else {
            d.status = DRDY | DSC | DRQ;
            let block = block.min(sink.remaining() as usize);
            self.transfer = Transfer::PioOut {
                buf: Vec::with_capacity(block),
                block,
                sink,
            };
            self.raise();
        }
    }

    /// The device that owns the pending DMA transfer's backend.
    pub fn owner_backend(&mut self) -> Option<&mut dyn BlockBackend> {
        let owner = self.owner;
        self.drives[owner].as_mut().map(|d| d.backend())
    }
}

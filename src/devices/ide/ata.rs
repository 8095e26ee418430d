//! An ATA hard disk (ATA/ATAPI-6 general feature set, 48-bit address
//! feature set, multiword/Ultra DMA): its identify block and what each
//! command does. The channel runs the data phases.

use super::backend::BlockBackend;
use super::identify::{valid_transfer_mode, IdentifyBlock};
use super::taskfile::{TaskFile, ABRT, DEVICE_LBA};
use super::transfer::{Sink, Source, SECTOR};

/// Sectors per DRQ block READ/WRITE MULTIPLE may use at most.
pub const MAX_MULTIPLE: u8 = 16;
/// The default translation: 16 heads, 63 sectors per track.
const HEADS: u64 = 16;
const SECTORS_PER_TRACK: u64 = 63;

/// What a command asks the channel to do next.
#[derive(Debug)]
pub enum Outcome {
    /// Done: status ready, interrupt.
    Complete,
    /// Done without an interrupt (DEVICE RESET).
    Quiet,
    /// Failed: ERR with this error register, interrupt.
    Error(u8),
    /// Data in by PIO, `block` bytes per DRQ block.
    PioIn {
        src: Source,
        block: usize,
    },
    /// Data out by PIO, `block` bytes per DRQ block.
    PioOut {
        sink: Sink,
        block: usize,
    },
    DmaIn(Source),
    DmaOut(Sink),
}

pub struct AtaDisk {
    backend: Box<dyn BlockBackend>,
    sectors: u64,
    cylinders: u16,
    /// The translation INITIALIZE DEVICE PARAMETERS set.
    heads: u8,
    sectors_per_track: u8,
    /// Sectors per block of READ/WRITE MULTIPLE; 0 until SET MULTIPLE MODE.
    pub multiple: u8,
    write_cache: bool,
    transfer_mode: u8,
    serial: String,
}

impl AtaDisk {
    /// A disk over `backend` (its last partial sector is not addressable).
    pub fn new(backend: Box<dyn BlockBackend>, serial: &str) -> Self {
        let sectors = backend.len() / SECTOR as u64;
        let cylinders = (sectors / (HEADS * SECTORS_PER_TRACK)).clamp(1, 16383) as u16;
        AtaDisk {
            backend,
            sectors,
            cylinders,
            heads: HEADS as u8,
            sectors_per_track: SECTORS_PER_TRACK as u8,
            multiple: 0,
            write_cache: true,
            transfer_mode: 0,
            serial: serial.to_string(),
        }
    }

    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    pub fn backend(&mut self) -> &mut dyn BlockBackend {
        self.backend.as_mut()
    }

    /// Back to power-on settings (a hardware reset).
    pub fn reset(&mut self) {
        self.heads = HEADS as u8;
        self.sectors_per_track = SECTORS_PER_TRACK as u8;
        self.multiple = 0;
    }

    /// Cylinders of the current translation (at most 65535).
    fn current_cylinders(&self) -> u64 {
        let per_cyl = self.heads as u64 * self.sectors_per_track as u64;
        (self.sectors / per_cyl.max(1)).min(65535)
    }

    pub fn identify(&self) -> Vec<u8> {
        let mut b = IdentifyBlock::new();
        let w = &mut b.0;
        w[0] = 0x0040; // fixed disk
        w[1] = self.cylinders;
        w[3] = HEADS as u16;
        w[6] = SECTORS_PER_TRACK as u16;
        w[47] = 0x8000 | MAX_MULTIPLE as u16;
        w[49] = 1 << 11 | 1 << 9 | 1 << 8; // IORDY, LBA, DMA
        w[50] = 0x4000;
        w[51] = 0x0200;
        w[52] = 0x0200;
        w[53] = 0x0007; // words 54-58, 64-70 and 88 valid
        let cur_cyl = self.current_cylinders();
        w[54] = cur_cyl as u16;
        w[55] = self.heads as u16;
        w[56] = self.sectors_per_track as u16;
        let chs = cur_cyl * self.heads as u64 * self.sectors_per_track as u64;
        w[57] = chs as u16;
        w[58] = (chs >> 16) as u16;
        if self.multiple != 0 {
            w[59] = 0x0100 | self.multiple as u16;
        }
        let lba28 = self.sectors.min(0x0fff_ffff);
        w[60] = lba28 as u16;
        w[61] = (lba28 >> 16) as u16;
        w[80] = 0x007e; // ATA-1 to ATA-6
        w[82] = 1 << 14 | 1 << 5; // NOP, write cache
        w[83] = 0x4000 | 1 << 13 | 1 << 12 | 1 << 10; // FLUSH EXT, FLUSH, 48-bit
        w[84] = 0x4000;
        w[85] = 1 << 14 | (self.write_cache as u16) << 5;
        w[86] = 1 << 13 | 1 << 12 | 1 << 10;
        w[87] = 0x4000;
        w[93] = 0x400b; // reset result: device 0 by jumper, diagnostics passed
        let lba48 = self.sectors.min((1 << 48) - 1);
        for i in 0..4 {
            w[100 + i] = (lba48 >> (16 * i)) as u16;
        }
        b.string(10, 10, &self.serial);
        b.string(23, 4, "1.0");
        b.string(27, 20, "XLAT HARDDISK");
        b.transfer_modes(self.transfer_mode);
        b.to_bytes()
    }

    /// The first sector a 28-bit command addresses, in LBA or CHS terms.
    fn address28(&self, tf: &TaskFile) -> Option<u64> {
        if tf.device & DEVICE_LBA != 0 {
            return Some(tf.lba28());
        }
        let cylinder = (tf.lba_high as u64) << 8 | tf.lba_mid as u64;
        let head = (tf.device & 0x0f) as u64;
        let sector = tf.lba_low as u64;
        let (heads, spt) = (self.heads as u64, self.sectors_per_track as u64);
        if sector == 0 || sector > spt || head >= heads {
            return None;
        }
        Some((cylinder * heads + head) * spt + sector - 1)
    }

    /// The range a read/write command addresses, if it lies on the disk.
    fn range(&self, tf: &TaskFile, ext: bool) -> Option<(u64, u64)> {
        let (lba, count) = if ext {
            (tf.lba48(), tf.count48() as u64)
        } else {
            (self.address28(tf)?, tf.count28() as u64)
        };
        (lba.checked_add(count)? <= self.sectors).then_some((lba, count))
    }

    /// Runs ATA command `cmd` with the registers in `tf`.
    pub fn execute(&mut self, cmd: u8, tf: &mut TaskFile) -> Outcome {
        use Outcome::*;
        let multiple_block = self.multiple as usize * SECTOR;
        match cmd {
            // READ SECTORS (with/without retries), READ SECTORS EXT.
            0x20 | 0x21 | 0x24 => match self.range(tf, cmd == 0x24) {
                Some((lba, n)) => PioIn {
                    src: Source::sectors(lba, n, SECTOR),
                    block: SECTOR,
                },
                None => Error(ABRT),
            },
            // READ MULTIPLE, READ MULTIPLE EXT.
            0xc4 | 0x29 => match self.range(tf, cmd == 0x29) {
                Some((lba, n)) if self.multiple != 0 => PioIn {
                    src: Source::sectors(lba, n, SECTOR),
                    block: multiple_block,
                },
                _ => Error(ABRT),
            },
            // WRITE SECTORS (with/without retries), WRITE SECTORS EXT.
            0x30 | 0x31 | 0x34 => match self.range(tf, cmd == 0x34) {
                Some((lba, n)) => PioOut {
                    sink: Sink::new(lba, n),
                    block: SECTOR,
                },
                None => Error(ABRT),
            },
            // WRITE MULTIPLE, WRITE MULTIPLE EXT.
            0xc5 | 0x39 => match self.range(tf, cmd == 0x39) {
                Some((lba, n)) if self.multiple != 0 => PioOut {
                    sink: Sink::new(lba, n),
                    block: multiple_block,
                },
                _ => Error(ABRT),
            },
            // READ DMA (with/without retries), READ DMA EXT.
            0xc8 | 0xc9 | 0x25 => match self.range(tf, cmd == 0x25) {
                Some((lba, n)) => DmaIn(Source::sectors(lba, n, SECTOR)),
                None => Error(ABRT),
            },
            // WRITE DMA (with/without retries), WRITE DMA EXT.
            0xca | 0xcb | 0x35 => match self.range(tf, cmd == 0x35) {
                Some((lba, n)) => DmaOut(Sink::new(lba, n)),
                None => Error(ABRT),
            },
            // READ VERIFY SECTORS (with/without retries), EXT: the sectors
            // must be readable; nothing is transferred.
            0x40..=0x42 => match self.range(tf, cmd == 0x42) {
                Some((lba, n)) => {
                    let mut src = Source::sectors(lba, n, SECTOR);
                    while src.remaining() > 0 {
                        if src.take(64 * SECTOR, self.backend.as_mut()).is_err() {
                            return Error(0x40 | ABRT); // UNC
                        }
                    }
                    Complete
                }
                None => Error(ABRT),
            },
            0xc6 => {
                // SET MULTIPLE MODE: a power of two up to the maximum, or
                // 0 to disable.
                let n = tf.count;
                if n == 0 || (n.is_power_of_two() && n <= MAX_MULTIPLE) {
                    self.multiple = n;
                    Complete
                } else {
                    Error(ABRT)
                }
            }
            0x91 => {
                // INITIALIZE DEVICE PARAMETERS.
                if tf.count == 0 {
                    return Error(ABRT);
                }
                self.heads = (tf.device & 0x0f) + 1;
                self.sectors_per_track = tf.count;
                Complete
            }
            0xe7 | 0xea => match self.backend.flush() {
                Ok(()) => Complete,
                Err(e) => {
                    log::warn!("ide: flush failed: {e}");
                    Error(ABRT)
                }
            },
            0xef => match tf.feature {
                0x03 if valid_transfer_mode(tf.count) => {
                    self.transfer_mode = tf.count;
                    Complete
                }
                0x02 => {
                    self.write_cache = true;
                    Complete
                }
                0x82 => {
                    self.write_cache = false;
                    Complete
                }
                // Read look-ahead on/off, reverting to defaults on/off.
                0xaa | 0x55 | 0x66 | 0xcc => Complete,
                _ => Error(ABRT),
            },
            // RECALIBRATE (ATA-3 and earlier; old BIOSes issue it).
            0x10..=0x1f => Complete,
            // Power management: STANDBY/IDLE (IMMEDIATE), SLEEP, old and
            // new opcodes. Without spindle, they only complete.
            0xe0..=0xe3 | 0xe6 | 0x94..=0x97 | 0x99 => Complete,
            // CHECK POWER MODE: active or idle.
            0xe5 | 0x98 => {
                tf.count = 0xff;
                Complete
            }
            0xec => PioIn {
                src: Source::bytes(self.identify()),
                block: SECTOR,
            },
            _ => Error(ABRT),
        }
    }
}

//! The PIIX's bus-master IDE function (PIIX3/4 datasheet, "Bus Master IDE
//! registers"; SFF-8038i): per channel a command register (start, read or
//! write), a status register (active, error, interrupt, drive DMA
//! capable) and the address of a table of physical region descriptors
//! (PRDs: a 32-bit address, a byte count with 0 meaning 64 KiB, and an
//! end-of-table bit).
//!
//! Transfers run when the machine calls [`run_dma`] with guest memory,
//! after the CPU's slice in which the guest set the start bit. Every PRD
//! address and count comes from the guest: the copy goes through
//! `GuestMemory`, which drops what falls outside RAM.

use super::channel::{Channel, Transfer};
use crate::mem::GuestMemory;

const CMD_START: u8 = 0x01;
const STATUS_ACTIVE: u8 = 0x01;
const STATUS_ERROR: u8 = 0x02;
const STATUS_INTERRUPT: u8 = 0x04;
const STATUS_CAPABLE: u8 = 0x60;
/// A PRD table lies within one 64 KiB region: 8192 entries at most.
const MAX_PRDS: u32 = 8192;
const PRD_EOT: u16 = 0x8000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusMaster {
    pub command: u8,
    pub status: u8,
    pub prd_table: u32,
}

impl BusMaster {
    pub fn reset(&mut self) {
        let capable = self.status & STATUS_CAPABLE;
        *self = BusMaster::default();
        self.status = capable;
    }

    pub fn set_drive_capable(&mut self, position: usize) {
        self.status |= 0x20 << (position & 1);
    }

    pub fn note_interrupt(&mut self) {
        self.status |= STATUS_INTERRUPT;
    }

    pub fn read(&self, offset: u16) -> u8 {
        match offset {
            0 => self.command & 0x09,
            2 => self.status,
            4..=7 => (self.prd_table >> (8 * (offset - 4))) as u8,
            _ => 0,
        }
    }

    pub fn write(&mut self, offset: u16, value: u8) {
        match offset {
            0 => {
                let starting = value & CMD_START != 0 && self.command & CMD_START == 0;
                if starting {
                    self.status |= STATUS_ACTIVE;
                } else if value & CMD_START == 0 {
                    // Stopping aborts whatever is left of the transfer.
                    self.status &= !STATUS_ACTIVE;
                }
                self.command = value & 0x09;
            }
            2 => {
                self.status = (self.status & !(value & (STATUS_ERROR | STATUS_INTERRUPT)))
                    & !STATUS_CAPABLE
                    | value & STATUS_CAPABLE;
            }
            4..=7 => {
                let shift = 8 * (offset - 4) as u32;
                let v = (self.prd_table & !(0xff << shift)) | (value as u32) << shift;
                self.prd_table = v & !3;
            }
            _ => {}
        }
    }

    fn running(&self) -> bool {
        self.command & CMD_START != 0 && self.status & STATUS_ACTIVE != 0
    }
}

/// Whether the channel has a DMA command and a started bus master.
pub fn dma_ready(ch: &Channel) -> bool {
    ch.bm.running()
        && matches!(
            ch.transfer,
            Transfer::DmaIn { .. } | Transfer::DmaOut { .. }
        )
}

/// Moves a pending DMA transfer's data between the drive and guest memory
/// through the PRD table, then ends the command.
pub fn run_dma(ch: &mut Channel, mem: &mut GuestMemory) {
    if !dma_ready(ch) {
        return;
    }
    let mut transfer = std::mem::replace(&mut ch.transfer, Transfer::Idle);
    let remaining = |t: &Transfer| match t {
        Transfer::DmaIn { src, .. } => src.remaining(),
        Transfer::DmaOut { sink } => sink.remaining(),
        _ => 0,
    };
    let mut prd = ch.bm.prd_table;
    let bytes = remaining(&transfer);
    let mut table_left = false;
    let mut io_failed = false;
    for _ in 0..MAX_PRDS {
        if remaining(&transfer) == 0 {
            // The table had room for more: PIIX leaves Active set.
            table_left = true;
            break;
        }
        let addr = mem.read(prd as u64, 4) as u32 & !1;
        let count = match mem.read(prd as u64 + 4, 2) as u32 {
            0 => 0x1_0000,
            n => n & !1,
        };
        let flags = mem.read(prd as u64 + 6, 2) as u16;
        prd = prd.wrapping_add(8);
        let n = (count as u64).min(remaining(&transfer)) as usize;
        let Some(backend) = ch.owner_backend() else {
            break;
        };
        let ok = match &mut transfer {
            Transfer::DmaIn { src, .. } => match src.take(n, backend) {
                Ok(data) => {
                    mem.write_bytes(addr as u64, &data);
                    true
                }
                Err(_) => false,
            },
            Transfer::DmaOut { sink } => {
                let mut buf = vec![0u8; n];
                mem.read_bytes(addr as u64, &mut buf);
                sink.put(&buf, backend).is_ok()
            }
            _ => false,
        };
        if !ok {
            io_failed = true;
            break;
        }
        if n < count as usize && remaining(&transfer) == 0 {
            table_left = true;
            break;
        }
        if flags & PRD_EOT != 0 {
            break;
        }
    }
    let done = remaining(&transfer) == 0;
    log::debug!(
        "ide: DMA {} of {bytes} bytes through {} PRDs",
        bytes - remaining(&transfer),
        prd.wrapping_sub(ch.bm.prd_table) / 8
    );
    if !table_left {
        ch.bm.status &= !STATUS_ACTIVE;
    }
    if io_failed {
        log::warn!("ide: DMA transfer failed on the image");
        ch.media_error();
    } else if done {
        ch.complete();
    } else {
        // The table ended before the data: the command cannot finish.
        ch.bm.status |= STATUS_ERROR;
        ch.fail(super::taskfile::ABRT);
    }
    let _ = transfer;
}

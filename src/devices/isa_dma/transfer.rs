//! A device's view of its DMA channel while the controller serves it: the
//! device hands bytes to memory or takes them from memory, and learns when
//! terminal count ends the transfer.
//!
//! The channel's mode decides what really happens on the bus, as with the
//! real chip: a write transfer (device to memory) stores the device's
//! bytes; a read transfer fetches memory for the device; verify and the
//! illegal type 11 step address and count without touching memory. When
//! the device moves data the other way than the mode says, neither side
//! drives the bus the way it expects: memory is left alone and the device
//! sees a floating bus (0xFF).

use super::dma8237::{Dma8237, MODE_READ, MODE_TYPE, MODE_WRITE};
use crate::mem::GuestMemory;

/// The bytes a device sees when nothing drives the data bus.
const FLOATING: u8 = 0xff;

pub struct DmaTransfer<'a> {
    chip: &'a mut Dma8237,
    channel: usize,
    page: u8,
    /// A 16-bit channel (5-7): addresses and counts are in words.
    wide: bool,
    mem: &'a mut GuestMemory,
    terminal_count: bool,
}

impl<'a> DmaTransfer<'a> {
    pub(super) fn new(
        chip: &'a mut Dma8237,
        channel: usize,
        page: u8,
        wide: bool,
        mem: &'a mut GuestMemory,
    ) -> Self {
        DmaTransfer {
            chip,
            channel,
            page,
            wide,
            mem,
            terminal_count: false,
        }
    }

    /// Whether terminal count has ended the transfer (the TC pulse the
    /// device sees). Further calls move nothing.
    pub fn terminal_count(&self) -> bool {
        self.terminal_count
    }

    fn mode_type(&self) -> u8 {
        self.chip.channels[self.channel].mode & MODE_TYPE
    }

    /// The physical address of the channel's current transfer: the page
    /// register supplies A16-A23 (A17-A23 for 16-bit channels), so the
    /// address wraps within its 64 KiB (128 KiB) page as the chip's does.
    fn address(&self) -> u64 {
        let current = self.chip.channels[self.channel].address as u64;
        if self.wide {
            ((self.page & 0xfe) as u64) << 16 | current << 1
        } else {
            (self.page as u64) << 16 | current
        }
    }

    fn unit(&self) -> usize {
        if self.wide {
            2
        } else {
            1
        }
    }

    /// Moves one unit (byte or word) of `bytes` through the bus with `f`
    /// at the current address, then steps the channel.
    fn each_unit(&mut self, len: usize, mut f: impl FnMut(&mut GuestMemory, u64, usize)) -> usize {
        let unit = self.unit();
        let mut done = 0;
        while !self.terminal_count && done + unit <= len {
            let addr = self.address();
            f(self.mem, addr, done);
            done += unit;
            self.terminal_count = self.chip.step(self.channel);
        }
        done
    }

    /// Device to memory: stores `data` (as far as terminal count allows)
    /// and returns how many bytes the channel took.
    pub fn write_to_memory(&mut self, data: &[u8]) -> usize {
        let store = self.mode_type() == MODE_WRITE;
        let unit = self.unit();
        self.each_unit(data.len(), |mem, addr, at| {
            if store {
                for (i, b) in data[at..at + unit].iter().enumerate() {
                    mem.write_u8(addr + i as u64, *b);
                }
            }
        })
    }

    /// Memory to device: fills `buf` (as far as terminal count allows)
    /// and returns how many bytes the channel delivered.
    pub fn read_from_memory(&mut self, buf: &mut [u8]) -> usize {
        let fetch = self.mode_type() == MODE_READ;
        let unit = self.unit();
        let len = buf.len();
        let mut tmp = [FLOATING; 2];
        let mut out = Vec::with_capacity(len);
        let done = self.each_unit(len, |mem, addr, _| {
            for (i, b) in tmp.iter_mut().enumerate().take(unit) {
                *b = if fetch {
                    mem.read_u8(addr + i as u64)
                } else {
                    FLOATING
                };
            }
            out.extend_from_slice(&tmp[..unit]);
        });
        buf[..done].copy_from_slice(&out);
        done
    }
}

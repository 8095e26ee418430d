//! The PC's ISA DMA: two 8237A controllers and the page registers, as the
//! PIIX3 integrates them (PIIX3 datasheet, "DMA Controller").
//!
//! - Controller 1 (ports 0x00-0x0F) serves the 8-bit channels 0-3;
//!   controller 2 (0xC0-0xDF, registers at even ports, A0 ignored) the
//!   16-bit channels 5-7, and its channel 4 is the cascade input that
//!   controller 1 requests the bus through: with channel 4 masked or
//!   controller 2 disabled, channels 0-3 are not served.
//! - Page registers 0x80-0x8F: A16-A23 of each channel (0x87, 0x83,
//!   0x81, 0x82 for channels 0-3; 0x8B, 0x89, 0x8A for 5-7); the rest are
//!   plain read/write bytes. Port 0x80 among them is the POST-code and
//!   I/O-delay port: it keeps what was written, as on the PIIX.
//!
//! Devices assert their channel's DREQ through a [`DmaRequest`] handle.
//! The machine's run loop, which holds guest memory, then calls
//! [`IsaDma::transfer`] for channels [`IsaDma::ready`] to serve, and the
//! device moves its data through the returned [`DmaTransfer`]. Single,
//! demand and block modes differ only in bus timing, which no guest
//! instruction can observe here, except that a software request (the
//! request register) runs a block-mode channel to terminal count with no
//! device behind it.

pub mod dma8237;
pub mod transfer;

use super::bus::{split_read, split_write, OverlapError, PortBus, PortDevice};
use crate::mem::GuestMemory;
use dma8237::{Dma8237, MODE_BLOCK, MODE_SELECT};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
pub use transfer::DmaTransfer;

/// The page register of each channel, as an offset from 0x80.
const PAGE_OF_CHANNEL: [usize; 8] = [7, 3, 1, 2, 0xf, 0xb, 9, 0xa];

/// The DREQ lines of channels 0-7 (bit n = channel n), driven by devices.
#[derive(Default)]
pub struct DmaRequestLines(AtomicU8);

/// One device's DREQ output.
#[derive(Clone)]
pub struct DmaRequest {
    lines: Arc<DmaRequestLines>,
    bit: u8,
}

impl DmaRequest {
    pub fn set_level(&self, high: bool) {
        if high {
            self.lines.0.fetch_or(self.bit, Ordering::AcqRel);
        } else {
            self.lines.0.fetch_and(!self.bit, Ordering::AcqRel);
        }
    }
}

pub struct IsaDma {
    /// Controller 1 (channels 0-3) and controller 2 (4-7).
    pub chips: [Dma8237; 2],
    pages: [u8; 16],
    dreq: Arc<DmaRequestLines>,
}

pub type SharedIsaDma = Arc<Mutex<IsaDma>>;

impl Default for IsaDma {
    fn default() -> Self {
        Self::new()
    }
}

impl IsaDma {
    pub fn new() -> Self {
        IsaDma {
            chips: [Dma8237::default(), Dma8237::default()],
            pages: [0; 16],
            dreq: Arc::default(),
        }
    }

    /// The DREQ input of `channel` (0-7) for a device to drive.
    pub fn request_line(&self, channel: usize) -> DmaRequest {
        DmaRequest {
            lines: self.dreq.clone(),
            bit: 1 << (channel & 7),
        }
    }

    /// A board reset: both controllers master-cleared.
    pub fn reset(&mut self) {
        for chip in &mut self.chips {
            chip.master_clear();
        }
    }

    /// What a BIOS does at POST (for direct kernel boot): channel 4 in
    /// cascade mode and unmasked, so channels 0-3 reach the bus.
    pub fn firmware_setup(&mut self) {
        self.chips[1].write(11, 0xc0);
        self.chips[1].write(10, 0x00);
    }

    fn dreq(&self) -> u8 {
        self.dreq.0.load(Ordering::Acquire)
    }

    /// Whether controller 1 can get the bus through channel 4.
    fn cascade_open(&self) -> bool {
        self.chips[1].enabled() && self.chips[1].mask & 1 == 0
    }

    /// Whether `channel` (0-7, not 4) has a device request the controller
    /// would serve now.
    pub fn ready(&self, channel: usize) -> bool {
        let (chip, n) = (channel >> 2 & 1, channel & 3);
        let c = &self.chips[chip];
        self.dreq() & 1 << (channel & 7) != 0
            && channel & 7 != 4
            && c.enabled()
            && c.mask & 1 << n == 0
            && c.channels[n].mode & MODE_SELECT != dma8237::MODE_CASCADE
            && (chip == 1 || self.cascade_open())
    }

    /// The bus cycles of `channel` (0-7) for its device to fill.
    pub fn transfer<'a>(&'a mut self, channel: usize, mem: &'a mut GuestMemory) -> DmaTransfer<'a> {
        let channel = channel & 7;
        let page = self.pages[PAGE_OF_CHANNEL[channel]];
        let wide = channel >= 4;
        DmaTransfer::new(&mut self.chips[channel >> 2], channel & 3, page, wide, mem)
    }

    /// Runs the software requests (request register) of block-mode
    /// channels to terminal count. No device answers the DMA
    /// acknowledge, so a write transfer stores the floating bus.
    pub fn service_software_requests(&mut self, mem: &mut GuestMemory) {
        for channel in (0..8).filter(|&c| c != 4) {
            let (chip, n) = (channel >> 2, channel & 3);
            let c = &self.chips[chip];
            let block = c.channels[n].mode & MODE_SELECT == MODE_BLOCK;
            let bus = c.enabled() && (chip == 1 || self.cascade_open());
            if c.request & 1 << n == 0 || !block || !bus {
                continue;
            }
            let mut t = self.transfer(channel, mem);
            let floating = [0xffu8; 2];
            while !t.terminal_count() {
                t.write_to_memory(&floating[..if channel >= 4 { 2 } else { 1 }]);
            }
        }
    }

    fn page_read(&self, offset: u16) -> u8 {
        self.pages[offset as usize & 15]
    }

    fn page_write(&mut self, offset: u16, value: u8) {
        if offset == 0 {
            log::trace!("POST code {value:#04x}");
        }
        self.pages[offset as usize & 15] = value;
    }
}

/// Which of the three port windows a registration serves.
#[derive(Clone, Copy)]
enum Window {
    Controller1,
    Pages,
    Controller2,
}

struct IsaDmaPorts {
    dma: SharedIsaDma,
    window: Window,
}

impl PortDevice for IsaDmaPorts {
    fn read(&mut self, offset: u16, size: u8) -> u32 {
        let mut dma = self.dma.lock().unwrap_or_else(|e| e.into_inner());
        let dreq = dma.dreq();
        let window = self.window;
        split_read(offset, size, |o| match window {
            Window::Controller1 if o < 16 => dma.chips[0].read(o as u8, dreq & 0x0f),
            Window::Controller2 if o < 32 => dma.chips[1].read((o >> 1) as u8, dreq >> 4),
            Window::Pages if o < 16 => dma.page_read(o),
            _ => 0xff,
        })
    }

    fn write(&mut self, offset: u16, size: u8, value: u32) {
        let mut dma = self.dma.lock().unwrap_or_else(|e| e.into_inner());
        let window = self.window;
        split_write(offset, size, value, |o, v| match window {
            Window::Controller1 if o < 16 => dma.chips[0].write(o as u8, v),
            Window::Controller2 if o < 32 => dma.chips[1].write((o >> 1) as u8, v),
            Window::Pages if o < 16 => dma.page_write(o, v),
            _ => {}
        })
    }
}

/// Claims 0x00-0x0F, 0x80-0x8F and 0xC0-0xDF.
pub fn register_isa_dma(io: &mut PortBus) -> Result<SharedIsaDma, OverlapError> {
    let dma = Arc::new(Mutex::new(IsaDma::new()));
    for (base, len, window) in [
        (0x00, 16, Window::Controller1),
        (0x80, 16, Window::Pages),
        (0xc0, 32, Window::Controller2),
    ] {
        let ports = IsaDmaPorts {
            dma: dma.clone(),
            window,
        };
        io.register(base, len, Box::new(ports))?;
    }
    Ok(dma)
}

#[cfg(test)]
mod tests;

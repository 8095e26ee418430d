//! The PIIX3 IDE controller (PCI 00:01.1, 8086:7010, class 0x010180) with
//! ATA disks and ATAPI CD-ROMs.
//!
//! The function runs in compatibility mode, as the PIIX3 always does:
//! the primary channel at 0x1F0-0x1F7 and 0x3F6 on IRQ14, the secondary at
//! 0x170-0x177 and 0x376 on IRQ15. Those ports decode only while the PCI
//! command register's I/O enable and the channel's IDETIM "IDE decode
//! enable" bit (bit 15 of config 0x40 / 0x42) are set, as firmware leaves
//! them; otherwise they float. BAR4 (BMIBA, config 0x20) places the 16
//! bus-master ports: 0-7 primary, 8-15 secondary.
//!
//! Files: [`taskfile`] registers, [`channel`] the protocols, [`ata`] and
//! [`atapi`] the devices ([`media`] a CD-ROM's tray and disc), [`busmaster`] DMA, [`transfer`] data streams,
//! [`backend`] the images, [`overlay`] throwaway writes.

pub mod ata;
pub mod atapi;
pub mod backend;
pub mod busmaster;
pub mod channel;
pub mod identify;
pub mod media;
pub mod overlay;
pub mod taskfile;
pub mod transfer;

use super::bus::{split_read, split_write, OverlapError, PortBus, PortDevice};
use super::irq::IrqLine;
use super::pci::{PciBarKind, PciConfig, PciFunction};
use crate::mem::GuestMemory;
use channel::{Channel, Media};
use std::sync::{Arc, Mutex};

pub use backend::{BlockBackend, FileBackend, MemBackend};
pub use overlay::OverlayBackend;

/// Command block and control port of each channel in compatibility mode.
pub const COMMAND_PORTS: [u16; 2] = [0x1f0, 0x170];
pub const CONTROL_PORTS: [u16; 2] = [0x3f6, 0x376];
pub const IRQS: [u32; 2] = [14, 15];

const IDETIM: [usize; 2] = [0x40, 0x42];
const IDE_DECODE_ENABLE: u16 = 0x8000;
const BMIBA_BAR: usize = 4;

pub struct PiixIde {
    config: PciConfig,
    channels: [Channel; 2],
}

pub type SharedPiixIde = Arc<Mutex<PiixIde>>;

impl PiixIde {
    pub fn new(irq14: IrqLine, irq15: IrqLine) -> Self {
        let mut config = PciConfig::new(0x8086, 0x7010, 0x01_01_80, 0x00, 0x00);
        // Status: medium DEVSEL timing, fast back-to-back capable.
        config.define(0x06, 0x80, 0x00);
        config.define(0x07, 0x02, 0x00);
        config.set_bar(BMIBA_BAR, 16, PciBarKind::Io);
        // IDETIM (0x40-0x43), SIDETIM (0x44): timings, stored; decode
        // enable read by the port decoders.
        for offset in 0x40..=0x44 {
            config.define(offset, 0x00, 0xff);
        }
        PiixIde {
            config,
            channels: [Channel::new(irq14), Channel::new(irq15)],
        }
    }

    /// Puts `media` on `channel` (0 primary, 1 secondary) at `position`
    /// (0 master, 1 slave).
    pub fn attach(&mut self, channel: usize, position: usize, media: Media) {
        self.channels[channel & 1].attach(position, media);
    }

    /// The device at `channel` and `position`, if there is one (the
    /// monitor's eject and change reach a CD-ROM's tray through it).
    pub fn media_mut(&mut self, channel: usize, position: usize) -> Option<&mut Media> {
        self.channels[channel & 1].drives[position & 1]
            .as_mut()
            .map(|d| &mut d.media)
    }

    /// After the user took the disc out of the drive at `channel` and
    /// `position`: a data transfer from it still in progress ends with a
    /// read error rather than going on with another disc's sectors.
    pub fn medium_changed(&mut self, channel: usize, position: usize) {
        let c = &mut self.channels[channel & 1];
        let data_phase = matches!(
            c.transfer,
            channel::Transfer::PioIn { .. } | channel::Transfer::DmaIn { .. }
        );
        if c.owner == position & 1 && data_phase {
            c.media_error();
        }
    }

    /// What firmware does before an OS starts (for direct kernel boot):
    /// I/O decoding and bus mastering on, both channels enabled.
    pub fn firmware_setup(&mut self) {
        self.config.write(0x04, 0x0005, 0xffff);
        self.config.write(0x40, 0x8000_8000, 0xffff_ffff);
    }

    fn decodes(&self, channel: usize) -> bool {
        self.config.command() & 1 != 0 && self.config.word(IDETIM[channel]) & IDE_DECODE_ENABLE != 0
    }

    /// Runs the DMA transfers whose bus master the guest started.
    pub fn service_dma(&mut self, mem: &mut GuestMemory) {
        for ch in &mut self.channels {
            busmaster::run_dma(ch, mem);
        }
    }

    /// Whether a started DMA transfer waits for [`Self::service_dma`].
    pub fn dma_pending(&self) -> bool {
        self.channels.iter().any(busmaster::dma_ready)
    }

    fn command_read(&mut self, ch: usize, offset: u16, size: u8) -> u32 {
        let float = u32::MAX >> (32 - 8 * size.clamp(1, 4) as u32);
        if !self.decodes(ch) {
            return float;
        }
        let c = &mut self.channels[ch];
        if offset == 0 {
            return c.read_data(size);
        }
        split_read(offset, size, |o| match o {
            1..=7 => c.read_register(o),
            _ => 0xff,
        })
    }

    fn command_write(&mut self, ch: usize, offset: u16, size: u8, value: u32) {
        if !self.decodes(ch) {
            return;
        }
        let c = &mut self.channels[ch];
        if offset == 0 {
            return c.write_data(size, value);
        }
        split_write(offset, size, value, |o, v| {
            if (1..=7).contains(&o) {
                c.write_register(o, v);
            }
        });
    }

    fn control_read(&mut self, ch: usize, offset: u16, size: u8) -> u32 {
        let decodes = self.decodes(ch);
        let c = &self.channels[ch];
        split_read(offset, size, |o| match o {
            0 if decodes => c.alternate_status(),
            _ => 0xff,
        })
    }

    fn control_write(&mut self, ch: usize, offset: u16, size: u8, value: u32) {
        if !self.decodes(ch) {
            return;
        }
        let c = &mut self.channels[ch];
        split_write(offset, size, value, |o, v| {
            if o == 0 {
                c.write_control(v);
            }
        });
    }
}

impl PciFunction for PiixIde {
    fn config_read(&mut self, reg: u8) -> u32 {
        self.config.read(reg)
    }
    fn config_write(&mut self, reg: u8, value: u32, mask: u32) {
        log::trace!("ide config {reg:#x} <- {value:#x} mask {mask:#x}");
        self.config.write(reg, value, mask)
    }
    fn io_decode(&self, port: u16) -> Option<(usize, u16)> {
        self.config.decode_io_bars(port)
    }
    fn io_read(&mut self, _region: usize, offset: u16, size: u8) -> u32 {
        let chs = &self.channels;
        let v = split_read(offset, size, |o| match o {
            0..=15 => chs[(o >> 3) as usize].bm.read(o & 7),
            _ => 0xff,
        });
        log::trace!("ide bm+{offset} read {v:#x}");
        v
    }
    fn io_write(&mut self, _region: usize, offset: u16, size: u8, value: u32) {
        log::trace!("ide bm+{offset} write {value:#x}");
        let chs = &mut self.channels;
        split_write(offset, size, value, |o, v| {
            if o < 16 {
                chs[(o >> 3) as usize].bm.write(o & 7, v);
            }
        });
    }
    fn reset(&mut self) {
        self.config.reset();
        for c in &mut self.channels {
            c.reset();
        }
    }
}

/// One of the legacy port windows of a channel.
struct IdePorts {
    ide: SharedPiixIde,
    channel: usize,
    control: bool,
}

impl PortDevice for IdePorts {
    fn read(&mut self, offset: u16, size: u8) -> u32 {
        let mut ide = self.ide.lock().unwrap_or_else(|e| e.into_inner());
        let value = if self.control {
            ide.control_read(self.channel, offset, size)
        } else {
            ide.command_read(self.channel, offset, size)
        };
        log::trace!(
            "ide{} {}+{offset} read {value:#x}",
            self.channel,
            if self.control { "ctl" } else { "cmd" }
        );
        value
    }

    fn write(&mut self, offset: u16, size: u8, value: u32) {
        log::trace!(
            "ide{} {}+{offset} write {value:#x}",
            self.channel,
            if self.control { "ctl" } else { "cmd" }
        );
        let mut ide = self.ide.lock().unwrap_or_else(|e| e.into_inner());
        if self.control {
            ide.control_write(self.channel, offset, size, value)
        } else {
            ide.command_write(self.channel, offset, size, value)
        }
    }
}

/// Claims both channels' compatibility-mode ports.
pub fn register_ide(io: &mut PortBus, ide: &SharedPiixIde) -> Result<(), OverlapError> {
    for ch in 0..2 {
        let ports = |control| {
            Box::new(IdePorts {
                ide: ide.clone(),
                channel: ch,
                control,
            })
        };
        io.register(COMMAND_PORTS[ch], 8, ports(false))?;
        io.register(CONTROL_PORTS[ch], 1, ports(true))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;

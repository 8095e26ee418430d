//! The Intel 82077AA floppy disk controller in PC-AT mode, at 0x3F0-0x3F5
//! and 0x3F7 (0x3F6 belongs to the IDE controller), on IRQ6 and ISA DMA
//! channel 2, with two drives.
//!
//! Registers: SRA/SRB (0x3F0/1, PS/2-style status), DOR (0x3F2: drive
//! select, reset, DMA/IRQ gate, motors), TDR (0x3F3), MSR/DSR (0x3F4),
//! the FIFO (0x3F5), DIR/CCR (0x3F7: disk change / data rate).
//! Commands go through the FIFO in three phases: command bytes, execution
//! (data by DMA, or through the FIFO in non-DMA mode), result bytes. See
//! [`commands`] for the command set and [`data`] for the transfers.
//!
//! Simplifications: seeks and transfers complete at once (a guest sees
//! them finish before it next looks); the motor bits are stored but a
//! drive reads with its motor off; a raw image cannot hold deleted-data
//! marks, so READ/WRITE DELETED DATA, READ TRACK, VERIFY and the SCAN
//! commands are invalid here, as on a controller without them.
//!
//! At power-on the board leaves the controller out of reset with the DMA
//! gate open (DOR 0x0C), as QEMU does and as SeaBIOS built for it expects.

pub mod commands;
pub mod data;
pub mod drive;
pub mod geometry;
pub mod status;

use super::bus::{split_read, split_write, OverlapError, PortBus, PortDevice};
use super::irq::IrqLine;
use super::isa_dma::{DmaRequest, DmaTransfer};
use data::DataCommand;
use drive::{Diskette, FloppyDrive};
use geometry::DataRate;
use status::*;
use std::sync::{Arc, Mutex};

pub const FDC_BASE: u16 = 0x3f0;
pub const FDC_IRQ: u32 = 6;
pub const FDC_DMA_CHANNEL: usize = 2;
/// Drives attached (A: and B:); selects 2 and 3 reach no drive.
pub const DRIVES: usize = 2;

/// Where the controller is in a command.
enum Phase {
    /// Taking command bytes (none yet when the buffer is empty).
    Command,
    /// Moving a data command's bytes.
    Execution(DataCommand),
    /// Handing out result bytes.
    Result,
}

pub struct Fdc82077 {
    irq: IrqLine,
    dreq: DmaRequest,
    pub drives: [FloppyDrive; DRIVES],
    dor: u8,
    tdr: u8,
    /// DSR bits 2-6 (precompensation, power down), stored.
    dsr: u8,
    rate: DataRate,
    phase: Phase,
    command: Vec<u8>,
    result: Vec<u8>,
    result_pos: usize,
    /// The controller's present cylinder number of each drive select.
    pcn: [u8; 4],
    /// SPECIFY's two bytes (SRT/HUT, HLT/ND).
    specify: [u8; 2],
    /// CONFIGURE's EIS/EFIFO/POLL/FIFOTHR byte and PRETRK.
    config: u8,
    pretrk: u8,
    lock: bool,
    /// PERPENDICULAR MODE: drive bits D3-D0 << 2 | GAP << 1 | WGATE.
    perpendicular: u8,
    /// SC of the last FORMAT or EOT of the last READ/WRITE (DUMPREG).
    last_sc_eot: u8,
    /// The ST0 each drive select reports to SENSE INTERRUPT STATUS.
    pending_st0: [Option<u8>; 4],
    /// INT: an event not yet acknowledged (SENSE INTERRUPT, reading the
    /// result, or a data byte in non-DMA mode).
    int: bool,
}

pub type SharedFdc = Arc<Mutex<Fdc82077>>;

impl Fdc82077 {
    pub fn new(irq: IrqLine, dreq: DmaRequest) -> Self {
        let mut fdc = Fdc82077 {
            irq,
            dreq,
            drives: Default::default(),
            dor: DOR_NOT_RESET | DOR_DMA_GATE,
            tdr: 0,
            dsr: 0,
            rate: DataRate::K250,
            phase: Phase::Command,
            command: Vec::with_capacity(9),
            result: Vec::with_capacity(10),
            result_pos: 0,
            pcn: [0; 4],
            specify: [0; 2],
            config: CONFIG_DEFAULT,
            pretrk: 0,
            lock: false,
            perpendicular: 0,
            last_sc_eot: 0,
            pending_st0: [None; 4],
            int: false,
        };
        fdc.update_lines();
        fdc
    }

    /// Puts a diskette in drive `n` (0 = A:, 1 = B:).
    pub fn insert(&mut self, n: usize, media: Diskette) {
        self.drives[n % DRIVES].insert(media);
    }

    /// A board reset: the power-on state, diskettes kept.
    pub fn hardware_reset(&mut self) {
        self.software_reset();
        self.dor = DOR_NOT_RESET | DOR_DMA_GATE;
        self.tdr = 0;
        self.dsr = 0;
        self.rate = DataRate::K250;
        self.specify = [0; 2];
        self.config = CONFIG_DEFAULT;
        self.pretrk = 0;
        self.lock = false;
        self.perpendicular = 0;
        self.pending_st0 = [None; 4];
        self.int = false;
        self.update_lines();
    }

    /// The reset DOR bit 2 or DSR bit 7 performs: the command in progress
    /// is dropped; CONFIGURE's FIFO settings survive only under LOCK;
    /// PERPENDICULAR's GAP and WGATE are cleared.
    fn software_reset(&mut self) {
        self.phase = Phase::Command;
        self.command.clear();
        self.result.clear();
        self.result_pos = 0;
        self.pending_st0 = [None; 4];
        self.int = false;
        let keep = if self.lock {
            self.config & 0x2f
        } else {
            CONFIG_DEFAULT
        };
        self.config = keep;
        if !self.lock {
            self.pretrk = 0;
        }
        self.perpendicular &= !3;
        self.update_lines();
    }

    /// Leaving reset: with drive polling on, each drive select reports a
    /// ready-line change, one SENSE INTERRUPT STATUS each.
    fn end_reset(&mut self) {
        if self.config & CONFIG_POLL == 0 {
            for (d, st0) in self.pending_st0.iter_mut().enumerate() {
                *st0 = Some(ST0_POLLING | d as u8);
            }
            self.int = true;
        }
        self.update_lines();
    }

    fn in_reset(&self) -> bool {
        self.dor & DOR_NOT_RESET == 0
    }

    pub fn non_dma(&self) -> bool {
        self.specify[1] & 1 != 0
    }

    /// Drives INT (IRQ6) and DRQ (DMA channel 2) through the DOR gate.
    fn update_lines(&mut self) {
        let gate = self.dor & DOR_DMA_GATE != 0 && !self.in_reset();
        let pio_byte = matches!(self.phase, Phase::Execution(_)) && self.non_dma();
        self.irq.set_level(gate && (self.int || pio_byte));
        let dma = matches!(self.phase, Phase::Execution(_)) && !self.non_dma();
        self.dreq.set_level(gate && dma);
    }

    fn main_status(&self) -> u8 {
        if self.in_reset() {
            return 0;
        }
        let busy = self
            .pending_st0
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some_and(|s| s & ST0_SEEK_END != 0))
            .fold(0, |m, (d, _)| m | 1 << d);
        busy | match &self.phase {
            Phase::Command if self.command.is_empty() => MSR_RQM,
            Phase::Command => MSR_RQM | MSR_CMD_BUSY,
            Phase::Execution(cmd) if self.non_dma() => {
                let dio = if cmd.to_host() { MSR_DIO } else { 0 };
                MSR_RQM | MSR_NON_DMA | MSR_CMD_BUSY | dio
            }
            Phase::Execution(_) => MSR_CMD_BUSY,
            Phase::Result => MSR_RQM | MSR_DIO | MSR_CMD_BUSY,
        }
    }

    fn selected_drive(&self) -> Option<&FloppyDrive> {
        self.drives.get((self.dor & DOR_SELECT) as usize)
    }

    fn status_a(&self) -> u8 {
        // PS/2 status A: INT pending, then the active-low nDRV2 (second
        // drive installed), nTRK0, nINDEX and nWP; head and direction 0.
        let int = if self.int { 0x80 } else { 0 };
        let no_drive2 = if self.drives[1].media.is_some() {
            0
        } else {
            0x40
        };
        let d = self.selected_drive();
        let track0 = d.is_some_and(|d| d.cylinder == 0);
        let wp = d
            .and_then(|d| d.media.as_ref())
            .is_some_and(|m| m.write_protected());
        int | no_drive2 | if track0 { 0 } else { 0x10 } | 0x04 | if wp { 0 } else { 0x02 }
    }

    fn status_b(&self) -> u8 {
        // PS/2 status B: drive select 0, motor enables 0 and 1.
        0xc0 | (self.dor & 1) << 5 | (self.dor >> 4) & 3
    }

    fn write_dor(&mut self, value: u8) {
        let was_reset = self.in_reset();
        self.dor = value;
        if !was_reset && self.in_reset() {
            self.software_reset();
        } else if was_reset && !self.in_reset() {
            self.end_reset();
        }
        self.update_lines();
    }

    fn write_dsr(&mut self, value: u8) {
        self.rate = DataRate::from_bits(value);
        self.dsr = value & 0x7c;
        if value & DSR_SW_RESET != 0 && !self.in_reset() {
            self.software_reset();
            self.end_reset();
        }
    }

    fn read_fifo(&mut self) -> u8 {
        let value = match self.phase {
            Phase::Result => {
                let v = self.result.get(self.result_pos).copied().unwrap_or(0);
                self.result_pos += 1;
                // Reading the result acknowledges the interrupt.
                self.int = false;
                if self.result_pos >= self.result.len() {
                    self.phase = Phase::Command;
                    self.command.clear();
                }
                v
            }
            Phase::Execution(_) if self.non_dma() => {
                // INT drops with each data byte and rises for the next.
                self.irq.lower();
                self.pio_read()
            }
            _ => 0,
        };
        self.update_lines();
        value
    }

    fn write_fifo(&mut self, value: u8) {
        match &self.phase {
            Phase::Command if !self.in_reset() => self.command_byte(value),
            Phase::Execution(_) if self.non_dma() => {
                self.irq.lower();
                self.pio_write(value)
            }
            _ => {}
        }
        self.update_lines();
    }

    /// Enters the result phase with `bytes`, raising INT when `interrupt`.
    fn finish(&mut self, bytes: &[u8], interrupt: bool) {
        self.result.clear();
        self.result.extend_from_slice(bytes);
        self.result_pos = 0;
        self.phase = Phase::Result;
        self.int |= interrupt;
        self.update_lines();
    }

    fn read_register(&mut self, offset: u16) -> u8 {
        match offset {
            0 => self.status_a(),
            1 => self.status_b(),
            2 => self.dor,
            3 => self.tdr,
            4 => self.main_status(),
            5 => self.read_fifo(),
            7 => {
                let changed = self.selected_drive().is_some_and(|d| d.disk_changed);
                DIR_UNDRIVEN | if changed { DIR_DISK_CHANGE } else { 0 }
            }
            _ => 0xff,
        }
    }

    fn write_register(&mut self, offset: u16, value: u8) {
        match offset {
            2 => self.write_dor(value),
            3 => self.tdr = value & 3,
            4 => self.write_dsr(value),
            5 => self.write_fifo(value),
            7 => self.rate = DataRate::from_bits(value),
            _ => {}
        }
    }

    /// Moves the executing command's data through DMA channel 2.
    pub fn service_dma(&mut self, t: &mut DmaTransfer) {
        if self.dor & DOR_DMA_GATE != 0 && !self.non_dma() {
            self.dma_transfer(t);
        }
        self.update_lines();
    }
}

/// The two port windows: 0x3F0-0x3F5 and 0x3F7.
struct FdcPorts {
    fdc: SharedFdc,
    base: u16,
}

impl PortDevice for FdcPorts {
    fn read(&mut self, offset: u16, size: u8) -> u32 {
        let mut fdc = self.fdc.lock().unwrap_or_else(|e| e.into_inner());
        let base = self.base;
        split_read(offset, size, |o| match base + o {
            p @ (0x3f0..=0x3f5 | 0x3f7) if o < 6 => fdc.read_register(p - FDC_BASE),
            _ => 0xff,
        })
    }

    fn write(&mut self, offset: u16, size: u8, value: u32) {
        let mut fdc = self.fdc.lock().unwrap_or_else(|e| e.into_inner());
        let base = self.base;
        split_write(offset, size, value, |o, v| {
            if let p @ (0x3f0..=0x3f5 | 0x3f7) = base + o {
                if o < 6 {
                    fdc.write_register(p - FDC_BASE, v);
                }
            }
        });
    }
}

/// Claims 0x3F0-0x3F5 and 0x3F7 for `fdc`.
pub fn register_fdc(io: &mut PortBus, fdc: &SharedFdc) -> Result<(), OverlapError> {
    for (base, len) in [(FDC_BASE, 6), (FDC_BASE + 7, 1)] {
        let ports = FdcPorts {
            fdc: fdc.clone(),
            base,
        };
        io.register(base, len, Box::new(ports))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;

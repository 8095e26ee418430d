//! A VGA card with the Bochs VBE extensions (QEMU's "std" VGA): the
//! standard registers at 0x3B0-0x3DF, the planar memory behind the
//! 0xA0000-0xBFFFF window, the dispi registers at 0x1CE/0x1CF and a linear
//! framebuffer. As a PCI function (`pci`, QEMU's default) the framebuffer
//! is BAR0 and the registers are also in the MMIO BAR2; as an ISA card the
//! framebuffer sits at a fixed address (the ISA variant of SeaBIOS's VGA
//! BIOS, vgabios-isavga.bin, expects it at 0xE0000000).
//!
//! Not modelled: split screen (line compare), smooth horizontal panning,
//! and light pen.

mod dispi;
mod pci;
mod planar;
pub mod regs;
mod render;

pub use dispi::DISPI_INDEX_PORT;
pub use pci::{VgaPci, MMIO_BAR_SIZE, VGA_PCI_DEVICE};
pub use render::{Blink, Frame};

use super::bus::{split_read, split_write, MmioDevice, OverlapError, PortBus, PortDevice};
use crate::mem::GuestMemory;
use dispi::{Dispi, DispiEffect};
use planar::Planes;
use regs::{Attr, Crtc, Dac, Gc, Seq};
use std::sync::{Arc, Mutex};

/// Video memory: 16 MiB, enough for 1920x1080 at 32 bpp with room to pan.
pub const VRAM_SIZE: usize = 16 << 20;
/// Where the linear framebuffer appears.
pub const LFB_BASE: u64 = 0xe000_0000;
/// The legacy CPU window.
pub const WINDOW_BASE: u64 = 0xa_0000;
pub const WINDOW_SIZE: u64 = 0x2_0000;
/// The VGA's I/O range.
pub const VGA_PORTS: (u16, u16) = (0x3b0, 0x30);

/// Which card the board has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VgaModel {
    /// The PCI function at 00:02.0 (QEMU's `-vga std`).
    #[default]
    Std,
    /// The ISA card with its framebuffer at [`LFB_BASE`] (`-device isa-vga`).
    Isa,
    /// No display adapter.
    None,
}

pub struct Vga {
    seq: Seq,
    gc: Gc,
    crtc: Crtc,
    attr: Attr,
    dac: Dac,
    dispi: Dispi,
    planes: Planes,
    misc_output: u8,
    /// Input status 1's retrace bits toggle on each read, so firmware
    /// polling for retrace makes progress.
    status_toggle: u8,
}

pub type SharedVga = Arc<Mutex<Vga>>;

impl Default for Vga {
    fn default() -> Self {
        Self::new()
    }
}

impl Vga {
    pub fn new() -> Self {
        Self::with_memory(VRAM_SIZE)
    }

    fn with_memory(size: usize) -> Self {
        Vga {
            seq: Seq::default(),
            gc: Gc::default(),
            crtc: Crtc::default(),
            attr: Attr::default(),
            dac: Dac::default(),
            dispi: Dispi::new(VRAM_SIZE),
            planes: Planes::new(size),
            misc_output: 0,
            status_toggle: 0,
        }
    }

    /// A board reset: registers to zero; memory keeps its contents.
    pub fn reset(&mut self) {
        let planes = std::mem::replace(&mut self.planes, Planes::new(0));
        *self = Vga {
            planes,
            ..Vga::with_memory(0)
        };
    }

    /// The colour (0x3Dx) rather than monochrome (0x3Bx) CRTC addresses.
    fn color_io(&self) -> bool {
        self.misc_output & 1 != 0
    }

    /// The picture the card shows now.
    /// The screen with blinking characters and the cursor shown.
    pub fn render(&self) -> Frame {
        render::render(self, Blink::STEADY)
    }

    /// The screen as a monitor shows it at a moment of the blink cycle.
    pub fn render_blinking(&self, blink: Blink) -> Frame {
        render::render(self, blink)
    }

    /// In a text mode, the characters on screen, one string per row
    /// (trailing blanks kept); `None` in graphics modes.
    pub fn text_rows(&self) -> Option<Vec<String>> {
        if self.dispi.enabled() || self.gc.graphics() {
            return None;
        }
        let cols = self.crtc.columns();
        let rows = self.crtc.display_lines() / self.crtc.cell_height();
        let pitch = (self.crtc.offset() * 2).max(cols);
        let start = self.crtc.start_address();
        Some(
            (0..rows.min(256))
                .map(|r| {
                    (0..cols)
                        .map(|c| {
                            let b = self.planes.vram.get(4 * (start + r * pitch + c)).copied();
                            match b.unwrap_or(0) {
                                0 => ' ',
                                b @ 0x20..=0x7e => b as char,
                                _ => '?',
                            }
                        })
                        .collect()
                })
                .collect(),
        )
    }

    fn read_port(&mut self, port: u16) -> u8 {
        let color = self.color_io();
        match port {
            0x3c0 => self.attr.index,
            0x3c1 => self
                .attr
                .regs
                .get((self.attr.index & 0x1f) as usize)
                .copied()
                .unwrap_or(0),
            0x3c2 => 0x10, // input status 0: switch sense
            0x3c4 => self.seq.index,
            0x3c5 => self.seq.read(self.seq.index),
            0x3c6 => self.dac.pel_mask,
            0x3c7 => {
                if self.dac.reading {
                    0x03
                } else {
                    0x00
                }
            }
            0x3c8 => self.dac.write_index,
            0x3c9 => self.dac.read_data(),
            0x3ca => 0, // feature control
            0x3cc => self.misc_output,
            0x3ce => self.gc.index,
            0x3cf => self.gc.read(self.gc.index),
            0x3b4 | 0x3d4 if (port == 0x3d4) == color => self.crtc.index,
            0x3b5 | 0x3d5 if (port == 0x3d5) == color => self.crtc.read(self.crtc.index),
            0x3ba | 0x3da if (port == 0x3da) == color => {
                // Reading input status 1 resets the attribute flip-flop.
                self.attr.data_next = false;
                self.status_toggle ^= 0x09;
                self.status_toggle
            }
            _ => 0xff,
        }
    }

    fn write_port(&mut self, port: u16, value: u8) {
        let color = self.color_io();
        match port {
            0x3c0 => {
                if self.attr.data_next {
                    let i = (self.attr.index & 0x1f) as usize;
                    if let Some(r) = self.attr.regs.get_mut(i) {
                        *r = value;
                    }
                } else {
                    self.attr.index = value & 0x3f;
                }
                self.attr.data_next = !self.attr.data_next;
            }
            0x3c2 => self.misc_output = value,
            0x3c4 => self.seq.index = value,
            0x3c5 => self.seq.write(self.seq.index, value),
            0x3c6 => self.dac.pel_mask = value,
            0x3c7 => {
                self.dac.read_index = value;
                self.dac.component = 0;
                self.dac.reading = true;
            }
            0x3c8 => {
                self.dac.write_index = value;
                self.dac.component = 0;
                self.dac.reading = false;
            }
            0x3c9 => self.dac.write_data(value),
            0x3ce => self.gc.index = value,
            0x3cf => self.gc.write(self.gc.index, value),
            0x3b4 | 0x3d4 if (port == 0x3d4) == color => self.crtc.index = value,
            0x3b5 | 0x3d5 if (port == 0x3d5) == color => self.crtc.write(self.crtc.index, value),
            _ => {}
        }
    }

    /// A read of framebuffer byte `offset` onwards (past video memory:
    /// all ones).
    fn lfb_read(&self, offset: u64, size: u32) -> u64 {
        (0..size.min(8) as u64).fold(0, |v, i| {
            let b = usize::try_from(offset.wrapping_add(i))
                .ok()
                .and_then(|at| self.planes.vram.get(at))
                .copied()
                .unwrap_or(0xff);
            v | (b as u64) << (8 * i)
        })
    }

    fn lfb_write(&mut self, offset: u64, size: u32, value: u64) {
        for i in 0..size.min(8) as u64 {
            let at = usize::try_from(offset.wrapping_add(i)).ok();
            if let Some(b) = at.and_then(|at| self.planes.vram.get_mut(at)) {
                *b = (value >> (8 * i)) as u8;
            }
        }
    }

    fn dispi_write(&mut self, value: u16) {
        if let DispiEffect::ClearVram(n) = self.dispi.write(value) {
            let n = n.min(self.planes.vram.len());
            self.planes.vram[..n].fill(0);
        }
    }

    /// A CPU access to the legacy window at physical `addr`.
    fn window_read(&mut self, addr: u64) -> u8 {
        match self.window_offset(addr) {
            Some(Target::Banked(i)) => self.planes.vram.get(i).copied().unwrap_or(0xff),
            Some(Target::Planar(off)) => self.planes.read(&self.seq, &self.gc, off),
            None => 0xff,
        }
    }

    fn window_write(&mut self, addr: u64, value: u8) {
        match self.window_offset(addr) {
            Some(Target::Banked(i)) => {
                if let Some(b) = self.planes.vram.get_mut(i) {
                    *b = value;
                }
            }
            Some(Target::Planar(off)) => self.planes.write(&self.seq, &self.gc, off, value),
            None => {}
        }
    }

    fn window_offset(&self, addr: u64) -> Option<Target> {
        if self.dispi.enabled() {
            // VBE banked access: a 64 KiB bank of the linear memory.
            let off = addr.checked_sub(WINDOW_BASE).filter(|&o| o < 0x1_0000)?;
            return Some(Target::Banked(
                ((self.dispi.bank as usize) << 16) + off as usize,
            ));
        }
        let (start, len) = self.gc.window();
        let off = addr.checked_sub(start).filter(|&o| o < len)?;
        Some(Target::Planar(off as usize))
    }
}

enum Target {
    Banked(usize),
    Planar(usize),
}

/// The register ports (0x3B0-0x3DF).
struct VgaPorts(SharedVga);

impl PortDevice for VgaPorts {
    fn read(&mut self, offset: u16, size: u8) -> u32 {
        let mut vga = lock(&self.0);
        split_read(offset, size, |o| vga.read_port(VGA_PORTS.0 + o))
    }

    fn write(&mut self, offset: u16, size: u8, value: u32) {
        let mut vga = lock(&self.0);
        // A 16-bit OUT to an index port writes index then data, as the
        // byte lanes fall.
        split_write(offset, size, value, |o, b| {
            vga.write_port(VGA_PORTS.0 + o, b)
        });
    }
}

/// The dispi index (0x1CE) and data (0x1CF) registers, 16 bits wide.
struct DispiPorts(SharedVga);

impl PortDevice for DispiPorts {
    fn read(&mut self, offset: u16, _size: u8) -> u32 {
        let vga = lock(&self.0);
        match offset {
            0 => vga.dispi.index as u32,
            _ => vga.dispi.read() as u32,
        }
    }

    fn write(&mut self, offset: u16, _size: u8, value: u32) {
        let mut vga = lock(&self.0);
        match offset {
            0 => vga.dispi.index = value as u16,
            _ => vga.dispi_write(value as u16),
        }
    }
}

/// The legacy memory window.
struct VgaWindow(SharedVga);

impl MmioDevice for VgaWindow {
    fn read(&mut self, offset: u64, size: u32) -> u64 {
        let mut vga = lock(&self.0);
        (0..size.min(8) as u64).fold(0, |v, i| {
            v | (vga.window_read(WINDOW_BASE + offset + i) as u64) << (8 * i)
        })
    }

    fn write(&mut self, offset: u64, size: u32, value: u64) {
        let mut vga = lock(&self.0);
        for i in 0..size.min(8) as u64 {
            vga.window_write(WINDOW_BASE + offset + i, (value >> (8 * i)) as u8);
        }
    }
}

/// The linear framebuffer: plain video memory.
struct VgaLfb(SharedVga);

impl MmioDevice for VgaLfb {
    fn read(&mut self, offset: u64, size: u32) -> u64 {
        lock(&self.0).lfb_read(offset, size)
    }

    fn write(&mut self, offset: u64, size: u32, value: u64) {
        lock(&self.0).lfb_write(offset, size, value)
    }
}

fn lock(v: &SharedVga) -> std::sync::MutexGuard<'_, Vga> {
    v.lock().unwrap_or_else(|e| e.into_inner())
}

/// Places the legacy interface every variant decodes: the register
/// ports, the dispi ports and the 0xA0000 window.
pub fn register_legacy_vga(
    io: &mut PortBus,
    mem: &mut GuestMemory,
    vga: &SharedVga,
) -> Result<(), OverlapError> {
    io.register(VGA_PORTS.0, VGA_PORTS.1, Box::new(VgaPorts(vga.clone())))?;
    io.register(DISPI_INDEX_PORT, 2, Box::new(DispiPorts(vga.clone())))?;
    mem.add_mmio(WINDOW_BASE, WINDOW_SIZE, Box::new(VgaWindow(vga.clone())))
}

/// Builds the ISA card and places its ports, window and framebuffer.
pub fn register_vga(io: &mut PortBus, mem: &mut GuestMemory) -> Result<SharedVga, OverlapError> {
    let vga = Arc::new(Mutex::new(Vga::new()));
    register_legacy_vga(io, mem, &vga)?;
    mem.add_mmio(LFB_BASE, VRAM_SIZE as u64, Box::new(VgaLfb(vga.clone())))?;
    Ok(vga)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rig() -> (PortBus, GuestMemory, SharedVga) {
        let mut io = PortBus::default();
        let mut mem = GuestMemory::new(1 << 20).unwrap();
        let vga = register_vga(&mut io, &mut mem).unwrap();
        (io, mem, vga)
    }

    /// Mode 3 as a BIOS sets it up, reduced to what the renderer reads.
    fn text_mode(io: &mut PortBus) {
        io.write(0x3c2, 1, 0x67);
        for (i, v) in [(1u8, 0x00u8), (2, 0x03), (3, 0x00), (4, 0x02)] {
            io.write(0x3c4, 2, (v as u32) << 8 | i as u32);
        }
        for (i, v) in [(5u8, 0x10u8), (6, 0x0e), (8, 0xff)] {
            io.write(0x3ce, 2, (v as u32) << 8 | i as u32);
        }
        for (i, v) in [(1u8, 79u8), (7, 0x1f), (9, 0x4f), (0x12, 0x8f), (0x13, 40)] {
            io.write(0x3d4, 2, (v as u32) << 8 | i as u32);
        }
        io.read(0x3da, 1);
        for (i, v) in (0..16u8).map(|i| (i, i)).chain([(0x12, 0x0f)]) {
            io.write(0x3c0, 1, i as u32);
            io.write(0x3c0, 1, v as u32);
        }
        io.write(0x3c0, 1, 0x20); // palette address source: display on
        io.write(0x3c8, 1, 7);
        for c in [0x2a, 0x2a, 0x2a] {
            io.write(0x3c9, 1, c);
        }
    }

    #[test]
    fn text_written_at_b8000_reads_back_and_renders() {
        let (mut io, mut mem, vga) = rig();
        text_mode(&mut io);
        for (i, b) in b"Hi".iter().enumerate() {
            mem.write(0xb8000 + 2 * i as u64, 1, *b as u64);
            mem.write(0xb8001 + 2 * i as u64, 1, 0x07);
        }
        assert_eq!(mem.read(0xb8000, 2), 0x0748);
        let rows = vga.lock().unwrap().text_rows().unwrap();
        assert_eq!(rows.len(), 25);
        assert!(rows[0].starts_with("Hi  "));
        // A glyph: plane 2 holds the font; give 'H' a full first line.
        io.write(0x3c4, 2, 0x0402); // map mask: plane 2
        io.write(0x3c4, 2, 0x0604); // sequential addressing
        io.write(0x3ce, 2, 0x0005);
        io.write(0x3ce, 2, 0x0406); // A0000, 64 KiB
        mem.write(0xa0000 + b'H' as u64 * 32, 1, 0xff);
        text_mode(&mut io);
        let frame = vga.lock().unwrap().render();
        assert_eq!((frame.width, frame.height), (720, 400));
        assert_eq!(frame.pixel(0, 0), [0xaa, 0xaa, 0xaa]);
        assert_eq!(frame.pixel(0, 1), [0, 0, 0]);
    }

    /// With attribute mode control bit 3 set, attribute bit 7 blinks the
    /// character (not a bright background), and the cursor blinks on its
    /// own faster cycle; screenshots show both steady.
    #[test]
    fn blinking_characters_and_cursor_follow_the_blink_phase() {
        let (mut io, mut mem, vga) = rig();
        text_mode(&mut io);
        io.write(0x3c4, 2, 0x0402); // map mask: plane 2
        io.write(0x3c4, 2, 0x0604); // sequential addressing
        io.write(0x3ce, 2, 0x0005);
        io.write(0x3ce, 2, 0x0406); // A0000, 64 KiB
        mem.write(0xa0000 + b'H' as u64 * 32, 1, 0xff);
        text_mode(&mut io);
        io.read(0x3da, 1);
        io.write(0x3c0, 1, 0x10);
        io.write(0x3c0, 1, 0x08); // blink enable
        io.write(0x3c0, 1, 0x20);
        mem.write(0xb8000, 2, 0x8748); // 'H', blinking, grey on black
        mem.write(0xb8002, 2, 0x0720);
        // Cursor on cell 1, scan lines 14-15.
        for (i, v) in [(0x0au8, 14u8), (0x0b, 15), (0x0e, 0), (0x0f, 1)] {
            io.write(0x3d4, 2, (v as u32) << 8 | i as u32);
        }
        let grey = [0xaa, 0xaa, 0xaa];
        let v = vga.lock().unwrap();
        let steady = v.render();
        assert_eq!(steady.pixel(0, 0), grey, "foreground shown");
        assert_eq!(steady.pixel(9, 14), grey, "cursor shown");
        let off = v.render_blinking(Blink {
            cursor_on: false,
            chars_on: false,
        });
        assert_eq!(off.pixel(0, 0), off.pixel(0, 1), "only the background");
        assert_ne!(off.pixel(0, 0), grey);
        assert_eq!(off.pixel(9, 14), [0, 0, 0], "cursor hidden");
        assert_eq!(Blink::at(std::time::Duration::ZERO), Blink::STEADY);
        let later = Blink::at(std::time::Duration::from_millis(120));
        assert!(!later.cursor_on && later.chars_on, "cursor blinks first");
    }

    #[test]
    fn vbe_mode_draws_from_the_linear_framebuffer() {
        let (mut io, mut mem, vga) = rig();
        for (i, v) in [(1u32, 800u32), (2, 600), (3, 32), (4, 0x41)] {
            io.write(0x1ce, 2, i);
            io.write(0x1cf, 2, v);
        }
        mem.write(LFB_BASE + 4 * (800 + 1), 4, 0x00ff_8000);
        let frame = vga.lock().unwrap().render();
        assert_eq!((frame.width, frame.height), (800, 600));
        assert_eq!(frame.pixel(1, 1), [0xff, 0x80, 0x00]);
        assert!(vga.lock().unwrap().text_rows().is_none());
        // Banked access through A0000 reaches the same memory.
        io.write(0x1ce, 2, 5);
        io.write(0x1cf, 2, 0);
        assert_eq!(mem.read(0xa0000 + 4 * 801, 4), 0x00ff_8000);
    }

    #[test]
    fn hostile_register_values_do_not_panic() {
        let (mut io, mut mem, vga) = rig();
        for port in 0x3b0..0x3e0u16 {
            for v in [0u32, 0xff, 0x1f, 0x80] {
                io.write(port, 1, v);
                io.write(port, 2, v << 8 | 0x1f);
                io.read(port, 1);
            }
        }
        for i in 0..16u32 {
            io.write(0x1ce, 2, i);
            io.write(0x1cf, 2, 0xffff);
        }
        mem.write(0xbffff, 8, u64::MAX);
        mem.read(0xa0000, 8);
        let _ = vga.lock().unwrap().render();
        let _ = vga.lock().unwrap().text_rows();
    }
}

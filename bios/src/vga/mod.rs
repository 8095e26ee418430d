//! Programming the VGA as a VGA BIOS would, for firmware that has none:
//! a table-driven mode set, the font load into plane 2, DAC colours, and
//! filling text cells. Each routine is emitted once; the methods emit
//! calls to them.

pub mod modes;

use crate::rom::{data_address, label_here};
use iced_x86::code_asm::*;
use modes::ModeRegisters;

const SEQ_INDEX: u32 = 0x3c4;
const MISC_WRITE: u32 = 0x3c2;
const CRTC_INDEX: u32 = 0x3d4;
const GC_INDEX: u32 = 0x3ce;
const ATTR_INDEX: u32 = 0x3c0;
/// Reading input status 1 resets the attribute controller's flip-flop.
const INPUT_STATUS_1: u32 = 0x3da;
const DAC_WRITE_INDEX: u32 = 0x3c8;
const DAC_DATA: u32 = 0x3c9;
/// Attribute index bit 5: the display reads the palette (screen on).
const ATTR_PALETTE_SOURCE: u32 = 0x20;
/// Bytes of plane 2 between glyphs: fonts have room for 32 lines.
const GLYPH_STRIDE: u32 = 32;

pub struct VgaRoutines {
    set_mode: CodeLabel,
    write_indexed: CodeLabel,
    load_font: CodeLabel,
    load_dac: CodeLabel,
    fill: CodeLabel,
}

impl VgaRoutines {
    pub fn new(a: &mut CodeAssembler) -> Self {
        VgaRoutines {
            set_mode: a.create_label(),
            write_indexed: a.create_label(),
            load_font: a.create_label(),
            load_dac: a.create_label(),
            fill: a.create_label(),
        }
    }

    /// Loads every register of `mode`. Clobbers AX, BX, CX, DX, SI.
    pub fn set_mode(&self, a: &mut CodeAssembler, mode: &ModeRegisters) -> Result<(), IcedError> {
        data_address(a, si, &mode.bytes())?;
        a.call(self.set_mode)
    }

    /// Loads `font` (256 glyphs of `font.len() / 256` lines) into plane 2,
    /// where text modes read character map 0. Clobbers AX, BX, CX, DX, SI,
    /// DI.
    pub fn load_font(&self, a: &mut CodeAssembler, font: &[u8]) -> Result<(), IcedError> {
        assert_eq!(font.len() % 256, 0);
        let height = font.len() / 256;
        assert!(height <= GLYPH_STRIDE as usize);
        data_address(a, si, font)?;
        a.mov(bx, height as u32)?;
        a.call(self.load_font)
    }

    /// Sets DAC entries from `first` on to `rgb` (6-bit red, green, blue
    /// triples). Clobbers AX, CX, DX, SI.
    pub fn load_dac(&self, a: &mut CodeAssembler, first: u8, rgb: &[u8]) -> Result<(), IcedError> {
        assert!(rgb.len() % 3 == 0 && rgb.len() / 3 + usize::from(first) <= 256);
        data_address(a, si, rgb)?;
        a.mov(al, u32::from(first))?;
        a.mov(cx, rgb.len() as u32)?;
        a.call(self.load_dac)
    }

    /// Fills `count` text cells from `row`, `col` with `glyph` in colour
    /// `attr`. Clobbers AX, CX, DI.
    pub fn fill(
        &self,
        a: &mut CodeAssembler,
        row: u32,
        col: u32,
        count: u32,
        glyph: u8,
        attr: u8,
    ) -> Result<(), IcedError> {
        assert!(row * 80 + col + count <= 80 * 25, "fill past the screen");
        a.mov(di, (row * 80 + col) * 2)?;
        a.mov(ax, u32::from(attr) << 8 | u32::from(glyph))?;
        a.mov(cx, count)?;
        a.call(self.fill)
    }

    /// Emits the routines. Call once, somewhere execution never falls into.
    pub fn emit(mut self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        self.emit_set_mode(a)?;
        self.emit_load_font(a)?;
        self.emit_load_dac(a)?;
        self.emit_fill(a)
    }

    /// SI points (in CS) at a `ModeRegisters::bytes` table.
    fn emit_set_mode(&mut self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        a.set_label(&mut self.set_mode)?;
        // Hold the sequencer in synchronous reset while the clock changes.
        a.mov(dx, SEQ_INDEX)?;
        a.mov(ax, 0x0100u32)?;
        a.out(dx, ax)?;
        a.mov(al, byte_ptr(si).cs())?;
        a.inc(si)?;
        a.mov(dx, MISC_WRITE)?;
        a.out(dx, al)?;
        // Sequencer 1-4, then 0, which ends the reset.
        a.push(si)?;
        a.inc(si)?;
        a.mov(dx, SEQ_INDEX)?;
        a.mov(bl, 1)?;
        a.mov(cx, 4u32)?;
        a.call(self.write_indexed)?;
        a.pop(si)?;
        a.mov(bl, 0)?;
        a.mov(cx, 1u32)?;
        a.call(self.write_indexed)?;
        a.add(si, 4)?;
        // Clear the CRTC's write protection (register 0x11 bit 7) first;
        // the table's 0x11 may set it again after 0-7 are written.
        a.mov(dx, CRTC_INDEX)?;
        a.mov(ax, 0x0011u32)?;
        a.out(dx, ax)?;
        a.mov(bl, 0)?;
        a.mov(cx, 25u32)?;
        a.call(self.write_indexed)?;
        a.mov(dx, GC_INDEX)?;
        a.mov(bl, 0)?;
        a.mov(cx, 9u32)?;
        a.call(self.write_indexed)?;
        // The attribute controller: index and data through one port.
        a.mov(dx, INPUT_STATUS_1)?;
        a.in_(al, dx)?;
        a.mov(dx, ATTR_INDEX)?;
        a.xor(bl, bl)?;
        let attr = label_here(a)?;
        a.mov(al, bl)?;
        a.out(dx, al)?;
        a.mov(al, byte_ptr(si).cs())?;
        a.out(dx, al)?;
        a.inc(si)?;
        a.inc(bl)?;
        a.cmp(bl, 21)?;
        a.jb(attr)?;
        a.mov(al, ATTR_PALETTE_SOURCE)?;
        a.out(dx, al)?;
        a.ret()?;

        // DX = index port (data at DX+1), BL = first index, CX = count,
        // SI = values in CS (advanced past them).
        a.set_label(&mut self.write_indexed)?;
        a.mov(al, bl)?;
        a.mov(ah, byte_ptr(si).cs())?;
        a.out(dx, ax)?;
        a.inc(si)?;
        a.inc(bl)?;
        a.loop_(self.write_indexed)?;
        a.ret()
    }

    /// SI = glyphs in CS, BX = lines per glyph. Opens plane 2 alone with
    /// sequential addressing at A000, copies, then restores mode 03h's
    /// odd/even text access.
    fn emit_load_font(&mut self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        a.set_label(&mut self.load_font)?;
        a.push(ds)?;
        a.push(es)?;
        a.mov(dx, SEQ_INDEX)?;
        a.mov(ax, 0x0402u32)?; // map mask: plane 2
        a.out(dx, ax)?;
        a.mov(ax, 0x0704u32)?; // memory mode: sequential, no odd/even
        a.out(dx, ax)?;
        a.mov(dx, GC_INDEX)?;
        a.mov(ax, 0x0204u32)?; // read map 2
        a.out(dx, ax)?;
        a.mov(ax, 0x0005u32)?; // write mode 0, no odd/even
        a.out(dx, ax)?;
        a.mov(ax, 0x0406u32)?; // A0000-AFFFF, graphics addressing
        a.out(dx, ax)?;
        a.mov(ax, 0xa000u32)?;
        a.mov(es, ax)?;
        a.push(cs)?;
        a.pop(ds)?;
        a.xor(di, di)?;
        a.mov(dx, 256u32)?;
        let glyph = label_here(a)?;
        a.mov(cx, bx)?;
        a.rep().movsb()?;
        a.add(di, GLYPH_STRIDE)?;
        a.sub(di, bx)?;
        a.dec(dx)?;
        a.jnz(glyph)?;
        a.mov(dx, SEQ_INDEX)?;
        a.mov(ax, 0x0302u32)?; // planes 0 and 1: characters, attributes
        a.out(dx, ax)?;
        a.mov(ax, 0x0204u32)?; // odd/even
        a.out(dx, ax)?;
        a.mov(dx, GC_INDEX)?;
        a.mov(ax, 0x0004u32)?;
        a.out(dx, ax)?;
        a.mov(ax, 0x1005u32)?;
        a.out(dx, ax)?;
        a.mov(ax, 0x0e06u32)?; // B8000-BFFFF, text, chained odd/even
        a.out(dx, ax)?;
        a.pop(es)?;
        a.pop(ds)?;
        a.ret()
    }

    /// AL = first entry, CX = bytes, SI = values in CS.
    fn emit_load_dac(&mut self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        a.set_label(&mut self.load_dac)?;
        a.mov(dx, DAC_WRITE_INDEX)?;
        a.out(dx, al)?;
        a.mov(dx, DAC_DATA)?;
        let next = label_here(a)?;
        a.mov(al, byte_ptr(si).cs())?;
        a.out(dx, al)?;
        a.inc(si)?;
        a.loop_(next)?;
        a.ret()
    }

    /// DI = byte offset in the text buffer, AX = cell, CX = count.
    fn emit_fill(&mut self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        a.set_label(&mut self.fill)?;
        a.push(es)?;
        a.push(ax)?;
        a.mov(ax, 0xb800u32)?;
        a.mov(es, ax)?;
        a.pop(ax)?;
        a.rep().stosw()?;
        a.pop(es)?;
        a.ret()
    }
}

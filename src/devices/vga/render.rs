//! Turns the card's state into pixels: VBE linear modes, 256-colour
//! (chain-4) and 16-colour planar graphics, the CGA-compatible 4- and
//! 2-colour modes with their interleaved scan lines, and text modes drawn
//! with the font the guest loaded into plane 2.

use super::Vga;

/// An RGB image, 3 bytes per pixel, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

impl Frame {
    fn new(width: usize, height: usize) -> Frame {
        Frame {
            width,
            height,
            rgb: vec![0; width * height * 3],
        }
    }

    fn put(&mut self, x: usize, y: usize, c: [u8; 3]) {
        let i = 3 * (y * self.width + x);
        if let Some(p) = self.rgb.get_mut(i..i + 3) {
            p.copy_from_slice(&c);
        }
    }

    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = 3 * (y * self.width + x);
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }
}

/// Where the card's blink counters stand. The VGA blinks the cursor every
/// 8 vertical retraces and blinking characters every 16 (SDM-like timing
/// from the VGA reference: about 4 and 2 Hz at 70 Hz refresh).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blink {
    pub cursor_on: bool,
    pub chars_on: bool,
}

impl Blink {
    /// Both phases on: screenshots and tests see every character and the
    /// cursor, whatever the time.
    pub const STEADY: Blink = Blink {
        cursor_on: true,
        chars_on: true,
    };

    /// The phases `elapsed` after power-on at 70 frames per second.
    pub fn at(elapsed: std::time::Duration) -> Blink {
        let frame = elapsed.as_millis() * 70 / 1000;
        Blink {
            cursor_on: (frame / 8) % 2 == 0,
            chars_on: (frame / 16) % 2 == 0,
        }
    }
}

/// Displays larger than this are clamped (a hostile CRTC cannot make the
/// host allocate gigabytes).
const MAX_SIDE: usize = 4096;

pub fn render(vga: &Vga, blink: Blink) -> Frame {
    if vga.dispi.enabled() {
        return render_vbe(vga);
    }
    if vga.seq.screen_off() || !vga.attr.screen_enabled() {
        let (w, h) = text_or_graphics_size(vga);
        return Frame::new(w, h);
    }
    if !vga.gc.graphics() {
        return render_text(vga, blink);
    }
    if vga.attr.eight_bit() {
        render_256(vga)
    } else {
        render_planar(vga)
    }
}

fn text_or_graphics_size(vga: &Vga) -> (usize, usize) {
    let lines = vga.crtc.display_lines().min(MAX_SIDE);
    if vga.gc.graphics() {
        (
            (vga.crtc.columns() * 8).min(MAX_SIDE),
            lines / vga.crtc.cell_height().max(1),
        )
    } else {
        let cw = if vga.seq.dot8() { 8 } else { 9 };
        ((vga.crtc.columns() * cw).min(MAX_SIDE), lines)
    }
}

fn render_vbe(vga: &Vga) -> Frame {
    let d = &vga.dispi;
    let (w, h) = (d.xres as usize, d.yres as usize);
    let mut f = Frame::new(w, h);
    let bpp = d.bytes_per_pixel();
    let vram = &vga.planes.vram;
    for y in 0..h {
        for x in 0..w {
            let at = d.start() + y * d.line_bytes() + x * bpp;
            let Some(px) = vram.get(at..at + bpp) else {
                continue;
            };
            let c = match d.bpp {
                8 => {
                    let [r, g, b] = vga.dac.colors[px[0] as usize];
                    if d.enable & super::dispi::DAC_8BIT != 0 {
                        [r, g, b]
                    } else {
                        vga.dac.rgb(px[0])
                    }
                }
                15 => {
                    let v = u16::from_le_bytes([px[0], px[1]]);
                    let s = |v: u16| ((v & 31) << 3 | (v & 31) >> 2) as u8;
                    [s(v >> 10), s(v >> 5), s(v)]
                }
                16 => {
                    let v = u16::from_le_bytes([px[0], px[1]]);
                    let g = (v >> 5) & 63;
                    let s = |v: u16| ((v & 31) << 3 | (v & 31) >> 2) as u8;
                    [s(v >> 11), (g << 2 | g >> 4) as u8, s(v)]
                }
                // 24 and 32 bpp store blue, green, red.
                _ => [px[2], px[1], px[0]],
            };
            f.put(x, y, c);
        }
    }
    f
}

/// Rows of the picture: each covers `cell_height` scan lines (and two
/// with double scanning).
fn graphics_rows(vga: &Vga) -> usize {
    let mut per_row = vga.crtc.cell_height();
    if vga.crtc.double_scan() {
        per_row *= 2;
    }
    (vga.crtc.display_lines() / per_row.max(1)).min(MAX_SIDE)
}

fn render_256(vga: &Vga) -> Frame {
    // Two 4-bit pixel clocks make one 8-bit pixel.
    let w = (vga.crtc.columns() * 4).min(MAX_SIDE);
    let h = graphics_rows(vga);
    let mut f = Frame::new(w, h);
    let pitch = vga.crtc.offset() * 8;
    let start = vga.crtc.start_address() * 4;
    for y in 0..h {
        for x in 0..w {
            let i = vga
                .planes
                .vram
                .get(start + y * pitch + x)
                .copied()
                .unwrap_or(0);
            f.put(x, y, vga.dac.rgb(i));
        }
    }
    f
}

/// 16-colour planar graphics and the CGA-compatible modes, scan line by
/// scan line as the CRTC fetches them: each character clock reads the four
/// planes at one address and the graphics controller's shift registers
/// turn them into eight pixels.
fn render_planar(vga: &Vga) -> Frame {
    let columns = vga.crtc.columns().min(MAX_SIDE / 8);
    let w = columns * 8;
    let crtc = &vga.crtc.regs;
    let mode_control = crtc[0x17];
    // Mode control bits 0 and 1 clear put row-scan bits 0 and 1 on memory
    // address lines 13 and 14 (CGA's and Hercules' interleaved banks):
    // each scan line of a character row then shows other memory.
    let scans_per_row = if mode_control & 3 != 3 {
        vga.crtc.cell_height()
    } else {
        1
    };
    let h = (graphics_rows(vga) * scans_per_row).min(MAX_SIDE);
    let mut f = Frame::new(w, h);
    // Graphics mode register bits 5-6 = 1: CGA 4-colour shift (modes 4, 5).
    let interleave = (vga.gc.regs[5] >> 5) & 3 == 1;
    for y in 0..h {
        let (row, row_scan) = (y / scans_per_row, y % scans_per_row);
        let row_start = vga.crtc.start_address() + row * vga.crtc.offset() * 2;
        for clock in 0..columns {
            let offset = plane_offset(crtc, row_start + clock, row_scan);
            let Some(p) = vga.planes.vram.get(4 * offset..4 * offset + 4) else {
                continue;
            };
            for i in 0..8 {
                let color = if interleave {
                    // Two bits a pixel, high bit first: pixels 0-3 from
                    // planes 0 and 2, pixels 4-7 from planes 1 and 3.
                    let (lo, hi) = if i < 4 { (p[0], p[2]) } else { (p[1], p[3]) };
                    let s = 6 - 2 * (i % 4);
                    (lo >> s & 3) | (hi >> s & 3) << 2
                } else {
                    let bit = 7 - i;
                    (0..4).fold(0u8, |c, n| c | ((p[n] >> bit) & 1) << n)
                };
                f.put(clock * 8 + i, y, vga.dac.rgb(vga.attr.dac_index(color)));
            }
        }
    }
    f
}

/// The plane offset (as `Planes` stores it) that memory address counter
/// `ma` fetches on scan `row_scan` of its character row. The CRTC puts
/// `ma` on the memory bus shifted for word or dword mode, then may replace
/// bus bits 13 and 14 with row-scan bits 0 and 1 (mode control bits 0
/// and 1 clear). `Planes` drops the bits word and dword mode shift in
/// (odd/even and chain-4 store host address n at offset n/2 or n/4), so
/// the shift is undone after the substitution.
fn plane_offset(crtc: &[u8; 25], ma: usize, row_scan: usize) -> usize {
    let mode_control = crtc[0x17];
    let shift = if crtc[0x14] & 0x40 != 0 {
        2 // dword mode (underline location bit 6)
    } else if mode_control & 0x40 == 0 {
        1 // word mode
    } else {
        0
    };
    let mut bus = ma << shift;
    if mode_control & 1 == 0 {
        bus = (bus & !(1 << 13)) | (row_scan & 1) << 13;
    }
    if mode_control & 2 == 0 {
        bus = (bus & !(1 << 14)) | (row_scan >> 1 & 1) << 14;
    }
    bus >> shift
}

fn render_text(vga: &Vga, blink: Blink) -> Frame {
    let cols = vga.crtc.columns().min(MAX_SIDE / 9);
    let cell_h = vga.crtc.cell_height();
    let rows = (vga.crtc.display_lines() / cell_h).min(MAX_SIDE / cell_h.max(1));
    let cw = if vga.seq.dot8() { 8 } else { 9 };
    let mut f = Frame::new(cols * cw, rows * cell_h);
    let (font_a, font_b) = vga.seq.font_offsets();
    let (cur_start, cur_end, cur_on) = vga.crtc.cursor();
    let cursor_at = vga.crtc.cursor_address();
    let start = vga.crtc.start_address();
    let pitch = (vga.crtc.offset() * 2).max(cols);
    for row in 0..rows {
        for col in 0..cols {
            let cell = start + row * pitch + col;
            let ch = vga.planes.vram.get(4 * cell).copied().unwrap_or(0);
            let attr = vga.planes.vram.get(4 * cell + 1).copied().unwrap_or(0);
            let font = if attr & 0x08 != 0 { font_a } else { font_b };
            let fg = vga.dac.rgb(vga.attr.dac_index(attr & 0x0f));
            // With blinking on, attribute bit 7 blinks the character
            // instead of brightening the background.
            let (bg_color, hidden) = if vga.attr.blink() {
                ((attr >> 4) & 7, attr & 0x80 != 0 && !blink.chars_on)
            } else {
                (attr >> 4, false)
            };
            let bg = vga.dac.rgb(vga.attr.dac_index(bg_color));
            for line in 0..cell_h {
                let glyph_at = font + ch as usize * 32 + line;
                let bits = vga.planes.vram.get(4 * glyph_at + 2).copied().unwrap_or(0);
                let cursor_line = blink.cursor_on
                    && cur_on
                    && cell == cursor_at
                    && (cur_start..=cur_end).contains(&line);
                for dx in 0..cw {
                    // The ninth column repeats the eighth for line-drawing
                    // characters (0xC0-0xDF), else is background.
                    let on = match dx {
                        8 => (0xc0..=0xdf).contains(&ch) && bits & 1 != 0,
                        _ => bits >> (7 - dx) & 1 != 0,
                    };
                    let c = if (on && !hidden) || cursor_line {
                        fg
                    } else {
                        bg
                    };
                    f.put(col * cw + dx, row * cell_h + line, c);
                }
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::super::Vga;

    /// A mode's registers as the IBM VGA documentation lists them.
    struct Mode {
        misc: u8,
        seq: [u8; 5],
        crtc: [u8; 25],
        gc: [u8; 9],
        attr: [u8; 21],
    }

    /// Mode 04h: 320x200, 4 colours, CGA's even/odd scan-line banks.
    const MODE_04H: Mode = Mode {
        misc: 0x63,
        seq: [0x03, 0x09, 0x03, 0x00, 0x02],
        crtc: [
            0x2d, 0x27, 0x28, 0x90, 0x2b, 0x80, 0xbf, 0x1f, 0x00, 0xc1, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x14, 0x00, 0x96, 0xb9, 0xa2, 0xff,
        ],
        gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x0f, 0x00, 0xff],
        attr: [
            0x00, 0x13, 0x15, 0x17, 0x02, 0x04, 0x06, 0x07, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
            0x16, 0x17, 0x01, 0x00, 0x03, 0x00, 0x00,
        ],
    };

    /// Mode 06h: 640x200, 2 colours, the same banks, one bit a pixel.
    const MODE_06H: Mode = Mode {
        misc: 0x63,
        seq: [0x03, 0x01, 0x01, 0x00, 0x06],
        crtc: [
            0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0xbf, 0x1f, 0x00, 0xc1, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x00, 0x96, 0xb9, 0xc2, 0xff,
        ],
        gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x00, 0xff],
        attr: [
            0x00, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17, 0x17,
            0x17, 0x17, 0x01, 0x00, 0x01, 0x00, 0x00,
        ],
    };

    /// The EGA colour a 6-bit attribute palette value stands for, as
    /// 8-bit RGB (the DAC's 6-bit levels 0, 0x15, 0x2a, 0x3f scaled).
    fn ega_rgb(v: u8) -> [u8; 3] {
        let level = |hi: u8, lo: u8| {
            let six = (v >> hi & 1) * 0x2a + (v >> lo & 1) * 0x15;
            six << 2 | six >> 4
        };
        [level(2, 5), level(1, 4), level(0, 3)]
    }

    /// Programs `mode` through the ports, as a VGA BIOS does, and loads
    /// the DAC with the 64 EGA colours.
    fn set_mode(mode: &Mode) -> Vga {
        let mut vga = Vga::with_memory(1 << 18);
        vga.write_port(0x3c2, mode.misc);
        for (i, &v) in mode.seq.iter().enumerate() {
            vga.write_port(0x3c4, i as u8);
            vga.write_port(0x3c5, v);
        }
        vga.write_port(0x3d4, 0x11);
        vga.write_port(0x3d5, 0);
        for (i, &v) in mode.crtc.iter().enumerate() {
            vga.write_port(0x3d4, i as u8);
            vga.write_port(0x3d5, v);
        }
        for (i, &v) in mode.gc.iter().enumerate() {
            vga.write_port(0x3ce, i as u8);
            vga.write_port(0x3cf, v);
        }
        vga.read_port(0x3da);
        for (i, &v) in mode.attr.iter().enumerate() {
            vga.write_port(0x3c0, i as u8);
            vga.write_port(0x3c0, v);
        }
        vga.write_port(0x3c0, 0x20);
        vga.write_port(0x3c8, 0);
        for v in 0..64u8 {
            for c in ega_rgb(v) {
                vga.write_port(0x3c9, c >> 2);
            }
        }
        vga
    }

    /// Where CGA keeps scan line `y`: even lines from B800:0000, odd ones
    /// from B800:2000, 80 bytes each.
    fn cga_line(y: usize) -> u64 {
        0xb_8000 + (y as u64 & 1) * 0x2000 + (y as u64 >> 1) * 80
    }

    #[test]
    fn mode_04h_interleaves_scan_lines_at_two_bits_a_pixel() {
        let mut vga = set_mode(&MODE_04H);
        // A pattern that shifts on every line, so a line shown from the
        // wrong bank or a pixel from the wrong bits shows up.
        let value = |x: usize, y: usize| ((x / 3 + y) % 4) as u8;
        for y in 0..200 {
            for byte in 0..80 {
                let b = (0..4).fold(0, |b, i| b | value(4 * byte + i, y) << (6 - 2 * i));
                vga.window_write(cga_line(y) + byte as u64, b);
            }
        }
        let frame = vga.render();
        assert_eq!((frame.width, frame.height), (320, 200));
        for y in 0..200 {
            for x in 0..320 {
                let want = ega_rgb(MODE_04H.attr[value(x, y) as usize]);
                assert_eq!(frame.pixel(x, y), want, "pixel ({x}, {y})");
            }
        }
    }

    #[test]
    fn mode_06h_shows_one_bit_a_pixel_from_both_banks() {
        let mut vga = set_mode(&MODE_06H);
        let bit = |x: usize, y: usize| u8::from((x * 7 + y * 3) % 5 < 2);
        for y in 0..200 {
            for byte in 0..80 {
                let b = (0..8).fold(0, |b, i| b | bit(8 * byte + i, y) << (7 - i));
                vga.window_write(cga_line(y) + byte as u64, b);
            }
        }
        let frame = vga.render();
        assert_eq!((frame.width, frame.height), (640, 200));
        let (black, white) = (ega_rgb(0), ega_rgb(0x17));
        assert_ne!(black, white);
        for y in 0..200 {
            for x in 0..640 {
                let want = if bit(x, y) == 1 { white } else { black };
                assert_eq!(frame.pixel(x, y), want, "pixel ({x}, {y})");
            }
        }
    }

    #[test]
    fn cga_pixels_run_high_bits_first_and_line_1_is_in_the_odd_bank() {
        // Mode 05h has mode 04h's register values in the IBM tables (it
        // differs only on a CGA's composite output), so this covers both.
        let mut vga = set_mode(&MODE_04H);
        vga.window_write(cga_line(1), 0b00_01_10_11);
        let frame = vga.render();
        for x in 0..4 {
            assert_eq!(frame.pixel(x, 1), ega_rgb(MODE_04H.attr[x]));
        }
        assert_eq!(frame.pixel(0, 0), ega_rgb(0), "line 0 is the other bank");
    }
}

//! Turns the card's state into pixels: VBE linear modes, 256-colour
//! (chain-4) and 16-colour planar graphics, and text modes drawn with the
//! font the guest loaded into plane 2.

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

/// Displays larger than this are clamped (a hostile CRTC cannot make the
/// host allocate gigabytes).
const MAX_SIDE: usize = 4096;

pub fn render(vga: &Vga) -> Frame {
    if vga.dispi.enabled() {
        return render_vbe(vga);
    }
    if vga.seq.screen_off() || !vga.attr.screen_enabled() {
        let (w, h) = text_or_graphics_size(vga);
        return Frame::new(w, h);
    }
    if !vga.gc.graphics() {
        return render_text(vga);
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

fn render_planar(vga: &Vga) -> Frame {
    let w = (vga.crtc.columns() * 8).min(MAX_SIDE);
    let h = graphics_rows(vga);
    let mut f = Frame::new(w, h);
    let pitch = vga.crtc.offset() * 2;
    let start = vga.crtc.start_address();
    for y in 0..h {
        for x in 0..w {
            let offset = start + y * pitch + x / 8;
            let bit = 7 - (x % 8);
            let planes = vga.planes.vram.get(4 * offset..4 * offset + 4);
            let color = planes.map_or(0, |p| (0..4).fold(0u8, |c, n| c | ((p[n] >> bit) & 1) << n));
            f.put(x, y, vga.dac.rgb(vga.attr.dac_index(color)));
        }
    }
    f
}

fn render_text(vga: &Vga) -> Frame {
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
            let bg_color = if vga.attr.blink() {
                (attr >> 4) & 7
            } else {
                attr >> 4
            };
            let bg = vga.dac.rgb(vga.attr.dac_index(bg_color));
            for line in 0..cell_h {
                let glyph_at = font + ch as usize * 32 + line;
                let bits = vga.planes.vram.get(4 * glyph_at + 2).copied().unwrap_or(0);
                let cursor_line =
                    cur_on && cell == cursor_at && (cur_start..=cur_end).contains(&line);
                for dx in 0..cw {
                    // The ninth column repeats the eighth for line-drawing
                    // characters (0xC0-0xDF), else is background.
                    let on = match dx {
                        8 => (0xc0..=0xdf).contains(&ch) && bits & 1 != 0,
                        _ => bits >> (7 - dx) & 1 != 0,
                    };
                    let c = if on || cursor_line { fg } else { bg };
                    f.put(col * cw + dx, row * cell_h + line, c);
                }
            }
        }
    }
    f
}

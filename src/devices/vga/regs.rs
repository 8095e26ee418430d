//! The VGA's indexed register files, as plain data with named accessors
//! for the bits the memory path and the renderer use.

/// Sequencer (0x3C4/0x3C5): 5 registers.
#[derive(Clone, Debug, Default)]
pub struct Seq {
    pub index: u8,
    pub regs: [u8; 5],
}

impl Seq {
    pub fn write(&mut self, index: u8, value: u8) {
        if let Some(r) = self.regs.get_mut(index as usize) {
            *r = value;
        }
    }
    pub fn read(&self, index: u8) -> u8 {
        self.regs.get(index as usize).copied().unwrap_or(0xff)
    }
    /// 8-dot characters (clocking mode bit 0).
    pub fn dot8(&self) -> bool {
        self.regs[1] & 1 != 0
    }
    /// Display off (clocking mode bit 5, screen off).
    pub fn screen_off(&self) -> bool {
        self.regs[1] & 0x20 != 0
    }
    pub fn map_mask(&self) -> u8 {
        self.regs[2] & 0x0f
    }
    /// Character map select: plane-2 offsets of fonts A (attribute bit 3
    /// set) and B.
    pub fn font_offsets(&self) -> (usize, usize) {
        let r = self.regs[3];
        let a = ((r >> 2) & 3) | ((r >> 3) & 4);
        let b = (r & 3) | ((r >> 2) & 4);
        // Maps 0-3 start at 16 KiB steps, maps 4-7 8 KiB after those.
        let offset = |n: u8| (n & 3) as usize * 0x4000 + (n >> 2) as usize * 0x2000;
        (offset(a), offset(b))
    }
    pub fn chain4(&self) -> bool {
        self.regs[4] & 0x08 != 0
    }
}

/// Graphics controller (0x3CE/0x3CF): 9 registers.
#[derive(Clone, Debug, Default)]
pub struct Gc {
    pub index: u8,
    pub regs: [u8; 9],
}

impl Gc {
    pub fn write(&mut self, index: u8, value: u8) {
        if let Some(r) = self.regs.get_mut(index as usize) {
            *r = value;
        }
    }
    pub fn read(&self, index: u8) -> u8 {
        self.regs.get(index as usize).copied().unwrap_or(0xff)
    }
    pub fn set_reset(&self) -> u8 {
        self.regs[0] & 0x0f
    }
    pub fn enable_set_reset(&self) -> u8 {
        self.regs[1] & 0x0f
    }
    pub fn color_compare(&self) -> u8 {
        self.regs[2] & 0x0f
    }
    pub fn rotate_count(&self) -> u32 {
        (self.regs[3] & 7) as u32
    }
    /// Logical function: 0 replace, 1 AND, 2 OR, 3 XOR.
    pub fn function(&self) -> u8 {
        (self.regs[3] >> 3) & 3
    }
    pub fn read_map(&self) -> usize {
        (self.regs[4] & 3) as usize
    }
    pub fn write_mode(&self) -> u8 {
        self.regs[5] & 3
    }
    pub fn read_mode_1(&self) -> bool {
        self.regs[5] & 0x08 != 0
    }
    /// Host odd/even addressing (mode bit 4).
    pub fn odd_even(&self) -> bool {
        self.regs[5] & 0x10 != 0
    }
    /// Graphics (not alphanumeric) mode: miscellaneous bit 0.
    pub fn graphics(&self) -> bool {
        self.regs[6] & 1 != 0
    }
    /// The CPU window the memory map select bits open: (start, length).
    pub fn window(&self) -> (u64, u64) {
        match (self.regs[6] >> 2) & 3 {
            0 => (0xa_0000, 0x2_0000),
            1 => (0xa_0000, 0x1_0000),
            2 => (0xb_0000, 0x8000),
            _ => (0xb_8000, 0x8000),
        }
    }
    pub fn color_dont_care(&self) -> u8 {
        self.regs[7] & 0x0f
    }
    pub fn bit_mask(&self) -> u8 {
        self.regs[8]
    }
}

/// CRT controller (0x3D4/0x3D5 or 0x3B4/0x3B5): 25 registers.
#[derive(Clone, Debug, Default)]
pub struct Crtc {
    pub index: u8,
    pub regs: [u8; 25],
}

impl Crtc {
    pub fn write(&mut self, index: u8, value: u8) {
        // Registers 0-7 are write-protected by bit 7 of register 0x11,
        // except the line-compare bit 4 of the overflow register.
        let protect = self.regs[0x11] & 0x80 != 0;
        match index {
            0..=6 if protect => {}
            7 if protect => self.regs[7] = (self.regs[7] & !0x10) | (value & 0x10),
            _ => {
                if let Some(r) = self.regs.get_mut(index as usize) {
                    *r = value;
                }
            }
        }
    }
    pub fn read(&self, index: u8) -> u8 {
        self.regs.get(index as usize).copied().unwrap_or(0xff)
    }
    /// Characters (or 8/16-pixel groups) per displayed line.
    pub fn columns(&self) -> usize {
        self.regs[1] as usize + 1
    }
    /// Scan lines displayed.
    pub fn display_lines(&self) -> usize {
        let ov = self.regs[7] as usize;
        (self.regs[0x12] as usize | (ov & 2) << 7 | (ov & 0x40) << 3) + 1
    }
    /// Scan lines per character row (or per pixel row in graphics).
    pub fn cell_height(&self) -> usize {
        (self.regs[9] & 0x1f) as usize + 1
    }
    pub fn double_scan(&self) -> bool {
        self.regs[9] & 0x80 != 0
    }
    pub fn start_address(&self) -> usize {
        (self.regs[0x0c] as usize) << 8 | self.regs[0x0d] as usize
    }
    /// Memory words between rows (the offset register).
    pub fn offset(&self) -> usize {
        self.regs[0x13] as usize
    }
    /// Cursor scan lines (start, end) and whether it shows.
    pub fn cursor(&self) -> (usize, usize, bool) {
        let start = self.regs[0x0a];
        (
            (start & 0x1f) as usize,
            (self.regs[0x0b] & 0x1f) as usize,
            start & 0x20 == 0,
        )
    }
    pub fn cursor_address(&self) -> usize {
        (self.regs[0x0e] as usize) << 8 | self.regs[0x0f] as usize
    }
}

/// Attribute controller (0x3C0/0x3C1): 21 registers behind a flip-flop.
#[derive(Clone, Debug, Default)]
pub struct Attr {
    pub index: u8,
    /// False: the next write to 0x3C0 is an index; true: data.
    pub data_next: bool,
    pub regs: [u8; 21],
}

impl Attr {
    pub fn palette(&self, color: u8) -> u8 {
        self.regs[(color & 0x0f) as usize] & 0x3f
    }
    /// Blink instead of bright background (mode control bit 3).
    pub fn blink(&self) -> bool {
        self.regs[0x10] & 0x08 != 0
    }
    /// 256-colour mode: two 4-bit pixels form one (mode control bit 6).
    pub fn eight_bit(&self) -> bool {
        self.regs[0x10] & 0x40 != 0
    }
    pub fn plane_enable(&self) -> u8 {
        self.regs[0x12] & 0x0f
    }
    /// The DAC index of a 4-bit colour, with the colour select bits.
    pub fn dac_index(&self, color: u8) -> u8 {
        let p = self.palette(color & self.plane_enable());
        let select = self.regs[0x14];
        if self.regs[0x10] & 0x80 != 0 {
            (p & 0x0f) | (select & 0x0f) << 4
        } else {
            p | (select & 0x0c) << 4
        }
    }
    /// Palette address source: the display reads the palette (index bit 5).
    pub fn screen_enabled(&self) -> bool {
        self.index & 0x20 != 0
    }
}

/// The DAC: 256 colours of 6-bit (or 8-bit, for VBE) red, green, blue.
#[derive(Clone, Debug)]
pub struct Dac {
    pub colors: Vec<[u8; 3]>,
    pub read_index: u8,
    pub write_index: u8,
    /// Which component of the current entry the next data access takes.
    pub component: usize,
    /// The last index register written was the read index (DAC state).
    pub reading: bool,
    pub pel_mask: u8,
}

impl Default for Dac {
    fn default() -> Self {
        Dac {
            colors: vec![[0; 3]; 256],
            read_index: 0,
            write_index: 0,
            component: 0,
            reading: false,
            pel_mask: 0xff,
        }
    }
}

impl Dac {
    pub fn read_data(&mut self) -> u8 {
        let v = self.colors[self.read_index as usize][self.component];
        self.step(true);
        v
    }
    pub fn write_data(&mut self, v: u8) {
        self.colors[self.write_index as usize][self.component] = v & 0x3f;
        self.step(false);
    }
    fn step(&mut self, read: bool) {
        self.component += 1;
        if self.component == 3 {
            self.component = 0;
            if read {
                self.read_index = self.read_index.wrapping_add(1);
            } else {
                self.write_index = self.write_index.wrapping_add(1);
            }
        }
    }
    /// The 8-bit RGB of entry `i` (6-bit values scaled up).
    pub fn rgb(&self, i: u8) -> [u8; 3] {
        self.colors[(i & self.pel_mask) as usize].map(|c| c << 2 | c >> 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crtc_protect_bit_guards_timing_registers() {
        let mut c = Crtc::default();
        c.write(1, 79);
        c.write(0x11, 0x80);
        c.write(1, 10);
        c.write(7, 0xff);
        assert_eq!(c.read(1), 79);
        assert_eq!(c.read(7), 0x10, "only the line-compare bit");
        c.write(0x12, 0x8f);
        c.write(0x11, 0);
        c.write(7, 0x02);
        assert_eq!(c.display_lines(), 0x18f + 1);
        assert_eq!(c.read(200), 0xff);
    }

    #[test]
    fn dac_walks_components_and_entries() {
        let mut d = Dac {
            write_index: 5,
            ..Dac::default()
        };
        for v in [0x3f, 0x00, 0x20, 0x01] {
            d.write_data(v);
        }
        assert_eq!(d.colors[5], [0x3f, 0, 0x20]);
        assert_eq!(d.colors[6][0], 1);
        d.read_index = 5;
        d.component = 0;
        assert_eq!(
            [d.read_data(), d.read_data(), d.read_data()],
            [0x3f, 0, 0x20]
        );
        assert_eq!(d.rgb(5), [0xff, 0, 0x82]);
    }

    #[test]
    fn font_select_and_windows() {
        let mut s = Seq::default();
        s.write(3, 0b0010_0100); // font A = map 5 (bits 5, 3, 2)
        assert_eq!(s.font_offsets(), (0x6000, 0));
        let mut g = Gc::default();
        g.write(6, 0x0e);
        assert_eq!(g.window(), (0xb_8000, 0x8000));
        assert!(!g.graphics());
    }
}

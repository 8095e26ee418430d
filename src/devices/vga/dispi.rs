//! The Bochs/QEMU VBE "dispi" interface (index 0x1CE, data 0x1CF): the
//! guest picks a resolution and depth and gets a linear framebuffer, as the
//! SeaBIOS VGA BIOS, Linux's bochs-drm and vesafb expect.

pub const DISPI_INDEX_PORT: u16 = 0x1ce;

const ID: u16 = 0;
const XRES: u16 = 1;
const YRES: u16 = 2;
const BPP: u16 = 3;
const ENABLE: u16 = 4;
const BANK: u16 = 5;
const VIRT_WIDTH: u16 = 6;
const VIRT_HEIGHT: u16 = 7;
const X_OFFSET: u16 = 8;
const Y_OFFSET: u16 = 9;
const VIDEO_MEMORY_64K: u16 = 10;

const ID0: u16 = 0xb0c0;
const ID5: u16 = 0xb0c5;

pub const ENABLED: u16 = 0x01;
const GETCAPS: u16 = 0x02;
pub const DAC_8BIT: u16 = 0x20;
const NOCLEARMEM: u16 = 0x80;

pub const MAX_XRES: u16 = 2560;
pub const MAX_YRES: u16 = 1600;
const MAX_BPP: u16 = 32;

#[derive(Clone, Debug)]
pub struct Dispi {
    pub index: u16,
    pub id: u16,
    pub xres: u16,
    pub yres: u16,
    pub bpp: u16,
    pub enable: u16,
    pub bank: u16,
    pub virt_width: u16,
    pub virt_height: u16,
    pub x_offset: u16,
    pub y_offset: u16,
    vram_size: usize,
}

/// What a register write asks of the rest of the card.
#[derive(Debug, PartialEq, Eq)]
pub enum DispiEffect {
    None,
    /// The mode was switched on: clear this many bytes of VRAM first.
    ClearVram(usize),
}

impl Dispi {
    pub fn new(vram_size: usize) -> Self {
        Dispi {
            index: 0,
            id: ID5,
            xres: 640,
            yres: 480,
            bpp: 8,
            enable: 0,
            bank: 0,
            virt_width: 640,
            virt_height: 480,
            x_offset: 0,
            y_offset: 0,
            vram_size,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enable & ENABLED != 0
    }

    /// Bytes per pixel (15-bit modes use two).
    pub fn bytes_per_pixel(&self) -> usize {
        (self.bpp as usize).div_ceil(8)
    }

    /// Bytes per framebuffer line.
    pub fn line_bytes(&self) -> usize {
        self.virt_width as usize * self.bytes_per_pixel()
    }

    /// Offset of the first displayed pixel.
    pub fn start(&self) -> usize {
        self.y_offset as usize * self.line_bytes() + self.x_offset as usize * self.bytes_per_pixel()
    }

    pub fn read(&self) -> u16 {
        let caps = self.enable & GETCAPS != 0;
        match self.index {
            ID => self.id,
            XRES if caps => MAX_XRES,
            YRES if caps => MAX_YRES,
            BPP if caps => MAX_BPP,
            XRES => self.xres,
            YRES => self.yres,
            BPP => self.bpp,
            ENABLE => self.enable,
            BANK => self.bank,
            VIRT_WIDTH => self.virt_width,
            VIRT_HEIGHT => self.virt_height,
            X_OFFSET => self.x_offset,
            Y_OFFSET => self.y_offset,
            VIDEO_MEMORY_64K => (self.vram_size >> 16) as u16,
            _ => 0,
        }
    }

    pub fn write(&mut self, value: u16) -> DispiEffect {
        let locked = self.enabled();
        match self.index {
            ID if (ID0..=ID5).contains(&value) => self.id = value,
            // Geometry changes only while the mode is off, as on QEMU.
            XRES if !locked && value <= MAX_XRES => self.xres = value & !7,
            YRES if !locked && value <= MAX_YRES => self.yres = value,
            BPP if !locked && matches!(value, 4 | 8 | 15 | 16 | 24 | 32) => self.bpp = value,
            BPP if !locked && value == 0 => self.bpp = 8,
            BANK if (value as usize) << 16 < self.vram_size => self.bank = value,
            ENABLE => return self.set_enable(value),
            VIRT_WIDTH => {
                self.virt_width = value.max(self.xres);
                self.fit_virtual();
            }
            X_OFFSET => self.x_offset = value,
            Y_OFFSET => self.y_offset = value,
            _ => {}
        }
        DispiEffect::None
    }

    fn set_enable(&mut self, value: u16) -> DispiEffect {
        let was = self.enabled();
        let fits =
            self.xres as usize * self.yres as usize * self.bytes_per_pixel() <= self.vram_size;
        let on = value & ENABLED != 0 && self.xres > 0 && self.yres > 0 && fits;
        self.enable =
            value & (GETCAPS | DAC_8BIT | NOCLEARMEM | 0x40) | if on { ENABLED } else { 0 };
        if on && !was {
            self.virt_width = self.xres;
            self.x_offset = 0;
            self.y_offset = 0;
            self.bank = 0;
            self.fit_virtual();
            if value & NOCLEARMEM == 0 {
                return DispiEffect::ClearVram(self.virt_height as usize * self.line_bytes());
            }
        }
        DispiEffect::None
    }

    /// The virtual height is what the memory holds at the virtual width.
    fn fit_virtual(&mut self) {
        let line = self.line_bytes().max(1);
        self.virt_height = (self.vram_size / line).min(u16::MAX as usize) as u16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(d: &mut Dispi, index: u16, v: u16) -> DispiEffect {
        d.index = index;
        d.write(v)
    }

    #[test]
    fn mode_set_reads_back_and_clears() {
        let mut d = Dispi::new(16 << 20);
        set(&mut d, XRES, 1024);
        set(&mut d, YRES, 768);
        set(&mut d, BPP, 32);
        let e = set(&mut d, ENABLE, ENABLED | 0x40);
        assert_eq!(e, DispiEffect::ClearVram(4096 * (16 << 20) / 4096));
        assert!(d.enabled());
        assert_eq!(d.line_bytes(), 4096);
        // Locked while enabled.
        set(&mut d, XRES, 640);
        assert_eq!(d.xres, 1024);
        d.index = VIDEO_MEMORY_64K;
        assert_eq!(d.read(), 256);
    }

    #[test]
    fn caps_and_nonsense_values() {
        let mut d = Dispi::new(16 << 20);
        set(&mut d, ENABLE, GETCAPS);
        d.index = XRES;
        assert_eq!(d.read(), MAX_XRES);
        set(&mut d, ENABLE, 0);
        set(&mut d, BPP, 7);
        assert_eq!(d.bpp, 8);
        set(&mut d, XRES, 60000);
        assert_eq!(d.xres, 640);
        set(&mut d, BANK, 0xffff);
        assert_eq!(d.bank, 0);
        // A mode larger than video memory does not switch on.
        let mut d = Dispi::new(1 << 20);
        set(&mut d, XRES, 2560);
        set(&mut d, YRES, 1600);
        set(&mut d, BPP, 32);
        assert_eq!(set(&mut d, ENABLE, ENABLED), DispiEffect::None);
        assert!(!d.enabled());
    }
}

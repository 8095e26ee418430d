//! Register values of the two standard VGA modes the demo uses, from the
//! register tables of the IBM VGA documentation (the values a VGA BIOS
//! loads for modes 03h and 13h).

/// One mode's register file, in the order `VgaRoutines::set_mode` loads
/// it.
pub struct ModeRegisters {
    /// Miscellaneous output (0x3C2): clock, sync polarity, colour I/O.
    pub misc: u8,
    /// Sequencer 0-4 (register 0 is written last: it ends the reset).
    pub seq: [u8; 5],
    /// CRT controller 0x00-0x18.
    pub crtc: [u8; 25],
    /// Graphics controller 0-8.
    pub gc: [u8; 9],
    /// Attribute controller 0x00-0x14: palette 0-15, mode control,
    /// overscan, colour plane enable, horizontal panning, colour select.
    pub attr: [u8; 21],
}

impl ModeRegisters {
    /// The table as the ROM stores it.
    pub fn bytes(&self) -> Vec<u8> {
        let mut v = vec![self.misc];
        v.extend_from_slice(&self.seq);
        v.extend_from_slice(&self.crtc);
        v.extend_from_slice(&self.gc);
        v.extend_from_slice(&self.attr);
        v
    }
}

/// Mode 03h: 80x25 colour text, 9x16 cells (720x400), text at B800:0000.
pub const MODE_03H: ModeRegisters = ModeRegisters {
    misc: 0x67,
    // 9-dot characters; planes 0 and 1 writable; odd/even host access.
    seq: [0x03, 0x00, 0x03, 0x00, 0x02],
    crtc: [
        0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, // horizontal, vertical total
        0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00, // 16 lines a row, cursor
        0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, // 400 lines, 80 words a row
        0xff,
    ],
    // Odd/even, text, B8000-BFFFF window.
    gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff],
    attr: [
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, // the EGA palette's
        0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, // 16 text colours
        0x0c, 0x00, 0x0f, 0x08, 0x00,
    ],
};

/// Mode 13h: 320x200, 256 colours, one byte per pixel at A000:0000
/// (chain-4: byte n in plane n mod 4).
pub const MODE_13H: ModeRegisters = ModeRegisters {
    misc: 0x63,
    seq: [0x03, 0x01, 0x0f, 0x00, 0x0e],
    crtc: [
        0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0xbf, 0x1f, //
        0x00, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // each row twice
        0x9c, 0x8e, 0x8f, 0x28, 0x40, 0x96, 0xb9, 0xa3, // dword mode
        0xff,
    ],
    // 256-colour shift mode, graphics, A0000-AFFFF window.
    gc: [0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0f, 0xff],
    attr: [
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, //
        0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, //
        0x41, 0x00, 0x0f, 0x00, 0x00,
    ],
};

/// The 64 colours of the EGA palette as 6-bit DAC values: bits 0-2 of the
/// index are blue, green, red at 2/3 intensity, bits 3-5 add 1/3.
pub fn ega_dac() -> Vec<u8> {
    (0..64u8)
        .flat_map(|i| {
            let c = |hi: u8, lo: u8| (i >> hi & 1) * 0x2a + (i >> lo & 1) * 0x15;
            [c(2, 5), c(1, 4), c(0, 3)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_61_bytes_and_ega_colours_are_right() {
        assert_eq!(MODE_03H.bytes().len(), 61);
        assert_eq!(MODE_13H.bytes().len(), 61);
        let dac = ega_dac();
        assert_eq!(dac.len(), 192);
        // Brown (palette 0x14) and bright white (0x3f).
        assert_eq!(&dac[3 * 0x14..3 * 0x15], &[0x2a, 0x15, 0x00]);
        assert_eq!(&dac[3 * 0x3f..], &[0x3f, 0x3f, 0x3f]);
    }
}

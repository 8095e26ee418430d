//! The ATA command block registers of one device (ATA/ATAPI-6, 7.x) and
//! the status/error bits. With the 48-bit feature set each of Features,
//! Sector Count and LBA Low/Mid/High is a two-deep FIFO: the previous
//! write is "HOB" and reads back when Device Control's HOB bit is set.

/// Status register bits.
pub const BSY: u8 = 0x80;
pub const DRDY: u8 = 0x40;
pub const DF: u8 = 0x20;
/// Device seek complete (obsolete in ATA-6 but set by every drive).
pub const DSC: u8 = 0x10;
pub const DRQ: u8 = 0x08;
pub const ERR: u8 = 0x01;

/// Error register bits.
pub const ABRT: u8 = 0x04;

/// Device register bits.
pub const DEVICE_LBA: u8 = 0x40;
pub const DEVICE_DEV: u8 = 0x10;

/// Device Control bits.
pub const CONTROL_NIEN: u8 = 0x02;
pub const CONTROL_SRST: u8 = 0x04;
pub const CONTROL_HOB: u8 = 0x80;

/// Interrupt reason (Sector Count of a PACKET device): C/D and I/O.
pub const IREASON_COD: u8 = 0x01;
pub const IREASON_IO: u8 = 0x02;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskFile {
    pub feature: u8,
    pub count: u8,
    pub lba_low: u8,
    pub lba_mid: u8,
    pub lba_high: u8,
    pub hob_feature: u8,
    pub hob_count: u8,
    pub hob_lba_low: u8,
    pub hob_lba_mid: u8,
    pub hob_lba_high: u8,
    pub device: u8,
}

impl TaskFile {
    /// A write to command block register 1-5 pushes the old value to HOB.
    pub fn write(&mut self, reg: u16, value: u8) {
        let (cur, hob) = match reg {
            1 => (&mut self.feature, &mut self.hob_feature),
            2 => (&mut self.count, &mut self.hob_count),
            3 => (&mut self.lba_low, &mut self.hob_lba_low),
            4 => (&mut self.lba_mid, &mut self.hob_lba_mid),
            5 => (&mut self.lba_high, &mut self.hob_lba_high),
            6 => {
                self.device = value;
                return;
            }
            _ => return,
        };
        *hob = *cur;
        *cur = value;
    }

    /// Register 2-6 as read (1 and 7 are error and status, kept by the
    /// device).
    pub fn read(&self, reg: u16, hob: bool) -> u8 {
        match (reg, hob) {
            (2, false) => self.count,
            (2, true) => self.hob_count,
            (3, false) => self.lba_low,
            (3, true) => self.hob_lba_low,
            (4, false) => self.lba_mid,
            (4, true) => self.hob_lba_mid,
            (5, false) => self.lba_high,
            (5, true) => self.hob_lba_high,
            (6, _) => self.device,
            _ => 0,
        }
    }

    pub fn lba28(&self) -> u64 {
        ((self.device & 0x0f) as u64) << 24
            | (self.lba_high as u64) << 16
            | (self.lba_mid as u64) << 8
            | self.lba_low as u64
    }

    pub fn lba48(&self) -> u64 {
        (self.hob_lba_high as u64) << 40
            | (self.hob_lba_mid as u64) << 32
            | (self.hob_lba_low as u64) << 24
            | (self.lba_high as u64) << 16
            | (self.lba_mid as u64) << 8
            | self.lba_low as u64
    }

    /// Sector count of a 28-bit command (0 means 256).
    pub fn count28(&self) -> u32 {
        match self.count {
            0 => 256,
            n => n as u32,
        }
    }

    /// Sector count of a 48-bit command (0 means 65536).
    pub fn count48(&self) -> u32 {
        match (self.hob_count as u32) << 8 | self.count as u32 {
            0 => 65536,
            n => n,
        }
    }

    /// Writes `lba` back after a transfer (the address of the last sector,
    /// as a device reports it).
    pub fn set_lba(&mut self, lba: u64, lba48: bool) {
        self.lba_low = lba as u8;
        self.lba_mid = (lba >> 8) as u8;
        self.lba_high = (lba >> 16) as u8;
        if lba48 {
            self.hob_lba_low = (lba >> 24) as u8;
            self.hob_lba_mid = (lba >> 32) as u8;
            self.hob_lba_high = (lba >> 40) as u8;
        } else {
            self.device = (self.device & 0xf0) | ((lba >> 24) as u8 & 0x0f);
        }
    }

    /// The byte count limit of a PACKET data transfer (LBA Mid/High).
    pub fn byte_count(&self) -> u16 {
        (self.lba_high as u16) << 8 | self.lba_mid as u16
    }

    pub fn set_byte_count(&mut self, n: u16) {
        self.lba_mid = n as u8;
        self.lba_high = (n >> 8) as u8;
    }

    /// The reset signature (ATA-6 9.12): ATA 01/01/00/00, PACKET
    /// 01/01/14/EB; Device 0.
    pub fn set_signature(&mut self, packet: bool) {
        self.count = 1;
        self.lba_low = 1;
        (self.lba_mid, self.lba_high) = if packet { (0x14, 0xeb) } else { (0, 0) };
        self.device = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hob_fifo_and_addresses() {
        let mut tf = TaskFile::default();
        for (reg, hi, lo) in [(3, 0x44, 0x11), (4, 0x55, 0x22), (5, 0x66, 0x33)] {
            tf.write(reg, hi);
            tf.write(reg, lo);
        }
        tf.write(2, 0x01);
        tf.write(2, 0x00);
        assert_eq!(tf.lba48(), 0x6655_4433_2211);
        assert_eq!(tf.count48(), 256);
        assert_eq!(tf.count28(), 256);
        assert_eq!(tf.read(3, true), 0x44);
        assert_eq!(tf.read(3, false), 0x11);
        tf.write(6, 0xe5);
        assert_eq!(tf.lba28(), 0x0533_2211);
        tf.set_lba(0x0123_4567, false);
        assert_eq!(tf.lba28(), 0x0123_4567);
    }
}

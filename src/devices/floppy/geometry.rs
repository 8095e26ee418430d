//! The standard PC diskette formats and how an image file's size maps to
//! one: an exact size picks its format; a shorter image (such as GRUB's
//! rescue floppy, which holds only the sectors it uses) gets the smallest
//! 3.5" format it fits in, and the sectors past its end read as zeros.

/// Data rates, as DSR/CCR bits 1-0 encode them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataRate {
    K500 = 0,
    K300 = 1,
    K250 = 2,
    M1 = 3,
}

impl DataRate {
    pub fn from_bits(bits: u8) -> Self {
        match bits & 3 {
            0 => DataRate::K500,
            1 => DataRate::K300,
            2 => DataRate::K250,
            _ => DataRate::M1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaFormat {
    pub tracks: u8,
    pub heads: u8,
    pub sectors: u8,
    /// The rates a drive reads this medium at (a 360K disk: 250 kb/s in a
    /// 360K drive, 300 kb/s in a 1.2M one); at any other rate the
    /// controller finds no address marks.
    pub rates: [DataRate; 2],
    /// The drive type firmware reads from CMOS byte 0x10.
    pub cmos_type: u8,
}

impl MediaFormat {
    pub const fn bytes(&self) -> u64 {
        self.tracks as u64 * self.heads as u64 * self.sectors as u64 * 512
    }

    /// The byte offset of sector `r` (1-based) of `track` under `head`.
    pub fn offset(&self, track: u8, head: u8, r: u8) -> u64 {
        let lba =
            (track as u64 * self.heads as u64 + head as u64) * self.sectors as u64 + r as u64 - 1;
        lba * 512
    }

    pub fn readable_at(&self, rate: DataRate) -> bool {
        self.rates.contains(&rate)
    }

    /// Whether sector `r` exists on `track`/`head` of this medium.
    pub fn has_sector(&self, track: u8, head: u8, r: u8) -> bool {
        track < self.tracks && head < self.heads && (1..=self.sectors).contains(&r)
    }
}

/// 360K and 1.2M 5.25", 720K, 1.44M and 2.88M 3.5", by size.
pub const FORMATS: [MediaFormat; 5] = [
    MediaFormat {
        tracks: 40,
        heads: 2,
        sectors: 9,
        rates: [DataRate::K250, DataRate::K300],
        cmos_type: 1,
    },
    MediaFormat {
        tracks: 80,
        heads: 2,
        sectors: 9,
        rates: [DataRate::K250; 2],
        cmos_type: 3,
    },
    MediaFormat {
        tracks: 80,
        heads: 2,
        sectors: 15,
        rates: [DataRate::K500; 2],
        cmos_type: 2,
    },
    MediaFormat {
        tracks: 80,
        heads: 2,
        sectors: 18,
        rates: [DataRate::K500; 2],
        cmos_type: 4,
    },
    MediaFormat {
        tracks: 80,
        heads: 2,
        sectors: 36,
        rates: [DataRate::M1; 2],
        cmos_type: 5,
    },
];

/// The format of an image of `len` bytes, or None when it is empty or
/// larger than a 2.88M diskette.
pub fn format_for_size(len: u64) -> Option<MediaFormat> {
    if len == 0 {
        return None;
    }
    if let Some(f) = FORMATS.iter().find(|f| f.bytes() == len) {
        return Some(*f);
    }
    // 3.5" formats only for partial images: 720K, 1.44M, 2.88M.
    [FORMATS[1], FORMATS[3], FORMATS[4]]
        .into_iter()
        .find(|f| f.bytes() >= len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_pick_formats() {
        assert_eq!(format_for_size(1_474_560).unwrap().sectors, 18);
        assert_eq!(format_for_size(737_280).unwrap().sectors, 9);
        assert_eq!(format_for_size(1_228_800).unwrap().sectors, 15);
        assert_eq!(format_for_size(368_640).unwrap().tracks, 40);
        assert_eq!(format_for_size(2_949_120).unwrap().cmos_type, 5);
        // GRUB's rescue floppy: 1296384 bytes, a partial 1.44M.
        assert_eq!(format_for_size(1_296_384).unwrap().cmos_type, 4);
        assert_eq!(format_for_size(512).unwrap().cmos_type, 3);
        assert_eq!(format_for_size(0), None);
        assert_eq!(format_for_size(2_949_121), None);
        let f = format_for_size(1_474_560).unwrap();
        assert_eq!(f.offset(0, 0, 1), 0);
        assert_eq!(f.offset(0, 1, 1), 18 * 512);
        assert_eq!(f.offset(1, 0, 3), 38 * 512);
        assert!(!f.has_sector(80, 0, 1) && !f.has_sector(0, 0, 0) && !f.has_sector(0, 0, 19));
        assert!(f.readable_at(DataRate::K500) && !f.readable_at(DataRate::K250));
        let f = format_for_size(368_640).unwrap();
        assert!(f.readable_at(DataRate::K250) && f.readable_at(DataRate::K300));
    }
}

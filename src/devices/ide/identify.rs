//! The 256-word IDENTIFY DEVICE / IDENTIFY PACKET DEVICE blocks (ATA/ATAPI-6,
//! 8.15 and 8.16) and the transfer-mode words both share.

/// A 512-byte identify block being filled word by word.
pub struct IdentifyBlock(pub [u16; 256]);

impl IdentifyBlock {
    pub fn new() -> Self {
        IdentifyBlock([0; 256])
    }

    /// An ATA string: two characters per word, the first in the high byte,
    /// padded with spaces.
    pub fn string(&mut self, first_word: usize, words: usize, text: &str) {
        let mut bytes = text.bytes().chain(std::iter::repeat(b' '));
        for w in &mut self.0[first_word..first_word + words] {
            let hi = bytes.next().unwrap_or(b' ');
            let lo = bytes.next().unwrap_or(b' ');
            *w = (hi as u16) << 8 | lo as u16;
        }
    }

    /// Words 62-64 and 88 from the mode SET FEATURES selected (`mode` is
    /// its Sector Count: 0x20|n multiword DMA n, 0x40|n Ultra DMA n).
    pub fn transfer_modes(&mut self, mode: u8) {
        let selected = |kind: u8| {
            if mode & 0xf8 == kind {
                1u16 << (8 + (mode & 7))
            } else {
                0
            }
        };
        self.0[63] = 0x0007 | selected(0x20);
        self.0[64] = 0x0003; // PIO modes 3 and 4
        self.0[65] = 120;
        self.0[66] = 120;
        self.0[67] = 120;
        self.0[68] = 120;
        self.0[88] = 0x003f | selected(0x40);
    }

    /// Word 255: the integrity word (signature 0xA5, then a checksum that
    /// makes the block's bytes sum to zero).
    pub fn to_bytes(mut self) -> Vec<u8> {
        self.0[255] = 0x00a5;
        let sum: u8 = self
            .0
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .fold(0u8, |a, b| a.wrapping_add(b));
        self.0[255] |= (sum.wrapping_neg() as u16) << 8;
        self.0.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

impl Default for IdentifyBlock {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether SET FEATURES' "set transfer mode" value names a mode the
/// drives support (PIO default/0-4, multiword DMA 0-2, Ultra DMA 0-5).
pub fn valid_transfer_mode(mode: u8) -> bool {
    match mode & 0xf8 {
        0x00 => mode <= 1,
        0x08 => mode & 7 <= 4,
        0x20 => mode & 7 <= 2,
        0x40 => mode & 7 <= 5,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_byte_swapped_and_checksum_sums_to_zero() {
        let mut b = IdentifyBlock::new();
        b.string(27, 20, "QEMU HARDDISK");
        b.0[0] = 0x0040;
        let bytes = b.to_bytes();
        assert_eq!(&bytes[54..58], b"EQUM");
        assert_eq!(bytes[54 + 39], b' ');
        assert_eq!(bytes[510], 0xa5);
        assert_eq!(bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b)), 0);
    }

    #[test]
    fn transfer_mode_validation() {
        assert!(valid_transfer_mode(0x00));
        assert!(valid_transfer_mode(0x0c));
        assert!(valid_transfer_mode(0x22));
        assert!(!valid_transfer_mode(0x23));
        assert!(valid_transfer_mode(0x45));
        assert!(!valid_transfer_mode(0x46));
        assert!(!valid_transfer_mode(0x80));
    }
}

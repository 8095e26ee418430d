//! The i440FX's Programmable Attribute Map (PAM0-PAM6, host-bridge config
//! registers 0x59-0x5F): for each segment of 0xC0000-0xFFFFF, whether reads
//! and writes go to DRAM or to the PCI/ISA side (the firmware ROM, or
//! nothing). Firmware copies itself from ROM into this "shadow" RAM and
//! then runs from RAM (SeaBIOS' make_bios_writable).

/// First and last+1 address the PAM registers govern.
pub const PAM_START: u64 = 0xc_0000;
pub const PAM_END: u64 = 0x10_0000;

/// Bit 0 of an attribute nibble: reads from DRAM (RE); bit 1: writes to
/// DRAM (WE).
const READ_ENABLE: u8 = 1;
const WRITE_ENABLE: u8 = 2;

/// The seven PAM registers as the host bridge holds them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pam(pub [u8; 7]);

impl Pam {
    /// The two attribute bits of the segment holding `addr`.
    fn attributes(&self, addr: u64) -> u8 {
        if addr >= 0xf_0000 {
            // PAM0 bits 5:4 map the 64 KiB at 0xF0000; bits 3:0 are reserved.
            return self.0[0] >> 4 & 3;
        }
        // PAM1-PAM6: two 16 KiB segments each, the lower one in bits 1:0.
        let segment = ((addr - PAM_START) >> 14) as usize;
        self.0[1 + segment / 2] >> (4 * (segment % 2)) & 3
    }

    /// For an address inside 0xC0000-0xFFFFF: whether this access goes to
    /// DRAM (`Some(true)`) or to the PCI side (`Some(false)`). `None`
    /// outside the PAM range.
    #[inline]
    pub fn to_dram(&self, addr: u64, write: bool) -> Option<bool> {
        if !(PAM_START..PAM_END).contains(&addr) {
            return None;
        }
        let bit = if write { WRITE_ENABLE } else { READ_ENABLE };
        Some(self.attributes(addr) & bit != 0)
    }

    /// The 4 KiB pages whose read mapping differs between `self` and `new`
    /// (code decoded from them must be dropped).
    pub fn pages_changed(&self, new: &Pam) -> impl Iterator<Item = u64> + '_ {
        let new = *new;
        (PAM_START..PAM_END).step_by(0x1000).filter(move |&page| {
            self.attributes(page) & READ_ENABLE != new.attributes(page) & READ_ENABLE
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_follow_the_register_layout() {
        let mut pam = Pam::default();
        assert_eq!(pam.to_dram(0xf_8000, false), Some(false));
        assert_eq!(pam.to_dram(0xb_ffff, false), None);
        assert_eq!(pam.to_dram(0x10_0000, true), None);
        pam.0[0] = 0x10; // F0000: read DRAM, writes to ROM
        assert_eq!(pam.to_dram(0xf_ffff, false), Some(true));
        assert_eq!(pam.to_dram(0xf_ffff, true), Some(false));
        pam.0[0] = 0x0f; // reserved low nibble changes nothing
        assert_eq!(pam.to_dram(0xf_0000, false), Some(false));
        pam.0[1] = 0x20; // C4000-C7FFF write-only DRAM
        assert_eq!(pam.to_dram(0xc_4000, true), Some(true));
        assert_eq!(pam.to_dram(0xc_4000, false), Some(false));
        assert_eq!(pam.to_dram(0xc_3fff, true), Some(false));
        pam.0[6] = 0x03; // E8000-EBFFF
        assert_eq!(pam.to_dram(0xe_8000, false), Some(true));
        assert_eq!(pam.to_dram(0xe_c000, false), Some(false));
    }

    #[test]
    fn changed_pages_are_those_whose_reads_move() {
        let old = Pam::default();
        let mut new = Pam::default();
        new.0[0] = 0x20; // write enable only: reads unchanged
        assert_eq!(old.pages_changed(&new).count(), 0);
        new.0[0] = 0x30;
        let pages: Vec<u64> = old.pages_changed(&new).collect();
        assert_eq!(pages.len(), 16);
        assert_eq!(pages[0], 0xf_0000);
    }
}

//! Paging-structure entry bits and the reserved-bit masks of each paging
//! mode (SDM vol. 3, tables 4-4 to 4-6, 4-8 to 4-11, 4-14 to 4-19).

use super::MAXPHYADDR;

pub const P: u64 = 1 << 0;
pub const RW: u64 = 1 << 1;
pub const US: u64 = 1 << 2;
pub const A: u64 = 1 << 5;
pub const D: u64 = 1 << 6;
/// Page size in a PDE (and a 4-level PDPTE); PAT in a 4 KiB PTE.
pub const PS: u64 = 1 << 7;
pub const G: u64 = 1 << 8;
/// Execute-disable, meaningful (and not reserved) only with EFER.NXE.
pub const XD: u64 = 1 << 63;

/// Bits MAXPHYADDR-1..12 of a 64-bit entry: a 4 KiB-aligned address.
pub const ADDR_MASK: u64 = ((1 << MAXPHYADDR) - 1) & !0xfff;

/// Bits 63..MAXPHYADDR: reserved in PAE PDPTEs, and (below bit 63) in
/// every PAE-paging entry.
const ABOVE_MAXPHY: u64 = !((1 << MAXPHYADDR) - 1);

/// Bits 51..MAXPHYADDR: reserved in every 4-level entry (62:52 are ignored).
const ABOVE_MAXPHY_51: u64 = ((1 << 52) - 1) & ABOVE_MAXPHY;

/// Reserved bits of a present PAE PDPTE: 2:1, 8:5, 63:MAXPHYADDR (a PDPTE
/// has no XD bit). Checked when the PDPTEs are loaded (SDM 4.4.1).
pub const PAE_PDPTE_RSVD: u64 = ABOVE_MAXPHY | 0x1e6;

/// Reserved bits of a 32-bit-paging 4 MiB PDE with PSE-36 (table 4-4): bit
/// 21 and the address bits 20:13 would provide above MAXPHYADDR.
pub const PSE_PDE_RSVD: u64 = {
    let high_bits = if MAXPHYADDR > 40 { 8 } else { MAXPHYADDR - 32 };
    // Bits 21:(13 + high_bits) are reserved.
    ((1 << 22) - 1) & !((1 << (13 + high_bits)) - 1)
};

/// Bits 20:13 (2 MiB pages) and 29:13 (1 GiB pages): reserved address bits
/// between the PAT bit and the page frame.
pub const LARGE_2M_RSVD: u64 = 0x1f_e000;
pub const LARGE_1G_RSVD: u64 = 0x3fff_e000;

/// Reserved bits common to every PAE-paging PDE/PTE (62:MAXPHYADDR, and XD
/// when NXE is off).
#[inline]
pub fn pae_rsvd(nxe: bool) -> u64 {
    let r = ABOVE_MAXPHY & !XD;
    if nxe {
        r
    } else {
        r | XD
    }
}

/// Reserved bits common to every 4-level entry (51:MAXPHYADDR, and XD when
/// NXE is off).
#[inline]
pub fn long_rsvd(nxe: bool) -> u64 {
    if nxe {
        ABOVE_MAXPHY_51
    } else {
        ABOVE_MAXPHY_51 | XD
    }
}

/// Physical base of the 4 MiB page a 32-bit PSE PDE maps: bits 31:22 and,
/// with PSE-36, bits 20:13 as address bits 39:32.
#[inline]
pub fn pse_4m_base(pde: u64) -> u64 {
    (pde & 0xffc0_0000) | (((pde >> 13) & 0xff) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_follow_maxphyaddr_40() {
        assert_eq!(MAXPHYADDR, 40);
        assert_eq!(ADDR_MASK, 0xff_ffff_f000);
        assert_eq!(PSE_PDE_RSVD, 1 << 21);
        assert_eq!(PAE_PDPTE_RSVD, 0xffff_ff00_0000_01e6);
        assert_eq!(pae_rsvd(true), 0x7fff_ff00_0000_0000);
        assert_eq!(pae_rsvd(false), 0xffff_ff00_0000_0000);
        assert_eq!(long_rsvd(true), 0x000f_ff00_0000_0000);
        assert_eq!(pse_4m_base(0x1240_0087 | (0x3f << 13)), 0x3f_1240_0000);
    }
}

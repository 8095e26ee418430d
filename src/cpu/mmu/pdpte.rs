//! PAE paging's page-directory-pointer-table entries: four registers loaded
//! from the 32-byte table CR3 points to, by the MOV CR0/CR3/CR4 that makes or
//! keeps PAE paging active (SDM vol. 3, 4.4.1). Later edits of the table in
//! memory are not seen until the next load.

use super::entry::{P, PAE_PDPTE_RSVD};
use crate::cpu::fault::Fault;
use crate::mem::GuestMemory;

/// Reads the four PDPTEs for `cr3` (bits 31:5 locate the table). A present
/// entry with a reserved bit set makes the loading instruction raise #GP(0).
pub fn read_pdptes(mem: &mut GuestMemory, cr3: u64) -> Result<[u64; 4], Fault> {
    let base = cr3 & 0xffff_ffe0;
    let mut pdptes = [0u64; 4];
    for (i, e) in pdptes.iter_mut().enumerate() {
        *e = mem.read(mem.a20_mask(base + i as u64 * 8), 8);
        if *e & P != 0 && *e & PAE_PDPTE_RSVD != 0 {
            return Err(Fault::gp(0));
        }
    }
    Ok(pdptes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_bits_only_matter_in_present_entries() {
        let mut mem = GuestMemory::new(1 << 20).unwrap();
        mem.write(0x2000, 8, 0x3001);
        mem.write(0x2008, 8, 0x0000_0100_0000_4000 | 0x80); // not present
        mem.write(0x2010, 8, 0x5001);
        let p = read_pdptes(&mut mem, 0x2000 | 0x18).unwrap();
        assert_eq!(p[0], 0x3001);
        assert_eq!(p[2], 0x5001);
        // Bit 1 (R/W) is reserved in a PAE PDPTE.
        mem.write(0x2018, 8, 0x6003);
        assert_eq!(read_pdptes(&mut mem, 0x2000), Err(Fault::gp(0)));
        // So are bits above MAXPHYADDR and bit 63.
        mem.write(0x2018, 8, (1 << 63) | 0x6001);
        assert_eq!(read_pdptes(&mut mem, 0x2000), Err(Fault::gp(0)));
        mem.write(0x2018, 8, (1 << 40) | 0x6001);
        assert_eq!(read_pdptes(&mut mem, 0x2000), Err(Fault::gp(0)));
        mem.write(0x2018, 8, (1 << 39) | 0x6001);
        assert!(read_pdptes(&mut mem, 0x2000).is_ok());
    }
}

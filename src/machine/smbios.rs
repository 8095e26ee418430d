//! SMBIOS (DMI) tables for direct kernel boot, as firmware leaves them: a
//! 2.8 entry point in the BIOS area at 0xF0000 (shadow RAM, through the
//! i440FX PAM) and the BIOS, system and end-of-table structures. Linux
//! reads them for its "DMI:" line and quirk tables; without them it warns
//! "DMI not present or invalid".

use crate::devices::bus::PortBus;
use crate::mem::{GuestMemory, Pam};

/// Where the entry point and the structure table go.
pub const ENTRY_ADDR: u64 = 0xf_0000;
const TABLE_ADDR: u64 = 0xf_0020;

/// One structure: formatted part (type, length, handle first) and strings.
fn structure(kind: u8, handle: u16, formatted: &[u8], strings: &[&str]) -> Vec<u8> {
    let mut s = vec![kind, 4 + formatted.len() as u8];
    s.extend_from_slice(&handle.to_le_bytes());
    s.extend_from_slice(formatted);
    for text in strings {
        s.extend_from_slice(text.as_bytes());
        s.push(0);
    }
    if strings.is_empty() {
        s.push(0);
    }
    s.push(0);
    s
}

/// The structure table: BIOS information (type 0), system information
/// (type 1), end of table (type 127). Returns it and its structure count.
pub fn table() -> (Vec<u8>, u16) {
    let mut bios = vec![1, 2];
    bios.extend_from_slice(&0xe800u16.to_le_bytes()); // starting segment
    bios.push(3); // release date string
    bios.push(0); // ROM size: 64 KiB
    bios.extend_from_slice(&(1u64 << 3).to_le_bytes()); // characteristics not supported
    bios.extend_from_slice(&[0, 0]); // extension bytes
    bios.extend_from_slice(&[0, 1, 0xff, 0xff]); // release 0.1, no EC
    let mut system = vec![1, 2, 3, 0];
    system.extend_from_slice(&[0; 16]); // UUID not set
    system.push(6); // woken by the power switch
    system.extend_from_slice(&[0, 0]); // no SKU, no family
    let mut t = structure(
        0,
        0,
        &bios,
        &["xlat", env!("CARGO_PKG_VERSION"), "01/01/2026"],
    );
    t.extend(structure(
        1,
        1,
        &system,
        &["xlat", "xlat PC", env!("CARGO_PKG_VERSION")],
    ));
    t.extend(structure(127, 2, &[], &[]));
    (t, 3)
}

/// The 31-byte SMBIOS 2.8 entry point for `table` at `table_addr`.
pub fn entry_point(table: &[u8], count: u16, table_addr: u32) -> [u8; 31] {
    let mut e = [0u8; 31];
    e[0..4].copy_from_slice(b"_SM_");
    e[5] = 31;
    e[6] = 2;
    e[7] = 8;
    // The largest structure: the table is small, its length bounds it.
    e[8..10].copy_from_slice(&(table.len() as u16).to_le_bytes());
    e[16..21].copy_from_slice(b"_DMI_");
    e[22..24].copy_from_slice(&(table.len() as u16).to_le_bytes());
    e[24..28].copy_from_slice(&table_addr.to_le_bytes());
    e[28..30].copy_from_slice(&count.to_le_bytes());
    e[30] = 0x28;
    let sum = |b: &[u8]| b.iter().fold(0u8, |a, &x| a.wrapping_add(x));
    e[21] = sum(&e[16..31]).wrapping_neg();
    e[4] = sum(&e).wrapping_neg();
    e
}

/// Makes 0xF0000-0xFFFFF shadow RAM (the host bridge's PAM0, as firmware
/// leaves it) and writes the entry point and table there.
pub fn install(mem: &mut GuestMemory, io: &mut PortBus) {
    // PAM0 (config 0x59) bits 5:4 = 11: reads and writes go to DRAM.
    io.write(0xcf8, 4, 0x8000_0058);
    io.write(0xcfd, 1, 0x30);
    let mut pam = mem.pam();
    pam.0[0] = 0x30;
    mem.set_pam(Pam(pam.0));
    let (t, count) = table();
    mem.write_bytes(ENTRY_ADDR, &entry_point(&t, count, TABLE_ADDR as u32));
    mem.write_bytes(TABLE_ADDR, &t);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_point_checksums_and_fields() {
        let (t, count) = table();
        let e = entry_point(&t, count, TABLE_ADDR as u32);
        assert_eq!(e.iter().fold(0u8, |a, &x| a.wrapping_add(x)), 0);
        assert_eq!(e[16..31].iter().fold(0u8, |a, &x| a.wrapping_add(x)), 0);
        assert_eq!(&e[0..4], b"_SM_");
        assert_eq!(u16::from_le_bytes([e[22], e[23]]) as usize, t.len());
        assert_eq!(count, 3);
    }

    #[test]
    fn structures_end_in_double_nuls() {
        let (t, _) = table();
        // Walk the table as a reader does: formatted length, then strings.
        let mut at = 0;
        let mut kinds = Vec::new();
        while at < t.len() {
            kinds.push(t[at]);
            let mut i = at + t[at + 1] as usize;
            while !(t[i] == 0 && t[i + 1] == 0) {
                i += 1;
            }
            at = i + 2;
        }
        assert_eq!(kinds, [0, 1, 127]);
        assert_eq!(at, t.len());
        assert_eq!(t[1], 0x18, "type 0 length for SMBIOS 2.4+");
    }

    #[test]
    fn install_shadows_the_bios_area_and_writes_the_anchor() {
        let mut mem = GuestMemory::new(1 << 20).unwrap();
        mem.add_rom(0xe_0000, vec![0xaa; 0x2_0000]);
        let mut io = PortBus::default();
        install(&mut mem, &mut io);
        let mut anchor = [0u8; 4];
        mem.read_bytes(ENTRY_ADDR, &mut anchor);
        assert_eq!(&anchor, b"_SM_");
        assert_eq!(mem.read(0xe_0000, 1), 0xaa, "E0000 still ROM");
    }
}

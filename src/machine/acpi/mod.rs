//! ACPI tables for direct kernel boot, built with the `acpi_tables` crate
//! the way firmware leaves them in memory (ACPI 6.5 ch. 5): an RSDP in the
//! EBDA (where an OS scans for it) pointing at an RSDT and an XSDT, which
//! list the FADT (which names the FACS and the DSDT), the MADT and the HPET
//! table. The tables live in E820 "ACPI" memory at the top of low RAM, the
//! FACS in "NVS" memory above them. Firmware that boots the machine gets
//! the same tables over fw_cfg with a linker/loader script
//! (`machine::fw_cfg_tables`, `loader`) and places them itself.

mod dsdt;
pub mod firmware;
pub mod loader;
mod tables;

pub use dsdt::s5_package;
pub use tables::{fadt, hpet, madt};

use crate::mem::GuestMemory;
use acpi_tables::rsdp::Rsdp;
use acpi_tables::sdt::Sdt;
use acpi_tables::xsdt::XSDT;
use acpi_tables::Aml;

/// OEM ID and OEM table ID of every table.
pub const OEM_ID: [u8; 6] = *b"XLAT  ";
pub const OEM_TABLE_ID: [u8; 8] = *b"XLATPC  ";

/// Bytes of E820 "ACPI" memory for the tables (the DSDT is the bulk).
pub const TABLES_SIZE: u64 = 0xf000;
/// Bytes of E820 "NVS" memory for the FACS.
pub const NVS_SIZE: u64 = 0x1000;
/// The EBDA's first KiB, which an OS scans for the RSDP; the BDA word at
/// 0x40E holds its segment.
pub const EBDA: u64 = 0x9_fc00;
const BDA_EBDA_SEGMENT: u64 = 0x40e;

/// What the tables describe: the board as the machine built it.
#[derive(Clone, Debug)]
pub struct AcpiBoard {
    /// Local APIC IDs of the vCPUs, the BSP first.
    pub apic_ids: Vec<u8>,
    pub ioapic_id: u8,
    pub ioapic_address: u32,
    pub lapic_address: u32,
    /// The HPET's general capabilities register, low half (the HPET
    /// table's event timer block ID).
    pub hpet_block_id: u32,
    pub hpet_address: u64,
    /// The PIIX4 PM function's I/O base (PMBA).
    pub pm_base: u16,
    /// ISA IRQ of the SCI.
    pub sci_irq: u8,
    /// The 32-bit PCI memory window (first, last byte).
    pub pci_hole: (u32, u32),
    /// I/O APIC pin of PIRQA (PIRQB-D follow).
    pub pirq_gsi_base: u32,
}

impl AcpiBoard {
    /// The GSI a PCI slot's INTx (`pin` 0 = INTA) reaches: the i440FX/PIIX
    /// swizzle (slot + pin - 1) mod 4 picks the PIRQ line.
    pub fn pci_intx_gsi(&self, slot: u8, pin: u8) -> u32 {
        self.pirq_gsi_base + ((slot as u32 + pin as u32 + 3) & 3)
    }
}

/// The tables, laid out for their addresses.
#[derive(Clone, Debug)]
pub struct AcpiTables {
    /// The 36-byte RSDP, for [`EBDA`].
    pub rsdp: Vec<u8>,
    /// Every table but the FACS, for `tables_base`.
    pub tables: Vec<u8>,
    pub tables_base: u64,
    /// The FACS, for `facs_base`.
    pub facs: Vec<u8>,
    pub facs_base: u64,
}

fn bytes(table: &dyn Aml) -> Vec<u8> {
    let mut v = Vec::new();
    table.to_aml_bytes(&mut v);
    v
}

/// The sum of `data`'s bytes, which is 0 for a table with a right checksum.
pub fn byte_sum(data: &[u8]) -> u8 {
    data.iter().fold(0u8, |a, b| a.wrapping_add(*b))
}

/// Builds the tables for the given places: the ACPI tables from
/// `tables_base` (at most [`TABLES_SIZE`] bytes), the FACS at `facs_base`
/// (64-byte aligned).
pub fn build(board: &AcpiBoard, tables_base: u64, facs_base: u64) -> AcpiTables {
    let mut blob = Vec::new();
    let mut place = |table: Vec<u8>| {
        // Tables are 16-byte aligned, as firmware does.
        blob.resize(blob.len().next_multiple_of(16), 0);
        let at = tables_base + blob.len() as u64;
        blob.extend_from_slice(&table);
        at
    };
    let dsdt = place(tables::dsdt(board));
    let fadt_at = place(bytes(&fadt(board, dsdt, facs_base)));
    let madt_at = place(madt(board).as_slice().to_vec());
    let hpet_at = place(hpet(board).as_slice().to_vec());
    let entries = [fadt_at, madt_at, hpet_at];

    let mut xsdt = XSDT::new(OEM_ID, OEM_TABLE_ID, 1);
    let mut rsdt = Sdt::new(*b"RSDT", 36, 1, OEM_ID, OEM_TABLE_ID, 1);
    for &e in &entries {
        xsdt.add_entry(e);
        rsdt.append_slice(&(e as u32).to_le_bytes());
    }
    let xsdt_at = place(bytes(&xsdt));
    let rsdt_at = place(rsdt.as_slice().to_vec());
    assert!(
        blob.len() as u64 <= TABLES_SIZE,
        "ACPI tables outgrew their region"
    );

    // The crate's RSDP has no RSDT address: put it in and redo both
    // checksums (the first over the ACPI 1.0 part, bytes 0-19).
    let mut rsdp = bytes(&Rsdp::new(OEM_ID, xsdt_at));
    rsdp[16..20].copy_from_slice(&(rsdt_at as u32).to_le_bytes());
    rsdp[8] = 0;
    rsdp[8] = byte_sum(&rsdp[..20]).wrapping_neg();
    rsdp[32] = 0;
    rsdp[32] = byte_sum(&rsdp).wrapping_neg();

    AcpiTables {
        rsdp,
        tables: blob,
        tables_base,
        facs: bytes(&acpi_tables::facs::FACS::new()),
        facs_base,
    }
}

/// Writes the tables into guest RAM and points the BDA at the EBDA.
pub fn install(mem: &mut GuestMemory, t: &AcpiTables) {
    mem.write_bytes(t.tables_base, &t.tables);
    mem.write_bytes(t.facs_base, &t.facs);
    mem.write_bytes(EBDA, &t.rsdp);
    mem.write(BDA_EBDA_SEGMENT, 2, EBDA >> 4);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A one-CPU board like the platform's, for tests here and in
    /// `fw_cfg_tables`.
    pub(crate) fn board() -> AcpiBoard {
        AcpiBoard {
            apic_ids: vec![0],
            ioapic_id: 0,
            ioapic_address: 0xfec0_0000,
            lapic_address: 0xfee0_0000,
            hpet_block_id: 0x8086_a201,
            hpet_address: 0xfed0_0000,
            pm_base: 0x600,
            sci_irq: 9,
            pci_hole: (0x1000_0000, 0xfebf_ffff),
            pirq_gsi_base: 16,
        }
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    /// The table at guest address `addr` in `t`.
    fn table(t: &AcpiTables, addr: u64) -> &[u8] {
        let off = (addr - t.tables_base) as usize;
        let len = u32_at(&t.tables, off + 4) as usize;
        &t.tables[off..off + len]
    }

    #[test]
    fn rsdp_points_at_rsdt_and_xsdt_with_valid_checksums() {
        let t = build(&board(), 0xff_0000, 0xff_f000);
        assert_eq!(&t.rsdp[..8], b"RSD PTR ");
        assert_eq!(t.rsdp.len(), 36);
        assert_eq!(t.rsdp[15], 2, "revision 2: XSDT present");
        assert_eq!(byte_sum(&t.rsdp[..20]), 0);
        assert_eq!(byte_sum(&t.rsdp), 0);
        let rsdt = table(&t, u32_at(&t.rsdp, 16) as u64);
        let xsdt = table(&t, u64_at(&t.rsdp, 24));
        assert_eq!(&rsdt[..4], b"RSDT");
        assert_eq!(&xsdt[..4], b"XSDT");
        assert_eq!((rsdt.len(), xsdt.len()), (36 + 3 * 4, 36 + 3 * 8));
        let mut sigs = Vec::new();
        for i in 0..3 {
            let via_x = u64_at(xsdt, 36 + 8 * i);
            assert_eq!(via_x, u32_at(rsdt, 36 + 4 * i) as u64);
            let tbl = table(&t, via_x);
            assert_eq!(byte_sum(tbl), 0, "checksum of {:?}", &tbl[..4]);
            sigs.push(tbl[..4].to_vec());
        }
        assert_eq!(sigs, [b"FACP".to_vec(), b"APIC".to_vec(), b"HPET".to_vec()]);
        assert_eq!((byte_sum(rsdt), byte_sum(xsdt)), (0, 0));
    }

    #[test]
    fn fadt_names_the_dsdt_and_facs() {
        let t = build(&board(), 0xff_0000, 0xff_f000);
        let fadt = table(&t, u64_at(table(&t, u64_at(&t.rsdp, 24)), 36));
        assert_eq!(u32_at(fadt, 36), 0xff_f000, "FIRMWARE_CTRL");
        let dsdt_at = u32_at(fadt, 40) as u64;
        assert_eq!(u64_at(fadt, 140), dsdt_at, "X_DSDT");
        let dsdt = table(&t, dsdt_at);
        assert_eq!(&dsdt[..4], b"DSDT");
        assert_eq!(byte_sum(dsdt), 0);
        assert!(dsdt.windows(12).any(|w| w == s5_package().as_slice()));
        assert_eq!(&t.facs[..4], b"FACS");
        assert_eq!(u32_at(&t.facs, 4), 64);
    }

    #[test]
    fn install_puts_the_rsdp_where_an_os_scans() {
        let mut mem = GuestMemory::new(32 << 20).unwrap();
        let t = build(&board(), 0x1ff_0000, 0x1ff_f000);
        install(&mut mem, &t);
        let segment = mem.read(BDA_EBDA_SEGMENT, 2);
        let mut sig = [0u8; 8];
        mem.read_bytes(segment << 4, &mut sig);
        assert_eq!(&sig, b"RSD PTR ");
        let mut facs = [0u8; 4];
        mem.read_bytes(0x1ff_f000, &mut facs);
        assert_eq!(&facs, b"FACS");
    }
}

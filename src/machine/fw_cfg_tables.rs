//! xlat's ACPI and SMBIOS tables for firmware that boots the machine
//! (SeaBIOS), handed over fw_cfg the way QEMU hands over its own: the ACPI
//! tables as "etc/acpi/tables" and "etc/acpi/rsdp" with a linker/loader
//! script ("etc/table-loader") that places them and links them, and the
//! SMBIOS structures with their entry point ("etc/smbios/smbios-tables",
//! "etc/smbios/smbios-anchor"), which SeaBIOS copies and completes. These
//! are the tables direct kernel boot writes itself (`acpi`, `smbios`).

use super::acpi::loader::{LoaderScript, Zone};
use super::acpi::{self, AcpiBoard};
use super::smbios;
use crate::devices::fw_cfg::{FwCfg, FwCfgError};

pub const ACPI_TABLES: &str = "etc/acpi/tables";
pub const ACPI_RSDP: &str = "etc/acpi/rsdp";
pub const TABLE_LOADER: &str = "etc/table-loader";
pub const SMBIOS_TABLES: &str = "etc/smbios/smbios-tables";
pub const SMBIOS_ANCHOR: &str = "etc/smbios/smbios-anchor";

/// The FACS opens "etc/acpi/tables" (it must be 64-byte aligned, so the
/// file is allocated so); the other tables follow it.
const FACS_SIZE: u64 = 64;

/// ACPI table header: length at 4, checksum at 9; 36 bytes in all.
const HEADER: usize = 36;
/// FADT pointer fields (ACPI 6.5 table 5.9): FIRMWARE_CTRL, DSDT (32-bit),
/// X_FIRMWARE_CTRL, X_DSDT (64-bit).
const FADT_FIRMWARE_CTRL: usize = 36;
const FADT_DSDT: usize = 40;
const FADT_X_FIRMWARE_CTRL: usize = 132;
const FADT_X_DSDT: usize = 140;

fn le(data: &[u8], at: usize, size: usize) -> u64 {
    let mut v = [0u8; 8];
    v[..size].copy_from_slice(&data[at..at + size]);
    u64::from_le_bytes(v)
}

/// The three ACPI files: (tables, rsdp, loader script). Every pointer in
/// them holds an offset into the tables file, which the script's
/// ADD_POINTER commands turn into an address.
pub fn acpi_files(board: &AcpiBoard) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let built = acpi::build(board, FACS_SIZE, 0);
    let mut tables = built.facs.clone();
    assert_eq!(tables.len() as u64, FACS_SIZE, "FACS size");
    tables.extend_from_slice(&built.tables);
    let rsdp = built.rsdp;

    let mut script = LoaderScript::default();
    script.allocate(ACPI_TABLES, FACS_SIZE as u32, Zone::High);
    script.allocate(ACPI_RSDP, 16, Zone::FSeg);
    // Follow the links from the RSDP as an OS would, noting each pointer
    // and each table that needs its checksum redone.
    let mut pointer = |dest: &str, at: usize, size: u8, data: &[u8]| {
        script.add_pointer(dest, ACPI_TABLES, at as u32, size);
        le(data, at, size as usize) as usize
    };
    let mut linked = vec![pointer(ACPI_RSDP, 16, 4, &rsdp)];
    let xsdt = pointer(ACPI_RSDP, 24, 8, &rsdp);
    linked.push(xsdt);
    let rsdt = linked[0];
    let mut described = Vec::new();
    for (table, width) in [(rsdt, 4usize), (xsdt, 8)] {
        let len = le(&tables, table + 4, 4) as usize;
        for at in (table + HEADER..table + len).step_by(width) {
            let target = pointer(ACPI_TABLES, at, width as u8, &tables);
            if !described.contains(&target) {
                described.push(target);
            }
        }
    }
    for &table in &described {
        if &tables[table..table + 4] == b"FACP" {
            // FIRMWARE_CTRL and DSDT always point (the FACS may sit at
            // offset 0); the X_ fields only when set.
            pointer(ACPI_TABLES, table + FADT_FIRMWARE_CTRL, 4, &tables);
            let dsdt = pointer(ACPI_TABLES, table + FADT_DSDT, 4, &tables);
            for field in [FADT_X_FIRMWARE_CTRL, FADT_X_DSDT] {
                if le(&tables, table + field, 8) != 0 {
                    pointer(ACPI_TABLES, table + field, 8, &tables);
                }
            }
            linked.push(dsdt);
        }
    }
    linked.extend(described);
    for table in linked {
        let len = le(&tables, table + 4, 4) as u32;
        script.add_checksum(ACPI_TABLES, table as u32 + 9, table as u32, len);
    }
    // The ACPI 1.0 checksum first: the extended one covers it.
    script.add_checksum(ACPI_RSDP, 8, 0, 20);
    script.add_checksum(ACPI_RSDP, 32, 0, rsdp.len() as u32);
    (tables, rsdp, script.to_bytes())
}

/// The SMBIOS files: the structure table and its 2.8 entry point, whose
/// table address (and so its checksums) the firmware fills in.
pub fn smbios_files() -> (Vec<u8>, Vec<u8>) {
    let (table, count) = smbios::table();
    let anchor = smbios::entry_point(&table, count, 0).to_vec();
    (table, anchor)
}

/// Offers the tables describing `board` to the firmware.
pub fn install(cfg: &mut FwCfg, board: &AcpiBoard) -> Result<(), FwCfgError> {
    let (tables, rsdp, script) = acpi_files(board);
    cfg.add_file(ACPI_TABLES, tables)?;
    cfg.add_file(ACPI_RSDP, rsdp)?;
    cfg.add_file(TABLE_LOADER, script)?;
    let (table, anchor) = smbios_files();
    cfg.add_file(SMBIOS_TABLES, table)?;
    cfg.add_file(SMBIOS_ANCHOR, anchor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::acpi::byte_sum;
    use crate::machine::acpi::loader::{Command, ENTRY_SIZE};
    use crate::machine::acpi::tests::board;
    use std::collections::BTreeMap;

    fn commands(script: &[u8]) -> Vec<Command> {
        assert_eq!(script.len() % ENTRY_SIZE, 0);
        script
            .chunks(ENTRY_SIZE)
            .map(|e| Command::decode(e.try_into().unwrap()).expect("known command"))
            .collect()
    }

    /// Runs the script as SeaBIOS's romfile_loader does, placing files at
    /// the given addresses; returns each file's final bytes and address.
    fn run_loader(
        script: &[u8],
        files: &[(&str, Vec<u8>)],
        mut next_high: u64,
        mut next_fseg: u64,
    ) -> BTreeMap<String, (u64, Vec<u8>)> {
        let mut placed: BTreeMap<String, (u64, Vec<u8>)> = BTreeMap::new();
        for c in commands(script) {
            match c {
                Command::Allocate { file, align, zone } => {
                    let data = files.iter().find(|f| f.0 == file).unwrap().1.clone();
                    let next = match zone {
                        Zone::High => &mut next_high,
                        Zone::FSeg => &mut next_fseg,
                    };
                    let at = next.next_multiple_of(align as u64);
                    *next = at + data.len() as u64;
                    placed.insert(file, (at, data));
                }
                Command::AddPointer {
                    dest,
                    src,
                    offset,
                    size,
                } => {
                    let base = placed[&src].0;
                    let d = &mut placed.get_mut(&dest).unwrap().1;
                    let (at, n) = (offset as usize, size as usize);
                    let v = le(d, at, n).wrapping_add(base);
                    d[at..at + n].copy_from_slice(&v.to_le_bytes()[..n]);
                }
                Command::AddChecksum {
                    file,
                    offset,
                    start,
                    length,
                } => {
                    let d = &mut placed.get_mut(&file).unwrap().1;
                    let sum = byte_sum(&d[start as usize..(start + length) as usize]);
                    d[offset as usize] = d[offset as usize].wrapping_sub(sum);
                }
            }
        }
        placed
    }

    /// The table at guest address `addr` in the placed tables file.
    fn table_at(placed: &BTreeMap<String, (u64, Vec<u8>)>, addr: u64) -> &[u8] {
        let (base, data) = &placed[ACPI_TABLES];
        let at = (addr - base) as usize;
        let len = le(data, at + 4, 4) as usize;
        &data[at..at + len]
    }

    #[test]
    fn script_allocates_then_links_then_checksums() {
        let (tables, rsdp, script) = acpi_files(&board());
        let cmds = commands(&script);
        assert_eq!(
            cmds[0],
            Command::Allocate {
                file: ACPI_TABLES.into(),
                align: 64,
                zone: Zone::High
            }
        );
        assert_eq!(
            cmds[1],
            Command::Allocate {
                file: ACPI_RSDP.into(),
                align: 16,
                zone: Zone::FSeg
            }
        );
        // The RSDP's two pointers: RSDT (4 bytes at 16), XSDT (8 at 24).
        let rsdp_ptrs: Vec<_> = cmds
            .iter()
            .filter_map(|c| match c {
                Command::AddPointer {
                    dest, offset, size, ..
                } if dest == ACPI_RSDP => Some((*offset, *size)),
                _ => None,
            })
            .collect();
        assert_eq!(rsdp_ptrs, [(16, 4), (24, 8)]);
        // Every pointer points into the tables file and lies inside its
        // destination; every checksum comes after every pointer.
        let last_pointer = cmds
            .iter()
            .rposition(|c| matches!(c, Command::AddPointer { .. }))
            .unwrap();
        let mut checksums = Vec::new();
        for (i, c) in cmds.iter().enumerate() {
            match c {
                Command::AddPointer {
                    dest,
                    src,
                    offset,
                    size,
                } => {
                    assert_eq!(src, ACPI_TABLES);
                    let len = if dest == ACPI_RSDP {
                        rsdp.len()
                    } else {
                        tables.len()
                    };
                    assert!(*offset as usize + *size as usize <= len);
                    let data = if dest == ACPI_RSDP { &rsdp } else { &tables };
                    assert!(le(data, *offset as usize, *size as usize) < tables.len() as u64);
                }
                Command::AddChecksum {
                    file,
                    offset,
                    start,
                    length,
                } => {
                    assert!(i > last_pointer);
                    checksums.push((file.clone(), *offset, *start, *length));
                }
                Command::Allocate { .. } => assert!(i < 2),
            }
        }
        // Each table's checksum byte (offset 9) over its own length; the
        // RSDP's two last.
        let n = checksums.len();
        assert_eq!(checksums[n - 2], (ACPI_RSDP.into(), 8, 0, 20));
        assert_eq!(checksums[n - 1], (ACPI_RSDP.into(), 32, 0, 36));
        let mut sigs: Vec<String> = checksums[..n - 2]
            .iter()
            .map(|(file, offset, start, length)| {
                assert_eq!(file, ACPI_TABLES);
                assert_eq!(*offset, start + 9);
                let s = *start as usize;
                assert_eq!(le(&tables, s + 4, 4), *length as u64);
                String::from_utf8(tables[s..s + 4].to_vec()).unwrap()
            })
            .collect();
        sigs.sort();
        assert_eq!(sigs, ["APIC", "DSDT", "FACP", "HPET", "RSDT", "XSDT"]);
    }

    #[test]
    fn loaded_tables_link_up_with_valid_checksums() {
        let (tables, rsdp, script) = acpi_files(&board());
        let files = [(ACPI_TABLES, tables), (ACPI_RSDP, rsdp)];
        let placed = run_loader(&script, &files, 0x7ff_0010, 0xf_5a30);
        let (rsdp_at, rsdp) = &placed[ACPI_RSDP];
        assert_eq!(rsdp_at % 16, 0);
        assert_eq!(&rsdp[..8], b"RSD PTR ");
        assert_eq!((byte_sum(&rsdp[..20]), byte_sum(rsdp)), (0, 0));
        let tables_at = placed[ACPI_TABLES].0;
        assert_eq!(tables_at % 64, 0);
        let rsdt = table_at(&placed, le(rsdp, 16, 4));
        let xsdt = table_at(&placed, le(rsdp, 24, 8));
        assert_eq!((&rsdt[..4], &xsdt[..4]), (&b"RSDT"[..], &b"XSDT"[..]));
        let mut sigs = Vec::new();
        for i in 0..(xsdt.len() - HEADER) / 8 {
            let addr = le(xsdt, HEADER + 8 * i, 8);
            assert_eq!(addr, le(rsdt, HEADER + 4 * i, 4));
            let t = table_at(&placed, addr);
            assert_eq!(byte_sum(t), 0, "checksum of {:?}", &t[..4]);
            sigs.push(t[..4].to_vec());
        }
        assert_eq!(sigs, [b"FACP".to_vec(), b"APIC".to_vec(), b"HPET".to_vec()]);
        let fadt = table_at(&placed, le(xsdt, HEADER, 8));
        assert_eq!(le(fadt, FADT_FIRMWARE_CTRL, 4), tables_at, "FACS first");
        let facs = &placed[ACPI_TABLES].1[..64];
        assert_eq!(&facs[..4], b"FACS");
        let dsdt_at = le(fadt, FADT_DSDT, 4);
        assert_eq!(le(fadt, FADT_X_DSDT, 8), dsdt_at);
        let x_facs = le(fadt, FADT_X_FIRMWARE_CTRL, 8);
        assert!(x_facs == 0 || x_facs == tables_at);
        let dsdt = table_at(&placed, dsdt_at);
        assert_eq!(&dsdt[..4], b"DSDT");
        assert_eq!(byte_sum(dsdt), 0);
        assert!(dsdt.windows(12).any(|w| w == acpi::s5_package().as_slice()));
        // The same tables as direct boot's, where they do not hold addresses.
        let direct = acpi::build(&board(), 0x10_0000, 0x20_0000);
        let madt = table_at(&placed, le(xsdt, HEADER + 8, 8));
        assert!(direct.tables.windows(madt.len()).any(|w| w == madt));
    }

    #[test]
    fn smbios_anchor_describes_the_table_file() {
        let (table, anchor) = smbios_files();
        // SeaBIOS takes a 31-byte (2.x) anchor whose table length matches
        // the tables file, and fills in the address and checksums.
        assert_eq!(anchor.len(), 31);
        assert_eq!(&anchor[..4], b"_SM_");
        assert_eq!(le(&anchor, 22, 2) as usize, table.len());
        assert_eq!(le(&anchor, 28, 2), 3, "structure count");
        assert_eq!(table[0], 0, "type 0 first: the firmware keeps ours");
    }

    #[test]
    fn install_offers_every_file() {
        let mut cfg = FwCfg::new();
        install(&mut cfg, &board()).unwrap();
        for name in [
            ACPI_TABLES,
            ACPI_RSDP,
            TABLE_LOADER,
            SMBIOS_TABLES,
            SMBIOS_ANCHOR,
        ] {
            assert!(cfg.file(name).is_some_and(|d| !d.is_empty()), "{name}");
        }
        assert!(install(&mut cfg, &board()).is_err(), "only once");
    }
}

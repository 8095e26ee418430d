//! The E820 memory map a PC's firmware reports (INT 15h AX=E820h, and the
//! Linux boot protocol's boot_params.e820_table).

/// E820 region types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum E820Type {
    Ram = 1,
    Reserved = 2,
    Acpi = 3,
    Nvs = 4,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Entry {
    pub addr: u64,
    pub size: u64,
    pub kind: E820Type,
}

/// Where the 32-bit PCI hole starts: RAM above this moves above 4 GiB, as
/// on QEMU's i440FX machine.
pub const PCI_HOLE_START: u64 = 0xe000_0000;

/// The map for `ram` bytes of RAM: conventional memory below the EBDA, the
/// legacy video/ROM hole, extended memory (minus, at its top, `acpi` bytes
/// of ACPI tables and above them `nvs` bytes of ACPI NVS memory), the PCI
/// hole with the chipset's MMIO, and RAM above 4 GiB.
pub fn pc_memory_map(ram: u64, acpi: u64, nvs: u64) -> Vec<E820Entry> {
    let mut map = vec![
        E820Entry {
            addr: 0,
            size: 0x9_fc00,
            kind: E820Type::Ram,
        },
        // The EBDA and the VGA/option-ROM/BIOS area.
        E820Entry {
            addr: 0x9_fc00,
            size: 0x400,
            kind: E820Type::Reserved,
        },
        E820Entry {
            addr: 0xf_0000,
            size: 0x1_0000,
            kind: E820Type::Reserved,
        },
    ];
    let low_end = ram.min(PCI_HOLE_START);
    if low_end > 0x10_0000 {
        let nvs = nvs.min(low_end - 0x10_0000);
        let tables = acpi.min(low_end - 0x10_0000 - nvs);
        let ram_end = low_end - nvs - tables;
        map.push(E820Entry {
            addr: 0x10_0000,
            size: ram_end - 0x10_0000,
            kind: E820Type::Ram,
        });
        for (addr, size, kind) in [
            (ram_end, tables, E820Type::Acpi),
            (low_end - nvs, nvs, E820Type::Nvs),
        ] {
            if size > 0 {
                map.push(E820Entry { addr, size, kind });
            }
        }
    }
    // The I/O APIC, HPET, local APIC and the firmware flash.
    map.push(E820Entry {
        addr: 0xfec0_0000,
        size: 0x1_0000_0000 - 0xfec0_0000,
        kind: E820Type::Reserved,
    });
    if ram > PCI_HOLE_START {
        map.push(E820Entry {
            addr: 1 << 32,
            size: ram - PCI_HOLE_START,
            kind: E820Type::Ram,
        });
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_machine_map() {
        let m = pc_memory_map(256 << 20, 0xf000, 0x1000);
        assert_eq!(m[0].size, 0x9_fc00);
        let ext = m.iter().find(|e| e.addr == 0x10_0000).unwrap();
        assert_eq!(ext.size, (255 << 20) - 0x1_0000);
        let acpi = m.iter().find(|e| e.kind == E820Type::Acpi).unwrap();
        assert_eq!((acpi.addr, acpi.size), ((256 << 20) - 0x1_0000, 0xf000));
        let nvs = m.iter().find(|e| e.kind == E820Type::Nvs).unwrap();
        assert_eq!((nvs.addr, nvs.size), ((256 << 20) - 0x1000, 0x1000));
        assert!(!m.iter().any(|e| e.addr >= 1 << 32));
    }

    #[test]
    fn ram_beyond_the_pci_hole_moves_above_4g() {
        let m = pc_memory_map(6 << 30, 0, 0);
        let high = m.iter().find(|e| e.addr == 1 << 32).unwrap();
        assert_eq!(high.size, (6 << 30) - PCI_HOLE_START);
    }
}

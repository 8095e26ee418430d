//! What a PC's firmware does for ACPI before it hands over to an OS, done
//! for direct kernel boot: enable the PIIX4 PM I/O block at its base, turn
//! on SCI_EN (the kernel starts in ACPI mode, as if it had written
//! ACPI_ENABLE to SMI_CMD), and describe the board in tables placed in
//! RAM. Devices are programmed and read through their guest-visible
//! registers, as firmware would.

use super::{build, install, AcpiBoard, NVS_SIZE, TABLES_SIZE};
use crate::devices::bus::PortBus;
use crate::devices::hpet::HPET_BASE;
use crate::devices::ioapic::IOAPIC_BASE;
use crate::devices::lapic::LAPIC_BASE;
use crate::machine::e820::PCI_HOLE_START;
use crate::mem::GuestMemory;

/// The PM I/O block's base (PMBA), where QEMU's firmware puts it too.
pub const PM_BASE: u16 = 0x600;
/// The PIIX4 PM function's place on bus 0 and its registers.
const PM_FUNCTION: u32 = 1 << 11 | 3 << 8;
const PMBA: u32 = 0x40;
const PMREGMISC: u32 = 0x80;
const PMIOSE: u32 = 1;
/// PM1a control: SCI_EN.
const SCI_EN: u32 = 1;
/// The ACPI SCI's ISA IRQ (the PIIX4's is fixed at 9).
const SCI_IRQ: u8 = 9;
/// PIRQA-D reach I/O APIC pins 16-19 (see `platform`).
const PIRQ_GSI_BASE: u32 = 16;

fn pci_config_write(io: &mut PortBus, reg: u32, size: u8, value: u32) {
    io.write(0xcf8, 4, 0x8000_0000 | PM_FUNCTION | reg);
    io.write(0xcfc + (reg & 3) as u16, size, value);
}

/// Where the tables go in `ram` bytes of RAM: (tables, FACS), at the top of
/// memory below the PCI hole; None if RAM is too small to spare them.
pub fn placement(ram: u64) -> Option<(u64, u64)> {
    let top = ram.min(PCI_HOLE_START);
    let base = top.checked_sub(TABLES_SIZE + NVS_SIZE)?;
    (base >= 0x20_0000).then_some((base, top - NVS_SIZE))
}

/// The board as its devices describe themselves, read through their
/// registers: the I/O APIC's ID (index 0, bits 27:24) and the HPET's
/// capabilities (offset 0, low half). The PM block is where firmware puts
/// it ([`PM_BASE`]; SeaBIOS moves it there when it finds a table loader).
pub fn board(mem: &mut GuestMemory, apic_ids: &[u8]) -> AcpiBoard {
    mem.write(IOAPIC_BASE, 4, 0);
    let ioapic_id = (mem.read(IOAPIC_BASE + 0x10, 4) >> 24) as u8 & 0xf;
    let hpet_block_id = mem.read(HPET_BASE, 4) as u32;
    let top = mem.ram_size().min(PCI_HOLE_START);
    AcpiBoard {
        apic_ids: apic_ids.to_vec(),
        ioapic_id,
        ioapic_address: IOAPIC_BASE as u32,
        lapic_address: LAPIC_BASE as u32,
        hpet_block_id,
        hpet_address: HPET_BASE,
        pm_base: PM_BASE,
        sci_irq: SCI_IRQ,
        pci_hole: (top as u32, IOAPIC_BASE as u32 - 1),
        pirq_gsi_base: PIRQ_GSI_BASE,
    }
}

/// Sets up the PM function, builds the tables for a board whose vCPUs
/// have `apic_ids` and installs them. Returns false (and does nothing) if
/// RAM is too small for them.
pub fn prepare(mem: &mut GuestMemory, io: &mut PortBus, apic_ids: &[u8]) -> bool {
    let Some((tables_base, facs_base)) = placement(mem.ram_size()) else {
        return false;
    };
    pci_config_write(io, PMBA, 4, PM_BASE as u32 | 1);
    pci_config_write(io, PMREGMISC, 1, PMIOSE);
    io.write(PM_BASE + 4, 2, SCI_EN);
    let board = board(mem, apic_ids);
    install(mem, &build(&board, tables_base, facs_base));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::clock::VirtualClock;
    use crate::machine::platform::Platform;

    #[test]
    fn firmware_setup_enables_the_pm_block_and_describes_the_devices() {
        let clock = VirtualClock::deterministic();
        let mut io = PortBus::default();
        io.clock = Some(clock.clone());
        let mut mem = GuestMemory::new(64 << 20).unwrap();
        let p = Platform::build(
            &mut io,
            &mut mem,
            &clock,
            64 << 20,
            Box::new(std::io::sink()),
            crate::devices::vga::VgaModel::Std,
        )
        .unwrap();
        assert_eq!(io.read(PM_BASE + 4, 2), 0xffff, "PM block off at reset");
        assert!(prepare(&mut mem, &mut io, &[0]));
        assert_eq!(p.pm.lock().unwrap().io_base(), Some(PM_BASE));
        assert_eq!(io.read(PM_BASE + 4, 2) & 1, 1, "SCI_EN");
        let (tables, facs) = placement(64 << 20).unwrap();
        assert_eq!(facs, (64 << 20) - 0x1000);
        let mut sig = [0u8; 4];
        mem.read_bytes(tables, &mut sig);
        assert_eq!(&sig, b"DSDT");
        // The HPET table carries the device's own capabilities.
        let cap = mem.read(HPET_BASE, 4) as u32;
        assert_ne!(cap, 0);
        let mut image = vec![0u8; (super::TABLES_SIZE) as usize];
        mem.read_bytes(tables, &mut image);
        let mut found = false;
        for at in (0..image.len() - 40).step_by(16) {
            if &image[at..at + 4] == b"HPET" {
                found = u32::from_le_bytes(image[at + 36..at + 40].try_into().unwrap()) == cap;
            }
        }
        assert!(found);
        // A (power-off) write of SLP_TYP S5 | SLP_EN then reaches the board.
        io.write(PM_BASE + 4, 2, 1 << 13);
        assert!(p.control.take_poweroff_request());
    }

    #[test]
    fn too_little_ram_gets_no_tables() {
        assert_eq!(placement(1 << 20), None);
    }
}

//! The fixed-layout tables: FADT, MADT, HPET, and the DSDT's header.

use super::{AcpiBoard, OEM_ID, OEM_TABLE_ID};
use crate::devices::apm;
use acpi_tables::fadt::{FADTBuilder, Flags, PmProfile, FADT};
use acpi_tables::gas::{AccessSize, AddressSpace, GAS};
use acpi_tables::sdt::Sdt;

/// PIIX4 PM I/O block layout (datasheet 11.7.3): PM1a event block (status
/// and enable, 4 bytes), PM1a control (2), PM timer (4), GPE0 (4).
const PM1_EVT: u16 = 0x0;
const PM1_CNT: u16 = 0x4;
const PM_TMR: u16 = 0x8;
const GPE0: u16 = 0xc;
const PM1_EVT_LEN: u8 = 4;
const PM1_CNT_LEN: u8 = 2;
const PM_TMR_LEN: u8 = 4;
const GPE0_LEN: u8 = 4;

/// The PIIX reset control register and the value that resets the board.
const RESET_PORT: u64 = 0xcf9;
const RESET_VALUE: u8 = 0x06;

/// IAPC_BOOT_ARCH: LEGACY_DEVICES and 8042 (bit 2, "VGA Not Present",
/// stays clear: the board has a VGA at the legacy addresses).
pub const IAPC_BOOT_ARCH: u16 = 1 << 0 | 1 << 1;
/// The RTC's century byte (CMOS 0x32).
const CENTURY: u8 = crate::devices::rtc::REG_CENTURY as u8;

fn io_gas(port: u16, len: u8) -> GAS {
    let access = match len {
        1 => AccessSize::ByteAccess,
        2 => AccessSize::WordAccess,
        _ => AccessSize::DwordAccess,
    };
    GAS::new(AddressSpace::SystemIo, len * 8, 0, access, port as u64)
}

/// The FADT (revision 6.5): the PIIX4 PM registers, SCI, reset register,
/// and SMI_CMD at the APM control port: a firmware-booted OS finds SCI_EN
/// off and writes ACPI_ENABLE there (direct boot starts in ACPI mode).
pub fn fadt(board: &AcpiBoard, dsdt: u64, facs: u64) -> FADT {
    let pm = board.pm_base;
    let mut f = FADTBuilder::new(OEM_ID, OEM_TABLE_ID, 1)
        .preferred_pm_profile(PmProfile::Desktop)
        // HLT is C1; WBINVD works; the power button is the fixed-feature
        // one (flag clear), there is no sleep button (flag set); the PM
        // timer is 24 bits (TMR_VAL_EXT clear).
        .flag(Flags::Wbinvd)
        .flag(Flags::ProcC1)
        .flag(Flags::SlpButton)
        .flag(Flags::ResetRegSup)
        .gpe_info((pm + GPE0) as u32, 0, GPE0_LEN, 0, 0);
    f.firmware_ctrl = (facs as u32).into();
    f.dsdt = (dsdt as u32).into();
    f.x_dsdt = dsdt.into();
    f.sci_int = (board.sci_irq as u16).into();
    f.smi_cmd = (apm::APM_CONTROL_PORT as u32).into();
    f.acpi_enable = apm::ACPI_ENABLE;
    f.acpi_disable = apm::ACPI_DISABLE;
    f.pm1a_evt_blk = ((pm + PM1_EVT) as u32).into();
    f.pm1a_cnt_blk = ((pm + PM1_CNT) as u32).into();
    f.pm_tmr_blk = ((pm + PM_TMR) as u32).into();
    f.pm1_evt_len = PM1_EVT_LEN;
    f.pm1_cnt_len = PM1_CNT_LEN;
    f.pm_tmr_len = PM_TMR_LEN;
    f.x_pm1a_evt_blk = io_gas(pm + PM1_EVT, PM1_EVT_LEN);
    f.x_pm1a_cnt_blk = io_gas(pm + PM1_CNT, PM1_CNT_LEN);
    f.x_pm_tmr_blk = io_gas(pm + PM_TMR, PM_TMR_LEN);
    f.x_gpe0_blk = io_gas(pm + GPE0, GPE0_LEN);
    // C2/C3 latencies above 100/1000 us say "not supported".
    f.p_lvl2_lat = 101.into();
    f.p_lvl3_lat = 1001.into();
    f.century = CENTURY;
    f.iapc_boot_arch = IAPC_BOOT_ARCH.into();
    f.reset_reg = GAS::new(
        AddressSpace::SystemIo,
        8,
        0,
        AccessSize::ByteAccess,
        RESET_PORT,
    );
    f.reset_value = RESET_VALUE;
    f.finalize()
}

/// MADT flags: PCAT_COMPAT, the board has dual 8259As.
const MADT_PCAT_COMPAT: u32 = 1;
/// MPS INTI flags: polarity active high (01), trigger level (11).
const INTI_ACTIVE_HIGH_LEVEL: u16 = 0b1101;

/// The MADT: one local APIC per vCPU, the I/O APIC at GSI 0, the ISA
/// overrides the board wires (IRQ0 on pin 2; the SCI level, active high)
/// and LINT1 as NMI on every processor.
pub fn madt(board: &AcpiBoard) -> Sdt {
    let mut t = Sdt::new(*b"APIC", 36, 5, OEM_ID, OEM_TABLE_ID, 1);
    t.append_slice(&board.lapic_address.to_le_bytes());
    t.append_slice(&MADT_PCAT_COMPAT.to_le_bytes());
    for (uid, &id) in board.apic_ids.iter().enumerate() {
        // Processor Local APIC: UID, APIC ID, flags = enabled.
        t.append_slice(&[0, 8, uid as u8, id, 1, 0, 0, 0]);
    }
    let mut ioapic = vec![1, 12, board.ioapic_id, 0];
    ioapic.extend_from_slice(&board.ioapic_address.to_le_bytes());
    ioapic.extend_from_slice(&0u32.to_le_bytes());
    t.append_slice(&ioapic);
    let iso = |irq: u8, gsi: u32, flags: u16| {
        let mut s = vec![2, 10, 0, irq];
        s.extend_from_slice(&gsi.to_le_bytes());
        s.extend_from_slice(&flags.to_le_bytes());
        s
    };
    t.append_slice(&iso(0, 2, 0));
    t.append_slice(&iso(
        board.sci_irq,
        board.sci_irq as u32,
        INTI_ACTIVE_HIGH_LEVEL,
    ));
    // Local APIC NMI: all processors (UID 0xFF), conforming flags, LINT1.
    t.append_slice(&[4, 6, 0xff, 0, 0, 1]);
    t
}

/// The HPET description table (IA-PC HPET spec 1.0a, 3.2.4): the block ID,
/// its MMIO base, HPET number 0, a minimum periodic tick of 128 counter
/// clocks, no page protection.
pub fn hpet(board: &AcpiBoard) -> Sdt {
    let mut t = Sdt::new(*b"HPET", 36, 1, OEM_ID, OEM_TABLE_ID, 1);
    t.append_slice(&board.hpet_block_id.to_le_bytes());
    let mut gas = vec![0u8, 64, 0, 0];
    gas.extend_from_slice(&board.hpet_address.to_le_bytes());
    t.append_slice(&gas);
    t.append_slice(&[0]);
    t.append_slice(&128u16.to_le_bytes());
    t.append_slice(&[0]);
    t
}

/// The DSDT (revision 2: 64-bit AML integers).
pub fn dsdt(board: &AcpiBoard) -> Vec<u8> {
    let mut t = Sdt::new(*b"DSDT", 36, 2, OEM_ID, OEM_TABLE_ID, 1);
    t.append_slice(&super::dsdt::dsdt_body(board));
    t.as_slice().to_vec()
}

#[cfg(test)]
mod tests {
    use super::super::tests::board;
    use super::super::{byte_sum, bytes};
    use super::*;

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
    }
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn fadt_fields() {
        let f = bytes(&fadt(&board(), 0x1000, 0x2000));
        assert_eq!(&f[..4], b"FACP");
        assert_eq!(f.len(), 276);
        assert_eq!(u32_at(&f, 4), 276);
        assert_eq!((f[8], f[131]), (6, 5), "FADT 6.5");
        assert_eq!(byte_sum(&f), 0);
        assert_eq!(u16_at(&f, 46), 9, "SCI_INT");
        assert_eq!(u32_at(&f, 48), 0xb2, "SMI_CMD: the APM control port");
        assert_eq!((f[52], f[53]), (0xf1, 0xf0), "ACPI_ENABLE, ACPI_DISABLE");
        assert_eq!(u32_at(&f, 56), 0x600, "PM1a_EVT_BLK");
        assert_eq!(u32_at(&f, 64), 0x604, "PM1a_CNT_BLK");
        assert_eq!(u32_at(&f, 76), 0x608, "PM_TMR_BLK");
        assert_eq!(u32_at(&f, 80), 0x60c, "GPE0_BLK");
        assert_eq!(&f[88..93], &[4, 2, 0, 4, 4]);
        assert_eq!(f[108], 0x32, "century");
        assert_eq!(u16_at(&f, 109), IAPC_BOOT_ARCH);
        let flags = u32_at(&f, 112);
        assert_ne!(flags & Flags::ResetRegSup as u32, 0);
        assert_eq!(flags & Flags::PwrButton as u32, 0, "fixed power button");
        assert_eq!(flags & Flags::TmrValExt as u32, 0, "24-bit PM timer");
        // RESET_REG: system I/O, 8 bits at 0xCF9; RESET_VALUE 6.
        assert_eq!(&f[116..120], &[1, 8, 0, 1]);
        assert_eq!(u32_at(&f, 120), 0xcf9);
        assert_eq!(f[128], 6);
        // X_PM1a_CNT_BLK: 16 bits of system I/O at 0x604.
        assert_eq!(&f[172..176], &[1, 16, 0, 2]);
        assert_eq!(u32_at(&f, 176), 0x604);
    }

    #[test]
    fn madt_structures() {
        let m = madt(&board());
        let m = m.as_slice();
        assert_eq!(&m[..4], b"APIC");
        assert_eq!(u32_at(m, 4) as usize, m.len());
        assert_eq!(byte_sum(m), 0);
        assert_eq!(u32_at(m, 36), 0xfee0_0000);
        assert_eq!(u32_at(m, 40), 1, "PCAT_COMPAT");
        let mut entries = Vec::new();
        let mut at = 44;
        while at < m.len() {
            let len = m[at + 1] as usize;
            assert!(len >= 2 && at + len <= m.len());
            entries.push(&m[at..at + len]);
            at += len;
        }
        assert_eq!(at, m.len());
        assert_eq!(entries[0], &[0, 8, 0, 0, 1, 0, 0, 0], "LAPIC 0 enabled");
        assert_eq!(entries[1][..4], [1, 12, 0, 0]);
        assert_eq!(u32_at(entries[1], 4), 0xfec0_0000);
        assert_eq!(u32_at(entries[1], 8), 0, "GSI base");
        assert_eq!(entries[2], &[2, 10, 0, 0, 2, 0, 0, 0, 0, 0], "IRQ0 -> GSI2");
        assert_eq!(entries[3], &[2, 10, 0, 9, 9, 0, 0, 0, 0x0d, 0], "SCI");
        assert_eq!(entries[4], &[4, 6, 0xff, 0, 0, 1], "LINT1 NMI");
        assert_eq!(entries.len(), 5);
    }

    #[test]
    fn hpet_table() {
        let h = hpet(&board());
        let h = h.as_slice();
        assert_eq!((&h[..4], h.len()), (&b"HPET"[..], 56));
        assert_eq!(u32_at(h, 4), 56);
        assert_eq!(byte_sum(h), 0);
        assert_eq!(u32_at(h, 36), 0x8086_a201);
        assert_eq!(h[40], 0, "system memory");
        assert_eq!(u32_at(h, 44), 0xfed0_0000);
        assert_eq!(u16_at(h, 53), 128);
    }
}

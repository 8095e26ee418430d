//! The DSDT's AML: the PCI root bridge with its resources and interrupt
//! routing, the legacy ISA devices behind the PIIX3, the processors and
//! the \_S5 sleep package (ACPI 6.5 ch. 19-20 for the encodings).

use super::AcpiBoard;
use crate::devices::pci::SLP_TYP_S5;
use acpi_tables::aml::{
    self, AddressSpace, AddressSpaceCacheable, Device, EISAName, Name, Package, ResourceTemplate,
    Scope, IO,
};
use acpi_tables::{Aml, AmlSink};

/// A small IRQ descriptor without flags (edge, active high, exclusive): how
/// a PC's DSDT describes the ISA IRQs of its legacy devices.
struct IrqNoFlags(u8);

impl Aml for IrqNoFlags {
    fn to_aml_bytes(&self, sink: &mut dyn AmlSink) {
        sink.byte(0x22);
        sink.word(1 << self.0);
    }
}

/// The \_S5 package: SLP_TYPa and SLP_TYPb for soft off, as the PIIX4 PM
/// function's SUS_TYP field decodes them.
pub fn s5_package() -> Vec<u8> {
    let typ = SLP_TYP_S5;
    let mut out = Vec::new();
    Name::new("_S5_".into(), &Package::new(vec![&typ, &typ, &0u8, &0u8])).to_aml_bytes(&mut out);
    out
}

/// An ISA device with a PNP ID, fixed I/O ports (base, count) and IRQs.
fn isa_device(name: &str, hid: &str, ports: &[(u16, u8)], irqs: &[u8]) -> Vec<u8> {
    let io: Vec<IO> = ports
        .iter()
        .map(|&(base, len)| IO::new(base, base, 1, len))
        .collect();
    let irq: Vec<IrqNoFlags> = irqs.iter().map(|&n| IrqNoFlags(n)).collect();
    let mut resources: Vec<&dyn Aml> = io.iter().map(|r| r as &dyn Aml).collect();
    resources.extend(irq.iter().map(|r| r as &dyn Aml));
    let crs = ResourceTemplate::new(resources);
    let hid = EISAName::new(hid);
    let mut out = Vec::new();
    Device::new(
        name.into(),
        vec![
            &Name::new("_HID".into(), &hid),
            &Name::new("_CRS".into(), &crs),
        ],
    )
    .to_aml_bytes(&mut out);
    out
}

/// Raw AML bytes as an object.
struct Raw(Vec<u8>);

impl Aml for Raw {
    fn to_aml_bytes(&self, sink: &mut dyn AmlSink) {
        sink.vec(&self.0);
    }
}

/// The _PRT: each slot's INTA-D to the I/O APIC pin of the PIRQ line the
/// board wires it to (`AcpiBoard::pci_intx_gsi`), as direct GSIs.
fn prt(board: &AcpiBoard) -> Vec<u8> {
    let mut prt = aml::PackageBuilder::new();
    for slot in 1..32u32 {
        for pin in 0..4u8 {
            let addr = slot << 16 | 0xffff;
            let gsi = board.pci_intx_gsi(slot as u8, pin);
            prt.add_element(&Package::new(vec![&addr, &pin, &0u8, &gsi]));
        }
    }
    let mut out = Vec::new();
    Name::new("_PRT".into(), &prt).to_aml_bytes(&mut out);
    out
}

/// The PCI root bridge's resources: bus 0-255, the configuration ports, the
/// I/O space around them, the legacy video window and the 32-bit PCI hole
/// from the top of low RAM up to the I/O APIC.
fn root_bridge_crs(board: &AcpiBoard) -> Vec<u8> {
    let buses = AddressSpace::<u16>::new_bus_number(0, 0xff);
    let config = IO::new(0xcf8, 0xcf8, 1, 8);
    let io_low = AddressSpace::<u16>::new_io(0, 0xcf7, None);
    let io_high = AddressSpace::<u16>::new_io(0xd00, 0xffff, None);
    let vga = AddressSpace::<u32>::new_memory(
        AddressSpaceCacheable::Cacheable,
        true,
        0xa_0000,
        0xb_ffff,
        None,
    );
    let hole = AddressSpace::<u32>::new_memory(
        AddressSpaceCacheable::NotCacheable,
        true,
        board.pci_hole.0,
        board.pci_hole.1,
        None,
    );
    let crs = ResourceTemplate::new(vec![&buses, &config, &io_low, &io_high, &vga, &hole]);
    let mut out = Vec::new();
    Name::new("_CRS".into(), &crs).to_aml_bytes(&mut out);
    out
}

/// `Name(path, value)`, encoded.
fn name(path: &str, value: &dyn Aml) -> Raw {
    let mut out = Vec::new();
    Name::new(path.into(), value).to_aml_bytes(&mut out);
    Raw(out)
}

/// `Device(path) { children }`, encoded.
fn device(path: &str, children: &[Raw]) -> Raw {
    let children: Vec<&dyn Aml> = children.iter().map(|c| c as &dyn Aml).collect();
    let mut out = Vec::new();
    Device::new(path.into(), children).to_aml_bytes(&mut out);
    Raw(out)
}

/// The DSDT body (everything after the table header).
pub fn dsdt_body(board: &AcpiBoard) -> Vec<u8> {
    let isa = Raw([
        isa_device("KBD_", "PNP0303", &[(0x60, 1), (0x64, 1)], &[1]),
        isa_device("MOU_", "PNP0F13", &[], &[12]),
        isa_device("RTC_", "PNP0B00", &[(0x70, 2)], &[8]),
        isa_device("COM1", "PNP0501", &[(0x3f8, 8)], &[4]),
    ]
    .concat());
    // The PIIX3 at 00:01.0.
    let isa_bridge = device("ISA_", &[name("_ADR", &0x0001_0000u32), isa]);
    let pci0 = device(
        "PCI0",
        &[
            name("_HID", &EISAName::new("PNP0A03")),
            name("_ADR", &0u8),
            name("_UID", &0u8),
            name("_BBN", &0u8),
            Raw(root_bridge_crs(board)),
            Raw(prt(board)),
            isa_bridge,
        ],
    );
    let mut sb = vec![pci0];
    for uid in 0..board.apic_ids.len() as u32 {
        let hid: &str = "ACPI0007";
        sb.push(device(
            &format!("C{uid:03X}"),
            &[name("_HID", &hid), name("_UID", &uid)],
        ));
    }
    let sb: Vec<&dyn Aml> = sb.iter().map(|c| c as &dyn Aml).collect();
    let mut out = Vec::new();
    Scope::new("\\_SB_".into(), sb).to_aml_bytes(&mut out);
    out.extend(s5_package());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s5_package_carries_the_piix4_soft_off_type() {
        // NameOp "_S5_" PackageOp PkgLength(6) NumElements(4) Zero Zero Zero Zero
        assert_eq!(
            s5_package(),
            [0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00]
        );
        assert_eq!(SLP_TYP_S5, 0, "the package above encodes SLP_TYP 0");
    }

    #[test]
    fn isa_device_resources() {
        let kbd = isa_device("KBD_", "PNP0303", &[(0x60, 1), (0x64, 1)], &[1]);
        // IO(Decode16, 0x60, 0x60, 1, 1) and IRQNoFlags(){1}.
        let io60 = [0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01];
        assert!(kbd.windows(8).any(|w| w == io60));
        assert!(kbd.windows(3).any(|w| w == [0x22, 0x02, 0x00]));
        // EisaId("PNP0303") = 0x0303D041 as a DWordConst.
        assert!(kbd.windows(5).any(|w| w == [0x0c, 0x41, 0xd0, 0x03, 0x03]));
    }
}

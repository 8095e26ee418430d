//! The PIIX4's APM control and status ports (0xB2 APMC, 0xB3 APMS). On a
//! PC a write to APMC raises an SMI, and the firmware's SMM handler
//! switches the chipset in and out of ACPI mode when the OS writes the
//! FADT's ACPI_ENABLE or ACPI_DISABLE value to SMI_CMD. xlat has no SMM,
//! so the port does that one job itself, as QEMU's PIIX4 does: the
//! firmware-booted OS finds SCI_EN off and turns it on through here.

use super::bus::{split_read, split_write, PortDevice};
use super::pci::SharedPiix4Pm;

/// The FADT's SMI_CMD port.
pub const APM_CONTROL_PORT: u16 = 0xb2;
/// APMC values the FADT names.
pub const ACPI_ENABLE: u8 = 0xf1;
pub const ACPI_DISABLE: u8 = 0xf0;

pub struct ApmPorts {
    pm: SharedPiix4Pm,
    control: u8,
    status: u8,
}

impl ApmPorts {
    pub fn new(pm: SharedPiix4Pm) -> Self {
        ApmPorts {
            pm,
            control: 0,
            status: 0,
        }
    }
}

impl ApmPorts {
    fn write_control(&mut self, value: u8) {
        self.control = value;
        let mut pm = self.pm.lock().unwrap_or_else(|e| e.into_inner());
        match value {
            ACPI_ENABLE => pm.set_sci_enabled(true),
            ACPI_DISABLE => pm.set_sci_enabled(false),
            _ => log::debug!("apm: APMC {value:#04x} (no SMM handler)"),
        }
    }
}

/// Offsets from 0xB2: APMC, then APMS.
impl PortDevice for ApmPorts {
    fn read(&mut self, offset: u16, size: u8) -> u32 {
        split_read(offset, size, |off| match off {
            0 => self.control,
            1 => self.status,
            _ => 0xff,
        })
    }

    fn write(&mut self, offset: u16, size: u8, value: u32) {
        split_write(offset, size, value, |off, byte| match off {
            0 => self.write_control(byte),
            // APMS: a scratch byte the two sides use to talk.
            1 => self.status = byte,
            _ => {}
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::irq::IrqLines;
    use crate::devices::system_control::SystemControl;
    use crate::machine::clock::VirtualClock;
    use std::sync::{Arc, Mutex};

    #[test]
    fn acpi_enable_and_disable_switch_sci_en() {
        let pm = Arc::new(Mutex::new(crate::devices::pci::Piix4Pm::new(
            VirtualClock::deterministic(),
            IrqLines::new().line(9),
            SystemControl::new(),
        )));
        let mut io = crate::devices::bus::PortBus::default();
        io.register(APM_CONTROL_PORT, 2, Box::new(ApmPorts::new(pm.clone())))
            .unwrap();
        assert!(!pm.lock().unwrap().sci_enabled());
        io.write(0xb2, 1, ACPI_ENABLE as u32);
        assert!(pm.lock().unwrap().sci_enabled());
        assert_eq!(io.read(0xb2, 1), ACPI_ENABLE as u32);
        io.write(0xb3, 1, 0x5a);
        assert_eq!(io.read(0xb2, 2), 0x5a00 | ACPI_ENABLE as u32);
        assert!(pm.lock().unwrap().sci_enabled(), "APMS changes nothing");
        io.write(0xb2, 1, 0x12);
        assert!(
            pm.lock().unwrap().sci_enabled(),
            "other values: no SMM here"
        );
        io.write(0xb2, 1, ACPI_DISABLE as u32);
        assert!(!pm.lock().unwrap().sci_enabled());
    }
}

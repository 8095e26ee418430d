//! The PIIX4's APM control and status ports (0xB2 APMC, 0xB3 APMS). On a
//! PC a write to APMC raises an SMI, and the firmware's SMM handler
//! switches the chipset in and out of ACPI mode when the OS writes the
//! FADT's ACPI_ENABLE or ACPI_DISABLE value to SMI_CMD. xlat has no SMM,
//! so the port does that one job itself, as QEMU's PIIX4 does: the
//! firmware-booted OS finds SCI_EN off and turns it on through here.

use super::bus::PortDevice;
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

impl PortDevice for ApmPorts {
    fn read(&mut self, port: u16, _size: u8) -> u32 {
        match port {
            APM_CONTROL_PORT => self.control as u32,
            _ => self.status as u32,
        }
    }

    fn write(&mut self, port: u16, _size: u8, value: u32) {
        let value = value as u8;
        if port != APM_CONTROL_PORT {
            // APMS: a scratch byte the two sides use to talk.
            self.status = value;
            return;
        }
        self.control = value;
        let mut pm = self.pm.lock().unwrap_or_else(|e| e.into_inner());
        match value {
            ACPI_ENABLE => pm.set_sci_enabled(true),
            ACPI_DISABLE => pm.set_sci_enabled(false),
            _ => log::debug!("apm: APMC {value:#04x} (no SMM handler)"),
        }
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
        let mut apm = ApmPorts::new(pm.clone());
        assert!(!pm.lock().unwrap().sci_enabled());
        apm.write(APM_CONTROL_PORT, 1, ACPI_ENABLE as u32);
        assert!(pm.lock().unwrap().sci_enabled());
        assert_eq!(apm.read(APM_CONTROL_PORT, 1), ACPI_ENABLE as u32);
        apm.write(0xb3, 1, 0x5a);
        assert_eq!(apm.read(0xb3, 1), 0x5a);
        assert!(pm.lock().unwrap().sci_enabled(), "APMS changes nothing");
        apm.write(APM_CONTROL_PORT, 1, 0x12);
        assert!(
            pm.lock().unwrap().sci_enabled(),
            "other values: no SMM here"
        );
        apm.write(APM_CONTROL_PORT, 1, ACPI_DISABLE as u32);
        assert!(!pm.lock().unwrap().sci_enabled());
    }
}

//! Drives on the IDE channels and the boot order firmware finds in CMOS.

use super::{lock, Machine};
use crate::devices::ide::ata::AtaDisk;
use crate::devices::ide::atapi::AtapiCdrom;
use crate::devices::ide::channel::Media;
use crate::devices::ide::{BlockBackend, FileBackend, OverlayBackend};
use std::path::Path;

/// A device class in the boot order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootDevice {
    Floppy,
    HardDisk,
    Cdrom,
}

impl BootDevice {
    /// The nibble QEMU stores in CMOS for it (SeaBIOS reads these).
    fn cmos_code(self) -> u8 {
        match self {
            BootDevice::Floppy => 1,
            BootDevice::HardDisk => 2,
            BootDevice::Cdrom => 3,
        }
    }
}

/// CMOS bytes of QEMU's boot order: 0x3D holds the first two devices (low
/// nibble first), 0x38's high nibble the third; 0x38 bit 0 set skips the
/// floppy boot-signature check.
const CMOS_BOOT_FLAG1: u8 = 0x38;
const CMOS_BOOT_FLAG2: u8 = 0x3d;

impl Machine {
    /// Puts the raw image at `path` on `channel` (0 primary, 1 secondary)
    /// at `position` (0 master, 1 slave) as a read-write ATA disk.
    pub fn attach_disk(
        &mut self,
        channel: usize,
        position: usize,
        path: &Path,
    ) -> Result<(), String> {
        self.attach_disk_with(channel, position, path, false)
    }

    /// [`Self::attach_disk`]; with `snapshot` (--snapshot), the file is
    /// only read and the guest's writes stay in memory until exit.
    pub fn attach_disk_with(
        &mut self,
        channel: usize,
        position: usize,
        path: &Path,
        snapshot: bool,
    ) -> Result<(), String> {
        let file = FileBackend::open(path, snapshot)
            .map_err(|e| format!("cannot open disk image {}: {e}", path.display()))?;
        let backend: Box<dyn BlockBackend> = if snapshot {
            Box::new(OverlayBackend::new(Box::new(file)))
        } else {
            Box::new(file)
        };
        let serial = format!("XLAT{:04}", channel * 2 + position);
        let disk = AtaDisk::new(backend, &serial);
        if disk.sectors() == 0 {
            return Err(format!(
                "disk image {} is smaller than a sector",
                path.display()
            ));
        }
        lock(&self.platform.ide).attach(channel, position, Media::Disk(disk));
        Ok(())
    }

    /// Puts the ISO image at `path` in an ATAPI CD-ROM drive (read-only).
    pub fn attach_cdrom(
        &mut self,
        channel: usize,
        position: usize,
        path: &Path,
    ) -> Result<(), String> {
        let backend = FileBackend::open(path, true)
            .map_err(|e| format!("cannot open CD-ROM image {}: {e}", path.display()))?;
        let cd = AtapiCdrom::new(Box::new(backend));
        lock(&self.platform.ide).attach(channel, position, Media::Cdrom(cd));
        Ok(())
    }

    /// Writes the boot order (up to three devices) where SeaBIOS, built
    /// for QEMU, reads it: the RTC's CMOS bytes 0x3D and 0x38.
    pub fn set_boot_order(&mut self, order: &[BootDevice]) {
        let code = |i: usize| order.get(i).map_or(0, |d| d.cmos_code());
        let mut cmos = |index: u8, value: u8| {
            self.io.write(0x70, 1, index as u32);
            self.io.write(0x71, 1, value as u32);
        };
        cmos(CMOS_BOOT_FLAG2, code(1) << 4 | code(0));
        // No floppy drive: skip its signature check.
        cmos(CMOS_BOOT_FLAG1, code(2) << 4 | 1);
    }
}

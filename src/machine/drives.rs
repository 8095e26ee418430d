//! Drives on the IDE channels and the floppy controller, and what
//! firmware finds about them in CMOS (drive types, boot order).

use super::monitor::{BlockDevice, DriveName};
use super::{lock, Machine};
use crate::devices::floppy::drive::Diskette;
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
/// CMOS floppy drive types (drive A in the high nibble) and the AT
/// equipment byte (bit 0 floppies present, bits 7-6 their count - 1).
const CMOS_FLOPPY_TYPES: usize = 0x10;
const CMOS_EQUIPMENT: usize = 0x14;

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
        self.note_block_device(BlockDevice {
            name: DriveName::Ide {
                channel,
                position,
                cdrom: false,
            },
            file: Some(path.to_path_buf()),
            read_only: false,
            snapshot,
        });
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
        self.note_block_device(BlockDevice {
            name: DriveName::Ide {
                channel,
                position,
                cdrom: true,
            },
            file: Some(path.to_path_buf()),
            read_only: true,
            snapshot: false,
        });
        Ok(())
    }

    /// An ATAPI CD-ROM drive with no disc in it (tray closed).
    pub fn attach_empty_cdrom(&mut self, channel: usize, position: usize) {
        let cd = AtapiCdrom::empty();
        lock(&self.platform.ide).attach(channel, position, Media::Cdrom(cd));
        self.note_block_device(BlockDevice {
            name: DriveName::Ide {
                channel,
                position,
                cdrom: true,
            },
            file: None,
            read_only: true,
            snapshot: false,
        });
    }

    /// Puts the raw diskette image at `path` in floppy drive `n` (0 = A:),
    /// write-protected when the file is read-only, and records the drive
    /// type in CMOS.
    pub fn attach_floppy(&mut self, n: usize, path: &Path) -> Result<(), String> {
        let err = |e: std::io::Error| format!("cannot open floppy image {}: {e}", path.display());
        let read_only = std::fs::metadata(path)
            .map_err(err)?
            .permissions()
            .readonly();
        let backend = FileBackend::open(path, read_only).map_err(err)?;
        let media = Diskette::new(Box::new(backend)).ok_or_else(|| {
            format!(
                "floppy image {} is empty or larger than 2.88 MB",
                path.display()
            )
        })?;
        self.note_block_device(BlockDevice {
            name: DriveName::Floppy(n),
            file: Some(path.to_path_buf()),
            read_only,
            snapshot: false,
        });
        let mut fdc = lock(&self.platform.fdc);
        fdc.insert(n, media);
        let types: Vec<u8> = fdc
            .drives
            .iter()
            .map(|d| d.media.as_ref().map_or(0, |m| m.format.cmos_type))
            .collect();
        drop(fdc);
        let count = types.iter().filter(|&&t| t != 0).count() as u8;
        let mut rtc = lock(&self.platform.rtc);
        rtc.set_nvram_byte(CMOS_FLOPPY_TYPES, types[0] << 4 | types[1] & 0x0f);
        let equipment = rtc.nvram_byte(CMOS_EQUIPMENT) & 0x3e;
        rtc.set_nvram_byte(CMOS_EQUIPMENT, equipment | 0x01 | (count - 1) << 6);
        Ok(())
    }

    /// Writes the boot order (up to three devices) where SeaBIOS, built
    /// for QEMU, reads it: the RTC's CMOS bytes 0x3D and 0x38.
    pub fn set_boot_order(&mut self, order: &[BootDevice]) {
        let code = |i: usize| order.get(i).map_or(0, |d| d.cmos_code());
        // With a floppy, SeaBIOS checks its boot signature (QEMU's
        // default); without one the check is skipped.
        let floppy = lock(&self.platform.fdc)
            .drives
            .iter()
            .any(|d| d.media.is_some());
        let mut cmos = |index: u8, value: u8| {
            self.io.write(0x70, 1, index as u32);
            self.io.write(0x71, 1, value as u32);
        };
        cmos(CMOS_BOOT_FLAG2, code(1) << 4 | code(0));
        cmos(CMOS_BOOT_FLAG1, code(2) << 4 | !floppy as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::MachineConfig;

    fn machine() -> Machine {
        let mut config = MachineConfig::new(1 << 20, vec![0xf4; 4096]);
        config.console = Box::new(std::io::sink());
        config.serial = Box::new(std::io::sink());
        Machine::build(config).unwrap()
    }

    fn cmos(m: &mut Machine, index: u8) -> u8 {
        m.io.write(0x70, 1, index as u32);
        m.io.read(0x71, 1) as u8
    }

    #[test]
    fn floppy_sets_cmos_drive_type_equipment_and_write_protect() {
        let dir = std::env::temp_dir().join(format!("xlat-drives-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("720k.img");
        std::fs::write(&path, vec![0u8; 737_280]).unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&path, perms).unwrap();
        let mut m = machine();
        assert_eq!(cmos(&mut m, 0x10), 0);
        m.attach_floppy(0, &path).unwrap();
        m.set_boot_order(&[BootDevice::Floppy]);
        assert_eq!(cmos(&mut m, 0x10), 0x30, "drive A: 720K");
        assert_eq!(cmos(&mut m, 0x14) & 0xc1, 0x01, "one floppy drive");
        assert_eq!(cmos(&mut m, 0x3d) & 0x0f, 1, "boot from floppy");
        assert_eq!(cmos(&mut m, 0x38) & 1, 0, "signature checked");
        let sum: u16 = (0x10..=0x2d).map(|i| cmos(&mut m, i) as u16).sum();
        let stored = (cmos(&mut m, 0x2e) as u16) << 8 | cmos(&mut m, 0x2f) as u16;
        assert_eq!(sum, stored, "AT checksum");
        // A read-only file is a write-protected diskette (SENSE DRIVE STATUS).
        m.io.write(0x3f5, 1, 0x04);
        m.io.write(0x3f5, 1, 0x00);
        assert_eq!(m.io.read(0x3f5, 1) & 0x40, 0x40);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! QEMU's firmware configuration device (fw_cfg), through which SeaBIOS
//! learns what the board has: the memory size, the CPU count, the boot menu
//! and boot order, and named files (option ROMs, tables).
//!
//! The traditional I/O interface of QEMU's docs/specs/fw_cfg: a 16-bit
//! selector at 0x510 picks an item and rewinds its offset; each byte read
//! from 0x511 returns the next byte of the item, 0 past its end. Items are
//! read-only here (writes to the data port are ignored, as QEMU does since
//! 2.4), and the DMA interface is not offered (FW_CFG_ID bit 1 clear), so
//! firmware uses the byte port.

use super::bus::PortDevice;
use std::collections::BTreeMap;

pub const FW_CFG_PORT: u16 = 0x510;
/// Selector (16-bit, at +0) and data (8-bit, at +1).
pub const FW_CFG_PORTS: u16 = 2;

pub const KEY_SIGNATURE: u16 = 0x00;
pub const KEY_ID: u16 = 0x01;
pub const KEY_RAM_SIZE: u16 = 0x03;
pub const KEY_NOGRAPHIC: u16 = 0x04;
pub const KEY_NB_CPUS: u16 = 0x05;
pub const KEY_BOOT_MENU: u16 = 0x0e;
pub const KEY_MAX_CPUS: u16 = 0x0f;
pub const KEY_FILE_DIR: u16 = 0x19;
const KEY_FILE_FIRST: u16 = 0x20;
/// Bits 14 (write channel) and 15 (architecture-local) qualify the key.
const KEY_MASK: u16 = 0x3fff;
const ARCH_LOCAL: u16 = 0x8000;
/// Names are at most 55 bytes and a NUL.
const MAX_NAME: usize = 56;

#[derive(Debug, PartialEq, Eq)]
pub enum FwCfgError {
    NameTooLong(String),
    Duplicate(String),
}

impl std::fmt::Display for FwCfgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FwCfgError::NameTooLong(n) => write!(f, "fw_cfg file name too long: {n}"),
            FwCfgError::Duplicate(n) => write!(f, "fw_cfg file added twice: {n}"),
        }
    }
}

impl std::error::Error for FwCfgError {}

#[derive(Default)]
pub struct FwCfg {
    /// Items by key (files included, at 0x20 and up).
    items: BTreeMap<u16, Vec<u8>>,
    /// File names in the order added, with their keys.
    files: Vec<(String, u16)>,
    selector: u16,
    offset: usize,
}

impl FwCfg {
    /// The device with its signature and interface ID.
    pub fn new() -> Self {
        let mut dev = FwCfg::default();
        dev.items.insert(KEY_SIGNATURE, b"QEMU".to_vec());
        // Bit 0: the traditional interface; no DMA.
        dev.items.insert(KEY_ID, 1u32.to_le_bytes().to_vec());
        dev.rebuild_directory();
        dev
    }

    /// Sets a numbered item (little-endian integers, as QEMU stores them).
    pub fn set_item(&mut self, key: u16, data: Vec<u8>) {
        self.items.insert(key, data);
    }

    /// Adds a named file; the directory lists files sorted by name, as
    /// QEMU's does.
    pub fn add_file(&mut self, name: &str, data: Vec<u8>) -> Result<(), FwCfgError> {
        if name.len() >= MAX_NAME {
            return Err(FwCfgError::NameTooLong(name.into()));
        }
        if self.files.iter().any(|(n, _)| n == name) {
            return Err(FwCfgError::Duplicate(name.into()));
        }
        let key = KEY_FILE_FIRST + self.files.len() as u16;
        self.files.push((name.into(), key));
        self.items.insert(key, data);
        self.rebuild_directory();
        Ok(())
    }

    /// A named file's contents.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        let (_, key) = self.files.iter().find(|(n, _)| n == name)?;
        self.items.get(key).map(Vec::as_slice)
    }

    /// FW_CFG_FILE_DIR: a big-endian count, then per file a big-endian
    /// size, key and reserved word, and the NUL-padded name.
    fn rebuild_directory(&mut self) {
        let mut files: Vec<&(String, u16)> = self.files.iter().collect();
        files.sort();
        let mut dir = (files.len() as u32).to_be_bytes().to_vec();
        for (name, key) in files {
            let size = self.items.get(key).map_or(0, Vec::len) as u32;
            dir.extend_from_slice(&size.to_be_bytes());
            dir.extend_from_slice(&key.to_be_bytes());
            dir.extend_from_slice(&[0, 0]);
            let mut padded = [0u8; MAX_NAME];
            padded[..name.len()].copy_from_slice(name.as_bytes());
            dir.extend_from_slice(&padded);
        }
        self.items.insert(KEY_FILE_DIR, dir);
    }

    fn select(&mut self, selector: u16) {
        self.selector = selector;
        self.offset = 0;
    }

    fn read_data(&mut self) -> u8 {
        // Architecture-local items (ACPI/SMBIOS/E820 legacy keys) are not
        // offered: they read as absent.
        if self.selector & ARCH_LOCAL != 0 {
            return 0;
        }
        let byte = self
            .items
            .get(&(self.selector & KEY_MASK))
            .and_then(|d| d.get(self.offset))
            .copied()
            .unwrap_or(0);
        self.offset = self.offset.saturating_add(1);
        byte
    }
}

impl PortDevice for FwCfg {
    fn read(&mut self, offset: u16, size: u8) -> u32 {
        match offset {
            // A wider read of the data port returns successive bytes.
            1 => (0..size.clamp(1, 4) as u32)
                .fold(0, |v, i| v | (self.read_data() as u32) << (8 * i)),
            _ => 0,
        }
    }

    fn write(&mut self, offset: u16, size: u8, value: u32) {
        // The selector takes 16-bit writes; the data port ignores writes.
        if offset == 0 && size >= 2 {
            self.select(value as u16);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_item(dev: &mut FwCfg, key: u16, len: usize) -> Vec<u8> {
        dev.write(0, 2, key as u32);
        (0..len).map(|_| dev.read(1, 1) as u8).collect()
    }

    #[test]
    fn signature_id_and_items_read_bytewise_then_zero() {
        let mut dev = FwCfg::new();
        assert_eq!(read_item(&mut dev, KEY_SIGNATURE, 6), b"QEMU\0\0");
        assert_eq!(read_item(&mut dev, KEY_ID, 4), [1, 0, 0, 0]);
        dev.set_item(KEY_RAM_SIZE, (64u64 << 20).to_le_bytes().to_vec());
        assert_eq!(
            read_item(&mut dev, KEY_RAM_SIZE, 8),
            (64u64 << 20).to_le_bytes()
        );
        // Absent keys, and architecture-local ones, read as zero.
        assert_eq!(read_item(&mut dev, 0x1234, 2), [0, 0]);
        assert_eq!(read_item(&mut dev, 0x8003, 2), [0, 0]);
        // Reselecting rewinds; a byte write to the selector is ignored.
        dev.write(0, 2, KEY_SIGNATURE as u32);
        assert_eq!(dev.read(1, 1), b'Q' as u32);
        dev.write(0, 1, KEY_ID as u32);
        assert_eq!(dev.read(1, 1), b'E' as u32);
        assert_eq!(dev.read(1, 2), u16::from_le_bytes(*b"MU") as u32);
    }

    #[test]
    fn directory_lists_files_sorted_by_name() {
        let mut dev = FwCfg::new();
        dev.add_file("vgaroms/vga.bin", vec![0x55, 0xaa]).unwrap();
        dev.add_file("bootorder", b"/x\n".to_vec()).unwrap();
        assert!(matches!(
            dev.add_file("bootorder", vec![]),
            Err(FwCfgError::Duplicate(_))
        ));
        assert!(dev.add_file(&"n".repeat(56), vec![]).is_err());
        let dir = read_item(&mut dev, KEY_FILE_DIR, 4 + 2 * 64);
        assert_eq!(&dir[..4], &[0, 0, 0, 2]);
        let entry = |i: usize| &dir[4 + 64 * i..4 + 64 * (i + 1)];
        assert_eq!(&entry(0)[..4], &3u32.to_be_bytes());
        assert_eq!(&entry(0)[4..6], &0x21u16.to_be_bytes());
        assert_eq!(&entry(0)[8..17], b"bootorder");
        assert_eq!(entry(0)[17], 0);
        assert_eq!(&entry(1)[4..6], &0x20u16.to_be_bytes());
        assert_eq!(read_item(&mut dev, 0x20, 3), [0x55, 0xaa, 0]);
    }
}

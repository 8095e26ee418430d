//! Placing a firmware image on the physical map, as a PC chipset does: the
//! image ends at 4 GiB, and its last 128 KiB (at most) are aliased just
//! below 1 MiB so that real-mode code at F000:xxxx sees it too.

use crate::mem::GuestMemory;
use std::fmt;

/// The largest image we accept (the flash window of a PC is 16 MiB).
pub const MAX_FIRMWARE: usize = 16 << 20;
/// The part aliased below 1 MiB.
const LOW_ALIAS: usize = 128 << 10;

#[derive(Debug, PartialEq, Eq)]
pub enum FirmwareError {
    Empty,
    TooLarge(usize),
    NotMultipleOf4K(usize),
}

impl fmt::Display for FirmwareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FirmwareError::Empty => write!(f, "firmware image is empty"),
            FirmwareError::TooLarge(n) => {
                write!(
                    f,
                    "firmware image is {n} bytes; at most {MAX_FIRMWARE} fit below 4 GiB"
                )
            }
            FirmwareError::NotMultipleOf4K(n) => {
                write!(
                    f,
                    "firmware image is {n} bytes; it must be a multiple of 4096"
                )
            }
        }
    }
}

pub fn map_firmware(mem: &mut GuestMemory, image: Vec<u8>) -> Result<(), FirmwareError> {
    let len = image.len();
    if len == 0 {
        return Err(FirmwareError::Empty);
    }
    if len > MAX_FIRMWARE {
        return Err(FirmwareError::TooLarge(len));
    }
    if len % 4096 != 0 {
        return Err(FirmwareError::NotMultipleOf4K(len));
    }
    let low = len.min(LOW_ALIAS);
    mem.add_rom(0x10_0000 - low as u64, image[len - low..].to_vec());
    mem.add_rom((1u64 << 32) - len as u64, image);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_appears_at_4g_and_below_1m() {
        let mut mem = GuestMemory::new(1 << 20).unwrap();
        let mut image = vec![0u8; 0x10000];
        image[0xfff0] = 0xea;
        map_firmware(&mut mem, image).unwrap();
        assert_eq!(mem.read_u8(0xffff_fff0), 0xea);
        assert_eq!(mem.read_u8(0xffff0), 0xea);
    }

    #[test]
    fn bad_sizes_are_refused() {
        let mut mem = GuestMemory::new(1 << 20).unwrap();
        assert_eq!(map_firmware(&mut mem, vec![]), Err(FirmwareError::Empty));
        assert_eq!(
            map_firmware(&mut mem, vec![0; 100]),
            Err(FirmwareError::NotMultipleOf4K(100))
        );
    }
}

//! QEMU's BIOS linker/loader script ("etc/table-loader"), through which
//! firmware (SeaBIOS, OVMF) installs tables built by the board: it loads
//! fw_cfg files into memory it picks, patches the pointers between them and
//! fixes their checksums. Each command is a 128-byte little-endian entry
//! (QEMU's hw/acpi/bios-linker-loader.c documents the format):
//!
//! - ALLOCATE (1): file name[56], alignment u32, zone u8 (1 high memory,
//!   2 the F segment).
//! - ADD_POINTER (2): destination file[56], source file[56], offset u32,
//!   size u8: the `size`-byte value at `offset` in the destination, which
//!   holds an offset into the source file, gets the source's address added.
//! - ADD_CHECKSUM (3): file[56], offset u32, start u32, length u32: the byte
//!   at `offset` is adjusted so that the bytes `start..start+length` sum to 0.

/// Bytes per command.
pub const ENTRY_SIZE: usize = 128;
/// File names in commands are NUL-padded to this many bytes (the last one
/// always NUL).
pub const FILE_NAME_SIZE: usize = 56;

pub const COMMAND_ALLOCATE: u32 = 1;
pub const COMMAND_ADD_POINTER: u32 = 2;
pub const COMMAND_ADD_CHECKSUM: u32 = 3;

/// Where an allocated file goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    /// Reserved memory at the top of RAM (the ACPI tables).
    High = 1,
    /// The BIOS area 0xE0000-0xFFFFF, where an OS scans for the RSDP.
    FSeg = 2,
}

/// One loader command, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Allocate {
        file: String,
        align: u32,
        zone: Zone,
    },
    AddPointer {
        dest: String,
        src: String,
        offset: u32,
        size: u8,
    },
    AddChecksum {
        file: String,
        offset: u32,
        start: u32,
        length: u32,
    },
}

fn put_name(entry: &mut [u8], at: usize, name: &str) {
    // Names are ours and short; a longer one would be a bug here.
    assert!(name.len() < FILE_NAME_SIZE, "loader file name too long");
    entry[at..at + name.len()].copy_from_slice(name.as_bytes());
}

impl Command {
    /// The 128-byte entry.
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut e = [0u8; ENTRY_SIZE];
        let n = FILE_NAME_SIZE;
        let put_u32 = |e: &mut [u8; ENTRY_SIZE], at: usize, v: u32| {
            e[at..at + 4].copy_from_slice(&v.to_le_bytes())
        };
        match self {
            Command::Allocate { file, align, zone } => {
                put_u32(&mut e, 0, COMMAND_ALLOCATE);
                put_name(&mut e, 4, file);
                put_u32(&mut e, 4 + n, *align);
                e[8 + n] = *zone as u8;
            }
            Command::AddPointer {
                dest,
                src,
                offset,
                size,
            } => {
                put_u32(&mut e, 0, COMMAND_ADD_POINTER);
                put_name(&mut e, 4, dest);
                put_name(&mut e, 4 + n, src);
                put_u32(&mut e, 4 + 2 * n, *offset);
                e[8 + 2 * n] = *size;
            }
            Command::AddChecksum {
                file,
                offset,
                start,
                length,
            } => {
                put_u32(&mut e, 0, COMMAND_ADD_CHECKSUM);
                put_name(&mut e, 4, file);
                put_u32(&mut e, 4 + n, *offset);
                put_u32(&mut e, 8 + n, *start);
                put_u32(&mut e, 12 + n, *length);
            }
        }
        e
    }

    /// Decodes an entry; None for commands this module does not write.
    pub fn decode(e: &[u8; ENTRY_SIZE]) -> Option<Command> {
        let n = FILE_NAME_SIZE;
        let u32_at = |at: usize| u32::from_le_bytes(e[at..at + 4].try_into().unwrap());
        let name = |at: usize| {
            let raw = &e[at..at + n];
            let len = raw.iter().position(|&b| b == 0)?;
            String::from_utf8(raw[..len].to_vec()).ok()
        };
        Some(match u32_at(0) {
            COMMAND_ALLOCATE => Command::Allocate {
                file: name(4)?,
                align: u32_at(4 + n),
                zone: match e[8 + n] {
                    1 => Zone::High,
                    2 => Zone::FSeg,
                    _ => return None,
                },
            },
            COMMAND_ADD_POINTER => Command::AddPointer {
                dest: name(4)?,
                src: name(4 + n)?,
                offset: u32_at(4 + 2 * n),
                size: e[8 + 2 * n],
            },
            COMMAND_ADD_CHECKSUM => Command::AddChecksum {
                file: name(4)?,
                offset: u32_at(4 + n),
                start: u32_at(8 + n),
                length: u32_at(12 + n),
            },
            _ => return None,
        })
    }
}

/// A script: commands in the order firmware must run them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoaderScript {
    pub commands: Vec<Command>,
}

impl LoaderScript {
    pub fn allocate(&mut self, file: &str, align: u32, zone: Zone) {
        self.commands.push(Command::Allocate {
            file: file.into(),
            align,
            zone,
        });
    }

    pub fn add_pointer(&mut self, dest: &str, src: &str, offset: u32, size: u8) {
        self.commands.push(Command::AddPointer {
            dest: dest.into(),
            src: src.into(),
            offset,
            size,
        });
    }

    pub fn add_checksum(&mut self, file: &str, offset: u32, start: u32, length: u32) {
        self.commands.push(Command::AddChecksum {
            file: file.into(),
            offset,
            start,
            length,
        });
    }

    /// The fw_cfg file's contents.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.commands.iter().flat_map(|c| c.encode()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_have_the_documented_layout() {
        let mut s = LoaderScript::default();
        s.allocate("etc/acpi/rsdp", 16, Zone::FSeg);
        s.add_pointer("etc/acpi/rsdp", "etc/acpi/tables", 24, 8);
        s.add_checksum("etc/acpi/rsdp", 8, 0, 20);
        let b = s.to_bytes();
        assert_eq!(b.len(), 3 * ENTRY_SIZE);
        let e = |i: usize| &b[i * ENTRY_SIZE..(i + 1) * ENTRY_SIZE];
        // ALLOCATE: command, name at 4, align at 60, zone at 64.
        assert_eq!(e(0)[..4], [1, 0, 0, 0]);
        assert_eq!(&e(0)[4..17], b"etc/acpi/rsdp");
        assert_eq!(e(0)[17], 0);
        assert_eq!(e(0)[60..65], [16, 0, 0, 0, 2]);
        // ADD_POINTER: dest at 4, src at 60, offset at 116, size at 120.
        assert_eq!(e(1)[..4], [2, 0, 0, 0]);
        assert_eq!(&e(1)[60..75], b"etc/acpi/tables");
        assert_eq!(e(1)[116..121], [24, 0, 0, 0, 8]);
        // ADD_CHECKSUM: file at 4, offset at 60, start at 64, length at 68.
        assert_eq!(e(2)[..4], [3, 0, 0, 0]);
        assert_eq!(e(2)[60..72], [8, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0]);
        assert!(b[65..128].iter().all(|&x| x == 0), "padding is zero");
        for (i, c) in s.commands.iter().enumerate() {
            assert_eq!(Command::decode(e(i).try_into().unwrap()).as_ref(), Some(c));
        }
    }

    #[test]
    fn unknown_commands_and_unterminated_names_do_not_decode() {
        let mut e = [0u8; ENTRY_SIZE];
        e[0] = 4; // WRITE_POINTER: not written here
        assert_eq!(Command::decode(&e), None);
        e[0] = 1;
        e[4..60].fill(b'a');
        assert_eq!(Command::decode(&e), None);
    }
}

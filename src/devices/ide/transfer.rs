//! The data phases of a command: where data-in bytes come from and where
//! data-out bytes go, consumed in pieces of whatever size the PIO block or
//! the DMA descriptor asks for. Sectors are read from the image only as
//! they are needed, so a guest asking for 65536 sectors costs no memory.

use super::backend::BlockBackend;
use std::io;

/// Bytes a command returns: a prepared reply, then `left` sectors of
/// `size` bytes from `lba`.
#[derive(Debug, Default)]
pub struct Source {
    staged: Vec<u8>,
    pos: usize,
    lba: u64,
    left: u64,
    size: usize,
}

/// Sectors read into the stage at once.
const READ_AHEAD: u64 = 128;

impl Source {
    pub fn bytes(data: Vec<u8>) -> Self {
        Source {
            staged: data,
            ..Default::default()
        }
    }

    pub fn sectors(lba: u64, count: u64, size: usize) -> Self {
        Source {
            lba,
            left: count,
            size,
            ..Default::default()
        }
    }

    pub fn remaining(&self) -> u64 {
        (self.staged.len() - self.pos) as u64 + self.left * self.size as u64
    }

    /// The next `n` bytes (fewer at the end).
    pub fn take(&mut self, n: usize, backend: &mut dyn BlockBackend) -> io::Result<Vec<u8>> {
        while self.staged.len() - self.pos < n && self.left > 0 {
            self.staged.drain(..self.pos);
            self.pos = 0;
            let count = self.left.min(READ_AHEAD);
            let at = self.staged.len();
            self.staged.resize(at + count as usize * self.size, 0);
            let offset = self
                .lba
                .checked_mul(self.size as u64)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "lba"))?;
            backend.read_at(offset, &mut self.staged[at..])?;
            self.lba += count;
            self.left -= count;
        }
        let end = (self.pos + n).min(self.staged.len());
        let out = self.staged[self.pos..end].to_vec();
        self.pos = end;
        Ok(out)
    }
}

/// Sectors a command writes: `left` sectors of 512 bytes from `lba`.
#[derive(Debug, Default)]
pub struct Sink {
    lba: u64,
    left: u64,
    staged: Vec<u8>,
}

pub const SECTOR: usize = 512;

impl Sink {
    pub fn new(lba: u64, count: u64) -> Self {
        Sink {
            lba,
            left: count,
            staged: Vec::new(),
        }
    }

    /// Bytes still expected.
    pub fn remaining(&self) -> u64 {
        (self.left * SECTOR as u64).saturating_sub(self.staged.len() as u64)
    }

    /// The address of the next sector to be written.
    pub fn lba(&self) -> u64 {
        self.lba
    }

    /// Takes bytes (at most `remaining()` are kept) and writes every
    /// sector completed.
    pub fn put(&mut self, data: &[u8], backend: &mut dyn BlockBackend) -> io::Result<()> {
        let keep = (self.remaining() as usize).min(data.len());
        self.staged.extend_from_slice(&data[..keep]);
        let whole = self.staged.len() / SECTOR;
        if whole > 0 {
            let bytes = whole * SECTOR;
            backend.write_at(self.lba * SECTOR as u64, &self.staged[..bytes])?;
            self.staged.drain(..bytes);
            self.lba += whole as u64;
            self.left -= whole as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::backend::MemBackend;
    use super::*;

    #[test]
    fn source_streams_sectors_in_any_piece_size() {
        let data: Vec<u8> = (0..4096u32).map(|i| (i / 512) as u8).collect();
        let mut be = MemBackend::new(data, true);
        let mut src = Source::sectors(2, 3, 512);
        assert_eq!(src.remaining(), 1536);
        let a = src.take(700, &mut be).unwrap();
        assert_eq!((a[0], a[511], a[512], a.len()), (2, 2, 3, 700));
        let b = src.take(5000, &mut be).unwrap();
        assert_eq!((b.len(), b[b.len() - 1]), (836, 4));
        assert_eq!(src.remaining(), 0);
        let mut bad = Source::sectors(7, 2, 512);
        assert!(bad.take(1024, &mut be).is_err(), "past the image");
    }

    #[test]
    fn sink_writes_whole_sectors_and_ignores_extra_bytes() {
        let mut be = MemBackend::new(vec![0; 2048], false);
        let mut sink = Sink::new(1, 2);
        sink.put(&[1; 300], &mut be).unwrap();
        assert_eq!(be.data[512], 0, "nothing until a sector is whole");
        sink.put(&[2; 1000], &mut be).unwrap();
        assert_eq!(sink.remaining(), 0);
        assert_eq!((be.data[512], be.data[812], be.data[1535]), (1, 2, 2));
        assert_eq!(be.data[1536], 0, "the extra bytes went nowhere");
    }
}

//! Where a drive's sectors live: a raw image file, or memory in tests.
//! Offsets and lengths come from guest-controlled LBAs, so every access is
//! checked against the size before it reaches the file.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Byte-addressed storage behind a drive.
pub trait BlockBackend: Send {
    /// Size in bytes.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn read_only(&self) -> bool;
    /// Fills `buf` from `offset`; the whole range must lie inside `len()`.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes `buf` at `offset`; the whole range must lie inside `len()`.
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()>;
    /// Makes written data durable (FLUSH CACHE).
    fn flush(&mut self) -> io::Result<()>;
}

fn check_range(len: u64, offset: u64, n: usize) -> io::Result<()> {
    match offset.checked_add(n as u64) {
        Some(end) if end <= len => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "access past the end of the image",
        )),
    }
}

/// A raw image file.
pub struct FileBackend {
    file: File,
    len: u64,
    read_only: bool,
}

impl FileBackend {
    /// Opens `path` read-write, or read-only when `read_only` (CD-ROMs).
    pub fn open(path: &Path, read_only: bool) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(!read_only).open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        Ok(FileBackend {
            file,
            len: meta.len(),
            read_only,
        })
    }
}

impl BlockBackend for FileBackend {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_only(&self) -> bool {
        self.read_only
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        check_range(self.len, offset, buf.len())?;
        self.file.read_exact_at(buf, offset)
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        if self.read_only {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "read-only"));
        }
        check_range(self.len, offset, buf.len())?;
        self.file.write_all_at(buf, offset)
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.file.sync_data()
    }
}

/// The empty place of a removable drive with no disc: nothing to read.
pub struct NoMedium;

impl BlockBackend for NoMedium {
    fn len(&self) -> u64 {
        0
    }
    fn read_only(&self) -> bool {
        true
    }
    fn read_at(&mut self, _offset: u64, _buf: &mut [u8]) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::NotFound, "no medium"))
    }
    fn write_at(&mut self, _offset: u64, _buf: &[u8]) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::NotFound, "no medium"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An image held in memory (tests, scratch disks).
pub struct MemBackend {
    pub data: Vec<u8>,
    pub read_only: bool,
    /// How many times `flush` was called.
    pub flushes: u32,
}

impl MemBackend {
    pub fn new(data: Vec<u8>, read_only: bool) -> Self {
        MemBackend {
            data,
            read_only,
            flushes: 0,
        }
    }
}

impl BlockBackend for MemBackend {
    fn len(&self) -> u64 {
        self.data.len() as u64
    }
    fn read_only(&self) -> bool {
        self.read_only
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        check_range(self.len(), offset, buf.len())?;
        let at = offset as usize;
        buf.copy_from_slice(&self.data[at..at + buf.len()]);
        Ok(())
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        if self.read_only {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "read-only"));
        }
        check_range(self.len(), offset, buf.len())?;
        let at = offset as usize;
        self.data[at..at + buf.len()].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flushes += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_past_the_end_fail_without_touching_data() {
        let mut m = MemBackend::new(vec![7; 1024], false);
        let mut buf = [0u8; 512];
        assert!(m.read_at(1024, &mut buf).is_err());
        assert!(m.read_at(u64::MAX - 10, &mut buf).is_err());
        assert!(m.write_at(600, &buf).is_err());
        m.read_at(512, &mut buf).unwrap();
        assert_eq!(buf, [7; 512]);
        let mut ro = MemBackend::new(vec![0; 512], true);
        assert!(ro.write_at(0, &[1]).is_err());
    }

    #[test]
    fn file_writes_reach_the_file() {
        let dir = std::env::temp_dir().join(format!("xlat-backend-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("disk.img");
        std::fs::write(&path, vec![0u8; 2048]).unwrap();
        let mut f = FileBackend::open(&path, false).unwrap();
        assert_eq!(f.len(), 2048);
        f.write_at(512, &[0xab; 512]).unwrap();
        f.flush().unwrap();
        assert!(f.write_at(2000, &[0; 512]).is_err());
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[512..1024], &[0xab; 512][..]);
        let mut ro = FileBackend::open(&path, true).unwrap();
        assert!(ro.write_at(0, &[1]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

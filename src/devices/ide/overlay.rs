//! Throwaway writes (`--snapshot`): a backend that keeps every write in
//! memory over an image it only reads, so the guest sees its own writes
//! while the file stays as it was. What the guest wrote is lost at exit.

use super::backend::BlockBackend;
use std::collections::HashMap;
use std::io;

/// Bytes per overlay chunk: a page, so Linux's 4 KiB writes touch one.
const CHUNK: u64 = 4096;

pub struct OverlayBackend {
    base: Box<dyn BlockBackend>,
    /// Chunks the guest wrote, by chunk number; each holds the whole chunk
    /// (the last one of the image only up to its end).
    chunks: HashMap<u64, Vec<u8>>,
}

impl OverlayBackend {
    pub fn new(base: Box<dyn BlockBackend>) -> Self {
        OverlayBackend {
            base,
            chunks: HashMap::new(),
        }
    }

    /// The chunks `offset..offset + n` touches, each as (chunk number,
    /// offset inside the chunk, offset inside the caller's buffer, bytes).
    fn pieces(offset: u64, n: usize) -> impl Iterator<Item = (u64, usize, usize, usize)> {
        let end = offset + n as u64;
        let mut at = offset;
        std::iter::from_fn(move || {
            (at < end).then(|| {
                let chunk = at / CHUNK;
                let inner = (at % CHUNK) as usize;
                let len = ((CHUNK - at % CHUNK).min(end - at)) as usize;
                let piece = (chunk, inner, (at - offset) as usize, len);
                at += len as u64;
                piece
            })
        })
    }

    fn check(&self, offset: u64, n: usize) -> io::Result<()> {
        match offset.checked_add(n as u64) {
            Some(end) if end <= self.base.len() => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "access past the end of the image",
            )),
        }
    }
}

impl BlockBackend for OverlayBackend {
    fn len(&self) -> u64 {
        self.base.len()
    }
    fn read_only(&self) -> bool {
        false
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.check(offset, buf.len())?;
        for (chunk, inner, at, len) in Self::pieces(offset, buf.len()) {
            let out = &mut buf[at..at + len];
            match self.chunks.get(&chunk) {
                Some(data) => out.copy_from_slice(&data[inner..inner + len]),
                None => self.base.read_at(offset + at as u64, out)?,
            }
        }
        Ok(())
    }
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        self.check(offset, buf.len())?;
        for (chunk, inner, at, len) in Self::pieces(offset, buf.len()) {
            if !self.chunks.contains_key(&chunk) {
                let start = chunk * CHUNK;
                let mut data = vec![0; (self.base.len() - start).min(CHUNK) as usize];
                self.base.read_at(start, &mut data)?;
                self.chunks.insert(chunk, data);
            }
            let data = self.chunks.get_mut(&chunk).expect("inserted above");
            data[inner..inner + len].copy_from_slice(&buf[at..at + len]);
        }
        Ok(())
    }
    /// Nothing reaches the image, so there is nothing to make durable.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::backend::MemBackend;
    use super::*;

    /// An image of `len` bytes whose byte i is i mod 251.
    fn numbered(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn writes_are_seen_by_reads_but_never_reach_the_base() {
        let len = 3 * CHUNK as usize + 1000;
        let base = MemBackend::new(numbered(len), true);
        let mut o = OverlayBackend::new(Box::new(base));
        assert!(!o.read_only());
        // Across a chunk boundary, and into the short last chunk.
        o.write_at(CHUNK - 10, &[0xaa; 30]).unwrap();
        o.write_at(3 * CHUNK + 990, &[0xbb; 10]).unwrap();
        let mut all = vec![0; len];
        o.read_at(0, &mut all).unwrap();
        let mut want = numbered(len);
        want[CHUNK as usize - 10..CHUNK as usize + 20].fill(0xaa);
        want[len - 10..].fill(0xbb);
        assert_eq!(all, want);
        // Unaligned reads mixing written and untouched chunks.
        let mut piece = [0; 40];
        o.read_at(CHUNK - 15, &mut piece).unwrap();
        assert_eq!(&piece[..], &want[CHUNK as usize - 15..CHUNK as usize + 25]);
        o.flush().unwrap();
        // The base is read-only: a write reaching it would have failed.
        assert!(o.write_at(len as u64 - 5, &[0; 10]).is_err());
        assert!(o.read_at(u64::MAX - 3, &mut piece).is_err());
    }

    #[test]
    fn a_file_under_the_overlay_stays_unchanged() {
        let dir = std::env::temp_dir().join(format!("xlat-overlay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("disk.img");
        std::fs::write(&path, numbered(8192)).unwrap();
        let file = super::super::FileBackend::open(&path, true).unwrap();
        let mut o = OverlayBackend::new(Box::new(file));
        o.write_at(512, &[0xcc; 1024]).unwrap();
        o.flush().unwrap();
        let mut back = [0; 1024];
        o.read_at(512, &mut back).unwrap();
        assert_eq!(back, [0xcc; 1024]);
        assert_eq!(std::fs::read(&path).unwrap(), numbered(8192));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

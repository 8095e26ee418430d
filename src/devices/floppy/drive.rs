//! A floppy drive and the diskette in it: the head's cylinder, the
//! disk-change line, where the spinning disk is (for READ ID), and the
//! image behind the medium. Sector numbers come from the guest, so every
//! access is checked against the format before it reaches the image.

use super::geometry::{format_for_size, MediaFormat};
use crate::devices::ide::BlockBackend;
use std::io;

pub struct Diskette {
    backend: Box<dyn BlockBackend>,
    pub format: MediaFormat,
}

impl Diskette {
    /// A diskette over `backend`, its format from the image size; None
    /// when no format fits.
    pub fn new(backend: Box<dyn BlockBackend>) -> Option<Self> {
        let format = format_for_size(backend.len())?;
        Some(Diskette { backend, format })
    }

    pub fn write_protected(&self) -> bool {
        self.backend.read_only()
    }

    /// Reads one 512-byte sector; past the end of a partial image the
    /// medium reads as zeros.
    pub fn read_sector(
        &mut self,
        track: u8,
        head: u8,
        r: u8,
        buf: &mut [u8; 512],
    ) -> io::Result<()> {
        let offset = self.format.offset(track, head, r);
        buf.fill(0);
        let len = self.backend.len();
        if offset < len {
            let n = (len - offset).min(512) as usize;
            self.backend.read_at(offset, &mut buf[..n])?;
        }
        Ok(())
    }

    /// Writes one sector. A partial image cannot grow: sectors past its
    /// end fail as a media error.
    pub fn write_sector(&mut self, track: u8, head: u8, r: u8, data: &[u8; 512]) -> io::Result<()> {
        let offset = self.format.offset(track, head, r);
        self.backend.write_at(offset, data)
    }
}

#[derive(Default)]
pub struct FloppyDrive {
    pub media: Option<Diskette>,
    /// The cylinder the head is on (the controller's PCN follows it).
    pub cylinder: u8,
    /// The DSKCHG line: set at power-on with a disk inserted, cleared by a
    /// step pulse while a disk is in the drive.
    pub disk_changed: bool,
    /// The sector passing under the head next (READ ID).
    pub next_sector: u8,
}

impl FloppyDrive {
    pub fn insert(&mut self, media: Diskette) {
        self.media = Some(media);
        self.disk_changed = true;
    }

    /// A seek moved the head (or tried to): a disk in the drive clears the
    /// change line.
    pub fn stepped(&mut self) {
        if self.media.is_some() {
            self.disk_changed = false;
        }
    }

    /// The ID of the next sector under the head, stepping the rotation.
    pub fn next_id(&mut self) -> Option<u8> {
        let sectors = self.media.as_ref()?.format.sectors;
        let r = self.next_sector % sectors + 1;
        self.next_sector = r % sectors;
        Some(r)
    }
}

//! An ATAPI CD-ROM drive (ATA/ATAPI-6 PACKET feature set; SCSI commands as
//! in MMC-3/SPC-2): its identify block and what each packet command
//! answers. Failures are CHECK CONDITION with sense data for REQUEST SENSE.

use super::backend::{BlockBackend, NoMedium};
use super::identify::IdentifyBlock;
use super::media::{MediaState, TrayLocked};
use super::transfer::Source;

pub const CD_BLOCK: usize = 2048;

/// Sense keys and the additional sense codes used.
pub const NOT_READY: u8 = 0x02;
pub const ILLEGAL_REQUEST: u8 = 0x05;
const ASC_INVALID_OPCODE: u8 = 0x20;
const ASC_LBA_OUT_OF_RANGE: u8 = 0x21;
const ASC_INVALID_FIELD: u8 = 0x24;
const ASC_SAVING_NOT_SUPPORTED: u8 = 0x39;
const ASC_REMOVAL_PREVENTED: u8 = 0x53;
const ASC_READ_ERROR: u8 = 0x11;
const MEDIUM_ERROR: u8 = 0x03;

/// A SCSI sense triple.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sense {
    pub key: u8,
    pub asc: u8,
    pub ascq: u8,
}

pub const fn sense(key: u8, asc: u8, ascq: u8) -> Sense {
    Sense { key, asc, ascq }
}

pub struct AtapiCdrom {
    /// The disc's image ([`NoMedium`] without one).
    backend: Box<dyn BlockBackend>,
    blocks: u64,
    pub sense: Sense,
    media: MediaState,
    transfer_mode: u8,
}

fn be16(b: &[u8]) -> usize {
    u16::from_be_bytes([b[0], b[1]]) as usize
}

fn be32(b: &[u8]) -> u64 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64
}

/// Logical block address to minutes/seconds/frames (the 2-second lead-in
/// offset included), as READ TOC reports with MSF set.
fn msf(lba: u64) -> [u8; 4] {
    let f = lba + 150;
    [
        0,
        (f / 75 / 60).min(255) as u8,
        (f / 75 % 60) as u8,
        (f % 75) as u8,
    ]
}

/// A reply cut to the allocation length.
fn reply(mut data: Vec<u8>, alloc: usize) -> Result<Option<Source>, Sense> {
    data.truncate(alloc);
    Ok((!data.is_empty()).then(|| Source::bytes(data)))
}

impl AtapiCdrom {
    /// A drive with the disc `backend` in it.
    pub fn new(backend: Box<dyn BlockBackend>) -> Self {
        let blocks = backend.len() / CD_BLOCK as u64;
        AtapiCdrom {
            backend,
            blocks,
            sense: Sense::default(),
            media: MediaState::loaded(),
            transfer_mode: 0,
        }
    }

    /// A drive with no disc, its tray closed.
    pub fn empty() -> Self {
        AtapiCdrom {
            media: MediaState::empty(),
            ..AtapiCdrom::new(Box::new(NoMedium))
        }
    }

    pub fn backend(&mut self) -> &mut dyn BlockBackend {
        self.backend.as_mut()
    }

    /// Tray, lock and medium, as the monitor reports them.
    pub fn media(&self) -> &MediaState {
        &self.media
    }

    /// The user's eject: opens the tray and removes the disc; refused
    /// (and the guest asked to eject) while the guest locks the tray,
    /// unless `force`.
    pub fn eject(&mut self, force: bool) -> Result<(), TrayLocked> {
        self.media.user_eject(force)?;
        self.backend = Box::new(NoMedium);
        self.blocks = 0;
        Ok(())
    }

    /// The user's change: ejects (as [`Self::eject`] without force), puts
    /// the disc `backend` in and closes the tray.
    pub fn change(&mut self, backend: Box<dyn BlockBackend>) -> Result<(), TrayLocked> {
        self.eject(false)?;
        self.blocks = backend.len() / CD_BLOCK as u64;
        self.backend = backend;
        self.media.user_insert();
        Ok(())
    }

    pub fn reset(&mut self) {
        self.media.reset();
        self.sense = Sense::default();
    }

    pub fn set_transfer_mode(&mut self, mode: u8) {
        self.transfer_mode = mode;
    }

    pub fn identify(&self) -> Vec<u8> {
        let mut b = IdentifyBlock::new();
        let w = &mut b.0;
        // ATAPI, CD-ROM, removable, DRQ within 50 us, 12-byte packets.
        w[0] = 0x85c0;
        w[49] = 1 << 11 | 1 << 9 | 1 << 8; // IORDY, LBA, DMA
        w[53] = 0x0006; // words 64-70 and 88 valid
        w[71] = 30;
        w[72] = 30;
        w[80] = 0x007e;
        w[82] = 1 << 14 | 1 << 9 | 1 << 4; // NOP, DEVICE RESET, PACKET
        w[83] = 0x4000;
        w[84] = 0x4000;
        w[85] = 1 << 14 | 1 << 9 | 1 << 4;
        w[87] = 0x4000;
        b.string(10, 10, "XLATCD0001");
        b.string(23, 4, "1.0");
        b.string(27, 20, "XLAT DVD-ROM");
        b.transfer_modes(self.transfer_mode);
        b.to_bytes()
    }

    fn medium(&self) -> Result<(), Sense> {
        self.media.check_ready()
    }

    /// Runs a packet command. `Ok(Some(src))` has data for the host; the
    /// sense is set to match the result.
    pub fn execute(&mut self, cdb: &[u8; 12]) -> Result<Option<Source>, Sense> {
        if cdb[0] == 0x03 && self.sense == Sense::default() {
            if let Some(ua) = self.media.take_unit_attention_for_sense() {
                self.sense = ua;
            }
        }
        // A changed disc: the first command that is not exempt fails
        // once with UNIT ATTENTION.
        let result = match self.media.take_unit_attention(cdb[0]) {
            Some(ua) => Err(ua),
            None => self.dispatch(cdb),
        };
        // REQUEST SENSE reports (and then clears) the previous result.
        if cdb[0] != 0x03 {
            self.sense = result.as_ref().err().copied().unwrap_or_default();
        }
        result
    }

    fn dispatch(&mut self, cdb: &[u8; 12]) -> Result<Option<Source>, Sense> {
        let invalid_field = sense(ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
        match cdb[0] {
            0x00 => self.medium().map(|_| None), // TEST UNIT READY
            0x03 => {
                // REQUEST SENSE: fixed format.
                let mut d = vec![0u8; 18];
                d[0] = 0x70;
                d[2] = self.sense.key;
                d[7] = 10;
                d[12] = self.sense.asc;
                d[13] = self.sense.ascq;
                self.sense = Sense::default();
                reply(d, cdb[4] as usize)
            }
            0x12 => {
                // INQUIRY: standard data only.
                if cdb[1] & 1 != 0 {
                    return Err(invalid_field);
                }
                let mut d = vec![0u8; 36];
                d[0] = 0x05; // CD/DVD device
                d[1] = 0x80; // removable
                d[2] = 0x00;
                d[3] = 0x21; // ATAPI, response data format 1
                d[4] = 31;
                d[8..16].copy_from_slice(b"XLAT    ");
                d[16..32].copy_from_slice(b"XLAT DVD-ROM    ");
                d[32..36].copy_from_slice(b"1.0 ");
                reply(d, be16(&cdb[3..5]))
            }
            0x1b => {
                // START STOP UNIT: LoEj with Start clear opens the tray.
                let (start, loej) = (cdb[4] & 1 != 0, cdb[4] & 2 != 0);
                if loej && self.media.guest_load_eject(start).is_err() {
                    return Err(sense(ILLEGAL_REQUEST, ASC_REMOVAL_PREVENTED, 2));
                }
                Ok(None)
            }
            0x1e => {
                // PREVENT ALLOW MEDIUM REMOVAL.
                self.media.set_locked(cdb[4] & 1 != 0);
                Ok(None)
            }
            0x25 => {
                // READ CAPACITY: last block and block size.
                self.medium()?;
                let last = self.blocks.saturating_sub(1).min(u32::MAX as u64) as u32;
                let mut d = last.to_be_bytes().to_vec();
                d.extend_from_slice(&(CD_BLOCK as u32).to_be_bytes());
                Ok(Some(Source::bytes(d)))
            }
            0x28 | 0xa8 => {
                // READ(10), READ(12).
                self.medium()?;
                let lba = be32(&cdb[2..6]);
                let count = if cdb[0] == 0x28 {
                    be16(&cdb[7..9]) as u64
                } else {
                    be32(&cdb[6..10])
                };
                if lba + count > self.blocks {
                    return Err(sense(ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0));
                }
                Ok((count > 0).then(|| Source::sectors(lba, count, CD_BLOCK)))
            }
            0x43 => self.read_toc(cdb),
            0x46 => self.get_configuration(cdb),
            0x4a => {
                // GET EVENT STATUS NOTIFICATION: polled only.
                if cdb[1] & 1 == 0 {
                    return Err(invalid_field);
                }
                let alloc = be16(&cdb[7..9]);
                let d = if cdb[4] & 0x10 != 0 {
                    // Media class: the next event, the tray and disc.
                    let (event, status) = self.media.take_event();
                    vec![0, 6, 0x04, 0x10, event, status, 0, 0]
                } else {
                    vec![0, 2, 0x80, 0x10]
                };
                reply(d, alloc)
            }
            0x5a => self.mode_sense(cdb),
            _ => Err(sense(ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0)),
        }
    }

    fn read_toc(&mut self, cdb: &[u8; 12]) -> Result<Option<Source>, Sense> {
        self.medium()?;
        let use_msf = cdb[1] & 2 != 0;
        let format = match cdb[2] & 0x0f {
            0 => cdb[9] >> 6, // the old place of the format field
            f => f,
        };
        let alloc = be16(&cdb[7..9]);
        let addr = |lba: u64| {
            if use_msf {
                msf(lba)
            } else {
                (lba as u32).to_be_bytes()
            }
        };
        let mut d = vec![0, 0, 1, 1];
        match format {
            0 => {
                let track = cdb[6];
                if track > 1 && track != 0xaa {
                    return Err(sense(ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0));
                }
                if track <= 1 {
                    d.extend_from_slice(&[0, 0x14, 1, 0]);
                    d.extend_from_slice(&addr(0));
                }
                d.extend_from_slice(&[0, 0x14, 0xaa, 0]);
                d.extend_from_slice(&addr(self.blocks));
            }
            1 => {
                // Session information: one session, track 1 at 0.
                d.extend_from_slice(&[0, 0x14, 1, 0]);
                d.extend_from_slice(&addr(0));
            }
            _ => return Err(sense(ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0)),
        }
        let len = (d.len() - 2) as u16;
        d[0..2].copy_from_slice(&len.to_be_bytes());
        reply(d, alloc)
    }

    fn get_configuration(&mut self, cdb: &[u8; 12]) -> Result<Option<Source>, Sense> {
        let rt = cdb[1] & 3;
        let start = be16(&cdb[2..4]) as u16;
        let alloc = be16(&cdb[7..9]);
        let ready = self.media.ready();
        // The current profile: CD-ROM when a disc can be read.
        let profile: u16 = if ready { 0x0008 } else { 0 };
        // Feature descriptors: Profile List (0), Core (1), Removable
        // Medium (3); the CD-ROM profile is current when a disc is in.
        let current = ready as u8;
        let features: [(u16, Vec<u8>); 3] = [
            (0x0000, vec![0x00, 0x08, current, 0]),
            (0x0001, vec![0, 0, 0, 2, 0, 0, 0, 0]), // ATAPI
            (0x0003, vec![0x29, 0, 0, 0]),
        ];
        let mut d = vec![0u8; 8];
        d[6..8].copy_from_slice(&profile.to_be_bytes());
        for (code, body) in features {
            let wanted = match rt {
                0 | 1 => code >= start,
                2 => code == start,
                _ => return Err(sense(ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0)),
            };
            if wanted {
                d.extend_from_slice(&code.to_be_bytes());
                // Version, persistent (Profile List, Core), current.
                let persistent = (code <= 1) as u8;
                d.push(persistent << 1 | 1);
                d.push(body.len() as u8);
                d.extend_from_slice(&body);
            }
        }
        let len = (d.len() - 4) as u32;
        d[0..4].copy_from_slice(&len.to_be_bytes());
        reply(d, alloc)
    }

    fn mode_sense(&mut self, cdb: &[u8; 12]) -> Result<Option<Source>, Sense> {
        let control = cdb[2] >> 6;
        let page = cdb[2] & 0x3f;
        let alloc = be16(&cdb[7..9]);
        if control == 3 {
            return Err(sense(ILLEGAL_REQUEST, ASC_SAVING_NOT_SUPPORTED, 0));
        }
        // Read-write error recovery and the CD capabilities page.
        let recovery = vec![0x01, 0x06, 0, 5, 0, 0, 0, 0];
        let mut caps = vec![0u8; 20];
        caps[0] = 0x2a;
        caps[1] = 18;
        caps[4] = 0x71; // audio play, composite, digital ports, multisession
        caps[5] = 0x01; // CD-DA commands
        caps[6] = 0x29 | (self.media.locked() as u8) << 1; // tray, eject, lock
        caps[8..10].copy_from_slice(&706u16.to_be_bytes()); // 4x, KB/s
        caps[12..14].copy_from_slice(&512u16.to_be_bytes());
        caps[14..16].copy_from_slice(&706u16.to_be_bytes());
        let pages = match page {
            0x01 => vec![recovery],
            0x2a => vec![caps],
            0x3f => vec![recovery, caps],
            _ => return Err(sense(ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0)),
        };
        let mut d = vec![0u8; 8];
        d[2] = if self.media.ready() { 0x01 } else { 0x70 }; // medium type
        for mut p in pages {
            if control == 1 {
                // Changeable values: none.
                p[2..].fill(0);
            }
            d.extend_from_slice(&p);
        }
        let len = (d.len() - 2) as u16;
        d[0..2].copy_from_slice(&len.to_be_bytes());
        reply(d, alloc)
    }

    /// The sense a failed read leaves.
    pub fn read_error(&mut self) -> Sense {
        self.sense = sense(MEDIUM_ERROR, ASC_READ_ERROR, 0);
        self.sense
    }
}

#[cfg(test)]
mod tests {
    use super::super::backend::MemBackend;
    use super::super::media::{ASC_MEDIUM_MAY_HAVE_CHANGED, ASC_NO_MEDIUM, UNIT_ATTENTION};
    use super::*;

    fn drive(blocks: usize) -> AtapiCdrom {
        let data: Vec<u8> = (0..blocks * CD_BLOCK)
            .map(|i| (i / CD_BLOCK) as u8)
            .collect();
        AtapiCdrom::new(Box::new(MemBackend::new(data, true)))
    }

    fn run(d: &mut AtapiCdrom, cdb: &[u8]) -> Result<Vec<u8>, Sense> {
        let mut c = [0u8; 12];
        c[..cdb.len()].copy_from_slice(cdb);
        let r = d.execute(&c)?;
        Ok(match r {
            Some(mut src) => {
                let n = src.remaining() as usize;
                src.take(n, d.backend()).unwrap()
            }
            None => vec![],
        })
    }

    #[test]
    fn toc_capacity_and_sense() {
        let mut d = drive(100);
        assert_eq!(run(&mut d, &[0x25]).unwrap(), [0, 0, 0, 99, 0, 0, 8, 0]);
        let toc = run(&mut d, &[0x43, 0, 0, 0, 0, 0, 0, 0, 100]).unwrap();
        assert_eq!(toc.len(), 20);
        assert_eq!(&toc[0..4], &[0, 18, 1, 1]);
        assert_eq!(&toc[14..20], &[0xaa, 0, 0, 0, 0, 100]);
        let msf = run(&mut d, &[0x43, 2, 0, 0, 0, 0, 0, 0, 100]).unwrap();
        assert_eq!(&msf[8..12], &[0, 0, 2, 0], "track 1 at 00:02:00");
        let session = run(&mut d, &[0x43, 0, 1, 0, 0, 0, 0, 0, 12]).unwrap();
        assert_eq!(&session[0..4], &[0, 10, 1, 1]);
        let err = run(&mut d, &[0xff]).unwrap_err();
        assert_eq!((err.key, err.asc), (ILLEGAL_REQUEST, ASC_INVALID_OPCODE));
        let s = run(&mut d, &[0x03, 0, 0, 0, 18]).unwrap();
        assert_eq!(
            (s[0], s[2], s[12]),
            (0x70, ILLEGAL_REQUEST, ASC_INVALID_OPCODE)
        );
        let s = run(&mut d, &[0x03, 0, 0, 0, 18]).unwrap();
        assert_eq!(s[2], 0, "sense cleared once reported");
        let err = run(&mut d, &[0x28, 0, 0, 0, 0, 99, 0, 0, 2]).unwrap_err();
        assert_eq!(err.asc, ASC_LBA_OUT_OF_RANGE);
    }

    #[test]
    fn tray_lock_and_medium() {
        let mut d = drive(4);
        run(&mut d, &[0x1e, 0, 0, 0, 1]).unwrap();
        assert!(run(&mut d, &[0x1b, 0, 0, 0, 2]).is_err(), "locked");
        run(&mut d, &[0x1e, 0, 0, 0, 0]).unwrap();
        run(&mut d, &[0x1b, 0, 0, 0, 2]).unwrap();
        assert_eq!(run(&mut d, &[0x00]).unwrap_err().asc, ASC_NO_MEDIUM);
        let ev = run(&mut d, &[0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8]).unwrap();
        assert_eq!(ev[5], 1, "tray open, no medium");
        run(&mut d, &[0x1b, 0, 0, 0, 3]).unwrap();
        run(&mut d, &[0x00]).unwrap();
        assert!(run(&mut d, &[0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8]).is_err());
        let conf = run(&mut d, &[0x46, 0, 0, 0, 0, 0, 0, 0, 64]).unwrap();
        assert_eq!(&conf[6..8], &[0, 8], "CD-ROM profile");
        let mode = run(&mut d, &[0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 64]).unwrap();
        assert_eq!((mode[8], mode.len()), (0x2a, 28));
        let inq = run(&mut d, &[0x12, 0, 0, 0, 5]).unwrap();
        assert_eq!(inq, [5, 0x80, 0, 0x21, 31], "cut to allocation length");
    }

    #[test]
    fn a_changed_disc_is_seen_through_packets() {
        let mut d = drive(100);
        run(&mut d, &[0x1e, 0, 0, 0, 1]).unwrap();
        assert_eq!(d.eject(false), Err(TrayLocked), "the guest locked it");
        let ev = run(&mut d, &[0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8]).unwrap();
        assert_eq!(&ev[..6], &[0, 6, 4, 0x10, 1, 2], "eject request, disc in");
        d.eject(true).unwrap();
        let err = run(&mut d, &[0x00]).unwrap_err();
        assert_eq!((err.key, err.asc, err.ascq), (NOT_READY, ASC_NO_MEDIUM, 2));
        assert!(run(&mut d, &[0x25]).is_err(), "no capacity without a disc");
        let data: Vec<u8> = (0..40 * CD_BLOCK)
            .map(|i| (i / CD_BLOCK) as u8 ^ 0x80)
            .collect();
        d.change(Box::new(MemBackend::new(data, true))).unwrap();
        // Events come before the attention is reported, without it.
        let ev = run(&mut d, &[0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8]).unwrap();
        assert_eq!(ev[4..6], [3, 2], "removal, then");
        let ev = run(&mut d, &[0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8]).unwrap();
        assert_eq!(ev[4..6], [2, 2], "new media, present");
        let ua = run(&mut d, &[0x00]).unwrap_err();
        assert_eq!(
            (ua.key, ua.asc),
            (UNIT_ATTENTION, ASC_MEDIUM_MAY_HAVE_CHANGED)
        );
        let s = run(&mut d, &[0x03, 0, 0, 0, 18]).unwrap();
        assert_eq!((s[2], s[12]), (UNIT_ATTENTION, ASC_MEDIUM_MAY_HAVE_CHANGED));
        run(&mut d, &[0x00]).unwrap();
        assert_eq!(run(&mut d, &[0x25]).unwrap(), [0, 0, 0, 39, 0, 0, 8, 0]);
        let toc = run(&mut d, &[0x43, 0, 0, 0, 0, 0, 0, 0, 100]).unwrap();
        assert_eq!(&toc[14..20], &[0xaa, 0, 0, 0, 0, 40]);
        let block = run(&mut d, &[0x28, 0, 0, 0, 0, 16, 0, 0, 1]).unwrap();
        assert_eq!(block, vec![16 ^ 0x80; CD_BLOCK]);
    }

    #[test]
    fn request_sense_first_reports_the_change_and_an_empty_drive_is_not_ready() {
        let mut d = drive(4);
        d.change(Box::new(MemBackend::new(vec![0; CD_BLOCK], true)))
            .unwrap();
        let s = run(&mut d, &[0x03, 0, 0, 0, 18]).unwrap();
        assert_eq!(s[2], UNIT_ATTENTION);
        run(&mut d, &[0x00]).unwrap();
        let mut e = AtapiCdrom::empty();
        let err = run(&mut e, &[0x28, 0, 0, 0, 0, 0, 0, 0, 1]).unwrap_err();
        assert_eq!((err.key, err.asc, err.ascq), (NOT_READY, ASC_NO_MEDIUM, 1));
        let conf = run(&mut e, &[0x46, 0, 0, 0, 0, 0, 0, 0, 64]).unwrap();
        assert_eq!(&conf[6..8], &[0, 0], "no current profile");
    }
}

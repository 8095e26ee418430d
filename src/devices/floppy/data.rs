//! READ DATA, WRITE DATA and FORMAT TRACK: finding the sector, moving its
//! bytes by DMA or through the FIFO (non-DMA mode), stepping to the next
//! sector, and the result bytes (datasheet, "Data Transfer Commands" and
//! the table of C, H, R, N after termination).
//!
//! A transfer ends normally at terminal count (the sector in progress is
//! completed; a write pads it with zeros). Reaching the last sector (EOT)
//! without terminal count ends it abnormally with ST1 EN, which is always
//! the case in non-DMA mode, as on the real chip.

use super::drive::Diskette;
use super::status::*;
use super::{Fdc82077, Phase};
use crate::devices::isa_dma::DmaTransfer;

const SECTOR: usize = 512;
/// Sector size code N of 512-byte sectors, the only size raw images hold.
const N_512: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    Read,
    Write,
    Format,
}

pub struct DataCommand {
    kind: DataKind,
    drive: usize,
    /// The physical head (HDS); `id` is the sector ID sought.
    head: u8,
    /// C, H, R, N.
    id: [u8; 4],
    eot: u8,
    multitrack: bool,
    /// FORMAT: sectors still to format and the fill byte.
    sectors_left: u8,
    fill: u8,
    buf: Vec<u8>,
    pos: usize,
}

impl DataCommand {
    /// Whether data flows to the host (DIO set in non-DMA mode).
    pub fn to_host(&self) -> bool {
        self.kind == DataKind::Read
    }

    /// Bytes the current unit holds: a sector, or a FORMAT ID.
    fn unit(&self) -> usize {
        if self.kind == DataKind::Format {
            4
        } else {
            SECTOR
        }
    }
}

/// How a data command ended.
enum End {
    Normal,
    /// ST1 and ST2 of an abnormal termination.
    Abnormal(u8, u8),
}

impl Fdc82077 {
    /// Starts a data command from its command bytes.
    pub(super) fn start_data(&mut self, kind: DataKind, b: &[u8]) {
        let drive = (b[1] & 3) as usize;
        let head = b[1] >> 2 & 1;
        let mut cmd = DataCommand {
            kind,
            drive,
            head,
            id: [0; 4],
            eot: 0,
            multitrack: b[0] & 0x80 != 0,
            sectors_left: 0,
            fill: 0,
            buf: Vec::with_capacity(SECTOR),
            pos: 0,
        };
        if kind == DataKind::Format {
            cmd.id = [self.pcn[drive], head, 0, b[2]];
            cmd.sectors_left = b[3];
            cmd.fill = b[5];
            self.last_sc_eot = b[3];
        } else {
            cmd.id = [b[2], b[3], b[4], b[5]];
            cmd.eot = b[6];
            self.last_sc_eot = b[6];
            // Implied seek (CONFIGURE EIS) before the ID search.
            if self.config & CONFIG_EIS != 0 && self.pcn[drive] != b[2] {
                if let Some(d) = self.drives.get_mut(drive) {
                    d.cylinder = b[2];
                    d.stepped();
                }
                self.pcn[drive] = b[2];
            }
        }
        let mfm = b[0] & 0x40 != 0;
        let rate = self.rate;
        let media_ok = self
            .drives
            .get(drive)
            .and_then(|d| d.media.as_ref())
            .is_some_and(|m| mfm && m.format.readable_at(rate) && head < m.format.heads);
        let wp = self.media(drive).is_some_and(|m| m.write_protected());
        let end = if !media_ok {
            Some(End::Abnormal(ST1_MISSING_ADDRESS_MARK, 0))
        } else if kind != DataKind::Read && wp {
            Some(End::Abnormal(ST1_NOT_WRITABLE, 0))
        } else if kind == DataKind::Format {
            (cmd.sectors_left == 0).then_some(End::Normal)
        } else {
            self.locate(&mut cmd).err()
        };
        match end {
            Some(end) => self.end_data(cmd, end),
            None => {
                self.phase = Phase::Execution(cmd);
                self.update_lines();
            }
        }
    }

    fn media(&mut self, drive: usize) -> Option<&mut Diskette> {
        self.drives.get_mut(drive)?.media.as_mut()
    }

    /// Finds sector `cmd.id` on the track under the head and, for a read,
    /// loads it into the buffer.
    fn locate(&mut self, cmd: &mut DataCommand) -> Result<(), End> {
        let [c, h, r, n] = cmd.id;
        let cylinder = self.drives[cmd.drive].cylinder;
        let media = self
            .media(cmd.drive)
            .ok_or(End::Abnormal(ST1_MISSING_ADDRESS_MARK, 0))?;
        if !media.format.has_sector(cylinder, cmd.head, 1) {
            // An unformatted track: no ID fields at all.
            return Err(End::Abnormal(ST1_MISSING_ADDRESS_MARK, 0));
        }
        if c != cylinder {
            let st2 = if c == 0xff {
                ST2_BAD_CYLINDER
            } else {
                ST2_WRONG_CYLINDER
            };
            return Err(End::Abnormal(ST1_NO_DATA, st2));
        }
        if h != cmd.head || n != N_512 || !media.format.has_sector(cylinder, cmd.head, r) {
            return Err(End::Abnormal(ST1_NO_DATA, 0));
        }
        cmd.buf.clear();
        cmd.pos = 0;
        if cmd.kind == DataKind::Read {
            let mut sector = [0u8; SECTOR];
            media
                .read_sector(cylinder, cmd.head, r, &mut sector)
                .map_err(|_| End::Abnormal(ST1_DATA_ERROR, 0))?;
            cmd.buf.extend_from_slice(&sector);
        }
        Ok(())
    }

    /// The unit in the buffer is complete: store it (write, format) and
    /// move to the next, or end the command at terminal count or EOT.
    fn unit_done(&mut self, mut cmd: DataCommand, tc: bool) {
        let cylinder = self.drives.get(cmd.drive).map_or(0, |d| d.cylinder);
        let stored = match cmd.kind {
            DataKind::Read => Ok(()),
            DataKind::Write => {
                cmd.buf.resize(SECTOR, 0);
                let sector: [u8; SECTOR] = cmd.buf[..SECTOR].try_into().unwrap_or([0; SECTOR]);
                let (head, r) = (cmd.head, cmd.id[2]);
                self.media(cmd.drive)
                    .map_or(Ok(()), |m| m.write_sector(cylinder, head, r, &sector))
            }
            DataKind::Format => self.format_sector(&mut cmd, cylinder),
        };
        if stored.is_err() {
            return self.end_data(cmd, End::Abnormal(ST1_DATA_ERROR, 0));
        }
        if cmd.kind == DataKind::Format {
            cmd.sectors_left -= 1;
            cmd.buf.clear();
            cmd.pos = 0;
            return if tc || cmd.sectors_left == 0 {
                self.end_data(cmd, End::Normal)
            } else {
                self.phase = Phase::Execution(cmd);
            };
        }
        let at_eot = cmd.id[2] == cmd.eot;
        let next_track = at_eot && cmd.multitrack && cmd.head == 0;
        if tc || (at_eot && !next_track) {
            let end = if tc {
                End::Normal
            } else {
                End::Abnormal(ST1_END_OF_CYLINDER, 0)
            };
            return self.end_data(cmd, end);
        }
        if next_track {
            cmd.head = 1;
            cmd.id[1] ^= 1;
            cmd.id[2] = 1;
        } else {
            cmd.id[2] = cmd.id[2].wrapping_add(1);
        }
        match self.locate(&mut cmd) {
            Ok(()) => self.phase = Phase::Execution(cmd),
            Err(end) => self.end_data(cmd, end),
        }
    }

    /// Writes the fill byte into the sector a FORMAT ID names. A raw
    /// image only holds 512-byte sectors in their own places, so IDs
    /// naming other sizes or sectors outside the format are dropped.
    fn format_sector(&mut self, cmd: &mut DataCommand, cylinder: u8) -> std::io::Result<()> {
        let (r, n) = (cmd.buf[2], cmd.buf[3]);
        cmd.id = [cmd.buf[0], cmd.buf[1], r, n];
        let (head, fill) = (cmd.head, cmd.fill);
        let Some(m) = self.media(cmd.drive) else {
            return Ok(());
        };
        if n != N_512 || !m.format.has_sector(cylinder, head, r) {
            log::debug!("fdc: FORMAT ID {:02x?} has no place in a raw image", cmd.id);
            return Ok(());
        }
        m.write_sector(cylinder, head, r, &[fill; SECTOR])
    }

    /// Result phase of a data command: ST0-ST2 and the ID the datasheet's
    /// table gives for where the command stopped.
    fn end_data(&mut self, cmd: DataCommand, end: End) {
        let (st1, st2) = match end {
            End::Normal => (0, 0),
            End::Abnormal(st1, st2) => (st1, st2),
        };
        let abnormal = if st1 | st2 != 0 { ST0_ABNORMAL } else { 0 };
        let st0 = abnormal | cmd.head << 2 | cmd.drive as u8;
        let [mut c, mut h, mut r, n] = cmd.id;
        let transferred = matches!(end, End::Normal) || st1 == ST1_END_OF_CYLINDER;
        if transferred && cmd.kind != DataKind::Format {
            if r == cmd.eot {
                if cmd.multitrack {
                    if cmd.head == 1 {
                        c = c.wrapping_add(1);
                    }
                    h ^= 1;
                } else {
                    c = c.wrapping_add(1);
                }
                r = 1;
            } else {
                r = r.wrapping_add(1);
            }
        }
        self.finish(&[st0, st1, st2, c, h, r, n], true);
    }

    /// Serves DMA channel 2 for the executing command.
    pub(super) fn dma_transfer(&mut self, t: &mut DmaTransfer) {
        while let Phase::Execution(cmd) = &mut self.phase {
            let unit = cmd.unit();
            let moved = if cmd.kind == DataKind::Read {
                t.write_to_memory(&cmd.buf[cmd.pos..])
            } else {
                let at = cmd.buf.len();
                cmd.buf.resize(unit, 0);
                let n = t.read_from_memory(&mut cmd.buf[at..]);
                cmd.buf.truncate(at + n);
                n
            };
            cmd.pos += moved;
            let full = if cmd.kind == DataKind::Read {
                cmd.pos >= unit
            } else {
                cmd.buf.len() >= unit
            };
            let tc = t.terminal_count();
            if !full && !tc {
                break;
            }
            let Phase::Execution(cmd) = std::mem::replace(&mut self.phase, Phase::Command) else {
                break;
            };
            self.unit_done(cmd, tc);
            if tc || moved == 0 {
                break;
            }
        }
    }

    /// Non-DMA mode: the host reads the next data byte from the FIFO.
    pub(super) fn pio_read(&mut self) -> u8 {
        let Phase::Execution(cmd) = &mut self.phase else {
            return 0;
        };
        if cmd.kind != DataKind::Read {
            return 0;
        }
        let v = cmd.buf.get(cmd.pos).copied().unwrap_or(0);
        cmd.pos += 1;
        if cmd.pos >= SECTOR {
            if let Phase::Execution(cmd) = std::mem::replace(&mut self.phase, Phase::Command) {
                self.unit_done(cmd, false);
            }
        }
        v
    }

    /// Non-DMA mode: the host writes the next data (or FORMAT ID) byte.
    pub(super) fn pio_write(&mut self, value: u8) {
        let Phase::Execution(cmd) = &mut self.phase else {
            return;
        };
        if cmd.kind == DataKind::Read {
            return;
        }
        cmd.buf.push(value);
        if cmd.buf.len() >= cmd.unit() {
            if let Phase::Execution(cmd) = std::mem::replace(&mut self.phase, Phase::Command) {
                self.unit_done(cmd, false);
            }
        }
    }
}

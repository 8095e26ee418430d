//! The 82077AA command set (datasheet, table "82077AA Command Set"): how
//! long each command is, and the commands without a data phase. Opcode
//! bits the table fixes must match; anything else is an invalid command,
//! answered by one result byte, ST0 = 0x80, without an interrupt.

use super::data::DataKind;
use super::status::*;
use super::{Fdc82077, Phase};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    ReadData,
    WriteData,
    FormatTrack,
    ReadId,
    Recalibrate,
    SenseInterrupt,
    Specify,
    SenseDriveStatus,
    Seek,
    RelativeSeek,
    Version,
    DumpRegisters,
    PerpendicularMode,
    Configure,
    Lock,
}

impl Command {
    /// Decodes a first command byte.
    pub fn decode(op: u8) -> Option<Command> {
        use Command::*;
        Some(match op {
            _ if op & 0x1f == 0x06 => ReadData,
            _ if op & 0x3f == 0x05 => WriteData,
            _ if op & 0xbf == 0x0d => FormatTrack,
            _ if op & 0xbf == 0x0a => ReadId,
            0x07 => Recalibrate,
            0x08 => SenseInterrupt,
            0x03 => Specify,
            0x04 => SenseDriveStatus,
            0x0f => Seek,
            0x8f | 0xcf => RelativeSeek,
            0x10 => Version,
            0x0e => DumpRegisters,
            0x12 => PerpendicularMode,
            0x13 => Configure,
            0x14 | 0x94 => Lock,
            _ => return None,
        })
    }

    /// Command bytes including the opcode.
    pub fn length(self) -> usize {
        use Command::*;
        match self {
            ReadData | WriteData => 9,
            FormatTrack => 6,
            Configure => 4,
            Specify | Seek | RelativeSeek => 3,
            ReadId | Recalibrate | SenseDriveStatus | PerpendicularMode => 2,
            SenseInterrupt | Version | DumpRegisters | Lock => 1,
        }
    }
}

impl Fdc82077 {
    /// Takes one byte of the command phase; runs the command when whole.
    pub(super) fn command_byte(&mut self, value: u8) {
        self.command.push(value);
        let Some(cmd) = Command::decode(self.command[0]) else {
            log::debug!("fdc: invalid command {value:#04x}");
            return self.finish(&[ST0_INVALID], false);
        };
        if self.command.len() < cmd.length() {
            return;
        }
        let bytes = std::mem::take(&mut self.command);
        log::trace!("fdc: {cmd:?} {bytes:02x?}");
        self.execute(cmd, &bytes);
        self.command = bytes;
        self.command.clear();
    }

    fn execute(&mut self, cmd: Command, b: &[u8]) {
        use Command::*;
        let drive = (b.get(1).copied().unwrap_or(0) & 3) as usize;
        let head = b.get(1).copied().unwrap_or(0) >> 2 & 1;
        match cmd {
            ReadData => self.start_data(DataKind::Read, b),
            WriteData => self.start_data(DataKind::Write, b),
            FormatTrack => self.start_data(DataKind::Format, b),
            ReadId => self.read_id(b[0], drive, head),
            Recalibrate => self.recalibrate(drive),
            Seek => self.seek(drive, b[2]),
            RelativeSeek => {
                let pcn = self.pcn[drive];
                let ncn = if b[0] & 0x40 != 0 {
                    pcn.wrapping_add(b[2])
                } else {
                    pcn.wrapping_sub(b[2])
                };
                self.seek(drive, ncn);
            }
            SenseInterrupt => self.sense_interrupt(),
            Specify => {
                self.specify = [b[1], b[2]];
                self.phase = Phase::Command;
            }
            SenseDriveStatus => {
                let st3 = self.drive_status(drive, head);
                self.finish(&[st3], false);
            }
            Version => self.finish(&[VERSION_82077AA], false),
            DumpRegisters => {
                let r = [
                    self.pcn[0],
                    self.pcn[1],
                    self.pcn[2],
                    self.pcn[3],
                    self.specify[0],
                    self.specify[1],
                    self.last_sc_eot,
                    (self.lock as u8) << 7 | self.perpendicular & 0x3f,
                    self.config & 0x7f,
                    self.pretrk,
                ];
                self.finish(&r, false);
            }
            PerpendicularMode => {
                let keep = if b[1] & 0x80 != 0 {
                    b[1] & 0x3c
                } else {
                    self.perpendicular & 0x3c
                };
                self.perpendicular = keep | b[1] & 3;
                self.phase = Phase::Command;
            }
            Configure => {
                self.config = b[2] & 0x7f;
                self.pretrk = b[3];
                self.phase = Phase::Command;
            }
            Lock => {
                self.lock = b[0] & 0x80 != 0;
                self.finish(&[(self.lock as u8) << 4], false);
            }
        }
    }

    /// SEEK / RELATIVE SEEK: the head steps to `ncn`; the end is reported
    /// by an interrupt and SENSE INTERRUPT STATUS, whose ST0 has the head
    /// bit always 0 (datasheet, 5.2.4).
    fn seek(&mut self, drive: usize, ncn: u8) {
        if ncn != self.pcn[drive] {
            if let Some(d) = self.drives.get_mut(drive) {
                d.cylinder = ncn;
                d.stepped();
            }
        }
        self.pcn[drive] = ncn;
        self.seek_end(drive, ST0_SEEK_END | drive as u8);
    }

    /// RECALIBRATE: steps out until the drive signals track 0; with no
    /// drive there (only drives with a diskette image exist), no track 0
    /// comes and the command ends with an equipment check.
    fn recalibrate(&mut self, drive: usize) {
        let st0 = match self.drives.get_mut(drive) {
            Some(d) if d.media.is_some() => {
                if d.cylinder != 0 {
                    d.stepped();
                }
                d.cylinder = 0;
                self.pcn[drive] = 0;
                ST0_SEEK_END
            }
            _ => ST0_SEEK_END | ST0_ABNORMAL | ST0_EQUIPMENT_CHECK,
        };
        self.seek_end(drive, st0 | drive as u8);
    }

    fn seek_end(&mut self, drive: usize, st0: u8) {
        self.pending_st0[drive] = Some(st0);
        self.int = true;
        self.phase = Phase::Command;
    }

    /// SENSE INTERRUPT STATUS: the lowest drive select with a status to
    /// report; with none, the command is invalid.
    fn sense_interrupt(&mut self) {
        self.int = false;
        match (0..4).find(|&d| self.pending_st0[d].is_some()) {
            Some(d) => {
                let st0 = self.pending_st0[d].take().unwrap_or(ST0_INVALID);
                self.finish(&[st0, self.pcn[d]], false);
            }
            None => self.finish(&[ST0_INVALID], false),
        }
    }

    fn drive_status(&self, drive: usize, head: u8) -> u8 {
        let base = ST3_READY | ST3_TWO_SIDE | head << 2 | drive as u8;
        match self.drives.get(drive) {
            Some(d) => {
                let wp = d.media.as_ref().is_none_or(|m| m.write_protected());
                base | if wp { ST3_WRITE_PROTECTED } else { 0 }
                    | if d.cylinder == 0 { ST3_TRACK0 } else { 0 }
            }
            None => base,
        }
    }

    /// READ ID: the next sector ID under the head, when the medium can be
    /// read at the selected rate and encoding.
    fn read_id(&mut self, op: u8, drive: usize, head: u8) {
        let st0 = head << 2 | drive as u8;
        let mfm = op & 0x40 != 0;
        let rate = self.rate;
        let id = self.drives.get_mut(drive).and_then(|d| {
            let f = d.media.as_ref()?.format;
            let readable = mfm && f.readable_at(rate) && d.cylinder < f.tracks && head < f.heads;
            let r = d.next_id().filter(|_| readable)?;
            Some([d.cylinder, head, r])
        });
        let cyl = self.pcn[drive];
        match id {
            Some([c, h, r]) => self.finish(&[st0, 0, 0, c, h, r, 2], true),
            None => self.finish(
                &[
                    st0 | ST0_ABNORMAL,
                    ST1_MISSING_ADDRESS_MARK,
                    0,
                    cyl,
                    head,
                    1,
                    2,
                ],
                true,
            ),
        }
    }
}

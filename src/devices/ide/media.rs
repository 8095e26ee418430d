//! The removable medium of a CD-ROM drive: tray, medium, the guest's lock,
//! the unit attention a changed medium owes the host (SPC-3 5.9, MMC-5
//! 4.1.6), and the media events GET EVENT STATUS NOTIFICATION reports
//! (MMC-5 6.7, media class).
//!
//! Two sides act on it: the guest through packet commands (START STOP
//! UNIT, PREVENT ALLOW MEDIUM REMOVAL) and the user through the monitor
//! (`eject`, `change`), who is refused while the guest holds the lock.

use super::atapi::{sense, Sense, NOT_READY};

pub const UNIT_ATTENTION: u8 = 0x06;
/// NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED.
pub const ASC_MEDIUM_MAY_HAVE_CHANGED: u8 = 0x28;
pub const ASC_NO_MEDIUM: u8 = 0x3a;
/// ASCQs of MEDIUM NOT PRESENT.
const TRAY_CLOSED: u8 = 0x01;
const TRAY_OPEN: u8 = 0x02;

/// Media class event codes (MMC-5 table 6.7.2.4.3).
pub const EVENT_NO_CHANGE: u8 = 0;
pub const EVENT_EJECT_REQUEST: u8 = 1;
pub const EVENT_NEW_MEDIA: u8 = 2;
pub const EVENT_MEDIA_REMOVAL: u8 = 3;
/// Media status bits: door or tray open, media present.
const STATUS_TRAY_OPEN: u8 = 1 << 0;
const STATUS_MEDIA_PRESENT: u8 = 1 << 1;

/// The user's eject or change was refused: the guest locked the tray.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrayLocked;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MediaState {
    tray_open: bool,
    present: bool,
    locked: bool,
    unit_attention: bool,
    /// Media events not yet reported, in the order they are reported.
    removal: bool,
    new_media: bool,
    eject_request: bool,
}

impl MediaState {
    /// Tray closed with a disc in it (power-on with an image).
    pub fn loaded() -> Self {
        MediaState {
            present: true,
            ..Default::default()
        }
    }

    /// Tray closed, no disc.
    pub fn empty() -> Self {
        MediaState::default()
    }

    pub fn tray_open(&self) -> bool {
        self.tray_open
    }

    pub fn locked(&self) -> bool {
        self.locked
    }

    /// A disc is in the drive (the tray may be open).
    pub fn present(&self) -> bool {
        self.present
    }

    /// The medium can be read.
    pub fn ready(&self) -> bool {
        self.present && !self.tray_open
    }

    /// NOT READY, MEDIUM NOT PRESENT (tray open or closed) unless ready.
    pub fn check_ready(&self) -> Result<(), Sense> {
        match (self.tray_open, self.present) {
            (true, _) => Err(sense(NOT_READY, ASC_NO_MEDIUM, TRAY_OPEN)),
            (false, false) => Err(sense(NOT_READY, ASC_NO_MEDIUM, TRAY_CLOSED)),
            (false, true) => Ok(()),
        }
    }

    /// The unit attention owed to the command `opcode`, reported once.
    /// INQUIRY, REQUEST SENSE (which reports it as its sense data),
    /// GET CONFIGURATION and GET EVENT STATUS NOTIFICATION run without
    /// reporting it (SPC-3 5.9.1, MMC-5 6.6 and 6.7).
    pub fn take_unit_attention(&mut self, opcode: u8) -> Option<Sense> {
        if !self.unit_attention || matches!(opcode, 0x03 | 0x12 | 0x46 | 0x4a) {
            return None;
        }
        self.unit_attention = false;
        Some(Self::attention())
    }

    /// REQUEST SENSE with no sense pending reports a pending unit
    /// attention, which clears it.
    pub fn take_unit_attention_for_sense(&mut self) -> Option<Sense> {
        std::mem::take(&mut self.unit_attention).then(Self::attention)
    }

    fn attention() -> Sense {
        sense(UNIT_ATTENTION, ASC_MEDIUM_MAY_HAVE_CHANGED, 0)
    }

    /// PREVENT ALLOW MEDIUM REMOVAL.
    pub fn set_locked(&mut self, locked: bool) {
        self.locked = locked;
    }

    /// START STOP UNIT with LoEj: `load` closes the tray, else it opens
    /// (refused while locked). The disc stays in the tray either way.
    pub fn guest_load_eject(&mut self, load: bool) -> Result<(), TrayLocked> {
        if load {
            if self.tray_open {
                self.tray_open = false;
                self.new_media |= self.present;
            }
            return Ok(());
        }
        if self.locked {
            return Err(TrayLocked);
        }
        if !self.tray_open {
            self.tray_open = true;
            self.removal |= self.present;
        }
        Ok(())
    }

    /// The user's eject: opens the tray and takes the disc out. While the
    /// guest holds the lock only `force` does so (and drops the lock);
    /// otherwise the guest is asked, with an eject-request event.
    pub fn user_eject(&mut self, force: bool) -> Result<(), TrayLocked> {
        if self.locked && !self.tray_open {
            if !force {
                self.eject_request = true;
                return Err(TrayLocked);
            }
            self.locked = false;
        }
        self.removal |= self.present && !self.tray_open;
        self.tray_open = true;
        self.present = false;
        Ok(())
    }

    /// The user put a new disc in and closed the tray: the guest's next
    /// command learns of it by a unit attention, its next event poll by a
    /// new-media event.
    pub fn user_insert(&mut self) {
        self.tray_open = false;
        self.present = true;
        self.unit_attention = true;
        self.new_media = true;
        self.eject_request = false;
    }

    /// The next media event and the media status, for a polled GET EVENT
    /// STATUS NOTIFICATION.
    pub fn take_event(&mut self) -> (u8, u8) {
        let code = if std::mem::take(&mut self.removal) {
            EVENT_MEDIA_REMOVAL
        } else if !self.tray_open && std::mem::take(&mut self.new_media) {
            EVENT_NEW_MEDIA
        } else if std::mem::take(&mut self.eject_request) {
            EVENT_EJECT_REQUEST
        } else {
            EVENT_NO_CHANGE
        };
        let status = if self.tray_open {
            STATUS_TRAY_OPEN
        } else if self.present {
            STATUS_MEDIA_PRESENT
        } else {
            0
        };
        (code, status)
    }

    /// A device or hardware reset drops the guest's lock; a pending unit
    /// attention and events stay for the driver that comes next.
    pub fn reset(&mut self) {
        self.locked = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TUR: u8 = 0x00;

    #[test]
    fn a_changed_disc_gives_one_unit_attention_then_works() {
        let mut m = MediaState::loaded();
        assert_eq!(m.check_ready(), Ok(()));
        assert_eq!(m.take_unit_attention(TUR), None);
        m.user_eject(false).unwrap();
        assert_eq!(m.check_ready().unwrap_err().asc, ASC_NO_MEDIUM);
        assert_eq!(m.check_ready().unwrap_err().ascq, TRAY_OPEN);
        m.user_insert();
        // INQUIRY and event polls pass it by; the next TUR reports it once.
        assert_eq!(m.take_unit_attention(0x12), None);
        assert_eq!(m.take_unit_attention(0x4a), None);
        let ua = m.take_unit_attention(TUR).unwrap();
        assert_eq!(
            (ua.key, ua.asc),
            (UNIT_ATTENTION, ASC_MEDIUM_MAY_HAVE_CHANGED)
        );
        assert_eq!(m.take_unit_attention(TUR), None);
        assert_eq!(m.check_ready(), Ok(()));
    }

    #[test]
    fn request_sense_reports_and_clears_a_pending_unit_attention() {
        let mut m = MediaState::loaded();
        assert_eq!(m.take_unit_attention_for_sense(), None);
        m.user_insert();
        assert_eq!(
            m.take_unit_attention_for_sense().map(|s| s.asc),
            Some(ASC_MEDIUM_MAY_HAVE_CHANGED)
        );
        assert_eq!(m.take_unit_attention(TUR), None);
    }

    #[test]
    fn events_report_removal_then_new_media_with_the_status() {
        let mut m = MediaState::loaded();
        assert_eq!(m.take_event(), (EVENT_NO_CHANGE, STATUS_MEDIA_PRESENT));
        m.user_eject(false).unwrap();
        m.user_insert();
        assert_eq!(m.take_event(), (EVENT_MEDIA_REMOVAL, STATUS_MEDIA_PRESENT));
        assert_eq!(m.take_event(), (EVENT_NEW_MEDIA, STATUS_MEDIA_PRESENT));
        assert_eq!(m.take_event(), (EVENT_NO_CHANGE, STATUS_MEDIA_PRESENT));
        m.user_eject(false).unwrap();
        assert_eq!(m.take_event(), (EVENT_MEDIA_REMOVAL, STATUS_TRAY_OPEN));
        assert_eq!(m.take_event(), (EVENT_NO_CHANGE, STATUS_TRAY_OPEN));
    }

    #[test]
    fn a_locked_tray_refuses_the_user_unless_forced_and_asks_the_guest() {
        let mut m = MediaState::loaded();
        m.set_locked(true);
        assert_eq!(m.user_eject(false), Err(TrayLocked));
        assert!(m.ready(), "still loaded");
        assert_eq!(m.take_event().0, EVENT_EJECT_REQUEST);
        assert_eq!(m.guest_load_eject(false), Err(TrayLocked));
        m.user_eject(true).unwrap();
        assert!(m.tray_open() && !m.present() && !m.locked());
        assert_eq!(m.take_event().0, EVENT_MEDIA_REMOVAL);
    }

    #[test]
    fn the_guest_opens_and_closes_the_tray_with_the_disc_in_it() {
        let mut m = MediaState::loaded();
        m.guest_load_eject(false).unwrap();
        assert!(m.tray_open() && m.present() && !m.ready());
        assert_eq!(m.take_event(), (EVENT_MEDIA_REMOVAL, STATUS_TRAY_OPEN));
        m.guest_load_eject(true).unwrap();
        assert!(m.ready());
        assert_eq!(m.take_event(), (EVENT_NEW_MEDIA, STATUS_MEDIA_PRESENT));
        assert_eq!(m.take_unit_attention(TUR), None, "the guest did it");
        // An empty drive closed is not ready, tray closed.
        let mut e = MediaState::empty();
        assert_eq!(e.check_ready().unwrap_err().ascq, TRAY_CLOSED);
        e.guest_load_eject(false).unwrap();
        e.guest_load_eject(true).unwrap();
        assert_eq!(e.take_event(), (EVENT_NO_CHANGE, 0));
    }

    #[test]
    fn reset_drops_the_lock_but_keeps_the_attention() {
        let mut m = MediaState::loaded();
        m.set_locked(true);
        m.user_insert();
        m.reset();
        assert!(!m.locked());
        assert!(m.take_unit_attention(TUR).is_some());
    }
}

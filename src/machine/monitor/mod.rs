//! A small QEMU-style monitor on the serial console (`-serial mon:stdio`):
//! Ctrl-A c switches between the guest and the `(xlat) ` prompt. Lines are
//! edited in [`line_editor`], parsed in [`command`], and carried out on the
//! machine between run-loop slices in [`execute`].

pub mod command;
mod execute;
mod line_editor;

pub use command::{DriveName, MonitorCommand};
pub use line_editor::LineEditor;
use std::path::PathBuf;

/// A drive as `info block` lists it; `file` follows eject and change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockDevice {
    pub name: DriveName,
    pub file: Option<PathBuf>,
    pub read_only: bool,
    /// Writes stay in memory (--snapshot).
    pub snapshot: bool,
}

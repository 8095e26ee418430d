//! The host side of the emulator's user interface: the terminal, screenshots.

pub mod screenshot;
pub mod terminal;

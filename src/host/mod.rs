//! The host side of the emulator's user interface (the terminal today).

pub mod terminal;

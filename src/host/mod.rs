//! The host side of the emulator's user interface: the terminal, screenshots
//! and (with the `gui` feature) a window.

#[cfg(feature = "gui")]
pub mod display;
#[cfg(feature = "gui")]
pub mod keymap;
pub mod screenshot;
pub mod terminal;

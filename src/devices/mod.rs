//! PC devices, one file each, and the buses they sit on.

pub mod bus;
pub mod debug_console;
pub mod debug_exit;
pub mod irq;

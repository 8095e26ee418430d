//! PC devices, one file each, and the buses they sit on.

pub mod apm;
pub mod bus;
pub mod debug_console;
pub mod debug_exit;
pub mod floppy;
pub mod fpu_error;
pub mod fw_cfg;
pub mod hpet;
pub mod i8042;
pub mod ide;
pub mod ioapic;
pub mod irq;
pub mod isa_dma;
pub mod lapic;
pub mod pci;
pub mod pic;
pub mod pit;
pub mod port92;
pub mod rtc;
pub mod serial;
pub mod system_control;
pub mod vga;

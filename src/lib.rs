//! xlat: a pure-software x86 PC emulator.

pub mod cpu;
pub mod devices;
pub mod host;
pub mod hostcheck;
pub mod machine;
pub mod mem;
pub mod sst;
pub mod trace;

//! Instruction tracing, observers and the guest profiler.

pub mod profile;
pub mod text;

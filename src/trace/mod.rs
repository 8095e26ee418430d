//! Instruction tracing and observers.

pub mod text;

//! QEMU's isa-debug-exit: a write of `v` asks the emulator to exit with
//! status `(v << 1) | 1`, so test programs can report pass/fail.

use super::bus::PortDevice;
use std::sync::{Arc, Mutex};

/// Shared between the device and the run loop, which polls it.
#[derive(Clone, Default)]
pub struct ExitRequest(Arc<Mutex<Option<i32>>>);

impl ExitRequest {
    pub fn request(&self, status: i32) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert(status);
    }

    pub fn take(&self) -> Option<i32> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

pub struct DebugExit {
    exit: ExitRequest,
}

impl DebugExit {
    pub fn new(exit: ExitRequest) -> Self {
        DebugExit { exit }
    }
}

impl PortDevice for DebugExit {
    fn read(&mut self, _offset: u16, _size: u8) -> u32 {
        u32::MAX
    }

    fn write(&mut self, _offset: u16, _size: u8, value: u32) {
        // The status is a process exit code: only its low byte survives.
        self.exit.request((((value << 1) | 1) & 0xff) as i32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_requests_exit_with_shifted_status() {
        let req = ExitRequest::default();
        let mut dev = DebugExit::new(req.clone());
        dev.write(0, 1, 0x10);
        assert_eq!(req.take(), Some(0x21));
        assert_eq!(req.take(), None);
    }
}

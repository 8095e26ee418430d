//! Bochs/QEMU-style debug console at port 0xE9: bytes written go to the
//! host's stdout, so test ROMs and firmware can print without a UART.

use super::bus::PortDevice;
use std::io::Write;

pub struct DebugConsole {
    out: Box<dyn Write>,
}

impl DebugConsole {
    pub fn new(out: Box<dyn Write>) -> Self {
        DebugConsole { out }
    }
}

impl PortDevice for DebugConsole {
    /// Reading 0xE9 returns 0xE9 (Bochs' "port e9 hack" presence check).
    fn read(&mut self, _offset: u16, _size: u8) -> u32 {
        0xe9
    }

    fn write(&mut self, _offset: u16, _size: u8, value: u32) {
        // A lost console byte is not worth stopping the guest for.
        let _ = self.out.write_all(&[value as u8]);
        if value as u8 == b'\n' {
            let _ = self.out.flush();
        }
    }
}

impl Drop for DebugConsole {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

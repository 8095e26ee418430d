//! What shows the machine to a user besides the serial console (a window):
//! the run loop hands it the board every frame interval of host time.

use super::platform::Platform;

/// A display front end. `refresh` draws the current picture and forwards
/// input to the board's devices; it returns false when the user closed it.
pub trait Frontend {
    fn refresh(&mut self, platform: &Platform) -> bool;
}

/// How often the run loop lets the front end draw (60 Hz).
pub const FRAME_INTERVAL: std::time::Duration = std::time::Duration::from_millis(16);

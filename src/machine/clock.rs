//! The machine's one virtual clock: every timer (PIT, RTC, APIC timer,
//! HPET, PM timer, TSC) reads time from here, so that a deterministic run
//! only changes where the clock gets its time.

use std::time::Instant;

/// Where time comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// Time advances with retired guest instructions: two runs of the same
    /// guest with the same inputs see the same times.
    Deterministic {
        /// Nanoseconds of guest time per retired instruction.
        ns_per_instruction: u64,
    },
    /// Time follows the host's monotonic clock.
    RealTime,
}

pub struct VirtualClock {
    source: ClockSource,
    started: Instant,
    /// Guest time at the last `sync`, and the instruction count then.
    base_ns: u64,
    base_icount: u64,
}

impl VirtualClock {
    pub fn new(source: ClockSource) -> Self {
        VirtualClock {
            source,
            started: Instant::now(),
            base_ns: 0,
            base_icount: 0,
        }
    }

    pub fn source(&self) -> ClockSource {
        self.source
    }

    /// Guest time in nanoseconds since the machine was built, given the
    /// vCPU's retired-instruction count.
    pub fn now_ns(&self, icount: u64) -> u64 {
        match self.source {
            ClockSource::Deterministic { ns_per_instruction } => {
                self.base_ns + icount.saturating_sub(self.base_icount) * ns_per_instruction
            }
            ClockSource::RealTime => self.started.elapsed().as_nanos() as u64,
        }
    }

    /// Moves a halted CPU's time forward to `deadline_ns` (deterministic
    /// mode: a HLT skips to the next timer event instead of spinning).
    pub fn skip_to(&mut self, deadline_ns: u64, icount: u64) {
        if let ClockSource::Deterministic { .. } = self.source {
            let now = self.now_ns(icount);
            if deadline_ns > now {
                self.base_ns = deadline_ns;
                self.base_icount = icount;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_time_follows_instructions() {
        let mut c = VirtualClock::new(ClockSource::Deterministic { ns_per_instruction: 2 });
        assert_eq!(c.now_ns(0), 0);
        assert_eq!(c.now_ns(500), 1000);
        c.skip_to(5000, 500);
        assert_eq!(c.now_ns(500), 5000);
        assert_eq!(c.now_ns(510), 5020);
        // Never backwards.
        c.skip_to(10, 510);
        assert_eq!(c.now_ns(510), 5020);
    }

    #[test]
    fn real_time_moves_forward() {
        let c = VirtualClock::new(ClockSource::RealTime);
        let a = c.now_ns(0);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(c.now_ns(0) > a);
    }
}

//! The machine's one virtual clock: every timer (PIT, RTC, APIC timer,
//! HPET, PM timer, TSC) reads time from here, so that a deterministic run
//! only changes where the clock gets its time.
//!
//! Shared by handle (`Clock`): the vCPU publishes its retired-instruction
//! count before every device access and at every block end, and devices
//! read `now_ns` whenever a register access needs the time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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
    /// The vCPU's retired-instruction count, as last published.
    icount: AtomicU64,
    /// Guest time skipped forward (HLT in deterministic mode), and the
    /// instruction count when it was.
    base_ns: AtomicU64,
    base_icount: AtomicU64,
}

/// A shared handle to the machine's clock.
pub type Clock = Arc<VirtualClock>;

impl VirtualClock {
    pub fn new(source: ClockSource) -> Clock {
        Arc::new(VirtualClock {
            source,
            started: Instant::now(),
            icount: AtomicU64::new(0),
            base_ns: AtomicU64::new(0),
            base_icount: AtomicU64::new(0),
        })
    }

    /// A deterministic clock at 1 ns per instruction (tests, replays).
    pub fn deterministic() -> Clock {
        Self::new(ClockSource::Deterministic {
            ns_per_instruction: 1,
        })
    }

    pub fn source(&self) -> ClockSource {
        self.source
    }

    /// Publishes the vCPU's retired-instruction count.
    #[inline]
    pub fn set_icount(&self, icount: u64) {
        self.icount.store(icount, Ordering::Relaxed);
    }

    /// Guest time in nanoseconds since the machine was built.
    pub fn now_ns(&self) -> u64 {
        match self.source {
            ClockSource::Deterministic { ns_per_instruction } => {
                let icount = self.icount.load(Ordering::Relaxed);
                let base_icount = self.base_icount.load(Ordering::Relaxed);
                self.base_ns.load(Ordering::Relaxed)
                    + icount.saturating_sub(base_icount) * ns_per_instruction
            }
            ClockSource::RealTime => self.started.elapsed().as_nanos() as u64,
        }
    }

    /// Instructions the vCPU may run before guest time reaches
    /// `deadline_ns` (deterministic mode; None in real-time mode).
    pub fn instructions_until(&self, deadline_ns: u64) -> Option<u64> {
        match self.source {
            ClockSource::Deterministic { ns_per_instruction } => {
                let now = self.now_ns();
                Some(
                    deadline_ns
                        .saturating_sub(now)
                        .div_ceil(ns_per_instruction.max(1)),
                )
            }
            ClockSource::RealTime => None,
        }
    }

    /// Moves time forward to `deadline_ns` when the CPU is halted
    /// (deterministic mode: a HLT skips to the next timer event instead of
    /// spinning). Time never goes backwards.
    pub fn skip_to(&self, deadline_ns: u64) {
        if let ClockSource::Deterministic { .. } = self.source {
            if deadline_ns > self.now_ns() {
                self.base_ns.store(deadline_ns, Ordering::Relaxed);
                self.base_icount
                    .store(self.icount.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_time_follows_instructions() {
        let c = VirtualClock::new(ClockSource::Deterministic {
            ns_per_instruction: 2,
        });
        assert_eq!(c.now_ns(), 0);
        c.set_icount(500);
        assert_eq!(c.now_ns(), 1000);
        assert_eq!(c.instructions_until(1100), Some(50));
        c.skip_to(5000);
        assert_eq!(c.now_ns(), 5000);
        c.set_icount(510);
        assert_eq!(c.now_ns(), 5020);
        // Never backwards.
        c.skip_to(10);
        assert_eq!(c.now_ns(), 5020);
    }

    #[test]
    fn real_time_moves_forward() {
        let c = VirtualClock::new(ClockSource::RealTime);
        let a = c.now_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(c.now_ns() > a);
        assert_eq!(c.instructions_until(a + 1_000_000_000), None);
    }
}

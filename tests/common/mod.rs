//! Helpers shared by integration tests.

/// Marsaglia's xorshift64: deterministic random programs whose failures
/// name the generator state that reproduces them.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    #[allow(dead_code)]
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Runs `cpu` until it stops for a reason other than a yield, or `budget`
/// instructions have retired; a host panic fails the test naming the
/// program and the generator state that reproduce it.
#[allow(dead_code)]
pub fn run_guarded(
    cpu: &mut xlat::cpu::Cpu,
    mem: &mut xlat::mem::GuestMemory,
    io: &mut xlat::devices::bus::PortBus,
    budget: u64,
    program: u64,
    seed: u64,
) -> xlat::cpu::StopReason {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use xlat::cpu::StopReason;
    catch_unwind(AssertUnwindSafe(|| {
        let mut stop = StopReason::Yield;
        let mut calls = 0;
        while stop == StopReason::Yield && cpu.state.icount < budget && calls < budget {
            stop = cpu.run(mem, io, budget - cpu.state.icount.min(budget), None);
            calls += 1;
        }
        stop
    }))
    .unwrap_or_else(|_| panic!("program {program} (rng state {seed:#x}) panicked the host"))
}

//! One vCPU: state, decoded-block cache, interpreter and exception delivery.

pub mod catalog;
pub mod cpuid;
pub mod decode_cache;
pub mod exec;
pub mod fault;
pub mod flags;
mod interrupt;
pub mod mmu;
pub mod state;

use crate::devices::bus::PortBus;
use crate::mem::GuestMemory;
use decode_cache::DecodeCache;
pub use exec::Exec;
pub use fault::Fault;
pub use state::CpuState;

/// Why `Cpu::run` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The instruction budget ran out.
    Budget,
    /// HLT with interrupts that cannot wake it (or nothing to wake it).
    Halted,
    /// An exception could not be delivered even as #DF: the CPU shuts down.
    TripleFault,
    /// An instruction asked the run loop to look at the machine (port I/O
    /// that may have requested an exit, a mode change...).
    Yield,
}

/// Observes each executed instruction (tracing, lockstep checks).
pub trait Observer {
    /// Called before `insn` executes, with the state it will see.
    fn before(&mut self, state: &CpuState, insn: &iced_x86::Instruction, bytes: &[u8]);
    /// Called after it retired (or faulted, with `fault`).
    fn after(&mut self, state: &CpuState, fault: Option<Fault>);
}

pub struct Cpu {
    pub state: CpuState,
    pub tlb: mmu::Tlb,
    cache: DecodeCache,
}

impl Default for Cpu {
    fn default() -> Self {
        Self::new()
    }
}

impl Cpu {
    pub fn new() -> Self {
        Cpu {
            state: CpuState::default(),
            tlb: mmu::Tlb::default(),
            cache: DecodeCache::default(),
        }
    }

    /// Sets iced-x86 decoder options, e.g. `NO_INVALID_CHECK` to accept
    /// LOCK anywhere as the 286 did (conformance runs only). Flushes blocks
    /// decoded under the old options.
    pub fn set_decoder_options(&mut self, options: u32) {
        self.cache.clear();
        self.cache.decoder_options = options;
    }

    /// Drops every decoded block (after loading new code behind the CPU's back).
    pub fn flush_decode_cache(&mut self, mem: &mut GuestMemory) {
        self.cache.clear();
        mem.code_pages.clear();
    }

    /// Runs until `budget` instructions have retired or something stops the CPU.
    pub fn run(
        &mut self,
        mem: &mut GuestMemory,
        io: &mut PortBus,
        budget: u64,
        mut observer: Option<&mut dyn Observer>,
    ) -> StopReason {
        let end = self.state.icount.saturating_add(budget);
        while self.state.icount < end {
            if self.state.halted {
                return StopReason::Halted;
            }
            let block = match self.cache.lookup(&mut self.state, mem, &mut self.tlb) {
                Ok(block) => block,
                Err(fault) => {
                    let mut ex = Exec::new(&mut self.state, mem, io, &mut self.tlb);
                    if let Err(stop) = interrupt::deliver_fault(&mut ex, fault) {
                        return stop;
                    }
                    continue;
                }
            };
            let mut ex = Exec::new(&mut self.state, mem, io, &mut self.tlb);
            let reason = match observer {
                Some(ref mut o) => ex.run_block(&block, end, Some(&mut **o)),
                None => ex.run_block(&block, end, None),
            };
            if let Some(stop) = reason {
                if self.state.halted {
                    return StopReason::Halted;
                }
                return stop;
            }
            if mem.code_pages.any_written() {
                self.cache.invalidate(mem);
            }
        }
        StopReason::Budget
    }
}

//! One vCPU: state, decoded-block cache, interpreter and exception delivery.

pub mod catalog;
pub mod cpuid;
pub mod decode_cache;
pub mod exec;
pub mod fault;
pub mod flags;
mod interrupt;
pub mod mmu;
pub mod simd;
pub mod state;
#[cfg(test)]
pub mod test_support;
pub mod x87;

use crate::devices::bus::PortBus;
use crate::devices::lapic::SharedLapic;
use crate::mem::GuestMemory;
use crate::trace::profile::GuestProfile;
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
    /// The vCPU's local APIC (IA32_APIC_BASE, CR8), wired by the machine.
    pub lapic: Option<SharedLapic>,
    /// Instructions retired per block, when the user asked for a profile.
    pub profile: Option<GuestProfile>,
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
            lapic: None,
            profile: None,
        }
    }

    /// Sets iced-x86 decoder options, e.g. `NO_INVALID_CHECK` to accept
    /// LOCK anywhere as the 286 did (conformance runs only). Flushes blocks
    /// decoded under the old options.
    pub fn set_decoder_options(&mut self, options: u32) {
        self.cache.clear();
        self.cache.decoder_options = options;
    }

    /// Turns the per-form fast handlers on or off (off: every instruction
    /// runs its generic handler). Flushes the decoded blocks.
    pub fn set_fast_handlers(&mut self, on: bool) {
        self.cache.clear();
        self.cache.fast_handlers = on;
    }

    /// Delivers external interrupt `vector` now (the caller checked
    /// `state.accepts_interrupt()` and acknowledged the controller). Wakes a
    /// halted CPU.
    pub fn deliver_interrupt(
        &mut self,
        mem: &mut GuestMemory,
        io: &mut PortBus,
        vector: u8,
    ) -> Result<(), StopReason> {
        let mut ex = Exec::new(&mut self.state, mem, io, &mut self.tlb);
        ex.lapic = self.lapic.as_deref();
        interrupt::deliver_external(&mut ex, vector)
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
        // One executor for all the blocks of this run.
        let mut ex = Exec::new(&mut self.state, mem, io, &mut self.tlb);
        ex.lapic = self.lapic.as_deref();
        while ex.s.icount < end {
            if ex.s.halted {
                return StopReason::Halted;
            }
            let block = match self.cache.lookup(ex.s, ex.mem, ex.tlb) {
                Ok(block) => block,
                Err(fault) => {
                    if let Err(stop) = interrupt::deliver_fault(&mut ex, fault) {
                        return stop;
                    }
                    continue;
                }
            };
            // The decode may have made a page a code page, and A20 may
            // have moved: host TLB entries made before are stale.
            let epoch = ex.mem.host_map_epoch();
            if ex.tlb.host.epoch != epoch {
                ex.tlb.host.flush();
                ex.tlb.host.epoch = epoch;
            }
            let block_start = ex.s.seg[state::CS].base.wrapping_add(ex.s.rip);
            let icount_before = ex.s.icount;
            let reason = match observer {
                Some(ref mut o) => ex.run_block(&block, end, Some(&mut **o)),
                None => ex.run_block(&block, end, None),
            };
            if let Some(profile) = &mut self.profile {
                profile.record(block_start, ex.s.icount - icount_before);
            }
            if let Some(stop) = reason {
                if ex.s.halted {
                    return StopReason::Halted;
                }
                return stop;
            }
            if ex.mem.code_pages.any_written() {
                self.cache.invalidate(ex.mem);
            }
        }
        StopReason::Budget
    }
}

#[cfg(test)]
mod tests {
    use super::state::{Segment, CS, RAX, RBX};
    use super::*;

    /// STI; HLT sleeps until an external interrupt, whose handler returns
    /// to the instruction after the HLT.
    #[test]
    fn external_interrupt_wakes_hlt_after_sti() {
        let mut mem = GuestMemory::new(1 << 20).unwrap();
        let mut io = PortBus::default();
        // IVT entry 0x08 -> 0000:0600.
        mem.write(0x08 * 4, 4, 0x0000_0600);
        mem.write_bytes(0x600, &[0xb0, 0x42, 0xcf]); // mov al,42h; iret
        mem.write_bytes(0x500, &[0xfb, 0xf4, 0xb3, 0x01, 0xf4]); // sti; hlt; mov bl,1; hlt
        let mut cpu = Cpu::new();
        cpu.state.seg[CS] = Segment::real_mode(0, Segment::ATTR_REAL_CODE);
        cpu.state.rip = 0x500;
        cpu.state.gpr[4] = 0x7c00;
        let mut stop = StopReason::Yield;
        while stop == StopReason::Yield {
            stop = cpu.run(&mut mem, &mut io, 100, None);
        }
        assert_eq!(stop, StopReason::Halted);
        assert_eq!(cpu.state.rip, 0x502);
        assert!(cpu.state.accepts_interrupt());
        cpu.deliver_interrupt(&mut mem, &mut io, 0x08).unwrap();
        assert!(!cpu.state.halted);
        let mut stop = StopReason::Yield;
        while stop == StopReason::Yield {
            stop = cpu.run(&mut mem, &mut io, 100, None);
        }
        assert_eq!(stop, StopReason::Halted);
        assert_eq!(cpu.state.gpr[RAX] & 0xff, 0x42);
        assert_eq!(cpu.state.gpr[RBX] & 0xff, 1);
    }

    /// A block that ran (and sits in the decode cache's direct-mapped
    /// front) is decoded again after the guest rewrites it.
    #[test]
    fn rewritten_code_runs_its_new_bytes() {
        let mut mem = GuestMemory::new(1 << 20).unwrap();
        let mut io = PortBus::default();
        mem.write_bytes(
            0x500,
            &[
                0xe8, 0xfd, 0x00, // call 0x600
                0xc6, 0x06, 0x00, 0x06, 0x4b, // mov byte [0x600], 0x4b (dec bx)
                0xe8, 0xf5, 0x00, // call 0x600
                0xf4, // hlt
            ],
        );
        mem.write_bytes(0x600, &[0x43, 0xc3]); // inc bx; ret
        let mut cpu = Cpu::new();
        cpu.state.seg[CS] = Segment::real_mode(0, Segment::ATTR_REAL_CODE);
        cpu.state.rip = 0x500;
        cpu.state.gpr[4] = 0x7c00;
        let mut stop = StopReason::Yield;
        while stop == StopReason::Yield {
            stop = cpu.run(&mut mem, &mut io, 100, None);
        }
        assert_eq!(stop, StopReason::Halted);
        assert_eq!(cpu.state.gpr[RBX] & 0xffff, 0, "inc then dec");
        assert_eq!(cpu.state.icount, 8, "HLT retires too");
    }

    /// Right after STI (which set IF) the CPU holds interrupts off.
    #[test]
    fn sti_shadow_holds_interrupts_for_one_instruction() {
        let mut mem = GuestMemory::new(1 << 20).unwrap();
        let mut io = PortBus::default();
        mem.write_bytes(0x500, &[0xfb, 0x90, 0xf4]); // sti; nop; hlt
        let mut cpu = Cpu::new();
        cpu.state.seg[CS] = Segment::real_mode(0, Segment::ATTR_REAL_CODE);
        cpu.state.rip = 0x500;
        assert_eq!(cpu.run(&mut mem, &mut io, 1, None), StopReason::Yield);
        assert!(!cpu.state.accepts_interrupt(), "shadow after STI");
        cpu.run(&mut mem, &mut io, 1, None);
        assert!(cpu.state.accepts_interrupt(), "shadow over after NOP");
    }

    /// The instruction in the shadow ends the time slice, so that the run
    /// loop delivers an interrupt that arrived meanwhile right after it.
    #[test]
    fn sti_shadow_ends_the_slice_after_one_instruction() {
        let mut mem = GuestMemory::new(1 << 20).unwrap();
        let mut io = PortBus::default();
        mem.write_bytes(0x500, &[0xfb, 0x90, 0x90, 0x90, 0xf4]); // sti; nop; nop; nop; hlt
        let mut cpu = Cpu::new();
        cpu.state.seg[CS] = Segment::real_mode(0, Segment::ATTR_REAL_CODE);
        cpu.state.rip = 0x500;
        assert_eq!(cpu.run(&mut mem, &mut io, 100, None), StopReason::Yield);
        assert_eq!(cpu.run(&mut mem, &mut io, 100, None), StopReason::Yield);
        assert_eq!(cpu.state.rip, 0x502, "stopped after the shadowed NOP");
        assert_eq!(cpu.run(&mut mem, &mut io, 100, None), StopReason::Halted);
    }

    /// An unmasked x87 exception with CR0.NE = 0 asserts FERR#: the run
    /// returns at once so that the board raises IRQ13.
    #[test]
    fn ferr_ends_the_slice() {
        let mut mem = GuestMemory::new(1 << 20).unwrap();
        let mut io = PortBus::default();
        mem.write(0x200, 2, 0x037b); // ZM clear
        #[rustfmt::skip]
        mem.write_bytes(0x500, &[
            0xdb, 0xe3,             // fninit
            0xd9, 0x2e, 0x00, 0x02, // fldcw [0x200]
            0xd9, 0xe8,             // fld1
            0xd9, 0xee,             // fldz
            0xde, 0xf9,             // fdivp
            0x90, 0x90, 0xf4,       // nop; nop; hlt
        ]);
        let mut cpu = Cpu::new();
        cpu.state.seg[CS] = Segment::real_mode(0, Segment::ATTR_REAL_CODE);
        cpu.state.rip = 0x500;
        assert_eq!(cpu.run(&mut mem, &mut io, 100, None), StopReason::Yield);
        assert_eq!(cpu.state.rip, 0x50c, "stopped after the FDIVP");
        assert!(cpu.state.x87.take_ferr());
    }
}

#[cfg(test)]
mod long_mode_tests {
    use super::state::{cr0, cr4, efer, Segment, CS, SS};
    use super::*;

    /// RETFQ to a 64-bit code segment checks the target for canonical
    /// form, not against the (meaningless) 4 GiB limit: Linux returns to a
    /// kernel address above 4 GiB this way in startup_64.
    #[test]
    fn retfq_to_a_high_canonical_address() {
        let mut mem = GuestMemory::new(4 << 20).unwrap();
        let mut io = PortBus::default();
        // Identity-map the first 2 MiB; GDT with 64-bit code at 0x10.
        mem.write(0x10000, 8, 0x11000 | 3);
        mem.write(0x11000, 8, 0x12000 | 3);
        mem.write(0x12000, 8, 0x83);
        mem.write(0x1000 + 0x10, 8, 0x00af_9b00_0000_ffff);
        let target = 0xffff_ffff_a260_015au64;
        mem.write(0x7000, 8, target);
        mem.write(0x7008, 8, 0x10);
        mem.write_bytes(0x5000, &[0x48, 0xcb]); // retfq
        let mut cpu = Cpu::new();
        let s = &mut cpu.state;
        s.cr0 = cr0::PE | cr0::PG | cr0::ET;
        s.cr4 = cr4::PAE;
        s.cr3 = 0x10000;
        s.msr.efer = efer::LME | efer::LMA;
        s.gdtr.base = 0x1000;
        s.gdtr.limit = 0x17;
        s.seg[CS] = Segment {
            selector: 0x10,
            attr: 0xa09b,
            limit: 0xffff_ffff,
            base: 0,
        };
        s.seg[SS] = Segment {
            selector: 0x18,
            attr: 0xc093,
            limit: 0xffff_ffff,
            base: 0,
        };
        s.gpr[4] = 0x7000;
        s.rip = 0x5000;
        cpu.run(&mut mem, &mut io, 1, None);
        assert_eq!(cpu.state.rip, target);
        assert_eq!(cpu.state.gpr[4], 0x7010);
    }
}

//! The interpreter: an execution context over one vCPU's state and the
//! machine's buses, and the instruction-family handlers that run on it.

mod arith;
mod bcd;
mod bits;
mod control;
mod control_regs;
mod data;
pub mod descriptor;
pub mod far_transfer;
mod logic;
mod msr;
mod muldiv;
pub mod operand;
mod segments;
mod shift;
mod stack;
mod string;
mod system;
pub mod task;

pub(crate) use arith::*;
pub(crate) use bcd::*;
pub(crate) use bits::*;
pub(crate) use control::*;
pub(crate) use control_regs::*;
pub(crate) use data::*;
pub(crate) use logic::*;
pub(crate) use msr::*;
pub(crate) use muldiv::*;
pub(crate) use shift::*;
pub(crate) use stack::*;
pub(crate) use string::*;
pub(crate) use system::*;

use super::decode_cache::Block;
use super::fault::Fault;
use super::interrupt;
use super::mmu::Tlb;
use super::state::{CpuState, RSP};
use super::{Observer, StopReason};
use crate::devices::bus::PortBus;
use crate::mem::GuestMemory;
use iced_x86::Instruction;

/// What a handler sees: the vCPU's registers and the machine's buses.
pub struct Exec<'a> {
    pub s: &'a mut CpuState,
    pub mem: &'a mut GuestMemory,
    pub io: &'a mut PortBus,
    pub tlb: &'a mut Tlb,
    /// RIP of the next sequential instruction; branches overwrite it.
    pub next_rip: u64,
    /// Set by handlers after which the run loop must look at the machine
    /// (halt, port I/O, mode changes): the block ends there.
    pub yield_now: bool,
}

impl<'a> Exec<'a> {
    pub fn new(
        s: &'a mut CpuState,
        mem: &'a mut GuestMemory,
        io: &'a mut PortBus,
        tlb: &'a mut Tlb,
    ) -> Self {
        Exec {
            s,
            mem,
            io,
            tlb,
            next_rip: 0,
            yield_now: false,
        }
    }

    /// Mask for instruction pointer arithmetic in the current code size.
    #[inline]
    pub fn ip_mask(&self) -> u64 {
        match super::decode_cache::code_bitness(self.s) {
            64 => u64::MAX,
            32 => 0xffff_ffff,
            _ => 0xffff,
        }
    }

    /// Executes `block` from its start. Returns `Some` when the run loop must
    /// stop, `None` to continue with the next block.
    pub fn run_block(
        &mut self,
        block: &Block,
        end_icount: u64,
        mut observer: Option<&mut dyn Observer>,
    ) -> Option<StopReason> {
        let mask = self.ip_mask();
        for d in &block.insns {
            let insn = &d.insn;
            let start_rip = self.s.rip;
            let start_rsp = self.s.gpr[RSP];
            self.next_rip = insn.next_ip() & mask;
            if let Some(obs) = observer.as_mut() {
                let mut bytes = [0u8; 15];
                let len = insn.len().min(15);
                let lin = self.s.seg[super::state::CS].base.wrapping_add(start_rip);
                for (i, b) in bytes[..len].iter_mut().enumerate() {
                    *b = self
                        .read_linear(lin.wrapping_add(i as u64), 1, false)
                        .unwrap_or(0) as u8;
                }
                obs.before(self.s, insn, &bytes[..len]);
            }
            let result = (d.handler)(self, insn);
            match result {
                Ok(()) => {
                    self.s.rip = self.next_rip;
                    self.s.icount += 1;
                    if let Some(obs) = observer.as_mut() {
                        obs.after(self.s, None);
                    }
                }
                Err(fault) => {
                    // Roll back to the instruction's start (SDM 6.5: faults
                    // report the faulting instruction).
                    self.s.rip = start_rip;
                    self.s.gpr[RSP] = start_rsp;
                    if let Some(obs) = observer.as_mut() {
                        obs.after(self.s, Some(fault));
                    }
                    self.s.icount += 1;
                    if let Err(stop) = interrupt::deliver_fault(self, fault) {
                        return Some(stop);
                    }
                    return None;
                }
            }
            if self.yield_now {
                return Some(StopReason::Yield);
            }
            if self.s.rip != insn.next_ip() & mask
                || self.mem.code_pages.any_written()
                || self.s.icount >= end_icount
            {
                return None;
            }
        }
        if block.limit_fault_at_end {
            self.s.icount += 1;
            if let Err(stop) = interrupt::deliver_fault(self, Fault::gp(0)) {
                return Some(stop);
            }
        }
        None
    }
}

/// Handler for encodings iced-x86 decodes but xlat does not implement (yet)
/// and for invalid encodings: the guest sees #UD.
pub(crate) fn undefined(ex: &mut Exec, insn: &Instruction) -> Result<(), Fault> {
    log::debug!(
        "#UD at {:04x}:{:x}: {:?}",
        ex.s.seg[super::state::CS].selector,
        ex.s.rip,
        insn.code()
    );
    Err(Fault::UD)
}

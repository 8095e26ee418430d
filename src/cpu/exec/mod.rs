//! The interpreter: an execution context over one vCPU's state and the
//! machine's buses, and the instruction-family handlers that run on it.

mod arith;
mod bcd;
mod bits;
mod control;
mod control_regs;
mod crc32;
mod data;
mod debug;
pub mod descriptor;
pub mod far_transfer;
pub mod fast;
mod fast_syscall;
mod logic;
mod long_mode;
mod msr;
mod muldiv;
pub mod operand;
mod operand_fast;
pub mod operand_plan;
mod protected;
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
pub(crate) use crc32::*;
pub(crate) use data::*;
pub(crate) use fast_syscall::*;
pub(crate) use logic::*;
pub(crate) use msr::*;
pub(crate) use muldiv::*;
pub(crate) use protected::*;
pub(crate) use shift::*;
pub(crate) use stack::*;
pub(crate) use string::*;
pub(crate) use system::*;

use super::decode_cache::{Block, Decoded};
use super::fault::{vector, Fault};
use super::interrupt;
use super::mmu::Tlb;
use super::state::rflags::{RF, TF};
use super::state::{CpuState, RSP};
use super::{Observer, StopReason};
use crate::devices::bus::PortBus;
use crate::devices::lapic::Lapic;
use crate::mem::GuestMemory;
use iced_x86::Instruction;
use operand_plan::OperandPlan;
use std::sync::{Mutex, MutexGuard};

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
    /// DR6 B0-B3 bits of data breakpoints the current instruction hit.
    pub pending_db: u64,
    /// This vCPU's local APIC, for IA32_APIC_BASE and CR8 (TPR); None for
    /// a CPU without one.
    pub lapic: Option<&'a Mutex<Lapic>>,
    /// Operand plan of the instruction at `plan_insn` (only compared,
    /// never dereferenced): operand access reads it instead of iced-x86's
    /// getters when a handler passes that very instruction.
    pub plan: OperandPlan,
    pub plan_insn: *const Instruction,
    /// Set when the instruction just run went through a generic handler
    /// (or the general operand path): the fast loop then looks at the
    /// machine before the next one. Fast handlers change nothing the loop
    /// watches (RIP aside, in a Jcc that ends its block).
    pub slow_step: bool,
    /// `mmu::kind` bits of an explicit data access at the current CPL and
    /// EFLAGS.AC, for host TLB lookups: set when a block starts and after
    /// every generic handler.
    pub host_kind: u64,
    /// The fault a fast handler reported (`fast::Exit::Fault`).
    pub fault: Fault,
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
            pending_db: 0,
            lapic: None,
            plan: OperandPlan::NONE,
            plan_insn: std::ptr::null(),
            slow_step: false,
            host_kind: 0,
            fault: Fault::UD,
        }
    }

    /// The local APIC, locked (taken over if a holder panicked: its state
    /// is plain data).
    pub fn lapic(&self) -> Option<MutexGuard<'a, Lapic>> {
        self.lapic
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
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
        observer: Option<&mut dyn Observer>,
    ) -> Option<StopReason> {
        self.host_kind = fast::data_kind(self);
        self.yield_now = false;
        self.slow_step = false;
        if observer.is_none() && !self.needs_careful_steps() {
            return self.run_block_fast(block, end_icount);
        }
        self.run_block_careful(block, end_icount, observer)
    }

    /// Single-step and breakpoint traps, RF and the interrupt shadow need
    /// work around every instruction; without them a block runs bare.
    #[inline(always)]
    fn needs_careful_steps(&self) -> bool {
        self.s.rflags & (TF | RF) != 0 || self.breakpoints_enabled() || self.s.interrupt_shadow
    }

    /// The common case: no observer, no debug traps, no shadow. A handler
    /// that turns one of them on ends the block, and the next block runs
    /// the careful loop.
    fn run_block_fast(&mut self, block: &Block, end_icount: u64) -> Option<StopReason> {
        // Only a block that may reach the budget counts each step against it.
        let budget_in_reach = self.s.icount + block.insns.len() as u64 >= end_icount;
        for d in &block.insns {
            self.next_rip = d.next_ip;
            if let Err(exit) = (d.handler)(self, d) {
                if let Err(fault) = self.finish_exit(exit, d) {
                    // Nothing moved RIP, and a generic handler that
                    // faulted put RSP back (`fast::generic`).
                    return self.fault_in_block(fault, self.s.rip, self.s.gpr[RSP]);
                }
            }
            self.s.rip = self.next_rip;
            self.s.icount += 1;
            if self.slow_step || budget_in_reach {
                self.slow_step = false;
                if self.yield_now {
                    return Some(StopReason::Yield);
                }
                if self.s.rip != d.next_ip
                    || self.needs_careful_steps()
                    || self.mem.code_pages.any_written()
                    || self.s.icount >= end_icount
                {
                    return None;
                }
            }
        }
        self.end_of_block(block)
    }

    /// What a fast handler left undone: a miss runs the generic handler, a
    /// fault is handed back.
    #[inline(always)]
    fn finish_exit(&mut self, exit: fast::Exit, d: &Decoded) -> Result<(), Fault> {
        match exit {
            fast::Exit::Miss => fast::miss(self, d),
            fast::Exit::Fault => Err(self.fault),
        }
    }

    /// Rolls back to the instruction's start (SDM 6.5: faults report the
    /// faulting instruction) and delivers `fault`.
    #[cold]
    fn fault_in_block(
        &mut self,
        fault: Fault,
        start_rip: u64,
        start_rsp: u64,
    ) -> Option<StopReason> {
        self.s.rip = start_rip;
        self.s.gpr[RSP] = start_rsp;
        self.s.icount += 1;
        interrupt::deliver_fault(self, fault).err()
    }

    /// A block cut short by the CS limit faults where its bytes end.
    fn end_of_block(&mut self, block: &Block) -> Option<StopReason> {
        if block.limit_fault_at_end {
            self.s.icount += 1;
            if let Err(stop) = interrupt::deliver_fault(self, Fault::gp(0)) {
                return Some(stop);
            }
        }
        None
    }

    /// The general loop: observer calls, instruction and data breakpoints,
    /// single-step traps, RF and the interrupt shadow.
    fn run_block_careful(
        &mut self,
        block: &Block,
        end_icount: u64,
        mut observer: Option<&mut dyn Observer>,
    ) -> Option<StopReason> {
        for d in &block.insns {
            let insn = &d.insn;
            let start_rip = self.s.rip;
            let start_rsp = self.s.gpr[RSP];
            self.next_rip = d.next_ip;
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
            let flags_at_start = self.s.rflags;
            // The shadow covers exactly one instruction: this one. After
            // it the run loop must look for interrupts held off meanwhile.
            if std::mem::take(&mut self.s.interrupt_shadow) {
                self.yield_now = true;
            }
            let result = if self.breakpoints_enabled() {
                self.pending_db = 0;
                let hits = if flags_at_start & RF == 0 {
                    self.instruction_breakpoints()
                } else {
                    0
                };
                if hits != 0 {
                    // An instruction breakpoint is a fault before execution.
                    self.s.dr[6] = (self.s.dr[6] & !0xf) | hits;
                    Err(Fault::new(vector::DB))
                } else {
                    (d.handler)(self, d).or_else(|exit| self.finish_exit(exit, d))
                }
            } else {
                (d.handler)(self, d).or_else(|exit| self.finish_exit(exit, d))
            };
            match result {
                Ok(()) => {
                    self.s.rip = self.next_rip;
                    self.s.icount += 1;
                    if let Some(obs) = observer.as_mut() {
                        obs.after(self.s, None);
                    }
                    if flags_at_start & (TF | RF) != 0 || self.pending_db != 0 {
                        if let Some(stop) = self.after_debug_checks(insn, flags_at_start) {
                            return stop;
                        }
                    }
                }
                Err(fault) => {
                    if let Some(obs) = observer.as_mut() {
                        // The observer sees the rolled-back state.
                        self.s.rip = start_rip;
                        self.s.gpr[RSP] = start_rsp;
                        obs.after(self.s, Some(fault));
                    }
                    return self.fault_in_block(fault, start_rip, start_rsp);
                }
            }
            if self.yield_now {
                return Some(StopReason::Yield);
            }
            if self.s.rip != d.next_ip
                || self.mem.code_pages.any_written()
                || self.s.icount >= end_icount
            {
                return None;
            }
        }
        self.end_of_block(block)
    }
}

impl Exec<'_> {
    /// RF is cleared by every completed instruction but IRET; TF set at the
    /// start of an instruction (other than a software interrupt, which
    /// clears it for its handler) and data breakpoints raise a #DB trap.
    /// Returns `Some` when the run loop must stop or the block must end.
    fn after_debug_checks(
        &mut self,
        insn: &Instruction,
        flags_at_start: u64,
    ) -> Option<Option<StopReason>> {
        use iced_x86::Mnemonic::*;
        let mnemonic = insn.mnemonic();
        if !matches!(mnemonic, Iret | Iretd | Iretq) {
            self.s.rflags &= !RF;
        }
        let single_step = flags_at_start & TF != 0 && !matches!(mnemonic, Int | Int3 | Into | Int1);
        let hits = std::mem::take(&mut self.pending_db);
        if !single_step && hits == 0 {
            return None;
        }
        let mut dr6 = (self.s.dr[6] & !0xf) | hits;
        if single_step {
            dr6 |= debug::DR6_BS;
        }
        self.s.dr[6] = dr6;
        // A trap: the return address is the next instruction (s.rip now).
        Some(interrupt::deliver_fault(self, Fault::new(vector::DB)).err())
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

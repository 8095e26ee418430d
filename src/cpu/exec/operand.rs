//! Operand access shared by every handler: registers, effective addresses,
//! segment checks, memory, immediates and the stack. Handlers say what to
//! compute; this file says where the values live.

use super::operand_plan::OpPlan;
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::mmu::{self, Access};
use crate::cpu::state::{cr0, efer, Segment, CS, FS, GS, RSP, SS};
use iced_x86::{Instruction, OpKind, Register};

/// Where a general-purpose register operand lives in `CpuState::gpr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GprLoc {
    pub index: usize,
    /// Size in bytes.
    pub size: u32,
    /// AH/CH/DH/BH: bits 8..15 of the register.
    pub high8: bool,
}

/// Computes a GPR's slot from iced's register numbering (AL..R15L,
/// AX..R15W, EAX..R15D, RAX..R15 are contiguous runs).
const fn compute_gpr_loc(n: u32) -> GprLoc {
    let (base, size) = if n >= Register::RAX as u32 {
        (Register::RAX as u32, 8)
    } else if n >= Register::EAX as u32 {
        (Register::EAX as u32, 4)
    } else if n >= Register::AX as u32 {
        (Register::AX as u32, 2)
    } else {
        let i = n.saturating_sub(Register::AL as u32);
        return match i {
            4..=7 => GprLoc {
                index: (i - 4) as usize,
                size: 1,
                high8: true,
            },
            0..=3 => GprLoc {
                index: i as usize,
                size: 1,
                high8: false,
            },
            _ => GprLoc {
                index: ((i - 4) & 15) as usize,
                size: 1,
                high8: false,
            },
        };
    };
    GprLoc {
        index: ((n - base) & 15) as usize,
        size,
        high8: false,
    }
}

/// `compute_gpr_loc` for every register number up to R15, built at compile
/// time: operand access is the interpreter's hottest path.
static GPR_LOCS: [GprLoc; 256] = {
    let mut t = [GprLoc {
        index: 0,
        size: 8,
        high8: false,
    }; 256];
    let mut n = Register::AL as u32;
    while n <= Register::R15 as u32 {
        t[n as usize] = compute_gpr_loc(n);
        n += 1;
    }
    t
};

/// Maps an iced GPR to its slot. Only call with general-purpose registers.
#[inline]
pub fn gpr_loc(r: Register) -> GprLoc {
    GPR_LOCS[r as usize & 0xff]
}

/// Index of a segment register in `CpuState::seg` (ES CS SS DS FS GS).
#[inline]
pub fn seg_index(r: Register) -> usize {
    (r as u32 - Register::ES as u32) as usize
}

/// All-ones mask for `size` bytes.
#[inline]
pub fn size_mask(size: u32) -> u64 {
    u64::MAX >> (64 - 8 * size)
}

/// Sign-extends the low `size` bytes of `v` to 64 bits.
#[inline]
pub fn sext(v: u64, size: u32) -> i64 {
    let shift = 64 - 8 * size;
    ((v << shift) as i64) >> shift
}

/// Size in bytes of the instruction's address computation.
#[inline]
pub fn addr_size(insn: &Instruction) -> u32 {
    let base = insn.memory_base();
    let index = insn.memory_index();
    let r = if base != Register::None && base != Register::RIP && base != Register::EIP {
        base
    } else {
        index
    };
    if r != Register::None {
        return r.size() as u32;
    }
    match base {
        Register::RIP => 8,
        Register::EIP => 4,
        _ => match insn.memory_displ_size() {
            2 => 2,
            8 => 8,
            4 => 4,
            _ => match insn.code_size() {
                iced_x86::CodeSize::Code16 => 2,
                iced_x86::CodeSize::Code64 => 8,
                _ => 4,
            },
        },
    }
}

impl Exec<'_> {
    /// True when `insn` is the instruction whose operand plan `self.plan`
    /// holds (a handler may also pass an instruction it built itself).
    #[inline]
    fn planned(&self, insn: &Instruction) -> bool {
        std::ptr::eq(insn, self.plan_insn)
    }

    /// True when operands 0 and 1 of `insn` are both GPRs, memory or
    /// immediates with a plan (no segment, control or vector registers).
    #[inline]
    pub fn operands_planned(&self, insn: &Instruction) -> bool {
        self.planned(insn)
            && !matches!(self.plan.ops[0], OpPlan::Other)
            && !matches!(self.plan.ops[1], OpPlan::Other)
    }

    #[inline]
    pub fn gpr(&self, r: Register) -> u64 {
        self.gpr_at(gpr_loc(r))
    }

    /// Reads the GPR at `l`, zero-extended.
    #[inline]
    pub fn gpr_at(&self, l: GprLoc) -> u64 {
        let v = self.s.gpr[l.index & 15];
        if l.high8 {
            (v >> 8) & 0xff
        } else {
            v & size_mask(l.size)
        }
    }

    /// Writes a GPR with x86's merge rules: 8/16-bit writes keep the other
    /// bits, 32-bit writes zero the upper half.
    #[inline]
    pub fn set_gpr(&mut self, r: Register, v: u64) {
        self.set_gpr_at(gpr_loc(r), v)
    }

    /// Writes the GPR at `l` with the merge rules of `set_gpr`.
    #[inline]
    pub fn set_gpr_at(&mut self, l: GprLoc, v: u64) {
        let slot = &mut self.s.gpr[l.index & 15];
        *slot = match (l.size, l.high8) {
            (1, true) => (*slot & !0xff00) | ((v & 0xff) << 8),
            (1, false) => (*slot & !0xff) | (v & 0xff),
            (2, _) => (*slot & !0xffff) | (v & 0xffff),
            (4, _) => v & 0xffff_ffff,
            _ => v,
        };
    }

    /// GPR by index and size (for implicit operands such as AX/DX:AX).
    #[inline]
    pub fn reg(&self, index: usize, size: u32) -> u64 {
        self.s.gpr[index] & size_mask(size)
    }

    #[inline]
    pub fn set_reg(&mut self, index: usize, size: u32, v: u64) {
        let slot = &mut self.s.gpr[index];
        *slot = match size {
            1 => (*slot & !0xff) | (v & 0xff),
            2 => (*slot & !0xffff) | (v & 0xffff),
            4 => v & 0xffff_ffff,
            _ => v,
        };
    }

    /// The offset part of a memory operand, wrapped to the address size.
    #[inline]
    pub fn effective_offset(&self, insn: &Instruction) -> u64 {
        if self.planned(insn) && !self.plan.mem.unplanned {
            return self.plan.mem.offset(&self.s.gpr);
        }
        self.effective_offset_unplanned(insn)
    }

    fn effective_offset_unplanned(&self, insn: &Instruction) -> u64 {
        let mut off = insn.memory_displacement64();
        let base = insn.memory_base();
        if base == Register::RIP || base == Register::EIP {
            // iced-x86 already resolved RIP-relative operands to the
            // absolute target (the block was decoded at its real RIP).
        } else if base != Register::None {
            off = off.wrapping_add(self.gpr(base));
        }
        let index = insn.memory_index();
        if index != Register::None {
            off = off.wrapping_add(self.gpr(index) << insn.memory_index_scale().trailing_zeros());
        }
        off & size_mask(addr_size(insn))
    }

    /// Segment-register index of a memory operand (after overrides).
    #[inline]
    pub fn mem_seg(&self, insn: &Instruction) -> usize {
        if self.planned(insn) {
            return self.plan.mem.seg as usize;
        }
        seg_index(insn.memory_segment())
    }

    /// Linear address of `size` bytes at `seg:offset`, after the segment's
    /// type and limit checks (#SS(0) for the stack segment, #GP(0) else).
    #[inline]
    pub fn linear(&self, seg: usize, offset: u64, size: u32, write: bool) -> Result<u64, Fault> {
        let fault = if seg == SS {
            Fault::ss(0)
        } else {
            Fault::gp(0)
        };
        self.segment_linear(&self.s.seg[seg], seg, offset, size, write, fault)
    }

    /// `linear` for an explicit segment cache (stacks not loaded yet).
    pub fn segment_linear(
        &self,
        sr: &Segment,
        seg: usize,
        offset: u64,
        size: u32,
        write: bool,
        fault: Fault,
    ) -> Result<u64, Fault> {
        if super::super::decode_cache::code_bitness(self.s) == 64 {
            // 64-bit mode: no limits; only FS and GS keep a base.
            let base = if seg == FS || seg == GS { sr.base } else { 0 };
            let lin = base.wrapping_add(offset);
            let last = lin.wrapping_add(size as u64 - 1);
            if !canonical(lin) || !canonical(last) {
                return Err(fault);
            }
            return Ok(lin);
        }
        let attr = sr.attr;
        if self.descriptors_apply() {
            let code = attr & 0x08 != 0;
            let ok = attr & 0x80 != 0
                && if write {
                    !code && attr & 0x02 != 0
                } else {
                    !code || attr & 0x02 != 0
                };
            if !ok {
                return Err(fault);
            }
        }
        let last = offset.wrapping_add(size as u64 - 1);
        let expand_down = attr & 0x0c == 0x04 && attr & 0x10 != 0;
        let in_limit = if expand_down {
            let upper = if sr.big() { 0xffff_ffff } else { 0xffff };
            offset > sr.limit as u64 && last <= upper && last >= offset
        } else {
            last <= sr.limit as u64 && last >= offset
        };
        if !in_limit {
            return Err(fault);
        }
        Ok(sr.base.wrapping_add(offset) & 0xffff_ffff)
    }

    /// Whether memory accesses are user-mode accesses for paging.
    #[inline]
    pub fn user_access(&self) -> bool {
        self.cpl() == 3
    }

    /// Physical address of `linear` for `access`.
    #[inline]
    pub fn translate(&mut self, linear: u64, access: Access) -> Result<u64, Fault> {
        mmu::translate(self.s, self.mem, self.tlb, linear, access)
    }

    /// Reads `size` bytes at a linear address as a CPL-derived data read.
    #[inline]
    pub fn read_linear(&mut self, linear: u64, size: u32, user: bool) -> Result<u64, Fault> {
        self.read_linear_as(linear, size, Access::read(user))
    }

    /// Writes `size` bytes at a linear address as a CPL-derived data write.
    #[inline]
    pub fn write_linear(
        &mut self,
        linear: u64,
        size: u32,
        v: u64,
        user: bool,
    ) -> Result<(), Fault> {
        self.write_linear_as(linear, size, v, Access::write(user))
    }

    /// Reads a system structure (GDT, LDT, IDT, TSS): an implicit
    /// supervisor access whatever the CPL (SDM vol. 3, 4.6).
    #[inline]
    pub fn read_system(&mut self, linear: u64, size: u32) -> Result<u64, Fault> {
        self.read_linear_as(linear, size, Access::implicit(false))
    }

    /// Writes a system structure (accessed/busy bits, TSS state).
    #[inline]
    pub fn write_system(&mut self, linear: u64, size: u32, v: u64) -> Result<(), Fault> {
        self.write_linear_as(linear, size, v, Access::implicit(true))
    }

    /// Reads `size` bytes at a linear address. An access that straddles two
    /// pages translates both before touching either.
    pub fn read_linear_as(&mut self, linear: u64, size: u32, access: Access) -> Result<u64, Fault> {
        self.note_data_access(linear, size, access.write);
        let first = self.translate(linear, access)?;
        if (linear & 0xfff) + size as u64 <= 0x1000 {
            return Ok(self.mem.read(first, size));
        }
        let split = 0x1000 - (linear & 0xfff);
        let second = self.translate(linear.wrapping_add(split), access)?;
        let mut v = 0u64;
        for i in 0..size as u64 {
            let p = if i < split {
                first + i
            } else {
                second + (i - split)
            };
            v |= (self.mem.read_u8(p) as u64) << (8 * i);
        }
        Ok(v)
    }

    /// Writes `size` bytes at a linear address (both pages checked first).
    pub fn write_linear_as(
        &mut self,
        linear: u64,
        size: u32,
        v: u64,
        access: Access,
    ) -> Result<(), Fault> {
        self.note_data_access(linear, size, true);
        let first = self.translate(linear, access)?;
        if (linear & 0xfff) + size as u64 <= 0x1000 {
            self.mem.write(first, size, v);
            return Ok(());
        }
        let split = 0x1000 - (linear & 0xfff);
        let second = self.translate(linear.wrapping_add(split), access)?;
        for i in 0..size as u64 {
            let p = if i < split {
                first + i
            } else {
                second + (i - split)
            };
            self.mem.write_u8(p, (v >> (8 * i)) as u8);
        }
        Ok(())
    }

    /// Reads the destination of a read-modify-write: the read is checked
    /// as a write (segment type, and paging reports W=1 on a fault), as
    /// Intel CPUs do.
    #[inline(always)]
    pub fn read_op_rmw(&mut self, insn: &Instruction, n: u32) -> Result<u64, Fault> {
        if self.planned(insn) && n < 2 {
            match self.plan.ops[n as usize] {
                OpPlan::Gpr(r) => return Ok(r.read(&self.s.gpr)),
                OpPlan::Mem => {
                    if let Some(phys) = self.planned_phys(true) {
                        return Ok(self.mem.read(phys, self.plan.mem.size as u32));
                    }
                }
                _ => {}
            }
        }
        self.read_op_rmw_slow(insn, n)
    }

    #[inline(never)]
    fn read_op_rmw_slow(&mut self, insn: &Instruction, n: u32) -> Result<u64, Fault> {
        let (seg, size) = if self.planned(insn) && n < 2 {
            match self.plan.ops[n as usize] {
                OpPlan::Mem => (self.plan.mem.seg as usize, self.plan.mem.size as u32),
                _ => return self.read_op(insn, n),
            }
        } else {
            if insn.op_kind(n) != OpKind::Memory {
                return self.read_op(insn, n);
            }
            (self.mem_seg(insn), insn.memory_size().size() as u32)
        };
        let off = self.effective_offset(insn);
        let lin = self.linear(seg, off, size, true)?;
        if let Some(phys) = self.fast_data_phys(lin, size, true) {
            return Ok(self.mem.read(phys, size));
        }
        let access = Access::write(self.user_access());
        self.read_linear_as(lin, size, access)
    }

    /// The physical address of an explicit data access of `size` bytes at
    /// `linear` when the short path can serve it: within one page, no
    /// breakpoints armed, and paging off or a TLB entry that allows the
    /// access. `None` sends the access down the general path, which walks,
    /// faults and records breakpoint hits.
    #[inline(always)]
    pub(super) fn fast_data_phys(&self, linear: u64, size: u32, write: bool) -> Option<u64> {
        let s = &*self.s;
        if (linear & 0xfff) + size as u64 > 0x1000 || self.breakpoints_enabled() {
            return None;
        }
        let phys = if s.cr0 & cr0::PG == 0 {
            linear & 0xffff_ffff
        } else {
            let linear = if s.msr.efer & efer::LMA != 0 {
                linear
            } else {
                linear & 0xffff_ffff
            };
            // As `Access::kind` for an explicit (not implicit) access.
            let k = super::fast::data_kind(self) as usize | write as usize;
            self.tlb.lookup(linear, k)?
        };
        Some(self.mem.a20_mask(phys))
    }

    /// Reads `size` bytes at `seg:offset`.
    #[inline(always)]
    pub fn read_mem(&mut self, seg: usize, offset: u64, size: u32) -> Result<u64, Fault> {
        let lin = self.linear(seg, offset, size, false)?;
        if let Some(phys) = self.fast_data_phys(lin, size, false) {
            return Ok(self.mem.read(phys, size));
        }
        let user = self.user_access();
        self.read_linear(lin, size, user)
    }

    /// Writes `size` bytes at `seg:offset`.
    #[inline(always)]
    pub fn write_mem(&mut self, seg: usize, offset: u64, size: u32, v: u64) -> Result<(), Fault> {
        let lin = self.linear(seg, offset, size, true)?;
        if let Some(phys) = self.fast_data_phys(lin, size, true) {
            self.mem.write(phys, size, v);
            return Ok(());
        }
        let user = self.user_access();
        self.write_linear(lin, size, v, user)
    }

    /// Checks that `size` bytes at `seg:offset` may be written, without
    /// writing (for instructions that must not fault half-way).
    pub fn check_write(&mut self, seg: usize, offset: u64, size: u32) -> Result<(), Fault> {
        let lin = self.linear(seg, offset, size, true)?;
        let access = Access::write(self.user_access());
        self.translate(lin, access)?;
        if (lin & 0xfff) + size as u64 > 0x1000 {
            self.translate((lin | 0xfff).wrapping_add(1), access)?;
        }
        Ok(())
    }

    /// Size in bytes of operand `n`.
    #[inline]
    pub fn op_size(&self, insn: &Instruction, n: u32) -> u32 {
        if self.planned(insn) && n < 2 {
            return self.plan.sizes[n as usize] as u32;
        }
        super::operand_plan::op_size(insn, n)
    }

    /// Reads operand `n` (register, memory or immediate), zero-extended.
    #[inline(always)]
    pub fn read_op(&mut self, insn: &Instruction, n: u32) -> Result<u64, Fault> {
        if self.planned(insn) && n < 2 {
            match self.plan.ops[n as usize] {
                OpPlan::Gpr(r) => return Ok(r.read(&self.s.gpr)),
                OpPlan::Imm => return Ok(self.plan.imm),
                OpPlan::Mem => {
                    if let Some(phys) = self.planned_phys(false) {
                        return Ok(self.mem.read(phys, self.plan.mem.size as u32));
                    }
                }
                _ => {}
            }
        }
        self.read_op_slow(insn, n)
    }

    #[inline(never)]
    fn read_op_slow(&mut self, insn: &Instruction, n: u32) -> Result<u64, Fault> {
        if self.planned(insn) && n < 2 && self.plan.ops[n as usize] == OpPlan::Mem {
            let off = self.effective_offset(insn);
            let m = &self.plan.mem;
            return self.read_mem(m.seg as usize, off, m.size as u32);
        }
        self.read_op_unplanned(insn, n)
    }

    fn read_op_unplanned(&mut self, insn: &Instruction, n: u32) -> Result<u64, Fault> {
        Ok(match insn.op_kind(n) {
            OpKind::Register => {
                let r = insn.op_register(n);
                if r.is_segment_register() {
                    self.s.seg[seg_index(r)].selector as u64
                } else {
                    self.gpr(r)
                }
            }
            OpKind::Memory => {
                let size = insn.memory_size().size() as u32;
                let off = self.effective_offset(insn);
                self.read_mem(self.mem_seg(insn), off, size)?
            }
            OpKind::Immediate8 | OpKind::Immediate8_2nd => insn.immediate(n) & 0xff,
            OpKind::Immediate16 | OpKind::Immediate8to16 => insn.immediate(n) & 0xffff,
            OpKind::Immediate32 | OpKind::Immediate8to32 => insn.immediate(n) & 0xffff_ffff,
            _ => insn.immediate(n),
        })
    }

    /// Writes operand `n` (register or memory).
    #[inline(always)]
    pub fn write_op(&mut self, insn: &Instruction, n: u32, v: u64) -> Result<(), Fault> {
        if self.planned(insn) && n < 2 {
            match self.plan.ops[n as usize] {
                OpPlan::Gpr(r) => {
                    r.write(&mut self.s.gpr, v);
                    return Ok(());
                }
                OpPlan::Mem => {
                    if let Some(phys) = self.planned_phys(true) {
                        self.mem.write(phys, self.plan.mem.size as u32, v);
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        self.write_op_slow(insn, n, v)
    }

    #[inline(never)]
    fn write_op_slow(&mut self, insn: &Instruction, n: u32, v: u64) -> Result<(), Fault> {
        if self.planned(insn) && n < 2 && self.plan.ops[n as usize] == OpPlan::Mem {
            let off = self.effective_offset(insn);
            let m = &self.plan.mem;
            return self.write_mem(m.seg as usize, off, m.size as u32, v);
        }
        match insn.op_kind(n) {
            OpKind::Register => {
                self.set_gpr(insn.op_register(n), v);
                Ok(())
            }
            _ => {
                let size = insn.memory_size().size() as u32;
                let off = self.effective_offset(insn);
                self.write_mem(self.mem_seg(insn), off, size, v)
            }
        }
    }

    /// Stack-pointer width: SS.B selects ESP over SP (RSP in 64-bit mode).
    #[inline]
    pub fn stack_size(&self) -> u32 {
        if super::super::decode_cache::code_bitness(self.s) == 64 {
            8
        } else if self.s.seg[SS].big() {
            4
        } else {
            2
        }
    }

    /// Pushes `size` bytes; RSP is only updated once the write succeeded.
    pub fn push(&mut self, size: u32, v: u64) -> Result<(), Fault> {
        let ss = self.stack_size();
        let sp = self.reg(RSP, ss).wrapping_sub(size as u64) & size_mask(ss);
        self.write_mem(SS, sp, size, v)?;
        self.set_reg(RSP, ss, sp);
        Ok(())
    }

    /// Pops `size` bytes.
    pub fn pop(&mut self, size: u32) -> Result<u64, Fault> {
        let ss = self.stack_size();
        let sp = self.reg(RSP, ss);
        let v = self.read_mem(SS, sp, size)?;
        self.set_reg(RSP, ss, sp.wrapping_add(size as u64) & size_mask(ss));
        Ok(v)
    }

    /// Reads `size` bytes at `depth` bytes above the stack pointer.
    pub fn peek_stack(&mut self, depth: u64, size: u32) -> Result<u64, Fault> {
        let ss = self.stack_size();
        let sp = self.reg(RSP, ss).wrapping_add(depth) & size_mask(ss);
        self.read_mem(SS, sp, size)
    }

    /// Current code-segment selector (for pushes of CS).
    #[inline]
    pub fn cs(&self) -> u16 {
        self.s.seg[CS].selector
    }
}

/// A 48-bit canonical address: bits 63..47 all equal.
#[inline]
pub fn canonical(addr: u64) -> bool {
    ((addr as i64) << 16 >> 16) as u64 == addr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpr_locations_follow_hardware_encoding() {
        let l = gpr_loc(Register::AH);
        assert_eq!((l.index, l.size, l.high8), (0, 1, true));
        let l = gpr_loc(Register::BH);
        assert_eq!((l.index, l.size, l.high8), (3, 1, true));
        let l = gpr_loc(Register::SPL);
        assert_eq!((l.index, l.size, l.high8), (4, 1, false));
        let l = gpr_loc(Register::R9L);
        assert_eq!((l.index, l.size, l.high8), (9, 1, false));
        let l = gpr_loc(Register::DI);
        assert_eq!((l.index, l.size), (7, 2));
        let l = gpr_loc(Register::R15D);
        assert_eq!((l.index, l.size), (15, 4));
        let l = gpr_loc(Register::RSP);
        assert_eq!((l.index, l.size), (4, 8));
    }

    #[test]
    fn sign_extension_by_size() {
        assert_eq!(sext(0x80, 1), -128);
        assert_eq!(sext(0x7fff, 2), 0x7fff);
        assert_eq!(sext(0xffff_ffff, 4), -1);
    }
}

//! Operand access for the fast handlers: registers by a constant size,
//! memory through the host TLB.

use super::super::operand_fast::plan_linear;
use super::super::operand_plan::{MemPlan, OpPlan, RegPlan};
use super::super::Exec;
use crate::cpu::decode_cache::code_bitness;
use crate::cpu::mmu::kind;
use crate::cpu::state::rflags;

/// The register of a planned GPR operand (the selector checked the form;
/// anything else reads as "not this form").
#[inline(always)]
pub fn reg(op: OpPlan) -> Option<RegPlan> {
    match op {
        OpPlan::Gpr(r) => Some(r),
        _ => None,
    }
}

/// Reads a GPR operand of `S` bytes.
#[inline(always)]
pub fn get<const S: u8>(gpr: &[u64; 16], r: RegPlan) -> u64 {
    let v = gpr[r.index as usize & 15];
    match S {
        8 => v,
        4 => v as u32 as u64,
        2 => v as u16 as u64,
        _ => (v >> (r.shift & 63)) as u8 as u64,
    }
}

/// Writes a GPR operand of `S` bytes with x86's merge rules: 32-bit
/// writes zero the upper half, 8- and 16-bit ones keep the rest.
#[inline(always)]
pub fn put<const S: u8>(gpr: &mut [u64; 16], r: RegPlan, v: u64) {
    let slot = &mut gpr[r.index as usize & 15];
    *slot = match S {
        8 => v,
        4 => v as u32 as u64,
        2 => (*slot & !0xffff) | (v & 0xffff),
        _ => {
            let shift = r.shift & 63;
            (*slot & !(0xff << shift)) | ((v & 0xff) << shift)
        }
    };
}

/// `v` of `from` bytes, sign-extended to 64 bits.
#[inline(always)]
pub fn sign_extend(v: u64, from: u8) -> u64 {
    let shift = 64 - 8 * from as u32;
    (((v << shift) as i64) >> shift) as u64
}

/// `mmu::kind` bits of an explicit data access now (WRITE aside), as
/// `Exec::fast_data_phys` forms them: the host TLB keys entries by them
/// (`Exec::host_kind` holds them while a block runs).
#[inline(always)]
pub fn data_kind(ex: &Exec) -> u64 {
    let user = ex.user_access();
    let mut k = (user as usize) << 2;
    if !user && ex.s.rflags & rflags::AC != 0 {
        k |= kind::AC_EXEMPT;
    }
    k as u64
}

/// The RAM index of memory operand `m` (`S` bytes) when the host TLB maps
/// it for this access; `LONG` is the block's 64-bit mode.
#[inline(always)]
pub fn host_index<const S: u8, const LONG: bool>(
    ex: &Exec,
    m: &MemPlan,
    write: bool,
) -> Option<usize> {
    let linear = plan_linear(ex.s, m, write, LONG)?;
    ex.tlb.host.lookup(linear, S as u64, ex.host_kind, write)
}

/// Makes the host TLB entry for operand `m` when the short path allows
/// the access (segment, TLB, breakpoints) and its page is plain RAM
/// (without code, for `write`). True when made.
pub fn fill(ex: &mut Exec, m: &MemPlan, write: bool) -> bool {
    let s = &*ex.s;
    let long = code_bitness(s) == 64;
    let Some(linear) = plan_linear(s, m, write, long) else {
        return false;
    };
    let Some(phys) = ex.fast_data_phys(linear, m.size as u32, write) else {
        return false;
    };
    let Some(page) = ex.mem.host_page(phys, write) else {
        return false;
    };
    ex.tlb.host.fill(linear, page, ex.host_kind, write);
    true
}

/// Loads `S` bytes of memory operand `m`.
#[inline(always)]
pub fn load<const S: u8, const LONG: bool>(ex: &Exec, m: &MemPlan) -> Option<u64> {
    let i = host_index::<S, LONG>(ex, m, false)?;
    ex.mem.host_read(i, S as u32)
}

//! Control registers: MOV to/from CR0/CR2/CR3/CR4/CR8, SMSW/LMSW, CLTS,
//! and the cache/TLB control instructions INVD, WBINVD, INVLPG.

use super::operand::size_mask;
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::state::cr0;
use iced_x86::{Instruction, Register};

type R = Result<(), Fault>;

pub fn smsw(ex: &mut Exec, insn: &Instruction) -> R {
    let v = ex.s.cr0;
    let size = ex.op_size(insn, 0);
    ex.write_op(insn, 0, v & size_mask(size))
}

/// LMSW: loads PE, MP, EM and TS; it can set PE but never clear it.
pub fn lmsw(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_cpl0()?;
    let v = ex.read_op(insn, 0)? & 0xf;
    let old = ex.s.cr0;
    ex.s.cr0 = (old & !0xe) | (v & 0xe) | ((old | v) & cr0::PE);
    ex.yield_now = true;
    Ok(())
}

pub fn clts(ex: &mut Exec, _insn: &Instruction) -> R {
    ex.require_cpl0()?;
    ex.s.cr0 &= !cr0::TS;
    Ok(())
}

fn cr_index(r: Register) -> Option<usize> {
    match r {
        Register::CR0 => Some(0),
        Register::CR2 => Some(2),
        Register::CR3 => Some(3),
        Register::CR4 => Some(4),
        Register::CR8 => Some(8),
        _ => None,
    }
}

/// MOV to/from CR0, CR2, CR3, CR4, CR8.
pub fn mov_cr(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_cpl0()?;
    let to_cr = insn.op_register(0).is_cr();
    let (cr, gpr) = if to_cr {
        (insn.op_register(0), insn.op_register(1))
    } else {
        (insn.op_register(1), insn.op_register(0))
    };
    let idx = cr_index(cr).ok_or(Fault::UD)?;
    if !to_cr {
        let v = match idx {
            0 => ex.s.cr0,
            2 => ex.s.cr2,
            3 => ex.s.cr3,
            4 => ex.s.cr4,
            _ => ex.s.cr8,
        };
        ex.set_gpr(gpr, v);
        return Ok(());
    }
    let v = ex.gpr(gpr);
    match idx {
        0 => {
            // High reserved bits, PG without PE, NW without CD: #GP(0); the
            // low reserved bits are ignored (SDM vol. 3, 2.5).
            let writable = 0xe005_003f_u64;
            if v >> 32 != 0
                || (v & cr0::PG != 0 && v & cr0::PE == 0)
                || (v & cr0::NW != 0 && v & cr0::CD == 0)
            {
                return Err(Fault::gp(0));
            }
            ex.s.cr0 = (v & writable) | cr0::ET;
        }
        2 => ex.s.cr2 = v,
        3 => ex.s.cr3 = v,
        4 => {
            // No CR4 features are implemented yet: every bit is reserved.
            if v != 0 {
                return Err(Fault::gp(0));
            }
            ex.s.cr4 = v;
        }
        _ => {
            if v > 15 {
                return Err(Fault::gp(0));
            }
            ex.s.cr8 = v;
        }
    }
    ex.yield_now = true;
    Ok(())
}

/// MOV to/from DR0-DR7 (DR4/DR5 alias DR6/DR7 while CR4.DE is clear).
pub fn mov_dr(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_cpl0()?;
    let to_dr = insn.op_register(0).is_dr();
    let (dr, gpr) = if to_dr {
        (insn.op_register(0), insn.op_register(1))
    } else {
        (insn.op_register(1), insn.op_register(0))
    };
    let mut idx = (dr as u32 - Register::DR0 as u32) as usize;
    if idx == 4 || idx == 5 {
        if ex.s.cr4 & (1 << 3) != 0 {
            return Err(Fault::UD);
        }
        idx += 2;
    }
    if idx > 7 {
        return Err(Fault::UD);
    }
    if to_dr {
        let v = ex.gpr(gpr);
        ex.s.dr[idx] = match idx {
            6 => (v & 0xe00f) | 0xffff_0ff0,
            7 => (v & 0xffff_2bff) | 0x400,
            _ => v,
        };
    } else {
        let v = ex.s.dr[idx];
        ex.set_gpr(gpr, v);
    }
    Ok(())
}

/// INVD, WBINVD, INVLPG: no caches are modelled; the soft TLB flushes
/// itself on any paging change once paging exists.
pub fn cache_control(ex: &mut Exec, _insn: &Instruction) -> R {
    ex.require_cpl0()
}

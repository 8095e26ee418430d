//! String instructions: MOVS, CMPS, SCAS, LODS, STOS, INS, OUTS, with the
//! REP/REPE/REPNE prefixes. Each iteration commits its registers, so a fault
//! in the middle restarts the instruction with the remaining count, as on
//! hardware.

use super::operand::{seg_index, size_mask};
use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::flags::FlagOp;
use crate::cpu::state::rflags::{DF, ZF};
use crate::cpu::state::{ES, RAX, RCX, RDI, RDX, RSI};
use iced_x86::{Instruction, Mnemonic, OpKind};

type R = Result<(), Fault>;

/// Iterations done in one go before the run loop gets a look in (so that
/// timers and interrupts are not starved by a huge REP count).
const MAX_ITERATIONS_PER_STEP: u32 = 4096;

/// Runs as many REP MOVS/STOS iterations as stay inside one page of
/// source and destination and inside the segment limits, as one host copy;
/// the page translations (and their permission checks, accessed and dirty
/// bits) happen once. Returns the iterations done (0: take the
/// element-by-element path for the next one).
fn bulk_chunk(
    ex: &mut Exec,
    insn: &Instruction,
    src_seg: usize,
    asz: u32,
    size: u32,
    max: u32,
) -> Result<u32, Fault> {
    let amask = size_mask(asz);
    let down = ex.s.flag(DF);
    let count = ex.reg(RCX, asz);
    let di = ex.reg(RDI, asz);
    let sz = size as u64;
    let movs = matches!(
        insn.mnemonic(),
        Mnemonic::Movsb | Mnemonic::Movsw | Mnemonic::Movsd | Mnemonic::Movsq
    );
    // For one operand at `off` in `seg`: the linear address of the first
    // element and how many elements fit (in the direction of travel)
    // before the segment limit, the address-size wrap or the page edge.
    let room = |ex: &Exec, seg: usize, off: u64, write: bool| -> Option<(u64, u64)> {
        let lin = ex.linear(seg, off, size, write).ok()?;
        if lin & 0xfff > 0x1000 - sz {
            return None;
        }
        let sr = &ex.s.seg[seg];
        let flat64 = super::super::decode_cache::code_bitness(ex.s) == 64;
        if !flat64 && sr.attr & 0x1c == 0x14 {
            // Expand-down: leave it to the careful path.
            return None;
        }
        let n = if down {
            (off / sz + 1).min((lin & 0xfff) / sz + 1)
        } else {
            let limit_room = if flat64 {
                u64::MAX
            } else {
                (sr.limit as u64).saturating_sub(off) + 1
            };
            let wrap_room = amask - off + 1;
            limit_room.min(wrap_room).min(0x1000 - (lin & 0xfff)) / sz
        };
        Some((lin, n))
    };
    let Some((dst_lin, dst_n)) = room(ex, ES, di, true) else {
        return Ok(0);
    };
    let src = if movs {
        let si = ex.reg(RSI, asz);
        match room(ex, src_seg, si, false) {
            Some(r) => Some(r),
            None => return Ok(0),
        }
    } else {
        None
    };
    let n = count
        .min(dst_n)
        .min(src.map_or(u64::MAX, |s| s.1))
        .min(max as u64);
    if n == 0 {
        return Ok(0);
    }
    let user = ex.user_access();
    let len = n * sz;
    // The lowest address each range touches.
    let low = |first: u64| if down { first + sz - len } else { first };
    let dst_phys = ex.translate(dst_lin, crate::cpu::mmu::Access::write(user))?;
    let ok = match src {
        Some((src_lin, _)) => {
            let src_phys = ex.translate(src_lin, crate::cpu::mmu::Access::read(user))?;
            ex.mem.copy_ram(
                low(src_phys),
                low(dst_phys),
                len as usize,
                size as usize,
                down,
            )
        }
        None => {
            let v = ex.reg(RAX, size);
            ex.mem.fill_ram(low(dst_phys), v, size, n as usize)
        }
    };
    if !ok {
        return Ok(0);
    }
    let step = if down { len.wrapping_neg() } else { len };
    if movs {
        let si = ex.reg(RSI, asz);
        ex.set_reg(RSI, asz, si.wrapping_add(step) & amask);
    }
    ex.set_reg(RDI, asz, di.wrapping_add(step) & amask);
    ex.set_reg(RCX, asz, count - n);
    Ok(n as u32)
}

/// Address size of the string operands, from iced's operand kinds.
fn string_addr_size(insn: &Instruction) -> u32 {
    for n in 0..insn.op_count() {
        match insn.op_kind(n) {
            OpKind::MemorySegSI | OpKind::MemoryESDI | OpKind::MemorySegDI => return 2,
            OpKind::MemorySegESI | OpKind::MemoryESEDI | OpKind::MemorySegEDI => return 4,
            OpKind::MemorySegRSI | OpKind::MemoryESRDI | OpKind::MemorySegRDI => return 8,
            _ => {}
        }
    }
    2
}

pub fn string(ex: &mut Exec, insn: &Instruction) -> R {
    let asz = string_addr_size(insn);
    let amask = size_mask(asz);
    let size = insn.memory_size().size() as u32;
    let src_seg = seg_index(insn.memory_segment());
    let step = if ex.s.flag(DF) {
        (size as u64).wrapping_neg()
    } else {
        size as u64
    };
    let rep = insn.has_rep_prefix() || insn.has_repne_prefix();
    let mnemonic = insn.mnemonic();
    let compares = matches!(
        mnemonic,
        Mnemonic::Cmpsb
            | Mnemonic::Cmpsw
            | Mnemonic::Cmpsd
            | Mnemonic::Cmpsq
            | Mnemonic::Scasb
            | Mnemonic::Scasw
            | Mnemonic::Scasd
            | Mnemonic::Scasq
    );
    let mut done = 0;
    let bulk = rep
        && !ex.breakpoints_enabled()
        && matches!(
            mnemonic,
            Mnemonic::Movsb
                | Mnemonic::Movsw
                | Mnemonic::Movsd
                | Mnemonic::Movsq
                | Mnemonic::Stosb
                | Mnemonic::Stosw
                | Mnemonic::Stosd
                | Mnemonic::Stosq
        );
    loop {
        if rep && ex.reg(RCX, asz) == 0 {
            return Ok(());
        }
        if bulk && done < MAX_ITERATIONS_PER_STEP {
            let n = bulk_chunk(ex, insn, src_seg, asz, size, MAX_ITERATIONS_PER_STEP - done)?;
            if n > 0 {
                done += n;
                if ex.reg(RCX, asz) != 0 && done >= MAX_ITERATIONS_PER_STEP {
                    ex.next_rip = ex.s.rip;
                    return Ok(());
                }
                continue;
            }
        }
        let si = ex.reg(RSI, asz);
        let di = ex.reg(RDI, asz);
        match mnemonic {
            Mnemonic::Movsb | Mnemonic::Movsw | Mnemonic::Movsd | Mnemonic::Movsq => {
                let v = ex.read_mem(src_seg, si, size)?;
                ex.write_mem(ES, di, size, v)?;
                ex.set_reg(RSI, asz, si.wrapping_add(step) & amask);
                ex.set_reg(RDI, asz, di.wrapping_add(step) & amask);
            }
            Mnemonic::Lodsb | Mnemonic::Lodsw | Mnemonic::Lodsd | Mnemonic::Lodsq => {
                let v = ex.read_mem(src_seg, si, size)?;
                ex.set_reg(RAX, size, v);
                ex.set_reg(RSI, asz, si.wrapping_add(step) & amask);
            }
            Mnemonic::Stosb | Mnemonic::Stosw | Mnemonic::Stosd | Mnemonic::Stosq => {
                let v = ex.reg(RAX, size);
                ex.write_mem(ES, di, size, v)?;
                ex.set_reg(RDI, asz, di.wrapping_add(step) & amask);
            }
            Mnemonic::Cmpsb | Mnemonic::Cmpsw | Mnemonic::Cmpsd | Mnemonic::Cmpsq => {
                let a = ex.read_mem(src_seg, si, size)?;
                let b = ex.read_mem(ES, di, size)?;
                let r = a.wrapping_sub(b) & size_mask(size);
                ex.s.lazy.set(FlagOp::Sub, size as u8, a, b, r);
                ex.set_reg(RSI, asz, si.wrapping_add(step) & amask);
                ex.set_reg(RDI, asz, di.wrapping_add(step) & amask);
            }
            Mnemonic::Scasb | Mnemonic::Scasw | Mnemonic::Scasd | Mnemonic::Scasq => {
                let a = ex.reg(RAX, size);
                let b = ex.read_mem(ES, di, size)?;
                let r = a.wrapping_sub(b) & size_mask(size);
                ex.s.lazy.set(FlagOp::Sub, size as u8, a, b, r);
                ex.set_reg(RDI, asz, di.wrapping_add(step) & amask);
            }
            Mnemonic::Insb | Mnemonic::Insw | Mnemonic::Insd => {
                let port = ex.reg(RDX, 2) as u16;
                ex.check_io(port, size)?;
                ex.check_write(ES, di, size)?;
                ex.io.sync_time(ex.s.icount);
                let v = ex.io.read(port, size as u8) as u64;
                ex.write_mem(ES, di, size, v)?;
                ex.set_reg(RDI, asz, di.wrapping_add(step) & amask);
            }
            _ => {
                // OUTSB/W/D
                let port = ex.reg(RDX, 2) as u16;
                ex.check_io(port, size)?;
                let v = ex.read_mem(src_seg, si, size)?;
                ex.io.sync_time(ex.s.icount);
                ex.io.write(port, size as u8, v as u32);
                ex.set_reg(RSI, asz, si.wrapping_add(step) & amask);
                ex.yield_now = true;
            }
        }
        if !rep {
            return Ok(());
        }
        let count = ex.reg(RCX, asz).wrapping_sub(1) & amask;
        ex.set_reg(RCX, asz, count);
        if compares {
            let zf = ex.s.flag(ZF);
            let want = insn.has_repe_prefix();
            if zf != want {
                return Ok(());
            }
        }
        done += 1;
        if count != 0 && done >= MAX_ITERATIONS_PER_STEP {
            // Re-execute this instruction later for the rest.
            ex.next_rip = ex.s.rip;
            return Ok(());
        }
    }
}

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
    loop {
        if rep && ex.reg(RCX, asz) == 0 {
            return Ok(());
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

//! Cache and ordering hints: LFENCE/SFENCE/MFENCE (one vCPU executes in
//! program order, so nothing to do), PREFETCHh (a hint: never faults) and
//! CLFLUSH (no caches are modelled, but the address is checked like a
//! byte read, with its faults).

use super::R;
use crate::cpu::exec::Exec;
use iced_x86::{Instruction, Mnemonic as M};

pub fn cache(ex: &mut Exec, insn: &Instruction) -> R {
    if insn.mnemonic() == M::Clflush {
        let seg = ex.mem_seg(insn);
        let off = ex.effective_offset(insn);
        ex.read_mem(seg, off, 1)?;
    }
    Ok(())
}

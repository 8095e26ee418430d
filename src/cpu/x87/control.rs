//! Control instructions: FLDCW, FSTCW/FNSTCW, FSTSW/FNSTSW (memory and
//! AX), FCLEX/FNCLEX, FINIT/FNINIT, and the register-file housekeeping
//! FFREE, FFREEP, FINCSTP, FDECSTP, FNOP. The 8087's FENI/FDISI and the
//! 287's FSETPM are no-ops on the 387 and later.

use super::float80::sw;
use super::{begin, has_memory, read_bytes, set_cc, st_index, write_bytes, Kind, R};
use crate::cpu::exec::Exec;
use crate::cpu::state::RAX;
use iced_x86::{Instruction, Mnemonic as M};

pub fn control(ex: &mut Exec, insn: &Instruction) -> R {
    let m = insn.mnemonic();
    let kind = match m {
        M::Fnstcw | M::Fnstsw | M::Fnclex | M::Fninit => Kind::NoWait,
        M::Fldcw | M::Fstcw | M::Fstsw | M::Fclex | M::Finit => Kind::Control,
        // The 8087/287 leftovers do not wait on the 387 and later either.
        M::Fneni | M::Fndisi | M::Fnsetpm => Kind::NoWait,
        M::Feni | M::Fdisi | M::Fsetpm => Kind::Control,
        _ => Kind::Numeric,
    };
    begin(ex, insn, kind)?;
    match m {
        M::Fldcw => {
            let mut b = [0u8; 2];
            read_bytes(ex, insn, 0, &mut b)?;
            // Bit 6 reads as 1; bits 13-15 are reserved (read as 0).
            ex.s.x87.fcw = (u16::from_le_bytes(b) & 0x1f7f) | 0x40;
            ex.s.x87.update_summary();
        }
        M::Fstcw | M::Fnstcw => {
            let v = ex.s.x87.fcw;
            write_bytes(ex, insn, 0, &v.to_le_bytes())?;
        }
        M::Fstsw | M::Fnstsw => {
            let v = ex.s.x87.fsw;
            if has_memory(insn) {
                write_bytes(ex, insn, 0, &v.to_le_bytes())?;
            } else {
                ex.set_reg(RAX, 2, v as u64);
            }
        }
        M::Fclex | M::Fnclex => {
            ex.s.x87.fsw &= !(sw::EXCEPTIONS | sw::SF | sw::ES | sw::B);
        }
        M::Finit | M::Fninit => ex.s.x87.init(),
        M::Ffree | M::Ffreep => {
            ex.s.x87.free(st_index(insn, 0));
            if m == M::Ffreep {
                ex.s.x87.pop();
            }
        }
        M::Fincstp | M::Fdecstp => {
            let top = ex.s.x87.top();
            let top = if m == M::Fincstp { top + 1 } else { top + 7 };
            ex.s.x87.set_top(top);
            set_cc(ex, sw::C1, 0);
        }
        _ => {}
    }
    Ok(())
}

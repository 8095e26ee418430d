//! Data movement: the full-register moves (MOVAPS/MOVUPS/MOVDQA/...),
//! the partial ones (MOVSS/MOVSD, MOVLPS/MOVHPS, MOVHLPS/MOVLHPS), MOVD/
//! MOVQ between general, MMX and XMM registers and memory, MOVQ2DQ/
//! MOVDQ2Q, the sign-mask extractions, the non-temporal stores and
//! loads (MOVNTDQA; the caches are not modelled, so they are plain
//! moves), LDDQU (an unaligned load), MASKMOVQ/
//! MASKMOVDQU and EMMS.

use super::{begin, begin_auto, lane, mmx_transition, read, reg_bytes, write, xmm, xmm_index, R};
use crate::cpu::exec::operand::size_mask;
use crate::cpu::exec::Exec;
use crate::cpu::state::RDI;
use iced_x86::{Instruction, Mnemonic as M, OpKind};

pub fn moves(ex: &mut Exec, insn: &Instruction) -> R {
    let m = insn.mnemonic();
    if m == M::Movnti {
        // A general-register store: no x87/SSE state checks.
        let v = ex.gpr(insn.op_register(1));
        return ex.write_op(insn, 0, v);
    }
    if m == M::Emms {
        begin(ex, insn, false)?;
        crate::cpu::x87::pending_error(ex)?;
        ex.s.x87.ftw = 0xffff;
        return Ok(());
    }
    let u = begin_auto(ex, insn)?;
    let dst_reg = insn.op_kind(0) == OpKind::Register;
    let d_xmm = dst_reg && insn.op_register(0).is_xmm();
    let old = if d_xmm {
        xmm(ex, xmm_index(insn.op_register(0)))
    } else {
        0
    };
    let lo64 = u64::MAX as u128;
    match m {
        M::Movaps
        | M::Movapd
        | M::Movups
        | M::Movupd
        | M::Movdqa
        | M::Movdqu
        | M::Movntps
        | M::Movntpd
        | M::Movntdq
        | M::Lddqu
        | M::Movntdqa => {
            let v = read(ex, insn, 1, 16)?;
            write(ex, insn, 0, 16, v)?;
        }
        M::Movss | M::Movsd => {
            let n = if m == M::Movss { 4 } else { 8 };
            let v = read(ex, insn, 1, n)? & size_mask(n) as u128;
            if !d_xmm {
                write(ex, insn, 0, n, v)?;
            } else if insn.op_kind(1) == OpKind::Memory {
                write(ex, insn, 0, 16, v)?;
            } else {
                write(ex, insn, 0, 16, (old & !(size_mask(n) as u128)) | v)?;
            }
        }
        M::Movlps | M::Movlpd | M::Movhps | M::Movhpd | M::Movhlps | M::Movlhps => {
            let high_src =
                matches!(m, M::Movhlps) || (!d_xmm && matches!(m, M::Movhps | M::Movhpd));
            let v = read(ex, insn, 1, 8)?;
            let v = if high_src && insn.op_kind(1) == OpKind::Register {
                v >> 64
            } else {
                v & lo64
            };
            if !d_xmm {
                write(ex, insn, 0, 8, v)?;
            } else if matches!(m, M::Movhps | M::Movhpd | M::Movlhps) {
                write(ex, insn, 0, 16, (old & lo64) | v << 64)?;
            } else {
                write(ex, insn, 0, 16, (old & !lo64) | v)?;
            }
        }
        M::Movd | M::Movq | M::Movq2dq | M::Movdq2q | M::Movntq => {
            let n = if m == M::Movd { 4 } else { 8 };
            let v = read(ex, insn, 1, n)? & size_mask(n) as u128;
            write(ex, insn, 0, n, v)?;
        }
        M::Movmskps | M::Movmskpd | M::Pmovmskb => {
            let w = match m {
                M::Movmskps => 4,
                M::Movmskpd => 8,
                _ => 1,
            };
            let bytes = reg_bytes(insn, 1) as usize;
            let v = read(ex, insn, 1, bytes as u32)?;
            let mask = (0..bytes / w).fold(0u64, |acc, i| {
                acc | ((lane(v, i, w) >> (8 * w - 1)) & 1) << i
            });
            ex.set_gpr(insn.op_register(0), mask);
        }
        _ => {
            // MASKMOVQ / MASKMOVDQU: the bytes whose mask byte has its top
            // bit set go to DS:rDI (segment override allowed).
            let bytes = reg_bytes(insn, 1) as usize;
            let data = read(ex, insn, 1, bytes as u32)?;
            let mask = read(ex, insn, 2, bytes as u32)?;
            let asize = match insn.op_kind(0) {
                OpKind::MemorySegDI => 2,
                OpKind::MemorySegEDI => 4,
                _ => 8,
            };
            let seg = ex.mem_seg(insn);
            let base = ex.reg(RDI, asize);
            let am = size_mask(asize);
            let selected: Vec<usize> = (0..bytes)
                .filter(|&i| lane(mask, i, 1) & 0x80 != 0)
                .collect();
            for &i in &selected {
                ex.check_write(seg, base.wrapping_add(i as u64) & am, 1)?;
            }
            for &i in &selected {
                ex.write_mem(seg, base.wrapping_add(i as u64) & am, 1, lane(data, i, 1))?;
            }
        }
    }
    if u.mm {
        mmx_transition(ex);
    }
    Ok(())
}

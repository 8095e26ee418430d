//! MMX, SSE, SSE2, SSE3, SSSE3, SSE4.1 and SSE4.2: the packed-integer and
//! IEEE single/double instruction sets on MM0-7 (aliasing the x87
//! registers) and XMM0-15, with MXCSR's rounding, masks, flags, DAZ and
//! FTZ (SDM vol. 1, ch. 9-12).
//!
//! Files, one job each: `mxcsr` (the control/status register, LDMXCSR/
//! STMXCSR and SIMD floating-point exception delivery), `ieee` (IEEE
//! binary32/binary64 arithmetic on top of the x87 soft-float's rounding),
//! and the instruction families `moves`, `integer` (packed integer
//! arithmetic, logic, compares and shifts), `shuffle` (packs, unpacks,
//! shuffles, PINSRW/PEXTRW), `float` (packed/scalar FP arithmetic and
//! logic), `compare` (CMPcc, COMIS/UCOMIS), `convert` (CVT*) and `cache`
//! (fences, prefetches, CLFLUSH); from SSE3 on: `horizontal` (ADDSUB,
//! HADD, HSUB), `ssse3` (the SSSE3 integer set), `sse41` (PMOVSX/ZX,
//! PTEST, PHMINPOSUW, MPSADBW), `blend`, `insert_extract`, `round`,
//! `dot_product` and `string_compare` (PCMPESTRx/PCMPISTRx).
//!
//! Checks, in the hardware's order (SDM vol. 3, 13.1 and vol. 2's
//! exception tables): #UD when CR0.EM = 1 (and, for instructions on XMM
//! registers or MXCSR, when CR4.OSFXSR = 0); #NM when CR0.TS = 1; #MF for
//! a pending x87 exception when an MMX register is an operand; then the
//! memory operand (#GP for a misaligned 16-byte operand of the aligned
//! forms); then #XM (or #UD when CR4.OSXMMEXCPT = 0) for unmasked SIMD
//! floating-point exceptions, which leave the destination unchanged.

mod blend;
mod cache;
mod compare;
mod convert;
mod dot_product;
mod float;
mod horizontal;
pub mod ieee;
mod insert_extract;
mod integer;
mod moves;
pub mod mxcsr;
mod round;
mod shuffle;
mod sse41;
mod ssse3;
mod string_compare;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_sse3_sse4;

use crate::cpu::catalog::Handler;
use crate::cpu::exec::operand::{addr_size, size_mask};
use crate::cpu::exec::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::state::{cr0, cr4};
use iced_x86::{Code, CpuidFeature, EncodingKind, Instruction, Mnemonic as M, OpKind, Register};

type R = Result<(), Fault>;

/// Whether `code` is a legacy-encoded MMX/SSE/SSE2/SSE3/SSSE3/SSE4
/// instruction (or one of the cache-control instructions that came with
/// them). MONITOR/MWAIT (their own CPUID bit, not reported) stay #UD.
fn in_scope(code: Code) -> bool {
    let op = code.op_code();
    op.encoding() == EncodingKind::Legacy
        && op.is_instruction()
        && code.cpuid_features().iter().any(|f| {
            matches!(
                f,
                CpuidFeature::MMX
                    | CpuidFeature::SSE
                    | CpuidFeature::SSE2
                    | CpuidFeature::CLFSH
                    | CpuidFeature::SSE3
                    | CpuidFeature::SSSE3
                    | CpuidFeature::SSE4_1
                    | CpuidFeature::SSE4_2
            )
        })
}

/// The handler for an MMX/SSE/SSE2/SSE3/SSSE3/SSE4 instruction, or `None`.
pub fn handler(code: Code) -> Option<Handler> {
    if !in_scope(code) {
        return None;
    }
    Some(match code.mnemonic() {
        M::Movaps
        | M::Movapd
        | M::Movups
        | M::Movupd
        | M::Movdqa
        | M::Movdqu
        | M::Lddqu
        | M::Movntdqa
        | M::Movss
        | M::Movsd
        | M::Movlps
        | M::Movlpd
        | M::Movhps
        | M::Movhpd
        | M::Movhlps
        | M::Movlhps
        | M::Movd
        | M::Movq
        | M::Movq2dq
        | M::Movdq2q
        | M::Movmskps
        | M::Movmskpd
        | M::Pmovmskb
        | M::Movntps
        | M::Movntpd
        | M::Movntdq
        | M::Movntq
        | M::Movnti
        | M::Maskmovq
        | M::Maskmovdqu
        | M::Emms => moves::moves,
        M::Ldmxcsr | M::Stmxcsr => mxcsr::ldmxcsr_stmxcsr,
        M::Paddb
        | M::Paddw
        | M::Paddd
        | M::Paddq
        | M::Psubb
        | M::Psubw
        | M::Psubd
        | M::Psubq
        | M::Paddsb
        | M::Paddsw
        | M::Paddusb
        | M::Paddusw
        | M::Psubsb
        | M::Psubsw
        | M::Psubusb
        | M::Psubusw
        | M::Pmullw
        | M::Pmulhw
        | M::Pmulhuw
        | M::Pmuludq
        | M::Pmaddwd
        | M::Psadbw
        | M::Pand
        | M::Pandn
        | M::Por
        | M::Pxor
        | M::Pcmpeqb
        | M::Pcmpeqw
        | M::Pcmpeqd
        | M::Pcmpgtb
        | M::Pcmpgtw
        | M::Pcmpgtd
        | M::Pminub
        | M::Pmaxub
        | M::Pminsw
        | M::Pmaxsw
        | M::Pavgb
        | M::Pavgw
        | M::Psllw
        | M::Pslld
        | M::Psllq
        | M::Psrlw
        | M::Psrld
        | M::Psrlq
        | M::Psraw
        | M::Psrad
        | M::Pslldq
        | M::Psrldq
        | M::Pmulld
        | M::Pmuldq
        | M::Pminsb
        | M::Pmaxsb
        | M::Pminuw
        | M::Pmaxuw
        | M::Pminsd
        | M::Pmaxsd
        | M::Pminud
        | M::Pmaxud
        | M::Pcmpeqq
        | M::Pcmpgtq => integer::integer,
        M::Packsswb
        | M::Packssdw
        | M::Packuswb
        | M::Punpcklbw
        | M::Punpcklwd
        | M::Punpckldq
        | M::Punpcklqdq
        | M::Punpckhbw
        | M::Punpckhwd
        | M::Punpckhdq
        | M::Punpckhqdq
        | M::Pshufw
        | M::Pshufd
        | M::Pshufhw
        | M::Pshuflw
        | M::Shufps
        | M::Shufpd
        | M::Unpcklps
        | M::Unpcklpd
        | M::Unpckhps
        | M::Unpckhpd
        | M::Pinsrw
        | M::Pextrw
        | M::Packusdw
        | M::Movsldup
        | M::Movshdup
        | M::Movddup => shuffle::shuffle,
        M::Addsubps | M::Addsubpd | M::Haddps | M::Haddpd | M::Hsubps | M::Hsubpd => {
            horizontal::horizontal
        }
        M::Pshufb
        | M::Phaddw
        | M::Phaddd
        | M::Phaddsw
        | M::Phsubw
        | M::Phsubd
        | M::Phsubsw
        | M::Pmaddubsw
        | M::Pmulhrsw
        | M::Psignb
        | M::Psignw
        | M::Psignd
        | M::Pabsb
        | M::Pabsw
        | M::Pabsd
        | M::Palignr => ssse3::ssse3,
        M::Pmovsxbw
        | M::Pmovsxbd
        | M::Pmovsxbq
        | M::Pmovsxwd
        | M::Pmovsxwq
        | M::Pmovsxdq
        | M::Pmovzxbw
        | M::Pmovzxbd
        | M::Pmovzxbq
        | M::Pmovzxwd
        | M::Pmovzxwq
        | M::Pmovzxdq => sse41::extend,
        M::Ptest => sse41::ptest,
        M::Phminposuw => sse41::phminposuw,
        M::Mpsadbw => sse41::mpsadbw,
        M::Pblendw | M::Blendps | M::Blendpd | M::Blendvps | M::Blendvpd | M::Pblendvb => {
            blend::blend
        }
        M::Insertps
        | M::Extractps
        | M::Pinsrb
        | M::Pinsrd
        | M::Pinsrq
        | M::Pextrb
        | M::Pextrd
        | M::Pextrq => insert_extract::insert_extract,
        M::Roundps | M::Roundpd | M::Roundss | M::Roundsd => round::round,
        M::Dpps | M::Dppd => dot_product::dot_product,
        M::Pcmpestri
        | M::Pcmpestri64
        | M::Pcmpestrm
        | M::Pcmpestrm64
        | M::Pcmpistri
        | M::Pcmpistrm => string_compare::string_compare,
        M::Addps
        | M::Addpd
        | M::Addss
        | M::Addsd
        | M::Subps
        | M::Subpd
        | M::Subss
        | M::Subsd
        | M::Mulps
        | M::Mulpd
        | M::Mulss
        | M::Mulsd
        | M::Divps
        | M::Divpd
        | M::Divss
        | M::Divsd
        | M::Sqrtps
        | M::Sqrtpd
        | M::Sqrtss
        | M::Sqrtsd
        | M::Minps
        | M::Minpd
        | M::Minss
        | M::Minsd
        | M::Maxps
        | M::Maxpd
        | M::Maxss
        | M::Maxsd
        | M::Rcpps
        | M::Rcpss
        | M::Rsqrtps
        | M::Rsqrtss => float::arith,
        M::Andps | M::Andpd | M::Andnps | M::Andnpd | M::Orps | M::Orpd | M::Xorps | M::Xorpd => {
            float::logic
        }
        M::Cmpps | M::Cmppd | M::Cmpss | M::Cmpsd => compare::cmp,
        M::Comiss | M::Comisd | M::Ucomiss | M::Ucomisd => compare::comis,
        M::Cvtpi2ps
        | M::Cvtpi2pd
        | M::Cvtsi2ss
        | M::Cvtsi2sd
        | M::Cvtps2pi
        | M::Cvttps2pi
        | M::Cvtpd2pi
        | M::Cvttpd2pi
        | M::Cvtss2si
        | M::Cvttss2si
        | M::Cvtsd2si
        | M::Cvttsd2si
        | M::Cvtps2pd
        | M::Cvtpd2ps
        | M::Cvtss2sd
        | M::Cvtsd2ss
        | M::Cvtdq2ps
        | M::Cvtps2dq
        | M::Cvttps2dq
        | M::Cvtdq2pd
        | M::Cvtpd2dq
        | M::Cvttpd2dq => convert::convert,
        M::Lfence
        | M::Sfence
        | M::Mfence
        | M::Prefetchnta
        | M::Prefetcht0
        | M::Prefetcht1
        | M::Prefetcht2
        | M::Clflush => cache::cache,
        _ => return None,
    })
}

/// Whether a 16-byte memory operand of this form must be 16-byte aligned
/// (#GP(0) otherwise): every legacy SSE m128 operand but the explicitly
/// unaligned moves (SDM vol. 1, 11.6.7), LDDQU and the SSE4.2 string
/// compares (SDM vol. 1, 12.10.3: their operands need no alignment).
pub fn needs_alignment(code: Code) -> bool {
    !matches!(
        code.mnemonic(),
        M::Movups
            | M::Movupd
            | M::Movdqu
            | M::Lddqu
            | M::Pcmpestri
            | M::Pcmpestri64
            | M::Pcmpestrm
            | M::Pcmpestrm64
            | M::Pcmpistri
            | M::Pcmpistrm
    )
}

/// What an instruction's register operands are.
#[derive(Clone, Copy, Default)]
pub(crate) struct Uses {
    pub mm: bool,
    pub xmm: bool,
}

pub(crate) fn uses(insn: &Instruction) -> Uses {
    let mut u = Uses::default();
    for i in 0..insn.op_count() {
        if insn.op_kind(i) == OpKind::Register {
            let r = insn.op_register(i);
            u.mm |= r.is_mm();
            u.xmm |= r.is_xmm();
        }
    }
    u
}

/// The #UD/#NM/#MF checks every MMX/SSE instruction makes first. `sse`:
/// the instruction works on XMM registers or MXCSR (CR4.OSFXSR gates it).
pub(crate) fn begin(ex: &mut Exec, insn: &Instruction, sse: bool) -> Result<Uses, Fault> {
    let u = uses(insn);
    if ex.s.cr0 & cr0::EM != 0 || (sse && ex.s.cr4 & cr4::OSFXSR == 0) {
        return Err(Fault::UD);
    }
    if ex.s.cr0 & cr0::TS != 0 {
        return Err(Fault::NM);
    }
    if u.mm {
        crate::cpu::x87::pending_error(ex)?;
    }
    Ok(u)
}

/// `begin` for instructions whose SSE-ness follows from their operands:
/// anything without an MMX register is an SSE instruction.
pub(crate) fn begin_auto(ex: &mut Exec, insn: &Instruction) -> Result<Uses, Fault> {
    let u = uses(insn);
    begin(ex, insn, u.xmm || !u.mm)
}

/// The x87-to-MMX transition every instruction with an MMX register
/// operand makes when it completes: TOP = 0, all tags valid (SDM vol. 1,
/// 9.5.1).
pub(crate) fn mmx_transition(ex: &mut Exec) {
    let x = &mut ex.s.x87;
    x.set_top(0);
    x.ftw = 0;
}

#[inline]
pub(crate) fn xmm_index(r: Register) -> usize {
    (r as usize - Register::XMM0 as usize) & 15
}

#[inline]
pub(crate) fn mm_index(r: Register) -> usize {
    (r as usize - Register::MM0 as usize) & 7
}

#[inline]
pub(crate) fn xmm(ex: &Exec, i: usize) -> u128 {
    let x = ex.s.xmm[i];
    x[0] as u128 | (x[1] as u128) << 64
}

#[inline]
pub(crate) fn set_xmm(ex: &mut Exec, i: usize, v: u128) {
    ex.s.xmm[i] = [v as u64, (v >> 64) as u64];
}

/// MMi is the significand of physical x87 register Ri.
#[inline]
pub(crate) fn mm(ex: &Exec, i: usize) -> u64 {
    u64::from_le_bytes(ex.s.x87.st[i][..8].try_into().unwrap())
}

/// Writing MMi also sets Ri's sign and exponent bits (SDM vol. 1, 9.5.1).
#[inline]
pub(crate) fn set_mm(ex: &mut Exec, i: usize, v: u64) {
    let r = &mut ex.s.x87.st[i];
    r[..8].copy_from_slice(&v.to_le_bytes());
    r[8] = 0xff;
    r[9] = 0xff;
}

/// The memory operand's segment and offset, after the alignment check
/// for `bytes` = 16 on the aligned forms.
fn mem_address(
    ex: &mut Exec,
    insn: &Instruction,
    bytes: u32,
    write: bool,
) -> Result<(usize, u64), Fault> {
    let seg = ex.mem_seg(insn);
    let off = ex.effective_offset(insn);
    if bytes == 16 && needs_alignment(insn.code()) {
        let lin = ex.linear(seg, off, bytes, write)?;
        if lin & 15 != 0 {
            return Err(Fault::gp(0));
        }
    }
    Ok((seg, off))
}

/// Reads `bytes` (1-16) at `seg:off` (the offset wraps at the address size).
pub(crate) fn read_bytes(
    ex: &mut Exec,
    insn: &Instruction,
    seg: usize,
    off: u64,
    bytes: u32,
) -> Result<u128, Fault> {
    let mask = size_mask(addr_size(insn));
    if bytes <= 8 {
        return Ok(ex.read_mem(seg, off, bytes)? as u128);
    }
    let lo = ex.read_mem(seg, off, 8)?;
    let hi = ex.read_mem(seg, off.wrapping_add(8) & mask, bytes - 8)?;
    Ok(lo as u128 | (hi as u128) << 64)
}

/// Writes `bytes` (1-16) at `seg:off`, checking all of it first.
pub(crate) fn write_bytes(
    ex: &mut Exec,
    insn: &Instruction,
    seg: usize,
    off: u64,
    bytes: u32,
    v: u128,
) -> R {
    let mask = size_mask(addr_size(insn));
    if bytes <= 8 {
        return ex.write_mem(seg, off, bytes, v as u64);
    }
    ex.check_write(seg, off, bytes)?;
    ex.write_mem(seg, off, 8, v as u64)?;
    ex.write_mem(seg, off.wrapping_add(8) & mask, bytes - 8, (v >> 64) as u64)
}

/// Reads operand `n`: an XMM register (all 128 bits), an MMX register,
/// a general register, or `bytes` of memory, zero-extended.
pub(crate) fn read(ex: &mut Exec, insn: &Instruction, n: u32, bytes: u32) -> Result<u128, Fault> {
    match insn.op_kind(n) {
        OpKind::Register => {
            let r = insn.op_register(n);
            Ok(if r.is_xmm() {
                xmm(ex, xmm_index(r))
            } else if r.is_mm() {
                mm(ex, mm_index(r)) as u128
            } else {
                ex.gpr(r) as u128
            })
        }
        OpKind::Memory => {
            let (seg, off) = mem_address(ex, insn, bytes, false)?;
            read_bytes(ex, insn, seg, off, bytes)
        }
        _ => Ok(insn.immediate(n) as u128),
    }
}

/// Writes operand `n`: a whole XMM or MMX register, a general register
/// (with the usual 32-bit zero extension), or `bytes` of memory.
pub(crate) fn write(ex: &mut Exec, insn: &Instruction, n: u32, bytes: u32, v: u128) -> R {
    match insn.op_kind(n) {
        OpKind::Register => {
            let r = insn.op_register(n);
            if r.is_xmm() {
                set_xmm(ex, xmm_index(r), v);
            } else if r.is_mm() {
                set_mm(ex, mm_index(r), v as u64);
            } else {
                ex.set_gpr(r, v as u64);
            }
            Ok(())
        }
        _ => {
            let (seg, off) = mem_address(ex, insn, bytes, true)?;
            write_bytes(ex, insn, seg, off, bytes, v)
        }
    }
}

/// Bytes in a register operand: 16 for XMM, 8 for MMX.
pub(crate) fn reg_bytes(insn: &Instruction, n: u32) -> u32 {
    if insn.op_kind(n) == OpKind::Register && insn.op_register(n).is_mm() {
        8
    } else {
        16
    }
}

/// Lane `i` of `w` bytes.
#[inline]
pub(crate) fn lane(v: u128, i: usize, w: usize) -> u64 {
    (v >> (8 * w * i)) as u64 & (u64::MAX >> (64 - 8 * w))
}

/// `v` with lane `i` of `w` bytes replaced by `x`.
#[inline]
pub(crate) fn with_lane(v: u128, i: usize, w: usize, x: u64) -> u128 {
    let m = (u64::MAX >> (64 - 8 * w)) as u128;
    let at = 8 * w * i;
    (v & !(m << at)) | ((x as u128 & m) << at)
}

/// Builds a vector of `n` lanes of `w` bytes from `f(i)`.
#[inline]
pub(crate) fn from_lanes(n: usize, w: usize, mut f: impl FnMut(usize) -> u64) -> u128 {
    (0..n).fold(0u128, |v, i| with_lane(v, i, w, f(i)))
}

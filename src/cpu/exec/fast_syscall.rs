//! SYSENTER/SYSEXIT (SDM vol. 2) and SYSCALL/SYSRET (64-bit mode, as on
//! Intel CPUs: #UD elsewhere): flat segments built from MSRs, no
//! descriptor reads.

use super::Exec;
use crate::cpu::decode_cache::code_bitness;
use crate::cpu::fault::Fault;
use crate::cpu::state::rflags::{FIXED1, IF, RF, VM};
use crate::cpu::state::{Segment, CS, RCX, RDX, RSP, SS};
use iced_x86::Instruction;

type R = Result<(), Fault>;

/// Flat 4 GiB segments: code (execute/read, accessed) and data (read/write,
/// accessed), with G and D/B set; `long` sets L for 64-bit code.
fn flat(selector: u16, code: bool, dpl: u16, long: bool) -> Segment {
    let kind: u16 = if code { 0x1b } else { 0x13 };
    let size_bits = if long { 0x2000 } else { 0x4000 };
    Segment {
        selector,
        attr: 0x8000 | size_bits | 0x80 | (dpl << 5) | kind,
        limit: 0xffff_ffff,
        base: 0,
    }
}

fn long_mode_active(ex: &Exec) -> bool {
    ex.s.msr.efer & (1 << 10) != 0
}

pub fn sysenter(ex: &mut Exec, _insn: &Instruction) -> R {
    let cs = ex.s.msr.sysenter_cs as u16;
    if !ex.s.protected_mode() || cs & 0xfffc == 0 {
        return Err(Fault::gp(0));
    }
    let long = long_mode_active(ex);
    ex.s.rflags &= !(VM | IF | RF);
    ex.s.seg[CS] = flat(cs & 0xfffc, true, 0, long);
    ex.s.seg[SS] = flat((cs & 0xfffc) + 8, false, 0, false);
    let mask = if long { u64::MAX } else { 0xffff_ffff };
    ex.s.gpr[RSP] = ex.s.msr.sysenter_esp & mask;
    ex.next_rip = ex.s.msr.sysenter_eip & mask;
    ex.yield_now = true;
    Ok(())
}

pub fn sysexit(ex: &mut Exec, insn: &Instruction) -> R {
    let cs = ex.s.msr.sysenter_cs as u16;
    if !ex.s.protected_mode() || ex.cpl() != 0 || cs & 0xfffc == 0 {
        return Err(Fault::gp(0));
    }
    let to64 = insn.code() == iced_x86::Code::Sysexitq;
    let (cs_off, ss_off) = if to64 { (32, 40) } else { (16, 24) };
    ex.s.seg[CS] = flat(((cs & 0xfffc) + cs_off) | 3, true, 3, to64);
    ex.s.seg[SS] = flat(((cs & 0xfffc) + ss_off) | 3, false, 3, false);
    let mask = if to64 { u64::MAX } else { 0xffff_ffff };
    ex.s.gpr[RSP] = ex.s.gpr[RCX] & mask;
    ex.next_rip = ex.s.gpr[RDX] & mask;
    ex.yield_now = true;
    Ok(())
}

pub fn syscall(ex: &mut Exec, _insn: &Instruction) -> R {
    if code_bitness(ex.s) != 64 || ex.s.msr.efer & 1 == 0 {
        return Err(Fault::UD);
    }
    let sel = ((ex.s.msr.star >> 32) as u16) & 0xfffc;
    let flags = ex.s.flags();
    ex.s.gpr[RCX] = ex.next_rip;
    ex.s.gpr[11] = flags & !RF;
    ex.s.set_flags(flags & !ex.s.msr.sfmask & !RF);
    ex.s.seg[CS] = flat(sel, true, 0, true);
    ex.s.seg[SS] = flat(sel + 8, false, 0, false);
    ex.next_rip = ex.s.msr.lstar;
    ex.yield_now = true;
    Ok(())
}

pub fn sysret(ex: &mut Exec, insn: &Instruction) -> R {
    if code_bitness(ex.s) != 64 || ex.s.msr.efer & 1 == 0 {
        return Err(Fault::UD);
    }
    if ex.cpl() != 0 {
        return Err(Fault::gp(0));
    }
    let base = (ex.s.msr.star >> 48) as u16;
    let to64 = insn.code() == iced_x86::Code::Sysretq;
    let rip = ex.s.gpr[RCX];
    if to64 && !super::operand::canonical(rip) {
        return Err(Fault::gp(0));
    }
    let cs = if to64 { base.wrapping_add(16) } else { base };
    ex.s.seg[CS] = flat((cs & 0xfffc) | 3, true, 3, to64);
    if !to64 {
        // Compatibility mode: 32-bit code.
        ex.s.seg[CS].attr = (ex.s.seg[CS].attr & !0x2000) | 0x4000;
    }
    ex.s.seg[SS] = flat((base.wrapping_add(8) & 0xfffc) | 3, false, 3, false);
    ex.s.set_flags((ex.s.gpr[11] & !(RF | VM)) | FIXED1);
    ex.next_rip = if to64 { rip } else { rip & 0xffff_ffff };
    ex.yield_now = true;
    Ok(())
}

//! Running one SingleStepTests case on a fresh real-mode machine.

use super::moo::{MooTest, REG_NAMES};
use crate::cpu::state::{rflags, Segment, CS, DS, ES, RAX, RBP, RBX, RCX, RDI, RDX, RSI, RSP, SS};
use crate::cpu::{Cpu, Observer, StopReason};
use crate::devices::bus::PortBus;
use crate::mem::GuestMemory;
use std::fmt;

/// 16 MiB of RAM, as the suite's 286 had address lines for.
const RAM: u64 = 16 << 20;
/// Enough for a REP with CX = 0xFFFF and an exception handler.
const MAX_INSTRUCTIONS: u64 = 300_000;
/// The top four FLAGS bits (IOPL, NT, bit 15) differ between a 286 and
/// later CPUs in real mode; the suite says to ignore them.
const REAL_MODE_FLAGS: u16 = 0x0fff;

/// The first difference between xlat's final state and the recording.
#[derive(Debug, PartialEq, Eq)]
pub enum Mismatch {
    Register {
        name: &'static str,
        expected: u16,
        actual: u16,
    },
    Memory {
        addr: u32,
        expected: u8,
        actual: u8,
    },
    DidNotHalt(StopReason),
    Setup(String),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Register {
                name,
                expected,
                actual,
            } => {
                write!(f, "{name} expected {expected:04x}, got {actual:04x}")
            }
            Mismatch::Memory {
                addr,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "byte {addr:06x} expected {expected:02x}, got {actual:02x}"
                )
            }
            Mismatch::DidNotHalt(r) => write!(f, "did not reach HLT ({r:?})"),
            Mismatch::Setup(e) => write!(f, "setup: {e}"),
        }
    }
}

/// GPR slot for each of REG_NAMES' general registers.
fn gpr_slot(i: usize) -> Option<usize> {
    [RAX, RBX, RCX, RDX].get(i).copied().or(match i {
        8 => Some(RSP),
        9 => Some(RBP),
        10 => Some(RSI),
        11 => Some(RDI),
        _ => None,
    })
}

fn seg_slot(i: usize) -> Option<usize> {
    match i {
        4 => Some(CS),
        5 => Some(SS),
        6 => Some(DS),
        7 => Some(ES),
        _ => None,
    }
}

fn read_reg(cpu: &Cpu, i: usize) -> u16 {
    let s = &cpu.state;
    if let Some(g) = gpr_slot(i) {
        return s.gpr[g] as u16;
    }
    if let Some(sg) = seg_slot(i) {
        return s.seg[sg].selector;
    }
    if i == 12 {
        s.rip as u16
    } else {
        s.flags() as u16
    }
}

/// Runs `t` and compares; `flags_mask` clears the flags the hardware
/// leaves undefined for this opcode.
pub fn run_test(
    t: &MooTest,
    flags_mask: u16,
    mut observer: Option<&mut dyn Observer>,
) -> Result<(), Mismatch> {
    let mut mem = GuestMemory::new(RAM).map_err(|e| Mismatch::Setup(e.to_string()))?;
    let mut io = PortBus::default();
    let mut cpu = Cpu::new();
    if has_lock_prefix(&t.bytes) {
        // The 286 executes LOCK-prefixed instructions of any kind as if
        // unprefixed, where the 386 and later raise #UD. Decode as the 286
        // did so that these tests still check the instruction's semantics.
        cpu.set_decoder_options(iced_x86::DecoderOptions::NO_INVALID_CHECK);
    }
    let s = &mut cpu.state;
    // Real mode after reset, but CS as a normal real-mode segment.
    s.seg[CS] = Segment::real_mode(0, Segment::ATTR_REAL_CODE);
    s.idtr.limit = 0x3ff;
    for (i, v) in t.init.regs.iter().enumerate() {
        let Some(v) = *v else { continue };
        if let Some(g) = gpr_slot(i) {
            s.gpr[g] = v as u64;
        } else if let Some(sg) = seg_slot(i) {
            let attr = if sg == CS {
                Segment::ATTR_REAL_CODE
            } else {
                Segment::ATTR_REAL_DATA
            };
            s.seg[sg] = Segment::real_mode(v, attr);
        } else if i == 12 {
            s.rip = v as u64;
        } else {
            // A 286 in real mode holds zeros in FLAGS bits 12-15 whatever
            // the recording claims; start from the state it really had.
            s.set_flags((v & REAL_MODE_FLAGS) as u64 | rflags::FIXED1);
        }
    }
    for &(addr, b) in &t.init.ram {
        mem.write_u8(addr as u64, b);
    }
    let mut stop = StopReason::Yield;
    while stop == StopReason::Yield && cpu.state.icount < MAX_INSTRUCTIONS {
        let budget = MAX_INSTRUCTIONS - cpu.state.icount;
        stop = match observer {
            Some(ref mut o) => cpu.run(&mut mem, &mut io, budget, Some(&mut **o)),
            None => cpu.run(&mut mem, &mut io, budget, None),
        };
    }
    if stop != StopReason::Halted {
        return Err(Mismatch::DidNotHalt(stop));
    }
    for (i, name) in REG_NAMES.iter().enumerate() {
        let Some(expected) = t.fina.regs[i].or(t.init.regs[i]) else {
            continue;
        };
        let mut actual = read_reg(&cpu, i);
        let mut expected = expected;
        if i == 13 {
            actual &= flags_mask & REAL_MODE_FLAGS;
            expected &= flags_mask & REAL_MODE_FLAGS;
        }
        if actual != expected {
            return Err(Mismatch::Register {
                name,
                expected,
                actual,
            });
        }
    }
    // Expected memory: the initial bytes overlaid with the final ones.
    let mut expect: std::collections::BTreeMap<u32, u8> = t.init.ram.iter().copied().collect();
    expect.extend(t.fina.ram.iter().copied());
    let pushed_flags = t.exception.map(|_| pushed_flags_address(t));
    for (addr, expected) in expect {
        let mut actual = mem.read_u8(addr as u64);
        let mut expected = expected;
        // The FLAGS image an exception pushed holds the same undefined bits
        // as the register; mask them alike.
        if let Some(at) = pushed_flags {
            let byte_mask = if addr == at {
                (flags_mask & REAL_MODE_FLAGS) as u8
            } else if addr == (at & !0xffff) | ((at + 1) & 0xffff) {
                ((flags_mask & REAL_MODE_FLAGS) >> 8) as u8
            } else {
                0xff
            };
            actual &= byte_mask;
            expected &= byte_mask;
        }
        if actual != expected {
            return Err(Mismatch::Memory {
                addr,
                expected,
                actual,
            });
        }
    }
    Ok(())
}

/// True when the instruction carries a LOCK (F0) prefix.
pub fn has_lock_prefix(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .take_while(|b| matches!(b, 0xf0 | 0xf2 | 0xf3 | 0x26 | 0x2e | 0x36 | 0x3e))
        .any(|&b| b == 0xf0)
}

/// Physical address of the FLAGS word an exception pushed: SS:SP+4 of the
/// final state (IP at SP, CS at SP+2).
fn pushed_flags_address(t: &MooTest) -> u32 {
    let reg = |i: usize| t.fina.regs[i].or(t.init.regs[i]).unwrap_or(0) as u32;
    let (ss, sp) = (reg(5), reg(8));
    (ss << 4) + ((sp + 4) & 0xffff)
}

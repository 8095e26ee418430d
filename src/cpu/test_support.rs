//! Shared set-up for in-process CPU tests: a flat 32-bit ring-0 protected
//! mode whose exception handlers report their vector.

use super::state::{cr0, Segment, CS, DS, ES, SS};
use super::Cpu;
use crate::mem::GuestMemory;

pub const GDT: u64 = 0x1000;
pub const IDT: u64 = 0x1800;
pub const HANDLERS: u64 = 0x2000;

/// Writes a GDT (flat code 0x08, data 0x10) and an IDT whose vector `v`
/// handler is `mov eax, v; hlt`, and returns a CPU in flat 32-bit
/// protected mode at `code` with ESP = 0x7000.
pub fn flat_protected_mode(mem: &mut GuestMemory, code: u64) -> Cpu {
    mem.write(GDT + 8, 8, 0x00cf_9a00_0000_ffff);
    mem.write(GDT + 16, 8, 0x00cf_9200_0000_ffff);
    for v in 0..32u64 {
        let h = HANDLERS + 16 * v;
        mem.write_bytes(h, &[0xb8, v as u8, 0, 0, 0, 0xf4]);
        let gate = (h & 0xffff) | (0x08 << 16) | (0x8e00u64 << 32) | ((h >> 16) << 48);
        mem.write(IDT + 8 * v, 8, gate);
    }
    let mut cpu = Cpu::new();
    let s = &mut cpu.state;
    s.cr0 = cr0::PE | cr0::ET | cr0::NE;
    s.gdtr.base = GDT;
    s.gdtr.limit = 23;
    s.idtr.base = IDT;
    s.idtr.limit = 32 * 8 - 1;
    s.seg[CS] = Segment {
        selector: 0x08,
        attr: 0xc09b,
        limit: 0xffff_ffff,
        base: 0,
    };
    let data = Segment {
        selector: 0x10,
        attr: 0xc093,
        limit: 0xffff_ffff,
        base: 0,
    };
    for seg in [SS, DS, ES] {
        s.seg[seg] = data;
    }
    s.gpr[4] = 0x7000;
    s.rip = code;
    cpu
}

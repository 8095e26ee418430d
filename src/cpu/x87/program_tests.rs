//! Small x87 programs run through the interpreter, in real mode and in
//! 32-bit protected mode: loads, arithmetic and stores end to end, the
//! environment layouts, #MF from a pending exception, #NM, and FXSAVE's
//! alignment check.

use super::float80::{sw, F80};
use crate::cpu::state::{cr0, Segment, CS, RAX, RBX};
use crate::cpu::{Cpu, StopReason};
use crate::devices::bus::PortBus;
use crate::mem::GuestMemory;

fn run(cpu: &mut Cpu, mem: &mut GuestMemory) {
    let mut io = PortBus::default();
    let mut stop = StopReason::Yield;
    for _ in 0..100 {
        stop = cpu.run(mem, &mut io, 10_000, None);
        if stop != StopReason::Yield {
            break;
        }
    }
    assert_eq!(stop, StopReason::Halted);
}

fn f80_at(mem: &mut GuestMemory, at: u64) -> F80 {
    let mut b = [0u8; 10];
    for (i, v) in b.iter_mut().enumerate() {
        *v = mem.read_u8(at + i as u64);
    }
    F80::from_bytes(&b)
}

#[test]
fn real_mode_program() {
    let mut mem = GuestMemory::new(1 << 20).unwrap();
    mem.write(0x200, 4, 2.5f32.to_bits() as u64);
    mem.write(0x204, 2, (-7i16) as u16 as u64);
    #[rustfmt::skip]
    let code = [
        0xdb, 0xe3,             // fninit
        0xd9, 0xe8,             // fld1
        0xd9, 0x06, 0x00, 0x02, // fld dword [0x200]
        0xde, 0xc1,             // faddp st1, st
        0xdd, 0x1e, 0x10, 0x02, // fstp qword [0x210]
        0xdf, 0x06, 0x04, 0x02, // fild word [0x204]
        0xdb, 0x1e, 0x20, 0x02, // fistp dword [0x220]
        0xd9, 0xeb,             // fldpi
        0xd9, 0xfa,             // fsqrt
        0xdb, 0x3e, 0x30, 0x02, // fstp tbyte [0x230]
        0xd9, 0xe8,             // fld1
        0xd9, 0xee,             // fldz
        0xde, 0xf9,             // fdivp (masked #Z: +inf)
        0xdf, 0x16, 0x40, 0x02, // fist word [0x240] (masked #I: indefinite)
        0xdf, 0xe0,             // fnstsw ax
        0xd9, 0x36, 0x00, 0x03, // fnstenv [0x300]
        0xf4,                   // hlt
    ];
    mem.write_bytes(0x100, &code);
    let mut cpu = Cpu::new();
    cpu.state.seg[CS] = Segment::real_mode(0, Segment::ATTR_REAL_CODE);
    cpu.state.rip = 0x100;
    run(&mut cpu, &mut mem);
    assert_eq!(f64::from_bits(mem.read(0x210, 8)), 3.5);
    assert_eq!(mem.read(0x220, 4) as u32 as i32, -7);
    let root_pi = f80_at(&mut mem, 0x230);
    assert_eq!((root_pi.se, root_pi.sig), (0x3fff, 0xe2dfc48da77b553d));
    assert_eq!(mem.read(0x240, 2), 0x8000);
    let fsw = cpu.state.gpr[RAX] as u16;
    assert_eq!(fsw & sw::EXCEPTIONS, sw::ZE | sw::IE | sw::PE);
    assert_eq!(fsw & sw::TOP, 7 << 11, "one value left on the stack");
    // The 14-byte real-mode environment: FIP is the linear address of the
    // FIST (the last non-control instruction) and FOP its opcode.
    assert_eq!(mem.read(0x302, 2) as u16, fsw);
    assert_eq!(
        mem.read(0x304, 2),
        0xbfff,
        "ST(0) special (+inf), the rest empty"
    );
    assert_eq!(mem.read(0x306, 2), 0x100 + 36);
    assert_eq!(mem.read(0x308, 2), 0x716);
    assert_eq!(mem.read(0x30a, 2), 0x240);
    // FNSTENV masked everything.
    assert_eq!(cpu.state.x87.fcw & 0x3f, 0x3f);
}

const CODE: u64 = 0x4000;
const DATA: u64 = 0x8000;

/// Flat 32-bit ring-0 protected mode; vector v's handler does
/// `mov eax, v; hlt`.
fn protected(mem: &mut GuestMemory, code: &[u8]) -> Cpu {
    mem.write_bytes(CODE, code);
    crate::cpu::test_support::flat_protected_mode(mem, CODE)
}

#[test]
fn protected_mode_pending_exception_raises_mf_at_the_next_waiting_instruction() {
    let mut mem = GuestMemory::new(1 << 20).unwrap();
    mem.write(DATA + 0x20, 2, 0x037b); // ZE unmasked
    #[rustfmt::skip]
    let code = [
        0xdb, 0xe3,                         // fninit
        0xd9, 0x2d, 0x20, 0x80, 0, 0,       // fldcw [DATA+0x20]
        0xd9, 0xe8,                         // fld1
        0xd9, 0xee,                         // fldz
        0xde, 0xf9,                         // fdivp: unmasked #Z, no result
        0xdf, 0xe0,                         // fnstsw ax (does not wait)
        0x89, 0xc3,                         // mov ebx, eax
        0x9b,                               // fwait: #MF
        0xf4,
    ];
    let mut cpu = protected(&mut mem, &code);
    run(&mut cpu, &mut mem);
    assert_eq!(cpu.state.gpr[RAX], 16, "#MF");
    let fsw = cpu.state.gpr[RBX] as u16;
    assert_eq!(fsw & (sw::ZE | sw::ES | sw::B), sw::ZE | sw::ES | sw::B);
    // The unmasked #Z left both operands in place.
    assert_eq!(cpu.state.x87.st(0), F80::ZERO);
    assert_eq!(cpu.state.x87.st(1), F80::ONE);
    // The fault points at the FWAIT; FIP at the FDIVP.
    assert_eq!(mem.read(0x7000 - 12, 4), CODE + 18);
    assert_eq!(cpu.state.x87.fip, CODE + 12);
    assert_eq!(cpu.state.x87.fop, 0x6f9);
    assert!(!cpu.state.x87.ferr_pending);
}

#[test]
fn without_cr0_ne_the_error_goes_to_ferr() {
    let mut mem = GuestMemory::new(1 << 20).unwrap();
    mem.write(DATA + 0x20, 2, 0x037b);
    #[rustfmt::skip]
    let code = [
        0xd9, 0x2d, 0x20, 0x80, 0, 0, // fldcw
        0xd9, 0xe8, 0xd9, 0xee, 0xde, 0xf9, // fld1; fldz; fdivp
        0x9b, 0xf4,                   // fwait; hlt
    ];
    let mut cpu = protected(&mut mem, &code);
    cpu.state.cr0 &= !cr0::NE;
    run(&mut cpu, &mut mem);
    assert_eq!(cpu.state.rip, CODE + code.len() as u64, "no #MF");
    assert!(cpu.state.x87.take_ferr());
    assert!(!cpu.state.x87.take_ferr());
}

#[test]
fn cr0_em_and_ts_raise_nm() {
    for (bits, vector) in [(cr0::EM, 7), (cr0::TS, 7), (cr0::TS | cr0::MP, 7)] {
        let mut mem = GuestMemory::new(1 << 20).unwrap();
        let mut cpu = protected(&mut mem, &[0xd9, 0xe8, 0xf4]);
        cpu.state.cr0 |= bits;
        run(&mut cpu, &mut mem);
        assert_eq!(cpu.state.gpr[RAX], vector);
    }
    // WAIT only with MP and TS together.
    let mut mem = GuestMemory::new(1 << 20).unwrap();
    let mut cpu = protected(&mut mem, &[0x9b, 0xb8, 0x55, 0, 0, 0, 0xf4]);
    cpu.state.cr0 |= cr0::TS;
    run(&mut cpu, &mut mem);
    assert_eq!(cpu.state.gpr[RAX], 0x55);
}

#[test]
fn fsave_frstor_and_fxsave_fxrstor_round_trip() {
    let mut mem = GuestMemory::new(1 << 20).unwrap();
    #[rustfmt::skip]
    let code = [
        0xdb, 0xe3,                         // fninit
        0xd9, 0xe8,                         // fld1
        0xd9, 0xeb,                         // fldpi
        0xdd, 0x35, 0x00, 0x81, 0, 0,       // fnsave [DATA+0x100]
        0xd9, 0xee,                         // fldz (after the reinit)
        0xdd, 0x25, 0x00, 0x81, 0, 0,       // frstor [DATA+0x100]
        0x0f, 0xae, 0x05, 0x00, 0x82, 0, 0, // fxsave [DATA+0x200]
        0xdb, 0xe3,                         // fninit
        0x0f, 0xae, 0x0d, 0x00, 0x82, 0, 0, // fxrstor [DATA+0x200]
        0xde, 0xc1,                         // faddp
        0xdb, 0x3d, 0x00, 0x83, 0, 0,       // fstp tbyte [DATA+0x300]
        0x0f, 0xae, 0x05, 0x08, 0x84, 0, 0, // fxsave [DATA+0x408]: #GP
        0xf4,
    ];
    let mut cpu = protected(&mut mem, &code);
    run(&mut cpu, &mut mem);
    assert_eq!(cpu.state.gpr[RAX], 13, "misaligned FXSAVE");
    let sum = f80_at(&mut mem, DATA + 0x300);
    assert_eq!((sum.se, sum.sig), (0x4001, 0x8487ed5110b4611a));
    // The 108-byte protected-mode image: 32-bit words, registers in ST
    // order after the 28-byte environment.
    assert_eq!(mem.read(DATA + 0x100, 4), 0xffff_037f);
    assert_eq!(mem.read(DATA + 0x108, 4), 0xffff_0fff);
    assert_eq!(f80_at(&mut mem, DATA + 0x100 + 38), F80::ONE);
    // FXSAVE: abridged tags, FOP, and ST(0) at offset 32.
    assert_eq!(mem.read(DATA + 0x204, 1), 0xc0);
    assert_eq!(mem.read(DATA + 0x21c, 4), 0xffff);
    assert_eq!(f80_at(&mut mem, DATA + 0x230), F80::ONE);
}

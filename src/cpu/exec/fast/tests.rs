//! Lockstep: random programs of the forms the fast handlers cover run
//! once with them and once with the generic handlers only; registers,
//! flags, the data pages and where each run stopped must agree. Each
//! program is laid out three times in a row, so its memory operands are
//! served by the host TLB on the later passes, and some operands straddle
//! the boundary between the two data pages. A CALL/JMP/RET trio now and
//! then takes the stack and branch handlers through their paces.

use crate::cpu::state::{cr0, cr4, efer, Segment, CS, DS, ES, FS, GS, SS};
use crate::cpu::test_support::flat_protected_mode;
use crate::cpu::{Cpu, StopReason};
use crate::devices::bus::PortBus;
use crate::hostcheck::Rng;
use crate::mem::GuestMemory;
use iced_x86::{
    Code, Encoder, Instruction, MemoryOperand, Mnemonic as M, OpCodeOperandKind as K, OpKind,
    Register,
};

const RAM: u64 = 4 << 20;
const CODE: u64 = 0x4_0000;
/// Two data pages; RBP points at the first (real mode: DS does), RSI
/// holds a small index.
const DATA: u64 = 0x6_0000;
const DATA_LEN: usize = 0x2000;
const PML4: u64 = 0x8000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Real,
    Protected32,
    Long,
}

fn covered(m: M) -> bool {
    matches!(
        m,
        M::Mov
            | M::Movzx
            | M::Movsx
            | M::Movsxd
            | M::Lea
            | M::Add
            | M::Or
            | M::Adc
            | M::Sbb
            | M::And
            | M::Sub
            | M::Xor
            | M::Cmp
            | M::Test
            | M::Shl
            | M::Shr
            | M::Sar
            | M::Imul
            | M::Push
            | M::Pop
            | M::Cmova
            | M::Cmovae
            | M::Cmovb
            | M::Cmovbe
            | M::Cmove
            | M::Cmovne
            | M::Cmovg
            | M::Cmovge
            | M::Cmovl
            | M::Cmovle
            | M::Cmovs
            | M::Cmovns
            | M::Cmovo
            | M::Cmovno
            | M::Cmovp
            | M::Cmovnp
            | M::Seta
            | M::Setb
            | M::Sete
            | M::Setl
            | M::Setle
    )
}

/// The codes of covered mnemonics with register, r/m and immediate
/// operands only, valid in `mode`.
fn codes(mode: Mode) -> Vec<Code> {
    Code::values()
        .filter(|c| covered(c.mnemonic()))
        .filter(|c| {
            let oc = c.op_code();
            let valid = match mode {
                Mode::Real => oc.mode16(),
                Mode::Protected32 => oc.mode32(),
                Mode::Long => oc.mode64(),
            };
            valid
                && oc.encoding() == iced_x86::EncodingKind::Legacy
                && (0..oc.op_count()).all(|i| operand_bytes(oc.op_kind(i)).is_some())
        })
        .collect()
}

/// Size of an operand kind this test can fill, 0 for LEA's bare memory.
fn operand_bytes(k: K) -> Option<u32> {
    Some(match k {
        K::r8_or_mem | K::r8_reg | K::r8_opcode | K::imm8 => 1,
        K::r16_or_mem | K::r16_reg | K::r16_opcode | K::imm16 | K::imm8sex16 => 2,
        K::r32_or_mem | K::r32_reg | K::r32_opcode | K::imm32 | K::imm8sex32 => 4,
        K::r64_or_mem | K::r64_reg | K::r64_opcode | K::imm64 | K::imm8sex64 | K::imm32sex64 => 8,
        K::mem => 0,
        K::cl => 1,
        _ => return None,
    })
}

/// A destination or source register of `bytes` bytes: never SP, BP or SI
/// (the stack and the address registers).
fn register(rng: &mut Rng, bytes: u32, mode: Mode) -> Register {
    let pool: &[usize] = if mode == Mode::Long {
        &[0, 1, 2, 3, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    } else {
        &[0, 1, 2, 3, 7]
    };
    let i = pool[(rng.next() % pool.len() as u64) as usize];
    match bytes {
        1 if i < 4 && rng.next() % 3 == 0 => {
            [Register::AH, Register::CH, Register::DH, Register::BH][i]
        }
        1 if i >= 4 && mode != Mode::Long => Register::AL,
        1 => nth(Register::AL, if i >= 4 { i + 4 } else { i }),
        2 => nth(Register::AX, i),
        4 => nth(Register::EAX, i),
        _ => nth(Register::RAX, i),
    }
}

fn nth(base: Register, n: usize) -> Register {
    Register::values().nth(base as usize + n).unwrap_or(base)
}

/// [BP + disp] or [BP + SI*scale + disp] in the address size of the code:
/// within the data pages, one time in eight across their middle.
fn memory(rng: &mut Rng, mode: Mode) -> MemoryOperand {
    let (bp, si) = match mode {
        Mode::Real => (Register::BP, Register::SI),
        Mode::Protected32 => (Register::EBP, Register::ESI),
        Mode::Long => (Register::RBP, Register::RSI),
    };
    let disp = match rng.next() % 8 {
        0 => 0x1000 - 1 - (rng.next() % 8) as i64,
        _ => (rng.next() % 0x1e00) as i64,
    };
    if mode == Mode::Real || rng.next() % 2 == 0 {
        MemoryOperand::with_base_displ(bp, disp)
    } else {
        MemoryOperand::with_base_index_scale_displ_size(bp, si, 1 << (rng.next() % 4), disp, 4)
    }
}

/// The bytes of `code` with random operands, and whether one is memory.
fn random_instruction(rng: &mut Rng, code: Code, mode: Mode) -> Option<(Vec<u8>, bool)> {
    let oc = code.op_code();
    let mut insn = Instruction::default();
    insn.set_code(code);
    for i in 0..oc.op_count() {
        let k = oc.op_kind(i);
        let bytes = operand_bytes(k)?;
        match k {
            K::mem => set_memory(&mut insn, i, rng, mode),
            K::r8_or_mem | K::r16_or_mem | K::r32_or_mem | K::r64_or_mem if rng.next() % 2 == 0 => {
                set_memory(&mut insn, i, rng, mode)
            }
            K::imm8
            | K::imm16
            | K::imm32
            | K::imm64
            | K::imm8sex16
            | K::imm8sex32
            | K::imm8sex64
            | K::imm32sex64 => {
                insn.set_op_kind(i, imm_kind(k));
                let width = match k {
                    K::imm8sex16 | K::imm8sex32 | K::imm8sex64 => 1,
                    K::imm32sex64 => 4,
                    _ => bytes,
                };
                let v = rng.edge_value(width);
                match imm_kind(k) {
                    OpKind::Immediate8
                    | OpKind::Immediate8to16
                    | OpKind::Immediate8to32
                    | OpKind::Immediate8to64 => insn.set_immediate8(v as u8),
                    OpKind::Immediate16 => insn.set_immediate16(v as u16),
                    OpKind::Immediate32 | OpKind::Immediate32to64 => insn.set_immediate32(v as u32),
                    _ => insn.set_immediate64(v),
                }
            }
            K::cl => {
                insn.set_op_kind(i, OpKind::Register);
                insn.set_op_register(i, Register::CL);
            }
            _ => {
                insn.set_op_kind(i, OpKind::Register);
                insn.set_op_register(i, register(rng, bytes, mode));
            }
        }
    }
    let bitness = match mode {
        Mode::Real => 16,
        Mode::Protected32 => 32,
        Mode::Long => 64,
    };
    let mut enc = Encoder::new(bitness);
    enc.encode(&insn, 0).ok()?;
    let memory = (0..insn.op_count()).any(|i| insn.op_kind(i) == OpKind::Memory);
    Some((enc.take_buffer(), memory))
}

fn imm_kind(k: K) -> OpKind {
    match k {
        K::imm8 => OpKind::Immediate8,
        K::imm16 => OpKind::Immediate16,
        K::imm32 => OpKind::Immediate32,
        K::imm64 => OpKind::Immediate64,
        K::imm8sex16 => OpKind::Immediate8to16,
        K::imm8sex32 => OpKind::Immediate8to32,
        K::imm8sex64 => OpKind::Immediate8to64,
        _ => OpKind::Immediate32to64,
    }
}

fn set_memory(insn: &mut Instruction, i: u32, rng: &mut Rng, mode: Mode) {
    let m = memory(rng, mode);
    insn.set_op_kind(i, OpKind::Memory);
    insn.set_memory_base(m.base);
    insn.set_memory_index(m.index);
    insn.set_memory_index_scale(m.scale);
    insn.set_memory_displacement64(m.displacement as u64);
    insn.set_memory_displ_size(match mode {
        Mode::Real => 2,
        Mode::Protected32 => 4,
        Mode::Long => 8,
    });
}

/// A CPU in `mode` with RBP at the data pages and RSI a small index.
fn machine(mode: Mode, fast: bool, regs: &[u64; 16], flags: u64) -> (Cpu, GuestMemory) {
    let mut mem = GuestMemory::new(RAM).unwrap();
    let mut cpu = match mode {
        Mode::Real => {
            let mut cpu = Cpu::new();
            let s = &mut cpu.state;
            let seg = |base: u64| Segment {
                selector: (base >> 4) as u16,
                attr: 0x93,
                limit: 0xffff,
                base,
            };
            s.seg[CS] = Segment {
                attr: 0x9b,
                ..seg(CODE)
            };
            for r in [DS, ES, SS, FS, GS] {
                s.seg[r] = seg(DATA);
            }
            s.rip = 0;
            // Pushes and pops stay clear of the segment's ends.
            s.gpr[4] = 0x8000;
            cpu
        }
        Mode::Protected32 => flat_protected_mode(&mut mem, CODE),
        Mode::Long => {
            let mut cpu = flat_protected_mode(&mut mem, CODE);
            // Identity-map the first 4 MiB with 2 MiB pages.
            mem.write(PML4, 8, (PML4 + 0x1000) | 3);
            mem.write(PML4 + 0x1000, 8, (PML4 + 0x2000) | 3);
            mem.write(PML4 + 0x2000, 8, 0x83);
            mem.write(PML4 + 0x2008, 8, 0x20_0083);
            let s = &mut cpu.state;
            s.cr3 = PML4;
            s.cr4 |= cr4::PAE;
            s.msr.efer |= efer::LME | efer::LMA;
            s.cr0 |= cr0::PG;
            s.seg[CS].attr = 0x209b;
            cpu
        }
    };
    cpu.set_fast_handlers(fast);
    let s = &mut cpu.state;
    for (i, v) in regs.iter().enumerate() {
        if i != 4 {
            s.gpr[i] = if mode == Mode::Long {
                *v
            } else {
                *v & 0xffff_ffff
            };
        }
    }
    s.gpr[5] = if mode == Mode::Real { 0 } else { DATA };
    s.gpr[6] = regs[6] % 0x40;
    s.set_flags(flags);
    (cpu, mem)
}

struct Outcome {
    gpr: [u64; 16],
    flags: u64,
    rip: u64,
    stop: StopReason,
    data: Vec<u8>,
}

fn run(
    mode: Mode,
    fast: bool,
    program: &[u8],
    regs: &[u64; 16],
    flags: u64,
    seed: &[u8],
) -> Outcome {
    let (mut cpu, mut mem) = machine(mode, fast, regs, flags);
    mem.write_bytes(DATA, seed);
    mem.write_bytes(CODE, program);
    let mut io = PortBus::default();
    let stop = cpu.run(&mut mem, &mut io, 10_000, None);
    let mut data = vec![0; DATA_LEN];
    mem.read_bytes(DATA, &mut data);
    Outcome {
        gpr: cpu.state.gpr,
        flags: cpu.state.flags(),
        rip: cpu.state.rip,
        stop,
        data,
    }
}

fn lockstep(mode: Mode, programs: u64, seed: u64) {
    let codes = codes(mode);
    assert!(codes.len() > 100, "{mode:?}: only {} codes", codes.len());
    let mut rng = Rng(seed);
    let (mut completed, mut memory_forms, mut forms) = (0, 0, 0);
    for n in 0..programs {
        let mut body = Vec::new();
        let mut listing = Vec::new();
        while listing.len() < 24 {
            if rng.next() % 8 == 0 {
                // call L1; jmp L2; L1: ret; L2:
                let call: &[u8] = if mode == Mode::Real {
                    &[0xe8, 2, 0]
                } else {
                    &[0xe8, 2, 0, 0, 0]
                };
                body.extend_from_slice(call);
                body.extend_from_slice(&[0xeb, 0x01, 0xc3]);
                listing.push("call; jmp; ret".to_string());
                continue;
            }
            let code = codes[(rng.next() % codes.len() as u64) as usize];
            if let Some((bytes, memory)) = random_instruction(&mut rng, code, mode) {
                listing.push(format!("{code:?} {bytes:02x?}"));
                body.extend(bytes);
                memory_forms += memory as u64;
                forms += 1;
            }
        }
        let mut program = [body.as_slice(), &body, &body].concat();
        program.push(0xf4);
        let regs: [u64; 16] = std::array::from_fn(|_| rng.edge_value(8));
        let flags = 0x2 | (rng.next() & 0x8d5);
        let seed_bytes: Vec<u8> = (0..DATA_LEN).map(|_| rng.next() as u8).collect();
        let fast = run(mode, true, &program, &regs, flags, &seed_bytes);
        let slow = run(mode, false, &program, &regs, flags, &seed_bytes);
        let what = format!("{mode:?} program {n}:\n{}", listing.join("\n"));
        assert_eq!(fast.stop, slow.stop, "{what}");
        assert_eq!(fast.rip, slow.rip, "{what}");
        assert_eq!(fast.gpr, slow.gpr, "{what}");
        assert_eq!(fast.flags, slow.flags, "{what}");
        assert!(fast.data == slow.data, "data differs: {what}");
        let end = program.len() as u64 + if mode == Mode::Real { 0 } else { CODE };
        let done = fast.stop == StopReason::Halted && fast.rip == end;
        if !done && std::env::var("FAST_DEBUG").is_ok() {
            eprintln!(
                "{what}\nstop {:?} rip {:x} sp {:x}",
                fast.stop, fast.rip, fast.gpr[4]
            );
        }
        completed += done as u64;
    }
    // The programs have no faulting operands: all run to their HLT.
    assert_eq!(completed, programs, "{mode:?}");
    assert!(
        memory_forms * 3 > forms,
        "{mode:?}: {memory_forms} of {forms} use memory"
    );
}

#[test]
fn fast_handlers_match_generic_ones_in_64_bit_mode() {
    lockstep(Mode::Long, 300, 0x64);
}

#[test]
fn fast_handlers_match_generic_ones_in_32_bit_mode() {
    lockstep(Mode::Protected32, 300, 0x32);
}

#[test]
fn fast_handlers_match_generic_ones_in_real_mode() {
    lockstep(Mode::Real, 300, 0x16);
}

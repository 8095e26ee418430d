//! One random test case: the instruction (encoded), the registers, flags
//! and memory buffer it starts from, and the comparison of two outcomes.

use super::forms::{Form, OperandSpec};
use super::x87::{self, HostQuirks, Match, X87};
use iced_x86::{Encoder, Instruction, Mnemonic, OpKind, Register};
use std::fmt;

/// Size of the memory buffer a memory operand points into; RBX holds the
/// address of BUF_MID in it on both sides (room above for FXSAVE's 512
/// bytes).
pub const BUF: usize = 1024;
/// Offset of RBX in the buffer.
pub const BUF_MID: u64 = 128;
/// Offset of ESP in the buffer for the 32-bit stack forms (PUSHA's 32
/// bytes and POPA's stay inside it).
pub const STACK_AT: u64 = BUF_MID + 64;

/// A deterministic xorshift64 generator.
pub struct Rng(pub u64);

impl Rng {
    // Not `Iterator::next`: the stream never ends, and callers want the
    // number itself.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value biased toward the edges of `bytes`-wide integers.
    pub fn edge_value(&mut self, bytes: u32) -> u64 {
        let bits = bytes * 8;
        let mask = u64::MAX >> (64 - bits);
        let sign = 1u64 << (bits - 1);
        let v = match self.next() % 12 {
            0 => 0,
            1 => 1,
            2 => mask,
            3 => sign,
            4 => sign - 1,
            5 => sign + 1,
            6 => self.next() % 32,
            7 => mask - (self.next() % 4),
            8 => 1 << (self.next() % bits as u64),
            _ => self.next(),
        };
        v & mask
    }
}

impl Rng {
    /// A 64-bit chunk for SIMD operands: an f64 edge value, two f32 edge
    /// values, an integer edge value or random bits.
    pub fn simd_value(&mut self) -> u64 {
        match self.next() % 8 {
            0..=2 => self.f64_edge(),
            3..=5 => self.f32_edge() | (self.f32_edge() << 32),
            6 => self.edge_value(8),
            _ => self.next(),
        }
    }

    /// Zeros, ones, infinities, NaNs (quiet and signalling), denormals,
    /// the extremes and random values near them, with random signs.
    fn float_edge(&mut self, frac: u32, ebits: u32) -> u64 {
        let emax = (1u64 << ebits) - 1;
        let bias = emax >> 1;
        let fmask = (1u64 << frac) - 1;
        let rf = self.next() & fmask;
        let (e, f) = match self.next() % 14 {
            0 => (0, 0),
            1 => (bias, 0),
            2 => (emax, 0),
            3 => (emax, (1 << (frac - 1)) | (rf & (fmask >> 1))),
            4 => (emax, (rf & (fmask >> 1)) | 1),
            5 => (0, rf | 1),
            6 => (0, 1 + self.next() % 4),
            7 => (1 + self.next() % 3, rf),
            8 => (emax - 1 - self.next() % 3, rf),
            9 => (emax - 1, fmask),
            10 => (
                bias + self.next() % 40 - 20,
                rf & !(fmask >> (self.next() % frac as u64)),
            ),
            _ => (1 + self.next() % (emax - 1), rf),
        };
        let sign = (self.next() & 1) << (frac + ebits);
        sign | (e << frac) | f
    }

    pub fn f64_edge(&mut self) -> u64 {
        self.float_edge(52, 11)
    }

    pub fn f32_edge(&mut self) -> u64 {
        self.float_edge(23, 8)
    }

    /// A valid MXCSR with every exception masked (an unmasked one would
    /// SIGFPE the host): random rounding, DAZ, FTZ and sticky flags.
    pub fn mxcsr(&mut self) -> u32 {
        let r = self.next() as u32;
        let flags = if r & 0x100 != 0 { 0 } else { r & 0x3f };
        0x1f80 | flags | (r & 0x6000) | (r & 0x8040)
    }
}

/// The architectural view both runners fill in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub gpr: [u64; 16],
    pub rflags: u64,
    pub buf: [u8; BUF],
    pub xmm: [[u64; 2]; 16],
    pub mm: [u64; 8],
    pub mxcsr: u32,
    /// The exception raised, if any (the host never gets here with one).
    pub fault: Option<u8>,
    /// The x87 state, seeded and read back by the x87 forms only.
    pub x87: Option<X87>,
}

pub struct Case {
    pub insn: Instruction,
    pub bytes: Vec<u8>,
    pub start: Outcome,
    /// RDI holds the buffer's address (MASKMOVQ/MASKMOVDQU's target),
    /// which differs between host and guest.
    pub rdi_is_buffer: bool,
    /// Code size: 64 (64-bit mode) or 32 (compatibility / protected mode,
    /// where only EAX..EDI exist and their upper halves are not compared).
    pub bits: u32,
    /// A stack form: ESP starts at `STACK_AT` in the buffer, and the
    /// outcomes hold ESP as an offset in the buffer.
    pub stack_in_buffer: bool,
    /// 32-bit code with a 16-bit address size (0x67): the memory operand
    /// is [BX + disp8], DS's base is the buffer and EBX = `BUF_MID`.
    pub addr16: bool,
}

/// General registers an operand may name: never RSP (the stack) nor RBX
/// (the buffer base, whose value differs between host and guest).
const GPRS: [usize; 14] = [0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
/// The same outside 64-bit mode.
const GPRS32: [usize; 6] = [0, 1, 2, 5, 6, 7];

fn gpr(index: usize, bytes: u32, high8: bool) -> Register {
    let base = match bytes {
        1 if high8 => return [Register::AH, Register::CH, Register::DH][index],
        1 => Register::AL,
        2 => Register::AX,
        4 => Register::EAX,
        _ => Register::RAX,
    };
    // iced numbers AL..R15L with SPL..DIL after AH..BH.
    let n = if bytes == 1 && index >= 4 {
        index + 4
    } else {
        index
    };
    iced_x86::Register::values()
        .nth(base as usize + n)
        .unwrap_or(Register::None)
}

fn vector_register(insn: &mut Instruction, i: u32, base: Register, n: u64, rng: &mut Rng) {
    insn.set_op_kind(i, OpKind::Register);
    let r = iced_x86::Register::values()
        .nth(base as usize + (rng.next() % n) as usize)
        .unwrap_or(base);
    insn.set_op_register(i, r);
}

/// A memory operand [RBX + disp8] ([EBX + disp8] or [BX + disp8] in
/// 32-bit code); 16-byte operands of the aligned SSE forms and FXSAVE's
/// 512 bytes get a 16-byte aligned displacement.
fn memory_operand(
    insn: &mut Instruction,
    i: u32,
    bytes: u32,
    aligned: bool,
    rng: &mut Rng,
    base: Register,
) {
    insn.set_op_kind(i, OpKind::Memory);
    let mut disp = (rng.next() % 96) as i64 - 48;
    if (aligned && bytes == 16) || bytes == 512 {
        disp &= !15;
    }
    insn.set_memory_base(base);
    insn.set_memory_index(Register::None);
    insn.set_memory_displacement64(disp as u64);
    insn.set_memory_displ_size(1);
}

/// A case for `bits`-bit code (64, or 32 for compatibility mode).
pub fn generate_for(form: &Form, rng: &mut Rng, bits: u32) -> Option<Case> {
    let mut insn = Instruction::default();
    insn.set_code(form.code);
    insn.set_code_size(if bits == 64 {
        iced_x86::CodeSize::Code64
    } else {
        iced_x86::CodeSize::Code32
    });
    let aligned = crate::cpu::simd::needs_alignment(form.code);
    let mut rdi_is_buffer = false;
    // Half the 32-bit memory operands use 16-bit addressing.
    let addr16 = bits == 32 && rng.next() % 2 == 0;
    let mem_base = match (bits, addr16) {
        (64, _) => Register::RBX,
        (_, true) => Register::BX,
        _ => Register::EBX,
    };
    for (i, spec) in form.ops.iter().enumerate() {
        let i = i as u32;
        match *spec {
            OperandSpec::Xmm => vector_register(&mut insn, i, Register::XMM0, 16, rng),
            OperandSpec::Mm => vector_register(&mut insn, i, Register::MM0, 8, rng),
            OperandSpec::XmmOrMem(bytes) | OperandSpec::MmOrMem(bytes) => {
                if rng.next() % 2 == 0 {
                    let (base, n) = if matches!(spec, OperandSpec::XmmOrMem(_)) {
                        (Register::XMM0, 16)
                    } else {
                        (Register::MM0, 8)
                    };
                    vector_register(&mut insn, i, base, n, rng);
                } else {
                    memory_operand(&mut insn, i, bytes, aligned, rng, mem_base);
                }
            }
            OperandSpec::Mem(bytes) => memory_operand(&mut insn, i, bytes, aligned, rng, mem_base),
            OperandSpec::St0 => {
                insn.set_op_kind(i, OpKind::Register);
                insn.set_op_register(i, Register::ST0);
            }
            OperandSpec::Sti => {
                insn.set_op_kind(i, OpKind::Register);
                insn.set_op_register(i, st_register(rng.next() % 8));
            }
            OperandSpec::SegRdi => {
                insn.set_op_kind(i, OpKind::MemorySegRDI);
                rdi_is_buffer = true;
            }
            OperandSpec::Gpr(bytes) => reg_operand(&mut insn, i, bytes, bits, rng),
            OperandSpec::GprOrMem(bytes) => {
                if rng.next() % 2 == 0 {
                    reg_operand(&mut insn, i, bytes, bits, rng);
                } else {
                    insn.set_op_kind(i, OpKind::Memory);
                    let disp = (rng.next() % 96) as i64 - 48;
                    insn.set_memory_base(mem_base);
                    insn.set_memory_index(Register::None);
                    insn.set_memory_displacement64(disp as u64);
                    insn.set_memory_displ_size(1);
                }
            }
            OperandSpec::Fixed(r) => {
                insn.set_op_kind(i, OpKind::Register);
                insn.set_op_register(i, r);
            }
            OperandSpec::Imm(bytes) => {
                let v = rng.edge_value(bytes);
                let kind = form.code.op_code().op_kind(i);
                use iced_x86::OpCodeOperandKind as K;
                match kind {
                    K::imm8 => {
                        insn.set_op_kind(i, OpKind::Immediate8);
                        insn.set_immediate8(v as u8);
                    }
                    K::imm8sex16 => {
                        insn.set_op_kind(i, OpKind::Immediate8to16);
                        insn.set_immediate8to16(v as u8 as i8 as i16);
                    }
                    K::imm8sex32 => {
                        insn.set_op_kind(i, OpKind::Immediate8to32);
                        insn.set_immediate8to32(v as u8 as i8 as i32);
                    }
                    K::imm8sex64 => {
                        insn.set_op_kind(i, OpKind::Immediate8to64);
                        insn.set_immediate8to64(v as u8 as i8 as i64);
                    }
                    K::imm16 => {
                        insn.set_op_kind(i, OpKind::Immediate16);
                        insn.set_immediate16(v as u16);
                    }
                    K::imm32 => {
                        insn.set_op_kind(i, OpKind::Immediate32);
                        insn.set_immediate32(v as u32);
                    }
                    K::imm32sex64 => {
                        insn.set_op_kind(i, OpKind::Immediate32to64);
                        insn.set_immediate32to64(v as u32 as i32 as i64);
                    }
                    _ => {
                        insn.set_op_kind(i, OpKind::Immediate64);
                        insn.set_immediate64(v);
                    }
                }
            }
            OperandSpec::One => {
                insn.set_op_kind(i, OpKind::Immediate8);
                insn.set_immediate8(1);
            }
        }
    }
    let mut enc = Encoder::new(bits);
    enc.encode(&insn, 0).ok()?;
    let bytes = enc.take_buffer();
    let simd = crate::cpu::simd::handler(form.code).is_some();
    let mut start = Outcome {
        gpr: [0; 16],
        rflags: rng.next() & 0x8d5,
        buf: [0; BUF],
        xmm: [[0; 2]; 16],
        mm: [0; 8],
        mxcsr: crate::cpu::simd::mxcsr::DEFAULT,
        fault: None,
        x87: None,
    };
    for g in start.gpr.iter_mut() {
        *g = rng.edge_value(8);
    }
    if bits != 64 {
        // Only EAX..EDI exist; their upper halves are not architectural.
        for (i, g) in start.gpr.iter_mut().enumerate() {
            *g = if i < 8 { *g & 0xffff_ffff } else { 0 };
        }
    }
    let mut buf = [0u8; BUF];
    for chunk in buf.chunks_mut(8) {
        let v = if simd {
            rng.simd_value()
        } else {
            rng.edge_value(8)
        }
        .to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    if simd {
        for x in start.xmm.iter_mut() {
            *x = [rng.simd_value(), rng.simd_value()];
        }
        for m in start.mm.iter_mut() {
            *m = rng.simd_value();
        }
        start.mxcsr = rng.mxcsr();
        // Some cases with two copies of one operand: equal values
        // matter to compares, MIN/MAX and subtraction.
        if rng.next() % 8 == 0 {
            start.xmm = [start.xmm[0]; 16];
        }
    }
    if is_string_compare(form.code.mnemonic()) {
        string_operands(&mut start, &mut buf, rng);
    }
    // LDMXCSR must load a valid, all-masked MXCSR.
    if form.code.mnemonic() == Mnemonic::Ldmxcsr {
        let at = (BUF_MID as i64 + insn.memory_displacement64() as i64) as usize;
        buf[at..at + 4].copy_from_slice(&rng.mxcsr().to_le_bytes());
    }
    if form.x87 {
        start.x87 = Some(X87::random(rng));
        if insn.op_count() > 0 && insn.op_kind(0) == OpKind::Memory {
            let mxcsr = rng.mxcsr();
            x87::seed_memory(&insn, &mut buf, rng, mxcsr);
        }
    }
    start.buf = buf;
    // BT* with a register bit offset may address far outside the buffer:
    // keep the offset within it.
    if matches!(
        form.code.mnemonic(),
        Mnemonic::Bt | Mnemonic::Bts | Mnemonic::Btr | Mnemonic::Btc
    ) && insn.op_kind(0) == OpKind::Memory
        && insn.op_kind(1) == OpKind::Register
    {
        let r = crate::cpu::exec::operand::gpr_loc(insn.op_register(1)).index;
        let mask = if bits == 64 { u64::MAX } else { 0xffff_ffff };
        start.gpr[r] = (rng.next() % 512).wrapping_sub(256) & mask;
    }
    Some(Case {
        insn,
        bytes,
        start,
        rdi_is_buffer,
        bits,
        stack_in_buffer: bits != 64 && insn.is_stack_instruction(),
        addr16: addr16 && (0..insn.op_count()).any(|i| insn.op_kind(i) == OpKind::Memory),
    })
}

fn st_register(i: u64) -> Register {
    [
        Register::ST0,
        Register::ST1,
        Register::ST2,
        Register::ST3,
        Register::ST4,
        Register::ST5,
        Register::ST6,
        Register::ST7,
    ][i as usize & 7]
}

fn is_string_compare(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Pcmpestri | Pcmpestri64 | Pcmpestrm | Pcmpestrm64 | Pcmpistri | Pcmpistrm
    )
}

/// PCMPxSTRx operands that exercise matches: vectors over a small
/// alphabet with zero terminators (bytes or words), sometimes full, and
/// lengths in EAX/EDX around the element counts, negative too.
fn string_operands(start: &mut Outcome, buf: &mut [u8; BUF], rng: &mut Rng) {
    let text = |rng: &mut Rng| -> u128 {
        let alphabet = [0u8, b'a', b'b', b'c', 0x80, 0xff, 0x7f, b'a'];
        let mut b = [0u8; 16];
        for x in b.iter_mut() {
            *x = alphabet[(rng.next() % 8) as usize];
        }
        // Mostly words of 0x00xx too, so word forms see terminators.
        if rng.next() % 2 == 0 {
            for i in (1..16).step_by(2) {
                if rng.next() % 4 != 0 {
                    b[i] = 0;
                }
            }
        }
        // A terminator at a random place, or none.
        let cut = (rng.next() % 20) as usize;
        if cut < 16 {
            b[cut] = 0;
        }
        u128::from_le_bytes(b)
    };
    for x in start.xmm.iter_mut() {
        let v = text(rng);
        *x = [v as u64, (v >> 64) as u64];
    }
    for chunk in buf.chunks_mut(16) {
        let v = text(rng).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    for r in [0, 2] {
        start.gpr[r] = match rng.next() % 4 {
            0 => rng.next(),
            1 => (rng.next() % 40).wrapping_sub(20),
            2 => (rng.next() % 40).wrapping_sub(20) | 0xffff_ffff_0000_0000 & rng.next(),
            _ => rng.next() % 18,
        };
    }
}

fn reg_operand(insn: &mut Instruction, i: u32, bytes: u32, bits: u32, rng: &mut Rng) {
    let set: &[usize] = match (bits, bytes) {
        (64, _) => &GPRS,
        // Outside 64-bit mode the byte registers are AL..BL and AH..BH.
        (_, 1) => &GPRS32[..3],
        _ => &GPRS32,
    };
    let index = set[(rng.next() % set.len() as u64) as usize];
    let high8 = bytes == 1 && index < 3 && rng.next() % 4 == 0;
    insn.set_op_kind(i, OpKind::Register);
    insn.set_op_register(i, gpr(index, bytes, high8));
}

impl Case {
    /// PUSHA stores ESP and EBX, which hold buffer addresses that differ
    /// between host and guest: each runner rewrites those two slots as
    /// offsets in its buffer (at `buf_base`). Needs `out.gpr[4]` already
    /// an offset in the buffer.
    pub fn normalize_pusha(&self, out: &mut Outcome, buf_base: u64) {
        let w = match self.insn.mnemonic() {
            Mnemonic::Pusha => 2,
            Mnemonic::Pushad => 4,
            _ => return,
        };
        // From the final ESP up: DI SI BP SP BX DX CX AX.
        let top = out.gpr[4] as usize;
        for slot in [3, 4] {
            let at = top + slot * w;
            if at + w > BUF {
                return;
            }
            let mut b = [0u8; 8];
            b[..w].copy_from_slice(&out.buf[at..at + w]);
            let v = u64::from_le_bytes(b).wrapping_sub(buf_base) & mask(w as u32);
            out.buf[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
        }
    }

    /// The memory operand's offset in the buffer, when there is one and
    /// its address is the buffer's (not 16-bit addressing, whose DS is
    /// based at the buffer on both sides).
    pub fn operand_offset(&self) -> Option<u64> {
        let mem = (0..self.insn.op_count()).any(|i| self.insn.op_kind(i) == OpKind::Memory);
        (mem && !self.addr16)
            .then(|| BUF_MID.wrapping_add(self.insn.memory_displacement32() as i32 as i64 as u64))
    }

    /// Cases the host cannot run without a signal: divide errors.
    pub fn would_fault_natively(&self) -> bool {
        let m = self.insn.mnemonic();
        // AAM with a zero base divides by zero.
        if m == Mnemonic::Aam {
            return self.insn.immediate8() == 0;
        }
        if !matches!(m, Mnemonic::Div | Mnemonic::Idiv) {
            return false;
        }
        let size = match self.insn.op_kind(0) {
            OpKind::Register => self.insn.op_register(0).size() as u32,
            _ => self.insn.memory_size().size() as u32,
        };
        let divisor = match self.insn.op_kind(0) {
            OpKind::Register => {
                let l = crate::cpu::exec::operand::gpr_loc(self.insn.op_register(0));
                let v = self.start.gpr[l.index];
                if l.high8 {
                    (v >> 8) & 0xff
                } else {
                    v & mask(size)
                }
            }
            _ => {
                let at = (BUF_MID as i64 + self.insn.memory_displacement64() as i64) as usize;
                let mut v = [0u8; 8];
                v[..size as usize].copy_from_slice(&self.start.buf[at..at + size as usize]);
                u64::from_le_bytes(v)
            }
        };
        let (hi, lo) = if size == 1 {
            let ax = self.start.gpr[0] & 0xffff;
            (ax >> 8, ax & 0xff)
        } else {
            (
                self.start.gpr[2] & mask(size),
                self.start.gpr[0] & mask(size),
            )
        };
        let bits = size * 8;
        if divisor == 0 {
            return true;
        }
        let n = ((hi as u128) << bits) | lo as u128;
        if m == Mnemonic::Div {
            return n / divisor as u128 > mask(size) as u128;
        }
        let shift = 128 - 2 * bits;
        let n = ((n << shift) as i128) >> shift;
        let d = ((divisor as i128) << (128 - bits)) >> (128 - bits);
        match n.checked_div(d) {
            None => true,
            Some(q) => q < -(1i128 << (bits - 1)) || q > (1i128 << (bits - 1)) - 1,
        }
    }
}

fn mask(bytes: u32) -> u64 {
    u64::MAX >> (64 - 8 * bytes)
}

/// The first difference between the host's and xlat's outcome, ignoring
/// RSP, RBX (the buffer base) and the flags this instruction leaves
/// undefined; `Ok` says whether a tolerance was needed (x87
/// transcendentals, see `x87::compare`).
pub fn compare(
    c: &Case,
    host: &Outcome,
    mine: &Outcome,
    quirks: &HostQuirks,
) -> Result<Match, Diff> {
    if let Some(d) = differs(c, host, mine) {
        return Err(d);
    }
    match (&c.start.x87, &host.x87, &mine.x87) {
        (Some(start), Some(h), Some(m)) => {
            x87::compare(&c.insn, c.bits, start, h, m, quirks).map_err(|d| Diff::new(c, d))
        }
        _ => Ok(Match::Exact),
    }
}

fn differs(c: &Case, host: &Outcome, mine: &Outcome) -> Option<Diff> {
    if host.fault != mine.fault {
        return Some(Diff::new(
            c,
            format!("exception host {:?} xlat {:?}", host.fault, mine.fault),
        ));
    }
    for i in 0..16 {
        if i == 3 || (i == 4 && !c.stack_in_buffer) || (i == 7 && c.rdi_is_buffer) {
            continue;
        }
        if host.gpr[i] != mine.gpr[i] {
            return Some(Diff::new(
                c,
                format!("gpr{i} host {:#x} xlat {:#x}", host.gpr[i], mine.gpr[i]),
            ));
        }
    }
    let undefined = c.insn.rflags_undefined() as u64 | sdm_undefined_flags(c);
    let m = 0x8d5 & !undefined;
    if (host.rflags ^ mine.rflags) & m != 0 {
        return Some(Diff::new(
            c,
            format!(
                "flags host {:#x} xlat {:#x} (compared {:#x})",
                host.rflags & m,
                mine.rflags & m,
                m
            ),
        ));
    }
    let approximate = matches!(
        c.insn.mnemonic(),
        Mnemonic::Rcpps | Mnemonic::Rcpss | Mnemonic::Rsqrtps | Mnemonic::Rsqrtss
    );
    for i in 0..16 {
        let (h, m) = (host.xmm[i], mine.xmm[i]);
        let same = if approximate {
            (0..4).all(|l| {
                let lane = |x: [u64; 2]| (x[l / 2] >> (32 * (l % 2))) as u32;
                close_enough(lane(h), lane(m))
            })
        } else {
            h == m
        };
        if !same {
            return Some(Diff::new(
                c,
                format!(
                    "xmm{i} host {:016x}_{:016x} xlat {:016x}_{:016x}",
                    h[1], h[0], m[1], m[0]
                ),
            ));
        }
    }
    // MM0-7 alias the x87 registers, which the x87 comparison covers.
    if let Some(i) = (0..8).find(|&i| c.start.x87.is_none() && host.mm[i] != mine.mm[i]) {
        return Some(Diff::new(
            c,
            format!("mm{i} host {:#x} xlat {:#x}", host.mm[i], mine.mm[i]),
        ));
    }
    if host.mxcsr != mine.mxcsr {
        return Some(Diff::new(
            c,
            format!("mxcsr host {:#x} xlat {:#x}", host.mxcsr, mine.mxcsr),
        ));
    }
    if let Some(i) = (0..BUF).find(|&i| host.buf[i] != mine.buf[i]) {
        return Some(Diff::new(
            c,
            format!(
                "buffer byte {i} host {:#x} xlat {:#x}",
                host.buf[i], mine.buf[i]
            ),
        ));
    }
    None
}

/// RCP/RSQRT are approximations whose exact bits are the CPU's own
/// (SDM: relative error at most 1.5 * 2^-12): equal bits, or two values
/// of one sign within 2^-11 of each other, or both tiny.
fn close_enough(a: u32, b: u32) -> bool {
    if a == b {
        return true;
    }
    let (x, y) = (f32::from_bits(a) as f64, f32::from_bits(b) as f64);
    if x.is_nan() || y.is_nan() || x.is_infinite() || y.is_infinite() {
        return false;
    }
    if x.abs() < 2f64.powi(-125) && y.abs() < 2f64.powi(-125) {
        return true;
    }
    x.signum() == y.signum() && (x - y).abs() <= x.abs().max(y.abs()) * 2f64.powi(-11)
}

const CF: u64 = 0x1;
const PF: u64 = 0x4;
const AF: u64 = 0x10;
const ZF: u64 = 0x40;
const SF: u64 = 0x80;
const OF: u64 = 0x800;

/// Flags the SDM leaves undefined for this case (vol. 2, each instruction's
/// "Flags Affected"), which may differ between CPU generations and vendors:
/// hostcheck compares only what is architecturally defined.
fn sdm_undefined_flags(c: &Case) -> u64 {
    let insn = &c.insn;
    let size = match insn.op_kind(0) {
        OpKind::Register => insn.op_register(0).size() as u64,
        _ => insn.memory_size().size() as u64,
    };
    let count = || -> u64 {
        let n = insn.op_count() - 1;
        let raw = match insn.op_kind(n) {
            OpKind::Register => c.start.gpr[1] & 0xff,
            _ => insn.immediate(n),
        };
        raw & if size == 8 { 63 } else { 31 }
    };
    use Mnemonic::*;
    match insn.mnemonic() {
        Mul | Imul => SF | ZF | AF | PF,
        Daa | Das => OF,
        Aaa | Aas => OF | SF | ZF | PF,
        Aam | Aad => OF | AF | CF,
        Div | Idiv => CF | OF | SF | ZF | AF | PF,
        And | Or | Xor | Test => AF,
        Bsf | Bsr => CF | OF | SF | AF | PF,
        Bt | Bts | Btr | Btc => OF | SF | AF | PF,
        Shl | Sal | Shr | Sar => {
            let n = count();
            let mut u = if n != 0 { AF } else { 0 };
            if n > 1 {
                u |= OF;
            }
            if n >= size * 8 && insn.mnemonic() != Sar {
                u |= CF;
            }
            u
        }
        Rol | Ror | Rcl | Rcr if count() != 1 => OF,
        Shld | Shrd => {
            let n = count();
            match n {
                0 => 0,
                1 => AF,
                _ if n > size * 8 => CF | OF | SF | ZF | AF | PF,
                _ => AF | OF,
            }
        }
        _ => 0,
    }
}

/// A failing case, printable.
pub struct Diff {
    text: String,
}

impl Diff {
    fn new(c: &Case, what: String) -> Self {
        let mut asm = String::new();
        use iced_x86::Formatter;
        iced_x86::NasmFormatter::new().format(&c.insn, &mut asm);
        Diff {
            text: format!(
                "{asm} [{}] regs {:x?} flags {:#x}: {what}",
                c.bytes
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
                c.start.gpr,
                c.start.rflags
            ) + &if crate::cpu::simd::handler(c.insn.code()).is_some() {
                format!(
                    " mxcsr {:#x} xmm {:x?} mm {:x?} mem {:02x?}",
                    c.start.mxcsr,
                    c.start.xmm,
                    c.start.mm,
                    &c.start.buf[(BUF_MID as usize - 48)..(BUF_MID as usize + 64)]
                )
            } else if let Some(x) = &c.start.x87 {
                format!(
                    " x87 start {x:x?} mem {:02x?}",
                    &c.start.buf[(BUF_MID as usize - 48)..(BUF_MID as usize + 64)]
                )
            } else {
                String::new()
            },
        }
    }
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 32-bit cases with a memory operand use 16-bit addressing ([BX +
    /// disp8] behind 0x67) about half the time; stack forms put ESP in
    /// the buffer.
    #[test]
    fn compat32_cases_mix_address_sizes() {
        let forms = crate::hostcheck::compat32_forms();
        let add = forms.iter().find(|f| f.name == "Add_rm32_r32").unwrap();
        let mut rng = Rng(7);
        let (mut a16, mut a32) = (0, 0);
        for _ in 0..200 {
            let c = generate_for(add, &mut rng, 32).unwrap();
            if c.insn.op_kind(0) != OpKind::Memory {
                continue;
            }
            if c.addr16 {
                assert_eq!(c.bytes[0], 0x67);
                assert_eq!(c.insn.memory_base(), Register::BX);
                a16 += 1;
            } else {
                assert_eq!(c.insn.memory_base(), Register::EBX);
                a32 += 1;
            }
        }
        assert!(a16 > 20 && a32 > 20, "{a16} {a32}");
        let pusha = forms.iter().find(|f| f.name == "Pushad").unwrap();
        assert!(generate_for(pusha, &mut rng, 32).unwrap().stack_in_buffer);
    }
}

//! Runs one instruction in xlat: a 64-bit ring-3 guest with identity
//! paging, or a 32-bit ring-3 protected-mode guest with flat segments
//! (the compatibility-mode cases), with the case's registers, flags and
//! buffer. The x87 forms run between an FXRSTOR (FXRSTOR64) of the case's
//! FPU state and an FXSAVE (FXSAVE64) of the result, as on the host.

use super::case::{Case, Outcome, BUF, BUF_MID, STACK_AT};
use super::x87::X87;
use crate::cpu::state::{cr0, cr4, efer, CpuState, Segment, CS, DS, ES, FS, GS, SS};
use crate::cpu::{Cpu, Fault, Observer};
use crate::devices::bus::PortBus;
use crate::mem::GuestMemory;

const RAM: u64 = 4 << 20;
const PML4: u64 = 0x10000;
const CODE: u64 = 0x1000;
const DATA: u64 = 0x20_0000;
/// The FXSAVE image of the x87 forms, past the buffer.
const FX: u64 = DATA + 0x1000;

pub struct GuestRunner {
    cpu: Cpu,
    mem: GuestMemory,
    io: PortBus,
}

/// Notes whether the instruction faulted.
struct FaultWatch(Option<Fault>);

impl Observer for FaultWatch {
    fn before(&mut self, _: &CpuState, _: &iced_x86::Instruction, _: &[u8]) {}
    fn after(&mut self, _: &CpuState, fault: Option<Fault>) {
        self.0 = self.0.or(fault);
    }
}

impl GuestRunner {
    pub fn new() -> Result<Self, String> {
        let mut mem = GuestMemory::new(RAM).map_err(|e| e.to_string())?;
        // PML4 -> PDPT -> PD with two 2 MiB user pages: identity 0-4 MiB.
        mem.write(PML4, 8, (PML4 + 0x1000) | 7);
        mem.write(PML4 + 0x1000, 8, (PML4 + 0x2000) | 7);
        mem.write(PML4 + 0x2000, 8, 0x87);
        mem.write(PML4 + 0x2008, 8, 0x20_0000 | 0x87);
        Ok(GuestRunner {
            cpu: Cpu::new(),
            mem,
            io: PortBus::default(),
        })
    }

    fn enter_64bit_ring3(&mut self, c: &Case) {
        let s = &mut self.cpu.state;
        s.reset();
        // NE and MP as Linux runs user code: x87 errors are #MF.
        s.cr0 = cr0::PE | cr0::PG | cr0::ET | cr0::NE | cr0::MP;
        s.cr4 = cr4::PAE | cr4::OSFXSR | cr4::OSXMMEXCPT;
        s.cr3 = PML4;
        s.msr.efer = efer::LME | efer::LMA;
        s.seg[CS] = Segment {
            selector: 0x33,
            attr: 0x20fb,
            limit: 0xffff_ffff,
            base: 0,
        };
        let data = Segment {
            selector: 0x2b,
            attr: 0xc0f3,
            limit: 0xffff_ffff,
            base: 0,
        };
        for seg in [SS, DS, ES, FS, GS] {
            s.seg[seg] = data;
        }
        s.gpr = c.start.gpr;
        s.gpr[3] = DATA + BUF_MID;
        s.gpr[4] = DATA + 0x10_0000;
        if c.rdi_is_buffer {
            s.gpr[7] = s.gpr[3];
        }
        s.xmm = c.start.xmm;
        s.mxcsr = c.start.mxcsr;
        // As the host thunk leaves it: FNINIT, then MOVQ into MM0-7.
        s.x87.init();
        for (i, &v) in c.start.mm.iter().enumerate() {
            s.x87.st[i][..8].copy_from_slice(&v.to_le_bytes());
            s.x87.st[i][8] = 0xff;
            s.x87.st[i][9] = 0xff;
        }
        s.x87.ftw = 0;
        s.set_flags(c.start.rflags | 0x202);
        s.rip = CODE;
    }

    /// 32-bit protected mode without paging, CPL 3, flat 4 GiB segments
    /// with the selectors Linux gives 32-bit code (0x23) and data (0x2B).
    fn enter_32bit_ring3(&mut self, c: &Case) {
        let s = &mut self.cpu.state;
        s.reset();
        s.cr0 = cr0::PE | cr0::ET | cr0::NE | cr0::MP;
        s.cr4 = cr4::OSFXSR | cr4::OSXMMEXCPT;
        s.seg[CS] = Segment {
            selector: 0x23,
            attr: 0xc0fb,
            limit: 0xffff_ffff,
            base: 0,
        };
        let data = Segment {
            selector: 0x2b,
            attr: 0xc0f3,
            limit: 0xffff_ffff,
            base: 0,
        };
        for seg in [SS, DS, ES, FS, GS] {
            s.seg[seg] = data;
        }
        s.gpr = c.start.gpr;
        s.gpr[3] = DATA + BUF_MID;
        if c.addr16 {
            // As on the host: DS is a segment based at the buffer.
            s.seg[DS].selector = 0x7;
            s.seg[DS].base = DATA;
            s.gpr[3] = BUF_MID;
        }
        s.gpr[4] = if c.stack_in_buffer {
            DATA + STACK_AT
        } else {
            DATA + 0x10_0000
        };
        s.xmm = c.start.xmm;
        s.mxcsr = c.start.mxcsr;
        s.set_flags(c.start.rflags | 0x202);
        s.rip = CODE;
    }

    pub fn run(&mut self, c: &Case) -> Outcome {
        self.mem.write_bytes(DATA, &c.start.buf);
        let mut code = Vec::new();
        if let Some(x) = &c.start.x87 {
            let mut img = [0u8; 512];
            super::x87::start_image(&mut img, x, c, c.bits == 64);
            self.mem.write_bytes(FX, &img);
            code = fx_insn(c.bits, false);
        }
        let insn_addr = CODE + code.len() as u64;
        code.extend_from_slice(&c.bytes);
        if c.start.x87.is_some() {
            code.extend(fx_insn(c.bits, true));
        }
        // Stop before the HLT (a #GP at CPL 3).
        let end = CODE + code.len() as u64;
        code.push(0xf4);
        self.mem.write_bytes(CODE, &code);
        self.cpu.flush_decode_cache(&mut self.mem);
        self.cpu.tlb.flush_all();
        if c.bits == 64 {
            self.enter_64bit_ring3(c);
        } else {
            self.enter_32bit_ring3(c);
        }
        let mut watch = FaultWatch(None);
        // One instruction at a time up to the HLT: an instruction with a
        // WAIT prefix (FCLEX, FSTSW, ...) may retire as two.
        for _ in 0..8 {
            self.cpu
                .run(&mut self.mem, &mut self.io, 1, Some(&mut watch));
            if watch.0.is_some() || self.cpu.state.rip == end {
                break;
            }
        }
        let mut buf = [0u8; BUF];
        self.mem.read_bytes(DATA, &mut buf);
        let s = &self.cpu.state;
        let mm = std::array::from_fn(|i| u64::from_le_bytes(s.x87.st[i][..8].try_into().unwrap()));
        let mut gpr = s.gpr;
        if c.bits != 64 {
            for (i, g) in gpr.iter_mut().enumerate() {
                *g = if i < 8 { *g & 0xffff_ffff } else { 0 };
            }
            gpr[4] = if c.stack_in_buffer {
                gpr[4].wrapping_sub(DATA) & 0xffff_ffff
            } else {
                0
            };
        }
        let mut out = Outcome {
            gpr,
            rflags: s.flags(),
            buf,
            xmm: s.xmm,
            mm,
            mxcsr: s.mxcsr,
            fault: watch.0.map(|f| f.vector),
            x87: None,
        };
        if c.start.x87.is_some() {
            let mut img = [0u8; 512];
            self.mem.read_bytes(FX, &mut img);
            let mut x = X87::read_image(&img, c.bits == 64);
            x.normalize(c, insn_addr, DATA);
            out.x87 = Some(x);
        }
        c.normalize_pusha(&mut out, DATA);
        out
    }
}

/// FXRSTOR (`save`: FXSAVE) of the image at `FX`, REX.W in 64-bit code,
/// through SS (DS may be the 16-bit address cases' segment).
fn fx_insn(bits: u32, save: bool) -> Vec<u8> {
    use iced_x86::{Code, Encoder, Instruction, MemoryOperand, Register};
    let code = match (bits, save) {
        (64, false) => Code::Fxrstor64_m512byte,
        (64, true) => Code::Fxsave64_m512byte,
        (_, false) => Code::Fxrstor_m512byte,
        (_, true) => Code::Fxsave_m512byte,
    };
    let mem = MemoryOperand::new(
        Register::None,
        Register::None,
        1,
        FX as i64,
        4,
        false,
        Register::SS,
    );
    let insn = Instruction::with1(code, mem).expect("an FXSAVE form with a memory operand");
    let mut enc = Encoder::new(bits);
    enc.encode(&insn, CODE)
        .expect("FXSAVE/FXRSTOR [disp32] encodes");
    enc.take_buffer()
}

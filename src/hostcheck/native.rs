//! Runs one instruction on the host CPU: a small thunk loads the case's
//! registers, flags, MMX and XMM registers and MXCSR, executes the
//! instruction's bytes, stores all of them back, and resets the host's
//! x87/MMX state (EMMS, FNINIT) and MXCSR before returning. For the x87
//! forms the thunk also loads the case's FPU state with FXRSTOR64 right
//! before the instruction and saves it with FXSAVE64 right after (then
//! FNCLEX, so that a pending exception reaches no waiting instruction).

use super::case::{Case, Outcome, BUF, BUF_MID};
use super::x87::X87;
use iced_x86::code_asm::*;
use memmap2::MmapMut;

/// Registers and flags as the thunk sees them: `gpr[4]` (RSP) is unused.
#[repr(C, align(16))]
struct Context {
    gpr: [u64; 16],
    rflags: u64,
    xmm: [[u64; 2]; 16],
    mm: [u64; 8],
    mxcsr: u32,
    /// The caller's MXCSR (its control bits are callee-saved).
    host_mxcsr: u32,
    /// The FXSAVE64 image the x87 forms start from and end in.
    fx: [u8; 512],
}

/// Offsets of the `Context` fields after `gpr`.
const RFLAGS_AT: i32 = 128;
const XMM_AT: i32 = 136;
const MM_AT: i32 = XMM_AT + 256;
const MXCSR_AT: i32 = MM_AT + 64;
const HOST_MXCSR_AT: i32 = MXCSR_AT + 4;
const FX_AT: i32 = HOST_MXCSR_AT + 4;
const _: () = assert!(std::mem::offset_of!(Context, fx) == FX_AT as usize && FX_AT % 16 == 0);

/// The memory buffer, aligned for the aligned SSE forms.
#[repr(C, align(64))]
struct Buffer([u8; BUF]);

fn xmm_reg(i: usize) -> AsmRegisterXmm {
    [
        xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13,
        xmm14, xmm15,
    ][i]
}

fn mm_reg(i: usize) -> AsmRegisterMm {
    [mm0, mm1, mm2, mm3, mm4, mm5, mm6, mm7][i]
}

/// Leaf 1 EDX of the host CPU.
pub fn host_cpuid1_edx() -> u32 {
    std::arch::x86_64::__cpuid(1).edx
}

/// Leaf 1 ECX of the host CPU.
pub fn host_cpuid1_ecx() -> u32 {
    std::arch::x86_64::__cpuid(1).ecx
}

pub struct NativeRunner {
    prologue: Vec<u8>,
    epilogue: Vec<u8>,
    /// The same with FXRSTOR64/FXSAVE64 around the instruction.
    prologue_x87: Vec<u8>,
    epilogue_x87: Vec<u8>,
    page: Option<MmapMut>,
}

fn gpr64(i: usize) -> AsmRegister64 {
    [
        rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15,
    ][i]
}

impl NativeRunner {
    pub fn new() -> Result<Self, String> {
        let (prologue, epilogue) = Self::assemble(false).map_err(|e| e.to_string())?;
        let (prologue_x87, epilogue_x87) = Self::assemble(true).map_err(|e| e.to_string())?;
        NativeRunner {
            prologue,
            epilogue,
            prologue_x87,
            epilogue_x87,
            page: None,
        }
        .map_page()
    }

    fn assemble(x87: bool) -> Result<(Vec<u8>, Vec<u8>), IcedError> {
        // Entry: RDI = &mut Context (System V).
        let mut a = CodeAssembler::new(64)?;
        for r in [rbx, rbp, r12, r13, r14, r15] {
            a.push(r)?;
        }
        a.push(rdi)?;
        a.stmxcsr(dword_ptr(rdi + HOST_MXCSR_AT))?;
        a.fninit()?;
        for i in 0..8 {
            a.movq(mm_reg(i), qword_ptr(rdi + MM_AT + 8 * i as i32))?;
        }
        for i in 0..16 {
            a.movdqu(xmm_reg(i), xmmword_ptr(rdi + XMM_AT + 16 * i as i32))?;
        }
        a.ldmxcsr(dword_ptr(rdi + MXCSR_AT))?;
        if x87 {
            a.fxrstor64(ptr(rdi + FX_AT))?;
        }
        a.push(qword_ptr(rdi + RFLAGS_AT))?;
        a.popfq()?;
        for i in (0..16).filter(|&i| i != 4 && i != 7) {
            a.mov(gpr64(i), qword_ptr(rdi + 8 * i as i32))?;
        }
        a.mov(rdi, qword_ptr(rdi + 56))?;
        let prologue = a.assemble(0)?;

        let mut b = CodeAssembler::new(64)?;
        b.push(rdi)?;
        b.mov(rdi, qword_ptr(rsp + 8))?;
        b.pop(qword_ptr(rdi + 56))?;
        for i in (0..16).filter(|&i| i != 4 && i != 7) {
            b.mov(qword_ptr(rdi + 8 * i as i32), gpr64(i))?;
        }
        b.pushfq()?;
        b.pop(qword_ptr(rdi + RFLAGS_AT))?;
        if x87 {
            b.fxsave64(ptr(rdi + FX_AT))?;
            b.fnclex()?;
        }
        b.stmxcsr(dword_ptr(rdi + MXCSR_AT))?;
        for i in 0..16 {
            b.movdqu(xmmword_ptr(rdi + XMM_AT + 16 * i as i32), xmm_reg(i))?;
        }
        for i in 0..8 {
            b.movq(qword_ptr(rdi + MM_AT + 8 * i as i32), mm_reg(i))?;
        }
        b.emms()?;
        b.fninit()?;
        b.ldmxcsr(dword_ptr(rdi + HOST_MXCSR_AT))?;
        // The ABI wants DF clear on return.
        b.cld()?;
        b.pop(rdi)?;
        for r in [r15, r14, r13, r12, rbp, rbx] {
            b.pop(r)?;
        }
        b.ret()?;
        let epilogue = b.assemble(0)?;
        Ok((prologue, epilogue))
    }

    fn map_page(mut self) -> Result<Self, String> {
        self.page = Some(MmapMut::map_anon(4096).map_err(|e| e.to_string())?);
        Ok(self)
    }

    pub fn run(&mut self, c: &Case) -> Outcome {
        let (prologue, epilogue) = match c.start.x87 {
            Some(_) => (&self.prologue_x87, &self.epilogue_x87),
            None => (&self.prologue, &self.epilogue),
        };
        let mut code = prologue.clone();
        let insn_at = code.len();
        code.extend_from_slice(&c.bytes);
        code.extend_from_slice(epilogue);
        let mut page = self.page.take().expect("page present between runs");
        page[..code.len()].copy_from_slice(&code);
        let exec = page.make_exec().expect("mprotect the thunk executable");
        let mut buf = Buffer(c.start.buf);
        let mut ctx = Context {
            gpr: c.start.gpr,
            rflags: c.start.rflags | 0x202,
            xmm: c.start.xmm,
            mm: c.start.mm,
            mxcsr: c.start.mxcsr,
            host_mxcsr: 0,
            fx: [0; 512],
        };
        if let Some(x) = &c.start.x87 {
            super::x87::start_image(&mut ctx.fx, x, c, true);
        }
        ctx.gpr[3] = buf.0.as_mut_ptr() as u64 + BUF_MID;
        if c.rdi_is_buffer {
            ctx.gpr[7] = ctx.gpr[3];
        }
        // SAFETY: the page holds a complete thunk (prologue, one generated
        // user-mode instruction that hostcheck's form filter allows and
        // whose memory operand is [RBX + disp] or [RDI] inside `buf`, with
        // every SIMD exception masked in its MXCSR, epilogue)
        // that saves and restores every callee-saved register, keeps RSP
        // balanced, and returns; `ctx` outlives the call.
        unsafe {
            let f: extern "sysv64" fn(*mut Context) = std::mem::transmute(exec.as_ptr());
            f(&mut ctx);
        }
        let insn_addr = exec.as_ptr() as u64 + insn_at as u64;
        self.page = Some(exec.make_mut().expect("mprotect the thunk writable"));
        let x87 = c.start.x87.map(|_| {
            let mut x = X87::read_image(&ctx.fx, true);
            x.normalize(c, insn_addr, buf.0.as_ptr() as u64);
            x
        });
        Outcome {
            gpr: ctx.gpr,
            rflags: ctx.rflags,
            buf: buf.0,
            xmm: ctx.xmm,
            mm: ctx.mm,
            mxcsr: ctx.mxcsr,
            fault: None,
            x87,
        }
    }
}

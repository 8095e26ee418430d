//! Runs one instruction on the host CPU: a small thunk loads the case's
//! registers, flags, MMX and XMM registers and MXCSR, executes the
//! instruction's bytes, stores all of them back, and resets the host's
//! x87/MMX state (EMMS, FNINIT) and MXCSR before returning.

use super::case::{Case, Outcome, BUF, BUF_MID};
use iced_x86::code_asm::*;
use memmap2::MmapMut;

/// Registers and flags as the thunk sees them: `gpr[4]` (RSP) is unused.
#[repr(C)]
struct Context {
    gpr: [u64; 16],
    rflags: u64,
    xmm: [[u64; 2]; 16],
    mm: [u64; 8],
    mxcsr: u32,
    /// The caller's MXCSR (its control bits are callee-saved).
    host_mxcsr: u32,
}

/// Offsets of the `Context` fields after `gpr`.
const RFLAGS_AT: i32 = 128;
const XMM_AT: i32 = 136;
const MM_AT: i32 = XMM_AT + 256;
const MXCSR_AT: i32 = MM_AT + 64;
const HOST_MXCSR_AT: i32 = MXCSR_AT + 4;

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
    page: Option<MmapMut>,
}

fn gpr64(i: usize) -> AsmRegister64 {
    [
        rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15,
    ][i]
}

impl NativeRunner {
    pub fn new() -> Result<Self, String> {
        Self::assemble().map_err(|e| e.to_string())?.map_page()
    }

    fn assemble() -> Result<Self, IcedError> {
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
        Ok(NativeRunner {
            prologue,
            epilogue,
            page: None,
        })
    }

    fn map_page(mut self) -> Result<Self, String> {
        self.page = Some(MmapMut::map_anon(4096).map_err(|e| e.to_string())?);
        Ok(self)
    }

    pub fn run(&mut self, c: &Case) -> Outcome {
        let mut code = self.prologue.clone();
        code.extend_from_slice(&c.bytes);
        code.extend_from_slice(&self.epilogue);
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
        };
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
        self.page = Some(exec.make_mut().expect("mprotect the thunk writable"));
        Outcome {
            gpr: ctx.gpr,
            rflags: ctx.rflags,
            buf: buf.0,
            xmm: ctx.xmm,
            mm: ctx.mm,
            mxcsr: ctx.mxcsr,
            fault: None,
        }
    }
}

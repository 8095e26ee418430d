//! Runs one instruction on the host CPU: a small thunk loads the case's
//! registers and flags, executes the instruction's bytes, and stores the
//! registers and flags back.

use super::case::{Case, Outcome, BUF_MID};
use iced_x86::code_asm::*;
use memmap2::MmapMut;

/// Registers and flags as the thunk sees them: `gpr[4]` (RSP) is unused.
#[repr(C)]
struct Context {
    gpr: [u64; 16],
    rflags: u64,
}

/// Offsets of `Context::gpr[i]` and `Context::rflags`.
const RFLAGS_AT: i32 = 128;

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
        let mut buf = c.start.buf;
        let mut ctx = Context {
            gpr: c.start.gpr,
            rflags: c.start.rflags | 0x202,
        };
        ctx.gpr[3] = buf.as_mut_ptr() as u64 + BUF_MID;
        // SAFETY: the page holds a complete thunk (prologue, one generated
        // user-mode instruction that hostcheck's form filter allows and
        // whose memory operand is [RBX + disp] inside `buf`, epilogue)
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
            buf,
            fault: None,
        }
    }
}

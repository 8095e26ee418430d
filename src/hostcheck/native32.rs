//! Runs one instruction natively in 32-bit code: a 64-bit Linux process
//! may far-jump to the user code selector 0x23, a 32-bit (compatibility
//! mode) code segment, and come back through 0x33. Everything that code
//! touches lives in one mapping below 4 GiB (MAP_32BIT): the thunk, the
//! register context, the operand buffer and the stack.
//!
//! The thunk: a 64-bit entry saves the callee-saved registers, RSP, DS and
//! ES, switches to the low stack and RETFQs to 0x23; the 32-bit part loads
//! DS/ES/SS with the user data selector 0x2B, the case's EFLAGS and
//! registers (ESP last: the stack forms run with ESP in the buffer), runs
//! the instruction, stores them back, takes its own stack again and RETFs
//! to 0x33; the 64-bit exit restores what the entry saved and returns.
//!
//! The x87 forms load the case's FPU state with FXRSTOR right before the
//! instruction and save it with FXSAVE (then FNCLEX) right after; the
//! exit resets the x87 (FNINIT) and restores the caller's MXCSR.
//!
//! The 16-bit address-size cases run with DS = an LDT data segment
//! (modify_ldt) whose base is the buffer, as xlat's DS has for them.
//!
//! The buffer sits high in the mapping, above 36 KiB of unused space, so
//! that a signal frame the kernel pushes below a stack form's ESP lands
//! in the mapping without touching the code or the context.

use super::case::{Case, Outcome, BUF, BUF_MID, STACK_AT};
use super::x87::X87;
use iced_x86::code_asm::*;
use iced_x86::{Code, Instruction};

/// Linux x86-64's user selectors.
const USER32_CS: u32 = 0x23;
const USER_DS: u32 = 0x2b;
const USER_CS: u32 = 0x33;

const MAP_LEN: usize = 0x10000;
const PAGE: usize = 0x1000;
// Offsets in the mapping.
const EXIT64: u64 = 0x100;
const COMPAT: u64 = 0x200;
const DATA: u64 = 0x1000;
const BUFFER: u64 = 0xc000;
const STACK_TOP: u64 = MAP_LEN as u64;
// Offsets in DATA: EAX..EDI as dwords, then EFLAGS, the saved RSP, DS, ES.
const EFLAGS_AT: u64 = 32;
const SAVED_RSP: u64 = 40;
const SAVED_DS: u64 = 48;
const SAVED_ES: u64 = 50;
/// DS for the instruction.
const DS_AT: u64 = 52;
/// The caller's MXCSR (its control bits are callee-saved).
const HOST_MXCSR_AT: u64 = 56;
/// The FXSAVE image of the x87 forms (16-byte aligned).
const FX_AT: u64 = 0x200;
/// LDT entry 0, RPL 3: data based at the buffer (16-bit address cases).
pub const LDT_DS: u16 = 0x7;

/// Linux's `struct user_desc` for modify_ldt.
#[repr(C)]
struct UserDesc {
    entry_number: u32,
    base_addr: u32,
    limit: u32,
    /// seg_32bit (bit 0), contents (1-2), read_exec_only (3),
    /// limit_in_pages (4), seg_not_present (5), useable (6).
    flags: u32,
}

pub struct Native32Runner {
    base: *mut u8,
    /// The LDT segment for the 16-bit address cases exists.
    pub addr16: bool,
    /// Entry and exit (64-bit) followed by the 32-bit prologue.
    head: Vec<u8>,
    /// The 32-bit epilogue.
    tail: Vec<u8>,
    /// The same with FXRSTOR/FXSAVE around the instruction.
    head_x87: Vec<u8>,
    tail_x87: Vec<u8>,
}

fn gpr32(i: usize) -> AsmRegister32 {
    [eax, ecx, edx, ebx, esp, ebp, esi, edi][i]
}

impl Native32Runner {
    pub fn new() -> Result<Self, String> {
        // SAFETY: an anonymous private mapping at an address of the
        // kernel's choosing; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                MAP_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(format!(
                "mmap MAP_32BIT: {}",
                std::io::Error::last_os_error()
            ));
        }
        let base = base as *mut u8;
        let (head, tail) = Self::assemble(base as u64, false).map_err(|e| e.to_string())?;
        let (head_x87, tail_x87) = Self::assemble(base as u64, true).map_err(|e| e.to_string())?;
        let desc = UserDesc {
            entry_number: 0,
            base_addr: (base as u64 + BUFFER) as u32,
            limit: 0xffff,
            flags: 1 | (1 << 6),
        };
        // SAFETY: modify_ldt(1, &desc, size) reads `desc` only.
        let r = unsafe {
            libc::syscall(
                libc::SYS_modify_ldt,
                1,
                &desc as *const UserDesc,
                std::mem::size_of::<UserDesc>(),
            )
        };
        Ok(Native32Runner {
            base,
            addr16: r == 0,
            head,
            tail,
            head_x87,
            tail_x87,
        })
    }

    fn assemble(base: u64, x87: bool) -> Result<(Vec<u8>, Vec<u8>), IcedError> {
        let data = base + DATA;
        let mut a = CodeAssembler::new(64)?;
        for r in [rbx, rbp, r12, r13, r14, r15] {
            a.push(r)?;
        }
        a.mov(rax, data)?;
        a.mov(qword_ptr(rax + SAVED_RSP as i32), rsp)?;
        a.stmxcsr(dword_ptr(rax + HOST_MXCSR_AT as i32))?;
        a.mov(cx, ds)?;
        a.mov(word_ptr(rax + SAVED_DS as i32), cx)?;
        a.mov(cx, es)?;
        a.mov(word_ptr(rax + SAVED_ES as i32), cx)?;
        a.mov(rsp, base + STACK_TOP)?;
        a.push(USER32_CS as i32)?;
        a.push((base + COMPAT) as i32)?;
        a.add_instruction(Instruction::with(Code::Retfq))?;
        let mut head = a.assemble(base)?;
        assert!(head.len() <= EXIT64 as usize);
        head.resize(EXIT64 as usize, 0xcc);

        let mut x = CodeAssembler::new(64)?;
        x.mov(rax, data)?;
        x.mov(cx, word_ptr(rax + SAVED_DS as i32))?;
        x.mov(ds, cx)?;
        x.mov(cx, word_ptr(rax + SAVED_ES as i32))?;
        x.mov(es, cx)?;
        x.mov(rsp, qword_ptr(rax + SAVED_RSP as i32))?;
        x.fninit()?;
        x.ldmxcsr(dword_ptr(rax + HOST_MXCSR_AT as i32))?;
        x.cld()?;
        for r in [r15, r14, r13, r12, rbp, rbx] {
            x.pop(r)?;
        }
        x.ret()?;
        head.extend(x.assemble(base + EXIT64)?);
        assert!(head.len() <= COMPAT as usize);
        head.resize(COMPAT as usize, 0xcc);

        let d = data as u32;
        let mut c = CodeAssembler::new(32)?;
        c.mov(ax, USER_DS)?;
        c.mov(ds, ax)?;
        c.mov(es, ax)?;
        c.mov(ss, ax)?;
        if x87 {
            c.fxrstor(ptr(d + FX_AT as u32))?;
        }
        c.push(dword_ptr(d + EFLAGS_AT as u32))?;
        c.popfd()?;
        for i in 0..8 {
            c.mov(gpr32(i), dword_ptr(d + 4 * i as u32))?;
        }
        c.mov(ds, word_ptr(d + DS_AT as u32).ss())?;
        head.extend(c.assemble(base + COMPAT)?);

        // Through SS: DS may be the LDT segment.
        let mut t = CodeAssembler::new(32)?;
        for i in 0..8 {
            t.mov(dword_ptr(d + 4 * i as u32).ss(), gpr32(i))?;
        }
        t.mov(esp, (base + STACK_TOP) as u32)?;
        t.pushfd()?;
        t.pop(dword_ptr(d + EFLAGS_AT as u32).ss())?;
        if x87 {
            t.fxsave(ptr(d + FX_AT as u32).ss())?;
            t.fnclex()?;
        }
        t.push(USER_CS)?;
        t.push((base + EXIT64) as u32)?;
        t.add_instruction(Instruction::with(Code::Retfd))?;
        // Position-independent: absolute addresses only.
        let tail = t.assemble(0)?;
        Ok((head, tail))
    }

    fn protect(&self, prot: i32) {
        // SAFETY: the first page of our own mapping.
        let r = unsafe { libc::mprotect(self.base as *mut libc::c_void, PAGE, prot) };
        assert_eq!(r, 0, "mprotect: {}", std::io::Error::last_os_error());
    }

    pub fn run(&mut self, c: &Case) -> Outcome {
        let (head, tail) = match c.start.x87 {
            Some(_) => (&self.head_x87, &self.tail_x87),
            None => (&self.head, &self.tail),
        };
        let insn_addr = self.base as u64 + head.len() as u64;
        let mut code = head.clone();
        code.extend_from_slice(&c.bytes);
        code.extend_from_slice(tail);
        assert!(code.len() <= PAGE);
        let base = self.base as u64;
        let buf_at = base + BUFFER;
        let mut regs = [0u32; 8];
        for (i, r) in regs.iter_mut().enumerate() {
            *r = c.start.gpr[i] as u32;
        }
        regs[3] = if c.addr16 {
            BUF_MID as u32
        } else {
            (buf_at + BUF_MID) as u32
        };
        regs[4] = if c.stack_in_buffer {
            (buf_at + STACK_AT) as u32
        } else {
            (base + STACK_TOP - 0x100) as u32
        };
        self.protect(libc::PROT_READ | libc::PROT_WRITE);
        // SAFETY: all writes stay inside the mapping (code in page 0, the
        // context in page 1, the buffer at BUFFER).
        unsafe {
            std::ptr::copy_nonoverlapping(code.as_ptr(), self.base, code.len());
            let ctx = self.base.add(DATA as usize) as *mut u32;
            for (i, r) in regs.iter().enumerate() {
                ctx.add(i).write(*r);
            }
            ctx.add(EFLAGS_AT as usize / 4)
                .write((c.start.rflags | 0x202) as u32);
            let data_sel = if c.addr16 { LDT_DS } else { USER_DS as u16 };
            (self.base.add((DATA + DS_AT) as usize) as *mut u16).write(data_sel);
            std::ptr::copy_nonoverlapping(
                c.start.buf.as_ptr(),
                self.base.add(BUFFER as usize),
                BUF,
            );
            if let Some(x) = &c.start.x87 {
                let mut img = [0u8; 512];
                super::x87::start_image(&mut img, x, c, false);
                std::ptr::copy_nonoverlapping(
                    img.as_ptr(),
                    self.base.add((DATA + FX_AT) as usize),
                    512,
                );
            }
        }
        self.protect(libc::PROT_READ | libc::PROT_EXEC);
        // SAFETY: page 0 holds the thunk described in the module doc
        // around one generated 32-bit user-mode integer or x87 instruction
        // (the x87 ones seeded with a state that has nothing pending) whose
        // memory operand is [EBX + disp8] inside the buffer, whose stack
        // accesses (stack forms only) stay inside the buffer, and that
        // cannot fault (divide errors are filtered out); the thunk
        // preserves the callee-saved registers, RSP, DS and ES and returns.
        unsafe {
            let f: extern "sysv64" fn() = std::mem::transmute(self.base);
            f();
        }
        let mut out = Outcome {
            gpr: [0; 16],
            rflags: 0,
            buf: [0; BUF],
            xmm: c.start.xmm,
            mm: c.start.mm,
            mxcsr: c.start.mxcsr,
            fault: None,
            x87: None,
        };
        // SAFETY: reads inside the mapping, written by the thunk.
        unsafe {
            let ctx = self.base.add(DATA as usize) as *const u32;
            for i in 0..8 {
                out.gpr[i] = ctx.add(i).read() as u64;
            }
            out.gpr[4] = if c.stack_in_buffer {
                (out.gpr[4].wrapping_sub(buf_at)) & 0xffff_ffff
            } else {
                0
            };
            out.rflags = ctx.add(EFLAGS_AT as usize / 4).read() as u64;
            std::ptr::copy_nonoverlapping(
                self.base.add(BUFFER as usize),
                out.buf.as_mut_ptr(),
                BUF,
            );
        }
        if c.start.x87.is_some() {
            let mut img = [0u8; 512];
            // SAFETY: a read inside the mapping, written by the thunk.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.base.add((DATA + FX_AT) as usize),
                    img.as_mut_ptr(),
                    512,
                );
            }
            let mut x = X87::read_image(&img, false);
            x.normalize(c, insn_addr, buf_at);
            out.x87 = Some(x);
            // FXRSTOR from the buffer loads XMM0-7 and MXCSR too.
            out.mxcsr = u32::from_le_bytes(img[24..28].try_into().unwrap());
            for i in 0..8 {
                let q = |at: usize| u64::from_le_bytes(img[at..at + 8].try_into().unwrap());
                out.xmm[i] = [q(160 + 16 * i), q(168 + 16 * i)];
            }
        }
        c.normalize_pusha(&mut out, buf_at);
        out
    }
}

impl Drop for Native32Runner {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping `new` made; nothing uses it after.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, MAP_LEN);
        }
    }
}

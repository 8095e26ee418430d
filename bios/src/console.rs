//! Text output over the debug console (port 0xE9) for ROM code: the routines
//! themselves, in assembly, and the calls that reach them.
//!
//! Every routine preserves all general registers (flags are clobbered) and
//! needs only a stack, so a caller can print in the middle of a computation.

use crate::rom::label_here;
use iced_x86::code_asm::*;

/// Bochs' and QEMU's "port E9 hack": a byte written there is printed.
pub const DEBUG_CONSOLE_PORT: u32 = 0xe9;

/// Labels of the console routines; `emit` places them once in the ROM, and
/// each method emits a call to one of them.
pub struct Console {
    print_inline: CodeLabel,
    hex_digits: CodeLabel,
    hex8: CodeLabel,
    hex16: CodeLabel,
    hex32: CodeLabel,
    dec32: CodeLabel,
}

impl Console {
    pub fn new(a: &mut CodeAssembler) -> Self {
        Console {
            print_inline: a.create_label(),
            hex_digits: a.create_label(),
            hex8: a.create_label(),
            hex16: a.create_label(),
            hex32: a.create_label(),
            dec32: a.create_label(),
        }
    }

    /// Prints `text` (which is stored right after the call).
    pub fn print(&self, a: &mut CodeAssembler, text: &str) -> Result<(), IcedError> {
        assert!(!text.contains('\0'), "console text is NUL-terminated");
        a.call(self.print_inline)?;
        a.db(text.as_bytes())?;
        a.db(&[0])
    }

    /// Prints AL as two hex digits.
    pub fn hex8(&self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        a.call(self.hex8)
    }

    /// Prints AX as four hex digits.
    pub fn hex16(&self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        a.call(self.hex16)
    }

    /// Prints EAX as eight hex digits.
    pub fn hex32(&self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        a.call(self.hex32)
    }

    /// Prints EAX as an unsigned decimal number.
    pub fn dec32(&self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        a.call(self.dec32)
    }

    /// Emits the routines. Call once, somewhere execution never falls into.
    pub fn emit(mut self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        self.emit_print_inline(a)?;
        self.emit_hex(a)?;
        self.emit_dec32(a)
    }

    /// The string follows the CALL: read it through CS from the return
    /// address, then return past its NUL.
    fn emit_print_inline(&mut self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        a.set_label(&mut self.print_inline)?;
        a.push(bp)?;
        a.mov(bp, sp)?;
        a.push(ax)?;
        a.push(si)?;
        a.mov(si, word_ptr(bp + 2))?;
        let next = label_here(a)?;
        let mut done = a.create_label();
        a.mov(al, byte_ptr(si).cs())?;
        a.inc(si)?;
        a.test(al, al)?;
        a.jz(done)?;
        a.out(DEBUG_CONSOLE_PORT, al)?;
        a.jmp(next)?;
        a.set_label(&mut done)?;
        a.mov(word_ptr(bp + 2), si)?;
        a.pop(si)?;
        a.pop(ax)?;
        a.pop(bp)?;
        a.ret()
    }

    /// hex8/hex16/hex32 share one loop: EAX holds the value and CX the
    /// number of digits, most significant first.
    fn emit_hex(&mut self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        for (label, digits) in [
            (&mut self.hex8, 2u32),
            (&mut self.hex16, 4),
            (&mut self.hex32, 8),
        ] {
            a.set_label(label)?;
            a.push(cx)?;
            a.mov(cx, digits)?;
            a.call(self.hex_digits)?;
            a.pop(cx)?;
            a.ret()?;
        }

        a.set_label(&mut self.hex_digits)?;
        a.push(eax)?;
        a.push(ebx)?;
        a.push(cx)?;
        // Bring the first wanted nibble to the top: rotate left by
        // 4 * (8 - digits).
        a.mov(ebx, eax)?;
        a.mov(ax, 8u32)?;
        a.sub(ax, cx)?;
        a.shl(ax, 2)?;
        a.xchg(ax, cx)?; // CL = rotate count, AX = digits
        a.rol(ebx, cl)?;
        a.mov(cx, ax)?;
        let digit = label_here(a)?;
        a.rol(ebx, 4)?;
        a.mov(al, bl)?;
        a.and(al, 0x0f)?;
        let mut decimal = a.create_label();
        a.cmp(al, 10)?;
        a.jb(decimal)?;
        a.add(al, i32::from(b'A' - b'0' - 10))?;
        a.set_label(&mut decimal)?;
        a.add(al, i32::from(b'0'))?;
        a.out(DEBUG_CONSOLE_PORT, al)?;
        a.loop_(digit)?;
        a.pop(cx)?;
        a.pop(ebx)?;
        a.pop(eax)?;
        a.ret()
    }

    /// Divides by ten until nothing is left, pushing the remainders, then
    /// pops them: the digits come out most significant first.
    fn emit_dec32(&mut self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        a.set_label(&mut self.dec32)?;
        a.push(eax)?;
        a.push(ebx)?;
        a.push(cx)?;
        a.push(edx)?;
        a.mov(ebx, 10u32)?;
        a.xor(cx, cx)?;
        let divide = label_here(a)?;
        a.xor(edx, edx)?;
        a.div(ebx)?;
        a.push(dx)?;
        a.inc(cx)?;
        a.test(eax, eax)?;
        a.jnz(divide)?;
        let print = label_here(a)?;
        a.pop(ax)?;
        a.add(al, i32::from(b'0'))?;
        a.out(DEBUG_CONSOLE_PORT, al)?;
        a.loop_(print)?;
        a.pop(edx)?;
        a.pop(cx)?;
        a.pop(ebx)?;
        a.pop(eax)?;
        a.ret()
    }
}

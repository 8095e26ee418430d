//! Text output over the debug console (port 0xE9) for ROM code: the routines
//! themselves, in assembly, and the calls that reach them.
//!
//! Every routine preserves all general registers (flags are clobbered) and
//! needs only a stack, so a caller can print in the middle of a computation.
//!
//! A console made `with_screen` also copies every character to the VGA's
//! colour text buffer (B800:0000, 80x25) at a cursor kept in RAM, so the
//! demo's screen shows what the debug port prints, in colour.

use crate::rom::label_here;
use iced_x86::code_asm::*;

/// Bochs' and QEMU's "port E9 hack": a byte written there is printed.
pub const DEBUG_CONSOLE_PORT: u32 = 0xe9;

/// Where the screen copy keeps its state, in conventional RAM below the
/// stack (addressed through SS, which the ROMs keep at 0): the cursor as a
/// byte offset into the text buffer, and the attribute; attribute 0 means
/// the copy to the screen is off.
pub const SCREEN_CURSOR: u32 = 0x0500;
pub const SCREEN_ATTR: u32 = 0x0502;
/// The colour text buffer's segment and size (80x25 cells of 2 bytes).
const TEXT_SEGMENT: u32 = 0xb800;
const TEXT_BYTES: u32 = 80 * 25 * 2;
const ROW_BYTES: u32 = 80 * 2;
/// Text attributes: yellow and light grey on black.
const VALUE_ATTR: u8 = 0x0e;
const LABEL_ATTR: u8 = 0x07;

/// Labels of the console routines; `emit` places them once in the ROM, and
/// each method emits a call to one of them.
pub struct Console {
    /// Copy output to the VGA text buffer too.
    screen: bool,
    put_char: CodeLabel,
    print_inline: CodeLabel,
    hex_digits: CodeLabel,
    hex8: CodeLabel,
    hex16: CodeLabel,
    hex32: CodeLabel,
    dec32: CodeLabel,
}

impl Console {
    /// A console on the debug port only.
    pub fn new(a: &mut CodeAssembler) -> Self {
        Self::build(a, false)
    }

    /// A console on the debug port that also writes to the VGA text
    /// screen (once `color` has set a non-zero attribute).
    pub fn with_screen(a: &mut CodeAssembler) -> Self {
        Self::build(a, true)
    }

    fn build(a: &mut CodeAssembler, screen: bool) -> Self {
        Console {
            screen,
            put_char: a.create_label(),
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

    /// Prints the character in AL.
    pub fn put_char(&self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        a.call(self.put_char)
    }

    /// Screen text from now on has attribute `attr` (0: screen copy off).
    pub fn color(&self, a: &mut CodeAssembler, attr: u8) -> Result<(), IcedError> {
        assert!(self.screen, "color() on a console without a screen");
        a.mov(byte_ptr(SCREEN_ATTR).ss(), u32::from(attr))
    }

    /// Numbers from now on stand out on the screen (yellow); no effect
    /// without a screen.
    pub fn value_style(&self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        self.style(a, VALUE_ATTR)
    }

    /// Back to plain text (light grey); no effect without a screen.
    pub fn label_style(&self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        self.style(a, LABEL_ATTR)
    }

    fn style(&self, a: &mut CodeAssembler, attr: u8) -> Result<(), IcedError> {
        if self.screen {
            self.color(a, attr)?;
        }
        Ok(())
    }

    /// Screen text from now on starts at `row`, `col` (0-based).
    pub fn locate(&self, a: &mut CodeAssembler, row: u32, col: u32) -> Result<(), IcedError> {
        assert!(self.screen && row < 25 && col < 80, "locate({row}, {col})");
        a.mov(word_ptr(SCREEN_CURSOR).ss(), (row * 80 + col) * 2)
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
        self.emit_put_char(a)?;
        self.emit_print_inline(a)?;
        self.emit_hex(a)?;
        self.emit_dec32(a)
    }

    /// AL to the debug port and, with a screen, to the text buffer: CR
    /// goes to the start of the row, LF one row down, anything else is
    /// stored with the current attribute. Text past the last row is
    /// dropped (the demo's screen is laid out to fit).
    fn emit_put_char(&mut self, a: &mut CodeAssembler) -> Result<(), IcedError> {
        a.set_label(&mut self.put_char)?;
        a.out(DEBUG_CONSOLE_PORT, al)?;
        if !self.screen {
            return a.ret();
        }
        let mut done = a.create_label();
        let mut store = a.create_label();
        let mut cr = a.create_label();
        let mut lf = a.create_label();
        a.cmp(byte_ptr(SCREEN_ATTR).ss(), 0)?;
        a.je(done)?;
        a.push(ax)?;
        a.push(bx)?;
        a.push(dx)?;
        a.push(di)?;
        a.push(es)?;
        a.mov(di, word_ptr(SCREEN_CURSOR).ss())?;
        a.cmp(al, i32::from(b'\r'))?;
        a.je(cr)?;
        a.cmp(al, i32::from(b'\n'))?;
        a.je(lf)?;
        a.cmp(di, TEXT_BYTES)?;
        a.jae(store)?;
        a.mov(bx, TEXT_SEGMENT)?;
        a.mov(es, bx)?;
        a.mov(ah, byte_ptr(SCREEN_ATTR).ss())?;
        a.mov(word_ptr(di).es(), ax)?;
        a.add(di, 2)?;
        a.jmp(store)?;
        a.set_label(&mut cr)?;
        a.mov(ax, di)?;
        a.xor(dx, dx)?;
        a.mov(bx, ROW_BYTES)?;
        a.div(bx)?;
        a.sub(di, dx)?;
        a.jmp(store)?;
        a.set_label(&mut lf)?;
        a.add(di, ROW_BYTES)?;
        a.set_label(&mut store)?;
        a.mov(word_ptr(SCREEN_CURSOR).ss(), di)?;
        a.pop(es)?;
        a.pop(di)?;
        a.pop(dx)?;
        a.pop(bx)?;
        a.pop(ax)?;
        a.set_label(&mut done)?;
        a.ret()
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
        a.call(self.put_char)?;
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
        a.call(self.put_char)?;
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
        a.call(self.put_char)?;
        a.loop_(print)?;
        a.pop(edx)?;
        a.pop(cx)?;
        a.pop(ebx)?;
        a.pop(eax)?;
        a.ret()
    }
}

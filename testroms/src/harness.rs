//! The frame every test ROM shares: set up the machine, run checks that
//! print what failed, and report the verdict through the debug-exit port.
//!
//! A failed check prints `FAIL <rom>: <what>: got 0x.., want 0x..` and the
//! ROM carries on, so one run reports every broken check; at the end it
//! writes `EXIT_PASS` or `EXIT_FAIL` to port 0xF4.

use iced_x86::code_asm::*;
use xlat_bios::console::Console;
use xlat_bios::rom;

/// QEMU's isa-debug-exit port.
pub const DEBUG_EXIT_PORT: u32 = 0xf4;
/// Value written on success; the emulator exits with (v << 1) | 1 = 33.
pub const EXIT_PASS: u8 = 0x10;
/// Value written on failure; exit status 35.
pub const EXIT_FAIL: u8 = 0x11;
/// Text every failure message starts with.
pub const FAIL_MARK: &str = "FAIL";

/// Word at 0000:0500 (just above the BIOS data area) counting failed
/// checks. Reached through SS, which every ROM keeps at 0, so tests may
/// point DS and ES anywhere.
pub const FAIL_COUNT: u32 = 0x0500;
/// Exceptions below this vector get a handler that reports them as
/// unexpected, unless a ROM installs its own.
const GUARDED_VECTORS: u8 = 32;

/// What a check compares: a register or a memory operand, and its width.
#[derive(Clone, Copy)]
pub enum Operand {
    R8(AsmRegister8),
    R16(AsmRegister16),
    R32(AsmRegister32),
    M8(AsmMemoryOperand),
    M16(AsmMemoryOperand),
    M32(AsmMemoryOperand),
}

impl From<AsmRegister8> for Operand {
    fn from(r: AsmRegister8) -> Self {
        Operand::R8(r)
    }
}
impl From<AsmRegister16> for Operand {
    fn from(r: AsmRegister16) -> Self {
        Operand::R16(r)
    }
}
impl From<AsmRegister32> for Operand {
    fn from(r: AsmRegister32) -> Self {
        Operand::R32(r)
    }
}

/// A byte in memory, e.g. `m8(ptr(0x1000).ss())`.
pub fn m8(mem: AsmMemoryOperand) -> Operand {
    Operand::M8(byte_ptr(mem))
}
/// A word in memory.
pub fn m16(mem: AsmMemoryOperand) -> Operand {
    Operand::M16(word_ptr(mem))
}
/// A doubleword in memory.
pub fn m32(mem: AsmMemoryOperand) -> Operand {
    Operand::M32(dword_ptr(mem))
}

pub struct Harness {
    pub a: CodeAssembler,
    pub con: Console,
    name: &'static str,
    checks: u32,
}

impl Harness {
    /// Starts a ROM: stack at 0000:7C00, DS = ES = 0, failure count zero,
    /// every exception vector guarded, and a line saying what runs.
    pub fn new(name: &'static str) -> Result<Self, IcedError> {
        let mut a = rom::assembler()?;
        let con = Console::new(&mut a);
        rom::prologue(&mut a)?;
        a.mov(word_ptr(FAIL_COUNT).ss(), 0)?;
        let mut h = Harness {
            a,
            con,
            name,
            checks: 0,
        };
        h.guard_exceptions()?;
        h.print(&format!("{name}: start\r\n"))?;
        Ok(h)
    }

    pub fn print(&mut self, text: &str) -> Result<(), IcedError> {
        self.con.print(&mut self.a, text)
    }

    /// Fails unless `op` equals `expected` (truncated to its width).
    /// Preserves every register; clobbers the arithmetic flags.
    pub fn check(
        &mut self,
        op: impl Into<Operand>,
        expected: u32,
        what: &str,
    ) -> Result<(), IcedError> {
        let op = op.into();
        self.checks += 1;
        let a = &mut self.a;
        let (width, imm) = match op {
            Operand::R8(_) | Operand::M8(_) => (8, i32::from(expected as u8 as i8)),
            Operand::R16(_) | Operand::M16(_) => (16, i32::from(expected as u16 as i16)),
            Operand::R32(_) | Operand::M32(_) => (32, expected as i32),
        };
        match op {
            Operand::R8(r) => a.cmp(r, imm)?,
            Operand::R16(r) => a.cmp(r, imm)?,
            Operand::R32(r) => a.cmp(r, imm)?,
            Operand::M8(m) | Operand::M16(m) | Operand::M32(m) => a.cmp(m, imm)?,
        }
        let mut ok = a.create_label();
        a.je(ok)?;
        self.fail_message(what)?;
        let a = &mut self.a;
        a.push(eax)?;
        match op {
            Operand::R8(r) => a.movzx(eax, r)?,
            Operand::R16(r) => a.movzx(eax, r)?,
            Operand::R32(r) => a.mov(eax, r)?,
            Operand::M8(m) | Operand::M16(m) => a.movzx(eax, m)?,
            Operand::M32(m) => a.mov(eax, m)?,
        }
        self.print_got_want(width, expected)?;
        self.a.pop(eax)?;
        self.a.set_label(&mut ok)?;
        self.a.nop()
    }

    /// Fails unless FLAGS & `mask` == `expected`. Preserves every register
    /// and FLAGS itself, so it can come first among the checks after an
    /// instruction.
    pub fn check_flags(&mut self, mask: u16, expected: u16, what: &str) -> Result<(), IcedError> {
        self.checks += 1;
        let a = &mut self.a;
        a.pushf()?;
        a.push(ax)?;
        a.push(bp)?;
        a.mov(bp, sp)?;
        a.mov(ax, word_ptr(bp + 4))?;
        a.and(ax, u32::from(mask))?;
        a.cmp(ax, u32::from(expected))?;
        a.pop(bp)?;
        a.pop(ax)?;
        let mut ok = a.create_label();
        a.je(ok)?;
        self.fail_message(what)?;
        let a = &mut self.a;
        a.push(bp)?;
        a.mov(bp, sp)?;
        a.push(eax)?;
        a.movzx(eax, word_ptr(bp + 2))?;
        a.and(eax, u32::from(mask))?;
        self.print_got_want(16, u32::from(expected))?;
        self.a.pop(eax)?;
        self.a.pop(bp)?;
        self.a.set_label(&mut ok)?;
        self.a.popf()
    }

    /// Counts a failure and prints `what` unconditionally: for paths that
    /// should never run (a jump that must not be taken, say).
    pub fn fail(&mut self, what: &str) -> Result<(), IcedError> {
        self.checks += 1;
        self.fail_message(what)?;
        self.print("\r\n")
    }

    /// Counts a check that `fail` may report on another path.
    pub fn count_check(&mut self) {
        self.checks += 1;
    }

    /// Ends the ROM: the verdict on the console and to the exit port.
    pub fn finish(self) -> Result<Vec<u8>, IcedError> {
        self.finish_with(&[])
    }

    /// Like `finish`, and places each `(offset, bytes)` blob (code assembled
    /// separately at a fixed address, or tables) into the image. The main
    /// code must end below the lowest blob, and blobs must not overlap.
    pub fn finish_with(mut self, blobs: &[(usize, Vec<u8>)]) -> Result<Vec<u8>, IcedError> {
        let name = self.name;
        let checks = self.checks;
        let mut failed = self.a.create_label();
        self.a.cmp(word_ptr(FAIL_COUNT).ss(), 0)?;
        self.a.jne(failed)?;
        self.print(&format!("{name}: all {checks} checks passed\r\n"))?;
        exit_with(&mut self.a, EXIT_PASS)?;
        self.a.set_label(&mut failed)?;
        self.print(&format!("{name}: {FAIL_MARK}ED checks: "))?;
        self.a.movzx(eax, word_ptr(FAIL_COUNT).ss())?;
        self.con.dec32(&mut self.a)?;
        self.print(&format!(" of {checks}\r\n"))?;
        exit_with(&mut self.a, EXIT_FAIL)?;
        self.con.emit(&mut self.a)?;
        let mut image = rom::link(self.a)?;
        let mut used: Vec<(usize, usize)> = Vec::new();
        for (offset, bytes) in blobs {
            let end = offset + bytes.len();
            assert!(
                end <= rom::RESET_VECTOR,
                "{name}: blob at {offset:#x} overlaps the reset vector"
            );
            assert!(
                image[*offset..end].iter().all(|&b| b == 0xf4),
                "{name}: blob at {offset:#x} overlaps the main code"
            );
            assert!(
                used.iter().all(|&(s, e)| end <= s || *offset >= e),
                "{name}: blobs overlap at {offset:#x}"
            );
            used.push((*offset, end));
            image[*offset..end].copy_from_slice(bytes);
        }
        Ok(image)
    }

    /// Prints "FAIL <rom>: <what>" and counts the failure.
    fn fail_message(&mut self, what: &str) -> Result<(), IcedError> {
        let name = self.name;
        self.print(&format!("{FAIL_MARK} {name}: {what}"))?;
        self.a.inc(word_ptr(FAIL_COUNT).ss())
    }

    /// With the actual value in EAX, prints ": got 0x.., want 0x..".
    fn print_got_want(&mut self, width: u32, expected: u32) -> Result<(), IcedError> {
        self.print(": got 0x")?;
        match width {
            8 => self.con.hex8(&mut self.a)?,
            16 => self.con.hex16(&mut self.a)?,
            _ => self.con.hex32(&mut self.a)?,
        }
        let want = match width {
            8 => format!("{:02X}", expected as u8),
            16 => format!("{:04X}", expected as u16),
            _ => format!("{expected:08X}"),
        };
        self.print(&format!(", want 0x{want}\r\n"))
    }

    /// Points vectors 0..32 at stubs that report an unexpected exception
    /// with its vector and the CS:IP it pushed, then fail the ROM. Without
    /// this a stray fault would run whatever the zeroed IVT points at.
    fn guard_exceptions(&mut self) -> Result<(), IcedError> {
        let mut report = self.a.create_label();
        for vector in 0..GUARDED_VECTORS {
            rom::install_handler(&mut self.a, vector, |a| {
                a.push(u32::from(vector))?;
                a.jmp(report)
            })?;
        }
        let mut past = self.a.create_label();
        self.a.jmp(past)?;
        // Stack: vector, IP, CS, FLAGS.
        self.a.set_label(&mut report)?;
        self.a.mov(bp, sp)?;
        let name = self.name;
        self.print(&format!(
            "{FAIL_MARK} {name}: unexpected exception, vector 0x"
        ))?;
        self.a.mov(ax, word_ptr(bp))?;
        self.con.hex8(&mut self.a)?;
        self.print(" at ")?;
        self.a.mov(ax, word_ptr(bp + 4))?;
        self.con.hex16(&mut self.a)?;
        self.print(":")?;
        self.a.mov(ax, word_ptr(bp + 2))?;
        self.con.hex16(&mut self.a)?;
        self.print("\r\n")?;
        exit_with(&mut self.a, EXIT_FAIL)?;
        self.a.set_label(&mut past)?;
        self.a.nop()
    }
}

/// Writes `value` to the debug-exit port, then stops for good in case the
/// port is not there.
pub fn exit_with(a: &mut CodeAssembler, value: u8) -> Result<(), IcedError> {
    a.mov(al, u32::from(value))?;
    a.out(DEBUG_EXIT_PORT, al)?;
    a.cli()?;
    let stop = rom::label_here(a)?;
    a.hlt()?;
    a.jmp(stop)
}

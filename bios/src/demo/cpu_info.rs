//! What the CPU says about itself: CR0 (the operating mode) and CPUID.

use crate::console::{Console, DEBUG_CONSOLE_PORT};
use iced_x86::code_asm::*;

/// Prints CR0 and whether protection is enabled. Reading CR0 with MOV is
/// allowed in real mode (CPL is 0 there); SMSW gives its low 16 bits too.
pub fn print_mode(a: &mut CodeAssembler, con: &Console) -> Result<(), IcedError> {
    con.print(a, "CR0 = 0x")?;
    a.mov(eax, cr0)?;
    con.hex32(a)?;
    con.print(a, ", MSW (SMSW) = 0x")?;
    a.smsw(ax)?;
    con.hex16(a)?;
    let mut protected = a.create_label();
    let mut done = a.create_label();
    a.test(al, 1)?; // CR0.PE
    a.jnz(protected)?;
    con.print(a, " -> PE=0: running in real mode\r\n")?;
    a.jmp(done)?;
    a.set_label(&mut protected)?;
    con.print(a, " -> PE=1: protected mode\r\n")?;
    a.set_label(&mut done)?;
    a.nop()
}

/// Prints the vendor string (leaf 0: EBX, EDX, ECX hold 12 ASCII bytes) and
/// the processor signature (leaf 1 EAX: family, model, stepping).
pub fn print_cpuid(a: &mut CodeAssembler, con: &Console) -> Result<(), IcedError> {
    con.print(a, "CPUID vendor: ")?;
    a.xor(eax, eax)?;
    a.cpuid()?;
    a.push(eax)?;
    for reg in [ebx, edx, ecx] {
        print_ascii4(a, reg)?;
    }
    con.print(a, ", max leaf ")?;
    a.pop(eax)?;
    con.dec32(a)?;
    con.print(a, ", signature 0x")?;
    a.mov(eax, 1u32)?;
    a.cpuid()?;
    con.hex32(a)?;
    con.print(a, "\r\n")
}

/// Prints the four bytes of `reg`, lowest first (the order CPUID packs
/// the vendor string in). Clobbers only EAX: unrolled, because a counter
/// register would overwrite ECX, which still holds the last four bytes.
fn print_ascii4(a: &mut CodeAssembler, reg: AsmRegister32) -> Result<(), IcedError> {
    a.mov(eax, reg)?;
    for _ in 0..4 {
        a.out(DEBUG_CONSOLE_PORT, al)?;
        a.shr(eax, 8)?;
    }
    Ok(())
}

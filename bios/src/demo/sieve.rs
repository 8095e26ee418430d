//! A sieve of Eratosthenes over 64 KiB of RAM: a compute loop that exercises
//! REP STOSW, 32-bit registers (0x66) and 32-bit addressing (0x67) in real
//! mode, then prints how many primes it found and their sum.

use super::SIEVE_LIMIT;
use crate::console::Console;
use crate::rom::label_here;
use iced_x86::code_asm::*;

/// The sieve: one byte per number at 1000:0000 (physical 0x10000), 0 for
/// "maybe prime", 1 for composite.
const SIEVE_SEGMENT: u32 = 0x1000;

pub fn run(a: &mut CodeAssembler, con: &Console) -> Result<(), IcedError> {
    con.print(a, "sieve of Eratosthenes below ")?;
    a.mov(eax, SIEVE_LIMIT)?;
    con.dec32(a)?;
    con.print(a, ": ")?;

    // Clear the whole segment: 0x8000 words.
    a.mov(ax, SIEVE_SEGMENT)?;
    a.mov(es, ax)?;
    a.xor(di, di)?;
    a.xor(ax, ax)?;
    a.mov(cx, 0x8000u32)?;
    a.rep().stosw()?;

    // for i = 2 while i*i < LIMIT: if i is unmarked, mark i*i, i*i+i, ...
    // ESI = i, EBX = multiple. 32-bit so that crossing 65536 is visible.
    let mut counting = a.create_label();
    let mut next_i = a.create_label();
    a.mov(esi, 2u32)?;
    let outer = label_here(a)?;
    a.mov(ebx, esi)?;
    a.imul_2(ebx, esi)?;
    a.cmp(ebx, SIEVE_LIMIT)?;
    a.jae(counting)?;
    a.cmp(byte_ptr(esi).es(), 0)?;
    a.jne(next_i)?;
    let mark = label_here(a)?;
    a.mov(byte_ptr(ebx).es(), 1u32)?;
    a.add(ebx, esi)?;
    a.cmp(ebx, SIEVE_LIMIT)?;
    a.jb(mark)?;
    a.set_label(&mut next_i)?;
    a.inc(esi)?;
    a.jmp(outer)?;

    // Count the unmarked numbers from 2 up (ECX) and add them up (EDX).
    a.set_label(&mut counting)?;
    a.xor(ecx, ecx)?;
    a.xor(edx, edx)?;
    a.mov(esi, 2u32)?;
    let scan = label_here(a)?;
    let mut composite = a.create_label();
    a.cmp(byte_ptr(esi).es(), 0)?;
    a.jne(composite)?;
    a.inc(ecx)?;
    a.add(edx, esi)?;
    a.set_label(&mut composite)?;
    a.inc(esi)?;
    a.cmp(esi, SIEVE_LIMIT)?;
    a.jb(scan)?;

    a.mov(eax, ecx)?;
    con.value_style(a)?;
    con.dec32(a)?;
    con.label_style(a)?;
    con.print(a, " primes, sum ")?;
    a.mov(eax, edx)?;
    con.value_style(a)?;
    con.dec32(a)?;
    con.label_style(a)?;
    con.print(a, " (0x")?;
    con.hex32(a)?;
    con.print(a, ")\r\n")?;

    // Leave ES as the prologue set it.
    a.xor(ax, ax)?;
    a.mov(es, ax)
}

//! Catching exceptions in real mode with the records of `sys` (REC_VEC,
//! REC_EIP, RESUME, ...), so that `sys::expect_fault` and `check_record`
//! work the same in real and protected mode: a handler per vector, through
//! the IVT, that records the vector and the IP the CPU pushed and resumes
//! at `RESUME`, or fails the ROM when nothing was armed.

use crate::harness::{exit_with, Harness, EXIT_FAIL, FAIL_MARK};
use crate::sys::{REC_COUNT, REC_CS, REC_EIP, REC_ERR, REC_VEC, RESUME};
use iced_x86::code_asm::*;
use xlat_bios::rom::install_handler;

/// Points each of `vectors` at a recorder. Clobbers AX.
pub fn install_recorders(h: &mut Harness, name: &str, vectors: &[u8]) -> Result<(), IcedError> {
    let mut common = h.a.create_label();
    for &v in vectors {
        install_handler(&mut h.a, v, |a| {
            a.push(u32::from(v))?;
            a.jmp(common)
        })?;
    }
    let mut past = h.a.create_label();
    let a = &mut h.a;
    a.jmp(past)?;
    // [bp] BP, +2 vector, +4 IP, +6 CS, +8 FLAGS.
    a.set_label(&mut common)?;
    a.push(bp)?;
    a.mov(bp, sp)?;
    a.push(eax)?;
    a.movzx(eax, word_ptr(bp + 2))?;
    a.mov(dword_ptr(REC_VEC).ss(), eax)?;
    a.movzx(eax, word_ptr(bp + 4))?;
    a.mov(dword_ptr(REC_EIP).ss(), eax)?;
    a.movzx(eax, word_ptr(bp + 6))?;
    a.mov(dword_ptr(REC_CS).ss(), eax)?;
    a.mov(dword_ptr(REC_ERR).ss(), 0u32)?;
    a.inc(dword_ptr(REC_COUNT).ss())?;
    let mut unexpected = a.create_label();
    a.mov(eax, dword_ptr(RESUME).ss())?;
    a.test(eax, eax)?;
    a.jz(unexpected)?;
    a.mov(word_ptr(bp + 4), ax)?;
    a.mov(dword_ptr(RESUME).ss(), 0u32)?;
    a.pop(eax)?;
    a.pop(bp)?;
    a.add(sp, 2)?;
    a.iret()?;
    a.set_label(&mut unexpected)?;
    h.con.print(
        &mut h.a,
        &format!("{FAIL_MARK} {name}: unexpected exception, vector 0x"),
    )?;
    h.a.mov(eax, dword_ptr(REC_VEC).ss())?;
    h.con.hex8(&mut h.a)?;
    h.con.print(&mut h.a, " at IP 0x")?;
    h.a.mov(eax, dword_ptr(REC_EIP).ss())?;
    h.con.hex16(&mut h.a)?;
    h.con.print(&mut h.a, "\r\n")?;
    exit_with(&mut h.a, EXIT_FAIL)?;
    h.a.set_label(&mut past)?;
    h.a.nop()
}

/// Real mode: nothing recorded yet (what `sys::enter_pm` also does).
pub fn clear_records(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(dword_ptr(REC_VEC).ss(), 0xffff_ffffu32)?;
    a.mov(dword_ptr(RESUME).ss(), 0u32)
}

//! CRC-32 (the reflected IEEE polynomial of Ethernet and zlib), bit by bit,
//! over the standard check string: 32-bit shifts, XOR and carry tests.

use crate::console::Console;
use crate::rom::{data_address, label_here};
use iced_x86::code_asm::*;

/// The reflected form of polynomial 0x04C11DB7.
const POLY: u32 = 0xedb8_8320;
const INPUT: &[u8] = b"123456789";

pub fn run(a: &mut CodeAssembler, con: &Console) -> Result<(), IcedError> {
    data_address(a, si, INPUT)?;
    a.mov(cx, INPUT.len() as u32)?;
    a.mov(eax, 0xffff_ffffu32)?;
    let byte = label_here(a)?;
    a.movzx(edx, byte_ptr(si).cs())?;
    a.xor(eax, edx)?;
    a.mov(di, 8u32)?;
    // Shift one bit out; if it was set, fold the polynomial back in.
    let bit = label_here(a)?;
    let mut no_fold = a.create_label();
    a.shr(eax, 1)?;
    a.jnc(no_fold)?;
    a.xor(eax, POLY)?;
    a.set_label(&mut no_fold)?;
    a.dec(di)?;
    a.jnz(bit)?;
    a.inc(si)?;
    a.loop_(byte)?;
    a.not(eax)?;

    con.print(a, "CRC-32(\"123456789\") = 0x")?;
    con.value_style(a)?;
    con.hex32(a)?;
    con.label_style(a)?;
    con.print(a, "\r\n")
}

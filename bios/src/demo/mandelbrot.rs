//! The Mandelbrot set in VGA mode 13h, computed by the guest in 16.16
//! fixed point with 32-bit IMUL/SHRD, one byte per pixel at A000:0000.
//!
//! A pixel's colour is the number of iterations before |z|^2 exceeds 4
//! (1..MAX_ITER-1), or MAX_ITER inside the set; the guest programs the DAC
//! so that 1..63 run from dusky blue through orange and yellow to white,
//! and 64 and up are black.
//! Exact integer arithmetic, so a test can recompute every pixel.

use crate::console::Console;
use crate::rom::label_here;
use iced_x86::code_asm::*;

pub const WIDTH: u32 = 320;
pub const HEIGHT: u32 = 200;
pub const MAX_ITER: u32 = 64;
/// The top-left pixel's c, and the steps between pixels (16.16). Rows step
/// 1.2 times as far as columns: mode 13h's pixels are 1.2 times as tall as
/// wide on a 4:3 screen.
pub const X0: i32 = -0x2_6000; // -2.375
pub const Y0: i32 = -(HEIGHT as i32 * DY) / 2; // centred on the real axis
pub const DX: i32 = 0x2c0; // 3.4375 / 320
pub const DY: i32 = 0x34d; // 1.2 * DX

/// Loop state in conventional RAM (through SS = 0): this pixel's c, and
/// the pixels and rows left.
const C_RE: u32 = 0x0510;
const C_IM: u32 = 0x0514;
const COLUMNS_LEFT: u32 = 0x0518;
const ROWS_LEFT: u32 = 0x051a;
/// |z|^2 limit: 4.0.
const ESCAPE: u32 = 4 << 16;

/// Programs the DAC with a dusk-to-fire ramp over entries 1..63 and black
/// from 64 on: red min(63, 8 + 4i), green min(63, 2i), blue 40 - 2i below
/// 20 and i*i/64 from there (back up to white at 63).
pub fn load_palette(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(dx, 0x3c8u32)?;
    a.xor(al, al)?;
    a.out(dx, al)?;
    a.inc(dx)?;
    a.xor(bx, bx)?;
    let entry = label_here(a)?;
    let mut black = a.create_label();
    let mut next = a.create_label();
    a.cmp(bx, MAX_ITER)?;
    a.jae(black)?;
    // Red and green: BL scaled, saturated at 63.
    for (scale, add) in [(4u32, 8u32), (2, 0)] {
        let mut ok = a.create_label();
        a.mov(al, bl)?;
        a.mov(cl, scale)?;
        a.mul(cl)?;
        a.add(ax, add)?;
        a.cmp(ax, 63)?;
        a.jbe(ok)?;
        a.mov(al, 63)?;
        a.set_label(&mut ok)?;
        a.out(dx, al)?;
    }
    let mut rising = a.create_label();
    let mut blue = a.create_label();
    a.cmp(bl, 20)?;
    a.jae(rising)?;
    a.mov(al, 40)?;
    a.sub(al, bl)?;
    a.sub(al, bl)?;
    a.jmp(blue)?;
    a.set_label(&mut rising)?;
    a.mov(al, bl)?;
    a.mul(bl)?;
    a.shr(ax, 6)?;
    a.set_label(&mut blue)?;
    a.out(dx, al)?;
    a.jmp(next)?;
    a.set_label(&mut black)?;
    a.xor(al, al)?;
    a.out(dx, al)?;
    a.out(dx, al)?;
    a.out(dx, al)?;
    a.set_label(&mut next)?;
    a.inc(bx)?;
    a.cmp(bx, 256)?;
    a.jb(entry)?;
    Ok(())
}

/// Draws the picture. Clobbers every general register but SP, and ES.
pub fn draw(a: &mut CodeAssembler, con: &Console) -> Result<(), IcedError> {
    a.mov(ax, 0xa000u32)?;
    a.mov(es, ax)?;
    a.xor(di, di)?;
    a.mov(dword_ptr(C_IM).ss(), Y0 as u32)?;
    a.mov(word_ptr(ROWS_LEFT).ss(), HEIGHT)?;
    let row = label_here(a)?;
    a.mov(dword_ptr(C_RE).ss(), X0 as u32)?;
    a.mov(word_ptr(COLUMNS_LEFT).ss(), WIDTH)?;
    let pixel = label_here(a)?;
    // EBX = zx, ECX = zy, BP = iterations, ESI = zx^2, EAX = zy^2.
    a.xor(ebx, ebx)?;
    a.xor(ecx, ecx)?;
    a.xor(bp, bp)?;
    let iterate = label_here(a)?;
    let mut done = a.create_label();
    a.mov(eax, ebx)?;
    a.imul(eax)?;
    a.shrd(eax, edx, 16)?;
    a.mov(esi, eax)?;
    a.mov(eax, ecx)?;
    a.imul(eax)?;
    a.shrd(eax, edx, 16)?;
    a.mov(edx, esi)?;
    a.add(edx, eax)?;
    a.cmp(edx, ESCAPE)?;
    a.jg(done)?;
    a.inc(bp)?;
    a.cmp(bp, MAX_ITER)?;
    a.je(done)?;
    a.sub(esi, eax)?; // zx^2 - zy^2
                      // zy = 2 zx zy + c_im: the 32.32 product shifted by 15, not 16.
    a.mov(eax, ebx)?;
    a.imul(ecx)?;
    a.shrd(eax, edx, 15)?;
    a.add(eax, dword_ptr(C_IM).ss())?;
    a.mov(ecx, eax)?;
    a.add(esi, dword_ptr(C_RE).ss())?;
    a.mov(ebx, esi)?;
    a.jmp(iterate)?;
    a.set_label(&mut done)?;
    a.mov(ax, bp)?;
    a.stosb()?;
    a.add(dword_ptr(C_RE).ss(), DX)?;
    a.dec(word_ptr(COLUMNS_LEFT).ss())?;
    a.jnz(pixel)?;
    a.add(dword_ptr(C_IM).ss(), DY)?;
    a.dec(word_ptr(ROWS_LEFT).ss())?;
    a.jnz(row)?;
    a.xor(ax, ax)?;
    a.mov(es, ax)?;
    con.print(
        a,
        "VGA mode 13h: Mandelbrot set, 320x200, 16.16 fixed point, 64 iterations\r\n",
    )
}

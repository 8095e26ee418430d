//! The built-in demo: a small firmware that shows what xlat runs so far.
//!
//! It stays in real mode and needs no VGA BIOS: it sets VGA mode 03h from
//! the register tables, loads its own font, and prints its results both
//! over the debug console (port 0xE9, which tests read) and on a text
//! screen in colour. After a pause it switches to mode 13h, draws a
//! Mandelbrot set, and ends with `cli; hlt`, which xlat treats as a clean
//! exit because nothing can wake the CPU.
//!
//! Conventional RAM it uses: 0x500-0x51F (screen cursor, timer ticks,
//! Mandelbrot loop state), the stack below 0x7C00, the sieve at 0x10000.

mod cpu_info;
mod crc32;
pub mod mandelbrot;
mod pause;
mod sieve;

use crate::console::Console;
use crate::font::{self, font_8x16};
use crate::rom;
use crate::vga::modes::{ega_dac, MODE_03H, MODE_13H};
use crate::vga::VgaRoutines;
use iced_x86::code_asm::*;

/// Numbers the demo computes; tests compare the printed text with them.
pub const SIEVE_LIMIT: u32 = 65536;
pub const SIEVE_PRIMES: u32 = 6542;
pub const SIEVE_SUM: u32 = 202_288_087;
/// CRC-32 (IEEE 802.3, reflected) of the standard check input "123456789".
pub const CRC32_CHECK: u32 = 0xcbf4_3926;

/// The first line, on the console and in the title frame.
pub const TITLE: &str = "xlat built-in demo";
const SUBTITLE: &str = "firmware assembled from Rust with iced-x86 code_asm; output via port 0xE9";
/// Printed once the text screen is complete, before the pause.
pub const TEXT_SCREEN_DONE: &str = "VGA: text mode 03h set by the firmware itself";
/// How long the text screen stays up.
pub const TEXT_SCREEN_SECONDS: u32 = 3;

/// Text attributes (background << 4 | foreground).
const FRAME: u8 = 0x1b; // light cyan on blue
const TITLE_ATTR: u8 = 0x1f; // white on blue
const SUBTITLE_ATTR: u8 = 0x17; // light grey on blue
const LABEL: u8 = 0x07;
const NEWS: u8 = 0x0a; // light green
const STATUS_BAR: u8 = 0x70; // black on light grey

pub fn build() -> Result<Vec<u8>, IcedError> {
    let mut a = rom::assembler()?;
    let con = Console::with_screen(&mut a);
    let vga = VgaRoutines::new(&mut a);

    rom::prologue(&mut a)?;
    text_screen(&mut a, &vga)?;
    con.color(&mut a, TITLE_ATTR)?;
    con.locate(&mut a, 1, (80 - TITLE.len() as u32) / 2)?;
    con.print(&mut a, &format!("{TITLE}\r\n"))?;
    con.color(&mut a, SUBTITLE_ATTR)?;
    con.locate(&mut a, 2, (80 - SUBTITLE.len() as u32) / 2)?;
    con.print(&mut a, &format!("{SUBTITLE}\r\n"))?;

    con.color(&mut a, LABEL)?;
    con.locate(&mut a, 5, 1)?;
    cpu_info::print_mode(&mut a, &con)?;
    con.locate(&mut a, 7, 1)?;
    cpu_info::print_cpuid(&mut a, &con)?;
    con.locate(&mut a, 8, 1)?;
    cpu_info::print_features(&mut a, &con, false)?;
    con.locate(&mut a, 9, 1)?;
    cpu_info::print_features(&mut a, &con, true)?;
    con.locate(&mut a, 11, 1)?;
    sieve::run(&mut a, &con)?;
    con.locate(&mut a, 13, 1)?;
    crc32::run(&mut a, &con)?;

    con.color(&mut a, NEWS)?;
    con.locate(&mut a, 19, 1)?;
    con.print(
        &mut a,
        &format!("{TEXT_SCREEN_DONE}, with a font drawn in Rust;\r\n"),
    )?;
    con.locate(&mut a, 20, 1)?;
    con.print(
        &mut a,
        &format!("a Mandelbrot set in mode 13h follows in {TEXT_SCREEN_SECONDS} s\r\n"),
    )?;
    // Off the screen copy: the console goes on alone.
    con.color(&mut a, 0)?;
    pause::wait(
        &mut a,
        (TEXT_SCREEN_SECONDS * pause::TICKS_PER_SECOND) as u16,
    )?;

    vga.set_mode(&mut a, &MODE_13H)?;
    mandelbrot::load_palette(&mut a)?;
    mandelbrot::draw(&mut a, &con)?;

    con.print(&mut a, "demo finished: cli; hlt\r\n")?;
    // With interrupts off and no NMI source, HLT stops the machine for good.
    a.cli()?;
    let stop = rom::label_here(&mut a)?;
    a.hlt()?;
    a.jmp(stop)?;

    con.emit(&mut a)?;
    vga.emit(&mut a)?;
    rom::link(a)
}

/// Mode 03h with the demo's font and the EGA colours, the screen cleared,
/// the title frame and the status bar drawn.
fn text_screen(a: &mut CodeAssembler, vga: &VgaRoutines) -> Result<(), IcedError> {
    vga.set_mode(a, &MODE_03H)?;
    vga.load_font(a, &font_8x16())?;
    vga.load_dac(a, 0, &ega_dac())?;
    // No cursor: the demo takes no input (CRTC cursor start, bit 5).
    a.mov(dx, 0x3d4u32)?;
    a.mov(ax, 0x200au32)?;
    a.out(dx, ax)?;
    vga.fill(a, 0, 0, 80 * 25, b' ', LABEL)?;
    vga.fill(a, 0, 0, 1, font::BOX_TOP_LEFT, FRAME)?;
    vga.fill(a, 0, 1, 78, font::BOX_HORIZONTAL, FRAME)?;
    vga.fill(a, 0, 79, 1, font::BOX_TOP_RIGHT, FRAME)?;
    for row in 1..=2 {
        vga.fill(a, row, 0, 1, font::BOX_VERTICAL, FRAME)?;
        vga.fill(a, row, 1, 78, b' ', TITLE_ATTR)?;
        vga.fill(a, row, 79, 1, font::BOX_VERTICAL, FRAME)?;
    }
    vga.fill(a, 3, 0, 1, font::BOX_BOTTOM_LEFT, FRAME)?;
    vga.fill(a, 3, 1, 78, font::BOX_HORIZONTAL, FRAME)?;
    vga.fill(a, 3, 79, 1, font::BOX_BOTTOM_RIGHT, FRAME)?;
    // The sixteen text colours.
    for color in 0..16u8 {
        vga.fill(a, 16, 1 + 3 * u32::from(color), 3, font::FULL_BLOCK, color)?;
    }
    vga.fill(a, 24, 0, 80, b' ', STATUS_BAR)?;
    // The status bar's text goes straight into the buffer: it is not
    // console output.
    let status = b" xlat: an x86 PC in pure-software Rust. No VGA BIOS was harmed.";
    let cells: Vec<u8> = status.iter().flat_map(|&c| [c, STATUS_BAR]).collect();
    rom::data_address(a, si, &cells)?;
    a.push(ds)?;
    a.push(es)?;
    a.push(cs)?;
    a.pop(ds)?;
    a.mov(ax, 0xb800u32)?;
    a.mov(es, ax)?;
    a.mov(di, 24 * 160u32)?;
    a.mov(cx, cells.len() as u32)?;
    a.rep().movsb()?;
    a.pop(es)?;
    a.pop(ds)
}

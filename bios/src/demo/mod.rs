//! The built-in demo: a small firmware that shows what xlat runs so far.
//!
//! It stays in real mode (protected-mode segment loads are not emulated yet),
//! prints over the debug console, and ends with `cli; hlt`, which xlat treats
//! as a clean exit because nothing can wake the CPU.

mod cpu_info;
mod crc32;
mod sieve;

use crate::console::Console;
use crate::rom;
use iced_x86::code_asm::*;

/// Numbers the demo computes; tests compare the printed text with them.
pub const SIEVE_LIMIT: u32 = 65536;
pub const SIEVE_PRIMES: u32 = 6542;
pub const SIEVE_SUM: u32 = 202_288_087;
/// CRC-32 (IEEE 802.3, reflected) of the standard check input "123456789".
pub const CRC32_CHECK: u32 = 0xcbf4_3926;

pub fn build() -> Result<Vec<u8>, IcedError> {
    let mut a = rom::assembler()?;
    let con = Console::new(&mut a);

    rom::prologue(&mut a)?;
    con.print(&mut a, "xlat built-in demo\r\n")?;
    con.print(
        &mut a,
        "firmware assembled from Rust with iced-x86 code_asm; output via port 0xE9\r\n",
    )?;
    cpu_info::print_mode(&mut a, &con)?;
    cpu_info::print_cpuid(&mut a, &con)?;
    sieve::run(&mut a, &con)?;
    crc32::run(&mut a, &con)?;
    con.print(&mut a, "demo finished: cli; hlt\r\n")?;
    // With interrupts off and no NMI source, HLT stops the machine for good.
    a.cli()?;
    let stop = rom::label_here(&mut a)?;
    a.hlt()?;
    a.jmp(stop)?;

    con.emit(&mut a)?;
    rom::link(a)
}

//! xlat's built-in firmware, assembled with iced-x86's code_asm.
//!
//! `rom` lays out a 64 KiB real-mode image and `console` prints over the
//! debug port; the test ROMs (crate `xlat-testroms`) build on both. `vga`
//! and `font` let the demo show itself without a VGA BIOS.

pub mod console;
mod demo;
pub mod font;
pub mod rom;
pub mod vga;

pub use demo::mandelbrot;
pub use demo::{
    CRC32_CHECK, SIEVE_LIMIT, SIEVE_PRIMES, SIEVE_SUM, TEXT_SCREEN_DONE, TEXT_SCREEN_SECONDS, TITLE,
};

/// The demo ROM image (64 KiB, reset vector at its end).
pub fn demo_rom() -> Vec<u8> {
    demo::build().expect("the demo ROM assembles")
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_rom_is_64k_with_reset_vector() {
        let rom = super::demo_rom();
        assert_eq!(rom.len(), 0x10000);
        assert_eq!(rom[0xfff0], 0xea, "far jmp at the reset vector");
    }
}

//! Bare-metal test ROMs for xlat, assembled with iced-x86's code_asm.
//!
//! Each ROM is a 64 KiB real-mode image (see `xlat_bios::rom`) that checks
//! one area of the CPU, prints `FAIL ...` for each failed check over port
//! 0xE9, and reports its verdict through the isa-debug-exit port 0xF4:
//! `harness::EXIT_PASS` (exit status 33) or `harness::EXIT_FAIL` (35).

pub mod alu;
pub mod harness;
mod interrupts;
mod strings;
mod wide;

pub use harness::{EXIT_FAIL, EXIT_PASS, FAIL_MARK};

/// Exit status of xlat when a ROM writes `EXIT_PASS` to port 0xF4.
pub const STATUS_PASS: i32 = ((EXIT_PASS as i32) << 1) | 1;
/// Exit status when a ROM writes `EXIT_FAIL`.
pub const STATUS_FAIL: i32 = ((EXIT_FAIL as i32) << 1) | 1;

pub struct TestRom {
    /// Short name, also the file stem (`NAME.rom`).
    pub name: &'static str,
    /// What the ROM checks, in one line.
    pub about: &'static str,
    /// The 64 KiB image.
    pub image: Vec<u8>,
    /// xlat's exit status when the emulation is right.
    pub expected_status: i32,
}

type Builder = fn() -> Result<Vec<u8>, iced_x86::IcedError>;

const ROMS: &[(&str, &str, Builder)] = &[
    (
        "alu",
        "ADD..XOR, INC/DEC/NEG, LAHF/SAHF: results and flags, 8/16/32-bit",
        alu::build_alu,
    ),
    (
        "shift",
        "SHL/SHR/SAR/ROL/ROR/RCL/RCR: results and flags, 8/16/32-bit",
        alu::build_shift,
    ),
    (
        "strings",
        "REP MOVS/STOS, REPE CMPS, REPNE SCAS with DF=0 and DF=1",
        strings::build,
    ),
    (
        "interrupts",
        "INT n/IRET through the IVT, #DE, #UD, #BR, INT3, INTO",
        interrupts::build,
    ),
    (
        "wide",
        "0x66/0x67 in real mode: MUL/DIV, bit ops, SHLD/SHRD, CMPXCHG, CPUID, BCD",
        wide::build,
    ),
];

/// Every test ROM. Panics if one fails to assemble (a bug in its source).
pub fn all() -> Vec<TestRom> {
    ROMS.iter()
        .map(|&(name, about, build)| TestRom {
            name,
            about,
            image: build().unwrap_or_else(|e| panic!("test ROM {name} does not assemble: {e}")),
            expected_status: STATUS_PASS,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn roms_are_64k_with_reset_vector() {
        for rom in super::all() {
            assert_eq!(rom.image.len(), 0x10000, "{}", rom.name);
            assert_eq!(rom.image[0xfff0], 0xea, "{}", rom.name);
        }
    }
}

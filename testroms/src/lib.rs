//! Bare-metal test ROMs for xlat, assembled with iced-x86's code_asm.
//!
//! Each ROM is a 64 KiB real-mode image (see `xlat_bios::rom`) that checks
//! one area of the CPU, prints `FAIL ...` for each failed check over port
//! 0xE9, and reports its verdict through the isa-debug-exit port 0xF4:
//! `harness::EXIT_PASS` (exit status 33) or `harness::EXIT_FAIL` (35).

pub mod alu;
mod fpu_exceptions;
mod fpu_layouts;
pub mod harness;
mod interrupts;
mod long_mode;
mod long_mode_fpu;
mod paging;
mod pc_timers;
mod pm_interrupts;
mod pm_segments;
mod real_mode_faults;
mod rings;
mod smc;
mod strings;
pub mod sys;
mod task_switch;
mod v86;
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
    /// Whether xlat is expected to pass this ROM today (from `PENDING`).
    pub xlat: Expect,
    /// Checks (the text after `FAIL <rom>: `, up to the first colon) that
    /// QEMU is known to get wrong against the SDM, each with why. The QEMU
    /// test expects exactly these to fail.
    pub qemu_deviations: &'static [(&'static str, &'static str)],
}

/// Whether xlat runs a ROM correctly yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Pass,
    /// Not yet: the one-line reason.
    Pending(&'static str),
}

type Builder = fn() -> Result<Vec<u8>, iced_x86::IcedError>;

struct Entry {
    name: &'static str,
    about: &'static str,
    build: Builder,
    qemu_deviations: &'static [(&'static str, &'static str)],
}

/// The ROMs xlat is not expected to pass yet, each with why. The xlat test
/// fails when one of them passes, so that this list shrinks as xlat grows.
pub const PENDING: &[(&str, &str)] = &[];

/// QEMU's TCG checks a segment's type and limit when the register is
/// loaded, never on a data access through it.
const QEMU_NO_ACCESS_CHECKS: &str =
    "QEMU TCG checks no segment limit, type or null selector on data accesses \
     (SDM Vol. 3A 5.3, 5.4; real mode: Vol. 3B 20.1.3)";

/// QEMU's SSE helpers apply the masked responses whatever MXCSR says.
const QEMU_NO_SIMD_EXCEPTIONS: &str =
    "QEMU 7.2 TCG sets MXCSR's flag for an unmasked SIMD exception but raises neither \
     #XM nor #UD and writes the masked result (SDM Vol. 1, 11.5.1; Vol. 3A 2.5, \
     CR4.OSXMMEXCPT)";

/// QEMU checks for a pending x87 exception only in FWAIT.
const QEMU_MF_ONLY_AT_FWAIT: &str =
    "QEMU 7.2 TCG reports a pending unmasked x87 exception only at WAIT/FWAIT, not at \
     the next waiting x87 instruction (SDM Vol. 1, 8.6)";

/// QEMU does not track the last x87 opcode.
const QEMU_NO_FOP: &str = "QEMU 7.2 TCG never records the x87 last-instruction opcode: \
     FOP reads 0 (SDM Vol. 1, 8.1.8)";

/// QEMU's 64-bit FXSAVE/XSAVE do not write the FOP field at all.
const QEMU_FOP_NOT_WRITTEN: &str = "QEMU 7.2 TCG's FXSAVE and XSAVE in 64-bit mode leave \
     bytes 6-7 (FOP) of the image as they were (SDM Vol. 2A, FXSAVE, table 3-56)";

/// QEMU's FXSAVE leaves the last-instruction and last-operand pointers out.
const QEMU_FXSAVE_NO_POINTERS: &str =
    "QEMU 7.2 TCG's FXSAVE stores 0 for FIP, FCS, FDP and FDS although FNSTENV reports \
     them (SDM Vol. 2A, FXSAVE, table 3-53)";

const ROMS: &[Entry] = &[
    Entry {
        name: "alu",
        about: "ADD..XOR, INC/DEC/NEG, LAHF/SAHF: results and flags, 8/16/32-bit",
        build: alu::build_alu,
        qemu_deviations: &[],
    },
    Entry {
        name: "shift",
        about: "SHL/SHR/SAR/ROL/ROR/RCL/RCR: results and flags, 8/16/32-bit",
        build: alu::build_shift,
        qemu_deviations: &[],
    },
    Entry {
        name: "strings",
        about: "REP MOVS/STOS, REPE CMPS, REPNE SCAS with DF=0 and DF=1",
        build: strings::build,
        qemu_deviations: &[],
    },
    Entry {
        name: "interrupts",
        about: "INT n/IRET through the IVT, #DE, #UD, #BR, INT3, INTO",
        build: interrupts::build,
        qemu_deviations: &[],
    },
    Entry {
        name: "wide",
        about: "0x66/0x67 in real mode: MUL/DIV, bit ops, SHLD/SHRD, CMPXCHG, CPUID, BCD",
        build: wide::build,
        qemu_deviations: &[],
    },
    Entry {
        name: "pc_timers",
        about: "8259A pair, 8254 IRQ0 waking STI;HLT, MC146818 periodic IRQ8 through the slave",
        build: pc_timers::build,
        qemu_deviations: &[],
    },
    Entry {
        name: "pm_segments",
        about: "PM entry/exit, unreal mode, segment loads and their faults, limits, \
                expand-down, descriptor cache, conforming code, LAR/LSL/VERR/VERW/ARPL, \
                SGDT/SIDT/LLDT/LTR",
        build: pm_segments::build,
        qemu_deviations: &[
            ("read through a null DS", QEMU_NO_ACCESS_CHECKS),
            ("byte past the limit", QEMU_NO_ACCESS_CHECKS),
            ("word straddling the limit", QEMU_NO_ACCESS_CHECKS),
            ("SS-relative access past the limit", QEMU_NO_ACCESS_CHECKS),
            ("write to read-only data", QEMU_NO_ACCESS_CHECKS),
            ("write through CS", QEMU_NO_ACCESS_CHECKS),
            ("expand-down read at the limit", QEMU_NO_ACCESS_CHECKS),
            ("expand-down 16-bit word at 0xFFFF", QEMU_NO_ACCESS_CHECKS),
            ("real-mode limit", QEMU_NO_ACCESS_CHECKS),
        ],
    },
    Entry {
        name: "pm_interrupts",
        about: "PM IDT: 32/16-bit interrupt and trap gates, gate DPL and presence, \
                fault/trap EIPs, #DF, TF single-step, DR0-DR3 breakpoints, ICEBP",
        build: pm_interrupts::build,
        qemu_deviations: &[
            (
                "lock mov",
                "QEMU 7.2 ignores LOCK on MOV (SDM Vol. 2A, LOCK: #UD)",
            ),
            (
                "icebp",
                "QEMU 7.2 raises #UD for ICEBP/INT1 (F1); SDM Vol. 2A INT n: a #DB trap",
            ),
        ],
    },
    Entry {
        name: "rings",
        about: "ring 3 via IRET, call gate to ring 0 with stack switch and parameter copy, \
                privileged instructions in ring 3, SYSENTER/SYSEXIT",
        build: rings::build,
        qemu_deviations: &[],
    },
    Entry {
        name: "paging",
        about: "2-level paging, A/D bits, #PF error codes and CR2, precise REP MOVS restart, \
                INVLPG, CR3 reload, global pages, PSE, PAE with NX",
        build: paging::build,
        qemu_deviations: &[(
            "PAE: reserved bit 51",
            "QEMU 7.2 reports error code 8 (RSVD without P); SDM Vol. 3A 4.7: \
             RSVD is set only with P, so 9",
        )],
    },
    Entry {
        name: "long_mode",
        about: "EFER.LME/LMA, 4-level paging, 64-bit and compatibility mode, RIP-relative, \
                IDT64 with IST, canonical #GP/#SS, SYSCALL/SYSRET, SWAPGS, FS/GS bases, \
                CMPXCHG16B, FXSAVE64/FXSAVE/XSAVE64/XSAVEOPT64/XRSTOR64 layouts and #GP, \
                back to real mode",
        build: long_mode::build,
        qemu_deviations: &[
            (
                "non-canonical RBP access",
                "QEMU 7.2 raises #GP for every non-canonical address; SDM Vol. 3A 6.15 \
                 (#SS): a non-canonical stack (SS-based) reference raises #SS(0)",
            ),
            ("fxsave64: FOP", QEMU_FOP_NOT_WRITTEN),
            ("xsave64: FOP", QEMU_FOP_NOT_WRITTEN),
            ("fxsave64: FIP[31:0]", QEMU_FXSAVE_NO_POINTERS),
            ("fxsave64: FDP[31:0]", QEMU_FXSAVE_NO_POINTERS),
            ("fxsave: FIP", QEMU_FXSAVE_NO_POINTERS),
            ("fxsave: FCS", QEMU_FXSAVE_NO_POINTERS),
            ("fxsave: FDP", QEMU_FXSAVE_NO_POINTERS),
            ("fxsave: FDS", QEMU_FXSAVE_NO_POINTERS),
        ],
    },
    Entry {
        name: "task_switch",
        about: "hardware task switches: CALL/IRET, task gate, JMP, busy bits, NT, back link, \
                32- and 16-bit TSS",
        build: task_switch::build,
        qemu_deviations: &[],
    },
    Entry {
        name: "v86",
        about: "V86 mode: IOPL-sensitive instructions trap to a #GP monitor, the TSS I/O \
                bitmap, INT n through the IDT with IOPL 3",
        build: v86::build,
        qemu_deviations: &[],
    },
    Entry {
        name: "smc",
        about: "self-modifying code in real mode, protected mode and through a paging alias",
        build: smc::build,
        qemu_deviations: &[],
    },
    Entry {
        name: "fpu_exceptions",
        about: "real and protected mode: #NM (TS, EM), WAIT with TS+MP, #UD without OSFXSR, \
                #XM vs #UD (OSXMMEXCPT), #MF at the next waiting instruction, FERR#/IRQ13",
        build: fpu_exceptions::build,
        qemu_deviations: &[
            ("real OSXMMEXCPT: divps by 0", QEMU_NO_SIMD_EXCEPTIONS),
            ("real #XM: destination kept", QEMU_NO_SIMD_EXCEPTIONS),
            ("real no OSXMMEXCPT: divps by 0", QEMU_NO_SIMD_EXCEPTIONS),
            ("pm OSXMMEXCPT: divps by 0", QEMU_NO_SIMD_EXCEPTIONS),
            ("pm #XM: destination kept", QEMU_NO_SIMD_EXCEPTIONS),
            ("pm no OSXMMEXCPT: divps by 0", QEMU_NO_SIMD_EXCEPTIONS),
            ("real pending: fld1", QEMU_MF_ONLY_AT_FWAIT),
            ("pm pending: fld1", QEMU_MF_ONLY_AT_FWAIT),
        ],
    },
    Entry {
        name: "fpu_ferr",
        about: "real mode, CR0.NE = 0: an unmasked x87 exception raises IRQ13 through FERR#, \
                not #MF; the handler's FNCLEX and port F0h clear it",
        build: fpu_exceptions::build_ferr,
        qemu_deviations: &[],
    },
    Entry {
        name: "fpu_layouts",
        about: "FNSTENV/FNSAVE 16-bit real and 32-bit protected layouts, FXSAVE image, \
                XSAVE: CPUID, XCR0, header, requested components, XRSTOR init and #GP",
        build: fpu_layouts::build,
        qemu_deviations: &[
            ("real fnstenv: FIP[19:16] and FOP", QEMU_NO_FOP),
            ("pm fnstenv: FOP", QEMU_NO_FOP),
            ("real fxsave: FOP", QEMU_NO_FOP),
            ("pm fxsave: FOP", QEMU_NO_FOP),
            ("real fxsave: FIP", QEMU_FXSAVE_NO_POINTERS),
            ("real fxsave: FCS", QEMU_FXSAVE_NO_POINTERS),
            ("real fxsave: FDP", QEMU_FXSAVE_NO_POINTERS),
            ("pm fxsave: FIP", QEMU_FXSAVE_NO_POINTERS),
            ("pm fxsave: FCS", QEMU_FXSAVE_NO_POINTERS),
            ("pm fxsave: FDP", QEMU_FXSAVE_NO_POINTERS),
            ("pm fxsave: FDS", QEMU_FXSAVE_NO_POINTERS),
        ],
    },
];

/// Every test ROM. Panics if one fails to assemble (a bug in its source).
pub fn all() -> Vec<TestRom> {
    ROMS.iter()
        .map(|e| TestRom {
            name: e.name,
            about: e.about,
            image: (e.build)()
                .unwrap_or_else(|err| panic!("test ROM {} does not assemble: {err}", e.name)),
            expected_status: STATUS_PASS,
            xlat: PENDING
                .iter()
                .find(|(n, _)| *n == e.name)
                .map_or(Expect::Pass, |&(_, why)| Expect::Pending(why)),
            qemu_deviations: e.qemu_deviations,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn pending_names_are_roms() {
        for (name, _) in super::PENDING {
            assert!(super::ROMS.iter().any(|e| e.name == *name), "{name}");
        }
    }

    #[test]
    fn roms_are_64k_with_reset_vector() {
        for rom in super::all() {
            assert_eq!(rom.image.len(), 0x10000, "{}", rom.name);
            assert_eq!(rom.image[0xfff0], 0xea, "{}", rom.name);
        }
    }
}

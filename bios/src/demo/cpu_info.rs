//! What the CPU says about itself: CR0 (the operating mode) and CPUID.

use crate::console::Console;
use iced_x86::code_asm::*;

/// Prints CR0 and whether protection is enabled. Reading CR0 with MOV is
/// allowed in real mode (CPL is 0 there); SMSW gives its low 16 bits too.
pub fn print_mode(a: &mut CodeAssembler, con: &Console) -> Result<(), IcedError> {
    con.print(a, "CR0 = 0x")?;
    a.mov(eax, cr0)?;
    con.value_style(a)?;
    con.hex32(a)?;
    con.label_style(a)?;
    con.print(a, ", MSW (SMSW) = 0x")?;
    a.smsw(ax)?;
    con.value_style(a)?;
    con.hex16(a)?;
    con.label_style(a)?;
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
    con.value_style(a)?;
    for reg in [ebx, edx, ecx] {
        print_ascii4(a, con, reg)?;
    }
    con.label_style(a)?;
    con.print(a, ", max leaf ")?;
    a.pop(eax)?;
    con.value_style(a)?;
    con.dec32(a)?;
    con.label_style(a)?;
    con.print(a, ", signature 0x")?;
    a.mov(eax, 1u32)?;
    a.cpuid()?;
    con.value_style(a)?;
    con.hex32(a)?;
    con.label_style(a)?;
    con.print(a, "\r\n")
}

/// Prints the four bytes of `reg`, lowest first (the order CPUID packs
/// the vendor string in). Clobbers only EAX: unrolled, because a counter
/// register would overwrite ECX, which still holds the last four bytes.
fn print_ascii4(a: &mut CodeAssembler, con: &Console, reg: AsmRegister32) -> Result<(), IcedError> {
    a.mov(eax, reg)?;
    for _ in 0..4 {
        con.put_char(a)?;
        a.shr(eax, 8)?;
    }
    Ok(())
}

/// Feature flags of CPUID leaf 1 worth naming: (register, bit, name).
const FEATURES: &[(bool, u32, &str)] = &[
    (false, 0, "FPU"),
    (false, 4, "TSC"),
    (false, 5, "MSR"),
    (false, 6, "PAE"),
    (false, 8, "CX8"),
    (false, 9, "APIC"),
    (false, 11, "SEP"),
    (false, 13, "PGE"),
    (false, 15, "CMOV"),
    (false, 23, "MMX"),
    (false, 24, "FXSR"),
    (false, 25, "SSE"),
    (false, 26, "SSE2"),
    (true, 0, "SSE3"),
    (true, 9, "SSSE3"),
    (true, 19, "SSE4.1"),
    (true, 20, "SSE4.2"),
    (true, 23, "POPCNT"),
    (true, 26, "XSAVE"),
];

/// Prints the names of the leaf-1 features the CPU reports in EDX or (with
/// `ecx`) in ECX; the ECX line adds whether leaf 0x80000001 reports long
/// mode.
pub fn print_features(
    a: &mut CodeAssembler,
    con: &Console,
    ecx_line: bool,
) -> Result<(), IcedError> {
    con.print(
        a,
        if ecx_line {
            "CPUID features, ECX:"
        } else {
            "CPUID features, EDX:"
        },
    )?;
    con.value_style(a)?;
    a.mov(eax, 1u32)?;
    a.cpuid()?;
    for &(in_ecx, bit, name) in FEATURES.iter().filter(|f| f.0 == ecx_line) {
        let mut absent = a.create_label();
        a.bt(if in_ecx { ecx } else { edx }, bit)?;
        a.jnc(absent)?;
        con.print(a, &format!(" {name}"))?;
        a.set_label(&mut absent)?;
    }
    if !ecx_line {
        con.label_style(a)?;
        return con.print(a, "\r\n");
    }
    let mut no_long_mode = a.create_label();
    a.mov(eax, 0x8000_0000u32)?;
    a.cpuid()?;
    a.cmp(eax, 0x8000_0001u32)?;
    a.jb(no_long_mode)?;
    a.mov(eax, 0x8000_0001u32)?;
    a.cpuid()?;
    a.bt(edx, 29)?;
    a.jnc(no_long_mode)?;
    con.print(a, " LM")?;
    a.set_label(&mut no_long_mode)?;
    con.label_style(a)?;
    con.print(a, "\r\n")
}

//! Laying out a 64 KiB real-mode ROM image.
//!
//! xlat maps a firmware image so that it ends at 4 GiB and its last 128 KiB
//! also end at 1 MiB; a 64 KiB image therefore appears at F000:0000-F000:FFFF.
//! The CPU starts at F000:FFF0 (CS base 0xFFFF0000), 16 bytes below the
//! top, where a far jump leaves the reset alias for the ordinary F000 segment.
//!
//! All code is assembled with IP relative to segment F000, so an offset in the
//! image is also the IP that runs it.

use iced_x86::code_asm::*;

/// Size of every image built here.
pub const ROM_SIZE: usize = 0x1_0000;
/// Real-mode segment at which the image is visible below 1 MiB.
pub const ROM_SEGMENT: u16 = 0xf000;
/// Offset of the reset vector: the CPU's first instruction.
pub const RESET_VECTOR: usize = 0xfff0;
/// Where execution continues after the reset vector: the start of the image,
/// so the first instruction given to `link` is the entry point.
pub const ENTRY: u16 = 0x0000;
/// Byte used to fill the unused part of the image: HLT, so a stray jump into
/// the padding stops the machine instead of running garbage.
const FILL: u8 = 0xf4;

/// Creates an assembler for 16-bit (real-mode) code.
pub fn assembler() -> Result<CodeAssembler, IcedError> {
    CodeAssembler::new(16)
}

/// Creates a label and binds it to the next instruction emitted.
pub fn label_here(a: &mut CodeAssembler) -> Result<CodeLabel, IcedError> {
    let mut l = a.create_label();
    a.set_label(&mut l)?;
    Ok(l)
}

/// Loads `reg` with the offset (in CS) of `data`, which is emitted inline.
///
/// code_asm cannot use a label's address as an immediate in 16-bit code, so
/// the data sits right after a CALL: the CALL pushes the data's address, and
/// its target pops it.
pub fn data_address(
    a: &mut CodeAssembler,
    reg: AsmRegister16,
    data: &[u8],
) -> Result<(), IcedError> {
    let mut after = a.create_label();
    a.call(after)?;
    a.db(data)?;
    a.set_label(&mut after)?;
    a.pop(reg)
}

/// Emits `body` in line, skipped over, and loads `reg` with its offset in CS:
/// the way to get the address of a routine (an interrupt handler, say) that
/// must be stored in memory. Same CALL/POP trick as `data_address`.
pub fn code_address(
    a: &mut CodeAssembler,
    reg: AsmRegister16,
    body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Result<(), IcedError> {
    let mut after = a.create_label();
    a.call(after)?;
    body(a)?;
    a.set_label(&mut after)?;
    a.pop(reg)
}

/// Points real-mode interrupt vector `vector` (IVT at 0000:0000) at `body`,
/// which is emitted in line and must end with IRET. Clobbers AX. The IVT is
/// written through SS, which the ROMs keep at 0, so DS may point anywhere.
pub fn install_handler(
    a: &mut CodeAssembler,
    vector: u8,
    body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Result<(), IcedError> {
    code_address(a, ax, body)?;
    let slot = u32::from(vector) * 4;
    a.mov(word_ptr(slot).ss(), ax)?;
    a.mov(word_ptr(slot + 2).ss(), u32::from(ROM_SEGMENT))
}

/// Assembles `code` (whose first instruction is the entry point) into a
/// 64 KiB image with the reset vector at 0xFFF0. Panics if the code does
/// not fit below the reset vector.
pub fn link(mut code: CodeAssembler) -> Result<Vec<u8>, IcedError> {
    let body = code.assemble(u64::from(ENTRY))?;
    // A ROM that outgrows its image is a bug in the ROM's source: stop the
    // build with a clear message.
    assert!(
        body.len() <= RESET_VECTOR - usize::from(ENTRY),
        "ROM code ({} bytes) overlaps the reset vector",
        body.len()
    );
    // The reset vector: a far jump, which also loads CS with a real-mode
    // base (0xF0000) in place of the reset value 0xFFFF0000.
    let mut reset = assembler()?;
    reset.jmp_far(ROM_SEGMENT, u32::from(ENTRY))?;
    let reset = reset.assemble(RESET_VECTOR as u64)?;

    let mut image = vec![FILL; ROM_SIZE];
    let start = usize::from(ENTRY);
    image[start..start + body.len()].copy_from_slice(&body);
    image[RESET_VECTOR..RESET_VECTOR + reset.len()].copy_from_slice(&reset);
    Ok(image)
}

/// The usual opening of a ROM: interrupts off, DF clear, SS:SP = 0000:7C00
/// (conventional memory every PC has), DS = ES = 0.
pub fn prologue(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.cli()?;
    a.cld()?;
    a.xor(ax, ax)?;
    a.mov(ss, ax)?;
    a.mov(sp, 0x7c00u32)?;
    a.mov(ds, ax)?;
    a.mov(es, ax)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_vector_jumps_to_entry() {
        let mut a = assembler().unwrap();
        a.hlt().unwrap();
        let image = link(a).unwrap();
        assert_eq!(image.len(), ROM_SIZE);
        assert_eq!(image[0], 0xf4);
        assert_eq!(
            &image[RESET_VECTOR..RESET_VECTOR + 5],
            &[0xea, 0x00, 0x00, 0x00, 0xf0]
        );
    }
}

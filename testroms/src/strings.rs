//! The string instructions with and without REP: MOVS, STOS, LODS, CMPS,
//! SCAS, forwards (DF=0) and backwards (DF=1), with segment overrides and
//! 32-bit addressing, checking memory and the final SI, DI, CX and FLAGS.
//!
//! Buffers are filled and verified with plain MOV/CMP loops so that a broken
//! string instruction cannot hide its own bug.

use crate::alu::model::{CF, ZF};
use crate::harness::{m32, m8, Harness};
use iced_x86::code_asm::*;
use iced_x86::{Instruction, Register, RepPrefixKind};
use xlat_bios::rom::label_here;

const SRC: u32 = 0x2000;
const DST: u32 = 0x3000;
/// Byte the destination is filled with before a copy, to catch overruns.
const SENTINEL: u32 = 0xee;
const SEED: u8 = 1;

/// Byte `i` of the test pattern: distinct for i < 256 (7 is odd).
fn pattern(i: u32) -> u8 {
    (i * 7 + u32::from(SEED)) as u8
}

/// Writes the pattern to `len` bytes at DS:`base`. Clobbers AL, BX, CX.
fn fill_pattern(a: &mut CodeAssembler, base: u32, len: u32) -> Result<(), IcedError> {
    a.mov(bx, base)?;
    a.mov(cx, len)?;
    a.mov(al, u32::from(SEED))?;
    let next = label_here(a)?;
    a.mov(byte_ptr(bx), al)?;
    a.add(al, 7)?;
    a.inc(bx)?;
    a.loop_(next)
}

/// Fills `len` bytes at DS:`base` with `value`. Clobbers BX, CX.
fn fill_const(a: &mut CodeAssembler, base: u32, len: u32, value: u32) -> Result<(), IcedError> {
    a.mov(bx, base)?;
    a.mov(cx, len)?;
    let next = label_here(a)?;
    a.mov(byte_ptr(bx), value)?;
    a.inc(bx)?;
    a.loop_(next)
}

/// Checks that `len` bytes at DS:`base` hold the pattern: BX ends as the
/// offset of the first wrong byte, 0xFFFF if none. Clobbers AL, BX, CX.
fn verify_pattern(h: &mut Harness, base: u32, len: u32, what: &str) -> Result<(), IcedError> {
    let a = &mut h.a;
    a.mov(bx, base)?;
    a.mov(cx, len)?;
    a.mov(al, u32::from(SEED))?;
    let next = label_here(a)?;
    let mut bad = a.create_label();
    let mut done = a.create_label();
    a.cmp(byte_ptr(bx), al)?;
    a.jne(bad)?;
    a.add(al, 7)?;
    a.inc(bx)?;
    a.loop_(next)?;
    a.mov(bx, 0xffffu32)?;
    a.jmp(done)?;
    a.set_label(&mut bad)?;
    a.sub(bx, base)?;
    a.set_label(&mut done)?;
    h.check(
        bx,
        0xffff,
        &format!("{what}: first wrong byte (0xFFFF = none)"),
    )
}

/// Emits a string instruction built by hand, for what code_asm's string
/// methods cannot say: a segment override or a 32-bit address size.
fn raw(a: &mut CodeAssembler, insn: Result<Instruction, IcedError>) -> Result<(), IcedError> {
    a.add_instruction(insn?)
}

pub fn build() -> Result<Vec<u8>, IcedError> {
    let mut h = Harness::new("strings")?;
    movs(&mut h)?;
    stos_lods(&mut h)?;
    cmps(&mut h)?;
    scas(&mut h)?;
    zero_count(&mut h)?;
    overrides(&mut h)?;
    h.finish()
}

fn movs(h: &mut Harness) -> Result<(), IcedError> {
    h.print("rep movsb/movsw\r\n")?;
    fill_pattern(&mut h.a, SRC, 64)?;
    fill_const(&mut h.a, DST - 1, 66, SENTINEL)?;
    // Forwards, 37 bytes.
    let a = &mut h.a;
    a.mov(si, SRC)?;
    a.mov(di, DST)?;
    a.mov(cx, 37u32)?;
    a.cld()?;
    a.rep().movsb()?;
    h.check(cx, 0, "rep movsb: CX")?;
    h.check(si, SRC + 37, "rep movsb: SI")?;
    h.check(di, DST + 37, "rep movsb: DI")?;
    h.check(
        m8(ptr(DST + 37)),
        SENTINEL,
        "rep movsb: byte after the copy",
    )?;
    h.check(
        m8(ptr(DST - 1)),
        SENTINEL,
        "rep movsb: byte before the copy",
    )?;
    verify_pattern(h, DST, 37, "rep movsb")?;

    // Backwards, 10 words: SI/DI start at the last word and walk down.
    fill_const(&mut h.a, DST - 1, 66, SENTINEL)?;
    let a = &mut h.a;
    a.mov(si, SRC + 18)?;
    a.mov(di, DST + 18)?;
    a.mov(cx, 10u32)?;
    a.std()?;
    a.rep().movsw()?;
    a.cld()?;
    h.check(cx, 0, "std; rep movsw: CX")?;
    h.check(si, SRC - 2, "std; rep movsw: SI")?;
    h.check(di, DST - 2, "std; rep movsw: DI")?;
    h.check(
        m8(ptr(DST + 20)),
        SENTINEL,
        "std; rep movsw: byte after the copy",
    )?;
    h.check(
        m8(ptr(DST - 1)),
        SENTINEL,
        "std; rep movsw: byte before the copy",
    )?;
    verify_pattern(h, DST, 20, "std; rep movsw")
}

fn stos_lods(h: &mut Harness) -> Result<(), IcedError> {
    h.print("rep stosd, lodsw/lodsb\r\n")?;
    const VALUE: u32 = 0x1122_3344;
    fill_const(&mut h.a, DST - 4, 40, SENTINEL)?;
    let a = &mut h.a;
    a.mov(eax, VALUE)?;
    a.mov(di, DST)?;
    a.mov(cx, 5u32)?;
    a.rep().stosd()?;
    h.check(cx, 0, "rep stosd: CX")?;
    h.check(di, DST + 20, "rep stosd: DI")?;
    h.check(eax, VALUE, "rep stosd: EAX kept")?;
    h.check(m32(ptr(DST)), VALUE, "rep stosd: first dword")?;
    h.check(m32(ptr(DST + 16)), VALUE, "rep stosd: last dword")?;
    h.check(m8(ptr(DST + 20)), SENTINEL, "rep stosd: byte after")?;

    // Backwards: three dwords ending at DST+16 cover DST+8..DST+20.
    fill_const(&mut h.a, DST - 4, 40, SENTINEL)?;
    let a = &mut h.a;
    a.mov(eax, !VALUE)?;
    a.mov(di, DST + 16)?;
    a.mov(cx, 3u32)?;
    a.std()?;
    a.rep().stosd()?;
    a.cld()?;
    h.check(di, DST + 4, "std; rep stosd: DI")?;
    h.check(m32(ptr(DST + 8)), !VALUE, "std; rep stosd: lowest dword")?;
    h.check(m32(ptr(DST + 16)), !VALUE, "std; rep stosd: highest dword")?;
    h.check(
        m32(ptr(DST + 4)),
        SENTINEL * 0x0101_0101,
        "std; rep stosd: dword below",
    )?;

    // LODS: one element, SI steps by its size in the direction of DF.
    fill_pattern(&mut h.a, SRC, 64)?;
    let a = &mut h.a;
    a.mov(si, SRC)?;
    a.lodsw()?;
    h.check(
        ax,
        u32::from(pattern(1)) << 8 | u32::from(pattern(0)),
        "lodsw: AX",
    )?;
    h.check(si, SRC + 2, "lodsw: SI")?;
    let a = &mut h.a;
    a.mov(si, SRC + 5)?;
    a.std()?;
    a.lodsb()?;
    a.cld()?;
    h.check(al, u32::from(pattern(5)), "std; lodsb: AL")?;
    h.check(si, SRC + 4, "std; lodsb: SI")
}

fn cmps(h: &mut Harness) -> Result<(), IcedError> {
    h.print("repe cmpsb\r\n")?;
    // Two equal buffers but for byte 13 of DST.
    fill_pattern(&mut h.a, SRC, 64)?;
    fill_pattern(&mut h.a, DST, 64)?;
    h.a.xor(byte_ptr(DST + 13), 0xff)?;
    let a = &mut h.a;
    a.mov(si, SRC)?;
    a.mov(di, DST)?;
    a.mov(cx, 32u32)?;
    a.repe().cmpsb()?;
    // Stops after comparing byte 13: pattern(13) = 0x5C against 0xA3, so
    // the subtraction borrows.
    h.check_flags(ZF | CF, CF, "repe cmpsb (mismatch): ZF=0 CF=1")?;
    h.check(cx, 32 - 14, "repe cmpsb (mismatch): CX")?;
    h.check(si, SRC + 14, "repe cmpsb (mismatch): SI")?;
    h.check(di, DST + 14, "repe cmpsb (mismatch): DI")?;

    // Equal all the way: CX runs out with ZF=1.
    let a = &mut h.a;
    a.mov(si, SRC + 20)?;
    a.mov(di, DST + 20)?;
    a.mov(cx, 20u32)?;
    a.repe().cmpsb()?;
    h.check_flags(ZF, ZF, "repe cmpsb (equal): ZF=1")?;
    h.check(cx, 0, "repe cmpsb (equal): CX")?;
    h.check(si, SRC + 40, "repe cmpsb (equal): SI")?;

    // Backwards from byte 31: compares 31 down to 13, 19 bytes.
    let a = &mut h.a;
    a.mov(si, SRC + 31)?;
    a.mov(di, DST + 31)?;
    a.mov(cx, 32u32)?;
    a.std()?;
    a.repe().cmpsb()?;
    a.cld()?;
    h.check_flags(ZF, 0, "std; repe cmpsb: ZF=0")?;
    h.check(cx, 32 - 19, "std; repe cmpsb: CX")?;
    h.check(si, SRC + 12, "std; repe cmpsb: SI")?;
    h.check(di, DST + 12, "std; repe cmpsb: DI")
}

fn scas(h: &mut Harness) -> Result<(), IcedError> {
    h.print("repne scasb\r\n")?;
    fill_pattern(&mut h.a, SRC, 64)?;
    // Found at index 20.
    let a = &mut h.a;
    a.mov(di, SRC)?;
    a.mov(al, u32::from(pattern(20)))?;
    a.mov(cx, 64u32)?;
    a.repne().scasb()?;
    h.check_flags(ZF, ZF, "repne scasb (found): ZF=1")?;
    h.check(cx, 64 - 21, "repne scasb (found): CX")?;
    h.check(di, SRC + 21, "repne scasb (found): DI")?;
    // Not among the first 64 bytes (pattern(73) is 0).
    let a = &mut h.a;
    a.mov(di, SRC)?;
    a.mov(al, 0u32)?;
    a.mov(cx, 64u32)?;
    a.repne().scasb()?;
    h.check_flags(ZF, 0, "repne scasb (absent): ZF=0")?;
    h.check(cx, 0, "repne scasb (absent): CX")?;
    h.check(di, SRC + 64, "repne scasb (absent): DI")?;
    // Backwards from 63, found at 40 after 24 bytes.
    let a = &mut h.a;
    a.mov(di, SRC + 63)?;
    a.mov(al, u32::from(pattern(40)))?;
    a.mov(cx, 64u32)?;
    a.std()?;
    a.repne().scasb()?;
    a.cld()?;
    h.check_flags(ZF, ZF, "std; repne scasb: ZF=1")?;
    h.check(cx, 64 - 24, "std; repne scasb: CX")?;
    h.check(di, SRC + 39, "std; repne scasb: DI")
}

/// With CX = 0 a REP instruction does nothing: no access, no register or
/// flag change.
fn zero_count(h: &mut Harness) -> Result<(), IcedError> {
    h.print("rep with CX=0\r\n")?;
    fill_const(&mut h.a, DST, 4, SENTINEL)?;
    let a = &mut h.a;
    a.mov(si, SRC)?;
    a.mov(di, DST)?;
    a.xor(cx, cx)?;
    a.rep().movsb()?;
    h.check(si, SRC, "rep movsb CX=0: SI")?;
    h.check(di, DST, "rep movsb CX=0: DI")?;
    h.check(m8(ptr(DST)), SENTINEL, "rep movsb CX=0: memory")?;
    let a = &mut h.a;
    a.push(u32::from(ZF | CF) | 2)?;
    a.popf()?;
    a.repe().cmpsb()?;
    h.check_flags(ZF | CF, ZF | CF, "repe cmpsb CX=0: flags kept")?;
    h.check(si, SRC, "repe cmpsb CX=0: SI")
}

/// A segment override moves the source (never ES:DI); 0x67 makes the
/// instruction use ESI, EDI and ECX.
fn overrides(h: &mut Harness) -> Result<(), IcedError> {
    h.print("segment override, 32-bit addressing\r\n")?;
    fill_pattern(&mut h.a, SRC, 64)?;
    fill_const(&mut h.a, DST - 1, 18, SENTINEL)?;
    // FS:SI = 0100:1000 = SRC; ES:DI = 0200:1000 = DST; DS points elsewhere.
    let a = &mut h.a;
    a.mov(ax, 0x0100u32)?;
    a.mov(fs, ax)?;
    a.mov(ax, 0x0200u32)?;
    a.mov(es, ax)?;
    a.mov(ax, 0x0300u32)?;
    a.mov(ds, ax)?;
    a.mov(si, 0x1000u32)?;
    a.mov(di, 0x1000u32)?;
    a.mov(cx, 16u32)?;
    raw(
        a,
        Instruction::with_movsb(16, Register::FS, RepPrefixKind::Repe),
    )?;
    a.xor(ax, ax)?;
    a.mov(ds, ax)?;
    a.mov(es, ax)?;
    h.check(cx, 0, "rep movsb fs: CX")?;
    h.check(si, 0x1010, "rep movsb fs: SI")?;
    h.check(m8(ptr(DST + 16)), SENTINEL, "rep movsb fs: byte after")?;
    verify_pattern(h, DST, 16, "rep movsb fs:")?;

    // 0x67: ESI/EDI/ECX.
    fill_const(&mut h.a, DST - 1, 18, SENTINEL)?;
    let a = &mut h.a;
    a.mov(esi, SRC)?;
    a.mov(edi, DST)?;
    a.mov(ecx, 12u32)?;
    raw(
        a,
        Instruction::with_movsb(32, Register::None, RepPrefixKind::Repe),
    )?;
    h.check(ecx, 0, "a32 rep movsb: ECX")?;
    h.check(esi, SRC + 12, "a32 rep movsb: ESI")?;
    h.check(edi, DST + 12, "a32 rep movsb: EDI")?;
    h.check(m8(ptr(DST + 12)), SENTINEL, "a32 rep movsb: byte after")?;
    verify_pattern(h, DST, 12, "a32 rep movsb")?;
    // ECX = 0x10000: a 32-bit count copies a whole 64 KiB segment (offsets
    // 0..FFFF stay within the limit), where a 16-bit count (CX = 0) would
    // copy nothing. DS = 1000, ES = 2000.
    let a = &mut h.a;
    a.mov(ax, 0x1000u32)?;
    a.mov(ds, ax)?;
    a.mov(byte_ptr(0xffff), 0x77)?;
    a.mov(ax, 0x2000u32)?;
    a.mov(es, ax)?;
    a.mov(byte_ptr(0xffff).es(), 0)?;
    a.xor(esi, esi)?;
    a.xor(edi, edi)?;
    a.mov(ecx, 0x1_0000u32)?;
    raw(
        a,
        Instruction::with_movsb(32, Register::None, RepPrefixKind::Repe),
    )?;
    h.check(ecx, 0, "a32 rep movsb 64K: ECX")?;
    h.check(esi, 0x1_0000, "a32 rep movsb 64K: ESI")?;
    h.check(edi, 0x1_0000, "a32 rep movsb 64K: EDI")?;
    h.check(m8(ptr(0xffff).es()), 0x77, "a32 rep movsb 64K: last byte")?;
    let a = &mut h.a;
    a.xor(ax, ax)?;
    a.mov(ds, ax)?;
    a.mov(es, ax)?;

    // With 16-bit addressing only CX counts: ECX's upper half is ignored
    // and kept.
    let a = &mut h.a;
    a.mov(ecx, 0x0001_0003u32)?;
    a.mov(di, DST)?;
    a.mov(al, 0x55u32)?;
    a.rep().stosb()?;
    h.check(ecx, 0x0001_0000, "a16 rep stosb: ECX upper half kept")?;
    h.check(di, DST + 3, "a16 rep stosb: DI")?;
    // The fourth byte is still what the 12-byte copy above left there.
    h.check(
        m32(ptr(DST)),
        u32::from(pattern(3)) << 24 | 0x55_5555,
        "a16 rep stosb: memory",
    )
}

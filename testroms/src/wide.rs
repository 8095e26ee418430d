//! 32-bit operation in real mode: the 0x66 (operand size) and 0x67 (address
//! size) prefixes, 32-bit multiply and divide, bit scans and bit tests,
//! double shifts, extensions, CMPXCHG/XADD/BSWAP, CPUID, RDTSC and the BCD
//! adjustments. Expected values are worked out in the comments.

use crate::alu::model::{AF, CF, OF, SF, ZF};
use crate::harness::{m32, m8, Harness};
use iced_x86::code_asm::*;

/// Scratch memory (DS = 0).
const MEM: u32 = 0x1000;

pub fn build() -> Result<Vec<u8>, IcedError> {
    let mut h = Harness::new("wide")?;
    arithmetic(&mut h)?;
    addressing(&mut h)?;
    multiply_divide(&mut h)?;
    bit_ops(&mut h)?;
    double_shifts(&mut h)?;
    extensions(&mut h)?;
    atomics(&mut h)?;
    cpuid_rdtsc(&mut h)?;
    bcd(&mut h)?;
    h.finish()
}

fn arithmetic(h: &mut Harness) -> Result<(), IcedError> {
    h.print("32-bit arithmetic\r\n")?;
    // 0x89ABCDEF + 0x76543211 = 0x1_0000_0000: carry out of bit 31 only.
    let a = &mut h.a;
    a.mov(eax, 0x89ab_cdefu32)?;
    a.add(eax, 0x7654_3211)?;
    h.check_flags(CF | ZF | SF | OF, CF | ZF, "add eax: CF=1 ZF=1")?;
    h.check(eax, 0, "add eax: result")?;
    // 0x0000FFFF + 1 crosses bit 15: a 16-bit add would give 0.
    let a = &mut h.a;
    a.mov(ebx, 0xffffu32)?;
    a.inc(ebx)?;
    h.check(ebx, 0x1_0000, "inc ebx across bit 15")?;
    // 64-bit subtraction with SUB/SBB: 0x1_00000000 - 1.
    let a = &mut h.a;
    a.xor(eax, eax)?;
    a.mov(edx, 1u32)?;
    a.sub(eax, 1)?;
    a.sbb(edx, 0)?;
    h.check(eax, 0xffff_ffff, "sub/sbb 64-bit: low")?;
    h.check(edx, 0, "sub/sbb 64-bit: high")?;
    // A 16-bit write leaves the upper half of the register alone.
    let a = &mut h.a;
    a.mov(ecx, 0xdead_beefu32)?;
    a.mov(cx, 0x1234u32)?;
    h.check(ecx, 0xdead_1234, "mov cx keeps ECX[31:16]")?;
    // PUSH EAX / POP two words: little-endian halves, SP moves by 4.
    let a = &mut h.a;
    a.mov(eax, 0xcafe_babeu32)?;
    a.push(eax)?;
    a.pop(bx)?;
    a.pop(cx)?;
    h.check(bx, 0xbabe, "push eax; pop bx")?;
    h.check(cx, 0xcafe, "push eax; pop cx")?;
    // CWDE, CDQ, CBW, CWD.
    let a = &mut h.a;
    a.mov(eax, 0x1234_8000u32)?;
    a.cwde()?;
    h.check(eax, 0xffff_8000, "cwde")?;
    h.a.cdq()?;
    h.check(edx, 0xffff_ffff, "cdq")?;
    let a = &mut h.a;
    a.mov(ax, 0x0080u32)?;
    a.cbw()?;
    h.check(ax, 0xff80, "cbw")?;
    // CMOVcc and SETcc (CPUID advertises CMOV).
    let a = &mut h.a;
    a.mov(eax, 1u32)?;
    a.mov(ebx, 2u32)?;
    a.cmp(eax, ebx)?;
    a.cmovb(eax, ebx)?;
    a.setb(cl)?;
    a.seta(ch)?;
    h.check(eax, 2, "cmovb taken")?;
    h.check(cx, 0x0001, "setb / seta")
}

/// 32-bit addressing: base + index * scale + displacement through 0x67.
fn addressing(h: &mut Harness) -> Result<(), IcedError> {
    h.print("0x67 addressing\r\n")?;
    let a = &mut h.a;
    a.mov(dword_ptr(MEM + 3 * 4 + 8), 0x0bad_f00du32)?;
    a.mov(ebx, MEM)?;
    a.mov(ecx, 3u32)?;
    a.mov(eax, dword_ptr(ebx + ecx * 4 + 8))?;
    h.check(eax, 0x0bad_f00d, "mov eax, [ebx+ecx*4+8]")?;
    // LEA computes a full 32-bit address with no segment involved.
    let a = &mut h.a;
    a.mov(eax, 0x1234_5678u32)?;
    a.lea(edx, ptr(eax + eax * 2 + 0x10))?;
    h.check(edx, 0x369d_0368 + 0x10, "lea edx, [eax+eax*2+0x10]")?;
    // LEA with 16-bit operand size and 32-bit address truncates.
    h.a.lea(dx, ptr(eax + 0x1_0001))?;
    h.check(dx, 0x5679, "lea dx, [eax+0x10001]")?;
    // 16-bit address arithmetic wraps at 64 KiB: [bx+si] with BX+SI =
    // 0x1_1000 reads offset 0x1000.
    let a = &mut h.a;
    a.mov(bx, 0xf000u32)?;
    a.mov(si, 0x2000u32)?;
    a.mov(eax, dword_ptr(bx + si + 3 * 4 + 8))?;
    h.check(eax, 0x0bad_f00d, "mov eax, [bx+si+20] wraps at 64K")
}

fn multiply_divide(h: &mut Harness) -> Result<(), IcedError> {
    h.print("32-bit mul/imul/div/idiv\r\n")?;
    // 0x12345678 * 0x9ABCDEF0 = 0x0B00EA4E_242D2080; EDX != 0 so CF=OF=1.
    let a = &mut h.a;
    a.mov(eax, 0x1234_5678u32)?;
    a.mov(ebx, 0x9abc_def0u32)?;
    a.mul(ebx)?;
    h.check_flags(CF | OF, CF | OF, "mul ebx: CF=OF=1")?;
    h.check(edx, 0x0b00_ea4e, "mul ebx: EDX")?;
    h.check(eax, 0x242d_2080, "mul ebx: EAX")?;
    // -2 * 3 = -6 fits in EAX: CF=OF=0, EDX is the sign extension.
    let a = &mut h.a;
    a.mov(eax, (-2i32) as u32)?;
    a.mov(ecx, 3u32)?;
    a.imul(ecx)?;
    h.check_flags(CF | OF, 0, "imul ecx: CF=OF=0")?;
    h.check(edx, 0xffff_ffff, "imul ecx: EDX")?;
    h.check(eax, (-6i32) as u32, "imul ecx: EAX")?;
    // Two- and three-operand IMUL keep the low half; overflow sets CF=OF.
    let a = &mut h.a;
    a.mov(esi, 0x1234u32)?;
    a.imul_3(edi, esi, -7)?;
    h.check(edi, 0xffff_8094, "imul edi, esi, -7")?;
    let a = &mut h.a;
    a.mov(eax, 0x1_0000u32)?;
    a.imul_2(eax, eax)?;
    h.check_flags(CF | OF, CF | OF, "imul eax, eax (2^32): CF=OF=1")?;
    h.check(eax, 0, "imul eax, eax (2^32): EAX")?;
    // 0x12345678_9ABCDEF0 / 0x87654321 = 0x226B9022 rem 0x38BC648E.
    let a = &mut h.a;
    a.mov(edx, 0x1234_5678u32)?;
    a.mov(eax, 0x9abc_def0u32)?;
    a.mov(ecx, 0x8765_4321u32)?;
    a.div(ecx)?;
    h.check(eax, 0x226b_9022, "div ecx: quotient")?;
    h.check(edx, 0x38bc_648e, "div ecx: remainder")?;
    // -100 / 7 = -14 rem -2 (truncation toward zero).
    let a = &mut h.a;
    a.mov(eax, (-100i32) as u32)?;
    a.cdq()?;
    a.mov(ebx, 7u32)?;
    a.idiv(ebx)?;
    h.check(eax, (-14i32) as u32, "idiv ebx: quotient")?;
    h.check(edx, (-2i32) as u32, "idiv ebx: remainder")
}

fn bit_ops(h: &mut Harness) -> Result<(), IcedError> {
    h.print("bsf/bsr/bt/bts/btr/btc\r\n")?;
    let a = &mut h.a;
    a.mov(eax, 0x0001_0800u32)?;
    a.bsf(ebx, eax)?;
    h.check_flags(ZF, 0, "bsf: ZF=0")?;
    h.check(ebx, 11, "bsf 0x00010800")?;
    h.a.bsr(ecx, eax)?;
    h.check(ecx, 16, "bsr 0x00010800")?;
    // A zero source sets ZF (the destination is undefined: not checked).
    let a = &mut h.a;
    a.xor(eax, eax)?;
    a.bsf(ebx, eax)?;
    h.check_flags(ZF, ZF, "bsf 0: ZF=1")?;
    // BT copies the bit to CF; BTS/BTR/BTC also set/clear/flip it.
    let a = &mut h.a;
    a.mov(eax, 0x0000_0020u32)?;
    a.bt(eax, 5)?;
    h.check_flags(CF, CF, "bt eax, 5: CF=1")?;
    h.a.bts(eax, 31)?;
    h.check_flags(CF, 0, "bts eax, 31: CF=0 (was clear)")?;
    h.check(eax, 0x8000_0020, "bts eax, 31")?;
    h.a.btr(eax, 5)?;
    h.check_flags(CF, CF, "btr eax, 5: CF=1 (was set)")?;
    h.check(eax, 0x8000_0000, "btr eax, 5")?;
    let a = &mut h.a;
    a.mov(edx, 0u32)?;
    a.btc(eax, edx)?;
    h.check(eax, 0x8000_0001, "btc eax, edx=0")?;
    // With a register offset, a memory operand is a bit string: bit 35 of
    // [MEM] is bit 3 of the dword at MEM+4.
    let a = &mut h.a;
    a.mov(dword_ptr(MEM), 0u32)?;
    a.mov(dword_ptr(MEM + 4), 0u32)?;
    a.mov(ecx, 35u32)?;
    a.bts(dword_ptr(MEM), ecx)?;
    h.check(m32(ptr(MEM + 4)), 0x8, "bts [mem], 35: dword at +4")?;
    h.check(m32(ptr(MEM)), 0, "bts [mem], 35: dword at +0")?;
    h.a.bt(dword_ptr(MEM), ecx)?;
    h.check_flags(CF, CF, "bt [mem], 35: CF=1")
}

fn double_shifts(h: &mut Harness) -> Result<(), IcedError> {
    h.print("shld/shrd\r\n")?;
    // SHLD: 0x12345678 << 8, filled from the top of 0x9ABCDEF0; the last
    // bit out is bit 24 of 0x12345678 (0).
    let a = &mut h.a;
    a.mov(eax, 0x1234_5678u32)?;
    a.mov(ebx, 0x9abc_def0u32)?;
    a.shld(eax, ebx, 8)?;
    h.check_flags(CF, 0, "shld eax, ebx, 8: CF")?;
    h.check(eax, 0x3456_789a, "shld eax, ebx, 8")?;
    // SHRD by CL = 4: the low nibble of EBX (0) comes in at the top; the
    // last bit out is bit 3 of 0x12345678 (1).
    let a = &mut h.a;
    a.mov(eax, 0x1234_5678u32)?;
    a.mov(cl, 4u32)?;
    a.shrd(eax, ebx, cl)?;
    h.check_flags(CF, CF, "shrd eax, ebx, cl=4: CF")?;
    h.check(eax, 0x0123_4567, "shrd eax, ebx, cl=4")?;
    // 16-bit: 0xABCD << 4 filled from the top nibble of 0x1234.
    let a = &mut h.a;
    a.mov(ax, 0xabcdu32)?;
    a.mov(dx, 0x1234u32)?;
    a.shld(ax, dx, 4)?;
    h.check(ax, 0xbcd1, "shld ax, dx, 4")?;
    // A count of 0 changes nothing, flags included.
    let a = &mut h.a;
    a.mov(eax, 0x1234_5678u32)?;
    a.mov(cl, 0u32)?;
    a.stc()?;
    a.shrd(eax, ebx, cl)?;
    h.check_flags(CF, CF, "shrd count 0: CF kept")?;
    h.check(eax, 0x1234_5678, "shrd count 0: EAX kept")
}

fn extensions(h: &mut Harness) -> Result<(), IcedError> {
    h.print("movzx/movsx\r\n")?;
    let a = &mut h.a;
    a.mov(byte_ptr(MEM), 0x80u32)?;
    a.mov(word_ptr(MEM + 2), 0x8001u32)?;
    a.movzx(eax, byte_ptr(MEM))?;
    h.check(eax, 0x80, "movzx eax, byte 0x80")?;
    h.a.movsx(eax, byte_ptr(MEM))?;
    h.check(eax, 0xffff_ff80, "movsx eax, byte 0x80")?;
    h.a.movsx(ebx, word_ptr(MEM + 2))?;
    h.check(ebx, 0xffff_8001, "movsx ebx, word 0x8001")?;
    h.a.movzx(ecx, word_ptr(MEM + 2))?;
    h.check(ecx, 0x8001, "movzx ecx, word 0x8001")?;
    let a = &mut h.a;
    a.mov(dl, 0xfeu32)?;
    a.movsx(si, dl)?;
    h.check(si, 0xfffe, "movsx si, dl")
}

fn atomics(h: &mut Harness) -> Result<(), IcedError> {
    h.print("cmpxchg/xadd/bswap\r\n")?;
    // Equal: the source is stored, ZF=1.
    let a = &mut h.a;
    a.mov(dword_ptr(MEM), 5u32)?;
    a.mov(eax, 5u32)?;
    a.mov(ecx, 9u32)?;
    a.cmpxchg(dword_ptr(MEM), ecx)?;
    h.check_flags(ZF, ZF, "cmpxchg (equal): ZF=1")?;
    h.check(m32(ptr(MEM)), 9, "cmpxchg (equal): memory")?;
    h.check(eax, 5, "cmpxchg (equal): EAX")?;
    // Not equal: the accumulator is loaded, memory kept, ZF=0.
    let a = &mut h.a;
    a.mov(eax, 5u32)?;
    a.mov(ecx, 11u32)?;
    a.cmpxchg(dword_ptr(MEM), ecx)?;
    h.check_flags(ZF, 0, "cmpxchg (different): ZF=0")?;
    h.check(m32(ptr(MEM)), 9, "cmpxchg (different): memory")?;
    h.check(eax, 9, "cmpxchg (different): EAX")?;
    // 8-bit register form.
    let a = &mut h.a;
    a.mov(al, 0x10u32)?;
    a.mov(bl, 0x10u32)?;
    a.mov(cl, 0x22u32)?;
    a.cmpxchg(bl, cl)?;
    h.check(bl, 0x22, "cmpxchg bl, cl (equal)")?;
    // XADD: destination gets the sum, source the old destination.
    let a = &mut h.a;
    a.mov(eax, 3u32)?;
    a.mov(ebx, 0xffff_fffeu32)?;
    a.xadd(ebx, eax)?;
    h.check_flags(CF | ZF, CF, "xadd ebx, eax: flags of the add")?;
    h.check(ebx, 1, "xadd ebx, eax: sum")?;
    h.check(eax, 0xffff_fffe, "xadd ebx, eax: old value")?;
    let a = &mut h.a;
    a.mov(byte_ptr(MEM), 0x40u32)?;
    a.mov(dl, 0x02u32)?;
    a.lock().xadd(byte_ptr(MEM), dl)?;
    h.check(m8(ptr(MEM)), 0x42, "lock xadd [mem], dl: memory")?;
    h.check(dl, 0x40, "lock xadd [mem], dl: DL")?;
    let a = &mut h.a;
    a.mov(eax, 0x1234_5678u32)?;
    a.bswap(eax)?;
    h.check(eax, 0x7856_3412, "bswap eax")
}

fn cpuid_rdtsc(h: &mut Harness) -> Result<(), IcedError> {
    h.print("cpuid/rdtsc\r\n")?;
    // Leaf 0: "GenuineIntel" in EBX, EDX, ECX.
    let a = &mut h.a;
    a.xor(eax, eax)?;
    a.cpuid()?;
    h.check(ebx, u32::from_le_bytes(*b"Genu"), "cpuid 0: EBX")?;
    h.check(edx, u32::from_le_bytes(*b"ineI"), "cpuid 0: EDX")?;
    h.check(ecx, u32::from_le_bytes(*b"ntel"), "cpuid 0: ECX")?;
    // The time-stamp counter moves forwards: a second read minus the first
    // is positive (as a 64-bit difference, high half 0, low half non-zero).
    let a = &mut h.a;
    a.rdtsc()?;
    a.mov(esi, eax)?;
    a.mov(edi, edx)?;
    a.nop()?;
    a.rdtsc()?;
    a.sub(eax, esi)?;
    a.sbb(edx, edi)?;
    h.check(edx, 0, "rdtsc: difference, high half")?;
    let a = &mut h.a;
    let mut ok = a.create_label();
    a.test(eax, eax)?;
    a.jnz(ok)?;
    h.fail("rdtsc: the counter did not move")?;
    h.a.set_label(&mut ok)?;
    h.a.nop()
}

/// Packed and unpacked BCD adjustments (SDM vol. 2, DAA/DAS/AAA/AAS/AAM/AAD).
fn bcd(h: &mut Harness) -> Result<(), IcedError> {
    h.print("daa/das/aaa/aas/aam/aad\r\n")?;
    // 79 + 35 = 114: 0x79 + 0x35 = 0xAE; DAA -> 0x14 with CF=1 (the
    // hundreds) and AF=1.
    let a = &mut h.a;
    a.mov(al, 0x79u32)?;
    a.add(al, 0x35)?;
    a.daa()?;
    h.check_flags(CF | AF, CF | AF, "daa 79+35: CF=1 AF=1")?;
    h.check(al, 0x14, "daa 79+35")?;
    // 35 - 47 = -12: 0x35 - 0x47 = 0xEE; DAS -> 0x88 (100 - 12) with CF=1.
    let a = &mut h.a;
    a.mov(al, 0x35u32)?;
    a.sub(al, 0x47)?;
    a.das()?;
    h.check_flags(CF, CF, "das 35-47: CF=1")?;
    h.check(al, 0x88, "das 35-47")?;
    // 5 + 6 = 11 unpacked: AL = 0x0B; AAA -> AH += 1, AL = 1, CF=AF=1.
    let a = &mut h.a;
    a.mov(ax, 0x0005u32)?;
    a.add(al, 6)?;
    a.aaa()?;
    h.check_flags(CF | AF, CF | AF, "aaa 5+6: CF=1 AF=1")?;
    h.check(ax, 0x0101, "aaa 5+6")?;
    // 3 - 5 = -2 unpacked: AL = 0xFE; AAS -> AL = 8, AH -= 1, CF=AF=1.
    let a = &mut h.a;
    a.mov(ax, 0x0203u32)?;
    a.sub(al, 5)?;
    a.aas()?;
    h.check_flags(CF | AF, CF | AF, "aas 3-5: CF=1 AF=1")?;
    h.check(ax, 0x0108, "aas 3-5")?;
    // AAM: 63 -> AH = 6, AL = 3. AAD: AH*10 + AL -> 63, AH = 0.
    let a = &mut h.a;
    a.mov(ax, 63u32)?;
    a.aam(10)?;
    h.check(ax, 0x0603, "aam 63")?;
    h.a.aad(10)?;
    h.check(ax, 63, "aad 6,3")?;
    // AAM with another base: 0x3F / 16 -> AH = 3, AL = 15.
    let a = &mut h.a;
    a.mov(ax, 0x3fu32)?;
    a.aam(16)?;
    h.check(ax, 0x030f, "aam 16 of 0x3f")
}

//! Shared machinery for the system-architecture ROMs: descriptors, a GDT
//! and IDT built at build time, entering protected mode (and leaving it),
//! a library of exception handlers that record what the CPU pushed, and
//! `expect_fault`, which runs an instruction that must fault and checks the
//! vector, the error code and the pushed return address.
//!
//! Layout of a system ROM image (offsets in segment F000 / linear 0xF0000):
//! - 0x0000..0xC000: the main code (`Harness`), 16-bit, run in real mode
//!   and then in protected mode through `CS16`, whose base is 0xF0000, so
//!   an offset in the image is also the offset in CS in every mode;
//! - 0xC000..0xD000: code a ROM assembles separately at a fixed address
//!   (32- and 64-bit code, and handlers whose address a gate must hold);
//! - 0xD000..0xE000: the IDT and GDT templates and their pseudo-descriptors;
//! - 0xE000..0xF000: the handler library (`Lib`).
//!
//! Conventions in RAM (linear addresses below 64 KiB, reached through SS,
//! whose base is 0 in every mode these ROMs use): the records at 0x0600,
//! GDT at 0x1000, IDT at 0x2000, the main TSS at 0x3000, an LDT at 0x4000,
//! ring-3 stack below 0x6C00, TSS.ESP0 stack below 0x7400, the main stack
//! below 0x7C00 (from the harness).

use crate::harness::{exit_with, Harness, EXIT_FAIL, FAIL_MARK};
use iced_x86::code_asm::*;
use iced_x86::{BlockEncoderOptions, Code, Instruction, MemoryOperand, Register};
use xlat_bios::console::Console;
use xlat_bios::rom::{code_address, ROM_SEGMENT};

/// Linear address of the ROM's segment F000.
pub const ROM_BASE: u32 = (ROM_SEGMENT as u32) << 4;
/// Where separately assembled ROM-specific code goes (see the module doc).
pub const EXTRA_OFFSET: usize = 0xc000;
pub const TABLES_OFFSET: usize = 0xd000;
pub const LIB_OFFSET: usize = 0xe000;

// ---- RAM layout ----
pub const GDT_BASE: u32 = 0x1000;
pub const IDT_BASE: u32 = 0x2000;
pub const TSS_BASE: u32 = 0x3000;
pub const LDT_BASE: u32 = 0x4000;
pub const RING3_STACK: u32 = 0x6c00;
pub const RING0_STACK: u32 = 0x7400;
/// Scratch memory free for any test.
pub const SCRATCH: u32 = 0x8000;

// ---- Records written by the handler library (dwords) ----
/// Vector of the last exception (0xFFFFFFFF: none since `arm`).
pub const REC_VEC: u32 = 0x0600;
/// Error code pushed (0 for vectors without one).
pub const REC_ERR: u32 = 0x0604;
pub const REC_EIP: u32 = 0x0608;
pub const REC_CS: u32 = 0x060c;
pub const REC_EFLAGS: u32 = 0x0610;
/// The outer ESP and SS, pushed only on a privilege change.
pub const REC_ESP: u32 = 0x0614;
pub const REC_SS: u32 = 0x0618;
/// Linear address (offset in SS) of the pushed EIP: where the frame ends.
pub const REC_FRAME: u32 = 0x061c;
/// SS in the handler.
pub const REC_HSS: u32 = 0x0620;
/// Exceptions taken so far.
pub const REC_COUNT: u32 = 0x0624;
/// Offset in CS where the handler resumes (0: the exception is unexpected).
pub const RESUME: u32 = 0x0628;
/// Word: the offset of the `pop` that `mark` emits; the next instruction
/// starts `MARK_LEN` bytes later.
pub const MARK: u32 = 0x062c;
/// ESP saved by `ring3` while ring-3 code runs.
pub const SAVED_ESP0: u32 = 0x0630;
/// DR6 read by the handler (debug exceptions).
pub const REC_DR6: u32 = 0x0634;
/// EFLAGS inside the handler.
pub const REC_HFLAGS: u32 = 0x0638;
/// Length of `pop word [ss:MARK]` (36 8F 06 lo hi).
pub const MARK_LEN: u32 = 5;

// ---- Selectors of the standard GDT ----
pub const CS16: u16 = 0x08;
pub const DS: u16 = 0x10;
pub const CS32: u16 = 0x18;
pub const CS64: u16 = 0x20;
pub const CS16_3: u16 = 0x28 | 3;
pub const DS_3: u16 = 0x30 | 3;
pub const TSS_SEL: u16 = 0x38;
/// Data, base 0, limit 0xFFFF, 16-bit: what real mode expects in the caches.
pub const RDS: u16 = 0x40;
pub const CS32_3: u16 = 0x48 | 3;
/// Flat 32-bit ring-3 data at CS32_3 + 8 (SYSEXIT's layout).
pub const DS32_3: u16 = 0x50 | 3;
pub const LDT_SEL: u16 = 0x58;
/// First selector free for a ROM's own descriptors.
pub const FIRST_FREE: u16 = 0x60;

/// Vector of the DPL-3 interrupt gate that ends a `ring3` excursion.
pub const BACK_TO_RING0: u8 = 0x7f;

// ---- Descriptor access bytes (P=1, DPL 0) ----
pub const CODE_XR: u8 = 0x9a;
pub const CODE_X: u8 = 0x98;
pub const CODE_CONFORMING_XR: u8 = 0x9e;
pub const DATA_RW: u8 = 0x92;
pub const DATA_R: u8 = 0x90;
pub const DATA_DOWN_RW: u8 = 0x96;
pub const LDT_TYPE: u8 = 0x82;
pub const TSS16_AVAIL: u8 = 0x81;
pub const TSS32_AVAIL: u8 = 0x89;
pub const TSS32_BUSY: u8 = 0x8b;
pub const CALL_GATE16: u8 = 0x84;
pub const TASK_GATE: u8 = 0x85;
pub const INT_GATE16: u8 = 0x86;
pub const TRAP_GATE16: u8 = 0x87;
pub const CALL_GATE32: u8 = 0x8c;
pub const INT_GATE32: u8 = 0x8e;
pub const TRAP_GATE32: u8 = 0x8f;
/// DPL field of an access byte.
pub const fn dpl(level: u8) -> u8 {
    level << 5
}
/// Clears P in an access byte.
pub const NOT_PRESENT: u8 = 0x7f;

// ---- Flags nibble (descriptor bits 52..55) ----
pub const G: u8 = 8;
pub const DB: u8 = 4;
pub const L: u8 = 2;

// ---- EFLAGS ----
pub const EF_CF: u32 = 1;
pub const EF_TF: u32 = 1 << 8;
pub const EF_IF: u32 = 1 << 9;
pub const EF_IOPL3: u32 = 3 << 12;
pub const EF_NT: u32 = 1 << 14;
pub const EF_RF: u32 = 1 << 16;
pub const EF_VM: u32 = 1 << 17;

/// A code or data (or system) segment descriptor. `limit` is the 20-bit
/// field (in pages when `flags` has G).
pub const fn seg(base: u32, limit: u32, access: u8, flags: u8) -> u64 {
    (limit as u64 & 0xffff)
        | ((base as u64 & 0xff_ffff) << 16)
        | ((access as u64) << 40)
        | (((limit as u64 >> 16) & 0xf) << 48)
        | (((flags & 0xf) as u64) << 52)
        | (((base as u64 >> 24) & 0xff) << 56)
}

/// A gate (call, interrupt, trap or task) in a 32-bit IDT or GDT. `params`
/// is a call gate's parameter count.
pub const fn gate(selector: u16, offset: u32, access: u8, params: u8) -> u64 {
    (offset as u64 & 0xffff)
        | ((selector as u64) << 16)
        | (((params & 0x1f) as u64) << 32)
        | ((access as u64) << 40)
        | (((offset as u64 >> 16) & 0xffff) << 48)
}

/// A long-mode (16-byte) IDT gate or call gate: low and high quadwords.
pub const fn gate64(selector: u16, offset: u64, access: u8, ist: u8) -> [u64; 2] {
    [
        (offset & 0xffff)
            | ((selector as u64) << 16)
            | (((ist & 7) as u64) << 32)
            | ((access as u64) << 40)
            | (((offset >> 16) & 0xffff) << 48),
        offset >> 32,
    ]
}

/// Does the CPU push an error code for exception `vector`?
pub const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// Emits an instruction code_asm has no 16-bit-code spelling for (a
/// 32-bit operand form, say).
pub fn raw(a: &mut CodeAssembler, instr: Instruction) -> Result<(), IcedError> {
    a.add_instruction(instr)
}

/// PUSH imm32 with an operand-size prefix in 16-bit code.
pub fn pushd(a: &mut CodeAssembler, value: u32) -> Result<(), IcedError> {
    raw(a, Instruction::with1(Code::Pushd_imm32, value as i32)?)
}

/// JMP FAR ptr16:32 from 16-bit code.
pub fn jmp_far32(a: &mut CodeAssembler, selector: u16, offset: u32) -> Result<(), IcedError> {
    raw(
        a,
        Instruction::with_far_branch(Code::Jmp_ptr1632, selector, offset)?,
    )
}

/// CALL FAR ptr16:32 from 16-bit code.
pub fn call_far32(a: &mut CodeAssembler, selector: u16, offset: u32) -> Result<(), IcedError> {
    raw(
        a,
        Instruction::with_far_branch(Code::Call_ptr1632, selector, offset)?,
    )
}

/// RETF with a 32-bit operand size from 16-bit code.
pub fn retfd(a: &mut CodeAssembler) -> Result<(), IcedError> {
    raw(a, Instruction::with(Code::Retfd))
}

/// A far jump to `label` (in the main code) through `selector`: pushes the
/// selector and the address of a trampoline, then RETF. Clobbers AX.
pub fn far_jump_to(
    a: &mut CodeAssembler,
    selector: u16,
    label: CodeLabel,
) -> Result<(), IcedError> {
    a.push(u32::from(selector))?;
    code_address(a, ax, |a| a.jmp(label))?;
    a.push(ax)?;
    a.retf()
}

/// Loads `reg` with the offset of a trampoline that jumps to `label`: the
/// address to give a far transfer or `RESUME`.
pub fn address_of(
    a: &mut CodeAssembler,
    reg: AsmRegister16,
    label: CodeLabel,
) -> Result<(), IcedError> {
    code_address(a, reg, |a| a.jmp(label))
}

/// A memory operand in the F000 segment holding a far pointer image
/// `offset:selector` (16:16), for indirect far transfers.
pub fn mem_cs(offset: u32) -> MemoryOperand {
    MemoryOperand::with_base_displ_size_bcst_seg(
        Register::None,
        offset as i64,
        2,
        false,
        Register::CS,
    )
}

/// The handler library: 16-bit code at `LIB_OFFSET`, reached through 32-bit
/// interrupt gates with a 32-bit stack. Each vector has a stub that pushes
/// a zero error code when the CPU does not, then the vector, and jumps to
/// a recorder. The recorder writes the `REC_*` records and resumes at
/// `RESUME` (clearing it), or reports an unexpected exception and fails
/// the ROM. ROMs add their own handlers to `a` before `assemble`.
pub struct Lib {
    pub a: CodeAssembler,
    con: Console,
    stubs: Vec<CodeLabel>,
    back_to_ring0: CodeLabel,
}

/// The assembled library: its bytes and the addresses of its labels.
pub struct LibImage {
    pub bytes: Vec<u8>,
    stubs: Vec<u32>,
    back_to_ring0: u32,
    result: CodeAssemblerResult,
}

impl LibImage {
    /// Offset in CS16 (= offset in the image) of `label`.
    pub fn addr(&self, label: &CodeLabel) -> u32 {
        self.result.label_ip(label).expect("label in the library") as u32
    }
    /// Offset of the recording stub of `vector`.
    pub fn stub(&self, vector: u8) -> u32 {
        self.stubs[usize::from(vector)]
    }
}

impl Lib {
    pub fn new(name: &'static str) -> Result<Self, IcedError> {
        let mut a = CodeAssembler::new(16)?;
        let con = Console::new(&mut a);
        let mut common = a.create_label();
        let mut stubs = Vec::new();
        for vector in 0..=255u8 {
            let mut l = a.create_label();
            a.set_label(&mut l)?;
            stubs.push(l);
            if !has_error_code(vector) {
                raw(&mut a, Instruction::with1(Code::Pushd_imm8, 0)?)?;
            }
            if vector < 0x80 {
                raw(
                    &mut a,
                    Instruction::with1(Code::Pushd_imm8, i32::from(vector))?,
                )?;
            } else {
                pushd(&mut a, u32::from(vector))?;
            }
            a.jmp(common)?;
        }

        // [ebp] ebp, +4 vector, +8 error code, +12 EIP, +16 CS, +20 EFLAGS,
        // +24 ESP, +28 SS (the last two only from an outer ring).
        a.set_label(&mut common)?;
        a.push(ebp)?;
        a.mov(ebp, esp)?;
        a.push(eax)?;
        for (disp, rec) in [
            (4, REC_VEC),
            (8, REC_ERR),
            (12, REC_EIP),
            (16, REC_CS),
            (20, REC_EFLAGS),
            (24, REC_ESP),
            (28, REC_SS),
        ] {
            a.mov(eax, dword_ptr(ebp + disp))?;
            a.mov(dword_ptr(rec).ss(), eax)?;
        }
        a.and(dword_ptr(REC_CS).ss(), 0xffff)?;
        a.lea(eax, dword_ptr(ebp + 12))?;
        a.mov(dword_ptr(REC_FRAME).ss(), eax)?;
        a.xor(eax, eax)?;
        a.mov(ax, ss)?;
        a.mov(dword_ptr(REC_HSS).ss(), eax)?;
        a.inc(dword_ptr(REC_COUNT).ss())?;
        a.pushfd()?;
        a.pop(eax)?;
        a.mov(dword_ptr(REC_HFLAGS).ss(), eax)?;
        // #DB: keep DR6 and clear it for the next one.
        let mut not_db = a.create_label();
        a.cmp(dword_ptr(REC_VEC).ss(), 1)?;
        a.jne(not_db)?;
        a.mov(eax, dr6)?;
        a.mov(dword_ptr(REC_DR6).ss(), eax)?;
        a.xor(eax, eax)?;
        a.mov(dr6, eax)?;
        a.set_label(&mut not_db)?;
        let mut unexpected = a.create_label();
        a.mov(eax, dword_ptr(RESUME).ss())?;
        a.test(eax, eax)?;
        a.jz(unexpected)?;
        a.mov(dword_ptr(ebp + 12), eax)?;
        a.mov(dword_ptr(RESUME).ss(), 0)?;
        // Resume without single-stepping into the recovery code.
        a.and(dword_ptr(ebp + 20), !EF_TF)?;
        a.pop(eax)?;
        a.pop(ebp)?;
        a.add(esp, 8)?;
        a.iretd()?;

        a.set_label(&mut unexpected)?;
        con.print(
            &mut a,
            &format!("{FAIL_MARK} {name}: unexpected exception, vector 0x"),
        )?;
        a.mov(eax, dword_ptr(REC_VEC).ss())?;
        con.hex8(&mut a)?;
        con.print(&mut a, " error 0x")?;
        a.mov(eax, dword_ptr(REC_ERR).ss())?;
        con.hex32(&mut a)?;
        con.print(&mut a, " at ")?;
        a.mov(eax, dword_ptr(REC_CS).ss())?;
        con.hex16(&mut a)?;
        con.print(&mut a, ":")?;
        a.mov(eax, dword_ptr(REC_EIP).ss())?;
        con.hex32(&mut a)?;
        con.print(&mut a, "\r\n")?;
        exit_with(&mut a, EXIT_FAIL)?;

        // The end of a `ring3` excursion: back on the stack and in the
        // segments the ring-0 code had, then RET to the code after `ring3`.
        let mut back_to_ring0 = a.create_label();
        a.set_label(&mut back_to_ring0)?;
        a.mov(ax, u32::from(DS))?;
        a.mov(ds, ax)?;
        a.mov(es, ax)?;
        a.mov(fs, ax)?;
        a.mov(gs, ax)?;
        a.mov(ss, ax)?;
        a.mov(esp, dword_ptr(SAVED_ESP0).ss())?;
        a.ret()?;

        Ok(Lib {
            a,
            con,
            stubs,
            back_to_ring0,
        })
    }

    /// Prints `text` from library code.
    pub fn print(&mut self, text: &str) -> Result<(), IcedError> {
        self.con.print(&mut self.a, text)
    }

    pub fn assemble(mut self) -> Result<LibImage, IcedError> {
        self.con.emit(&mut self.a)?;
        let result = self.a.assemble_options(
            LIB_OFFSET as u64,
            BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
        )?;
        assert!(
            result.inner.code_buffer.len() <= 0x1000,
            "handler library too big"
        );
        let stubs = self
            .stubs
            .iter()
            .map(|l| result.label_ip(l).unwrap() as u32)
            .collect();
        let back_to_ring0 = result.label_ip(&self.back_to_ring0)? as u32;
        Ok(LibImage {
            bytes: result.inner.code_buffer.clone(),
            stubs,
            back_to_ring0,
            result,
        })
    }
}

/// A separately assembled piece of code at a fixed linear address
/// (32- or 64-bit code, say), placed at `offset` in the image.
pub struct Blob {
    pub a: CodeAssembler,
    offset: usize,
    base: u64,
}

pub struct BlobImage {
    pub offset: usize,
    pub bytes: Vec<u8>,
    result: CodeAssemblerResult,
}

impl Blob {
    /// `base` is the address the code runs at: `ROM_BASE + offset` in a
    /// flat segment, `offset` in CS16.
    pub fn new(bitness: u32, offset: usize, base: u64) -> Result<Self, IcedError> {
        Ok(Blob {
            a: CodeAssembler::new(bitness)?,
            offset,
            base,
        })
    }

    pub fn assemble(mut self) -> Result<BlobImage, IcedError> {
        let result = self.a.assemble_options(
            self.base,
            BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
        )?;
        Ok(BlobImage {
            offset: self.offset,
            bytes: result.inner.code_buffer.clone(),
            result,
        })
    }
}

impl BlobImage {
    pub fn addr(&self, label: &CodeLabel) -> u64 {
        self.result.label_ip(label).expect("label in the blob")
    }
    pub fn placed(&self) -> (usize, Vec<u8>) {
        (self.offset, self.bytes.clone())
    }
}

/// The GDT and IDT the ROM starts protected mode with, built at build time.
pub struct Tables {
    pub gdt: Vec<u64>,
    pub idt: Vec<u64>,
}

impl Tables {
    /// The standard GDT (selectors above) and an IDT whose every vector is
    /// a DPL-0 32-bit interrupt gate to the library's recorder, except
    /// `BACK_TO_RING0` (DPL 3).
    pub fn standard(lib: &LibImage) -> Self {
        let flat = 0xfffff;
        let mut gdt = vec![0u64; usize::from(FIRST_FREE / 8)];
        gdt[usize::from(CS16 / 8)] = seg(ROM_BASE, 0xffff, CODE_XR, 0);
        gdt[usize::from(DS / 8)] = seg(0, flat, DATA_RW, G | DB);
        gdt[usize::from(CS32 / 8)] = seg(0, flat, CODE_XR, G | DB);
        gdt[usize::from(CS64 / 8)] = seg(0, flat, CODE_XR, G | L);
        gdt[usize::from(CS16_3 / 8)] = seg(ROM_BASE, 0xffff, CODE_XR | dpl(3), 0);
        gdt[usize::from(DS_3 / 8)] = seg(0, flat, DATA_RW | dpl(3), G | DB);
        gdt[usize::from(TSS_SEL / 8)] = seg(TSS_BASE, 0x67, TSS32_AVAIL, 0);
        gdt[usize::from(RDS / 8)] = seg(0, 0xffff, DATA_RW, 0);
        gdt[usize::from(CS32_3 / 8)] = seg(0, flat, CODE_XR | dpl(3), G | DB);
        gdt[usize::from(DS32_3 / 8)] = seg(0, flat, DATA_RW | dpl(3), G | DB);
        gdt[usize::from(LDT_SEL / 8)] = seg(LDT_BASE, 0xff, LDT_TYPE, 0);
        let mut idt: Vec<u64> = (0..=255u8)
            .map(|v| gate(CS16, lib.stub(v), INT_GATE32, 0))
            .collect();
        idt[usize::from(BACK_TO_RING0)] = gate(CS16, lib.back_to_ring0, INT_GATE32 | dpl(3), 0);
        Tables { gdt, idt }
    }

    /// Appends a descriptor; returns its selector (RPL 0).
    pub fn add(&mut self, desc: u64) -> u16 {
        self.gdt.push(desc);
        ((self.gdt.len() - 1) * 8) as u16
    }

    /// The image blob: IDT at TABLES_OFFSET, GDT at +0x800, then the
    /// GDTR and IDTR images.
    fn bytes(&self) -> Vec<u8> {
        assert!(self.idt.len() * 8 <= 0x800 && self.gdt.len() * 8 <= 0x400);
        let mut b = vec![0u8; 0xc10];
        for (i, d) in self.idt.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&d.to_le_bytes());
        }
        for (i, d) in self.gdt.iter().enumerate() {
            b[0x800 + i * 8..0x808 + i * 8].copy_from_slice(&d.to_le_bytes());
        }
        let gdtr = pseudo_descriptor(GDT_BASE, self.gdt.len() * 8 - 1);
        let idtr = pseudo_descriptor(IDT_BASE, self.idt.len() * 8 - 1);
        b[0xc00..0xc06].copy_from_slice(&gdtr);
        b[0xc08..0xc0e].copy_from_slice(&idtr);
        b
    }

    pub fn placed(&self) -> (usize, Vec<u8>) {
        (TABLES_OFFSET, self.bytes())
    }
}

/// Offsets in CS of the GDTR and IDTR images in the tables blob.
pub const GDTR_IMAGE: u32 = TABLES_OFFSET as u32 + 0xc00;
pub const IDTR_IMAGE: u32 = TABLES_OFFSET as u32 + 0xc08;

pub fn pseudo_descriptor(base: u32, limit: usize) -> [u8; 6] {
    let mut p = [0u8; 6];
    p[..2].copy_from_slice(&(limit as u16).to_le_bytes());
    p[2..].copy_from_slice(&base.to_le_bytes());
    p
}

/// In real mode with ES = 0: copies `len` bytes from F000:`from` to
/// linear `to` (below 64 KiB).
fn copy_from_rom(a: &mut CodeAssembler, from: u32, to: u32, len: u32) -> Result<(), IcedError> {
    a.push(ds)?;
    a.push(cs)?;
    a.pop(ds)?;
    a.mov(si, from)?;
    a.mov(di, to)?;
    a.mov(cx, len)?;
    a.rep().movsb()?;
    a.pop(ds)
}

/// In real mode: copies the tables to RAM, zeroes the main TSS (ESP0 =
/// `RING0_STACK`, SS0 = `DS`, no I/O bitmap) and the records, loads GDTR
/// and IDTR, sets CR0.PE and continues in `CS16` with every data segment
/// `DS`, ESP = SP and TR = `TSS_SEL`. Clobbers EAX, ECX, ESI, EDI.
pub fn enter_pm(h: &mut Harness) -> Result<(), IcedError> {
    let a = &mut h.a;
    copy_from_rom(a, TABLES_OFFSET as u32, IDT_BASE, 0x800)?;
    copy_from_rom(a, TABLES_OFFSET as u32 + 0x800, GDT_BASE, 0x400)?;
    // Zero the records and the TSS.
    a.xor(eax, eax)?;
    a.mov(edi, REC_VEC)?;
    a.mov(ecx, 0x40u32)?;
    a.rep().stosb()?;
    a.mov(edi, TSS_BASE)?;
    a.mov(ecx, 0x68u32)?;
    a.rep().stosb()?;
    a.mov(dword_ptr(TSS_BASE + 4).ss(), RING0_STACK)?;
    a.mov(dword_ptr(TSS_BASE + 8).ss(), u32::from(DS))?;
    // I/O map base beyond the limit: no bitmap.
    a.mov(word_ptr(TSS_BASE + 0x66).ss(), 0x68)?;
    a.mov(dword_ptr(REC_VEC).ss(), 0xffff_ffffu32)?;
    load_tables(a)?;
    a.mov(eax, cr0)?;
    a.or(al, 1)?;
    a.mov(cr0, eax)?;
    let mut pm = a.create_label();
    far_jump_to(a, CS16, pm)?;
    a.set_label(&mut pm)?;
    load_data_segments(a, DS)?;
    a.movzx(esp, sp)?;
    a.mov(ax, u32::from(TSS_SEL))?;
    a.ltr(ax)
}

/// LGDT and LIDT from the images in the tables blob (32-bit operand size,
/// so all 32 bits of the base count).
pub fn load_tables(a: &mut CodeAssembler) -> Result<(), IcedError> {
    raw(a, Instruction::with1(Code::Lgdt_m1632, mem_cs(GDTR_IMAGE))?)?;
    raw(a, Instruction::with1(Code::Lidt_m1632, mem_cs(IDTR_IMAGE))?)
}

/// DS = ES = FS = GS = SS = `sel`. Clobbers AX.
pub fn load_data_segments(a: &mut CodeAssembler, sel: u16) -> Result<(), IcedError> {
    a.mov(ax, u32::from(sel))?;
    a.mov(ds, ax)?;
    a.mov(es, ax)?;
    a.mov(fs, ax)?;
    a.mov(gs, ax)?;
    a.mov(ss, ax)
}

/// From 16-bit protected mode (CPL 0, paging off) back to real mode: data
/// caches get real-mode limits from `data` (`RDS`, or `DS` for unreal
/// mode), PE is cleared, CS becomes F000, the segments 0 and the IVT is
/// at 0 again. Clobbers EAX.
pub fn leave_pm(h: &mut Harness, data: u16) -> Result<(), IcedError> {
    let a = &mut h.a;
    load_data_segments(a, data)?;
    a.mov(eax, cr0)?;
    a.and(al, 0xfe)?;
    a.mov(cr0, eax)?;
    let mut real = a.create_label();
    far_jump_to(a, ROM_SEGMENT, real)?;
    a.set_label(&mut real)?;
    a.xor(ax, ax)?;
    a.mov(ds, ax)?;
    a.mov(es, ax)?;
    a.mov(fs, ax)?;
    a.mov(gs, ax)?;
    a.mov(ss, ax)?;
    let ivt = pseudo_descriptor(0, 0x3ff);
    a.push(bx)?;
    xlat_bios::rom::data_address(a, bx, &ivt)?;
    a.lidt(ptr(bx).cs())?;
    a.pop(bx)
}

/// Before an event: nothing recorded, and the handler resumes at `resume`.
/// Preserves every register and the flags (without PUSHF, which V86 code
/// with IOPL < 3 cannot run).
pub fn arm(a: &mut CodeAssembler, resume: CodeLabel) -> Result<(), IcedError> {
    a.push(eax)?;
    a.mov(dword_ptr(REC_VEC).ss(), 0xffff_ffffu32)?;
    a.mov(dword_ptr(REC_ERR).ss(), 0xffff_ffffu32)?;
    address_of(a, ax, resume)?;
    a.movzx(eax, ax)?;
    a.mov(dword_ptr(RESUME).ss(), eax)?;
    a.pop(eax)
}

/// Records (in `MARK`) where the next instruction starts, less `MARK_LEN`.
/// Changes no register or flag.
pub fn mark(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut here = a.create_label();
    a.call(here)?;
    a.set_label(&mut here)?;
    a.pop(word_ptr(MARK).ss())
}

/// What `expect_fault` checks about the pushed return address.
#[derive(Clone, Copy, PartialEq)]
pub enum Pushed {
    /// The faulting instruction (a fault).
    AtInstruction,
    /// `n` bytes past its start (a trap after an n-byte instruction).
    After(u32),
    /// Not checked.
    Unchecked,
}

/// Runs `setup`, then `event`, whose first instruction must raise `vector`
/// (with `error`, if given); checks the record and the pushed EIP.
/// Continues after `event` either way (a missing exception is a failure).
/// Registers are as the fault left them; the handler changes none.
pub fn expect_fault(
    h: &mut Harness,
    what: &str,
    vector: u8,
    error: Option<u32>,
    pushed: Pushed,
    setup: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
    event: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Result<(), IcedError> {
    let mut resume = h.a.create_label();
    arm(&mut h.a, resume)?;
    setup(&mut h.a)?;
    mark(&mut h.a)?;
    event(&mut h.a)?;
    h.a.mov(dword_ptr(RESUME).ss(), 0)?;
    h.fail(&format!("{what}: no exception"))?;
    h.a.set_label(&mut resume)?;
    check_record(h, what, vector, error, pushed)
}

/// The checks of `expect_fault`, for events raised some other way.
pub fn check_record(
    h: &mut Harness,
    what: &str,
    vector: u8,
    error: Option<u32>,
    pushed: Pushed,
) -> Result<(), IcedError> {
    h.check(
        crate::harness::m32(ptr(REC_VEC).ss()),
        u32::from(vector),
        &format!("{what}: vector"),
    )?;
    if let Some(e) = error {
        h.check(
            crate::harness::m32(ptr(REC_ERR).ss()),
            e,
            &format!("{what}: error code"),
        )?;
    }
    let delta = match pushed {
        Pushed::AtInstruction => MARK_LEN,
        Pushed::After(n) => MARK_LEN + n,
        Pushed::Unchecked => return Ok(()),
    };
    h.a.push(eax)?;
    h.a.mov(eax, dword_ptr(REC_EIP).ss())?;
    h.a.sub(ax, word_ptr(MARK).ss())?;
    h.check(eax, delta, &format!("{what}: pushed EIP - start"))?;
    h.a.pop(eax)
}

/// Checks that no exception was recorded since `arm`/`no_fault_start`.
pub fn check_no_fault(h: &mut Harness, what: &str) -> Result<(), IcedError> {
    h.check(
        crate::harness::m32(ptr(REC_VEC).ss()),
        0xffff_ffff,
        &format!("{what}: no exception"),
    )
}

/// Runs `body` in ring 3 (CS16_3, SS = DS = ... = DS_3, ESP below
/// `RING3_STACK`, EFLAGS = `eflags`; IOPL 3 lets it print), then comes
/// back to ring 0 through `BACK_TO_RING0` with the ring-0 ESP it had.
/// `body` must end in ring 3 with the stack it started with... or not:
/// the return does not depend on it. Clobbers EAX and the segments
/// (restored to `DS`).
pub fn ring3(
    h: &mut Harness,
    eflags: u32,
    body: impl FnOnce(&mut Harness) -> Result<(), IcedError>,
) -> Result<(), IcedError> {
    let mut enter = h.a.create_label();
    let mut after = h.a.create_label();
    let mut user = h.a.create_label();
    h.a.call(enter)?;
    h.a.jmp(after)?;
    h.a.set_label(&mut enter)?;
    h.a.mov(dword_ptr(SAVED_ESP0).ss(), esp)?;
    pushd(&mut h.a, u32::from(DS_3))?;
    pushd(&mut h.a, RING3_STACK)?;
    pushd(&mut h.a, eflags | 2)?;
    pushd(&mut h.a, u32::from(CS16_3))?;
    address_of(&mut h.a, ax, user)?;
    h.a.movzx(eax, ax)?;
    h.a.push(eax)?;
    h.a.iretd()?;
    h.a.set_label(&mut user)?;
    h.a.mov(ax, u32::from(DS_3))?;
    h.a.mov(ds, ax)?;
    h.a.mov(es, ax)?;
    h.a.mov(fs, ax)?;
    h.a.mov(gs, ax)?;
    body(h)?;
    h.a.int(u32::from(BACK_TO_RING0))?;
    h.a.set_label(&mut after)
}

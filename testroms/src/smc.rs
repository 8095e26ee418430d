//! Self-modifying code: a routine in RAM that rewrites the immediate of
//! the instruction right after the store and, on each pass of a loop, the
//! immediate of the loop body; and a routine run once, rewritten, then run
//! again. In real mode, in protected mode, and under paging with the
//! rewrite going through a different linear alias of the code's page.

use crate::harness::Harness;
use crate::sys::*;
use iced_x86::code_asm::*;
use xlat_bios::rom::ROM_SEGMENT;

/// Where the routines run (physical; segment 0x0900 in real mode).
const CODE: u32 = 0x9000;
const PD: u32 = 0x10000;
const PT0: u32 = 0x11000;
const PT1: u32 = 0x12000;
/// Linear alias of `CODE` under paging.
const ALIAS: u32 = 0x40_0000;

/// Offsets (from the routines' start) that the code needs to know about
/// itself: the first pass assembles with zeros to find them.
#[derive(Clone, Copy, Default)]
struct Layout {
    start: u32,
    next_imm: u32,
    body_imm: u32,
    f2: u32,
}

/// The routines, 16-bit, with DS addressing their own bytes:
/// `start` (AL = 0x42 after rewriting `mov al, 0x11`; BX = 1+2+3+4) and
/// `f2` (AL = its immediate). Both return with RETF.
fn routines(at: Layout) -> Result<(Vec<u8>, Layout), IcedError> {
    let mut a = CodeAssembler::new(16)?;
    let mut start = a.create_label();
    let mut next = a.create_label();
    let mut body = a.create_label();
    let mut f2 = a.create_label();
    a.set_label(&mut start)?;
    a.mov(byte_ptr(at.next_imm), 0x42)?;
    a.set_label(&mut next)?;
    a.mov(al, 0x11)?;
    a.xor(bx, bx)?;
    a.mov(cx, 4u32)?;
    a.set_label(&mut body)?;
    // add bx, imm16 (81 C3 iw): the immediate is at +2.
    a.add_instruction(iced_x86::Instruction::with2(
        iced_x86::Code::Add_rm16_imm16,
        iced_x86::Register::BX,
        1u32,
    )?)?;
    a.inc(byte_ptr(at.body_imm))?;
    a.loop_(body)?;
    a.retf()?;
    a.set_label(&mut f2)?;
    a.mov(al, 0x11)?;
    a.retf()?;
    let r = a.assemble_options(
        0,
        iced_x86::BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
    )?;
    let layout = Layout {
        start: r.label_ip(&start)? as u32,
        next_imm: r.label_ip(&next)? as u32 + 1,
        body_imm: r.label_ip(&body)? as u32 + 2,
        f2: r.label_ip(&f2)? as u32,
    };
    Ok((r.inner.code_buffer, layout))
}

pub fn build() -> Result<Vec<u8>, IcedError> {
    let (_, layout) = routines(Layout::default())?;
    let (code, again) = routines(layout)?;
    assert_eq!(
        layout.f2, again.f2,
        "smc routines: layout changed between passes"
    );
    let lib = Lib::new("smc")?.assemble()?;
    let mut t = Tables::standard(&lib);
    let cs_code = t.add(seg(CODE, 0xffff, CODE_XR, 0));
    let ds_code = t.add(seg(CODE, 0xffff, DATA_RW, 0));

    let mut h = Harness::new("smc")?;
    h.print("real mode\r\n")?;
    copy_routines(&mut h, code.len())?;
    let seg = CODE >> 4;
    h.a.mov(ax, seg)?;
    h.a.mov(ds, ax)?;
    run(&mut h, "real mode", seg as u16, layout, |a| {
        a.mov(byte_ptr(layout.f2 + 1), 0x55)
    })?;
    h.a.xor(ax, ax)?;
    h.a.mov(ds, ax)?;

    h.print("protected mode\r\n")?;
    copy_routines(&mut h, code.len())?;
    enter_pm(&mut h)?;
    h.a.mov(ax, u32::from(ds_code))?;
    h.a.mov(ds, ax)?;
    run(&mut h, "protected mode", cs_code, layout, |a| {
        a.mov(byte_ptr(layout.f2 + 1), 0x55)
    })?;
    load_data_segments(&mut h.a, DS)?;

    h.print("paging, write through an alias\r\n")?;
    // Fresh routines (copied in real mode's way: through flat DS now).
    let a = &mut h.a;
    a.mov(esi, ROM_BASE + EXTRA_OFFSET as u32)?;
    a.mov(edi, CODE)?;
    a.mov(ecx, code.len() as u32)?;
    let mut copy = a.create_label();
    a.set_label(&mut copy)?;
    a.mov(al, byte_ptr(esi))?;
    a.mov(byte_ptr(edi), al)?;
    a.inc(esi)?;
    a.inc(edi)?;
    a.dec(ecx)?;
    a.jnz(copy)?;
    // Identity-map 0..4 MiB, and ALIAS -> CODE's frame.
    a.mov(edi, PT0)?;
    a.mov(eax, 3u32)?;
    a.mov(ecx, 1024u32)?;
    let mut fill = a.create_label();
    a.set_label(&mut fill)?;
    a.mov(dword_ptr(edi), eax)?;
    a.add(eax, 0x1000)?;
    a.add(edi, 4)?;
    a.dec(ecx)?;
    a.jnz(fill)?;
    for (at, value) in [(PD, PT0 | 3), (PD + 4, PT1 | 3), (PT1, CODE | 3)] {
        a.mov(ebx, at)?;
        a.mov(dword_ptr(ebx), value)?;
    }
    a.mov(eax, PD)?;
    a.mov(cr3, eax)?;
    a.mov(eax, cr0)?;
    a.or(eax, 1u32 << 31)?;
    a.mov(cr0, eax)?;
    a.mov(ax, u32::from(ds_code))?;
    a.mov(ds, ax)?;
    run(&mut h, "paging", cs_code, layout, |a| {
        a.mov(ebx, ALIAS + layout.f2 + 1)?;
        a.mov(byte_ptr(ebx).es(), 0x55)
    })?;
    load_data_segments(&mut h.a, DS)?;
    let a = &mut h.a;
    a.mov(eax, cr0)?;
    a.and(eax, !(1u32 << 31))?;
    a.mov(cr0, eax)?;
    h.finish_with(&[t.placed(), (LIB_OFFSET, lib.bytes), (EXTRA_OFFSET, code)])
}

/// Real mode, DS = 0: copies the routines from the image to `CODE`.
fn copy_routines(h: &mut Harness, len: usize) -> Result<(), IcedError> {
    let a = &mut h.a;
    a.push(ds)?;
    a.push(u32::from(ROM_SEGMENT))?;
    a.pop(ds)?;
    a.mov(si, EXTRA_OFFSET as u32)?;
    a.mov(di, CODE)?;
    a.mov(cx, len as u32)?;
    a.rep().movsb()?;
    a.pop(ds)
}

/// Calls `start` and checks AL and BX; calls `f2`, rewrites its immediate
/// with `patch` (DS addresses the routines), calls it again.
fn run(
    h: &mut Harness,
    what: &str,
    code_sel: u16,
    at: Layout,
    patch: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Result<(), IcedError> {
    h.a.call_far(code_sel, at.start)?;
    h.check(al, 0x42, &format!("{what}: rewritten next instruction"))?;
    h.check(bx, 10, &format!("{what}: loop body rewritten each pass"))?;
    h.a.call_far(code_sel, at.f2)?;
    h.check(al, 0x11, &format!("{what}: routine before the rewrite"))?;
    patch(&mut h.a)?;
    h.a.call_far(code_sel, at.f2)?;
    h.check(al, 0x55, &format!("{what}: routine after the rewrite"))
}

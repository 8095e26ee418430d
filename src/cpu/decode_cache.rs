//! Decoded-block cache: guest code is decoded once per (physical address,
//! IP, code size) and reused until a write to one of its pages drops it.

use super::catalog::{self, Handler};
use super::fault::Fault;
use super::state::{CpuState, CS};
use crate::mem::GuestMemory;
use iced_x86::{Code, Decoder, FlowControl, Instruction};
use std::collections::HashMap;
use std::rc::Rc;

/// The longest block we decode; a block also ends at a page boundary.
const MAX_BLOCK: usize = 64;
/// The architectural limit on instruction length.
const MAX_INSN_LEN: usize = 15;

pub struct Decoded {
    pub insn: Instruction,
    pub handler: Handler,
}

pub struct Block {
    pub insns: Vec<Decoded>,
    /// Set when the last decodable instruction was cut short by the CS limit:
    /// executing past the block's end must raise #GP(0).
    pub limit_fault_at_end: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    phys: u64,
    ip: u64,
    bitness: u32,
}

#[derive(Default)]
pub struct DecodeCache {
    /// iced-x86 decoder options (a CPU-model knob; normally none).
    pub decoder_options: u32,
    blocks: HashMap<Key, Rc<Block>>,
    /// Blocks that start or end on each physical page.
    by_page: HashMap<u64, Vec<Key>>,
}

/// Instruction-size mode of the code segment.
pub fn code_bitness(s: &CpuState) -> u32 {
    if s.msr.efer & (1 << 10) != 0 && s.seg[CS].attr & (1 << 13) != 0 {
        64
    } else if s.seg[CS].big() {
        32
    } else {
        16
    }
}

impl DecodeCache {
    pub fn clear(&mut self) {
        self.blocks.clear();
        self.by_page.clear();
    }

    /// Drops blocks on pages that were written since the last call.
    pub fn invalidate(&mut self, mem: &mut GuestMemory) {
        for page in mem.code_pages.take_written() {
            if let Some(keys) = self.by_page.remove(&page) {
                for k in keys {
                    self.blocks.remove(&k);
                }
            }
        }
    }

    /// The block at CS:RIP, decoding it if needed.
    pub fn lookup(&mut self, s: &CpuState, mem: &mut GuestMemory) -> Result<Rc<Block>, Fault> {
        let bitness = code_bitness(s);
        let ip = s.rip;
        let cs = &s.seg[CS];
        if bitness != 64 && ip > cs.limit as u64 {
            return Err(Fault::gp(0));
        }
        let linear = cs.base.wrapping_add(ip) & if bitness == 64 { u64::MAX } else { 0xffff_ffff };
        let phys = mem.a20_mask(linear);
        let key = Key { phys, ip, bitness };
        if let Some(b) = self.blocks.get(&key) {
            return Ok(b.clone());
        }
        let block = Rc::new(decode_block(
            s,
            mem,
            linear,
            ip,
            bitness,
            self.decoder_options,
        ));
        let last_byte = phys + 4095.min(block_span(&block));
        for page in [phys >> 12, last_byte >> 12] {
            mem.code_pages.mark(page << 12);
            let keys = self.by_page.entry(page).or_default();
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        self.blocks.insert(key, block.clone());
        Ok(block)
    }
}

fn block_span(b: &Block) -> u64 {
    match (b.insns.first(), b.insns.last()) {
        (Some(f), Some(l)) => l.insn.next_ip().wrapping_sub(f.insn.ip()).saturating_sub(1),
        _ => 0,
    }
}

fn decode_block(
    s: &CpuState,
    mem: &mut GuestMemory,
    linear: u64,
    ip: u64,
    bitness: u32,
    options: u32,
) -> Block {
    // Fetch to the end of this page plus one maximal instruction, but never
    // past the CS limit: an instruction that would cross it must fault.
    let to_page_end = 4096 - (linear & 0xfff) as usize;
    // A block holds at most MAX_BLOCK instructions; 16 bytes each is
    // plenty for the typical case, and a longer block just ends early.
    let to_page_end = to_page_end.min(MAX_BLOCK * 16);
    let mut len = to_page_end + MAX_INSN_LEN;
    let mut limited = false;
    if bitness != 64 {
        let room = s.seg[CS].limit as u64 - ip + 1;
        if room < len as u64 {
            len = room as usize;
            limited = true;
        }
    }
    let mut bytes = vec![0u8; len];
    let addr_mask = if bitness == 64 { u64::MAX } else { 0xffff_ffff };
    let start = mem.a20_mask(linear & addr_mask);
    if mem.a20_mask(start + len as u64 - 1) == start + len as u64 - 1
        && start.checked_add(len as u64).is_some()
    {
        mem.read_bytes(start, &mut bytes);
    } else {
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = mem.read_u8(mem.a20_mask(linear.wrapping_add(i as u64) & addr_mask));
        }
    }
    let mut decoder = Decoder::with_ip(bitness, &bytes, ip, options);
    let mut insns = Vec::new();
    let mut limit_fault_at_end = false;
    while decoder.can_decode() && insns.len() < MAX_BLOCK {
        let pos = decoder.position();
        if pos >= to_page_end && !insns.is_empty() {
            break;
        }
        let insn = decoder.decode();
        if insn.code() == Code::INVALID
            && decoder.last_error() == iced_x86::DecoderError::NoMoreBytes
        {
            limit_fault_at_end = limited;
            break;
        }
        let entry = catalog::entry(insn.code());
        let ends = entry.ends_block || insn.flow_control() != FlowControl::Next;
        insns.push(Decoded {
            insn,
            handler: entry.handler,
        });
        if ends {
            break;
        }
    }
    if insns.is_empty() && !limit_fault_at_end {
        // Nothing decodable and not cut by the limit: fetch ran past the page
        // with no bytes; treat as #GP like a limit violation.
        limit_fault_at_end = true;
    }
    Block {
        insns,
        limit_fault_at_end,
    }
}

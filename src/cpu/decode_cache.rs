//! Decoded-block cache: guest code is decoded once per (physical address,
//! IP, code size) and reused until a write to one of its pages drops it.

use super::catalog::{self, Handler};
use super::exec::fast::{self, FastHandler};
use super::exec::operand_plan::OperandPlan;
use super::fault::Fault;
use super::mmu::{self, Access, Tlb};
use super::state::{rflags, CpuState, CS};
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
    /// What the run loops call: a fast handler for a hot form, else
    /// `fast::generic`, which runs `generic`.
    pub handler: FastHandler,
    /// The catalog's handler for the instruction.
    pub generic: Handler,
    /// Where the operands live, worked out once here.
    pub plan: OperandPlan,
    /// RIP of the next sequential instruction, wrapped to the code size.
    pub next_ip: u64,
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

/// A multiply-rotate hasher (the FxHash recipe): block lookup is on the
/// interpreter's hot path, and keys are trusted integers, so SipHash's DoS
/// resistance buys nothing here.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;

/// Slots in the direct-mapped front of the block map; a power of two.
const RECENT_SLOTS: usize = 4096;

pub struct DecodeCache {
    /// iced-x86 decoder options (a CPU-model knob; normally none).
    pub decoder_options: u32,
    /// Pick fast handlers for hot forms (false: every instruction runs its
    /// generic handler, to check the fast ones in lockstep).
    pub fast_handlers: bool,
    blocks: FastMap<Key, Rc<Block>>,
    /// Blocks that start or end on each physical page.
    by_page: FastMap<u64, Vec<Key>>,
    /// A direct-mapped copy of recently used `blocks` entries: a hit costs
    /// one compare instead of a hash-map probe. Every block here is also
    /// in `blocks`, and leaves both together.
    recent: Vec<Option<(Key, Rc<Block>)>>,
    /// Blocks by where the CPU fetches them (CS:RIP and the mode), so a
    /// hit skips the fetch translation. Valid while `epoch` and the TLB's
    /// generation stand: a flushed translation, an A20 flip or a dropped
    /// block makes every entry miss.
    by_linear: Vec<Option<(Fetch, Rc<Block>)>>,
    /// Moves when blocks are dropped.
    epoch: u64,
}

/// What finding a block by CS:RIP depends on.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Fetch {
    ip: u64,
    cs_base: u64,
    /// CR0.PE/PG, EFER.LMA, EFLAGS.VM, CS's attributes and RPL, A20.
    mode: u64,
    /// TLB generation plus the cache's epoch.
    generation: u64,
}

fn fetch_mode(s: &CpuState, a20: bool) -> u64 {
    use super::state::{cr0, efer};
    (s.cr0 & (cr0::PE | cr0::PG))
        | (s.msr.efer & efer::LMA)
        | (s.rflags & rflags::VM)
        | (s.seg[CS].attr as u64) << 32
        | ((s.seg[CS].selector & 3) as u64) << 48
        | (a20 as u64) << 60
}

impl Default for DecodeCache {
    fn default() -> Self {
        DecodeCache {
            decoder_options: 0,
            fast_handlers: true,
            blocks: FastMap::default(),
            by_page: FastMap::default(),
            recent: vec![None; RECENT_SLOTS],
            by_linear: vec![None; RECENT_SLOTS],
            epoch: 0,
        }
    }
}

#[inline]
fn recent_slot(k: &Key) -> usize {
    (k.phys ^ (k.phys >> 12)) as usize & (RECENT_SLOTS - 1)
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
        self.epoch += 1;
        self.by_linear.iter_mut().for_each(|e| *e = None);
        self.blocks.clear();
        self.by_page.clear();
        self.recent.iter_mut().for_each(|e| *e = None);
    }

    /// Drops blocks on pages that were written since the last call.
    pub fn invalidate(&mut self, mem: &mut GuestMemory) {
        for page in mem.code_pages.take_written() {
            if let Some(keys) = self.by_page.remove(&page) {
                self.epoch += 1;
                for k in keys {
                    self.blocks.remove(&k);
                    let slot = &mut self.recent[recent_slot(&k)];
                    if slot.as_ref().is_some_and(|(key, _)| *key == k) {
                        *slot = None;
                    }
                }
            }
        }
    }

    /// The block at CS:RIP, decoding it if needed.
    pub fn lookup(
        &mut self,
        s: &mut CpuState,
        mem: &mut GuestMemory,
        tlb: &mut Tlb,
    ) -> Result<Rc<Block>, Fault> {
        let bitness = code_bitness(s);
        let ip = s.rip;
        let cs = &s.seg[CS];
        if bitness != 64 && ip > cs.limit as u64 {
            return Err(Fault::gp(0));
        }
        let fetch = Fetch {
            ip,
            cs_base: cs.base,
            mode: fetch_mode(s, mem.a20_enabled()),
            generation: tlb.generation.wrapping_add(self.epoch),
        };
        let fetch_slot = (ip ^ (ip >> 12)) as usize & (RECENT_SLOTS - 1);
        if let Some((f, b)) = &self.by_linear[fetch_slot] {
            if *f == fetch {
                return Ok(b.clone());
            }
        }
        self.lookup_and_remember(s, mem, tlb, bitness, fetch, fetch_slot)
    }

    #[cold]
    #[inline(never)]
    fn lookup_and_remember(
        &mut self,
        s: &mut CpuState,
        mem: &mut GuestMemory,
        tlb: &mut Tlb,
        bitness: u32,
        fetch: Fetch,
        fetch_slot: usize,
    ) -> Result<Rc<Block>, Fault> {
        let block = self.lookup_translated(s, mem, tlb, bitness)?;
        self.by_linear[fetch_slot] = Some((fetch, block.clone()));
        Ok(block)
    }

    /// `lookup` past the fetch cache: translate CS:RIP, then find or decode
    /// the block at that physical address.
    #[inline(never)]
    fn lookup_translated(
        &mut self,
        s: &mut CpuState,
        mem: &mut GuestMemory,
        tlb: &mut Tlb,
        bitness: u32,
    ) -> Result<Rc<Block>, Fault> {
        let ip = s.rip;
        let cs = &s.seg[CS];
        let addr_mask = if bitness == 64 { u64::MAX } else { 0xffff_ffff };
        let linear = cs.base.wrapping_add(ip) & addr_mask;
        let user =
            s.protected_mode() && (s.rflags & rflags::VM != 0 || s.seg[CS].selector & 3 == 3);
        let phys = mmu::translate(s, mem, tlb, linear, Access::fetch(user))?;
        let key = Key { phys, ip, bitness };
        let slot = recent_slot(&key);
        if let Some((k, b)) = &self.recent[slot] {
            if *k == key {
                return Ok(b.clone());
            }
        }
        if let Some(b) = self.blocks.get(&key) {
            self.recent[slot] = Some((key, b.clone()));
            return Ok(b.clone());
        }
        // Bytes of this page, plus the next page's when an instruction
        // crosses into it (its translation may fault: only an instruction
        // that needs those bytes may raise that fault).
        let in_page = (4096 - (linear & 0xfff)) as usize;
        let mut bytes = vec![0u8; in_page.min(MAX_BLOCK * 16)];
        let fetch_len = bytes.len();
        read_phys(mem, phys, &mut bytes);
        let next_page = if fetch_len == in_page {
            Some(mmu::translate(
                s,
                mem,
                tlb,
                linear.wrapping_add(in_page as u64) & addr_mask,
                Access::fetch(user),
            ))
        } else {
            None
        };
        let mut crossing_fault = None;
        match next_page {
            Some(Ok(p2)) => {
                let mut tail = [0u8; MAX_INSN_LEN];
                read_phys(mem, p2, &mut tail);
                bytes.extend_from_slice(&tail);
            }
            Some(Err(f)) => crossing_fault = Some(f),
            None => {
                let mut tail = [0u8; MAX_INSN_LEN];
                read_phys(mem, phys + fetch_len as u64, &mut tail);
                bytes.extend_from_slice(&tail);
            }
        }
        let limit_room = if bitness != 64 {
            Some(s.seg[CS].limit as u64 - ip + 1)
        } else {
            None
        };
        let block = decode_block(
            &bytes,
            ip,
            bitness,
            self.decoder_options,
            self.fast_handlers,
            fetch_len,
            limit_room,
        );
        if block.insns.is_empty() {
            if let Some(f) = crossing_fault {
                return Err(f);
            }
        }
        let block = Rc::new(block);
        // A block whose last instruction crosses into the next page depends
        // on that page's mapping too: do not cache it.
        if block_span(&block) as usize >= in_page {
            return Ok(block);
        }
        mem.code_pages.mark(phys);
        self.by_page.entry(phys >> 12).or_default().push(key);
        self.blocks.insert(key, block.clone());
        self.recent[slot] = Some((key, block.clone()));
        Ok(block)
    }
}

/// Copies physical memory (never faults: unmapped reads as all ones).
fn read_phys(mem: &mut GuestMemory, phys: u64, buf: &mut [u8]) {
    mem.read_bytes(phys, buf);
}

fn block_span(b: &Block) -> u64 {
    match (b.insns.first(), b.insns.last()) {
        (Some(f), Some(l)) => l.insn.next_ip().wrapping_sub(f.insn.ip()).saturating_sub(1),
        _ => 0,
    }
}

/// Decodes instructions starting within `bytes[..starts_before]`.
fn decode_block(
    bytes: &[u8],
    ip: u64,
    bitness: u32,
    options: u32,
    fast_handlers: bool,
    starts_before: usize,
    limit_room: Option<u64>,
) -> Block {
    // Never decode past the CS limit: an instruction crossing it must fault.
    let mut limited = false;
    let mut bytes = bytes;
    if let Some(room) = limit_room {
        if room < bytes.len() as u64 {
            bytes = &bytes[..room as usize];
            limited = true;
        }
    }
    let mut decoder = Decoder::with_ip(bitness, bytes, ip, options);
    let ip_mask = match bitness {
        64 => u64::MAX,
        32 => 0xffff_ffff,
        _ => 0xffff,
    };
    let mut insns = Vec::new();
    let mut limit_fault_at_end = false;
    while decoder.can_decode() && insns.len() < MAX_BLOCK {
        let pos = decoder.position();
        if pos >= starts_before && !insns.is_empty() {
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
        let mut plan = OperandPlan::of(&insn);
        let handler = if entry.implemented && fast_handlers {
            fast::select(&insn, &mut plan, bitness)
        } else {
            fast::generic
        };
        insns.push(Decoded {
            plan,
            next_ip: insn.next_ip() & ip_mask,
            insn,
            handler,
            generic: entry.handler,
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

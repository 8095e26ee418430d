//! Operand locations worked out once, when a block is decoded: which GPR
//! slot, which immediate value (already masked to its size), and the
//! memory operand's address components. iced-x86's `Instruction` getters
//! decode packed fields on every call; the interpreter's operand access
//! reads this plan instead when the handler asks about the instruction the
//! plan was made for (see `Exec::plan_for`).

use super::operand::{addr_size, gpr_loc, seg_index, GprLoc};
use iced_x86::{Instruction, OpKind, Register};

/// A GPR index meaning "no register" in `MemPlan`.
pub const NO_REG: u8 = 0xff;

/// A GPR operand as shift-and-mask over its 64-bit slot. Kept to a few
/// bytes: the run loop copies each instruction's plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegPlan {
    pub index: u8,
    /// 8 for AH/CH/DH/BH, else 0.
    pub shift: u8,
    /// Size in bytes (1, 2, 4 or 8).
    pub size: u8,
}

impl RegPlan {
    pub fn of(l: GprLoc) -> RegPlan {
        RegPlan {
            index: l.index as u8 & 15,
            shift: if l.high8 { 8 } else { 0 },
            size: l.size.clamp(1, 8) as u8,
        }
    }

    #[inline(always)]
    fn mask(self) -> u64 {
        u64::MAX >> ((64 - 8 * self.size as u32) & 63)
    }

    #[inline(always)]
    pub fn read(self, gpr: &[u64; 16]) -> u64 {
        (gpr[self.index as usize & 15] >> (self.shift & 63)) & self.mask()
    }

    /// Writes with x86's merge rules (see `Exec::set_gpr`).
    #[inline(always)]
    pub fn write(self, gpr: &mut [u64; 16], v: u64) {
        let slot = &mut gpr[self.index as usize & 15];
        *slot = if self.size == 4 {
            v & 0xffff_ffff
        } else {
            let m = self.mask() << (self.shift & 63);
            (*slot & !m) | ((v << (self.shift & 63)) & m)
        };
    }
}

/// Where operand 0 or 1 lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpPlan {
    /// A general-purpose register.
    Gpr(RegPlan),
    /// The instruction's memory operand (`OperandPlan::mem`).
    Mem,
    /// The immediate in `OperandPlan::imm`.
    Imm,
    /// Anything else (segment, control, vector registers, branch targets,
    /// absent operands, a second immediate): callers use iced-x86's getters.
    Other,
}

/// A memory operand's address: `(disp + base + (index << scale))` wrapped
/// to the address size, in segment `seg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemPlan {
    /// The displacement (for RIP/EIP-relative forms, the absolute target
    /// iced-x86 resolved).
    pub disp: u64,
    /// GPR slot of the base register, or `NO_REG`.
    pub base: u8,
    /// GPR slot of the index register, or `NO_REG`.
    pub index: u8,
    /// log2 of the index scale.
    pub scale_shift: u8,
    /// Index of the segment in `CpuState::seg`, after overrides.
    pub seg: u8,
    /// 64 minus the address size in bits: `u64::MAX >> addr_shift` masks.
    pub addr_shift: u8,
    /// The same for the index register's size: XLATB indexes with AL.
    pub index_shift: u8,
    /// The address uses something other than GPRs (a VSIB vector index):
    /// take the iced-x86 getters.
    pub unplanned: bool,
    /// Size in bytes of the memory operand (`memory_size().size()`).
    pub size: u16,
}

impl MemPlan {
    #[inline(always)]
    pub fn addr_mask(&self) -> u64 {
        u64::MAX >> (self.addr_shift & 63)
    }

    #[inline(always)]
    pub fn index_mask(&self) -> u64 {
        u64::MAX >> (self.index_shift & 63)
    }

    /// The effective address (offset) with the registers `gpr`, wrapped
    /// to the address size. Only for plans that are not `unplanned`.
    #[inline(always)]
    pub fn offset(&self, gpr: &[u64; 16]) -> u64 {
        let mut off = self.disp;
        if self.base != NO_REG {
            off = off.wrapping_add(gpr[self.base as usize & 15]);
        }
        if self.index != NO_REG {
            let index = gpr[self.index as usize & 15] & self.index_mask();
            off = off.wrapping_add(index << (self.scale_shift & 63));
        }
        off & self.addr_mask()
    }
}

/// Operand plan of one decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperandPlan {
    pub ops: [OpPlan; 2],
    /// `Exec::op_size` of operands 0 and 1.
    pub sizes: [u16; 2],
    /// The value of the (first) immediate operand, zero-extended.
    pub imm: u64,
    pub mem: MemPlan,
}

impl OperandPlan {
    /// A plan that sends every access to the iced-x86 getters.
    pub const NONE: OperandPlan = OperandPlan {
        ops: [OpPlan::Other; 2],
        sizes: [0; 2],
        imm: 0,
        mem: MemPlan {
            disp: 0,
            base: NO_REG,
            index: NO_REG,
            scale_shift: 0,
            seg: 0,
            addr_shift: 0,
            index_shift: 0,
            unplanned: true,
            size: 0,
        },
    };

    /// Works out where `insn`'s first two operands live.
    pub fn of(insn: &Instruction) -> OperandPlan {
        let mut plan = OperandPlan::NONE;
        let count = insn.op_count().min(2);
        let mut has_imm = false;
        for n in 0..count {
            plan.sizes[n as usize] = op_size(insn, n).min(u16::MAX as u32) as u16;
            plan.ops[n as usize] = match op_plan(insn, n) {
                Planned::Op(p) => p,
                Planned::Imm(v) if !has_imm => {
                    has_imm = true;
                    plan.imm = v;
                    OpPlan::Imm
                }
                Planned::Imm(_) => OpPlan::Other,
            };
        }
        if (0..insn.op_count()).any(|n| insn.op_kind(n) == OpKind::Memory) {
            plan.mem = mem_plan(insn);
        }
        plan
    }
}

/// `Exec::op_size`, as a pure function of the instruction.
pub fn op_size(insn: &Instruction, n: u32) -> u32 {
    match insn.op_kind(n) {
        OpKind::Register => insn.op_register(n).size() as u32,
        OpKind::Memory => insn.memory_size().size() as u32,
        OpKind::Immediate8 | OpKind::Immediate8_2nd => 1,
        OpKind::Immediate16 | OpKind::Immediate8to16 => 2,
        OpKind::Immediate32 | OpKind::Immediate8to32 => 4,
        _ => 8,
    }
}

enum Planned {
    Op(OpPlan),
    Imm(u64),
}

fn op_plan(insn: &Instruction, n: u32) -> Planned {
    let imm = |mask: u64| Planned::Imm(insn.immediate(n) & mask);
    match insn.op_kind(n) {
        OpKind::Register => {
            let r = insn.op_register(n);
            if r.is_gpr() {
                Planned::Op(OpPlan::Gpr(RegPlan::of(gpr_loc(r))))
            } else {
                Planned::Op(OpPlan::Other)
            }
        }
        OpKind::Memory => Planned::Op(OpPlan::Mem),
        OpKind::Immediate8 | OpKind::Immediate8_2nd => imm(0xff),
        OpKind::Immediate16 | OpKind::Immediate8to16 => imm(0xffff),
        OpKind::Immediate32 | OpKind::Immediate8to32 => imm(0xffff_ffff),
        OpKind::Immediate64 | OpKind::Immediate8to64 | OpKind::Immediate32to64 => imm(u64::MAX),
        _ => Planned::Op(OpPlan::Other),
    }
}

fn mem_plan(insn: &Instruction) -> MemPlan {
    let slot = |r: Register| {
        if r == Register::None || r == Register::RIP || r == Register::EIP {
            NO_REG
        } else {
            gpr_loc(r).index as u8
        }
    };
    let usable =
        |r: Register| matches!(r, Register::None | Register::RIP | Register::EIP) || r.is_gpr();
    let index = insn.memory_index();
    let shift_of = |bytes: u32| (64 - 8 * bytes.clamp(1, 8)) as u8;
    MemPlan {
        disp: insn.memory_displacement64(),
        addr_shift: shift_of(addr_size(insn)),
        base: slot(insn.memory_base()),
        index: slot(index),
        index_shift: if index.is_gpr() {
            shift_of(index.size() as u32)
        } else {
            0
        },
        unplanned: !usable(insn.memory_base()) || !usable(index),
        scale_shift: insn.memory_index_scale().trailing_zeros() as u8,
        seg: match insn.memory_segment() {
            r if r.is_segment_register() => seg_index(r) as u8,
            _ => 3,
        },
        size: insn.memory_size().size().min(u16::MAX as usize) as u16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::Decoder;

    fn decode(bitness: u32, bytes: &[u8]) -> Instruction {
        Decoder::with_ip(bitness, bytes, 0x1000, 0).decode()
    }

    #[test]
    fn register_and_immediate_operands() {
        // add ah, 0x80
        let p = OperandPlan::of(&decode(16, &[0x80, 0xc4, 0x80]));
        assert_eq!(p.ops[0], OpPlan::Gpr(RegPlan::of(gpr_loc(Register::AH))));
        assert_eq!((p.ops[1], p.imm), (OpPlan::Imm, 0x80));
        assert_eq!(p.sizes, [1, 1]);
        // add eax, -1 (imm8 sign-extended to 32 bits)
        let p = OperandPlan::of(&decode(32, &[0x83, 0xc0, 0xff]));
        assert_eq!((p.ops[1], p.imm), (OpPlan::Imm, 0xffff_ffff));
        assert_eq!(p.sizes, [4, 4]);
    }

    #[test]
    fn memory_operand_components() {
        // mov eax, fs:[ebx+esi*4+0x10] in 32-bit code
        let p = OperandPlan::of(&decode(32, &[0x64, 0x8b, 0x44, 0xb3, 0x10]));
        assert_eq!(p.ops[1], OpPlan::Mem);
        assert_eq!(p.mem.base, 3);
        assert_eq!(p.mem.index, 6);
        assert_eq!(p.mem.scale_shift, 2);
        assert_eq!(p.mem.disp, 0x10);
        assert_eq!(p.mem.seg, 4);
        assert_eq!(p.mem.addr_mask(), 0xffff_ffff);
        assert_eq!(p.mem.size, 4);
        // mov ax, [bp+di-2] in 16-bit code: SS, 16-bit wrap.
        let p = OperandPlan::of(&decode(16, &[0x8b, 0x43, 0xfe]));
        assert_eq!((p.mem.base, p.mem.index, p.mem.seg), (5, 7, 2));
        assert_eq!(p.mem.addr_mask(), 0xffff);
        // RIP-relative: no base register; the displacement is absolute.
        let insn = decode(64, &[0x48, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00]);
        let p = OperandPlan::of(&insn);
        assert_eq!(p.mem.base, NO_REG);
        assert_eq!(p.mem.disp, insn.next_ip() + 0x10);
    }

    #[test]
    fn register_writes_merge_like_the_hardware() {
        let mut g = [0u64; 16];
        g[0] = 0x1122_3344_5566_7788;
        RegPlan::of(gpr_loc(Register::AH)).write(&mut g, 0xab);
        assert_eq!(g[0], 0x1122_3344_5566_ab88);
        assert_eq!(RegPlan::of(gpr_loc(Register::AH)).read(&g), 0xab);
        RegPlan::of(gpr_loc(Register::AX)).write(&mut g, 0x1_0001);
        assert_eq!(g[0], 0x1122_3344_5566_0001);
        RegPlan::of(gpr_loc(Register::EAX)).write(&mut g, 0xffff_ffff_8000_0000);
        assert_eq!(g[0], 0x8000_0000);
        RegPlan::of(gpr_loc(Register::RAX)).write(&mut g, u64::MAX);
        assert_eq!(RegPlan::of(gpr_loc(Register::EAX)).read(&g), 0xffff_ffff);
    }

    #[test]
    fn xlatb_indexes_with_al_only() {
        let p = OperandPlan::of(&decode(16, &[0xd7]));
        assert_eq!((p.mem.base, p.mem.index, p.mem.index_mask()), (3, 0, 0xff));
        assert!(!p.mem.unplanned);
    }

    /// ENTER has two immediates: the plan holds the first, the second
    /// takes the general path.
    #[test]
    fn a_second_immediate_is_not_planned() {
        let p = OperandPlan::of(&decode(16, &[0xc8, 0x10, 0x00, 0x02]));
        assert_eq!(
            (p.ops[0], p.imm, p.ops[1]),
            (OpPlan::Imm, 0x10, OpPlan::Other)
        );
    }

    #[test]
    fn the_plan_stays_small() {
        assert!(std::mem::size_of::<OperandPlan>() <= 48);
    }

    #[test]
    fn segment_registers_take_the_general_path() {
        // mov ax, ds
        let p = OperandPlan::of(&decode(16, &[0x8c, 0xd8]));
        assert_eq!(p.ops[1], OpPlan::Other);
    }
}

//! Operand locations worked out once, when a block is decoded: which GPR
//! slot, which immediate value (already masked to its size), and the
//! memory operand's address components. iced-x86's `Instruction` getters
//! decode packed fields on every call; the interpreter's operand access
//! reads this plan instead when the handler asks about the instruction the
//! plan was made for (see `Exec::plan_for`).

use super::operand::{addr_size, gpr_loc, seg_index, size_mask, GprLoc};
use iced_x86::{Instruction, OpKind, Register};

/// A GPR index meaning "no register" in `MemPlan`.
pub const NO_REG: u8 = 0xff;

/// A GPR operand as shift-and-mask over its 64-bit slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegPlan {
    /// All ones over the operand size.
    pub mask: u64,
    pub index: u8,
    /// 8 for AH/CH/DH/BH, else 0.
    pub shift: u8,
    /// A 32-bit register: writes zero bits 63..32.
    pub zero_extends: bool,
}

impl RegPlan {
    pub fn of(l: GprLoc) -> RegPlan {
        RegPlan {
            mask: size_mask(l.size),
            index: l.index as u8 & 15,
            shift: if l.high8 { 8 } else { 0 },
            zero_extends: l.size == 4,
        }
    }

    #[inline(always)]
    pub fn read(self, gpr: &[u64; 16]) -> u64 {
        (gpr[self.index as usize & 15] >> self.shift) & self.mask
    }

    /// Writes with x86's merge rules (see `Exec::set_gpr`).
    #[inline(always)]
    pub fn write(self, gpr: &mut [u64; 16], v: u64) {
        let slot = &mut gpr[self.index as usize & 15];
        *slot = if self.zero_extends {
            v & self.mask
        } else {
            (*slot & !(self.mask << self.shift)) | ((v & self.mask) << self.shift)
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
    /// An immediate, zero-extended from its operand size.
    Imm(u64),
    /// Anything else (segment, control, vector registers, branch targets,
    /// absent operands): callers use iced-x86's getters.
    Other,
}

/// A memory operand's address: `(disp + base + (index << scale)) & addr_mask`
/// in segment `seg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemPlan {
    /// The displacement (for RIP/EIP-relative forms, the absolute target
    /// iced-x86 resolved).
    pub disp: u64,
    /// All ones over the address size.
    pub addr_mask: u64,
    /// GPR slot of the base register, or `NO_REG`.
    pub base: u8,
    /// GPR slot of the index register, or `NO_REG`.
    pub index: u8,
    /// Mask of the index register's size: XLATB indexes with AL.
    pub index_mask: u64,
    /// The address uses something other than GPRs (a VSIB vector index):
    /// take the iced-x86 getters.
    pub unplanned: bool,
    /// log2 of the index scale.
    pub scale_shift: u8,
    /// Index of the segment in `CpuState::seg`, after overrides.
    pub seg: u8,
    /// Size in bytes of the memory operand (`memory_size().size()`).
    pub size: u32,
}

/// Operand plan of one decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperandPlan {
    pub ops: [OpPlan; 2],
    /// `Exec::op_size` of operands 0 and 1.
    pub sizes: [u32; 2],
    pub mem: MemPlan,
}

impl OperandPlan {
    /// A plan that sends every access to the iced-x86 getters.
    pub const NONE: OperandPlan = OperandPlan {
        ops: [OpPlan::Other; 2],
        sizes: [0; 2],
        mem: MemPlan {
            disp: 0,
            addr_mask: 0,
            base: NO_REG,
            index: NO_REG,
            index_mask: 0,
            unplanned: true,
            scale_shift: 0,
            seg: 0,
            size: 0,
        },
    };

    /// Works out where `insn`'s first two operands live.
    pub fn of(insn: &Instruction) -> OperandPlan {
        let mut plan = OperandPlan::NONE;
        let count = insn.op_count().min(2);
        let mut has_mem = false;
        for n in 0..count {
            plan.sizes[n as usize] = op_size(insn, n);
            plan.ops[n as usize] = op_plan(insn, n);
            has_mem |= insn.op_kind(n) == OpKind::Memory;
        }
        if has_mem || (0..insn.op_count()).any(|n| insn.op_kind(n) == OpKind::Memory) {
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

fn op_plan(insn: &Instruction, n: u32) -> OpPlan {
    let imm = |mask: u64| OpPlan::Imm(insn.immediate(n) & mask);
    match insn.op_kind(n) {
        OpKind::Register => {
            let r = insn.op_register(n);
            if r.is_gpr() {
                OpPlan::Gpr(RegPlan::of(gpr_loc(r)))
            } else {
                OpPlan::Other
            }
        }
        OpKind::Memory => OpPlan::Mem,
        OpKind::Immediate8 | OpKind::Immediate8_2nd => imm(0xff),
        OpKind::Immediate16 | OpKind::Immediate8to16 => imm(0xffff),
        OpKind::Immediate32 | OpKind::Immediate8to32 => imm(0xffff_ffff),
        OpKind::Immediate64 | OpKind::Immediate8to64 | OpKind::Immediate32to64 => imm(u64::MAX),
        _ => OpPlan::Other,
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
    MemPlan {
        disp: insn.memory_displacement64(),
        addr_mask: size_mask(addr_size(insn)),
        base: slot(insn.memory_base()),
        index: slot(index),
        index_mask: if index.is_gpr() {
            size_mask(index.size() as u32)
        } else {
            0
        },
        unplanned: !usable(insn.memory_base()) || !usable(index),
        scale_shift: insn.memory_index_scale().trailing_zeros() as u8,
        seg: match insn.memory_segment() {
            r if r.is_segment_register() => seg_index(r) as u8,
            _ => 3,
        },
        size: insn.memory_size().size() as u32,
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
        assert_eq!(p.ops[1], OpPlan::Imm(0x80));
        assert_eq!(p.sizes, [1, 1]);
        // add eax, -1 (imm8 sign-extended to 32 bits)
        let p = OperandPlan::of(&decode(32, &[0x83, 0xc0, 0xff]));
        assert_eq!(p.ops[1], OpPlan::Imm(0xffff_ffff));
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
        assert_eq!(p.mem.addr_mask, 0xffff_ffff);
        assert_eq!(p.mem.size, 4);
        // mov ax, [bp+di-2] in 16-bit code: SS, 16-bit wrap.
        let p = OperandPlan::of(&decode(16, &[0x8b, 0x43, 0xfe]));
        assert_eq!((p.mem.base, p.mem.index, p.mem.seg), (5, 7, 2));
        assert_eq!(p.mem.addr_mask, 0xffff);
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
        assert_eq!((p.mem.base, p.mem.index, p.mem.index_mask), (3, 0, 0xff));
        assert!(!p.mem.unplanned);
    }

    #[test]
    fn segment_registers_take_the_general_path() {
        // mov ax, ds
        let p = OperandPlan::of(&decode(16, &[0x8c, 0xd8]));
        assert_eq!(p.ops[1], OpPlan::Other);
    }
}

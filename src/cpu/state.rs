//! The architectural state of one vCPU. `repr(C)` so that the JIT can reach
//! every field by offset.

use super::flags::LazyFlags;

/// GPR indices in hardware encoding order.
pub const RAX: usize = 0;
pub const RCX: usize = 1;
pub const RDX: usize = 2;
pub const RBX: usize = 3;
pub const RSP: usize = 4;
pub const RBP: usize = 5;
pub const RSI: usize = 6;
pub const RDI: usize = 7;

/// Segment register indices in hardware encoding order.
pub const ES: usize = 0;
pub const CS: usize = 1;
pub const SS: usize = 2;
pub const DS: usize = 3;
pub const FS: usize = 4;
pub const GS: usize = 5;

/// RFLAGS bits.
pub mod rflags {
    pub const CF: u64 = 1 << 0;
    pub const FIXED1: u64 = 1 << 1;
    pub const PF: u64 = 1 << 2;
    pub const AF: u64 = 1 << 4;
    pub const ZF: u64 = 1 << 6;
    pub const SF: u64 = 1 << 7;
    pub const TF: u64 = 1 << 8;
    pub const IF: u64 = 1 << 9;
    pub const DF: u64 = 1 << 10;
    pub const OF: u64 = 1 << 11;
    pub const IOPL: u64 = 3 << 12;
    pub const NT: u64 = 1 << 14;
    pub const RF: u64 = 1 << 16;
    pub const VM: u64 = 1 << 17;
    pub const AC: u64 = 1 << 18;
    pub const VIF: u64 = 1 << 19;
    pub const VIP: u64 = 1 << 20;
    pub const ID: u64 = 1 << 21;
    /// The six arithmetic status flags, the ones lazy evaluation covers.
    pub const ARITH: u64 = CF | PF | AF | ZF | SF | OF;
    /// Bits software can change at all (the rest read as fixed values).
    pub const WRITABLE: u64 = ARITH | TF | IF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;
}

/// CR0 bits.
pub mod cr0 {
    pub const PE: u64 = 1 << 0;
    pub const MP: u64 = 1 << 1;
    pub const EM: u64 = 1 << 2;
    pub const TS: u64 = 1 << 3;
    pub const ET: u64 = 1 << 4;
    pub const NE: u64 = 1 << 5;
    pub const WP: u64 = 1 << 16;
    pub const AM: u64 = 1 << 18;
    pub const NW: u64 = 1 << 29;
    pub const CD: u64 = 1 << 30;
    pub const PG: u64 = 1 << 31;
}

/// CR4 bits.
pub mod cr4 {
    pub const VME: u64 = 1 << 0;
    pub const PVI: u64 = 1 << 1;
    pub const TSD: u64 = 1 << 2;
    pub const DE: u64 = 1 << 3;
    pub const PSE: u64 = 1 << 4;
    pub const PAE: u64 = 1 << 5;
    pub const MCE: u64 = 1 << 6;
    pub const PGE: u64 = 1 << 7;
    pub const PCE: u64 = 1 << 8;
    pub const OSFXSR: u64 = 1 << 9;
    pub const OSXMMEXCPT: u64 = 1 << 10;
    pub const OSXSAVE: u64 = 1 << 18;
    pub const SMEP: u64 = 1 << 20;
    pub const SMAP: u64 = 1 << 21;
}

/// IA32_EFER bits.
pub mod efer {
    pub const SCE: u64 = 1 << 0;
    pub const LME: u64 = 1 << 8;
    pub const LMA: u64 = 1 << 10;
    pub const NXE: u64 = 1 << 11;
}

/// A segment register with its hidden descriptor cache.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub selector: u16,
    /// Descriptor attribute bits 8..15 and 20..23 packed as in VMX:
    /// type(0..3) S(4) DPL(5..6) P(7) AVL(12) L(13) D/B(14) G(15).
    pub attr: u16,
    pub limit: u32,
    pub base: u64,
}

impl Segment {
    /// Present, accessed read/write data (or execute/read code) as real
    /// mode leaves it.
    pub const ATTR_REAL_DATA: u16 = 0x93;
    pub const ATTR_REAL_CODE: u16 = 0x9b;

    /// A segment as a real-mode load of `selector` makes it.
    pub fn real_mode(selector: u16, attr: u16) -> Self {
        Segment {
            selector,
            attr,
            limit: 0xffff,
            base: (selector as u64) << 4,
        }
    }

    /// D/B bit: 32-bit default operand size / stack pointer.
    pub fn big(&self) -> bool {
        self.attr & (1 << 14) != 0
    }
}

/// GDTR / IDTR.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DescriptorTable {
    pub base: u64,
    pub limit: u32,
}

/// The x87 FPU (SDM vol. 1, 8.1): eight 80-bit data registers R0-R7 in
/// physical order (ST(i) is R((TOP + i) mod 8)), control, status and tag
/// words and the last-instruction pointers. Its behaviour lives in
/// `cpu::x87`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct X87State {
    /// R0-R7 as stored: significand (8 bytes, little-endian) then sign and
    /// exponent (2 bytes).
    pub st: [[u8; 10]; 8],
    pub fcw: u16,
    /// Status word; TOP lives in bits 11-13.
    pub fsw: u16,
    /// Full tag word, two bits per physical register (3 = empty). The
    /// non-empty tags are recomputed from contents whenever a register is
    /// written or the word is loaded.
    pub ftw: u16,
    /// Last non-control instruction's opcode (11 bits: low 3 bits of the
    /// first opcode byte, then the ModR/M byte).
    pub fop: u16,
    /// Last non-control instruction's offset (FIP) and code selector (FCS).
    pub fip: u64,
    pub fcs: u16,
    /// Its memory operand's offset (FDP) and data selector (FDS).
    pub fds: u16,
    pub fdp: u64,
    /// FERR# went active: an unmasked exception became pending while
    /// CR0.NE = 0. A PC board routes this to IRQ13 (and clears it), the
    /// MS-DOS-compatible error path; see `cpu::x87`.
    pub ferr_pending: bool,
}

impl Default for X87State {
    fn default() -> Self {
        X87State {
            st: [[0; 10]; 8],
            fcw: 0x037f,
            fsw: 0,
            ftw: 0xffff,
            fop: 0,
            fip: 0,
            fcs: 0,
            fds: 0,
            fdp: 0,
            ferr_pending: false,
        }
    }
}

/// Model-specific registers a 32/64-bit kernel touches.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Msrs {
    pub efer: u64,
    pub apic_base: u64,
    pub sysenter_cs: u64,
    pub sysenter_esp: u64,
    pub sysenter_eip: u64,
    pub star: u64,
    pub lstar: u64,
    pub cstar: u64,
    pub sfmask: u64,
    pub kernel_gs_base: u64,
    pub tsc_aux: u64,
    pub pat: u64,
    /// IA32_MISC_ENABLE (0x1A0).
    pub misc_enable: u64,
    /// IA32_MTRR_DEF_TYPE (0x2FF).
    pub mtrr_def_type: u64,
    /// IA32_MTRR_PHYSBASE0/PHYSMASK0 .. PHYSBASE7/PHYSMASK7 (0x200-0x20F).
    pub mtrr_var: [u64; 16],
    /// The fixed-range MTRRs in MSR order: 0x250, 0x258, 0x259, 0x268-0x26F.
    pub mtrr_fixed: [u64; 11],
}

#[repr(C)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuState {
    pub gpr: [u64; 16],
    pub rip: u64,
    /// RFLAGS; while `lazy` holds an operation, its arithmetic bits are stale.
    pub rflags: u64,
    pub lazy: LazyFlags,
    pub seg: [Segment; 6],
    pub ldtr: Segment,
    pub tr: Segment,
    pub gdtr: DescriptorTable,
    pub idtr: DescriptorTable,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub cr8: u64,
    /// The four PAE page-directory-pointer-table entries, loaded from CR3
    /// by the MOV CR that enters or reloads PAE paging (SDM vol. 3, 4.4.1).
    pub pdpte: [u64; 4],
    pub dr: [u64; 8],
    pub msr: Msrs,
    pub tsc: u64,
    pub x87: X87State,
    pub xmm: [[u64; 2]; 16],
    pub mxcsr: u32,
    /// XCR0: the state components XSAVE/XRSTOR manage (x87 always on).
    pub xcr0: u64,
    /// Set by HLT; cleared by an interrupt or reset.
    pub halted: bool,
    /// External interrupts are held off until the next instruction retires
    /// (after STI that set IF, MOV SS and POP SS: SDM vol. 3, 6.8.3).
    pub interrupt_shadow: bool,
    /// Instructions retired since reset.
    pub icount: u64,
}

impl Default for CpuState {
    fn default() -> Self {
        let mut s = CpuState {
            gpr: [0; 16],
            rip: 0,
            rflags: 0,
            lazy: LazyFlags::default(),
            seg: [Segment::default(); 6],
            ldtr: Segment::default(),
            tr: Segment::default(),
            gdtr: DescriptorTable::default(),
            idtr: DescriptorTable::default(),
            cr0: 0,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            cr8: 0,
            pdpte: [0; 4],
            dr: [0; 8],
            msr: Msrs::default(),
            tsc: 0,
            x87: X87State::default(),
            xmm: [[0; 2]; 16],
            mxcsr: 0x1f80,
            xcr0: super::x87::xsave::XCR0_RESET,
            halted: false,
            interrupt_shadow: false,
            icount: 0,
        };
        s.reset();
        s
    }
}

impl CpuState {
    /// The state after RESET (SDM vol. 3, 9.1.1): real mode, CS base
    /// 0xFFFF0000 so that the first fetch is at 0xFFFFFFF0.
    pub fn reset(&mut self) {
        let keep_icount = self.icount;
        *self = CpuState {
            gpr: [0; 16],
            rip: 0xfff0,
            rflags: rflags::FIXED1,
            lazy: LazyFlags::default(),
            seg: [Segment::real_mode(0, Segment::ATTR_REAL_DATA); 6],
            ldtr: Segment {
                attr: 0x82,
                limit: 0xffff,
                ..Segment::default()
            },
            tr: Segment {
                attr: 0x8b,
                limit: 0xffff,
                ..Segment::default()
            },
            gdtr: DescriptorTable {
                base: 0,
                limit: 0xffff,
            },
            idtr: DescriptorTable {
                base: 0,
                limit: 0xffff,
            },
            cr0: cr0::ET | cr0::CD | cr0::NW,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            cr8: 0,
            pdpte: [0; 4],
            dr: [0, 0, 0, 0, 0, 0, 0xffff0ff0, 0x400],
            msr: Msrs {
                apic_base: 0xfee0_0900,
                pat: 0x0007_0406_0007_0406,
                misc_enable: super::cpuid::MISC_ENABLE_RESET,
                ..Msrs::default()
            },
            tsc: 0,
            x87: X87State::default(),
            xmm: [[0; 2]; 16],
            mxcsr: 0x1f80,
            xcr0: super::x87::xsave::XCR0_RESET,
            halted: false,
            interrupt_shadow: false,
            icount: keep_icount,
        };
        self.seg[CS] = Segment {
            selector: 0xf000,
            attr: Segment::ATTR_REAL_CODE,
            limit: 0xffff,
            base: 0xffff_0000,
        };
        // EDX holds the processor signature after reset.
        self.gpr[RDX] = super::cpuid::SIGNATURE as u64;
    }

    /// Whether an external maskable interrupt may be delivered now.
    #[inline]
    pub fn accepts_interrupt(&self) -> bool {
        self.rflags & rflags::IF != 0 && !self.interrupt_shadow
    }

    /// True in protected (or long) mode.
    pub fn protected_mode(&self) -> bool {
        self.cr0 & cr0::PE != 0
    }

    /// Current RFLAGS with the lazy arithmetic bits materialised.
    #[inline]
    pub fn flags(&self) -> u64 {
        self.lazy.merge(self.rflags)
    }

    /// Writes RFLAGS outright, dropping any pending lazy operation.
    #[inline]
    pub fn set_flags(&mut self, value: u64) {
        self.rflags = (value & rflags::WRITABLE) | rflags::FIXED1;
        self.lazy.clear();
    }

    /// Sets or clears one or more flag bits, keeping the rest.
    #[inline]
    pub fn set_flag(&mut self, bits: u64, on: bool) {
        let f = self.flags();
        self.set_flags(if on { f | bits } else { f & !bits });
    }

    #[inline]
    pub fn flag(&self, bit: u64) -> bool {
        if bit & rflags::ARITH == 0 {
            self.rflags & bit != 0
        } else {
            self.lazy.flag_bits(self.rflags, bit) != 0
        }
    }

    /// Writes the arithmetic flags in `mask` from `bits`, keeping the rest.
    #[inline]
    pub fn set_arith_flags(&mut self, mask: u64, bits: u64) {
        // A pending operation only defines arithmetic flags: when all of
        // them are written, RFLAGS already holds the rest.
        let f = if mask & rflags::ARITH == rflags::ARITH {
            self.rflags
        } else {
            self.flags()
        };
        self.set_flags((f & !mask) | (bits & mask));
    }
}

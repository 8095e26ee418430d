//! RDMSR/WRMSR and the model-specific registers xlat implements.

use super::Exec;
use crate::cpu::cpuid;
use crate::cpu::fault::Fault;
use crate::cpu::mmu::MAXPHYADDR;
use crate::cpu::state::{cr0, efer, RAX, RCX, RDX};
use iced_x86::Instruction;

type R = Result<(), Fault>;

/// The time-stamp counter: the TSC offset plus retired instructions, until
/// the machine's virtual clock drives it.
pub fn tsc(ex: &Exec) -> u64 {
    ex.s.tsc.wrapping_add(ex.s.icount)
}

mod index {
    pub const TSC: u32 = 0x10;
    pub const PLATFORM_ID: u32 = 0x17;
    /// IA32_BIOS_SIGN_ID: the microcode revision (kernels write 0, run
    /// CPUID, and read it back).
    pub const BIOS_SIGN_ID: u32 = 0x8b;
    pub const APIC_BASE: u32 = 0x1b;
    pub const SYSENTER_CS: u32 = 0x174;
    pub const SYSENTER_ESP: u32 = 0x175;
    pub const SYSENTER_EIP: u32 = 0x176;
    pub const MTRRCAP: u32 = 0xfe;
    pub const MISC_ENABLE: u32 = 0x1a0;
    pub const MTRR_PHYS_FIRST: u32 = 0x200;
    pub const MTRR_PHYS_LAST: u32 = 0x20f;
    pub const MTRR_FIX64K_00000: u32 = 0x250;
    pub const MTRR_FIX16K_80000: u32 = 0x258;
    pub const MTRR_FIX16K_A0000: u32 = 0x259;
    pub const MTRR_FIX4K_FIRST: u32 = 0x268;
    pub const MTRR_FIX4K_LAST: u32 = 0x26f;
    pub const PAT: u32 = 0x277;
    pub const MTRR_DEF_TYPE: u32 = 0x2ff;
    pub const EFER: u32 = 0xc000_0080;
    pub const STAR: u32 = 0xc000_0081;
    pub const LSTAR: u32 = 0xc000_0082;
    pub const CSTAR: u32 = 0xc000_0083;
    pub const SFMASK: u32 = 0xc000_0084;
    pub const FS_BASE: u32 = 0xc000_0100;
    pub const GS_BASE: u32 = 0xc000_0101;
    pub const KERNEL_GS_BASE: u32 = 0xc000_0102;
    pub const TSC_AUX: u32 = 0xc000_0103;
}

pub fn rdmsr(ex: &mut Exec, _insn: &Instruction) -> R {
    ex.require_cpl0()?;
    let m = &ex.s.msr;
    let index = ex.reg(RCX, 4) as u32;
    let v = match index {
        index::TSC => tsc(ex),
        index::APIC_BASE => match ex.lapic() {
            Some(lapic) => lapic.apic_base(),
            None => m.apic_base,
        },
        index::SYSENTER_CS => m.sysenter_cs,
        index::SYSENTER_ESP => m.sysenter_esp,
        index::SYSENTER_EIP => m.sysenter_eip,
        index::MTRRCAP => cpuid::MTRRCAP,
        index::MISC_ENABLE => m.misc_enable,
        index::MTRR_PHYS_FIRST..=index::MTRR_PHYS_LAST => {
            m.mtrr_var[(index - index::MTRR_PHYS_FIRST) as usize]
        }
        index::MTRR_FIX64K_00000
        | index::MTRR_FIX16K_80000
        | index::MTRR_FIX16K_A0000
        | index::MTRR_FIX4K_FIRST..=index::MTRR_FIX4K_LAST => m.mtrr_fixed[fixed_mtrr(index)],
        index::MTRR_DEF_TYPE => m.mtrr_def_type,
        index::PAT => m.pat,
        index::EFER => m.efer,
        index::STAR => m.star,
        index::LSTAR => m.lstar,
        index::CSTAR => m.cstar,
        index::SFMASK => m.sfmask,
        index::FS_BASE => ex.s.seg[crate::cpu::state::FS].base,
        index::GS_BASE => ex.s.seg[crate::cpu::state::GS].base,
        index::KERNEL_GS_BASE => m.kernel_gs_base,
        index::TSC_AUX => m.tsc_aux,
        // No microcode, no platform ID: both read as zero.
        index::PLATFORM_ID | index::BIOS_SIGN_ID => 0,
        _ => return Err(Fault::gp(0)),
    };
    ex.set_reg(RAX, 4, v & 0xffff_ffff);
    ex.set_reg(RDX, 4, v >> 32);
    Ok(())
}

pub fn wrmsr(ex: &mut Exec, _insn: &Instruction) -> R {
    ex.require_cpl0()?;
    let v = (ex.reg(RDX, 4) << 32) | ex.reg(RAX, 4);
    let index = ex.reg(RCX, 4) as u32;
    let icount = ex.s.icount;
    let m = &mut ex.s.msr;
    match index {
        index::TSC => ex.s.tsc = v.wrapping_sub(icount),
        index::APIC_BASE => {
            // Base, BSP (read-only) and global enable; x2APIC (bit 10) is
            // not offered, so it is reserved like the rest (SDM 10.4.4).
            if v & !(PHYS_ADDR_BITS | APIC_BSP | APIC_ENABLE) != 0 {
                return Err(Fault::gp(0));
            }
            match ex
                .lapic
                .map(|l| l.lock().unwrap_or_else(|e| e.into_inner()))
            {
                Some(mut lapic) => lapic.write_apic_base(v),
                None => m.apic_base = v & !APIC_BSP | m.apic_base & APIC_BSP,
            }
            // The APIC may have stopped or started taking interrupts.
            ex.yield_now = true;
        }
        index::SYSENTER_CS => m.sysenter_cs = v & 0xffff_ffff,
        index::SYSENTER_ESP => m.sysenter_esp = v,
        index::SYSENTER_EIP => m.sysenter_eip = v,
        index::MISC_ENABLE => {
            // Only fast-strings enable is software-controlled here; the other
            // bits read back as the model fixes them (writes ignored).
            m.misc_enable = (m.misc_enable & !MISC_FAST_STRINGS) | (v & MISC_FAST_STRINGS);
        }
        index::MTRR_PHYS_FIRST..=index::MTRR_PHYS_LAST => {
            let i = (index - index::MTRR_PHYS_FIRST) as usize;
            let ok = if i % 2 == 0 {
                // PHYSBASE: type in 7:0, base in MAXPHYADDR-1:12.
                v & !(PHYS_ADDR_BITS | 0xff) == 0 && valid_mtrr_type(v as u8)
            } else {
                // PHYSMASK: valid in 11, mask in MAXPHYADDR-1:12.
                v & !(PHYS_ADDR_BITS | 0x800) == 0
            };
            if !ok {
                return Err(Fault::gp(0));
            }
            m.mtrr_var[i] = v;
        }
        index::MTRR_FIX64K_00000
        | index::MTRR_FIX16K_80000
        | index::MTRR_FIX16K_A0000
        | index::MTRR_FIX4K_FIRST..=index::MTRR_FIX4K_LAST => {
            // Every byte is the memory type of one sub-range.
            if !v.to_le_bytes().into_iter().all(valid_mtrr_type) {
                return Err(Fault::gp(0));
            }
            m.mtrr_fixed[fixed_mtrr(index)] = v;
        }
        index::MTRR_DEF_TYPE => {
            // Type in 7:0, FE in 10, E in 11.
            if v & !0xcff != 0 || !valid_mtrr_type(v as u8) {
                return Err(Fault::gp(0));
            }
            m.mtrr_def_type = v;
        }
        index::PAT => {
            // Each byte a memory type, 2 and 3 reserved (SDM 13.12.2).
            if !v
                .to_le_bytes()
                .into_iter()
                .all(|t| t < 8 && t != 2 && t != 3)
            {
                return Err(Fault::gp(0));
            }
            m.pat = v;
        }
        index::EFER => write_efer(ex, v)?,
        index::STAR => m.star = v,
        index::LSTAR => m.lstar = v,
        index::CSTAR => m.cstar = v,
        index::SFMASK => m.sfmask = v,
        index::FS_BASE => ex.s.seg[crate::cpu::state::FS].base = v,
        index::GS_BASE => ex.s.seg[crate::cpu::state::GS].base = v,
        index::KERNEL_GS_BASE => m.kernel_gs_base = v,
        index::TSC_AUX => m.tsc_aux = v & 0xffff_ffff,
        // Writing the microcode signature register only arms the next read.
        index::BIOS_SIGN_ID => {}
        _ => return Err(Fault::gp(0)),
    }
    Ok(())
}

/// IA32_APIC_BASE: the BSP flag and the global enable.
const APIC_BSP: u64 = 1 << 8;
const APIC_ENABLE: u64 = 1 << 11;

/// IA32_MISC_ENABLE bit 0.
const MISC_FAST_STRINGS: u64 = 1;

/// Bits MAXPHYADDR-1:12 of an MTRR base or mask.
const PHYS_ADDR_BITS: u64 = ((1 << MAXPHYADDR) - 1) & !0xfff;

/// Memory types an MTRR may hold: UC, WC, WT, WP, WB (SDM table 12-8).
fn valid_mtrr_type(t: u8) -> bool {
    matches!(t, 0 | 1 | 4 | 5 | 6)
}

/// Index in `Msrs::mtrr_fixed` of a fixed-range MTRR's MSR index.
fn fixed_mtrr(msr: u32) -> usize {
    match msr {
        index::MTRR_FIX64K_00000 => 0,
        index::MTRR_FIX16K_80000 => 1,
        index::MTRR_FIX16K_A0000 => 2,
        _ => (msr - index::MTRR_FIX4K_FIRST) as usize + 3,
    }
}

/// WRMSR to IA32_EFER: SCE, LME and NXE are writable; LMA is set and
/// cleared only by the processor (writes to it are ignored); LME cannot
/// change while paging is on. A change of NXE flushes the TLB.
fn write_efer(ex: &mut Exec, v: u64) -> R {
    let writable = efer::SCE | efer::LME | efer::NXE;
    let old = ex.s.msr.efer;
    if v & !(writable | efer::LMA) != 0 || (ex.s.cr0 & cr0::PG != 0 && (old ^ v) & efer::LME != 0) {
        return Err(Fault::gp(0));
    }
    let new = (v & writable) | (old & efer::LMA);
    if (old ^ new) & efer::NXE != 0 {
        ex.tlb.flush_all();
    }
    ex.s.msr.efer = new;
    ex.yield_now = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::control_regs::tests::Cpu;
    use crate::cpu::fault::Fault;
    use crate::cpu::state::efer;

    #[test]
    fn efer_and_mtrr_msrs() {
        let mut c = Cpu::new();
        assert_eq!(c.wrmsr(0xc000_0080, 1 << 9), Err(Fault::gp(0)));
        // LMA is written by the processor only.
        c.wrmsr(0xc000_0080, efer::LMA | efer::NXE | efer::SCE)
            .unwrap();
        assert_eq!(c.s.msr.efer, efer::NXE | efer::SCE);
        // MTRRs: memory types 2 and 3 are reserved, as are high bits.
        assert_eq!(c.wrmsr(0x2ff, 2), Err(Fault::gp(0)));
        assert_eq!(c.wrmsr(0x2ff, 1 << 12 | 6), Err(Fault::gp(0)));
        c.wrmsr(0x2ff, (1 << 11) | 6).unwrap();
        assert_eq!(c.s.msr.mtrr_def_type, 0x806);
        assert_eq!(c.wrmsr(0x200, (1 << 40) | 6), Err(Fault::gp(0)));
        c.wrmsr(0x200, 0xff_0000_0006).unwrap();
        assert_eq!(c.wrmsr(0x201, 0x400), Err(Fault::gp(0)));
        c.wrmsr(0x201, 0xff_f000_0800).unwrap();
        assert_eq!(c.s.msr.mtrr_var[..2], [0xff_0000_0006, 0xff_f000_0800]);
        assert_eq!(c.wrmsr(0x26f, 0x0606_0606_0606_0603), Err(Fault::gp(0)));
        c.wrmsr(0x26f, 0x0606_0606_0605_0400).unwrap();
        assert_eq!(c.s.msr.mtrr_fixed[10], 0x0606_0606_0605_0400);
        assert_eq!(c.wrmsr(0xfe, 0), Err(Fault::gp(0)));
        assert_eq!(c.wrmsr(0x277, 0x0007_0406_0007_0402), Err(Fault::gp(0)));
        assert_eq!(c.wrmsr(0x277, 0x0007_0406_0007_0408), Err(Fault::gp(0)));
        c.wrmsr(0x277, 0x0007_0106_0007_0406).unwrap();
    }

    /// One instruction with a local APIC wired to the CPU, as the machine
    /// does it.
    struct ApicRig {
        s: crate::cpu::state::CpuState,
        mem: crate::mem::GuestMemory,
        tlb: crate::cpu::mmu::Tlb,
        lapic: crate::devices::lapic::SharedLapic,
    }

    impl ApicRig {
        fn new() -> Self {
            use crate::devices::lapic::Lapic;
            let clock = crate::machine::clock::VirtualClock::deterministic();
            ApicRig {
                s: crate::cpu::state::CpuState::default(),
                mem: crate::mem::GuestMemory::new(1 << 20).unwrap(),
                tlb: Default::default(),
                lapic: std::sync::Arc::new(std::sync::Mutex::new(Lapic::new(clock, 0, true))),
            }
        }

        /// Runs `bytes` (64-bit decoding) with RAX = `rax`; returns RAX.
        fn exec(&mut self, bytes: &[u8], rax: u64) -> Result<u64, Fault> {
            use crate::cpu::state::RAX;
            let insn = iced_x86::Decoder::with_ip(64, bytes, 0, 0).decode();
            self.s.gpr[RAX] = rax;
            let mut io = crate::devices::bus::PortBus::default();
            let mut ex = super::Exec::new(&mut self.s, &mut self.mem, &mut io, &mut self.tlb);
            ex.lapic = Some(&self.lapic);
            (crate::cpu::catalog::entry(insn.code()).handler)(&mut ex, &insn)?;
            Ok(self.s.gpr[RAX])
        }

        fn msr(&mut self, index: u32, write: Option<u64>) -> Result<u64, Fault> {
            use crate::cpu::state::{RCX, RDX};
            self.s.gpr[RCX] = index as u64;
            match write {
                Some(v) => {
                    self.s.gpr[RDX] = v >> 32;
                    self.exec(&[0x0f, 0x30], v & 0xffff_ffff)
                }
                None => {
                    let lo = self.exec(&[0x0f, 0x32], 0)?;
                    Ok(self.s.gpr[RDX] << 32 | lo)
                }
            }
        }
    }

    #[test]
    fn apic_base_msr_is_the_local_apics() {
        let mut c = ApicRig::new();
        assert_eq!(c.msr(0x1b, None), Ok(0xfee0_0900), "BSP, enabled");
        // Reserved bits (x2APIC enable among them) raise #GP.
        assert_eq!(c.msr(0x1b, Some(0xfee0_0d00)), Err(Fault::gp(0)));
        assert_eq!(c.msr(0x1b, Some(0xfee0_0901)), Err(Fault::gp(0)));
        assert_eq!(c.msr(0x1b, Some(1 << 40 | 0x800)), Err(Fault::gp(0)));
        // Disabling: the APIC stops answering and forgets its state; the BSP
        // flag is read-only.
        c.msr(0x1b, Some(0xfee0_0000)).unwrap();
        assert!(!c.lapic.lock().unwrap().hw_enabled());
        assert_eq!(c.msr(0x1b, None), Ok(0xfee0_0100));
        // Moving the base is recorded.
        c.msr(0x1b, Some(0xfed0_0800)).unwrap();
        assert_eq!(c.lapic.lock().unwrap().base_address(), 0xfed0_0000);
        assert_eq!(c.msr(0x1b, None), Ok(0xfed0_0900));
    }

    #[test]
    fn cr8_is_the_task_priority_register() {
        let mut c = ApicRig::new();
        const MOV_CR8_RAX: &[u8] = &[0x44, 0x0f, 0x22, 0xc0];
        const MOV_RAX_CR8: &[u8] = &[0x44, 0x0f, 0x20, 0xc0];
        c.exec(MOV_CR8_RAX, 0xa).unwrap();
        assert_eq!(c.lapic.lock().unwrap().tpr(), 0xa0);
        c.lapic.lock().unwrap().set_tpr(0x5f);
        assert_eq!(c.exec(MOV_RAX_CR8, 0), Ok(5));
        assert_eq!(c.exec(MOV_CR8_RAX, 16), Err(Fault::gp(0)));
    }

    #[test]
    fn unclaimed_msrs_fault() {
        let mut c = ApicRig::new();
        // No TSC-deadline timer (CPUID.1:ECX[24] clear) and no P6
        // performance counters: both are #GP, as on a CPU without them.
        for msr in [0x6e0, 0x186, 0x187, 0xc1, 0xc2, 0x38f] {
            assert_eq!(c.msr(msr, None), Err(Fault::gp(0)), "MSR {msr:#x}");
        }
    }
}

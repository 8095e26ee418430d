//! Control registers: MOV to/from CR0/CR2/CR3/CR4/CR8, SMSW/LMSW, CLTS,
//! and the cache/TLB control instructions INVD, WBINVD, INVLPG.

use super::operand::size_mask;
use super::Exec;
use crate::cpu::cpuid;
use crate::cpu::decode_cache::code_bitness;
use crate::cpu::fault::Fault;
use crate::cpu::mmu;
use crate::cpu::state::{cr0, cr4, efer, CS};
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

type R = Result<(), Fault>;

pub fn smsw(ex: &mut Exec, insn: &Instruction) -> R {
    let v = ex.s.cr0;
    let size = ex.op_size(insn, 0);
    ex.write_op(insn, 0, v & size_mask(size))
}

/// LMSW: loads PE, MP, EM and TS; it can set PE but never clear it.
pub fn lmsw(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_cpl0()?;
    let v = ex.read_op(insn, 0)? & 0xf;
    let old = ex.s.cr0;
    ex.s.cr0 = (old & !0xe) | (v & 0xe) | ((old | v) & cr0::PE);
    ex.yield_now = true;
    Ok(())
}

pub fn clts(ex: &mut Exec, _insn: &Instruction) -> R {
    ex.require_cpl0()?;
    ex.s.cr0 &= !cr0::TS;
    Ok(())
}

fn cr_index(r: Register) -> Option<usize> {
    match r {
        Register::CR0 => Some(0),
        Register::CR2 => Some(2),
        Register::CR3 => Some(3),
        Register::CR4 => Some(4),
        Register::CR8 => Some(8),
        _ => None,
    }
}

/// MOV to/from CR0, CR2, CR3, CR4, CR8.
pub fn mov_cr(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_cpl0()?;
    let to_cr = insn.op_register(0).is_cr();
    let (cr, gpr) = if to_cr {
        (insn.op_register(0), insn.op_register(1))
    } else {
        (insn.op_register(1), insn.op_register(0))
    };
    let idx = cr_index(cr).ok_or(Fault::UD)?;
    if !to_cr {
        let v = match idx {
            0 => ex.s.cr0,
            2 => ex.s.cr2,
            3 => ex.s.cr3,
            4 => ex.s.cr4,
            // CR8 is TPR[7:4] (SDM 10.8.6.1).
            _ => match ex.lapic() {
                Some(lapic) => (lapic.tpr() >> 4) as u64,
                None => ex.s.cr8,
            },
        };
        ex.set_gpr(gpr, v);
        return Ok(());
    }
    let v = ex.gpr(gpr);
    match idx {
        0 => write_cr0(ex, v)?,
        2 => ex.s.cr2 = v,
        3 => mmu::load_cr3(ex.s, ex.mem, ex.tlb, v)?,
        4 => write_cr4(ex, v)?,
        _ => {
            if v > 15 {
                return Err(Fault::gp(0));
            }
            ex.s.cr8 = v;
            if let Some(mut lapic) = ex.lapic() {
                lapic.set_tpr((v << 4) as u8);
            }
        }
    }
    ex.yield_now = true;
    Ok(())
}

/// CR0 bits that select how linear addresses translate: changing any of
/// them flushes the whole TLB.
const CR0_PAGING: u64 = cr0::PG | cr0::WP;
/// CR0 bits whose change under PAE paging reloads the PDPTEs (SDM 4.4.1).
const CR0_PDPTE_RELOAD: u64 = cr0::PG | cr0::CD | cr0::NW;
/// The same for CR4.
const CR4_PAGING: u64 = cr4::PSE | cr4::PAE | cr4::PGE | cr4::SMEP | cr4::SMAP;
const CR4_PDPTE_RELOAD: u64 = cr4::PSE | cr4::PAE | cr4::PGE | cr4::SMEP;

/// Whether PAE paging (not 4-level) is in use with these values.
fn pae_paging(cr0v: u64, cr4v: u64, eferv: u64) -> bool {
    cr0v & cr0::PG != 0 && cr4v & cr4::PAE != 0 && eferv & efer::LMA == 0
}

/// MOV to CR0 (SDM vol. 3, 2.5 and MOV—Move to/from Control Registers),
/// including IA-32e mode activation and deactivation (9.8.5).
fn write_cr0(ex: &mut Exec, v: u64) -> R {
    // High reserved bits, PG without PE, NW without CD: #GP(0); the low
    // reserved bits are ignored.
    let writable = 0xe005_003f_u64;
    if v >> 32 != 0
        || (v & cr0::PG != 0 && v & cr0::PE == 0)
        || (v & cr0::NW != 0 && v & cr0::CD == 0)
    {
        return Err(Fault::gp(0));
    }
    let new = (v & writable) | cr0::ET;
    let old = ex.s.cr0;
    let mut new_efer = ex.s.msr.efer;
    let cs_long = ex.s.seg[CS].attr & (1 << 13) != 0;
    if new & cr0::PG != 0 && old & cr0::PG == 0 && new_efer & efer::LME != 0 {
        // Activating IA-32e mode needs PAE, a CS without L and a 32-bit TSS.
        let tss16 = matches!(ex.s.tr.attr & 0xf, 1 | 3);
        if ex.s.cr4 & cr4::PAE == 0 || cs_long || tss16 {
            return Err(Fault::gp(0));
        }
        new_efer |= efer::LMA;
    }
    if new & cr0::PG == 0 && old & cr0::PG != 0 && new_efer & efer::LMA != 0 {
        // Paging can only be turned off from compatibility mode.
        if cs_long {
            return Err(Fault::gp(0));
        }
        new_efer &= !efer::LMA;
    }
    if pae_paging(new, ex.s.cr4, new_efer) && (old ^ new) & CR0_PDPTE_RELOAD != 0 {
        ex.s.pdpte = mmu::read_pdptes(ex.mem, ex.s.cr3)?;
    }
    ex.s.cr0 = new;
    if (old ^ new) & CR0_PAGING != 0 || new_efer != ex.s.msr.efer {
        ex.tlb.flush_all();
    }
    ex.s.msr.efer = new_efer;
    Ok(())
}

/// MOV to CR4: only the features xlat implements may be set.
fn write_cr4(ex: &mut Exec, v: u64) -> R {
    let efer_v = ex.s.msr.efer;
    if v & !cpuid::CR4_SUPPORTED != 0 || (efer_v & efer::LMA != 0 && v & cr4::PAE == 0) {
        return Err(Fault::gp(0));
    }
    let old = ex.s.cr4;
    if pae_paging(ex.s.cr0, v, efer_v) && (old ^ v) & CR4_PDPTE_RELOAD != 0 {
        ex.s.pdpte = mmu::read_pdptes(ex.mem, ex.s.cr3)?;
    }
    ex.s.cr4 = v;
    if (old ^ v) & CR4_PAGING != 0 {
        ex.tlb.flush_all();
    }
    Ok(())
}

/// MOV to/from DR0-DR7 (DR4/DR5 alias DR6/DR7 while CR4.DE is clear).
pub fn mov_dr(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_cpl0()?;
    let to_dr = insn.op_register(0).is_dr();
    let (dr, gpr) = if to_dr {
        (insn.op_register(0), insn.op_register(1))
    } else {
        (insn.op_register(1), insn.op_register(0))
    };
    let mut idx = (dr as u32 - Register::DR0 as u32) as usize;
    if idx == 4 || idx == 5 {
        if ex.s.cr4 & (1 << 3) != 0 {
            return Err(Fault::UD);
        }
        idx += 2;
    }
    if idx > 7 {
        return Err(Fault::UD);
    }
    if to_dr {
        let v = ex.gpr(gpr);
        ex.s.dr[idx] = match idx {
            6 => (v & 0xe00f) | 0xffff_0ff0,
            7 => (v & 0xffff_2bff) | 0x400,
            _ => v,
        };
        if idx == 7 {
            // Host TLB hits skip data breakpoint checks: none may outlive
            // a DR7 that arms them (fills are refused while armed).
            ex.tlb.host.flush();
        }
    } else {
        let v = ex.s.dr[idx];
        ex.set_gpr(gpr, v);
    }
    Ok(())
}

/// INVD, WBINVD: no caches are modelled. INVLPG: drops the TLB entries of
/// the page holding the operand's linear address, global or not, and of any
/// large page covering it (SDM 4.10.4.1); it never faults on the address.
pub fn cache_control(ex: &mut Exec, insn: &Instruction) -> R {
    ex.require_cpl0()?;
    if insn.mnemonic() == Mnemonic::Invlpg {
        if insn.op0_kind() != OpKind::Memory {
            return Err(Fault::UD);
        }
        let off = ex.effective_offset(insn);
        let lin = ex.s.seg[ex.mem_seg(insn)].base.wrapping_add(off);
        let lin = if code_bitness(ex.s) == 64 {
            lin
        } else {
            lin & 0xffff_ffff
        };
        ex.tlb.flush_page(lin);
        // Instructions after it in this block were fetched through the old
        // translation: end the block.
        ex.yield_now = true;
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::cpu::catalog;
    use crate::cpu::mmu::{translate, Access, Tlb};
    use crate::cpu::state::{CpuState, RAX};
    use crate::devices::bus::PortBus;
    use crate::mem::GuestMemory;

    const MOV_CR0_EAX: &[u8] = &[0x0f, 0x22, 0xc0];
    const MOV_CR3_EAX: &[u8] = &[0x0f, 0x22, 0xd8];
    const MOV_CR4_EAX: &[u8] = &[0x0f, 0x22, 0xe0];
    const INVLPG_EAX: &[u8] = &[0x0f, 0x01, 0x38];

    /// A vCPU with its memory and TLB for running single instructions.
    pub(in crate::cpu::exec) struct Cpu {
        pub s: CpuState,
        pub mem: GuestMemory,
        pub tlb: Tlb,
    }

    impl Cpu {
        pub fn new() -> Self {
            let mut s = CpuState {
                cr0: cr0::ET,
                ..CpuState::default()
            };
            s.seg[CS].attr |= 1 << 14; // 32-bit code
            Cpu {
                s,
                mem: GuestMemory::new(4 << 20).unwrap(),
                tlb: Tlb::default(),
            }
        }

        /// Runs one 32-bit instruction with EAX = `eax`.
        pub fn exec(&mut self, bytes: &[u8], eax: u64) -> R {
            let insn = iced_x86::Decoder::with_ip(32, bytes, 0, 0).decode();
            self.s.gpr[RAX] = eax;
            let mut io = PortBus::default();
            let mut ex = Exec::new(&mut self.s, &mut self.mem, &mut io, &mut self.tlb);
            (catalog::entry(insn.code()).handler)(&mut ex, &insn)
        }

        pub fn wrmsr(&mut self, index: u32, v: u64) -> R {
            self.s.gpr[crate::cpu::state::RCX] = index as u64;
            self.s.gpr[crate::cpu::state::RDX] = v >> 32;
            self.exec(&[0x0f, 0x30], v & 0xffff_ffff)
        }
    }

    #[test]
    fn cr0_consistency_checks() {
        let mut c = Cpu::new();
        assert_eq!(c.exec(MOV_CR0_EAX, cr0::PG), Err(Fault::gp(0)));
        assert_eq!(c.exec(MOV_CR0_EAX, cr0::NW | cr0::PE), Err(Fault::gp(0)));
        assert_eq!(c.s.cr0, cr0::ET);
        c.exec(MOV_CR0_EAX, cr0::PE | cr0::CD | cr0::NW).unwrap();
        assert_eq!(c.s.cr0, cr0::PE | cr0::CD | cr0::NW | cr0::ET);
    }

    #[test]
    fn enabling_pae_paging_loads_the_pdptes() {
        let mut c = Cpu::new();
        c.mem.write(0x1000, 8, 0x2000 | 1);
        c.mem.write(0x1008, 8, 0x3000 | 3); // R/W is reserved in a PDPTE
        c.exec(MOV_CR4_EAX, cr4::PAE).unwrap();
        c.exec(MOV_CR3_EAX, 0x1000).unwrap(); // paging off: no load
        assert_eq!(c.exec(MOV_CR0_EAX, cr0::PE | cr0::PG), Err(Fault::gp(0)));
        assert_eq!(c.s.cr0 & cr0::PG, 0);
        c.mem.write(0x1008, 8, 0x3000 | 1);
        c.exec(MOV_CR0_EAX, cr0::PE | cr0::PG).unwrap();
        assert_eq!(c.s.pdpte, [0x2001, 0x3001, 0, 0]);
        // MOV CR3 under PAE paging reloads them; a bad table is #GP and
        // leaves CR3 alone.
        c.mem.write(0x5000, 8, (1 << 63) | 0x6001);
        assert_eq!(c.exec(MOV_CR3_EAX, 0x5000), Err(Fault::gp(0)));
        assert_eq!(c.s.cr3, 0x1000);
        // So does a MOV CR4 that changes PGE.
        c.mem.write(0x1010, 8, 0x4001);
        c.exec(MOV_CR4_EAX, cr4::PAE | cr4::PGE).unwrap();
        assert_eq!(c.s.pdpte[2], 0x4001);
    }

    #[test]
    fn cr4_accepts_only_implemented_bits() {
        let mut c = Cpu::new();
        for bad in [cr4::VME, cr4::PVI, cr4::MCE, cr4::PCE, 1 << 12] {
            assert_eq!(c.exec(MOV_CR4_EAX, bad), Err(Fault::gp(0)), "{bad:#x}");
        }
        let good = cr4::TSD
            | cr4::DE
            | cr4::PSE
            | cr4::PGE
            | cr4::OSFXSR
            | cr4::OSXMMEXCPT
            | cr4::OSXSAVE
            | cr4::SMEP
            | cr4::SMAP;
        c.exec(MOV_CR4_EAX, good).unwrap();
        assert_eq!(c.s.cr4, good);
    }

    #[test]
    fn long_mode_activation_and_deactivation() {
        let mut c = Cpu::new();
        c.wrmsr(0xc000_0080, efer::LME).unwrap();
        // Paging with LME needs PAE.
        assert_eq!(c.exec(MOV_CR0_EAX, cr0::PE | cr0::PG), Err(Fault::gp(0)));
        c.exec(MOV_CR4_EAX, cr4::PAE).unwrap();
        c.exec(MOV_CR0_EAX, cr0::PE | cr0::PG).unwrap();
        assert_eq!(c.s.msr.efer, efer::LME | efer::LMA);
        // PAE cannot be cleared, nor LME changed, while in IA-32e mode.
        assert_eq!(c.exec(MOV_CR4_EAX, 0), Err(Fault::gp(0)));
        assert_eq!(c.wrmsr(0xc000_0080, 0), Err(Fault::gp(0)));
        // Turning paging off (from compatibility mode) leaves IA-32e mode.
        c.exec(MOV_CR0_EAX, cr0::PE).unwrap();
        assert_eq!(c.s.msr.efer, efer::LME);
    }

    #[test]
    fn translation_controls_flush_the_tlb() {
        let mut c = Cpu::new();
        c.mem.write(0x1000, 4, 0x2000 | 7);
        c.mem.write(0x2000, 4, 0x5000 | 7);
        c.exec(MOV_CR3_EAX, 0x1000).unwrap();
        c.exec(MOV_CR0_EAX, cr0::PE | cr0::PG).unwrap();
        let fill = |c: &mut Cpu| {
            translate(&mut c.s, &mut c.mem, &mut c.tlb, 0, Access::read(false)).unwrap();
            assert!(!c.tlb.is_empty());
        };
        fill(&mut c);
        c.exec(MOV_CR0_EAX, cr0::PE | cr0::PG | cr0::WP).unwrap();
        assert!(c.tlb.is_empty(), "CR0.WP");
        fill(&mut c);
        c.exec(MOV_CR0_EAX, cr0::PE | cr0::PG | cr0::WP | cr0::TS)
            .unwrap();
        assert!(!c.tlb.is_empty(), "CR0.TS does not flush");
        c.exec(MOV_CR4_EAX, cr4::SMEP).unwrap();
        assert!(c.tlb.is_empty(), "CR4.SMEP");
        fill(&mut c);
        c.wrmsr(0xc000_0080, efer::NXE).unwrap();
        assert!(c.tlb.is_empty(), "EFER.NXE");
        fill(&mut c);
        c.exec(MOV_CR3_EAX, 0x1000).unwrap();
        assert!(c.tlb.is_empty(), "CR3 without PGE");
    }

    #[test]
    fn invlpg_drops_one_page() {
        let mut c = Cpu::new();
        // 32-bit paging, identity-mapped first 4 MiB via one page table.
        c.mem.write(0x1000, 4, 0x2000 | 7);
        for i in 0..1024u64 {
            c.mem.write(0x2000 + i * 4, 4, (i << 12) | 7);
        }
        c.exec(MOV_CR3_EAX, 0x1000).unwrap();
        c.exec(MOV_CR0_EAX, cr0::PE | cr0::PG).unwrap();
        for lin in [0x5000u64, 0x6000] {
            translate(&mut c.s, &mut c.mem, &mut c.tlb, lin, Access::read(false)).unwrap();
        }
        c.exec(INVLPG_EAX, 0x5123).unwrap();
        assert!(c.tlb.entry(0x5000).is_none());
        assert!(c.tlb.entry(0x6000).is_some());
    }
}

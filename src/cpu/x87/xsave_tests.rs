//! XSAVE feature-set checks, one instruction at a time in a 32-bit flat
//! segment: the #UD/#NM/#GP rules, XCR0 validation, which bytes XSAVE
//! writes, and XRSTOR's header checks, init and MXCSR rules.

use super::float80::F80;
use crate::cpu::catalog;
use crate::cpu::fault::Fault;
use crate::cpu::mmu::Tlb;
use crate::cpu::state::{cr0, cr4, CpuState, X87State, CS, RAX, RBX, RCX, RDX};
use crate::devices::bus::PortBus;
use crate::mem::GuestMemory;

const XSAVE: &[u8] = &[0x0f, 0xae, 0x23]; // xsave [ebx]
const XSAVEOPT: &[u8] = &[0x0f, 0xae, 0x33]; // xsaveopt [ebx]
const XRSTOR: &[u8] = &[0x0f, 0xae, 0x2b]; // xrstor [ebx]
const FXSAVE: &[u8] = &[0x0f, 0xae, 0x03]; // fxsave [ebx]
const XGETBV: &[u8] = &[0x0f, 0x01, 0xd0];
const XSETBV: &[u8] = &[0x0f, 0x01, 0xd1];
const CPUID: &[u8] = &[0x0f, 0xa2];
const AREA: u64 = 0x1000;

struct Cpu {
    s: CpuState,
    mem: GuestMemory,
    tlb: Tlb,
}

impl Cpu {
    /// 32-bit code, CR4.OSXSAVE (and OSFXSR) on, EBX at the area.
    fn new() -> Self {
        let mut s = CpuState {
            cr0: cr0::ET | cr0::NE,
            cr4: cr4::OSXSAVE | cr4::OSFXSR,
            ..CpuState::default()
        };
        s.seg[CS].attr |= 1 << 14;
        s.gpr[RBX] = AREA;
        Cpu {
            s,
            mem: GuestMemory::new(1 << 20).unwrap(),
            tlb: Tlb::default(),
        }
    }

    /// Runs one instruction with EDX:EAX = `mask`.
    fn exec(&mut self, bytes: &[u8], mask: u64) -> Result<(), Fault> {
        let insn = iced_x86::Decoder::with_ip(32, bytes, 0, 0).decode();
        self.s.gpr[RAX] = mask & 0xffff_ffff;
        self.s.gpr[RDX] = mask >> 32;
        let mut io = PortBus::default();
        let mut ex =
            crate::cpu::exec::Exec::new(&mut self.s, &mut self.mem, &mut io, &mut self.tlb);
        (catalog::entry(insn.code()).handler)(&mut ex, &insn)
    }

    fn set_xcr0(&mut self, v: u64) {
        self.s.gpr[RCX] = 0;
        self.exec(XSETBV, v).unwrap();
    }

    fn bytes(&mut self, at: u64, len: usize) -> Vec<u8> {
        (0..len as u64).map(|i| self.mem.read_u8(at + i)).collect()
    }

    /// Distinct, non-initial x87 and SSE state.
    fn scribble(&mut self) {
        let x = &mut self.s.x87;
        x.fcw = 0x027f;
        x.fsw = 0x3800 | 0x20;
        x.fop = 0x5e9;
        x.fip = 0x1234_5678;
        x.fcs = 0x08;
        x.fdp = 0x9abc_def0;
        x.fds = 0x10;
        for i in 0..3 {
            x.set_phys_reg(i, F80::from_bytes(&[i as u8 + 1; 10]));
        }
        x.load_abridged_tags(0b0000_0111);
        x.update_summary();
        for (i, r) in self.s.xmm.iter_mut().enumerate() {
            *r = [0x1111 * (i as u64 + 1), !(i as u64)];
        }
        self.s.mxcsr = 0x1f80 ^ 0x6000 ^ 0x3f;
    }
}

#[test]
fn everything_is_ud_without_cr4_osxsave() {
    let mut c = Cpu::new();
    c.s.cr4 = cr4::OSFXSR;
    for insn in [XSAVE, XSAVEOPT, XRSTOR, XGETBV, XSETBV] {
        assert_eq!(c.exec(insn, 3), Err(Fault::UD), "{insn:02x?}");
    }
    let mut c = Cpu::new();
    // LOCK is #UD too.
    assert_eq!(c.exec(&[0xf0, 0x0f, 0xae, 0x23], 3), Err(Fault::UD));
}

#[test]
fn cpuid_osxsave_mirrors_cr4() {
    let mut c = Cpu::new();
    c.exec(CPUID, 1).unwrap();
    assert_ne!(c.s.gpr[RCX] & (1 << 27), 0);
    assert_ne!(c.s.gpr[RCX] & (1 << 26), 0);
    c.s.cr4 = 0;
    c.exec(CPUID, 1).unwrap();
    assert_eq!(c.s.gpr[RCX] & (1 << 27), 0);
    assert_ne!(c.s.gpr[RCX] & (1 << 26), 0);
}

#[test]
fn xsetbv_validates_xcr0_and_privilege() {
    let mut c = Cpu::new();
    assert_eq!(c.s.xcr0, 1, "reset value");
    c.s.gpr[RCX] = 0;
    for bad in [0, 2, 4, 5, 7, 1 << 32, 1 << 63] {
        assert_eq!(c.exec(XSETBV, bad), Err(Fault::gp(0)), "{bad:#x}");
    }
    c.s.gpr[RCX] = 1;
    assert_eq!(c.exec(XSETBV, 1), Err(Fault::gp(0)), "ECX = 1");
    assert_eq!(c.exec(XGETBV, 0), Err(Fault::gp(0)), "XGETBV ECX = 1");
    c.s.gpr[RCX] = 0;
    c.exec(XSETBV, 3).unwrap();
    c.s.gpr[RAX] = 0;
    c.exec(XGETBV, 0).unwrap();
    assert_eq!((c.s.gpr[RDX], c.s.gpr[RAX]), (0, 3));
    // CPL 3 in protected mode: XSETBV faults, XGETBV works.
    c.s.cr0 |= cr0::PE;
    c.s.seg[CS].selector = 0x1b;
    assert_eq!(c.exec(XSETBV, 1), Err(Fault::gp(0)));
    c.exec(XGETBV, 0).unwrap();
    assert_eq!(c.s.gpr[RAX], 3);
    assert_eq!(c.s.xcr0, 3);
}

#[test]
fn nm_on_ts_only_and_gp_when_misaligned() {
    let mut c = Cpu::new();
    c.s.cr0 |= cr0::EM;
    c.exec(XSAVE, 3).unwrap();
    c.s.cr0 |= cr0::TS;
    assert_eq!(c.exec(XSAVE, 3), Err(Fault::NM));
    assert_eq!(c.exec(XRSTOR, 3), Err(Fault::NM));
    c.s.cr0 &= !(cr0::TS | cr0::EM);
    for off in [16, 32, 48, 1] {
        c.s.gpr[RBX] = AREA + off;
        assert_eq!(c.exec(XSAVE, 3), Err(Fault::gp(0)), "{off}");
        assert_eq!(c.exec(XRSTOR, 3), Err(Fault::gp(0)), "{off}");
    }
}

#[test]
fn xsave_writes_only_the_requested_components() {
    let mut c = Cpu::new();
    c.set_xcr0(3);
    c.scribble();
    // The FXSAVE image of the same state, for comparison.
    c.s.gpr[RBX] = 0x3000;
    c.exec(FXSAVE, 0).unwrap();
    let fx = c.bytes(0x3000, 512);
    c.s.gpr[RBX] = AREA;
    c.mem.write_bytes(AREA, &[0xaa; 576]);
    // x87 only: bytes 0-23 and 32-159; MXCSR and the XMM slots untouched.
    c.exec(XSAVE, 1).unwrap();
    let b = c.bytes(AREA, 576);
    assert_eq!(b[..24], fx[..24]);
    assert_eq!(b[32..160], fx[32..160]);
    assert!(b[24..32].iter().chain(&b[160..512]).all(|&x| x == 0xaa));
    assert_eq!(
        u64::from_le_bytes(b[512..520].try_into().unwrap()),
        0xaaaa_aaaa_aaaa_aaab
    );
    assert!(b[520..].iter().all(|&x| x == 0xaa), "XCOMP_BV and the rest");
    // Both: the legacy region is FXSAVE's (8 XMM registers outside
    // 64-bit mode), bytes 288-511 stay as they were.
    c.mem.write_bytes(AREA, &[0; 576]);
    c.exec(XSAVEOPT, u64::MAX).unwrap();
    let b = c.bytes(AREA, 576);
    assert_eq!(b[..288], fx[..288]);
    assert!(b[288..512].iter().all(|&x| x == 0));
    assert_eq!(b[512], 3);
    // XCR0 limits the mask: SSE is not saved while XCR0 = 1.
    c.set_xcr0(1);
    c.mem.write_bytes(AREA, &[0; 576]);
    c.exec(XSAVE, 3).unwrap();
    let b = c.bytes(AREA, 576);
    assert_eq!(b[512], 1);
    assert!(b[24..32].iter().all(|&x| x == 0));
}

#[test]
fn xrstor_round_trip() {
    let mut c = Cpu::new();
    c.set_xcr0(3);
    c.scribble();
    let before = c.s.clone();
    c.mem.write_bytes(AREA, &[0; 576]);
    c.exec(XSAVE, 3).unwrap();
    c.s.x87 = X87State::default();
    c.s.xmm = [[0; 2]; 16];
    c.s.mxcsr = 0x1f80;
    c.exec(XRSTOR, 3).unwrap();
    assert_eq!(c.s.x87, before.x87);
    assert_eq!(c.s.xmm[..8], before.xmm[..8]);
    assert_eq!(c.s.mxcsr, before.mxcsr);
}

#[test]
fn xrstor_header_rules() {
    let mut c = Cpu::new();
    c.set_xcr0(3);
    c.mem.write_bytes(AREA, &[0; 576]);
    c.mem.write(AREA + 24, 4, 0x1f80);
    c.exec(XRSTOR, 3).unwrap();
    // XCOMP_BV (any bit, including the compacted-form bit 63) and bytes
    // 16-23 must be zero; bytes 24-63 are not checked.
    for (at, v) in [(520, 1), (520, 1 << 63), (528, 1 << 40)] {
        c.mem.write(AREA + at, 8, v);
        assert_eq!(c.exec(XRSTOR, 3), Err(Fault::gp(0)), "{at} {v:#x}");
        c.mem.write(AREA + at, 8, 0);
    }
    c.mem.write(AREA + 536, 8, u64::MAX);
    c.mem.write(AREA + 568, 8, u64::MAX);
    c.exec(XRSTOR, 3).unwrap();
    // XSTATE_BV may only name XCR0 components, whatever the mask.
    c.mem.write(AREA + 512, 8, 4);
    assert_eq!(c.exec(XRSTOR, 0), Err(Fault::gp(0)));
    c.set_xcr0(1);
    c.mem.write(AREA + 512, 8, 2);
    assert_eq!(c.exec(XRSTOR, 1), Err(Fault::gp(0)));
    c.mem.write(AREA + 512, 8, 1);
    c.exec(XRSTOR, 3).unwrap();
}

#[test]
fn xrstor_mxcsr_rules() {
    let mut c = Cpu::new();
    c.set_xcr0(3);
    c.scribble();
    c.mem.write_bytes(AREA, &[0; 576]);
    // A reserved MXCSR bit faults only when MXCSR would be loaded
    // (RFBM[1] = 1), whatever XSTATE_BV says, and before any change.
    c.mem.write(AREA + 24, 4, 0x1_0000);
    let before = c.s.clone();
    assert_eq!(c.exec(XRSTOR, 3), Err(Fault::gp(0)));
    assert_eq!(c.s, before);
    c.exec(XRSTOR, 1).unwrap();
    assert_eq!(c.s.mxcsr, before.mxcsr, "x87-only mask leaves MXCSR alone");
    assert_eq!(c.s.x87, X87State::default(), "XSTATE_BV[0] = 0: init");
    assert_eq!(c.s.xmm, before.xmm);
    // XSTATE_BV[1] = 0: XMM0-7 cleared, MXCSR still loaded from memory.
    c.mem.write(AREA + 24, 4, 0x7f80 | 0x40);
    c.exec(XRSTOR, 2).unwrap();
    assert_eq!(c.s.mxcsr, 0x7fc0);
    assert!(c.s.xmm[..8].iter().all(|r| *r == [0, 0]));
    assert_eq!(c.s.xmm[8..], before.xmm[8..], "XMM8-15 outside 64-bit mode");
}

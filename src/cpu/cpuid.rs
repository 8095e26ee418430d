//! CPUID: a coherent family-6 CPU that reports only what xlat implements,
//! and the model constants that follow from the same decisions (CR4 bits
//! accepted, MTRRcap, MISC_ENABLE).

use super::mmu::{MAXPHYADDR, PDPE1GB};
use super::state::cr4;

/// Family 6, model 6, stepping 3; also what EDX holds after RESET.
pub const SIGNATURE: u32 = 0x0000_0663;

/// Leaf 1 EDX feature bits.
mod edx1 {
    pub const FPU: u32 = 1 << 0;
    pub const DE: u32 = 1 << 2;
    pub const PSE: u32 = 1 << 3;
    pub const TSC: u32 = 1 << 4;
    pub const MSR: u32 = 1 << 5;
    pub const PAE: u32 = 1 << 6;
    pub const CX8: u32 = 1 << 8;
    pub const APIC: u32 = 1 << 9;
    pub const SEP: u32 = 1 << 11;
    pub const MTRR: u32 = 1 << 12;
    pub const PGE: u32 = 1 << 13;
    pub const CMOV: u32 = 1 << 15;
    pub const PAT: u32 = 1 << 16;
    pub const PSE36: u32 = 1 << 17;
    pub const CLFSH: u32 = 1 << 19;
    pub const MMX: u32 = 1 << 23;
    pub const FXSR: u32 = 1 << 24;
    pub const SSE: u32 = 1 << 25;
    pub const SSE2: u32 = 1 << 26;
}

/// Leaf 1 ECX feature bits. MONITOR (bit 3) is not reported: MONITOR and
/// MWAIT raise #UD.
pub mod ecx1 {
    pub const SSE3: u32 = 1 << 0;
    pub const SSSE3: u32 = 1 << 9;
    pub const CX16: u32 = 1 << 13;
    pub const SSE41: u32 = 1 << 19;
    pub const SSE42: u32 = 1 << 20;
    pub const POPCNT: u32 = 1 << 23;
    pub const XSAVE: u32 = 1 << 26;
    /// Mirrors CR4.OSXSAVE: the CPUID instruction adds it (see `system`).
    pub const OSXSAVE: u32 = 1 << 27;
    /// Reserved for hypervisors to say the CPU is virtual (Intel leaves it
    /// 0; VMMs set it). xlat's CPU is virtual: kernels that see it stop
    /// expecting the model-specific performance counters of a real family-6
    /// part (this CPU has none, and no architectural perfmon leaf 0xA).
    pub const HYPERVISOR: u32 = 1 << 31;
}

/// Leaf 7 subleaf 0 EBX feature bits.
mod ebx7 {
    pub const SMEP: u32 = 1 << 7;
}

/// Leaf 0x80000001 EDX feature bits.
mod edx_ext1 {
    pub const SYSCALL: u32 = 1 << 11;
    pub const NX: u32 = 1 << 20;
    pub const RDTSCP: u32 = 1 << 27;
    pub const PDPE1GB: u32 = 1 << 26;
    pub const LM: u32 = 1 << 29;
}

/// Long mode is reported only once it works end to end.
const LONG_MODE: bool = true;

/// The highest basic and extended leaves.
const MAX_BASIC: u32 = 0xd;
const MAX_EXTENDED: u32 = 0x8000_0008;

/// CR4 bits MOV CR4 accepts; the rest raise #GP(0). SMAP is implemented by
/// the MMU but not yet reported (guests that see it use STAC/CLAC).
pub const CR4_SUPPORTED: u64 = cr4::TSD
    | cr4::DE
    | cr4::PSE
    | cr4::PAE
    | cr4::PGE
    | cr4::OSFXSR
    | cr4::OSXMMEXCPT
    | cr4::OSXSAVE
    | cr4::SMEP
    | cr4::SMAP;

/// IA32_MTRRCAP: 8 variable ranges, fixed ranges, write-combining.
pub const MTRRCAP: u64 = 8 | (1 << 8) | (1 << 10);

/// IA32_MISC_ENABLE after reset: fast strings on, BTS and PEBS unavailable.
pub const MISC_ENABLE_RESET: u64 = 1 | (1 << 11) | (1 << 12);

/// The brand string, 48 bytes with NUL padding.
const BRAND: &[u8; 48] =
    b"xlat virtual x86 CPU\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

/// (EAX, EBX, ECX, EDX) for `leaf`/`subleaf`.
pub fn cpuid(leaf: u32, subleaf: u32) -> (u32, u32, u32, u32) {
    // "GenuineIntel" in EBX, EDX, ECX order, as guests expect.
    const VENDOR: [u32; 3] = [0x756e_6547, 0x4965_6e69, 0x6c65_746e];
    use edx1::*;
    match leaf {
        0 => (MAX_BASIC, VENDOR[0], VENDOR[2], VENDOR[1]),
        1 => (
            SIGNATURE,
            // CLFLUSH line size 64 bytes (in 8-byte units); initial APIC
            // ID (bits 31:24) 0, the one vCPU's.
            8 << 8,
            ecx1::CX16
                | ecx1::SSE3
                | ecx1::SSSE3
                | ecx1::SSE41
                | ecx1::SSE42
                | ecx1::POPCNT
                | ecx1::XSAVE
                | ecx1::HYPERVISOR,
            // The machine wires a local APIC to the vCPU.
            FPU | DE
                | PSE
                | TSC
                | MSR
                | PAE
                | CX8
                | APIC
                | SEP
                | MTRR
                | PGE
                | CMOV
                | PAT
                | PSE36
                | FXSR
                | CLFSH
                | MMX
                | SSE
                | SSE2,
        ),
        // Cache descriptors: one call, no descriptors.
        2 => (1, 0, 0, 0),
        // Deterministic cache parameters: no caches (type 0 ends the list).
        3..=6 => (0, 0, 0, 0),
        7 => match subleaf {
            0 => (0, ebx7::SMEP, 0, 0),
            _ => (0, 0, 0, 0),
        },
        // Leaves 8-0CH: nothing to report (no PMU, no x2APIC topology).
        8..=0xc => (0, 0, 0, 0),
        0xd => xsave_leaf(subleaf),
        0x8000_0000 => (MAX_EXTENDED, 0, 0, 0),
        0x8000_0001 => {
            let mut edx = edx_ext1::NX | edx_ext1::RDTSCP;
            if PDPE1GB {
                edx |= edx_ext1::PDPE1GB;
            }
            if LONG_MODE {
                // SYSCALL is reported with long mode (Intel: 64-bit only).
                edx |= edx_ext1::LM | edx_ext1::SYSCALL;
            }
            (0, 0, 0, edx)
        }
        0x8000_0002..=0x8000_0004 => {
            let chunk = &BRAND[(leaf - 0x8000_0002) as usize * 16..][..16];
            let word = |i: usize| u32::from_le_bytes(chunk[i * 4..i * 4 + 4].try_into().unwrap());
            (word(0), word(1), word(2), word(3))
        }
        0x8000_0005..=0x8000_0007 => (0, 0, 0, 0),
        0x8000_0008 => {
            let linear = if LONG_MODE { 48 } else { 32 };
            (MAXPHYADDR | (linear << 8), 0, 0, 0)
        }
        // Leaves above the maximum return the highest basic leaf's data
        // (Intel's behaviour).
        _ => cpuid(MAX_BASIC, 0),
    }
}

/// Leaf 0DH, the XSAVE feature set (SDM vol. 1, 13.2). Sub-leaf 0: the
/// XCR0 bits that may be set (x87, SSE) and the area sizes, 576 bytes for
/// every valid XCR0 (legacy region + header, no extended components).
/// Sub-leaf 1: XSAVEOPT only (no XSAVEC, XGETBV with ECX = 1, XSAVES).
/// Sub-leaves 2-63 describe components xlat lacks: all zero.
fn xsave_leaf(subleaf: u32) -> (u32, u32, u32, u32) {
    use super::x87::xsave::{AREA_SIZE, XCR0_SUPPORTED};
    const XSAVEOPT: u32 = 1 << 0;
    match subleaf {
        0 => (XCR0_SUPPORTED as u32, AREA_SIZE, AREA_SIZE, 0),
        1 => (XSAVEOPT, 0, 0, 0),
        _ => (0, 0, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fpu_and_the_paging_features_reported() {
        let (_, _, _, edx) = cpuid(1, 0);
        assert_ne!(edx & edx1::FPU, 0, "x87");
        assert_ne!(edx & edx1::FXSR, 0, "FXSAVE/FXRSTOR");
        for bit in [edx1::MMX, edx1::SSE, edx1::SSE2, edx1::CLFSH] {
            assert_ne!(edx & bit, 0, "MMX/SSE/SSE2/CLFLUSH");
        }
        for bit in [
            edx1::PSE,
            edx1::PAE,
            edx1::PGE,
            edx1::PSE36,
            edx1::MTRR,
            edx1::PAT,
        ] {
            assert_ne!(edx & bit, 0);
        }
        assert_ne!(edx & edx1::SEP, 0, "SYSENTER/SYSEXIT exist");
        let (_, _, _, ext) = cpuid(0x8000_0001, 0);
        assert_ne!(ext & edx_ext1::NX, 0);
        assert_ne!(ext & edx_ext1::LM, 0);
        assert_eq!(cpuid(0x8000_0008, 0).0 & 0xff, 40);
    }

    #[test]
    fn xsave_reported_for_x87_and_sse_only() {
        let (_, _, ecx, _) = cpuid(1, 0);
        assert_ne!(ecx & ecx1::XSAVE, 0);
        assert_eq!(ecx & ecx1::OSXSAVE, 0, "added by the instruction from CR4");
        assert!(cpuid(0, 0).0 >= 0xd);
        assert_eq!(cpuid(0xd, 0), (3, 576, 576, 0));
        assert_eq!(cpuid(0xd, 1), (1, 0, 0, 0));
        for sub in [2, 3, 63] {
            assert_eq!(cpuid(0xd, sub), (0, 0, 0, 0));
        }
        assert_ne!(CR4_SUPPORTED & cr4::OSXSAVE, 0);
    }

    #[test]
    fn sse3_to_sse4_2_and_popcnt_reported_but_not_monitor() {
        let (_, _, ecx, _) = cpuid(1, 0);
        for bit in [
            ecx1::SSE3,
            ecx1::SSSE3,
            ecx1::SSE41,
            ecx1::SSE42,
            ecx1::POPCNT,
        ] {
            assert_ne!(ecx & bit, 0);
        }
        assert_eq!(ecx & (1 << 3), 0, "MONITOR/MWAIT");
    }

    #[test]
    fn brand_string_spans_three_leaves() {
        let mut s = Vec::new();
        for leaf in 0x8000_0002..=0x8000_0004 {
            let (a, b, c, d) = cpuid(leaf, 0);
            for w in [a, b, c, d] {
                s.extend_from_slice(&w.to_le_bytes());
            }
        }
        assert!(s.starts_with(b"xlat virtual x86 CPU\0"));
        assert_eq!(s.len(), 48);
    }

    #[test]
    fn out_of_range_leaves_repeat_the_highest_basic_leaf() {
        assert_eq!(cpuid(0x4000_0000, 0), cpuid(MAX_BASIC, 0));
        assert_eq!(cpuid(0x8000_0009, 0), cpuid(MAX_BASIC, 0));
    }
}

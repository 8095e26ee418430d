//! CPUID: a coherent family-6 CPU that reports only what xlat implements.

/// Family 6, model 6, stepping 3; also what EDX holds after RESET.
pub const SIGNATURE: u32 = 0x0000_0663;

/// Leaf 1 EDX feature bits.
mod edx1 {
    pub const TSC: u32 = 1 << 4;
    pub const CX8: u32 = 1 << 8;
    pub const CMOV: u32 = 1 << 15;
}

/// (EAX, EBX, ECX, EDX) for `leaf`/`subleaf`.
pub fn cpuid(leaf: u32, _subleaf: u32) -> (u32, u32, u32, u32) {
    // "GenuineIntel" in EBX, EDX, ECX order, as guests expect.
    const VENDOR: [u32; 3] = [0x756e_6547, 0x4965_6e69, 0x6c65_746e];
    match leaf {
        0 => (1, VENDOR[0], VENDOR[2], VENDOR[1]),
        1 => (SIGNATURE, 0, 0, edx1::TSC | edx1::CX8 | edx1::CMOV),
        // Leaves above the maximum return the highest basic leaf's data.
        _ => cpuid(1, 0),
    }
}

//! Faults as values: a handler returns `Err(Fault)` and the instruction is
//! rolled back to its start before the exception is delivered.

use std::fmt;

/// Exception vectors (SDM vol. 3, table 6-1).
pub mod vector {
    pub const DE: u8 = 0;
    pub const DB: u8 = 1;
    pub const NMI: u8 = 2;
    pub const BP: u8 = 3;
    pub const OF: u8 = 4;
    pub const BR: u8 = 5;
    pub const UD: u8 = 6;
    pub const NM: u8 = 7;
    pub const DF: u8 = 8;
    pub const TS: u8 = 10;
    pub const NP: u8 = 11;
    pub const SS: u8 = 12;
    pub const GP: u8 = 13;
    pub const PF: u8 = 14;
    pub const MF: u8 = 16;
    pub const AC: u8 = 17;
    pub const MC: u8 = 18;
    pub const XM: u8 = 19;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub vector: u8,
    pub error_code: Option<u32>,
    /// For #PF: the faulting linear address. Delivery writes it to CR2, and
    /// only then (a #PF that escalates to #DF or is never delivered leaves
    /// CR2 alone).
    pub cr2: Option<u64>,
}

impl Fault {
    pub const fn new(vector: u8) -> Self {
        Fault {
            vector,
            error_code: None,
            cr2: None,
        }
    }

    pub const fn with_code(vector: u8, code: u32) -> Self {
        Fault {
            vector,
            error_code: Some(code),
            cr2: None,
        }
    }

    pub const DE: Fault = Fault::new(vector::DE);
    pub const BR: Fault = Fault::new(vector::BR);
    pub const UD: Fault = Fault::new(vector::UD);
    pub const NM: Fault = Fault::new(vector::NM);

    pub const fn gp(code: u32) -> Self {
        Fault::with_code(vector::GP, code)
    }

    pub const fn ss(code: u32) -> Self {
        Fault::with_code(vector::SS, code)
    }

    /// #PF with its error code (see `mmu::pf_error`) and the linear address
    /// that faulted, for CR2.
    pub const fn pf(code: u32, linear: u64) -> Self {
        Fault {
            vector: vector::PF,
            error_code: Some(code),
            cr2: Some(linear),
        }
    }

    pub const fn np(code: u32) -> Self {
        Fault::with_code(vector::NP, code)
    }

    pub const fn ts(code: u32) -> Self {
        Fault::with_code(vector::TS, code)
    }

    /// A selector error code: the selector's index and TI bit.
    pub const fn sel(selector: u16) -> u32 {
        (selector & 0xfffc) as u32
    }

    /// Whether the vector is a contributory exception (SDM table 6-5).
    pub fn contributory(&self) -> bool {
        matches!(self.vector, 0 | 10 | 11 | 12 | 13)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 20] = [
            "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "(9)", "#TS", "#NP",
            "#SS", "#GP", "#PF", "(15)", "#MF", "#AC", "#MC", "#XM",
        ];
        match NAMES.get(self.vector as usize) {
            Some(n) => write!(f, "{n}")?,
            None => write!(f, "vector {}", self.vector)?,
        }
        if let Some(code) = self.error_code {
            write!(f, "({code:#x})")?;
        }
        Ok(())
    }
}

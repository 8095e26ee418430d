//! Segment and gate descriptors (SDM vol. 3, 3.4.5 and 5.8): decoding, and
//! reading/updating them in the GDT or LDT with supervisor accesses.

use super::Exec;
use crate::cpu::fault::Fault;
use crate::cpu::state::Segment;

/// System descriptor types (S = 0).
pub mod system_type {
    pub const TSS16_AVAILABLE: u8 = 1;
    pub const LDT: u8 = 2;
    pub const TSS16_BUSY: u8 = 3;
    pub const CALL_GATE16: u8 = 4;
    pub const TASK_GATE: u8 = 5;
    pub const INTERRUPT_GATE16: u8 = 6;
    pub const TRAP_GATE16: u8 = 7;
    pub const TSS32_AVAILABLE: u8 = 9;
    pub const TSS32_BUSY: u8 = 11;
    pub const CALL_GATE32: u8 = 12;
    pub const INTERRUPT_GATE32: u8 = 14;
    pub const TRAP_GATE32: u8 = 15;
}

/// An 8-byte descriptor as it sits in a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor(pub u64);

impl Descriptor {
    pub fn present(self) -> bool {
        self.0 & (1 << 47) != 0
    }

    pub fn dpl(self) -> u32 {
        ((self.0 >> 45) & 3) as u32
    }

    /// S bit: code/data (true) or system (false).
    pub fn is_segment(self) -> bool {
        self.0 & (1 << 44) != 0
    }

    /// The 4-bit type field.
    pub fn kind(self) -> u8 {
        ((self.0 >> 40) & 0xf) as u8
    }

    pub fn is_code(self) -> bool {
        self.is_segment() && self.kind() & 8 != 0
    }

    pub fn is_data(self) -> bool {
        self.is_segment() && self.kind() & 8 == 0
    }

    pub fn conforming(self) -> bool {
        self.is_code() && self.kind() & 4 != 0
    }

    /// Readable code or any data segment.
    pub fn readable(self) -> bool {
        self.is_data() || (self.is_code() && self.kind() & 2 != 0)
    }

    pub fn writable_data(self) -> bool {
        self.is_data() && self.kind() & 2 != 0
    }

    pub fn base(self) -> u64 {
        ((self.0 >> 16) & 0xff_ffff) | ((self.0 >> 32) & 0xff00_0000)
    }

    /// The limit in bytes, after granularity scaling.
    pub fn limit(self) -> u32 {
        let raw = ((self.0 & 0xffff) | ((self.0 >> 32) & 0xf_0000)) as u32;
        if self.0 & (1 << 55) != 0 {
            (raw << 12) | 0xfff
        } else {
            raw
        }
    }

    /// Attribute bits packed as `Segment::attr`.
    pub fn attr(self) -> u16 {
        ((self.0 >> 40) & 0xf0ff) as u16
    }

    /// The hidden-cache view of this descriptor for `selector`.
    pub fn to_segment(self, selector: u16) -> Segment {
        Segment {
            selector,
            attr: self.attr(),
            limit: self.limit(),
            base: self.base(),
        }
    }

    /// Gate fields: target selector, offset, parameter count.
    pub fn gate_selector(self) -> u16 {
        (self.0 >> 16) as u16
    }

    pub fn gate_offset(self) -> u64 {
        (self.0 & 0xffff) | ((self.0 >> 32) & 0xffff_0000)
    }

    pub fn gate_param_count(self) -> u32 {
        ((self.0 >> 32) & 0x1f) as u32
    }
}

/// Where a selector's descriptor lives.
pub fn selector_index_offset(selector: u16) -> u64 {
    (selector & 0xfff8) as u64
}

impl Exec<'_> {
    /// Linear address of `selector`'s descriptor, or None when it lies
    /// outside its table (or names the LDT while none is loaded).
    pub fn descriptor_address(&self, selector: u16) -> Option<u64> {
        let (base, limit, usable) = if selector & 4 != 0 {
            let l = &self.s.ldtr;
            (
                l.base,
                l.limit,
                l.attr & 0x80 != 0 && l.selector & 0xfffc != 0,
            )
        } else {
            (self.s.gdtr.base, self.s.gdtr.limit, true)
        };
        let off = selector_index_offset(selector);
        (usable && off + 7 <= limit as u64).then_some(base.wrapping_add(off))
    }

    /// Reads the descriptor of `selector`; outside the table the caller's
    /// `fault` (usually #GP(selector)) is raised.
    pub fn read_descriptor(&mut self, selector: u16, fault: Fault) -> Result<Descriptor, Fault> {
        let addr = self.descriptor_address(selector).ok_or(fault)?;
        Ok(Descriptor(self.read_system(addr, 8)?))
    }

    /// Sets the accessed bit of a code/data descriptor, as loading it does.
    pub fn mark_accessed(&mut self, selector: u16, d: Descriptor) -> Result<(), Fault> {
        if d.is_segment() && d.0 & (1 << 40) == 0 {
            if let Some(addr) = self.descriptor_address(selector) {
                let byte = ((d.0 >> 40) as u8) | 1;
                self.write_system(addr + 5, 1, byte as u64)?;
            }
        }
        Ok(())
    }

    /// Rewrites the type byte of a system descriptor (TSS busy bit).
    pub fn set_descriptor_type(
        &mut self,
        selector: u16,
        d: Descriptor,
        kind: u8,
    ) -> Result<(), Fault> {
        if let Some(addr) = self.descriptor_address(selector) {
            let byte = ((d.0 >> 40) as u8 & 0xf0) | (kind & 0xf);
            self.write_system(addr + 5, 1, byte as u64)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_code_descriptor_decodes() {
        // 0x00CF9A000000FFFF: base 0, limit 4 GiB, 32-bit ring-0 code.
        let d = Descriptor(0x00cf_9a00_0000_ffff);
        assert!(d.present() && d.is_code() && d.readable() && !d.conforming());
        assert_eq!((d.base(), d.limit(), d.dpl()), (0, 0xffff_ffff, 0));
        assert_eq!(d.attr(), 0xc09a);
    }

    #[test]
    fn data_descriptor_with_scattered_base() {
        // base 0x12345678, limit 0xFFFFF bytes, ring-3 writable data.
        let d = Descriptor(0x124f_f234_5678_ffff);
        assert_eq!(d.base(), 0x1234_5678);
        assert_eq!(d.limit(), 0xf_ffff);
        assert!(d.writable_data());
        assert_eq!(d.dpl(), 3);
    }

    #[test]
    fn gate_fields() {
        // 32-bit call gate to 0008:12345678 with 2 parameters, DPL 3.
        let d = Descriptor(0x1234_ec02_0008_5678);
        assert_eq!(d.kind(), system_type::CALL_GATE32);
        assert_eq!(d.gate_selector(), 8);
        assert_eq!(d.gate_offset(), 0x1234_5678);
        assert_eq!(d.gate_param_count(), 2);
    }
}

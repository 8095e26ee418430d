//! The register stack: TOP, ST(i) addressing, the tag word (full tags
//! computed from contents, abridged tags for FXSAVE) and the status-word
//! bookkeeping every instruction shares (SDM vol. 1, 8.1.2-8.1.7).

use super::float80::{sw, F80};
use crate::cpu::state::X87State;

impl X87State {
    #[inline]
    pub fn top(&self) -> usize {
        ((self.fsw & sw::TOP) >> sw::TOP_SHIFT) as usize
    }

    #[inline]
    pub fn set_top(&mut self, top: usize) {
        self.fsw = (self.fsw & !sw::TOP) | (((top & 7) as u16) << sw::TOP_SHIFT);
    }

    /// Physical register of ST(i).
    #[inline]
    pub fn phys(&self, i: usize) -> usize {
        (self.top() + i) & 7
    }

    #[inline]
    pub fn phys_tag(&self, r: usize) -> u16 {
        (self.ftw >> (2 * r)) & 3
    }

    fn set_phys_tag(&mut self, r: usize, tag: u16) {
        self.ftw = (self.ftw & !(3 << (2 * r))) | (tag << (2 * r));
    }

    /// ST(i) is empty.
    #[inline]
    pub fn is_empty(&self, i: usize) -> bool {
        self.phys_tag(self.phys(i)) == 3
    }

    #[inline]
    pub fn phys_reg(&self, r: usize) -> F80 {
        F80::from_bytes(&self.st[r])
    }

    /// Writes physical register `r` and tags it from its contents.
    pub fn set_phys_reg(&mut self, r: usize, v: F80) {
        self.st[r] = v.to_bytes();
        self.set_phys_tag(r, v.tag());
    }

    #[inline]
    pub fn st(&self, i: usize) -> F80 {
        self.phys_reg(self.phys(i))
    }

    pub fn set_st(&mut self, i: usize, v: F80) {
        self.set_phys_reg(self.phys(i), v);
    }

    /// Tags ST(i) empty (FFREE).
    pub fn free(&mut self, i: usize) {
        let r = self.phys(i);
        self.set_phys_tag(r, 3);
    }

    /// Decrements TOP and writes the new ST(0).
    pub fn push(&mut self, v: F80) {
        let top = self.top().wrapping_sub(1) & 7;
        self.set_top(top);
        self.set_st(0, v);
    }

    /// Tags ST(0) empty and increments TOP.
    pub fn pop(&mut self) {
        self.free(0);
        let top = self.top() + 1;
        self.set_top(top);
    }

    /// The tag word as FSTENV/FSAVE store it: every non-empty register's
    /// tag recomputed from its contents.
    pub fn tag_word(&self) -> u16 {
        (0..8).fold(0u16, |w, r| {
            let tag = if self.phys_tag(r) == 3 {
                3
            } else {
                self.phys_reg(r).tag()
            };
            w | (tag << (2 * r))
        })
    }

    /// Loads a tag word (FLDENV/FRSTOR): only "empty" is taken from it;
    /// other tags follow the registers' contents.
    pub fn load_tag_word(&mut self, w: u16) {
        for r in 0..8 {
            let tag = if (w >> (2 * r)) & 3 == 3 {
                3
            } else {
                self.phys_reg(r).tag()
            };
            self.set_phys_tag(r, tag);
        }
    }

    /// FXSAVE's abridged tag byte: one bit per register, 1 = not empty.
    pub fn abridged_tags(&self) -> u8 {
        (0..8).fold(0u8, |b, r| b | (((self.phys_tag(r) != 3) as u8) << r))
    }

    pub fn load_abridged_tags(&mut self, b: u8) {
        let w = (0..8).fold(0u16, |w, r| {
            w | (if b & (1 << r) != 0 { 0 } else { 3 } << (2 * r))
        });
        self.load_tag_word(w);
    }

    /// Sets or clears ES and B from the exception flags against the masks
    /// (after FLDCW, FLDENV, FRSTOR, FXRSTOR).
    pub fn update_summary(&mut self) {
        if self.fsw & !self.fcw & sw::EXCEPTIONS != 0 {
            self.fsw |= sw::ES | sw::B;
        } else {
            self.fsw &= !(sw::ES | sw::B);
        }
    }

    /// FNINIT (SDM vol. 2, FINIT): control word 037Fh, everything else
    /// cleared, all registers empty. Register contents are kept.
    pub fn init(&mut self) {
        self.fcw = 0x037f;
        self.fsw = 0;
        self.ftw = 0xffff;
        self.fop = 0;
        self.fip = 0;
        self.fcs = 0;
        self.fdp = 0;
        self.fds = 0;
    }

    /// Hands the FERR# edge to the board (IRQ13 on a PC) and clears it.
    pub fn take_ferr(&mut self) -> bool {
        std::mem::take(&mut self.ferr_pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_pop_and_tags() {
        let mut x = X87State::default();
        assert!(x.is_empty(0));
        x.push(F80::ONE);
        assert_eq!(x.top(), 7);
        assert_eq!(x.st(0), F80::ONE);
        x.push(F80::ZERO);
        x.push(F80::INDEFINITE);
        assert_eq!(x.tag_word(), 0x1bff);
        assert_eq!(x.abridged_tags(), 0b1110_0000);
        x.pop();
        assert_eq!(x.top(), 6);
        assert!(x.is_empty(7));
        assert_eq!(x.st(0), F80::ZERO);
        x.load_abridged_tags(0b1100_0000);
        assert_eq!(x.tag_word(), 0x1fff);
    }
}

//! FLDENV/FSTENV/FNSTENV and FSAVE/FNSAVE/FRSTOR: the 14- and 28-byte
//! environment in its real/V86 and protected-mode layouts (SDM vol. 1,
//! figures 8-9 to 8-12), followed by the eight registers in ST order for
//! the 94- and 108-byte state.

use super::float80::F80;
use super::{begin, check_write, read_bytes, write_bytes, Kind, R};
use crate::cpu::exec::Exec;
use crate::cpu::state::rflags::VM;
use crate::cpu::state::X87State;
use iced_x86::{Instruction, MemorySize as S, Mnemonic as M};

/// Which of the four environment layouts applies.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Layout {
    pub op32: bool,
    /// Real-address or virtual-8086 mode: 20/32-bit linear pointers
    /// instead of selector:offset.
    pub real: bool,
}

impl Layout {
    pub fn len(self) -> usize {
        if self.op32 {
            28
        } else {
            14
        }
    }
}

fn layout(ex: &Exec, insn: &Instruction) -> Layout {
    Layout {
        op32: matches!(insn.memory_size(), S::FpuEnv28 | S::FpuState108),
        real: !ex.s.protected_mode() || ex.s.rflags & VM != 0,
    }
}

/// The environment image of `x`.
pub fn store_env(x: &X87State, l: Layout) -> Vec<u8> {
    let mut b = vec![0u8; l.len()];
    let tw = x.tag_word();
    let ip_lin = ((x.fcs as u64) << 4).wrapping_add(x.fip) as u32;
    let dp_lin = ((x.fds as u64) << 4).wrapping_add(x.fdp) as u32;
    let fop = x.fop as u32 & 0x7ff;
    if l.op32 {
        let mut w = |i: usize, v: u32| b[i..i + 4].copy_from_slice(&v.to_le_bytes());
        // The reserved upper halves read as ones.
        w(0, 0xffff_0000 | x.fcw as u32);
        w(4, 0xffff_0000 | x.fsw as u32);
        w(8, 0xffff_0000 | tw as u32);
        if l.real {
            w(12, 0xffff_0000 | (ip_lin & 0xffff));
            w(16, ((ip_lin >> 16) << 12) & 0x0fff_f000 | fop);
            w(20, 0xffff_0000 | (dp_lin & 0xffff));
            w(24, ((dp_lin >> 16) << 12) & 0x0fff_f000);
        } else {
            w(12, x.fip as u32);
            w(16, x.fcs as u32 | (fop << 16));
            w(20, x.fdp as u32);
            w(24, 0xffff_0000 | x.fds as u32);
        }
    } else {
        let mut w = |i: usize, v: u32| b[i..i + 2].copy_from_slice(&(v as u16).to_le_bytes());
        w(0, x.fcw as u32);
        w(2, x.fsw as u32);
        w(4, tw as u32);
        if l.real {
            w(6, ip_lin);
            w(8, ((ip_lin >> 16) & 0xf) << 12 | fop);
            w(10, dp_lin);
            w(12, ((dp_lin >> 16) & 0xf) << 12);
        } else {
            w(6, x.fip as u32);
            w(8, x.fcs as u32);
            w(10, x.fdp as u32);
            w(12, x.fds as u32);
        }
    }
    b
}

/// Loads an environment image into `x`; the tag word is applied by the
/// caller once the registers are in place. Returns the tag word.
pub fn load_env(x: &mut X87State, l: Layout, b: &[u8]) -> u16 {
    let tw;
    if l.op32 {
        let r = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        x.fcw = (r(0) as u16 & 0x1f7f) | 0x40;
        x.fsw = r(4) as u16;
        tw = r(8) as u16;
        if l.real {
            x.fip = ((r(12) & 0xffff) | ((r(16) >> 12) & 0xffff) << 16) as u64;
            x.fop = (r(16) & 0x7ff) as u16;
            x.fdp = ((r(20) & 0xffff) | ((r(24) >> 12) & 0xffff) << 16) as u64;
            x.fcs = 0;
            x.fds = 0;
        } else {
            x.fip = r(12) as u64;
            x.fcs = r(16) as u16;
            x.fop = ((r(16) >> 16) & 0x7ff) as u16;
            x.fdp = r(20) as u64;
            x.fds = r(24) as u16;
        }
    } else {
        let r = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as u32;
        x.fcw = (r(0) as u16 & 0x1f7f) | 0x40;
        x.fsw = r(2) as u16;
        tw = r(4) as u16;
        if l.real {
            x.fip = (r(6) | (r(8) >> 12) << 16) as u64;
            x.fop = (r(8) & 0x7ff) as u16;
            x.fdp = (r(10) | (r(12) >> 12) << 16) as u64;
            x.fcs = 0;
            x.fds = 0;
        } else {
            // This image has no FOP: it reads as 0 (checked on the host).
            x.fip = r(6) as u64;
            x.fcs = r(8) as u16;
            x.fop = 0;
            x.fdp = r(10) as u64;
            x.fds = r(12) as u16;
        }
    }
    tw
}

pub fn environment(ex: &mut Exec, insn: &Instruction) -> R {
    let m = insn.mnemonic();
    let kind = match m {
        M::Fnstenv | M::Fnsave => Kind::NoWait,
        _ => Kind::Control,
    };
    begin(ex, insn, kind)?;
    let l = layout(ex, insn);
    let full = matches!(m, M::Fsave | M::Fnsave | M::Frstor);
    let len = l.len() + if full { 80 } else { 0 };
    match m {
        M::Fstenv | M::Fnstenv | M::Fsave | M::Fnsave => {
            check_write(ex, insn, 0, len as u32)?;
            let mut b = store_env(&ex.s.x87, l);
            if full {
                for i in 0..8 {
                    b.extend_from_slice(&ex.s.x87.st(i).to_bytes());
                }
            }
            write_bytes(ex, insn, 0, &b)?;
            if full {
                ex.s.x87.init();
            } else {
                // FSTENV leaves every exception masked.
                ex.s.x87.fcw |= 0x3f;
            }
        }
        _ => {
            let mut b = vec![0u8; len];
            read_bytes(ex, insn, 0, &mut b)?;
            let x = &mut ex.s.x87;
            let tw = load_env(x, l, &b[..l.len()]);
            if full {
                for i in 0..8 {
                    let at = l.len() + 10 * i;
                    let v = F80::from_bytes(b[at..at + 10].try_into().unwrap());
                    let r = x.phys(i);
                    x.set_phys_reg(r, v);
                }
            }
            x.load_tag_word(tw);
            x.update_summary();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> X87State {
        let mut x = X87State::default();
        x.push(F80::ONE);
        x.push(F80::INDEFINITE);
        x.fcw = 0x0b7f;
        x.fsw |= 0x4123;
        x.fop = 0x5d9;
        x.fip = 0x1234;
        x.fcs = 0x2000;
        x.fdp = 0xfff0;
        x.fds = 0x3000;
        x
    }

    #[test]
    fn all_four_layouts_round_trip() {
        for (op32, real) in [(false, false), (false, true), (true, false), (true, true)] {
            let l = Layout { op32, real };
            let x = sample();
            let b = store_env(&x, l);
            assert_eq!(b.len(), l.len());
            let mut y = sample();
            y.init();
            y.st = x.st;
            let tw = load_env(&mut y, l, &b);
            y.load_tag_word(tw);
            assert_eq!(y.fcw, x.fcw);
            assert_eq!(y.fsw, x.fsw);
            assert_eq!(y.tag_word(), x.tag_word());
            if op32 || real {
                assert_eq!(y.fop, x.fop, "{l:?}");
            }
            if real {
                // Pointers come back as linear addresses.
                assert_eq!(y.fip, 0x21234);
                assert_eq!(y.fdp, 0x3fff0);
            } else {
                assert_eq!((y.fip, y.fcs, y.fdp, y.fds), (x.fip, x.fcs, x.fdp, x.fds));
            }
        }
    }

    #[test]
    fn real_mode_16_bit_layout_bytes() {
        let b = store_env(
            &sample(),
            Layout {
                op32: false,
                real: true,
            },
        );
        // IP 19..16 in bits 15..12 of word 4, beside the opcode.
        assert_eq!(u16::from_le_bytes([b[6], b[7]]), 0x1234);
        assert_eq!(u16::from_le_bytes([b[8], b[9]]), 0x25d9);
        assert_eq!(u16::from_le_bytes([b[10], b[11]]), 0xfff0);
        assert_eq!(u16::from_le_bytes([b[12], b[13]]), 0x3000);
        assert_eq!(u16::from_le_bytes([b[4], b[5]]), 0x2fff);
    }
}

//! The VGA's CPU window onto its four memory planes (0xA0000-0xBFFFF): the
//! sequencer's map mask and memory mode, the graphics controller's read and
//! write modes, set/reset, rotate, logical function, bit mask and latches.
//!
//! Video memory is one byte array in which byte `4 * offset + plane` is
//! `offset` of `plane`: chain-4 (mode 13h) then addresses bytes directly,
//! and the latched modes move all four planes of one offset as a dword.

use super::regs::{Gc, Seq};

/// The four plane bytes of `v` that `mask` (bit per plane) selects.
fn plane_mask(mask: u8) -> u32 {
    (0..4).fold(0, |m, p| {
        if mask >> p & 1 != 0 {
            m | 0xff << (8 * p)
        } else {
            m
        }
    })
}

/// A byte repeated in all four planes.
fn splat(b: u8) -> u32 {
    u32::from(b) * 0x0101_0101
}

/// The planar memory and its 32-bit latch.
pub struct Planes {
    pub vram: Vec<u8>,
    latch: u32,
}

impl Planes {
    pub fn new(size: usize) -> Self {
        Planes {
            vram: vec![0; size],
            latch: 0,
        }
    }

    fn dword(&self, offset: usize) -> u32 {
        match self.vram.get(4 * offset..4 * offset + 4) {
            Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            None => 0,
        }
    }

    fn set_dword(&mut self, offset: usize, v: u32) {
        if let Some(b) = self.vram.get_mut(4 * offset..4 * offset + 4) {
            b.copy_from_slice(&v.to_le_bytes());
        }
    }

    /// A CPU read at `addr` (offset into the mapped window).
    pub fn read(&mut self, seq: &Seq, gc: &Gc, addr: usize) -> u8 {
        if seq.chain4() {
            return self.vram.get(addr).copied().unwrap_or(0xff);
        }
        if gc.odd_even() {
            let plane = (gc.read_map() & 2) | (addr & 1);
            return self
                .vram
                .get(4 * (addr >> 1) + plane)
                .copied()
                .unwrap_or(0xff);
        }
        let offset = addr;
        self.latch = self.dword(offset);
        if !gc.read_mode_1() {
            return (self.latch >> (8 * gc.read_map())) as u8;
        }
        // Read mode 1: a bit is set where every plane the don't-care
        // register includes matches the color compare value.
        let diff =
            (self.latch ^ plane_expand(gc.color_compare())) & plane_mask(gc.color_dont_care());
        let any = diff | diff >> 16;
        let any = any | any >> 8;
        !(any as u8)
    }

    /// A CPU write of `value` at `addr` (offset into the mapped window).
    pub fn write(&mut self, seq: &Seq, gc: &Gc, addr: usize, value: u8) {
        if seq.chain4() {
            if seq.map_mask() >> (addr & 3) & 1 != 0 {
                if let Some(b) = self.vram.get_mut(addr) {
                    *b = value;
                }
            }
            return;
        }
        if gc.odd_even() {
            let plane = (gc.read_map() & 2) | (addr & 1);
            if seq.map_mask() >> plane & 1 != 0 {
                if let Some(b) = self.vram.get_mut(4 * (addr >> 1) + plane) {
                    *b = value;
                }
            }
            return;
        }
        let offset = addr;
        let latch = self.latch;
        let rotated = value.rotate_right(gc.rotate_count());
        let (data, bit_mask) = match gc.write_mode() {
            0 => {
                let enable = plane_mask(gc.enable_set_reset());
                let v = (splat(rotated) & !enable) | (plane_expand(gc.set_reset()) & enable);
                (v, gc.bit_mask())
            }
            // Write mode 1: the latches go back unchanged.
            1 => {
                let mask = plane_mask(seq.map_mask());
                let v = (self.dword(offset) & !mask) | (latch & mask);
                self.set_dword(offset, v);
                return;
            }
            2 => (plane_expand(value & 0x0f), gc.bit_mask()),
            _ => (plane_expand(gc.set_reset()), gc.bit_mask() & rotated),
        };
        let data = match gc.function() {
            1 => data & latch,
            2 => data | latch,
            3 => data ^ latch,
            _ => data,
        };
        let bits = splat(bit_mask);
        let data = (data & bits) | (latch & !bits);
        let mask = plane_mask(seq.map_mask());
        let v = (self.dword(offset) & !mask) | (data & mask);
        self.set_dword(offset, v);
    }
}

/// Each of the four low bits of `nibble` as a full plane byte.
fn plane_expand(nibble: u8) -> u32 {
    plane_mask(nibble & 0x0f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planar() -> (Planes, Seq, Gc) {
        let mut seq = Seq::default();
        seq.write(2, 0x0f); // all planes
        seq.write(4, 0x06); // sequential, no chain-4
        let mut gc = Gc::default();
        gc.write(8, 0xff); // bit mask
        (Planes::new(1 << 18), seq, gc)
    }

    #[test]
    fn write_mode_0_with_map_mask_and_read_map() {
        let (mut m, mut seq, mut gc) = planar();
        seq.write(2, 0b0101);
        m.write(&seq, &gc, 10, 0xa5);
        for (plane, want) in [(0, 0xa5), (1, 0), (2, 0xa5), (3, 0)] {
            gc.write(4, plane);
            assert_eq!(m.read(&seq, &gc, 10), want, "plane {plane}");
        }
    }

    #[test]
    fn set_reset_bit_mask_and_latches() {
        let (mut m, seq, mut gc) = planar();
        gc.write(0, 0b1010); // set/reset colour
        gc.write(1, 0b1111); // enabled on every plane
        m.write(&seq, &gc, 0, 0x00);
        gc.write(4, 1);
        assert_eq!(m.read(&seq, &gc, 0), 0xff);
        gc.write(4, 0);
        assert_eq!(m.read(&seq, &gc, 0), 0x00);
        // Bit mask 0x0f: the high bits keep the latched (old) value.
        gc.write(1, 0);
        gc.write(8, 0x0f);
        m.read(&seq, &gc, 0); // load latches
        m.write(&seq, &gc, 0, 0xff);
        gc.write(4, 0);
        assert_eq!(m.read(&seq, &gc, 0), 0x0f);
        gc.write(4, 1);
        assert_eq!(m.read(&seq, &gc, 0), 0xff);
    }

    #[test]
    fn write_mode_1_copies_latches_and_read_mode_1_compares() {
        let (mut m, seq, mut gc) = planar();
        gc.write(5, 2); // write mode 2: colour 0b0110 in every pixel
        m.write(&seq, &gc, 0, 0b0110);
        m.read(&seq, &gc, 0);
        gc.write(5, 1); // write mode 1
        m.write(&seq, &gc, 100, 0);
        gc.write(5, 0x08); // read mode 1
        gc.write(2, 0b0110); // colour compare
        gc.write(7, 0x0f); // all planes matter
        assert_eq!(m.read(&seq, &gc, 100), 0xff);
        gc.write(2, 0b0111);
        assert_eq!(m.read(&seq, &gc, 100), 0x00);
    }

    #[test]
    fn chain4_and_odd_even_addressing() {
        let (mut m, mut seq, mut gc) = planar();
        seq.write(4, 0x0e); // chain-4
        m.write(&seq, &gc, 321, 7);
        assert_eq!(m.vram[321], 7);
        assert_eq!(m.read(&seq, &gc, 321), 7);
        seq.write(4, 0x02); // odd/even
        gc.write(5, 0x10);
        seq.write(2, 0x03);
        m.write(&seq, &gc, 0x20, b'A');
        m.write(&seq, &gc, 0x21, 0x1f);
        assert_eq!(m.vram[4 * 0x10], b'A');
        assert_eq!(m.vram[4 * 0x10 + 1], 0x1f);
        assert_eq!(m.read(&seq, &gc, 0x21), 0x1f);
        // Out-of-range addresses are harmless.
        m.write(&seq, &gc, usize::MAX / 8, 1);
    }
}

//! One Intel 8237A DMA controller: four channels of base/current address
//! and count, their mode registers, the command, status, request and mask
//! registers and the first/last flip-flop (8237A datasheet, "Register
//! Description" and "Software Commands").
//!
//! Registers by address (A3-A0): 0-7 address and count of channels 0-3
//! (written as two bytes through the flip-flop, low byte first); 8 command
//! (write) / status (read); 9 request; 10 single mask bit; 11 mode; 12
//! clear flip-flop; 13 master clear (write) / temporary (read); 14 clear
//! mask; 15 write all mask bits. Reads of write-only registers float.
//!
//! Memory-to-memory transfers (command bit 0) are stored but never run: a
//! PC's first controller has no use for them and the second is wired as
//! 16-bit, where the 8237A cannot do them.

/// Mode register fields.
pub const MODE_TYPE: u8 = 0x0c;
pub const MODE_VERIFY: u8 = 0x00;
pub const MODE_WRITE: u8 = 0x04;
pub const MODE_READ: u8 = 0x08;
pub const MODE_AUTOINIT: u8 = 0x10;
pub const MODE_DECREMENT: u8 = 0x20;
pub const MODE_SELECT: u8 = 0xc0;
pub const MODE_BLOCK: u8 = 0x80;
pub const MODE_CASCADE: u8 = 0xc0;
/// Command register: the controller stops answering requests.
pub const COMMAND_DISABLE: u8 = 0x04;

/// One channel's registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Channel {
    pub base_address: u16,
    pub base_count: u16,
    pub address: u16,
    pub count: u16,
    /// Bits 2-7 of the mode register (bits 0-1 only select the channel).
    pub mode: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dma8237 {
    pub channels: [Channel; 4],
    pub command: u8,
    /// Terminal count reached, bit n = channel n (status bits 0-3).
    pub tc: u8,
    /// Software requests, bit n = channel n.
    pub request: u8,
    /// Mask bits, bit n = channel n.
    pub mask: u8,
    /// The first/last flip-flop: false = the next access is the low byte.
    high_byte: bool,
    temporary: u8,
}

impl Default for Dma8237 {
    fn default() -> Self {
        Dma8237 {
            channels: [Channel::default(); 4],
            command: 0,
            tc: 0,
            request: 0,
            mask: 0x0f,
            high_byte: false,
            temporary: 0,
        }
    }
}

impl Dma8237 {
    /// Master clear (and hardware reset): command, status, request,
    /// temporary register and flip-flop cleared, every channel masked.
    pub fn master_clear(&mut self) {
        self.command = 0;
        self.tc = 0;
        self.request = 0;
        self.temporary = 0;
        self.high_byte = false;
        self.mask = 0x0f;
    }

    pub fn enabled(&self) -> bool {
        self.command & COMMAND_DISABLE == 0
    }

    /// Reads register `reg` (0-15); `dreq` are the request lines of the
    /// four channels (status bits 4-7).
    pub fn read(&mut self, reg: u8, dreq: u8) -> u8 {
        match reg & 15 {
            r @ 0..=7 => {
                let ch = &self.channels[(r >> 1) as usize];
                let word = if r & 1 == 0 { ch.address } else { ch.count };
                self.flip(word)
            }
            8 => {
                // Reading status clears the TC bits.
                let status = (self.request | dreq) << 4 & 0xf0 | self.tc;
                self.tc = 0;
                status
            }
            13 => self.temporary,
            _ => 0xff,
        }
    }

    /// The low or high byte of `word`, as the flip-flop says; toggles it.
    fn flip(&mut self, word: u16) -> u8 {
        let byte = if self.high_byte { word >> 8 } else { word } as u8;
        self.high_byte = !self.high_byte;
        byte
    }

    pub fn write(&mut self, reg: u8, value: u8) {
        let select = (value & 3) as usize;
        match reg & 15 {
            r @ 0..=7 => {
                let high = self.high_byte;
                self.high_byte = !high;
                let ch = &mut self.channels[(r >> 1) as usize];
                let (base, current) = if r & 1 == 0 {
                    (&mut ch.base_address, &mut ch.address)
                } else {
                    (&mut ch.base_count, &mut ch.count)
                };
                // Writes load the base and current registers together.
                *base = if high {
                    *base & 0x00ff | (value as u16) << 8
                } else {
                    *base & 0xff00 | value as u16
                };
                *current = *base;
            }
            8 => self.command = value,
            9 => set_bit(&mut self.request, select, value & 4 != 0),
            10 => set_bit(&mut self.mask, select, value & 4 != 0),
            11 => self.channels[select].mode = value & 0xfc,
            12 => self.high_byte = false,
            13 => self.master_clear(),
            14 => self.mask = 0,
            _ => self.mask = value & 0x0f,
        }
    }

    /// Moves channel `ch` one transfer on: steps the address and count.
    /// Returns true at terminal count, where the status bit is set and the
    /// channel either reloads (auto-initialize) or masks itself.
    pub fn step(&mut self, ch: usize) -> bool {
        let c = &mut self.channels[ch];
        c.address = if c.mode & MODE_DECREMENT != 0 {
            c.address.wrapping_sub(1)
        } else {
            c.address.wrapping_add(1)
        };
        let (count, tc) = c.count.overflowing_sub(1);
        c.count = count;
        if tc {
            self.tc |= 1 << ch;
            self.request &= !(1 << ch);
            if c.mode & MODE_AUTOINIT != 0 {
                c.address = c.base_address;
                c.count = c.base_count;
            } else {
                self.mask |= 1 << ch;
            }
        }
        tc
    }
}

fn set_bit(bits: &mut u8, n: usize, on: bool) {
    if on {
        *bits |= 1 << n;
    } else {
        *bits &= !(1 << n);
    }
}

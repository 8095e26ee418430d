//! The PC/AT keyboard controller (Intel 8042 and its PS/2 successors) at ports
//! 0x60 (data) and 0x64 (status/command), with a PS/2 keyboard on its first
//! port and a PS/2 mouse on its auxiliary port.
//!
//! The controller has a single output buffer. Bytes wait in three queues —
//! the controller's own replies, the keyboard's, the mouse's — and move into
//! the output buffer one at a time, in that priority, whenever it is empty
//! and the source's interface is enabled. IRQ1 is the level "output buffer
//! holds keyboard/controller data and command byte bit 0"; IRQ12 the same for
//! mouse data and bit 1. Reading port 0x60 empties the buffer, so the line
//! drops and, if more data waits, rises again: one edge per byte, as the 8259
//! expects.
//!
//! Keyboard bytes pass through the controller's scancode translation (set 2
//! to set 1) while command byte bit 6 is set; replies from the keyboard are
//! translated too (so "identify" reads 0xAB 0x41 through translation, as on
//! real machines).
//!
//! A20 (output port bit 1) and reset (output port bit 0, pulse commands
//! 0xF0-0xFF) go to the machine through [`SystemControl`].
//!
//! Not modelled: timing (bytes arrive at once), the timeout and parity
//! errors (never set), scancode set 3 (the keyboard accepts it but keeps
//! sending set 2), the controller's password commands beyond "not installed".
//!
//! [`SystemControl`]: super::system_control::SystemControl

use super::bus::{split_read, split_write, OverlapError, PortBus, PortDevice};
use super::irq::IrqLine;
use super::system_control::{A20Source, SharedSystemControl};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

pub const I8042_DATA_PORT: u16 = 0x60;
pub const I8042_COMMAND_PORT: u16 = 0x64;
/// Offsets within the device (ports 0x60 and 0x64 relative to 0x60).
const DATA: u16 = 0;
const COMMAND: u16 = 4;

// Status register bits.
const STATUS_OBF: u8 = 0x01;
const STATUS_SYS: u8 = 0x04;
const STATUS_A2: u8 = 0x08;
/// "Keyboard not inhibited" (the key lock switch is open).
const STATUS_UNLOCKED: u8 = 0x10;
const STATUS_AUXB: u8 = 0x20;

// Command byte bits.
const CMD_KBD_INT: u8 = 0x01;
const CMD_AUX_INT: u8 = 0x02;
const CMD_SYS: u8 = 0x04;
const CMD_KBD_DISABLE: u8 = 0x10;
const CMD_AUX_DISABLE: u8 = 0x20;
const CMD_TRANSLATE: u8 = 0x40;
/// Power-on command byte: keyboard interrupt and translation on, as every PC
/// BIOS leaves it; SYS clear until a self test passes.
const CMD_POWER_ON: u8 = CMD_KBD_INT | CMD_TRANSLATE;

// Output port bits.
const OUT_RESET: u8 = 0x01;
const OUT_A20: u8 = 0x02;
const OUT_KBD_OBF: u8 = 0x10;
const OUT_AUX_OBF: u8 = 0x20;
/// Power-on output port: not in reset, A20 on, clock and data lines high.
const OUT_POWER_ON: u8 = 0xcf;
/// Input port (command 0xC0): keyboard not inhibited, colour display, no
/// manufacturing jumper.
const INPUT_PORT: u8 = 0xa0;

/// Replies queue at most this many bytes per source; a hostile guest that
/// never reads cannot grow them without bound.
const QUEUE_LIMIT: usize = 16;
const MOUSE_QUEUE_LIMIT: usize = 64;

const ACK: u8 = 0xfa;
const RESEND: u8 = 0xfe;
const BAT_OK: u8 = 0xaa;

/// The 8042's set 2 -> set 1 translation table (a property of the chip).
/// A 0xF0 prefix is swallowed and sets bit 7 of the next translated byte.
#[rustfmt::skip]
const SET2_TO_SET1: [u8; 128] = [
    0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58, 0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
    0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a, 0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
    0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c, 0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e, 0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
    0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60, 0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
    0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e, 0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b, 0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
    0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45, 0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
];

/// Set 2 -> set 1 for one byte (codes above 0x7F: 0x83 is F7, 0x84 SysRq,
/// the rest pass unchanged).
fn translate(code: u8) -> u8 {
    match code {
        0x00..=0x7f => SET2_TO_SET1[code as usize],
        0x83 => 0x41,
        0x84 => 0x54,
        _ => code,
    }
}

/// A key, named by its scancode set 2 make code: `code`, preceded by 0xE0
/// when `extended` (the grey keys, right Ctrl/Alt, ...). Pause and Print
/// Screen have multi-byte sequences of their own: send those with
/// [`I8042::send_scancodes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Set2Key {
    pub extended: bool,
    pub code: u8,
}

impl Set2Key {
    pub const fn new(code: u8) -> Self {
        Set2Key {
            extended: false,
            code,
        }
    }

    pub const fn extended(code: u8) -> Self {
        Set2Key {
            extended: true,
            code,
        }
    }

    /// The bytes a keyboard in scancode set `set` sends for this key.
    fn bytes(self, pressed: bool, set: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(3);
        if self.extended {
            out.push(0xe0);
        }
        if set == 1 {
            let code = translate(self.code);
            out.push(if pressed { code } else { code | 0x80 });
        } else {
            if !pressed {
                out.push(0xf0);
            }
            out.push(self.code);
        }
        out
    }
}

/// A PS/2 keyboard (IBM enhanced keyboard command set).
#[derive(Clone, Debug)]
struct Ps2Keyboard {
    /// Responses to commands; sent before any scancode.
    replies: VecDeque<u8>,
    /// Scancodes waiting to be sent.
    keys: VecDeque<u8>,
    /// Whether the last key sequence was dropped for lack of room (an overrun
    /// code has been queued).
    overrun: bool,
    scanning: bool,
    scancode_set: u8,
    leds: u8,
    typematic: u8,
    /// A command waiting for its parameter byte.
    expecting: Option<u8>,
    last_sent: u8,
}

impl Ps2Keyboard {
    fn new() -> Self {
        Ps2Keyboard {
            replies: VecDeque::new(),
            keys: VecDeque::new(),
            overrun: false,
            scanning: true,
            scancode_set: 2,
            leds: 0,
            typematic: 0x2b,
            expecting: None,
            last_sent: 0,
        }
    }

    fn set_defaults(&mut self) {
        self.scancode_set = 2;
        self.typematic = 0x2b;
        self.keys.clear();
        self.overrun = false;
    }

    fn reply(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.replies.len() < QUEUE_LIMIT {
                self.replies.push_back(b);
            }
        }
    }

    fn next_byte(&mut self) -> Option<u8> {
        let b = self.replies.pop_front().or_else(|| self.keys.pop_front())?;
        if self.keys.is_empty() {
            self.overrun = false;
        }
        self.last_sent = b;
        Some(b)
    }

    fn has_data(&self) -> bool {
        !self.replies.is_empty() || !self.keys.is_empty()
    }

    fn send_keys(&mut self, bytes: &[u8]) {
        if !self.scanning || bytes.is_empty() {
            return;
        }
        if self.keys.len() + bytes.len() > QUEUE_LIMIT {
            // Buffer full: one overrun code, then keys are lost until the host
            // drains it (set 1 uses 0xFF, sets 2 and 3 use 0x00).
            if !self.overrun {
                self.keys
                    .push_back(if self.scancode_set == 1 { 0xff } else { 0x00 });
                self.overrun = true;
            }
            return;
        }
        self.keys.extend(bytes);
    }

    /// A byte from the host (via port 0x60).
    fn write(&mut self, byte: u8) {
        if let Some(cmd) = self.expecting.take() {
            // A command byte in place of a parameter aborts the pending
            // command and is executed itself.
            if byte < 0xed {
                self.parameter(cmd, byte);
                return;
            }
        }
        match byte {
            0xed | 0xf3 | 0xf0 | 0xfb..=0xfd => {
                self.reply(&[ACK]);
                self.expecting = Some(byte);
            }
            0xee => self.reply(&[0xee]),
            0xf2 => self.reply(&[ACK, 0xab, 0x83]),
            0xf4 => {
                self.keys.clear();
                self.scanning = true;
                self.reply(&[ACK]);
            }
            0xf5 => {
                self.set_defaults();
                self.scanning = false;
                self.reply(&[ACK]);
            }
            0xf6 => {
                self.set_defaults();
                self.reply(&[ACK]);
            }
            // Set-3 key type commands without parameters.
            0xf7..=0xfa => self.reply(&[ACK]),
            0xfe => {
                let last = self.last_sent;
                self.reply(&[last]);
            }
            0xff => {
                self.set_defaults();
                self.replies.clear();
                self.scanning = true;
                self.leds = 0;
                self.reply(&[ACK, BAT_OK]);
            }
            _ => self.reply(&[RESEND]),
        }
    }

    fn parameter(&mut self, cmd: u8, value: u8) {
        match cmd {
            0xed => {
                self.leds = value & 0x07;
                self.reply(&[ACK]);
            }
            0xf3 => {
                self.typematic = value & 0x7f;
                self.reply(&[ACK]);
            }
            0xf0 => match value {
                0 => {
                    let set = self.scancode_set;
                    self.reply(&[ACK, set]);
                }
                1..=3 => {
                    self.scancode_set = value;
                    self.keys.clear();
                    self.reply(&[ACK]);
                }
                _ => self.reply(&[RESEND]),
            },
            // 0xFB-0xFD: a set-3 key code.
            _ => self.reply(&[ACK]),
        }
    }
}

/// A standard PS/2 mouse (with the IntelliMouse wheel extension, ID 3).
#[derive(Clone, Debug)]
struct Ps2Mouse {
    replies: VecDeque<u8>,
    packets: VecDeque<u8>,
    reporting: bool,
    remote: bool,
    wrap: bool,
    scaling_2to1: bool,
    sample_rate: u8,
    resolution: u8,
    id: u8,
    buttons: u8,
    /// Movement not yet reported (remote mode).
    acc_dx: i32,
    acc_dy: i32,
    expecting: Option<u8>,
    last_sent: u8,
    /// The last three sample rates set: 200, 100, 80 unlocks the wheel.
    rates: [u8; 3],
}

impl Ps2Mouse {
    fn new() -> Self {
        Ps2Mouse {
            replies: VecDeque::new(),
            packets: VecDeque::new(),
            reporting: false,
            remote: false,
            wrap: false,
            scaling_2to1: false,
            sample_rate: 100,
            resolution: 2,
            id: 0,
            buttons: 0,
            acc_dx: 0,
            acc_dy: 0,
            expecting: None,
            last_sent: 0,
            rates: [0; 3],
        }
    }

    fn set_defaults(&mut self) {
        self.reporting = false;
        self.remote = false;
        self.scaling_2to1 = false;
        self.sample_rate = 100;
        self.resolution = 2;
        self.packets.clear();
        self.acc_dx = 0;
        self.acc_dy = 0;
    }

    fn reply(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.replies.len() < QUEUE_LIMIT {
                self.replies.push_back(b);
            }
        }
    }

    fn next_byte(&mut self) -> Option<u8> {
        let b = self
            .replies
            .pop_front()
            .or_else(|| self.packets.pop_front())?;
        self.last_sent = b;
        Some(b)
    }

    fn has_data(&self) -> bool {
        !self.replies.is_empty() || !self.packets.is_empty()
    }

    fn packet(&self, dx: i32, dy: i32) -> Vec<u8> {
        let x = dx.clamp(-256, 255);
        let y = dy.clamp(-256, 255);
        let mut b0 = 0x08 | (self.buttons & 0x07);
        b0 |= u8::from(x < 0) << 4 | u8::from(y < 0) << 5;
        b0 |= u8::from(x != dx) << 6 | u8::from(y != dy) << 7;
        let mut p = vec![b0, x as u8, y as u8];
        if self.id == 3 {
            p.push(0);
        }
        p
    }

    fn status(&self) -> [u8; 3] {
        // Byte 0: remote, enabled, 2:1 scaling, then left/middle/right.
        let b = self.buttons;
        let buttons = (b & 1) << 2 | (b & 4) >> 1 | (b & 2) >> 1;
        let flags = u8::from(self.remote) << 6
            | u8::from(self.reporting) << 5
            | u8::from(self.scaling_2to1) << 4
            | buttons;
        [flags, self.resolution, self.sample_rate]
    }

    /// Host movement: `dy` positive is away from the user (up).
    fn movement(&mut self, dx: i32, dy: i32, buttons: u8) {
        self.buttons = buttons & 0x07;
        if self.remote {
            self.acc_dx = self.acc_dx.saturating_add(dx);
            self.acc_dy = self.acc_dy.saturating_add(dy);
            return;
        }
        if !self.reporting {
            return;
        }
        let (dx, dy) = if self.scaling_2to1 {
            (scale_2to1(dx), scale_2to1(dy))
        } else {
            (dx, dy)
        };
        let p = self.packet(dx, dy);
        if self.packets.len() + p.len() <= MOUSE_QUEUE_LIMIT {
            self.packets.extend(p);
        }
    }

    fn write(&mut self, byte: u8) {
        if self.wrap && byte != 0xff && byte != 0xec {
            self.reply(&[byte]);
            return;
        }
        if let Some(cmd) = self.expecting.take() {
            self.parameter(cmd, byte);
            return;
        }
        match byte {
            0xe6 => {
                self.scaling_2to1 = false;
                self.reply(&[ACK]);
            }
            0xe7 => {
                self.scaling_2to1 = true;
                self.reply(&[ACK]);
            }
            0xe8 | 0xf3 => {
                self.expecting = Some(byte);
                self.reply(&[ACK]);
            }
            0xe9 => {
                let s = self.status();
                self.reply(&[ACK, s[0], s[1], s[2]]);
            }
            0xea => {
                self.remote = false;
                self.reply(&[ACK]);
            }
            0xeb => {
                let p = self.packet(self.acc_dx, self.acc_dy);
                self.acc_dx = 0;
                self.acc_dy = 0;
                self.reply(&[ACK]);
                self.reply(&p);
            }
            0xec => {
                self.wrap = false;
                self.reply(&[ACK]);
            }
            0xee => {
                self.wrap = true;
                self.reply(&[ACK]);
            }
            0xf0 => {
                self.remote = true;
                self.reply(&[ACK]);
            }
            0xf2 => {
                let id = self.id;
                self.reply(&[ACK, id]);
            }
            0xf4 => {
                self.reporting = true;
                self.reply(&[ACK]);
            }
            0xf5 => {
                self.reporting = false;
                self.packets.clear();
                self.reply(&[ACK]);
            }
            0xf6 => {
                self.set_defaults();
                self.reply(&[ACK]);
            }
            0xfe => {
                let last = self.last_sent;
                self.reply(&[last]);
            }
            0xff => {
                self.set_defaults();
                self.replies.clear();
                self.wrap = false;
                self.id = 0;
                self.buttons = 0;
                self.reply(&[ACK, BAT_OK, 0x00]);
            }
            _ => self.reply(&[RESEND]),
        }
    }

    fn parameter(&mut self, cmd: u8, value: u8) {
        match (cmd, value) {
            (0xe8, 0..=3) => {
                self.resolution = value;
                self.reply(&[ACK]);
            }
            (0xf3, 10 | 20 | 40 | 60 | 80 | 100 | 200) => {
                self.sample_rate = value;
                self.rates = [self.rates[1], self.rates[2], value];
                if self.rates == [200, 100, 80] {
                    self.id = 3;
                }
                self.reply(&[ACK]);
            }
            _ => self.reply(&[RESEND]),
        }
    }
}

/// 2:1 scaling as the PS/2 mouse applies it in stream mode.
fn scale_2to1(d: i32) -> i32 {
    let m = match d.unsigned_abs() {
        0 => 0,
        1 | 2 => 1,
        3 => 3,
        4 => 6,
        5 => 9,
        n => n.saturating_mul(2).min(i32::MAX as u32),
    } as i32;
    if d < 0 {
        -m
    } else {
        m
    }
}

/// Which command is waiting for a byte on port 0x60.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PendingData {
    Ram(u8),
    OutputPort,
    KeyboardBuffer,
    AuxBuffer,
    AuxDevice,
}

/// Who put the byte now in the output buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// The controller or the keyboard port: IRQ1.
    Keyboard,
    /// The auxiliary (mouse) port: IRQ12, status AUXB.
    Aux,
}

pub struct I8042 {
    /// Internal RAM; byte 0 is the command byte.
    ram: [u8; 32],
    output_port: u8,
    /// Status bit 2 (set by self test or through the command byte).
    sys_flag: bool,
    /// Status bit 3: the last write was to the command port.
    last_was_command: bool,
    pending: Option<PendingData>,
    output_buffer: u8,
    /// Where the output buffer's byte came from, if it is full.
    output_full: Option<Source>,
    /// Controller replies and 0xD2/0xD3 bytes, in order.
    controller_queue: VecDeque<(u8, Source)>,
    /// Translation saw a 0xF0 prefix.
    translate_break: bool,
    keyboard: Ps2Keyboard,
    mouse: Ps2Mouse,
    irq1: IrqLine,
    irq12: IrqLine,
    control: SharedSystemControl,
}

impl I8042 {
    pub fn new(irq1: IrqLine, irq12: IrqLine, control: SharedSystemControl) -> Self {
        let mut dev = I8042 {
            ram: [0; 32],
            output_port: OUT_POWER_ON,
            sys_flag: false,
            last_was_command: false,
            pending: None,
            output_buffer: 0,
            output_full: None,
            controller_queue: VecDeque::new(),
            translate_break: false,
            keyboard: Ps2Keyboard::new(),
            mouse: Ps2Mouse::new(),
            irq1,
            irq12,
            control,
        };
        dev.reset();
        dev
    }

    /// Board reset: controller, keyboard and mouse to their power-on state
    /// (the output port turns A20 back on, as the KBC's power-on value does).
    pub fn reset(&mut self) {
        self.ram = [0; 32];
        self.ram[0] = CMD_POWER_ON;
        self.output_port = OUT_POWER_ON;
        self.sys_flag = false;
        self.last_was_command = false;
        self.pending = None;
        self.output_buffer = 0;
        self.output_full = None;
        self.controller_queue.clear();
        self.translate_break = false;
        self.keyboard = Ps2Keyboard::new();
        self.mouse = Ps2Mouse::new();
        self.control
            .set_a20(A20Source::KeyboardController, OUT_POWER_ON & OUT_A20 != 0);
        self.service();
    }

    /// A key pressed or released on the host keyboard. Dropped while the
    /// keyboard is not scanning (after 0xF5).
    pub fn key_event(&mut self, key: Set2Key, pressed: bool) {
        let bytes = key.bytes(pressed, self.keyboard.scancode_set);
        self.keyboard.send_keys(&bytes);
        self.service();
    }

    /// Raw scancode bytes from the keyboard, as one unit (e.g. Pause:
    /// `E1 14 77 E1 F0 14 F0 77`). They are sent as given, whatever the
    /// selected scancode set.
    pub fn send_scancodes(&mut self, bytes: &[u8]) {
        self.keyboard.send_keys(bytes);
        self.service();
    }

    /// Host mouse movement and buttons (bit 0 left, bit 1 right, bit 2
    /// middle; `dy` positive is up). In stream mode with reporting enabled
    /// this queues one packet; in remote mode it accumulates for 0xEB.
    pub fn mouse_event(&mut self, dx: i32, dy: i32, buttons: u8) {
        self.mouse.movement(dx, dy, buttons);
        self.service();
    }

    fn command_byte(&self) -> u8 {
        self.ram[0]
    }

    fn status(&self) -> u8 {
        let mut s = STATUS_UNLOCKED;
        if let Some(src) = self.output_full {
            s |= STATUS_OBF;
            if src == Source::Aux {
                s |= STATUS_AUXB;
            }
        }
        if self.sys_flag {
            s |= STATUS_SYS;
        }
        if self.last_was_command {
            s |= STATUS_A2;
        }
        s
    }

    fn output_port_value(&self) -> u8 {
        let mut v = self.output_port & !(OUT_KBD_OBF | OUT_AUX_OBF);
        match self.output_full {
            Some(Source::Keyboard) => v |= OUT_KBD_OBF,
            Some(Source::Aux) => v |= OUT_AUX_OBF,
            None => {}
        }
        v
    }

    fn reply(&mut self, byte: u8, source: Source) {
        if self.controller_queue.len() < QUEUE_LIMIT {
            self.controller_queue.push_back((byte, source));
        }
    }

    fn next_keyboard_byte(&mut self) -> Option<u8> {
        // Bounded: each turn consumes a byte from the keyboard.
        while let Some(b) = self.keyboard.next_byte() {
            if self.command_byte() & CMD_TRANSLATE == 0 {
                return Some(b);
            }
            if b == 0xf0 {
                self.translate_break = true;
                continue;
            }
            let t = translate(b) | if self.translate_break { 0x80 } else { 0 };
            self.translate_break = false;
            return Some(t);
        }
        None
    }

    /// Fills an empty output buffer from the queues, then drives IRQ1/IRQ12.
    fn service(&mut self) {
        if self.output_full.is_none() {
            let cmd = self.command_byte();
            let next = if let Some(entry) = self.controller_queue.pop_front() {
                Some(entry)
            } else if cmd & CMD_KBD_DISABLE == 0 && self.keyboard.has_data() {
                self.next_keyboard_byte().map(|b| (b, Source::Keyboard))
            } else if cmd & CMD_AUX_DISABLE == 0 && self.mouse.has_data() {
                self.mouse.next_byte().map(|b| (b, Source::Aux))
            } else {
                None
            };
            if let Some((byte, source)) = next {
                self.output_buffer = byte;
                self.output_full = Some(source);
            }
        }
        self.update_irqs();
    }

    fn update_irqs(&self) {
        let cmd = self.command_byte();
        self.irq1
            .set_level(self.output_full == Some(Source::Keyboard) && cmd & CMD_KBD_INT != 0);
        self.irq12
            .set_level(self.output_full == Some(Source::Aux) && cmd & CMD_AUX_INT != 0);
    }

    fn write_output_port(&mut self, value: u8) {
        self.output_port = value;
        self.control
            .set_a20(A20Source::KeyboardController, value & OUT_A20 != 0);
        if value & OUT_RESET == 0 {
            // The reset line is driven low: the CPU resets. The line itself
            // returns high with the board reset.
            self.control.request_reset();
        }
    }

    fn set_a20(&mut self, on: bool) {
        let v = if on {
            self.output_port | OUT_A20
        } else {
            self.output_port & !OUT_A20
        };
        self.write_output_port(v | OUT_RESET);
    }

    fn write_command(&mut self, cmd: u8) {
        self.last_was_command = true;
        // A new command abandons one still waiting for its data byte.
        self.pending = None;
        let mut cmd_byte = self.command_byte();
        match cmd {
            0x20..=0x3f => self.reply(self.ram[(cmd & 0x1f) as usize], Source::Keyboard),
            0x60..=0x7f => self.pending = Some(PendingData::Ram(cmd & 0x1f)),
            // Password installed? No.
            0xa4 => self.reply(0xf1, Source::Keyboard),
            0xa7 => cmd_byte |= CMD_AUX_DISABLE,
            0xa8 => cmd_byte &= !CMD_AUX_DISABLE,
            0xa9 | 0xab => self.reply(0x00, Source::Keyboard),
            0xaa => {
                self.sys_flag = true;
                self.reply(0x55, Source::Keyboard);
            }
            0xad => cmd_byte |= CMD_KBD_DISABLE,
            0xae => cmd_byte &= !CMD_KBD_DISABLE,
            0xc0 => self.reply(INPUT_PORT, Source::Keyboard),
            0xd0 => self.reply(self.output_port_value(), Source::Keyboard),
            0xd1 => self.pending = Some(PendingData::OutputPort),
            0xd2 => self.pending = Some(PendingData::KeyboardBuffer),
            0xd3 => self.pending = Some(PendingData::AuxBuffer),
            0xd4 => self.pending = Some(PendingData::AuxDevice),
            0xdd => self.set_a20(false),
            0xdf => self.set_a20(true),
            // Test inputs: keyboard clock and data lines (both high).
            0xe0 => self.reply(0x03, Source::Keyboard),
            // Pulse output port bits 0-3 low where the command's bit is 0;
            // bit 0 is the CPU reset line (the others return to their level).
            0xf0..=0xff if cmd & 0x01 == 0 => self.control.request_reset(),
            // Anything else is ignored by the controller, as the 8042 does.
            _ => {}
        }
        self.ram[0] = cmd_byte;
    }

    fn write_data(&mut self, value: u8) {
        self.last_was_command = false;
        match self.pending.take() {
            Some(PendingData::Ram(0)) => {
                self.ram[0] = value;
                self.sys_flag = value & CMD_SYS != 0;
            }
            Some(PendingData::Ram(i)) => self.ram[i as usize] = value,
            Some(PendingData::OutputPort) => self.write_output_port(value),
            Some(PendingData::KeyboardBuffer) => self.reply(value, Source::Keyboard),
            Some(PendingData::AuxBuffer) => self.reply(value, Source::Aux),
            Some(PendingData::AuxDevice) => self.mouse.write(value),
            None => {
                // Sending to the keyboard enables its interface again.
                self.ram[0] &= !CMD_KBD_DISABLE;
                self.keyboard.write(value);
            }
        }
    }

    fn read_data(&mut self) -> u8 {
        if self.output_full.take().is_some() {
            // Drop the line before the next byte can raise it again: one edge
            // per byte.
            self.update_irqs();
        }
        // An empty buffer reads back the last byte.
        self.output_buffer
    }
}

impl PortDevice for I8042 {
    /// Offset 0 is port 0x60, offset 4 port 0x64; others read as open bus.
    fn read(&mut self, offset: u16, size: u8) -> u32 {
        let value = split_read(offset, size, |off| match off {
            DATA => self.read_data(),
            COMMAND => self.status(),
            _ => 0xff,
        });
        self.service();
        value
    }

    fn write(&mut self, offset: u16, size: u8, value: u32) {
        split_write(offset, size, value, |off, byte| match off {
            DATA => self.write_data(byte),
            COMMAND => self.write_command(byte),
            _ => {}
        });
        self.service();
    }
}

/// One of the controller's two ports on the bus: forwards to the shared
/// device at a fixed offset (0x61-0x63 belong to other devices).
struct I8042Port {
    dev: Arc<Mutex<I8042>>,
    offset: u16,
}

impl PortDevice for I8042Port {
    fn read(&mut self, offset: u16, size: u8) -> u32 {
        self.dev.read(self.offset + offset, size)
    }

    fn write(&mut self, offset: u16, size: u8, value: u32) {
        self.dev.write(self.offset + offset, size, value)
    }
}

/// Builds the controller with its keyboard and mouse, wires IRQ1 and IRQ12
/// and registers ports 0x60 and 0x64. The returned handle is for host input
/// (`key_event`, `mouse_event`) and `reset()`.
pub fn register_i8042(
    bus: &mut PortBus,
    irq1: IrqLine,
    irq12: IrqLine,
    control: SharedSystemControl,
) -> Result<Arc<Mutex<I8042>>, OverlapError> {
    let dev = Arc::new(Mutex::new(I8042::new(irq1, irq12, control)));
    for (port, offset) in [(I8042_DATA_PORT, DATA), (I8042_COMMAND_PORT, COMMAND)] {
        let view = I8042Port {
            dev: dev.clone(),
            offset,
        };
        bus.register(port, 1, Box::new(view))?;
    }
    Ok(dev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::irq::{IrqLines, SharedIrqLines};
    use crate::devices::system_control::SystemControl;

    struct Rig {
        bus: PortBus,
        irqs: SharedIrqLines,
        sc: SharedSystemControl,
        kbc: Arc<Mutex<I8042>>,
    }

    impl Rig {
        fn new() -> Rig {
            let irqs = IrqLines::new();
            let sc = SystemControl::new();
            let mut bus = PortBus::default();
            let kbc = register_i8042(&mut bus, irqs.line(1), irqs.line(12), sc.clone()).unwrap();
            Rig { bus, irqs, sc, kbc }
        }
        fn status(&mut self) -> u8 {
            self.bus.read(0x64, 1) as u8
        }
        fn cmd(&mut self, c: u8) {
            self.bus.write(0x64, 1, c as u32)
        }
        fn data(&mut self, v: u8) {
            self.bus.write(0x60, 1, v as u32)
        }
        fn read(&mut self) -> u8 {
            self.bus.read(0x60, 1) as u8
        }
        /// Everything the controller has to say, as a guest polling OBF.
        fn drain(&mut self) -> Vec<u8> {
            let mut out = Vec::new();
            while self.status() & STATUS_OBF != 0 && out.len() < 100 {
                out.push(self.read());
            }
            out
        }
        fn set_command_byte(&mut self, v: u8) {
            self.cmd(0x60);
            self.data(v);
        }
        fn irq(&self, n: u32) -> bool {
            self.irqs.levels() & (1 << n) != 0
        }
        fn key(&self, key: Set2Key, pressed: bool) {
            self.kbc.lock().unwrap().key_event(key, pressed);
        }
        fn mouse(&self, dx: i32, dy: i32, buttons: u8) {
            self.kbc.lock().unwrap().mouse_event(dx, dy, buttons);
        }
        fn aux(&mut self, v: u8) {
            self.cmd(0xd4);
            self.data(v);
        }
    }

    const KEY_A: Set2Key = Set2Key::new(0x1c);
    const RIGHT_CTRL: Set2Key = Set2Key::extended(0x14);

    #[test]
    fn power_on_status_and_command_byte() {
        let mut r = Rig::new();
        assert_eq!(r.status(), STATUS_UNLOCKED, "empty, SYS clear, no errors");
        r.cmd(0x20);
        assert_eq!(r.status(), STATUS_UNLOCKED | STATUS_A2 | STATUS_OBF);
        assert_eq!(r.read(), CMD_POWER_ON);
        assert!(
            r.sc.a20_enabled(),
            "the KBC's output port powers up with A20 on"
        );
        assert!(!r.sc.take_reset_request());
    }

    #[test]
    fn self_tests_answer_and_set_sys() {
        let mut r = Rig::new();
        r.cmd(0xaa);
        assert_eq!(r.drain(), [0x55]);
        assert_ne!(r.status() & STATUS_SYS, 0);
        r.cmd(0xab);
        assert_eq!(r.drain(), [0x00]);
        r.cmd(0xa9);
        assert_eq!(r.drain(), [0x00]);
        r.cmd(0xa4);
        assert_eq!(r.drain(), [0xf1], "no password installed");
        r.cmd(0xc0);
        assert_eq!(r.drain(), [INPUT_PORT]);
    }

    #[test]
    fn command_byte_and_ram_round_trip() {
        let mut r = Rig::new();
        r.set_command_byte(0x07);
        assert_eq!(
            r.status() & (STATUS_SYS | STATUS_A2),
            STATUS_SYS,
            "A2 clear after data"
        );
        r.cmd(0x20);
        assert_eq!(r.drain(), [0x07]);
        r.set_command_byte(0x00);
        assert_eq!(r.status() & STATUS_SYS, 0, "SYS follows command byte bit 2");
        r.cmd(0x65);
        r.data(0x99);
        r.cmd(0x25);
        assert_eq!(r.drain(), [0x99]);
    }

    #[test]
    fn a_new_command_cancels_one_waiting_for_data() {
        let mut r = Rig::new();
        r.cmd(0x60);
        r.cmd(0xae);
        r.data(0xf2); // now goes to the keyboard
        assert_eq!(r.drain(), [ACK, 0xab, 0x41]);
        r.cmd(0x20);
        assert_eq!(r.drain(), [CMD_POWER_ON]);
    }

    #[test]
    fn irq1_fires_once_per_byte_when_enabled() {
        let mut r = Rig::new();
        r.set_command_byte(0x00);
        r.data(0xff);
        assert_eq!(r.status() & STATUS_OBF, STATUS_OBF);
        assert!(!r.irq(1), "interrupts off in the command byte");
        r.drain();
        r.set_command_byte(CMD_KBD_INT);
        r.irqs.take_edges();
        r.data(0xff);
        assert!(r.irq(1));
        assert_eq!(r.irqs.take_edges(), 1 << 1);
        assert_eq!(r.read(), ACK);
        assert!(r.irq(1), "the next byte is already there");
        assert_eq!(r.irqs.take_edges(), 1 << 1, "with a fresh edge");
        assert_eq!(r.read(), BAT_OK);
        assert!(!r.irq(1));
        assert_eq!(r.read(), BAT_OK, "an empty buffer reads back its last byte");
        assert!(!r.irq(12));
    }

    #[test]
    fn keyboard_reset_identify_and_translation_of_replies() {
        let mut r = Rig::new();
        r.set_command_byte(CMD_KBD_INT);
        r.data(0xff);
        assert_eq!(r.drain(), [ACK, BAT_OK]);
        r.data(0xf2);
        assert_eq!(r.drain(), [ACK, 0xab, 0x83]);
        r.set_command_byte(CMD_KBD_INT | CMD_TRANSLATE);
        r.data(0xf2);
        assert_eq!(
            r.drain(),
            [ACK, 0xab, 0x41],
            "0x83 through the translation table"
        );
    }

    #[test]
    fn keyboard_leds_echo_typematic_resend_and_unknown() {
        let mut r = Rig::new();
        r.data(0xed);
        r.data(0x07);
        r.data(0xee);
        r.data(0xf3);
        r.data(0x20);
        r.data(0xab);
        assert_eq!(r.drain(), [ACK, ACK, 0xee, ACK, ACK, RESEND]);
        r.data(0xfe);
        assert_eq!(r.drain(), [RESEND], "resend repeats the last byte sent");
        assert_eq!(r.kbc.lock().unwrap().keyboard.leds, 0x07);
        // A command in place of a parameter aborts the pending one.
        r.data(0xed);
        r.data(0xf2);
        assert_eq!(r.drain(), [ACK, ACK, 0xab, 0x41]);
    }

    #[test]
    fn scancode_set_get_and_select() {
        let mut r = Rig::new();
        r.set_command_byte(0);
        r.data(0xf0);
        r.data(0x00);
        assert_eq!(r.drain(), [ACK, ACK, 2]);
        r.data(0xf0);
        r.data(0x05);
        assert_eq!(r.drain(), [ACK, RESEND]);
        r.data(0xf0);
        r.data(0x01);
        assert_eq!(r.drain(), [ACK, ACK]);
        r.key(KEY_A, true);
        r.key(RIGHT_CTRL, false);
        assert_eq!(
            r.drain(),
            [0x1e, 0xe0, 0x9d],
            "the keyboard itself sends set 1"
        );
        r.set_command_byte(CMD_TRANSLATE);
        r.data(0xf0);
        r.data(0x00);
        assert_eq!(
            r.drain(),
            [ACK, ACK, 0x43],
            "set 1 reads as 0x43 through translation"
        );
    }

    #[test]
    fn set_2_make_and_break_codes_untranslated() {
        let mut r = Rig::new();
        r.set_command_byte(0);
        r.key(KEY_A, true);
        r.key(KEY_A, false);
        r.key(RIGHT_CTRL, true);
        r.key(RIGHT_CTRL, false);
        assert_eq!(r.drain(), [0x1c, 0xf0, 0x1c, 0xe0, 0x14, 0xe0, 0xf0, 0x14]);
    }

    #[test]
    fn translation_turns_set_2_into_set_1() {
        let mut r = Rig::new();
        r.key(KEY_A, true);
        r.key(KEY_A, false);
        r.key(RIGHT_CTRL, true);
        r.key(RIGHT_CTRL, false);
        r.key(Set2Key::new(0x76), true); // Esc
        r.key(Set2Key::new(0x83), false); // F7
        assert_eq!(
            r.drain(),
            [0x1e, 0x9e, 0xe0, 0x1d, 0xe0, 0x9d, 0x01, 0xc1],
            "F0 swallowed, bit 7 on the break code"
        );
        // Pause, raw.
        r.kbc
            .lock()
            .unwrap()
            .send_scancodes(&[0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77]);
        assert_eq!(r.drain(), [0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5]);
    }

    #[test]
    fn scanning_off_drops_keys() {
        let mut r = Rig::new();
        r.data(0xf5);
        assert_eq!(r.drain(), [ACK]);
        r.key(KEY_A, true);
        assert!(r.drain().is_empty());
        r.data(0xf4);
        r.key(KEY_A, true);
        assert_eq!(r.drain(), [ACK, 0x1e]);
    }

    #[test]
    fn disabled_keyboard_interface_holds_data_back() {
        let mut r = Rig::new();
        r.cmd(0xad);
        r.key(KEY_A, true);
        assert_eq!(r.status() & STATUS_OBF, 0);
        r.cmd(0x20);
        assert_eq!(
            r.drain(),
            [CMD_POWER_ON | CMD_KBD_DISABLE],
            "controller replies still come"
        );
        r.cmd(0xae);
        assert_eq!(r.drain(), [0x1e]);
        r.cmd(0xad);
        r.data(0xee);
        assert_eq!(
            r.drain(),
            [0xee],
            "writing to the keyboard enables its interface"
        );
    }

    #[test]
    fn keyboard_buffer_overrun_code() {
        let mut r = Rig::new();
        r.set_command_byte(0);
        for _ in 0..20 {
            r.key(KEY_A, true);
        }
        let got = r.drain();
        // One byte sits in the output buffer; 16 in the keyboard; then 0x00.
        assert_eq!(got.len(), 18);
        assert_eq!(got[17], 0x00);
        r.set_command_byte(CMD_TRANSLATE);
        for _ in 0..20 {
            r.key(KEY_A, true);
        }
        assert_eq!(*r.drain().last().unwrap(), 0xff, "0x00 translates to 0xFF");
    }

    #[test]
    fn mouse_reset_id_and_packets_on_irq12() {
        let mut r = Rig::new();
        r.set_command_byte(CMD_KBD_INT | CMD_AUX_INT);
        r.aux(0xff);
        assert_eq!(
            r.status() & (STATUS_OBF | STATUS_AUXB),
            STATUS_OBF | STATUS_AUXB
        );
        assert!(r.irq(12));
        assert!(!r.irq(1));
        assert_eq!(r.drain(), [ACK, BAT_OK, 0x00]);
        assert!(!r.irq(12));
        r.aux(0xf2);
        assert_eq!(r.drain(), [ACK, 0x00]);
        r.mouse(1, 1, 0);
        assert!(r.drain().is_empty(), "reporting is off after reset");
        r.aux(0xf4);
        assert_eq!(r.drain(), [ACK]);
        r.mouse(5, -3, 0b001);
        r.mouse(300, 0, 0b110);
        assert_eq!(r.drain(), [0x29, 5, 0xfd, 0x4e, 0xff, 0x00]);
        r.aux(0xf5);
        r.mouse(1, 1, 0);
        assert_eq!(r.drain(), [ACK]);
    }

    #[test]
    fn intellimouse_sequence_changes_id_and_packet_size() {
        let mut r = Rig::new();
        for rate in [200, 100, 80] {
            r.aux(0xf3);
            r.aux(rate);
        }
        r.aux(0xf2);
        assert_eq!(r.drain(), [ACK, ACK, ACK, ACK, ACK, ACK, ACK, 0x03]);
        r.aux(0xf4);
        r.mouse(1, 1, 0);
        assert_eq!(r.drain(), [ACK, 0x08, 1, 1, 0]);
    }

    #[test]
    fn mouse_status_resolution_rate_and_scaling() {
        let mut r = Rig::new();
        r.aux(0xe8);
        r.aux(0x03);
        r.aux(0xf3);
        r.aux(40);
        r.aux(0xe7);
        r.aux(0xf4);
        r.mouse(0, 0, 0b001);
        r.drain();
        r.aux(0xe9);
        assert_eq!(r.drain(), [ACK, 0x20 | 0x10 | 0x04, 3, 40]);
        r.aux(0xe8);
        r.aux(0x09);
        r.aux(0xf3);
        r.aux(33);
        r.aux(0xab);
        assert_eq!(r.drain(), [ACK, RESEND, ACK, RESEND, RESEND]);
        r.mouse(4, -5, 0);
        assert_eq!(r.drain(), [0x28, 6, (-9i8) as u8], "2:1 scaling");
    }

    #[test]
    fn mouse_remote_and_wrap_modes() {
        let mut r = Rig::new();
        r.aux(0xf0);
        r.mouse(3, 4, 0);
        r.mouse(3, 4, 0b010);
        assert_eq!(r.drain(), [ACK], "remote mode: no stream");
        r.aux(0xeb);
        assert_eq!(r.drain(), [ACK, 0x0a, 6, 8]);
        r.aux(0xee);
        r.aux(0x42);
        r.aux(0xec);
        r.aux(0xf2);
        assert_eq!(r.drain(), [ACK, 0x42, ACK, ACK, 0x00]);
    }

    #[test]
    fn disabled_aux_interface_holds_mouse_data() {
        let mut r = Rig::new();
        r.cmd(0xa7);
        r.aux(0xf2);
        assert_eq!(r.status() & STATUS_OBF, 0);
        r.cmd(0xa8);
        assert_eq!(r.drain(), [ACK, 0x00]);
    }

    #[test]
    fn write_output_buffers_d2_d3() {
        let mut r = Rig::new();
        r.set_command_byte(CMD_KBD_INT | CMD_AUX_INT);
        r.cmd(0xd2);
        r.data(0x12);
        assert!(r.irq(1));
        assert_eq!(r.status() & STATUS_AUXB, 0);
        assert_eq!(r.read(), 0x12, "not translated");
        r.cmd(0xd3);
        r.data(0x34);
        assert!(r.irq(12));
        assert_eq!(r.status() & STATUS_AUXB, STATUS_AUXB);
        assert_eq!(r.read(), 0x34);
    }

    #[test]
    fn output_port_drives_a20_and_reset() {
        let mut r = Rig::new();
        r.cmd(0xd0);
        assert_eq!(r.drain(), [OUT_POWER_ON]);
        r.cmd(0xd1);
        r.data(0xcd);
        assert!(!r.sc.a20_enabled());
        assert!(!r.sc.take_reset_request());
        r.cmd(0xd0);
        assert_eq!(r.read(), 0xcd);
        r.cmd(0xdf);
        assert!(r.sc.a20_enabled());
        r.cmd(0xdd);
        assert!(!r.sc.a20_enabled());
        r.cmd(0xd1);
        r.data(0xce);
        assert!(
            r.sc.take_reset_request(),
            "output port bit 0 low resets the CPU"
        );
        r.kbc.lock().unwrap().reset();
        assert!(r.sc.a20_enabled());
    }

    #[test]
    fn output_port_reports_buffer_full_lines() {
        let mut r = Rig::new();
        r.cmd(0xd3);
        r.data(0x01);
        r.cmd(0xd0);
        // The reply queues behind the aux byte it reports in bit 5.
        assert_eq!(r.drain(), [0x01, OUT_POWER_ON | OUT_AUX_OBF]);
    }

    #[test]
    fn pulse_commands_reset_only_through_bit_0() {
        let mut r = Rig::new();
        r.cmd(0xff);
        assert!(!r.sc.take_reset_request());
        r.cmd(0xfe);
        assert!(r.sc.take_reset_request());
        r.cmd(0xf0);
        assert!(r.sc.take_reset_request());
        r.cmd(0xfd);
        assert!(!r.sc.take_reset_request());
    }

    #[test]
    fn unknown_controller_commands_are_ignored() {
        let mut r = Rig::new();
        for c in [0x00, 0x1f, 0x80, 0xa0, 0xb5, 0xc8, 0xe5] {
            r.cmd(c);
        }
        assert!(r.drain().is_empty());
        r.cmd(0x20);
        assert_eq!(r.drain(), [CMD_POWER_ON]);
    }

    #[test]
    fn random_port_traffic_never_panics() {
        let mut r = Rig::new();
        let mut x = 0xd1b5_4a32_d192_ed03u64;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = (x >> 24) as u8;
            match (x >> 8) % 10 {
                0..=2 => r.cmd(v),
                3..=5 => r.data(v),
                6 => {
                    r.bus.read(0x60, [1, 2, 4][(x % 3) as usize]);
                }
                7 => {
                    r.status();
                }
                8 => r.key(
                    Set2Key {
                        extended: x & 1 != 0,
                        code: v,
                    },
                    x & 2 != 0,
                ),
                _ => r.mouse((x >> 32) as i32, (x >> 16) as i16 as i32, v),
            }
            r.sc.take_reset_request();
            let k = r.kbc.lock().unwrap();
            assert!(k.controller_queue.len() <= QUEUE_LIMIT);
            assert!(k.keyboard.replies.len() <= QUEUE_LIMIT);
            assert!(k.keyboard.keys.len() <= QUEUE_LIMIT + 1);
            assert!(k.mouse.replies.len() <= QUEUE_LIMIT);
            assert!(k.mouse.packets.len() <= MOUSE_QUEUE_LIMIT);
            let cmd = k.command_byte();
            assert_eq!(
                r.irqs.levels() & 0x1002 != 0,
                k.output_full == Some(Source::Keyboard) && cmd & 1 != 0
                    || k.output_full == Some(Source::Aux) && cmd & 2 != 0
            );
        }
    }
}

//! The Motorola MC146818A real-time clock and its CMOS RAM, at 0x70 (index;
//! bit 7 masks NMI on a PC) and 0x71 (data).
//!
//! The time of day starts from the host's (or a given) time and advances
//! with the machine's virtual clock. Registers A-D behave as in the
//! datasheet: A's divider and rate select, B's SET/PIE/AIE/UIE/SQWE/DM/24h/
//! DSE, C's interrupt flags (read clears them and lowers IRQ8), D's VRT.
//! Update cycles happen once a second on the divider's phase; UIP reads 1
//! during the 244 µs before each update (tBUC), which is what Linux's and
//! SeaBIOS's "wait for UIP to clear, then read" loops need. Simplifications:
//! - Time registers are kept as a seconds count, so a value a real chip
//!   would store and count from verbatim (hour 0x25, 31 February) is
//!   clamped or rolled into a valid date when written, and the day of week
//!   is derived from the date.
//! - DSE (daylight saving) is stored but never applied; so does QEMU.
//! - The divider values 000 and 001 (other crystals) count like 010; 11x
//!   holds the divider in reset (time stops; the first update comes 500 ms
//!   after leaving reset).
//! - SQWE has no pin to drive.
//!
//! Registers 0x0E-0x7F are battery-backed RAM; 0x32 is the PC century byte,
//! which this clock keeps with the time (as QEMU does). `set_memory_size`
//! fills the AT memory-size bytes firmware reads.

use super::bus::{split_read, split_write, OverlapError, PortBus, PortDevice};
use super::irq::IrqLine;
use crate::machine::clock::Clock;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Index and data ports.
pub const RTC_BASE: u16 = 0x70;

const REG_SECONDS: usize = 0x00;
const REG_SECONDS_ALARM: usize = 0x01;
const REG_MINUTES: usize = 0x02;
const REG_MINUTES_ALARM: usize = 0x03;
const REG_HOURS: usize = 0x04;
const REG_HOURS_ALARM: usize = 0x05;
const REG_WEEKDAY: usize = 0x06;
const REG_DAY: usize = 0x07;
const REG_MONTH: usize = 0x08;
const REG_YEAR: usize = 0x09;
const REG_A: usize = 0x0a;
const REG_B: usize = 0x0b;
const REG_C: usize = 0x0c;
const REG_D: usize = 0x0d;
/// The PC/AT convention for the century (IBM AT BIOS, ACPI FADT default).
pub const REG_CENTURY: usize = 0x32;

const A_UIP: u8 = 0x80;
/// Divider bits DV2-DV0; 11x holds the divider in reset.
const A_DV_RESET: u8 = 0x60;
const A_RS: u8 = 0x0f;

const B_SET: u8 = 0x80;
const B_PIE: u8 = 0x40;
const B_AIE: u8 = 0x20;
const B_UIE: u8 = 0x10;
const B_BINARY: u8 = 0x04;
const B_24H: u8 = 0x02;

const C_IRQF: u8 = 0x80;
const C_PF: u8 = 0x40;
const C_AF: u8 = 0x20;
const C_UF: u8 = 0x10;

const D_VRT: u8 = 0x80;

const NS_PER_SEC: i128 = 1_000_000_000;
/// UIP rises this long before an update cycle (tBUC).
const UIP_LEAD_NS: i128 = 244_000;
/// The time base: a 32.768 kHz crystal.
const TIME_BASE_HZ: i128 = 32_768;
/// Seconds range kept: years 1 to 9999.
const MIN_SECS: i64 = -62_135_596_800;
const MAX_SECS: i64 = 253_402_300_799;

/// Days since 1970-01-01 of a proleptic Gregorian date (days past the end
/// of the month roll into the next).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * if m > 2 { m - 3 } else { m + 9 } + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + (month <= 2) as i64;
    (year, month, day)
}

/// Everything of the RTC that a snapshot needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtcState {
    /// Register selected by port 0x70 (bits 6-0).
    index: u8,
    /// Port 0x70 bit 7: NMI disabled (the board's gate, not the chip's).
    nmi_masked: bool,
    /// Registers and RAM. The time registers hold the time as of the last
    /// access while the clock runs, and are the time itself while it stands.
    cmos: [u8; 128],
    /// Virtual time of a divider phase zero: update cycles end at
    /// `origin_ns + k` seconds.
    origin_ns: i128,
    /// The clock's time (seconds since 1970) after update cycle
    /// `secs_index`.
    secs: i64,
    secs_index: i64,
    /// Update cycles and periodic ticks already turned into flags.
    last_update: i64,
    last_periodic: i64,
}

/// The MC146818A with the clock it counts and its IRQ8 line.
pub struct Mc146818 {
    state: RtcState,
    clock: Clock,
    irq: IrqLine,
}

/// The RTC as the machine shares it between the port bus and its run loop.
pub type SharedRtc = Arc<Mutex<Mc146818>>;

impl Mc146818 {
    /// An RTC showing the host's current time (UTC, as PC guests mostly
    /// expect of an emulator).
    pub fn new(clock: Clock, irq: IrqLine) -> Self {
        Self::with_start_time(clock, irq, SystemTime::now())
    }

    /// An RTC showing `start` at the clock's current time.
    pub fn with_start_time(clock: Clock, irq: IrqLine, start: SystemTime) -> Self {
        let (secs, subsec) = match start.duration_since(UNIX_EPOCH) {
            Ok(d) => (
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                d.subsec_nanos() as i128,
            ),
            Err(e) => {
                let d = e.duration();
                let secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                match d.subsec_nanos() {
                    0 => (secs, 0),
                    n => (secs - 1, NS_PER_SEC - n as i128),
                }
            }
        };
        let now = clock.now_ns() as i128;
        let mut cmos = [0; 128];
        // The values firmware leaves (and QEMU resets to): 32.768 kHz time
        // base with 1024 Hz periodic rate, 24-hour BCD, valid RAM.
        cmos[REG_A] = 0x26;
        cmos[REG_B] = B_24H;
        cmos[REG_D] = D_VRT;
        let mut rtc = Mc146818 {
            state: RtcState {
                index: 0,
                nmi_masked: false,
                cmos,
                origin_ns: now - subsec,
                secs: secs.clamp(MIN_SECS, MAX_SECS),
                secs_index: 0,
                last_update: 0,
                last_periodic: 0,
            },
            clock,
            irq,
        };
        rtc.rebase(now);
        rtc.sync_registers(now);
        rtc.irq.lower();
        rtc
    }

    pub fn state(&self) -> &RtcState {
        &self.state
    }

    /// Puts back a state taken with [`Mc146818::state`] (on the same clock).
    pub fn restore(&mut self, state: RtcState) {
        self.state = state;
        self.irq.set_level(self.state.cmos[REG_C] & C_IRQF != 0);
    }

    /// Whether the guest has masked NMI with port 0x70 bit 7.
    pub fn nmi_masked(&self) -> bool {
        self.state.nmi_masked
    }

    /// Fills the PC CMOS memory-size bytes for `bytes` of RAM, all of it
    /// below 4 GiB as far as it fits and the rest above.
    pub fn set_memory_size(&mut self, bytes: u64) {
        const FOUR_GIB: u64 = 4 << 30;
        self.set_memory_layout(bytes.min(FOUR_GIB), bytes.saturating_sub(FOUR_GIB));
    }

    /// Fills the memory-size bytes for RAM split around the PCI hole, as
    /// SeaBIOS and QEMU read them: 0x15/0x16 base memory in KiB (640 at
    /// most); 0x17/0x18 and 0x30/0x31 KiB above 1 MiB (at most 0xFFFF);
    /// 0x34/0x35 64 KiB units above 16 MiB (below 4 GiB); 0x5B-0x5D 64 KiB
    /// units above 4 GiB; then the AT checksum.
    pub fn set_memory_layout(&mut self, below_4g: u64, above_4g: u64) {
        const MIB: u64 = 1 << 20;
        let cmos = &mut self.state.cmos;
        let mut put16 = |at: usize, v: u64| {
            cmos[at] = v as u8;
            cmos[at + 1] = (v >> 8) as u8;
        };
        put16(0x15, (below_4g / 1024).min(640));
        let extended = (below_4g.saturating_sub(MIB) / 1024).min(0xffff);
        put16(0x17, extended);
        put16(0x30, extended);
        put16(
            0x34,
            (below_4g.saturating_sub(16 * MIB) / 65536).min(0xffff),
        );
        let high = (above_4g / 65536).min(0xff_ffff);
        cmos[0x5b] = high as u8;
        cmos[0x5c] = (high >> 8) as u8;
        cmos[0x5d] = (high >> 16) as u8;
        self.update_checksum();
    }

    /// A byte of the battery-backed RAM.
    pub fn nvram_byte(&self, index: usize) -> u8 {
        self.state.cmos.get(index).copied().unwrap_or(0)
    }

    /// Sets a byte of the battery-backed RAM (0x0E-0x7F) as the board's
    /// setup would (drive types, equipment), keeping the AT checksum.
    pub fn set_nvram_byte(&mut self, index: usize, value: u8) {
        if (0x0e..self.state.cmos.len()).contains(&index) {
            self.state.cmos[index] = value;
            self.update_checksum();
        }
    }

    /// The AT's standard CMOS checksum: the sum of 0x10-0x2D, big-endian
    /// at 0x2E/0x2F.
    fn update_checksum(&mut self) {
        let cmos = &mut self.state.cmos;
        let sum: u16 = cmos[0x10..=0x2d].iter().map(|&b| b as u16).sum();
        cmos[0x2e] = (sum >> 8) as u8;
        cmos[0x2f] = sum as u8;
    }

    fn now(&self) -> i128 {
        self.clock.now_ns() as i128
    }

    fn divider_running(&self) -> bool {
        self.state.cmos[REG_A] & A_DV_RESET != A_DV_RESET
    }

    /// Update cycles happen: the divider runs and SET is clear.
    fn time_running(&self) -> bool {
        self.divider_running() && self.state.cmos[REG_B] & B_SET == 0
    }

    fn update_index(&self, now: i128) -> i64 {
        (now - self.state.origin_ns).div_euclid(NS_PER_SEC) as i64
    }

    /// The periodic interrupt's period in time-base cycles (datasheet,
    /// table "Periodic Interrupt Rate"): rate 1 and 2 repeat 8 and 9.
    fn period_cycles(&self) -> Option<i128> {
        match self.state.cmos[REG_A] & A_RS {
            0 => None,
            rs @ (1 | 2) => Some(1 << (rs + 6)),
            rs => Some(1 << (rs - 1)),
        }
    }

    fn periodic_index(&self, now: i128, cycles: i128) -> i64 {
        ((now - self.state.origin_ns) * TIME_BASE_HZ).div_euclid(cycles * NS_PER_SEC) as i64
    }

    fn current_secs(&self, now: i128) -> i64 {
        if self.time_running() {
            let elapsed = self.update_index(now) - self.state.secs_index;
            self.state
                .secs
                .saturating_add(elapsed)
                .clamp(MIN_SECS, MAX_SECS)
        } else {
            self.state.secs
        }
    }

    /// Forgets update cycles and periodic ticks up to `now` (after the
    /// divider's phase or rate changed).
    fn rebase(&mut self, now: i128) {
        self.state.last_update = self.update_index(now);
        if let Some(cycles) = self.period_cycles() {
            self.state.last_periodic = self.periodic_index(now, cycles);
        }
    }

    fn binary(&self) -> bool {
        self.state.cmos[REG_B] & B_BINARY != 0
    }

    fn encode(&self, v: u8) -> u8 {
        if self.binary() {
            v
        } else {
            ((v / 10) << 4) | (v % 10)
        }
    }

    fn decode(&self, r: u8) -> u8 {
        if self.binary() {
            r
        } else {
            (r >> 4) * 10 + (r & 0xf)
        }
    }

    /// Hours in the register format: 12-hour mode has PM in bit 7.
    fn encode_hour(&self, h: u8) -> u8 {
        if self.state.cmos[REG_B] & B_24H != 0 {
            self.encode(h)
        } else {
            let h12 = match h % 12 {
                0 => 12,
                x => x,
            };
            self.encode(h12) | ((h >= 12) as u8) << 7
        }
    }

    fn decode_hour(&self, r: u8) -> u8 {
        if self.state.cmos[REG_B] & B_24H != 0 {
            self.decode(r)
        } else {
            self.decode(r & 0x7f) % 12 + if r & 0x80 != 0 { 12 } else { 0 }
        }
    }

    /// The time the registers show, as seconds since 1970.
    fn parse_registers(&self) -> i64 {
        let c = &self.state.cmos;
        let sec = self.decode(c[REG_SECONDS]).min(59) as i64;
        let min = self.decode(c[REG_MINUTES]).min(59) as i64;
        let hour = self.decode_hour(c[REG_HOURS]).min(23) as i64;
        let day = self.decode(c[REG_DAY]).clamp(1, 31) as u32;
        let month = self.decode(c[REG_MONTH]).clamp(1, 12) as u32;
        let year = self.decode(c[REG_YEAR]).min(99) as i64
            + 100 * self.decode(c[REG_CENTURY]).min(99) as i64;
        let days = days_from_civil(year, month, day);
        (days * 86_400 + hour * 3600 + min * 60 + sec).clamp(MIN_SECS, MAX_SECS)
    }

    /// Writes the current time into the time registers.
    fn sync_registers(&mut self, now: i128) {
        let secs = self.current_secs(now);
        let days = secs.div_euclid(86_400);
        let tod = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let values = [
            (REG_SECONDS, self.encode((tod % 60) as u8)),
            (REG_MINUTES, self.encode((tod / 60 % 60) as u8)),
            (REG_HOURS, self.encode_hour((tod / 3600) as u8)),
            // 1 = Sunday; 1970-01-01 was a Thursday.
            (
                REG_WEEKDAY,
                self.encode(((days + 4).rem_euclid(7) + 1) as u8),
            ),
            (REG_DAY, self.encode(day as u8)),
            (REG_MONTH, self.encode(month as u8)),
            (REG_YEAR, self.encode(year.rem_euclid(100) as u8)),
            (REG_CENTURY, self.encode((year / 100).rem_euclid(100) as u8)),
        ];
        for (reg, value) in values {
            self.state.cmos[reg] = value;
        }
    }

    /// Whether the alarm registers match the time of day `secs` (bits 7-6
    /// both set in an alarm byte mean "don't care").
    fn alarm_matches(&self, secs: i64) -> bool {
        let tod = secs.rem_euclid(86_400);
        let c = &self.state.cmos;
        let fields = [
            (c[REG_SECONDS_ALARM], self.encode((tod % 60) as u8)),
            (c[REG_MINUTES_ALARM], self.encode((tod / 60 % 60) as u8)),
            (c[REG_HOURS_ALARM], self.encode_hour((tod / 3600) as u8)),
        ];
        fields
            .iter()
            .all(|&(alarm, now)| alarm & 0xc0 == 0xc0 || alarm == now)
    }

    /// Turns the update cycles and periodic ticks up to `now` into flags,
    /// brings the time registers up to date and drives IRQ8.
    fn catch_up(&mut self, now: i128) {
        let k = self.update_index(now);
        if k > self.state.last_update {
            if self.time_running() {
                self.state.cmos[REG_C] |= C_UF;
                // Only the last day of missed updates can match an alarm
                // that has not matched already.
                let first = (self.state.last_update + 1).max(k - 86_399);
                let base = self.state.secs - self.state.secs_index;
                if self.state.cmos[REG_C] & C_AF == 0
                    && (first..=k).any(|i| self.alarm_matches(base.saturating_add(i)))
                {
                    self.state.cmos[REG_C] |= C_AF;
                }
            }
            self.state.last_update = k;
        }
        if let Some(cycles) = self.period_cycles() {
            let m = self.periodic_index(now, cycles);
            if m > self.state.last_periodic && self.divider_running() {
                self.state.cmos[REG_C] |= C_PF;
            }
            self.state.last_periodic = m;
        }
        if self.time_running() {
            self.sync_registers(now);
        }
        self.update_irq();
    }

    /// IRQF is set while an enabled flag is; IRQ8 follows it.
    fn update_irq(&mut self) {
        let c = self.state.cmos[REG_C];
        let irqf = c & self.state.cmos[REG_B] & (C_PF | C_AF | C_UF) != 0;
        self.state.cmos[REG_C] = c & !C_IRQF | if irqf { C_IRQF } else { 0 };
        self.irq.set_level(irqf);
    }

    /// Applies a change to register A or B, keeping the time: what the
    /// clock showed stays, or, if the change starts the clock, what the
    /// registers say.
    fn change_control(&mut self, now: i128, change: impl FnOnce(&mut Self)) {
        let was_running = self.time_running();
        let secs_now = self.current_secs(now);
        change(self);
        self.state.secs = if !was_running && self.time_running() {
            self.parse_registers()
        } else {
            secs_now
        };
        self.state.secs_index = self.update_index(now);
        self.rebase(now);
        if self.time_running() {
            self.sync_registers(now);
        }
        self.update_irq();
    }

    /// When IRQ8 may next rise, counted from the last catch-up (an overdue
    /// event gives a deadline in the past). None while IRQF is already set:
    /// nothing can change the line until the guest reads register C.
    pub fn next_deadline_ns(&self) -> Option<u64> {
        let c = self.state.cmos[REG_C];
        let b = self.state.cmos[REG_B];
        if c & C_IRQF != 0 {
            return None;
        }
        let origin = self.state.origin_ns;
        let mut next: Option<i128> = None;
        if let Some(cycles) = self.period_cycles() {
            if b & B_PIE != 0 && self.divider_running() {
                let tick = (self.state.last_periodic as i128 + 1) * cycles * NS_PER_SEC;
                next = Some(origin + (tick + TIME_BASE_HZ - 1).div_euclid(TIME_BASE_HZ));
            }
        }
        if b & (B_UIE | B_AIE) != 0 && self.time_running() {
            let update = origin + (self.state.last_update as i128 + 1) * NS_PER_SEC;
            next = Some(next.map_or(update, |n| n.min(update)));
        }
        next.map(|t| t.clamp(0, u64::MAX as i128) as u64)
    }

    /// Catches the flags and IRQ8 up with the clock.
    pub fn advance(&mut self) {
        let now = self.now();
        self.catch_up(now);
    }

    fn read_register(&mut self, reg: usize) -> u8 {
        let now = self.now();
        self.catch_up(now);
        match reg {
            REG_A => {
                let phase = (now - self.state.origin_ns).rem_euclid(NS_PER_SEC);
                let uip = self.time_running() && phase >= NS_PER_SEC - UIP_LEAD_NS;
                self.state.cmos[REG_A] | if uip { A_UIP } else { 0 }
            }
            REG_C => {
                let c = self.state.cmos[REG_C];
                self.state.cmos[REG_C] = 0;
                self.irq.lower();
                c
            }
            REG_D => D_VRT,
            _ => self.state.cmos[reg],
        }
    }

    fn write_register(&mut self, reg: usize, value: u8) {
        let now = self.now();
        self.catch_up(now);
        match reg {
            REG_SECONDS | REG_MINUTES | REG_HOURS | REG_WEEKDAY | REG_DAY | REG_MONTH
            | REG_YEAR | REG_CENTURY => {
                self.state.cmos[reg] = value;
                if self.time_running() && reg != REG_WEEKDAY {
                    // The new time counts on from here, on the same phase.
                    self.state.secs = self.parse_registers();
                    self.state.secs_index = self.update_index(now);
                    self.sync_registers(now);
                }
            }
            REG_A => self.change_control(now, |rtc| {
                let was_reset = !rtc.divider_running();
                rtc.state.cmos[REG_A] = value & !A_UIP;
                if was_reset && rtc.divider_running() {
                    // Leaving reset: the first update is 500 ms later.
                    rtc.state.origin_ns = now - NS_PER_SEC / 2;
                }
            }),
            REG_B => self.change_control(now, |rtc| {
                // Setting SET aborts updates and clears UIE.
                let value = if value & B_SET != 0 {
                    value & !B_UIE
                } else {
                    value
                };
                rtc.state.cmos[REG_B] = value;
            }),
            REG_C | REG_D => {} // read-only
            _ => self.state.cmos[reg] = value,
        }
    }

    fn read_port(&mut self, port: u16) -> u8 {
        match port {
            // The index register is write-only.
            0 => 0xff,
            _ => self.read_register(self.state.index as usize),
        }
    }

    fn write_port(&mut self, port: u16, value: u8) {
        match port {
            0 => {
                self.state.index = value & 0x7f;
                self.state.nmi_masked = value & 0x80 != 0;
            }
            _ => self.write_register(self.state.index as usize, value),
        }
    }
}

impl PortDevice for Mc146818 {
    fn read(&mut self, offset: u16, size: u8) -> u32 {
        split_read(offset, size, |off| {
            if off < 2 {
                self.read_port(off)
            } else {
                0xff
            }
        })
    }

    fn write(&mut self, offset: u16, size: u8, value: u32) {
        split_write(offset, size, value, |off, byte| {
            if off < 2 {
                self.write_port(off, byte);
            }
        });
    }
}

/// Puts the RTC on the bus at 0x70-0x71.
pub fn register_rtc(bus: &mut PortBus, rtc: &SharedRtc) -> Result<(), OverlapError> {
    bus.register(RTC_BASE, 2, Box::new(rtc.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::irq::{IrqLines, SharedIrqLines};
    use crate::machine::clock::VirtualClock;
    use std::time::Duration;

    /// 2024-02-29 23:59:58 UTC, a Thursday.
    const LEAP_DAY_EVENING: u64 = 1_709_251_198;

    struct Rig {
        bus: PortBus,
        rtc: SharedRtc,
        clock: Clock,
        lines: SharedIrqLines,
    }

    impl Rig {
        /// An RTC started at `secs` (+ `nanos`) since 1970 at clock time 0.
        fn at(secs: u64, nanos: u32) -> Self {
            let clock = VirtualClock::deterministic();
            let lines = IrqLines::new();
            let start = UNIX_EPOCH + Duration::new(secs, nanos);
            let rtc = Mc146818::with_start_time(clock.clone(), lines.line(8), start);
            let rtc: SharedRtc = Arc::new(Mutex::new(rtc));
            let mut bus = PortBus::default();
            register_rtc(&mut bus, &rtc).unwrap();
            Rig {
                bus,
                rtc,
                clock,
                lines,
            }
        }

        fn set_ns(&self, ns: u64) {
            self.clock.set_icount(ns);
        }

        fn reg(&mut self, index: u8) -> u8 {
            self.bus.write(0x70, 1, index as u32);
            self.bus.read(0x71, 1) as u8
        }

        fn set_reg(&mut self, index: u8, value: u8) {
            self.bus.write(0x70, 1, index as u32);
            self.bus.write(0x71, 1, value as u32);
        }

        fn time(&mut self) -> [u8; 8] {
            [0x32, 0x09, 0x08, 0x07, 0x06, 0x04, 0x02, 0x00].map(|r| self.reg(r))
        }

        fn deadline(&self) -> Option<u64> {
            self.rtc.lock().unwrap().next_deadline_ns()
        }

        fn advance(&self) {
            self.rtc.lock().unwrap().advance();
        }

        fn irq8(&self) -> bool {
            self.lines.levels() & (1 << 8) != 0
        }
    }

    #[test]
    fn starts_at_the_given_time_in_bcd_24h() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        // century, year, month, day, weekday, hours, minutes, seconds
        assert_eq!(rig.time(), [0x20, 0x24, 0x02, 0x29, 5, 0x23, 0x59, 0x58]);
        assert_eq!(rig.reg(0x0a), 0x26);
        assert_eq!(rig.reg(0x0b), 0x02);
        assert_eq!(rig.reg(0x0d), 0x80);
    }

    #[test]
    fn host_time_constructor_shows_a_plausible_year() {
        let clock = VirtualClock::deterministic();
        let lines = IrqLines::new();
        let rtc: SharedRtc = Arc::new(Mutex::new(Mc146818::new(clock, lines.line(8))));
        let mut bus = PortBus::default();
        register_rtc(&mut bus, &rtc).unwrap();
        bus.write(0x70, 1, 0x32);
        assert!(bus.read(0x71, 1) >= 0x20);
    }

    #[test]
    fn time_advances_with_the_virtual_clock_across_month_end() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        rig.set_ns(999_999_999);
        assert_eq!(rig.reg(0x00), 0x58);
        rig.set_ns(1_000_000_000);
        assert_eq!(rig.reg(0x00), 0x59);
        rig.set_ns(2_000_000_000);
        assert_eq!(rig.time(), [0x20, 0x24, 0x03, 0x01, 6, 0x00, 0x00, 0x00]);
        rig.set_ns(86_400 * 1_000_000_000 + 2_000_000_000);
        assert_eq!(rig.time(), [0x20, 0x24, 0x03, 0x02, 7, 0x00, 0x00, 0x00]);
    }

    #[test]
    fn century_rolls_over() {
        // 2099-12-31 23:59:59
        let mut rig = Rig::at(4_102_444_799, 0);
        rig.set_ns(1_000_000_000);
        assert_eq!(rig.time(), [0x21, 0x00, 0x01, 0x01, 6, 0x00, 0x00, 0x00]);
    }

    #[test]
    fn binary_and_12_hour_formats() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        rig.set_reg(0x0b, 0x04); // binary, 12-hour
        assert_eq!(rig.time(), [20, 24, 2, 29, 5, 0x80 | 11, 59, 58]);
        rig.set_ns(2_000_000_000);
        assert_eq!(rig.reg(0x04), 12, "midnight is 12 AM");
        rig.set_reg(0x0b, 0x00); // BCD, 12-hour
        rig.set_ns(43_202_000_000_000);
        assert_eq!(rig.reg(0x04), 0x80 | 0x12, "noon is 12 PM");
    }

    #[test]
    fn set_freezes_the_clock_and_release_starts_from_the_registers() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        rig.set_reg(0x0b, 0x82);
        rig.set_reg(0x00, 0x00);
        rig.set_reg(0x02, 0x30);
        rig.set_reg(0x04, 0x12);
        rig.set_reg(0x07, 0x15);
        rig.set_reg(0x08, 0x06);
        rig.set_reg(0x09, 0x01);
        rig.set_reg(0x32, 0x20);
        rig.set_ns(5_000_000_000);
        assert_eq!(rig.reg(0x00), 0x00, "no updates while SET");
        assert_eq!(rig.reg(0x0a) & 0x80, 0, "no UIP while SET");
        rig.set_ns(5_100_000_000);
        rig.set_reg(0x0b, 0x02);
        // 2001-06-15 was a Friday.
        assert_eq!(rig.time(), [0x20, 0x01, 0x06, 0x15, 6, 0x12, 0x30, 0x00]);
        rig.set_ns(6_000_000_000);
        assert_eq!(rig.reg(0x00), 0x01, "updates keep the divider's phase");
    }

    #[test]
    fn set_clears_uie() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        rig.set_reg(0x0b, 0x92);
        assert_eq!(rig.reg(0x0b), 0x82);
    }

    #[test]
    fn writing_a_running_clock_keeps_the_phase() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        rig.set_ns(400_000_000);
        rig.set_reg(0x02, 0x10);
        assert_eq!(rig.reg(0x02), 0x10);
        assert_eq!(rig.reg(0x00), 0x58);
        rig.set_ns(1_000_000_000);
        assert_eq!(rig.reg(0x00), 0x59);
        assert_eq!(rig.reg(0x04), 0x23);
    }

    #[test]
    fn invalid_time_values_are_clamped_not_trusted() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        rig.set_reg(0x04, 0x99);
        rig.set_reg(0x08, 0xff);
        assert_eq!(rig.reg(0x04), 0x23);
        assert_eq!(rig.reg(0x08), 0x12);
        rig.set_reg(0x07, 0x31);
        rig.set_reg(0x08, 0x02);
        assert_eq!(
            (rig.reg(0x08), rig.reg(0x07)),
            (0x03, 0x02),
            "31 Feb 2024 rolls over"
        );
    }

    #[test]
    fn uip_rises_244us_before_each_update() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        rig.set_ns(999_755_000);
        assert_eq!(rig.reg(0x0a), 0x26);
        rig.set_ns(999_757_000);
        assert_eq!(rig.reg(0x0a), 0xa6);
        assert_eq!(rig.reg(0x00), 0x58, "registers hold the old second");
        rig.set_ns(1_000_000_000);
        assert_eq!(rig.reg(0x0a), 0x26);
        assert_eq!(rig.reg(0x00), 0x59);
        rig.set_reg(0x0a, 0xa6);
        assert_eq!(rig.reg(0x0a), 0x26, "UIP is read-only");
    }

    #[test]
    fn periodic_interrupt_at_the_rate_select_frequency() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        assert_eq!(rig.deadline(), None, "PIE off");
        rig.set_reg(0x0b, 0x42);
        assert_eq!(rig.deadline(), Some(976_563), "1024 Hz");
        rig.set_ns(976_562);
        rig.advance();
        assert!(!rig.irq8());
        rig.set_ns(976_563);
        rig.advance();
        assert!(rig.irq8());
        assert_eq!(rig.lines.take_edges(), 1 << 8);
        assert_eq!(
            rig.deadline(),
            None,
            "IRQF set: nothing new until C is read"
        );
        assert_eq!(rig.reg(0x0c), 0xc0);
        assert!(!rig.irq8());
        assert_eq!(rig.reg(0x0c), 0x00, "read clears");
        assert_eq!(rig.deadline(), Some(1_953_125));
        // Rate 3 is 8192 Hz; rates 1 and 2 repeat 8 and 9.
        rig.set_reg(0x0a, 0x23);
        let d = rig.deadline().unwrap();
        assert!(d > 976_563 && d <= 976_563 + 122_071, "{d}");
        rig.set_reg(0x0a, 0x21);
        let d = rig.deadline().unwrap() - 976_563;
        assert!(d <= 3_906_250, "{d}");
        rig.set_reg(0x0a, 0x20);
        assert_eq!(rig.deadline(), None, "rate 0: no periodic interrupt");
    }

    #[test]
    fn flags_set_without_their_enables_raise_no_irq() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        rig.set_reg(0x05, 0x12);
        rig.set_ns(1_500_000_000);
        rig.advance();
        assert!(!rig.irq8());
        assert_eq!(rig.reg(0x0c), 0x50, "PF and UF, no IRQF");
        // Enabling a flag that is already set raises IRQ8 at once.
        rig.set_ns(2_500_000_000);
        rig.advance();
        rig.set_reg(0x0b, 0x12);
        assert!(rig.irq8());
        assert_eq!(rig.reg(0x0c), 0xd0);
    }

    #[test]
    fn update_ended_interrupt_once_per_second() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 250_000_000);
        rig.set_reg(0x0a, 0x20); // no periodic flag
        rig.set_reg(0x05, 0x12); // an alarm that will not match
        rig.set_reg(0x0b, 0x12);
        let mut updates = vec![];
        while let Some(d) = rig.deadline() {
            if d > 5_000_000_000 {
                break;
            }
            rig.set_ns(d);
            rig.advance();
            if rig.lines.take_edges() & (1 << 8) != 0 {
                updates.push((d, rig.reg(0x0c)));
            }
        }
        let expected: Vec<(u64, u8)> = (0..5)
            .map(|i| (750_000_000 + i * 1_000_000_000, 0x90))
            .collect();
        assert_eq!(updates, expected);
    }

    #[test]
    fn alarm_with_exact_and_dont_care_fields() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        rig.set_reg(0x0a, 0x20);
        rig.set_reg(0x01, 0x05);
        rig.set_reg(0x03, 0x00);
        rig.set_reg(0x05, 0xc0); // any hour
        rig.set_reg(0x0b, 0x22);
        rig.set_ns(6_000_000_000);
        rig.advance();
        assert!(!rig.irq8(), "00:00:04");
        rig.set_ns(7_000_000_000);
        rig.advance();
        assert!(rig.irq8(), "00:00:05");
        assert_eq!(rig.reg(0x0c) & 0xa0, 0xa0);
        // All don't care: every second.
        rig.set_reg(0x01, 0xff);
        rig.set_reg(0x03, 0xff);
        rig.set_ns(8_000_000_000);
        rig.advance();
        assert_eq!(rig.reg(0x0c), 0xb0);
    }

    #[test]
    fn missed_alarm_is_still_flagged_after_a_long_busy_spell() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        rig.set_reg(0x01, 0x30);
        rig.set_reg(0x03, 0x00);
        rig.set_reg(0x05, 0x00);
        rig.set_ns(3600 * 1_000_000_000);
        assert_eq!(rig.reg(0x0c), 0x70, "00:00:30 went by");
    }

    #[test]
    fn divider_reset_stops_time_and_release_updates_half_a_second_later() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        rig.set_ns(100_000_000);
        assert_eq!(rig.reg(0x0c), 0x40, "periodic flag before the reset");
        rig.set_reg(0x0a, 0x66);
        rig.set_ns(10_000_000_000);
        assert_eq!(rig.reg(0x00), 0x58);
        assert_eq!(rig.reg(0x0c) & 0x50, 0, "no updates, no periodic flag");
        rig.set_reg(0x0a, 0x26);
        rig.set_ns(10_499_999_999);
        assert_eq!(rig.reg(0x00), 0x58);
        rig.set_ns(10_500_000_000);
        assert_eq!(rig.reg(0x00), 0x59);
    }

    #[test]
    fn registers_c_and_d_are_read_only() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        rig.set_reg(0x0c, 0xff);
        rig.set_reg(0x0d, 0x00);
        assert_eq!(rig.reg(0x0c), 0);
        assert_eq!(rig.reg(0x0d), 0x80);
    }

    #[test]
    fn nvram_and_index_register() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        for i in 0x0e..0x80u8 {
            if i != 0x32 {
                rig.set_reg(i, i ^ 0x5a);
            }
        }
        for i in 0x0e..0x80u8 {
            if i != 0x32 {
                assert_eq!(rig.reg(i), i ^ 0x5a);
            }
        }
        rig.bus.write(0x70, 1, 0x8f);
        assert!(rig.rtc.lock().unwrap().nmi_masked());
        assert_eq!(rig.bus.read(0x71, 1), 0x0f ^ 0x5a, "bit 7 is not index");
        assert_eq!(rig.bus.read(0x70, 1), 0xff, "index is write-only");
        rig.bus.write(0x70, 1, 0x0f);
        assert!(!rig.rtc.lock().unwrap().nmi_masked());
        // A word write sets the index and writes the data port.
        rig.bus.write(0x70, 2, 0x4220);
        assert_eq!(rig.reg(0x20), 0x42);
    }

    #[test]
    fn memory_size_fields_and_checksum() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 0);
        let word = |rig: &mut Rig, at: u8| rig.reg(at) as u32 | (rig.reg(at + 1) as u32) << 8;
        let check = |rig: &mut Rig| {
            let sum: u32 = (0x10..=0x2d).map(|r| rig.reg(r) as u32).sum();
            assert_eq!(
                rig.reg(0x2e) as u32 * 256 + rig.reg(0x2f) as u32,
                sum & 0xffff
            );
        };
        rig.rtc.lock().unwrap().set_memory_size(8 << 20);
        assert_eq!(word(&mut rig, 0x15), 640);
        assert_eq!(word(&mut rig, 0x17), 7 * 1024);
        assert_eq!(word(&mut rig, 0x30), 7 * 1024);
        assert_eq!(word(&mut rig, 0x34), 0);
        check(&mut rig);

        rig.rtc.lock().unwrap().set_memory_size(128 << 20);
        assert_eq!(word(&mut rig, 0x17), 0xffff, "capped");
        assert_eq!(word(&mut rig, 0x34), (112 << 20) / 65536);
        assert_eq!([rig.reg(0x5b), rig.reg(0x5c), rig.reg(0x5d)], [0, 0, 0]);
        check(&mut rig);

        rig.rtc.lock().unwrap().set_memory_size(6 << 30);
        assert_eq!(word(&mut rig, 0x34), 0xff00);
        assert_eq!(
            [rig.reg(0x5b), rig.reg(0x5c), rig.reg(0x5d)],
            [0x00, 0x80, 0x00]
        );
        check(&mut rig);

        rig.rtc.lock().unwrap().set_memory_layout(3 << 30, 1 << 39);
        assert_eq!(word(&mut rig, 0x34), ((3u32 << 30) - (16 << 20)) / 65536);
        assert_eq!(
            [rig.reg(0x5b), rig.reg(0x5c), rig.reg(0x5d)],
            [0x00, 0x00, 0x80]
        );
        rig.rtc.lock().unwrap().set_memory_layout(3 << 30, 1 << 40);
        assert_eq!(
            [rig.reg(0x5b), rig.reg(0x5c), rig.reg(0x5d)],
            [0xff, 0xff, 0xff]
        );

        rig.rtc.lock().unwrap().set_memory_size(512 << 10);
        assert_eq!(word(&mut rig, 0x15), 512);
        assert_eq!(word(&mut rig, 0x17), 0);
    }

    #[test]
    fn dates_round_trip() {
        for days in (-800_000..3_000_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn random_port_traffic_never_panics() {
        let mut rig = Rig::at(LEAP_DAY_EVENING, 123);
        let mut x: u64 = 0xd1b5_4a32_d192_ed03;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut now = 0u64;
        for _ in 0..100_000 {
            let r = next();
            let port = 0x70 + (r & 3) as u16;
            let size = [1u8, 2, 4, 1][(r >> 2 & 3) as usize];
            match r >> 4 & 7 {
                0 | 1 => rig.bus.write(port, size, (r >> 16) as u32),
                2 => rig.bus.write(0x70, 1, (r >> 16) as u32 & 0x8f),
                3 | 4 => {
                    rig.bus.read(port, size);
                }
                5 => {
                    now += if r >> 40 & 0xff == 0 {
                        r >> 24
                    } else {
                        r >> 44
                    };
                    rig.set_ns(now);
                }
                6 => rig.advance(),
                _ => {
                    if let Some(d) = rig.deadline() {
                        now = now.max(d.min(now + (1 << 40)));
                        rig.set_ns(now);
                        rig.advance();
                    }
                }
            }
        }
    }
}

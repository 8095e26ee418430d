//! The Intel 8254 programmable interval timer at 0x40-0x43, and System
//! Control Port B at 0x61 (channel 2's gate, the speaker data bit, the
//! refresh toggle and channel 2's output).
//!
//! The counters are not stepped: each channel remembers when it started
//! counting, and its count and OUT level at any moment are computed from the
//! virtual clock (1.193182 MHz input, `now_ns` scaled), as the datasheet
//! (Intel 231164, "Mode Definitions") describes each mode. Channel 0's OUT
//! drives IRQ0. Simplifications, none visible to the guests we know:
//! - A count is taken at the write, not at the next CLK edge; the status
//!   byte's NULL COUNT still reads 1 until that edge.
//! - Mode 3 with an odd count reads back the even values the datasheet gives
//!   for the first half-cycle in both halves.
//! - Counts 1 in modes 2 and 3 are illegal on the chip; here OUT stays high.
//!
//! # Timing
//!
//! The run loop asks [`Pit8254::next_deadline_ns`] when channel 0's OUT
//! next changes, and calls [`Pit8254::advance`] when the clock has passed
//! it. `advance` sets IRQ0 to OUT's level and, if OUT rose at least once since
//! the last look, gives the line one rising edge: a machine that was busy for
//! a long time sees one timer interrupt, not one per missed period, as a PC
//! whose CPU masked interrupts for that long would (the PIC holds one request
//! per line). Port accesses catch up the same way before they act.

use super::bus::{split_read, split_write, OverlapError, PortBus, PortDevice};
use super::irq::IrqLine;
use crate::machine::clock::Clock;
use std::sync::{Arc, Mutex};

/// Counter 0-2 data ports and the control word register.
pub const PIT_BASE: u16 = 0x40;
/// System Control Port B.
pub const PORT_B: u16 = 0x61;
/// The PIT's input clock: a third of the PC's 3.579545 MHz colour burst.
pub const PIT_FREQUENCY_HZ: u64 = 1_193_182;
/// Port B bit 4 toggles with each DRAM refresh request, every 15.085 µs.
const REFRESH_PERIOD_NS: u64 = 15_085;

fn ns_to_ticks(ns: u64) -> u64 {
    (ns as u128 * PIT_FREQUENCY_HZ as u128 / 1_000_000_000) as u64
}

/// The first nanosecond at which `ns_to_ticks` reaches `ticks`.
fn ticks_to_ns(ticks: u64) -> u64 {
    let ns = (ticks as u128 * 1_000_000_000).div_ceil(PIT_FREQUENCY_HZ as u128);
    ns.min(u64::MAX as u128) as u64
}

fn from_bcd(v: u16) -> u32 {
    // Digits above 9 are not BCD; the chip's decade counters would take
    // them anyway, so weigh them like digits rather than refuse them.
    (0..4).fold(0, |acc, i| {
        acc + ((v >> (4 * i)) & 0xf) as u32 * 10u32.pow(i)
    })
}

fn to_bcd(v: u32) -> u16 {
    let v = v % 10_000;
    (0..4).fold(0, |acc, i| {
        acc | (((v / 10u32.pow(i)) % 10) as u16) << (4 * i)
    })
}

/// Where a counter is in its mode's cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// A control word was written and no count yet (or, in mode 0, only the
    /// first byte of a two-byte count): not counting.
    Unloaded,
    /// A count is in the count register; waiting for a gate rising edge
    /// (modes 1 and 5, and modes 2 and 3 while the gate is low).
    WaitTrigger,
    /// Counting since tick `start`.
    Running { start: u64 },
    /// Modes 0 and 4 with the gate low: counting suspended `elapsed` ticks
    /// after the count was loaded.
    Suspended { elapsed: u64 },
}

/// One of the 8254's three counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PitChannel {
    /// Bits 5-0 of the last control word: RW1 RW0 M2 M1 M0 BCD.
    control: u8,
    /// The count register (CR) as last written, 0 meaning the maximum.
    cr: u32,
    /// The count the counting element is working through.
    count: u32,
    phase: Phase,
    /// Modes 2 and 3: a count written while counting takes over at the
    /// end of the current period (tick, count).
    reload: Option<(u64, u32)>,
    gate: bool,
    /// NULL COUNT reads 1 before this tick (u64::MAX: until a trigger).
    null_until: Option<u64>,
    /// Two-byte count writes: the LSB was written, the MSB comes next.
    write_msb_next: bool,
    write_lsb: u8,
    /// Two-byte live reads: the LSB was read, the MSB comes next.
    read_msb_next: bool,
    latched_count: Option<u16>,
    latch_msb_next: bool,
    latched_status: Option<u8>,
}

impl PitChannel {
    fn new(gate: bool) -> Self {
        PitChannel {
            // Power-on state is undefined: call it mode 0, LSB then MSB,
            // with no count, so OUT is low and nothing fires until the
            // firmware programs the counter.
            control: 0x30,
            cr: 0,
            count: 0x10000,
            phase: Phase::Unloaded,
            reload: None,
            gate,
            null_until: Some(u64::MAX),
            write_msb_next: false,
            write_lsb: 0,
            read_msb_next: false,
            latched_count: None,
            latch_msb_next: false,
            latched_status: None,
        }
    }

    fn mode(&self) -> u8 {
        match (self.control >> 1) & 7 {
            6 => 2,
            7 => 3,
            m => m,
        }
    }

    fn access(&self) -> u8 {
        (self.control >> 4) & 3
    }

    fn bcd(&self) -> bool {
        self.control & 1 != 0
    }

    fn modulus(&self) -> u32 {
        if self.bcd() {
            10_000
        } else {
            0x10000
        }
    }

    /// Applies a pending mode 2/3 reload whose period boundary has come.
    fn settle(&mut self, now: u64) {
        if let Some((at, count)) = self.reload {
            if now >= at {
                self.count = count;
                self.phase = Phase::Running { start: at };
                self.reload = None;
            }
        }
    }

    /// OUT after `d` ticks of counting.
    fn out_running(&self, d: u64) -> bool {
        let n = self.count as u64;
        match self.mode() {
            0 | 1 => d >= n,
            2 => n < 2 || d % n != n - 1,
            3 => n < 2 || d % n < n.div_ceil(2),
            _ => d != n,
        }
    }

    fn out_at(&self, now: u64) -> bool {
        match self.phase {
            Phase::Unloaded => self.mode() != 0,
            Phase::WaitTrigger => true,
            Phase::Suspended { elapsed } => self.out_running(elapsed),
            Phase::Running { start } => self.out_running(now.saturating_sub(start)),
        }
    }

    /// Ticks of counting after which OUT next changes, given `d` so far.
    fn next_change_running(&self, d: u64) -> Option<u64> {
        let n = self.count as u64;
        match self.mode() {
            0 | 1 => (d < n).then_some(n),
            2 | 3 if n < 2 => None,
            2 => {
                let base = d - d % n;
                Some(if d % n < n - 1 {
                    base + n - 1
                } else {
                    base + n
                })
            }
            3 => {
                let base = d - d % n;
                let high = n.div_ceil(2);
                Some(if d % n < high { base + high } else { base + n })
            }
            _ => match d.cmp(&n) {
                std::cmp::Ordering::Less => Some(n),
                std::cmp::Ordering::Equal => Some(n + 1),
                std::cmp::Ordering::Greater => None,
            },
        }
    }

    /// The tick after `t` at which OUT next changes.
    fn next_change(&self, t: u64) -> Option<u64> {
        let Phase::Running { start } = self.phase else {
            return None;
        };
        let d = t.saturating_sub(start);
        self.next_change_running(d).map(|c| start + c)
    }

    /// Whether OUT rose at some tick in (t0, t1].
    fn rose_between(&self, t0: u64, t1: u64) -> bool {
        if let Some((at, _)) = self.reload {
            // A period boundary: OUT goes (or stays) high there.
            if at > t0 && at <= t1 {
                return true;
            }
        }
        let Phase::Running { start } = self.phase else {
            return false;
        };
        let n = self.count as u64;
        let d0 = t0.saturating_sub(start);
        let d1 = t1.saturating_sub(start);
        let first_rise_after_d0 = match self.mode() {
            0 | 1 => (d0 < n).then_some(n),
            2 | 3 if n < 2 => None,
            2 | 3 => Some(d0 - d0 % n + n),
            _ => (d0 <= n).then_some(n + 1),
        };
        first_rise_after_d0.is_some_and(|r| r <= d1)
    }

    /// The count as the counting element holds it (binary), after `d` ticks.
    fn value_running(&self, d: u64) -> u32 {
        let n = self.count as u64;
        let m = self.modulus() as u64;
        let v = match self.mode() {
            2 => n - d % n.max(1),
            3 if n >= 2 => {
                let p = d % n;
                let high = n.div_ceil(2);
                let i = if p < high { p } else { p - high };
                (n & !1) - 2 * i
            }
            3 => n,
            _ => (n % m + m - d % m) % m,
        };
        (v % m) as u32
    }

    /// The counter as a read would see it at tick `now`, in its format.
    fn counter_at(&self, now: u64) -> u16 {
        let v = match self.phase {
            Phase::Unloaded | Phase::WaitTrigger => self.count % self.modulus(),
            Phase::Suspended { elapsed } => self.value_running(elapsed),
            Phase::Running { start } => self.value_running(now.saturating_sub(start)),
        };
        if self.bcd() {
            to_bcd(v)
        } else {
            v as u16
        }
    }

    fn null_count(&self, now: u64) -> bool {
        self.null_until.is_some_and(|t| now < t)
    }

    fn status(&self, now: u64) -> u8 {
        (self.out_at(now) as u8) << 7 | (self.null_count(now) as u8) << 6 | self.control
    }

    /// Starts counting `count` from tick `now`.
    fn start(&mut self, now: u64, count: u32) {
        self.count = count;
        self.phase = Phase::Running { start: now };
        self.reload = None;
        self.null_until = Some(now + 1);
    }

    /// A complete count arrived in the count register.
    fn load(&mut self, now: u64, raw: u16) {
        let mut count = if self.bcd() {
            from_bcd(raw)
        } else {
            raw as u32
        };
        if count == 0 {
            count = self.modulus();
        }
        self.cr = count;
        match self.mode() {
            0 | 4 => {
                self.start(now, count);
                if !self.gate {
                    self.phase = Phase::Suspended { elapsed: 0 };
                }
            }
            1 | 5 => {
                // Used from the next trigger on.
                if self.phase == Phase::Unloaded {
                    self.phase = Phase::WaitTrigger;
                    self.count = count;
                }
                self.null_until = Some(u64::MAX);
            }
            _ => match self.phase {
                Phase::Running { start } => {
                    // The current period finishes first.
                    let at = match self.reload {
                        Some((at, _)) => at,
                        None => {
                            let n = self.count as u64;
                            let d = now.saturating_sub(start);
                            start + (d / n + 1) * n
                        }
                    };
                    self.reload = Some((at, count));
                    self.null_until = Some(at);
                }
                _ if self.gate => self.start(now, count),
                _ => {
                    self.count = count;
                    self.phase = Phase::WaitTrigger;
                    self.null_until = Some(u64::MAX);
                }
            },
        }
    }

    fn set_gate(&mut self, now: u64, high: bool) {
        let rising = high && !self.gate;
        self.gate = high;
        match (self.mode(), self.phase) {
            (0 | 4, Phase::Running { start }) if !high => {
                self.phase = Phase::Suspended {
                    elapsed: now.saturating_sub(start),
                };
            }
            (0 | 4, Phase::Suspended { elapsed }) if high => {
                self.phase = Phase::Running {
                    start: now.saturating_sub(elapsed),
                };
            }
            (1 | 5, phase) if rising && phase != Phase::Unloaded => self.start(now, self.cr),
            // Gate low in modes 2 and 3 stops the counter with OUT high; the
            // rising edge reloads it.
            (2 | 3, Phase::Running { .. }) if !high => {
                self.phase = Phase::WaitTrigger;
                self.reload = None;
            }
            (2 | 3, Phase::WaitTrigger) if rising => self.start(now, self.cr),
            _ => {}
        }
    }

    fn write_control(&mut self, value: u8) {
        let gate = self.gate;
        *self = PitChannel::new(gate);
        self.control = value & 0x3f;
    }

    fn latch_count(&mut self, now: u64) {
        if self.latched_count.is_none() {
            self.latched_count = Some(self.counter_at(now));
            self.latch_msb_next = false;
        }
    }

    fn latch_status(&mut self, now: u64) {
        if self.latched_status.is_none() {
            self.latched_status = Some(self.status(now));
        }
    }

    fn read(&mut self, now: u64) -> u8 {
        if let Some(status) = self.latched_status.take() {
            return status;
        }
        if let Some(latched) = self.latched_count {
            let [lsb, msb] = latched.to_le_bytes();
            return match self.access() {
                1 => {
                    self.latched_count = None;
                    lsb
                }
                2 => {
                    self.latched_count = None;
                    msb
                }
                _ if !self.latch_msb_next => {
                    self.latch_msb_next = true;
                    lsb
                }
                _ => {
                    self.latched_count = None;
                    self.latch_msb_next = false;
                    msb
                }
            };
        }
        let [lsb, msb] = self.counter_at(now).to_le_bytes();
        match self.access() {
            1 => lsb,
            2 => msb,
            _ => {
                self.read_msb_next = !self.read_msb_next;
                if self.read_msb_next {
                    lsb
                } else {
                    msb
                }
            }
        }
    }

    fn write(&mut self, now: u64, value: u8) {
        match self.access() {
            1 => self.load(now, value as u16),
            2 => self.load(now, (value as u16) << 8),
            _ if !self.write_msb_next => {
                self.write_lsb = value;
                self.write_msb_next = true;
                // Mode 0: the first byte stops the count (and OUT is low).
                if self.mode() == 0 {
                    self.phase = Phase::Unloaded;
                    self.reload = None;
                }
            }
            _ => {
                self.write_msb_next = false;
                self.load(now, u16::from_le_bytes([self.write_lsb, value]));
            }
        }
    }
}

/// Everything of the PIT and port B that a snapshot needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PitState {
    channels: [PitChannel; 3],
    /// Port B bits 0-3 as written: gate 2, speaker data, parity and
    /// channel check enables.
    port_b: u8,
    /// The tick up to which IRQ0 has been brought up to date.
    irq_tick: u64,
}

/// The 8254 and port B, with the clock they count and the IRQ0 line.
pub struct Pit8254 {
    state: PitState,
    clock: Clock,
    irq0: IrqLine,
}

/// The PIT as the machine shares it between the port bus and its run loop.
pub type SharedPit = Arc<Mutex<Pit8254>>;

impl Pit8254 {
    /// A PIT whose channel 0 drives `irq0`. Channels 0 and 1 have their
    /// gates tied high; channel 2's gate is port B bit 0 (initially low).
    pub fn new(clock: Clock, irq0: IrqLine) -> Self {
        let now = ns_to_ticks(clock.now_ns());
        irq0.lower();
        Pit8254 {
            state: PitState {
                channels: [
                    PitChannel::new(true),
                    PitChannel::new(true),
                    PitChannel::new(false),
                ],
                port_b: 0,
                irq_tick: now,
            },
            clock,
            irq0,
        }
    }

    pub fn state(&self) -> &PitState {
        &self.state
    }

    /// Puts back a state taken with [`Pit8254::state`] (on the same clock).
    pub fn restore(&mut self, state: PitState) {
        self.state = state;
        let now = self.now_tick();
        let out = self.state.channels[0].out_at(now);
        self.irq0.set_level(out);
    }

    fn now_tick(&self) -> u64 {
        ns_to_ticks(self.clock.now_ns())
    }

    /// When channel 0's OUT next changes (in clock nanoseconds), counted from
    /// the last catch-up, so an overdue change gives a deadline in the past.
    pub fn next_deadline_ns(&self) -> Option<u64> {
        let ch = &self.state.channels[0];
        let change = ch.next_change(self.state.irq_tick);
        let reload = ch.reload.map(|(at, _)| at);
        let next = match (change, reload) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(ticks_to_ns(next))
    }

    /// Catches IRQ0 up with the clock.
    pub fn advance(&mut self) {
        let now = self.now_tick();
        self.catch_up(now);
    }

    fn catch_up(&mut self, now: u64) {
        let last = self.state.irq_tick;
        let ch0 = &self.state.channels[0];
        let rose = now > last && ch0.rose_between(last, now);
        for ch in &mut self.state.channels {
            ch.settle(now);
        }
        let out = self.state.channels[0].out_at(now);
        if rose {
            // One edge for however many periods went by.
            self.irq0.lower();
            self.irq0.raise();
        }
        self.irq0.set_level(out);
        self.state.irq_tick = self.state.irq_tick.max(now);
    }

    /// After a guest write changed channel 0 at `now`: OUT may have jumped.
    fn sync_irq(&mut self, now: u64) {
        let out = self.state.channels[0].out_at(now);
        self.irq0.set_level(out);
    }

    fn read_port(&mut self, port: u16) -> u8 {
        let now = self.now_tick();
        self.catch_up(now);
        match port {
            0x40..=0x42 => self.state.channels[(port - 0x40) as usize].read(now),
            // The control word register cannot be read: the bus floats.
            0x43 => 0xff,
            PORT_B => {
                let refresh = (self.clock.now_ns() / REFRESH_PERIOD_NS) & 1 != 0;
                let out2 = self.state.channels[2].out_at(now);
                self.state.port_b & 0x0f | (refresh as u8) << 4 | (out2 as u8) << 5
            }
            _ => 0xff,
        }
    }

    fn write_port(&mut self, port: u16, value: u8) {
        let now = self.now_tick();
        self.catch_up(now);
        match port {
            0x40..=0x42 => self.state.channels[(port - 0x40) as usize].write(now, value),
            0x43 => self.write_control(now, value),
            PORT_B => {
                // Bits 4-7 are status: read-only.
                self.state.port_b = value & 0x0f;
                self.state.channels[2].set_gate(now, value & 1 != 0);
            }
            _ => {}
        }
        self.sync_irq(now);
    }

    fn write_control(&mut self, now: u64, value: u8) {
        let select = value >> 6;
        if select == 3 {
            // Read-back: bit 5 clear latches counts, bit 4 clear latches
            // status, bits 1-3 select counters 0-2.
            for (i, ch) in self.state.channels.iter_mut().enumerate() {
                if value & (2 << i) != 0 {
                    if value & 0x20 == 0 {
                        ch.latch_count(now);
                    }
                    if value & 0x10 == 0 {
                        ch.latch_status(now);
                    }
                }
            }
            return;
        }
        let ch = &mut self.state.channels[select as usize];
        if value & 0x30 == 0 {
            ch.latch_count(now);
        } else {
            ch.write_control(value);
        }
    }
}

/// One of the PIT's port windows on the bus.
struct PitPorts {
    pit: SharedPit,
    base: u16,
    len: u16,
}

impl PortDevice for PitPorts {
    fn read(&mut self, offset: u16, size: u8) -> u32 {
        let mut pit = self.pit.lock().unwrap_or_else(|e| e.into_inner());
        split_read(offset, size, |off| {
            if off < self.len {
                pit.read_port(self.base + off)
            } else {
                0xff
            }
        })
    }

    fn write(&mut self, offset: u16, size: u8, value: u32) {
        let mut pit = self.pit.lock().unwrap_or_else(|e| e.into_inner());
        split_write(offset, size, value, |off, byte| {
            if off < self.len {
                pit.write_port(self.base + off, byte);
            }
        });
    }
}

/// Puts the PIT on the bus: counters and control word at 0x40-0x43, port B
/// at 0x61.
pub fn register_pit(bus: &mut PortBus, pit: &SharedPit) -> Result<(), OverlapError> {
    for (base, len) in [(PIT_BASE, 4), (PORT_B, 1)] {
        let ports = PitPorts {
            pit: pit.clone(),
            base,
            len,
        };
        bus.register(base, len, Box::new(ports))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::irq::{IrqLines, SharedIrqLines};
    use crate::machine::clock::VirtualClock;

    struct Rig {
        bus: PortBus,
        pit: SharedPit,
        clock: Clock,
        lines: SharedIrqLines,
    }

    impl Rig {
        fn new() -> Self {
            let clock = VirtualClock::deterministic();
            let lines = IrqLines::new();
            let pit: SharedPit = Arc::new(Mutex::new(Pit8254::new(clock.clone(), lines.line(0))));
            let mut bus = PortBus::default();
            register_pit(&mut bus, &pit).unwrap();
            Rig {
                bus,
                pit,
                clock,
                lines,
            }
        }

        /// Moves the (deterministic, 1 ns per instruction) clock to the
        /// first nanosecond of PIT tick `tick`.
        fn at(&self, tick: u64) {
            self.clock.set_icount(ticks_to_ns(tick));
        }

        fn out(&mut self, port: u16, value: u8) {
            self.bus.write(port, 1, value as u32);
        }

        fn inb(&mut self, port: u16) -> u8 {
            self.bus.read(port, 1) as u8
        }

        /// Control word, then a two-byte count.
        fn program(&mut self, channel: u16, mode: u8, count: u16) {
            self.out(0x43, (channel as u8) << 6 | 0x30 | mode << 1);
            self.out(0x40 + channel, count as u8);
            self.out(0x40 + channel, (count >> 8) as u8);
        }

        fn read16(&mut self, channel: u16) -> u16 {
            let lsb = self.inb(0x40 + channel) as u16;
            lsb | (self.inb(0x40 + channel) as u16) << 8
        }

        fn latched(&mut self, channel: u16) -> u16 {
            self.out(0x43, (channel as u8) << 6);
            self.read16(channel)
        }

        fn status(&mut self, channel: u16) -> u8 {
            self.out(0x43, 0xe0 | 2 << channel);
            self.inb(0x40 + channel)
        }

        fn out2(&mut self) -> bool {
            self.inb(0x61) & 0x20 != 0
        }

        fn deadline(&self) -> Option<u64> {
            self.pit.lock().unwrap().next_deadline_ns()
        }

        fn advance(&self) {
            self.pit.lock().unwrap().advance();
        }

        fn irq0_level(&self) -> bool {
            self.lines.levels() & 1 != 0
        }

        fn irq0_edge(&self) -> bool {
            self.lines.take_edges() & 1 != 0
        }
    }

    #[test]
    fn unprogrammed_counters_stay_quiet() {
        let mut rig = Rig::new();
        assert_eq!(rig.deadline(), None);
        rig.at(1_000_000);
        rig.advance();
        assert!(!rig.irq0_edge());
        assert!(!rig.out2());
    }

    #[test]
    fn mode2_rate_generator_interrupts_once_per_period() {
        let mut rig = Rig::new();
        rig.program(0, 2, 1193); // Linux's LATCH for HZ=1000
        assert!(rig.irq0_level(), "mode 2 OUT starts high");
        rig.lines.take_edges();
        let mut edges = 0;
        let mut lows = 0;
        while let Some(deadline) = rig.deadline() {
            if deadline > ticks_to_ns(10 * 1193) {
                break;
            }
            rig.clock.set_icount(deadline);
            rig.advance();
            edges += rig.irq0_edge() as u32;
            lows += !rig.irq0_level() as u32;
        }
        assert_eq!(edges, 10);
        assert_eq!(lows, 10, "OUT low for one tick before each reload");
    }

    #[test]
    fn counter_reads_follow_the_clock_and_latch_freezes_them() {
        let mut rig = Rig::new();
        rig.program(0, 2, 1000);
        assert_eq!(rig.read16(0), 1000);
        rig.at(250);
        assert_eq!(rig.read16(0), 750);
        rig.at(1250);
        assert_eq!(rig.read16(0), 750, "reloaded after 1000 ticks");
        rig.out(0x43, 0x00);
        rig.at(1300);
        rig.out(0x43, 0x00); // a second latch is ignored
        rig.at(1400);
        assert_eq!(rig.read16(0), 750);
        assert_eq!(rig.read16(0), 600, "latch released after both bytes");
    }

    #[test]
    fn mode0_interrupts_once_at_terminal_count() {
        let mut rig = Rig::new();
        rig.out(0x43, 0x30);
        assert!(!rig.irq0_level(), "mode 0 OUT starts low");
        rig.out(0x40, 100);
        rig.out(0x40, 0);
        assert_eq!(rig.deadline(), Some(ticks_to_ns(100)));
        rig.at(99);
        rig.advance();
        assert!(!rig.irq0_edge());
        rig.at(100);
        rig.advance();
        assert!(rig.irq0_edge());
        assert!(rig.irq0_level(), "OUT stays high");
        assert_eq!(rig.deadline(), None, "one-shot");
        rig.at(105);
        assert_eq!(rig.latched(0), 0xfffb, "the counter wraps and keeps going");
        rig.at(100_000);
        rig.advance();
        assert!(!rig.irq0_edge());
    }

    #[test]
    fn mode0_first_byte_stops_the_count_second_restarts_it() {
        let mut rig = Rig::new();
        rig.program(0, 0, 50);
        rig.at(10);
        rig.out(0x40, 30);
        rig.at(200);
        rig.advance();
        assert!(!rig.irq0_level(), "counting disabled between the two bytes");
        rig.out(0x40, 0);
        assert_eq!(rig.deadline(), Some(ticks_to_ns(230)));
        rig.at(230);
        rig.advance();
        assert!(rig.irq0_edge());
    }

    #[test]
    fn mode0_rewrite_after_terminal_count_lowers_out_again() {
        let mut rig = Rig::new();
        rig.program(0, 0, 10);
        rig.at(20);
        rig.advance();
        assert!(rig.irq0_level());
        rig.out(0x40, 10);
        rig.out(0x40, 0);
        assert!(!rig.irq0_level());
        rig.at(30);
        rig.advance();
        assert!(rig.irq0_level());
    }

    #[test]
    fn mode3_square_wave_on_channel2_through_port_b() {
        let mut rig = Rig::new();
        rig.program(2, 3, 10);
        assert!(rig.out2(), "OUT high, gate low: waiting");
        rig.at(100);
        assert!(rig.out2());
        assert_eq!(rig.latched(2), 10);
        rig.out(0x61, 0x01); // gate up: starts
        let pattern: Vec<bool> = (100..120)
            .map(|t| {
                rig.at(t);
                rig.out2()
            })
            .collect();
        let expected: Vec<bool> = (0..20).map(|d| d % 10 < 5).collect();
        assert_eq!(pattern, expected);
        rig.at(123);
        assert_eq!(rig.latched(2), 4, "counts down by two");
        rig.at(127);
        rig.out(0x61, 0x00); // gate down: OUT forced high, counting stops
        assert!(rig.out2());
        rig.at(500);
        assert!(rig.out2());
    }

    #[test]
    fn mode3_odd_count_is_high_one_tick_longer() {
        let mut rig = Rig::new();
        rig.out(0x61, 0x01);
        rig.program(2, 3, 5);
        let pattern: Vec<bool> = (0..10)
            .map(|t| {
                rig.at(t);
                rig.out2()
            })
            .collect();
        assert_eq!(
            pattern,
            [true, true, true, false, false, true, true, true, false, false]
        );
    }

    #[test]
    fn mode1_is_a_retriggerable_one_shot() {
        let mut rig = Rig::new();
        rig.program(2, 1, 20);
        assert!(rig.out2(), "high until triggered");
        rig.at(50);
        assert!(rig.out2());
        rig.out(0x61, 0x01);
        rig.at(51);
        assert!(!rig.out2());
        rig.at(60);
        rig.out(0x61, 0x00);
        rig.out(0x61, 0x01); // retrigger at 60: runs until 80
        rig.at(75);
        assert!(!rig.out2());
        assert_eq!(rig.latched(2), 5);
        rig.at(80);
        assert!(rig.out2());
        rig.at(90);
        rig.out(0x61, 0x00); // gate level does not matter once triggered
        assert!(rig.out2());
    }

    #[test]
    fn mode4_software_strobe_is_one_tick_low() {
        let mut rig = Rig::new();
        rig.program(0, 4, 30);
        assert!(rig.irq0_level());
        assert!(rig.irq0_edge(), "the control word raised OUT");
        assert_eq!(rig.deadline(), Some(ticks_to_ns(30)));
        rig.at(30);
        rig.advance();
        assert!(!rig.irq0_level());
        assert!(!rig.irq0_edge());
        assert_eq!(rig.deadline(), Some(ticks_to_ns(31)));
        rig.at(31);
        rig.advance();
        assert!(rig.irq0_level());
        assert!(rig.irq0_edge());
        assert_eq!(rig.deadline(), None);
    }

    #[test]
    fn mode5_hardware_strobe_waits_for_the_gate() {
        let mut rig = Rig::new();
        rig.program(2, 5, 8);
        rig.at(100);
        assert!(rig.out2());
        rig.out(0x61, 0x01);
        let lows: Vec<u64> = (100..120)
            .filter(|&t| {
                rig.at(t);
                !rig.out2()
            })
            .collect();
        assert_eq!(lows, [108]);
    }

    #[test]
    fn gate_low_suspends_mode0() {
        let mut rig = Rig::new();
        rig.out(0x61, 0x01);
        rig.program(2, 0, 100);
        rig.at(40);
        rig.out(0x61, 0x00);
        rig.at(1000);
        assert_eq!(rig.latched(2), 60);
        assert!(!rig.out2());
        rig.out(0x61, 0x01);
        rig.at(1059);
        assert!(!rig.out2());
        rig.at(1060);
        assert!(rig.out2());
    }

    #[test]
    fn mode2_new_count_takes_over_at_the_end_of_the_period() {
        let mut rig = Rig::new();
        rig.program(0, 2, 100);
        rig.at(30);
        rig.out(0x40, 50);
        rig.out(0x40, 0);
        assert_eq!(rig.read16(0), 70, "the current period goes on");
        assert_eq!(rig.status(0) & 0x40, 0x40, "null count until the reload");
        rig.at(99);
        rig.advance();
        assert!(!rig.irq0_level());
        rig.lines.take_edges();
        rig.at(100);
        rig.advance();
        assert!(rig.irq0_edge());
        assert_eq!(rig.read16(0), 50);
        assert_eq!(rig.status(0) & 0x40, 0);
        assert_eq!(rig.deadline(), Some(ticks_to_ns(149)));
    }

    #[test]
    fn read_back_latches_status_then_count() {
        let mut rig = Rig::new();
        rig.out(0x43, 0xb4 | 1); // channel 2, lo/hi, mode 2, BCD
        assert_eq!(rig.status(2), 0x40 | 0x80 | 0x35, "OUT high, null count");
        rig.out(0x42, 0x00);
        rig.out(0x42, 0x10); // 1000 BCD
        rig.out(0x61, 1);
        rig.at(1);
        rig.out(0x43, 0xc8); // read back count and status of channel 2
        assert_eq!(rig.inb(0x42), 0x80 | 0x35, "status first, count loaded");
        assert_eq!(rig.read16(2), 0x0999);
        // Status only: the count still reads live.
        rig.at(3);
        rig.out(0x43, 0xe8);
        rig.at(4);
        assert_eq!(rig.inb(0x42), 0xb5);
        assert_eq!(rig.read16(2), 0x0996);
        // Read-back of several counters at once.
        rig.program(0, 0, 10);
        rig.out(0x43, 0xea); // status of 0 and 2
        assert_eq!(rig.inb(0x40) & 0x3f, 0x30);
        assert_eq!(rig.inb(0x42) & 0x3f, 0x35);
    }

    #[test]
    fn byte_access_modes() {
        let mut rig = Rig::new();
        rig.out(0x43, 0x14); // channel 0, LSB only, mode 2
        rig.out(0x40, 0x80);
        rig.at(0x10);
        assert_eq!(rig.inb(0x40), 0x70);
        assert_eq!(rig.inb(0x40), 0x70, "LSB every time");
        rig.out(0x43, 0x24); // MSB only
        rig.out(0x40, 0x02);
        rig.at(0x10 + 0x100);
        assert_eq!(rig.inb(0x40), 0x01);
        rig.out(0x43, 0x00);
        rig.at(0x10 + 0x180);
        assert_eq!(rig.inb(0x40), 0x01, "latched MSB");
        assert_eq!(rig.inb(0x40), 0x00, "then live");
    }

    #[test]
    fn bcd_count_zero_is_ten_thousand() {
        let mut rig = Rig::new();
        rig.out(0x43, 0x31); // mode 0, BCD
        rig.out(0x40, 0);
        rig.out(0x40, 0);
        rig.at(1);
        assert_eq!(rig.latched(0), 0x9999);
        assert_eq!(rig.deadline(), Some(ticks_to_ns(10_000)));
        rig.at(10_001);
        assert_eq!(rig.latched(0), 0x9999, "BCD wraps at 10000");
    }

    #[test]
    fn binary_count_zero_is_65536() {
        let mut rig = Rig::new();
        rig.program(0, 2, 0);
        rig.at(1);
        assert_eq!(rig.latched(0), 0xffff);
        assert_eq!(rig.deadline(), Some(ticks_to_ns(0xffff)));
    }

    #[test]
    fn a_long_busy_spell_gives_one_interrupt() {
        let mut rig = Rig::new();
        rig.program(0, 2, 100);
        rig.lines.take_edges();
        rig.at(1_000_000);
        assert!(rig.deadline().unwrap() < ticks_to_ns(1_000_000), "overdue");
        rig.advance();
        assert!(rig.irq0_edge());
        assert!(!rig.irq0_edge(), "only one");
        let next = rig.deadline().unwrap();
        assert!(next > ticks_to_ns(1_000_000) - 1);
        assert!(next <= ticks_to_ns(1_000_100));
    }

    #[test]
    fn port_b_keeps_low_bits_and_reports_refresh_and_out2() {
        let mut rig = Rig::new();
        rig.out(0x61, 0xfe);
        assert_eq!(rig.inb(0x61) & 0x0f, 0x0e, "bits 4-7 are read-only");
        assert_eq!(rig.inb(0x61) & 0xc0, 0);
        rig.clock.set_icount(0);
        let a = rig.inb(0x61) & 0x10;
        rig.clock.set_icount(REFRESH_PERIOD_NS);
        let b = rig.inb(0x61) & 0x10;
        assert_ne!(a, b, "refresh toggles every 15 µs");
        rig.at(100);
        rig.out(0x61, 0x03);
        rig.program(2, 0, 5);
        assert_eq!(rig.inb(0x61) & 0x20, 0);
        rig.at(105);
        assert_eq!(rig.inb(0x61) & 0x23, 0x23);
    }

    #[test]
    fn wide_and_control_port_reads() {
        let mut rig = Rig::new();
        rig.program(1, 2, 0x1234);
        // A word read at 0x41 is a byte from 0x41 and one from 0x42.
        assert_eq!(rig.bus.read(0x41, 2) & 0xff, 0x34);
        assert_eq!(rig.inb(0x41), 0x12);
        assert_eq!(rig.inb(0x43), 0xff);
        assert_eq!(rig.bus.read(0x43, 2), 0xffff);
    }

    #[test]
    fn random_port_traffic_never_panics() {
        let mut rig = Rig::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const PORTS: [u16; 6] = [0x40, 0x41, 0x42, 0x43, 0x61, 0x43];
        let mut now = 0u64;
        for _ in 0..200_000 {
            let r = next();
            let port = PORTS[(r % 6) as usize];
            let size = [1u8, 2, 4, 0][(r >> 3 & 3) as usize];
            match r >> 5 & 7 {
                0..=2 => rig.bus.write(port, size, (r >> 16) as u32),
                3 | 4 => {
                    rig.bus.read(port, size);
                }
                5 => {
                    // Small steps mostly, sometimes a long busy spell.
                    now += if r >> 40 & 0xff == 0 {
                        r >> 20
                    } else {
                        r >> 52
                    };
                    rig.clock.set_icount(now);
                }
                6 => rig.advance(),
                _ => {
                    if let Some(d) = rig.deadline() {
                        if d > now && d - now < 1 << 32 {
                            now = d;
                            rig.clock.set_icount(now);
                            rig.advance();
                            let after = rig.deadline();
                            assert!(after.is_none_or(|a| a > d), "deadline must move on");
                        }
                    }
                }
            }
        }
    }
}

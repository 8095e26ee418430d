//! A High Precision Event Timer block at 0xFED00000 (IA-PC HPET
//! specification 1.0a): a 64-bit main counter at 14.31818 MHz (period
//! 69.841279 ns) and three comparators, laid out as Intel's ICH does it —
//! timer 0 is 64-bit and periodic-capable, timers 1 and 2 are 32-bit
//! one-shot comparators. FSB (MSI) delivery is not offered.
//!
//! # Registers (spec 2.3)
//!
//! 0x000 capabilities and ID, 0x010 general configuration (ENABLE_CNF,
//! LEG_RT_CNF), 0x020 general interrupt status (write 1 to clear), 0x0F0
//! main counter, and per timer n at 0x100 + 0x20·n its configuration and
//! capabilities, comparator and FSB route. Registers are 64 bits wide and
//! may be accessed as 32-bit halves (or narrower).
//!
//! # Comparators
//!
//! A timer matches when the main counter (its low 32 bits for a 32-bit
//! timer or in 32-bit mode) passes the comparator; a one-shot timer matches
//! again only after the counter wraps. In periodic mode each match adds the
//! period to the comparator (the accumulator); a write to the comparator
//! sets the period, and also the accumulator when Tn_VAL_SET_CNF is set
//! (which the write of the low half then clears) — the sequence Linux uses.
//! After a long busy spell of the host the accumulator is moved past the
//! present with one interrupt, as the PIT and LAPIC timers do.
//!
//! # Interrupts
//!
//! Outputs are driven on an `IrqLines` set of their own, indexed by I/O
//! APIC pin (GSI), because in legacy replacement mode the HPET takes over
//! the PIT's and RTC's inputs: timer 0 drives GSI 2 (the 8259's IRQ0) and
//! timer 1 GSI 8 (IRQ8), and the board must disconnect the PIT and RTC
//! ([`Hpet::legacy_replacement`]). Otherwise each timer drives the pin in
//! Tn_INT_ROUTE_CNF, one of those in its route capability (11 and 20-23). A
//! level-triggered timer sets its status bit on every match (even with its
//! interrupt disabled) and holds its pin while the bit is set, the
//! interrupt enabled and the counter enabled; an edge-triggered one pulses
//! its pin. Clearing ENABLE_CNF halts the counter and drops every output.

use super::bus::MmioDevice;
use super::irq::SharedIrqLines;
use crate::machine::clock::Clock;
use std::sync::{Arc, Mutex};

/// Where the HPET sits (the ACPI HPET table points here).
pub const HPET_BASE: u64 = 0xfed0_0000;
/// The register block.
pub const HPET_SIZE: u64 = 0x400;
/// The main counter's period in femtoseconds (14.31818 MHz).
pub const HPET_PERIOD_FS: u64 = 69_841_279;
/// Comparators in the block.
pub const HPET_TIMERS: usize = 3;
/// I/O APIC pins each timer may be routed to: 11 and 20-23.
pub const HPET_ROUTE_CAP: u32 = 0x00f0_0800;
/// The I/O APIC pins legacy replacement uses for timers 0 and 1.
pub const LEGACY_PINS: [u32; 2] = [2, 8];

const REG_CAPABILITIES: u64 = 0x000;
const REG_CONFIG: u64 = 0x010;
const REG_STATUS: u64 = 0x020;
const REG_COUNTER: u64 = 0x0f0;
const REG_TIMER0: u64 = 0x100;

const CNF_ENABLE: u64 = 1 << 0;
const CNF_LEGACY: u64 = 1 << 1;

const TN_INT_LEVEL: u64 = 1 << 1;
const TN_INT_ENABLE: u64 = 1 << 2;
const TN_PERIODIC: u64 = 1 << 3;
const TN_PERIODIC_CAP: u64 = 1 << 4;
const TN_SIZE_64_CAP: u64 = 1 << 5;
const TN_VAL_SET: u64 = 1 << 6;
const TN_32BIT_MODE: u64 = 1 << 8;
const TN_ROUTE_SHIFT: u32 = 9;
const TN_ROUTE_MASK: u64 = 0x1f << TN_ROUTE_SHIFT;

/// Capabilities: revision 1, NUM_TIM_CAP = 2 (three timers), 64-bit counter,
/// legacy replacement capable, vendor 8086, and the period.
const CAPABILITIES: u64 = (HPET_PERIOD_FS << 32)
    | 0x8086 << 16
    | 1 << 15
    | 1 << 13
    | ((HPET_TIMERS as u64 - 1) << 8)
    | 0x01;

/// One comparator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HpetTimer {
    /// Tn_CONFIG (writable bits and the read-only capabilities).
    config: u64,
    /// The comparator (accumulator in periodic mode).
    comparator: u64,
    /// The period added at each match in periodic mode.
    period: u64,
}

impl HpetTimer {
    fn new(wide: bool, periodic: bool) -> Self {
        let caps = if wide { TN_SIZE_64_CAP } else { 0 }
            | if periodic { TN_PERIODIC_CAP } else { 0 }
            | (HPET_ROUTE_CAP as u64) << 32;
        HpetTimer {
            config: caps,
            comparator: if wide { u64::MAX } else { u32::MAX as u64 },
            period: 0,
        }
    }

    /// Whether it compares 32 bits (a 32-bit timer, or 32-bit mode).
    fn narrow(&self) -> bool {
        self.config & TN_SIZE_64_CAP == 0 || self.config & TN_32BIT_MODE != 0
    }

    fn width_mask(&self) -> u64 {
        if self.narrow() {
            u32::MAX as u64
        } else {
            u64::MAX
        }
    }

    fn periodic(&self) -> bool {
        self.config & TN_PERIODIC != 0
    }

    /// Counter ticks after `from` until the next match (1 ..= 2^width).
    fn ticks_to_match(&self, from: u64) -> u128 {
        let mask = self.width_mask();
        let delta = self.comparator.wrapping_sub(from) & mask;
        if delta == 0 {
            mask as u128 + 1
        } else {
            delta as u128
        }
    }

    /// Writable bits of Tn_CONFIG, given the capabilities.
    fn writable(&self) -> u64 {
        let mut w = TN_INT_LEVEL | TN_INT_ENABLE | TN_VAL_SET | TN_ROUTE_MASK;
        if self.config & TN_PERIODIC_CAP != 0 {
            w |= TN_PERIODIC;
        }
        if self.config & TN_SIZE_64_CAP != 0 {
            w |= TN_32BIT_MODE;
        }
        w
    }
}

/// Everything of the HPET that a snapshot needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HpetState {
    config: u64,
    status: u64,
    /// Main counter value at `base_ns` (while running), or its value
    /// (while halted).
    counter_base: u64,
    base_ns: u64,
    /// The counter value up to which matches have been processed.
    checked: u64,
    timers: [HpetTimer; HPET_TIMERS],
    /// Output pins currently held high by level-triggered timers.
    out_levels: u32,
}

/// The HPET with its clock and its output lines (indexed by GSI).
pub struct Hpet {
    state: HpetState,
    clock: Clock,
    lines: SharedIrqLines,
}

/// The HPET as the machine shares it between the memory map and its run
/// loop.
pub type SharedHpet = Arc<Mutex<Hpet>>;

/// Counter ticks in `ns` nanoseconds (rounded down).
fn ns_to_ticks(ns: u64) -> u128 {
    ns as u128 * 1_000_000 / HPET_PERIOD_FS as u128
}

/// Nanoseconds until `ticks` ticks have passed (rounded up).
fn ticks_to_ns(ticks: u128) -> u128 {
    (ticks * HPET_PERIOD_FS as u128).div_ceil(1_000_000)
}

impl Hpet {
    /// An HPET in its reset state, driving `lines` (bit n = I/O APIC pin n).
    pub fn new(clock: Clock, lines: SharedIrqLines) -> Self {
        let mut hpet = Hpet {
            state: Self::reset_state(),
            clock,
            lines,
        };
        hpet.state.base_ns = hpet.clock.now_ns();
        hpet
    }

    fn reset_state() -> HpetState {
        HpetState {
            config: 0,
            status: 0,
            counter_base: 0,
            base_ns: 0,
            checked: 0,
            timers: [
                HpetTimer::new(true, true),
                HpetTimer::new(false, false),
                HpetTimer::new(false, false),
            ],
            out_levels: 0,
        }
    }

    /// A board reset: counter halted at 0, every timer disabled.
    pub fn reset(&mut self) {
        self.state = Self::reset_state();
        self.state.base_ns = self.clock.now_ns();
        self.sync_outputs();
    }

    pub fn state(&self) -> &HpetState {
        &self.state
    }

    pub fn restore(&mut self, state: HpetState) {
        self.state = state;
        let levels = self.state.out_levels;
        self.state.out_levels = 0;
        for pin in 0..32 {
            if levels & 1 << pin != 0 {
                self.lines.line(pin).raise();
            }
        }
        self.state.out_levels = levels;
    }

    /// Whether LEG_RT_CNF is set: the PIT and RTC must then be cut off
    /// from IRQ0/IRQ8 (and GSI 2/8), which timers 0 and 1 drive instead.
    pub fn legacy_replacement(&self) -> bool {
        self.state.config & CNF_LEGACY != 0
    }

    fn running(&self) -> bool {
        self.state.config & CNF_ENABLE != 0
    }

    /// The main counter at clock time `now`.
    fn counter_at(&self, now: u64) -> u64 {
        if self.running() {
            let elapsed = now.saturating_sub(self.state.base_ns);
            self.state
                .counter_base
                .wrapping_add(ns_to_ticks(elapsed) as u64)
        } else {
            self.state.counter_base
        }
    }

    /// The pin timer `n` drives now.
    fn pin(&self, n: usize) -> u32 {
        if self.legacy_replacement() && n < 2 {
            LEGACY_PINS[n]
        } else {
            ((self.state.timers[n].config & TN_ROUTE_MASK) >> TN_ROUTE_SHIFT) as u32
        }
    }

    /// Drives the level outputs from the status bits and enables.
    fn sync_outputs(&mut self) {
        let mut levels = 0u32;
        if self.running() {
            for n in 0..HPET_TIMERS {
                let t = &self.state.timers[n];
                let want = t.config & TN_INT_LEVEL != 0
                    && t.config & TN_INT_ENABLE != 0
                    && self.state.status & (1 << n) != 0;
                if want {
                    levels |= 1 << self.pin(n);
                }
            }
        }
        let changed = levels ^ self.state.out_levels;
        for pin in 0..32 {
            if changed & (1 << pin) != 0 {
                self.lines.line(pin).set_level(levels & (1 << pin) != 0);
            }
        }
        self.state.out_levels = levels;
    }

    /// Timer `n` matched.
    fn fire(&mut self, n: usize) {
        let config = self.state.timers[n].config;
        if config & TN_INT_LEVEL != 0 {
            self.state.status |= 1 << n;
        } else if config & TN_INT_ENABLE != 0 {
            let pin = self.pin(n);
            let line = self.lines.line(pin);
            if self.state.out_levels & (1 << pin) != 0 {
                // The pin is held by a level timer: it stays high.
                line.raise();
            } else {
                line.pulse();
            }
        }
    }

    /// Processes matches from the last check up to clock time `now`.
    fn catch_up(&mut self, now: u64) {
        if !self.running() {
            return;
        }
        let current = self.counter_at(now);
        let elapsed = current.wrapping_sub(self.state.checked) as u128;
        for n in 0..HPET_TIMERS {
            let t = &self.state.timers[n];
            let first = t.ticks_to_match(self.state.checked);
            if first > elapsed {
                continue;
            }
            self.fire(n);
            let t = &mut self.state.timers[n];
            if t.periodic() && t.period & t.width_mask() != 0 {
                let mask = t.width_mask();
                let period = (t.period & mask) as u128;
                // Matches since the first one: one interrupt for them all,
                // then the accumulator goes past the present.
                let more = (elapsed - first) / period;
                let step = (more + 1) * period;
                t.comparator = (t.comparator as u128 + step) as u64 & mask;
            }
        }
        self.state.checked = current;
        self.sync_outputs();
    }

    /// When the next enabled timer interrupt is due, in clock nanoseconds
    /// (None while halted or with every interrupt disabled).
    pub fn next_deadline_ns(&self) -> Option<u64> {
        if !self.running() {
            return None;
        }
        let since_base = self.state.checked.wrapping_sub(self.state.counter_base) as u128;
        self.state
            .timers
            .iter()
            .filter(|t| t.config & TN_INT_ENABLE != 0)
            .map(|t| {
                let ticks = since_base + t.ticks_to_match(self.state.checked);
                let ns = self.state.base_ns as u128 + ticks_to_ns(ticks);
                ns.min(u64::MAX as u128) as u64
            })
            .min()
    }

    /// Brings the counter's matches up to the clock.
    pub fn advance(&mut self) {
        let now = self.clock.now_ns();
        self.catch_up(now);
    }

    fn read_register(&self, reg: u64, now: u64) -> u64 {
        match reg {
            REG_CAPABILITIES => CAPABILITIES,
            REG_CONFIG => self.state.config,
            REG_STATUS => self.state.status,
            REG_COUNTER => self.counter_at(now),
            // Reserved registers between the general ones and timer 0.
            _ if reg < REG_TIMER0 => 0,
            _ => {
                let n = ((reg - REG_TIMER0) / 0x20) as usize;
                match (n, (reg - REG_TIMER0) % 0x20) {
                    (0..HPET_TIMERS, 0x00) => self.state.timers[n].config,
                    (0..HPET_TIMERS, 0x08) => self.state.timers[n].comparator,
                    _ => 0,
                }
            }
        }
    }

    /// A write of the bytes of `value` selected by `mask` to the 64-bit
    /// register at `reg`.
    fn write_register(&mut self, reg: u64, value: u64, mask: u64, now: u64) {
        let merge = |old: u64| (old & !mask) | (value & mask);
        match reg {
            REG_CONFIG => {
                let old = self.state.config;
                let new = merge(old) & (CNF_ENABLE | CNF_LEGACY);
                if old & CNF_ENABLE != 0 && new & CNF_ENABLE == 0 {
                    self.state.counter_base = self.counter_at(now);
                }
                if old & CNF_ENABLE == 0 && new & CNF_ENABLE != 0 {
                    self.state.base_ns = now;
                    self.state.checked = self.state.counter_base;
                }
                self.state.config = new;
            }
            REG_STATUS => {
                // Write 1 to clear; only level-triggered timers set bits.
                self.state.status &= !(value & mask);
            }
            REG_COUNTER => {
                let counter = merge(self.counter_at(now));
                self.state.counter_base = counter;
                self.state.base_ns = now;
                self.state.checked = counter;
            }
            _ if reg >= REG_TIMER0 => {
                let n = ((reg - REG_TIMER0) / 0x20) as usize;
                if n >= HPET_TIMERS {
                    return;
                }
                match (reg - REG_TIMER0) % 0x20 {
                    0x00 => self.write_timer_config(n, merge(self.state.timers[n].config)),
                    0x08 => self.write_comparator(n, value, mask),
                    _ => {} // FSB route: no FSB delivery
                }
            }
            _ => {}
        }
        self.sync_outputs();
    }

    fn write_timer_config(&mut self, n: usize, value: u64) {
        let t = &mut self.state.timers[n];
        let writable = t.writable();
        let mut new = (t.config & !writable) | (value & writable);
        let route = ((new & TN_ROUTE_MASK) >> TN_ROUTE_SHIFT) as u32;
        if HPET_ROUTE_CAP & (1 << route) == 0 {
            // An unsupported route does not take (spec 2.3.8: it reads
            // back differently from what was written).
            new = (new & !TN_ROUTE_MASK) | (t.config & TN_ROUTE_MASK);
        }
        t.config = new;
        if t.narrow() {
            t.comparator &= u32::MAX as u64;
            t.period &= u32::MAX as u64;
        }
        if new & TN_INT_LEVEL == 0 {
            // Edge mode: the status bit is not used.
            self.state.status &= !(1 << n);
        }
    }

    fn write_comparator(&mut self, n: usize, value: u64, mask: u64) {
        let t = &mut self.state.timers[n];
        let width = t.width_mask();
        let merge = |old: u64| ((old & !mask) | (value & mask)) & width;
        if !t.periodic() || t.config & TN_VAL_SET != 0 {
            t.comparator = merge(t.comparator);
        }
        if t.periodic() {
            t.period = merge(t.period);
        }
        if mask & 0xffff_ffff != 0 {
            t.config &= !TN_VAL_SET;
        }
    }
}

impl MmioDevice for Hpet {
    fn read(&mut self, offset: u64, size: u32) -> u64 {
        let now = self.clock.now_ns();
        self.catch_up(now);
        let shift = 8 * (offset & 7);
        let value = self.read_register(offset & !7, now) >> shift;
        match size {
            1 => value & 0xff,
            2 => value & 0xffff,
            4 => value & 0xffff_ffff,
            _ => value,
        }
    }

    fn write(&mut self, offset: u64, size: u32, value: u64) {
        let now = self.clock.now_ns();
        self.catch_up(now);
        let shift = 8 * (offset & 7) as u32;
        let bytes = match size {
            1 => 0xffu64,
            2 => 0xffff,
            4 => 0xffff_ffff,
            _ => u64::MAX,
        };
        let mask = bytes.checked_shl(shift).unwrap_or(0);
        let value = value.checked_shl(shift).unwrap_or(0);
        self.write_register(offset & !7, value, mask, now);
        // A comparator written into the past, or a newly enabled counter,
        // is handled at the next look.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::bus::MmioBus;
    use crate::devices::irq::IrqLines;
    use crate::machine::clock::VirtualClock;

    struct Rig {
        bus: MmioBus,
        hpet: SharedHpet,
        clock: Clock,
        lines: SharedIrqLines,
    }

    /// Nanoseconds of `ticks` counter ticks, rounded up.
    fn ns(ticks: u64) -> u64 {
        ticks_to_ns(ticks as u128) as u64
    }

    impl Rig {
        fn new() -> Self {
            let clock = VirtualClock::deterministic();
            let lines = IrqLines::new();
            let hpet = Arc::new(Mutex::new(Hpet::new(clock.clone(), lines.clone())));
            let mut bus = MmioBus::default();
            bus.register(HPET_BASE, HPET_SIZE, Box::new(hpet.clone()))
                .unwrap();
            Rig {
                bus,
                hpet,
                clock,
                lines,
            }
        }

        fn r64(&mut self, reg: u64) -> u64 {
            self.bus.read(HPET_BASE + reg, 8)
        }

        fn r32(&mut self, reg: u64) -> u32 {
            self.bus.read(HPET_BASE + reg, 4) as u32
        }

        fn w64(&mut self, reg: u64, value: u64) {
            self.bus.write(HPET_BASE + reg, 8, value);
        }

        fn w32(&mut self, reg: u64, value: u32) {
            self.bus.write(HPET_BASE + reg, 4, value as u64);
        }

        fn at(&self, ns: u64) {
            self.clock.set_icount(ns);
        }

        fn advance(&self) {
            self.hpet.lock().unwrap().advance();
        }

        fn deadline(&self) -> Option<u64> {
            self.hpet.lock().unwrap().next_deadline_ns()
        }

        fn edges(&self) -> u32 {
            self.lines.take_edges()
        }

        fn levels(&self) -> u32 {
            self.lines.levels()
        }
    }

    #[test]
    fn capabilities() {
        let mut rig = Rig::new();
        let caps = rig.r64(REG_CAPABILITIES);
        assert_eq!(caps >> 32, 69_841_279, "period in fs");
        assert_eq!(caps & 0xff, 1, "revision");
        assert_eq!((caps >> 8) & 0x1f, 2, "three timers");
        assert_ne!(caps & (1 << 13), 0, "64-bit counter");
        assert_ne!(caps & (1 << 15), 0, "legacy replacement capable");
        assert_eq!((caps >> 16) & 0xffff, 0x8086);
        assert_eq!(rig.r32(REG_CAPABILITIES + 4), 69_841_279);
        let t0 = rig.r64(REG_TIMER0);
        assert_eq!(t0 & 0x30, 0x30, "timer 0: periodic and 64-bit");
        assert_eq!(t0 >> 32, HPET_ROUTE_CAP as u64);
        assert_eq!(
            rig.r64(REG_TIMER0 + 0x20) & 0x30,
            0,
            "timer 1: 32-bit one-shot"
        );
        assert_eq!(rig.r64(REG_TIMER0 + 8), u64::MAX);
        assert_eq!(rig.r64(REG_TIMER0 + 0x28), 0xffff_ffff);
    }

    #[test]
    fn reserved_registers_read_zero() {
        let mut rig = Rig::new();
        for reg in [0x08, 0x18, 0x28, 0xe8, 0xf8, 0x3f8] {
            assert_eq!(rig.r64(reg), 0, "register {reg:#x}");
        }
    }

    #[test]
    fn counter_runs_only_while_enabled() {
        let mut rig = Rig::new();
        rig.at(1_000_000);
        assert_eq!(rig.r64(REG_COUNTER), 0, "halted at reset");
        rig.w64(REG_CONFIG, CNF_ENABLE);
        rig.at(2_000_000);
        // 1 ms at 14.31818 MHz.
        assert_eq!(rig.r64(REG_COUNTER), 14_318);
        rig.w64(REG_CONFIG, 0);
        rig.at(9_000_000);
        assert_eq!(rig.r64(REG_COUNTER), 14_318);
        rig.w64(REG_COUNTER, 0xffff_ffff_0000_0000);
        assert_eq!(rig.r32(REG_COUNTER + 4), 0xffff_ffff);
        rig.w32(REG_COUNTER, 5);
        assert_eq!(rig.r64(REG_COUNTER), 0xffff_ffff_0000_0005);
        assert_eq!(rig.r64(REG_CONFIG), 0);
        rig.w64(REG_CONFIG, u64::MAX);
        assert_eq!(rig.r64(REG_CONFIG), 3, "only ENABLE and LEG_RT");
    }

    #[test]
    fn one_shot_level_interrupt_sets_status_until_cleared() {
        let mut rig = Rig::new();
        // Timer 2: level, enabled, routed to pin 20.
        rig.w64(REG_TIMER0 + 0x40, TN_INT_LEVEL | TN_INT_ENABLE | 20 << 9);
        rig.w64(REG_TIMER0 + 0x48, 1000);
        rig.w64(REG_CONFIG, CNF_ENABLE);
        assert_eq!(rig.deadline(), Some(ns(1000)));
        rig.at(ns(1000) - 1);
        rig.advance();
        assert_eq!(rig.levels(), 0);
        rig.at(ns(1000));
        rig.advance();
        assert_eq!(rig.levels(), 1 << 20);
        assert_eq!(rig.r64(REG_STATUS), 1 << 2);
        // One-shot, 32-bit: next match after the low 32 bits wrap.
        assert_eq!(rig.deadline(), Some(ns(1000 + (1 << 32))));
        rig.w64(REG_STATUS, 1 << 1); // the wrong bit: no effect
        assert_eq!(rig.levels(), 1 << 20);
        rig.w64(REG_STATUS, 1 << 2);
        assert_eq!(rig.levels(), 0);
        assert_eq!(rig.r64(REG_STATUS), 0);
    }

    #[test]
    fn status_sets_even_with_the_interrupt_disabled() {
        let mut rig = Rig::new();
        rig.w64(REG_TIMER0 + 0x20, TN_INT_LEVEL | 21 << 9);
        rig.w64(REG_TIMER0 + 0x28, 10);
        rig.w64(REG_CONFIG, CNF_ENABLE);
        assert_eq!(rig.deadline(), None, "nothing to interrupt");
        rig.at(ns(10));
        assert_eq!(rig.r64(REG_STATUS), 1 << 1);
        assert_eq!(rig.levels(), 0);
        // Enabling the interrupt now asserts the line.
        rig.w64(REG_TIMER0 + 0x20, TN_INT_LEVEL | TN_INT_ENABLE | 21 << 9);
        assert_eq!(rig.levels(), 1 << 21);
        // Halting the counter drops it.
        rig.w64(REG_CONFIG, 0);
        assert_eq!(rig.levels(), 0);
    }

    #[test]
    fn periodic_accumulator_the_linux_way() {
        let mut rig = Rig::new();
        rig.w64(REG_CONFIG, CNF_ENABLE | CNF_LEGACY);
        rig.at(ns(500));
        let now = rig.r32(REG_COUNTER);
        assert_eq!(now, 500);
        // Periodic, 32-bit mode, VAL_SET; comparator = now + delta, then
        // the period = delta.
        rig.w32(
            REG_TIMER0,
            (TN_INT_ENABLE | TN_PERIODIC | TN_VAL_SET | TN_32BIT_MODE) as u32,
        );
        rig.w32(REG_TIMER0 + 8, now + 1000);
        rig.w32(REG_TIMER0 + 8, 1000);
        assert_eq!(rig.r64(REG_TIMER0) & TN_VAL_SET, 0, "VAL_SET self-clears");
        assert_eq!(rig.r64(REG_TIMER0 + 8), 1500);
        assert_eq!(rig.deadline(), Some(ns(1500)));
        rig.edges();
        rig.at(ns(1500));
        rig.advance();
        assert_eq!(rig.edges(), 1 << 2, "legacy: timer 0 on pin 2 (IRQ0)");
        assert_eq!(rig.r64(REG_TIMER0 + 8), 2500);
        assert_eq!(rig.deadline(), Some(ns(2500)));
        rig.at(ns(2499));
        rig.advance();
        assert_eq!(rig.edges(), 0);
        // A long busy spell: one interrupt, comparator past the present.
        rig.at(ns(100_200));
        rig.advance();
        assert_eq!(rig.edges(), 1 << 2);
        assert_eq!(rig.r64(REG_TIMER0 + 8), 100_500);
        assert_eq!(rig.r64(REG_STATUS), 0, "edge mode leaves status alone");
    }

    #[test]
    fn legacy_replacement_routes_timers_0_and_1() {
        let mut rig = Rig::new();
        rig.w64(REG_TIMER0, TN_INT_ENABLE | 20 << 9);
        rig.w64(REG_TIMER0 + 0x20, TN_INT_ENABLE | 21 << 9);
        rig.w64(REG_TIMER0 + 8, 10);
        rig.w64(REG_TIMER0 + 0x28, 20);
        rig.w64(REG_CONFIG, CNF_ENABLE);
        assert!(!rig.hpet.lock().unwrap().legacy_replacement());
        rig.at(ns(20));
        rig.advance();
        assert_eq!(rig.edges(), 1 << 20 | 1 << 21);
        rig.w64(REG_CONFIG, CNF_ENABLE | CNF_LEGACY);
        assert!(rig.hpet.lock().unwrap().legacy_replacement());
        rig.w64(REG_TIMER0 + 8, 30);
        rig.w64(REG_TIMER0 + 0x28, 40);
        rig.at(ns(40));
        rig.advance();
        assert_eq!(rig.edges(), 1 << 2 | 1 << 8);
    }

    #[test]
    fn unsupported_routes_and_fsb_do_not_take() {
        let mut rig = Rig::new();
        rig.w64(REG_TIMER0, 20 << 9);
        rig.w64(REG_TIMER0, 5 << 9 | 1 << 14);
        assert_eq!(rig.r64(REG_TIMER0) & (0x1f << 9 | 1 << 14), 20 << 9);
        rig.w64(REG_TIMER0 + 0x10, u64::MAX);
        assert_eq!(rig.r64(REG_TIMER0 + 0x10), 0);
        // Timer 1 cannot be periodic or switch width.
        rig.w64(REG_TIMER0 + 0x20, TN_PERIODIC | TN_32BIT_MODE);
        assert_eq!(
            rig.r64(REG_TIMER0 + 0x20) & (TN_PERIODIC | TN_32BIT_MODE),
            0
        );
        // 32-bit mode truncates timer 0's comparator.
        rig.w64(REG_TIMER0 + 8, 0x1234_5678_9abc_def0);
        rig.w64(REG_TIMER0, TN_32BIT_MODE);
        assert_eq!(rig.r64(REG_TIMER0 + 8), 0x9abc_def0);
    }

    #[test]
    fn sixty_four_bit_one_shot_fires_once() {
        let mut rig = Rig::new();
        rig.w64(REG_TIMER0, TN_INT_ENABLE | 22 << 9);
        rig.w64(REG_TIMER0 + 8, 100);
        rig.w64(REG_CONFIG, CNF_ENABLE);
        rig.at(ns(100));
        rig.advance();
        assert_eq!(rig.edges(), 1 << 22);
        let d = rig.deadline().unwrap();
        assert!(d > 1 << 62, "the next match is a counter wrap away");
    }

    #[test]
    fn reading_halves_of_registers() {
        let mut rig = Rig::new();
        assert_eq!(rig.bus.read(HPET_BASE + 4, 2), 0xb17f);
        assert_eq!(rig.bus.read(HPET_BASE + 2, 2), 0x8086);
        assert_eq!(rig.bus.read(HPET_BASE + 0x300, 8), 0);
    }

    #[test]
    fn random_register_traffic_never_panics() {
        let mut rig = Rig::new();
        let mut x: u64 = 0xdead_beef_cafe_f00d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const REGS: [u64; 12] = [
            0x000, 0x010, 0x020, 0x0f0, 0x100, 0x108, 0x110, 0x120, 0x128, 0x140, 0x148, 0x3f8,
        ];
        let mut now = 0u64;
        for _ in 0..100_000 {
            let r = next();
            let reg = REGS[(r >> 3) as usize % REGS.len()] + [0, 0, 4, 1][(r >> 8 & 3) as usize];
            let size = [1u32, 2, 4, 8][(r >> 10 & 3) as usize];
            match r & 7 {
                0..=2 => rig.bus.write(HPET_BASE + reg, size, r.rotate_right(12)),
                3 => {
                    rig.bus.read(HPET_BASE + reg, size);
                }
                4 => {
                    now += r >> 48;
                    rig.at(now);
                    rig.advance();
                }
                5 => rig.w64(REG_STATUS, r >> 20),
                _ => {
                    if let Some(d) = rig.deadline() {
                        if d > now && d - now < 1 << 40 {
                            now = d;
                            rig.at(now);
                            rig.advance();
                            let after = rig.deadline();
                            assert!(after.is_none_or(|a| a > d), "deadline must move on");
                        }
                    }
                }
            }
            let h = rig.hpet.lock().unwrap();
            assert_eq!(h.state.config & !3, 0);
            for t in &h.state.timers {
                assert_eq!(t.comparator & !t.width_mask(), 0);
            }
        }
    }
}

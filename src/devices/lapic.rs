//! The local APIC of one vCPU (xAPIC mode), a 4 KiB register page at
//! 0xFEE00000 (Intel SDM vol. 3A ch. 10 — "Advanced Programmable Interrupt
//! Controller"; ch. 11 in newer editions).
//!
//! Registers: ID, version (0x00050014: an integrated xAPIC with six LVT
//! entries, "max LVT" 5), TPR/APR/PPR, EOI, LDR/DFR, SVR, ISR/TMR/IRR,
//! ESR, ICR, the LVT (timer, thermal, performance, LINT0, LINT1, error) and
//! the timer's initial/current count and divide configuration.
//!
//! # Interrupt acceptance (SDM 10.8)
//!
//! Fixed interrupts (from the I/O APIC, the LVT or IPIs) set their IRR bit
//! and record the trigger mode in TMR. [`Lapic::pending_vector`] is the
//! highest IRR vector whose priority class is above the processor priority
//! (PPR); [`Lapic::acknowledge`] is the INTA: that vector moves to ISR (or,
//! with nothing left to give, the spurious vector is returned and nothing
//! changes). An EOI write ends the highest vector in service; if it was
//! level-triggered the EOI is broadcast to the I/O APICs, which the machine
//! collects with [`Lapic::take_eoi_broadcast`] and passes on.
//!
//! # The 8259A through LINT0 (virtual wire)
//!
//! A PC wires the 8259A's INTR to LINT0. The run loop must let the PIC's
//! INTR reach the CPU exactly when [`Lapic::pic_intr_routed`] says so: the
//! APIC is globally disabled in IA32_APIC_BASE (the pin then is the CPU's
//! INTR), or LINT0 is unmasked with delivery mode ExtINT
//! ([`Lapic::lint0_extint_enabled`]). The vector then comes from the PIC's
//! INTA cycle, bypassing IRR/ISR and the priority rules. The LAPIC's own
//! pending vector is served first.
//!
//! The SDM's reset state has every LVT masked, so nothing from the PIC gets
//! through until firmware sets up virtual-wire mode (MP spec 3.6.2.2).
//! Firmware that knows nothing of APICs (xlat's own, DOS-era ROMs) relies on
//! the board having done it, as QEMU's board does; the machine calls
//! [`Lapic::enter_virtual_wire_mode`] after each reset for that.
//!
//! # IA32_APIC_BASE (MSR 0x1B) and relocation
//!
//! The MSR lives in the CPU; the CPU forwards RDMSR to [`Lapic::apic_base`]
//! and WRMSR (after its own #GP checks for reserved bits, including bit 10,
//! x2APIC, which this APIC does not have) to [`Lapic::write_apic_base`].
//! The MMIO window registered at 0xFEE00000 answers only while the APIC is
//! enabled and its base is there; if a guest moves the base, the CPU must
//! route physical accesses to the page at [`Lapic::base_address`] to
//! [`Lapic::mmio_read`]/[`Lapic::mmio_write`] itself (as real CPUs decode
//! the APIC page before the bus).
//!
//! # Timer (SDM 10.5.4)
//!
//! One-shot, periodic and TSC-deadline modes. The timer counts at the APIC
//! bus clock ([`LAPIC_BUS_HZ`], 1 GHz as on QEMU/KVM) divided by the divide
//! configuration. TSC-deadline mode is armed through IA32_TSC_DEADLINE
//! (MSR 0x6E0): the CPU forwards writes to [`Lapic::write_tsc_deadline`]
//! with its current TSC and reads to [`Lapic::tsc_deadline`], and CPUID.1
//! ECX bit 24 may then report the feature.
//!
//! # Interprocessor interrupts
//!
//! A write to ICR low sends an IPI at once (delivery status always reads
//! idle). With one vCPU, IPIs that reach this APIC (self, all-including-
//! self, or a destination that matches) are received here; every IPI that
//! may reach another APIC is also kept for a future SMP machine
//! ([`Lapic::take_sent_ipis`]).
//!
//! Simplifications: no x2APIC; no LINT0/LINT1 pin inputs other than the
//! ExtINT pass-through (nothing on this board drives LINT1's NMI);
//! thermal and performance LVTs never fire; lowest-priority arbitration is
//! trivial with one APIC; EOI-broadcast suppression is not offered.

use super::bus::MmioDevice;
use crate::machine::clock::Clock;
use std::sync::{Arc, Mutex};

/// Where the APIC page sits after reset.
pub const LAPIC_BASE: u64 = 0xfee0_0000;
/// The size of the register page.
pub const LAPIC_SIZE: u64 = 0x1000;
/// Version register: version 0x14 (xAPIC), max LVT entry 5.
pub const LAPIC_VERSION: u32 = 0x0005_0014;
/// The APIC timer's input clock.
pub const LAPIC_BUS_HZ: u64 = 1_000_000_000;

/// IA32_APIC_BASE bit 8: this is the bootstrap processor.
pub const APIC_BASE_BSP: u64 = 1 << 8;
/// IA32_APIC_BASE bit 11: APIC global enable.
pub const APIC_BASE_ENABLE: u64 = 1 << 11;
/// IA32_APIC_BASE bits 35:12 (MAXPHYADDR 36 as the CPU reports).
const APIC_BASE_ADDR_MASK: u64 = 0x0000_000f_ffff_f000;

// Register offsets in the APIC page.
const REG_ID: u64 = 0x020;
const REG_VERSION: u64 = 0x030;
const REG_TPR: u64 = 0x080;
const REG_APR: u64 = 0x090;
const REG_PPR: u64 = 0x0a0;
const REG_EOI: u64 = 0x0b0;
const REG_RRD: u64 = 0x0c0;
const REG_LDR: u64 = 0x0d0;
const REG_DFR: u64 = 0x0e0;
const REG_SVR: u64 = 0x0f0;
const REG_ISR: u64 = 0x100;
const REG_TMR: u64 = 0x180;
const REG_IRR: u64 = 0x200;
const REG_ESR: u64 = 0x280;
const REG_ICR_LOW: u64 = 0x300;
const REG_ICR_HIGH: u64 = 0x310;
const REG_LVT_TIMER: u64 = 0x320;
const REG_LVT_ERROR: u64 = 0x370;
const REG_TIMER_INITIAL: u64 = 0x380;
const REG_TIMER_CURRENT: u64 = 0x390;
const REG_TIMER_DIVIDE: u64 = 0x3e0;

/// LVT entries, in register order (0x320 + 0x10 * index): timer, thermal
/// (1), performance counters (2), LINT0, LINT1, error.
const LVT_TIMER: usize = 0;
const LVT_LINT0: usize = 3;
const LVT_LINT1: usize = 4;
const LVT_ERROR: usize = 5;
/// Writable bits of each LVT entry (Figure 10-8): vector, delivery mode,
/// polarity, trigger mode, mask and timer mode where the entry has them.
const LVT_WRITABLE: [u32; 6] = [
    0x0007_00ff,
    0x0001_07ff,
    0x0001_07ff,
    0x0001_a7ff,
    0x0001_a7ff,
    0x0001_00ff,
];
const LVT_MASKED: u32 = 1 << 16;

const SVR_ENABLE: u32 = 1 << 8;
/// Vector and software enable; bit 9 (focus checking) is reserved on
/// Pentium 4 and later and reads 0.
const SVR_WRITABLE: u32 = 0x1ff;

// ESR bits (SDM Figure 10-9).
/// Send illegal vector.
pub const ESR_SEND_ILLEGAL_VECTOR: u32 = 1 << 5;
/// Received illegal vector.
pub const ESR_RECEIVE_ILLEGAL_VECTOR: u32 = 1 << 6;
/// Illegal register address.
pub const ESR_ILLEGAL_REGISTER: u32 = 1 << 7;

/// Longest list of IPIs kept for other CPUs before new ones are dropped.
const SENT_IPI_LIMIT: usize = 64;

/// How an interrupt message is to be handled (ICR/LVT/redirection entry
/// bits 10:8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryMode {
    Fixed,
    LowestPriority,
    Smi,
    Nmi,
    Init,
    StartUp,
    ExtInt,
    /// 011: reserved.
    Reserved,
}

impl DeliveryMode {
    pub fn from_bits(bits: u32) -> Self {
        match bits & 7 {
            0 => DeliveryMode::Fixed,
            1 => DeliveryMode::LowestPriority,
            2 => DeliveryMode::Smi,
            4 => DeliveryMode::Nmi,
            5 => DeliveryMode::Init,
            6 => DeliveryMode::StartUp,
            7 => DeliveryMode::ExtInt,
            _ => DeliveryMode::Reserved,
        }
    }
}

/// Which APICs a message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// An APIC ID; 0xFF is every APIC.
    Physical(u8),
    /// A logical destination, matched against LDR under the DFR's model.
    Logical(u8),
    /// ICR shorthand 01: the sender only.
    ToSelf,
    /// ICR shorthand 10.
    AllIncludingSelf,
    /// ICR shorthand 11.
    AllExcludingSelf,
}

/// An interrupt message on the APIC bus (from the I/O APIC or an IPI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApicMessage {
    pub vector: u8,
    pub mode: DeliveryMode,
    pub destination: Destination,
    /// Trigger mode: level (true) or edge.
    pub level_triggered: bool,
    /// ICR level bit: assert (true) or de-assert (only INIT level
    /// de-assert uses 0).
    pub assert: bool,
}

/// Everything of a local APIC that a snapshot needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LapicState {
    /// IA32_APIC_BASE as the guest sees it.
    apic_base: u64,
    id: u8,
    tpr: u8,
    ldr: u32,
    dfr: u32,
    svr: u32,
    isr: [u32; 8],
    tmr: [u32; 8],
    irr: [u32; 8],
    /// ESR as last latched by a write.
    esr: u32,
    /// Errors seen since the last ESR write.
    esr_pending: u32,
    icr_low: u32,
    icr_high: u32,
    lvt: [u32; 6],
    timer_initial: u32,
    timer_divide: u32,
    /// Clock time of the next expiry of the count (one-shot/periodic).
    timer_next_ns: Option<u64>,
    /// IA32_TSC_DEADLINE, 0 when disarmed.
    tsc_deadline: u64,
    /// Clock time the TSC deadline was converted to.
    tsc_deadline_ns: Option<u64>,
    /// Level-triggered vectors whose EOI the I/O APICs have not yet seen.
    eoi_broadcast: [u32; 8],
    nmi_pending: bool,
    init_pending: bool,
    sipi_vector: Option<u8>,
    /// IPIs for other APICs, oldest first.
    sent_ipis: Vec<ApicMessage>,
}

/// A local APIC with the clock its timer counts.
pub struct Lapic {
    state: LapicState,
    clock: Clock,
    bsp: bool,
    reset_id: u8,
}

/// The local APIC as the machine shares it between the memory map, the CPU
/// and the run loop.
pub type SharedLapic = Arc<Mutex<Lapic>>;

fn bit_test(map: &[u32; 8], v: u8) -> bool {
    map[(v >> 5) as usize] & (1 << (v & 31)) != 0
}

fn bit_set(map: &mut [u32; 8], v: u8) {
    map[(v >> 5) as usize] |= 1 << (v & 31);
}

fn bit_clear(map: &mut [u32; 8], v: u8) {
    map[(v >> 5) as usize] &= !(1 << (v & 31));
}

/// The highest vector set in a 256-bit register.
fn highest(map: &[u32; 8]) -> Option<u8> {
    (0..8)
        .rev()
        .find(|&i| map[i] != 0)
        .map(|i| (i as u32 * 32 + 31 - map[i].leading_zeros()) as u8)
}

/// The divisor a divide configuration register value selects (bits 3, 1:0).
fn divisor(dcr: u32) -> u64 {
    let code = (dcr & 3) | (dcr >> 1) & 4;
    if code == 7 {
        1
    } else {
        2 << code
    }
}

/// Nanoseconds taken by `ticks` bus clocks (rounded up).
fn bus_ticks_to_ns(ticks: u64) -> u64 {
    ((ticks as u128 * 1_000_000_000).div_ceil(LAPIC_BUS_HZ as u128)).min(u64::MAX as u128) as u64
}

/// Bus clocks in `ns` (rounded up).
fn ns_to_bus_ticks(ns: u64) -> u64 {
    ((ns as u128 * LAPIC_BUS_HZ as u128).div_ceil(1_000_000_000)).min(u64::MAX as u128) as u64
}

impl Lapic {
    /// A local APIC in its power-on state with APIC ID `id`; `bsp` marks the
    /// bootstrap processor's (IA32_APIC_BASE bit 8).
    pub fn new(clock: Clock, id: u8, bsp: bool) -> Self {
        Lapic {
            state: Self::power_on_state(id, bsp),
            clock,
            bsp,
            reset_id: id,
        }
    }

    /// The state after power-up or RESET (SDM 10.4.7.1): IRR, ISR, TMR,
    /// ICR, LDR, TPR, the timer and ESR clear, DFR all ones, every LVT
    /// masked, SVR 0xFF (software disabled).
    fn power_on_state(id: u8, bsp: bool) -> LapicState {
        LapicState {
            apic_base: LAPIC_BASE | APIC_BASE_ENABLE | if bsp { APIC_BASE_BSP } else { 0 },
            id,
            tpr: 0,
            ldr: 0,
            dfr: 0xffff_ffff,
            svr: 0xff,
            isr: [0; 8],
            tmr: [0; 8],
            irr: [0; 8],
            esr: 0,
            esr_pending: 0,
            icr_low: 0,
            icr_high: 0,
            lvt: [LVT_MASKED; 6],
            timer_initial: 0,
            timer_divide: 0,
            timer_next_ns: None,
            tsc_deadline: 0,
            tsc_deadline_ns: None,
            eoi_broadcast: [0; 8],
            nmi_pending: false,
            init_pending: false,
            sipi_vector: None,
            sent_ipis: Vec::new(),
        }
    }

    /// A board reset: the power-on state, with the APIC enabled at
    /// 0xFEE00000.
    pub fn reset(&mut self) {
        self.state = Self::power_on_state(self.reset_id, self.bsp);
    }

    /// What a virtual-wire-mode firmware leaves (MP spec 3.6.2.2): the APIC
    /// software-enabled (spurious vector 0xFF), LINT0 ExtINT and LINT1 NMI,
    /// unmasked, so the 8259A reaches the CPU through LINT0.
    pub fn enter_virtual_wire_mode(&mut self) {
        self.state.svr = SVR_ENABLE | 0xff;
        self.state.lvt[LVT_LINT0] = 0x700;
        self.state.lvt[LVT_LINT1] = 0x400;
    }

    pub fn state(&self) -> &LapicState {
        &self.state
    }

    /// Puts back a state taken with [`Lapic::state`] (on the same clock).
    pub fn restore(&mut self, state: LapicState) {
        self.state = state;
    }

    // ---- IA32_APIC_BASE and the CPU-side registers ----

    /// IA32_APIC_BASE for RDMSR.
    pub fn apic_base(&self) -> u64 {
        self.state.apic_base
    }

    /// WRMSR to IA32_APIC_BASE (the CPU has checked reserved bits). The BSP
    /// flag is read-only. Clearing the global enable puts the APIC in its
    /// power-on state and makes it transparent (SDM 10.4.3); setting it
    /// again starts from that state.
    pub fn write_apic_base(&mut self, value: u64) {
        let was_enabled = self.hw_enabled();
        let base = value & APIC_BASE_ADDR_MASK;
        let enable = value & APIC_BASE_ENABLE;
        if was_enabled && enable == 0 {
            let id = self.state.id;
            self.state = Self::power_on_state(id, self.bsp);
        }
        self.state.apic_base = base | enable | (self.state.apic_base & APIC_BASE_BSP);
    }

    /// Whether IA32_APIC_BASE enables the APIC.
    pub fn hw_enabled(&self) -> bool {
        self.state.apic_base & APIC_BASE_ENABLE != 0
    }

    /// Whether SVR enables the APIC.
    pub fn sw_enabled(&self) -> bool {
        self.state.svr & SVR_ENABLE != 0
    }

    /// The physical address of the register page.
    pub fn base_address(&self) -> u64 {
        self.state.apic_base & APIC_BASE_ADDR_MASK
    }

    pub fn id(&self) -> u8 {
        self.state.id
    }

    /// TPR, for CR8 (CR8[3:0] is TPR[7:4]).
    pub fn tpr(&self) -> u8 {
        self.state.tpr
    }

    /// A MOV to CR8 writes TPR[7:4] (and clears TPR[3:0]).
    pub fn set_tpr(&mut self, tpr: u8) {
        self.state.tpr = tpr;
    }

    /// IA32_TSC_DEADLINE for RDMSR: zero when disarmed, after it fired, and
    /// outside TSC-deadline mode.
    pub fn tsc_deadline(&self) -> u64 {
        if self.timer_mode() == TimerMode::TscDeadline {
            self.state.tsc_deadline
        } else {
            0
        }
    }

    /// WRMSR to IA32_TSC_DEADLINE. `tsc_now` is the CPU's TSC at the write,
    /// and the TSC counts at `tsc_hz`; the deadline becomes a clock time.
    /// Ignored outside TSC-deadline mode; zero disarms.
    pub fn write_tsc_deadline(&mut self, deadline: u64, tsc_now: u64, tsc_hz: u64) {
        self.advance();
        if self.timer_mode() != TimerMode::TscDeadline {
            return;
        }
        self.state.tsc_deadline = deadline;
        self.state.tsc_deadline_ns = (deadline != 0).then(|| {
            let delta = deadline.saturating_sub(tsc_now) as u128;
            let ns = (delta * 1_000_000_000).div_ceil(tsc_hz.max(1) as u128);
            self.clock
                .now_ns()
                .saturating_add(ns.min(u64::MAX as u128) as u64)
        });
    }

    // ---- Interrupt acceptance ----

    /// The processor priority (SDM 10.8.3.1): TPR, or the class of the
    /// highest vector in service if that is higher.
    pub fn ppr(&self) -> u8 {
        let isrv = highest(&self.state.isr).unwrap_or(0);
        if self.state.tpr >> 4 >= isrv >> 4 {
            self.state.tpr
        } else {
            isrv & 0xf0
        }
    }

    /// The arbitration priority (SDM 10.8.3.2).
    fn apr(&self) -> u8 {
        let isrv = highest(&self.state.isr).unwrap_or(0);
        let irrv = highest(&self.state.irr).unwrap_or(0);
        let top = isrv.max(irrv);
        if self.state.tpr >> 4 >= top >> 4 {
            self.state.tpr
        } else {
            top & 0xf0
        }
    }

    /// The vector the APIC would interrupt the CPU with now: the highest
    /// IRR vector whose class is above PPR's. None while the APIC is
    /// disabled (accepted interrupts are then held).
    pub fn pending_vector(&self) -> Option<u8> {
        if !self.hw_enabled() || !self.sw_enabled() {
            return None;
        }
        let v = highest(&self.state.irr)?;
        (v >> 4 > self.ppr() >> 4).then_some(v)
    }

    /// The INTA cycle: the pending vector moves from IRR to ISR and is
    /// returned. With nothing pending (the TPR went up meanwhile) the
    /// answer is the spurious vector, and ISR is left alone (SDM 10.9).
    pub fn acknowledge(&mut self) -> u8 {
        match self.pending_vector() {
            Some(v) => {
                bit_clear(&mut self.state.irr, v);
                bit_set(&mut self.state.isr, v);
                v
            }
            None => self.state.svr as u8,
        }
    }

    /// A fixed interrupt arrives (from the I/O APIC, an IPI or the LVT):
    /// IRR is set and TMR records the trigger mode. Vectors 0-15 are
    /// illegal: they are refused and logged in ESR. Ignored while the APIC
    /// is globally disabled.
    pub fn accept(&mut self, vector: u8, level_triggered: bool) {
        if !self.hw_enabled() {
            return;
        }
        if vector < 16 {
            self.error(ESR_RECEIVE_ILLEGAL_VECTOR);
            return;
        }
        bit_set(&mut self.state.irr, vector);
        if level_triggered {
            bit_set(&mut self.state.tmr, vector);
        } else {
            bit_clear(&mut self.state.tmr, vector);
        }
    }

    /// Whether the message is for this APIC (SDM 10.6.2).
    pub fn is_destination(&self, destination: Destination) -> bool {
        match destination {
            Destination::Physical(id) => id == 0xff || id == self.state.id,
            Destination::Logical(mda) => {
                let ldr = (self.state.ldr >> 24) as u8;
                if mda == 0xff {
                    true
                } else if self.state.dfr >> 28 == 0xf {
                    // Flat model: a bit per APIC.
                    mda & ldr != 0
                } else {
                    // Cluster model: cluster in bits 7:4, members in 3:0.
                    (mda >> 4 == ldr >> 4 || mda >> 4 == 0xf) && mda & ldr & 0x0f != 0
                }
            }
            Destination::ToSelf | Destination::AllIncludingSelf => true,
            Destination::AllExcludingSelf => false,
        }
    }

    /// A message from the APIC bus. Returns whether this APIC took it (it
    /// is a destination and the APIC is enabled). Fixed and lowest-priority
    /// messages go to IRR; NMI, INIT and start-up are latched for the CPU;
    /// SMI and ExtINT are not supported on this board and are dropped.
    pub fn receive(&mut self, msg: &ApicMessage) -> bool {
        if !self.hw_enabled() || !self.is_destination(msg.destination) {
            return false;
        }
        match msg.mode {
            DeliveryMode::Fixed | DeliveryMode::LowestPriority => {
                self.accept(msg.vector, msg.level_triggered)
            }
            DeliveryMode::Nmi => self.state.nmi_pending = true,
            DeliveryMode::Init => {
                // An INIT level de-assert only synchronises arbitration IDs.
                if msg.assert || !msg.level_triggered {
                    self.state.init_pending = true;
                }
            }
            DeliveryMode::StartUp => self.state.sipi_vector = Some(msg.vector),
            DeliveryMode::Smi | DeliveryMode::ExtInt | DeliveryMode::Reserved => {
                log::debug!("lapic: {:?} message ignored", msg.mode);
            }
        }
        true
    }

    /// A level-triggered vector whose EOI the I/O APICs must hear, if any
    /// (each is returned once).
    pub fn take_eoi_broadcast(&mut self) -> Option<u8> {
        let v = highest(&self.state.eoi_broadcast)?;
        bit_clear(&mut self.state.eoi_broadcast, v);
        Some(v)
    }

    /// Whether an NMI was delivered (from an IPI or the I/O APIC); taken
    /// once.
    pub fn take_nmi(&mut self) -> bool {
        std::mem::take(&mut self.state.nmi_pending)
    }

    /// Whether an INIT was delivered to this CPU; taken once.
    pub fn take_init(&mut self) -> bool {
        std::mem::take(&mut self.state.init_pending)
    }

    /// The vector of a start-up IPI delivered to this CPU; taken once.
    pub fn take_sipi(&mut self) -> Option<u8> {
        self.state.sipi_vector.take()
    }

    /// IPIs sent to other APICs since the last call (for SMP).
    pub fn take_sent_ipis(&mut self) -> Vec<ApicMessage> {
        std::mem::take(&mut self.state.sent_ipis)
    }

    /// Whether LINT0 passes the 8259A's INTR as ExtINT: APIC enabled, LINT0
    /// unmasked with delivery mode ExtINT.
    pub fn lint0_extint_enabled(&self) -> bool {
        let lvt = self.state.lvt[LVT_LINT0];
        self.hw_enabled()
            && lvt & LVT_MASKED == 0
            && DeliveryMode::from_bits(lvt >> 8) == DeliveryMode::ExtInt
    }

    /// The run loop's rule for the 8259A: its INTR reaches the CPU when the
    /// APIC is globally disabled or LINT0 is an unmasked ExtINT input.
    pub fn pic_intr_routed(&self) -> bool {
        !self.hw_enabled() || self.lint0_extint_enabled()
    }

    /// Logs an internal error and raises the error LVT (SDM 10.5.3).
    fn error(&mut self, bits: u32) {
        self.state.esr_pending |= bits;
        let lvt = self.state.lvt[LVT_ERROR];
        let vector = lvt as u8;
        if lvt & LVT_MASKED == 0 && vector >= 16 {
            bit_set(&mut self.state.irr, vector);
            bit_clear(&mut self.state.tmr, vector);
        }
    }

    /// An EOI write: the highest vector in service ends.
    fn eoi(&mut self) {
        if let Some(v) = highest(&self.state.isr) {
            bit_clear(&mut self.state.isr, v);
            if bit_test(&self.state.tmr, v) {
                bit_set(&mut self.state.eoi_broadcast, v);
            }
        }
    }

    // ---- IPIs ----

    fn send_ipi(&mut self) {
        let low = self.state.icr_low;
        let mode = DeliveryMode::from_bits(low >> 8);
        let vector = low as u8;
        let dest = (self.state.icr_high >> 24) as u8;
        let destination = match (low >> 18) & 3 {
            0 if low & (1 << 11) != 0 => Destination::Logical(dest),
            0 => Destination::Physical(dest),
            1 => Destination::ToSelf,
            2 => Destination::AllIncludingSelf,
            _ => Destination::AllExcludingSelf,
        };
        if matches!(mode, DeliveryMode::Fixed | DeliveryMode::LowestPriority) && vector < 16 {
            self.error(ESR_SEND_ILLEGAL_VECTOR);
            return;
        }
        let msg = ApicMessage {
            vector,
            mode,
            destination,
            // Only INIT level de-assert uses the trigger/level bits; other
            // IPIs are edge-triggered (SDM Table 10-3).
            level_triggered: mode == DeliveryMode::Init && low & (1 << 15) != 0,
            assert: low & (1 << 14) != 0,
        };
        // The self shorthand is valid with fixed delivery only.
        if destination == Destination::ToSelf && mode != DeliveryMode::Fixed {
            return;
        }
        let for_others = match destination {
            Destination::ToSelf => false,
            Destination::Physical(id) => id != self.state.id,
            Destination::Logical(_) => true,
            Destination::AllIncludingSelf | Destination::AllExcludingSelf => true,
        };
        if for_others && self.state.sent_ipis.len() < SENT_IPI_LIMIT {
            self.state.sent_ipis.push(msg);
        }
        self.receive(&msg);
    }

    // ---- Timer ----

    fn timer_mode(&self) -> TimerMode {
        match (self.state.lvt[LVT_TIMER] >> 17) & 3 {
            1 => TimerMode::Periodic,
            2 => TimerMode::TscDeadline,
            _ => TimerMode::OneShot,
        }
    }

    /// Nanoseconds for `count` timer ticks at the current divisor.
    fn count_ns(&self, count: u64) -> u64 {
        bus_ticks_to_ns(count * divisor(self.state.timer_divide))
    }

    /// The current count register at `now`.
    fn current_count(&self, now: u64) -> u32 {
        let Some(next) = self.state.timer_next_ns else {
            return 0;
        };
        let remaining = if now < next {
            next - now
        } else if self.timer_mode() == TimerMode::Periodic && self.state.timer_initial != 0 {
            let period = self.count_ns(self.state.timer_initial as u64).max(1);
            period - (now - next) % period
        } else {
            return 0;
        };
        let ticks = ns_to_bus_ticks(remaining).div_ceil(divisor(self.state.timer_divide));
        ticks.min(self.state.timer_initial as u64) as u32
    }

    /// Fires an LVT entry's interrupt (timer, error), unless masked.
    fn fire_lvt(&mut self, index: usize) {
        let lvt = self.state.lvt[index];
        if lvt & LVT_MASKED != 0 {
            return;
        }
        let vector = lvt as u8;
        if vector < 16 {
            self.error(ESR_RECEIVE_ILLEGAL_VECTOR);
        } else {
            self.accept(vector, false);
        }
    }

    /// When the timer next wants the run loop, in clock nanoseconds (in the
    /// past when overdue). None when nothing armed can interrupt.
    pub fn next_deadline_ns(&self) -> Option<u64> {
        if !self.hw_enabled() || self.state.lvt[LVT_TIMER] & LVT_MASKED != 0 {
            return None;
        }
        match self.timer_mode() {
            TimerMode::TscDeadline => self.state.tsc_deadline_ns,
            _ => self.state.timer_next_ns,
        }
    }

    /// Brings the timer up to the clock: an expiry that has passed raises
    /// the timer interrupt (once, however many periods went by).
    pub fn advance(&mut self) {
        let now = self.clock.now_ns();
        if let Some(next) = self.state.timer_next_ns {
            if now >= next {
                self.fire_lvt(LVT_TIMER);
                let period = self.count_ns(self.state.timer_initial as u64);
                self.state.timer_next_ns = if self.timer_mode() == TimerMode::Periodic && period > 0
                {
                    let periods = (now - next) / period + 1;
                    Some(next.saturating_add(periods.saturating_mul(period)))
                } else {
                    None
                };
            }
        }
        if let Some(deadline) = self.state.tsc_deadline_ns {
            if now >= deadline {
                self.fire_lvt(LVT_TIMER);
                self.state.tsc_deadline = 0;
                self.state.tsc_deadline_ns = None;
            }
        }
    }

    fn write_lvt(&mut self, index: usize, value: u32) {
        let mut value = value & LVT_WRITABLE[index];
        // A software-disabled APIC keeps every LVT masked (SDM 10.4.7.2).
        if !self.sw_enabled() {
            value |= LVT_MASKED;
        }
        if index == LVT_TIMER {
            let old = self.timer_mode();
            self.state.lvt[index] = value;
            let new = self.timer_mode();
            // Switching into or out of TSC-deadline mode disarms the timer
            // (SDM 10.5.4.1).
            if old != new && (old == TimerMode::TscDeadline || new == TimerMode::TscDeadline) {
                self.state.timer_initial = 0;
                self.state.timer_next_ns = None;
                self.state.tsc_deadline = 0;
                self.state.tsc_deadline_ns = None;
            }
        } else {
            self.state.lvt[index] = value;
        }
    }

    // ---- The register page ----

    /// A 32-bit register read at `reg` (16-byte aligned offset).
    fn read_register(&mut self, reg: u64) -> u32 {
        let s = &self.state;
        match reg {
            REG_ID => (s.id as u32) << 24,
            REG_VERSION => LAPIC_VERSION,
            REG_TPR => s.tpr as u32,
            REG_APR => self.apr() as u32,
            REG_PPR => self.ppr() as u32,
            REG_EOI | REG_RRD => 0,
            REG_LDR => s.ldr,
            REG_DFR => s.dfr,
            REG_SVR => s.svr,
            0x100..=0x170 => s.isr[((reg - REG_ISR) >> 4) as usize],
            0x180..=0x1f0 => s.tmr[((reg - REG_TMR) >> 4) as usize],
            0x200..=0x270 => s.irr[((reg - REG_IRR) >> 4) as usize],
            REG_ESR => s.esr,
            REG_ICR_LOW => s.icr_low & !(1 << 12),
            REG_ICR_HIGH => s.icr_high,
            REG_LVT_TIMER..=REG_LVT_ERROR => s.lvt[((reg - REG_LVT_TIMER) >> 4) as usize],
            REG_TIMER_INITIAL => s.timer_initial,
            REG_TIMER_CURRENT => {
                if self.timer_mode() == TimerMode::TscDeadline {
                    0
                } else {
                    self.current_count(self.clock.now_ns())
                }
            }
            REG_TIMER_DIVIDE => s.timer_divide,
            _ => {
                self.error(ESR_ILLEGAL_REGISTER);
                0
            }
        }
    }

    fn write_register(&mut self, reg: u64, value: u32) {
        match reg {
            REG_ID => self.state.id = (value >> 24) as u8,
            REG_TPR => self.state.tpr = value as u8,
            REG_EOI => self.eoi(),
            REG_LDR => self.state.ldr = value & 0xff00_0000,
            REG_DFR => self.state.dfr = value | 0x0fff_ffff,
            REG_SVR => {
                self.state.svr = value & SVR_WRITABLE;
                if !self.sw_enabled() {
                    for lvt in &mut self.state.lvt {
                        *lvt |= LVT_MASKED;
                    }
                }
            }
            REG_ESR => {
                self.state.esr = self.state.esr_pending;
                self.state.esr_pending = 0;
            }
            REG_ICR_LOW => {
                self.state.icr_low = value & 0x000c_cfff;
                self.send_ipi();
            }
            REG_ICR_HIGH => self.state.icr_high = value & 0xff00_0000,
            REG_LVT_TIMER..=REG_LVT_ERROR => {
                self.write_lvt(((reg - REG_LVT_TIMER) >> 4) as usize, value)
            }
            REG_TIMER_INITIAL => {
                if self.timer_mode() != TimerMode::TscDeadline {
                    self.state.timer_initial = value;
                    self.state.timer_next_ns = (value != 0).then(|| {
                        self.clock
                            .now_ns()
                            .saturating_add(self.count_ns(value as u64))
                    });
                }
            }
            REG_TIMER_DIVIDE => {
                // The count goes on from its present value at the new rate.
                let now = self.clock.now_ns();
                let count = self.current_count(now);
                self.state.timer_divide = value & 0xb;
                if self.state.timer_next_ns.is_some() && count > 0 {
                    self.state.timer_next_ns = Some(now + self.count_ns(count as u64));
                }
            }
            REG_VERSION | REG_APR | REG_PPR | REG_RRD | 0x100..=0x270 | REG_TIMER_CURRENT => {}
            _ => self.error(ESR_ILLEGAL_REGISTER),
        }
    }

    /// A guest read of the register page at `offset` (also for the CPU when
    /// the page was relocated). Registers are 32 bits wide at 16-byte
    /// strides; narrower reads see their bytes, wider ones the register in
    /// the low half.
    pub fn mmio_read(&mut self, offset: u64, size: u32) -> u64 {
        self.advance();
        let offset = offset & (LAPIC_SIZE - 1);
        let within = offset & 0xf;
        if within >= 4 {
            return 0;
        }
        let value = self.read_register(offset & !0xf) as u64 >> (8 * within);
        match size {
            1 => value & 0xff,
            2 => value & 0xffff,
            4 => value & 0xffff_ffff,
            _ => value,
        }
    }

    /// A guest write of the register page. Only aligned 32-bit (or 64-bit,
    /// low half used) writes reach a register, as the SDM requires of
    /// software; anything else is dropped.
    pub fn mmio_write(&mut self, offset: u64, size: u32, value: u64) {
        self.advance();
        let offset = offset & (LAPIC_SIZE - 1);
        if offset & 0xf != 0 || size < 4 {
            return;
        }
        self.write_register(offset, value as u32);
        // A newly armed or unmasked timer may already be due.
        self.advance();
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimerMode {
    OneShot,
    Periodic,
    TscDeadline,
}

/// The window at 0xFEE00000: it answers while the APIC is enabled and based
/// there; otherwise the page is not the APIC's (reads float, writes vanish).
impl MmioDevice for Lapic {
    fn read(&mut self, offset: u64, size: u32) -> u64 {
        if self.hw_enabled() && self.base_address() == LAPIC_BASE {
            self.mmio_read(offset, size)
        } else {
            u64::MAX >> (64 - 8 * size.clamp(1, 8))
        }
    }

    fn write(&mut self, offset: u64, size: u32, value: u64) {
        if self.hw_enabled() && self.base_address() == LAPIC_BASE {
            self.mmio_write(offset, size, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::bus::MmioBus;
    use crate::machine::clock::VirtualClock;

    /// A local APIC on an MMIO bus at its reset base, with a deterministic
    /// clock (1 ns per instruction), driven as a guest would.
    struct Rig {
        bus: MmioBus,
        lapic: SharedLapic,
        clock: Clock,
    }

    impl Rig {
        fn new() -> Self {
            let clock = VirtualClock::deterministic();
            let lapic = Arc::new(Mutex::new(Lapic::new(clock.clone(), 0, true)));
            let mut bus = MmioBus::default();
            bus.register(LAPIC_BASE, LAPIC_SIZE, Box::new(lapic.clone()))
                .unwrap();
            Rig { bus, lapic, clock }
        }

        /// Software-enabled with spurious vector 0xFF, TPR 0.
        fn enabled() -> Self {
            let mut rig = Rig::new();
            rig.w(REG_SVR, 0x1ff);
            rig
        }

        fn r(&mut self, reg: u64) -> u32 {
            self.bus.read(LAPIC_BASE + reg, 4) as u32
        }

        fn w(&mut self, reg: u64, value: u32) {
            self.bus.write(LAPIC_BASE + reg, 4, value as u64);
        }

        fn at(&self, ns: u64) {
            self.clock.set_icount(ns);
        }

        fn advance(&self) {
            self.lapic.lock().unwrap().advance();
        }

        fn deadline(&self) -> Option<u64> {
            self.lapic.lock().unwrap().next_deadline_ns()
        }

        fn pending(&self) -> Option<u8> {
            self.lapic.lock().unwrap().pending_vector()
        }

        fn ack(&self) -> u8 {
            self.lapic.lock().unwrap().acknowledge()
        }

        fn accept(&self, v: u8, level: bool) {
            self.lapic.lock().unwrap().accept(v, level);
        }

        fn irr_bit(&mut self, v: u8) -> bool {
            self.r(REG_IRR + ((v as u64 >> 5) << 4)) & (1 << (v & 31)) != 0
        }

        fn isr_bit(&mut self, v: u8) -> bool {
            self.r(REG_ISR + ((v as u64 >> 5) << 4)) & (1 << (v & 31)) != 0
        }

        fn esr(&mut self) -> u32 {
            self.w(REG_ESR, 0);
            self.r(REG_ESR)
        }
    }

    #[test]
    fn reset_state_follows_the_sdm() {
        let mut rig = Rig::new();
        assert_eq!(rig.r(REG_ID), 0);
        assert_eq!(rig.r(REG_VERSION), 0x0005_0014);
        assert_eq!(rig.r(REG_SVR), 0xff);
        assert_eq!(rig.r(REG_DFR), 0xffff_ffff);
        assert_eq!(rig.r(REG_LDR), 0);
        assert_eq!(rig.r(REG_TPR), 0);
        for i in 0..6 {
            assert_eq!(rig.r(REG_LVT_TIMER + 0x10 * i), 0x1_0000, "LVT {i} masked");
        }
        for i in 0..8 {
            assert_eq!(rig.r(REG_ISR + 0x10 * i), 0);
            assert_eq!(rig.r(REG_IRR + 0x10 * i), 0);
            assert_eq!(rig.r(REG_TMR + 0x10 * i), 0);
        }
        let l = rig.lapic.lock().unwrap();
        assert_eq!(l.apic_base(), 0xfee0_0900);
        assert!(
            !l.pic_intr_routed(),
            "every LVT masked: LINT0 blocks the PIC"
        );
    }

    #[test]
    fn virtual_wire_mode_passes_the_pic() {
        let mut rig = Rig::new();
        rig.lapic.lock().unwrap().enter_virtual_wire_mode();
        assert_eq!(rig.r(0x350), 0x700);
        assert_eq!(rig.r(0x360), 0x400);
        assert!(rig.lapic.lock().unwrap().lint0_extint_enabled());
        assert!(rig.lapic.lock().unwrap().pic_intr_routed());
        // Linux masks LINT0 when it switches to the I/O APIC.
        rig.w(0x350, 0x1_0700);
        assert!(!rig.lapic.lock().unwrap().pic_intr_routed());
        // Fixed delivery on LINT0 is not the ExtINT pass-through.
        rig.w(0x350, 0x0000_0030);
        assert!(!rig.lapic.lock().unwrap().lint0_extint_enabled());
    }

    #[test]
    fn globally_disabled_apic_is_transparent_and_resets() {
        let mut rig = Rig::enabled();
        rig.w(REG_TPR, 0x20);
        rig.lapic
            .lock()
            .unwrap()
            .write_apic_base(LAPIC_BASE | APIC_BASE_BSP);
        assert!(rig.lapic.lock().unwrap().pic_intr_routed());
        assert_eq!(rig.r(REG_VERSION), 0xffff_ffff, "the page is not decoded");
        rig.accept(0x40, false);
        assert_eq!(rig.pending(), None);
        rig.lapic
            .lock()
            .unwrap()
            .write_apic_base(LAPIC_BASE | APIC_BASE_ENABLE);
        assert_eq!(rig.r(REG_TPR), 0, "back in the power-on state");
        assert_eq!(rig.r(REG_SVR), 0xff);
        assert_eq!(
            rig.lapic.lock().unwrap().apic_base(),
            0xfee0_0900,
            "BSP is read-only"
        );
    }

    #[test]
    fn relocated_page_leaves_the_default_window() {
        let mut rig = Rig::enabled();
        rig.lapic
            .lock()
            .unwrap()
            .write_apic_base(0xfed4_0000 | APIC_BASE_ENABLE);
        assert_eq!(rig.r(REG_VERSION), 0xffff_ffff);
        let mut l = rig.lapic.lock().unwrap();
        assert_eq!(l.base_address(), 0xfed4_0000);
        assert_eq!(
            l.mmio_read(REG_VERSION, 4),
            0x0005_0014,
            "CPU-forwarded access"
        );
    }

    #[test]
    fn writable_bits_of_id_ldr_dfr_svr_tpr() {
        let mut rig = Rig::new();
        rig.w(REG_ID, 0xffff_ffff);
        assert_eq!(rig.r(REG_ID), 0xff00_0000);
        rig.w(REG_LDR, 0xffff_ffff);
        assert_eq!(rig.r(REG_LDR), 0xff00_0000);
        rig.w(REG_DFR, 0);
        assert_eq!(rig.r(REG_DFR), 0x0fff_ffff);
        rig.w(REG_SVR, 0xffff_ffff);
        assert_eq!(rig.r(REG_SVR), 0x1ff);
        rig.w(REG_TPR, 0xffff_ffff);
        assert_eq!(rig.r(REG_TPR), 0xff);
        rig.w(REG_VERSION, 0);
        assert_eq!(rig.r(REG_VERSION), LAPIC_VERSION, "read-only");
    }

    #[test]
    fn lvt_masks_stick_while_software_disabled() {
        let mut rig = Rig::new();
        rig.w(REG_LVT_TIMER, 0x30);
        assert_eq!(rig.r(REG_LVT_TIMER), 0x1_0030);
        rig.w(REG_SVR, 0x1ff);
        rig.w(REG_LVT_TIMER, 0x30);
        assert_eq!(rig.r(REG_LVT_TIMER), 0x30);
        rig.w(REG_SVR, 0xff);
        assert_eq!(rig.r(REG_LVT_TIMER), 0x1_0030, "disabling masks every LVT");
        // Reserved bits read 0 in every entry.
        rig.w(REG_SVR, 0x1ff);
        for (i, mask) in LVT_WRITABLE.iter().enumerate() {
            rig.w(REG_LVT_TIMER + 0x10 * i as u64, 0xffff_ffff);
            assert_eq!(rig.r(REG_LVT_TIMER + 0x10 * i as u64), *mask);
        }
    }

    #[test]
    fn priority_tpr_and_ppr() {
        let mut rig = Rig::enabled();
        rig.accept(0x41, false);
        rig.accept(0x35, false);
        assert_eq!(rig.pending(), Some(0x41));
        rig.w(REG_TPR, 0x40);
        assert_eq!(rig.pending(), None, "class 4 is not above TPR class 4");
        rig.w(REG_TPR, 0x3f);
        assert_eq!(rig.pending(), Some(0x41));
        assert_eq!(rig.ack(), 0x41);
        assert_eq!(rig.r(REG_PPR), 0x40, "the class in service");
        assert_eq!(rig.pending(), None, "0x35 waits behind 0x41");
        rig.w(REG_EOI, 0);
        assert_eq!(rig.r(REG_PPR), 0x3f);
        rig.w(REG_TPR, 0);
        assert_eq!(rig.ack(), 0x35);
        assert!(rig.isr_bit(0x35));
        assert!(!rig.irr_bit(0x35));
    }

    #[test]
    fn higher_class_preempts_and_eoi_ends_the_highest() {
        let mut rig = Rig::enabled();
        rig.accept(0x30, false);
        assert_eq!(rig.ack(), 0x30);
        rig.accept(0x31, false);
        assert_eq!(rig.pending(), None, "same class does not nest");
        rig.accept(0x50, false);
        assert_eq!(rig.ack(), 0x50);
        rig.w(REG_EOI, 0);
        assert!(!rig.isr_bit(0x50));
        assert!(rig.isr_bit(0x30));
        rig.w(REG_EOI, 0);
        assert_eq!(rig.ack(), 0x31);
    }

    #[test]
    fn acknowledge_with_nothing_pending_gives_the_spurious_vector() {
        let mut rig = Rig::enabled();
        rig.w(REG_SVR, 0x1e7);
        assert_eq!(rig.ack(), 0xe7);
        for i in 0..8 {
            assert_eq!(rig.r(REG_ISR + 0x10 * i), 0);
        }
    }

    #[test]
    fn software_disabled_apic_holds_interrupts() {
        let mut rig = Rig::new();
        rig.accept(0x60, false);
        assert!(rig.irr_bit(0x60));
        assert_eq!(rig.pending(), None);
        rig.w(REG_SVR, 0x1ff);
        assert_eq!(rig.pending(), Some(0x60));
    }

    #[test]
    fn illegal_vectors_are_logged_in_esr_and_raise_the_error_lvt() {
        let mut rig = Rig::enabled();
        rig.w(REG_LVT_ERROR, 0xfe);
        rig.accept(0x05, false);
        assert!(!rig.irr_bit(0x05));
        assert_eq!(rig.r(REG_ESR), 0, "latched only by an ESR write");
        assert_eq!(rig.esr(), ESR_RECEIVE_ILLEGAL_VECTOR);
        assert_eq!(rig.esr(), 0, "the write cleared it");
        assert_eq!(rig.pending(), Some(0xfe));
        // A self-IPI with an illegal vector is a send error.
        rig.w(REG_ICR_LOW, 0x0004_0003);
        assert_eq!(rig.esr(), ESR_SEND_ILLEGAL_VECTOR);
        // A register that does not exist.
        rig.r(0x2f0);
        assert_eq!(rig.esr(), ESR_ILLEGAL_REGISTER);
    }

    #[test]
    fn level_triggered_eoi_is_broadcast_once() {
        let mut rig = Rig::enabled();
        rig.accept(0x61, true);
        rig.accept(0x62, false);
        assert_ne!(rig.r(REG_TMR + 0x30) & (1 << 1), 0, "TMR records level");
        assert_eq!(rig.ack(), 0x62);
        rig.w(REG_EOI, 0);
        assert_eq!(rig.lapic.lock().unwrap().take_eoi_broadcast(), None);
        assert_eq!(rig.ack(), 0x61);
        rig.w(REG_EOI, 0);
        let mut l = rig.lapic.lock().unwrap();
        assert_eq!(l.take_eoi_broadcast(), Some(0x61));
        assert_eq!(l.take_eoi_broadcast(), None);
    }

    #[test]
    fn self_ipi_and_recorded_ipis() {
        let mut rig = Rig::enabled();
        rig.w(REG_ICR_LOW, 0x0004_0040); // self, fixed, 0x40
        assert_eq!(rig.pending(), Some(0x40));
        assert_eq!(rig.r(REG_ICR_LOW) & (1 << 12), 0, "delivery idle");
        rig.w(REG_ICR_HIGH, 0x0100_0000);
        rig.w(REG_ICR_LOW, 0x0000_c500); // INIT assert to APIC 1
        rig.w(REG_ICR_LOW, 0x0000_0699); // SIPI 0x99 to APIC 1
        rig.w(REG_ICR_LOW, 0x000c_0050); // all excluding self
        let mut l = rig.lapic.lock().unwrap();
        let sent = l.take_sent_ipis();
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[0].mode, DeliveryMode::Init);
        assert_eq!(sent[0].destination, Destination::Physical(1));
        assert_eq!(sent[1].mode, DeliveryMode::StartUp);
        assert_eq!(sent[1].vector, 0x99);
        assert_eq!(sent[2].destination, Destination::AllExcludingSelf);
        assert!(!l.take_init(), "not for us");
        assert_eq!(l.take_sipi(), None);
        assert_eq!(l.pending_vector(), Some(0x40), "0x50 not for us");
    }

    #[test]
    fn physical_and_logical_destinations() {
        let mut rig = Rig::enabled();
        rig.w(REG_ID, 0x0300_0000);
        rig.w(REG_LDR, 0x0400_0000);
        let l = rig.lapic.lock().unwrap();
        assert!(l.is_destination(Destination::Physical(3)));
        assert!(l.is_destination(Destination::Physical(0xff)));
        assert!(!l.is_destination(Destination::Physical(0)));
        assert!(l.is_destination(Destination::Logical(0x06)), "flat");
        assert!(!l.is_destination(Destination::Logical(0x0b)));
        drop(l);
        rig.w(REG_DFR, 0x0fff_ffff); // cluster model
        rig.w(REG_LDR, 0x2400_0000); // cluster 2, member bit 2
        let l = rig.lapic.lock().unwrap();
        assert!(l.is_destination(Destination::Logical(0x24)));
        assert!(l.is_destination(Destination::Logical(0xf4)));
        assert!(!l.is_destination(Destination::Logical(0x34)));
        assert!(!l.is_destination(Destination::Logical(0x21)));
    }

    #[test]
    fn nmi_init_and_sipi_messages_are_latched() {
        let rig = Rig::enabled();
        let mut l = rig.lapic.lock().unwrap();
        let msg = |mode, vector| ApicMessage {
            vector,
            mode,
            destination: Destination::Physical(0),
            level_triggered: false,
            assert: true,
        };
        assert!(l.receive(&msg(DeliveryMode::Nmi, 0)));
        assert!(l.take_nmi());
        assert!(!l.take_nmi());
        l.receive(&msg(DeliveryMode::Init, 0));
        assert!(l.take_init());
        l.receive(&msg(DeliveryMode::StartUp, 0x9a));
        assert_eq!(l.take_sipi(), Some(0x9a));
        let other = ApicMessage {
            destination: Destination::Physical(5),
            ..msg(DeliveryMode::Fixed, 0x80)
        };
        assert!(!l.receive(&other));
    }

    #[test]
    fn one_shot_timer_counts_down_and_fires_once() {
        let mut rig = Rig::enabled();
        rig.w(REG_TIMER_DIVIDE, 0x3); // divide by 16
        rig.w(REG_LVT_TIMER, 0x30);
        rig.at(1000);
        rig.w(REG_TIMER_INITIAL, 100);
        assert_eq!(rig.deadline(), Some(1000 + 1600));
        rig.at(1000 + 160);
        assert_eq!(rig.r(REG_TIMER_CURRENT), 90);
        rig.at(1000 + 1599);
        rig.advance();
        assert_eq!(rig.pending(), None);
        rig.at(1000 + 1600);
        rig.advance();
        assert_eq!(rig.pending(), Some(0x30));
        assert_eq!(rig.r(REG_TIMER_CURRENT), 0);
        assert_eq!(rig.deadline(), None);
        assert_eq!(rig.ack(), 0x30);
        rig.w(REG_EOI, 0);
        rig.at(100_000);
        rig.advance();
        assert_eq!(rig.pending(), None, "one-shot");
    }

    #[test]
    fn periodic_timer_reloads_and_collapses_missed_periods() {
        let mut rig = Rig::enabled();
        rig.w(REG_TIMER_DIVIDE, 0xb); // divide by 1
        rig.w(REG_LVT_TIMER, 0x2_0031);
        rig.w(REG_TIMER_INITIAL, 1000);
        assert_eq!(rig.deadline(), Some(1000));
        rig.at(1000);
        rig.advance();
        assert_eq!(rig.ack(), 0x31);
        rig.w(REG_EOI, 0);
        assert_eq!(rig.deadline(), Some(2000));
        rig.at(1250);
        assert_eq!(rig.r(REG_TIMER_CURRENT), 750);
        rig.at(10_500);
        rig.advance();
        assert_eq!(rig.ack(), 0x31);
        assert_eq!(rig.pending(), None, "one interrupt for a long busy spell");
        assert_eq!(rig.deadline(), Some(11_000));
        // Writing 0 stops it.
        rig.w(REG_TIMER_INITIAL, 0);
        assert_eq!(rig.deadline(), None);
        assert_eq!(rig.r(REG_TIMER_CURRENT), 0);
    }

    #[test]
    fn masked_timer_counts_without_interrupting() {
        let mut rig = Rig::enabled();
        rig.w(REG_TIMER_DIVIDE, 0xb);
        rig.w(REG_LVT_TIMER, 0x3_0040);
        rig.w(REG_TIMER_INITIAL, 100);
        assert_eq!(rig.deadline(), None, "nothing to wake up for");
        rig.at(250);
        assert_eq!(rig.r(REG_TIMER_CURRENT), 50);
        rig.advance();
        assert_eq!(rig.pending(), None);
        rig.w(REG_LVT_TIMER, 0x2_0040);
        assert_eq!(rig.deadline(), Some(300));
        rig.at(300);
        rig.advance();
        assert_eq!(rig.pending(), Some(0x40));
    }

    #[test]
    fn divide_configuration_values() {
        let expect = [2, 4, 8, 16, 32, 64, 128, 1];
        for (code, div) in expect.iter().enumerate() {
            let dcr = (code as u32 & 3) | ((code as u32 & 4) << 1);
            assert_eq!(divisor(dcr), *div, "code {code}");
        }
        let mut rig = Rig::enabled();
        rig.w(REG_TIMER_DIVIDE, 0xffff_ffff);
        assert_eq!(rig.r(REG_TIMER_DIVIDE), 0xb);
        // Changing the divisor mid-count continues from the present count.
        rig.w(REG_LVT_TIMER, 0x40);
        rig.w(REG_TIMER_INITIAL, 100);
        rig.at(40);
        rig.w(REG_TIMER_DIVIDE, 0x0); // divide by 2
        assert_eq!(rig.r(REG_TIMER_CURRENT), 60);
        assert_eq!(rig.deadline(), Some(40 + 120));
    }

    #[test]
    fn tsc_deadline_mode() {
        let mut rig = Rig::enabled();
        rig.w(REG_LVT_TIMER, 0x4_0050);
        rig.w(REG_TIMER_INITIAL, 1000);
        assert_eq!(rig.r(REG_TIMER_INITIAL), 0, "ignored in TSC-deadline mode");
        rig.at(100);
        {
            let mut l = rig.lapic.lock().unwrap();
            // TSC at 2 GHz reading 5000 now: deadline 7000 is 1000 ns away.
            l.write_tsc_deadline(7000, 5000, 2_000_000_000);
            assert_eq!(l.tsc_deadline(), 7000);
            assert_eq!(l.next_deadline_ns(), Some(1100));
        }
        rig.at(1100);
        rig.advance();
        assert_eq!(rig.pending(), Some(0x50));
        assert_eq!(
            rig.lapic.lock().unwrap().tsc_deadline(),
            0,
            "cleared on firing"
        );
        // A deadline in the past fires at once; zero disarms.
        rig.lapic.lock().unwrap().write_tsc_deadline(1, 5000, 1);
        rig.ack();
        rig.w(REG_EOI, 0);
        rig.advance();
        assert_eq!(rig.pending(), Some(0x50));
        rig.ack();
        rig.lapic
            .lock()
            .unwrap()
            .write_tsc_deadline(90_000, 0, 1_000_000_000);
        rig.lapic
            .lock()
            .unwrap()
            .write_tsc_deadline(0, 0, 1_000_000_000);
        assert_eq!(rig.deadline(), None);
        // Leaving the mode disarms; writes are then ignored.
        rig.lapic
            .lock()
            .unwrap()
            .write_tsc_deadline(90_000, 0, 1_000_000_000);
        rig.w(REG_LVT_TIMER, 0x50);
        assert_eq!(rig.deadline(), None);
        rig.lapic
            .lock()
            .unwrap()
            .write_tsc_deadline(90_000, 0, 1_000_000_000);
        assert_eq!(rig.lapic.lock().unwrap().tsc_deadline(), 0);
    }

    #[test]
    fn narrow_and_misaligned_accesses() {
        let mut rig = Rig::enabled();
        assert_eq!(rig.bus.read(LAPIC_BASE + REG_VERSION, 1), 0x14);
        assert_eq!(rig.bus.read(LAPIC_BASE + REG_VERSION + 2, 1), 0x05);
        assert_eq!(rig.bus.read(LAPIC_BASE + REG_VERSION + 4, 4), 0);
        rig.bus.write(LAPIC_BASE + REG_TPR, 1, 0x55);
        assert_eq!(rig.r(REG_TPR), 0, "byte writes are dropped");
        rig.bus
            .write(LAPIC_BASE + REG_TPR, 8, 0x1234_5678_0000_0066);
        assert_eq!(rig.r(REG_TPR), 0x66);
    }

    #[test]
    fn random_register_traffic_never_panics() {
        let mut rig = Rig::enabled();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut now = 0u64;
        for _ in 0..100_000 {
            let r = next();
            let offset = (r >> 8) & 0xfff;
            let size = [1u32, 2, 4, 8][(r >> 24 & 3) as usize];
            match r & 7 {
                0..=2 => rig.bus.write(LAPIC_BASE + (offset & !0xf), 4, r >> 32),
                3 => rig.bus.write(LAPIC_BASE + offset, size, r >> 32),
                4 => {
                    rig.bus.read(LAPIC_BASE + offset, size);
                }
                5 => {
                    now += r >> 50;
                    rig.at(now);
                    rig.advance();
                }
                6 => {
                    let mut l = rig.lapic.lock().unwrap();
                    match r >> 40 & 7 {
                        0 => l.accept((r >> 48) as u8, r & 8 != 0),
                        1 => {
                            l.acknowledge();
                        }
                        2 => {
                            l.take_eoi_broadcast();
                        }
                        3 => l.write_tsc_deadline(r >> 20, r >> 30, (r >> 50).max(1)),
                        4 => l.write_apic_base(r & (APIC_BASE_ADDR_MASK | APIC_BASE_ENABLE)),
                        5 => l.write_apic_base(LAPIC_BASE | APIC_BASE_ENABLE),
                        _ => {
                            l.take_sent_ipis();
                        }
                    }
                }
                _ => {
                    let l = rig.lapic.lock().unwrap();
                    if let Some(v) = l.pending_vector() {
                        assert!(v >> 4 > l.ppr() >> 4);
                    }
                    assert!(l.state.sent_ipis.len() <= SENT_IPI_LIMIT);
                    if let Some(d) = l.next_deadline_ns() {
                        drop(l);
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
        }
    }
}

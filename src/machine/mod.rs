//! The PC board: guest memory, buses, devices and the vCPU, wired together,
//! and the run loop that drives them.

pub mod acpi;
pub mod clock;
pub mod e820;
mod firmware;
pub mod linux_boot;
pub mod platform;

pub use firmware::{map_firmware, FirmwareError};

use crate::cpu::{Cpu, Observer, StopReason};
use crate::devices::bus::PortBus;
use crate::devices::debug_console::DebugConsole;
use crate::devices::debug_exit::{DebugExit, ExitRequest};
use crate::mem::GuestMemory;
use clock::{Clock, ClockSource, VirtualClock};
use platform::Platform;
use std::io::Write;

/// Port of the debug console (Bochs' "port E9 hack").
pub const DEBUG_CONSOLE_PORT: u16 = 0xe9;
/// Port of the isa-debug-exit device (QEMU's default iobase).
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// What the user asked for.
pub struct MachineConfig {
    /// Guest RAM in bytes.
    pub ram_size: u64,
    /// Firmware image to map below 4 GiB and at the top of the first MiB.
    pub firmware: Vec<u8>,
    /// Where bytes written to the debug console go.
    pub console: Box<dyn Write>,
    /// On a triple fault (or other reset request), stop instead of
    /// resetting the machine as a PC does (QEMU's -no-reboot).
    pub no_reboot: bool,
    /// Where COM1's output goes.
    pub serial: Box<dyn Write + Send>,
    /// Where guest time comes from.
    pub clock: ClockSource,
}

impl MachineConfig {
    /// A machine with `firmware`, the debug console and COM1 on stdout,
    /// deterministic time and the given RAM.
    pub fn new(ram_size: u64, firmware: Vec<u8>) -> Self {
        MachineConfig {
            ram_size,
            firmware,
            console: Box::new(std::io::stdout()),
            no_reboot: false,
            serial: Box::new(std::io::stdout()),
            clock: ClockSource::Deterministic {
                ns_per_instruction: 1,
            },
        }
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// The guest wrote to the debug-exit port: exit with this status.
    Exit(i32),
    /// The CPU halted with nothing that could wake it.
    Halted,
    /// A triple fault shut the CPU down.
    Shutdown,
    /// The guest powered the machine off (ACPI S5).
    PowerOff,
    /// The instruction limit given to `run` was reached.
    InstructionLimit,
}

pub struct Machine {
    pub cpu: Cpu,
    pub mem: GuestMemory,
    pub io: PortBus,
    pub clock: Clock,
    pub platform: Platform,
    exit: ExitRequest,
    no_reboot: bool,
    /// Resets performed since the machine was built.
    pub resets: u64,
}

/// Instructions run between looks at the machine's devices.
const SLICE: u64 = 100_000;

impl Machine {
    pub fn build(config: MachineConfig) -> Result<Self, String> {
        let mut mem = GuestMemory::new(config.ram_size).map_err(|e| {
            format!(
                "cannot allocate {} bytes of guest RAM: {e}",
                config.ram_size
            )
        })?;
        map_firmware(&mut mem, config.firmware).map_err(|e| e.to_string())?;
        let exit = ExitRequest::default();
        let mut io = PortBus::default();
        io.register(
            DEBUG_CONSOLE_PORT,
            1,
            Box::new(DebugConsole::new(config.console)),
        )
        .map_err(|e| e.to_string())?;
        io.register(DEBUG_EXIT_PORT, 1, Box::new(DebugExit::new(exit.clone())))
            .map_err(|e| e.to_string())?;
        let clock = VirtualClock::new(config.clock);
        io.clock = Some(clock.clone());
        let platform = Platform::build(&mut io, &mut mem, &clock, config.ram_size, config.serial)
            .map_err(|e| e.to_string())?;
        let mut cpu = Cpu::new();
        cpu.lapic = Some(platform.lapic.clone());
        Ok(Machine {
            cpu,
            mem,
            io,
            clock,
            platform,
            exit,
            no_reboot: config.no_reboot,
            resets: 0,
        })
    }

    /// Loads a Linux bzImage (and initrd) with the boot protocol and puts
    /// the CPU at its entry point: the 64-bit one when the kernel has it
    /// and the CPU can run it (long mode and SSE2), else the 32-bit one.
    pub fn boot_linux(
        &mut self,
        image: &[u8],
        initrd: Option<&[u8]>,
        cmdline: &str,
    ) -> Result<(), String> {
        let bz = linux_boot::BzImage::parse(image).map_err(|e| e.to_string())?;
        let (_, _, _, edx1) = crate::cpu::cpuid::cpuid(1, 0);
        let (_, _, _, edx_ext) = crate::cpu::cpuid::cpuid(0x8000_0001, 0);
        let can_64 = edx_ext & (1 << 29) != 0 && edx1 & (1 << 26) != 0;
        let entry = if bz.has_64bit_entry() && can_64 {
            linux_boot::Entry::Bits64
        } else {
            linux_boot::Entry::Bits32
        };
        // Firmware's ACPI setup; the tables' memory leaves the RAM map.
        let apic_id = self.platform.lapic.lock().map(|l| l.id()).unwrap_or(0);
        let (acpi, nvs) = if acpi::firmware::prepare(&mut self.mem, &mut self.io, &[apic_id]) {
            (acpi::TABLES_SIZE, acpi::NVS_SIZE)
        } else {
            (0, 0)
        };
        let e820 = e820::pc_memory_map(self.mem.ram_size(), acpi, nvs);
        linux_boot::load(
            &mut self.mem,
            &mut self.cpu.state,
            image,
            initrd,
            cmdline,
            &e820,
            entry,
        )
        .map_err(|e| e.to_string())?;
        self.cpu.tlb.flush_all();
        self.cpu.flush_decode_cache(&mut self.mem);
        Ok(())
    }

    /// A hardware reset: the CPU restarts at the reset vector; RAM keeps
    /// its contents, as on a PC's warm reset.
    pub fn reset(&mut self) {
        log::info!("machine reset");
        self.cpu.state.reset();
        self.cpu.tlb.flush_all();
        self.cpu.flush_decode_cache(&mut self.mem);
        self.mem.set_a20(true);
        self.platform.reset();
        self.resets += 1;
    }

    /// Runs until the guest exits, halts for good, shuts down, or `limit`
    /// instructions have retired.
    pub fn run(
        &mut self,
        limit: Option<u64>,
        mut observer: Option<&mut dyn Observer>,
    ) -> RunOutcome {
        let end = limit.map(|l| self.cpu.state.icount.saturating_add(l));
        loop {
            let icount = self.cpu.state.icount;
            if end.is_some_and(|e| icount >= e) {
                return RunOutcome::InstructionLimit;
            }
            self.clock.set_icount(icount);
            self.platform.advance_timers();
            if self.platform.control.take_poweroff_request() {
                return RunOutcome::PowerOff;
            }
            if self.platform.control.take_reset_request() {
                if self.no_reboot {
                    return RunOutcome::Shutdown;
                }
                self.reset();
                continue;
            }
            self.mem.set_a20(self.platform.control.a20_enabled());
            if self.cpu.state.accepts_interrupt() && self.platform.interrupt_pending() {
                let vector = self.platform.acknowledge();
                if self
                    .cpu
                    .deliver_interrupt(&mut self.mem, &mut self.io, vector)
                    .is_err()
                {
                    if self.no_reboot {
                        return RunOutcome::Shutdown;
                    }
                    self.reset();
                    continue;
                }
            }
            let deadline = self.platform.next_deadline_ns();
            if self.cpu.state.halted {
                if !self.wait_for_event(deadline) {
                    return RunOutcome::Halted;
                }
                continue;
            }
            let mut budget = SLICE;
            if let Some(e) = end {
                budget = budget.min(e - icount);
            }
            if let Some(until) = deadline.and_then(|d| self.clock.instructions_until(d)) {
                budget = budget.min(until.max(1));
            }
            let stop = match observer {
                Some(ref mut o) => {
                    self.cpu
                        .run(&mut self.mem, &mut self.io, budget, Some(&mut **o))
                }
                None => self.cpu.run(&mut self.mem, &mut self.io, budget, None),
            };
            if let Some(status) = self.exit.take() {
                return RunOutcome::Exit(status);
            }
            if self.cpu.state.x87.take_ferr() {
                self.platform.fpu_error();
            }
            if stop == StopReason::TripleFault {
                if self.no_reboot {
                    return RunOutcome::Shutdown;
                }
                self.reset();
            }
        }
    }

    /// A halted CPU waits for the next timer event. Returns false when
    /// nothing can ever wake it (interrupts off, or no timer armed).
    fn wait_for_event(&mut self, deadline: Option<u64>) -> bool {
        if !self.cpu.state.accepts_interrupt() {
            return false;
        }
        let Some(deadline) = deadline else {
            return false;
        };
        match self.clock.source() {
            ClockSource::Deterministic { .. } => self.clock.skip_to(deadline),
            ClockSource::RealTime => {
                let now = self.clock.now_ns();
                let wait = deadline.saturating_sub(now).min(10_000_000);
                std::thread::sleep(std::time::Duration::from_nanos(wait));
            }
        }
        true
    }
}

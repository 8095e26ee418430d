//! The PC board: guest memory, buses, devices and the vCPU, wired together,
//! and the run loop that drives them.

pub mod acpi;
pub mod clock;
mod drives;
pub mod e820;
mod firmware;
pub mod frontend;
pub mod fw_cfg_tables;
pub mod linux_boot;
pub mod monitor;
pub mod platform;
pub mod serial_input;
pub mod smbios;

pub use drives::BootDevice;
pub use firmware::{map_firmware, FirmwareError};

use crate::cpu::{Cpu, Observer, StopReason};
use crate::devices::bus::PortBus;
use crate::devices::debug_console::DebugConsole;
use crate::devices::debug_exit::{DebugExit, ExitRequest};
use crate::devices::vga::VgaModel;
use crate::mem::GuestMemory;
use clock::{Clock, ClockSource, VirtualClock};
use platform::{lock, Platform};
use serial_input::SerialInput;
use std::io::Write;

/// Port of the debug console (Bochs' "port E9 hack").
pub const DEBUG_CONSOLE_PORT: u16 = 0xe9;
/// Port of QEMU's isa-debugcon as SeaBIOS uses it (its debug log).
pub const FIRMWARE_LOG_PORT: u16 = 0x402;
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
    /// The display adapter.
    pub vga: VgaModel,
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
            vga: VgaModel::default(),
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
    /// The user quit from the console (Ctrl-A x).
    Quit,
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
    /// Host time spent waiting with the CPU halted (not emulating).
    pub idle: std::time::Duration,
    /// Host input for COM1, when the console is interactive.
    serial_input: Option<SerialInput>,
    /// Where Ctrl-A s saves the screen.
    pub screenshot_path: std::path::PathBuf,
    /// The drives and their files, for the monitor.
    block_devices: Vec<monitor::BlockDevice>,
    /// A window showing the screen, and when it last drew.
    frontend: Option<(Box<dyn frontend::Frontend>, std::time::Instant)>,
    /// Guest time and instruction count when the TSC was last brought up
    /// to the clock.
    tsc_sync: (u64, u64),
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
        let platform = Platform::build(
            &mut io,
            &mut mem,
            &clock,
            config.ram_size,
            config.serial,
            config.vga,
        )
        .map_err(|e| e.to_string())?;
        // Firmware that boots the machine installs xlat's ACPI and SMBIOS
        // tables from fw_cfg.
        let apic_id = lock(&platform.lapic).id();
        let board = acpi::firmware::board(&mut mem, &[apic_id]);
        fw_cfg_tables::install(&mut lock(&platform.fw_cfg), &board).map_err(|e| e.to_string())?;
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
            idle: std::time::Duration::ZERO,
            serial_input: None,
            screenshot_path: "xlat-screenshot.png".into(),
            block_devices: Vec::new(),
            frontend: None,
            tsc_sync: (0, 0),
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
        smbios::install(&mut self.mem, &mut self.io);
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
        // No firmware runs: enable the IDE ports as it would have.
        lock(&self.platform.ide).firmware_setup();
        lock(&self.platform.dma).firmware_setup();
        if let Some(vga) = &self.platform.vga_pci {
            linux_boot::assign_vga_bars(&mut lock(vga));
        }
        program_mtrrs(&mut self.cpu.state.msr);
        Ok(())
    }

    /// Sends what firmware writes to port 0x402 (SeaBIOS' debug log, QEMU's
    /// `-debugcon`) to `out`. Without it the port is unclaimed.
    pub fn attach_firmware_log(&mut self, out: Box<dyn Write>) -> Result<(), String> {
        self.io
            .register(FIRMWARE_LOG_PORT, 1, Box::new(DebugConsole::new(out)))
            .map_err(|e| e.to_string())
    }

    /// Offers `rom` to the firmware as the VGA BIOS: the PCI card's
    /// expansion ROM, or for the ISA card fw_cfg "vgaroms/vgabios.bin"
    /// (SeaBIOS runs either as the video option ROM).
    pub fn add_vga_rom(&mut self, rom: Vec<u8>) -> Result<(), String> {
        if let Some(vga) = &self.platform.vga_pci {
            lock(vga).set_rom(rom);
            return Ok(());
        }
        lock(&self.platform.fw_cfg)
            .add_file("vgaroms/vgabios.bin", rom)
            .map_err(|e| e.to_string())
    }

    /// Saves what the VGA shows to `screenshot_path` (the console's
    /// Ctrl-A s), reporting on stderr.
    pub fn save_screenshot(&self) {
        let frame = lock(&self.platform.vga).render();
        match crate::host::screenshot::save_png(&frame, &self.screenshot_path) {
            Ok(()) => eprint!(
                "\r\nxlat: screenshot saved to {}\r\n",
                self.screenshot_path.display()
            ),
            Err(e) => eprint!("\r\nxlat: {e}\r\n"),
        }
    }

    /// The TSC ticks once per nanosecond of guest time. Between looks it
    /// counts retired instructions; time that passed without them (a
    /// halted CPU skipping to its next timer, or the host clock running
    /// ahead in real-time mode) is added here, so kernels that keep time
    /// with the TSC see the same time as the timers. It never goes back.
    fn sync_tsc(&mut self, icount: u64) {
        let now = self.clock.now_ns();
        let (last_ns, last_icount) = self.tsc_sync;
        let by_clock = now.saturating_sub(last_ns);
        let by_count = icount.saturating_sub(last_icount);
        if by_clock > by_count {
            self.cpu.state.tsc = self.cpu.state.tsc.wrapping_add(by_clock - by_count);
        }
        self.tsc_sync = (now, icount);
    }

    /// Shows the machine through `frontend` (a window) from now on.
    pub fn attach_frontend(&mut self, frontend: Box<dyn frontend::Frontend>) {
        self.frontend = Some((frontend, std::time::Instant::now()));
    }

    /// Lets the front end draw and take input once per frame interval of
    /// host time. False when the user closed it.
    fn refresh_frontend(&mut self) -> bool {
        let Some((frontend, last)) = self.frontend.as_mut() else {
            return true;
        };
        if last.elapsed() < frontend::FRAME_INTERVAL {
            return true;
        }
        *last = std::time::Instant::now();
        frontend.refresh(&self.platform)
    }

    /// After the guest stopped for good: keeps the front end (if any)
    /// showing the last picture until the user closes it or quits at the
    /// console.
    pub fn hold_display(&mut self) {
        while self.frontend.is_some() {
            if self.pump_serial_input(None) || !self.refresh_frontend() {
                return;
            }
            std::thread::sleep(frontend::FRAME_INTERVAL);
        }
    }

    /// Tells the firmware to offer its boot menu for `wait_ms` (fw_cfg's
    /// boot-menu item and SeaBIOS's etc/boot-menu-wait).
    pub fn enable_boot_menu(&mut self, wait_ms: u16) -> Result<(), String> {
        let mut cfg = lock(&self.platform.fw_cfg);
        cfg.set_item(
            crate::devices::fw_cfg::KEY_BOOT_MENU,
            1u16.to_le_bytes().to_vec(),
        );
        cfg.add_file("etc/boot-menu-wait", wait_ms.to_le_bytes().to_vec())
            .map_err(|e| e.to_string())
    }

    /// Feeds `input` to COM1's receiver from now on.
    pub fn attach_serial_input(&mut self, input: SerialInput) {
        self.serial_input = Some(input);
    }

    /// Moves host bytes into COM1 as far as its receiver has room, and
    /// acts on a console escape or monitor line. Returns true when the
    /// user asked to quit.
    fn pump_serial_input(&mut self, wait: Option<Option<std::time::Duration>>) -> bool {
        let Some(input) = self.serial_input.as_mut() else {
            return false;
        };
        let room = lock(&self.platform.com1).input_room();
        let command = match wait {
            // Nothing can move now: sleep until the host sends something.
            Some(timeout) if input.pending().is_empty() || room == 0 => input.wait(timeout),
            _ => input.poll(),
        };
        let pending = input.pending();
        if !pending.is_empty() {
            let mut com1 = lock(&self.platform.com1);
            let (head, _) = pending.as_slices();
            let taken = com1.enqueue_input(head);
            pending.drain(..taken);
        }
        // Every event that has arrived (a pasted line of monitor commands).
        let mut event = command;
        while let Some(e) = event {
            if self.console_event(e) {
                return true;
            }
            event = self.serial_input.as_mut().and_then(|i| i.poll());
        }
        false
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
        // A halted CPU retires nothing, so in deterministic mode the limit
        // also bounds guest time: a guest halted with its interrupts masked
        // at the controllers would otherwise skip timer events forever.
        let time_end = match (self.clock.source(), limit) {
            (ClockSource::Deterministic { ns_per_instruction }, Some(l)) => Some(
                self.clock
                    .now_ns()
                    .saturating_add(l.saturating_mul(ns_per_instruction.max(1))),
            ),
            _ => None,
        };
        loop {
            let icount = self.cpu.state.icount;
            if end.is_some_and(|e| icount >= e) {
                return RunOutcome::InstructionLimit;
            }
            self.clock.set_icount(icount);
            self.sync_tsc(icount);
            if self.pump_serial_input(None) || !self.refresh_frontend() {
                return RunOutcome::Quit;
            }
            self.platform.advance_timers();
            self.platform.service_dma(&mut self.mem);
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
            let pam = self.platform.pam();
            if pam != self.mem.pam() {
                self.mem.set_pam(pam);
            }
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
                if time_end.is_some_and(|t| self.clock.now_ns() >= t) {
                    return RunOutcome::InstructionLimit;
                }
                let idle_from = std::time::Instant::now();
                let wake = self.wait_for_event(deadline);
                self.idle += idle_from.elapsed();
                match wake {
                    Wake::Event => continue,
                    Wake::Never => return RunOutcome::Halted,
                    Wake::Quit => return RunOutcome::Quit,
                }
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

    /// A halted CPU waits for the next timer event or for console input.
    fn wait_for_event(&mut self, deadline: Option<u64>) -> Wake {
        if !self.cpu.state.accepts_interrupt() {
            return Wake::Never;
        }
        let input_open = self.serial_input.as_ref().is_some_and(|i| !i.exhausted());
        let timeout = match (self.clock.source(), deadline) {
            (ClockSource::Deterministic { .. }, Some(deadline)) if input_open => {
                // Someone may type: idle guest time passes at the host's
                // pace (in steps of at most 10 ms), so input arrives at
                // the guest time it was typed instead of after the guest
                // has raced through its timers (and any instruction limit).
                let now = self.clock.now_ns();
                let step = deadline.saturating_sub(now).min(10_000_000);
                let had = self.serial_input.as_mut().map_or(0, |i| i.pending().len());
                if self.pump_serial_input(Some(Some(std::time::Duration::from_nanos(step)))) {
                    return Wake::Quit;
                }
                let has = self.serial_input.as_mut().map_or(0, |i| i.pending().len());
                let delivered = lock(&self.platform.com1).irq_level();
                if !delivered && has == had {
                    self.clock.skip_to(now + step);
                }
                return Wake::Event;
            }
            (ClockSource::Deterministic { .. }, Some(deadline)) => {
                // Guest time jumps to the timer.
                self.clock.skip_to(deadline);
                return Wake::Event;
            }
            (ClockSource::RealTime, Some(deadline)) => {
                let wait = deadline.saturating_sub(self.clock.now_ns()).min(10_000_000);
                Some(std::time::Duration::from_nanos(wait))
            }
            // Only the console can wake the CPU now.
            (_, None) if input_open => None,
            (_, None) => return Wake::Never,
        };
        if input_open {
            if self.pump_serial_input(Some(timeout)) {
                return Wake::Quit;
            }
        } else if let Some(t) = timeout {
            std::thread::sleep(t);
        }
        Wake::Event
    }
}

/// The memory types a PC BIOS programs before an OS starts (as SeaBIOS
/// does): write-back RAM below 1 MiB except the uncached VGA window,
/// write-back by default, and the PCI/MMIO hole from `PCI_HOLE_START` to
/// 4 GiB uncached.
fn program_mtrrs(msr: &mut crate::cpu::state::Msrs) {
    const WB: u64 = 0x0606_0606_0606_0606;
    msr.mtrr_fixed = [WB, WB, 0, WB, WB, WB, WB, WB, WB, WB, WB];
    let hole = (1u64 << 32) - e820::PCI_HOLE_START;
    let phys_mask = (1u64 << crate::cpu::mmu::MAXPHYADDR) - 1;
    // Variable range 0: base (type UC = 0) and mask with the valid bit.
    msr.mtrr_var[0] = e820::PCI_HOLE_START;
    msr.mtrr_var[1] = (!(hole - 1) & phys_mask) | 1 << 11;
    // Enabled (bit 11), fixed ranges enabled (bit 10), default type WB.
    msr.mtrr_def_type = 1 << 11 | 1 << 10 | 6;
}

/// Why a halted CPU's wait ended.
enum Wake {
    Event,
    Never,
    Quit,
}

#[cfg(test)]
mod mtrr_tests {
    use super::*;

    #[test]
    fn direct_boot_mtrrs_mark_ram_write_back_and_the_hole_uncached() {
        let mut msr = crate::cpu::state::Msrs::default();
        program_mtrrs(&mut msr);
        assert_eq!(msr.mtrr_def_type, 0xc06);
        assert_eq!(msr.mtrr_fixed[2], 0, "A0000-BFFFF uncached (VGA)");
        assert_eq!(msr.mtrr_fixed[0] & 0xff, 6);
        assert_eq!(msr.mtrr_var[0], 0xe000_0000);
        // 512 MiB range: mask bits 29-39 and the valid bit.
        assert_eq!(msr.mtrr_var[1], 0xff_e000_0800);
    }
}

#[cfg(test)]
mod tsc_tests {
    use super::*;

    #[test]
    fn tsc_follows_guest_time_across_a_halted_skip() {
        let mut config = MachineConfig::new(1 << 20, vec![0xf4; 4096]);
        config.console = Box::new(std::io::sink());
        config.serial = Box::new(std::io::sink());
        let mut m = Machine::build(config).unwrap();
        m.sync_tsc(0);
        // Instructions alone: TSC = offset + icount, no correction.
        m.clock.set_icount(500);
        m.sync_tsc(500);
        assert_eq!(m.cpu.state.tsc, 0);
        // A halted CPU skips 1 ms of guest time: the TSC moves with it.
        m.clock.skip_to(1_000_500);
        m.sync_tsc(500);
        assert_eq!(m.cpu.state.tsc.wrapping_add(500), 1_000_500);
        assert_eq!(m.clock.now_ns(), 1_000_500);
    }
}

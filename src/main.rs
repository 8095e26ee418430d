//! The `xlat` command: boot a machine, or run the conformance suite.

mod bench_linux;
mod cli;

use clap::Parser as _;
use cli::{Cli, Command};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use xlat::host::terminal::{self, RawTerminal};
use xlat::machine::clock::ClockSource;
use xlat::machine::serial_input::SerialInput;
use xlat::machine::{Machine, MachineConfig, RunOutcome};
use xlat::trace::profile::{GuestProfile, Symbols};
use xlat::trace::text::TextTracer;

/// The built-in demo firmware (bios/), assembled at build time.
/// How many rows --profile writes.
const PROFILE_ROWS: usize = 200;
const DEMO_ROM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/demo.rom"));

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // One line naming the problem, not clap's usage essay.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad arguments");
            eprintln!("xlat: {}", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Some(Command::Sst(args)) => cli::run_sst(&args),
        Some(Command::Hostcheck(args)) => cli::run_hostcheck(&args),
        Some(Command::Bench(args)) => cli::run_bench(&args),
        None => boot(&cli.run),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("xlat: {msg}");
            ExitCode::from(2)
        }
    }
}

fn boot(args: &cli::RunArgs) -> Result<ExitCode, String> {
    let bios = firmware_path(args)?;
    let (firmware, demo) = match &bios {
        Some(path) => (
            std::fs::read(path)
                .map_err(|e| format!("cannot read firmware {}: {e}", path.display()))?,
            false,
        ),
        None => (DEMO_ROM.to_vec(), true),
    };
    let serial = output_for(&args.serial)?;
    let console_on_stdio = args.serial == cli::SerialTarget::Stdio;
    let interactive = console_on_stdio && terminal::stdin_is_terminal();
    let clock = match args.clock.as_str() {
        "realtime" => ClockSource::RealTime,
        "auto" if interactive => ClockSource::RealTime,
        _ => ClockSource::Deterministic {
            ns_per_instruction: 1,
        },
    };
    let mut machine = Machine::build(MachineConfig {
        ram_size: args.memory.0,
        firmware,
        console: Box::new(std::io::stdout()),
        no_reboot: args.no_reboot,
        serial,
        clock,
        vga: args.vga,
    })?;
    if let Some(path) = &args.screenshot {
        machine.screenshot_path = path.clone();
    }
    if let Some(wait_ms) = args.boot_menu {
        machine.enable_boot_menu(wait_ms)?;
    }
    let window = match args.display.as_str() {
        "window" => open_window(&mut machine).map(|()| true)?,
        "auto" if window_by_default() => match open_window(&mut machine) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("xlat: {e}; going on without a display");
                false
            }
        },
        _ => false,
    };
    if let Some(rom) = vga_rom_path(args, bios.as_deref()) {
        let data = std::fs::read(&rom)
            .map_err(|e| format!("cannot read VGA BIOS {}: {e}", rom.display()))?;
        machine.add_vga_rom(data)?;
    }
    if let Some(p) = &args.hda {
        machine.attach_disk_with(0, 0, p, args.snapshot)?;
    }
    if let Some(p) = &args.hdb {
        machine.attach_disk_with(0, 1, p, args.snapshot)?;
    }
    match &args.cdrom {
        Some(p) if p.as_os_str().is_empty() => machine.attach_empty_cdrom(1, 0),
        Some(p) => machine.attach_cdrom(1, 0, p)?,
        None => {}
    }
    if let Some(p) = &args.fda {
        machine.attach_floppy(0, p)?;
    }
    machine.set_boot_order(&args.boot.0);
    if args.debugcon != cli::SerialTarget::None {
        machine.attach_firmware_log(output_for(&args.debugcon)?)?;
    }
    let demo = demo && args.kernel.is_none();
    if let Some(kernel) = &args.kernel {
        let image = std::fs::read(kernel)
            .map_err(|e| format!("cannot read kernel {}: {e}", kernel.display()))?;
        let initrd = match &args.initrd {
            Some(p) => Some(
                std::fs::read(p).map_err(|e| format!("cannot read initrd {}: {e}", p.display()))?,
            ),
            None => None,
        };
        machine
            .boot_linux(&image, initrd.as_deref(), &args.append)
            .map_err(|e| format!("{}: {e}", kernel.display()))?;
    }
    // The console is QEMU's -serial stdio: keys go to COM1 (raw mode on a
    // terminal, restored when `_raw` drops), Ctrl-A x quits.
    let _raw = if console_on_stdio {
        machine.attach_serial_input(SerialInput::spawn(std::io::stdin()));
        interactive.then(RawTerminal::enter).flatten()
    } else {
        None
    };
    let symbols = match &args.profile_symbols {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))
                .and_then(|text| {
                    Symbols::parse(&text).map_err(|e| format!("{}: {e}", p.display()))
                })?,
        ),
        None => None,
    };
    if args.generic_handlers {
        machine.cpu.set_fast_handlers(false);
    }
    if args.profile.is_some() {
        machine.cpu.profile = Some(GuestProfile::default());
    }
    let started = Instant::now();
    let mut tracer = args
        .trace_text
        .then(|| TextTracer::new(std::io::BufWriter::new(std::io::stderr())));
    let mut limit = args.max_instructions;
    let mut early = None;
    if let Some(from) = args.trace_from.filter(|_| tracer.is_some()) {
        // Run untraced up to the interesting part.
        let first = limit.map_or(from, |l| l.min(from));
        let outcome = machine.run(Some(first), None);
        if outcome != RunOutcome::InstructionLimit {
            early = Some(outcome);
        }
        limit = limit.map(|l| l - first);
    }
    let outcome = match early {
        Some(o) => o,
        None => machine.run(limit, tracer.as_mut().map(|t| t as _)),
    };
    drop(tracer);
    if let Some(path) = &args.screenshot {
        let frame = machine
            .platform
            .vga
            .lock()
            .map_err(|_| "VGA state lost")?
            .render();
        xlat::host::screenshot::save_png(&frame, path)?;
    }
    let elapsed = started.elapsed();
    if let (Some(path), Some(profile)) = (&args.profile, &machine.cpu.profile) {
        let mut out = std::fs::File::create(path)
            .map(std::io::BufWriter::new)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        profile
            .write_report(&mut out, symbols.as_ref(), PROFILE_ROWS)
            .and_then(|()| std::io::Write::flush(&mut out))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let icount = machine.cpu.state.icount;
    if args.stats || demo {
        // MIPS over the time spent emulating: a guest waiting halted (the
        // demo holds its text screen) is not slow.
        let busy = elapsed.saturating_sub(machine.idle);
        let mips = icount as f64 / busy.as_secs_f64().max(1e-9) / 1e6;
        let halted = if machine.idle.as_millis() >= 100 {
            format!("; {:.1} s of it halted", machine.idle.as_secs_f64())
        } else {
            String::new()
        };
        eprintln!(
            "xlat: {icount} instructions in {:.3} s ({mips:.1} MIPS, interpreter{halted})",
            elapsed.as_secs_f64()
        );
        if args.stats {
            let s = &machine.cpu.state;
            eprintln!(
                "xlat: stopped at {:04x}:{:x}, CR0 {:#x}, EFLAGS {:#x}{}",
                s.seg[1].selector,
                s.rip,
                s.cr0,
                s.flags(),
                if s.halted { ", halted" } else { "" }
            );
        }
    }
    if window && outcome == RunOutcome::Halted {
        // As in QEMU, a halted guest's last picture stays up.
        eprintln!("xlat: the guest has halted; close the window to quit");
        machine.hold_display();
    }
    Ok(match outcome {
        RunOutcome::Exit(status) => ExitCode::from(status as u8),
        RunOutcome::PowerOff => {
            eprintln!("xlat: the guest powered the machine off (ACPI S5)");
            ExitCode::SUCCESS
        }
        RunOutcome::Halted => {
            if !demo {
                eprintln!("xlat: the CPU halted with nothing left to wake it");
            }
            ExitCode::SUCCESS
        }
        RunOutcome::Shutdown => {
            eprintln!(
                "xlat: triple fault at {:04x}:{:x}; the machine shut down",
                machine.cpu.state.seg[1].selector, machine.cpu.state.rip
            );
            ExitCode::from(3)
        }
        RunOutcome::Quit => {
            eprintln!("xlat: quit from the console");
            ExitCode::SUCCESS
        }
        RunOutcome::InstructionLimit => {
            eprintln!("xlat: stopped after {icount} instructions (--max-instructions)");
            ExitCode::SUCCESS
        }
    })
}

/// The host stream a `stdio`/`file:PATH`/`none` flag names.
fn output_for(target: &cli::SerialTarget) -> Result<Box<dyn std::io::Write + Send>, String> {
    Ok(match target {
        cli::SerialTarget::Stdio => Box::new(std::io::stdout()),
        cli::SerialTarget::None => Box::new(std::io::sink()),
        cli::SerialTarget::File(p) => Box::new(
            std::fs::File::create(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?,
        ),
    })
}

/// The VGA BIOS to offer: --vga-rom, else SeaBIOS's VGA BIOS for the card
/// (PCI or ISA) when it sits beside the --bios file.
fn vga_rom_path(args: &cli::RunArgs, bios: Option<&Path>) -> Option<PathBuf> {
    use xlat::devices::vga::VgaModel;
    if let Some(p) = &args.vga_rom {
        return Some(p.clone());
    }
    let name = match args.vga {
        VgaModel::Std => "vgabios-stdvga.bin",
        VgaModel::Isa => "vgabios-isavga.bin",
        VgaModel::None => return None,
    };
    let sibling = bios?.parent()?.join(name);
    sibling.is_file().then_some(sibling)
}

/// Debian's SeaBIOS, the firmware QEMU boots drives with. Not its 256k
/// build: that one relocates SMBASE through an SMI at POST, and xlat has
/// no SMM, so it would wait for the SMI handler forever.
const SEABIOS: [&str; 1] = ["/usr/share/seabios/bios.bin"];

/// The firmware to run: --bios; else, as QEMU does, SeaBIOS when a disk,
/// CD or floppy is there to boot (and no --kernel boots directly); else
/// the built-in demo (None).
fn firmware_path(args: &cli::RunArgs) -> Result<Option<PathBuf>, String> {
    if let Some(p) = &args.bios {
        return Ok(Some(p.clone()));
    }
    let drives =
        args.hda.is_some() || args.hdb.is_some() || args.cdrom.is_some() || args.fda.is_some();
    if !drives || args.kernel.is_some() {
        return Ok(None);
    }
    SEABIOS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .map(Some)
        .ok_or_else(|| {
            "booting from a drive needs firmware: install Debian's seabios package or give --bios FILE"
                .to_string()
        })
}

/// `--display auto`'s choice, as QEMU's: a window when one can be shown
/// and someone is watching the terminal (so tests and pipelines, whose
/// stdout is not a terminal, stay headless).
fn window_by_default() -> bool {
    use std::io::IsTerminal as _;
    let desktop = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    cfg!(feature = "gui") && desktop && std::io::stdout().is_terminal()
}

#[cfg(feature = "gui")]
fn open_window(machine: &mut Machine) -> Result<(), String> {
    machine.attach_frontend(Box::new(xlat::host::display::Display::new()?));
    Ok(())
}

#[cfg(not(feature = "gui"))]
fn open_window(_machine: &mut Machine) -> Result<(), String> {
    Err("--display window: this xlat was built without the gui feature".into())
}

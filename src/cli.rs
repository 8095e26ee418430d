//! Command-line flags and their parsing.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "xlat", version, about = "A pure-software x86 PC emulator")]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run SingleStepTests files (MOO format) through the interpreter.
    Sst(SstArgs),
    /// Compare the interpreter with the host CPU on random operands.
    Hostcheck(HostcheckArgs),
    /// Side-by-side speed measurements.
    Bench(BenchArgs),
}

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchTarget,
}

#[derive(Subcommand)]
pub enum BenchTarget {
    /// Boot Debian's kernels to the test initramfs's marker with xlat's
    /// interpreter and with qemu-system-x86_64 -accel tcg; print both wall
    /// times and the ratio.
    Linux(BenchLinuxArgs),
}

#[derive(Args)]
pub struct BenchLinuxArgs {
    /// Folder of vmlinuz-ARCH and initramfs-test-ARCH.cpio.gz
    /// (default: $XLAT_GUESTS or ~/.cache/xlat-guests).
    #[arg(long, value_name = "DIR")]
    pub guests: Option<PathBuf>,
    /// The QEMU binary to compare with.
    #[arg(long, value_name = "FILE", default_value = "qemu-system-x86_64")]
    pub qemu: PathBuf,
    /// Guest RAM for both emulators.
    #[arg(short = 'm', long, default_value = "256M", value_parser = parse_memory)]
    pub memory: MemorySize,
    /// Kernel flavours to boot, in order.
    #[arg(long, value_delimiter = ',', default_value = "686,amd64",
          value_parser = ["686", "amd64"])]
    pub arch: Vec<String>,
    /// Give up on one boot after this many seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
}

pub fn run_bench(args: &BenchArgs) -> Result<ExitCode, String> {
    match &args.what {
        BenchTarget::Linux(a) => crate::bench_linux::run(&crate::bench_linux::Options {
            guests: a
                .guests
                .clone()
                .unwrap_or_else(crate::bench_linux::default_guests),
            qemu: a.qemu.clone(),
            memory_mib: a.memory.0 >> 20,
            arches: a.arch.clone(),
            timeout: std::time::Duration::from_secs(a.timeout),
        }),
    }
}

#[derive(Args)]
pub struct HostcheckArgs {
    /// Random cases per instruction form.
    #[arg(long, default_value_t = 10_000)]
    pub cases: u64,
    /// Only forms whose iced-x86 Code name contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Only forms of these CPUID features (iced-x86 names, comma-separated:
    /// SSE3,SSSE3,SSE4_1,SSE4_2,POPCNT).
    #[arg(long, value_delimiter = ',')]
    pub feature: Vec<String>,
    /// Seed of the random generator.
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,
    /// Show the first failing case of each form.
    #[arg(short, long)]
    pub verbose: bool,
    /// Code size to check: 64-bit mode (`long`), 32-bit code in a
    /// compatibility-mode segment (`compat32`), or both (`all`).
    #[arg(long, value_enum, default_value_t = HostcheckMode::All)]
    pub mode: HostcheckMode,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum HostcheckMode {
    Long,
    Compat32,
    All,
}

pub fn run_hostcheck(args: &HostcheckArgs) -> Result<ExitCode, String> {
    let opts = xlat::hostcheck::Options {
        cases: args.cases,
        filter: args.filter.clone(),
        features: args.feature.clone(),
        seed: args.seed,
        verbose: args.verbose,
        mode: match args.mode {
            HostcheckMode::Long => xlat::hostcheck::Mode::Long,
            HostcheckMode::Compat32 => xlat::hostcheck::Mode::Compat32,
            HostcheckMode::All => xlat::hostcheck::Mode::All,
        },
    };
    let tally = xlat::hostcheck::run(&opts, &mut std::io::stdout())?;
    Ok(if tally.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[derive(Args)]
pub struct RunArgs {
    /// Raw firmware image, mapped to end at 4 GiB and aliased below 1 MiB;
    /// the CPU starts at its reset vector. Without it: Debian's SeaBIOS
    /// (/usr/share/seabios) when a drive is given, else the built-in demo.
    #[arg(long, value_name = "FILE")]
    pub bios: Option<PathBuf>,
    /// Guest RAM, e.g. 640K, 16M, 2G.
    #[arg(short = 'm', long, default_value = "16M", value_parser = parse_memory)]
    pub memory: MemorySize,
    /// Print every executed instruction to stderr.
    #[arg(long)]
    pub trace_text: bool,
    /// With --trace-text: start tracing after this many instructions.
    #[arg(long, value_name = "N", requires = "trace_text")]
    pub trace_from: Option<u64>,
    /// Stop after this many instructions (with the deterministic clock,
    /// time spent halted counts too, at one instruction per nanosecond).
    #[arg(long, value_name = "N")]
    pub max_instructions: Option<u64>,
    /// Print instructions executed and MIPS at exit.
    #[arg(long)]
    pub stats: bool,
    /// Run every instruction through its generic handler, without the
    /// per-form fast handlers (slower; for checking them in lockstep).
    #[arg(long)]
    pub generic_handlers: bool,
    /// Count retired instructions per guest code block and write the
    /// hottest places to FILE at exit.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// With --profile: fold the blocks into the guest's symbols, from a
    /// System.map or /proc/kallsyms ("ADDR TYPE NAME" lines).
    #[arg(long, value_name = "FILE", requires = "profile")]
    pub profile_symbols: Option<PathBuf>,
    /// Exit instead of resetting the machine on a triple fault.
    #[arg(long)]
    pub no_reboot: bool,
    /// A Linux bzImage to boot directly (the Linux x86 boot protocol).
    #[arg(long, value_name = "BZIMAGE")]
    pub kernel: Option<PathBuf>,
    /// An initramfs/initrd for --kernel.
    #[arg(long, value_name = "FILE", requires = "kernel")]
    pub initrd: Option<PathBuf>,
    /// The kernel command line for --kernel.
    #[arg(
        long,
        value_name = "CMDLINE",
        requires = "kernel",
        default_value = "console=ttyS0"
    )]
    pub append: String,
    /// Where COM1 goes: stdio, file:PATH or none.
    #[arg(long, default_value = "stdio", value_parser = parse_serial)]
    pub serial: SerialTarget,
    /// The display adapter: std (QEMU's PCI VGA at 00:02.0), isa (its
    /// ISA variant, framebuffer at 0xE0000000) or none.
    #[arg(long, default_value = "std", value_parser = parse_vga)]
    pub vga: xlat::devices::vga::VgaModel,
    /// The VGA BIOS handed to the firmware (the PCI card's ROM BAR; fw_cfg
    /// for the ISA card). Default with --bios: vgabios-stdvga.bin (or
    /// vgabios-isavga.bin) beside the firmware file, if there is one
    /// (Debian's seabios package ships both).
    #[arg(long, value_name = "FILE")]
    pub vga_rom: Option<PathBuf>,
    /// Let the firmware offer its boot menu (SeaBIOS: "Press ESC for boot
    /// menu", waiting MS milliseconds).
    #[arg(long, value_name = "MS", num_args = 0..=1, default_missing_value = "2500")]
    pub boot_menu: Option<u16>,
    /// Show the screen: window (needs the gui feature and a desktop),
    /// none, or auto (the default): a window when this xlat has the gui
    /// feature, DISPLAY or WAYLAND_DISPLAY is set and stdout is a terminal,
    /// so tests and pipelines stay headless; a window that cannot open
    /// then gives a warning, not an error.
    #[arg(long, default_value = "auto", value_parser = ["auto", "window", "none"])]
    pub display: String,
    /// Save the screen as a PNG file when xlat exits (and on Ctrl-A s at
    /// the console; default name there: xlat-screenshot.png).
    #[arg(long, value_name = "FILE.png")]
    pub screenshot: Option<PathBuf>,
    /// Where the firmware's debug port 0x402 (SeaBIOS' log) goes: stdio,
    /// file:PATH or none.
    #[arg(long, default_value = "none", value_parser = parse_serial)]
    pub debugcon: SerialTarget,
    /// Raw disk image for the primary IDE master (read-write).
    #[arg(long, value_name = "FILE")]
    pub hda: Option<PathBuf>,
    /// Raw disk image for the primary IDE slave (read-write).
    #[arg(long, value_name = "FILE")]
    pub hdb: Option<PathBuf>,
    /// Raw 1.44 MB (or 360K/720K/1.2M/2.88M) diskette image for floppy
    /// drive A: (read-write; write-protected if the file is read-only).
    #[arg(long, value_name = "FILE")]
    pub fda: Option<PathBuf>,
    /// Keep the guest's disk writes in memory and drop them at exit: the
    /// --hda/--hdb image files stay unchanged.
    #[arg(long)]
    pub snapshot: bool,
    /// ISO image for the CD-ROM drive, the secondary IDE master; without
    /// FILE an empty drive (insert a disc with the monitor's change).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "",
          value_parser = parse_cdrom)]
    pub cdrom: Option<PathBuf>,
    /// Boot order for SeaBIOS: up to three of a (floppy), c (first hard
    /// disk), d (CD-ROM), e.g. d or cd. Default: c, then d.
    #[arg(long, value_name = "ORDER", default_value = "cd", value_parser = parse_boot_order)]
    pub boot: BootOrder,
    /// Guest time source: deterministic (follows executed instructions,
    /// reproducible) or realtime (follows the host clock). auto: realtime
    /// when the serial console is on an interactive terminal.
    #[arg(long, default_value = "auto", value_parser = ["auto", "deterministic", "realtime"])]
    pub clock: String,
}

/// Where the first serial port's bytes go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SerialTarget {
    Stdio,
    File(PathBuf),
    None,
}

pub fn parse_vga(s: &str) -> Result<xlat::devices::vga::VgaModel, String> {
    use xlat::devices::vga::VgaModel;
    match s {
        "std" => Ok(VgaModel::Std),
        "isa" => Ok(VgaModel::Isa),
        "none" => Ok(VgaModel::None),
        _ => Err(format!("'{s}' is not std, isa or none")),
    }
}

/// A CD image path; empty (a bare --cdrom) for an empty drive.
pub fn parse_cdrom(s: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(s))
}

pub fn parse_serial(s: &str) -> Result<SerialTarget, String> {
    match s {
        "stdio" => Ok(SerialTarget::Stdio),
        "none" => Ok(SerialTarget::None),
        _ => match s.strip_prefix("file:") {
            Some(p) if !p.is_empty() => Ok(SerialTarget::File(PathBuf::from(p))),
            _ => Err(format!("'{s}' is not stdio, none or file:PATH")),
        },
    }
}

/// Devices to boot from, first to last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootOrder(pub Vec<xlat::machine::BootDevice>);

/// Parses QEMU's boot-order letters.
pub fn parse_boot_order(s: &str) -> Result<BootOrder, String> {
    use xlat::machine::BootDevice;
    let order = s
        .chars()
        .map(|c| match c {
            'a' => Ok(BootDevice::Floppy),
            'c' => Ok(BootDevice::HardDisk),
            'd' => Ok(BootDevice::Cdrom),
            _ => Err(format!("'{s}': boot devices are a, c or d")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if order.is_empty() || order.len() > 3 {
        return Err(format!("'{s}': give one to three boot devices"));
    }
    Ok(BootOrder(order))
}

#[derive(Args)]
pub struct SstArgs {
    /// MOO files (.MOO or .MOO.gz) or folders of them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Show the first difference of every failing test.
    #[arg(short, long)]
    pub verbose: bool,
    /// Run only the test with this index in each file.
    #[arg(long, value_name = "N")]
    pub index: Option<u32>,
    /// Trace every executed instruction to stderr.
    #[arg(long)]
    pub trace_text: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemorySize(pub u64);

/// Parses "640K", "16M", "2G" or a plain byte count.
pub fn parse_memory(s: &str) -> Result<MemorySize, String> {
    let t = s.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a memory size like 256M or 2G"))?;
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(format!("'{s}' has an unknown unit (use K, M or G)")),
    };
    let bytes = n
        .checked_shl(shift)
        .filter(|b| b >> shift == n)
        .ok_or(format!("'{s}' is too large"))?;
    if !(64 << 10..=1 << 40).contains(&bytes) {
        return Err(format!("'{s}' is out of range (64K to 1024G)"));
    }
    Ok(MemorySize(bytes))
}

pub fn run_sst(args: &SstArgs) -> Result<ExitCode, String> {
    let opts = xlat::sst::Options {
        verbose: args.verbose,
        index: args.index,
        trace: args.trace_text,
    };
    let summary = xlat::sst::run_paths(&args.paths, &opts, &mut std::io::stdout())?;
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_parse_with_units() {
        assert_eq!(parse_memory("16M"), Ok(MemorySize(16 << 20)));
        assert_eq!(parse_memory("2G"), Ok(MemorySize(2 << 30)));
        assert_eq!(parse_memory("640k"), Ok(MemorySize(640 << 10)));
        assert_eq!(parse_memory("1048576"), Ok(MemorySize(1 << 20)));
        assert!(parse_memory("12Q").is_err());
        assert!(parse_memory("").is_err());
        assert!(parse_memory("1K").is_err());
    }

    #[test]
    fn boot_orders_parse_from_qemu_letters() {
        use xlat::machine::BootDevice::*;
        assert_eq!(parse_boot_order("d"), Ok(BootOrder(vec![Cdrom])));
        assert_eq!(
            parse_boot_order("cda"),
            Ok(BootOrder(vec![HardDisk, Cdrom, Floppy]))
        );
        assert!(parse_boot_order("x").is_err());
        assert!(parse_boot_order("").is_err());
        assert!(parse_boot_order("cdac").is_err());
    }
}

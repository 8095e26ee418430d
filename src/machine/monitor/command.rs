//! The monitor's command line: QEMU's HMP names and syntax for the
//! commands xlat has, parsed into values the machine carries out.

use std::fmt;
use std::path::PathBuf;

/// A drive by QEMU's name for its place: `ide0-hd0` (primary master disk),
/// `ide1-cd0` (secondary master CD-ROM), `floppy0` (A:).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriveName {
    Ide {
        channel: usize,
        position: usize,
        cdrom: bool,
    },
    Floppy(usize),
}

impl DriveName {
    pub fn parse(s: &str) -> Option<DriveName> {
        if let Some(n) = s.strip_prefix("floppy") {
            return match n {
                "0" => Some(DriveName::Floppy(0)),
                "1" => Some(DriveName::Floppy(1)),
                _ => None,
            };
        }
        let rest = s.strip_prefix("ide")?;
        // Bytes, not string slices: the user may type anything.
        let &[channel, b'-', k0, k1, position] = rest.as_bytes() else {
            return None;
        };
        let digit = |c: u8| matches!(c, b'0' | b'1').then(|| (c - b'0') as usize);
        let cdrom = match [k0, k1] {
            [b'h', b'd'] => false,
            [b'c', b'd'] => true,
            _ => return None,
        };
        Some(DriveName::Ide {
            channel: digit(channel)?,
            position: digit(position)?,
            cdrom,
        })
    }
}

impl fmt::Display for DriveName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DriveName::Ide {
                channel,
                position,
                cdrom,
            } => {
                let kind = if cdrom { "cd" } else { "hd" };
                write!(f, "ide{channel}-{kind}{position}")
            }
            DriveName::Floppy(n) => write!(f, "floppy{n}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MonitorCommand {
    Help,
    /// `info` alone: the list of what it shows.
    InfoHelp,
    InfoBlock,
    /// Opens the tray and removes the medium (`-f`: even if the guest
    /// locked it). The drive is named as typed, checked when carried out.
    Eject {
        force: bool,
        device: String,
    },
    Change {
        device: String,
        file: PathBuf,
    },
    Screendump(PathBuf),
    SystemReset,
    SystemPowerdown,
    Quit,
}

pub const MONITOR_HELP: &str = "\
change device filename [format] -- change a removable medium (format: raw)\r\n\
eject [-f] device -- eject a removable medium (use -f to force it)\r\n\
help|? [cmd] -- show the commands\r\n\
info block -- show the block devices\r\n\
quit|q -- quit the emulator\r\n\
screendump filename [-f png] -- save the screen as a PNG image\r\n\
system_powerdown -- send the ACPI power button event\r\n\
system_reset -- reset the system\r\n";

pub const INFO_HELP: &str = "info block -- show the block devices\r\n";

/// Parses one line; `Ok(None)` for a blank one. Errors are one line.
pub fn parse(line: &str) -> Result<Option<MonitorCommand>, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&name, args)) = words.split_first() else {
        return Ok(None);
    };
    let arity = |min: usize, max: usize| {
        if args.len() < min {
            Err(format!("{name}: missing parameter"))
        } else if args.len() > max {
            Err(format!("{name}: extraneous characters at the end of line"))
        } else {
            Ok(())
        }
    };
    let command = match name {
        "help" | "?" => {
            arity(0, 1)?;
            MonitorCommand::Help
        }
        "info" => match args {
            [] => MonitorCommand::InfoHelp,
            ["block"] => MonitorCommand::InfoBlock,
            [what, ..] => return Err(format!("info: unknown item '{what}'")),
        },
        "eject" => {
            let (force, rest) = match args {
                ["-f", rest @ ..] => (true, rest),
                rest => (false, rest),
            };
            match rest {
                [device] => MonitorCommand::Eject {
                    force,
                    device: device.to_string(),
                },
                [] => return Err("eject: missing parameter".into()),
                _ => return Err("eject: extraneous characters at the end of line".into()),
            }
        }
        "change" => {
            arity(2, 3)?;
            if let Some(&format) = args.get(2) {
                if format != "raw" {
                    return Err(format!("change: unknown format '{format}' (xlat has raw)"));
                }
            }
            MonitorCommand::Change {
                device: args[0].to_string(),
                file: PathBuf::from(args[1]),
            }
        }
        "screendump" => match args {
            [file] | [file, "-f", "png"] => MonitorCommand::Screendump(PathBuf::from(file)),
            [_, "-f", format] => {
                return Err(format!(
                    "screendump: format '{format}' not supported (png is)"
                ))
            }
            [] => return Err("screendump: missing parameter".into()),
            _ => return Err("screendump: extraneous characters at the end of line".into()),
        },
        "system_reset" => {
            arity(0, 0)?;
            MonitorCommand::SystemReset
        }
        "system_powerdown" => {
            arity(0, 0)?;
            MonitorCommand::SystemPowerdown
        }
        "quit" | "q" => {
            arity(0, 0)?;
            MonitorCommand::Quit
        }
        _ => return Err(format!("unknown command: '{name}'")),
    };
    Ok(Some(command))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> MonitorCommand {
        parse(line).unwrap().unwrap()
    }

    #[test]
    fn drive_names_follow_qemu() {
        for name in ["ide0-hd0", "ide0-hd1", "ide1-cd0", "ide1-cd1", "floppy0"] {
            assert_eq!(DriveName::parse(name).unwrap().to_string(), name);
        }
        assert_eq!(
            DriveName::parse("ide1-cd0"),
            Some(DriveName::Ide {
                channel: 1,
                position: 0,
                cdrom: true
            })
        );
        for bad in [
            "",
            "ide",
            "ide2-cd0",
            "ide1-cd2",
            "ide1-xx0",
            "ide1cd0x",
            "floppy2",
            "ide1-cd0 ",
            "ide\u{e9}-cd0",
            "ide1-c\u{e9}",
        ] {
            assert_eq!(DriveName::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn commands_and_their_arguments() {
        assert_eq!(parse("   "), Ok(None));
        assert_eq!(ok("help"), MonitorCommand::Help);
        assert_eq!(ok("? eject"), MonitorCommand::Help);
        assert_eq!(ok("info"), MonitorCommand::InfoHelp);
        assert_eq!(ok(" info  block "), MonitorCommand::InfoBlock);
        assert_eq!(
            ok("eject -f ide1-cd0"),
            MonitorCommand::Eject {
                force: true,
                device: "ide1-cd0".into()
            }
        );
        assert_eq!(
            ok("eject ide1-cd0"),
            MonitorCommand::Eject {
                force: false,
                device: "ide1-cd0".into()
            }
        );
        assert_eq!(
            ok("change ide1-cd0 /tmp/b.iso raw"),
            MonitorCommand::Change {
                device: "ide1-cd0".into(),
                file: "/tmp/b.iso".into()
            }
        );
        assert_eq!(
            ok("screendump s.png"),
            MonitorCommand::Screendump("s.png".into())
        );
        assert_eq!(
            ok("screendump s.png -f png"),
            MonitorCommand::Screendump("s.png".into())
        );
        assert_eq!(ok("system_reset"), MonitorCommand::SystemReset);
        assert_eq!(ok("system_powerdown"), MonitorCommand::SystemPowerdown);
        assert_eq!(ok("q"), MonitorCommand::Quit);
        assert_eq!(ok("quit"), MonitorCommand::Quit);
    }

    #[test]
    fn bad_lines_give_one_line_errors() {
        for bad in [
            "frobnicate",
            "info blocks",
            "eject",
            "eject -f",
            "eject a b",
            "change ide1-cd0",
            "change ide1-cd0 a.iso qcow2",
            "screendump",
            "screendump a.ppm -f ppm",
            "screendump a b c d",
            "quit now",
            "system_reset 1",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(!err.is_empty() && !err.contains('\n'), "{bad}: {err:?}");
        }
        assert_eq!(parse("xyzzy").unwrap_err(), "unknown command: 'xyzzy'");
    }
}

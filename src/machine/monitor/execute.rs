//! What the monitor's commands do to the machine. Everything the user can
//! get wrong (a drive that is not there, a file that will not open, a
//! locked tray) is a one-line answer at the prompt.

use super::command::{parse, DriveName, MonitorCommand, INFO_HELP, MONITOR_HELP};
use super::BlockDevice;
use crate::devices::floppy::drive::Diskette;
use crate::devices::ide::channel::Media;
use crate::devices::ide::FileBackend;
use crate::machine::serial_input::{ConsoleEvent, EscapeCommand, ESCAPE_HELP};
use crate::machine::{lock, Machine};
use std::io::Write;
use std::path::Path;

const PROMPT: &str = "(xlat) ";
const BANNER: &str = "xlat monitor - type 'help' for more information";

/// Monitor output on the console (stderr, beside the escapes' messages),
/// with the CR LF a raw terminal needs.
fn say(text: &str) {
    let text = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

impl Machine {
    /// Acts on what came from the console; true when the user quits.
    pub(in crate::machine) fn console_event(&mut self, event: ConsoleEvent) -> bool {
        match event {
            ConsoleEvent::Escape(EscapeCommand::Quit) => return true,
            ConsoleEvent::Escape(EscapeCommand::Help) => say(ESCAPE_HELP),
            ConsoleEvent::Escape(EscapeCommand::Screenshot) => self.save_screenshot(),
            ConsoleEvent::MonitorFocus(true) => say(&format!("\n{BANNER}\n{PROMPT}")),
            ConsoleEvent::MonitorFocus(false) => say("\n"),
            ConsoleEvent::Echo(bytes) => say(&String::from_utf8_lossy(&bytes)),
            ConsoleEvent::MonitorLine(line) => {
                let reply = match parse(&line) {
                    Ok(Some(MonitorCommand::Quit)) => return true,
                    Ok(Some(command)) => self.monitor_command(command),
                    Ok(None) => Ok(String::new()),
                    Err(e) => Err(e),
                };
                match reply {
                    Ok(text) => say(&text),
                    Err(e) => say(&format!("Error: {e}\n")),
                }
                say(PROMPT);
            }
        }
        false
    }

    /// Carries out `command`; its output, or the one-line error.
    pub fn monitor_command(&mut self, command: MonitorCommand) -> Result<String, String> {
        match command {
            MonitorCommand::Help => Ok(MONITOR_HELP.into()),
            MonitorCommand::InfoHelp => Ok(INFO_HELP.into()),
            MonitorCommand::InfoBlock => Ok(self.info_block()),
            MonitorCommand::Eject { force, device } => {
                self.eject(&device, force).map(|()| String::new())
            }
            MonitorCommand::Change { device, file } => {
                self.change_medium(&device, &file).map(|()| String::new())
            }
            MonitorCommand::Screendump(path) => {
                let frame = lock(&self.platform.vga).render();
                crate::host::screenshot::save_png(&frame, &path).map(|()| String::new())
            }
            MonitorCommand::SystemReset => {
                self.reset();
                Ok(String::new())
            }
            MonitorCommand::SystemPowerdown => {
                // ACPI's fixed power button: PWRBTN_STS, an SCI if enabled.
                lock(&self.platform.pm).press_power_button();
                Ok(String::new())
            }
            MonitorCommand::Quit => Ok(String::new()),
        }
    }

    /// Notes a drive for `info block` (replacing one at the same place).
    pub(in crate::machine) fn note_block_device(&mut self, device: BlockDevice) {
        self.block_devices.retain(|d| d.name != device.name);
        self.block_devices.push(device);
        self.block_devices.sort_by_key(|d| d.name.to_string());
    }

    fn block_device(&mut self, device: &str) -> Result<&mut BlockDevice, String> {
        let not_found = || format!("Device '{device}' not found");
        let name = DriveName::parse(device).ok_or_else(not_found)?;
        self.block_devices
            .iter_mut()
            .find(|d| d.name == name)
            .ok_or_else(not_found)
    }

    /// QEMU's `info block`: each drive, its file, and for removable ones
    /// the lock and tray.
    fn info_block(&mut self) -> String {
        let mut out = String::new();
        for d in &self.block_devices {
            let file = match &d.file {
                Some(f) => {
                    let mut flags = String::from("raw");
                    if d.read_only {
                        flags += ", read-only";
                    }
                    if d.snapshot {
                        flags += ", snapshot";
                    }
                    format!("{} ({flags})", f.display())
                }
                None => "[not inserted]".into(),
            };
            out += &format!("{}: {file}\n", d.name);
            let tray = match d.name {
                DriveName::Ide {
                    channel,
                    position,
                    cdrom: true,
                } => match lock(&self.platform.ide).media_mut(channel, position) {
                    Some(Media::Cdrom(cd)) => Some((cd.media().locked(), cd.media().tray_open())),
                    _ => None,
                },
                DriveName::Floppy(_) => Some((false, d.file.is_none())),
                DriveName::Ide { .. } => None,
            };
            if let Some((locked, open)) = tray {
                out += &format!(
                    "    Removable device: {}locked, tray {}\n",
                    if locked { "" } else { "not " },
                    if open { "open" } else { "closed" }
                );
            }
        }
        if out.is_empty() {
            out = "No block devices.\n".into();
        }
        out
    }

    fn eject(&mut self, device: &str, force: bool) -> Result<(), String> {
        let name = self.block_device(device)?.name;
        match name {
            DriveName::Ide {
                channel, position, ..
            } => {
                let mut ide = lock(&self.platform.ide);
                let Some(Media::Cdrom(cd)) = ide.media_mut(channel, position) else {
                    return Err(format!("Device '{device}' is not removable"));
                };
                cd.eject(force).map_err(|_| locked(device))?;
                ide.medium_changed(channel, position);
            }
            DriveName::Floppy(n) => {
                let mut fdc = lock(&self.platform.fdc);
                let drive = &mut fdc.drives[n];
                drive.media = None;
                drive.disk_changed = true;
            }
        }
        self.block_device(device)?.file = None;
        Ok(())
    }

    fn change_medium(&mut self, device: &str, path: &Path) -> Result<(), String> {
        let name = self.block_device(device)?.name;
        let cannot_open =
            |e: &dyn std::fmt::Display| format!("Could not open '{}': {e}", path.display());
        let read_only;
        match name {
            DriveName::Ide {
                channel, position, ..
            } => {
                let mut ide = lock(&self.platform.ide);
                let Some(Media::Cdrom(cd)) = ide.media_mut(channel, position) else {
                    return Err(format!("Device '{device}' is not removable"));
                };
                let backend = FileBackend::open(path, true).map_err(|e| cannot_open(&e))?;
                cd.change(Box::new(backend)).map_err(|_| locked(device))?;
                ide.medium_changed(channel, position);
                read_only = true;
            }
            DriveName::Floppy(n) => {
                // A read-only file is a write-protected diskette.
                let meta = std::fs::metadata(path).map_err(|e| cannot_open(&e))?;
                read_only = meta.permissions().readonly();
                let backend = FileBackend::open(path, read_only).map_err(|e| cannot_open(&e))?;
                let disk = Diskette::new(Box::new(backend))
                    .ok_or_else(|| cannot_open(&"not a diskette image size"))?;
                lock(&self.platform.fdc).insert(n, disk);
            }
        }
        let d = self.block_device(device)?;
        d.file = Some(path.to_path_buf());
        d.read_only = read_only;
        Ok(())
    }
}

fn locked(device: &str) -> String {
    format!("Device '{device}' is locked and force was not specified, wait for tray to open and try again")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::MachineConfig;

    fn machine() -> Machine {
        let mut config = MachineConfig::new(1 << 20, vec![0xf4; 4096]);
        config.console = Box::new(std::io::sink());
        config.serial = Box::new(std::io::sink());
        Machine::build(config).unwrap()
    }

    fn run(m: &mut Machine, line: &str) -> Result<String, String> {
        m.monitor_command(parse(line)?.expect("a command"))
    }

    fn cd_locked(m: &mut Machine, on: bool) {
        let mut ide = lock(&m.platform.ide);
        let Some(Media::Cdrom(cd)) = ide.media_mut(1, 0) else {
            panic!("no CD-ROM");
        };
        let mut cdb = [0u8; 12];
        cdb[0] = 0x1e;
        cdb[4] = on as u8;
        cd.execute(&cdb).unwrap();
    }

    #[test]
    fn eject_change_and_info_block_on_the_ide_drives() {
        let dir = std::env::temp_dir().join(format!("xlat-monitor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b, hd) = (dir.join("a.iso"), dir.join("b.iso"), dir.join("hd.img"));
        std::fs::write(&a, vec![1u8; 8 * 2048]).unwrap();
        std::fs::write(&b, vec![2u8; 4 * 2048]).unwrap();
        std::fs::write(&hd, vec![0u8; 4096]).unwrap();
        let mut m = machine();
        m.attach_disk_with(0, 0, &hd, true).unwrap();
        m.attach_cdrom(1, 0, &a).unwrap();
        let info = run(&mut m, "info block").unwrap();
        let expected = format!(
            "ide0-hd0: {} (raw, snapshot)\n\
             ide1-cd0: {} (raw, read-only)\n    Removable device: not locked, tray closed\n",
            hd.display(),
            a.display()
        );
        assert_eq!(info, expected);
        assert_eq!(
            run(&mut m, "eject ide0-hd0").unwrap_err(),
            "Device 'ide0-hd0' is not removable"
        );
        assert_eq!(
            run(&mut m, "eject ide1-cd1").unwrap_err(),
            "Device 'ide1-cd1' not found"
        );
        assert!(run(&mut m, "change ide1-cd0 /nonexistent/x.iso")
            .unwrap_err()
            .starts_with("Could not open '/nonexistent/x.iso'"));
        cd_locked(&mut m, true);
        assert!(run(&mut m, "eject ide1-cd0")
            .unwrap_err()
            .contains("is locked"));
        assert!(run(&mut m, &format!("change ide1-cd0 {}", b.display()))
            .unwrap_err()
            .contains("is locked"));
        assert!(run(&mut m, "info block").unwrap().contains("cd0: ") && info.contains("a.iso"));
        run(&mut m, "eject -f ide1-cd0").unwrap();
        let info = run(&mut m, "info block").unwrap();
        assert!(
            info.contains("ide1-cd0: [not inserted]\n    Removable device: not locked, tray open"),
            "{info}"
        );
        run(&mut m, &format!("change ide1-cd0 {}", b.display())).unwrap();
        assert!(run(&mut m, "info block")
            .unwrap()
            .contains("b.iso (raw, read-only)"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn screendump_powerdown_and_errors() {
        let dir = std::env::temp_dir().join(format!("xlat-monitor-sd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut m = machine();
        assert_eq!(run(&mut m, "info block").unwrap(), "No block devices.\n");
        let png = dir.join("s.png");
        run(&mut m, &format!("screendump {}", png.display())).unwrap();
        assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
        assert!(run(&mut m, "screendump /nonexistent/dir/s.png").is_err());
        run(&mut m, "system_powerdown").unwrap();
        assert_ne!(
            lock(&m.platform.pm).state().pmsts() & 1 << 8,
            0,
            "PWRBTN_STS"
        );
        let resets = m.resets;
        run(&mut m, "system_reset").unwrap();
        assert_eq!(m.resets, resets + 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

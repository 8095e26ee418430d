//! Under Xvfb (CI installs xvfb, xdotool and x11-apps), `--display window`
//! opens a window showing the guest's screen, and keys typed into it reach
//! the guest: SeaBIOS's boot menu opens on Escape. The window's pixels are
//! compared with the guest screenshot xlat saves (Ctrl-A s).

#![cfg(feature = "gui")]

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SEABIOS: &str = "/usr/share/seabios/bios.bin";

fn require_tool(name: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{name} is missing: apt-get install xvfb xdotool x11-apps"
    );
}

/// Kills the child when the test ends, however it ends.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn x_command(display: &str, program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .env("DISPLAY", display)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// An XWD dump (depth 24, 32 bits per pixel, as Xvfb makes it) as RGB.
fn parse_xwd(data: &[u8]) -> (usize, usize, Vec<u8>) {
    let field = |i: usize| u32::from_be_bytes(data[4 * i..4 * i + 4].try_into().unwrap()) as usize;
    let (header, width, height) = (field(0), field(4), field(5));
    let (byte_order, bits_per_pixel, line) = (field(7), field(11), field(12));
    let colors = field(19);
    assert_eq!(bits_per_pixel, 32, "unexpected XWD pixel size");
    let pixels = &data[header + 12 * colors..];
    let mut rgb = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            let p: [u8; 4] = pixels[y * line + 4 * x..][..4].try_into().unwrap();
            let v = if byte_order == 0 {
                u32::from_le_bytes(p)
            } else {
                u32::from_be_bytes(p)
            };
            rgb.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
        }
    }
    (width, height, rgb)
}

fn decode_png(path: &Path) -> (usize, usize, Vec<u8>) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    (info.width as usize, info.height as usize, buf)
}

#[test]
fn window_shows_the_guest_and_keys_reach_it() {
    assert!(
        Path::new(SEABIOS).is_file(),
        "{SEABIOS} is missing: apt-get install seabios"
    );
    for tool in ["Xvfb", "xdotool", "xwd"] {
        require_tool(tool);
    }
    // A display number no other X server (or stale lock) holds.
    let number = (50 + std::process::id() % 400..)
        .find(|n| {
            !Path::new(&format!("/tmp/.X{n}-lock")).exists()
                && !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
        })
        .unwrap();
    let display = format!(":{number}");
    let _xvfb = Reaper(
        Command::new("Xvfb")
            .args([&display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb"),
    );
    wait_until("Xvfb", Duration::from_secs(30), || {
        x_command(&display, "xdotool", &["getdisplaygeometry"])
            .status
            .success()
    });

    let dir = std::env::temp_dir().join(format!("xlat-window-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("seabios.log");
    let shot = dir.join("guest.png");
    let mut xlat = Reaper(
        Command::new(env!("CARGO_BIN_EXE_xlat"))
            .args(["--bios", SEABIOS, "-m", "64M", "--display", "window"])
            .args(["--boot-menu", "60000", "--clock", "realtime"])
            .arg("--debugcon")
            .arg(format!("file:{}", log.display()))
            .arg("--screenshot")
            .arg(&shot)
            .env("DISPLAY", &display)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("run xlat"),
    );
    let log_has = |text: &str| std::fs::read_to_string(&log).is_ok_and(|l| l.contains(text));

    let mut window = String::new();
    wait_until("the xlat window", Duration::from_secs(120), || {
        assert!(xlat.0.try_wait().unwrap().is_none(), "xlat exited early");
        let out = x_command(&display, "xdotool", &["search", "--name", "^xlat"]);
        // The last match: the window is re-created at the guest's size.
        let ids = String::from_utf8_lossy(&out.stdout).to_string();
        window = ids.lines().last().unwrap_or("").trim().to_string();
        !window.is_empty()
    });
    wait_until(
        "SeaBIOS's boot menu prompt",
        Duration::from_secs(600),
        || log_has("Press ESC for boot menu"),
    );
    // The window was re-created at the guest's resolution: look again.
    let find = || {
        let out = x_command(&display, "xdotool", &["search", "--name", "^xlat"]);
        let ids = String::from_utf8_lossy(&out.stdout).to_string();
        ids.lines().last().unwrap_or("").trim().to_string()
    };
    let window = find();
    x_command(&display, "xdotool", &["windowfocus", &window]);
    // Held for 100 ms, as a typist would: minifb samples key state once
    // per frame, so a press and release in the same frame would be lost.
    x_command(&display, "xdotool", &["key", "--delay", "200", "Escape"]);
    wait_until("the boot menu", Duration::from_secs(120), || {
        log_has("Select boot device")
    });
    // Let the window draw the menu, then compare it with the guest's own
    // picture (the menu waits for a choice, so the screen stays still).
    std::thread::sleep(Duration::from_secs(2));
    let window = find();
    let dump = x_command(&display, "xwd", &["-id", &window, "-silent"]);
    assert!(
        dump.status.success(),
        "xwd -id {window} failed: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let (ww, wh, window_rgb) = parse_xwd(&dump.stdout);
    let stdin = xlat.0.stdin.as_mut().unwrap();
    stdin.write_all(b"\x01s").unwrap();
    stdin.flush().unwrap();
    wait_until("the screenshot", Duration::from_secs(60), || shot.exists());
    std::thread::sleep(Duration::from_millis(500));
    let (gw, gh, guest_rgb) = decode_png(&shot);
    assert_eq!((gw, gh), (720, 400), "text mode 3");
    assert_eq!(
        (ww, wh),
        (gw, gh),
        "the window follows the guest's resolution"
    );
    assert!(
        guest_rgb.iter().any(|&b| b != 0),
        "the guest screen is blank"
    );
    assert!(
        window_rgb == guest_rgb,
        "the window does not show the guest's screen"
    );
    stdin.write_all(b"\x01x").unwrap();
    stdin.flush().unwrap();
    let started = Instant::now();
    while xlat.0.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "xlat did not quit"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

//! Helpers for the tests that drive xlat's window under Xvfb (CI installs
//! xvfb, xdotool and x11-apps): a private X server, commands against it,
//! and the window's pixels read back through xwd.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Kills the child when the test ends, however it ends.
pub struct Reaper(pub Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs an X client against `display`.
pub fn x_command(display: &str, program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("DISPLAY", display)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (apt-get install xvfb xdotool x11-apps)"))
}

/// Starts Xvfb on a display number no other X server (or stale lock)
/// holds, searching from `first`, and waits until it answers.
pub fn start_xvfb(first: u32) -> (Reaper, String) {
    let number = (first + std::process::id() % 400..)
        .find(|n| {
            !Path::new(&format!("/tmp/.X{n}-lock")).exists()
                && !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
        })
        .unwrap();
    let display = format!(":{number}");
    let xvfb = Reaper(
        Command::new("Xvfb")
            .args([&display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb (apt-get install xvfb)"),
    );
    wait_until("Xvfb", Duration::from_secs(30), || {
        x_command(&display, "xdotool", &["getdisplaygeometry"])
            .status
            .success()
    });
    (xvfb, display)
}

/// The newest window whose name starts with "xlat" (the window is
/// re-created when the guest changes resolution), or "".
pub fn newest_xlat_window(display: &str) -> String {
    let out = x_command(display, "xdotool", &["search", "--name", "^xlat"]);
    let ids = String::from_utf8_lossy(&out.stdout).to_string();
    ids.lines().last().unwrap_or("").trim().to_string()
}

/// An XWD dump (depth 24, 32 bits per pixel, as Xvfb makes it) as RGB.
pub fn parse_xwd(data: &[u8]) -> (usize, usize, Vec<u8>) {
    let field = |i: usize| u32::from_be_bytes(data[4 * i..4 * i + 4].try_into().unwrap()) as usize;
    let (header, width, height) = (field(0), field(4), field(5));
    let (byte_order, bits_per_pixel, line) = (field(7), field(11), field(12));
    assert_eq!(bits_per_pixel, 32, "unexpected XWD pixel size");
    let pixels = &data[header + 12 * field(19)..];
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

/// A PNG (xlat's screenshots) as width, height and RGB bytes.
pub fn decode_png(path: &Path) -> (usize, usize, Vec<u8>) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    (info.width as usize, info.height as usize, buf)
}

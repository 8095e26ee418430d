//! The README's first command as a user sees it: on a terminal with a
//! desktop (Xvfb here; util-linux's `script` gives xlat the terminal), the
//! default `--display auto` opens a window, the demo draws its Mandelbrot
//! set in it, and the window stays up after the guest halts until the user
//! quits (Ctrl-A x at the console here).

#![cfg(feature = "gui")]

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
        .unwrap_or_else(|e| panic!("{program}: {e} (apt-get install xvfb xdotool x11-apps)"))
}

/// An XWD dump (depth 24, 32 bits per pixel, as Xvfb makes it) as RGB.
fn parse_xwd(data: &[u8]) -> (usize, usize, Vec<u8>) {
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

#[test]
fn default_display_opens_a_window_that_outlives_the_halt() {
    let number = (450 + std::process::id() % 400..)
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
            .expect("start Xvfb (apt-get install xvfb)"),
    );
    wait_until("Xvfb", Duration::from_secs(30), || {
        x_command(&display, "xdotool", &["getdisplaygeometry"])
            .status
            .success()
    });

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-window");
    std::fs::create_dir_all(&dir).unwrap();
    let (log, shot) = (dir.join("terminal.log"), dir.join("demo.png"));
    let _ = std::fs::remove_file(&shot);
    let command = format!(
        "{} --screenshot {}",
        env!("CARGO_BIN_EXE_xlat"),
        shot.display()
    );
    let mut xlat = Reaper(
        Command::new("script")
            .args(["-qfec", &command])
            .arg(&log)
            .env("DISPLAY", &display)
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("run util-linux's script"),
    );
    let terminal = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until("the halted demo", Duration::from_secs(300), || {
        assert!(
            xlat.0.try_wait().unwrap().is_none(),
            "xlat exited:\n{}",
            terminal()
        );
        terminal().contains("close the window to quit")
    });
    assert!(terminal().contains("demo finished"), "{}", terminal());

    // The window shows the guest's last picture, mode 13h doubled.
    let out = x_command(&display, "xdotool", &["search", "--name", "^xlat"]);
    let ids = String::from_utf8_lossy(&out.stdout).to_string();
    let window = ids
        .lines()
        .last()
        .expect("an xlat window")
        .trim()
        .to_string();
    std::thread::sleep(Duration::from_millis(500));
    let dump = x_command(&display, "xwd", &["-id", &window, "-silent"]);
    assert!(dump.status.success(), "xwd -id {window} failed");
    let (ww, wh, window_rgb) = parse_xwd(&dump.stdout);
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut guest = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut guest).unwrap();
    let (gw, gh) = (info.width as usize, info.height as usize);
    assert_eq!((gw, gh), (320, 200));
    assert_eq!(
        (ww, wh),
        (2 * gw, 2 * gh),
        "320x200 is shown twice as large"
    );
    let differing = (0..wh)
        .flat_map(|y| (0..ww).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let w = &window_rgb[3 * (y * ww + x)..][..3];
            let g = &guest[3 * (y / 2 * gw + x / 2)..][..3];
            w != g
        })
        .count();
    assert_eq!(differing, 0, "window pixels unlike the guest's picture");

    // Still up; Ctrl-A x at the console ends it cleanly.
    assert!(xlat.0.try_wait().unwrap().is_none());
    let stdin = xlat.0.stdin.as_mut().unwrap();
    stdin.write_all(b"\x01x").unwrap();
    stdin.flush().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = xlat.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "xlat did not quit"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{}", terminal());
}

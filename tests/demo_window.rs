//! The README's first command as a user sees it: on a terminal with a
//! desktop (Xvfb here; util-linux's `script` gives xlat the terminal), the
//! default `--display auto` opens a window, the demo draws its Mandelbrot
//! set in it, and the window stays up after the guest halts until the user
//! quits (Ctrl-A x at the console here).

#![cfg(feature = "gui")]

mod x11;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use x11::{decode_png, newest_xlat_window, parse_xwd, start_xvfb, wait_until, x_command, Reaper};

#[test]
fn default_display_opens_a_window_that_outlives_the_halt() {
    let (_xvfb, display) = start_xvfb(450);

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-window");
    std::fs::create_dir_all(&dir).unwrap();
    let (log, shot) = (dir.join("terminal.log"), dir.join("demo.png"));
    // A log left by an earlier run would satisfy the waits below at once.
    let _ = std::fs::remove_file(&shot);
    let _ = std::fs::remove_file(&log);
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
    let window = newest_xlat_window(&display);
    assert!(!window.is_empty(), "no xlat window");
    std::thread::sleep(Duration::from_millis(500));
    let dump = x_command(&display, "xwd", &["-id", &window, "-silent"]);
    assert!(dump.status.success(), "xwd -id {window} failed");
    let (ww, wh, window_rgb) = parse_xwd(&dump.stdout);
    let (gw, gh, guest) = decode_png(&shot);
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

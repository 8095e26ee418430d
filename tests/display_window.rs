//! Under Xvfb (CI installs xvfb, xdotool and x11-apps), `--display window`
//! opens a window showing the guest's screen, and keys typed into it reach
//! the guest: SeaBIOS's boot menu opens on Escape. The window's pixels are
//! compared with the guest screenshot xlat saves (Ctrl-A s).

#![cfg(feature = "gui")]

mod x11;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use x11::{decode_png, newest_xlat_window, parse_xwd, start_xvfb, wait_until, x_command, Reaper};

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

#[test]
fn window_shows_the_guest_and_keys_reach_it() {
    assert!(
        Path::new(SEABIOS).is_file(),
        "{SEABIOS} is missing: apt-get install seabios"
    );
    for tool in ["Xvfb", "xdotool", "xwd"] {
        require_tool(tool);
    }
    let (_xvfb, display) = start_xvfb(50);

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
        window = newest_xlat_window(&display);
        !window.is_empty()
    });
    wait_until(
        "SeaBIOS's boot menu prompt",
        Duration::from_secs(600),
        || log_has("Press ESC for boot menu"),
    );
    // The window was re-created at the guest's resolution: look again.
    let window = newest_xlat_window(&display);
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
    let window = newest_xlat_window(&display);
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
    // The window blinks the cursor (the screenshot shows it steady): the
    // pictures may differ inside one 9x16 character cell, nowhere else.
    let differing: Vec<(usize, usize)> = (0..gh)
        .flat_map(|y| (0..gw).map(move |x| (x, y)))
        .filter(|&(x, y)| window_rgb[3 * (y * gw + x)..][..3] != guest_rgb[3 * (y * gw + x)..][..3])
        .collect();
    let cells: std::collections::HashSet<(usize, usize)> =
        differing.iter().map(|&(x, y)| (x / 9, y / 16)).collect();
    assert!(
        cells.len() <= 1,
        "the window does not show the guest's screen: {} pixels differ in {} cells",
        differing.len(),
        cells.len()
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

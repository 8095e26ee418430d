//! Linux drives the PCI VGA (the default `--vga std`) with bochs-drm: one
//! boot of Debian's amd64 kernel with the fb initramfs from
//! scripts/fetch-linux-guests.sh (CI runs it first; without the images this
//! test fails and says so). The guest loads the driver (fbcon takes tty1),
//! writes text to the console and three stripes into /dev/fb0, and waits;
//! the test takes a screenshot with the console's Ctrl-A s and lets it go
//! on. The guest then reloads the driver for a second mode and does the
//! same again. Each screenshot must have the guest's resolution, the
//! stripes exactly where the guest drew them and console text above them.

use super::guests;

use guests::image;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The stripes /bin/fb (scripts/initramfs/fb.c) draws: first row, colour.
const STRIPES: [(usize, [u8; 3]); 3] = [(400, [255, 0, 0]), (432, [0, 255, 0]), (464, [0, 0, 255])];
const STRIPE_ROWS: usize = 16;

/// Collects what a child writes to one of its pipes.
fn collect(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = out.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    out
}

struct Session {
    child: Child,
    stdin: ChildStdin,
    console: Arc<Mutex<Vec<u8>>>,
    messages: Arc<Mutex<Vec<u8>>>,
}

impl Session {
    fn text(buf: &Arc<Mutex<Vec<u8>>>) -> String {
        String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
    }

    /// Waits until `buf` holds `text` after byte `from`; returns the offset
    /// just past it.
    fn expect_in(&mut self, stderr: bool, from: usize, text: &str, limit: Duration) -> usize {
        let started = Instant::now();
        loop {
            let buf = if stderr {
                &self.messages
            } else {
                &self.console
            };
            let all = Self::text(buf);
            if let Some(at) = all.get(from..).and_then(|s| s.find(text)) {
                return from + at + text.len();
            }
            let exited = self.child.try_wait().unwrap();
            if exited.is_some() || started.elapsed() > limit {
                let _ = self.child.kill();
                let console = Self::text(&self.console);
                let tail: Vec<&str> = console.lines().rev().take(40).collect();
                panic!(
                    "waiting for {text:?} (xlat {}); stderr:\n{}\nthe console ended with:\n{}",
                    if exited.is_some() {
                        "exited"
                    } else {
                        "timed out"
                    },
                    Self::text(&self.messages),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).unwrap();
        self.stdin.flush().unwrap();
    }
}

fn decode(path: &Path) -> (usize, usize, Vec<u8>) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    (info.width as usize, info.height as usize, buf)
}

/// Checks one screenshot of a `w`x`h` mode.
fn check_screen(path: &Path, (w, h): (usize, usize)) {
    let (width, height, rgb) = decode(path);
    assert_eq!((width, height), (w, h), "the screen has the guest's mode");
    let at = |x: usize, y: usize| {
        [
            rgb[3 * (y * w + x)],
            rgb[3 * (y * w + x) + 1],
            rgb[3 * (y * w + x) + 2],
        ]
    };
    for (first, colour) in STRIPES {
        for y in first..first + STRIPE_ROWS {
            let wrong = (0..w).find(|&x| at(x, y) != colour);
            assert_eq!(wrong, None, "row {y} of the {colour:?} stripe ({w}x{h})");
        }
        // The rows just outside the stripe are background.
        for y in [first - 1, first + STRIPE_ROWS] {
            assert!((0..w).all(|x| at(x, y) == [0, 0, 0]), "row {y} ({w}x{h})");
        }
    }
    // The console: fbcon's text in the rows above the stripes.
    let lit = (0..STRIPES[0].0)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .filter(|&(x, y)| at(x, y) != [0, 0, 0])
        .count();
    assert!(
        lit > 2000,
        "console text above the stripes: {lit} pixels lit ({w}x{h})"
    );
    // Nothing else below them.
    let below = STRIPES[2].0 + STRIPE_ROWS;
    assert!(
        (below..h).all(|y| (0..w).all(|x| at(x, y) == [0, 0, 0])),
        "the screen below the stripes is background ({w}x{h})"
    );
}

#[test]
fn linux_bochs_drm_draws_on_the_pci_vga_in_two_modes() {
    let dir = std::env::temp_dir().join(format!("xlat-linux-fb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("screen.png");
    let mut child = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .arg("--kernel")
        .arg(image("vmlinuz-amd64"))
        .arg("--initrd")
        .arg(image("initramfs-fb-amd64.cpio.gz"))
        .args(["--append", "console=ttyS0 consoleblank=0 panic=-1"])
        .args(["-m", "256M", "--no-reboot"])
        .args(["--max-instructions", "1000000000000", "--screenshot"])
        .arg(&shot)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run xlat");
    let console = collect(child.stdout.take().unwrap());
    let messages = collect(child.stderr.take().unwrap());
    let stdin = child.stdin.take().unwrap();
    let mut s = Session {
        child,
        stdin,
        console,
        messages,
    };
    let boot_limit = Duration::from_secs(50 * 60);
    let step_limit = Duration::from_secs(20 * 60);
    let mut at = 0;
    let mut saved = 0;
    let mut shots: Vec<PathBuf> = Vec::new();
    for (n, mode) in [(1024, 768), (800, 600)].into_iter().enumerate() {
        let marker = format!("XLAT-FB-READY {}x{}", mode.0, mode.1);
        at = s.expect_in(
            false,
            at,
            &marker,
            if n == 0 { boot_limit } else { step_limit },
        );
        // Ctrl-A s: xlat saves the screen while the guest waits for a line.
        s.send(b"\x01s");
        saved = s.expect_in(true, saved, "screenshot saved", step_limit);
        let copy = dir.join(format!("mode-{}x{}.png", mode.0, mode.1));
        std::fs::copy(&shot, &copy).unwrap();
        shots.push(copy);
        s.send(b"\r");
    }
    s.expect_in(false, at, "XLAT-FB-DONE", step_limit);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < step_limit, "xlat did not power off");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "xlat exited with {status}");
    let console = Session::text(&s.console);
    for line in [
        "[drm] Found bochs VGA, ID 0xb0c5.",
        "[drm] Framebuffer size 16384 kB @ 0xe0000000, mmio @ 0xe1000000.",
        "fbcon: bochs-drmdrmfb (fb0) is primary device",
    ] {
        assert!(
            console.contains(line),
            "the console lacks {line:?}:\n{console}"
        );
    }
    check_screen(&shots[0], (1024, 768));
    check_screen(&shots[1], (800, 600));
    std::fs::remove_dir_all(&dir).unwrap();
}

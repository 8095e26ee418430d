//! The serial console is interactive: commands typed on xlat's stdin run
//! in the guest's busybox shell, and Ctrl-A x quits. Boots Debian's amd64
//! kernel with the shell initramfs from scripts/fetch-linux-guests.sh (CI
//! runs it first); without the images this test fails and says so.

use super::guests;

use guests::image;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running xlat whose console output is collected as it arrives.
struct Session {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
}

impl Session {
    fn start(kernel: &str, initrd: &str) -> Session {
        let mut child = Command::new(env!("CARGO_BIN_EXE_xlat"))
            .arg("--kernel")
            .arg(image(kernel))
            .arg("--initrd")
            .arg(image(initrd))
            .args(["--append", "console=ttyS0 panic=-1", "-m", "256M"])
            .args(["--no-reboot", "--max-instructions", "1000000000000"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run xlat");
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut stdout = child.stdout.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Session { child, output }
    }

    fn console(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits until the console output after byte `from` contains `text`;
    /// returns the offset just past it.
    fn expect(&mut self, from: usize, text: &str, limit: Duration) -> usize {
        let started = Instant::now();
        loop {
            let console = self.console();
            if let Some(at) = console.get(from..).and_then(|s| s.find(text)) {
                return from + at + text.len();
            }
            let exited = self.child.try_wait().unwrap();
            if exited.is_some() || started.elapsed() > limit {
                let _ = self.child.kill();
                let tail: Vec<&str> = console.lines().rev().take(30).collect();
                panic!(
                    "waiting for {text:?} (xlat {}); the console ended with:\n{}",
                    if exited.is_some() {
                        "exited"
                    } else {
                        "timed out"
                    },
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn type_text(&mut self, text: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                panic!("xlat did not exit; the console:\n{}", self.console());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn typed_commands_run_in_the_busybox_shell_and_ctrl_a_x_quits() {
    let mut s = Session::start("vmlinuz-amd64", "initramfs-shell-amd64.cpio.gz");
    let boot_limit = Duration::from_secs(30 * 60);
    let at = s.expect(0, "busybox shell", boot_limit);
    let at = s.expect(at, "# ", Duration::from_secs(300));
    // Arithmetic the shell must evaluate: the echo of the typed line
    // shows "$((6*7))", only the command's output shows 42.
    s.type_text("echo typed-$((6*7)); uname -m\r");
    let at = s.expect(at, "typed-42", Duration::from_secs(300));
    let at = s.expect(at, "x86_64", Duration::from_secs(300));
    s.expect(at, "# ", Duration::from_secs(300));
    // QEMU's escape: Ctrl-A x ends the emulator with status 0.
    s.type_text("\x01x");
    let status = s.wait_exit(Duration::from_secs(300));
    assert!(status.success(), "xlat exited with {status}");
}

//! An interactive run of xlat for the tests that talk to a booted guest:
//! Debian's kernel by direct boot, its serial console on xlat's stdio,
//! output collected as it arrives and input typed on stdin.

use super::guests::image;
use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running xlat whose stdout (the guest's console) and stderr (xlat's
/// messages and its monitor) are collected as they arrive.
pub struct Session {
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    errors: Arc<Mutex<Vec<u8>>>,
    /// The threads collecting the streams, joined at exit so that nothing
    /// xlat wrote last is missed.
    readers: Vec<JoinHandle<()>>,
}

/// Copies a stream into `sink` until it ends, passing it on to `echo` too
/// when given.
fn collect(
    mut stream: impl Read + Send + 'static,
    sink: Arc<Mutex<Vec<u8>>>,
    echo: Option<fn(&[u8])>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Some(echo) = echo {
                echo(&buf[..n]);
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    })
}

impl Session {
    /// Boots the cached `kernel` with `initrd` (images from
    /// scripts/fetch-linux-guests.sh), with `extra` flags for xlat.
    pub fn start(kernel: &str, initrd: &str, extra: &[&str]) -> Session {
        let mut child = Command::new(env!("CARGO_BIN_EXE_xlat"))
            .arg("--kernel")
            .arg(image(kernel))
            .arg("--initrd")
            .arg(image(initrd))
            .args(["--append", "console=ttyS0 panic=-1", "-m", "256M"])
            .args(["--no-reboot", "--max-instructions", "1000000000000"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run xlat");
        let output = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), output.clone(), None),
            // xlat's own messages show in the test's output as they come.
            collect(
                child.stderr.take().unwrap(),
                errors.clone(),
                Some(|b| eprint!("{}", String::from_utf8_lossy(b))),
            ),
        ];
        Session {
            child,
            output,
            errors,
            readers,
        }
    }

    /// Everything on xlat's stdout so far.
    pub fn console(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Everything on xlat's stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.errors.lock().unwrap()).into_owned()
    }

    /// The last lines of the console, for failure messages.
    pub fn tail(&self) -> String {
        let console = self.console();
        let tail: Vec<&str> = console.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Waits until the console output after byte `from` contains `text`;
    /// returns the offset just past it.
    pub fn expect(&mut self, from: usize, text: &str, limit: Duration) -> usize {
        let output = self.output.clone();
        self.wait_for(&output, "console", from, text, limit)
    }

    /// The same on stderr, where xlat's monitor talks (beside xlat's own
    /// messages).
    pub fn expect_stderr(&mut self, from: usize, text: &str, limit: Duration) -> usize {
        let errors = self.errors.clone();
        self.wait_for(&errors, "stderr", from, text, limit)
    }

    fn wait_for(
        &mut self,
        stream: &Mutex<Vec<u8>>,
        name: &str,
        from: usize,
        text: &str,
        limit: Duration,
    ) -> usize {
        let started = Instant::now();
        loop {
            let seen = String::from_utf8_lossy(&stream.lock().unwrap()).into_owned();
            if let Some(at) = seen.get(from..).and_then(|s| s.find(text)) {
                return from + at + text.len();
            }
            let exited = self.child.try_wait().unwrap();
            if exited.is_some() || started.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "waiting for {text:?} on {name} (xlat {}); stderr:\n{}\nthe console ended with:\n{}",
                    if exited.is_some() {
                        "exited"
                    } else {
                        "timed out"
                    },
                    self.stderr(),
                    self.tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Writes `text` to xlat's stdin, as typed on the console.
    pub fn type_text(&mut self, text: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for xlat to exit and for the last of its output.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                for reader in self.readers.drain(..) {
                    reader.join().unwrap();
                }
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

//! Host bytes for the guest's serial console, with QEMU's Ctrl-A escapes.
//!
//! A reader thread owns the host input (stdin) and sends what it reads over
//! a channel, so the run loop never blocks on the host unless the CPU is
//! idle. Ctrl-A starts an escape as in QEMU's `-nographic` mode: `Ctrl-A x`
//! quits, `Ctrl-A h` prints the list, `Ctrl-A Ctrl-A` sends one Ctrl-A, and
//! `Ctrl-A c` gives the console to the monitor and back (QEMU's
//! `-serial mon:stdio`): while the monitor has it, typed lines go there.

use super::monitor::LineEditor;
use std::collections::VecDeque;
use std::io::Read;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

const CTRL_A: u8 = 0x01;

/// What an escape sequence asks of the emulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EscapeCommand {
    Quit,
    Help,
    Screenshot,
}

pub const ESCAPE_HELP: &str = "C-a h    print this help\r\n\
                               C-a x    exit xlat\r\n\
                               C-a s    save a screenshot (PNG)\r\n\
                               C-a c    switch between console and monitor\r\n\
                               C-a C-a  send C-a to the guest\r\n";

/// What the console's input asks of the machine, besides guest bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsoleEvent {
    Escape(EscapeCommand),
    /// Ctrl-A c gave the console to the monitor (true) or the guest.
    MonitorFocus(bool),
    /// What the monitor's line editor echoes.
    Echo(Vec<u8>),
    /// A line typed at the monitor.
    MonitorLine(String),
}

/// Splits the host byte stream into guest bytes, escape commands and,
/// while the monitor has the console, monitor lines.
#[derive(Default)]
pub struct EscapeFilter {
    after_ctrl_a: bool,
    /// The monitor's line while it has the console.
    monitor: Option<LineEditor>,
}

impl EscapeFilter {
    /// Appends the guest's share of `input` to `guest` and what else it
    /// holds to `events`, in order.
    pub fn feed(
        &mut self,
        input: &[u8],
        guest: &mut VecDeque<u8>,
        events: &mut VecDeque<ConsoleEvent>,
    ) {
        let mut echo = Vec::new();
        let mut push = |echo: &mut Vec<u8>, event: ConsoleEvent| {
            if !echo.is_empty() {
                events.push_back(ConsoleEvent::Echo(std::mem::take(echo)));
            }
            events.push_back(event);
        };
        for &b in input {
            if !self.after_ctrl_a {
                if b == CTRL_A {
                    self.after_ctrl_a = true;
                } else if let Some(editor) = self.monitor.as_mut() {
                    if let Some(line) = editor.feed(b, &mut echo) {
                        push(&mut echo, ConsoleEvent::MonitorLine(line));
                    }
                } else {
                    guest.push_back(b);
                }
                continue;
            }
            self.after_ctrl_a = false;
            let command = match b {
                CTRL_A if self.monitor.is_none() => {
                    guest.push_back(CTRL_A);
                    continue;
                }
                b'c' | b'C' => {
                    let to_monitor = self.monitor.is_none();
                    self.monitor = to_monitor.then(LineEditor::default);
                    push(&mut echo, ConsoleEvent::MonitorFocus(to_monitor));
                    continue;
                }
                b'x' | b'X' => EscapeCommand::Quit,
                b'h' | b'H' | b'?' => EscapeCommand::Help,
                b's' | b'S' => EscapeCommand::Screenshot,
                // Unknown escapes are dropped, as QEMU does.
                _ => continue,
            };
            push(&mut echo, ConsoleEvent::Escape(command));
        }
        if !echo.is_empty() {
            events.push_back(ConsoleEvent::Echo(echo));
        }
    }
}

/// The console's input side: bytes waiting for the guest's receiver.
pub struct SerialInput {
    rx: Receiver<Vec<u8>>,
    filter: EscapeFilter,
    /// Filtered bytes the UART had no room for yet.
    pending: VecDeque<u8>,
    /// Events not yet taken by the machine.
    events: VecDeque<ConsoleEvent>,
    /// The host side closed (end of file): no more bytes will come.
    closed: bool,
}

impl SerialInput {
    /// Reads `source` on a thread of its own until end of file.
    pub fn spawn(mut source: impl Read + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("serial-input".into())
            .spawn(move || {
                let mut buf = [0u8; 256];
                loop {
                    match source.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            if tx.send(buf[..n].to_vec()).is_err() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            })
            .expect("spawning the serial input thread");
        Self::from_channel(rx)
    }

    /// Input from a channel the caller feeds (tests, other front ends).
    pub fn from_channel(rx: Receiver<Vec<u8>>) -> Self {
        SerialInput {
            rx,
            filter: EscapeFilter::default(),
            pending: VecDeque::new(),
            events: VecDeque::new(),
            closed: false,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.filter.feed(bytes, &mut self.pending, &mut self.events);
    }

    /// Takes what has arrived without waiting; returns the next event.
    pub fn poll(&mut self) -> Option<ConsoleEvent> {
        loop {
            match self.rx.try_recv() {
                Ok(bytes) => self.feed(&bytes),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.closed = true;
                    break;
                }
            }
        }
        self.events.pop_front()
    }

    /// Waits up to `timeout` (forever with `None`) for input to arrive.
    /// Returns the next event if there is one; otherwise returns when
    /// bytes are pending, the time is up, or the input closed.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Option<ConsoleEvent> {
        if !self.events.is_empty() {
            return self.poll();
        }
        if self.closed {
            if let Some(t) = timeout {
                std::thread::sleep(t);
            }
            return None;
        }
        let received = match timeout {
            Some(t) => self.rx.recv_timeout(t),
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(bytes) => {
                self.feed(&bytes);
                self.poll()
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                self.closed = true;
                None
            }
        }
    }

    /// Bytes waiting for the guest.
    pub fn pending(&mut self) -> &mut VecDeque<u8> {
        &mut self.pending
    }

    /// No more input can arrive, and none is waiting.
    pub fn exhausted(&self) -> bool {
        self.closed && self.pending.is_empty() && self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_events(chunks: &[&[u8]]) -> (Vec<u8>, Vec<ConsoleEvent>) {
        let mut f = EscapeFilter::default();
        let mut out = VecDeque::new();
        let mut events = VecDeque::new();
        for c in chunks {
            f.feed(c, &mut out, &mut events);
        }
        (out.into_iter().collect(), events.into_iter().collect())
    }

    fn filter(chunks: &[&[u8]]) -> (Vec<u8>, Vec<EscapeCommand>) {
        let (bytes, events) = filter_events(chunks);
        let commands = events
            .into_iter()
            .filter_map(|e| match e {
                ConsoleEvent::Escape(c) => Some(c),
                _ => None,
            })
            .collect();
        (bytes, commands)
    }

    #[test]
    fn plain_bytes_pass_through() {
        assert_eq!(filter(&[b"ls\r"]), (b"ls\r".to_vec(), vec![]));
    }

    #[test]
    fn ctrl_a_x_quits_even_across_reads() {
        let (bytes, cmds) = filter(&[b"ab\x01", b"x"]);
        assert_eq!(bytes, b"ab");
        assert_eq!(cmds, vec![EscapeCommand::Quit]);
    }

    #[test]
    fn ctrl_a_twice_sends_one_and_unknown_escapes_vanish() {
        let (bytes, cmds) = filter(&[b"\x01\x01q\x01zr"]);
        assert_eq!(bytes, b"\x01qr");
        assert!(cmds.is_empty());
        assert_eq!(filter(&[b"\x01h"]).1, vec![EscapeCommand::Help]);
        assert_eq!(filter(&[b"\x01s"]).1, vec![EscapeCommand::Screenshot]);
    }

    #[test]
    fn ctrl_a_c_gives_lines_to_the_monitor_and_back() {
        let (bytes, events) = filter_events(&[b"a\x01cinfo", b" block\r\x01", b"cb\x01c\x01x"]);
        assert_eq!(bytes, b"ab", "the guest sees nothing the monitor gets");
        assert_eq!(
            events,
            [
                ConsoleEvent::MonitorFocus(true),
                ConsoleEvent::Echo(b"info".to_vec()),
                ConsoleEvent::Echo(b" block\r\n".to_vec()),
                ConsoleEvent::MonitorLine("info block".into()),
                ConsoleEvent::MonitorFocus(false),
                ConsoleEvent::MonitorFocus(true),
                ConsoleEvent::Escape(EscapeCommand::Quit),
            ]
        );
    }

    #[test]
    fn channel_input_is_polled_and_closing_is_seen() {
        let (tx, rx) = mpsc::channel();
        let mut input = SerialInput::from_channel(rx);
        tx.send(b"echo".to_vec()).unwrap();
        assert_eq!(input.poll(), None);
        assert_eq!(input.pending().len(), 4);
        drop(tx);
        assert_eq!(input.wait(None), None);
        assert!(!input.exhausted());
        input.pending().clear();
        assert!(input.exhausted());
    }

    #[test]
    fn reader_thread_delivers_a_stream_until_eof() {
        let mut input = SerialInput::spawn(std::io::Cursor::new(b"uname\r\x01x".to_vec()));
        let mut command = None;
        while command.is_none() && !input.exhausted() {
            command = input.wait(Some(Duration::from_secs(5)));
        }
        assert_eq!(command, Some(ConsoleEvent::Escape(EscapeCommand::Quit)));
        assert_eq!(
            input.pending().iter().copied().collect::<Vec<_>>(),
            b"uname\r"
        );
    }
}

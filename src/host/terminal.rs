//! Raw mode for the terminal on stdin, so that every key (Ctrl-C included)
//! reaches the guest's serial console, as with QEMU's `-nographic`.

/// While alive, stdin's terminal is in raw mode; dropping it restores the
/// settings found at creation (also when unwinding from a panic).
pub struct RawTerminal {
    #[cfg(unix)]
    saved: libc::termios,
}

impl RawTerminal {
    /// Puts stdin's terminal into raw mode; `None` when stdin is not a
    /// terminal (a pipe or file needs no change) or the host lacks termios.
    #[cfg(unix)]
    pub fn enter() -> Option<Self> {
        // SAFETY: isatty, tcgetattr and tcsetattr only read and write the
        // termios struct we own; fd 0 stays owned by the process.
        unsafe {
            if libc::isatty(libc::STDIN_FILENO) != 1 {
                return None;
            }
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return None;
            }
            let mut raw = saved;
            // Input: no CR/NL translation, no flow control, no break signal.
            raw.c_iflag &= !(libc::IGNBRK
                | libc::BRKINT
                | libc::PARMRK
                | libc::ISTRIP
                | libc::INLCR
                | libc::IGNCR
                | libc::ICRNL
                | libc::IXON);
            // Local: no echo, no line editing, no signals from keys.
            raw.c_lflag &= !(libc::ECHO | libc::ECHONL | libc::ICANON | libc::ISIG | libc::IEXTEN);
            // Output post-processing stays on, so xlat's own messages
            // keep their line breaks.
            raw.c_oflag |= libc::OPOST;
            raw.c_cc[libc::VMIN] = 1;
            raw.c_cc[libc::VTIME] = 0;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) != 0 {
                return None;
            }
            Some(RawTerminal { saved })
        }
    }

    #[cfg(not(unix))]
    pub fn enter() -> Option<Self> {
        None
    }
}

/// Whether stdin is a terminal (an interactive session).
pub fn stdin_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: restores the termios struct tcgetattr filled in `enter`.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved);
        }
    }
}

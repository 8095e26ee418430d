//! The monitor's input line on a raw terminal: typed characters echo,
//! Backspace/DEL rubs out, Enter (CR, LF or CR LF) ends the line, and
//! terminal escape sequences (arrow keys) are dropped.

const ESC: u8 = 0x1b;

#[derive(Default)]
pub struct LineEditor {
    line: Vec<u8>,
    /// The last byte was a CR: a LF now belongs to it.
    after_cr: bool,
    /// Inside an escape sequence: 1 after ESC, 2 inside "ESC [" or "ESC O".
    escape: u8,
}

impl LineEditor {
    /// Takes one byte; appends what to echo to `echo`. Returns the line
    /// when the byte ended it.
    pub fn feed(&mut self, b: u8, echo: &mut Vec<u8>) -> Option<String> {
        let after_cr = std::mem::take(&mut self.after_cr);
        match (self.escape, b) {
            (1, b'[' | b'O') => {
                self.escape = 2;
                return None;
            }
            (1, _) => {
                self.escape = 0;
                return None;
            }
            (2, 0x40..=0x7e) => {
                self.escape = 0;
                return None;
            }
            (2, _) => return None,
            _ => {}
        }
        match b {
            ESC => self.escape = 1,
            b'\n' if after_cr => {}
            b'\r' | b'\n' => {
                self.after_cr = b == b'\r';
                echo.extend_from_slice(b"\r\n");
                let line = String::from_utf8_lossy(&self.line).into_owned();
                self.line.clear();
                return Some(line);
            }
            0x08 | 0x7f if self.line.pop().is_some() => echo.extend_from_slice(b"\x08 \x08"),
            0x20..=0x7e => {
                self.line.push(b);
                echo.push(b);
            }
            // Other control characters and non-ASCII bytes: ignored.
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_in(bytes: &[u8]) -> (Vec<String>, Vec<u8>) {
        let mut e = LineEditor::default();
        let mut echo = Vec::new();
        let lines = bytes.iter().filter_map(|&b| e.feed(b, &mut echo)).collect();
        (lines, echo)
    }

    #[test]
    fn lines_end_at_cr_lf_or_both_and_echo() {
        let (lines, echo) = type_in(b"info block\r\nq\n\r");
        assert_eq!(lines, ["info block", "q", ""]);
        assert_eq!(echo, b"info block\r\nq\r\n\r\n");
    }

    #[test]
    fn backspace_rubs_out_and_escape_sequences_vanish() {
        let (lines, echo) = type_in(b"\x7fqx\x08uit\x1b[A\x1bOB\x01\r");
        assert_eq!(lines, ["quit"]);
        assert_eq!(echo, b"qx\x08 \x08uit\r\n");
    }
}

//! `--trace-text`: one line per executed instruction with CS:IP, bytes,
//! disassembly and the registers it changed.

use crate::cpu::state::{CpuState, CS};
use crate::cpu::{Fault, Observer};
use iced_x86::{Formatter, Instruction, NasmFormatter};
use std::io::Write;

const GPR_NAMES: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];
const SEG_NAMES: [&str; 6] = ["es", "cs", "ss", "ds", "fs", "gs"];

pub struct TextTracer<W: Write> {
    out: W,
    formatter: NasmFormatter,
    before: Option<CpuState>,
    line: String,
}

impl<W: Write> TextTracer<W> {
    pub fn new(out: W) -> Self {
        TextTracer {
            out,
            formatter: NasmFormatter::new(),
            before: None,
            line: String::new(),
        }
    }
}

impl<W: Write> Observer for TextTracer<W> {
    fn before(&mut self, state: &CpuState, insn: &Instruction, bytes: &[u8]) {
        self.line.clear();
        use std::fmt::Write as _;
        let _ = write!(
            self.line,
            "{:04x}:{:08x} ",
            state.seg[CS].selector, state.rip
        );
        for b in bytes {
            let _ = write!(self.line, "{b:02x}");
        }
        let pad = 31usize.saturating_sub(bytes.len() * 2);
        self.line.extend(std::iter::repeat_n(' ', pad));
        self.formatter.format(insn, &mut self.line);
        self.before = Some(state.clone());
    }

    fn after(&mut self, state: &CpuState, fault: Option<Fault>) {
        use std::fmt::Write as _;
        let Some(old) = self.before.take() else {
            return;
        };
        let mut changes = String::new();
        if let Some(f) = fault {
            let _ = write!(changes, " fault={f}");
        } else {
            for (name, (was, now)) in GPR_NAMES.iter().zip(old.gpr.iter().zip(&state.gpr)) {
                if was != now {
                    let _ = write!(changes, " {name}={now:x}");
                }
            }
            for (name, (was, now)) in SEG_NAMES.iter().zip(old.seg.iter().zip(&state.seg)) {
                if was.selector != now.selector {
                    let _ = write!(changes, " {name}={:04x}", now.selector);
                }
            }
            if old.flags() != state.flags() {
                let _ = write!(changes, " flags={:x}", state.flags());
            }
        }
        // The trace goes to a pipe or file; losing a line is not worth
        // stopping the guest for.
        let _ = writeln!(self.out, "{:<72}|{}", self.line, changes);
    }
}

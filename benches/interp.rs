//! Interpreter throughput on a real-mode ALU/branch loop: prints MIPS.
//! Run with `cargo bench --bench interp`.

use std::time::Instant;
use xlat::machine::{Machine, MachineConfig, RunOutcome};

/// A 64 KiB ROM: at F000:0000 a nested loop of ALU ops, then HLT.
fn loop_rom(outer: u16) -> Vec<u8> {
    let mut rom = vec![0xf4u8; 0x10000];
    let [lo, hi] = outer.to_le_bytes();
    let code = [
        0xbe, lo, hi, // mov si, outer
        0xb9, 0x00, 0x00, // outer: mov cx, 0 (65536 iterations)
        0x01, 0xd0, // inner: add ax, dx
        0x31, 0xc2, // xor dx, ax
        0xd1, 0xe0, // shl ax, 1
        0x43, // inc bx
        0x49, // dec cx
        0x75, 0xf6, // jnz inner
        0x4e, // dec si
        0x75, 0xf0, // jnz outer
        0xfa, 0xf4, // cli; hlt
    ];
    rom[..code.len()].copy_from_slice(&code);
    // Reset vector: jmp far F000:0000.
    rom[0xfff0..0xfff5].copy_from_slice(&[0xea, 0x00, 0x00, 0x00, 0xf0]);
    rom
}

fn main() {
    // XLAT_BENCH_OUTER shortens the run (e.g. under valgrind's callgrind,
    // whose instruction counts are repeatable where seconds are not).
    let outer = std::env::var("XLAT_BENCH_OUTER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let mut machine = Machine::build(MachineConfig {
        ram_size: 1 << 20,
        firmware: loop_rom(outer),
        console: Box::new(std::io::sink()),
        no_reboot: true,
        serial: Box::new(std::io::sink()),
        clock: xlat::machine::clock::ClockSource::Deterministic {
            ns_per_instruction: 1,
        },
        vga: Default::default(),
    })
    .expect("machine builds");
    let start = Instant::now();
    let outcome = machine.run(None, None);
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(outcome, RunOutcome::Halted);
    let n = machine.cpu.state.icount;
    println!(
        "interp/alu-loop: {n} instructions in {secs:.3} s = {:.1} MIPS",
        n as f64 / secs / 1e6
    );
}

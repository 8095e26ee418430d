//! Random bytes as guest code: whatever a guest runs, the host must not
//! panic, and every run must stop within its instruction budget.
//!
//! Deterministic: a fixed-seed xorshift generator, so a failure names the
//! program that caused it and reruns identically.

use std::panic::{catch_unwind, AssertUnwindSafe};
use xlat::cpu::state::Segment;
use xlat::cpu::{Cpu, StopReason};
use xlat::devices::bus::PortBus;
use xlat::machine::{Machine, MachineConfig, RunOutcome};
use xlat::mem::GuestMemory;

mod common;
use common::XorShift;

const RAM: u64 = 1 << 20;
/// Where every interrupt vector points: a HLT, so an exception is delivered
/// and then stops the run.
const HLT_AT: u64 = 0x500;
const PROGRAMS: u64 = 5000;
const BUDGET: u64 = 10_000;
/// Bytes re-randomised around each program's entry point (the rest of RAM
/// keeps the random fill from the start, plus what earlier programs wrote).
const WINDOW: usize = 4096;

/// Points all 256 IVT entries at 0000:HLT_AT and places the HLT.
fn install_ivt(mem: &mut GuestMemory) {
    for vector in 0..256u64 {
        mem.write_bytes(vector * 4, &(HLT_AT as u16).to_le_bytes());
        mem.write_bytes(vector * 4 + 2, &[0, 0]);
    }
    mem.write_u8(HLT_AT, 0xf4);
}

fn random_segment(rng: &mut XorShift, attr: u16) -> Segment {
    Segment::real_mode(rng.next() as u16, attr)
}

#[test]
fn random_real_mode_code_never_panics() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut mem = GuestMemory::new(RAM).expect("allocate guest RAM");
    let mut image = vec![0u8; RAM as usize];
    rng.fill(&mut image);
    mem.write_bytes(0, &image);
    let mut io = PortBus::default();
    let mut stops = [0u64; 4];

    for program in 0..PROGRAMS {
        let seed = rng.0;
        let mut cpu = Cpu::new();
        let s = &mut cpu.state;
        for r in s.gpr.iter_mut() {
            *r = rng.next();
        }
        for (i, seg) in s.seg.iter_mut().enumerate() {
            let attr = if i == 1 {
                Segment::ATTR_REAL_CODE
            } else {
                Segment::ATTR_REAL_DATA
            };
            *seg = random_segment(&mut rng, attr);
        }
        s.rip = rng.next() & 0xffff;
        // Arithmetic flags, TF, IF, DF and OF at random.
        s.set_flags(rng.next() & 0x0fd5);

        // Fresh random code where it will start, then the IVT on top (the
        // previous program may have overwritten either).
        let entry = (s.seg[1].base + s.rip) % RAM;
        let start = entry.min(RAM - WINDOW as u64);
        let mut window = [0u8; WINDOW];
        rng.fill(&mut window);
        mem.write_bytes(start, &window);
        install_ivt(&mut mem);
        cpu.flush_decode_cache(&mut mem);

        // Port I/O makes `run` yield to the machine; there is no machine
        // here, so carry on until the budget is spent or the CPU stops.
        // A yield that retires nothing would spin forever: at most one
        // call per instruction of the budget.
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut stop = StopReason::Yield;
            for _ in 0..=BUDGET {
                let left = BUDGET.saturating_sub(cpu.state.icount);
                stop = cpu.run(&mut mem, &mut io, left, None);
                if stop != StopReason::Yield || left == 0 {
                    break;
                }
            }
            stop
        }));
        let stop = match result {
            Ok(stop) => stop,
            Err(_) => panic!(
                "program {program} (rng state {seed:#x}, entry {:04x}:{:04x}) panicked the host",
                cpu.state.seg[1].selector, cpu.state.rip
            ),
        };
        assert!(
            cpu.state.icount <= BUDGET,
            "program {program} (rng state {seed:#x}) ran {} instructions, budget {BUDGET}",
            cpu.state.icount
        );
        stops[match stop {
            StopReason::Budget => 0,
            StopReason::Halted => 1,
            StopReason::TripleFault => 2,
            StopReason::Yield => 3,
        }] += 1;
    }
    // Most random programs fault into the HLT quickly; the point is that
    // each of them came back.
    assert_eq!(stops.iter().sum::<u64>(), PROGRAMS, "{stops:?}");
    eprintln!(
        "random programs: budget {}, halted {}, triple fault {}, yield {}",
        stops[0], stops[1], stops[2], stops[3]
    );
}

#[test]
fn random_firmware_never_panics() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    for image_no in 0..200 {
        let seed = rng.0;
        let mut firmware = vec![0u8; 0x1_0000];
        rng.fill(&mut firmware);
        let mut machine = Machine::build(MachineConfig {
            ram_size: RAM,
            firmware,
            // Random OUTs to port 0xE9 print noise: throw it away.
            console: Box::new(std::io::sink()),
            // Resetting would only rerun the same random firmware.
            no_reboot: true,
            serial: Box::new(std::io::sink()),
            clock: xlat::machine::clock::ClockSource::Deterministic {
                ns_per_instruction: 1,
            },
            vga: Default::default(),
        })
        .expect("build machine");
        let outcome = catch_unwind(AssertUnwindSafe(|| machine.run(Some(BUDGET), None)))
            .unwrap_or_else(|_| {
                panic!("firmware {image_no} (rng state {seed:#x}) panicked the host")
            });
        assert!(
            machine.cpu.state.icount <= BUDGET,
            "firmware {image_no} ran {} instructions, budget {BUDGET}",
            machine.cpu.state.icount
        );
        if let RunOutcome::Exit(status) = outcome {
            assert!((0..=255).contains(&status), "exit status {status}");
        }
    }
}

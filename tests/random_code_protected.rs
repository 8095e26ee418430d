//! Random bytes as ring-3 code in 32-bit protected mode with paging: the
//! host must never panic and every run must stop. Exceptions go through a
//! full IDT (interrupt gates to a ring-0 HLT, via the TSS stack), so each
//! program ends at its first fault, and page permissions (not present,
//! read-only, supervisor-only) are drawn at random for every program.

use xlat::cpu::state::{cr0, rflags, Segment, CS, DS, ES, FS, GS, SS};
use xlat::cpu::{Cpu, StopReason};
use xlat::devices::bus::PortBus;
use xlat::mem::GuestMemory;

mod common;
use common::XorShift;

const RAM: u64 = 4 << 20;
const GDT: u64 = 0x1000;
const IDT: u64 = 0x2000;
const HANDLER: u64 = 0x3000;
const TSS: u64 = 0x4000;
const RING0_STACK: u64 = 0x9000;
const PAGE_DIR: u64 = 0x10000;
const PAGE_TABLE: u64 = 0x11000;
/// User pages (random permissions) start here; code runs from CODE.
const USER_FIRST_PAGE: u64 = 0x20;
const CODE: u64 = 0x100000;
const PROGRAMS: u64 = 20_000;
const BUDGET: u64 = 10_000;

/// A flat 4 GiB code or data descriptor.
fn flat(dpl: u64, code: bool) -> u64 {
    let kind = if code { 0xa } else { 0x2 };
    0x00cf_0000_0000_ffff | ((0x90 | (dpl << 5) | kind) << 40)
}

fn build_system(mem: &mut GuestMemory) {
    let tss_desc = 0x0000_8900_0000_0067u64 | ((TSS & 0xffff) << 16) | (((TSS >> 16) & 0xff) << 32);
    let gdt = [
        0,
        flat(0, true),
        flat(0, false),
        flat(3, true),
        flat(3, false),
        tss_desc,
    ];
    for (i, d) in gdt.iter().enumerate() {
        mem.write(GDT + 8 * i as u64, 8, *d);
    }
    // 256 DPL-3 32-bit interrupt gates to 0008:HANDLER.
    for v in 0..256u64 {
        let gate = (HANDLER & 0xffff) | (0x08 << 16) | (0xee00u64 << 32) | ((HANDLER >> 16) << 48);
        mem.write(IDT + 8 * v, 8, gate);
    }
    mem.write_u8(HANDLER, 0xf4);
    mem.write(TSS + 4, 4, RING0_STACK);
    mem.write(TSS + 8, 2, 0x10);
    mem.write(TSS + 102, 2, 0x68);
    mem.write(PAGE_DIR, 4, PAGE_TABLE | 0x7);
}

/// Identity-maps the first 4 MiB: system pages supervisor-only, user pages
/// with random present/writable/user bits, the code page always usable.
fn randomize_pages(mem: &mut GuestMemory, rng: &mut XorShift) {
    for page in 0..1024u64 {
        let flags = if page < USER_FIRST_PAGE {
            0x3
        } else if page == CODE >> 12 {
            0x7
        } else {
            rng.next() & 0x7
        };
        mem.write(PAGE_TABLE + page * 4, 4, (page << 12) | flags);
    }
}

fn enter_ring3(cpu: &mut Cpu, rng: &mut XorShift) {
    let s = &mut cpu.state;
    s.reset();
    s.cr0 = cr0::PE | cr0::PG | cr0::ET;
    s.cr3 = PAGE_DIR;
    s.gdtr.base = GDT;
    s.gdtr.limit = 6 * 8 - 1;
    s.idtr.base = IDT;
    s.idtr.limit = 256 * 8 - 1;
    s.tr = Segment {
        selector: 0x28,
        attr: 0x8b,
        limit: 0x67,
        base: TSS,
    };
    let code = Segment {
        selector: 0x1b,
        attr: 0xc0fb,
        limit: 0xffff_ffff,
        base: 0,
    };
    let data = Segment {
        selector: 0x23,
        attr: 0xc0f3,
        limit: 0xffff_ffff,
        base: 0,
    };
    s.seg[CS] = code;
    for seg in [SS, DS, ES, FS, GS] {
        s.seg[seg] = data;
    }
    for g in s.gpr.iter_mut().take(8) {
        *g = rng.next() & 0xffff_ffff;
    }
    s.gpr[4] = CODE + 0x8000 + (rng.next() & 0xff0);
    s.rip = CODE + (rng.next() & 0xfff);
    s.set_flags((rng.next() & (rflags::ARITH | rflags::DF)) | rflags::IF);
}

#[test]
fn random_ring3_code_under_paging_never_panics() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let mut mem = GuestMemory::new(RAM).expect("RAM");
    let mut io = PortBus::default();
    let mut fill = vec![0u8; RAM as usize];
    rng.fill(&mut fill);
    mem.write_bytes(0, &fill);
    build_system(&mut mem);
    let mut cpu = Cpu::new();
    let mut counts = [0u64; 4];
    for program in 0..PROGRAMS {
        let seed = rng.0;
        let mut code = vec![0u8; 4096];
        rng.fill(&mut code);
        mem.write_bytes(CODE, &code);
        randomize_pages(&mut mem, &mut rng);
        cpu.tlb.flush_all();
        enter_ring3(&mut cpu, &mut rng);
        let stop = common::run_guarded(&mut cpu, &mut mem, &mut io, BUDGET, program, seed);
        if stop == StopReason::Halted {
            // Only the ring-0 handler can halt: ring-3 HLT is #GP.
            assert_eq!(
                cpu.state.seg[CS].selector, 0x08,
                "program {program} halted outside the handler"
            );
        }
        counts[match stop {
            StopReason::Budget => 0,
            StopReason::Halted => 1,
            StopReason::TripleFault => 2,
            StopReason::Yield => 3,
        }] += 1;
        cpu.state.icount = 0;
        // The system structures must survive ring-3 code: it may not write
        // supervisor pages.
        build_system(&mut mem);
    }
    println!(
        "ring-3 random programs: budget {}, halted in a handler {}, triple fault {}, yield {}",
        counts[0], counts[1], counts[2], counts[3]
    );
    // Nearly every random program faults quickly into the ring-0 handler.
    assert!(
        counts[1] > PROGRAMS / 2,
        "too few programs reached the handler: {counts:?}"
    );
}

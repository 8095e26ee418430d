//! Random bytes as ring-3 code in 64-bit mode: every fault goes through a
//! 64-bit IDT gate, switching to RSP0 from the 64-bit TSS, into a ring-0
//! HLT. The host must never panic; every halt must be in the handler on
//! the ring-0 stack with the frame the SDM describes (SS:RSP, RFLAGS,
//! CS:RIP and maybe an error code, from a 16-byte aligned RSP0).

mod common;
use common::XorShift;
use xlat::cpu::state::{cr0, cr4, efer, rflags, Segment, CS, DS, ES, FS, GS, SS};
use xlat::cpu::{Cpu, StopReason};
use xlat::devices::bus::PortBus;
use xlat::mem::GuestMemory;

const RAM: u64 = 4 << 20;
const GDT: u64 = 0x1000;
const IDT: u64 = 0x2000;
const HANDLER: u64 = 0x3000;
const TSS: u64 = 0x4000;
const RSP0: u64 = 0x9008;
const PML4: u64 = 0x10000;
const CODE: u64 = 0x100000;
const PROGRAMS: u64 = 5_000;
const BUDGET: u64 = 10_000;

fn build_system(mem: &mut GuestMemory) {
    // Null, 64-bit ring-0 code (0x08), ring-0 data (0x10), ring-3 data
    // (0x1b... as 0x18|3), ring-3 64-bit code (0x20|3), 16-byte TSS (0x28).
    let gdt: [u64; 5] = [
        0,
        0x0020_9a00_0000_0000,
        0x0000_9200_0000_0000,
        0x0000_f200_0000_0000,
        0x0020_fa00_0000_0000,
    ];
    for (i, d) in gdt.iter().enumerate() {
        mem.write(GDT + 8 * i as u64, 8, *d);
    }
    let tss_lo = 0x0000_8900_0000_0067u64 | ((TSS & 0xffff) << 16) | (((TSS >> 16) & 0xff) << 32);
    mem.write(GDT + 0x28, 8, tss_lo);
    mem.write(GDT + 0x30, 8, 0);
    // 256 DPL-3 64-bit interrupt gates to 0008:HANDLER.
    for v in 0..256u64 {
        let lo = (HANDLER & 0xffff)
            | (0x08 << 16)
            | (0xee00u64 << 32)
            | ((HANDLER >> 16 & 0xffff) << 48);
        mem.write(IDT + 16 * v, 8, lo);
        mem.write(IDT + 16 * v + 8, 8, 0);
    }
    mem.write_u8(HANDLER, 0xf4);
    mem.write(TSS + 4, 8, RSP0);
    // Identity map 0-4 MiB: the first 2 MiB supervisor-only, the next user.
    mem.write(PML4, 8, (PML4 + 0x1000) | 7);
    mem.write(PML4 + 0x1000, 8, (PML4 + 0x2000) | 7);
    mem.write(PML4 + 0x2000, 8, 0x83);
    mem.write(PML4 + 0x2008, 8, 0x20_0000 | 0x87);
}

fn enter_ring3(cpu: &mut Cpu, rng: &mut XorShift) {
    let s = &mut cpu.state;
    s.reset();
    s.cr0 = cr0::PE | cr0::PG | cr0::ET;
    s.cr4 = cr4::PAE;
    s.cr3 = PML4;
    s.msr.efer = efer::LME | efer::LMA;
    s.gdtr.base = GDT;
    s.gdtr.limit = 0x37;
    s.idtr.base = IDT;
    s.idtr.limit = 256 * 16 - 1;
    s.tr = Segment {
        selector: 0x28,
        attr: 0x8b,
        limit: 0x67,
        base: TSS,
    };
    s.seg[CS] = Segment {
        selector: 0x23,
        attr: 0x20fb,
        limit: 0xffff_ffff,
        base: 0,
    };
    let data = Segment {
        selector: 0x1b,
        attr: 0xc0f3,
        limit: 0xffff_ffff,
        base: 0,
    };
    for seg in [SS, DS, ES, FS, GS] {
        s.seg[seg] = data;
    }
    for g in s.gpr.iter_mut() {
        *g = rng.next();
    }
    s.gpr[4] = CODE + 0x10_0000 + (rng.next() & 0xff0);
    s.rip = CODE + (rng.next() & 0xfff);
    s.set_flags((rng.next() & (rflags::ARITH | rflags::DF)) | rflags::IF);
}

#[test]
fn random_64bit_ring3_code_faults_onto_rsp0() {
    let mut rng = XorShift(0x6a09_e667_f3bc_c909);
    let mut mem = GuestMemory::new(RAM).expect("RAM");
    let mut io = PortBus::default();
    let mut fill = vec![0u8; RAM as usize];
    rng.fill(&mut fill);
    mem.write_bytes(0, &fill);
    let mut cpu = Cpu::new();
    let mut halted = 0;
    for program in 0..PROGRAMS {
        let seed = rng.0;
        build_system(&mut mem);
        let mut code = vec![0u8; 4096];
        rng.fill(&mut code);
        mem.write_bytes(CODE, &code);
        cpu.tlb.flush_all();
        enter_ring3(&mut cpu, &mut rng);
        let stop = common::run_guarded(&mut cpu, &mut mem, &mut io, BUDGET, program, seed);
        if stop == StopReason::Halted {
            halted += 1;
            let s = &cpu.state;
            assert_eq!(
                s.seg[CS].selector, 0x08,
                "program {program}: halted outside the handler"
            );
            // Five 8-byte slots, plus an error code for some vectors.
            let frame = (RSP0 & !0xf) - s.gpr[4];
            assert!(
                frame == 40 || frame == 48,
                "program {program}: frame of {frame} bytes"
            );
            assert_eq!(
                s.seg[SS].selector & 0xfffc,
                0,
                "program {program}: SS not null"
            );
        }
        cpu.state.icount = 0;
    }
    assert!(
        halted > PROGRAMS / 2,
        "too few programs reached the handler: {halted}"
    );
}

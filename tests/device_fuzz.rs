//! The guest is hostile: random port and MMIO reads and writes of every
//! size, aimed at the PC's devices and anywhere else, with timers, interrupt
//! acknowledges and CPU slices in between, must never panic the host, hang
//! or stop the machine from running.

mod common;

use common::XorShift;
use xlat::machine::{Machine, MachineConfig, RunOutcome};

/// Port ranges of the PC's devices, where random writes do the most harm.
const DEVICE_PORTS: &[(u16, u16)] = &[
    (0x20, 2),     // master 8259A
    (0xa0, 2),     // slave 8259A
    (0x4d0, 2),    // ELCR
    (0x40, 4),     // 8254 PIT
    (0x61, 1),     // port B
    (0x70, 2),     // RTC/CMOS
    (0x60, 1),     // i8042 data
    (0x64, 1),     // i8042 command/status
    (0x92, 1),     // system control port A
    (0xf0, 1),     // FPU error latch
    (0x3f8, 8),    // COM1
    (0x2f8, 8),    // COM2
    (0x3e8, 8),    // COM3
    (0x2e8, 8),    // COM4
    (0xcf8, 8),    // PCI configuration mechanism #1
    (0x600, 0x40), // PIIX4 PM I/O (when the guest maps it there)
    (0x3b0, 0x30), // VGA registers
    (0x1ce, 2),    // Bochs VBE dispi
    (0x510, 2),    // fw_cfg
    (0x1f0, 8),    // primary IDE command block
    (0x3f6, 1),    // primary IDE control
    (0x170, 8),    // secondary IDE command block
    (0x376, 1),    // secondary IDE control
    (0xc000, 16),  // IDE bus master (BMIBA as set up below)
    (0x00, 16),    // 8237A DMA controller 1
    (0x80, 16),    // DMA page registers
    (0xc0, 32),    // 8237A DMA controller 2
    (0x3f0, 6),    // floppy controller
    (0x3f7, 1),    // floppy DIR/CCR
];

/// PCI configuration address of the IDE function's BMIBA (00:01.1, 0x20).
const IDE_BMIBA: u32 = 0x8000_0920;

/// MMIO windows: local APIC, I/O APIC, HPET.
const DEVICE_MMIO: &[(u64, u64)] = &[
    (0xfee0_0000, 0x1000),
    (0xfec0_0000, 0x100),
    (0xfed0_0000, 0x400),
    (0xa_0000, 0x2_0000),      // VGA window
    (0xe000_0000, 0x100_0000), // VGA linear framebuffer (BAR0)
    (0xe100_0000, 0x1000),     // VGA MMIO registers (BAR2)
];

/// A ROM that enables interrupts and halts in a loop at the reset vector.
fn idle_firmware() -> Vec<u8> {
    let mut rom = vec![0x90u8; 0x10000];
    rom[0xfff0..0xfff4].copy_from_slice(&[0xfb, 0xf4, 0xeb, 0xfd]); // sti; hlt; jmp $-3
    rom
}

fn machine() -> Machine {
    let mut config = MachineConfig::new(16 << 20, idle_firmware());
    config.console = Box::new(std::io::sink());
    config.serial = Box::new(std::io::sink());
    config.no_reboot = true;
    let mut m = Machine::build(config).expect("machine");
    // A disk and a CD-ROM on scratch images, decoded as firmware leaves
    // them, with the bus master at 0xC000.
    let dir = std::env::temp_dir().join(format!("xlat-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (disk, cd) = (dir.join("disk.img"), dir.join("cd.iso"));
    std::fs::write(&disk, vec![0x5au8; 64 << 10]).unwrap();
    std::fs::write(&cd, vec![0xa5u8; 64 << 10]).unwrap();
    m.attach_disk(0, 0, &disk).unwrap();
    m.attach_cdrom(1, 0, &cd).unwrap();
    let floppy = dir.join("a.img");
    std::fs::write(&floppy, vec![0x3cu8; 1_474_560]).unwrap();
    m.attach_floppy(0, &floppy).unwrap();
    m.platform.ide.lock().unwrap().firmware_setup();
    m.io.write(0xcf8, 4, IDE_BMIBA);
    m.io.write(0xcfc, 4, 0xc001);
    // The PCI VGA's BARs where direct boot puts them (framebuffer at
    // 0xE0000000, registers at 0xE1000000), decoding on.
    xlat::machine::linux_boot::assign_vga_bars(
        &mut m.platform.vga_pci.as_ref().unwrap().lock().unwrap(),
    );
    m
}

fn pick<T: Copy>(rng: &mut XorShift, items: &[T]) -> T {
    items[(rng.next() % items.len() as u64) as usize]
}

fn storm(seed: u64, operations: u32) {
    let mut rng = XorShift(seed);
    let mut m = machine();
    for step in 0..operations {
        let r = rng.next();
        let value = rng.next();
        match r % 16 {
            0..=6 => {
                let (base, len) = pick(&mut rng, DEVICE_PORTS);
                let port = base + (rng.next() % len as u64) as u16;
                let size = pick(&mut rng, &[1u8, 2, 4]);
                if r & 0x100 != 0 {
                    m.io.write(port, size, value as u32);
                } else {
                    m.io.read(port, size);
                }
            }
            7..=10 => {
                let (base, len) = pick(&mut rng, DEVICE_MMIO);
                let addr = base + rng.next() % len;
                let size = pick(&mut rng, &[1u32, 2, 4, 8]);
                if r & 0x100 != 0 {
                    m.mem.write(addr, size, value);
                } else {
                    m.mem.read(addr, size);
                }
            }
            11 => {
                // Anywhere at all in the port space or the top of memory.
                let port = value as u16;
                m.io.write(port, pick(&mut rng, &[1u8, 2, 4]), (value >> 16) as u32);
                let addr = 0xfe00_0000 + (value >> 32) % 0x0200_0000;
                m.mem.write(addr, 4, value);
            }
            12 | 13 => {
                if r & 0x300 == 0 {
                    // Whatever mode the registers describe renders.
                    let _ = m.platform.vga.lock().unwrap().render();
                }
                m.platform.advance_timers();
                if m.platform.interrupt_pending() {
                    m.platform.acknowledge();
                }
                m.platform.take_nmi();
            }
            _ => {
                // Let the CPU and the run loop see what the devices did:
                // power-off, reset and exit requests end a run, not the test.
                let outcome = m.run(Some(1 + value % 5_000), None);
                if outcome == RunOutcome::Shutdown {
                    m.reset();
                }
            }
        }
        if step % 4096 == 0 {
            // Occasionally start over from power-on, as a reset would.
            if value % 8 == 0 {
                m.reset();
            }
        }
    }
}

#[test]
fn random_device_accesses_never_break_the_host() {
    for n in 1..=8u64 {
        let seed = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // A watchdog turns a hang into a failure that names the seed.
        let (done, finished) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            storm(seed, 25_000);
            let _ = done.send(());
        });
        match finished.recv_timeout(std::time::Duration::from_secs(300)) {
            Ok(()) => worker.join().unwrap(),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("storm with seed {seed:#x} hung the machine")
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                panic!("storm with seed {seed:#x} panicked the host")
            }
        }
    }
}

use super::*;

struct Rig {
    io: PortBus,
    dma: SharedIsaDma,
    mem: GuestMemory,
}

impl Rig {
    fn new() -> Self {
        let mut io = PortBus::default();
        let dma = register_isa_dma(&mut io).unwrap();
        Rig {
            io,
            dma,
            mem: GuestMemory::new(4 << 20).unwrap(),
        }
    }

    fn outb(&mut self, port: u16, v: u8) {
        self.io.write(port, 1, v as u32);
    }

    fn inb(&mut self, port: u16) -> u8 {
        self.io.read(port, 1) as u8
    }

    /// What SeaBIOS does: master clear both, channel 4 cascade, unmasked.
    fn bios_setup(&mut self) {
        self.outb(0x0d, 0);
        self.outb(0xda, 0);
        self.outb(0xd6, 0xc0);
        self.outb(0xd4, 0x00);
    }

    /// Programs channel 2 (SeaBIOS's dma_floppy sequence).
    fn program_channel2(&mut self, addr: u32, count: u16, mode: u8) {
        self.outb(0x0a, 0x06);
        self.outb(0x0c, 0);
        self.outb(0x04, addr as u8);
        self.outb(0x04, (addr >> 8) as u8);
        self.outb(0x0c, 0);
        self.outb(0x05, count as u8);
        self.outb(0x05, (count >> 8) as u8);
        self.outb(0x0b, mode);
        self.outb(0x81, (addr >> 16) as u8);
        self.outb(0x0a, 0x02);
    }
}

#[test]
fn channel_2_moves_bytes_to_memory_until_terminal_count() {
    let mut r = Rig::new();
    r.bios_setup();
    let line = r.dma.lock().unwrap().request_line(2);
    r.program_channel2(0x12_3400, 3, 0x46); // 4 bytes, write to memory
    assert!(!r.dma.lock().unwrap().ready(2), "no DREQ yet");
    line.set_level(true);
    assert_eq!(r.inb(0x08) & 0x40, 0x40, "status shows the request");
    let mut dma = r.dma.lock().unwrap();
    assert!(dma.ready(2));
    let mut t = dma.transfer(2, &mut r.mem);
    assert_eq!(t.write_to_memory(&[1, 2, 3, 4, 5, 6]), 4);
    assert!(t.terminal_count());
    assert_eq!(t.write_to_memory(&[9]), 0);
    drop(dma);
    let mut buf = [0u8; 5];
    r.mem.read_bytes(0x12_3400, &mut buf);
    assert_eq!(buf, [1, 2, 3, 4, 0]);
    // TC in status (cleared by the read); the channel masked itself.
    assert_eq!(r.inb(0x08) & 0x0f, 0x04);
    assert_eq!(r.inb(0x08) & 0x0f, 0x00);
    assert!(!r.dma.lock().unwrap().ready(2));
    // Current address and count read back through the flip-flop.
    r.outb(0x0c, 0);
    assert_eq!([r.inb(0x04), r.inb(0x04)], [0x04, 0x34]);
    assert_eq!([r.inb(0x05), r.inb(0x05)], [0xff, 0xff]);
}

#[test]
fn read_transfers_fetch_memory_and_decrement_wraps_in_the_page() {
    let mut r = Rig::new();
    r.bios_setup();
    r.mem.write_bytes(0x5_0000, &[0xaa]);
    r.mem.write_bytes(0x5_fffe, &[0xbb, 0xcc]);
    // Read from memory, decrement, from 0x50000: then 0x5FFFF, 0x5FFFE.
    r.program_channel2(0x5_0000, 2, 0x6a);
    r.dma.lock().unwrap().request_line(2).set_level(true);
    let mut dma = r.dma.lock().unwrap();
    let mut buf = [0u8; 3];
    assert_eq!(dma.transfer(2, &mut r.mem).read_from_memory(&mut buf), 3);
    assert_eq!(buf, [0xaa, 0xcc, 0xbb]);
}

#[test]
fn verify_and_mismatched_directions_leave_memory_alone() {
    let mut r = Rig::new();
    r.bios_setup();
    r.dma.lock().unwrap().request_line(2).set_level(true);
    r.program_channel2(0x1000, 1, 0x42); // verify
    let mut dma = r.dma.lock().unwrap();
    assert_eq!(dma.transfer(2, &mut r.mem).write_to_memory(&[7, 7]), 2);
    drop(dma);
    assert_eq!(r.mem.read(0x1000, 2), 0);
    // A read-type channel given data by the device: memory untouched.
    r.program_channel2(0x1000, 1, 0x4a);
    let mut dma = r.dma.lock().unwrap();
    assert_eq!(dma.transfer(2, &mut r.mem).write_to_memory(&[7, 7]), 2);
    // A write-type channel asked for data: the device sees a floating bus.
    drop(dma);
    r.mem.write_bytes(0x1000, &[5, 5]);
    r.program_channel2(0x1000, 1, 0x46);
    let mut dma = r.dma.lock().unwrap();
    let mut buf = [0u8; 2];
    dma.transfer(2, &mut r.mem).read_from_memory(&mut buf);
    assert_eq!(buf, [0xff, 0xff]);
}

#[test]
fn auto_init_reloads_base_registers_and_stays_unmasked() {
    let mut r = Rig::new();
    r.bios_setup();
    r.dma.lock().unwrap().request_line(2).set_level(true);
    r.program_channel2(0x2000, 1, 0x56); // write, auto-init
    let mut dma = r.dma.lock().unwrap();
    let mut t = dma.transfer(2, &mut r.mem);
    assert_eq!(t.write_to_memory(&[1, 2, 3]), 2);
    assert!(t.terminal_count());
    drop(dma);
    assert!(r.dma.lock().unwrap().ready(2), "auto-init: not masked");
    let mut dma = r.dma.lock().unwrap();
    assert_eq!(dma.transfer(2, &mut r.mem).write_to_memory(&[3, 4]), 2);
    drop(dma);
    assert_eq!(r.mem.read(0x2000, 2), 0x0403, "second pass from the base");
}

#[test]
fn cascade_masks_and_disable_gate_the_first_controller() {
    let mut r = Rig::new();
    r.dma.lock().unwrap().request_line(2).set_level(true);
    r.program_channel2(0x3000, 0, 0x46);
    assert!(
        !r.dma.lock().unwrap().ready(2),
        "channel 4 masked at power-on"
    );
    r.bios_setup();
    r.program_channel2(0x3000, 0, 0x46);
    assert!(r.dma.lock().unwrap().ready(2));
    r.outb(0x08, 0x04); // controller 1 disabled
    assert!(!r.dma.lock().unwrap().ready(2));
    r.outb(0x08, 0x00);
    r.outb(0x0f, 0x04); // all-mask write masks channel 2
    assert!(!r.dma.lock().unwrap().ready(2));
    r.outb(0x0e, 0); // clear mask register
    assert!(r.dma.lock().unwrap().ready(2));
    r.outb(0x0d, 0); // master clear masks again
    assert!(!r.dma.lock().unwrap().ready(2));
}

#[test]
fn sixteen_bit_channels_count_words_and_wrap_in_128k() {
    let mut r = Rig::new();
    r.bios_setup();
    r.dma.lock().unwrap().request_line(5).set_level(true);
    // Channel 5: word address 0xFFFF in page 0x03 (bit 0 ignored) is byte
    // 0x3FFFE; one more word wraps to 0x20000.
    r.outb(0xd8, 0);
    r.outb(0xc4, 0xff);
    r.outb(0xc4, 0xff);
    r.outb(0xc6, 1);
    r.outb(0xc6, 0);
    r.outb(0xd6, 0x45);
    r.outb(0x8b, 0x03);
    r.outb(0xd4, 0x01);
    let mut dma = r.dma.lock().unwrap();
    assert!(dma.ready(5));
    assert_eq!(
        dma.transfer(5, &mut r.mem)
            .write_to_memory(&[1, 2, 3, 4, 5]),
        4
    );
    drop(dma);
    assert_eq!(r.mem.read(0x3_fffe, 2), 0x0201);
    assert_eq!(r.mem.read(0x2_0000, 2), 0x0403);
}

#[test]
fn software_request_runs_a_block_channel_and_page_registers_hold_bytes() {
    let mut r = Rig::new();
    r.bios_setup();
    r.program_channel2(0x4000, 2, 0x86); // block, write to memory
    r.outb(0x09, 0x06);
    assert_eq!(r.inb(0x08) & 0x40, 0x40);
    r.dma.lock().unwrap().service_software_requests(&mut r.mem);
    assert_eq!(r.mem.read(0x4000, 4), 0x00ff_ffff);
    assert_eq!(r.inb(0x08), 0x04, "TC set, request cleared");
    // 0x80 (POST) and the other page registers read back.
    r.outb(0x80, 0x42);
    r.outb(0x8e, 0x17);
    assert_eq!([r.inb(0x80), r.inb(0x8e), r.inb(0x81)], [0x42, 0x17, 0x00]);
}

#[test]
fn hostile_register_traffic_never_leaves_guest_memory() {
    let mut r = Rig::new();
    r.bios_setup();
    let mut seed = 0x1234_5678u32;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    for ch in 0..8 {
        r.dma.lock().unwrap().request_line(ch).set_level(true);
    }
    for _ in 0..2000 {
        let v = next();
        let port = match v % 3 {
            0 => (v >> 8) as u16 & 0x0f,
            1 => 0x80 | (v >> 8) as u16 & 0x0f,
            _ => 0xc0 | (v >> 8) as u16 & 0x1f,
        };
        r.outb(port, (v >> 16) as u8);
        let ch = (v >> 24) as usize & 7;
        let mut dma = r.dma.lock().unwrap();
        if dma.ready(ch) {
            let mut t = dma.transfer(ch, &mut r.mem);
            t.write_to_memory(&[0x5a; 64]);
            let mut buf = [0; 64];
            t.read_from_memory(&mut buf);
        }
        dma.service_software_requests(&mut r.mem);
    }
}

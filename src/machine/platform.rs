//! The PC's devices, created and wired to the port bus, the memory map,
//! the IRQ lines and the clock, and the per-slice housekeeping the run loop
//! does with them (timers, interrupt acknowledge, A20, reset and power-off
//! requests).
//!
//! # Interrupt wiring
//!
//! Devices drive `irq` (lines 0-15 the ISA IRQs, 16-19 PCI PIRQA-D, 24-25
//! COM3 and COM4, which share IRQ4 and IRQ3 with COM1 and COM2 as a wired
//! OR) and the HPET drives `hpet_irq` (indexed by I/O APIC pin). [`route`] turns them
//! into the inputs of the two controllers, as an i440FX/PIIX board with an
//! I/O APIC wires them:
//! - 8259A: ISA IRQs; PIRQA-D at the IRQ the PIIX's route registers name;
//!   HPET outputs on pins below 16 (pin 2 being IRQ0).
//! - I/O APIC: ISA IRQ n on pin n, except IRQ0 on pin 2 (the MADT's
//!   interrupt source override) and IRQ2 (cascade) nowhere; PIRQA-D on pins
//!   16-19; HPET outputs on their pins. Pin 0 is not connected.
//! - HPET legacy replacement disconnects the PIT (IRQ0) and RTC (IRQ8).
//!
//! The I/O APIC delivers to the local APIC; the 8259A's INTR reaches the
//! CPU through LINT0 in virtual-wire mode (or with the APIC disabled), see
//! [`Platform::interrupt_pending`].

use super::clock::Clock;
use crate::devices::apm::{ApmPorts, APM_CONTROL_PORT};
use crate::devices::bus::PortBus;
use crate::devices::floppy::{self, Fdc82077, SharedFdc};
use crate::devices::fpu_error::FpuErrorLatch;
use crate::devices::fw_cfg::{self, FwCfg, FW_CFG_PORT, FW_CFG_PORTS};
use crate::devices::hpet::{Hpet, SharedHpet, HPET_BASE, HPET_SIZE};
use crate::devices::i8042::{register_i8042, I8042};
use crate::devices::ide::{self, PiixIde, SharedPiixIde};
use crate::devices::ioapic::{IoApic, SharedIoApic, IOAPIC_BASE, IOAPIC_SIZE};
use crate::devices::irq::{IrqLines, SharedIrqLines};
use crate::devices::isa_dma::{register_isa_dma, SharedIsaDma};
use crate::devices::lapic::{Lapic, SharedLapic, LAPIC_BASE, LAPIC_SIZE};
use crate::devices::pci::{
    i440fx_host_bridge, register_pci, register_pci_memory, PciBus, Piix3IsaBridge, Piix4Pm,
    SharedPciBus, SharedPiix4Pm,
};
use crate::devices::pic::{register_pic, Pic8259, SharedPic};
use crate::devices::pit::{register_pit, Pit8254, SharedPit};
use crate::devices::port92::{register_port92, SystemControlPortA};
use crate::devices::rtc::{register_rtc, Mc146818, SharedRtc};
use crate::devices::serial::{register_serial_on, ComPort, Uart16550};
use crate::devices::system_control::{SharedSystemControl, SystemControl};
use crate::devices::vga::{
    register_legacy_vga, register_vga, SharedVga, Vga, VgaModel, VgaPci, VGA_PCI_DEVICE,
};
use crate::mem::{GuestMemory, Pam};
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

/// ISA IRQ numbers of the timers.
const IRQ_PIT: u32 = 0;
const IRQ_KEYBOARD: u32 = 1;
const IRQ_RTC: u32 = 8;
/// The ACPI SCI of the PIIX4 PM function.
const IRQ_SCI: u32 = 9;
const IRQ_MOUSE: u32 = 12;
const IRQ_FPU: u32 = 13;
/// Lines of COM3 and COM4, folded into their shared ISA IRQs by [`route`].
const LINE_COM3: u32 = 24;
const LINE_COM4: u32 = 25;
/// Writing here clears the coprocessor-error latch.
const FPU_ERROR_PORT: u16 = 0xf0;

pub struct Platform {
    pub irq: SharedIrqLines,
    pub pic: SharedPic,
    pub pit: SharedPit,
    pub rtc: SharedRtc,
    pub com1: Arc<Mutex<Uart16550>>,
    /// COM2-COM4: present for guests that probe them; output discarded.
    pub com2_4: [Arc<Mutex<Uart16550>>; 3],
    pub i8042: Arc<Mutex<I8042>>,
    pub port92: Arc<Mutex<SystemControlPortA>>,
    pub control: SharedSystemControl,
    pub fpu_error: Arc<Mutex<FpuErrorLatch>>,
    /// The (single) vCPU's local APIC.
    pub lapic: SharedLapic,
    pub ioapic: SharedIoApic,
    pub hpet: SharedHpet,
    /// The HPET's outputs, bit n = I/O APIC pin n.
    pub hpet_irq: SharedIrqLines,
    pub pci: SharedPciBus,
    pub isa_bridge: Arc<Mutex<Piix3IsaBridge>>,
    pub pm: SharedPiix4Pm,
    /// What firmware (SeaBIOS) learns about the board.
    pub fw_cfg: Arc<Mutex<FwCfg>>,
    pub vga: SharedVga,
    /// The VGA's PCI function (00:02.0) when the card is the PCI one.
    pub vga_pci: Option<Arc<Mutex<VgaPci>>>,
    /// The PIIX3 IDE function (00:01.1) on IRQ14/15.
    pub ide: SharedPiixIde,
    /// The two 8237A DMA controllers and their page registers.
    pub dma: SharedIsaDma,
    /// The floppy controller on IRQ6 and DMA channel 2.
    pub fdc: SharedFdc,
}

/// The inputs of the two interrupt controllers, as bit masks of levels and
/// of rising edges since the last look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoutedIrqs {
    pub pic_levels: u32,
    pub pic_edges: u32,
    pub gsi_levels: u32,
    pub gsi_edges: u32,
}

/// ISA IRQ bits (0-15) to I/O APIC pins: IRQ0 on pin 2, IRQ2 nowhere.
fn isa_to_gsi(isa: u32) -> u32 {
    (isa & 0xfffa) | (isa & 1) << 2
}

/// HPET pins below 16 to 8259A inputs: pin 2 is IRQ0.
fn gsi_to_isa(gsi: u32) -> u32 {
    (gsi & 0xfffa) | (gsi >> 2) & 1
}

/// The board's interrupt wiring (see the module documentation). `lines`
/// are the levels or edges of `irq`, `hpet` those of `hpet_irq`, `legacy`
/// the HPET's legacy replacement, `pirq` the PIIX's PIRQ routes.
pub fn route(lines: u32, hpet: u32, legacy: bool, pirq: [Option<u8>; 4]) -> (u32, u32) {
    let shared = (lines >> LINE_COM3 & 1) << ComPort::Com3.irq()
        | (lines >> LINE_COM4 & 1) << ComPort::Com4.irq();
    let lines = lines & 0x00ff_ffff | shared;
    let isa = if legacy {
        lines & 0xffff & !(1 << IRQ_PIT | 1 << IRQ_RTC)
    } else {
        lines & 0xffff
    };
    let mut pic = isa | gsi_to_isa(hpet & 0xffff);
    for (i, irq) in pirq.iter().enumerate() {
        if let Some(irq) = irq {
            if lines & (1 << (16 + i)) != 0 {
                pic |= 1 << irq;
            }
        }
    }
    let gsi = isa_to_gsi(isa) | (lines & 0x000f_0000) | (hpet & 0x00ff_ffff);
    (pic, gsi)
}

/// The fw_cfg items every board has: RAM size, one CPU, no boot menu
/// (SeaBIOS then skips its "Press ESC" pause, as QEMU's default does).
fn board_fw_cfg(ram: u64) -> FwCfg {
    let mut cfg = FwCfg::new();
    cfg.set_item(fw_cfg::KEY_RAM_SIZE, ram.to_le_bytes().to_vec());
    cfg.set_item(fw_cfg::KEY_NB_CPUS, 1u16.to_le_bytes().to_vec());
    cfg.set_item(fw_cfg::KEY_MAX_CPUS, 1u16.to_le_bytes().to_vec());
    cfg.set_item(fw_cfg::KEY_BOOT_MENU, 0u16.to_le_bytes().to_vec());
    cfg
}

/// Locks a device, taking it over even if a previous holder panicked (the
/// device state is plain data, so it stays usable).
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Platform {
    /// Creates the devices and registers them on `io` and, for the APICs,
    /// the HPET, the VGA and the PCI memory BARs, on `mem`'s physical map.
    pub fn build(
        io: &mut PortBus,
        mem: &mut GuestMemory,
        clock: &Clock,
        ram: u64,
        serial: Box<dyn Write + Send>,
        vga_model: VgaModel,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let irq = IrqLines::new();
        let pic = Arc::new(Mutex::new(Pic8259::new()));
        register_pic(io, &pic)?;
        let pit = Arc::new(Mutex::new(Pit8254::new(clock.clone(), irq.line(IRQ_PIT))));
        register_pit(io, &pit)?;
        let rtc = Arc::new(Mutex::new(Mc146818::new(clock.clone(), irq.line(IRQ_RTC))));
        lock(&rtc).set_memory_size(ram);
        register_rtc(io, &rtc)?;
        let com1 = register_serial_on(io, irq.line(ComPort::Com1.irq()), ComPort::Com1, serial)?;
        let sink = || Box::new(std::io::sink());
        let com2_4 = [
            register_serial_on(io, irq.line(ComPort::Com2.irq()), ComPort::Com2, sink())?,
            register_serial_on(io, irq.line(LINE_COM3), ComPort::Com3, sink())?,
            register_serial_on(io, irq.line(LINE_COM4), ComPort::Com4, sink())?,
        ];
        let control = SystemControl::new();
        let i8042 = register_i8042(
            io,
            irq.line(IRQ_KEYBOARD),
            irq.line(IRQ_MOUSE),
            control.clone(),
        )?;
        let port92 = register_port92(io, control.clone())?;
        let fpu_error = Arc::new(Mutex::new(FpuErrorLatch::new(irq.line(IRQ_FPU))));
        io.register(FPU_ERROR_PORT, 1, Box::new(fpu_error.clone()))?;

        let mut lapic = Lapic::new(clock.clone(), 0, true);
        lapic.enter_virtual_wire_mode();
        let lapic = Arc::new(Mutex::new(lapic));
        mem.add_mmio(LAPIC_BASE, LAPIC_SIZE, Box::new(lapic.clone()))?;
        let ioapic = Arc::new(Mutex::new(IoApic::new()));
        mem.add_mmio(IOAPIC_BASE, IOAPIC_SIZE, Box::new(ioapic.clone()))?;
        let hpet_irq = IrqLines::new();
        let hpet = Arc::new(Mutex::new(Hpet::new(clock.clone(), hpet_irq.clone())));
        mem.add_mmio(HPET_BASE, HPET_SIZE, Box::new(hpet.clone()))?;

        let mut pci = PciBus::new(control.clone());
        let isa_bridge = Arc::new(Mutex::new(Piix3IsaBridge::new()));
        let pm = Arc::new(Mutex::new(Piix4Pm::new(
            clock.clone(),
            irq.line(IRQ_SCI),
            control.clone(),
        )));
        pci.add(0, 0, Box::new(i440fx_host_bridge()))?;
        pci.add(1, 0, Box::new(isa_bridge.clone()))?;
        pci.add(1, 3, Box::new(pm.clone()))?;
        io.register(APM_CONTROL_PORT, 2, Box::new(ApmPorts::new(pm.clone())))?;
        let ide = Arc::new(Mutex::new(PiixIde::new(
            irq.line(ide::IRQS[0]),
            irq.line(ide::IRQS[1]),
        )));
        pci.add(1, 1, Box::new(ide.clone()))?;
        ide::register_ide(io, &ide)?;
        let (vga, vga_pci) = match vga_model {
            VgaModel::Isa => (register_vga(io, mem)?, None),
            VgaModel::Std => {
                let vga = Arc::new(Mutex::new(Vga::new()));
                register_legacy_vga(io, mem, &vga)?;
                let function = Arc::new(Mutex::new(VgaPci::new(vga.clone(), Vec::new())));
                pci.add(VGA_PCI_DEVICE, 0, Box::new(function.clone()))?;
                (vga, Some(function))
            }
            // A card nothing reaches: the screen stays blank.
            VgaModel::None => (Arc::new(Mutex::new(Vga::new())), None),
        };
        let pci = Arc::new(Mutex::new(pci));
        register_pci(io, &pci)?;
        register_pci_memory(mem, &pci);
        let fw_cfg = Arc::new(Mutex::new(board_fw_cfg(ram)));
        io.register(FW_CFG_PORT, FW_CFG_PORTS, Box::new(fw_cfg.clone()))?;
        let dma = register_isa_dma(io)?;
        let fdc = Arc::new(Mutex::new(Fdc82077::new(
            irq.line(floppy::FDC_IRQ),
            lock(&dma).request_line(floppy::FDC_DMA_CHANNEL),
        )));
        floppy::register_fdc(io, &fdc)?;
        Ok(Platform {
            irq,
            pic,
            pit,
            rtc,
            com1,
            com2_4,
            i8042,
            port92,
            control,
            fpu_error,
            lapic,
            ioapic,
            hpet,
            hpet_irq,
            pci,
            isa_bridge,
            pm,
            fw_cfg,
            vga,
            vga_pci,
            ide,
            dma,
            fdc,
        })
    }

    /// Runs the DMA transfers the guest started: IDE bus mastering and
    /// the ISA channels whose device requests them (the transfers need
    /// guest memory, which only the run loop holds).
    pub fn service_dma(&self, mem: &mut GuestMemory) {
        lock(&self.ide).service_dma(mem);
        let mut dma = lock(&self.dma);
        if dma.ready(floppy::FDC_DMA_CHANNEL) {
            let mut transfer = dma.transfer(floppy::FDC_DMA_CHANNEL, mem);
            lock(&self.fdc).service_dma(&mut transfer);
        }
        dma.service_software_requests(mem);
    }

    /// Brings the timers up to the clock's present.
    pub fn advance_timers(&self) {
        lock(&self.pit).advance();
        lock(&self.rtc).advance();
        lock(&self.lapic).advance();
        lock(&self.hpet).advance();
        lock(&self.pm).advance();
    }

    /// The earliest time a timer wants the run loop back.
    pub fn next_deadline_ns(&self) -> Option<u64> {
        [
            lock(&self.pit).next_deadline_ns(),
            lock(&self.rtc).next_deadline_ns(),
            lock(&self.lapic).next_deadline_ns(),
            lock(&self.hpet).next_deadline_ns(),
            lock(&self.pm).next_deadline_ns(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Samples every interrupt line into the 8259A and the I/O APIC, passes
    /// the local APIC's EOI broadcasts to the I/O APIC and lets the I/O
    /// APIC deliver to the local APIC.
    fn sync_interrupts(&self) {
        let (levels, edges) = (self.irq.levels(), self.irq.take_edges());
        let (hpet_levels, hpet_edges) = (self.hpet_irq.levels(), self.hpet_irq.take_edges());
        let legacy = lock(&self.hpet).legacy_replacement();
        let pirq = {
            let isa = lock(&self.isa_bridge);
            [0, 1, 2, 3].map(|n| isa.pirq_route(n))
        };
        let (pic_levels, gsi_levels) = route(levels, hpet_levels, legacy, pirq);
        let (pic_edges, gsi_edges) = route(edges, hpet_edges, legacy, pirq);
        lock(&self.pic).set_inputs(pic_levels, pic_edges);
        let mut lapic = lock(&self.lapic);
        let mut ioapic = lock(&self.ioapic);
        while let Some(vector) = lapic.take_eoi_broadcast() {
            ioapic.eoi(vector);
        }
        ioapic.set_inputs(gsi_levels, gsi_edges);
        ioapic.service(|msg| lapic.receive(msg));
    }

    /// Whether the CPU's INTR is asserted: the local APIC has a vector above
    /// its processor priority, or the 8259A's INTR passes through LINT0
    /// (virtual wire, or the APIC globally disabled).
    pub fn interrupt_pending(&self) -> bool {
        self.sync_interrupts();
        let lapic = lock(&self.lapic);
        lapic.pending_vector().is_some() || (lapic.pic_intr_routed() && lock(&self.pic).intr())
    }

    /// The INTA cycle: the vector to deliver — the local APIC's if it has
    /// one (IRR -> ISR), else the 8259A's. With neither (the request went
    /// away), the spurious vector of whichever would have answered.
    pub fn acknowledge(&self) -> u8 {
        let mut lapic = lock(&self.lapic);
        if lapic.pending_vector().is_some() || !lapic.pic_intr_routed() {
            lapic.acknowledge()
        } else {
            lock(&self.pic).acknowledge()
        }
    }

    /// An NMI delivered through the APICs (taken once).
    pub fn take_nmi(&self) -> bool {
        lock(&self.lapic).take_nmi()
    }

    /// The CPU signalled an x87 error through FERR# (CR0.NE clear).
    pub fn fpu_error(&self) {
        lock(&self.fpu_error).raise();
    }

    /// The host bridge's PAM registers (config 0x59-0x5F): the shadow-RAM
    /// map of 0xC0000-0xFFFFF.
    pub fn pam(&self) -> Pam {
        let mut pci = lock(&self.pci);
        let (low, high) = (pci.config_read(0, 0, 0x58), pci.config_read(0, 0, 0x5c));
        let b = |v: u32, n: u32| (v >> (8 * n)) as u8;
        Pam([
            b(low, 1),
            b(low, 2),
            b(low, 3),
            b(high, 0),
            b(high, 1),
            b(high, 2),
            b(high, 3),
        ])
    }

    /// Puts every device back in its power-on state (a board reset).
    pub fn reset(&self) {
        lock(&self.com1).reset();
        for com in &self.com2_4 {
            lock(com).reset();
        }
        lock(&self.i8042).reset();
        lock(&self.port92).reset();
        let mut lapic = lock(&self.lapic);
        lapic.reset();
        lapic.enter_virtual_wire_mode();
        drop(lapic);
        lock(&self.ioapic).reset();
        lock(&self.hpet).reset();
        lock(&self.pci).reset();
        lock(&self.vga).reset();
        lock(&self.dma).reset();
        lock(&self.fdc).hardware_reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::clock::VirtualClock;

    /// A platform on its buses, driven the way a guest and its devices do.
    struct Rig {
        io: PortBus,
        mem: GuestMemory,
        clock: Clock,
        p: Platform,
    }

    impl Rig {
        fn new() -> Self {
            let clock = VirtualClock::deterministic();
            let mut io = PortBus::default();
            io.clock = Some(clock.clone());
            let mut mem = GuestMemory::new(1 << 20).unwrap();
            let p = Platform::build(
                &mut io,
                &mut mem,
                &clock,
                1 << 20,
                Box::new(std::io::sink()),
                VgaModel::Std,
            )
            .unwrap();
            Rig { io, mem, clock, p }
        }

        fn outb(&mut self, port: u16, value: u8) {
            self.io.write(port, 1, value as u32);
        }

        /// The 8259As at vectors 0x20/0x28, everything unmasked.
        fn init_pic(&mut self) {
            for (base, vector, icw3) in [(0x20, 0x20, 4), (0xa0, 0x28, 2)] {
                self.outb(base, 0x11);
                self.outb(base + 1, vector);
                self.outb(base + 1, icw3);
                self.outb(base + 1, 0x01);
                self.outb(base + 1, 0x00);
            }
        }

        fn ioapic_entry(&mut self, pin: u32, low: u32) {
            self.mem.write(IOAPIC_BASE, 4, (0x11 + 2 * pin) as u64);
            self.mem.write(IOAPIC_BASE + 0x10, 4, 0);
            self.mem.write(IOAPIC_BASE, 4, (0x10 + 2 * pin) as u64);
            self.mem.write(IOAPIC_BASE + 0x10, 4, low as u64);
        }

        fn lapic_write(&mut self, reg: u64, value: u32) {
            self.mem.write(LAPIC_BASE + reg, 4, value as u64);
        }

        fn take_interrupt(&self) -> Option<u8> {
            self.p.interrupt_pending().then(|| self.p.acknowledge())
        }
    }

    #[test]
    fn wiring_of_isa_pci_and_hpet_lines() {
        let none = [None; 4];
        // IRQ0 reaches pin 2; IRQ2 (cascade) no pin; others one to one.
        assert_eq!(route(1 << 0, 0, false, none), (1 << 0, 1 << 2));
        assert_eq!(route(1 << 2, 0, false, none), (1 << 2, 0));
        assert_eq!(route(1 << 4 | 1 << 8, 0, false, none), (0x110, 0x110));
        // Legacy replacement: PIT and RTC cut off, HPET timers 0/1 instead.
        assert_eq!(route(1 << 0 | 1 << 8, 0, true, none), (0, 0));
        assert_eq!(route(0, 1 << 2 | 1 << 8, true, none), (0x101, 0x104));
        // HPET on pin 20: I/O APIC only.
        assert_eq!(route(0, 1 << 20, false, none), (0, 1 << 20));
        // PIRQB routed to IRQ11: the PIC sees IRQ11, the I/O APIC pin 17.
        let pirq = [None, Some(11), None, None];
        assert_eq!(route(1 << 17, 0, false, pirq), (1 << 11, 1 << 17));
        assert_eq!(route(1 << 17, 0, false, none), (0, 1 << 17));
        // COM3 and COM4 share IRQ4 and IRQ3.
        assert_eq!(route(1 << LINE_COM3, 0, false, none), (1 << 4, 1 << 4));
        assert_eq!(
            route(1 << LINE_COM4 | 1 << 3, 0, false, none),
            (1 << 3, 1 << 3)
        );
    }

    #[test]
    fn pic_interrupts_pass_the_virtual_wire() {
        let mut rig = Rig::new();
        rig.init_pic();
        rig.p.irq.line(4).raise();
        assert_eq!(rig.take_interrupt(), Some(0x24));
        rig.p.irq.line(4).lower();
        rig.outb(0x20, 0x20);
        // Masking LINT0 (what Linux does when it uses the I/O APIC) stops it.
        rig.lapic_write(0x350, 0x1_0700);
        rig.p.irq.line(3).raise();
        assert_eq!(rig.take_interrupt(), None);
        // With the APIC globally disabled, INTR goes to the CPU directly.
        rig.p.lapic.lock().unwrap().write_apic_base(LAPIC_BASE);
        assert_eq!(rig.take_interrupt(), Some(0x23));
    }

    #[test]
    fn ioapic_interrupts_reach_the_cpu_through_the_lapic() {
        let mut rig = Rig::new();
        rig.lapic_write(0x350, 0x1_0700);
        // IRQ4 edge on vector 0x34; IRQ0 (pin 2) on 0x30.
        rig.ioapic_entry(4, 0x34);
        rig.ioapic_entry(2, 0x30);
        rig.p.irq.line(4).pulse();
        rig.p.irq.line(0).raise();
        assert_eq!(rig.take_interrupt(), Some(0x34));
        assert_eq!(rig.take_interrupt(), None, "0x30 waits: same class");
        rig.lapic_write(0xb0, 0);
        assert_eq!(rig.take_interrupt(), Some(0x30));
        rig.lapic_write(0xb0, 0);
        assert_eq!(rig.take_interrupt(), None);
    }

    #[test]
    fn level_interrupts_redeliver_after_eoi_while_asserted() {
        let mut rig = Rig::new();
        rig.lapic_write(0x350, 0x1_0700);
        rig.ioapic_entry(9, 0xa049); // level, active low (as ACPI's SCI is)
        let line = rig.p.irq.line(9);
        line.raise();
        assert_eq!(rig.take_interrupt(), Some(0x49));
        assert_eq!(rig.take_interrupt(), None);
        rig.lapic_write(0xb0, 0);
        assert_eq!(rig.take_interrupt(), Some(0x49), "still asserted");
        line.lower();
        rig.lapic_write(0xb0, 0);
        assert_eq!(rig.take_interrupt(), None);
    }

    #[test]
    fn hpet_legacy_timer_replaces_the_pit_on_pin_2() {
        let mut rig = Rig::new();
        rig.lapic_write(0x350, 0x1_0700);
        rig.ioapic_entry(2, 0x30);
        // PIT channel 0 in mode 2: its IRQ0 must be cut off.
        rig.outb(0x43, 0x34);
        rig.outb(0x40, 100);
        rig.outb(0x40, 0);
        // HPET: timer 0 periodic, comparator 1000, legacy replacement.
        rig.mem.write(HPET_BASE + 0x100, 8, 0x4c);
        rig.mem.write(HPET_BASE + 0x108, 8, 1000);
        rig.mem.write(HPET_BASE + 0x108, 8, 1000);
        rig.mem.write(HPET_BASE + 0x10, 8, 3);
        let deadline = rig.p.next_deadline_ns().unwrap();
        assert!(deadline < 70_000, "PIT and HPET deadlines combined");
        rig.clock.set_icount(200_000);
        rig.p.advance_timers();
        assert_eq!(rig.take_interrupt(), Some(0x30));
        rig.lapic_write(0xb0, 0);
        assert_eq!(
            rig.take_interrupt(),
            None,
            "the PIT's edges do not get through"
        );
    }

    #[test]
    fn lapic_timer_deadline_is_in_the_combined_deadline() {
        let mut rig = Rig::new();
        assert_eq!(rig.p.next_deadline_ns(), None);
        rig.lapic_write(0x3e0, 0xb);
        rig.lapic_write(0x320, 0x40);
        rig.lapic_write(0x380, 5000);
        assert_eq!(rig.p.next_deadline_ns(), Some(5000));
        rig.clock.set_icount(5000);
        rig.p.advance_timers();
        assert_eq!(rig.take_interrupt(), Some(0x40));
    }

    #[test]
    fn acpi_power_off_and_pci_reset() {
        let mut rig = Rig::new();
        rig.io.write(0xcf8, 4, 0x8000_0b40);
        rig.io.write(0xcfc, 4, 0x601);
        rig.io.write(0xcf8, 4, 0x8000_0b80);
        rig.io.write(0xcfc, 1, 1);
        rig.io.write(0x604, 2, 1 << 13);
        assert!(rig.p.control.take_poweroff_request());
        rig.outb(0xcf9, 0x06);
        assert!(rig.p.control.take_reset_request());
        rig.p.reset();
        assert_eq!(rig.io.read(0x604, 2), 0xffff, "PM block off after reset");
        assert!(
            rig.p.lapic.lock().unwrap().pic_intr_routed(),
            "virtual wire again"
        );
    }
}

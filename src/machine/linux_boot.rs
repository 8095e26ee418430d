//! Direct kernel boot with the Linux x86 boot protocol
//! (Documentation/arch/x86/boot.rst): the bzImage's setup header, the
//! protected-mode kernel at 1 MiB, boot_params (the "zero page") with the
//! E820 map and command line, the initrd at the top of low memory, and the
//! CPU state of the 32-bit or 64-bit entry point.

use super::e820::{E820Entry, PCI_HOLE_START};
use crate::cpu::state::{cr0, cr4, efer, CpuState, Segment, CS, DS, ES, FS, GS, RSI, SS};
use crate::devices::vga::{VgaPci, VRAM_SIZE};
use crate::mem::GuestMemory;
use std::fmt;

/// Guest-physical layout of what the loader places.
pub const BOOT_PARAMS: u64 = 0x7000;
pub const CMDLINE: u64 = 0x2_0000;
pub const CMDLINE_MAX: usize = 0x1_0000 - 1;
pub const GDT: u64 = 0x500;
/// Identity page tables for the 64-bit entry: PML4, PDPT, 4 PDs (4 GiB).
pub const PAGE_TABLES: u64 = 0x9000;
pub const KERNEL_ADDR: u64 = 0x10_0000;

/// boot_params / setup header field offsets.
mod off {
    pub const E820_ENTRIES: usize = 0x1e8;
    pub const SETUP_SECTS: usize = 0x1f1;
    pub const BOOT_FLAG: usize = 0x1fe;
    pub const HEADER: usize = 0x202;
    pub const VERSION: usize = 0x206;
    pub const TYPE_OF_LOADER: usize = 0x210;
    pub const LOADFLAGS: usize = 0x211;
    pub const CODE32_START: usize = 0x214;
    pub const RAMDISK_IMAGE: usize = 0x218;
    pub const RAMDISK_SIZE: usize = 0x21c;
    pub const HEAP_END_PTR: usize = 0x224;
    pub const CMD_LINE_PTR: usize = 0x228;
    pub const INITRD_ADDR_MAX: usize = 0x22c;
    pub const XLOADFLAGS: usize = 0x236;
    pub const CMDLINE_SIZE: usize = 0x238;
    pub const E820_TABLE: usize = 0x2d0;
}

/// Where direct boot places the PCI VGA's BARs, as firmware would: at the
/// bottom of the PCI hole (so the framebuffer sits where the ISA card's
/// does), registers and ROM after it.
pub const VGA_LFB_BAR: u32 = PCI_HOLE_START as u32;
pub const VGA_MMIO_BAR: u32 = VGA_LFB_BAR + VRAM_SIZE as u32;
pub const VGA_ROM_BAR: u32 = VGA_MMIO_BAR + 0x1_0000;

/// Assigns the VGA function's BARs and turns its decoding on (no firmware
/// runs before a directly booted kernel, and Linux keeps what it finds).
pub fn assign_vga_bars(vga: &mut VgaPci) {
    vga.firmware_setup(VGA_LFB_BAR, VGA_MMIO_BAR, VGA_ROM_BAR);
}

/// Up to this many E820 entries fit in boot_params.
const E820_MAX: usize = 128;

#[derive(Debug, PartialEq, Eq)]
pub enum BootError {
    NotBzImage(&'static str),
    TooOld(u16),
    DoesNotFit(&'static str),
    No64BitEntry,
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::NotBzImage(why) => write!(f, "not a Linux bzImage: {why}"),
            BootError::TooOld(v) => write!(
                f,
                "boot protocol {}.{:02} is too old (2.06 or later needed)",
                v >> 8,
                v & 0xff
            ),
            BootError::DoesNotFit(what) => write!(f, "{what} does not fit in guest RAM"),
            BootError::No64BitEntry => write!(f, "the kernel has no 64-bit entry point"),
        }
    }
}

impl std::error::Error for BootError {}

/// What the loader needs to know about a bzImage.
#[derive(Debug)]
pub struct BzImage<'a> {
    setup: &'a [u8],
    kernel: &'a [u8],
    initrd_addr_max: u32,
    cmdline_size: u32,
    xloadflags: u16,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> BzImage<'a> {
    pub fn parse(image: &'a [u8]) -> Result<Self, BootError> {
        if image.len() < 0x300 {
            return Err(BootError::NotBzImage("shorter than a setup header"));
        }
        if le16(image, off::BOOT_FLAG) != 0xaa55 || &image[off::HEADER..off::HEADER + 4] != b"HdrS"
        {
            return Err(BootError::NotBzImage(
                "no boot-sector signature or HdrS magic",
            ));
        }
        let version = le16(image, off::VERSION);
        if version < 0x0206 {
            return Err(BootError::TooOld(version));
        }
        if image[off::LOADFLAGS] & 1 == 0 {
            return Err(BootError::NotBzImage(
                "zImage (not loaded high) is not supported",
            ));
        }
        let sects = match image[off::SETUP_SECTS] {
            0 => 4,
            n => n as usize,
        };
        let setup_len = (sects + 1) * 512;
        if setup_len >= image.len() {
            return Err(BootError::NotBzImage("setup sectors run past the file"));
        }
        Ok(BzImage {
            setup: &image[..setup_len],
            kernel: &image[setup_len..],
            initrd_addr_max: le32(image, off::INITRD_ADDR_MAX),
            cmdline_size: le32(image, off::CMDLINE_SIZE),
            xloadflags: if version >= 0x020c {
                le16(image, off::XLOADFLAGS)
            } else {
                0
            },
        })
    }

    /// The kernel has a 64-bit entry point at +0x200 (XLF_KERNEL_64).
    pub fn has_64bit_entry(&self) -> bool {
        self.xloadflags & 1 != 0
    }
}

/// The CPU mode to enter the kernel in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    Bits32,
    Bits64,
}

/// Loads `image` (+ `initrd`, `cmdline`) into `mem` and sets up `cpu` at
/// the kernel's entry point.
pub fn load(
    mem: &mut GuestMemory,
    cpu: &mut CpuState,
    image: &[u8],
    initrd: Option<&[u8]>,
    cmdline: &str,
    e820: &[E820Entry],
    entry: Entry,
) -> Result<(), BootError> {
    let bz = BzImage::parse(image)?;
    if entry == Entry::Bits64 && !bz.has_64bit_entry() {
        return Err(BootError::No64BitEntry);
    }
    let ram = mem.ram_size();
    if KERNEL_ADDR + bz.kernel.len() as u64 > ram {
        return Err(BootError::DoesNotFit("the kernel"));
    }
    mem.write_bytes(KERNEL_ADDR, bz.kernel);

    // boot_params: zeroed, then the image's setup header copied in.
    let mut params = vec![0u8; 4096];
    let header_end = (off::HEADER + 2 + bz.setup[off::HEADER + 1] as usize).min(bz.setup.len());
    params[off::SETUP_SECTS..header_end].copy_from_slice(&bz.setup[off::SETUP_SECTS..header_end]);
    params[off::TYPE_OF_LOADER] = 0xff;
    // CAN_USE_HEAP with the heap ending below the zero page.
    params[off::LOADFLAGS] |= 0x80;
    params[off::HEAP_END_PTR..off::HEAP_END_PTR + 2].copy_from_slice(&0xfe00u16.to_le_bytes());
    params[off::CODE32_START..off::CODE32_START + 4]
        .copy_from_slice(&(KERNEL_ADDR as u32).to_le_bytes());

    let max_cmdline = (bz.cmdline_size as usize).clamp(255, CMDLINE_MAX);
    let mut line = cmdline.as_bytes().to_vec();
    line.truncate(max_cmdline);
    line.push(0);
    mem.write_bytes(CMDLINE, &line);
    params[off::CMD_LINE_PTR..off::CMD_LINE_PTR + 4]
        .copy_from_slice(&(CMDLINE as u32).to_le_bytes());

    if let Some(rd) = initrd {
        let limit = (bz.initrd_addr_max as u64 + 1).min(low_ram_top(e820));
        let len = rd.len() as u64;
        let at = limit
            .checked_sub(len)
            .map(|a| a & !0xfff)
            .filter(|&a| a >= KERNEL_ADDR + bz.kernel.len() as u64)
            .ok_or(BootError::DoesNotFit("the initrd"))?;
        mem.write_bytes(at, rd);
        params[off::RAMDISK_IMAGE..off::RAMDISK_IMAGE + 4]
            .copy_from_slice(&(at as u32).to_le_bytes());
        params[off::RAMDISK_SIZE..off::RAMDISK_SIZE + 4]
            .copy_from_slice(&(len as u32).to_le_bytes());
    }

    let n = e820.len().min(E820_MAX);
    params[off::E820_ENTRIES] = n as u8;
    for (i, e) in e820.iter().take(n).enumerate() {
        let at = off::E820_TABLE + 20 * i;
        params[at..at + 8].copy_from_slice(&e.addr.to_le_bytes());
        params[at + 8..at + 16].copy_from_slice(&e.size.to_le_bytes());
        params[at + 16..at + 20].copy_from_slice(&(e.kind as u32).to_le_bytes());
    }
    mem.write_bytes(BOOT_PARAMS, &params);

    enter(mem, cpu, entry);
    Ok(())
}

/// The end of the RAM region that holds the kernel (the initrd goes at
/// its top).
fn low_ram_top(e820: &[E820Entry]) -> u64 {
    e820.iter()
        .filter(|e| e.kind == super::e820::E820Type::Ram)
        .filter(|e| e.addr <= KERNEL_ADDR && KERNEL_ADDR < e.addr + e.size)
        .map(|e| e.addr + e.size)
        .next()
        .unwrap_or(0)
}

/// Flat 4 GiB segment caches as the boot protocol's GDT describes them.
fn flat(selector: u16, code: bool, long: bool) -> Segment {
    let kind: u16 = if code { 0x9b } else { 0x93 };
    let size = if long { 0x2000 } else { 0x4000 };
    Segment {
        selector,
        attr: 0x8000 | size | kind,
        limit: 0xffff_ffff,
        base: 0,
    }
}

/// CPU state at the entry point (boot.rst "32-bit boot protocol" and
/// "64-bit boot protocol"): flat __BOOT_CS (0x10) / __BOOT_DS (0x18),
/// interrupts off, ESI/RSI = boot_params.
fn enter(mem: &mut GuestMemory, s: &mut CpuState, entry: Entry) {
    s.reset();
    // GDT: null, null, code 0x10, data 0x18 (and 64-bit code at 0x10 for
    // the 64-bit entry).
    let code = if entry == Entry::Bits64 {
        0x00af_9b00_0000_ffffu64
    } else {
        0x00cf_9b00_0000_ffff
    };
    for (i, d) in [0u64, 0, code, 0x00cf_9300_0000_ffff].iter().enumerate() {
        mem.write(GDT + 8 * i as u64, 8, *d);
    }
    s.gdtr.base = GDT;
    s.gdtr.limit = 4 * 8 - 1;
    s.idtr.limit = 0;
    s.cr0 = cr0::PE | cr0::ET;
    let long = entry == Entry::Bits64;
    s.seg[CS] = flat(0x10, true, long);
    for seg in [DS, ES, SS, FS, GS] {
        s.seg[seg] = flat(0x18, false, false);
    }
    s.gpr = [0; 16];
    s.gpr[RSI] = BOOT_PARAMS;
    s.set_flags(0);
    if long {
        // Identity-map the first 4 GiB with 2 MiB pages.
        let pml4 = PAGE_TABLES;
        let pdpt = pml4 + 0x1000;
        mem.write(pml4, 8, pdpt | 3);
        for i in 0..4u64 {
            let pd = pdpt + 0x1000 * (i + 1);
            mem.write(pdpt + 8 * i, 8, pd | 3);
            for j in 0..512u64 {
                mem.write(pd + 8 * j, 8, ((i << 30) | (j << 21)) | 0x83);
            }
        }
        s.cr3 = pml4;
        s.cr4 = cr4::PAE;
        s.msr.efer = efer::LME | efer::LMA;
        s.cr0 |= cr0::PG;
        s.rip = KERNEL_ADDR + 0x200;
    } else {
        s.rip = KERNEL_ADDR;
    }
}

#[cfg(test)]
mod tests {
    use super::super::e820::pc_memory_map;
    use super::*;

    /// A minimal fake bzImage: one setup sector plus the boot sector, and
    /// a kernel body of `body` bytes.
    fn fake_image(version: u16, xloadflags: u16, body: usize) -> Vec<u8> {
        let mut img = vec![0u8; 2 * 512 + body];
        img[off::SETUP_SECTS] = 1;
        img[off::BOOT_FLAG..off::BOOT_FLAG + 2].copy_from_slice(&0xaa55u16.to_le_bytes());
        img[0x201] = 0x6a; // header length past 0x202
        img[off::HEADER..off::HEADER + 4].copy_from_slice(b"HdrS");
        img[off::VERSION..off::VERSION + 2].copy_from_slice(&version.to_le_bytes());
        img[off::LOADFLAGS] = 1;
        img[off::INITRD_ADDR_MAX..off::INITRD_ADDR_MAX + 4]
            .copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        img[off::XLOADFLAGS..off::XLOADFLAGS + 2].copy_from_slice(&xloadflags.to_le_bytes());
        img[off::CMDLINE_SIZE..off::CMDLINE_SIZE + 4].copy_from_slice(&2048u32.to_le_bytes());
        for (i, b) in img[1024..].iter_mut().enumerate() {
            *b = i as u8;
        }
        img
    }

    #[test]
    fn loads_kernel_params_cmdline_and_initrd() {
        let mut mem = GuestMemory::new(64 << 20).unwrap();
        let mut cpu = CpuState::default();
        let img = fake_image(0x020f, 1, 8192);
        let e820 = pc_memory_map(64 << 20, 0, 0);
        load(
            &mut mem,
            &mut cpu,
            &img,
            Some(&[7u8; 5000]),
            "console=ttyS0",
            &e820,
            Entry::Bits32,
        )
        .unwrap();
        assert_eq!(mem.read(KERNEL_ADDR + 5, 1), 5);
        assert_eq!(mem.read(BOOT_PARAMS + off::TYPE_OF_LOADER as u64, 1), 0xff);
        assert_eq!(mem.read(BOOT_PARAMS + off::CMD_LINE_PTR as u64, 4), CMDLINE);
        assert_eq!(mem.read(CMDLINE, 1), b'c' as u64);
        let rd = mem.read(BOOT_PARAMS + off::RAMDISK_IMAGE as u64, 4);
        assert_eq!(rd & 0xfff, 0);
        assert_eq!(mem.read(rd, 1), 7);
        assert_eq!(mem.read(BOOT_PARAMS + off::RAMDISK_SIZE as u64, 4), 5000);
        assert_eq!(
            mem.read(BOOT_PARAMS + off::E820_ENTRIES as u64, 1),
            e820.len() as u64
        );
        assert_eq!((cpu.rip, cpu.gpr[RSI]), (KERNEL_ADDR, BOOT_PARAMS));
        assert!(cpu.protected_mode());
    }

    #[test]
    fn sixty_four_bit_entry_needs_the_flag() {
        let mut mem = GuestMemory::new(64 << 20).unwrap();
        let mut cpu = CpuState::default();
        let e820 = pc_memory_map(64 << 20, 0, 0);
        let img = fake_image(0x020f, 0, 4096);
        assert_eq!(
            load(&mut mem, &mut cpu, &img, None, "", &e820, Entry::Bits64),
            Err(BootError::No64BitEntry)
        );
        let img = fake_image(0x020f, 1, 4096);
        load(&mut mem, &mut cpu, &img, None, "", &e820, Entry::Bits64).unwrap();
        assert_eq!(cpu.rip, KERNEL_ADDR + 0x200);
        assert_ne!(cpu.msr.efer & efer::LMA, 0);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(matches!(
            BzImage::parse(&[0u8; 100]),
            Err(BootError::NotBzImage(_))
        ));
        assert!(matches!(
            BzImage::parse(&vec![0u8; 4096]),
            Err(BootError::NotBzImage(_))
        ));
        let old = fake_image(0x0204, 0, 100);
        assert_eq!(BzImage::parse(&old).unwrap_err(), BootError::TooOld(0x0204));
    }
}

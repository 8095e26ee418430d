//! The frame of the hand-made boot sectors the SeaBIOS tests boot
//! (assembled with iced-x86's code_asm): flat real-mode segments, a stack
//! below 0x7C00, the boot drive kept in BP, messages printed on port 0xE9,
//! and an exit through port 0xF4 (status 33 on success, 35 on failure).

use iced_x86::code_asm::*;

/// Where the code ends and the sector's data begins (0x7C00 + 0x180).
pub const DATA: u16 = 0x7d80;

pub struct BootProgram {
    pub a: CodeAssembler,
    /// Prints the failure message and exits with status 35.
    pub fail: CodeLabel,
    /// Prints the NUL-terminated string at DS:SI.
    pub print: CodeLabel,
}

impl BootProgram {
    /// Sets up segments and stack, and prints the string at `msg_boot`.
    pub fn begin(msg_boot: u16) -> Result<BootProgram, IcedError> {
        let mut a = CodeAssembler::new(16)?;
        let fail = a.create_label();
        let print = a.create_label();
        a.cli()?;
        a.xor(ax, ax)?;
        a.mov(ds, ax)?;
        a.mov(es, ax)?;
        a.mov(ss, ax)?;
        a.mov(sp, 0x7c00)?;
        a.sti()?;
        a.cld()?;
        a.mov(bp, dx)?; // DL: the boot drive
        a.mov(si, msg_boot as i32)?;
        a.call(print)?;
        Ok(BootProgram { a, fail, print })
    }

    /// Prints the string at `msg` (clobbers SI, AL).
    pub fn say(&mut self, msg: u16) -> Result<(), IcedError> {
        self.a.mov(si, msg as i32)?;
        self.a.call(self.print)
    }

    /// Exits with success, adds the failure path (printing `msg_fail`) and
    /// the print routine, assembles at 0x7C00 and lays `data` (address,
    /// bytes) out after the code, with the boot signature.
    pub fn finish(mut self, msg_fail: u16, data: &[(u16, &[u8])]) -> Result<Vec<u8>, IcedError> {
        let a = &mut self.a;
        let mut done = a.create_label();
        a.mov(al, 0x10)?;
        a.out(0xf4, al)?;
        a.hlt()?;
        a.set_label(&mut self.fail)?;
        a.mov(si, msg_fail as i32)?;
        a.call(self.print)?;
        a.mov(al, 0x11)?;
        a.out(0xf4, al)?;
        a.hlt()?;
        a.set_label(&mut self.print)?;
        a.lodsb()?;
        a.test(al, al)?;
        a.jz(done)?;
        a.out(0xe9, al)?;
        a.jmp(self.print)?;
        a.set_label(&mut done)?;
        a.ret()?;
        let code = a.assemble(0x7c00)?;
        assert!(
            code.len() <= (DATA - 0x7c00) as usize,
            "boot code overlaps its data"
        );
        let mut sector = vec![0u8; 512];
        sector[..code.len()].copy_from_slice(&code);
        for (at, bytes) in data {
            let i = (at - 0x7c00) as usize;
            sector[i..i + bytes.len()].copy_from_slice(bytes);
        }
        sector[510] = 0x55;
        sector[511] = 0xaa;
        Ok(sector)
    }
}

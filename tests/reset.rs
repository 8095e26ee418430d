//! A triple fault resets the machine as a PC does (RAM survives a warm
//! reset); with --no-reboot it ends xlat instead.

use std::process::Command;

/// A ROM that leaves a marker in RAM and triple-faults (IDT limit 0, then
/// INT3) on its first boot, and reports success through port 0xF4 when it
/// finds the marker after the reset.
fn reset_rom() -> Vec<u8> {
    let mut rom = vec![0xf4u8; 0x10000];
    let code = [
        0x31, 0xc0, // xor ax, ax
        0x8e, 0xd8, // mov ds, ax
        0x80, 0x3e, 0x00, 0x05, 0x5a, // cmp byte [0x500], 0x5A
        0x74, 0x0c, // je second
        0xc6, 0x06, 0x00, 0x05, 0x5a, // mov byte [0x500], 0x5A
        0x2e, 0x0f, 0x01, 0x1e, 0x1c, 0x00, // lidt [cs:idt0]
        0xcc, // int3: no IVT entry -> #GP -> #DF -> shutdown
        0xb0, 0x10, // second: mov al, 0x10
        0xe6, 0xf4, // out 0xF4, al
        0xf4, // hlt
        0, 0, 0, 0, 0, 0, // idt0: limit 0, base 0
    ];
    rom[..code.len()].copy_from_slice(&code);
    rom[0xfff0..0xfff5].copy_from_slice(&[0xea, 0x00, 0x00, 0x00, 0xf0]);
    rom
}

fn run(extra: &[&str]) -> i32 {
    let dir = std::env::temp_dir().join(format!("xlat-reset-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("reset.rom");
    std::fs::write(&path, reset_rom()).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .arg("--bios")
        .arg(&path)
        .args(["--max-instructions", "100000"])
        .args(extra)
        .status()
        .expect("run xlat");
    status.code().expect("exit code")
}

#[test]
fn triple_fault_resets_and_ram_survives() {
    assert_eq!(run(&[]), 0x21);
}

#[test]
fn no_reboot_turns_triple_fault_into_exit() {
    assert_eq!(run(&["--no-reboot"]), 3);
}

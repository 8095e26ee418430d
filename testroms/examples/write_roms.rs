//! Writes every test ROM to a directory (default `.`), as `NAME.rom`: for
//! running them by hand under xlat or QEMU.
//!
//! `cargo run -p xlat-testroms --example write_roms -- DIR`

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    std::fs::create_dir_all(&dir).expect("create the output directory");
    for rom in xlat_testroms::all() {
        let path = std::path::Path::new(&dir).join(format!("{}.rom", rom.name));
        std::fs::write(&path, &rom.image).expect("write the ROM");
        println!("{}: {}", path.display(), rom.about);
    }
}

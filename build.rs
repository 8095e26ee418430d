//! Assembles the built-in firmware (bios/) and the test ROMs (testroms/) into
//! OUT_DIR at build time:
//! - `demo.rom`, which src/main.rs includes as the default firmware;
//! - `testroms/NAME.rom` for each test ROM, and `testroms.rs`, a generated
//!   table of `(name, path, expected exit status)` that integration tests
//!   `include!`.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("demo.rom"), xlat_bios::demo_rom()).expect("write demo.rom");

    let dir = out.join("testroms");
    std::fs::create_dir_all(&dir).expect("create OUT_DIR/testroms");
    let mut table = String::from(
        "/// Test ROMs built by build.rs: (name, path of the image, expected exit status).\n\
         pub const TEST_ROMS: &[(&str, &str, i32)] = &[\n",
    );
    for rom in xlat_testroms::all() {
        let path = dir.join(format!("{}.rom", rom.name));
        std::fs::write(&path, &rom.image)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        let path = path.to_str().expect("OUT_DIR is valid UTF-8");
        writeln!(
            table,
            "    ({:?}, {:?}, {}),",
            rom.name, path, rom.expected_status
        )
        .unwrap();
    }
    table.push_str("];\n");
    std::fs::write(out.join("testroms.rs"), table).expect("write testroms.rs");

    // The ROM sources are path dependencies: cargo rebuilds this script when
    // they change, so only the script itself needs listing.
    println!("cargo::rerun-if-changed=build.rs");
}

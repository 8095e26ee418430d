//! Assembles the built-in firmware (bios/) and the test ROMs (testroms/) into
//! OUT_DIR at build time:
//! - `demo.rom`, which src/main.rs includes as the default firmware;
//! - `testroms/NAME.rom` for each test ROM, and `testroms.rs`, a generated
//!   table of `TestRom`s (name, image path, expected exit status, whether
//!   xlat should pass yet, QEMU's known deviations) that integration tests
//!   `include!`.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("demo.rom"), xlat_bios::demo_rom()).expect("write demo.rom");

    let dir = out.join("testroms");
    std::fs::create_dir_all(&dir).expect("create OUT_DIR/testroms");
    let mut table = String::from(
        "/// A test ROM built by build.rs.\n\
         #[allow(dead_code)]\n\
         pub struct TestRom {\n\
         \x20   pub name: &'static str,\n\
         \x20   /// Path of the image.\n\
         \x20   pub path: &'static str,\n\
         \x20   /// Exit status when the emulation is right.\n\
         \x20   pub expected_status: i32,\n\
         \x20   /// Why xlat is not expected to pass it yet (None: it must pass).\n\
         \x20   pub pending: Option<&'static str>,\n\
         \x20   /// Checks QEMU gets wrong, with why.\n\
         \x20   pub qemu_deviations: &'static [(&'static str, &'static str)],\n\
         }\n\
         pub const TEST_ROMS: &[TestRom] = &[\n",
    );
    for rom in xlat_testroms::all() {
        let path = dir.join(format!("{}.rom", rom.name));
        std::fs::write(&path, &rom.image)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        let path = path.to_str().expect("OUT_DIR is valid UTF-8");
        let pending = match rom.xlat {
            xlat_testroms::Expect::Pass => None,
            xlat_testroms::Expect::Pending(why) => Some(why),
        };
        writeln!(
            table,
            "    TestRom {{ name: {:?}, path: {:?}, expected_status: {}, pending: {:?}, \
             qemu_deviations: &{:?} }},",
            rom.name, path, rom.expected_status, pending, rom.qemu_deviations
        )
        .unwrap();
    }
    table.push_str("];\n");
    std::fs::write(out.join("testroms.rs"), table).expect("write testroms.rs");

    // The ROM sources are path dependencies: cargo rebuilds this script when
    // they change, so only the script itself needs listing.
    println!("cargo::rerun-if-changed=build.rs");
}

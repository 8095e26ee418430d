//! The built-in demo firmware on the VGA, without any VGA BIOS: its text
//! screen (mode 03h, its own font) while it pauses, then the Mandelbrot
//! set it draws in mode 13h, recomputed here pixel by pixel.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::rc::Rc;
use xlat::machine::{Machine, MachineConfig, RunOutcome};
use xlat_bios::mandelbrot::{DX, DY, HEIGHT, MAX_ITER, WIDTH, X0, Y0};

/// The debug console's bytes, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(Rc<RefCell<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The demo computes in well under a second of guest time and then waits
/// TEXT_SCREEN_SECONDS with the CPU halted; one second in, the text screen
/// is complete and the picture not begun.
#[test]
fn text_screen_shows_the_title_in_the_firmware_font() {
    let console = Captured::default();
    let mut config = MachineConfig::new(16 << 20, xlat_bios::demo_rom());
    config.console = Box::new(console.clone());
    config.serial = Box::new(std::io::sink());
    let mut machine = Machine::build(config).unwrap();
    const { assert!(xlat_bios::TEXT_SCREEN_SECONDS > 1) };
    assert_eq!(
        machine.run(Some(1_000_000_000), None),
        RunOutcome::InstructionLimit
    );
    let log = String::from_utf8_lossy(&console.0.borrow()).into_owned();
    assert!(log.contains(xlat_bios::TEXT_SCREEN_DONE), "{log}");
    assert!(!log.contains("Mandelbrot set, 320x200"), "{log}");

    let vga = machine.platform.vga.lock().unwrap();
    let rows = vga.text_rows().expect("a text mode");
    let screen = rows.join("\n");
    assert_eq!((rows.len(), rows[0].len()), (25, 80));
    // In the frame (text_rows shows its line-drawing characters as '?').
    let framed = rows[1].trim_matches(|c| c == '?' || c == ' ');
    assert_eq!(framed, xlat_bios::TITLE, "{screen}");
    let col = rows[1].find(xlat_bios::TITLE).unwrap();
    for line in ["6542 primes, sum 202288087", "= 0xCBF43926", "GenuineIntel"] {
        assert!(
            rows.iter().any(|r| r.contains(line)),
            "{line:?} in\n{screen}"
        );
    }

    // The title's pixels are the font's bits: white on blue, 9x16 cells
    // (the ninth column blank for letters).
    let frame = vga.render();
    assert_eq!((frame.width, frame.height), (720, 400));
    let font = xlat_bios::font::font_8x16();
    let (white, blue) = ([0xff; 3], [0, 0, 0xaa]);
    for (i, ch) in xlat_bios::TITLE.bytes().enumerate() {
        for line in 0..16 {
            let bits = font[usize::from(ch) * 16 + line];
            for x in 0..9 {
                let on = x < 8 && bits >> (7 - x) & 1 != 0;
                let pixel = frame.pixel((col + i) * 9 + x, 16 + line);
                assert_eq!(
                    pixel,
                    if on { white } else { blue },
                    "{:?} line {line} column {x}",
                    ch as char
                );
            }
        }
    }
}

/// Iterations before |z|^2 > 4, as the guest computes them: 16.16 fixed
/// point, products truncated toward minus infinity.
fn iterations(cx: i32, cy: i32) -> u32 {
    let (mut zx, mut zy, mut n) = (0i32, 0i32, 0);
    loop {
        let x2 = ((i64::from(zx) * i64::from(zx)) >> 16) as i32;
        let y2 = ((i64::from(zy) * i64::from(zy)) >> 16) as i32;
        if x2 + y2 > 4 << 16 {
            return n;
        }
        n += 1;
        if n == MAX_ITER {
            return n;
        }
        zy = (((i64::from(zx) * i64::from(zy)) >> 15) as i32).wrapping_add(cy);
        zx = (x2 - y2).wrapping_add(cx);
    }
}

#[test]
fn screenshot_shows_the_mandelbrot_set_it_computed() {
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-mandelbrot.png");
    let out = Command::new(env!("CARGO_BIN_EXE_xlat"))
        .arg("--screenshot")
        .arg(&shot)
        .output()
        .expect("run xlat");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("demo finished"), "{stdout}");
    let (w, h, rgb) = decode(&shot);
    assert_eq!((w, h), (WIDTH as usize, HEIGHT as usize));

    // Same iteration count, same colour; different counts, different
    // colours; inside the set, black.
    let mut colours: BTreeMap<u32, [u8; 3]> = BTreeMap::new();
    for py in (0..HEIGHT).step_by(5) {
        for px in (0..WIDTH).step_by(3) {
            let n = iterations(X0 + px as i32 * DX, Y0 + py as i32 * DY);
            let i = 3 * (py as usize * w + px as usize);
            let c = [rgb[i], rgb[i + 1], rgb[i + 2]];
            let seen = *colours.entry(n).or_insert(c);
            assert_eq!(seen, c, "pixel ({px}, {py}) took {n} iterations");
        }
    }
    assert_eq!(colours.get(&MAX_ITER), Some(&[0, 0, 0]), "inside is black");
    let distinct: std::collections::BTreeSet<_> = colours.values().collect();
    assert_eq!(distinct.len(), colours.len(), "{colours:?}");
    assert!(
        colours.len() > 30,
        "only {} iteration counts",
        colours.len()
    );
}

fn decode(path: &Path) -> (usize, usize, Vec<u8>) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    (info.width as usize, info.height as usize, buf)
}

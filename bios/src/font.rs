//! The demo's 8x16 text-mode font, drawn here and generated at ROM-build
//! time: without a VGA BIOS, plane 2 holds no font until the firmware loads
//! one.
//!
//! Printable ASCII is drawn at 5x8 below and doubled vertically into the
//! 8x16 cell (one blank column on the left, two on the right); the double-
//! line box characters of code page 437 are generated from their rails.

/// Bytes per glyph in the generated font (one per scan line).
pub const GLYPH_HEIGHT: usize = 16;

/// Art for 0x20-0x7E, sixteen characters per block of eight lines, in
/// ASCII order; `#` is a lit pixel. Capitals use rows 0-6, lower case
/// rows 2-6, descenders row 7.
const ART: &str = r"
..... ..#.. .#.#. .#.#. ..#.. ##... .##.. ..#.. ...#. .#... ..... ..... ..... ..... ..... .....
..... ..#.. .#.#. .#.#. .#### ##..# #..#. ..#.. ..#.. ..#.. ..#.. ..#.. ..... ..... ..... ....#
..... ..#.. ..... ##### #.#.. ...#. #.#.. ..... .#... ...#. #.#.# ..#.. ..... ..... ..... ...#.
..... ..#.. ..... .#.#. .###. ..#.. .#... ..... .#... ...#. .###. ##### ..... ##### ..... ..#..
..... ..#.. ..... ##### ..#.# .#... #.#.# ..... .#... ...#. #.#.# ..#.. ..... ..... ..... .#...
..... ..... ..... .#.#. ####. #..## #..#. ..... ..#.. ..#.. ..#.. ..#.. ..#.. ..... ..... #....
..... ..#.. ..... .#.#. ..#.. ...## .##.# ..... ...#. .#... ..... ..... ..#.. ..... ..#.. .....
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .#... ..... ..... .....

.###. ..#.. .###. ####. ...#. ##### .###. ##### .###. .###. ..... ..... ...#. ..... .#... .###.
#...# .##.. #...# ....# ..##. #.... #.... ....# #...# #...# ..... ..... ..#.. ..... ..#.. #...#
#..## ..#.. ....# ....# .#.#. ####. #.... ...#. #...# #...# ..#.. ..#.. .#... ##### ...#. ....#
#.#.# ..#.. ...#. .###. #..#. ....# ####. ..#.. .###. .#### ..... ..... #.... ..... ....# ...#.
##..# ..#.. ..#.. ....# ##### ....# #...# ..#.. #...# ....# ..... ..... .#... ##### ...#. ..#..
#...# ..#.. .#... ....# ...#. #...# #...# ..#.. #...# ...#. ..#.. ..#.. ..#.. ..... ..#.. .....
.###. .###. ##### ####. ...#. .###. .###. ..#.. .###. .##.. ..... ..#.. ...#. ..... .#... ..#..
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .#... ..... ..... ..... .....

.###. .###. ####. .###. ####. ##### ##### .###. #...# .###. ..### #...# #.... #...# #...# .###.
#...# #...# #...# #...# #...# #.... #.... #...# #...# ..#.. ...#. #..#. #.... ##.## ##..# #...#
#.### #...# #...# #.... #...# #.... #.... #.... #...# ..#.. ...#. #.#.. #.... #.#.# #.#.# #...#
#.#.# ##### ####. #.... #...# ####. ####. #.### ##### ..#.. ...#. ##... #.... #...# #..## #...#
#.### #...# #...# #.... #...# #.... #.... #...# #...# ..#.. ...#. #.#.. #.... #...# #...# #...#
#.... #...# #...# #...# #...# #.... #.... #...# #...# ..#.. #..#. #..#. #.... #...# #...# #...#
.#### #...# ####. .###. ####. ##### #.... .###. #...# .###. .##.. #...# ##### #...# #...# .###.
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....

####. .###. ####. .###. ##### #...# #...# #...# #...# #...# ##### .###. #.... .###. ..#.. .....
#...# #...# #...# #...# ..#.. #...# #...# #...# #...# #...# ....# .#... #.... ...#. .#.#. .....
#...# #...# #...# #.... ..#.. #...# #...# #...# .#.#. .#.#. ...#. .#... .#... ...#. #...# .....
####. #...# ####. .###. ..#.. #...# #...# #.#.# ..#.. ..#.. ..#.. .#... ..#.. ...#. ..... .....
#.... #.#.# #.#.. ....# ..#.. #...# #...# #.#.# .#.#. ..#.. .#... .#... ...#. ...#. ..... .....
#.... #..#. #..#. #...# ..#.. #...# .#.#. ##.## #...# ..#.. #.... .#... ....# ...#. ..... .....
#.... .##.# #...# .###. ..#.. .###. ..#.. #...# #...# ..#.. ##### .###. ....# .###. ..... .....
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... #####

.#... ..... #.... ..... ....# ..... ..##. ..... #.... ..#.. ...#. #.... .##.. ..... ..... .....
..#.. ..... #.... ..... ....# ..... .#..# ..... #.... ..... ..... #.... ..#.. ..... ..... .....
..... .###. #.##. .###. .##.# .###. .#... .#### #.##. .##.. ..##. #..#. ..#.. ##.#. #.##. .###.
..... ....# ##..# #.... #..## #...# ###.. #...# ##..# ..#.. ...#. #.#.. ..#.. #.#.# ##..# #...#
..... .#### #...# #.... #...# ##### .#... #...# #...# ..#.. ...#. ##... ..#.. #.#.# #...# #...#
..... #...# #...# #...# #...# #.... .#... .#### #...# ..#.. ...#. #.#.. ..#.. #.#.# #...# #...#
..... .#### ####. .###. .#### .###. .#... ....# #...# .###. #..#. #..#. .###. #...# #...# .###.
..... ..... ..... ..... ..... ..... ..... .###. ..... ..... .##.. ..... ..... ..... ..... .....

..... ..... ..... ..... .#... ..... ..... ..... ..... ..... ..... ...#. ..#.. .#... .....
..... ..... ..... ..... .#... ..... ..... ..... ..... ..... ..... ..#.. ..#.. ..#.. .....
####. .#### #.##. .###. ####. #...# #...# #...# #...# #...# ##### ..#.. ..#.. ..#.. .#..#
#...# #...# ##..# #.... .#... #...# #...# #...# .#.#. #...# ...#. .#... ..#.. ...#. #.##.
#...# #...# #.... .###. .#... #...# #...# #.#.# ..#.. #...# ..#.. ..#.. ..#.. ..#.. .....
####. .#### #.... ....# .#..# #..## .#.#. #.#.# .#.#. .#### .#... ..#.. ..#.. ..#.. .....
#.... ....# #.... ####. ..##. .##.# ..#.. .#.#. #...# ....# ##### ...#. ..#.. .#... .....
#.... ....# ..... ..... ..... ..... ..... ..... ..... .###. ..... ..... ..... ..... .....
";

/// Code page 437's double-line box pieces the title frame uses, with the
/// scan lines that differ from the rails' defaults. The vertical rails sit
/// in columns 2 and 5 (0x24), the horizontal ones on lines 6 and 9.
const BOX_CORNERS: [(u8, [u8; 4]); 4] = [
    // ╔: right and down. Lines 6, 7-8, 9; below: both verticals.
    (0xc9, [0x3f, 0x20, 0x27, 0x24]),
    // ╗: left and down.
    (0xbb, [0xfc, 0x04, 0xe4, 0x24]),
    // ╚: up and right (above: both verticals).
    (0xc8, [0x27, 0x20, 0x3f, 0x00]),
    // ╝: up and left.
    (0xbc, [0xe4, 0x04, 0xfc, 0x00]),
];

/// Double horizontal (═), double vertical (║) and full block (█).
pub const BOX_HORIZONTAL: u8 = 0xcd;
pub const BOX_VERTICAL: u8 = 0xba;
pub const BOX_TOP_LEFT: u8 = 0xc9;
pub const BOX_TOP_RIGHT: u8 = 0xbb;
pub const BOX_BOTTOM_LEFT: u8 = 0xc8;
pub const BOX_BOTTOM_RIGHT: u8 = 0xbc;
pub const FULL_BLOCK: u8 = 0xdb;

/// The font: 256 glyphs of 16 scan lines each, one byte per line, the
/// leftmost pixel in bit 7. Characters not drawn here are blank.
pub fn font_8x16() -> Vec<u8> {
    let mut font = vec![0u8; 256 * GLYPH_HEIGHT];
    for (i, glyph) in ascii_glyphs().into_iter().enumerate() {
        let at = (0x20 + i) * GLYPH_HEIGHT;
        for (row, bits) in glyph.into_iter().enumerate() {
            // Five columns into bits 6..2: one blank column on the left.
            let line = bits << 2;
            font[at + 2 * row] = line;
            font[at + 2 * row + 1] = line;
        }
    }
    let mut put =
        |ch: u8, line: usize, bits: u8| font[usize::from(ch) * GLYPH_HEIGHT + line] = bits;
    for line in 0..GLYPH_HEIGHT {
        put(FULL_BLOCK, line, 0xff);
        put(BOX_VERTICAL, line, 0x24);
    }
    put(BOX_HORIZONTAL, 6, 0xff);
    put(BOX_HORIZONTAL, 9, 0xff);
    for (ch, [l6, l7_8, l9, rest]) in BOX_CORNERS {
        let down = ch == BOX_TOP_LEFT || ch == BOX_TOP_RIGHT;
        for line in 0..GLYPH_HEIGHT {
            let bits = match line {
                6 => l6,
                7 | 8 => l7_8,
                9 => l9,
                0..=5 if !down => 0x24,
                10.. if down => rest,
                _ => 0,
            };
            put(ch, line, bits);
        }
    }
    font
}

/// The glyphs of 0x20-0x7E parsed from `ART`: eight rows of five bits
/// each (bit 4 = leftmost).
fn ascii_glyphs() -> Vec<[u8; 8]> {
    let lines: Vec<&str> = ART.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len() % 8, 0, "font art comes in blocks of 8 lines");
    let mut glyphs = Vec::new();
    for block in lines.chunks(8) {
        let cells: Vec<Vec<&str>> = block.iter().map(|l| l.split(' ').collect()).collect();
        let count = cells[0].len();
        for i in 0..count {
            let mut glyph = [0u8; 8];
            for (row, line) in cells.iter().enumerate() {
                let cell = line[i];
                assert_eq!(cell.len(), 5, "font art cell {i} of a block: {cell:?}");
                glyph[row] = cell
                    .bytes()
                    .fold(0, |bits, c| bits << 1 | u8::from(c == b'#'));
            }
            glyphs.push(glyph);
        }
    }
    assert_eq!(
        glyphs.len(),
        0x7f - 0x20,
        "art for every printable character"
    );
    glyphs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glyph(font: &[u8], ch: u8) -> &[u8] {
        &font[usize::from(ch) * GLYPH_HEIGHT..][..GLYPH_HEIGHT]
    }

    #[test]
    fn every_printable_character_but_space_has_pixels() {
        let font = font_8x16();
        assert_eq!(font.len(), 4096);
        assert!(glyph(&font, b' ').iter().all(|&l| l == 0));
        for ch in 0x21..0x7f {
            assert!(glyph(&font, ch).iter().any(|&l| l != 0), "{:?}", ch as char);
        }
        // All glyphs differ from each other.
        for a in 0x20..0x7f {
            for b in a + 1..0x7f {
                assert_ne!(glyph(&font, a), glyph(&font, b), "{a:#x} and {b:#x}");
            }
        }
    }

    #[test]
    fn letters_are_doubled_vertically_with_a_left_margin() {
        let font = font_8x16();
        let h = glyph(&font, b'H');
        // H: both stems on every line of rows 0-6, the bar on row 3.
        assert_eq!(h[0], 0b0100_0100);
        assert_eq!(h[1], h[0]);
        assert_eq!(h[6], 0b0111_1100);
        assert_eq!(h[14], 0);
        // Printable ASCII keeps the outer columns blank.
        for ch in 0x20..0x7f {
            assert!(glyph(&font, ch).iter().all(|l| l & 0x83 == 0), "{ch:#x}");
        }
    }

    #[test]
    fn box_pieces_join_up() {
        let font = font_8x16();
        let (h, v) = (glyph(&font, BOX_HORIZONTAL), glyph(&font, BOX_VERTICAL));
        // Corners continue the rails of their neighbours.
        let tl = glyph(&font, BOX_TOP_LEFT);
        assert_eq!(tl[6] & 1, h[6] & 1);
        assert_eq!(tl[9] & 1, h[9] & 1);
        assert_eq!(tl[15], v[15]);
        let br = glyph(&font, BOX_BOTTOM_RIGHT);
        assert_eq!(br[0], v[0]);
        assert_eq!(br[6] & 0x80, 0x80);
        assert_eq!(br[9] & 0x80, 0x80);
        assert_eq!(br[15], 0);
    }
}

//! Host keys (minifb's names) to the PS/2 keyboard's scancode set 2.

use crate::devices::i8042::Set2Key;
use minifb::Key;

/// The set-2 make code of `key`; `None` for keys a PC keyboard lacks.
pub fn set2(key: Key) -> Option<Set2Key> {
    use Key::*;
    let n = Set2Key::new;
    let e = Set2Key::extended;
    Some(match key {
        Escape => n(0x76),
        F1 => n(0x05),
        F2 => n(0x06),
        F3 => n(0x04),
        F4 => n(0x0c),
        F5 => n(0x03),
        F6 => n(0x0b),
        F7 => n(0x83),
        F8 => n(0x0a),
        F9 => n(0x01),
        F10 => n(0x09),
        F11 => n(0x78),
        F12 => n(0x07),
        Backquote => n(0x0e),
        Key1 => n(0x16),
        Key2 => n(0x1e),
        Key3 => n(0x26),
        Key4 => n(0x25),
        Key5 => n(0x2e),
        Key6 => n(0x36),
        Key7 => n(0x3d),
        Key8 => n(0x3e),
        Key9 => n(0x46),
        Key0 => n(0x45),
        Minus => n(0x4e),
        Equal => n(0x55),
        Backspace => n(0x66),
        Tab => n(0x0d),
        Q => n(0x15),
        W => n(0x1d),
        E => n(0x24),
        R => n(0x2d),
        T => n(0x2c),
        Y => n(0x35),
        U => n(0x3c),
        I => n(0x43),
        O => n(0x44),
        P => n(0x4d),
        LeftBracket => n(0x54),
        RightBracket => n(0x5b),
        Backslash => n(0x5d),
        CapsLock => n(0x58),
        A => n(0x1c),
        S => n(0x1b),
        D => n(0x23),
        F => n(0x2b),
        G => n(0x34),
        H => n(0x33),
        J => n(0x3b),
        K => n(0x42),
        L => n(0x4b),
        Semicolon => n(0x4c),
        Apostrophe => n(0x52),
        Enter => n(0x5a),
        LeftShift => n(0x12),
        Z => n(0x1a),
        X => n(0x22),
        C => n(0x21),
        V => n(0x2a),
        B => n(0x32),
        N => n(0x31),
        M => n(0x3a),
        Comma => n(0x41),
        Period => n(0x49),
        Slash => n(0x4a),
        RightShift => n(0x59),
        LeftCtrl => n(0x14),
        LeftAlt => n(0x11),
        Space => n(0x29),
        RightAlt => e(0x11),
        RightCtrl => e(0x14),
        LeftSuper => e(0x1f),
        RightSuper => e(0x27),
        Menu => e(0x2f),
        Insert => e(0x70),
        Home => e(0x6c),
        PageUp => e(0x7d),
        Delete => e(0x71),
        End => e(0x69),
        PageDown => e(0x7a),
        Up => e(0x75),
        Left => e(0x6b),
        Down => e(0x72),
        Right => e(0x74),
        NumLock => n(0x77),
        ScrollLock => n(0x7e),
        NumPadSlash => e(0x4a),
        NumPadAsterisk => n(0x7c),
        NumPadMinus => n(0x7b),
        NumPadPlus => n(0x79),
        NumPadEnter => e(0x5a),
        NumPadDot => n(0x71),
        NumPad0 => n(0x70),
        NumPad1 => n(0x69),
        NumPad2 => n(0x72),
        NumPad3 => n(0x7a),
        NumPad4 => n(0x6b),
        NumPad5 => n(0x73),
        NumPad6 => n(0x74),
        NumPad7 => n(0x6c),
        NumPad8 => n(0x75),
        NumPad9 => n(0x7d),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_and_extended_keys() {
        let a = set2(Key::A).unwrap();
        assert_eq!((a.extended, a.code), (false, 0x1c));
        let up = set2(Key::Up).unwrap();
        assert_eq!((up.extended, up.code), (true, 0x75));
        assert!(set2(Key::F15).is_none());
    }
}

//! The guest's screen in a window (minifb), with the host keyboard and
//! mouse forwarded to the PS/2 devices. Clicking into the window grabs the
//! mouse; Ctrl+Alt+G releases it (as in QEMU). The window is re-created at
//! the guest's resolution whenever the guest changes mode.
//!
//! minifb cannot warp the host pointer, so a grabbed mouse stops at the
//! window's edges; relative motion inside the window reaches the guest.

use super::keymap;
use crate::devices::vga::{Blink, Frame};
use crate::machine::frontend::Frontend;
use crate::machine::platform::Platform;
use minifb::{Key, KeyRepeat, MouseButton, MouseMode, Window, WindowOptions};

pub struct Display {
    window: Window,
    size: (usize, usize),
    buffer: Vec<u32>,
    grabbed: bool,
    last_mouse: Option<(f32, f32)>,
    /// When the window opened: the clock of the text blink cycle.
    opened: std::time::Instant,
}

const TITLE: &str = "xlat";
const TITLE_GRABBED: &str = "xlat (Ctrl+Alt+G releases the mouse)";

fn open(width: usize, height: usize) -> Result<Window, String> {
    let options = WindowOptions {
        resize: true,
        scale_mode: minifb::ScaleMode::AspectRatioStretch,
        // 320x200 modes would make a postage stamp of a window.
        scale: if width <= 400 {
            minifb::Scale::X2
        } else {
            minifb::Scale::X1
        },
        ..WindowOptions::default()
    };
    Window::new(TITLE, width.max(1), height.max(1), options)
        .map_err(|e| format!("cannot open a window: {e}"))
}

impl Display {
    /// Opens the window (640x480 until the guest sets a mode).
    pub fn new() -> Result<Self, String> {
        Ok(Display {
            window: open(640, 480)?,
            size: (640, 480),
            buffer: Vec::new(),
            grabbed: false,
            last_mouse: None,
            opened: std::time::Instant::now(),
        })
    }

    fn show(&mut self, frame: &Frame) {
        let size = (frame.width.max(1), frame.height.max(1));
        if size != self.size {
            if let Ok(w) = open(size.0, size.1) {
                self.window = w;
                self.size = size;
                self.set_grab(false);
            }
        }
        self.buffer.clear();
        self.buffer.extend(
            frame
                .rgb
                .chunks_exact(3)
                .map(|p| u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2])),
        );
        self.buffer.resize(size.0 * size.1, 0);
        // A failed update (window gone) shows up in is_open() next time.
        let _ = self.window.update_with_buffer(&self.buffer, size.0, size.1);
    }

    fn set_grab(&mut self, grab: bool) {
        self.grabbed = grab;
        self.last_mouse = None;
        self.window.set_cursor_visibility(!grab);
        self.window
            .set_title(if grab { TITLE_GRABBED } else { TITLE });
    }

    fn forward_keys(&mut self, platform: &Platform) {
        let ctrl_alt =
            self.window.is_key_down(Key::LeftCtrl) && self.window.is_key_down(Key::LeftAlt);
        let pressed = self.window.get_keys_pressed(KeyRepeat::Yes);
        if ctrl_alt && pressed.contains(&Key::G) {
            self.set_grab(false);
            return;
        }
        let mut kbd = platform.i8042.lock().unwrap_or_else(|e| e.into_inner());
        for key in pressed {
            log::debug!("host key {key:?} pressed");
            if let Some(code) = keymap::set2(key) {
                kbd.key_event(code, true);
            }
        }
        for key in self.window.get_keys_released() {
            if let Some(code) = keymap::set2(key) {
                kbd.key_event(code, false);
            }
        }
    }

    fn forward_mouse(&mut self, platform: &Platform) {
        let left = self.window.get_mouse_down(MouseButton::Left);
        if !self.grabbed {
            if left && self.window.get_mouse_pos(MouseMode::Discard).is_some() {
                self.set_grab(true);
            }
            return;
        }
        let Some(pos) = self.window.get_mouse_pos(MouseMode::Clamp) else {
            return;
        };
        let (dx, dy) = match self.last_mouse {
            Some(last) => (pos.0 - last.0, pos.1 - last.1),
            None => (0.0, 0.0),
        };
        self.last_mouse = Some(pos);
        let buttons = u8::from(left)
            | u8::from(self.window.get_mouse_down(MouseButton::Right)) << 1
            | u8::from(self.window.get_mouse_down(MouseButton::Middle)) << 2;
        let mut kbd = platform.i8042.lock().unwrap_or_else(|e| e.into_inner());
        // PS/2 counts y upwards; window y grows downwards.
        kbd.mouse_event(dx as i32, -(dy as i32), buttons);
    }
}

impl Frontend for Display {
    fn refresh(&mut self, platform: &Platform) -> bool {
        if !self.window.is_open() {
            return false;
        }
        let frame = platform
            .vga
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .render_blinking(Blink::at(self.opened.elapsed()));
        self.show(&frame);
        // X delivers keys only to the focused window, so no focus check
        // is needed (and window managers differ in reporting it).
        self.forward_keys(platform);
        self.forward_mouse(platform);
        self.window.is_open()
    }
}

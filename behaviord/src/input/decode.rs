//! One device's raw evdev events in, its key presses and releases out, frame by frame.
//!
//! Pure: the live reader and the host tests' replays feed the same [`Decoder`].

use crate::keyevent::{DeviceId, KeyEvent};
use evdev::{EventType, InputEvent};

const SYN_REPORT: u16 = 0;
const SYN_DROPPED: u16 = 3;
/// More key events than this in one frame is no keyboard: treated like a kernel drop, so a
/// device that never sends `SYN_REPORT` cannot grow the daemon's memory.
const MAX_FRAME: usize = 128;

/// Whether an `EV_KEY` code is a keyboard key (`KEY_*`), not a mouse, joystick or
/// touch button (`BTN_*`): only keyboard keys leave the input module.
fn is_keyboard_key(code: u16) -> bool {
    matches!(code, 1..=0xff | 0x160..=0x2bf)
}

/// Per-device decoding state.
#[derive(Debug)]
pub(crate) struct Decoder {
    device: DeviceId,
    /// Key events of the frame being read; they count only once its `SYN_REPORT` arrives.
    frame: Vec<KeyEvent>,
    /// After `SYN_DROPPED` everything up to and including the next `SYN_REPORT` is stale.
    dropping: bool,
    /// Keys whose press went out and whose release has not: a release goes out only after
    /// its press, and a device that vanishes with keys down has lost events.
    down: Vec<u16>,
}

impl Decoder {
    pub(crate) fn new(device: DeviceId) -> Decoder {
        Decoder {
            device,
            frame: Vec::new(),
            dropping: false,
            down: Vec::new(),
        }
    }

    /// Feeds one raw event; completed key events are appended to `out`. Returns true when
    /// events were lost (the kernel's `SYN_DROPPED`): whatever the consumer is assembling
    /// from this device is no longer complete.
    pub(crate) fn push(&mut self, ev: &InputEvent, out: &mut Vec<KeyEvent>) -> bool {
        let ty = ev.event_type();
        if ty == EventType::KEY {
            // Value 2 is auto-repeat: not a key the user pressed again.
            if !self.dropping && matches!(ev.value(), 0 | 1) && is_keyboard_key(ev.code()) {
                if self.frame.len() == MAX_FRAME {
                    self.drop_frame();
                    return true;
                }
                let t = ev.as_ref().time;
                self.frame.push(KeyEvent {
                    device: self.device,
                    code: ev.code(),
                    pressed: ev.value() == 1,
                    time_us: t.tv_sec * 1_000_000 + t.tv_usec,
                });
            }
        } else if ty == EventType::SYNCHRONIZATION {
            match ev.code() {
                SYN_REPORT if self.dropping => self.dropping = false,
                SYN_REPORT => self.flush(out),
                SYN_DROPPED => {
                    self.drop_frame();
                    return true;
                }
                _ => {}
            }
        }
        false
    }

    /// True while a key whose press went out is still down.
    pub(crate) fn holds_keys(&self) -> bool {
        !self.down.is_empty()
    }

    /// Forgets the frame being read and which keys are down, and skips to the next report.
    fn drop_frame(&mut self) {
        self.frame.clear();
        self.down.clear();
        self.dropping = true;
    }

    fn flush(&mut self, out: &mut Vec<KeyEvent>) {
        for ev in self.frame.drain(..) {
            let held = self.down.iter().position(|&c| c == ev.code);
            match (ev.pressed, held) {
                (true, None) => self.down.push(ev.code),
                (false, Some(i)) => {
                    self.down.swap_remove(i);
                }
                // A second press without release, or a release of a key pressed before the
                // device was opened (or before a drop): nothing a consumer can pair.
                _ => continue,
            }
            out.push(ev);
        }
    }
}

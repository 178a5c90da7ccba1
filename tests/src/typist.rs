//! Typing on uinput keyboards at planned times, and reading back what the kernel stamped:
//! the devices side of the VM probes (`capture_probe`, `login_probe`). Runs only where the
//! kernel has uinput (the test VM).

use behavior_core::Key;
use evdev::raw_stream::RawDevice;
use evdev::uinput::VirtualDevice;
use evdev::{AttributeSet, EventType, InputEvent, KeyCode};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const KEY_LEFTSHIFT: u16 = 42;
/// A key no phrase uses, for warming the device up.
pub const KEY_F13: u16 = 183;

/// One planned key action: `at_ms` after the start, key `code` of keyboard `kb` goes down
/// or up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub at_ms: f64,
    pub kb: usize,
    pub code: u16,
    pub down: bool,
}

/// The key of one character of a typed text (US layout) and whether it takes Shift;
/// `\u{8}` is Backspace, `\n` Enter.
pub fn code_of(c: char) -> (u16, bool) {
    let name = match c {
        '.' => "dot".to_string(),
        ',' => "comma".to_string(),
        ' ' => "space".to_string(),
        '\n' => "enter".to_string(),
        '\u{8}' => "backspace".to_string(),
        c => c.to_ascii_lowercase().to_string(),
    };
    let key = Key::from_name(&name).unwrap_or_else(|| panic!("no key for {c:?}"));
    (key.0, c.is_ascii_uppercase())
}

/// `CLOCK_REALTIME` in µs: the clock evdev stamps events with.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// A uinput keyboard (every key code up to 255) and its evdev node.
pub struct UinputKeyboard {
    pub dev: VirtualDevice,
    pub node: PathBuf,
}

/// Something that presses and releases keys.
pub trait Keys {
    fn key(&mut self, code: u16, down: bool);
}

impl UinputKeyboard {
    pub fn new(name: &str) -> UinputKeyboard {
        let mut keys = AttributeSet::<KeyCode>::new();
        for code in 1..=0xff {
            keys.insert(KeyCode(code));
        }
        let mut dev = VirtualDevice::builder()
            .unwrap()
            .name(name)
            .with_keys(&keys)
            .unwrap()
            .build()
            .unwrap();
        let node = dev
            .enumerate_dev_nodes_blocking()
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        UinputKeyboard { dev, node }
    }
}

impl Keys for UinputKeyboard {
    fn key(&mut self, code: u16, down: bool) {
        let ev = InputEvent::new(EventType::KEY.0, code, i32::from(down));
        self.dev.emit(&[ev]).unwrap();
    }
}

impl<K: Keys> Keys for &mut K {
    fn key(&mut self, code: u16, down: bool) {
        (**self).key(code, down);
    }
}

/// An independent reader of one evdev node (the evdev crate directly): every key press and
/// release the kernel reports, as (code, down, µs). Ends when the device is removed.
pub fn kernel_reader(node: &Path) -> mpsc::Receiver<(u16, bool, i64)> {
    let mut dev = RawDevice::open(node).unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        while let Ok(events) = dev.fetch_events() {
            for e in events {
                if e.event_type() == EventType::KEY && matches!(e.value(), 0 | 1) {
                    let t = e.as_ref().time;
                    let us = t.tv_sec * 1_000_000 + t.tv_usec;
                    if tx.send((e.code(), e.value() == 1, us)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Performs the steps at their planned times on `kbs[step.kb]` (sleeping most of each
/// wait, spinning the last half millisecond); returns the realtime clock (µs) just before
/// and just after each step's write.
pub fn perform<K: Keys>(kbs: &mut [K], steps: &[Step]) -> Vec<(i64, i64)> {
    let t0 = Instant::now();
    let mut written = Vec::with_capacity(steps.len());
    for s in steps {
        let at = t0 + Duration::from_secs_f64(s.at_ms / 1000.0);
        while let Some(left) = at.checked_duration_since(Instant::now()) {
            if left > Duration::from_micros(500) {
                thread::sleep(left - Duration::from_micros(500));
            } else {
                std::hint::spin_loop();
            }
        }
        let before = now_us();
        kbs[s.kb].key(s.code, s.down);
        written.push((before, now_us()));
    }
    written
}

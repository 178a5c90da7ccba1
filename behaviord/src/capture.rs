//! Capture windows: the key timings of one phrase typing, for one authentication handle.
//!
//! Key events arrive on one tokio channel (from `crate::input`, or from `Test1.InjectKeys`);
//! [`run`] feeds each to the open windows of its keyboard's seat and keeps nothing when none
//! is open, so capture holds keys only while a login is asking for the phrase. (The session
//! monitor, when on, gets every event through [`Captures::set_forward`] and keeps its own
//! sliding window.) A window pairs press and release into [`Keystroke`]s (milliseconds from
//! the window's first press) and is taken by `Submit*`, closed by `OpenCapture` (a new
//! typing starts a new window) and dropped with its handle.
//!
//! A typing belongs to one login: a key pressed while two windows of its seat are open
//! could be either login's, so both windows are marked [`Captured::overlapped`] and keep no
//! keys; neither is scored and both users are asked again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use behavior_core::{Key, Keystroke};
use tokio::sync::{mpsc, watch};

use crate::keyevent::{DeviceId, KeyEvent};
use crate::locality::DEFAULT_SEAT;

/// The seat of a keyboard (udev `ID_SEAT`), `None` for a device no longer read.
pub type SeatOf = Box<dyn Fn(DeviceId) -> Option<String> + Send + Sync>;

/// A typing longer than this is not a phrase; the window stops recording (and the sample is
/// refused) rather than growing without bound.
pub const MAX_KEYS: usize = 256;

#[derive(Default)]
struct Window {
    /// Only keys of this seat's keyboards reach the window.
    seat: String,
    /// A key of the seat was pressed while another window of the seat was open.
    overlapped: bool,
    /// Keys currently held: (device, code) -> press time (µs).
    held: HashMap<(DeviceId, u16), i64>,
    /// Completed key presses: (press µs, release µs, code).
    done: Vec<(i64, i64, u16)>,
    overflow: bool,
    /// The input reader's lost-event counter when the window opened.
    lost_at_open: u64,
}

/// What a window recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct Captured {
    /// Ordered by press time; times in ms from the first press.
    pub keys: Vec<Keystroke>,
    /// More than [`MAX_KEYS`] keys were typed.
    pub overflow: bool,
    /// The kernel dropped events (or a keyboard vanished) while the window was open: the
    /// timings are incomplete and must not be scored.
    pub incomplete: bool,
    /// Another login's window on the same seat was open while keys were pressed: the keys
    /// are left out (`keys` is empty) and the typing must be asked for again.
    pub overlapped: bool,
}

/// Sentence for a typing that may have been another login's.
pub const OVERLAPPED: &str =
    "Another login on this seat was typing at the same time; please type the phrase again.";

pub struct Captures {
    windows: Mutex<HashMap<String, Window>>,
    /// Seat of each keyboard; without it (no evdev reader: test input) every key is seat0's.
    seat_of: Mutex<Option<SeatOf>>,
    /// Where every event also goes (the session monitor), while it listens.
    forward: Mutex<Option<mpsc::UnboundedSender<KeyEvent>>>,
    /// Events sent into the channel by [`Captures::sender`] users that count themselves.
    sent: AtomicU64,
    processed: watch::Sender<u64>,
}

impl Default for Captures {
    fn default() -> Captures {
        Captures {
            windows: Mutex::new(HashMap::new()),
            seat_of: Mutex::new(None),
            forward: Mutex::new(None),
            sent: AtomicU64::new(0),
            processed: watch::channel(0).0,
        }
    }
}

impl Captures {
    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends every event from now on to `to` as well (replacing any earlier listener), or to
    /// nobody else.
    pub fn set_forward(&self, to: Option<mpsc::UnboundedSender<KeyEvent>>) {
        *self.forward.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }

    fn forward(&self, ev: KeyEvent) {
        let mut f = self.forward.lock().unwrap_or_else(|p| p.into_inner());
        if f.as_ref().is_some_and(|tx| tx.send(ev).is_err()) {
            *f = None;
        }
    }

    /// Tells which seat each keyboard is on, from now on.
    pub fn set_seats(&self, seat_of: SeatOf) {
        *self.seat_of.lock().unwrap_or_else(|p| p.into_inner()) = Some(seat_of);
    }

    fn seat_of(&self, device: DeviceId) -> Option<String> {
        match &*self.seat_of.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(f) => f(device),
            None => Some(DEFAULT_SEAT.to_string()),
        }
    }

    /// [`Captures::open_on_seat`] of seat0.
    pub fn open(&self, handle: &str, lost: u64) {
        self.open_on_seat(handle, lost, DEFAULT_SEAT);
    }

    /// Starts a fresh window for `handle` (discarding any earlier one) taking the keys of
    /// `seat`'s keyboards; `lost` is the input reader's lost-event counter now.
    pub fn open_on_seat(&self, handle: &str, lost: u64, seat: &str) {
        let w = Window {
            seat: seat.to_string(),
            lost_at_open: lost,
            ..Window::default()
        };
        self.windows().insert(handle.to_string(), w);
    }

    /// Drops `handle`'s window and everything it recorded.
    pub fn close(&self, handle: &str) {
        self.windows().remove(handle);
    }

    pub fn is_open(&self, handle: &str) -> bool {
        self.windows().contains_key(handle)
    }

    /// True when some key pressed in `handle`'s window has not been released yet.
    pub fn holding(&self, handle: &str) -> bool {
        self.windows()
            .get(handle)
            .is_some_and(|w| !w.held.is_empty())
    }

    /// Closes `handle`'s window and returns its completed key presses (keys still held are
    /// left out); `lost` is the input reader's lost-event counter now. `None` when no window
    /// is open.
    pub fn take(&self, handle: &str, lost: u64) -> Option<Captured> {
        let w = self.windows().remove(handle)?;
        if w.overlapped {
            return Some(Captured {
                keys: Vec::new(),
                overflow: false,
                incomplete: false,
                overlapped: true,
            });
        }
        let mut done = w.done;
        done.sort_by_key(|&(down, _, _)| down);
        let origin = done.first().map_or(0, |&(down, _, _)| down);
        let keys = done
            .into_iter()
            .map(|(down, up, code)| Keystroke {
                key: Key(code),
                down: (down - origin) as f64 / 1000.0,
                up: (up - origin) as f64 / 1000.0,
            })
            .collect();
        Some(Captured {
            keys,
            overflow: w.overflow,
            incomplete: lost != w.lost_at_open,
            overlapped: false,
        })
    }

    /// Feeds one event to the open windows of its keyboard's seat.
    pub fn feed(&self, ev: KeyEvent) {
        let Some(seat) = self.seat_of(ev.device) else {
            return;
        };
        let mut windows = self.windows();
        let mut on_seat: Vec<&mut Window> =
            windows.values_mut().filter(|w| w.seat == seat).collect();
        if ev.pressed && on_seat.len() > 1 {
            for w in &mut on_seat {
                w.overlapped = true;
            }
        }
        for w in on_seat {
            let id = (ev.device, ev.code);
            if ev.pressed {
                if w.held.len() + w.done.len() >= MAX_KEYS {
                    w.overflow = true;
                    continue;
                }
                w.held.insert(id, ev.time_us);
            } else if let Some(down) = w.held.remove(&id) {
                // A release without a press in this window began before it opened: ignored.
                w.done.push((down, ev.time_us.max(down), ev.code));
            }
        }
    }

    /// Counts `n` events a producer is about to send, returning the total to wait for with
    /// [`Captures::wait_processed`].
    pub fn count_sent(&self, n: u64) -> u64 {
        self.sent.fetch_add(n, Ordering::SeqCst) + n
    }

    /// Waits (at most `timeout`) until [`run`] has fed `target` events.
    pub async fn wait_processed(&self, target: u64, timeout: Duration) -> bool {
        let mut rx = self.processed.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|n| *n >= target))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// The capture loop: runs until every sender is gone. Every event also goes to the
/// listener of [`Captures::set_forward`].
pub async fn run(mut rx: mpsc::UnboundedReceiver<KeyEvent>, captures: std::sync::Arc<Captures>) {
    while let Some(ev) = rx.recv().await {
        captures.feed(ev);
        captures.forward(ev);
        captures.processed.send_modify(|n| *n += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: u16, pressed: bool, ms: i64) -> KeyEvent {
        KeyEvent {
            device: 1,
            code,
            pressed,
            time_us: 1_000_000 + ms * 1000,
        }
    }

    #[test]
    fn pairs_presses_and_releases_per_window() {
        let c = Captures::default();
        c.feed(ev(30, true, 0)); // no window: dropped
        c.open("h", 0);
        c.feed(ev(30, false, 5)); // release of a press before the window: ignored
        c.feed(ev(31, true, 10));
        c.feed(ev(32, true, 40));
        c.feed(ev(31, false, 70));
        c.feed(ev(32, false, 90));
        c.feed(ev(28, true, 120)); // still held at take
        assert!(c.holding("h"));
        let got = c.take("h", 0).unwrap();
        assert!(!got.overflow && !got.incomplete);
        assert_eq!(
            got.keys,
            vec![
                Keystroke {
                    key: Key(31),
                    down: 0.0,
                    up: 60.0
                },
                Keystroke {
                    key: Key(32),
                    down: 30.0,
                    up: 80.0
                },
            ]
        );
        assert!(c.take("h", 0).is_none(), "taking closes the window");
    }

    #[test]
    fn windows_are_independent_and_bounded() {
        let c = Captures::default();
        c.open("a", 0);
        c.feed(ev(30, true, 0));
        c.open("b", 0);
        // Released while both are open: the press was a's alone.
        c.feed(ev(30, false, 10));
        assert_eq!(c.take("a", 0).unwrap().keys.len(), 1);
        c.feed(ev(31, true, 20));
        c.feed(ev(31, false, 30));
        let b = c.take("b", 1).unwrap();
        assert_eq!(b.keys.len(), 1);
        assert!(b.incomplete, "events were lost while it was open");
        c.open("a", 0);
        for i in 0..(MAX_KEYS as i64 + 5) {
            c.feed(ev(30, true, 2 * i));
            c.feed(ev(30, false, 2 * i + 1));
        }
        let got = c.take("a", 0).unwrap();
        assert!(got.overflow);
        assert_eq!(got.keys.len(), MAX_KEYS);
        c.open("x", 0);
        c.close("x");
        assert!(!c.is_open("x"));
    }

    fn on(device: u32, code: u16, pressed: bool, ms: i64) -> KeyEvent {
        KeyEvent {
            device,
            ..ev(code, pressed, ms)
        }
    }

    fn seats() -> SeatOf {
        // Keyboard 1 on seat0, 2 on seat1, 3 no longer read.
        Box::new(|d| match d {
            1 => Some("seat0".into()),
            2 => Some("seat1".into()),
            _ => None,
        })
    }

    #[test]
    fn a_window_takes_only_its_seats_keyboards() {
        let c = Captures::default();
        c.set_seats(seats());
        c.open_on_seat("s0", 0, "seat0");
        c.open_on_seat("s1", 0, "seat1");
        for (device, code) in [(1, 30), (2, 31), (3, 32)] {
            c.feed(on(device, code, true, 0));
            c.feed(on(device, code, false, 10));
        }
        let s0 = c.take("s0", 0).unwrap();
        let s1 = c.take("s1", 0).unwrap();
        assert_eq!(s0.keys.iter().map(|k| k.key).collect::<Vec<_>>(), [Key(30)]);
        assert_eq!(s1.keys.iter().map(|k| k.key).collect::<Vec<_>>(), [Key(31)]);
        assert!(!s0.overlapped && !s1.overlapped, "one window per seat");
    }

    #[test]
    fn without_a_seat_table_every_key_is_seat0s() {
        let c = Captures::default();
        c.open("a", 0);
        c.open_on_seat("b", 0, "seat1");
        c.feed(on(7, 30, true, 0));
        c.feed(on(7, 30, false, 10));
        assert_eq!(c.take("a", 0).unwrap().keys.len(), 1);
        assert!(c.take("b", 0).unwrap().keys.is_empty());
    }

    #[test]
    fn keys_pressed_while_two_windows_of_a_seat_are_open_are_nobodys() {
        let c = Captures::default();
        c.set_seats(seats());
        c.open_on_seat("victim", 0, "seat0");
        c.feed(on(1, 30, true, 0));
        c.feed(on(1, 30, false, 10));
        c.open_on_seat("other", 0, "seat0");
        c.open_on_seat("elsewhere", 0, "seat1");
        c.feed(on(1, 31, true, 20));
        c.feed(on(1, 31, false, 30));
        for h in ["victim", "other"] {
            let got = c.take(h, 0).unwrap();
            assert!(got.overlapped, "{h}");
            assert!(got.keys.is_empty(), "{h}: no key is handed out");
        }
        assert!(!c.take("elsewhere", 0).unwrap().overlapped, "another seat");

        // A window opened after the last press, or taken before the next one, overlaps
        // nothing: the other sees no key, the first keeps its own.
        c.open_on_seat("first", 0, "seat0");
        c.feed(on(1, 30, true, 0));
        c.open_on_seat("late", 0, "seat0");
        c.feed(on(1, 30, false, 10));
        let late = c.take("late", 0).unwrap();
        assert!(!late.overlapped && late.keys.is_empty());
        let first = c.take("first", 0).unwrap();
        assert!(!first.overlapped);
        assert_eq!(first.keys.len(), 1);
    }

    #[test]
    fn one_typing_serves_none_of_many_waiting_logins() {
        let c = Captures::default();
        for i in 0..200 {
            c.open(&format!("h{i}"), 0);
        }
        for (i, code) in [30, 31, 32, 28].into_iter().enumerate() {
            c.feed(ev(code, true, 100 * i as i64));
            c.feed(ev(code, false, 100 * i as i64 + 50));
        }
        for i in 0..200 {
            let got = c.take(&format!("h{i}"), 0).unwrap();
            assert!(got.overlapped && got.keys.is_empty(), "h{i}");
        }
    }

    #[tokio::test]
    async fn run_counts_processed_events() {
        let c = std::sync::Arc::new(Captures::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let (fwd, mut monitor) = mpsc::unbounded_channel();
        c.set_forward(Some(fwd));
        tokio::spawn(run(rx, c.clone()));
        c.open("h", 0);
        let target = c.count_sent(2);
        tx.send(ev(30, true, 0)).unwrap();
        tx.send(ev(30, false, 50)).unwrap();
        assert!(c.wait_processed(target, Duration::from_secs(2)).await);
        assert_eq!(c.take("h", 0).unwrap().keys.len(), 1);
        assert_eq!(monitor.recv().await.map(|e| e.pressed), Some(true));
        assert_eq!(monitor.recv().await.map(|e| e.pressed), Some(false));
    }
}

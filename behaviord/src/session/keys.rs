//! Key presses and releases of one seat in, [`Keystroke`]s out, in the order keys went down.
//!
//! Pure. Typists overlap keys (the next key goes down before the last comes up), so a
//! keystroke is only complete at its release, but the monitor wants keystrokes in press
//! order (its latencies are between consecutive presses): completed keystrokes wait behind
//! an earlier press still held. A press never released (lost event, a key held down) would
//! stall everything behind it, so a press held longer than [`MAX_HOLD_US`] is dropped, and
//! at most [`MAX_PENDING`] presses are kept. Nothing else is held: each keystroke leaves as
//! soon as it can.

use crate::keyevent::{DeviceId, KeyEvent};
use behavior_core::{Key, Keystroke};
use std::collections::VecDeque;

/// A press held longer than this (µs) is not typing rhythm: it is dropped.
pub const MAX_HOLD_US: i64 = 3_000_000;
/// Presses waiting for their release, at most (a typist has a few keys down at once).
pub const MAX_PENDING: usize = 16;

#[derive(Clone, Copy, Debug)]
struct Press {
    device: DeviceId,
    code: u16,
    down_us: i64,
    up_us: Option<i64>,
}

/// Pairs one seat's key events into keystrokes (see module docs).
#[derive(Debug, Default)]
pub struct Pairer {
    pending: VecDeque<Press>,
}

impl Pairer {
    pub fn new() -> Pairer {
        Pairer::default()
    }

    /// Feeds one key event; keystrokes completed by it, in press order, are appended to
    /// `out` (times in ms, as the core's samples).
    pub fn push(&mut self, ev: KeyEvent, out: &mut Vec<Keystroke>) {
        if ev.pressed {
            if self.pending.len() == MAX_PENDING {
                self.pending.pop_front();
            }
            self.pending.push_back(Press {
                device: ev.device,
                code: ev.code,
                down_us: ev.time_us,
                up_us: None,
            });
        } else if let Some(p) = self
            .pending
            .iter_mut()
            .find(|p| p.up_us.is_none() && p.device == ev.device && p.code == ev.code)
        {
            p.up_us = Some(ev.time_us.max(p.down_us));
        }
        // A press stuck at the front past the hold limit blocks the rest: drop it.
        while self
            .pending
            .front()
            .is_some_and(|p| p.up_us.is_none() && ev.time_us - p.down_us > MAX_HOLD_US)
        {
            self.pending.pop_front();
        }
        while let Some(Press {
            code,
            down_us,
            up_us: Some(up_us),
            ..
        }) = self.pending.front().copied()
        {
            self.pending.pop_front();
            out.push(Keystroke {
                key: Key(code),
                down: down_us as f64 / 1000.0,
                up: up_us as f64 / 1000.0,
            });
        }
    }

    /// Forgets every press held (the seat's session changed, or the system sleeps).
    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// Presses waiting for their release.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(device: DeviceId, code: u16, pressed: bool, ms: i64) -> KeyEvent {
        KeyEvent {
            device,
            code,
            pressed,
            time_us: ms * 1000,
        }
    }

    fn feed(p: &mut Pairer, events: &[KeyEvent]) -> Vec<(u16, f64, f64)> {
        let mut out = Vec::new();
        for e in events {
            p.push(*e, &mut out);
        }
        out.iter().map(|k| (k.key.0, k.down, k.up)).collect()
    }

    #[test]
    fn overlapping_keys_come_out_in_press_order() {
        let mut p = Pairer::new();
        // a down, b down, b up, a up: b waits for a.
        let got = feed(
            &mut p,
            &[
                ev(1, 30, true, 0),
                ev(1, 48, true, 50),
                ev(1, 48, false, 90),
            ],
        );
        assert_eq!(got, vec![]);
        assert_eq!(p.pending(), 2);
        let got = feed(&mut p, &[ev(1, 30, false, 120)]);
        assert_eq!(got, vec![(30, 0.0, 120.0), (48, 50.0, 90.0)]);
        assert_eq!(p.pending(), 0);
    }

    #[test]
    fn devices_are_told_apart_and_repeated_keys_pair_in_order() {
        let mut p = Pairer::new();
        let got = feed(
            &mut p,
            &[
                ev(1, 30, true, 0),
                ev(2, 30, true, 10),
                ev(2, 30, false, 20),
                ev(1, 30, false, 30),
                ev(1, 30, true, 40),
                ev(1, 30, false, 45),
            ],
        );
        assert_eq!(
            got,
            vec![(30, 0.0, 30.0), (30, 10.0, 20.0), (30, 40.0, 45.0)]
        );
        // A release without a press is ignored.
        assert_eq!(feed(&mut p, &[ev(1, 31, false, 50)]), vec![]);
    }

    #[test]
    fn a_press_never_released_stops_blocking_after_the_hold_limit() {
        let mut p = Pairer::new();
        let hold_ms = MAX_HOLD_US / 1000;
        let got = feed(
            &mut p,
            &[
                ev(1, 42, true, 0),
                ev(1, 30, true, 100),
                ev(1, 30, false, 150),
            ],
        );
        assert_eq!(got, vec![]);
        let got = feed(
            &mut p,
            &[ev(1, 48, true, hold_ms + 1), ev(1, 48, false, hold_ms + 60)],
        );
        assert_eq!(
            got,
            vec![
                (30, 100.0, 150.0),
                (48, (hold_ms + 1) as f64, (hold_ms + 60) as f64)
            ]
        );
    }

    #[test]
    fn pending_presses_are_bounded_and_cleared() {
        let mut p = Pairer::new();
        for i in 0..100 {
            feed(&mut p, &[ev(1, 30 + (i % 20) as u16, true, i)]);
        }
        assert_eq!(p.pending(), MAX_PENDING);
        p.clear();
        assert_eq!(p.pending(), 0);
        assert_eq!(feed(&mut p, &[ev(1, 30, false, 200)]), vec![]);
    }
}

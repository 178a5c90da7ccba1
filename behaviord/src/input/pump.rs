//! The path from an event source to the consumer, shared by live devices and replays:
//! fetch raw events, decode them, send the key events, keep the status current.

use super::decode::Decoder;
use super::Keyboard;
use crate::keyevent::KeyEvent;
use evdev::InputEvent;
use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use tokio::sync::mpsc::UnboundedSender;

/// Where a device's raw events come from: a kernel evdev node, or a recording.
pub(crate) trait EventSource {
    /// Appends the events available now (none is fine). An error means the device is gone
    /// or unusable; it is then removed.
    fn fetch(&mut self, out: &mut Vec<InputEvent>) -> io::Result<()>;
}

impl EventSource for evdev::raw_stream::RawDevice {
    fn fetch(&mut self, out: &mut Vec<InputEvent>) -> io::Result<()> {
        match self.fetch_events() {
            Ok(events) => {
                out.extend(events);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Recorded events, handed out as successive reads; an `Err` read is a device failure.
pub(crate) struct Recorded(pub(crate) VecDeque<io::Result<Vec<InputEvent>>>);

impl EventSource for Recorded {
    fn fetch(&mut self, out: &mut Vec<InputEvent>) -> io::Result<()> {
        match self.0.pop_front() {
            Some(Ok(events)) => {
                out.extend(events);
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => Ok(()),
        }
    }
}

/// State the reader shares with [`super::InputHandle`].
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) keyboards: Mutex<Vec<Keyboard>>,
    pub(crate) lost: AtomicU64,
    pub(crate) stopped: Mutex<Option<String>>,
    /// Key events sent to the consumer so far.
    pub(crate) sent: AtomicU64,
    /// Sync requests made so far ([`super::InputHandle::sync`]).
    pub(crate) sync_requests: AtomicU64,
    /// The highest request whose drain is complete, and its waiters.
    pub(crate) synced: Mutex<u64>,
    pub(crate) synced_cv: Condvar,
}

impl Shared {
    pub(crate) fn keyboards(&self) -> std::sync::MutexGuard<'_, Vec<Keyboard>> {
        // The list stays valid whatever a panicking holder was doing: take it anyway.
        self.keyboards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lose(&self) {
        self.lost.fetch_add(1, Ordering::SeqCst);
    }

    /// Every sync request up to `request` is served: wakes their waiters.
    pub(crate) fn served(&self, request: u64) {
        let mut synced = self.synced.lock().unwrap_or_else(PoisonError::into_inner);
        *synced = (*synced).max(request);
        self.synced_cv.notify_all();
    }
}

/// One open keyboard.
pub(crate) struct Open<S> {
    pub(crate) info: Keyboard,
    pub(crate) source: S,
    decoder: Decoder,
}

impl<S: EventSource> Open<S> {
    pub(crate) fn new(info: Keyboard, source: S) -> Open<S> {
        Open {
            decoder: Decoder::new(info.id),
            info,
            source,
        }
    }
}

#[derive(Debug)]
pub(crate) enum PumpError {
    /// The device failed (`ENODEV` when unplugged): remove it.
    DeviceFailed,
    /// The receiver is gone: nobody listens, stop reading.
    ConsumerGone,
}

pub(crate) struct Pump {
    tx: UnboundedSender<KeyEvent>,
    shared: Arc<Shared>,
    raw: Vec<InputEvent>,
    keys: Vec<KeyEvent>,
}

impl Pump {
    pub(crate) fn new(tx: UnboundedSender<KeyEvent>, shared: Arc<Shared>) -> Pump {
        Pump {
            tx,
            shared,
            raw: Vec::with_capacity(64),
            keys: Vec::with_capacity(16),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Starts reading a device: it appears in the status list.
    pub(crate) fn add<S: EventSource>(&mut self, dev: &Open<S>) {
        self.shared.keyboards().push(dev.info.clone());
    }

    /// Reads what the device has now and forwards its key events.
    pub(crate) fn drain<S: EventSource>(&mut self, dev: &mut Open<S>) -> Result<(), PumpError> {
        self.raw.clear();
        dev.source
            .fetch(&mut self.raw)
            .map_err(|_| PumpError::DeviceFailed)?;
        self.keys.clear();
        for ev in &self.raw {
            if dev.decoder.push(ev, &mut self.keys) {
                self.shared.lose();
            }
        }
        for k in self.keys.drain(..) {
            self.tx.send(k).map_err(|_| PumpError::ConsumerGone)?;
            self.shared.sent.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Stops reading a device. Keys it still held will never be released: a loss.
    pub(crate) fn remove<S: EventSource>(&mut self, dev: &Open<S>) {
        if dev.decoder.holds_keys() {
            self.shared.lose();
        }
        self.shared.keyboards().retain(|k| k.id != dev.info.id);
    }
}

//! Live key capture: every keyboard under `/dev/input`, read with evdev.
//!
//! - Devices are opened read-only and never grabbed; hotplug is followed with inotify on the
//!   input directory, and a device that vanishes (`ENODEV`) is dropped.
//! - Devices that are not keyboards are ignored; so are virtual devices (uinput, anything
//!   under `/sys/devices/virtual/input`) unless [`InputConfig::allow_virtual`]: replaying
//!   recorded timings through uinput is an attack, not a user.
//! - Only `EV_KEY` keyboard codes with their kernel timestamps (`CLOCK_REALTIME`, the evdev
//!   default, in µs) leave this module, as [`KeyEvent`]s. Auto-repeat is dropped, a release
//!   is only sent after its press, and nothing is stored here.
//! - When the kernel drops events (`SYN_DROPPED`), or a device vanishes before the release
//!   of a key it reported down (the kernel normally releases held keys on unplug),
//!   [`InputHandle::lost_events`] grows: a capture window that saw it change while open is
//!   incomplete and must not be scored.
//! - Each keyboard's seat is udev's `ID_SEAT` of the device (seat0 when unset), so that a
//!   login's capture takes only its own seat's keys.
//! - Events of different keyboards arrive in the order they are read, not merged by time:
//!   a consumer sorts by `time_us`.
//!
//! One thread polls all devices. Devices are event sources behind a trait, so recorded raw
//! events go through the same decoding and forwarding code ([`replay`], for tests and
//! benchmarks).

mod decode;
mod device;
mod pump;
mod watch;

use crate::keyevent::{DeviceId, KeyEvent};
use evdev::InputEvent;
use pump::{Open, Pump, PumpError, Recorded, Shared};
use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputConfig {
    /// Read virtual (uinput) keyboards too. Off in production; tests turn it on.
    pub allow_virtual: bool,
    /// The evdev directory, `/dev/input`.
    pub dir: PathBuf,
}

impl Default for InputConfig {
    fn default() -> InputConfig {
        InputConfig {
            allow_virtual: false,
            dir: PathBuf::from("/dev/input"),
        }
    }
}

/// A keyboard being read, for status output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyboard {
    /// The [`KeyEvent::device`] of its events; never reused while the reader runs.
    pub id: DeviceId,
    pub path: PathBuf,
    /// The name the device reports.
    pub name: String,
    pub is_virtual: bool,
    /// The seat udev assigned it (`ID_SEAT`, seat0 when none).
    pub seat: String,
}

/// The running reader. Dropping it stops the thread and closes every device.
#[derive(Debug)]
pub struct InputHandle {
    shared: Arc<Shared>,
    wake: UnixStream,
    sync: UnixStream,
    thread: Option<JoinHandle<()>>,
}

/// Starts reading every keyboard under `cfg.dir`, sending key events to `tx`.
///
/// The keyboards present now are open when this returns. Fails when inotify is unavailable
/// or neither the directory nor its parent can be watched.
pub fn spawn(cfg: InputConfig, tx: UnboundedSender<KeyEvent>) -> io::Result<InputHandle> {
    let shared = Arc::new(Shared::default());
    let watcher = watch::Watcher::new(cfg, tx, Arc::clone(&shared))?;
    let (wake, wake_rx) = UnixStream::pair()?;
    let (sync, sync_rx) = UnixStream::pair()?;
    sync.set_nonblocking(true)?;
    let thread_shared = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("behaviord-input".into())
        .spawn(move || {
            let why = watcher.run(wake_rx, sync_rx);
            thread_shared.keyboards().clear();
            *thread_shared
                .stopped
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(why);
            // Nobody waits for a sync that will never come (they see `stopped` set).
            thread_shared.served(u64::MAX);
        })?;
    Ok(InputHandle {
        shared,
        wake,
        sync,
        thread: Some(thread),
    })
}

/// Feeds one device's recorded raw events (as read from its evdev node, timestamps
/// included) through the same decoding and forwarding as a live device, sending the key
/// events to `tx`. Returns how many losses (`SYN_DROPPED`) the recording holds; fails with
/// `BrokenPipe` when the receiver is closed.
pub fn replay(
    device: DeviceId,
    events: &[InputEvent],
    tx: &UnboundedSender<KeyEvent>,
) -> io::Result<u64> {
    let shared = Arc::new(Shared::default());
    let mut pump = Pump::new(tx.clone(), Arc::clone(&shared));
    let info = Keyboard {
        id: device,
        path: PathBuf::from("replay"),
        name: "replay".into(),
        is_virtual: false,
        seat: crate::locality::DEFAULT_SEAT.into(),
    };
    let mut dev = Open::new(info, Recorded([Ok(events.to_vec())].into()));
    match pump.drain(&mut dev) {
        Ok(()) => Ok(shared.lost.load(Ordering::SeqCst)),
        Err(PumpError::ConsumerGone) => Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the key event receiver is closed",
        )),
        Err(PumpError::DeviceFailed) => Err(io::Error::other("the recording failed to read")),
    }
}

impl InputHandle {
    /// The keyboards being read now.
    pub fn keyboards(&self) -> Vec<Keyboard> {
        self.shared.keyboards().clone()
    }

    /// The seat of each keyboard being read (`None` for one no longer read), for
    /// [`crate::capture::Captures::set_seats`].
    pub fn seats(&self) -> crate::capture::SeatOf {
        let shared = Arc::clone(&self.shared);
        Box::new(move |id| {
            shared
                .keyboards()
                .iter()
                .find(|k| k.id == id)
                .map(|k| k.seat.clone())
        })
    }

    /// How many times key events were lost (the kernel dropped events, or a device vanished
    /// with a key down and no release). Compare the value at a capture window's opening and
    /// closing.
    pub fn lost_events(&self) -> u64 {
        self.shared.lost.load(Ordering::SeqCst)
    }

    /// Key events sent to the receiver so far.
    pub fn sent(&self) -> u64 {
        self.shared.sent.load(Ordering::SeqCst)
    }

    /// Has the reader thread drain every device now, so that every key event the kernel
    /// stamped before this call has been sent; returns [`InputHandle::sent`] after that
    /// drain, or `None` when the reader did not answer within `timeout` (or has stopped).
    /// A capture window is closed only after this: the login's last keys may still sit in
    /// the kernel's buffer when the typed text reaches the daemon. Blocks the caller.
    pub fn sync(&self, timeout: Duration) -> Option<u64> {
        let request = self.shared.sync_requests.fetch_add(1, Ordering::SeqCst) + 1;
        // A full socket already holds a byte the reader has yet to read: enough to wake it.
        match (&self.sync).write(&[1]) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return None,
        }
        let synced = self
            .shared
            .synced
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (synced, _) = self
            .shared
            .synced_cv
            .wait_timeout_while(synced, timeout, |s| *s < request)
            .unwrap_or_else(PoisonError::into_inner);
        (*synced >= request && self.stopped().is_none()).then(|| self.sent())
    }

    /// `None` while reading; otherwise why the reader stopped (the receiver was dropped, or
    /// polling failed).
    pub fn stopped(&self) -> Option<String> {
        self.shared
            .stopped
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for InputHandle {
    fn drop(&mut self) {
        // Either the byte wakes the thread, or it has stopped already.
        let _ = self.wake.write_all(&[1]);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests;

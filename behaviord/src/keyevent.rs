//! The one event type that flows from key capture (evdev, or the test injection entry
//! point) into the daemon: a key code going down or up on one device at one kernel time.
//! Only key codes and timestamps, nothing else of the device's traffic.

/// Opaque per-process identifier of an input device (stable while it stays plugged in).
pub type DeviceId = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    pub device: DeviceId,
    /// Linux `EV_KEY` code.
    pub code: u16,
    /// true on press, false on release (auto-repeat events are dropped at the source).
    pub pressed: bool,
    /// Kernel timestamp of the event in microseconds (the evdev event's `time`).
    pub time_us: i64,
}

//! `org.behaviord.Test1` at [`crate::TEST_PATH`]: exists only when the daemon runs with
//! `--test-input` (root only at the bus and in the daemon). It stands in for a keyboard:
//! recorded key timings become key events on a pseudo device, sent into the same channel
//! evdev feeds, so everything after that channel is the real path.

use crate::Error;

pub const TEST_INTERFACE: &str = "org.behaviord.Test1";

/// Most keys one `InjectKeys` call takes.
pub const MAX_INJECT_KEYS: usize = 1024;

#[zbus::proxy(
    interface = "org.behaviord.Test1",
    default_service = "org.behaviord.Behavior1",
    default_path = "/org/behaviord/Test"
)]
pub trait Test {
    /// `keys`: (key name as in samples-format, press ms, release ms), times relative to any
    /// origin. Returns once the daemon has processed them, with the number of key events
    /// injected (two per key).
    fn inject_keys(&self, keys: &[(&str, f64, f64)]) -> Result<u32, Error>;
}

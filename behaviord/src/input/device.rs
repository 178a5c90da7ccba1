//! Opening an evdev node and deciding whether it is a keyboard we may read.

use evdev::raw_stream::RawDevice;
use evdev::{EventType, KeyCode};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Opened keyboard, ready to be polled.
pub(crate) struct Opened {
    pub(crate) dev: RawDevice,
    pub(crate) name: String,
    pub(crate) is_virtual: bool,
}

/// Why a node is not read.
#[derive(Debug)]
pub(crate) enum Skip {
    /// Not an evdev node, or not openable (yet: udev may still be setting it up).
    Unreadable,
    NotKeyboard,
    /// Created through uinput or otherwise not backed by hardware, and not allowed.
    Virtual,
}

/// Opens `path` read-only and non-blocking, never grabbing it (other readers, the console
/// and the display server keep receiving every key).
pub(crate) fn open(path: &Path, allow_virtual: bool) -> Result<Opened, Skip> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|_| Skip::Unreadable)?;
    let rdev = file.metadata().map_err(|_| Skip::Unreadable)?.rdev();
    let dev = RawDevice::from_fd(file.into()).map_err(|_| Skip::Unreadable)?;
    if !is_keyboard(&dev) {
        return Err(Skip::NotKeyboard);
    }
    let is_virtual = is_virtual(rdev);
    if is_virtual && !allow_virtual {
        return Err(Skip::Virtual);
    }
    let name = dev.name().unwrap_or("unnamed").to_string();
    Ok(Opened {
        dev,
        name,
        is_virtual,
    })
}

/// A keyboard types letters, space and Enter; power buttons, lid switches, mice and
/// headset buttons report EV_KEY too, but not these.
fn is_keyboard(dev: &RawDevice) -> bool {
    dev.supported_events().contains(EventType::KEY)
        && dev.supported_keys().is_some_and(|keys| {
            [
                KeyCode::KEY_A,
                KeyCode::KEY_Z,
                KeyCode::KEY_SPACE,
                KeyCode::KEY_ENTER,
            ]
            .into_iter()
            .all(|k| keys.contains(k))
        })
}

/// Whether the input device behind character device `rdev` is virtual (uinput and other
/// software devices live under `/sys/devices/virtual/`). When sysfs cannot say, it is
/// treated as virtual: an unknown origin is not a user at a keyboard.
fn is_virtual(rdev: u64) -> bool {
    let node = format!("/sys/dev/char/{}:{}", libc::major(rdev), libc::minor(rdev));
    match fs::canonicalize(node) {
        Ok(real) => real.starts_with("/sys/devices/virtual"),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_that_is_not_evdev_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("event0");
        fs::write(&path, b"").unwrap();
        assert!(matches!(open(&path, true), Err(Skip::Unreadable)));
        assert!(matches!(
            open(&dir.path().join("event9"), true),
            Err(Skip::Unreadable)
        ));
    }

    #[test]
    fn unknown_sysfs_origin_counts_as_virtual() {
        // /dev/null is a character device but no input device: sysfs places it under
        // /sys/devices/virtual/mem; a made-up number has no sysfs entry at all.
        let null = fs::metadata("/dev/null").unwrap().rdev();
        assert!(is_virtual(null));
        assert!(is_virtual(u64::MAX));
    }

    #[test]
    fn hardware_devices_are_not_virtual() {
        // Every character device sysfs places outside /sys/devices/virtual (serial ports,
        // PCI devices...) must be recognised as such; this machine has at least one.
        let mut seen = 0;
        for entry in fs::read_dir("/sys/dev/char").unwrap() {
            let entry = entry.unwrap();
            let real = fs::canonicalize(entry.path()).unwrap();
            let name = entry.file_name().into_string().unwrap();
            let (major, minor) = name.split_once(':').unwrap();
            let rdev = libc::makedev(major.parse().unwrap(), minor.parse().unwrap());
            assert_eq!(
                is_virtual(rdev),
                real.starts_with("/sys/devices/virtual"),
                "{name}"
            );
            seen += usize::from(!real.starts_with("/sys/devices/virtual"));
        }
        assert!(seen > 0, "no hardware character device to check against");
    }
}

//! Opening an evdev node, deciding whether it is a keyboard we may read, and which seat it
//! is on.

use evdev::raw_stream::RawDevice;
use evdev::{EventType, KeyCode};
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::locality::DEFAULT_SEAT;

/// udev's database of device properties (`c<major>:<minor>` for character devices).
const UDEV_DATA: &str = "/run/udev/data";

/// Opened keyboard, ready to be polled.
pub(crate) struct Opened {
    pub(crate) dev: RawDevice,
    pub(crate) name: String,
    pub(crate) is_virtual: bool,
    pub(crate) seat: String,
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
        seat: seat_of(rdev),
    })
}

/// The seat udev assigned the device behind character device `rdev`: seat0 unless its
/// database entry says otherwise (also when there is no udev, as in a container).
fn seat_of(rdev: u64) -> String {
    let entry = format!("{UDEV_DATA}/c{}:{}", libc::major(rdev), libc::minor(rdev));
    fs::read_to_string(entry).map_or_else(|_| DEFAULT_SEAT.to_string(), |t| seat_in(&t))
}

/// Pure: the `ID_SEAT` property (`E:ID_SEAT=seat1`) of a udev database entry, or seat0.
fn seat_in(entry: &str) -> String {
    entry
        .lines()
        .find_map(|l| l.strip_prefix("E:ID_SEAT="))
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_SEAT)
        .to_string()
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
    fn seat_from_the_udev_database() {
        let entry = "S:input/by-path/platform-i8042-serio-0-event-kbd\nE:ID_INPUT=1\n\
                     E:ID_INPUT_KEYBOARD=1\nE:ID_SEAT=seat1\nG:seat\n";
        assert_eq!(seat_in(entry), "seat1");
        assert_eq!(seat_in("E:ID_INPUT=1\nE:ID_SEAT=\n"), "seat0");
        assert_eq!(seat_in("E:ID_INPUT=1\nG:seat\n"), "seat0");
        assert_eq!(seat_in(""), "seat0");
        // No udev entry (a container, or a number nothing has): seat0.
        assert_eq!(seat_of(u64::MAX), "seat0");
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

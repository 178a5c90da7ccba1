//! pam_behavior.so: the PAM `auth` module of behaviord.
//!
//! Talks only to the daemon over the system D-Bus (blocking zbus proxies); no database, no
//! evdev, no async runtime in here.

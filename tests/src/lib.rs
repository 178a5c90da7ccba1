//! Shared harness for the end-to-end tests in `tests/tests/`: temporary state
//! directories, a private `dbus-daemon` with the shipped bus policy, the built binaries.

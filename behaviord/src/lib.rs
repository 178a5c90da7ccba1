//! behaviord: the root system daemon (evdev capture, templates, PINs, policy, events,
//! session monitoring) and the library behind `behaviorctl`.
//!
//! Thin binaries in `src/bin/`; everything testable lives here, one module per concern.

pub mod evaluate;
pub mod input;
pub mod keyevent;
pub mod session;

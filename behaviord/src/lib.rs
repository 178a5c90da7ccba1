//! behaviord: the root system daemon (evdev capture, templates, PINs, policy, events,
//! session monitoring) and the library behind `behaviorctl`.
//!
//! Thin binaries in `src/bin/`; everything testable lives here, one module per concern:
//! `config` (the policy file), `policy` (rules to journeys), `store` (SQLite), `pin`
//! (argon2id), `audit` (events to SQLite and syslog), `capture` (key timings per handle),
//! `locality` (where a login is typed, from logind), `service` (the D-Bus objects),
//! `monitoring` (the session monitor's wiring), `daemon` (start-up, signals, shutdown).

pub mod accounts;
pub mod audit;
pub mod capture;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod evaluate;
pub mod input;
pub mod keyevent;
pub mod locality;
pub mod matching;
pub mod monitoring;
pub mod pin;
pub mod policy;
pub mod service;
pub mod session;
pub mod store;

//! behavior_core: the pure heart of behaviord.
//!
//! Key events in, features, templates, scores and decisions out. No I/O, no clock reads,
//! no async: every time is passed in, so everything here is unit-tested and benchmarked
//! without devices. The daemon, `behaviorctl evaluate` and the session monitor all call
//! this crate; nothing else decides whether typing matches.

pub mod decision;
pub mod eval;
pub mod eval_fixed;
pub mod eval_free;
pub mod features;
pub mod fixed;
pub mod free;
pub mod keys;
pub mod layout;
pub mod monitor;
pub mod reference;
pub mod sample;

pub use keys::{Key, KeyClass};
pub use layout::{check_typed, Layout, LayoutError};
pub use sample::{Keystroke, LabeledSample, Sample, SampleError};

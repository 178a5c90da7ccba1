//! `org.behaviord.User1` at [`crate::USER_PATH`]: self-service for any local user, always
//! about the caller's own uid (learnt from the bus, never from an argument).

use serde::{Deserialize, Serialize};
use zbus::zvariant::Type;

use crate::Error;

pub const USER_INTERFACE: &str = "org.behaviord.User1";

/// Reply of `Status`. Times are ms since the Unix epoch, 0 for "none".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Type)]
pub struct SelfStatus {
    pub user: String,
    pub enrolled: bool,
    pub enrolled_at_ms: i64,
    pub template_expires_ms: i64,
    pub pin_set: bool,
    /// Digits a new PIN must have.
    pub pin_length: u32,
    pub locked_until_ms: i64,
}

/// Reply of `BeginTrial`: the capture is open; type `phrase`, then `SubmitTrial`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Type)]
pub struct Trial {
    pub handle: String,
    pub phrase: String,
    /// Seconds the trial stays open.
    pub timeout_secs: u32,
}

/// Reply of `SubmitTrial`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Type)]
pub struct TrialResult {
    /// The typing would have passed a login.
    pub accepted: bool,
    /// A sentence for the user.
    pub message: String,
    /// `score` and `threshold` are given: only to root (an admin tuning
    /// `thresholds.accept`, or `scripts/try.sh`). Other users learn only whether the typing
    /// would have passed, so a trial is no gradient to practise someone's rhythm against.
    pub scored: bool,
    /// The matcher's score of this typing (accepted when at most `threshold`); 0 unless `scored`.
    pub score: f64,
    /// The threshold this user's score is compared with; 0 unless `scored`.
    pub threshold: f64,
}

#[zbus::proxy(
    interface = "org.behaviord.User1",
    default_service = "org.behaviord.Behavior1",
    default_path = "/org/behaviord/User"
)]
pub trait User {
    fn status(&self) -> Result<SelfStatus, Error>;

    /// Replaces the caller's PIN after checking `current`. A wrong `current` is
    /// `AccessDenied` and counts towards the lockout; `NotEnrolled` when no PIN is set.
    fn change_pin(&self, current: &str, new: &str) -> Result<(), Error>;

    /// Tries the matcher on the caller's own typing of their phrase: opens a capture window
    /// (one per caller; a new trial replaces the previous). Nothing is counted, stored or
    /// logged. `NotEnrolled` without a typing pattern.
    fn begin_trial(&self) -> Result<Trial, Error>;

    /// Closes the trial's window and says whether the typing would have passed.
    fn submit_trial(&self, handle: &str, typed: &str) -> Result<TrialResult, Error>;
}

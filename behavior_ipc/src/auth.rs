//! `org.behaviord.Auth1`: one login conversation, driven by the PAM module.
//!
//! Flow (every call after `Begin` names the handle it returned):
//!
//! 1. `Begin(user, service, tty, rhost)` resolves the policy journey for this login and
//!    returns a [`Begin`] with an unguessable handle bound to the caller's unique bus name.
//!    A handle from another caller, a finished one or one past its timeout is refused with
//!    `NoSuchHandle`; the handle is dropped when its caller leaves the bus.
//! 2. Before each phrase prompt the module calls `OpenCapture(handle)`: the daemon starts
//!    recording key press/release timestamps for this handle (in memory only).
//! 3. The typed text goes back with `SubmitEnrollment` (stage `enroll`) or
//!    `SubmitVerification` (stage `verify`), which closes the capture window and returns
//!    what to tell the user. The typed text is only compared with the phrase and with the
//!    captured keys; it is never stored or logged.
//! 4. PIN: `EnrollPin` (set up) or `VerifyPin`.
//! 5. `Finish(handle)` ends the conversation and returns the daemon's own verdict: success
//!    only when every factor the journey requires was judged passed under this handle
//!    (`behavior_core::decision::judge`). The module returns `PAM_SUCCESS` only when its own
//!    flow and this verdict agree.
//! 6. Enrollment is pending: a typing pattern or PIN set up in this login is written nowhere
//!    until the rest of the PAM stack has authenticated the user. `Finish` then says
//!    `pending`, and the handle lives on (bound to the same caller, for
//!    [`PENDING_SECS`] seconds) for exactly one of `Commit(handle)`, which stores it in one
//!    transaction unless the user gained a pattern or PIN meanwhile, or `Abandon(handle)`.
//!    A caller that leaves the bus, or the time running out, abandons it.

use serde::{Deserialize, Serialize};
use zbus::zvariant::Type;

use crate::Error;

pub const AUTH_INTERFACE: &str = "org.behaviord.Auth1";

/// How long a finished login's pending enrollment waits for `Commit` or `Abandon`.
pub const PENDING_SECS: u32 = 120;

/// What the policy asks of this login.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
#[zvariant(signature = "s")]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The user has a typing pattern: verify it.
    Verify,
    /// No typing pattern yet and enrollment is enabled: enroll it now.
    Enroll,
    /// The journey needs no typing (journey `pin` or `none`); go straight to the PIN, if any.
    PinOnly,
    /// The journey is `none` for this login: the module returns `PAM_IGNORE`.
    Skip,
}

/// Reply of `Begin`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Type)]
pub struct Begin {
    /// Opaque, unguessable; valid only for the caller that began it.
    pub handle: String,
    /// The resolved journey: `behavior+pin`, `behavior`, `pin` or `none`.
    pub journey: String,
    pub stage: Stage,
    /// The phrase to show (empty when no typing is needed).
    pub phrase: String,
    /// Enrollment: how many good typings are needed.
    pub enroll_attempts: u32,
    /// Verification: how many tries before `PAM_MAXTRIES`.
    pub max_tries: u32,
    /// A PIN must be verified (it is set: `VerifyPin`).
    pub pin_verify: bool,
    /// A PIN must be set up now (PIN enrollment enabled and none set: `EnrollPin`).
    pub pin_enroll: bool,
    /// Exact PIN length required when setting one up.
    pub pin_length: u32,
    /// The user may skip typing enrollment (`SkipEnrollment`).
    pub allow_skip: bool,
    /// Seconds the handle stays valid.
    pub timeout_secs: u32,
}

/// Outcome of one enrollment typing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
#[zvariant(signature = "s")]
#[serde(rename_all = "snake_case")]
pub enum EnrollStatus {
    /// Kept; more typings are needed (`attempt` is the next one).
    Accepted,
    /// The last needed typing was kept and the pattern is stored.
    Complete,
    /// The typed text differs from the phrase ("Typed phrases do not match."); repeat.
    Mismatch,
    /// The typing is too unlike the others or the keys did not match the text, or had
    /// corrections; `message` says why; repeat.
    Retry,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Type)]
pub struct EnrollStep {
    pub status: EnrollStatus,
    /// 1-based number of the next typing to ask for (`Attempt k of N`).
    pub attempt: u32,
    pub attempts: u32,
    /// A sentence for the user when `status` is `Retry`; empty otherwise.
    pub message: String,
}

/// Outcome of one verification (typing or PIN).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
#[zvariant(signature = "s")]
#[serde(rename_all = "snake_case")]
pub enum VerifyStatus {
    Accepted,
    /// Wrong text or timings / wrong PIN: counts as a try.
    Rejected,
    /// Not counted: the keys had corrections or the capture saw nothing; `message` says why.
    Retry,
    /// Tries used up, or the user is now locked out; the module stops asking.
    Exhausted,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Type)]
pub struct VerifyStep {
    pub status: VerifyStatus,
    pub tries_left: u32,
    /// A sentence for the user when `status` is `Retry` or `Exhausted`; empty otherwise.
    pub message: String,
}

/// Reply of `Finish`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Type)]
pub struct Outcome {
    /// Every factor the journey requires was judged passed under this handle.
    pub success: bool,
    /// The factors judged passed: `behavior`, `pin`. Never one that was only set up.
    pub factors: Vec<String>,
    /// A typing pattern or PIN set up in this login waits for `Commit` or `Abandon`.
    pub pending: bool,
}

#[zbus::proxy(
    interface = "org.behaviord.Auth1",
    default_service = "org.behaviord.Behavior1",
    default_path = "/org/behaviord/Auth"
)]
pub trait Auth {
    /// Starts an authentication of `user` for PAM `service` on `tty` from `rhost`
    /// (empty when local). Root only, or a user for themself in `verify`/`pin` stages
    /// (screen unlock), as the policy allows.
    fn begin(&self, user: &str, service: &str, tty: &str, rhost: &str) -> Result<Begin, Error>;

    /// Opens the key capture window for the next phrase typing.
    fn open_capture(&self, handle: &str) -> Result<(), Error>;

    fn submit_enrollment(&self, handle: &str, typed: &str) -> Result<EnrollStep, Error>;

    fn skip_enrollment(&self, handle: &str) -> Result<(), Error>;

    fn submit_verification(&self, handle: &str, typed: &str) -> Result<VerifyStep, Error>;

    /// Sets up the user's PIN (stage with `pin_enroll`); the module has checked the two
    /// entries agree. `InvalidArgument` when the length or characters are wrong.
    fn enroll_pin(&self, handle: &str, pin: &str) -> Result<(), Error>;

    fn verify_pin(&self, handle: &str, pin: &str) -> Result<VerifyStep, Error>;

    /// Ends the conversation; the handle is gone afterwards, unless the outcome is
    /// `pending`.
    fn finish(&self, handle: &str) -> Result<Outcome, Error>;

    /// Stores what a finished login set up, once the rest of the PAM stack authenticated
    /// the user. `PolicyDenied` when the user gained a pattern or PIN in the meantime.
    fn commit(&self, handle: &str) -> Result<(), Error>;

    /// Forgets what a finished login set up.
    fn abandon(&self, handle: &str) -> Result<(), Error>;
}

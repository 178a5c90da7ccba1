//! Session monitoring (continuous authentication), the daemon side: logind tells which
//! local sessions exist and what happens to them, the seat's key events are paired into
//! keystrokes and fed to one [`behavior_core::monitor::Monitor`] per monitored session, and
//! the monitor's decisions are carried out through logind (`LockSession`,
//! `TerminateSession`) and reported to the daemon.
//!
//! The daemon's side of the contract is [`spawn`] (async: it reads logind's sessions before
//! returning, so a missing logind is an error at start, not a silent gap):
//! - it passes the key events of capture, the settings, a [`ProfileStore`] (its database),
//!   a channel for [`SessionReport`]s (it turns them into `E_SESSION_STEP_UP` /
//!   `E_SESSION_TERMINATED` events) and the policy's "is this user monitored" rule,
//!   consulted when a session appears;
//! - it keeps the [`MonitorHandle`], whose [`MonitorHandle::status`] serves
//!   `behaviorctl status` and `behaviorctl monitor USER` (poll it, filter by user);
//!   dropping it stops monitoring. New settings take effect by spawning again.
//!
//! Which sessions: local user sessions on a seat (`Remote` false, `Class` `user` or
//! `user-*`, a seat), whose user the policy monitors. Remote sessions, greeters, lock
//! screens, background and seat-less sessions never are. A session is tracked from the
//! moment logind lists it; only while it is the active one on its seat does its seat's
//! typing reach its monitor. A user without a stored profile is learnt: the first
//! `learning_keystrokes` of their session build one, saved through the store (delete it
//! to have it learnt again, for example after template renewal).
//!
//! logind to monitor: `Active` → activated / deactivated (session switch; half-typed keys
//! are dropped); `PrepareForSleep` → sleep / resume; the `Unlock` signal or `LockedHint`
//! false → unlocked (grace).
//!
//! The monitor owns the lock state: it stops scoring only when it locked the session
//! itself. `LockedHint` and the `Lock` signal are the session owner's to cause (one
//! `SetLockedHint(true)` or `loginctl lock-session`), so they never pause scoring. After
//! its own `LockSession`, `LockedHint` must turn true within [`LOCK_CONFIRM_MS`] (the
//! step-up is reported then); if it does not, nothing locked the screen and the session is
//! terminated (`NotLocked` then `Terminated`). A session whose lock fails and that cannot be
//! terminated is scored again rather than left unwatched.
//!
//! Keyboards and seats: every keyboard is taken to be on `seat0` ([`SEAT_OF_KEYBOARDS`]).
//! Multi-seat machines (udev `ID_SEAT` on a keyboard) are not told apart: keys typed on
//! another seat's keyboard would be scored against seat0's active session.
//!
//! Privacy: keystrokes are timings and key codes in memory only, for as long as pairing a
//! press with its release and the monitor's sliding window need them; nothing typed is
//! stored or reported. Reports and status carry only session ids, user names, phases and
//! scores.

mod keys;
pub mod logind;
mod runner;

pub use keys::Pairer;
pub use runner::{MonitorHandle, SessionStatus};

use behavior_core::free::Profile;
use behavior_core::monitor::{MonitorConfig, MonitorConfigError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::keyevent::KeyEvent;

/// The seat every keyboard is assigned to (see module docs).
pub const SEAT_OF_KEYBOARDS: &str = "seat0";

/// How long after `LockSession` the session's `LockedHint` must show the lock, on the
/// settings' clock (ms). logind answers `LockSession` with success even when no screen
/// locker runs to lock anything (systemd issue #4409).
pub const LOCK_CONFIRM_MS: u64 = 3_000;

/// An error of the daemon's profile store, as text for the report.
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

/// Where users' free-text profiles live (the daemon implements it on its database).
/// Called from the monitor's task; calls should be quick.
pub trait ProfileStore: Send + Sync {
    /// The user's stored profile; `None` when they have none yet (the monitor learns one).
    fn load(&self, user: &str) -> Result<Option<Profile>, StoreError>;
    /// Stores the profile learnt for the user, replacing any earlier one.
    fn save(&self, user: &str, profile: &Profile) -> Result<(), StoreError>;
}

/// A monotonic clock in milliseconds for the monitors' deadlines (grace, idle reset).
/// Tests pass their own to drive time.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> u64;

    /// How long to sleep, in real time, before looking at the clock again when the next
    /// deadline is `ms` of this clock away. A clock that follows real time sleeps exactly
    /// that (the default); a clock moved by hand returns a short polling interval.
    fn real_wait(&self, ms: u64) -> Duration {
        Duration::from_millis(ms)
    }
}

/// Milliseconds since the clock was made, from [`Instant`].
#[derive(Debug)]
pub struct MonotonicClock(Instant);

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock(Instant::now())
    }
}

impl Clock for MonotonicClock {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// How sessions are monitored.
#[derive(Clone)]
pub struct MonitorSettings {
    /// Window, thresholds, learning period (from policy).
    pub config: MonitorConfig,
    pub clock: Arc<dyn Clock>,
}

impl MonitorSettings {
    /// The given monitor configuration on the monotonic clock.
    pub fn new(config: MonitorConfig) -> MonitorSettings {
        MonitorSettings {
            config,
            clock: Arc::new(MonotonicClock::default()),
        }
    }
}

/// Whether a user's sessions are monitored (from policy).
pub type MonitorPolicy = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Something the daemon records as an event.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionReport {
    /// logind session id.
    pub session: String,
    pub user: String,
    pub kind: ReportKind,
    /// `None` when what the report describes was done; else why it failed (the logind
    /// call or the store refused).
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ReportKind {
    /// The session was locked for re-authentication (`E_SESSION_STEP_UP`, reported once
    /// logind's `LockedHint` shows the lock). When logind refuses the lock (`error` set),
    /// the session is terminated instead: a `Terminated` report follows.
    StepUp { risk: f64 },
    /// `LockSession` succeeded but `LockedHint` stayed false for [`LOCK_CONFIRM_MS`]: no
    /// locker locked the screen (`E_SESSION_STEP_UP` outcome `not_locked`). A `Terminated`
    /// report follows.
    NotLocked { risk: f64 },
    /// The session was terminated (`E_SESSION_TERMINATED`).
    Terminated { risk: f64 },
    /// The learning period ended and the user's profile was stored.
    ProfileLearned,
    /// The session should be monitored but is not: its user's profile could not be read.
    NotMonitored,
}

/// Why monitoring could not start.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Config(#[from] MonitorConfigError),
    #[error("session monitoring needs logind (org.freedesktop.login1) on the system bus: {0}")]
    Logind(#[from] zbus::Error),
}

/// Starts monitoring: subscribes to logind, reads the current sessions, and runs the
/// monitors on a task of the current tokio runtime until the handle is dropped, the key
/// channel closes or the bus connection ends. Fails when the settings are invalid or
/// logind cannot be read.
pub async fn spawn(
    conn: zbus::Connection,
    keys: UnboundedReceiver<KeyEvent>,
    settings: MonitorSettings,
    profiles: Arc<dyn ProfileStore>,
    reports: UnboundedSender<SessionReport>,
    policy: MonitorPolicy,
) -> Result<MonitorHandle, MonitorError> {
    settings.config.validate()?;
    runner::start(conn, keys, settings, profiles, reports, policy).await
}

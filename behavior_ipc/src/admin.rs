//! `org.behaviord.Admin1` at [`crate::ADMIN_PATH`]: what `behaviorctl` does as root.
//!
//! Root only, at the bus (the shipped policy) and again in the daemon (caller uid). Every
//! change is one database transaction and one audit event; a refused call changes nothing.

use serde::{Deserialize, Serialize};
use zbus::zvariant::Type;

use crate::Error;

pub const ADMIN_INTERFACE: &str = "org.behaviord.Admin1";

/// `Status.monitoring` when the session monitor runs, and when `session.monitor` is off.
pub const MONITORING_ON: &str = "on";
pub const MONITORING_OFF_BY_SETTING: &str = "off: session.monitor is false";

/// Reply of `Status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Type)]
pub struct Status {
    pub version: String,
    /// Daemon start, ms since the Unix epoch.
    pub started_at_ms: i64,
    /// The policy file in use.
    pub config_path: String,
    pub database: String,
    pub users_enrolled: u32,
    pub users_with_pin: u32,
    pub events: u64,
    /// Authentications in progress.
    pub active_handles: u32,
    /// The daemon runs with `--test-input` (`org.behaviord.Test1` exported).
    pub test_input: bool,
    /// Keyboards being read (0 with `--test-input`).
    pub keyboards: u32,
    /// Syslog was reached at start and took the last line (the database has every event
    /// either way).
    pub syslog_connected: bool,
    /// Syslog lines lost since start: queue full behind a slow or stuck reader, or refused.
    pub syslog_dropped: u64,
    /// Sessions under continuous authentication.
    pub sessions: Vec<MonitoredSession>,
    /// `on`, or `off: ` and why (`session.monitor` is false, no systemd-logind on the bus,
    /// the monitor could not start).
    pub monitoring: String,
}

/// One session the monitor watches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Type)]
pub struct MonitoredSession {
    /// logind session id.
    pub session: String,
    pub user: String,
    pub seat: String,
    /// `learning N/M`, `monitoring`, `grace`, `paused`, `locked` or `terminated`.
    pub phase: String,
    /// Current risk (about 1 for the user's own typing); negative until a window was scored.
    pub risk: f64,
    /// Score of the last scored window, what moves the risk; negative until one was.
    pub last_score: f64,
    /// Keystrokes in the monitor's sliding window now (of `session.window`).
    pub window_fill: u32,
    pub keystrokes: u64,
}

/// One user as the daemon knows them. Times are ms since the Unix epoch, 0 for "none".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Type)]
pub struct UserInfo {
    pub name: String,
    pub uid: u32,
    pub enrolled: bool,
    pub enrolled_at_ms: i64,
    /// When the typing pattern must be enrolled again (0: never).
    pub template_expires_ms: i64,
    /// Typings the pattern was learnt from (enrollment plus adapted).
    pub template_typings: u32,
    /// The pattern was enrolled for an earlier phrase: the user enrolls again at the next
    /// login (it cannot be verified against the current phrase).
    pub phrase_changed: bool,
    pub pin_set: bool,
    pub pin_set_at_ms: i64,
    /// Consecutive failures counting towards a lockout.
    pub failures: u32,
    /// Locked out until then (0 or past: not locked).
    pub locked_until_ms: i64,
}

/// One audit event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Event {
    pub id: i64,
    pub time_ms: i64,
    pub name: String,
    pub user: String,
    /// Who caused it: `pam`, `behaviorctl`, `self-service`, `session`.
    pub source: String,
    pub outcome: String,
    /// PAM service, empty when not from a login.
    pub service: String,
    /// The login's terminal (`PAM_TTY`), empty when not from a login or not given.
    pub tty: String,
    /// The login's remote host (`PAM_RHOST`), empty for a local login.
    pub rhost: String,
}

/// Argument of `Events`; empty strings and zeros mean "any".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct EventFilter {
    pub user: String,
    pub name: String,
    pub since_ms: i64,
    /// Only events with a larger id (for polling).
    pub after_id: i64,
    /// At most this many, the newest (0: the daemon's maximum, 1000).
    pub limit: u32,
}

/// One setting and where its value comes from: `default`, `file` or `override` (set with
/// `behaviorctl set`, kept in the database, wins over the file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub source: String,
}

/// One `[[rule]]` of the policy; empty lists match anything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Rule {
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub services: Vec<String>,
    pub ttys: Vec<String>,
    pub journey: String,
}

/// Reply of `Policy`: the journeys in effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Policy {
    pub default_journey: String,
    pub rules: Vec<Rule>,
    /// `open` or `closed`.
    pub fail: String,
    pub deny_remote: bool,
}

#[zbus::proxy(
    interface = "org.behaviord.Admin1",
    default_service = "org.behaviord.Behavior1",
    default_path = "/org/behaviord/Admin"
)]
pub trait Admin {
    fn status(&self) -> Result<Status, Error>;

    /// Users with a typing pattern, a PIN or failures, by name.
    fn users(&self) -> Result<Vec<UserInfo>, Error>;

    /// `UnknownUser` when `user` is not a user of this system.
    fn show_user(&self, user: &str) -> Result<UserInfo, Error>;

    /// `NotEnrolled` when there is none.
    fn remove_pattern(&self, user: &str) -> Result<(), Error>;

    fn remove_pin(&self, user: &str) -> Result<(), Error>;

    /// Sets or replaces `user`'s PIN (`InvalidArgument` when its format is wrong).
    fn set_pin(&self, user: &str, pin: &str) -> Result<(), Error>;

    /// Clears `user`'s failure counter and lockout.
    fn reset_lockout(&self, user: &str) -> Result<(), Error>;

    fn events(&self, filter: &EventFilter) -> Result<Vec<Event>, Error>;

    fn settings(&self) -> Result<Vec<Setting>, Error>;

    /// Overrides a setting (`InvalidArgument` naming the key and why when refused).
    /// Changing `phrase` while users are enrolled for the current one is refused
    /// (`PolicyDenied`): each of them would have to enroll again.
    fn set(&self, key: &str, value: &str) -> Result<(), Error>;

    /// [`set`](Self::set), also where it makes enrolled users enroll again (a new
    /// `phrase`): their patterns are marked for re-enrollment.
    fn set_forced(&self, key: &str, value: &str) -> Result<(), Error>;

    /// Drops an override: the file's value (or the default) applies again.
    fn unset(&self, key: &str) -> Result<(), Error>;

    fn policy(&self) -> Result<Policy, Error>;

    /// Every audit event as it is recorded (the bus delivers it to root only).
    #[zbus(signal)]
    fn event_logged(&self, event: Event) -> zbus::Result<()>;
}

//! Audit events (product.md's list): each goes to the `events` table, in the same
//! transaction as the change it reports, and, once committed, to syslog (facility authpriv)
//! as one line `NAME user=U outcome=O service=S source=C`. Never typed text, PINs or key codes.

use std::path::Path;
use std::sync::Mutex;

use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

use crate::store::{EventRow, StoreError, Tx};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    BehaviorEnrolled,
    BehaviorUnenrolled,
    PinEnrolled,
    PinUnenrolled,
    PinUpdated,
    BehaviorSucceeded,
    BehaviorFailed,
    PinSucceeded,
    PinFailed,
    LockedOut,
    SessionStepUp,
    SessionTerminated,
    SettingsChanged,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::BehaviorEnrolled => "E_BEHAVIOR_AUTH_ENROLLED",
            Event::BehaviorUnenrolled => "E_BEHAVIOR_AUTH_UNENROLLED",
            Event::PinEnrolled => "E_USER_PIN_ENROLLED",
            Event::PinUnenrolled => "E_USER_PIN_UNENROLLED",
            Event::PinUpdated => "E_USER_PIN_UPDATED",
            Event::BehaviorSucceeded => "E_BEHAVIOR_AUTH_SUCCEEDED",
            Event::BehaviorFailed => "E_BEHAVIOR_AUTH_FAILED",
            Event::PinSucceeded => "E_USER_PIN_SUCCEEDED",
            Event::PinFailed => "E_USER_PIN_FAILED",
            Event::LockedOut => "E_USER_LOCKED_OUT",
            Event::SessionStepUp => "E_SESSION_STEP_UP",
            Event::SessionTerminated => "E_SESSION_TERMINATED",
            Event::SettingsChanged => "E_SETTINGS_CHANGED",
        }
    }

    /// Every event name, for validating `behaviorctl events --name`.
    pub const ALL: [Event; 13] = [
        Event::BehaviorEnrolled,
        Event::BehaviorUnenrolled,
        Event::PinEnrolled,
        Event::PinUnenrolled,
        Event::PinUpdated,
        Event::BehaviorSucceeded,
        Event::BehaviorFailed,
        Event::PinSucceeded,
        Event::PinFailed,
        Event::LockedOut,
        Event::SessionStepUp,
        Event::SessionTerminated,
        Event::SettingsChanged,
    ];

    /// Failures go to syslog as warnings, the rest as notices.
    fn is_failure(self) -> bool {
        matches!(
            self,
            Event::BehaviorFailed | Event::PinFailed | Event::LockedOut | Event::SessionTerminated
        )
    }
}

/// One event about to be recorded. `source` says who caused it (`pam`, `behaviorctl`,
/// `self-service`, `session`); `service` is the PAM service, empty otherwise.
#[derive(Clone, Debug)]
pub struct Record<'a> {
    pub event: Event,
    pub user: &'a str,
    pub outcome: &'a str,
    pub source: &'a str,
    pub service: &'a str,
}

impl Record<'_> {
    /// Inserts the event inside the caller's transaction.
    pub fn insert(&self, tx: &Tx<'_>, now_ms: i64) -> Result<EventRow, StoreError> {
        let id = tx.insert_event(
            now_ms,
            self.event.name(),
            self.user,
            self.source,
            self.outcome,
            self.service,
        )?;
        Ok(EventRow {
            id,
            time_ms: now_ms,
            name: self.event.name().to_string(),
            user: self.user.to_string(),
            source: self.source.to_string(),
            outcome: self.outcome.to_string(),
            service: self.service.to_string(),
        })
    }
}

/// The syslog side. Sending is best effort: a full or missing syslog never blocks or fails
/// an authentication (the event is in the database already).
pub struct Syslog {
    logger: Option<Mutex<Logger<LoggerBackend, Formatter3164>>>,
}

impl Syslog {
    /// Connects to `socket` (default `/dev/log`). Failure to connect is returned so the
    /// daemon can say so at start; it then runs without syslog.
    pub fn connect(socket: Option<&Path>) -> Result<Syslog, String> {
        let formatter = Formatter3164 {
            facility: Facility::LOG_AUTHPRIV,
            hostname: None,
            process: "behaviord".into(),
            pid: std::process::id(),
        };
        let logger = match socket {
            Some(path) => syslog::unix_custom(formatter, path),
            None => syslog::unix(formatter),
        }
        .map_err(|e| format!("cannot connect to syslog: {e}"))?;
        Ok(Syslog {
            logger: Some(Mutex::new(logger)),
        })
    }

    pub fn none() -> Syslog {
        Syslog { logger: None }
    }

    pub fn event(&self, row: &EventRow, event: Event) {
        let line = format_line(row);
        if event.is_failure() {
            self.send(|l| l.warning(&line));
        } else {
            self.send(|l| l.notice(&line));
        }
    }

    /// Operational messages of the daemon itself (start, stop, warnings).
    pub fn info(&self, msg: &str) {
        self.send(|l| l.info(msg));
    }

    pub fn warning(&self, msg: &str) {
        self.send(|l| l.warning(msg));
    }

    fn send(
        &self,
        f: impl FnOnce(&mut Logger<LoggerBackend, Formatter3164>) -> syslog::Result<()>,
    ) {
        if let Some(m) = &self.logger {
            let mut l = m.lock().unwrap_or_else(|p| p.into_inner());
            let _ = f(&mut l);
        }
    }
}

/// `NAME user=U outcome=O service=S source=C`; values are names the daemon validated
/// (user names, PAM service names), with spaces and control characters replaced.
pub fn format_line(row: &EventRow) -> String {
    let clean = |s: &str| -> String {
        if s.is_empty() {
            return "-".into();
        }
        s.chars()
            .map(|c| {
                if c.is_whitespace() || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect()
    };
    format!(
        "{} user={} outcome={} service={} source={}",
        row.name,
        clean(&row.user),
        clean(&row.outcome),
        clean(&row.service),
        clean(&row.source)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        let row = EventRow {
            id: 1,
            time_ms: 0,
            name: "E_USER_PIN_FAILED".into(),
            user: "ann".into(),
            source: "pam".into(),
            outcome: "failure".into(),
            service: "log in\n".into(),
        };
        assert_eq!(
            format_line(&row),
            "E_USER_PIN_FAILED user=ann outcome=failure service=log_in_ source=pam"
        );
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = Event::ALL.iter().map(|e| e.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Event::ALL.len());
    }
}

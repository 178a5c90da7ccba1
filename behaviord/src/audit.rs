//! Audit events (product.md's list): each goes to the `events` table, in the same
//! transaction as the change it reports, and, once committed, to syslog (facility authpriv)
//! as one line `NAME user=U outcome=O service=S tty=T rhost=H source=C`. Never typed text,
//! PINs or key codes.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use syslog::{Facility, Formatter3164, LoggerBackend};

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
/// `self-service`, `session`); `service`, `tty` and `rhost` are the login's PAM service,
/// terminal and remote host, empty where they do not apply.
#[derive(Clone, Debug)]
pub struct Record<'a> {
    pub event: Event,
    pub user: &'a str,
    pub outcome: &'a str,
    pub source: &'a str,
    pub service: &'a str,
    pub tty: &'a str,
    pub rhost: &'a str,
}

impl<'a> Record<'a> {
    /// An event with no login details (service, tty and rhost empty).
    pub fn new(event: Event, user: &'a str, outcome: &'a str, source: &'a str) -> Record<'a> {
        Record {
            event,
            user,
            outcome,
            source,
            service: "",
            tty: "",
            rhost: "",
        }
    }

    /// Inserts the event inside the caller's transaction.
    pub fn insert(&self, tx: &Tx<'_>, now_ms: i64) -> Result<EventRow, StoreError> {
        let mut row = EventRow {
            id: 0,
            time_ms: now_ms,
            name: self.event.name().to_string(),
            user: self.user.to_string(),
            source: self.source.to_string(),
            outcome: self.outcome.to_string(),
            service: self.service.to_string(),
            tty: self.tty.to_string(),
            rhost: self.rhost.to_string(),
        };
        row.id = tx.insert_event(&row)?;
        Ok(row)
    }
}

/// How a line is marked in syslog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info,
    Notice,
    Warning,
}

/// Lines waiting for the writer thread; more are dropped (and counted). Room for bursts
/// of a busy login hour; a stuck reader costs at most this much memory.
const QUEUE_LINES: usize = 256;

/// How long the writer waits on a full syslog socket before it drops the line: a stuck
/// reader then drains the queue at one line per this, and never holds a caller.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// What callers and the writer thread share.
#[derive(Default)]
struct Counters {
    /// Lines lost: queue full, or the socket refused or timed out.
    dropped: AtomicU64,
    /// Lines queued and not yet written (or dropped) by the writer.
    pending: AtomicU64,
    /// The last send failed.
    failing: AtomicBool,
}

/// The syslog side. Sending never blocks and never fails an authentication: lines go
/// through a bounded queue to one writer thread that owns the socket; when the queue is
/// full the line is dropped and counted (the event is in the database already).
pub struct Syslog {
    queue: Option<SyncSender<(Severity, String)>>,
    counters: Arc<Counters>,
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
        let mut logger = match socket {
            Some(path) => syslog::unix_custom(formatter, path),
            None => syslog::unix(formatter),
        }
        .map_err(|e| format!("cannot connect to syslog: {e}"))?;
        let timeout = match &logger.backend {
            LoggerBackend::Unix(s) => s.set_write_timeout(Some(SEND_TIMEOUT)),
            LoggerBackend::UnixStream(s) => s.get_ref().set_write_timeout(Some(SEND_TIMEOUT)),
            _ => Ok(()),
        };
        timeout.map_err(|e| format!("cannot set the syslog socket's send timeout: {e}"))?;
        Syslog::spawn(QUEUE_LINES, move |severity, line| {
            match severity {
                Severity::Info => logger.info(line),
                Severity::Notice => logger.notice(line),
                Severity::Warning => logger.warning(line),
            }
            .is_ok()
        })
        .map_err(|e| format!("cannot start the syslog writer: {e}"))
    }

    /// A queue of `capacity` lines in front of `write` (true: the line was sent), which
    /// runs on its own thread and may block.
    fn spawn(
        capacity: usize,
        mut write: impl FnMut(Severity, &str) -> bool + Send + 'static,
    ) -> std::io::Result<Syslog> {
        let (tx, rx) = sync_channel::<(Severity, String)>(capacity);
        let counters = Arc::new(Counters::default());
        let shared = counters.clone();
        std::thread::Builder::new()
            .name("syslog".into())
            .spawn(move || {
                for (severity, line) in rx {
                    let sent = write(severity, &line);
                    shared.failing.store(!sent, Ordering::Relaxed);
                    if !sent {
                        shared.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    shared.pending.fetch_sub(1, Ordering::Release);
                }
            })?;
        Ok(Syslog {
            queue: Some(tx),
            counters,
        })
    }

    pub fn none() -> Syslog {
        Syslog {
            queue: None,
            counters: Arc::default(),
        }
    }

    /// Connected at start and the last line was delivered.
    pub fn connected(&self) -> bool {
        self.queue.is_some() && !self.counters.failing.load(Ordering::Relaxed)
    }

    /// Lines lost since start (queue full, or syslog refused or stuck).
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Waits up to `limit` for the queued lines to be written, so the last lines before
    /// exit are not lost; true when the queue is empty.
    pub fn flush(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.counters.pending.load(Ordering::Acquire) == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn event(&self, row: &EventRow, event: Event) {
        let severity = if event.is_failure() {
            Severity::Warning
        } else {
            Severity::Notice
        };
        self.send(severity, format_line(row));
    }

    /// Operational messages of the daemon itself (start, stop, warnings).
    pub fn info(&self, msg: &str) {
        self.send(Severity::Info, msg.to_string());
    }

    pub fn warning(&self, msg: &str) {
        self.send(Severity::Warning, msg.to_string());
    }

    /// Queues the line, or drops and counts it when the queue is full: never waits.
    fn send(&self, severity: Severity, line: String) {
        let Some(queue) = &self.queue else { return };
        self.counters.pending.fetch_add(1, Ordering::Relaxed);
        if queue.try_send((severity, line)).is_err() {
            self.counters.pending.fetch_sub(1, Ordering::Relaxed);
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `NAME user=U outcome=O service=S tty=T rhost=H source=C`; values are names the daemon
/// validated (user names, PAM service, tty and host names), with spaces and control
/// characters replaced, `-` when empty.
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
        "{} user={} outcome={} service={} tty={} rhost={} source={}",
        row.name,
        clean(&row.user),
        clean(&row.outcome),
        clean(&row.service),
        clean(&row.tty),
        clean(&row.rhost),
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
            tty: "pts/1".into(),
            rhost: String::new(),
        };
        assert_eq!(
            format_line(&row),
            "E_USER_PIN_FAILED user=ann outcome=failure service=log_in_ tty=pts/1 rhost=- source=pam"
        );
    }

    /// A writer that blocks until released, as a stuck syslog reader does.
    #[test]
    fn a_stuck_writer_never_holds_the_caller_and_drops_are_counted() {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (seen_tx, seen) = std::sync::mpsc::channel::<String>();
        let log = Syslog::spawn(4, move |_, line| {
            let _ = seen_tx.send(line.to_string());
            let _ = wait.recv();
            true
        })
        .unwrap();
        log.info("first");
        // The writer holds "first"; wait for it so the queue's 4 places are free.
        assert_eq!(seen.recv_timeout(Duration::from_secs(5)).unwrap(), "first");
        let started = Instant::now();
        for i in 0..100 {
            log.warning(&format!("line {i}"));
        }
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "sending blocked for {:?}",
            started.elapsed()
        );
        assert_eq!(log.dropped(), 96, "4 queued, the rest dropped");
        assert!(log.connected());
        assert!(!log.flush(Duration::from_millis(50)), "the writer is stuck");
        for _ in 0..5 {
            release.send(()).unwrap();
        }
        assert!(log.flush(Duration::from_secs(5)));
        let rest: Vec<String> = seen.try_iter().collect();
        assert_eq!(rest, ["line 0", "line 1", "line 2", "line 3"]);
    }

    #[test]
    fn a_failing_send_is_counted_and_shown() {
        let log = Syslog::spawn(4, |_, line| line != "refused").unwrap();
        log.info("refused");
        assert!(log.flush(Duration::from_secs(5)));
        assert_eq!(log.dropped(), 1);
        assert!(!log.connected());
        log.info("fine");
        assert!(log.flush(Duration::from_secs(5)));
        assert!(log.connected());
        assert_eq!(log.dropped(), 1);
    }

    #[test]
    fn none_is_not_connected() {
        let log = Syslog::none();
        log.info("nowhere");
        assert!(!log.connected());
        assert_eq!(log.dropped(), 0);
        assert!(log.flush(Duration::ZERO));
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = Event::ALL.iter().map(|e| e.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Event::ALL.len());
    }
}

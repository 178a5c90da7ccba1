//! The D-Bus objects and the state they share.
//!
//! zbus runs the objects on its own executor; the daemon's tokio runtime ([`State::rt`])
//! does the timers, the blocking work (argon2) and the capture loop. Shared state sits
//! behind small locks: the handle table (a sync mutex held only to look up), one async
//! mutex per handle (so two calls on one handle never interleave), the store's connection.

pub mod admin;
pub mod auth;
mod pending;
pub mod ratelimit;
mod recent;
pub mod test_input;
pub mod user;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use behavior_ipc::admin::ADMIN_INTERFACE;
use behavior_ipc::{Error, ADMIN_PATH, MAX_STRING_LEN};
use zbus::message::Header;

use crate::audit::{Event, Record, Syslog};
use crate::capture::Captures;
use crate::config::{self, Config};
use crate::store::{EventRow, Store, StoreError, Tx};

pub use auth::Session;

/// Most authentications in progress at once, and per caller (bus connection).
const MAX_SESSIONS: usize = 256;
const MAX_SESSIONS_PER_CALLER: usize = 16;
/// Most in progress for one non-root uid, over all its connections (a user's own screen
/// locker needs one or two), and room only root's callers (login, gdm, sudo) may use, so
/// that users opening many connections cannot keep everyone else from logging in.
const MAX_SESSIONS_PER_USER: usize = 16;
const ROOT_RESERVE: usize = 64;
/// Most `User1` trials open at once (one per caller), and per uid over all its connections:
/// each records keys, and one user must not take every slot.
const MAX_TRIALS: usize = 32;
const MAX_TRIALS_PER_USER: usize = 2;
/// How long a refusal over the rate is held back before it is answered, and how many may be
/// held at once (a few KiB each).
const REFUSAL_HOLD: Duration = Duration::from_secs(1);
const MAX_HELD_REFUSALS: usize = 8192;
/// Bound of the caller uid cache (cleared when full).
const MAX_CACHED_UIDS: usize = 4096;

/// Whether a new authentication of caller `owner` (uid `uid`) fits beside those in
/// progress, given as (owner, uid).
///
/// `uid` is the caller's [`principal`]. A full table is a refusal (`PolicyDenied`), never
/// `Unavailable`: the fail mode would let a flood switch the second factor off.
fn admit<'a>(
    in_progress: impl Iterator<Item = (&'a str, u32)>,
    owner: &str,
    uid: u32,
) -> Result<(), Error> {
    let (mut all, mut not_root, mut caller, mut user) = (0, 0, 0, 0);
    for (o, u) in in_progress {
        all += 1;
        not_root += usize::from(u != 0);
        caller += usize::from(o == owner);
        user += usize::from(u == uid);
    }
    let busy = |what: &str| {
        Err(Error::PolicyDenied(format!(
            "{what} too many authentications in progress"
        )))
    };
    if all >= MAX_SESSIONS || (uid != 0 && not_root >= MAX_SESSIONS - ROOT_RESERVE) {
        return busy("there are");
    }
    if caller >= MAX_SESSIONS_PER_CALLER {
        return busy("this caller has");
    }
    if uid != 0 && user >= MAX_SESSIONS_PER_USER {
        return busy(&format!("uid {uid} has"));
    }
    Ok(())
}

/// Whom an authentication counts against: the caller's uid, or for a root caller that a
/// user started (setuid `su` or `sudo`: the kernel's audit `loginuid`, which that user
/// cannot change) that user, so that users cannot fill root's reserve through setuid
/// programs. Root callers without a login uid are system services (getty's `login`, sshd,
/// a display manager).
pub(crate) fn principal(uid: u32, loginuid: Option<u32>) -> u32 {
    match (uid, loginuid) {
        (0, Some(login)) => login,
        (uid, _) => uid,
    }
}

/// The audit login uid of process `pid`; `None` when unset (`4294967295`) or unreadable.
pub(crate) fn loginuid(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/loginuid"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|&uid| uid != u32::MAX)
}

/// Whether a new trial of `uid` fits beside those open (given by their uids).
fn admit_trial(open: impl Iterator<Item = u32>, uid: u32) -> Result<(), Error> {
    let (mut all, mut mine) = (0, 0);
    for u in open {
        all += 1;
        mine += usize::from(u == uid);
    }
    if mine >= MAX_TRIALS_PER_USER {
        return Err(Error::Unavailable(format!(
            "uid {uid} has {mine} trials open already; finish one first"
        )));
    }
    if all >= MAX_TRIALS {
        return Err(Error::Unavailable("too many trials in progress".into()));
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) struct Entry {
    /// The unique bus name of the caller that began it.
    owner: String,
    /// Whom it counts against ([`principal`]).
    uid: u32,
    deadline: Instant,
    session: Arc<tokio::sync::Mutex<Session>>,
}

/// One open `User1` trial.
struct TrialEntry {
    /// The unique bus name of the caller that began it, and its uid.
    owner: String,
    uid: u32,
    deadline: Instant,
    user: String,
}

pub struct State {
    pub store: Store,
    pub syslog: Syslog,
    pub captures: Arc<Captures>,
    pub config_path: PathBuf,
    /// The policy file's text as read at start; overrides apply on top of it.
    file_text: String,
    config: RwLock<Arc<Config>>,
    sessions: Mutex<HashMap<String, Entry>>,
    /// Caller uids by unique bus name (a unique name is never reused on a bus, so its uid
    /// cannot change); entries go when the name leaves the bus.
    uids: Mutex<HashMap<String, u32>>,
    /// `User1` trials by handle.
    trials: Mutex<HashMap<String, TrialEntry>>,
    /// Calls of non-root uids (taken once the caller's uid is known, before any other work).
    limiter: Mutex<ratelimit::RateLimiter>,
    /// Refusals waiting to be answered.
    held_refusals: AtomicUsize,
    /// Blocking work (argon2) of non-root callers runs one at a time, so it never takes more
    /// than one of the blocking threads root's PIN checks need.
    unprivileged_work: tokio::sync::Semaphore,
    pub rt: tokio::runtime::Handle,
    conn: OnceLock<zbus::Connection>,
    inflight: AtomicUsize,
    stopping: AtomicBool,
    pub started_at_ms: i64,
    pub test_input: bool,
    /// The evdev reader, when it runs.
    input: OnceLock<Arc<crate::input::InputHandle>>,
    /// The session monitor, when it runs.
    monitor: Mutex<Option<crate::session::MonitorHandle>>,
}

/// Counts a call in progress; refuses new calls once the daemon is stopping.
pub(crate) struct InFlight<'a>(&'a State);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl State {
    pub fn new(
        store: Store,
        syslog: Syslog,
        config_path: PathBuf,
        file_text: String,
        config: Config,
        rt: tokio::runtime::Handle,
        test_input: bool,
    ) -> State {
        State {
            store,
            syslog,
            captures: Arc::new(Captures::default()),
            config_path,
            file_text,
            config: RwLock::new(Arc::new(config)),
            sessions: Mutex::new(HashMap::new()),
            trials: Mutex::new(HashMap::new()),
            uids: Mutex::new(HashMap::new()),
            limiter: Mutex::new(ratelimit::RateLimiter::new(ratelimit::DEFAULT)),
            held_refusals: AtomicUsize::new(0),
            unprivileged_work: tokio::sync::Semaphore::new(1),
            rt,
            conn: OnceLock::new(),
            inflight: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            started_at_ms: now_ms(),
            test_input,
            input: OnceLock::new(),
            monitor: Mutex::new(None),
        }
    }

    /// The bus connection, once serving (for signals and caller lookups).
    pub fn set_connection(&self, conn: zbus::Connection) {
        let _ = self.conn.set(conn);
    }

    pub fn set_input(&self, input: crate::input::InputHandle) {
        let _ = self.input.set(Arc::new(input));
    }

    /// Replaces the running session monitor (dropping the old one stops it).
    pub fn set_monitor(&self, monitor: Option<crate::session::MonitorHandle>) {
        *self.monitor.lock().unwrap_or_else(|p| p.into_inner()) = monitor;
    }

    /// Whether the session monitor runs.
    pub fn monitor_running(&self) -> bool {
        self.monitor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// The monitored sessions now (empty without the monitor).
    pub fn monitored_sessions(&self) -> Vec<crate::session::SessionStatus> {
        self.monitor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or_else(Vec::new, |m| m.status())
    }

    /// The bus connection (set once serving).
    pub fn connection(&self) -> Option<zbus::Connection> {
        self.conn.get().cloned()
    }

    /// The evdev reader, when keyboards are read.
    pub fn input(&self) -> Option<Arc<crate::input::InputHandle>> {
        self.input.get().cloned()
    }

    /// Events the evdev reader lost so far (0 without a reader).
    pub fn lost_events(&self) -> u64 {
        self.input.get().map_or(0, |i| i.lost_events())
    }

    /// Keyboards being read (empty without a reader).
    pub fn keyboards(&self) -> usize {
        self.input.get().map_or(0, |i| i.keyboards().len())
    }

    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn file_text(&self) -> &str {
        &self.file_text
    }

    /// Rebuilds the effective configuration from the file and the stored overrides.
    pub(crate) fn reload_overrides(&self) -> Result<(), Error> {
        let overrides = self.store.settings().map_err(|e| self.storage(e))?;
        let (config, _) = config::effective(&self.file_text, &overrides)
            .map_err(|e| Error::InvalidArgument(e.reason))?;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        Ok(())
    }

    pub(crate) fn enter(&self) -> Result<InFlight<'_>, Error> {
        self.inflight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(self);
        if self.stopping.load(Ordering::SeqCst) {
            return Err(Error::Unavailable("behaviord is shutting down".into()));
        }
        Ok(guard)
    }

    /// Refuses new calls and waits (at most `limit`) for those in progress.
    pub async fn drain(&self, limit: Duration) -> bool {
        self.stopping.store(true, Ordering::SeqCst);
        let end = Instant::now() + limit;
        while self.inflight.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// The caller's unique name and uid, from the message header and the bus (asked once
    /// per connection). Every method asks this first, so this is where a non-root uid's
    /// calls are counted: one over its rate is refused here, before any other work.
    /// The process id of bus caller `sender`, if the bus says.
    pub(crate) async fn caller_pid(&self, sender: &str) -> Option<u32> {
        let conn = self.conn.get()?;
        let dbus = zbus::fdo::DBusProxy::new(conn).await.ok()?;
        let name = zbus::names::BusName::try_from(sender).ok()?;
        dbus.get_connection_unix_process_id(name).await.ok()
    }

    pub(crate) async fn caller(&self, hdr: &Header<'_>) -> Result<(String, u32), Error> {
        let (name, uid) = self.caller_uid(hdr).await?;
        let taken = self
            .limiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(uid, Instant::now());
        if let Err(wait) = taken {
            // The refusal is answered a second later: a caller that waits for its replies
            // (most do) then makes one call a second per call in flight, instead of keeping
            // the daemon's queue full of refusals ahead of root's calls. Held replies are
            // bounded; past that they are answered at once.
            if self.held_refusals.fetch_add(1, Ordering::SeqCst) < MAX_HELD_REFUSALS {
                let _ = self
                    .rt
                    .spawn(async { tokio::time::sleep(REFUSAL_HOLD).await })
                    .await;
            }
            self.held_refusals.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::Unavailable(format!(
                "uid {uid} calls behaviord too often; try again in {} ms",
                wait.as_millis().max(1)
            )));
        }
        Ok((name, uid))
    }

    async fn caller_uid(&self, hdr: &Header<'_>) -> Result<(String, u32), Error> {
        let sender = hdr
            .sender()
            .ok_or_else(|| Error::AccessDenied("the call has no sender".into()))?;
        let cached = self
            .uids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sender.as_str())
            .copied();
        if let Some(uid) = cached {
            return Ok((sender.to_string(), uid));
        }
        let conn = self
            .conn
            .get()
            .ok_or_else(|| Error::Unavailable("behaviord is starting".into()))?;
        let dbus = zbus::fdo::DBusProxy::new(conn)
            .await
            .map_err(|e| Error::Unavailable(format!("cannot ask the bus who called: {e}")))?;
        let uid = dbus
            .get_connection_unix_user(sender.clone().into())
            .await
            .map_err(|e| Error::AccessDenied(format!("cannot learn the caller's uid: {e}")))?;
        let mut uids = self.uids.lock().unwrap_or_else(|p| p.into_inner());
        if uids.len() >= MAX_CACHED_UIDS {
            uids.clear();
        }
        uids.insert(sender.to_string(), uid);
        Ok((sender.to_string(), uid))
    }

    pub(crate) async fn require_root(&self, hdr: &Header<'_>) -> Result<(String, u32), Error> {
        let (name, uid) = self.caller(hdr).await?;
        if uid != 0 {
            return Err(Error::AccessDenied(format!(
                "only root may call this method (caller uid {uid})"
            )));
        }
        Ok((name, uid))
    }

    /// Logs a storage failure for the admin and turns it into the D-Bus error.
    pub(crate) fn storage(&self, e: StoreError) -> Error {
        let msg = e.to_string();
        self.syslog.warning(&format!("storage failure: {msg}"));
        Error::Storage(msg)
    }

    /// Runs one change and its audit events in one transaction; the events go to syslog
    /// and to `EventLogged` listeners once it is committed.
    pub(crate) fn commit<T>(
        &self,
        f: impl FnOnce(&Tx<'_>, &mut Audit) -> Result<T, StoreError>,
    ) -> Result<T, Error> {
        let mut audit = Audit {
            now: now_ms(),
            rows: Vec::new(),
        };
        let out = self
            .store
            .change(|tx| f(tx, &mut audit))
            .map_err(|e| self.storage(e))?;
        for (row, event) in audit.rows {
            self.publish(row, event);
        }
        Ok(out)
    }

    /// Records one audit event on its own (for parts outside the D-Bus objects, such as the
    /// session monitor's step-up and logout reports): database, syslog and `EventLogged`.
    pub fn record_event(
        &self,
        event: Event,
        user: &str,
        outcome: &str,
        source: &str,
        service: &str,
    ) -> Result<(), Error> {
        self.commit(|tx, audit| audit.log(tx, event, user, outcome, source, service))
    }

    fn publish(&self, row: EventRow, event: Event) {
        self.syslog.event(&row, event);
        if let Some(conn) = self.conn.get() {
            let conn = conn.clone();
            let ev = row;
            self.rt.spawn(async move {
                let _ = conn
                    .emit_signal(
                        None::<&str>,
                        ADMIN_PATH,
                        ADMIN_INTERFACE,
                        "EventLogged",
                        &(ev,),
                    )
                    .await;
            });
        }
    }

    /// Runs blocking work (argon2) on the runtime's blocking pool.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        self.rt
            .spawn_blocking(f)
            .await
            .map_err(|e| Error::Unavailable(format!("internal task failed: {e}")))
    }

    /// [`State::blocking`] for a caller of `uid`: one non-root caller's work at a time.
    pub(crate) async fn blocking_as<T: Send + 'static>(
        &self,
        uid: u32,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        if uid == 0 {
            return self.blocking(f).await;
        }
        let _turn = self
            .unprivileged_work
            .acquire()
            .await
            .map_err(|e| Error::Unavailable(format!("internal task failed: {e}")))?;
        self.blocking(f).await
    }

    // Handle table.

    pub(crate) fn insert_session(
        &self,
        handle: String,
        owner: &str,
        uid: u32,
        timeout: Duration,
        session: Session,
    ) -> Result<(), Error> {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|handle, e| {
            let live = e.deadline > now;
            if !live {
                self.captures.close(handle);
            }
            live
        });
        admit(map.values().map(|e| (e.owner.as_str(), e.uid)), owner, uid)?;
        map.insert(
            handle,
            Entry {
                owner: owner.to_string(),
                uid,
                deadline: now + timeout,
                session: Arc::new(tokio::sync::Mutex::new(session)),
            },
        );
        Ok(())
    }

    /// The session of `handle` if `caller` began it and it has not timed out.
    /// The authentication `handle` names, if the calling connection began it.
    pub(crate) async fn caller_session(
        &self,
        hdr: &Header<'_>,
        handle: &str,
    ) -> Result<Arc<tokio::sync::Mutex<Session>>, Error> {
        let (caller, _) = self.caller(hdr).await?;
        self.session(handle, &caller)
    }

    fn session(
        &self,
        handle: &str,
        caller: &str,
    ) -> Result<Arc<tokio::sync::Mutex<Session>>, Error> {
        check_len("handle", handle)?;
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let stale = || Error::NoSuchHandle("unknown, finished or timed-out handle".into());
        let entry = map.get(handle).ok_or_else(stale)?;
        if entry.owner != caller {
            // Same answer as for an unknown handle: a handle's existence is not disclosed.
            return Err(stale());
        }
        if entry.deadline <= Instant::now() {
            map.remove(handle);
            self.captures.close(handle);
            return Err(stale());
        }
        Ok(entry.session.clone())
    }

    pub(crate) fn remove_session(&self, handle: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(handle);
        self.captures.close(handle);
    }

    /// Starts a trial for `user` (caller `owner` of `uid`), replacing the caller's earlier
    /// one; opens its capture.
    pub(crate) fn begin_trial(
        &self,
        owner: &str,
        uid: u32,
        user: &str,
        seat: &str,
        timeout: Duration,
    ) -> Result<String, Error> {
        let handle = auth::new_handle();
        let now = Instant::now();
        self.drop_trials(|t| t.owner == owner || t.deadline <= now);
        let mut trials = self.trials.lock().unwrap_or_else(|p| p.into_inner());
        admit_trial(trials.values().map(|t| t.uid), uid)?;
        trials.insert(
            handle.clone(),
            TrialEntry {
                owner: owner.to_string(),
                uid,
                deadline: now + timeout,
                user: user.to_string(),
            },
        );
        self.captures
            .open_on_seat(&handle, self.lost_events(), seat);
        Ok(handle)
    }

    /// Ends a trial of `owner`, returning its user; `NoSuchHandle` when unknown, foreign or
    /// timed out. Its capture window stays for the caller to take.
    pub(crate) fn end_trial(&self, handle: &str, owner: &str) -> Result<String, Error> {
        check_len("handle", handle)?;
        let mut trials = self.trials.lock().unwrap_or_else(|p| p.into_inner());
        let stale = || Error::NoSuchHandle("unknown, finished or timed-out trial".into());
        match trials.get(handle) {
            Some(t) if t.owner == owner && t.deadline > Instant::now() => {}
            Some(t) if t.owner == owner => {
                trials.remove(handle);
                self.captures.close(handle);
                return Err(stale());
            }
            _ => return Err(stale()),
        }
        trials.remove(handle).map(|t| t.user).ok_or_else(stale)
    }

    /// Drops every handle of a caller that left the bus.
    pub fn caller_left(&self, unique_name: &str) {
        self.uids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(unique_name);
        self.drop_trials(|t| t.owner == unique_name);
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<String> = map
            .iter()
            .filter(|(_, e)| e.owner == unique_name)
            .map(|(h, _)| h.clone())
            .collect();
        for h in gone {
            map.remove(&h);
            self.captures.close(&h);
        }
    }

    fn drop_trials(&self, f: impl Fn(&TrialEntry) -> bool) {
        let mut trials = self.trials.lock().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<String> = trials
            .iter()
            .filter(|(_, t)| f(t))
            .map(|(h, _)| h.clone())
            .collect();
        for h in gone {
            trials.remove(&h);
            self.captures.close(&h);
        }
    }

    /// Drops handles past their timeout (and their capture windows).
    pub fn expire_sessions(&self) {
        let now = Instant::now();
        self.drop_trials(|t| t.deadline <= now);
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<String> = map
            .iter()
            .filter(|(_, e)| e.deadline <= now)
            .map(|(h, _)| h.clone())
            .collect();
        for h in gone {
            map.remove(&h);
            self.captures.close(&h);
        }
    }

    pub fn active_sessions(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

/// Events of one transaction, published after it commits.
pub(crate) struct Audit {
    pub now: i64,
    rows: Vec<(EventRow, Event)>,
}

impl Audit {
    /// An event with its PAM service, no tty or remote host (see [`Audit::record`]).
    pub fn log(
        &mut self,
        tx: &Tx<'_>,
        event: Event,
        user: &str,
        outcome: &str,
        source: &str,
        service: &str,
    ) -> Result<(), StoreError> {
        self.record(
            tx,
            &Record {
                service,
                ..Record::new(event, user, outcome, source)
            },
        )
    }

    /// An event with every field, such as a lockout naming the login's service, tty and
    /// remote host.
    pub fn record(&mut self, tx: &Tx<'_>, record: &Record<'_>) -> Result<(), StoreError> {
        let row = record.insert(tx, self.now)?;
        self.rows.push((row, record.event));
        Ok(())
    }
}

/// Refuses strings over [`MAX_STRING_LEN`] bytes, naming the argument.
pub(crate) fn check_len(what: &str, s: &str) -> Result<(), Error> {
    if s.len() > MAX_STRING_LEN {
        return Err(Error::InvalidArgument(format!(
            "{what} is longer than {MAX_STRING_LEN} bytes"
        )));
    }
    Ok(())
}

/// Longest `service`, `tty` and `rhost` of `Auth1.Begin`, in bytes: a PAM service is a file
/// name in /etc/pam.d, a tty a device or display name, a remote host a DNS name (253) or an
/// address.
pub const MAX_SERVICE_LEN: usize = 64;
pub const MAX_TTY_LEN: usize = 64;
pub const MAX_RHOST_LEN: usize = 255;

/// `Auth1.Begin`'s `service`, `tty` and `rhost` as the PAM application gave them: bounded
/// and printable ASCII without spaces (no control character, so no terminal escape), since
/// they go into events, syslog and `behaviorctl`'s output. Empty is allowed (no tty, a local
/// login).
pub(crate) fn check_login_strings(service: &str, tty: &str, rhost: &str) -> Result<(), Error> {
    for (what, s, max) in [
        ("service", service, MAX_SERVICE_LEN),
        ("tty", tty, MAX_TTY_LEN),
        ("rhost", rhost, MAX_RHOST_LEN),
    ] {
        if s.len() > max {
            return Err(Error::InvalidArgument(format!(
                "{what} is longer than {max} bytes"
            )));
        }
        if let Some(c) = s.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(Error::InvalidArgument(format!(
                "{what} contains {:?}: only printable ASCII without spaces is allowed",
                c
            )));
        }
    }
    Ok(())
}

/// A user name as an argument: checked before any lookup.
pub(crate) fn check_user_name(user: &str) -> Result<(), Error> {
    check_len("user", user)?;
    if user.is_empty()
        || user.len() > 256
        || user.chars().any(|c| c.is_control() || c == '/' || c == ':')
    {
        return Err(Error::InvalidArgument(
            "user is not a valid user name".into(),
        ));
    }
    Ok(())
}

pub(crate) fn account(user: &str) -> Result<crate::accounts::Account, Error> {
    check_user_name(user)?;
    crate::accounts::by_name(user)
        .ok_or_else(|| Error::UnknownUser(format!("no user {user:?} on this system")))
}

/// "2 minutes" / "40 seconds" until `until_ms`.
pub(crate) fn remaining(until_ms: i64, now: i64) -> String {
    let secs = ((until_ms - now).max(0) + 999) / 1000;
    if secs >= 120 {
        format!("{} minutes", (secs + 59) / 60)
    } else {
        format!("{secs} seconds")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize, owner: &str, uid: u32) -> Vec<(String, u32)> {
        vec![(owner.to_string(), uid); n]
    }

    fn try_admit(table: &[(String, u32)], owner: &str, uid: u32) -> Result<(), Error> {
        admit(table.iter().map(|(o, u)| (o.as_str(), *u)), owner, uid)
    }

    #[test]
    fn one_user_cannot_fill_the_table_over_many_connections() {
        // 8 on each of two connections of uid 1000 reach the limit of that uid.
        let mut table = entries(MAX_SESSIONS_PER_USER / 2, ":1.5", 1000);
        table.extend(entries(MAX_SESSIONS_PER_USER / 2, ":1.6", 1000));
        let err = try_admit(&table, ":1.7", 1000).unwrap_err();
        assert!(err.to_string().contains("uid 1000 has too many"), "{err}");
        assert!(try_admit(&table, ":1.8", 1001).is_ok(), "another user");
        assert!(try_admit(&table, ":1.9", 0).is_ok(), "root");
    }

    #[test]
    fn root_keeps_room_when_users_fill_theirs() {
        let mut table = Vec::new();
        for k in 0..(MAX_SESSIONS - ROOT_RESERVE) / MAX_SESSIONS_PER_USER {
            table.extend(entries(
                MAX_SESSIONS_PER_USER,
                &format!(":1.{k}"),
                2000 + k as u32,
            ));
        }
        assert_eq!(table.len(), MAX_SESSIONS - ROOT_RESERVE);
        let err = try_admit(&table, ":2.1", 5000).unwrap_err();
        assert!(err.to_string().contains("there are too many"), "{err}");
        // Root's callers still get in, up to the whole table.
        for k in 0..ROOT_RESERVE {
            try_admit(&table, &format!(":3.{k}"), 0).unwrap();
            table.push((format!(":3.{k}"), 0));
        }
        assert!(try_admit(&table, ":4.1", 0).is_err(), "the table is full");
    }

    #[test]
    fn login_strings_are_printable_and_bounded() {
        assert!(check_login_strings("login", "tty1", "").is_ok());
        assert!(check_login_strings("gdm-password", ":0", "").is_ok());
        assert!(check_login_strings("sshd", "ssh", "fe80::1%eth0").is_ok());
        assert!(check_login_strings("", "", "").is_ok());
        for (args, what) in [
            (("log\x1b[2Jin", "tty1", ""), "service"),
            (("login", "tty1\n", ""), "tty"),
            (("login", "tty1", "host\u{9b}31m"), "rhost"),
            (("log in", "tty1", ""), "service"),
            (("login", "tty1", "h\u{202e}x"), "rhost"),
        ] {
            let (service, tty, rhost) = args;
            let err = check_login_strings(service, tty, rhost).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidArgument(m) if m.starts_with(what)),
                "{args:?}: {err}"
            );
        }
        let long = "a".repeat(MAX_SERVICE_LEN + 1);
        let err = check_login_strings(&long, "", "").unwrap_err();
        assert!(
            err.to_string().contains("service is longer than 64"),
            "{err}"
        );
        assert!(check_login_strings("", "", &"h".repeat(MAX_RHOST_LEN)).is_ok());
        assert!(check_login_strings("", "", &"h".repeat(MAX_RHOST_LEN + 1)).is_err());
    }

    #[test]
    fn one_uid_cannot_take_every_trial() {
        let open = [1000, 1000, 1001];
        let err = admit_trial(open.into_iter(), 1000).unwrap_err();
        assert!(err.to_string().contains("uid 1000 has 2 trials"), "{err}");
        assert!(admit_trial(open.into_iter(), 1001).is_ok());
        assert!(admit_trial(open.into_iter(), 0).is_ok());
        let full: Vec<u32> = (0..MAX_TRIALS as u32).map(|k| 2000 + k).collect();
        let err = admit_trial(full.into_iter(), 5000).unwrap_err();
        assert!(err.to_string().contains("too many trials"), "{err}");
    }

    #[test]
    fn a_user_s_setuid_callers_count_as_that_user() {
        assert_eq!(principal(0, None), 0, "a system service");
        assert_eq!(
            principal(0, Some(1000)),
            1000,
            "su or sudo started by uid 1000"
        );
        assert_eq!(principal(1000, Some(1000)), 1000);
        assert_eq!(principal(1001, None), 1001);
        // So uid 1000's setuid programs cannot take root's reserve.
        let mut table = Vec::new();
        for k in 0..MAX_SESSIONS_PER_USER {
            table.push((format!(":1.{k}"), principal(0, Some(1000))));
        }
        let err = try_admit(&table, ":2.1", principal(0, Some(1000))).unwrap_err();
        assert!(matches!(err, Error::PolicyDenied(_)), "{err}");
        assert!(try_admit(&table, ":2.2", principal(0, None)).is_ok());
    }

    #[test]
    fn one_connection_has_a_limit_even_for_root() {
        let table = entries(MAX_SESSIONS_PER_CALLER, ":1.1", 0);
        let err = try_admit(&table, ":1.1", 0).unwrap_err();
        assert!(
            err.to_string().contains("this caller has too many"),
            "{err}"
        );
        assert!(try_admit(&table, ":1.2", 0).is_ok());
    }
}

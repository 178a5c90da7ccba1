//! The monitors of the tracked sessions and the task that drives them.
//!
//! [`State`] is the synchronous part (which session gets which event, which action becomes
//! which logind call), fed `now` from the settings' clock; the task around it waits for key
//! events, logind signals and the monitors' deadlines, and carries out the calls with the
//! state unlocked.

use super::keys::Pairer;
use super::logind::{self, LogindEvent, ManagerProxy, SessionInfo};
use super::{
    Clock, MonitorError, MonitorPolicy, MonitorSettings, ProfileStore, ReportKind, SessionReport,
    LOCK_CONFIRM_MS, SEAT_OF_KEYBOARDS,
};
use crate::keyevent::KeyEvent;
use behavior_core::free::Profile;
use behavior_core::monitor::{Action, Monitor, MonitorConfig, MonitorEvent, Phase};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use zbus::export::futures_core::Stream;
use zbus::zvariant::OwnedObjectPath;
use zbus::{Connection, MessageStream};

/// One monitored session, for `behaviorctl status` / `monitor`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionStatus {
    pub session: String,
    pub user: String,
    pub seat: String,
    pub phase: Phase,
    /// Current risk (see [`behavior_core::monitor`]); `None` until a window was scored.
    pub risk: Option<f64>,
    /// Score of the last window (for live tuning).
    pub last_score: Option<f64>,
    /// Keystrokes in the monitor's window now.
    pub window_fill: usize,
    /// Keystrokes that reached the session since it was tracked.
    pub keystrokes: u64,
}

/// Running monitoring. Dropping it stops the task.
#[derive(Debug)]
pub struct MonitorHandle {
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl MonitorHandle {
    /// The monitored sessions, by session id.
    pub fn status(&self) -> Vec<SessionStatus> {
        lock(&self.state).status()
    }

    /// False once monitoring stopped (the key channel closed or the bus connection ended).
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}

impl Drop for MonitorHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug)]
struct Tracked {
    info: SessionInfo,
    monitor: Monitor,
    deadline: Option<u64>,
    keystrokes: u64,
    /// `LockSession` was called for this risk: `LockedHint` must turn true by this time.
    lock_pending: Option<(u64, f64)>,
}

/// A logind call or store write the state asks for.
#[derive(Debug, PartialEq)]
enum Effect {
    Lock {
        session: String,
        user: String,
        risk: f64,
    },
    Terminate {
        session: String,
        user: String,
        risk: f64,
    },
    /// logind's `LockedHint` confirms the lock asked for: report the step-up.
    Locked {
        session: String,
        user: String,
        risk: f64,
    },
    /// `LockedHint` did not turn true within [`LOCK_CONFIRM_MS`] of the lock: nothing locked
    /// the screen (`LockSession` succeeds without any locker): terminate instead.
    NotLocked {
        session: String,
        user: String,
        risk: f64,
    },
    Save {
        session: String,
        user: String,
        profile: Box<Profile>,
    },
}

#[derive(Debug)]
struct State {
    config: MonitorConfig,
    sessions: BTreeMap<String, Tracked>,
    /// The keyboards' seat's pairing (see [`SEAT_OF_KEYBOARDS`]).
    pairer: Pairer,
    asleep: bool,
}

impl State {
    fn new(config: MonitorConfig) -> State {
        State {
            config,
            sessions: BTreeMap::new(),
            pairer: Pairer::new(),
            asleep: false,
        }
    }

    fn status(&self) -> Vec<SessionStatus> {
        self.sessions
            .values()
            .map(|t| {
                let s = t.monitor.status();
                SessionStatus {
                    session: t.info.id.clone(),
                    user: t.info.user.clone(),
                    seat: t.info.seat.clone(),
                    phase: s.phase,
                    risk: s.risk,
                    last_score: s.last_score,
                    window_fill: s.window_fill,
                    keystrokes: t.keystrokes,
                }
            })
            .collect()
    }

    fn id_of(&self, path: &OwnedObjectPath) -> Option<String> {
        self.sessions
            .values()
            .find(|t| &t.info.path == path)
            .map(|t| t.info.id.clone())
    }

    /// Starts tracking a session with its monitor, brought to the session's state.
    fn add(&mut self, info: SessionInfo, monitor: Monitor, now: u64, out: &mut Vec<Effect>) {
        let id = info.id.clone();
        let mut events = Vec::new();
        if !info.active {
            events.push(MonitorEvent::Deactivated);
        }
        // A session found locked is not paused: only a lock of the monitor's own is.
        if self.asleep {
            events.push(MonitorEvent::Sleep);
        }
        self.sessions.insert(
            id.clone(),
            Tracked {
                info,
                monitor,
                deadline: None,
                keystrokes: 0,
                lock_pending: None,
            },
        );
        for e in events {
            self.feed(&id, e, now, out);
        }
    }

    fn remove(&mut self, id: &str) {
        self.sessions.remove(id);
    }

    /// One event to one session's monitor; its actions become effects.
    fn feed(&mut self, id: &str, event: MonitorEvent, now: u64, out: &mut Vec<Effect>) {
        let Some(t) = self.sessions.get_mut(id) else {
            return;
        };
        let output = t.monitor.handle(event, now);
        t.deadline = output.next_deadline;
        let (session, user) = (t.info.id.clone(), t.info.user.clone());
        for action in output.actions {
            out.push(match action {
                Action::Lock { risk } => Effect::Lock {
                    session: session.clone(),
                    user: user.clone(),
                    risk,
                },
                Action::Terminate { risk } => Effect::Terminate {
                    session: session.clone(),
                    user: user.clone(),
                    risk,
                },
                Action::ProfileLearned(profile) => Effect::Save {
                    session: session.clone(),
                    user: user.clone(),
                    profile: Box::new(profile),
                },
            });
        }
    }

    /// A key event of a keyboard: its keystrokes go to the active session(s) of the seat.
    fn key(&mut self, ev: KeyEvent, now: u64, out: &mut Vec<Effect>) {
        if self.asleep {
            return;
        }
        let mut keystrokes = Vec::new();
        self.pairer.push(ev, &mut keystrokes);
        if keystrokes.is_empty() {
            return;
        }
        let targets: Vec<String> = self
            .sessions
            .values()
            .filter(|t| t.info.active && t.info.seat == SEAT_OF_KEYBOARDS)
            .map(|t| t.info.id.clone())
            .collect();
        for id in targets {
            for k in &keystrokes {
                if let Some(t) = self.sessions.get_mut(&id) {
                    t.keystrokes += 1;
                }
                self.feed(&id, MonitorEvent::Key(*k), now, out);
            }
        }
    }

    fn sleep(&mut self, asleep: bool, now: u64, out: &mut Vec<Effect>) {
        self.asleep = asleep;
        self.pairer.clear();
        let event = if asleep {
            MonitorEvent::Sleep
        } else {
            MonitorEvent::Resume
        };
        for id in self.ids() {
            self.feed(&id, event, now, out);
        }
    }

    /// Applies a session's fresh `Active` / `LockedHint` values.
    fn update(
        &mut self,
        id: &str,
        active: Option<bool>,
        locked: Option<bool>,
        now: u64,
        out: &mut Vec<Effect>,
    ) {
        let Some(t) = self.sessions.get_mut(id) else {
            return;
        };
        let mut events = Vec::new();
        if let Some(a) = active.filter(|a| *a != t.info.active) {
            t.info.active = a;
            events.push(if a {
                MonitorEvent::Activated
            } else {
                MonitorEvent::Deactivated
            });
        }
        if let Some(l) = locked.filter(|l| *l != t.info.locked) {
            t.info.locked = l;
            // LockedHint is the session owner's to set: true only confirms a lock the
            // monitor asked for (it never pauses scoring by itself); false is the unlock.
            if !l {
                events.push(MonitorEvent::Unlocked);
            } else if let Some((_, risk)) = t.lock_pending.take() {
                out.push(Effect::Locked {
                    session: t.info.id.clone(),
                    user: t.info.user.clone(),
                    risk,
                });
            }
        }
        if events.contains(&MonitorEvent::Activated) || events.contains(&MonitorEvent::Deactivated)
        {
            // Keys half-typed across a session switch belong to neither session.
            self.pairer.clear();
        }
        for e in events {
            self.feed(id, e, now, out);
        }
    }

    /// `LockSession` succeeded for session `id`: the step-up is reported once `LockedHint`
    /// says the screen is locked, now or within [`LOCK_CONFIRM_MS`].
    fn lock_sent(&mut self, id: &str, risk: f64, now: u64, out: &mut Vec<Effect>) {
        let Some(t) = self.sessions.get_mut(id) else {
            return;
        };
        if t.info.locked {
            out.push(Effect::Locked {
                session: t.info.id.clone(),
                user: t.info.user.clone(),
                risk,
            });
        } else {
            t.lock_pending = Some((now.saturating_add(LOCK_CONFIRM_MS), risk));
        }
    }

    /// The monitor's lock did not hold and the session could not be ended: score its typing
    /// again (after grace, as after an unlock) rather than stay paused.
    fn resume(&mut self, id: &str, now: u64, out: &mut Vec<Effect>) {
        self.feed(id, MonitorEvent::Unlocked, now, out);
    }

    fn tick(&mut self, now: u64, out: &mut Vec<Effect>) {
        for t in self.sessions.values_mut() {
            if let Some((_, risk)) = t.lock_pending.filter(|(by, _)| *by <= now) {
                t.lock_pending = None;
                out.push(Effect::NotLocked {
                    session: t.info.id.clone(),
                    user: t.info.user.clone(),
                    risk,
                });
            }
        }
        let due: Vec<String> = self
            .sessions
            .values()
            .filter(|t| t.deadline.is_some_and(|d| d <= now))
            .map(|t| t.info.id.clone())
            .collect();
        for id in due {
            self.feed(&id, MonitorEvent::Tick, now, out);
        }
    }

    fn next_deadline(&self) -> Option<u64> {
        let pending = self.sessions.values().filter_map(|t| t.lock_pending);
        let monitors = self.sessions.values().filter_map(|t| t.deadline);
        monitors.chain(pending.map(|(by, _)| by)).min()
    }

    fn ids(&self) -> Vec<String> {
        self.sessions.keys().cloned().collect()
    }
}

/// The task's parts.
struct Runner {
    conn: Connection,
    manager: ManagerProxy<'static>,
    state: Arc<Mutex<State>>,
    profiles: Arc<dyn ProfileStore>,
    reports: UnboundedSender<SessionReport>,
    policy: MonitorPolicy,
    clock: Arc<dyn Clock>,
}

pub(super) async fn start(
    conn: Connection,
    keys: UnboundedReceiver<KeyEvent>,
    settings: MonitorSettings,
    profiles: Arc<dyn ProfileStore>,
    reports: UnboundedSender<SessionReport>,
    policy: MonitorPolicy,
) -> Result<MonitorHandle, MonitorError> {
    // Subscribe first: a session appearing while the list is read is not missed.
    let signals = logind::subscribe(&conn).await?;
    let manager = ManagerProxy::new(&conn).await?;
    let listed = manager.list_sessions().await?;
    let state = Arc::new(Mutex::new(State::new(settings.config)));
    let runner = Runner {
        conn,
        manager,
        state: Arc::clone(&state),
        profiles,
        reports,
        policy,
        clock: settings.clock,
    };
    for (_, _, _, _, path) in listed {
        runner.discover(&path).await;
    }
    let task = tokio::spawn(runner.run(keys, signals));
    Ok(MonitorHandle { state, task })
}

/// The next item of a stream.
async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

impl Runner {
    async fn run(self, mut keys: UnboundedReceiver<KeyEvent>, mut signals: MessageStream) {
        loop {
            let wait = lock(&self.state)
                .next_deadline()
                .map(|d| self.clock.real_wait(d.saturating_sub(self.clock.now_ms())));
            let effects = tokio::select! {
                // Keys first: a logind change is applied after the keys typed before it.
                biased;
                ev = keys.recv() => {
                    let Some(ev) = ev else { return };
                    let mut out = Vec::new();
                    lock(&self.state).key(ev, self.clock.now_ms(), &mut out);
                    out
                }
                msg = next(&mut signals) => {
                    let Some(msg) = msg else { return };
                    match msg.ok().as_ref().and_then(logind::parse_signal) {
                        Some(event) => self.logind(event).await,
                        None => Vec::new(),
                    }
                }
                _ = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => {
                    let mut out = Vec::new();
                    lock(&self.state).tick(self.clock.now_ms(), &mut out);
                    out
                }
            };
            self.carry_out(effects).await;
        }
    }

    /// Reads a session logind announced and tracks it if it is to be monitored.
    async fn discover(&self, path: &OwnedObjectPath) {
        // A session that ended meanwhile cannot be read: nothing to monitor.
        let Ok(info) = logind::session_info(&self.conn, path).await else {
            return;
        };
        if !info.is_local_user_session() || !(self.policy)(&info.user) {
            return;
        }
        let config = lock(&self.state).config.clone();
        let monitor = match self.profiles.load(&info.user) {
            Ok(Some(profile)) => Monitor::with_profile(config, profile),
            Ok(None) => Monitor::learning(config),
            Err(e) => {
                self.report(&info.id, &info.user, ReportKind::NotMonitored, Some(e));
                return;
            }
        };
        let monitor = match monitor {
            Ok(m) => m,
            // The settings were validated at start; kept for completeness.
            Err(e) => {
                self.report(&info.id, &info.user, ReportKind::NotMonitored, Some(e));
                return;
            }
        };
        let mut out = Vec::new();
        lock(&self.state).add(info, monitor, self.clock.now_ms(), &mut out);
        self.carry_out(out).await;
    }

    async fn logind(&self, event: LogindEvent) -> Vec<Effect> {
        let mut out = Vec::new();
        match event {
            LogindEvent::SessionNew { id, path } => {
                if lock(&self.state).sessions.contains_key(&id) {
                    return out;
                }
                self.discover(&path).await;
            }
            LogindEvent::SessionRemoved { id } => lock(&self.state).remove(&id),
            LogindEvent::Sleep(asleep) => {
                lock(&self.state).sleep(asleep, self.clock.now_ms(), &mut out)
            }
            LogindEvent::Changed {
                path,
                active,
                locked,
            } => {
                let Some(id) = lock(&self.state).id_of(&path) else {
                    return out;
                };
                let (mut active, mut locked) = (active.flatten(), locked.flatten());
                if active.is_none() || locked.is_none() {
                    // Invalidated without a value: read it again.
                    if let Ok(info) = logind::session_info(&self.conn, &path).await {
                        active = active.or(Some(info.active));
                        locked = locked.or(Some(info.locked));
                    }
                }
                lock(&self.state).update(&id, active, locked, self.clock.now_ms(), &mut out);
            }
            // logind sends `Lock` for any `LockSession`, the owner's included, whether or not
            // a locker answers it: it neither pauses scoring nor confirms a lock.
            LogindEvent::Lock { .. } => {}
            LogindEvent::Unlock { path } => self.signal(&path, MonitorEvent::Unlocked, &mut out),
        }
        out
    }

    /// A session's `Lock` / `Unlock` signal.
    fn signal(&self, path: &OwnedObjectPath, event: MonitorEvent, out: &mut Vec<Effect>) {
        let mut state = lock(&self.state);
        if let Some(id) = state.id_of(path) {
            state.feed(&id, event, self.clock.now_ms(), out);
        }
    }

    async fn carry_out(&self, effects: Vec<Effect>) {
        let mut queue = VecDeque::from(effects);
        while let Some(effect) = queue.pop_front() {
            let mut out = Vec::new();
            match effect {
                Effect::Lock {
                    session,
                    user,
                    risk,
                } => match self.manager.lock_session(&session).await {
                    Ok(()) => {
                        lock(&self.state).lock_sent(&session, risk, self.clock.now_ms(), &mut out)
                    }
                    Err(e) => {
                        self.report(&session, &user, ReportKind::StepUp { risk }, Some(e));
                        self.terminate_unlocked(&session, &user, risk, &mut out)
                            .await;
                    }
                },
                Effect::Locked {
                    session,
                    user,
                    risk,
                } => self.report(&session, &user, ReportKind::StepUp { risk }, None::<String>),
                Effect::NotLocked {
                    session,
                    user,
                    risk,
                } => {
                    self.report(
                        &session,
                        &user,
                        ReportKind::NotLocked { risk },
                        None::<String>,
                    );
                    self.terminate_unlocked(&session, &user, risk, &mut out)
                        .await;
                }
                Effect::Terminate {
                    session,
                    user,
                    risk,
                } => {
                    let r = self.manager.terminate_session(&session).await;
                    self.report(&session, &user, ReportKind::Terminated { risk }, r.err());
                }
                Effect::Save {
                    session,
                    user,
                    profile,
                } => {
                    let r = self.profiles.save(&user, &profile);
                    self.report(&session, &user, ReportKind::ProfileLearned, r.err());
                }
            }
            queue.extend(out);
        }
    }

    /// A lock was refused or did not hold: the suspected typist must not keep an unwatched
    /// session, so it is ended; if even that fails, its typing is scored again.
    async fn terminate_unlocked(
        &self,
        session: &str,
        user: &str,
        risk: f64,
        out: &mut Vec<Effect>,
    ) {
        let r = self.manager.terminate_session(session).await;
        let failed = r.is_err();
        self.report(session, user, ReportKind::Terminated { risk }, r.err());
        if failed {
            lock(&self.state).resume(session, self.clock.now_ms(), out);
        }
    }

    fn report<E: std::fmt::Display>(
        &self,
        session: &str,
        user: &str,
        kind: ReportKind,
        error: Option<E>,
    ) {
        // The daemon may have stopped listening; monitoring goes on regardless.
        let _ = self.reports.send(SessionReport {
            session: session.to_string(),
            user: user.to_string(),
            kind,
            error: error.map(|e| e.to_string()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use behavior_core::free::ProfileBuilder;
    use behavior_core::{Key, Keystroke};

    fn info(id: &str, seat: &str, active: bool) -> SessionInfo {
        SessionInfo {
            id: id.into(),
            path: OwnedObjectPath::try_from(format!("/org/freedesktop/login1/session/{id}"))
                .unwrap(),
            user: format!("user-{id}"),
            seat: seat.into(),
            active,
            remote: false,
            class: "user".into(),
            locked: false,
        }
    }

    /// Some typing: keystrokes 150 ms apart, each held 80 ms, over a few letters.
    fn typing(from_ms: i64, n: usize) -> Vec<KeyEvent> {
        let mut out = Vec::new();
        for i in 0..n {
            let t = from_ms + 150 * i as i64;
            let code = [20, 35, 18, 57, 30, 31][i % 6];
            for (pressed, at) in [(true, t), (false, t + 80)] {
                out.push(KeyEvent {
                    device: 1,
                    code,
                    pressed,
                    time_us: at * 1000,
                });
            }
        }
        out
    }

    fn profile() -> Profile {
        let mut b = ProfileBuilder::new();
        for i in 0..300 {
            let down = 150.0 * i as f64 + (i % 7) as f64 * 9.0;
            b.push(Keystroke {
                key: Key([20, 35, 18, 57, 30, 31][i % 6]),
                down,
                up: down + 80.0 + (i % 5) as f64 * 7.0,
            });
        }
        b.build().unwrap()
    }

    fn learning() -> Monitor {
        Monitor::learning(MonitorConfig::default()).unwrap()
    }

    fn phase(state: &State, id: &str) -> Phase {
        state
            .status()
            .into_iter()
            .find(|s| s.session == id)
            .unwrap()
            .phase
    }

    fn keystrokes(state: &State) -> Vec<(String, u64)> {
        state
            .status()
            .into_iter()
            .map(|s| (s.session, s.keystrokes))
            .collect()
    }

    fn feed_keys(state: &mut State, keys: &[KeyEvent]) -> Vec<Effect> {
        let mut out = Vec::new();
        for k in keys {
            state.key(*k, 0, &mut out);
        }
        out
    }

    #[test]
    fn keys_reach_only_the_active_session_on_the_keyboards_seat() {
        let mut state = State::new(MonitorConfig::default());
        let mut out = Vec::new();
        state.add(info("a", "seat0", true), learning(), 0, &mut out);
        state.add(info("b", "seat0", false), learning(), 0, &mut out);
        state.add(info("c", "seat1", true), learning(), 0, &mut out);
        assert_eq!(phase(&state, "b"), Phase::Paused);
        assert!(feed_keys(&mut state, &typing(0, 5)).is_empty());
        assert_eq!(
            keystrokes(&state),
            vec![("a".into(), 5), ("b".into(), 0), ("c".into(), 0)]
        );
        assert_eq!(
            phase(&state, "a"),
            Phase::Learning {
                keystrokes: 5,
                needed: 400
            }
        );
        assert!(out.is_empty());
    }

    #[test]
    fn a_session_switch_moves_typing_and_drops_half_typed_keys() {
        let mut state = State::new(MonitorConfig::default());
        let mut out = Vec::new();
        state.add(info("a", "seat0", true), learning(), 0, &mut out);
        state.add(info("b", "seat0", false), learning(), 0, &mut out);
        let keys = typing(0, 3);
        // A press before the switch, its release after: neither session's keystroke.
        feed_keys(&mut state, &keys[..1]);
        state.update("a", Some(false), None, 10, &mut out);
        state.update("b", Some(true), None, 10, &mut out);
        feed_keys(&mut state, &keys[1..]);
        assert_eq!(keystrokes(&state), vec![("a".into(), 0), ("b".into(), 2)]);
        assert_eq!(phase(&state, "a"), Phase::Paused);
        // An unchanged value is no event.
        state.update("b", Some(true), Some(false), 20, &mut out);
        assert_eq!(keystrokes(&state), vec![("a".into(), 0), ("b".into(), 2)]);
        assert!(out.is_empty());
    }

    #[test]
    fn sleep_pauses_every_session_and_drops_keys() {
        let mut state = State::new(MonitorConfig::default());
        let mut out = Vec::new();
        state.add(info("a", "seat0", true), learning(), 0, &mut out);
        let keys = typing(0, 4);
        feed_keys(&mut state, &keys[..1]);
        state.sleep(true, 5, &mut out);
        assert_eq!(phase(&state, "a"), Phase::Paused);
        // A session appearing during sleep starts paused too.
        state.add(info("b", "seat1", true), learning(), 5, &mut out);
        assert_eq!(phase(&state, "b"), Phase::Paused);
        feed_keys(&mut state, &keys[1..]);
        assert_eq!(state.pairer.pending(), 0);
        state.sleep(false, 6, &mut out);
        assert!(matches!(phase(&state, "a"), Phase::Learning { .. }));
        feed_keys(&mut state, &typing(10_000, 2));
        assert_eq!(keystrokes(&state), vec![("a".into(), 2), ("b".into(), 0)]);
    }

    #[test]
    fn the_owners_locked_hint_does_not_pause_scoring() {
        let config = MonitorConfig::default();
        let mut state = State::new(config.clone());
        let mut out = Vec::new();
        let m = Monitor::with_profile(config, profile()).unwrap();
        let mut found_locked = info("a", "seat0", true);
        found_locked.locked = true;
        state.add(found_locked, m, 0, &mut out);
        assert_eq!(phase(&state, "a"), Phase::Monitoring, "found locked");
        state.update("a", None, Some(false), 50, &mut out);
        state.update("a", None, Some(true), 100, &mut out);
        assert_eq!(phase(&state, "a"), Phase::Monitoring);
        // Typing goes on being scored.
        feed_keys(&mut state, &typing(0, 3));
        assert_eq!(state.status()[0].window_fill, 3);
        assert!(out.is_empty(), "{out:?}");
    }

    fn step_up(id: &str, risk: f64) -> Effect {
        Effect::Locked {
            session: id.into(),
            user: format!("user-{id}"),
            risk,
        }
    }

    #[test]
    fn a_lock_is_reported_once_locked_hint_shows_it_and_terminated_when_it_does_not() {
        let mut state = State::new(MonitorConfig::default());
        let mut out = Vec::new();
        state.add(info("a", "seat0", true), learning(), 0, &mut out);
        state.add(info("b", "seat0", false), learning(), 0, &mut out);
        state.lock_sent("a", 2.5, 1_000, &mut out);
        state.lock_sent("b", 2.0, 1_000, &mut out);
        assert!(out.is_empty());
        let by = 1_000 + LOCK_CONFIRM_MS;
        assert_eq!(state.next_deadline(), Some(by));
        // a's locker sets LockedHint: the step-up is reported, nothing is due any more.
        state.update("a", None, Some(true), 1_200, &mut out);
        assert_eq!(out, vec![step_up("a", 2.5)]);
        out.clear();
        state.tick(by - 1, &mut out);
        assert!(out.is_empty());
        // b's lock did not hold.
        state.tick(by, &mut out);
        assert_eq!(
            out,
            vec![Effect::NotLocked {
                session: "b".into(),
                user: "user-b".into(),
                risk: 2.0
            }]
        );
        out.clear();
        state.update("b", None, Some(true), by + 10, &mut out);
        assert!(out.is_empty(), "too late: b is being terminated");
        // A session locked already when the monitor locks it is confirmed at once.
        state.lock_sent("a", 3.0, 9_000, &mut out);
        assert_eq!(out, vec![step_up("a", 3.0)]);
        assert_eq!(state.next_deadline(), None);
    }

    #[test]
    fn only_the_monitors_own_lock_pauses_and_the_unlock_starts_grace() {
        let config = MonitorConfig {
            window: 10,
            step: 10,
            logout: None,
            ..MonitorConfig::default()
        };
        let mut state = State::new(config.clone());
        let mut out = Vec::new();
        let m = Monitor::with_profile(config.clone(), profile()).unwrap();
        state.add(info("a", "seat0", true), m, 0, &mut out);
        // Typing unlike the profile: held 5 ms, 900 ms apart.
        let odd: Vec<KeyEvent> = (0..40)
            .flat_map(|i| {
                let t = 900 * i as i64;
                [(true, t), (false, t + 5)].map(|(pressed, at)| KeyEvent {
                    device: 1,
                    code: 30,
                    pressed,
                    time_us: at * 1000,
                })
            })
            .collect();
        for k in &odd {
            state.key(*k, 100, &mut out);
            if !out.is_empty() {
                break;
            }
        }
        let [Effect::Lock { risk, .. }] = out.as_slice() else {
            panic!("{out:?}")
        };
        let risk = *risk;
        assert_eq!(phase(&state, "a"), Phase::Locked);
        out.clear();
        state.lock_sent("a", risk, 100, &mut out);
        state.update("a", None, Some(true), 200, &mut out);
        assert_eq!(out, vec![step_up("a", risk)]);
        out.clear();
        state.update("a", None, Some(false), 1_000, &mut out);
        let until = 1_000 + config.grace_ms;
        assert_eq!(phase(&state, "a"), Phase::Grace { until });
        state.tick(until, &mut out);
        assert_eq!(phase(&state, "a"), Phase::Monitoring);
        // A lock that did not hold and a session that could not be ended: scored again.
        state.resume("a", until, &mut out);
        assert!(out.is_empty());
        state.remove("a");
        assert!(state.status().is_empty());
    }
}

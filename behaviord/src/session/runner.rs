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
    SEAT_OF_KEYBOARDS,
};
use crate::keyevent::KeyEvent;
use behavior_core::free::Profile;
use behavior_core::monitor::{Action, Monitor, MonitorConfig, MonitorEvent, Phase};
use serde::Serialize;
use std::collections::BTreeMap;
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
        if info.locked {
            events.push(MonitorEvent::Locked);
        }
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
            events.push(if l {
                MonitorEvent::Locked
            } else {
                MonitorEvent::Unlocked
            });
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

    fn tick(&mut self, now: u64, out: &mut Vec<Effect>) {
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
        self.sessions.values().filter_map(|t| t.deadline).min()
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
            LogindEvent::Lock { path } => self.signal(&path, MonitorEvent::Locked, &mut out),
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
        for effect in effects {
            match effect {
                Effect::Lock {
                    session,
                    user,
                    risk,
                } => {
                    let locked = self.manager.lock_session(&session).await;
                    let failed = locked.is_err();
                    self.report(&session, &user, ReportKind::StepUp { risk }, locked.err());
                    if failed {
                        // The monitor now ignores the session's typing as the lock
                        // screen's, but nothing locked it: end it rather than leave the
                        // suspected typist an unwatched session.
                        let r = self.manager.terminate_session(&session).await;
                        self.report(&session, &user, ReportKind::Terminated { risk }, r.err());
                    }
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
    fn locked_hint_locks_and_its_clearing_starts_grace_until_the_deadline() {
        let config = MonitorConfig::default();
        let mut state = State::new(config.clone());
        let mut out = Vec::new();
        let m = Monitor::with_profile(config.clone(), profile()).unwrap();
        state.add(info("a", "seat0", true), m, 0, &mut out);
        assert_eq!(phase(&state, "a"), Phase::Monitoring);
        state.update("a", None, Some(true), 100, &mut out);
        assert_eq!(phase(&state, "a"), Phase::Locked);
        // Typing on the lock screen reaches the session but is not scored.
        feed_keys(&mut state, &typing(0, 3));
        assert_eq!(state.status()[0].window_fill, 0);
        state.update("a", None, Some(false), 1_000, &mut out);
        let until = 1_000 + config.grace_ms;
        assert_eq!(phase(&state, "a"), Phase::Grace { until });
        assert_eq!(state.next_deadline(), Some(until));
        state.tick(until - 1, &mut out);
        assert_eq!(phase(&state, "a"), Phase::Grace { until });
        state.tick(until, &mut out);
        assert_eq!(phase(&state, "a"), Phase::Monitoring);
        assert_eq!(state.next_deadline(), None);
        assert!(out.is_empty());
        // Removed sessions are forgotten.
        state.remove("a");
        assert!(state.status().is_empty());
    }

    #[test]
    fn a_session_found_locked_starts_locked() {
        let mut state = State::new(MonitorConfig::default());
        let mut out = Vec::new();
        let mut i = info("a", "seat0", true);
        i.locked = true;
        state.add(i, learning(), 0, &mut out);
        assert_eq!(phase(&state, "a"), Phase::Locked);
    }
}

//! Session monitoring end to end: a private system bus, python-dbusmock's logind template as
//! logind, and the daemon's monitor (`behaviord::session::spawn`) fed real typing from the
//! Aalto free-text data (`tests/fixtures/monitor_aalto.jsonl`: subjects a113 and a112 of
//! `aalto_dev.jsonl.gz`, Dhakal et al., CHI 2018, non-commercial use with attribution),
//! replayed as raw evdev events through the daemon's input decoding
//! (`behaviord::input::replay`).
//!
//! a113 owns the session; a112 is the other typist. The mock records every method call, so
//! the tests read back whether `LockSession` / `TerminateSession` were called.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use behavior_core::eval_free::join;
use behavior_core::free::{Profile, ProfileBuilder};
use behavior_core::monitor::{MonitorConfig, Phase};
use behavior_core::{Keystroke, LabeledSample};
use behavior_tests::logind_mock::{session_path, MockLogind, LOGIND, MANAGER, ROOT, SESSION};
use behavior_tests::{recorded_event, workspace_root, PrivateBus};
use behaviord::keyevent::KeyEvent;
use behaviord::session::{
    self, Clock, MonitorHandle, MonitorSettings, MonotonicClock, Pairer, ProfileStore, ReportKind,
    SessionReport, SessionStatus, StoreError,
};
use evdev::InputEvent;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use zbus::zvariant::{ObjectPath, Value};
use zbus::Connection;

const OWNER: &str = "a113";
const OTHER: &str = "a112";

fn samples(subject: &str) -> Vec<LabeledSample> {
    let text = std::fs::read_to_string(workspace_root().join("tests/fixtures/monitor_aalto.jsonl"))
        .unwrap();
    let out: Vec<LabeledSample> = text
        .lines()
        .map(|l| LabeledSample::parse_line(l).unwrap())
        .filter(|s| s.subject == subject)
        .collect();
    assert_eq!(out.len(), 15, "{subject}");
    out
}

/// The owner's profile from their first 10 samples, as the store would hold it.
fn owner_profile() -> Profile {
    let mut b = ProfileBuilder::new();
    for s in &samples(OWNER)[..10] {
        b.add(&s.sample.keys);
    }
    b.build().unwrap()
}

/// The samples joined end to end (a minute apart) as one stream of keystrokes.
fn keystrokes_of(samples: &[LabeledSample]) -> Vec<Keystroke> {
    let refs: Vec<&LabeledSample> = samples.iter().collect();
    join(&refs)
}

/// Keystrokes as one keyboard's raw evdev events (press and release frames in time order,
/// kernel-like microsecond timestamps).
fn raw_events(keys: &[Keystroke]) -> Vec<InputEvent> {
    let base_us = 1_700_000_000_000_000_i64;
    let mut edges: Vec<(i64, u16, i32)> = Vec::new();
    for k in keys {
        edges.push((base_us + (k.down * 1000.0) as i64, k.key.0, 1));
        edges.push((base_us + (k.up * 1000.0) as i64, k.key.0, 0));
    }
    edges.sort_by_key(|e| e.0);
    edges
        .into_iter()
        .flat_map(|(us, code, value)| {
            [
                recorded_event(us, 1, code, value),
                recorded_event(us, 0, 0, 0),
            ]
        })
        .collect()
}

/// Replays the samples through the daemon's input decoding into `tx`; returns how many
/// keystrokes they make once paired (what the monitor will be fed).
fn type_samples(samples: &[LabeledSample], tx: &UnboundedSender<KeyEvent>) -> u64 {
    type_keys(&keystrokes_of(samples), tx)
}

/// [`type_samples`] for keystrokes.
fn type_keys(keys: &[Keystroke], tx: &UnboundedSender<KeyEvent>) -> u64 {
    let events = raw_events(keys);
    let (count_tx, mut count_rx) = unbounded_channel();
    behaviord::input::replay(1, &events, &count_tx).unwrap();
    let mut pairer = Pairer::new();
    let mut keystrokes = Vec::new();
    while let Ok(ev) = count_rx.try_recv() {
        pairer.push(ev, &mut keystrokes);
    }
    assert_eq!(behaviord::input::replay(1, &events, tx).unwrap(), 0);
    keystrokes.len() as u64
}

/// The daemon's store stand-in; `broken` makes every call fail as a locked database would.
#[derive(Default)]
struct MemoryStore {
    profiles: Mutex<HashMap<String, Profile>>,
    broken: bool,
}

impl ProfileStore for MemoryStore {
    fn load(&self, user: &str) -> Result<Option<Profile>, StoreError> {
        if self.broken {
            return Err("database is locked".into());
        }
        Ok(self.profiles.lock().unwrap().get(user).cloned())
    }
    fn save(&self, user: &str, profile: &Profile) -> Result<(), StoreError> {
        if self.broken {
            return Err("database is locked".into());
        }
        self.profiles
            .lock()
            .unwrap()
            .insert(user.into(), profile.clone());
        Ok(())
    }
}

/// A clock the test moves.
#[derive(Default)]
struct TestClock(AtomicU64);

impl Clock for TestClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    fn real_wait(&self, _: u64) -> Duration {
        Duration::from_millis(20)
    }
}

/// A bus, logind with alice's active local session `c1` on seat0, and the monitor.
struct Rig {
    conn: Connection,
    keys: UnboundedSender<KeyEvent>,
    reports: UnboundedReceiver<SessionReport>,
    store: Arc<MemoryStore>,
    handle: MonitorHandle,
    logind: MockLogind,
    _bus: PrivateBus,
}

impl Rig {
    async fn start(config: MonitorConfig, store: MemoryStore) -> Rig {
        Rig::start_with_clock(config, store, Arc::new(MonotonicClock::default())).await
    }

    async fn start_with_clock(
        config: MonitorConfig,
        store: MemoryStore,
        clock: Arc<dyn Clock>,
    ) -> Rig {
        let bus = PrivateBus::start();
        let conn = zbus::connection::Builder::address(bus.address())
            .unwrap()
            .build()
            .await
            .unwrap();
        let logind = MockLogind::start(&bus);
        logind.lock_screen_on_lock_session();
        logind.add_session("c1", "seat0", 1000, "alice", true);
        // Never monitored: a user the policy leaves out, and a remote session.
        logind.add_session("c2", "seat0", 1001, "bob", true);
        logind.add_session("c3", "seat0", 1002, "carol", true);
        logind.set_session("c3", "Remote", Value::from(true));
        let (keys, keys_rx) = unbounded_channel();
        let (reports_tx, reports) = unbounded_channel();
        let store = Arc::new(store);
        let handle = session::spawn(
            conn.clone(),
            keys_rx,
            MonitorSettings { config, clock },
            store.clone(),
            reports_tx,
            Arc::new(|user: &str| user != "bob"),
        )
        .await
        .unwrap();
        Rig {
            conn,
            keys,
            reports,
            store,
            handle,
            logind,
            _bus: bus,
        }
    }

    /// logind's `PrepareForSleep(asleep)`.
    fn prepare_for_sleep(&self, asleep: bool) {
        let args = vec![Value::from(asleep)];
        self.logind
            .emit(ROOT, MANAGER, "PrepareForSleep", "b", args);
    }

    /// The mock session `id` emits logind's `Unlock` (the screen locker ran the PAM stack).
    async fn unlock(&self, id: &str) {
        self.conn
            .call_method(
                Some(LOGIND),
                session_path(id).as_str(),
                Some(SESSION),
                "Unlock",
                &(),
            )
            .await
            .unwrap();
    }

    fn session(&self, id: &str) -> Option<SessionStatus> {
        self.handle.status().into_iter().find(|s| s.session == id)
    }

    /// Waits (up to 10 s) until the session's status satisfies `f`.
    async fn wait(
        &self,
        id: &str,
        what: &str,
        f: impl Fn(&SessionStatus) -> bool,
    ) -> SessionStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.session(id).filter(|s| f(s)) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {what}: {:?}",
                self.handle.status()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn next_report(&mut self) -> SessionReport {
        tokio::time::timeout(Duration::from_secs(10), self.reports.recv())
            .await
            .expect("no report within 10 s")
            .unwrap()
    }
}

fn default_profile_store() -> MemoryStore {
    let store = MemoryStore::default();
    store.save("alice", &owner_profile()).unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_local_sessions_of_monitored_users_are_tracked() {
    let rig = Rig::start(MonitorConfig::default(), MemoryStore::default()).await;
    let status = rig.handle.status();
    assert_eq!(status.len(), 1, "{status:?}");
    assert_eq!(status[0].session, "c1");
    assert_eq!(status[0].user, "alice");
    assert_eq!(status[0].seat, "seat0");
    assert_eq!(
        status[0].phase,
        Phase::Learning {
            keystrokes: 0,
            needed: 400
        }
    );
    // A session logind announces later is tracked, and dropped when it ends.
    rig.logind.add_session("c4", "seat0", 1003, "dave", false);
    let path = session_path("c4");
    let path = ObjectPath::try_from(path.as_str()).unwrap();
    let manager = "org.freedesktop.login1.Manager";
    rig.logind.emit(
        ROOT,
        manager,
        "SessionNew",
        "so",
        vec![Value::from("c4"), Value::from(path.clone())],
    );
    let s = rig.wait("c4", "the new session", |_| true).await;
    assert_eq!(s.user, "dave");
    assert_eq!(s.phase, Phase::Paused, "not the active session");
    rig.logind.emit(
        ROOT,
        manager,
        "SessionRemoved",
        "so",
        vec![Value::from("c4"), Value::from(path)],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig.session("c4").is_some() {
        assert!(Instant::now() < deadline, "c4 still tracked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genuine_typing_learns_a_profile_and_keeps_the_session_open() {
    let mut rig = Rig::start(MonitorConfig::default(), MemoryStore::default()).await;
    let n = type_samples(&samples(OWNER), &rig.keys);
    assert!(n > 600, "{n}");
    let report = rig.next_report().await;
    assert_eq!(
        report,
        SessionReport {
            session: "c1".into(),
            user: "alice".into(),
            kind: ReportKind::ProfileLearned,
            error: None
        }
    );
    assert_eq!(rig.store.load("alice").unwrap().unwrap().keystrokes(), 400);
    let s = rig
        .wait("c1", "every keystroke", |s| s.keystrokes == n)
        .await;
    assert_eq!(s.phase, Phase::Monitoring);
    let risk = s.risk.unwrap();
    assert!(risk < 1.7, "{risk}");
    assert!(rig.reports.try_recv().is_err());
    assert_eq!(
        rig.logind.session_calls("LockSession"),
        Vec::<String>::new()
    );
    assert_eq!(
        rig.logind.session_calls("TerminateSession"),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_typist_is_locked_and_the_unlock_starts_a_grace_period() {
    let config = MonitorConfig::default();
    let mut rig = Rig::start(config.clone(), default_profile_store()).await;
    assert_eq!(rig.session("c1").unwrap().phase, Phase::Monitoring);
    // The documented bound: a typist whose windows score past step_up is locked after one
    // window of their keystrokes. One short of it, nothing happens yet.
    let other = keystrokes_of(&samples(OTHER));
    let first = config.window - 1;
    assert_eq!(type_keys(&other[..first], &rig.keys), first as u64);
    rig.wait("c1", "a window less one", |s| s.keystrokes == first as u64)
        .await;
    assert!(rig.reports.try_recv().is_err());
    assert_eq!(
        rig.logind.session_calls("LockSession"),
        Vec::<String>::new()
    );
    type_keys(&other[first..=first], &rig.keys);
    let report = rig.next_report().await;
    let ReportKind::StepUp { risk } = report.kind else {
        panic!("{report:?}")
    };
    assert!((1.7..3.0).contains(&risk), "{risk}");
    assert_eq!(
        (report.session.as_str(), report.user.as_str()),
        ("c1", "alice")
    );
    assert_eq!(report.error, None);
    assert_eq!(
        rig.logind.session_calls("LockSession"),
        vec!["c1".to_string()]
    );
    // Whatever is typed after the lock is the lock screen's: not scored.
    let n = type_keys(&other[first + 1..], &rig.keys);
    let s = rig
        .wait("c1", "the rest typed", |s| {
            s.keystrokes == config.window as u64 + n
        })
        .await;
    assert_eq!(
        (s.phase, s.risk, s.window_fill),
        (Phase::Locked, Some(risk), 0)
    );
    // The owner unlocks (the screen locker ran the PAM stack): logind's `Unlock` signal,
    // then grace with a fresh risk.
    rig.unlock("c1").await;
    let s = rig
        .wait("c1", "grace", |s| matches!(s.phase, Phase::Grace { .. }))
        .await;
    assert_eq!(s.risk, None);
    assert_eq!(
        rig.logind.session_calls("TerminateSession"),
        Vec::<String>::new()
    );
    assert!(rig.reports.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stricter_policy_terminates_the_session() {
    let config = MonitorConfig {
        logout: Some(2.0),
        ..MonitorConfig::default()
    };
    let mut rig = Rig::start(config, default_profile_store()).await;
    type_samples(&samples(OTHER), &rig.keys);
    let report = rig.next_report().await;
    assert!(
        matches!(report.kind, ReportKind::Terminated { risk } if risk >= 2.0),
        "{report:?}"
    );
    assert_eq!(report.error, None);
    assert_eq!(
        rig.logind.session_calls("TerminateSession"),
        vec!["c1".to_string()]
    );
    assert_eq!(
        rig.logind.session_calls("LockSession"),
        Vec::<String>::new()
    );
    rig.wait("c1", "terminated", |s| s.phase == Phase::Terminated)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleep_and_session_switch_pause_monitoring() {
    let rig = Rig::start(MonitorConfig::default(), default_profile_store()).await;
    // Asleep: the other typist's keys (a resume screen, say) reach no monitor.
    rig.prepare_for_sleep(true);
    rig.wait("c1", "paused", |s| s.phase == Phase::Paused).await;
    type_samples(&samples(OTHER), &rig.keys);
    rig.prepare_for_sleep(false);
    let s = rig
        .wait("c1", "resumed", |s| s.phase == Phase::Monitoring)
        .await;
    assert_eq!((s.keystrokes, s.risk), (0, None));
    // Switched away: the keys are another session's.
    rig.logind.set_session("c1", "Active", Value::from(false));
    rig.wait("c1", "switched away", |s| s.phase == Phase::Paused)
        .await;
    type_samples(&samples(OTHER), &rig.keys);
    rig.logind.set_session("c1", "Active", Value::from(true));
    let s = rig
        .wait("c1", "switched back", |s| s.phase == Phase::Monitoring)
        .await;
    assert_eq!((s.keystrokes, s.risk), (0, None));
    assert_eq!(
        rig.logind.session_calls("LockSession"),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owners_lock_hint_and_lock_do_not_switch_monitoring_off() {
    let mut rig = Rig::start(MonitorConfig::default(), default_profile_store()).await;
    // The session's owner (or whoever sits at it) says it is locked, both ways logind lets
    // them: SetLockedHint(true), and lock-session (logind's Lock signal).
    let path = session_path("c1");
    rig.conn
        .call_method(
            Some(LOGIND),
            path.as_str(),
            Some(SESSION),
            "SetLockedHint",
            &(true,),
        )
        .await
        .unwrap();
    rig.logind
        .set_session("c1", "LockedHint", Value::from(true));
    rig.logind.emit(&path, SESSION, "Lock", "", vec![]);
    // Signals are handled in order: once sleep and resume are seen, so were those.
    rig.prepare_for_sleep(true);
    rig.wait("c1", "asleep", |s| s.phase == Phase::Paused).await;
    rig.prepare_for_sleep(false);
    rig.wait("c1", "still monitored", |s| s.phase == Phase::Monitoring)
        .await;
    // Another typist is still scored and locked out.
    type_samples(&samples(OTHER), &rig.keys);
    let report = rig.next_report().await;
    assert!(
        matches!(report.kind, ReportKind::StepUp { .. }),
        "{report:?}"
    );
    assert_eq!(rig.logind.session_calls("LockSession"), ["c1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_that_does_not_lock_terminates_the_session() {
    let mut rig = Rig::start(MonitorConfig::default(), default_profile_store()).await;
    // No screen locker: logind's LockSession succeeds and LockedHint stays false.
    rig.logind
        .set_method(ROOT, MANAGER, "LockSession", ("s", ""), "");
    let n = type_samples(&samples(OTHER), &rig.keys);
    let asked = Instant::now();
    let first = rig.next_report().await;
    let waited = asked.elapsed();
    let ReportKind::NotLocked { risk } = first.kind else {
        panic!("{first:?}")
    };
    assert!(risk >= 1.7, "{risk}");
    assert_eq!((first.session.as_str(), first.error), ("c1", None));
    assert!(
        waited < Duration::from_millis(session::LOCK_CONFIRM_MS + 2_000),
        "{waited:?}"
    );
    let second = rig.next_report().await;
    assert_eq!(
        (second.kind, second.error),
        (ReportKind::Terminated { risk }, None)
    );
    assert_eq!(rig.logind.session_calls("LockSession"), ["c1"]);
    assert_eq!(rig.logind.session_calls("TerminateSession"), ["c1"]);
    // Typed after the lock asked for, nothing of it was scored meanwhile.
    let s = rig.wait("c1", "all typed", |s| s.keystrokes == n).await;
    assert_eq!(s.phase, Phase::Locked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_ends_on_the_clock_and_suspicion_seen_meanwhile_locks() {
    let clock = Arc::new(TestClock::default());
    clock.0.store(5_000, Ordering::SeqCst);
    let config = MonitorConfig::default();
    let grace_ms = config.grace_ms;
    let mut rig = Rig::start_with_clock(config, default_profile_store(), clock.clone()).await;
    type_samples(&samples(OTHER), &rig.keys);
    assert!(matches!(
        rig.next_report().await.kind,
        ReportKind::StepUp { .. }
    ));
    // Someone unlocks; the other typist goes on typing within the grace period.
    rig.unlock("c1").await;
    let until = 5_000 + grace_ms;
    rig.wait("c1", "grace", |s| s.phase == Phase::Grace { until })
        .await;
    let before = rig.session("c1").unwrap().keystrokes;
    let n = type_samples(&samples(OTHER), &rig.keys);
    let s = rig
        .wait("c1", "typing during grace", |s| s.keystrokes == before + n)
        .await;
    assert!(s.risk.is_some_and(|r| r >= 1.7), "{s:?}");
    assert_eq!(s.phase, Phase::Grace { until });
    assert_eq!(rig.logind.session_calls("LockSession").len(), 1);
    // Time passes on the clock: at the end of grace the session is locked again.
    clock.0.store(until, Ordering::SeqCst);
    let report = rig.next_report().await;
    assert!(
        matches!(report.kind, ReportKind::StepUp { .. }),
        "{report:?}"
    );
    assert_eq!(rig.logind.session_calls("LockSession").len(), 2);
    rig.wait("c1", "locked", |s| s.phase == Phase::Locked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_lock_terminates_the_session_and_both_are_reported() {
    let mut rig = Rig::start(MonitorConfig::default(), default_profile_store()).await;
    rig.logind.set_method(
        ROOT,
        MANAGER,
        "LockSession",
        ("s", ""),
        "raise dbus.exceptions.DBusException('no lock today', \
         name='org.freedesktop.login1.NoSuchSession')",
    );
    type_samples(&samples(OTHER), &rig.keys);
    let first = rig.next_report().await;
    assert!(matches!(first.kind, ReportKind::StepUp { .. }), "{first:?}");
    let error = first.error.unwrap();
    assert!(error.contains("no lock today"), "{error}");
    let second = rig.next_report().await;
    assert!(
        matches!(second.kind, ReportKind::Terminated { .. }),
        "{second:?}"
    );
    assert_eq!(second.error, None);
    assert_eq!(
        rig.logind.session_calls("TerminateSession"),
        vec!["c1".to_string()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_profile_is_reported_and_monitoring_stops_with_the_key_channel() {
    let store = MemoryStore {
        broken: true,
        ..MemoryStore::default()
    };
    let mut rig = Rig::start(MonitorConfig::default(), store).await;
    let report = rig.next_report().await;
    assert_eq!(
        report,
        SessionReport {
            session: "c1".into(),
            user: "alice".into(),
            kind: ReportKind::NotMonitored,
            error: Some("database is locked".into()),
        }
    );
    assert_eq!(rig.handle.status(), vec![]);
    assert!(rig.handle.is_running());
    let (closed, _) = unbounded_channel();
    drop(std::mem::replace(&mut rig.keys, closed));
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig.handle.is_running() {
        assert!(Instant::now() < deadline, "still running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_and_a_missing_logind_are_refused_with_a_reason() {
    let bus = PrivateBus::start();
    let conn = zbus::connection::Builder::address(bus.address())
        .unwrap()
        .build()
        .await
        .unwrap();
    let start = |config: MonitorConfig| {
        let conn = conn.clone();
        async move {
            let (_keys, keys_rx) = unbounded_channel();
            let (reports, _) = unbounded_channel();
            session::spawn(
                conn,
                keys_rx,
                MonitorSettings::new(config),
                Arc::new(MemoryStore::default()),
                reports,
                Arc::new(|_: &str| true),
            )
            .await
            .map(|_| ())
            .unwrap_err()
            .to_string()
        }
    };
    let bad = MonitorConfig {
        window: 5,
        ..MonitorConfig::default()
    };
    assert_eq!(
        start(bad).await,
        "monitor window must be at least 10 keystrokes, got 5"
    );
    let e = start(MonitorConfig::default()).await;
    assert!(
        e.starts_with("session monitoring needs logind (org.freedesktop.login1) on the system bus"),
        "{e}"
    );
}

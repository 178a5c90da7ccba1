//! The session monitor (continuous authentication), as a pure state machine.
//!
//! One [`Monitor`] watches one local session. The daemon feeds it [`MonitorEvent`]s with the
//! current time `now` (milliseconds on any monotonic clock) and carries out the returned
//! [`Action`]s; it calls again with [`MonitorEvent::Tick`] when the returned deadline passes.
//! Keystroke times are only used for timing features, `now` only for deadlines.
//!
//! Life of a session:
//! - **Learning** (no profile yet): keystrokes of the session build the user's free-text
//!   profile ([`crate::free::ProfileBuilder`], running sums only). After
//!   [`MonitorConfig::learning_keystrokes`] the profile is handed out
//!   ([`Action::ProfileLearned`], for the daemon to store) and monitoring starts.
//! - **Monitoring**: the last [`MonitorConfig::window`] keystrokes are kept; every
//!   [`MonitorConfig::step`] keystrokes that window is scored
//!   ([`crate::free::score_window`]) and the *risk* is updated: an exponential moving average
//!   of window scores with a memory of about [`MonitorConfig::memory`] keystrokes, starting at
//!   the first window's score. Risk is a distance in the scorer's units: on the shared data,
//!   windows of 100 keystrokes of the owner score 0.9 on average (99.9% below 1.5), other
//!   people's 2.1 on average (90% above 1.4).
//! - Risk at or past `logout` → [`Action::Terminate`]; else at or past `step_up` →
//!   [`Action::Lock`]. Either is issued once: a locked session ignores keystrokes (they are
//!   the unlock screen's) until [`MonitorEvent::Unlocked`]; a terminated one ignores all.
//! - **Grace**: after an unlock (the user just passed behaviour + PIN) risk and window start
//!   afresh and no action is taken for [`MonitorConfig::grace_ms`].
//! - Session switched away, or system going to sleep: the window is dropped and keystrokes
//!   ignored until the session is active / awake again. Risk is kept, so switching away and
//!   back does not clear suspicion; only an unlock does.
//! - No keystroke for [`MonitorConfig::idle_reset_ms`]: the window is dropped (privacy: typed
//!   timings are not kept longer than needed), risk is kept.
//!
//! How fast an impostor is locked: a window is first scored after `window` keystrokes, and
//! the first score sets the risk, so a typist whose windows all score at or past `step_up` is
//! locked after exactly `window` keystrokes (100 with the defaults) of their own typing, or
//! sooner when the window already held the owner's. Typing that scores below `step_up` is
//! never locked, by design: at this operating point it passes for the owner's. Measured
//! figures on the shared data (`examples/free_monitor.rs`) are in `docs/free-text.md`.

use crate::free::{score_window, FreeParams, Profile, ProfileBuilder};
use crate::sample::Keystroke;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Monitor settings (from policy). Thresholds are on the risk scale (see module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorConfig {
    /// Keystrokes of a trusted session that build the profile.
    pub learning_keystrokes: usize,
    /// Keystrokes in the scored window.
    pub window: usize,
    /// The window is scored every `step` keystrokes.
    pub step: usize,
    /// The risk averages window scores over about this many keystrokes.
    pub memory: usize,
    /// Lock the session at or past this risk; `None`: never lock.
    pub step_up: Option<f64>,
    /// Terminate the session at or past this risk; `None`: never terminate.
    pub logout: Option<f64>,
    /// No action for this long after an unlock (ms).
    pub grace_ms: u64,
    /// Drop the window after this long without a keystroke (ms).
    pub idle_reset_ms: u64,
    pub params: FreeParams,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            learning_keystrokes: 400,
            window: 100,
            step: 10,
            memory: 50,
            step_up: Some(1.7),
            logout: Some(3.0),
            grace_ms: 60_000,
            idle_reset_ms: 300_000,
            params: FreeParams::default(),
        }
    }
}

/// Why a configuration is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MonitorConfigError {
    #[error("monitor window must be at least 10 keystrokes, got {0}")]
    Window(usize),
    #[error("monitor step must be between 1 and the window ({window}), got {step}")]
    Step { step: usize, window: usize },
    #[error("monitor memory must be at least the step ({step}), got {memory}")]
    Memory { memory: usize, step: usize },
    #[error("learning period must be at least {min} keystrokes, got {got}")]
    Learning { got: usize, min: usize },
    #[error("monitor threshold {name} must be a positive number, got {value}")]
    Threshold { name: &'static str, value: f64 },
}

impl MonitorConfig {
    /// Checks the settings make sense together.
    pub fn validate(&self) -> Result<(), MonitorConfigError> {
        if self.window < 10 {
            return Err(MonitorConfigError::Window(self.window));
        }
        if self.step == 0 || self.step > self.window {
            return Err(MonitorConfigError::Step {
                step: self.step,
                window: self.window,
            });
        }
        if self.memory < self.step {
            return Err(MonitorConfigError::Memory {
                memory: self.memory,
                step: self.step,
            });
        }
        let min = crate::free::MIN_PROFILE_KEYSTROKES;
        if self.learning_keystrokes < min {
            return Err(MonitorConfigError::Learning {
                got: self.learning_keystrokes,
                min,
            });
        }
        for (name, t) in [("step_up", self.step_up), ("logout", self.logout)] {
            if let Some(value) = t {
                if !(value.is_finite() && value > 0.0) {
                    return Err(MonitorConfigError::Threshold { name, value });
                }
            }
        }
        Ok(())
    }
}

/// What happened to the session.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MonitorEvent {
    /// A key press and release on the session's seat (times in ms).
    Key(Keystroke),
    /// The session became the active one on its seat.
    Activated,
    /// Another session became active on the seat.
    Deactivated,
    /// The session was locked (by the user, by us, or by logind).
    Locked,
    /// The session was unlocked: the unlock screen ran the PAM stack again.
    Unlocked,
    /// logind `PrepareForSleep(true)`.
    Sleep,
    /// logind `PrepareForSleep(false)`.
    Resume,
    /// A deadline returned earlier has passed.
    Tick,
}

/// What the daemon must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Lock the session (logind `LockSession`); event `E_SESSION_STEP_UP` with the risk.
    Lock { risk: f64 },
    /// Terminate the session (logind `TerminateSession`); event `E_SESSION_TERMINATED`.
    Terminate { risk: f64 },
    /// Learning finished: store this profile for the user.
    ProfileLearned(Profile),
}

/// The result of one call: actions to carry out, and when to call again with
/// [`MonitorEvent::Tick`] if nothing else happens first.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Output {
    pub actions: Vec<Action>,
    pub next_deadline: Option<u64>,
}

/// Where the monitor stands, for `behaviorctl status` / `monitor`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Phase {
    Learning {
        keystrokes: usize,
        needed: usize,
    },
    Monitoring,
    Grace {
        until: u64,
    },
    /// Switched away or asleep.
    Paused,
    Locked,
    Terminated,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Status {
    pub phase: Phase,
    /// Current risk; `None` until a window has been scored since the last reset.
    pub risk: Option<f64>,
    /// Score of the last scored window (what moves the risk; for live tuning).
    pub last_score: Option<f64>,
    /// Keystrokes in the current window.
    pub window_fill: usize,
}

#[derive(Clone, Debug)]
enum Mode {
    Learning(Box<ProfileBuilder>),
    Monitoring(Box<Profile>),
}

/// The monitor of one session (see module docs).
#[derive(Clone, Debug)]
pub struct Monitor {
    config: MonitorConfig,
    mode: Mode,
    window: VecDeque<Keystroke>,
    since_score: usize,
    risk: Option<f64>,
    last_score: Option<f64>,
    active: bool,
    asleep: bool,
    locked: bool,
    terminated: bool,
    grace_until: Option<u64>,
    last_key_at: Option<u64>,
}

impl Monitor {
    /// A monitor for a user without a profile: starts by learning one.
    pub fn learning(config: MonitorConfig) -> Result<Monitor, MonitorConfigError> {
        let builder = ProfileBuilder::with_params(config.params.clone());
        Monitor::new(config, Mode::Learning(Box::new(builder)))
    }

    /// A monitor for a user with a stored profile.
    pub fn with_profile(
        config: MonitorConfig,
        profile: Profile,
    ) -> Result<Monitor, MonitorConfigError> {
        Monitor::new(config, Mode::Monitoring(Box::new(profile)))
    }

    fn new(config: MonitorConfig, mode: Mode) -> Result<Monitor, MonitorConfigError> {
        config.validate()?;
        Ok(Monitor {
            window: VecDeque::with_capacity(config.window),
            config,
            mode,
            since_score: 0,
            risk: None,
            last_score: None,
            active: true,
            asleep: false,
            locked: false,
            terminated: false,
            grace_until: None,
            last_key_at: None,
        })
    }

    pub fn status(&self) -> Status {
        let phase = if self.terminated {
            Phase::Terminated
        } else if self.locked {
            Phase::Locked
        } else if !self.active || self.asleep {
            Phase::Paused
        } else if let Mode::Learning(b) = &self.mode {
            Phase::Learning {
                keystrokes: b.len(),
                needed: self.config.learning_keystrokes,
            }
        } else if let Some(until) = self.grace_until {
            Phase::Grace { until }
        } else {
            Phase::Monitoring
        };
        Status {
            phase,
            risk: self.risk,
            last_score: self.last_score,
            window_fill: self.window.len(),
        }
    }

    /// Feeds one event at time `now` (ms).
    pub fn handle(&mut self, event: MonitorEvent, now: u64) -> Output {
        let mut actions = Vec::new();
        if !self.terminated {
            if self.expire(now) && !self.locked {
                // Grace is over: act on what was scored during it.
                self.decide(&mut actions);
            }
            match event {
                MonitorEvent::Key(k) => self.key(k, now, &mut actions),
                MonitorEvent::Activated => self.active = true,
                MonitorEvent::Deactivated => {
                    self.active = false;
                    self.drop_window();
                }
                MonitorEvent::Sleep => {
                    self.asleep = true;
                    self.drop_window();
                }
                MonitorEvent::Resume => self.asleep = false,
                MonitorEvent::Locked => {
                    self.locked = true;
                    self.drop_window();
                }
                MonitorEvent::Unlocked => {
                    if self.locked {
                        self.locked = false;
                        self.risk = None;
                        self.last_score = None;
                        self.drop_window();
                        self.grace_until = Some(now.saturating_add(self.config.grace_ms));
                    }
                }
                MonitorEvent::Tick => {}
            }
        }
        Output {
            actions,
            next_deadline: self.deadline(),
        }
    }

    /// Applies what time alone changes: end of grace (returns true when it just ended),
    /// idle window drop.
    fn expire(&mut self, now: u64) -> bool {
        let grace_ended = self.grace_until.is_some_and(|t| now >= t);
        if grace_ended {
            self.grace_until = None;
        }
        if self
            .last_key_at
            .is_some_and(|t| now >= t.saturating_add(self.config.idle_reset_ms))
        {
            self.drop_window();
        }
        grace_ended
    }

    fn deadline(&self) -> Option<u64> {
        if self.terminated {
            return None;
        }
        let idle = self
            .last_key_at
            .map(|t| t.saturating_add(self.config.idle_reset_ms));
        match (self.grace_until, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Forgets the keystrokes held (window, and the learning stretch's last key).
    fn drop_window(&mut self) {
        self.window.clear();
        self.since_score = 0;
        self.last_key_at = None;
        if let Mode::Learning(b) = &mut self.mode {
            b.end_stretch();
        }
    }

    fn key(&mut self, k: Keystroke, now: u64, actions: &mut Vec<Action>) {
        if self.locked || !self.active || self.asleep || !crate::free::usable(&k) {
            return;
        }
        self.last_key_at = Some(now);
        match &mut self.mode {
            Mode::Learning(b) => {
                b.push(k);
                if b.len() >= self.config.learning_keystrokes {
                    if let Some(profile) = b.build() {
                        actions.push(Action::ProfileLearned(profile.clone()));
                        self.mode = Mode::Monitoring(Box::new(profile));
                        self.drop_window();
                        self.last_key_at = Some(now);
                    }
                }
            }
            Mode::Monitoring(profile) => {
                if self.window.len() == self.config.window {
                    self.window.pop_front();
                }
                self.window.push_back(k);
                self.since_score += 1;
                if self.window.len() == self.config.window && self.since_score >= self.config.step {
                    self.since_score = 0;
                    let keys = self.window.make_contiguous();
                    let s = score_window(profile, keys, &self.config.params);
                    // A window with nothing comparable carries no evidence either way.
                    if s.features > 0 {
                        self.last_score = Some(s.score);
                        let alpha = (self.config.step as f64 / self.config.memory as f64).min(1.0);
                        self.risk = Some(match self.risk {
                            None => s.score,
                            Some(r) => r + alpha * (s.score - r),
                        });
                        self.decide(actions);
                    }
                }
            }
        }
    }

    fn decide(&mut self, actions: &mut Vec<Action>) {
        let Some(risk) = self.risk else { return };
        if self.grace_until.is_some() {
            return;
        }
        if self.config.logout.is_some_and(|t| risk >= t) {
            self.terminated = true;
            self.window.clear();
            actions.push(Action::Terminate { risk });
        } else if self.config.step_up.is_some_and(|t| risk >= t) {
            self.locked = true;
            self.drop_window();
            actions.push(Action::Lock { risk });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval_free::SplitMix64;
    use crate::Key;

    /// A synthetic typist: per-key hold and per-pair latency set by `shape` (the rhythm)
    /// and `tempo` (speed), with noise.
    struct Typist {
        shape: f64,
        tempo: f64,
        rng: SplitMix64,
        t: f64,
        i: usize,
    }

    impl Typist {
        fn new(shape: f64, tempo: f64, seed: u64) -> Typist {
            Typist {
                shape,
                tempo,
                rng: SplitMix64::new(seed),
                t: 0.0,
                i: 0,
            }
        }

        /// Noise factor around 1 (about +-15%).
        fn noise(&mut self) -> f64 {
            let u = (0..3)
                .map(|_| self.rng.below(1001) as f64 / 1000.0)
                .sum::<f64>()
                / 3.0;
            (0.3 * (u - 0.5)).exp()
        }

        fn next(&mut self) -> Keystroke {
            // "the quick brown fox jumps over the lazy dog " as key codes.
            const TEXT: [u16; 44] = [
                20, 35, 18, 57, 16, 22, 23, 46, 37, 57, 48, 19, 24, 17, 49, 57, 33, 24, 45, 57, 36,
                22, 50, 25, 31, 57, 24, 47, 18, 19, 57, 20, 35, 18, 57, 38, 30, 44, 21, 57, 32, 24,
                34, 57,
            ];
            let (k, prev) = (TEXT[self.i % 44], TEXT[(self.i + 43) % 44]);
            self.i += 1;
            let pair = 90.0 + ((k as f64 * self.shape + prev as f64) % 11.0) * 12.0;
            let hold = 60.0 + ((k as f64 * self.shape) % 7.0) * 9.0;
            self.t += pair * self.tempo * self.noise();
            let down = self.t;
            Keystroke {
                key: Key(k),
                down,
                up: down + hold * self.noise(),
            }
        }
    }

    /// Feeds `n` keystrokes of `who`, `now` following the typing; returns the actions with
    /// the keystroke count (1-based) at which each came.
    fn feed(m: &mut Monitor, who: &mut Typist, n: usize) -> Vec<(usize, Action)> {
        let mut out = Vec::new();
        for i in 1..=n {
            let k = who.next();
            for a in m.handle(MonitorEvent::Key(k), k.down as u64).actions {
                out.push((i, a));
            }
        }
        out
    }

    fn learnt(config: MonitorConfig, owner: &mut Typist) -> Monitor {
        let mut m = Monitor::learning(config.clone()).unwrap();
        let a = feed(&mut m, owner, config.learning_keystrokes);
        assert!(matches!(a.as_slice(), [(_, Action::ProfileLearned(_))]));
        m
    }

    fn owner() -> Typist {
        Typist::new(1.0, 1.0, 1)
    }

    /// Someone typing the owner's rhythm 25% slower (the synthetic typists are very
    /// regular, so this scores past the default step_up, short of logout).
    fn stranger() -> Typist {
        Typist::new(1.0, 1.25, 2)
    }

    #[test]
    fn learns_then_monitors() {
        let config = MonitorConfig::default();
        let mut m = Monitor::learning(config.clone()).unwrap();
        let mut o = owner();
        assert!(feed(&mut m, &mut o, 399).is_empty());
        assert_eq!(
            m.status().phase,
            Phase::Learning {
                keystrokes: 399,
                needed: 400
            }
        );
        let a = feed(&mut m, &mut o, 1);
        let Some((1, Action::ProfileLearned(p))) = a.first() else {
            panic!("{a:?}")
        };
        assert_eq!(p.keystrokes(), 400);
        assert_eq!(m.status().phase, Phase::Monitoring);
        assert_eq!(m.status().risk, None);
        // A stored profile monitors from the start.
        let m2 = Monitor::with_profile(config, p.clone()).unwrap();
        assert_eq!(m2.status().phase, Phase::Monitoring);
    }

    #[test]
    fn steady_genuine_typing_never_locks() {
        let mut o = owner();
        let mut m = learnt(MonitorConfig::default(), &mut o);
        assert_eq!(feed(&mut m, &mut o, 20_000), vec![]);
        let risk = m.status().risk.unwrap();
        assert!(risk < 1.0, "{risk}");
        assert!(m.status().last_score.is_some_and(|s| s < 1.5));
    }

    #[test]
    fn impostor_is_locked_at_the_first_scored_window() {
        let config = MonitorConfig::default();
        let mut m = learnt(config.clone(), &mut owner());
        let a = feed(&mut m, &mut stranger(), 1000);
        // Documented bound: a typist whose windows score past step_up is locked after
        // `window` keystrokes.
        match a.as_slice() {
            [(n, Action::Lock { risk })] => {
                assert_eq!(*n, config.window);
                assert!(Some(*risk) >= config.step_up && Some(*risk) < config.logout);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m.status().phase, Phase::Locked);
        assert_eq!(m.status().window_fill, 0);
    }

    #[test]
    fn impostor_after_the_owner_is_locked_within_the_window() {
        let config = MonitorConfig::default();
        let mut o = owner();
        let mut m = learnt(config.clone(), &mut o);
        assert!(feed(&mut m, &mut o, 500).is_empty());
        // The stranger takes over the keyboard at the owner's pace.
        let mut s = stranger();
        s.t = o.t;
        let a = feed(&mut m, &mut s, 1000);
        assert!(
            matches!(a.as_slice(), [(n, Action::Lock { .. })] if *n <= config.window),
            "{a:?}"
        );
    }

    #[test]
    fn logout_threshold_terminates() {
        // Stricter policy: terminate where the default would lock.
        let config = MonitorConfig {
            logout: Some(1.1),
            ..MonitorConfig::default()
        };
        let mut m = learnt(config, &mut owner());
        let a = feed(&mut m, &mut stranger(), 1000);
        assert!(
            matches!(a.as_slice(), [(100, Action::Terminate { .. })]),
            "{a:?}"
        );
        assert_eq!(m.status().phase, Phase::Terminated);
        // Nothing more happens, nothing is waited for.
        let out = m.handle(MonitorEvent::Unlocked, 1);
        assert_eq!(out, Output::default());
        assert!(feed(&mut m, &mut stranger(), 500).is_empty());
        // Typing far from the owner's is terminated even with the default thresholds.
        let mut m = learnt(MonitorConfig::default(), &mut owner());
        let a = feed(&mut m, &mut Typist::new(1.0, 2.0, 3), 1000);
        assert!(
            matches!(a.as_slice(), [(100, Action::Terminate { risk })] if *risk >= 2.0),
            "{a:?}"
        );
        // No lock threshold, only logout: still terminates.
        let config = MonitorConfig {
            step_up: None,
            logout: Some(1.1),
            ..MonitorConfig::default()
        };
        let mut m = learnt(config, &mut owner());
        let a = feed(&mut m, &mut stranger(), 1000);
        assert!(
            matches!(a.as_slice(), [(_, Action::Terminate { .. })]),
            "{a:?}"
        );
        // Neither threshold: monitoring only.
        let config = MonitorConfig {
            step_up: None,
            logout: None,
            ..MonitorConfig::default()
        };
        let mut m = learnt(config, &mut owner());
        assert!(feed(&mut m, &mut stranger(), 1000).is_empty());
        assert!(m.status().risk >= MonitorConfig::default().step_up);
    }

    #[test]
    fn grace_after_unlock() {
        let config = MonitorConfig::default();
        let mut m = learnt(config.clone(), &mut owner());
        let mut s = stranger();
        assert_eq!(feed(&mut m, &mut s, 100).len(), 1);
        // While locked, keystrokes (the unlock screen's) are ignored.
        assert!(feed(&mut m, &mut s, 300).is_empty());
        assert_eq!(m.status().window_fill, 0);
        let now = s.t as u64;
        let out = m.handle(MonitorEvent::Unlocked, now);
        let until = now + config.grace_ms;
        assert_eq!(out.next_deadline, Some(until));
        assert_eq!(m.status().phase, Phase::Grace { until });
        assert_eq!(m.status().risk, None);
        // During grace typing is scored but nothing is done...
        let mut actions = Vec::new();
        for _ in 0..200 {
            let k = s.next();
            actions.extend(m.handle(MonitorEvent::Key(k), now).actions);
        }
        assert!(actions.is_empty(), "{actions:?}");
        assert!(m.status().risk >= config.step_up);
        // ...until grace ends: then the risk seen meanwhile is acted on.
        let out = m.handle(MonitorEvent::Tick, until);
        assert!(
            matches!(out.actions.as_slice(), [Action::Lock { .. }]),
            "{out:?}"
        );

        // The owner unlocking and typing on is never locked.
        let mut o = owner();
        let mut m = learnt(config.clone(), &mut o);
        m.handle(MonitorEvent::Locked, o.t as u64);
        m.handle(MonitorEvent::Unlocked, o.t as u64);
        assert!(feed(&mut m, &mut o, 3000).is_empty());
        assert_eq!(m.status().phase, Phase::Monitoring);
    }

    #[test]
    fn sleep_and_session_switch_drop_the_window() {
        let config = MonitorConfig::default();
        let mut o = owner();
        let mut m = learnt(config.clone(), &mut o);
        feed(&mut m, &mut o, 150);
        assert_eq!(m.status().window_fill, 100);
        let risk = m.status().risk;
        for (away, back) in [
            (MonitorEvent::Sleep, MonitorEvent::Resume),
            (MonitorEvent::Deactivated, MonitorEvent::Activated),
        ] {
            m.handle(away, o.t as u64);
            assert_eq!(m.status().phase, Phase::Paused);
            assert_eq!(m.status().window_fill, 0);
            // Keys typed meanwhile (another session, a resume screen) are not ours.
            assert!(feed(&mut m, &mut stranger(), 300).is_empty());
            assert_eq!(m.status().window_fill, 0);
            m.handle(back, o.t as u64);
            assert_eq!(m.status().phase, Phase::Monitoring);
            // Risk is kept: switching away and back does not clear suspicion.
            assert_eq!(m.status().risk, risk);
            feed(&mut m, &mut o, 20);
            assert_eq!(m.status().window_fill, 20);
        }
        // An impostor after the switch is still locked.
        let a = feed(&mut m, &mut stranger(), 200);
        assert!(matches!(a.as_slice(), [(_, Action::Lock { .. })]), "{a:?}");
    }

    #[test]
    fn idle_drops_the_window_at_the_deadline() {
        let config = MonitorConfig::default();
        let mut o = owner();
        let mut m = learnt(config.clone(), &mut o);
        let k = o.next();
        let out = m.handle(MonitorEvent::Key(k), 5_000);
        assert_eq!(out.next_deadline, Some(5_000 + config.idle_reset_ms));
        assert_eq!(m.status().window_fill, 1);
        let out = m.handle(MonitorEvent::Tick, 5_000 + config.idle_reset_ms);
        assert_eq!(out.next_deadline, None);
        assert_eq!(m.status().window_fill, 0);
        // Learning keeps no keystroke past the idle time either.
        let mut m = Monitor::learning(config.clone()).unwrap();
        m.handle(MonitorEvent::Key(o.next()), 0);
        let out = m.handle(MonitorEvent::Tick, config.idle_reset_ms);
        assert_eq!(out.next_deadline, None);
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = |f: fn(&mut MonitorConfig)| {
            let mut c = MonitorConfig::default();
            f(&mut c);
            Monitor::learning(c).err().map(|e| e.to_string())
        };
        assert_eq!(
            bad(|c| c.window = 5),
            Some("monitor window must be at least 10 keystrokes, got 5".into())
        );
        assert!(bad(|c| c.step = 0).is_some());
        assert!(bad(|c| c.step = 101).is_some());
        assert!(bad(|c| c.memory = 5).is_some());
        assert!(bad(|c| c.learning_keystrokes = 10).is_some());
        assert!(bad(|c| c.step_up = Some(f64::NAN)).is_some());
        assert!(bad(|c| c.logout = Some(-1.0)).is_some());
        assert_eq!(bad(|_| {}), None);
    }
}

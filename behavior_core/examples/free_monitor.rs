//! Replays the shared free-text data through the session monitor with the shipped defaults
//! and prints how often genuine typing is wrongly locked and how fast impostors are locked.
//!
//! `zcat aalto_dev.jsonl.gz | cargo run --release -p behavior_core --example free_monitor`
//!
//! Genuine: each subject's 15 samples in three folds of 5; for each fold the monitor learns
//! from the other 10 samples (in order; keystrokes past the learning period are already
//! monitored) and then watches the fold's 5. A lock is followed by an unlock (grace), as the
//! owner would do. Typing time is the time from each key press to the next, pauses over 5 s
//! excluded. Impostor: a monitor that learnt from a subject's first 10 samples watches all 15
//! samples of each of 20 other subjects (seeded choice); keystrokes until the first lock or
//! termination (never locked: counted as not locked, shown separately).
use behavior_core::eval_free::SplitMix64;
use behavior_core::monitor::{Action, Monitor, MonitorConfig, MonitorConfigError, MonitorEvent};
use behavior_core::{Keystroke, LabeledSample};
use std::io::BufRead;

/// Pause between samples (ms): longer than the pair pause, shorter than the idle reset.
const BETWEEN_SAMPLES_MS: f64 = 20_000.0;

struct Replay {
    monitor: Monitor,
    now: f64,
}

/// What happened while replaying samples.
#[derive(Default)]
struct Tally {
    keys: usize,
    typing_ms: f64,
    locks: usize,
    terminations: usize,
    first_action_at: Option<usize>,
}

impl Replay {
    fn new(config: &MonitorConfig) -> Result<Replay, MonitorConfigError> {
        Ok(Replay {
            monitor: Monitor::learning(config.clone())?,
            now: 0.0,
        })
    }

    /// Feeds samples, tallying keystrokes typed after learning; `stop_at_first` stops at the
    /// first lock or termination, else the owner unlocks and goes on.
    fn feed(&mut self, samples: &[&LabeledSample], tally: &mut Tally, stop_at_first: bool) {
        for s in samples {
            let base = self.now + BETWEEN_SAMPLES_MS - s.sample.keys[0].down;
            let mut prev: Option<f64> = None;
            for k in &s.sample.keys {
                let key = Keystroke {
                    key: k.key,
                    down: k.down + base,
                    up: k.up + base,
                };
                self.now = key.down;
                let learning = matches!(
                    self.monitor.status().phase,
                    behavior_core::monitor::Phase::Learning { .. }
                );
                let out = self.monitor.handle(MonitorEvent::Key(key), key.down as u64);
                if learning {
                    continue;
                }
                tally.keys += 1;
                if let Some(p) = prev {
                    if key.down - p < 5000.0 {
                        tally.typing_ms += key.down - p;
                    }
                }
                prev = Some(key.down);
                for a in out.actions {
                    match a {
                        Action::Lock { .. } => tally.locks += 1,
                        Action::Terminate { .. } => tally.terminations += 1,
                        Action::ProfileLearned(_) => continue,
                    }
                    tally.first_action_at.get_or_insert(tally.keys);
                    if stop_at_first {
                        return;
                    }
                    // The owner unlocks and goes on typing.
                    self.monitor.handle(MonitorEvent::Unlocked, key.down as u64);
                }
            }
        }
    }
}

/// One-sided 95% upper confidence bound of a Poisson count (exact for 0..=5, a normal
/// approximation above).
fn poisson_upper_95(k: usize) -> f64 {
    const EXACT: [f64; 6] = [2.996, 4.744, 6.296, 7.754, 9.154, 10.513];
    EXACT
        .get(k)
        .copied()
        .unwrap_or(k as f64 + 1.96 * (k as f64).sqrt() + 2.0)
}

fn main() -> Result<(), MonitorConfigError> {
    let config = MonitorConfig::default();
    let samples: Vec<LabeledSample> = std::io::stdin()
        .lock()
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| LabeledSample::parse_line(&l).ok())
        .collect();
    let mut subjects: Vec<Vec<&LabeledSample>> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for s in &samples {
        match names.iter().position(|n| *n == s.subject) {
            Some(i) => subjects[i].push(s),
            None => {
                names.push(&s.subject);
                subjects.push(vec![s]);
            }
        }
    }
    subjects.retain(|v| v.len() >= 15);

    // Genuine.
    let (mut sessions, mut locked_sessions, mut genuine) = (0, 0, Tally::default());
    for v in &subjects {
        for fold in 0..3 {
            let test: Vec<&LabeledSample> = v[fold * 5..fold * 5 + 5].to_vec();
            let learn: Vec<&LabeledSample> = v
                .iter()
                .enumerate()
                .filter(|(i, _)| i / 5 != fold)
                .map(|(_, s)| *s)
                .take(10)
                .collect();
            let mut r = Replay::new(&config)?;
            let mut t = Tally::default();
            r.feed(&learn, &mut t, false);
            r.feed(&test, &mut t, false);
            sessions += 1;
            if t.locks + t.terminations > 0 {
                locked_sessions += 1;
            }
            genuine.keys += t.keys;
            genuine.typing_ms += t.typing_ms;
            genuine.locks += t.locks;
            genuine.terminations += t.terminations;
        }
    }
    let hours = genuine.typing_ms / 3_600_000.0;
    let wrong = genuine.locks + genuine.terminations;
    println!(
        "genuine: {sessions} sessions, {} keystrokes monitored, {hours:.1} h of typing; \
         wrong locks {} + terminations {} = {:.3} per hour of typing \
         (95% upper bound {:.3}); sessions with a wrong lock: {locked_sessions}",
        genuine.keys,
        genuine.locks,
        genuine.terminations,
        wrong as f64 / hours,
        poisson_upper_95(wrong) / hours,
    );

    // Impostors.
    let mut to_lock: Vec<usize> = Vec::new();
    let (mut never, mut attacks, mut terminated) = (0, 0, 0);
    for (i, v) in subjects.iter().enumerate() {
        let mut rng = SplitMix64::new(1000 + i as u64);
        for _ in 0..20 {
            let mut j = rng.below(subjects.len() - 1);
            if j >= i {
                j += 1;
            }
            let mut r = Replay::new(&config)?;
            let mut t = Tally::default();
            r.feed(&v[..10], &mut t, false);
            let mut t = Tally::default();
            r.feed(&subjects[j], &mut t, true);
            attacks += 1;
            terminated += t.terminations;
            match t.first_action_at {
                Some(n) => to_lock.push(n),
                None => never += 1,
            }
        }
    }
    to_lock.sort();
    // Never locked counts as "later than any": the median over all attacks exists while
    // more than half were locked.
    let median = (to_lock.len() * 2 > attacks).then(|| to_lock[attacks / 2]);
    let q = |p: f64| to_lock.get((to_lock.len() as f64 * p) as usize).copied();
    let show = |v: Option<usize>| v.map_or("-".to_string(), |v| v.to_string());
    println!(
        "impostor: {attacks} attacks, locked {} ({terminated} of them terminated), never locked \
         {never}; keystrokes before the lock: median {} over all attacks; among locked \
         quartiles {} / {} / {}",
        to_lock.len(),
        show(median),
        show(q(0.25)),
        show(q(0.5)),
        show(q(0.75)),
    );
    Ok(())
}

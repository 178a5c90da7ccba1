//! Free-text typing: a per-user profile of ordinary typing and a score over a window of
//! keystrokes, for session monitoring (continuous authentication).
//!
//! Privacy: a [`Profile`] holds aggregate timing statistics only, keyed by a fixed set of
//! key *slots* (letters, and coarse classes for everything else) and pairs of slots. It has
//! no order, no sequence and no raw timings, so the typed text cannot be rebuilt from it;
//! pairs seen fewer than [`MIN_PAIR_COUNT`] times are dropped so rare words leave no trace,
//! and counts are capped so the profile does not keep exact frequencies.
//!
//! Timings are compared in the log domain (typing times are roughly log-normal): hold of a
//! key, and down-down / up-down latency of two consecutive keys. Pauses longer than
//! [`FreeParams::max_gap_ms`] split the stream (the pair across a pause says nothing about
//! typing rhythm).

pub mod reference;

use crate::keys::Key;
use crate::sample::Keystroke;
use serde::{Deserialize, Serialize};

/// Number of key slots. Letters keep their own slot, everything else shares a class slot.
pub const SLOTS: usize = 36;
/// A pair of slots must be seen this often while learning to enter a profile.
pub const MIN_PAIR_COUNT: u32 = 2;
/// Counts are stored saturated at this value.
pub const COUNT_CAP: u32 = 64;

/// Maps a key to its slot: `a`..`z` are 0..26, then space, shift, backspace/delete, enter/tab,
/// digits, comma/dot, other punctuation, other modifiers, navigation/other, foreign codes.
pub fn slot(key: Key) -> usize {
    match key.0 {
        // Letters in alphabetical order (Linux codes are in QWERTY order).
        30 => 0,  // a
        48 => 1,  // b
        46 => 2,  // c
        32 => 3,  // d
        18 => 4,  // e
        33 => 5,  // f
        34 => 6,  // g
        35 => 7,  // h
        23 => 8,  // i
        36 => 9,  // j
        37 => 10, // k
        38 => 11, // l
        50 => 12, // m
        49 => 13, // n
        24 => 14, // o
        25 => 15, // p
        16 => 16, // q
        19 => 17, // r
        31 => 18, // s
        20 => 19, // t
        22 => 20, // u
        47 => 21, // v
        17 => 22, // w
        45 => 23, // x
        21 => 24, // y
        44 => 25, // z
        57 => 26, // space
        42 | 54 => 27,
        14 | 111 => 28,
        28 | 96 | 15 => 29,
        2..=11 | 71..=82 => 30,
        51 | 52 => 31,
        12 | 13 | 26 | 27 | 39..=41 | 43 | 53 | 55 | 83 | 86 | 98 => 32,
        29 | 56 | 58 | 97 | 100 | 125 | 126 => 33,
        c if c >= Key::FOREIGN_BASE => 35,
        _ => 34,
    }
}

/// Tunable parameters of free-text scoring.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FreeParams {
    /// A down-down gap longer than this (ms) is a pause: the pair across it is not used.
    pub max_gap_ms: f64,
    /// Per-feature deviations are clipped at this many standard deviations, so one odd
    /// keystroke cannot dominate a window.
    pub clip: f64,
    /// Weight (in pseudo-observations) of the pooled spread when a feature has few samples.
    pub prior_weight: f64,
}

impl Default for FreeParams {
    fn default() -> Self {
        FreeParams {
            max_gap_ms: 1500.0,
            clip: 3.0,
            prior_weight: 4.0,
        }
    }
}

/// Aggregate statistics of one timing feature, in the log domain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Number of observations, saturated at [`COUNT_CAP`].
    pub n: u32,
    pub mean: f32,
    pub sd: f32,
}

/// A user's free-text typing profile: aggregate timing statistics only (see module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Hold time per slot.
    pub hold: Vec<Stat>,
    /// Down-down latency per slot pair, indexed `first * SLOTS + second`.
    pub dd: Vec<Stat>,
    /// Up-down latency per slot pair.
    pub ud: Vec<Stat>,
    /// Pooled within-feature spread per feature kind (hold, dd, ud), used as a prior.
    pub pooled_sd: [f32; 3],
    /// Keystrokes the profile was learnt from (saturated at `u32::MAX`).
    pub keystrokes: u32,
}

/// Log-domain transforms. Up-down can be negative (overlapping keys): shifted first.
const UD_SHIFT: f64 = 300.0;
fn log_ms(v: f64) -> f64 {
    v.max(1.0).ln()
}
fn log_ud(v: f64) -> f64 {
    (v + UD_SHIFT).max(1.0).ln()
}

/// One observation extracted from a keystroke stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Obs {
    Hold(usize, f64),
    Pair(usize, f64, f64),
}

/// Extracts log-domain observations (holds of every key, dd/ud of consecutive keys not
/// separated by a pause).
pub(crate) fn observations(keys: &[Keystroke], max_gap_ms: f64, mut f: impl FnMut(Obs)) {
    for (i, k) in keys.iter().enumerate() {
        f(Obs::Hold(slot(k.key), log_ms(k.hold())));
        if let Some(pair) = keys.get(i + 1).and_then(|n| pair_obs(k, n, max_gap_ms)) {
            f(pair);
        }
    }
}

/// The pair observation of two consecutive keys, unless a pause separates them.
fn pair_obs(k: &Keystroke, next: &Keystroke, max_gap_ms: f64) -> Option<Obs> {
    let dd = next.down - k.down;
    (0.0..=max_gap_ms).contains(&dd).then(|| {
        let pair = slot(k.key) * SLOTS + slot(next.key);
        Obs::Pair(pair, log_ms(dd), log_ud(next.down - k.up))
    })
}

#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    n: u64,
    sum: f64,
    sumsq: f64,
}

impl Acc {
    fn add(&mut self, v: f64) {
        self.n += 1;
        self.sum += v;
        self.sumsq += v * v;
    }
    fn mean(&self) -> f64 {
        self.sum / self.n.max(1) as f64
    }
    /// Sum of squared deviations from the mean.
    fn ss(&self) -> f64 {
        (self.sumsq - self.sum * self.sum / self.n.max(1) as f64).max(0.0)
    }
}

/// Accumulates keystrokes of a user's ordinary typing into a [`Profile`]. Holds running
/// sums only: keystrokes are not kept.
#[derive(Clone, Debug)]
pub struct ProfileBuilder {
    params: FreeParams,
    hold: Vec<Acc>,
    dd: Vec<Acc>,
    ud: Vec<Acc>,
    keystrokes: u64,
    /// The previous key of the current stretch (for [`ProfileBuilder::push`]); the only
    /// keystroke ever held.
    last: Option<Keystroke>,
}

impl Default for ProfileBuilder {
    fn default() -> Self {
        ProfileBuilder::new()
    }
}

/// Fewest keystrokes a profile can be built from.
pub const MIN_PROFILE_KEYSTROKES: usize = 100;

impl ProfileBuilder {
    pub fn new() -> ProfileBuilder {
        ProfileBuilder::with_params(FreeParams::default())
    }

    pub fn with_params(params: FreeParams) -> ProfileBuilder {
        ProfileBuilder {
            params,
            hold: vec![Acc::default(); SLOTS],
            dd: vec![Acc::default(); SLOTS * SLOTS],
            ud: vec![Acc::default(); SLOTS * SLOTS],
            keystrokes: 0,
            last: None,
        }
    }

    /// Adds one uninterrupted stretch of typing (ordered by press time).
    pub fn add(&mut self, keys: &[Keystroke]) {
        self.end_stretch();
        for &k in keys {
            self.push(k);
        }
        self.end_stretch();
    }

    /// Adds one keystroke, continuing the current stretch (live typing, key by key).
    pub fn push(&mut self, key: Keystroke) {
        self.keystrokes += 1;
        self.record(Obs::Hold(slot(key.key), log_ms(key.hold())));
        if let Some(pair) = self
            .last
            .and_then(|prev| pair_obs(&prev, &key, self.params.max_gap_ms))
        {
            self.record(pair);
        }
        self.last = Some(key);
    }

    /// Ends the current stretch: the next key pushed does not pair with the last one.
    pub fn end_stretch(&mut self) {
        self.last = None;
    }

    fn record(&mut self, o: Obs) {
        match o {
            Obs::Hold(s, h) => self.hold[s].add(h),
            Obs::Pair(p, d, u) => {
                self.dd[p].add(d);
                self.ud[p].add(u);
            }
        }
    }

    /// Keystrokes added so far.
    pub fn len(&self) -> usize {
        self.keystrokes as usize
    }

    pub fn is_empty(&self) -> bool {
        self.keystrokes == 0
    }

    /// The profile, or `None` with fewer than [`MIN_PROFILE_KEYSTROKES`] keystrokes.
    pub fn build(&self) -> Option<Profile> {
        if self.len() < MIN_PROFILE_KEYSTROKES {
            return None;
        }
        let pooled = |accs: &[Acc], min: u64| {
            let (ss, dof) = accs
                .iter()
                .filter(|a| a.n >= min)
                .fold((0.0, 0u64), |(ss, d), a| (ss + a.ss(), d + a.n - 1));
            if dof == 0 {
                0.3
            } else {
                (ss / dof as f64).sqrt().max(0.02)
            }
        };
        let pooled_sd = [
            pooled(&self.hold, 2),
            pooled(&self.dd, 2),
            pooled(&self.ud, 2),
        ];
        let stats = |accs: &[Acc], prior: f64, min: u64| -> Vec<Stat> {
            accs.iter()
                .map(|a| {
                    if a.n < min.max(1) {
                        return Stat::default();
                    }
                    // Shrink the feature's own spread towards the pooled one.
                    let w = self.params.prior_weight;
                    let var = (a.ss() + w * prior * prior) / ((a.n - 1) as f64 + w);
                    Stat {
                        n: a.n.min(COUNT_CAP as u64) as u32,
                        mean: a.mean() as f32,
                        sd: var.sqrt() as f32,
                    }
                })
                .collect()
        };
        let min_pair = MIN_PAIR_COUNT as u64;
        Some(Profile {
            hold: stats(&self.hold, pooled_sd[0], 1),
            dd: stats(&self.dd, pooled_sd[1], min_pair),
            ud: stats(&self.ud, pooled_sd[2], min_pair),
            pooled_sd: pooled_sd.map(|v| v as f32),
            keystrokes: self.keystrokes.min(u32::MAX as u64) as u32,
        })
    }
}

/// The score of one window: a distance (higher = less like the profile's owner).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowScore {
    pub score: f64,
    /// How many timing features of the window the profile could compare; a window with
    /// none scores 0 and should not be trusted.
    pub features: usize,
}

/// Scores a window of keystrokes (ordered by press time) against a profile: the mean of
/// clipped standardised deviations over every hold and pair the profile knows.
pub fn score_window(profile: &Profile, window: &[Keystroke], params: &FreeParams) -> WindowScore {
    let mut sum = 0.0;
    let mut count = 0usize;
    let mut add = |st: &Stat, x: f64| {
        if st.n > 0 && st.sd > 0.0 {
            sum += ((x - st.mean as f64).abs() / st.sd as f64).min(params.clip);
            count += 1;
        }
    };
    observations(window, params.max_gap_ms, |o| match o {
        Obs::Hold(s, h) => {
            if let Some(st) = profile.hold.get(s) {
                add(st, h)
            }
        }
        Obs::Pair(p, d, u) => {
            if let Some(st) = profile.dd.get(p) {
                add(st, d)
            }
            if let Some(st) = profile.ud.get(p) {
                add(st, u)
            }
        }
    });
    WindowScore {
        score: if count == 0 { 0.0 } else { sum / count as f64 },
        features: count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn stream(keys: &[(u16, f64, f64)]) -> Vec<Keystroke> {
        keys.iter()
            .map(|&(k, down, hold)| Keystroke {
                key: Key(k),
                down,
                up: down + hold,
            })
            .collect()
    }

    /// A repetitive typist: keys a, s, d, f cycling with fixed rhythm scaled by `tempo`.
    fn typing(n: usize, tempo: f64) -> Vec<Keystroke> {
        let codes = [30u16, 31, 32, 33, 57];
        let mut t = 0.0;
        let mut v = Vec::new();
        for i in 0..n {
            let k = codes[i % codes.len()];
            let jitter = ((i * 7919) % 13) as f64;
            v.push((k, t, tempo * (80.0 + k as f64) + jitter));
            t += tempo * (120.0 + 3.0 * k as f64) + jitter;
        }
        stream(&v)
    }

    #[test]
    fn slots_cover_letters_once() {
        let mut seen = [false; 26];
        for c in b'a'..=b'z' {
            let k = Key::from_name(&(c as char).to_string()).unwrap();
            let s = slot(k);
            assert_eq!(s, (c - b'a') as usize);
            assert!(!seen[s]);
            seen[s] = true;
        }
        assert_eq!(slot(Key::SPACE), 26);
        assert_eq!(slot(Key::LEFTSHIFT), slot(Key::RIGHTSHIFT));
        assert_eq!(slot(Key(Key::FOREIGN_BASE + 3)), 35);
    }

    #[test]
    fn needs_enough_keystrokes() {
        let mut b = ProfileBuilder::new();
        b.add(&typing(50, 1.0));
        assert_eq!(b.len(), 50);
        assert!(b.build().is_none());
        b.add(&typing(60, 1.0));
        assert!(b.build().is_some());
    }

    #[test]
    fn own_rhythm_scores_lower_than_another() {
        let mut b = ProfileBuilder::new();
        b.add(&typing(400, 1.0));
        let p = b.build().unwrap();
        let params = FreeParams::default();
        let own = score_window(&p, &typing(50, 1.0), &params);
        let other = score_window(&p, &typing(50, 1.6), &params);
        assert!(own.features > 50, "{own:?}");
        assert!(own.score < other.score, "{own:?} {other:?}");
    }

    #[test]
    fn pauses_split_pairs() {
        let w = stream(&[(30, 0.0, 80.0), (31, 5000.0, 80.0)]);
        let mut pairs = 0;
        observations(&w, 1500.0, |o| {
            if matches!(o, Obs::Pair(..)) {
                pairs += 1
            }
        });
        assert_eq!(pairs, 0);
    }

    #[test]
    fn pushing_key_by_key_equals_adding_a_stretch() {
        let keys = typing(300, 1.0);
        let mut a = ProfileBuilder::new();
        a.add(&keys);
        let mut b = ProfileBuilder::new();
        for &k in &keys {
            b.push(k);
        }
        assert_eq!(a.build(), b.build());
        // A stretch break drops exactly the pair across it.
        let mut c = ProfileBuilder::new();
        c.add(&keys[..150]);
        c.add(&keys[150..]);
        let (pa, pc) = (a.build().unwrap(), c.build().unwrap());
        let pairs = |p: &Profile| p.dd.iter().map(|s| s.n).sum::<u32>();
        assert_eq!(pairs(&pa), pairs(&pc) + 1);
    }

    #[test]
    fn rare_pairs_do_not_enter_the_profile() {
        let mut b = ProfileBuilder::new();
        b.add(&typing(200, 1.0));
        // One a->z pair only.
        b.add(&stream(&[(30, 0.0, 80.0), (44, 150.0, 80.0)]));
        let p = b.build().unwrap();
        assert_eq!(p.dd[slot(Key(30)) * SLOTS + slot(Key(44))].n, 0);
        assert!(p.dd[slot(Key(30)) * SLOTS + slot(Key(31))].n > 0);
        assert!(p.dd.iter().all(|s| s.n <= COUNT_CAP));
    }
}

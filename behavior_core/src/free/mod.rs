//! Free-text typing: a per-user profile of ordinary typing and a score over a window of
//! keystrokes, for session monitoring (continuous authentication).
//!
//! Privacy: a [`Profile`] holds aggregate timing statistics only, keyed by coarse key classes
//! (the finger that types a letter, shared classes for other keys; no class is a single key)
//! and by a fixed public list of common English digraphs ([`slots`]). It holds no key code,
//! no order, no sequence, no raw timing and no count: a digraph of the list gets its own
//! statistics only once seen [`MIN_DIGRAPH_COUNT`] times (else its timings go to its class
//! pair), a class or class pair only once seen [`MIN_CLASS_COUNT`] times, and how often a
//! slot was seen is used while building (to shrink its spread) but not stored, because
//! scoring needs only whether a slot is known. So neither the typed text nor how often a key
//! or pair was typed can be read from it.
//!
//! Scoring a window looks at its exact keys, in memory only (a listed digraph the profile
//! knows is compared to its own statistics, any other pair to its class pair's).
//!
//! Timings are compared in the log domain (typing times are roughly log-normal): hold of a
//! key, and down-down / up-down latency of two consecutive keys. Pauses longer than
//! [`FreeParams::max_gap_ms`] split the stream (the pair across a pause says nothing about
//! typing rhythm).

pub mod reference;
pub mod slots;
mod stored;

pub use stored::{stored_layout, LAYOUT as PROFILE_LAYOUT};

use crate::sample::Keystroke;
use serde::{Deserialize, Serialize};
use slots::{class_of, digraph_of, CLASS_COUNT, DIGRAPH_COUNT};

/// A class or class pair must be seen this often while learning to enter a profile.
pub const MIN_CLASS_COUNT: u64 = 2;
/// A listed digraph must be seen this often while learning to get its own statistics.
pub const MIN_DIGRAPH_COUNT: u64 = 8;

/// Tunable parameters of free-text scoring.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FreeParams {
    /// A down-down gap longer than this (ms) is a pause: the pair across it is not used.
    pub max_gap_ms: f64,
    /// Per-feature deviations are clipped at this many standard deviations, so one odd
    /// timing cannot dominate a window.
    pub clip: f64,
    /// Weight (in pseudo-observations) of the pooled spread when a feature has few samples.
    pub prior_weight: f64,
}

impl Default for FreeParams {
    fn default() -> Self {
        FreeParams {
            max_gap_ms: 1500.0,
            clip: 4.5,
            prior_weight: 4.0,
        }
    }
}

/// Mean and spread of one timing feature, in the log domain.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Stat {
    mean: f32,
    sd: f32,
}

/// Down-down and up-down latency statistics of a pair (class pair or listed digraph).
#[derive(Clone, Copy, Debug, PartialEq)]
struct PairStat {
    dd: Stat,
    ud: Stat,
}

/// A user's free-text typing profile: aggregate timing statistics only (see module docs).
/// Serialised sparsely with named slots (see [`slots`]); a stored profile of another layout
/// (such as the per-key one of earlier versions) is refused when read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "stored::Stored", try_from = "stored::Stored")]
pub struct Profile {
    /// Hold time per key class.
    hold: Vec<Option<Stat>>,
    /// Latencies per class pair, indexed `first * CLASS_COUNT + second`: pairs that are not
    /// a digraph of the profile's own.
    pairs: Vec<Option<PairStat>>,
    /// Latencies per listed digraph (index into [`slots::DIGRAPHS`]).
    digraphs: Vec<Option<PairStat>>,
    /// Keystrokes the profile was learnt from (saturated at `u32::MAX`).
    keystrokes: u32,
}

impl Profile {
    /// Keystrokes the profile was learnt from.
    pub fn keystrokes(&self) -> u32 {
        self.keystrokes
    }

    /// Timing features the profile knows (holds, and down-down and up-down of each pair).
    pub fn features(&self) -> usize {
        let known = |v: &[Option<PairStat>]| v.iter().flatten().count();
        self.hold.iter().flatten().count() + 2 * (known(&self.pairs) + known(&self.digraphs))
    }
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
    /// Hold of a key of this class.
    Hold(usize, f64),
    /// Two consecutive keys: their class pair, the listed digraph they form if any, and
    /// down-down, up-down latencies.
    Pair {
        classes: usize,
        digraph: Option<usize>,
        dd: f64,
        ud: f64,
    },
}

/// Extracts log-domain observations (holds of every key, dd/ud of consecutive keys not
/// separated by a pause); keys with unusable times give none.
pub(crate) fn observations(keys: &[Keystroke], max_gap_ms: f64, mut f: impl FnMut(Obs)) {
    for (i, k) in keys.iter().enumerate() {
        if !usable(k) {
            continue;
        }
        f(Obs::Hold(class_of(k.key), log_ms(k.hold())));
        let next = keys.get(i + 1).filter(|n| usable(n));
        if let Some(pair) = next.and_then(|n| pair_obs(k, n, max_gap_ms)) {
            f(pair);
        }
    }
}

/// Times a keystroke must have to be used: finite, released after pressed.
pub fn usable(k: &Keystroke) -> bool {
    k.down.is_finite() && k.up.is_finite() && k.up >= k.down
}

/// The pair observation of two consecutive keys, unless a pause separates them.
fn pair_obs(k: &Keystroke, next: &Keystroke, max_gap_ms: f64) -> Option<Obs> {
    let dd = next.down - k.down;
    (0.0..=max_gap_ms).contains(&dd).then(|| Obs::Pair {
        classes: class_of(k.key) * CLASS_COUNT + class_of(next.key),
        digraph: digraph_of(k.key, next.key),
        dd: log_ms(dd),
        ud: log_ud(next.down - k.up),
    })
}

/// Running sums of one feature (in memory while learning only).
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
    fn merge(&mut self, o: &Acc) {
        self.n += o.n;
        self.sum += o.sum;
        self.sumsq += o.sumsq;
    }
    fn mean(&self) -> f64 {
        self.sum / self.n.max(1) as f64
    }
    /// Sum of squared deviations from the mean.
    fn ss(&self) -> f64 {
        (self.sumsq - self.sum * self.sum / self.n.max(1) as f64).max(0.0)
    }
}

/// Running sums of a pair's two latencies.
#[derive(Clone, Copy, Debug, Default)]
struct PairAcc {
    dd: Acc,
    ud: Acc,
}

impl PairAcc {
    fn merge(&mut self, o: &PairAcc) {
        self.dd.merge(&o.dd);
        self.ud.merge(&o.ud);
    }
}

/// Pooled spread of features seen at least twice (the prior their own spreads shrink to).
fn pooled_sd<'a>(accs: impl Iterator<Item = &'a Acc>) -> f64 {
    let (ss, dof) = accs
        .filter(|a| a.n >= 2)
        .fold((0.0, 0u64), |(ss, d), a| (ss + a.ss(), d + a.n - 1));
    if dof == 0 {
        0.3
    } else {
        (ss / dof as f64).sqrt().max(0.02)
    }
}

/// Accumulates keystrokes of a user's ordinary typing into a [`Profile`]. Holds running
/// sums only: keystrokes are not kept.
#[derive(Clone, Debug)]
pub struct ProfileBuilder {
    params: FreeParams,
    hold: Vec<Acc>,
    /// Pairs that are not a listed digraph, per class pair.
    pairs: Vec<PairAcc>,
    /// Listed digraphs (joined to their class pair at build time if seen too rarely).
    digraphs: Vec<PairAcc>,
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
            hold: vec![Acc::default(); CLASS_COUNT],
            pairs: vec![PairAcc::default(); CLASS_COUNT * CLASS_COUNT],
            digraphs: vec![PairAcc::default(); DIGRAPH_COUNT],
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

    /// Adds one keystroke, continuing the current stretch (live typing, key by key). A
    /// keystroke with unusable times (not finite, or released before pressed) is skipped and
    /// ends the stretch.
    pub fn push(&mut self, key: Keystroke) {
        if !usable(&key) {
            self.end_stretch();
            return;
        }
        self.keystrokes += 1;
        self.record(Obs::Hold(class_of(key.key), log_ms(key.hold())));
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
            Obs::Hold(c, h) => self.hold[c].add(h),
            Obs::Pair {
                classes,
                digraph,
                dd,
                ud,
            } => {
                let acc = match digraph {
                    Some(d) => &mut self.digraphs[d],
                    None => &mut self.pairs[classes],
                };
                acc.dd.add(dd);
                acc.ud.add(ud);
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
        // Digraphs seen too rarely for their own statistics count for their class pair.
        let mut pairs = self.pairs.clone();
        let mut digraphs = self.digraphs.clone();
        for (d, acc) in digraphs.iter_mut().enumerate() {
            if acc.dd.n < MIN_DIGRAPH_COUNT {
                let (a, b) = slots::digraph_classes(d);
                pairs[a * CLASS_COUNT + b].merge(acc);
                *acc = PairAcc::default();
            }
        }
        let all_pairs = || pairs.iter().chain(&digraphs);
        let prior = [
            pooled_sd(self.hold.iter()),
            pooled_sd(all_pairs().map(|p| &p.dd)),
            pooled_sd(all_pairs().map(|p| &p.ud)),
        ];
        // The feature's own spread shrunk towards the pooled one (its count goes no further).
        let w = self.params.prior_weight;
        let stat = |a: &Acc, prior: f64| {
            let var = (a.ss() + w * prior * prior) / ((a.n - 1) as f64 + w);
            Stat {
                mean: a.mean() as f32,
                sd: var.sqrt() as f32,
            }
        };
        let pair_stat = |p: &PairAcc, min: u64| {
            (p.dd.n >= min).then(|| PairStat {
                dd: stat(&p.dd, prior[1]),
                ud: stat(&p.ud, prior[2]),
            })
        };
        Some(Profile {
            hold: self
                .hold
                .iter()
                .map(|a| (a.n >= MIN_CLASS_COUNT).then(|| stat(a, prior[0])))
                .collect(),
            pairs: pairs
                .iter()
                .map(|p| pair_stat(p, MIN_CLASS_COUNT))
                .collect(),
            digraphs: digraphs
                .iter()
                .map(|p| pair_stat(p, MIN_DIGRAPH_COUNT))
                .collect(),
            keystrokes: self.keystrokes.min(u32::MAX as u64) as u32,
        })
    }
}

/// The score of one window: a distance (higher = less like the profile's owner).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowScore {
    pub score: f64,
    /// How many timings of the window the profile could compare; a window with none scores
    /// 0 and should not be trusted.
    pub features: usize,
}

/// Scores a window of keystrokes (ordered by press time) against a profile.
///
/// Each timing the profile knows gives a standardised deviation `z` (log domain): a key's
/// hold against its class, a pair's down-down and up-down against its digraph when the
/// profile has that digraph, else against its class pair. The `z` of one feature are summed
/// over the window and scaled by `1/sqrt(k)` for `k` occurrences: for the owner that is again
/// about `|N(0, 1)|`, while someone who is consistently slower or faster on that feature
/// drifts away with every occurrence, which a mean of single deviations would average out.
/// The score is the mean of these per-feature figures (clipped at [`FreeParams::clip`]),
/// weighted by occurrences: about 0.9 for the owner on real typing, more for others.
pub fn score_window(profile: &Profile, window: &[Keystroke], params: &FreeParams) -> WindowScore {
    // (feature id, z) for every comparable timing, grouped by feature below.
    let mut zs: Vec<(u32, f64)> = Vec::with_capacity(3 * window.len());
    let mut add = |st: &Stat, x: f64, id: usize| {
        let z = (x - st.mean as f64) / st.sd as f64;
        // Unusable times (NaN, infinities) carry no evidence.
        if z.is_finite() {
            zs.push((id as u32, z));
        }
    };
    // Feature ids: holds, then (dd, ud) of class pairs, then (dd, ud) of digraphs.
    const PAIR_BASE: usize = CLASS_COUNT;
    const DIGRAPH_BASE: usize = PAIR_BASE + 2 * CLASS_COUNT * CLASS_COUNT;
    observations(window, params.max_gap_ms, |o| match o {
        Obs::Hold(c, h) => {
            if let Some(st) = &profile.hold[c] {
                add(st, h, c);
            }
        }
        Obs::Pair {
            classes,
            digraph,
            dd,
            ud,
        } => {
            let own = digraph.and_then(|d| Some((d, profile.digraphs[d].as_ref()?)));
            let (id, st) = match own {
                Some((d, st)) => (DIGRAPH_BASE + 2 * d, st),
                None => match &profile.pairs[classes] {
                    Some(st) => (PAIR_BASE + 2 * classes, st),
                    None => return,
                },
            };
            add(&st.dd, dd, id);
            add(&st.ud, ud, id + 1);
        }
    });
    zs.sort_unstable_by_key(|&(id, _)| id);
    let mut total = 0.0;
    for group in zs.chunk_by(|a, b| a.0 == b.0) {
        let k = group.len() as f64;
        let sum: f64 = group.iter().map(|&(_, z)| z).sum();
        // Weighted by k: k * |sum| / sqrt(k).
        total += k * (sum.abs() / k.sqrt()).min(params.clip);
    }
    let features = zs.len();
    WindowScore {
        score: if features == 0 {
            0.0
        } else {
            total / features as f64
        },
        features,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval_free::SplitMix64;
    use crate::keys::Key;

    pub(crate) fn stream(keys: &[(u16, f64, f64)]) -> Vec<Keystroke> {
        keys.iter()
            .map(|&(k, down, hold)| Keystroke {
                key: Key(k),
                down,
                up: down + hold,
            })
            .collect()
    }

    /// A repetitive typist: keys a, s, d, f, space cycling with fixed rhythm scaled by
    /// `tempo` (five classes, four class pairs and the listed digraph "as").
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

    /// Keystrokes of `text` (lower-case letters and spaces) at a steady, slightly noisy pace.
    fn typed(text: &str, rng: &mut SplitMix64) -> Vec<Keystroke> {
        let mut t = 0.0;
        text.chars()
            .map(|c| {
                let key = match c {
                    ' ' => Key::SPACE,
                    c => Key::from_name(&c.to_string()).unwrap(),
                };
                t += 120.0 + rng.below(60) as f64;
                Keystroke {
                    key,
                    down: t,
                    up: t + 70.0 + rng.below(30) as f64,
                }
            })
            .collect()
    }

    fn key(name: &str) -> Key {
        Key::from_name(name).unwrap()
    }

    fn class_pair(a: &str, b: &str) -> usize {
        class_of(key(a)) * CLASS_COUNT + class_of(key(b))
    }

    /// Pairs the builder has recorded so far (class pairs and digraphs).
    fn recorded_pairs(b: &ProfileBuilder) -> u64 {
        b.pairs.iter().chain(&b.digraphs).map(|p| p.dd.n).sum()
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
            if matches!(o, Obs::Pair { .. }) {
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
        assert_eq!(recorded_pairs(&a), recorded_pairs(&c) + 1);
    }

    #[test]
    fn listed_digraphs_get_their_own_statistics_only_when_frequent() {
        let th = class_pair("t", "h");
        let digraph_th = 0;
        let mut rng = SplitMix64::new(1);
        let base = "fd sa ".repeat(30);
        let with = |n: usize, rng: &mut SplitMix64| {
            let mut b = ProfileBuilder::new();
            b.add(&typed(&base, rng));
            b.add(&typed(&"th ".repeat(n), rng));
            b.build().unwrap()
        };
        // Too rare: the pair counts for its class pair, the digraph is absent.
        let p = with(MIN_DIGRAPH_COUNT as usize - 1, &mut rng);
        assert!(p.digraphs.iter().all(Option::is_none));
        assert!(p.pairs[th].is_some());
        // Frequent enough: the digraph has its own statistics, not its class pair.
        let p = with(MIN_DIGRAPH_COUNT as usize, &mut rng);
        assert!(p.digraphs[digraph_th].is_some());
        assert!(p.pairs[th].is_none());
        // A window's "th" is then compared to the digraph, another pair of the same
        // classes ("rn") to nothing.
        let params = FreeParams::default();
        let th_window = score_window(&p, &typed("th", &mut rng), &params);
        let rn_window = score_window(&p, &typed("rn", &mut rng), &params);
        assert_eq!(th_window.features, 2 + 2);
        assert_eq!(rn_window.features, 2);
    }

    #[test]
    fn rare_class_pairs_do_not_enter_the_profile() {
        let mut b = ProfileBuilder::new();
        b.add(&typing(200, 1.0));
        // One a->m pair only.
        b.add(&stream(&[(30, 0.0, 80.0), (50, 150.0, 80.0)]));
        let p = b.build().unwrap();
        assert!(p.pairs[class_pair("a", "m")].is_none());
        assert!(p.pairs[class_pair("s", "d")].is_some());
    }

    #[test]
    fn profile_round_trips_and_refuses_other_layouts() {
        let mut b = ProfileBuilder::new();
        b.add(&typing(300, 1.0));
        let p = b.build().unwrap();
        let json = serde_json::to_string(&p).unwrap();
        // 5 classes, 4 class pairs and the digraph "as": a few hundred bytes.
        assert!(json.len() < 1000, "{json}");
        assert!(json.contains("\"digraphs\":{\"as\":["), "{json}");
        assert_eq!(serde_json::from_str::<Profile>(&json).unwrap(), p);
        assert_eq!(p.keystrokes(), 300);
        assert_eq!(p.features(), 5 + 2 * 5);
        let refused = |json: &str| {
            serde_json::from_str::<Profile>(json)
                .unwrap_err()
                .to_string()
        };
        // A profile of the earlier per-key layout, as the daemon stored it.
        let old = r#"{"hold":[[0,{"n":12,"mean":4.5,"sd":0.2}]],
            "dd":[[19,{"n":3,"mean":5.0,"sd":0.3}]],"ud":[[19,{"n":3,"mean":5.6,"sd":0.1}]],
            "keystrokes":400}"#;
        let err = refused(old);
        assert!(err.contains("old per-key layout"), "{err}");
        assert!(err.contains("learnt again"), "{err}");
        // A store can tell an old layout (learn again) from a damaged row.
        assert_eq!(stored_layout(old), Some(1));
        assert_eq!(stored_layout(&json), Some(PROFILE_LAYOUT));
        assert_eq!(stored_layout("{\"layout\":3}"), Some(3));
        assert_eq!(stored_layout("{\"layout\":\"2\"}"), None);
        assert_eq!(stored_layout("not json"), None);
        assert!(serde_json::from_str::<Profile>(&json[..json.len() - 5]).is_err());
        let err = refused(&json.replace("\"layout\":2", "\"layout\":3"));
        assert!(err.contains("layout 3"), "{err}");
        let err = refused(&json.replace("\"layout\":2", "\"layout\":2,\"hold\":[]"));
        assert!(err.contains("unknown field `hold`"), "{err}");
        let err = refused(&json.replace("\"left-little\"", "\"a\""));
        assert!(err.contains("unknown key class or class pair `a`"), "{err}");
        let err = refused(&json.replace("\"as\":", "\"qz\":"));
        assert!(
            err.contains("`qz`, which is not one of the listed"),
            "{err}"
        );
        let err = refused(&json.replace("\"digraphs\":{", "\"digraphs\":{\"th\":[1,0,1,1],"));
        assert!(err.contains("unusable statistics for `th`"), "{err}");
    }

    /// Everything a serialised profile holds, checked against the fixed slots: a class, a
    /// class pair or a listed digraph, each with timing statistics only (no count).
    #[test]
    fn a_stored_profile_holds_no_key_pair_or_count_outside_the_fixed_slots() {
        // Ordinary text with rare words, digits, punctuation and corrections.
        let mut rng = SplitMix64::new(7);
        let text = "the quick brown fox jumps over the lazy dog while my xylophone \
                    quietly zigzags past jinxed wharves ";
        let mut b = ProfileBuilder::new();
        for _ in 0..8 {
            b.add(&typed(text, &mut rng));
        }
        let extra = [
            "1",
            "2",
            "comma",
            "dot",
            "backspace",
            "leftshift",
            "left",
            "tab",
        ];
        let mut t = 0.0;
        b.add(
            &(0..200)
                .map(|i| {
                    t += 150.0;
                    Keystroke {
                        key: key(extra[i % extra.len()]),
                        down: t,
                        up: t + 80.0,
                    }
                })
                .collect::<Vec<_>>(),
        );
        let p = b.build().unwrap();
        let v: serde_json::Value = serde_json::to_value(&p).unwrap();
        let top = v.as_object().unwrap();
        let fields: Vec<&str> = top.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "class_holds",
                "class_pairs",
                "digraphs",
                "keystrokes",
                "layout"
            ]
        );
        let stats = |field: &str, len: usize| {
            let map = top[field].as_object().unwrap();
            for (name, st) in map {
                let st = st.as_array().unwrap();
                assert_eq!(st.len(), len, "{field}.{name}: {st:?}");
                assert!(st.iter().all(|x| x.as_f64().is_some()), "{name}");
            }
            map.keys().cloned().collect::<Vec<_>>()
        };
        let holds = stats("class_holds", 2);
        assert!(holds.iter().all(|c| slots::CLASSES.contains(&c.as_str())));
        let pairs = stats("class_pairs", 4);
        for name in &pairs {
            let (a, b) = name.split_once('>').unwrap();
            assert!(
                slots::CLASSES.contains(&a) && slots::CLASSES.contains(&b),
                "{name}"
            );
        }
        let digraphs = stats("digraphs", 4);
        assert!(digraphs
            .iter()
            .all(|d| slots::DIGRAPHS.contains(&d.as_str())));
        // The text's frequent digraphs are there, its rare pairs ("xy", "zi") are not.
        assert!(digraphs.contains(&"th".to_string()), "{digraphs:?}");
        assert!(pairs.len() > 20 && holds.len() > 10);
        assert_eq!(top["layout"], 2);
        assert_eq!(top["keystrokes"], p.keystrokes());
    }

    #[test]
    fn unusable_times_are_ignored() {
        let mut b = ProfileBuilder::new();
        b.add(&typing(200, 1.0));
        let p = b.build().unwrap();
        let mut bad = typing(50, 1.0);
        bad[3].down = f64::NAN;
        bad[4].up = f64::INFINITY;
        bad[5].up = bad[5].down - 10.0;
        b.add(&bad);
        assert_eq!(b.len(), 200 + 47);
        assert!(b.build().is_some());
        let s = score_window(&p, &bad, &FreeParams::default());
        let good = score_window(&p, &typing(50, 1.0), &FreeParams::default());
        assert!(s.score.is_finite(), "{s:?}");
        // Keys 3, 4, 5 are bad: their 3 holds and the 4 pairs touching them (dd and ud
        // each) are left out.
        assert_eq!(s.features, good.features - 3 - 2 * 4);
    }
}

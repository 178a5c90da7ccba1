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

/// Maps a key to its slot: `a`..`z` are 0..=25, then space, shift, backspace/delete, enter/tab,
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

/// Aggregate statistics of one timing feature, in the log domain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Number of observations, saturated at [`COUNT_CAP`].
    pub n: u32,
    pub mean: f32,
    pub sd: f32,
}

/// A user's free-text typing profile: aggregate timing statistics only (see module docs).
/// Serialised sparsely (features never seen are left out); a stored profile that does not
/// fit the current slot layout is refused when read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Hold time per slot.
    #[serde(with = "sparse::holds")]
    hold: Vec<Stat>,
    /// Down-down latency per slot pair, indexed `first * SLOTS + second`.
    #[serde(with = "sparse::pairs")]
    dd: Vec<Stat>,
    /// Up-down latency per slot pair.
    #[serde(with = "sparse::pairs")]
    ud: Vec<Stat>,
    /// Keystrokes the profile was learnt from (saturated at `u32::MAX`).
    keystrokes: u32,
}

impl Profile {
    /// Keystrokes the profile was learnt from.
    pub fn keystrokes(&self) -> u32 {
        self.keystrokes
    }

    /// Timing features the profile knows (holds and pairs).
    pub fn features(&self) -> usize {
        [&self.hold, &self.dd, &self.ud]
            .iter()
            .map(|v| v.iter().filter(|s| s.n > 0).count())
            .sum()
    }
}

/// Sparse serde form of a statistics table: `[[index, stat], ...]` for known features only.
mod sparse {
    use super::{Stat, SLOTS};
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    fn ser<S: Serializer>(v: &[Stat], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            v.iter()
                .enumerate()
                .filter(|(_, st)| st.n > 0)
                .map(|(i, st)| (i as u32, st)),
        )
    }

    fn de<'de, D: Deserializer<'de>>(d: D, len: usize) -> Result<Vec<Stat>, D::Error> {
        let entries: Vec<(u32, Stat)> = Vec::deserialize(d)?;
        let mut v = vec![Stat::default(); len];
        for (i, st) in entries {
            let ok = st.n > 0 && st.sd.is_finite() && st.sd > 0.0 && st.mean.is_finite();
            match v.get_mut(i as usize) {
                Some(slot) if ok => *slot = st,
                Some(_) => return Err(D::Error::custom(format!("bad statistics at {i}"))),
                None => return Err(D::Error::custom(format!("feature {i} out of range"))),
            }
        }
        Ok(v)
    }

    pub mod holds {
        use super::*;
        pub fn serialize<S: Serializer>(v: &[Stat], s: S) -> Result<S::Ok, S::Error> {
            ser(v, s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Stat>, D::Error> {
            de(d, SLOTS)
        }
    }

    pub mod pairs {
        use super::*;
        pub fn serialize<S: Serializer>(v: &[Stat], s: S) -> Result<S::Ok, S::Error> {
            ser(v, s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Stat>, D::Error> {
            de(d, SLOTS * SLOTS)
        }
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
    Hold(usize, f64),
    Pair(usize, f64, f64),
}

/// Extracts log-domain observations (holds of every key, dd/ud of consecutive keys not
/// separated by a pause); keys with unusable times give none.
pub(crate) fn observations(keys: &[Keystroke], max_gap_ms: f64, mut f: impl FnMut(Obs)) {
    for (i, k) in keys.iter().enumerate() {
        if !usable(k) {
            continue;
        }
        f(Obs::Hold(slot(k.key), log_ms(k.hold())));
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

    /// Adds one keystroke, continuing the current stretch (live typing, key by key). A
    /// keystroke with unusable times (not finite, or released before pressed) is skipped and
    /// ends the stretch.
    pub fn push(&mut self, key: Keystroke) {
        if !usable(&key) {
            self.end_stretch();
            return;
        }
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
/// Each timing the profile knows gives a standardised deviation `z` (log domain). The `z`
/// of one feature (a key's hold, a pair's down-down or up-down) are summed over the window
/// and scaled by `1/sqrt(k)` for `k` occurrences: for the owner that is again about
/// `|N(0, 1)|`, while someone who is consistently slower or faster on that feature drifts
/// away with every occurrence, which a mean of single deviations would average out. The
/// score is the mean of these per-feature figures (clipped at [`FreeParams::clip`]),
/// weighted by occurrences: about 0.9 for the owner on real typing, more for others.
pub fn score_window(profile: &Profile, window: &[Keystroke], params: &FreeParams) -> WindowScore {
    // (feature id, z) for every comparable timing, grouped by feature below.
    let mut zs: Vec<(u32, f64)> = Vec::with_capacity(3 * window.len());
    let mut add = |st: Option<&Stat>, x: f64, id: usize| {
        if let Some(st) = st.filter(|st| st.n > 0 && st.sd > 0.0) {
            let z = (x - st.mean as f64) / st.sd as f64;
            // Unusable times (NaN, infinities) carry no evidence.
            if z.is_finite() {
                zs.push((id as u32, z));
            }
        }
    };
    const DD_BASE: usize = SLOTS;
    const UD_BASE: usize = SLOTS + SLOTS * SLOTS;
    observations(window, params.max_gap_ms, |o| match o {
        Obs::Hold(s, h) => add(profile.hold.get(s), h, s),
        Obs::Pair(p, d, u) => {
            add(profile.dd.get(p), d, DD_BASE + p);
            add(profile.ud.get(p), u, UD_BASE + p);
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
    fn profile_round_trips_sparsely_and_refuses_foreign_layouts() {
        let mut b = ProfileBuilder::new();
        b.add(&typing(300, 1.0));
        let p = b.build().unwrap();
        let json = serde_json::to_string(&p).unwrap();
        // 5 keys, 5 pairs: a few hundred bytes, not the whole table.
        assert!(json.len() < 2000, "{}", json.len());
        assert_eq!(serde_json::from_str::<Profile>(&json).unwrap(), p);
        assert_eq!(p.keystrokes(), 300);
        assert_eq!(p.features(), 5 + 2 * 5);
        let foreign = json.replacen(
            "\"hold\":[[",
            "\"hold\":[[99999,{\"n\":1,\"mean\":1.0,\"sd\":1.0}],[",
            1,
        );
        let err = serde_json::from_str::<Profile>(&foreign).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        let zero_sd = json.replacen("\"sd\":", "\"sd\":0,\"x\":", 1);
        assert!(serde_json::from_str::<Profile>(&zero_sd).is_err());
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

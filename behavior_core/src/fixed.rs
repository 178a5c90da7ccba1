//! Fixed-phrase matching: enrollment, verification and adaptation of a user's typing of
//! their login phrase.
//!
//! The template keeps only timings (the feature vectors of [`crate::features`] of the
//! enrollment typings and of a bounded number of later confident matches), the key count and
//! a one-way digest of the key sequence; never the keys or the text.
//!
//! Score: a robust scaled Manhattan distance (per-feature median and floored mean absolute
//! deviation), divided by the typical distance of the user's own enrollment typings to the
//! rest of them (leave-one-out). So a score of 1 means "as far from the template as the
//! user's own typings usually are", whoever the user is, and one global operating point
//! ([`Params::accept`]) becomes a per-user threshold on the raw distance.

use crate::features::{self, FeatureError, PhraseFeatures};
use crate::sample::Sample;
use serde::{Deserialize, Serialize};

/// Format version of [`Template`]; bump when the stored fields or their meaning change.
pub const TEMPLATE_VERSION: u32 = 1;

/// A user's enrolled typing of their phrase: timing statistics only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub version: u32,
    /// Keys in one typing of the phrase.
    keys: usize,
    /// One-way digest of the key sequence ([`features::key_digest`]).
    digest: u64,
    /// Feature vectors of the enrollment typings; never replaced by adaptation.
    enrolled: Vec<Vec<f64>>,
    /// Feature vectors of recent confident matches, oldest first, at most
    /// [`Params::max_adapted`].
    adapted: Vec<Vec<f64>>,
    /// Statistics derived from the vectors above.
    model: Model,
}

/// Statistics the score needs, derived from a template's vectors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Model {
    center: Vec<f64>,
    scale: Vec<f64>,
    /// Typical raw distance of the user's own typings (leave-one-out); scores are divided
    /// by it.
    norm: f64,
}

/// Settings of the matcher.
#[derive(Clone, Debug)]
pub struct Params {
    /// The global operating point (the daemon's policy `thresholds.accept`): a typing is
    /// accepted when its score is at most this. Scores are in units of the user's own
    /// typical leave-one-out distance among their enrollment typings, so the per-user
    /// threshold on the raw distance is `accept × that typical distance`. Higher accepts
    /// more (fewer false rejections, more false acceptances).
    pub accept: f64,
    /// Fewest enrollment typings [`enroll`] accepts.
    pub min_samples: usize,
    /// [`check_candidate`] refuses a typing whose mean absolute log-ratio to the median of
    /// the accepted typings (holds and down-down times) exceeds this; `ln 2` means "on
    /// average twice as fast or slow".
    pub consistency: f64,
    /// [`adapt`] needs at least this confidence.
    pub adapt_confidence: f64,
    /// How many adapted typings a template keeps besides its enrollment ones (oldest
    /// dropped first). Bounded by the number of enrollment typings, so these can never
    /// outweigh the enrollment.
    pub max_adapted: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            accept: 1.6,
            min_samples: 3,
            consistency: 0.45,
            adapt_confidence: 0.8,
            max_adapted: 10,
        }
    }
}

/// Outcome of one verification.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verification {
    /// Distance from the template in units of the user's own typical distance; infinite for
    /// another key sequence.
    pub score: f64,
    /// The operating point the score was compared with.
    pub threshold: f64,
    pub accepted: bool,
    /// How genuine the typing looks, in `[0, 1]`: `1 / (1 + (score / threshold)^4)`, so 0.5
    /// at the threshold, near 1 for a typing at the centre of the template. For logs.
    pub confidence: f64,
}

/// Why a typing cannot be used for enrollment. `Display` is one sentence a login prompt can
/// show.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Rejection {
    #[error("This typing is too unlike your other attempts; please type the phrase again.")]
    Inconsistent,
    #[error("The keys pressed differ from your other attempts; please type the phrase again the same way.")]
    DifferentKeys,
    #[error("The phrase was corrected while typing; please type it again without corrections.")]
    Correction,
    #[error(
        "The phrase is too short to learn a typing pattern from; please use at least {min} keys."
    )]
    TooShort { min: usize },
    #[error("The key timings of this typing could not be read; please type the phrase again.")]
    BadTimes,
    #[error(
        "Not enough typings of the phrase to enroll: {got} of {needed}; please type it again."
    )]
    TooFewSamples { needed: usize, got: usize },
}

impl From<FeatureError> for Rejection {
    fn from(e: FeatureError) -> Self {
        match e {
            FeatureError::TooFewKeys { min, .. } => Rejection::TooShort { min },
            FeatureError::Correction => Rejection::Correction,
            FeatureError::BadTimes { .. } => Rejection::BadTimes,
        }
    }
}

/// Is `candidate` consistent with the already accepted enrollment typings? The daemon calls
/// this for each enrollment attempt and asks again on `Err`.
pub fn check_candidate(
    accepted: &[Sample],
    candidate: &Sample,
    params: &Params,
) -> Result<(), Rejection> {
    let cand = features::extract(candidate)?;
    let accepted = accepted
        .iter()
        .map(features::extract)
        .collect::<Result<Vec<_>, _>>()?;
    if accepted.iter().any(|a| a.digest != cand.digest) {
        return Err(Rejection::DifferentKeys);
    }
    if accepted.is_empty() {
        return Ok(());
    }
    if tempo_distance(&accepted, &cand) > params.consistency {
        return Err(Rejection::Inconsistent);
    }
    Ok(())
}

/// Mean absolute log-ratio of the candidate's holds and down-down times to the accepted
/// typings' medians. Up-down times are left out: they can be near zero or negative.
fn tempo_distance(accepted: &[PhraseFeatures], cand: &PhraseFeatures) -> f64 {
    let positive = 2 * cand.keys - 1; // H and DD come first in the vector.
    let mut column = Vec::with_capacity(accepted.len());
    let mut sum = 0.0;
    for j in 0..positive {
        column.clear();
        column.extend(accepted.iter().map(|a| a.values[j]));
        let m = median(&mut column);
        sum += (cand.values[j].max(1.0) / m.max(1.0)).ln().abs();
    }
    sum / positive as f64
}

/// Builds a template from enrollment typings of one key sequence.
pub fn enroll(samples: &[Sample], params: &Params) -> Result<Template, Rejection> {
    let needed = params.min_samples.max(2);
    if samples.len() < needed {
        return Err(Rejection::TooFewSamples {
            needed,
            got: samples.len(),
        });
    }
    let feats = samples
        .iter()
        .map(features::extract)
        .collect::<Result<Vec<_>, _>>()?;
    let first = &feats[0];
    if feats.iter().any(|f| f.digest != first.digest) {
        return Err(Rejection::DifferentKeys);
    }
    let enrolled: Vec<Vec<f64>> = feats.iter().map(|f| f.values.clone()).collect();
    let model = Model::fit(&enrolled, &[]);
    Ok(Template {
        version: TEMPLATE_VERSION,
        keys: first.keys,
        digest: first.digest,
        enrolled,
        adapted: Vec::new(),
        model,
    })
}

/// Scores `sample` against `template` and decides at the operating point.
pub fn verify(template: &Template, sample: &Sample, params: &Params) -> Verification {
    let score = match features::extract(sample) {
        Ok(f) => template.score(&f),
        Err(_) => f64::INFINITY,
    };
    decide(score, params.accept)
}

fn decide(score: f64, threshold: f64) -> Verification {
    let accepted = score <= threshold;
    let confidence = if score.is_finite() && threshold > 0.0 {
        1.0 / (1.0 + (score / threshold).powi(4))
    } else {
        0.0
    };
    Verification {
        score,
        threshold,
        accepted,
        confidence,
    }
}

/// A confident accepted verification may update the template (bounded history, so an
/// impostor cannot drift it); returns whether it did. The enrollment typings always stay and
/// at most `min(max_adapted, enrollment typings)` recent ones are kept.
pub fn adapt(template: &mut Template, sample: &Sample, v: &Verification, params: &Params) -> bool {
    if !v.accepted || v.confidence < params.adapt_confidence || !v.score.is_finite() {
        return false;
    }
    let Ok(f) = features::extract(sample) else {
        return false;
    };
    // The verification passed in must be this sample's: re-check rather than trust it.
    let again = decide(template.score(&f), params.accept);
    if !again.accepted || again.confidence < params.adapt_confidence {
        return false;
    }
    let cap = params.max_adapted.min(template.enrolled.len());
    if cap == 0 {
        return false;
    }
    template.adapted.push(f.values);
    while template.adapted.len() > cap {
        template.adapted.remove(0);
    }
    template.model = Model::fit(&template.enrolled, &template.adapted);
    true
}

impl Template {
    /// Keys in one typing of the enrolled phrase.
    pub fn keys(&self) -> usize {
        self.keys
    }

    /// Number of typings the template was built from (enrollment plus adapted).
    pub fn typings(&self) -> usize {
        self.enrolled.len() + self.adapted.len()
    }

    fn score(&self, f: &PhraseFeatures) -> f64 {
        if f.digest != self.digest || f.values.len() != self.model.center.len() {
            return f64::INFINITY;
        }
        self.model.distance(&f.values) / self.model.norm
    }
}

/// Smallest per-feature scale in milliseconds: a user who happens to type one interval
/// identically in every enrollment typing must not make every later typing infinitely far.
const SCALE_FLOOR_MS: f64 = 4.0;
/// Scale floor relative to the feature's size (timing noise grows with the interval).
const SCALE_FLOOR_REL: f64 = 0.05;

impl Model {
    fn fit(enrolled: &[Vec<f64>], adapted: &[Vec<f64>]) -> Model {
        let all: Vec<&[f64]> = enrolled
            .iter()
            .chain(adapted)
            .map(|v| v.as_slice())
            .collect();
        let (center, scale) = center_scale(&all);
        let mut model = Model {
            center,
            scale,
            norm: 1.0,
        };
        // Leave-one-out distances of the typings to the others.
        let mut loo = Vec::with_capacity(all.len());
        if all.len() >= 3 {
            for i in 0..all.len() {
                let rest: Vec<&[f64]> = all
                    .iter()
                    .enumerate()
                    .filter(|&(k, _)| k != i)
                    .map(|(_, v)| *v)
                    .collect();
                let (c, s) = center_scale(&rest);
                let m = Model {
                    center: c,
                    scale: s,
                    norm: 1.0,
                };
                loo.push(m.distance(all[i]));
            }
        } else {
            loo.extend(all.iter().map(|v| model.distance(v)));
        }
        let typical = median(&mut loo);
        model.norm = if typical.is_finite() && typical > 1e-9 {
            typical
        } else {
            1.0
        };
        model
    }

    /// Mean scaled absolute difference over features.
    fn distance(&self, x: &[f64]) -> f64 {
        let d = self.center.len().max(1) as f64;
        x.iter()
            .zip(&self.center)
            .zip(&self.scale)
            .map(|((x, c), s)| (x - c).abs() / s)
            .sum::<f64>()
            / d
    }
}

/// Per-feature median and floored mean absolute deviation from it.
fn center_scale(vectors: &[&[f64]]) -> (Vec<f64>, Vec<f64>) {
    let d = vectors.first().map_or(0, |v| v.len());
    let mut center = Vec::with_capacity(d);
    let mut scale = Vec::with_capacity(d);
    let mut column = Vec::with_capacity(vectors.len());
    for j in 0..d {
        column.clear();
        column.extend(vectors.iter().map(|v| v[j]));
        let c = median(&mut column);
        let mad = column.iter().map(|x| (x - c).abs()).sum::<f64>() / column.len() as f64;
        center.push(c);
        scale.push(mad.max(SCALE_FLOOR_MS).max(SCALE_FLOOR_REL * c.abs()));
    }
    (center, scale)
}

/// Median (mean of the two middle values for an even count); NaN for no values.
fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Key;
    use crate::sample::Keystroke;

    /// A typing of "abcde" + Enter with the given holds/gaps jitter.
    fn typing(names: &[&str], gap: f64, hold: f64, jitter: f64) -> Sample {
        let mut t = 0.0;
        let mut keys = Vec::new();
        for (i, n) in names.iter().enumerate() {
            let j = jitter * (((i * 7 + 3) % 5) as f64 - 2.0);
            keys.push(Keystroke {
                key: Key::from_name(n).unwrap(),
                down: t,
                up: t + hold + j,
            });
            t += gap + 3.0 * j + 10.0 * i as f64;
        }
        Sample::new(keys).unwrap()
    }

    const PHRASE: &[&str] = &["a", "b", "leftshift", "c", "d", "e", "enter"];

    fn user(jitters: &[f64]) -> Vec<Sample> {
        jitters
            .iter()
            .map(|&j| typing(PHRASE, 200.0 + 4.0 * j, 90.0 + j, j))
            .collect()
    }

    #[test]
    fn genuine_typing_is_accepted_and_a_stranger_is_not() {
        let p = Params::default();
        let t = enroll(&user(&[0.0, 2.0, -2.0, 1.0, -1.0]), &p).unwrap();
        let ok = verify(&t, &typing(PHRASE, 202.0, 91.0, 0.5), &p);
        assert!(ok.accepted, "{ok:?}");
        assert!(ok.confidence > 0.5);
        let other = verify(&t, &typing(PHRASE, 420.0, 40.0, 6.0), &p);
        assert!(!other.accepted, "{other:?}");
        assert!(other.confidence < 0.5);
        assert!(other.score > ok.score);
    }

    #[test]
    fn another_key_sequence_is_never_a_match() {
        let p = Params::default();
        let t = enroll(&user(&[0.0, 2.0, -2.0, 1.0, -1.0]), &p).unwrap();
        let caps = ["a", "b", "capslock", "c", "d", "e", "enter"];
        let shorter = ["a", "b", "leftshift", "c", "d", "enter"];
        for keys in [&caps[..], &shorter[..]] {
            let v = verify(&t, &typing(keys, 200.0, 90.0, 0.0), &p);
            assert!(!v.accepted);
            assert_eq!(v.score, f64::INFINITY);
            assert_eq!(v.confidence, 0.0);
        }
    }

    #[test]
    fn enrollment_refuses_mixed_or_too_few_typings() {
        let p = Params::default();
        let mut s = user(&[0.0, 1.0, -1.0]);
        assert_eq!(
            enroll(&s[..2], &p),
            Err(Rejection::TooFewSamples { needed: 3, got: 2 })
        );
        s.push(typing(
            &["a", "b", "c", "d", "e", "enter"],
            200.0,
            90.0,
            0.0,
        ));
        assert_eq!(enroll(&s, &p), Err(Rejection::DifferentKeys));
    }

    #[test]
    fn candidates_are_screened() {
        let p = Params::default();
        let accepted = user(&[0.0, 1.0]);
        assert_eq!(check_candidate(&[], &accepted[0], &p), Ok(()));
        assert_eq!(check_candidate(&accepted, &user(&[-1.0])[0], &p), Ok(()));
        let sloppy = typing(PHRASE, 600.0, 200.0, 0.0);
        assert_eq!(
            check_candidate(&accepted, &sloppy, &p),
            Err(Rejection::Inconsistent)
        );
        let other_keys = typing(&["a", "b", "c", "d", "e", "enter"], 200.0, 90.0, 0.0);
        assert_eq!(
            check_candidate(&accepted, &other_keys, &p),
            Err(Rejection::DifferentKeys)
        );
        let corrected = typing(
            &["a", "b", "backspace", "b", "c", "d", "e", "enter"],
            200.0,
            90.0,
            0.0,
        );
        assert_eq!(
            check_candidate(&accepted, &corrected, &p),
            Err(Rejection::Correction)
        );
        let short = typing(&["a", "enter"], 200.0, 90.0, 0.0);
        assert_eq!(
            check_candidate(&[], &short, &p),
            Err(Rejection::TooShort { min: 4 })
        );
    }

    #[test]
    fn rejection_messages_are_sentences() {
        for r in [
            Rejection::Inconsistent,
            Rejection::DifferentKeys,
            Rejection::Correction,
            Rejection::TooShort { min: 4 },
            Rejection::BadTimes,
            Rejection::TooFewSamples { needed: 5, got: 3 },
        ] {
            let m = r.to_string();
            assert!(m.ends_with('.') && m.chars().next().unwrap().is_uppercase());
        }
    }

    #[test]
    fn adaptation_is_bounded_and_needs_confidence() {
        let p = Params::default();
        let mut t = enroll(&user(&[0.0, 2.0, -2.0, 1.0, -1.0]), &p).unwrap();
        let before = t.clone();
        // A rejected typing never adapts, whatever the caller claims.
        let stranger = typing(PHRASE, 420.0, 40.0, 6.0);
        let lie = decide(0.1, p.accept);
        assert!(!adapt(&mut t, &stranger, &lie, &p));
        assert_eq!(t, before);
        // Confident genuine typings adapt, up to the number of enrollment typings.
        for i in 0..20 {
            let s = typing(PHRASE, 200.0, 90.0, 0.2 * (i % 3) as f64);
            let v = verify(&t, &s, &p);
            assert!(adapt(&mut t, &s, &v, &p), "{i}: {v:?}");
        }
        assert_eq!(t.typings(), 10);
        assert_eq!(t.enrolled, before.enrolled);
    }

    #[test]
    fn template_round_trips_through_json_without_keys() {
        let t = enroll(&user(&[0.0, 2.0, -2.0]), &Params::default()).unwrap();
        let json = serde_json::to_string(&t).unwrap();
        assert!(!json.contains("leftshift"));
        let back: Template = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.version, TEMPLATE_VERSION);
    }
}

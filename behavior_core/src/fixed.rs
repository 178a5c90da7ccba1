//! Fixed-phrase matching: enrollment, verification and adaptation of a user's typing of
//! their login phrase.
//!
//! The template keeps only timings (the feature vectors of [`crate::features`] of the
//! enrollment typings and of a bounded number of later confident matches), the key count and
//! a one-way digest of the key sequence; never the keys or the text.
//!
//! Score: the distance of [`model`] from the template's typings, divided by the typical
//! distance of the user's own enrollment typings to the rest of them (leave-one-out), to the
//! power [`SCORE_EXPONENT`]. So a score of 1 means "as far from the template as the user's
//! own typings usually are", whoever the user is, and one global operating point
//! ([`Params::accept`]) becomes a per-user threshold on the raw distance:
//! `typical × accept^(1/SCORE_EXPONENT)`.

mod model;

use crate::features::{self, FeatureError, PhraseFeatures};
use crate::sample::Sample;
use model::Model;
use serde::{Deserialize, Serialize};

/// Format version of [`Template`]; bump when the stored fields or their meaning change.
pub const TEMPLATE_VERSION: u32 = 1;

/// A user's enrolled typing of their phrase: timing statistics only. Stored as
/// [`TemplateRecord`]; the model is rebuilt (and the record checked) when it is read back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TemplateRecord", into = "TemplateRecord")]
pub struct Template {
    /// The stored format's version ([`TEMPLATE_VERSION`]; reading another fails).
    pub version: u32,
    record: TemplateRecord,
    model: Model,
    /// Typical leave-one-out distance of the enrollment typings; scores are divided by it.
    norm: f64,
}

/// What a template stores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateRecord {
    pub version: u32,
    /// Keys in one typing of the phrase.
    pub keys: usize,
    /// One-way digest of the key sequence ([`features::key_digest`]).
    pub digest: u64,
    /// Feature vectors ([`features::extract`], milliseconds) of the enrollment typings;
    /// never replaced by adaptation.
    pub enrolled: Vec<Vec<f64>>,
    /// Feature vectors of recent confident matches, oldest first.
    pub adapted: Vec<Vec<f64>>,
}

/// Why a stored template cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TemplateError {
    #[error("template format version {0} is not supported (expected {TEMPLATE_VERSION})")]
    Version(u32),
    #[error("template has fewer than {MIN_ENROLL_TYPINGS} enrollment typings")]
    TooFewTypings,
    #[error("template phrase has fewer than {} keys", features::MIN_KEYS)]
    TooFewKeys,
    #[error("template typing {0} has the wrong number of timings or a timing that is not finite")]
    BadTyping(usize),
}

impl TryFrom<TemplateRecord> for Template {
    type Error = TemplateError;

    fn try_from(record: TemplateRecord) -> Result<Self, Self::Error> {
        if record.version != TEMPLATE_VERSION {
            return Err(TemplateError::Version(record.version));
        }
        if record.enrolled.len() < MIN_ENROLL_TYPINGS {
            return Err(TemplateError::TooFewTypings);
        }
        if record.keys < features::MIN_KEYS {
            return Err(TemplateError::TooFewKeys);
        }
        let d = features::feature_count(record.keys);
        for (i, v) in record.enrolled.iter().chain(&record.adapted).enumerate() {
            if v.len() != d || v.iter().any(|x| !x.is_finite()) {
                return Err(TemplateError::BadTyping(i));
            }
        }
        Ok(Template::build(record))
    }
}

impl From<Template> for TemplateRecord {
    fn from(t: Template) -> Self {
        t.record
    }
}

/// Settings of the matcher.
#[derive(Clone, Debug)]
pub struct Params {
    /// The global operating point (the daemon's policy `thresholds.accept`): a typing is
    /// accepted when its score is at most this. A score is the distance from the template
    /// divided by the user's own typical distance (the median leave-one-out distance of
    /// their enrollment typings), to the power [`SCORE_EXPONENT`]; so the per-user
    /// threshold on the raw distance is `typical × accept^(1/4)`, derived from that user's
    /// enrollment. 1 accepts about half of the user's typings; higher accepts more (fewer
    /// false rejections, more impostors). The default 2.0 sits near the equal-error point
    /// measured on nexus7 with 5 enrollment typings: 16 % of genuine attempts rejected,
    /// 20 % of impostor attempts accepted (at 3.0: 4 % and 40 %; at 1.5: 31 % and 10 %).
    pub accept: f64,
    /// Fewest enrollment typings [`enroll`] accepts; never fewer than
    /// [`MIN_ENROLL_TYPINGS`].
    pub min_samples: usize,
    /// [`check_candidate`] refuses a typing whose hold and down-down times differ from the
    /// medians of the accepted typings by more than this mean absolute log-ratio (0.35: about
    /// 40 % slower or faster on average). On the shipped data this refuses under 2 % of
    /// genuine enrollment typings and about half of other people's.
    pub consistency: f64,
    /// [`adapt`] needs at least this confidence. 0.65 takes typings scoring up to about
    /// 0.73 × `accept`: replaying nexus7 and iiitbh_small with 5 enrollment typings
    /// (`behaviorctl evaluate --detector product-adapting`), it cut genuine rejections from
    /// 13 % and 7 % (at 0.8) to 6 % and 6 %, while impostor acceptance rose by 2 points on
    /// nexus7 and not on iiitbh_small; the closest impostor, trying after every fourth
    /// login and adapted when accepted, was not accepted more often over time
    /// (docs/accuracy.md).
    pub adapt_confidence: f64,
    /// How many adapted typings a template keeps besides its enrollment ones (oldest
    /// dropped first). Bounded by the number of enrollment typings, so these can never
    /// outweigh the enrollment.
    pub max_adapted: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            accept: 2.0,
            min_samples: 3,
            consistency: 0.35,
            adapt_confidence: 0.65,
            max_adapted: 10,
        }
    }
}

/// Outcome of one verification.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verification {
    /// Distance from the template in units of the user's own typical distance, to the power
    /// [`SCORE_EXPONENT`]; infinite for another key sequence or a corrected typing.
    pub score: f64,
    /// The operating point the score was compared with.
    pub threshold: f64,
    pub accepted: bool,
    /// How genuine the typing looks, in `[0, 1]`: `1 / (1 + (score / threshold)^2)`, so 0.5
    /// at the threshold, 0.8 at half of it, near 1 for a typing at the centre of the
    /// template. For logs and for [`adapt`].
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

/// Mean absolute difference of the candidate's model view ([`model::transform`]: log-times
/// of holds and down-down times) from the accepted typings' medians.
fn tempo_distance(accepted: &[PhraseFeatures], cand: &PhraseFeatures) -> f64 {
    let views: Vec<Vec<f64>> = accepted
        .iter()
        .map(|a| model::transform(&a.values, a.keys))
        .collect();
    let x = model::transform(&cand.values, cand.keys);
    let mut column = Vec::with_capacity(views.len());
    let mut sum = 0.0;
    for (j, xj) in x.iter().enumerate() {
        column.clear();
        column.extend(views.iter().map(|v| v[j]));
        sum += (xj - model::median(&mut column)).abs();
    }
    sum / x.len().max(1) as f64
}

/// Scores are distance ratios to this power: the ratios of distinct typings bunch up
/// around 1 (the distance averages many features), and the power spreads them so the
/// operating point's useful range is about 1 to 6 rather than 1 to 1.6.
pub const SCORE_EXPONENT: i32 = 4;

/// Fewest typings a template can be built from: the per-user threshold needs
/// leave-one-out distances of at least three.
pub const MIN_ENROLL_TYPINGS: usize = 3;

/// Builds a template from enrollment typings of one key sequence. The daemon screens each
/// typing with [`check_candidate`] first; this only refuses typings that cannot be compared
/// at all.
pub fn enroll(samples: &[Sample], params: &Params) -> Result<Template, Rejection> {
    let needed = params.min_samples.max(MIN_ENROLL_TYPINGS);
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
    let (keys, digest) = (feats[0].keys, feats[0].digest);
    if feats.iter().any(|f| f.digest != digest) {
        return Err(Rejection::DifferentKeys);
    }
    Ok(Template::build(TemplateRecord {
        version: TEMPLATE_VERSION,
        keys,
        digest,
        enrolled: feats.into_iter().map(|f| f.values).collect(),
        adapted: Vec::new(),
    }))
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
        1.0 / (1.0 + (score / threshold).powi(2))
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

/// Largest difference, in milliseconds, of every timing for a typing to count as a copy
/// of another. People do not retype a phrase that closely: between two typings of one
/// subject, the closest pair in the shipped data differs by 17.8 ms in some timing
/// (iiitbh_small, 8,850 pairs) and 33 ms (nexus7, 71,400 pairs; greyc_nislab, 49,886 pairs).
/// A recording played back through a virtual keyboard lands within a millisecond or two.
pub const REPLAY_TOLERANCE_MS: f64 = 3.0;

/// The timings of `sample` as stored in a template (`None` when it has none).
pub fn timings(sample: &Sample) -> Option<Vec<f64>> {
    features::extract(sample).ok().map(|f| f.values)
}

/// Whether `sample` repeats, within [`REPLAY_TOLERANCE_MS`] on every timing, a typing the
/// template holds (enrolled or adapted) or one of `seen` (timings of recent typings): a
/// replay of a recording, not a person typing.
pub fn is_replay(template: &Template, sample: &Sample, seen: &[Vec<f64>]) -> bool {
    let Ok(f) = features::extract(sample) else {
        return false;
    };
    let record = &template.record;
    if f.digest != record.digest || f.keys != record.keys {
        return false;
    }
    record
        .enrolled
        .iter()
        .chain(&record.adapted)
        .chain(seen)
        .any(|v| {
            v.len() == f.values.len()
                && v.iter()
                    .zip(&f.values)
                    .all(|(a, b)| (a - b).abs() <= REPLAY_TOLERANCE_MS)
        })
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
    let mut record = template.record.clone();
    let cap = params.max_adapted.min(record.enrolled.len());
    if cap == 0 {
        return false;
    }
    record.adapted.push(f.values);
    while record.adapted.len() > cap {
        record.adapted.remove(0);
    }
    *template = Template::build(record);
    true
}

impl Template {
    /// Builds the model from a checked record.
    fn build(record: TemplateRecord) -> Template {
        let views: Vec<Vec<f64>> = record
            .enrolled
            .iter()
            .chain(&record.adapted)
            .map(|v| model::transform(v, record.keys))
            .collect();
        // Normalise by the typical distance of the enrollment typings (adapted ones were
        // chosen for matching well); a degenerate one (identical typings) falls back to 1,
        // which the scale floor keeps meaningful.
        let norm = Model::typical_distance(&views, record.enrolled.len())
            .filter(|d| d.is_finite() && *d > 1e-9)
            .unwrap_or(1.0);
        Template {
            version: record.version,
            model: Model::fit(views),
            record,
            norm,
        }
    }

    /// Keys in one typing of the enrolled phrase.
    pub fn keys(&self) -> usize {
        self.record.keys
    }

    /// Number of typings the template was built from (enrollment plus adapted).
    pub fn typings(&self) -> usize {
        self.record.enrolled.len() + self.record.adapted.len()
    }

    /// The stored form.
    pub fn record(&self) -> &TemplateRecord {
        &self.record
    }

    fn score(&self, f: &PhraseFeatures) -> f64 {
        if f.digest != self.record.digest || f.keys != self.record.keys {
            return f64::INFINITY;
        }
        (self.model.distance(&model::transform(&f.values, f.keys)) / self.norm).powi(SCORE_EXPONENT)
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
    fn a_replayed_typing_is_told_from_a_retyped_one() {
        let p = Params::default();
        let enrolled = user(&[0.0, 2.0, -2.0, 1.0, -1.0]);
        let t = enroll(&enrolled, &p).unwrap();
        assert!(
            is_replay(&t, &enrolled[1], &[]),
            "an enrollment typing again"
        );
        // The same recording with a millisecond of playback jitter on each key.
        let mut jittered = enrolled[3].clone();
        for (i, k) in jittered.keys.iter_mut().enumerate() {
            let shift = if i % 2 == 0 { 0.8 } else { -0.6 };
            k.down += shift;
            k.up += shift;
        }
        assert!(is_replay(&t, &jittered, &[]));
        // A fresh typing close to the template, but not a copy of any typing.
        let fresh = typing(PHRASE, 202.0, 91.0, 0.5);
        assert!(verify(&t, &fresh, &p).accepted);
        assert!(!is_replay(&t, &fresh, &[]));
        // Seen before (kept by the caller): a copy of it is a replay too.
        let seen = vec![timings(&fresh).unwrap()];
        assert!(is_replay(&t, &fresh, &seen));
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
        assert_eq!(t.record().enrolled, before.record().enrolled);
    }

    #[test]
    fn template_round_trips_through_json_without_keys() {
        let t = enroll(&user(&[0.0, 2.0, -2.0]), &Params::default()).unwrap();
        let json = serde_json::to_string(&t).unwrap();
        assert!(!json.contains("leftshift"));
        let back: Template = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.record().version, TEMPLATE_VERSION);
    }

    #[test]
    fn damaged_stored_templates_are_refused() {
        let t = enroll(&user(&[0.0, 2.0, -2.0]), &Params::default()).unwrap();
        let mut record = t.record().clone();
        record.version = 99;
        assert_eq!(Template::try_from(record), Err(TemplateError::Version(99)));
        let mut record = t.record().clone();
        record.enrolled[1].pop();
        assert_eq!(Template::try_from(record), Err(TemplateError::BadTyping(1)));
        let mut record = t.record().clone();
        record.enrolled[2][0] = f64::NAN;
        assert_eq!(Template::try_from(record), Err(TemplateError::BadTyping(2)));
        let mut record = t.record().clone();
        record.enrolled.truncate(1);
        assert_eq!(
            Template::try_from(record),
            Err(TemplateError::TooFewTypings)
        );
        let json = serde_json::to_string(&t)
            .unwrap()
            .replace("\"version\":1", "\"version\":2");
        assert!(serde_json::from_str::<Template>(&json).is_err());
    }

    #[test]
    fn unusable_typings_are_rejected_not_panicked_on() {
        let p = Params::default();
        let mut t = enroll(&user(&[0.0, 2.0, -2.0, 1.0]), &p).unwrap();
        let mut nan = typing(PHRASE, 200.0, 90.0, 0.0);
        nan.keys[3].up = f64::NAN;
        let mut huge = typing(PHRASE, 200.0, 90.0, 0.0);
        huge.keys[6].up = 1e300;
        for s in [Sample::default(), nan.clone(), huge] {
            let v = verify(&t, &s, &p);
            assert!(!v.accepted, "{v:?}");
            assert!(!adapt(&mut t, &s, &v, &p));
        }
        assert_eq!(
            check_candidate(&[], &Sample::default(), &p),
            Err(Rejection::TooShort { min: 4 })
        );
        assert_eq!(check_candidate(&[], &nan, &p), Err(Rejection::BadTimes));
        // A nonsensical operating point accepts nothing.
        let odd = Params {
            accept: f64::NAN,
            ..Params::default()
        };
        assert!(!verify(&t, &typing(PHRASE, 200.0, 90.0, 0.0), &odd).accepted);
    }
}

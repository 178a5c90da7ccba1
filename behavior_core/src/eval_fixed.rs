//! The fixed-text evaluation protocol (Killourhy & Maxion 2009, generalised; see
//! `samples-format.md`): for each subject and text, train on the subject's first N samples,
//! test on the rest (genuine) and on the first 5 samples of the same text of every other
//! subject (impostors); EER and zero-miss false-alarm rate per subject.
//!
//! [`FixedProtocol::practice`] leaves out each subject's first typings before training, to
//! measure a user who enrolls after getting used to the phrase; the impostors stay the first
//! typings of the others. Not part of the published protocol.
//!
//! [`FixedDetector::ProductAdapting`] replays the same data as the daemon lives it, which
//! the protocol does not: the genuine test typings arrive in order as logins and the template
//! adapts after each one that [`fixed::adapt`] takes; impostor typings are scored against
//! the template as it stands at a few points along the way and never adapted (they would
//! also need the PIN).

use crate::eval::{eer, zero_miss_false_alarm, OnlineRates, SubjectResult};
use crate::features::{self, PhraseFeatures};
use crate::fixed;
use crate::reference::ScaledManhattan;
use crate::sample::{LabeledSample, Sample};
use std::collections::BTreeMap;

/// How many of a subject's samples train the detector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Train {
    Count(usize),
    /// Half of the subject's samples of the text (rounded down).
    Half,
}

/// The protocol's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedProtocol {
    pub train: Train,
    /// Each subject's first samples left out before training (typings made while getting
    /// used to the phrase); 0 in the published protocol. [`Train::Half`] is half of the
    /// samples after these.
    pub practice: usize,
}

impl FixedProtocol {
    /// The published protocol with `train` training samples.
    pub fn new(train: Train) -> Self {
        FixedProtocol { train, practice: 0 }
    }
}

/// Which matcher is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixedDetector {
    /// The product's matcher ([`crate::fixed`]), exactly as the daemon calls it.
    Product,
    /// The product's matcher adapting from the genuine test typings in order, as the daemon
    /// does after each successful login (see the module documentation).
    ProductAdapting,
    /// The Killourhy & Maxion scaled-Manhattan reference ([`crate::reference`]).
    ManhattanScaled,
}

/// Impostor samples taken from every other subject.
pub const IMPOSTOR_SAMPLES: usize = 5;

/// [`FixedDetector::ProductAdapting`] scores the impostors at this many evenly spaced points
/// of the genuine sequence, the first before any adaptation.
pub const IMPOSTOR_CHECKPOINTS: usize = 5;

/// Runs the protocol with the matcher's default settings. `progress(done, total)` is called
/// after each subject. Subjects with no genuine test sample left after training, or whose
/// training samples the detector cannot use, are left out.
pub fn evaluate(
    samples: &[LabeledSample],
    protocol: &FixedProtocol,
    detector: FixedDetector,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<SubjectResult> {
    // (text, subject) -> samples in file order; subjects keep their first-seen order.
    let mut groups: BTreeMap<&str, Vec<(&str, Vec<&Sample>)>> = BTreeMap::new();
    for s in samples {
        let subjects = groups.entry(s.text.as_str()).or_default();
        match subjects.iter_mut().find(|(name, _)| *name == s.subject) {
            Some((_, list)) => list.push(&s.sample),
            None => subjects.push((s.subject.as_str(), vec![&s.sample])),
        }
    }
    let several_texts = groups.len() > 1;
    let total: usize = groups.values().map(Vec::len).sum();
    let mut done = 0;
    let mut results = Vec::new();
    let params = fixed::Params::default();
    for (text, subjects) in &groups {
        for (i, (subject, all)) in subjects.iter().enumerate() {
            let own = &all[protocol.practice.min(all.len())..];
            let n = match protocol.train {
                Train::Count(n) => n,
                Train::Half => own.len() / 2,
            };
            if n > 0 && own.len() > n {
                let impostors: Vec<&Sample> = subjects
                    .iter()
                    .enumerate()
                    .filter(|&(k, _)| k != i)
                    .flat_map(|(_, (_, other))| other.iter().take(IMPOSTOR_SAMPLES).copied())
                    .collect();
                let scored = score_all(detector, &params, &own[..n], &own[n..], &impostors);
                if let Some(Scores {
                    genuine,
                    impostor,
                    online,
                }) = scored
                {
                    if let (Some(e), Some(z)) = (
                        eer(&genuine, &impostor),
                        zero_miss_false_alarm(&genuine, &impostor),
                    ) {
                        results.push(SubjectResult {
                            subject: if several_texts {
                                format!("{subject} ({text})")
                            } else {
                                (*subject).to_string()
                            },
                            eer: e,
                            zero_miss_far: Some(z),
                            genuine_tests: genuine.len(),
                            impostor_tests: impostor.len(),
                            online,
                        });
                    }
                }
            }
            done += 1;
            progress(done, total);
        }
    }
    results
}

/// One subject's scores.
struct Scores {
    genuine: Vec<f64>,
    impostor: Vec<f64>,
    online: Option<OnlineRates>,
}

/// Genuine and impostor scores of one subject, or `None` when the detector cannot be
/// trained on these samples.
fn score_all(
    detector: FixedDetector,
    params: &fixed::Params,
    train: &[&Sample],
    genuine: &[&Sample],
    impostors: &[&Sample],
) -> Option<Scores> {
    match detector {
        FixedDetector::Product => {
            let owned: Vec<Sample> = train.iter().map(|s| (*s).clone()).collect();
            let template = fixed::enroll(&owned, params).ok()?;
            let score = |s: &&Sample| fixed::verify(&template, s, params).score;
            Some(Scores {
                genuine: genuine.iter().map(score).collect(),
                impostor: impostors.iter().map(score).collect(),
                online: None,
            })
        }
        FixedDetector::ProductAdapting => replay(params, train, genuine, impostors),
        FixedDetector::ManhattanScaled => {
            let feats: Vec<PhraseFeatures> = train
                .iter()
                .filter_map(|s| features::extract(s).ok())
                .collect();
            if feats.len() < train.len() {
                return None;
            }
            let d = ScaledManhattan::train(&feats)?;
            let score = |s: &&Sample| match features::extract(s) {
                Ok(f) => d.score(&f),
                Err(_) => f64::INFINITY,
            };
            Some(Scores {
                genuine: genuine.iter().map(score).collect(),
                impostor: impostors.iter().map(score).collect(),
                online: None,
            })
        }
    }
}

/// [`FixedDetector::ProductAdapting`]: each genuine typing is verified against the template
/// as it stands, then offered to [`fixed::adapt`], as the daemon does after a login.
fn replay(
    params: &fixed::Params,
    train: &[&Sample],
    genuine: &[&Sample],
    impostors: &[&Sample],
) -> Option<Scores> {
    let owned: Vec<Sample> = train.iter().map(|s| (*s).clone()).collect();
    let mut template = fixed::enroll(&owned, params).ok()?;
    let checkpoints: Vec<usize> = (0..IMPOSTOR_CHECKPOINTS)
        .map(|c| c * genuine.len().saturating_sub(1) / (IMPOSTOR_CHECKPOINTS - 1).max(1))
        .collect();
    let (mut scores, mut impostor) = (Vec::new(), Vec::new());
    let (mut rejected, mut accepted_impostors, mut adapted) = (0usize, 0usize, 0usize);
    for (t, s) in genuine.iter().enumerate() {
        // A checkpoint listed twice (fewer genuine typings than checkpoints) counts once.
        if checkpoints.contains(&t) {
            for v in impostors
                .iter()
                .map(|i| fixed::verify(&template, i, params))
            {
                accepted_impostors += usize::from(v.accepted);
                impostor.push(v.score);
            }
        }
        let v = fixed::verify(&template, s, params);
        rejected += usize::from(!v.accepted);
        scores.push(v.score);
        adapted += usize::from(fixed::adapt(&mut template, s, &v, params));
    }
    let share = |k: usize, of: usize| if of == 0 { 0.0 } else { k as f64 / of as f64 };
    Some(Scores {
        online: Some(OnlineRates {
            false_rejects: share(rejected, scores.len()),
            false_accepts: share(accepted_impostors, impostor.len()),
            adapted: share(adapted, scores.len()),
        }),
        genuine: scores,
        impostor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Key;
    use crate::sample::Keystroke;

    /// Subject `k` types 5 keys with gaps of `100 + 60k` ms, a little jitter per sample.
    fn data(subjects: usize, per: usize) -> Vec<LabeledSample> {
        drifting(subjects, per, 0.0)
    }

    /// As [`data`], every gap `drift` × 100 % shorter than in the sample before (practice).
    fn drifting(subjects: usize, per: usize, drift: f64) -> Vec<LabeledSample> {
        let mut out = Vec::new();
        for k in 0..subjects {
            for i in 0..per {
                let jitter = ((i * 13 + k * 7) % 9) as f64 - 4.0;
                let pace = (1.0 - drift).powi(i as i32);
                let keys = (0..5u16)
                    .map(|j| {
                        let down = f64::from(j) * (100.0 + 60.0 * k as f64 + jitter) * pace;
                        Keystroke {
                            key: Key(30 + j),
                            down,
                            up: down + 80.0 + jitter,
                        }
                    })
                    .collect();
                out.push(LabeledSample {
                    subject: format!("s{k}"),
                    session: None,
                    text: "asdfg".into(),
                    sample: Sample::new(keys).unwrap(),
                });
            }
        }
        out
    }

    #[test]
    fn separable_subjects_have_zero_error() {
        for detector in [FixedDetector::Product, FixedDetector::ManhattanScaled] {
            let mut calls = 0;
            let r = evaluate(
                &data(4, 12),
                &FixedProtocol::new(Train::Half),
                detector,
                &mut |d, t| {
                    calls += 1;
                    assert!(d <= t);
                },
            );
            assert_eq!(calls, 4);
            assert_eq!(r.len(), 4);
            for s in &r {
                assert_eq!(s.eer, 0.0, "{detector:?} {s:?}");
                assert_eq!(s.genuine_tests, 6);
                assert_eq!(s.impostor_tests, 15);
            }
        }
    }

    #[test]
    fn practice_typings_are_left_out_of_training_and_tests() {
        // Every subject types its first 4 samples 2.5 times slower than the rest: a template
        // of those misses the later typings, a template of the later ones does not.
        let mut samples = data(4, 16);
        for (i, l) in samples.iter_mut().enumerate() {
            if i % 16 < 4 {
                let keys = l
                    .sample
                    .keys
                    .iter()
                    .map(|k| Keystroke {
                        key: k.key,
                        down: k.down * 2.5,
                        up: k.down * 2.5 + (k.up - k.down),
                    })
                    .collect();
                l.sample = Sample::new(keys).unwrap();
            }
        }
        let run = |practice| {
            let protocol = FixedProtocol {
                train: Train::Count(4),
                practice,
            };
            evaluate(&samples, &protocol, FixedDetector::Product, &mut |_, _| {})
        };
        let novice = run(0);
        let practised = run(4);
        assert_eq!(practised.len(), 4);
        for s in &practised {
            assert_eq!(s.genuine_tests, 16 - 4 - 4);
            assert_eq!(s.impostor_tests, 3 * IMPOSTOR_SAMPLES);
            assert_eq!(s.eer, 0.0, "{s:?}");
        }
        let mean = novice.iter().map(|s| s.eer).sum::<f64>() / novice.len() as f64;
        assert!(mean > 0.1, "a novice template should miss: {novice:?}");
        // More practice than samples leaves nobody to evaluate, without panicking.
        assert!(run(100).is_empty());
    }

    #[test]
    fn subjects_without_test_samples_are_left_out() {
        let r = evaluate(
            &data(3, 5),
            &FixedProtocol::new(Train::Count(5)),
            FixedDetector::Product,
            &mut |_, _| {},
        );
        assert!(r.is_empty());
    }

    #[test]
    fn adapting_replay_scores_impostors_at_every_checkpoint() {
        let r = evaluate(
            &data(4, 12),
            &FixedProtocol::new(Train::Half),
            FixedDetector::ProductAdapting,
            &mut |_, _| {},
        );
        assert_eq!(r.len(), 4);
        for s in &r {
            assert_eq!(s.genuine_tests, 6);
            assert_eq!(s.impostor_tests, 15 * IMPOSTOR_CHECKPOINTS);
            let online = s.online.expect("adapting replay reports rates");
            for rate in [online.false_rejects, online.false_accepts, online.adapted] {
                assert!((0.0..=1.0).contains(&rate), "{online:?}");
            }
            assert_eq!(online.false_accepts, 0.0, "{s:?}");
        }
        let plain = evaluate(
            &data(4, 12),
            &FixedProtocol::new(Train::Half),
            FixedDetector::Product,
            &mut |_, _| {},
        );
        assert!(plain.iter().all(|s| s.online.is_none()));
    }

    #[test]
    fn adaptation_follows_a_typist_who_gets_faster() {
        // 0.3 % faster every typing: after enrollment on 5, later typings drift out of the
        // template unless it learns from the accepted ones.
        let samples = drifting(3, 60, 0.003);
        let adapting = evaluate(
            &samples,
            &FixedProtocol::new(Train::Count(5)),
            FixedDetector::ProductAdapting,
            &mut |_, _| {},
        );
        let params = fixed::Params::default();
        for s in &adapting {
            let online = s.online.expect("rates");
            let own: Vec<Sample> = samples
                .iter()
                .filter(|l| l.subject == s.subject)
                .map(|l| l.sample.clone())
                .collect();
            let template = fixed::enroll(&own[..5], &params).unwrap();
            let rejected = own[5..]
                .iter()
                .filter(|t| !fixed::verify(&template, t, &params).accepted)
                .count() as f64
                / own[5..].len() as f64;
            assert!(online.adapted > 0.5, "{online:?}");
            assert!(
                online.false_rejects + 0.2 < rejected,
                "adapting rejects {} of the genuine typings, a fixed template {rejected}",
                online.false_rejects
            );
        }
    }
}

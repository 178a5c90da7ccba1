//! The free-text evaluation protocol of `samples-format.md` (after TypeNet, Acien et al. 2022).
//!
//! For each subject (the first `subjects` in file order when given; only those take part):
//! the gallery is its first `gallery` samples; its last 5 samples, joined end to end, are cut
//! into windows of `length` keystrokes (genuine queries; an incomplete tail is dropped); for
//! each of up to `impostors` other subjects (out of those taking part), chosen with a seeded
//! PRNG, the first such window of that subject is an impostor query. EER per subject
//! (`eval::eer`). Each model is built from its subject's own gallery only: no background or
//! cohort data, so nothing of the evaluated subject or of the impostors enters it.
//!
//! Subjects with fewer than `gallery + 5` samples, or whose last 5 samples give no full
//! window, are left out (their gallery and queries would overlap, or they have no query).

use crate::eval::{eer, SubjectResult};
use crate::free::reference::DigraphReference;
use crate::free::{score_window, FreeParams, Profile, ProfileBuilder};
use crate::sample::{Keystroke, LabeledSample};

/// How many of a subject's last samples make its queries.
pub const QUERY_SAMPLES: usize = 5;
/// Gap inserted between joined samples (ms): longer than any pause threshold, so no pair of
/// keys across two samples is ever taken as a digraph.
const JOIN_GAP_MS: f64 = 60_000.0;

#[derive(Clone, Debug, PartialEq)]
pub struct FreeProtocol {
    pub gallery: usize,
    pub length: usize,
    pub impostors: usize,
    pub subjects: Option<usize>,
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeDetector {
    /// The product's free-text scorer (`free::score_window`).
    Product,
    /// The digraph scaled-Manhattan reference (`free::reference`).
    DigraphManhattan,
}

/// splitmix64: a tiny deterministic PRNG so impostor choice is reproducible everywhere.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by rejection so there is no modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let v = self.next_u64();
            if v < zone {
                return (v % n) as usize;
            }
        }
    }
}

/// Joins samples end to end into one stream, each shifted to start `JOIN_GAP_MS` after the
/// previous one ends, so times stay ordered and cross-sample pairs read as pauses.
pub fn join(samples: &[&LabeledSample]) -> Vec<Keystroke> {
    let mut out: Vec<Keystroke> = Vec::new();
    for s in samples {
        let Some(first) = s.sample.keys.first() else {
            continue;
        };
        let end = out.iter().map(|k| k.up).fold(f64::NEG_INFINITY, f64::max);
        let offset = if out.is_empty() {
            -first.down
        } else {
            end + JOIN_GAP_MS - first.down
        };
        out.extend(s.sample.keys.iter().map(|k| Keystroke {
            key: k.key,
            down: k.down + offset,
            up: k.up + offset,
        }));
    }
    out
}

/// One subject's data in the protocol.
struct Subject<'a> {
    name: &'a str,
    gallery: Vec<&'a LabeledSample>,
    /// Genuine query windows (the first one is also this subject's impostor query).
    windows: Vec<Vec<Keystroke>>,
}

/// Groups samples by subject, in order of first appearance.
fn subjects<'a>(samples: &'a [LabeledSample], proto: &FreeProtocol) -> Vec<Subject<'a>> {
    let mut order: Vec<&str> = Vec::new();
    let mut by: std::collections::HashMap<&str, Vec<&LabeledSample>> =
        std::collections::HashMap::new();
    for s in samples {
        let e = by.entry(s.subject.as_str()).or_default();
        if e.is_empty() {
            order.push(s.subject.as_str());
        }
        e.push(s);
    }
    if let Some(n) = proto.subjects {
        order.truncate(n);
    }
    order
        .into_iter()
        .filter_map(|name| {
            let all = by.get(name)?;
            if proto.length == 0 || all.len() < proto.gallery + QUERY_SAMPLES {
                return None;
            }
            let stream = join(&all[all.len() - QUERY_SAMPLES..]);
            let windows: Vec<Vec<Keystroke>> = stream
                .chunks_exact(proto.length)
                .map(|w| w.to_vec())
                .collect();
            if windows.is_empty() {
                return None;
            }
            Some(Subject {
                name,
                gallery: all[..proto.gallery].to_vec(),
                windows,
            })
        })
        .collect()
}

/// Picks up to `m` subjects other than `me` out of `n`, deterministically from `seed`.
fn pick_impostors(n: usize, me: usize, m: usize, seed: u64) -> Vec<usize> {
    let mut others: Vec<usize> = (0..n).filter(|&j| j != me).collect();
    let mut rng = SplitMix64::new(seed ^ (me as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    // Partial Fisher-Yates: the first `m` are a uniform sample.
    let m = m.min(others.len());
    for i in 0..m {
        let j = i + rng.below(others.len() - i);
        others.swap(i, j);
    }
    others.truncate(m);
    others
}

/// A trained per-subject model, whichever the detector.
enum Model {
    Product(Option<Profile>),
    Reference(DigraphReference),
}

impl Model {
    fn train(gallery: &[&LabeledSample], detector: FreeDetector, params: &FreeParams) -> Model {
        match detector {
            FreeDetector::Product => {
                let mut b = ProfileBuilder::with_params(params.clone());
                for s in gallery {
                    b.add(&s.sample.keys);
                }
                Model::Product(b.build())
            }
            FreeDetector::DigraphManhattan => Model::Reference(DigraphReference::train(
                gallery.iter().map(|s| s.sample.keys.as_slice()),
            )),
        }
    }

    fn score(&self, window: &[Keystroke], params: &FreeParams) -> f64 {
        match self {
            // Too little gallery for a profile: every query is equally unknown.
            Model::Product(None) => f64::INFINITY,
            Model::Product(Some(p)) => {
                let s = score_window(p, window, params);
                if s.features == 0 {
                    f64::INFINITY
                } else {
                    s.score
                }
            }
            Model::Reference(r) => r.score(window),
        }
    }
}

/// Runs `f(i)` for `i in 0..n` on the available cores, in order of results.
fn parallel<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(n.max(1));
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let chunk = n.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for (c, slots) in out.chunks_mut(chunk).enumerate() {
            let f = &f;
            scope.spawn(move || {
                for (k, slot) in slots.iter_mut().enumerate() {
                    *slot = Some(f(c * chunk + k));
                }
            });
        }
    });
    out.into_iter().flatten().collect()
}

/// Runs the free-text protocol; `progress(done, total)` is called as subjects complete.
pub fn evaluate(
    samples: &[LabeledSample],
    proto: &FreeProtocol,
    detector: FreeDetector,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<SubjectResult> {
    let params = FreeParams::default();
    let subjects = subjects(samples, proto);
    let n = subjects.len();
    progress(0, n);
    let models = parallel(n, |i| Model::train(&subjects[i].gallery, detector, &params));
    let mut results = Vec::with_capacity(n);
    // Score in batches so progress is reported while the work runs on all cores.
    let batch = 16;
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let part = parallel(end - start, |k| {
            let i = start + k;
            let model = &models[i];
            let genuine: Vec<f64> = subjects[i]
                .windows
                .iter()
                .map(|w| model.score(w, &params))
                .collect();
            let impostor: Vec<f64> = pick_impostors(n, i, proto.impostors, proto.seed)
                .into_iter()
                .map(|j| model.score(&subjects[j].windows[0], &params))
                .collect();
            eer(&genuine, &impostor).map(|e| SubjectResult {
                subject: subjects[i].name.to_string(),
                eer: e,
                zero_miss_far: None,
                genuine_tests: genuine.len(),
                impostor_tests: impostor.len(),
                online: None,
            })
        });
        results.extend(part.into_iter().flatten());
        progress(end, n);
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_deterministic_and_bounded() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..100 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            assert!(x < 10);
        }
        // Reference value of splitmix64 seeded with 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn impostors_exclude_self_and_are_distinct() {
        let p = pick_impostors(50, 3, 20, 1);
        assert_eq!(p.len(), 20);
        assert!(!p.contains(&3));
        let mut q = p.clone();
        q.sort();
        q.dedup();
        assert_eq!(q.len(), 20);
        assert_eq!(p, pick_impostors(50, 3, 20, 1));
        assert_ne!(p, pick_impostors(50, 3, 20, 2));
        assert_eq!(pick_impostors(5, 0, 200, 1).len(), 4);
    }

    /// A fixture of `n` subjects, 15 samples of 40 keys each; subject `s` types with its own
    /// tempo and hold time, plus deterministic jitter.
    fn fixture(n: usize) -> Vec<LabeledSample> {
        let codes = [20u16, 35, 18, 57, 30, 13, 32, 57, 31, 24];
        let mut rng = SplitMix64::new(42);
        let mut out = Vec::new();
        for s in 0..n {
            let tempo = 1.0 + 0.15 * s as f64;
            let hold = 70.0 + 12.0 * s as f64;
            for _ in 0..15 {
                let mut t = 0.0;
                let keys = (0..40)
                    .map(|i| {
                        let k = codes[i % codes.len()];
                        let j = (rng.below(21) as f64 - 10.0) * 2.0;
                        let d = t;
                        t += tempo * (110.0 + 4.0 * (k % 7) as f64) + j;
                        Keystroke {
                            key: crate::Key(k),
                            down: d,
                            up: d + hold + j / 2.0,
                        }
                    })
                    .collect();
                out.push(LabeledSample {
                    subject: format!("s{s}"),
                    session: Some(1),
                    text: String::new(),
                    sample: crate::Sample { keys },
                });
            }
        }
        out
    }

    #[test]
    fn evaluates_the_protocol_on_a_fixture() {
        let samples = fixture(6);
        let proto = FreeProtocol {
            gallery: 10,
            length: 50,
            impostors: 3,
            subjects: Some(5),
            seed: 9,
        };
        let mut calls = Vec::new();
        for detector in [FreeDetector::Product, FreeDetector::DigraphManhattan] {
            let r = evaluate(&samples, &proto, detector, &mut |d, t| calls.push((d, t)));
            assert_eq!(r.len(), 5, "{detector:?}");
            for s in &r {
                // 5 samples x 40 keys = 200 keys: 4 windows of 50.
                assert_eq!((s.genuine_tests, s.impostor_tests), (4, 3));
                assert!(s.eer < 0.1, "{detector:?} {s:?}");
            }
        }
        assert_eq!(calls.last(), Some(&(5, 5)));
        // Identical subjects cannot be told apart: the twin's query is one of our own
        // genuine windows, so one genuine window at least ties with the impostor.
        let mut same = fixture(1);
        for s in same.clone() {
            same.push(LabeledSample {
                subject: "twin".into(),
                ..s
            });
        }
        let r = evaluate(&same, &proto, FreeDetector::Product, &mut |_, _| {});
        assert!(r.iter().all(|s| s.eer > 0.1), "{r:?}");
    }

    #[test]
    fn joined_samples_stay_ordered_and_apart() {
        let samples = fixture(1);
        let refs: Vec<&LabeledSample> = samples.iter().take(3).collect();
        let j = join(&refs);
        assert_eq!(j.len(), 120);
        assert_eq!(j[0].down, 0.0);
        assert!(j.windows(2).all(|w| w[0].down <= w[1].down));
        // Each sample keeps its own rhythm; between samples there is a long pause.
        assert!(j[40].down - j[39].up >= JOIN_GAP_MS);
        let first = &samples[1].sample.keys;
        assert_eq!(j[41].down - j[40].down, first[1].down - first[0].down);
    }

    #[test]
    fn same_seed_same_results() {
        let samples = fixture(8);
        let proto = |seed| FreeProtocol {
            gallery: 10,
            length: 20,
            impostors: 3,
            subjects: None,
            seed,
        };
        let run = |seed| {
            evaluate(
                &samples,
                &proto(seed),
                FreeDetector::Product,
                &mut |_, _| {},
            )
        };
        assert_eq!(run(5), run(5));
        assert_eq!(run(5).len(), 8);
    }

    #[test]
    fn short_subjects_are_left_out() {
        let mut samples = fixture(3);
        samples.retain(|s| s.subject != "s1" || s.sample.keys.len() > 1000);
        samples.extend(
            fixture(2)
                .into_iter()
                .filter(|s| s.subject == "s1")
                .take(12),
        );
        let proto = FreeProtocol {
            gallery: 10,
            length: 50,
            impostors: 200,
            subjects: None,
            seed: 1,
        };
        let r = evaluate(&samples, &proto, FreeDetector::Product, &mut |_, _| {});
        let names: Vec<&str> = r.iter().map(|s| s.subject.as_str()).collect();
        assert_eq!(names, ["s0", "s2"]);
        assert!(r.iter().all(|s| s.impostor_tests == 1));
    }
}

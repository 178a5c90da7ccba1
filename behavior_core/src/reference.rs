//! The Killourhy & Maxion (2009) scaled-Manhattan detector, exactly as published, as the
//! reference `behaviorctl evaluate --detector manhattan-scaled` compares the product with.
//!
//! Training: the mean vector and the mean absolute deviation of every feature (H, DD, UD of
//! every key of the phrase, see [`crate::features`]). Score: the sum over features of
//! `|x - mean| / mad`. The only addition is a floor of `1e-9` on a zero deviation (all
//! training values equal), where the published formula would divide by zero.

use crate::features::PhraseFeatures;

/// A trained scaled-Manhattan detector.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaledManhattan {
    digest: u64,
    mean: Vec<f64>,
    mad: Vec<f64>,
}

const MIN_DEVIATION: f64 = 1e-9;

impl ScaledManhattan {
    /// Trains on feature vectors of one key sequence. `None` without training data or when
    /// the training typings do not share one key sequence.
    pub fn train(train: &[PhraseFeatures]) -> Option<ScaledManhattan> {
        let first = train.first()?;
        if train.iter().any(|f| f.digest != first.digest) {
            return None;
        }
        let n = train.len() as f64;
        let d = first.values.len();
        let mut mean = vec![0.0; d];
        for f in train {
            for (m, v) in mean.iter_mut().zip(&f.values) {
                *m += v / n;
            }
        }
        let mut mad = vec![0.0; d];
        for f in train {
            for ((a, v), m) in mad.iter_mut().zip(&f.values).zip(&mean) {
                *a += (v - m).abs() / n;
            }
        }
        for a in &mut mad {
            *a = a.max(MIN_DEVIATION);
        }
        Some(ScaledManhattan {
            digest: first.digest,
            mean,
            mad,
        })
    }

    /// Anomaly score: higher is less like the training typings; infinite for another key
    /// sequence.
    pub fn score(&self, f: &PhraseFeatures) -> f64 {
        if f.digest != self.digest || f.values.len() != self.mean.len() {
            return f64::INFINITY;
        }
        f.values
            .iter()
            .zip(&self.mean)
            .zip(&self.mad)
            .map(|((x, m), a)| (x - m).abs() / a)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(digest: u64, values: &[f64]) -> PhraseFeatures {
        PhraseFeatures {
            keys: 0,
            digest,
            values: values.to_vec(),
        }
    }

    #[test]
    fn mean_and_mean_absolute_deviation() {
        let d = ScaledManhattan::train(&[f(1, &[1.0, 10.0]), f(1, &[3.0, 30.0])]).unwrap();
        // mean (2, 20), mad (1, 10): |5-2|/1 + |20-20|/10 = 3.
        assert_eq!(d.score(&f(1, &[5.0, 20.0])), 3.0);
        assert_eq!(d.score(&f(1, &[2.0, 30.0])), 1.0);
    }

    #[test]
    fn other_key_sequences_never_match() {
        let d = ScaledManhattan::train(&[f(1, &[1.0, 10.0]), f(1, &[3.0, 30.0])]).unwrap();
        assert_eq!(d.score(&f(2, &[2.0, 20.0])), f64::INFINITY);
        assert_eq!(d.score(&f(1, &[2.0])), f64::INFINITY);
        assert!(ScaledManhattan::train(&[f(1, &[1.0]), f(2, &[1.0])]).is_none());
        assert!(ScaledManhattan::train(&[]).is_none());
    }
}

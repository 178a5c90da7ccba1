//! The digraph scaled-Manhattan reference for free text: the Killourhy & Maxion (2009)
//! scaled Manhattan detector carried over to free text the usual way, over digraphs (pairs of
//! consecutive keys) instead of fixed feature positions. It is here to be compared against,
//! not used by the daemon (it keeps exact key pairs).
//!
//! Training: for every digraph in the gallery, the mean of its down-down latencies and their
//! mean absolute deviation. Scoring: the mean over the query's digraphs the gallery knows (at
//! least two occurrences and a non-zero deviation) of `|x - mean| / mad`. Pairs whose
//! down-down latency exceeds [`REFERENCE_MAX_GAP_MS`] are pauses and are skipped on both sides.

use crate::keys::Key;
use crate::sample::Keystroke;
use std::collections::HashMap;

/// Down-down latency beyond which a pair of keys is a pause, not a digraph (the usual
/// 500 ms cut-off of digraph studies).
pub const REFERENCE_MAX_GAP_MS: f64 = 500.0;

/// Trained digraph reference of one subject.
#[derive(Clone, Debug, Default)]
pub struct DigraphReference {
    stats: HashMap<(Key, Key), (f64, f64)>,
}

fn digraphs(keys: &[Keystroke], mut f: impl FnMut((Key, Key), f64)) {
    for w in keys.windows(2) {
        let dd = w[1].down - w[0].down;
        if (0.0..=REFERENCE_MAX_GAP_MS).contains(&dd) {
            f((w[0].key, w[1].key), dd);
        }
    }
}

impl DigraphReference {
    /// Trains on gallery samples, each an uninterrupted stretch of typing.
    pub fn train<'a>(gallery: impl IntoIterator<Item = &'a [Keystroke]>) -> DigraphReference {
        let mut all: HashMap<(Key, Key), Vec<f64>> = HashMap::new();
        for keys in gallery {
            digraphs(keys, |d, v| all.entry(d).or_default().push(v));
        }
        let stats = all
            .into_iter()
            .filter(|(_, v)| v.len() >= 2)
            .filter_map(|(d, v)| {
                let n = v.len() as f64;
                let mean = v.iter().sum::<f64>() / n;
                let mad = v.iter().map(|x| (x - mean).abs()).sum::<f64>() / n;
                (mad > 0.0).then_some((d, (mean, mad)))
            })
            .collect();
        DigraphReference { stats }
    }

    /// Distance of a window (higher = less like the gallery). A window sharing no digraph
    /// with the gallery gets `f64::INFINITY`.
    pub fn score(&self, window: &[Keystroke]) -> f64 {
        let (mut sum, mut n) = (0.0, 0usize);
        digraphs(window, |d, v| {
            if let Some(&(mean, mad)) = self.stats.get(&d) {
                sum += (v - mean).abs() / mad;
                n += 1;
            }
        });
        if n == 0 {
            f64::INFINITY
        } else {
            sum / n as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(v: &[(u16, f64)]) -> Vec<Keystroke> {
        v.iter()
            .map(|&(k, d)| Keystroke {
                key: Key(k),
                down: d,
                up: d + 80.0,
            })
            .collect()
    }

    #[test]
    fn scaled_manhattan_over_digraphs() {
        // a->s latencies 100 and 140: mean 120, mad 20.
        let g1 = ks(&[(30, 0.0), (31, 100.0)]);
        let g2 = ks(&[(30, 0.0), (31, 140.0)]);
        let r = DigraphReference::train([g1.as_slice(), g2.as_slice()]);
        let q = ks(&[(30, 0.0), (31, 160.0), (32, 300.0)]);
        assert!((r.score(&q) - 2.0).abs() < 1e-12);
        // Unknown digraphs only.
        assert_eq!(r.score(&ks(&[(32, 0.0), (33, 100.0)])), f64::INFINITY);
        // A pause is not a digraph.
        assert_eq!(r.score(&ks(&[(30, 0.0), (31, 900.0)])), f64::INFINITY);
    }
}

//! Error-rate figures shared by the evaluation protocols (`behaviorctl evaluate`).
//!
//! Scores are distances: higher means "less like the genuine user". A threshold `t`
//! accepts a score `s` when `s <= t`.

use serde::Serialize;

/// Equal error rate: the rate where false rejection of genuine attempts equals false
/// acceptance of impostor attempts, over every threshold between observed scores. Where the
/// two curves cross between thresholds, the mean of the two rates at the closest point.
/// Returns `None` when either side has no score.
pub fn eer(genuine: &[f64], impostor: &[f64]) -> Option<f64> {
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    let mut g = genuine.to_vec();
    let mut i = impostor.to_vec();
    g.sort_by(f64::total_cmp);
    i.sort_by(f64::total_cmp);
    let (ng, ni) = (g.len() as f64, i.len() as f64);
    // Candidate thresholds: every observed score, plus one below all of them.
    let mut thresholds: Vec<f64> = g.iter().chain(i.iter()).copied().collect();
    thresholds.sort_by(f64::total_cmp);
    thresholds.dedup();
    thresholds.insert(0, f64::NEG_INFINITY);
    let mut best = (f64::INFINITY, 0.0);
    for &t in &thresholds {
        let frr = (ng - g.partition_point(|&s| s <= t) as f64) / ng;
        let far = i.partition_point(|&s| s <= t) as f64 / ni;
        let gap = (frr - far).abs();
        if gap < best.0 {
            best = (gap, (frr + far) / 2.0);
        }
    }
    Some(best.1)
}

/// Zero-miss false-alarm rate (Killourhy & Maxion 2009): with the threshold set so that no
/// impostor attempt is accepted, the share of genuine attempts rejected.
pub fn zero_miss_false_alarm(genuine: &[f64], impostor: &[f64]) -> Option<f64> {
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    let lowest_impostor = impostor.iter().copied().fold(f64::INFINITY, f64::min);
    let rejected = genuine.iter().filter(|&&s| s >= lowest_impostor).count();
    Some(rejected as f64 / genuine.len() as f64)
}

/// One subject's figures in an evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SubjectResult {
    pub subject: String,
    pub eer: f64,
    /// Fixed-text protocol only.
    pub zero_miss_far: Option<f64>,
    pub genuine_tests: usize,
    pub impostor_tests: usize,
    /// Fixed-text protocol with adaptation ([`crate::eval_fixed::FixedDetector::ProductAdapting`]) only.
    pub online: Option<OnlineRates>,
}

/// What a user meets at the operating point while the template adapts: shares of one
/// subject's genuine typings rejected, of impostor typings accepted, and of genuine typings
/// the template learnt from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct OnlineRates {
    pub false_rejects: f64,
    pub false_accepts: f64,
    pub adapted: f64,
}

/// Mean and (sample) standard deviation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeanSd {
    pub mean: f64,
    pub sd: f64,
}

pub fn mean_sd(values: &[f64]) -> Option<MeanSd> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = if values.len() > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    Some(MeanSd { mean, sd })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_separation_has_zero_eer() {
        assert_eq!(eer(&[1.0, 2.0, 3.0], &[4.0, 5.0]), Some(0.0));
        assert_eq!(
            zero_miss_false_alarm(&[1.0, 2.0, 3.0], &[4.0, 5.0]),
            Some(0.0)
        );
    }

    #[test]
    fn identical_distributions_have_half_eer() {
        let s = [1.0, 2.0, 3.0, 4.0];
        let e = eer(&s, &s).unwrap();
        assert!((e - 0.5).abs() < 0.13, "{e}");
    }

    #[test]
    fn overlap_is_counted() {
        // genuine 1..=4, impostor 3..=6: at t=3 FRR=1/4, FAR=1/4.
        let e = eer(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0]).unwrap();
        assert!((e - 0.25).abs() < 1e-9, "{e}");
        // lowest impostor 3: genuine 3 and 4 must be rejected.
        assert_eq!(
            zero_miss_false_alarm(&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0]),
            Some(0.5)
        );
    }

    #[test]
    fn empty_sides_give_none() {
        assert_eq!(eer(&[], &[1.0]), None);
        assert_eq!(zero_miss_false_alarm(&[1.0], &[]), None);
        assert_eq!(mean_sd(&[]), None);
    }

    #[test]
    fn mean_and_sd() {
        let m = mean_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert!((m.mean - 5.0).abs() < 1e-12);
        assert!((m.sd - 2.138_089_935).abs() < 1e-6);
    }
}

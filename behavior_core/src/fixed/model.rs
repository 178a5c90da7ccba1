//! The scoring model behind [`crate::fixed`]: how far one typing is from a set of typings of
//! the same key sequence.
//!
//! Chosen by measurement (docs/accuracy.md), starting from Killourhy & Maxion's scaled
//! Manhattan and keeping each change that helped on both data sets:
//! - Hold and down-down times only: up-down is down-down minus the previous hold, so it adds
//!   no information, only weight on the same timings.
//! - Log of `time + 30 ms`: timing noise grows with the interval, so deviations count
//!   relative to the interval; the offset keeps near-zero intervals (a key pressed together
//!   with Shift) from turning a few milliseconds of jitter into huge ratios.
//! - Median and mean absolute deviation from it, so one sloppy enrollment typing moves the
//!   centre little; the deviation has a floor so a feature typed identically every time does
//!   not make every later typing infinitely far.
//! - Square root of each scaled difference: one badly timed key costs less than a rhythm
//!   that is off everywhere (the spirit of Killourhy & Maxion's outlier count, but smooth).
//! - Half the distance to the centre plus half the distance to the nearest single typing:
//!   users who type the phrase in two ways (for example before and after getting used to
//!   it) are matched by either.

/// Added to every time before the log, in milliseconds.
const OFFSET_MS: f64 = 30.0;
/// Smallest per-feature deviation, in log units (about 2 %).
const SCALE_FLOOR: f64 = 0.02;
/// Weight of the nearest single typing against the centre.
const NEAREST_WEIGHT: f64 = 0.5;

/// The model's view of one typing: log-times of the holds and down-down times.
pub(crate) fn transform(values: &[f64], keys: usize) -> Vec<f64> {
    let used = (2 * keys).saturating_sub(1).min(values.len());
    values[..used]
        .iter()
        .map(|t| (t + OFFSET_MS).max(1.0).ln())
        .collect()
}

/// Centre, spread and the transformed typings themselves.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Model {
    center: Vec<f64>,
    scale: Vec<f64>,
    typings: Vec<Vec<f64>>,
}

impl Model {
    /// Fits the model to transformed typings (at least one; all of one length).
    pub(crate) fn fit(typings: Vec<Vec<f64>>) -> Model {
        let d = typings.first().map_or(0, Vec::len);
        let mut center = Vec::with_capacity(d);
        let mut scale = Vec::with_capacity(d);
        let mut column = Vec::with_capacity(typings.len());
        for j in 0..d {
            column.clear();
            column.extend(typings.iter().map(|v| v[j]));
            let c = median(&mut column);
            let mad = column.iter().map(|x| (x - c).abs()).sum::<f64>() / column.len() as f64;
            center.push(c);
            scale.push(mad.max(SCALE_FLOOR));
        }
        Model {
            center,
            scale,
            typings,
        }
    }

    /// Distance of a transformed typing of the same length: 0 at the centre, about 1 per
    /// feature for a typing a typical deviation away everywhere.
    pub(crate) fn distance(&self, x: &[f64]) -> f64 {
        let to_center = self.scaled(x, &self.center);
        let nearest = self
            .typings
            .iter()
            .map(|t| self.scaled(x, t))
            .fold(f64::INFINITY, f64::min);
        if nearest.is_finite() {
            (1.0 - NEAREST_WEIGHT) * to_center + NEAREST_WEIGHT * nearest
        } else {
            to_center
        }
    }

    fn scaled(&self, x: &[f64], to: &[f64]) -> f64 {
        x.iter()
            .zip(to)
            .zip(&self.scale)
            .map(|((x, c), s)| ((x - c).abs() / s).sqrt())
            .sum::<f64>()
            / self.scale.len().max(1) as f64
    }

    /// Median distance of each of the first `held_out` typings to a model of all the others
    /// (leave-one-out): how far the user's own new typings can be expected to be. Only
    /// unselected typings (the enrollment) should be held out: typings kept because they
    /// matched well would make the user look more consistent than they are. `None` for
    /// fewer than 3 typings or nothing held out.
    pub(crate) fn typical_distance(typings: &[Vec<f64>], held_out: usize) -> Option<f64> {
        if typings.len() < 3 || held_out == 0 {
            return None;
        }
        let mut loo: Vec<f64> = (0..held_out.min(typings.len()))
            .map(|i| {
                let rest = typings
                    .iter()
                    .enumerate()
                    .filter(|&(k, _)| k != i)
                    .map(|(_, v)| v.clone())
                    .collect();
                Model::fit(rest).distance(&typings[i])
            })
            .collect();
        Some(median(&mut loo))
    }
}

/// Median (mean of the two middle values for an even count); NaN for no values.
pub(crate) fn median(values: &mut [f64]) -> f64 {
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

    #[test]
    fn transform_keeps_holds_and_down_down_only() {
        // 3 keys: H H H DD DD UD UD
        let v = [70.0, 70.0, 70.0, 170.0, 70.0, 100.0, 0.0];
        let t = transform(&v, 3);
        assert_eq!(t.len(), 5);
        assert!((t[0] - 100f64.ln()).abs() < 1e-12);
        assert!((t[3] - 200f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn centre_is_robust_to_one_outlier() {
        let m = Model::fit(vec![
            vec![1.0, 2.0],
            vec![1.1, 2.1],
            vec![0.9, 1.9],
            vec![1.0, 2.0],
            vec![9.0, 9.0],
        ]);
        assert_eq!(m.center, vec![1.0, 2.0]);
        assert!(m.distance(&[1.0, 2.0]) < m.distance(&[1.5, 2.5]));
    }

    #[test]
    fn identical_typings_do_not_give_infinite_distances() {
        let m = Model::fit(vec![vec![1.0, 2.0]; 4]);
        assert_eq!(m.scale, vec![SCALE_FLOOR; 2]);
        let d = m.distance(&[1.02, 2.0]);
        assert!(d.is_finite() && d > 0.0);
        assert_eq!(m.distance(&[1.0, 2.0]), 0.0);
    }

    #[test]
    fn typical_distance_needs_three_typings() {
        assert_eq!(Model::typical_distance(&[vec![1.0], vec![1.1]], 2), None);
        let typings = [vec![1.2], vec![1.0], vec![0.8], vec![1.0]];
        let all = Model::typical_distance(&typings, 4).unwrap();
        assert!(all > 0.0);
        // Holding out only the first typing measures only its distance.
        let last = Model::typical_distance(&typings, 1).unwrap();
        assert!(last > 0.0 && last != all);
        assert_eq!(Model::typical_distance(&typings, 0), None);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}

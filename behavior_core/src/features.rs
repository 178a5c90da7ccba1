//! Timing features of one typing of a fixed phrase, and the rules for which typings are
//! comparable at all.
//!
//! Rules (each unit-tested below):
//! - Every captured key counts, in press order, including Shift, CapsLock and other modifiers
//!   and the final Enter: how someone reaches a capital letter is part of how they type. A
//!   left Shift and a right Shift are different keys.
//! - Overlapping keys (rollover: the next key pressed before the previous one is released)
//!   are kept; their up-down time is negative. Release order does not matter.
//! - A typing with a correction (Backspace or Delete) is not a clean typing of the phrase and
//!   is refused: its timings around the correction say nothing about the user's rhythm.
//! - Two typings are comparable only if they pressed exactly the same keys in the same order;
//!   a different key sequence (other keys, other length, another way to reach a capital) is
//!   never a match.
//!
//! The feature vector (Killourhy & Maxion 2009) for `n` keys has `3n - 2` values, in this
//! order: the `n` hold times `H`, the `n - 1` down-down times `DD`, the `n - 1` up-down
//! times `UD`, all in milliseconds.

use crate::keys::{Key, KeyClass};
use crate::sample::Sample;

/// Why a sample cannot give features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FeatureError {
    #[error("a typing needs at least {min} keys, this one has {got}")]
    TooFewKeys { min: usize, got: usize },
    #[error("the typing contains a correction (Backspace or Delete)")]
    Correction,
    #[error(
        "key {index} has unusable times (not finite, released before pressed, or out of order)"
    )]
    BadTimes { index: usize },
}

/// The fewest keys a phrase typing may have to give a meaningful rhythm.
pub const MIN_KEYS: usize = 4;

/// Hold, down-down and up-down times of one typing, plus a digest of its key sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct PhraseFeatures {
    /// Number of keys pressed.
    pub keys: usize,
    /// One-way digest of the key codes in order: tells whether two typings used the same
    /// keys without storing which keys they were.
    pub digest: u64,
    /// `3 * keys - 2` timings: H for every key, then DD, then UD (see the module docs).
    pub values: Vec<f64>,
}

/// Number of feature values for a typing of `keys` keys.
pub fn feature_count(keys: usize) -> usize {
    (3 * keys).saturating_sub(2)
}

/// FNV-1a over the key codes, so templates can tell key sequences apart without text.
pub fn key_digest(keys: &[Key]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for k in keys {
        for b in k.0.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
    }
    h
}

/// Extracts the features of one typing of a fixed phrase, applying the rules above.
pub fn extract(sample: &Sample) -> Result<PhraseFeatures, FeatureError> {
    let ks = &sample.keys;
    if ks.len() < MIN_KEYS {
        return Err(FeatureError::TooFewKeys {
            min: MIN_KEYS,
            got: ks.len(),
        });
    }
    if ks.iter().any(|k| k.key.class() == KeyClass::Correction) {
        return Err(FeatureError::Correction);
    }
    // `Sample::new` guarantees these, but `Sample` has public fields: check again rather
    // than produce NaN scores.
    for (index, k) in ks.iter().enumerate() {
        let ordered = index == 0 || ks[index - 1].down <= k.down;
        if !k.down.is_finite() || !k.up.is_finite() || k.up < k.down || !ordered {
            return Err(FeatureError::BadTimes { index });
        }
    }
    let n = ks.len();
    let mut values = Vec::with_capacity(feature_count(n));
    values.extend(ks.iter().map(|k| k.up - k.down));
    values.extend(ks.windows(2).map(|w| w[1].down - w[0].down));
    values.extend(ks.windows(2).map(|w| w[1].down - w[0].up));
    let codes: Vec<Key> = ks.iter().map(|k| k.key).collect();
    Ok(PhraseFeatures {
        keys: n,
        digest: key_digest(&codes),
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Keystroke;

    fn key(name: &str, down: f64, up: f64) -> Keystroke {
        Keystroke {
            key: Key::from_name(name).unwrap(),
            down,
            up,
        }
    }

    fn sample(keys: Vec<Keystroke>) -> Sample {
        Sample::new(keys).unwrap()
    }

    #[test]
    fn hold_down_down_up_down_in_order() {
        let s = sample(vec![
            key("a", 0.0, 100.0),
            key("b", 150.0, 230.0),
            key("c", 400.0, 470.0),
            key("enter", 600.0, 650.0),
        ]);
        let f = extract(&s).unwrap();
        assert_eq!(f.keys, 4);
        assert_eq!(f.values.len(), feature_count(4));
        assert_eq!(
            f.values,
            vec![
                100.0, 80.0, 70.0, 50.0, // H
                150.0, 250.0, 200.0, // DD
                50.0, 170.0, 130.0, // UD
            ]
        );
    }

    #[test]
    fn rollover_gives_negative_up_down() {
        // b pressed before a is released; a released after b.
        let s = sample(vec![
            key("a", 0.0, 200.0),
            key("b", 120.0, 180.0),
            key("c", 300.0, 380.0),
            key("d", 450.0, 500.0),
        ]);
        let f = extract(&s).unwrap();
        assert_eq!(f.values[0], 200.0);
        assert_eq!(f.values[4], 120.0); // DD a->b
        assert_eq!(f.values[7], -80.0); // UD a->b
    }

    #[test]
    fn modifiers_and_enter_are_keys_of_the_phrase() {
        let with_shift = sample(vec![
            key("a", 0.0, 80.0),
            key("leftshift", 200.0, 400.0),
            key("b", 250.0, 330.0),
            key("c", 500.0, 560.0),
            key("enter", 700.0, 760.0),
        ]);
        let f = extract(&with_shift).unwrap();
        assert_eq!(f.keys, 5);
        assert_eq!(f.values[1], 200.0); // Shift's own hold
                                        // Shift is held over b: UD Shift -> b is negative.
        assert_eq!(f.values[5 + 4 + 1], 250.0 - 400.0);
    }

    #[test]
    fn other_ways_to_type_the_same_text_have_other_digests() {
        let base = |m: &str| {
            sample(vec![
                key("a", 0.0, 80.0),
                key(m, 200.0, 300.0),
                key("b", 250.0, 330.0),
                key("c", 500.0, 560.0),
            ])
        };
        let left = extract(&base("leftshift")).unwrap();
        let right = extract(&base("rightshift")).unwrap();
        let caps = extract(&base("capslock")).unwrap();
        assert_ne!(left.digest, right.digest);
        assert_ne!(left.digest, caps.digest);
        assert_eq!(left.digest, extract(&base("leftshift")).unwrap().digest);
    }

    #[test]
    fn corrections_are_refused() {
        for fix in ["backspace", "delete"] {
            let s = sample(vec![
                key("a", 0.0, 80.0),
                key("x", 200.0, 280.0),
                key(fix, 400.0, 460.0),
                key("b", 600.0, 660.0),
                key("enter", 800.0, 860.0),
            ]);
            assert_eq!(extract(&s), Err(FeatureError::Correction), "{fix}");
        }
    }

    #[test]
    fn too_few_keys_are_refused() {
        let s = sample(vec![key("a", 0.0, 80.0), key("b", 100.0, 160.0)]);
        assert_eq!(
            extract(&s),
            Err(FeatureError::TooFewKeys { min: 4, got: 2 })
        );
        assert_eq!(
            extract(&Sample::default()),
            Err(FeatureError::TooFewKeys { min: 4, got: 0 })
        );
    }

    #[test]
    fn unusable_times_are_refused() {
        let mut s = sample(vec![
            key("a", 0.0, 80.0),
            key("b", 100.0, 160.0),
            key("c", 200.0, 260.0),
            key("d", 300.0, 360.0),
        ]);
        s.keys[2].up = f64::NAN;
        assert_eq!(extract(&s), Err(FeatureError::BadTimes { index: 2 }));
        s.keys[2].up = 260.0;
        s.keys[3].down = 150.0; // out of press order
        assert_eq!(extract(&s), Err(FeatureError::BadTimes { index: 3 }));
    }
}

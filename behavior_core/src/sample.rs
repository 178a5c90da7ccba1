//! Keystroke samples: one uninterrupted typing of one text, as key presses with their
//! press and release times in milliseconds (any origin; only differences matter).
//!
//! This is the in-memory form of both the JSONL interchange format and live evdev
//! captures. Parsing a JSONL line is pure (a `&str` in, a value out).

use crate::keys::Key;
use serde::{Deserialize, Serialize};

/// One key press: the key and its press/release times in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Keystroke {
    pub key: Key,
    pub down: f64,
    pub up: f64,
}

impl Keystroke {
    pub fn hold(&self) -> f64 {
        self.up - self.down
    }
}

/// One typing of one text. `keys` is ordered by `down`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Sample {
    pub keys: Vec<Keystroke>,
}

/// A sample as read from the interchange format, with its labels.
#[derive(Clone, Debug, PartialEq)]
pub struct LabeledSample {
    pub subject: String,
    pub session: Option<i64>,
    pub text: String,
    pub sample: Sample,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SampleError {
    #[error("not a JSON sample object: {0}")]
    Json(String),
    #[error("unknown key name {0:?}")]
    UnknownKey(String),
    #[error("key {index}: times must be finite and up >= down")]
    BadTimes { index: usize },
    #[error("sample has no keys")]
    Empty,
}

#[derive(Deserialize)]
struct RawKey {
    key: String,
    down: f64,
    up: f64,
}

#[derive(Deserialize)]
struct RawSample {
    subject: String,
    #[serde(default)]
    session: Option<i64>,
    text: String,
    keys: Vec<RawKey>,
}

impl Sample {
    /// Builds a sample, sorting by press time and checking every time is usable.
    pub fn new(mut keys: Vec<Keystroke>) -> Result<Sample, SampleError> {
        if keys.is_empty() {
            return Err(SampleError::Empty);
        }
        for (index, k) in keys.iter().enumerate() {
            if !k.down.is_finite() || !k.up.is_finite() || k.up < k.down {
                return Err(SampleError::BadTimes { index });
            }
        }
        keys.sort_by(|a, b| a.down.total_cmp(&b.down));
        Ok(Sample { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl LabeledSample {
    /// Parses one line of the JSONL interchange format.
    pub fn parse_line(line: &str) -> Result<LabeledSample, SampleError> {
        let raw: RawSample =
            serde_json::from_str(line).map_err(|e| SampleError::Json(e.to_string()))?;
        let keys = raw
            .keys
            .into_iter()
            .map(|k| {
                let key = Key::from_name(&k.key).ok_or(SampleError::UnknownKey(k.key))?;
                Ok(Keystroke {
                    key,
                    down: k.down,
                    up: k.up,
                })
            })
            .collect::<Result<Vec<_>, SampleError>>()?;
        Ok(LabeledSample {
            subject: raw.subject,
            session: raw.session,
            text: raw.text,
            sample: Sample::new(keys)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_line() {
        let line = r#"{"subject": "s01", "session": 1, "text": ".t",
            "keys": [{"key": "t", "down": 743.4, "up": 826.1}, {"key": "dot", "down": 0.0, "up": 79.4}]}"#;
        let s = LabeledSample::parse_line(line).map_err(|e| e.to_string());
        let s = s
            .as_ref()
            .map(|s| (s.subject.as_str(), s.session, s.sample.keys[0].key));
        assert_eq!(s, Ok(("s01", Some(1), Key(52))));
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(matches!(
            LabeledSample::parse_line("{"),
            Err(SampleError::Json(_))
        ));
        let unknown = r#"{"subject":"s","text":"x","keys":[{"key":"zz","down":0,"up":1}]}"#;
        assert_eq!(
            LabeledSample::parse_line(unknown),
            Err(SampleError::UnknownKey("zz".into()))
        );
        let backwards = r#"{"subject":"s","text":"x","keys":[{"key":"a","down":5,"up":1}]}"#;
        assert_eq!(
            LabeledSample::parse_line(backwards),
            Err(SampleError::BadTimes { index: 0 })
        );
        let empty = r#"{"subject":"s","text":"x","keys":[]}"#;
        assert_eq!(LabeledSample::parse_line(empty), Err(SampleError::Empty));
    }
}

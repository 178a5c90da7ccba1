//! The stored (serde) form of a [`Profile`]: each statistic under the name of its slot (a key
//! class, a class pair `first>second`, or a digraph of the fixed list), and a layout number,
//! so that a profile of any other layout is refused on reading with a message that says so
//! (a store should then learn a new one; [`stored_layout`] tells it apart from a damaged row).
//!
//! ```json
//! {"layout":2,"keystrokes":400,
//!  "class_holds":{"left-index":[4.61,0.21], ...},
//!  "class_pairs":{"left-index>blank":[5.12,0.33,5.81,0.12], ...},
//!  "digraphs":{"th":[4.95,0.25,5.64,0.09], ...}}
//! ```
//! Holds are `[mean, sd]`, pairs `[down-down mean, sd, up-down mean, sd]`, log domain.

use super::slots::{CLASSES, CLASS_COUNT, DIGRAPHS, DIGRAPH_COUNT};
use super::{PairStat, Profile, Stat};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// This version's layout: key classes and listed digraphs, no counts. Layout 1 (per-key and
/// per-key-pair statistics with counts) had no `layout` field.
pub const LAYOUT: u32 = 2;

/// The layout a stored profile was written in, without reading it: `Some(1)` for the per-key
/// layout of earlier versions (no `layout` field), `None` when `json` is not a JSON object
/// with a numeric or missing `layout`. A store can tell "learn a new profile" (a layout other
/// than [`LAYOUT`]) from a damaged row (the layout is current but reading fails).
pub fn stored_layout(json: &str) -> Option<u32> {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        layout: Option<u32>,
    }
    let probe: Probe = serde_json::from_str(json).ok()?;
    Some(probe.layout.unwrap_or(1))
}

/// Field names differ from layout 1's (`hold`, `dd`, `ud`), so an old profile reaches the
/// layout check instead of failing on a field's type.
#[derive(Serialize, Deserialize)]
pub(super) struct Stored {
    #[serde(default)]
    layout: Option<u32>,
    #[serde(default)]
    keystrokes: u32,
    #[serde(default)]
    class_holds: BTreeMap<String, [f32; 2]>,
    #[serde(default)]
    class_pairs: BTreeMap<String, [f32; 4]>,
    #[serde(default)]
    digraphs: BTreeMap<String, [f32; 4]>,
    /// Any other field (an older or newer layout's): refused.
    #[serde(flatten, skip_serializing)]
    other: BTreeMap<String, IgnoredAny>,
}

/// Why a stored profile is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(super) enum StoredProfileError {
    #[error(
        "stored free-text profile has the old per-key layout; this version keeps only key \
         classes and common digraphs (layout {LAYOUT}): the profile must be learnt again"
    )]
    OldLayout,
    #[error(
        "stored free-text profile has layout {0}; this version reads layout {LAYOUT} only: \
         the profile must be learnt again"
    )]
    OtherLayout(u32),
    #[error("stored free-text profile has an unknown field `{0}`")]
    UnknownField(String),
    #[error("stored free-text profile has an unknown key class or class pair `{0}`")]
    UnknownClass(String),
    #[error("stored free-text profile has `{0}`, which is not one of the listed digraphs")]
    UnknownDigraph(String),
    #[error("stored free-text profile has unusable statistics for `{0}`")]
    BadStatistics(String),
}

fn stat([mean, sd]: [f32; 2]) -> Option<Stat> {
    (mean.is_finite() && sd.is_finite() && sd > 0.0).then_some(Stat { mean, sd })
}

fn pair_stat([dm, ds, um, us]: [f32; 4]) -> Option<PairStat> {
    Some(PairStat {
        dd: stat([dm, ds])?,
        ud: stat([um, us])?,
    })
}

fn class_index(name: &str) -> Option<usize> {
    CLASSES.iter().position(|c| *c == name)
}

/// `first>second` to a class pair index.
fn class_pair_index(name: &str) -> Option<usize> {
    let (a, b) = name.split_once('>')?;
    Some(class_index(a)? * CLASS_COUNT + class_index(b)?)
}

fn class_pair_name(i: usize) -> String {
    format!("{}>{}", CLASSES[i / CLASS_COUNT], CLASSES[i % CLASS_COUNT])
}

impl TryFrom<Stored> for Profile {
    type Error = StoredProfileError;

    fn try_from(s: Stored) -> Result<Profile, StoredProfileError> {
        match s.layout {
            None => return Err(StoredProfileError::OldLayout),
            Some(LAYOUT) => {}
            Some(other) => return Err(StoredProfileError::OtherLayout(other)),
        }
        if let Some(name) = s.other.keys().next() {
            return Err(StoredProfileError::UnknownField(name.clone()));
        }
        let bad = |name: &String| StoredProfileError::BadStatistics(name.clone());
        let mut hold = vec![None; CLASS_COUNT];
        for (name, v) in &s.class_holds {
            let i =
                class_index(name).ok_or_else(|| StoredProfileError::UnknownClass(name.clone()))?;
            hold[i] = Some(stat(*v).ok_or_else(|| bad(name))?);
        }
        let mut pairs = vec![None; CLASS_COUNT * CLASS_COUNT];
        for (name, v) in &s.class_pairs {
            let i = class_pair_index(name)
                .ok_or_else(|| StoredProfileError::UnknownClass(name.clone()))?;
            pairs[i] = Some(pair_stat(*v).ok_or_else(|| bad(name))?);
        }
        let mut digraphs = vec![None; DIGRAPH_COUNT];
        for (name, v) in &s.digraphs {
            let i = DIGRAPHS
                .iter()
                .position(|d| d == name)
                .ok_or_else(|| StoredProfileError::UnknownDigraph(name.clone()))?;
            digraphs[i] = Some(pair_stat(*v).ok_or_else(|| bad(name))?);
        }
        Ok(Profile {
            hold,
            pairs,
            digraphs,
            keystrokes: s.keystrokes,
        })
    }
}

impl From<Profile> for Stored {
    fn from(p: Profile) -> Stored {
        let pair = |st: &PairStat| [st.dd.mean, st.dd.sd, st.ud.mean, st.ud.sd];
        let named = |v: &[Option<PairStat>], name: &dyn Fn(usize) -> String| {
            v.iter()
                .enumerate()
                .filter_map(|(i, st)| Some((name(i), pair(st.as_ref()?))))
                .collect()
        };
        Stored {
            layout: Some(LAYOUT),
            keystrokes: p.keystrokes,
            class_holds: p
                .hold
                .iter()
                .zip(CLASSES)
                .filter_map(|(st, name)| {
                    Some((name.to_string(), [st.as_ref()?.mean, st.as_ref()?.sd]))
                })
                .collect(),
            class_pairs: named(&p.pairs, &class_pair_name),
            digraphs: named(&p.digraphs, &|i| DIGRAPHS[i].to_string()),
            other: BTreeMap::new(),
        }
    }
}

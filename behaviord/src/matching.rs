//! The daemon's one use of `behavior_core`: is a capture the typing of the submitted text
//! (`layout`), and does it match (`fixed`). Nothing else in the daemon decides either.

use behavior_core::fixed::{self, Params, Template};
use behavior_core::layout::{self, Layout, LayoutError};
use behavior_core::{KeyClass, Sample};

use crate::capture::Captured;
use crate::config::Config;

/// A captured typing, judged against the text the user submitted.
#[derive(Debug)]
pub enum Typing {
    /// The keys type exactly the text: its timings (without the closing Enter) can be used.
    Usable(Sample),
    /// The keys do not produce the text (another keyboard, a shortcut, a missed key): a
    /// failed sample.
    Mismatch,
    /// The user corrected the typing (Backspace and friends): ask again, not a failure.
    Corrected,
    /// No complete key press was captured (or too many, or the kernel dropped some): ask
    /// again.
    Nothing,
}

pub fn judge(captured: &Captured, typed: &str) -> Typing {
    if captured.overflow || captured.incomplete || captured.keys.is_empty() {
        return Typing::Nothing;
    }
    match layout::check_typed(&captured.keys, typed, Layout::Us) {
        Ok(()) => {}
        Err(LayoutError::Corrections) => return Typing::Corrected,
        Err(LayoutError::Mismatch { .. } | LayoutError::Untypeable { .. }) => {
            return Typing::Mismatch
        }
    }
    // Enter ends the prompt; whether its release was seen before the text was submitted
    // is a race, so it is never part of the timings.
    let keys = captured
        .keys
        .iter()
        .copied()
        .filter(|k| k.key.class() != KeyClass::Terminator)
        .collect();
    match Sample::new(keys) {
        Ok(sample) => Typing::Usable(sample),
        Err(_) => Typing::Nothing,
    }
}

/// A digest of `phrase` stored with each template, so that a template enrolled for another
/// phrase is known for what it is (FNV-1a over the UTF-8 bytes; the phrase is shown to
/// every user, so this hides nothing, it only keeps rows short).
pub fn phrase_digest(phrase: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in phrase.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Matcher settings from the policy.
pub fn params(config: &Config) -> Params {
    Params {
        accept: config.thresholds.accept,
        ..Params::default()
    }
}

pub fn to_json(template: &Template) -> Result<String, String> {
    serde_json::to_string(template).map_err(|e| e.to_string())
}

pub fn from_json(json: &str) -> Result<Template, String> {
    let t: Template = serde_json::from_str(json).map_err(|e| e.to_string())?;
    if t.version != fixed::TEMPLATE_VERSION {
        return Err(format!(
            "template format {} (this daemon reads {})",
            t.version,
            fixed::TEMPLATE_VERSION
        ));
    }
    Ok(t)
}

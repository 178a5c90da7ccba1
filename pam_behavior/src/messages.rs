//! Every text the module shows, in one place. The seed's texts are word for word from
//! product.md; the others are the module's own and documented in pam_behavior(8).

/// Intro before the enrollment typings (seed).
pub const ENROLL_INTRO: &str = "A typing pattern is displayed. Type the phrase exactly as shown.";
/// Shown before enrollment when the policy allows skipping it.
pub const SKIP_HINT: &str =
    "To skip enrollment and log in without it, press Enter on an empty line.";
/// Shown once the skip is accepted.
pub const SKIPPED: &str = "Enrollment skipped.";
/// Confirmation after the last enrollment typing was stored.
pub const PATTERN_REGISTERED: &str = "Typing pattern registered.";
/// Confirmation after the PIN was stored.
pub const PIN_REGISTERED: &str = "PIN registered.";

/// Prompts. The phrase prompt is two lines, `Type the phrase: <phrase>` then `Phrase: `,
/// so that what the user types (echoed) stands on its own line under the phrase instead of
/// running on after it; one prompt, so `PAM_SILENT` never hides the phrase.
pub const PHRASE_PROMPT: &str = "Type the phrase: ";
pub const PHRASE_INPUT: &str = "Phrase: ";
pub const PIN_PROMPT: &str = "PIN: ";
pub const PIN_SETUP_PROMPT: &str = "Set up PIN: ";
pub const PIN_REENTER_PROMPT: &str = "Re-enter PIN: ";

/// Seed error table, word for word.
pub const FETCH_FAILED: &str = "Unauthorized. Failed to fetch typing phrase.";
pub const REGISTER_PATTERN_FAILED: &str = "Unauthorized. Failed to register typing pattern.";
pub const REGISTER_PIN_FAILED: &str = "Unauthorized. Failed to register user pin.";
pub const INCORRECT_PATTERN: &str = "Incorrect pattern. Please try again.";
pub const INCORRECT_PIN: &str = "Incorrect PIN. Please try again.";
pub const PHRASE_MISMATCH: &str = "Typed phrases do not match.";

/// PIN set-up: the two entries differ.
pub const PIN_ENTRIES_DIFFER: &str = "The two PINs do not match. Please try again.";
/// Enrollment ends: too many typings in a row could not be used.
pub const ENROLL_GAVE_UP: &str =
    "Enrollment stopped: too many typings could not be used. Please try again later.";
/// The daemon cannot read the user's stored pattern or PIN.
pub const REFUSED: &str =
    "Unauthorized. Your stored typing pattern or PIN cannot be read; please ask an administrator.";
/// A `Retry` from the daemon that came without a sentence.
pub const TYPE_AGAIN: &str = "The typing could not be used. Please type the phrase again.";

pub fn attempt(k: u32, n: u32) -> String {
    format!("Attempt {k} of {n}")
}

pub fn phrase_prompt(phrase: &str) -> String {
    format!("{PHRASE_PROMPT}{phrase}\n{PHRASE_INPUT}")
}

pub fn pin_length(n: u32) -> String {
    format!("The PIN must be exactly {n} characters long. Please try again.")
}

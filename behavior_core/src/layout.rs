//! Is a captured key sequence the typing of the submitted text?
//!
//! The daemon captures key codes and times; the PAM prompt gives it the text. Before any
//! timing is trusted, the keys must be exactly the ones that produce that text on the
//! configured keyboard layout. Keys from a second keyboard, a missed or extra key, or a
//! shortcut all make the sequence inconsistent: the sample is then a failure, never a match.
//! Editing keys (Backspace, Delete, cursor movement) make the timings meaningless but are an
//! honest user's correction, so they get their own error and the daemon asks for a retry.
//!
//! The simulation works on press times only (releases matter only for how long Shift and the
//! other modifiers are held). Auto-repeat is dropped at the source, so a key held until it
//! repeats shows up here as a mismatch, which is what it is.
//!
//! Errors never carry typed characters or key codes: they may reach logs.

use crate::keys::{Key, KeyClass};
use crate::sample::Keystroke;
use std::fmt;
use std::str::FromStr;

/// A keyboard layout: how key codes (with Shift, CapsLock, NumLock) become characters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Layout {
    /// US QWERTY (xkb `us`, console `us`).
    #[default]
    Us,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// Backspace, Delete or cursor movement: the user edited what they typed.
    #[error("the typing was corrected (Backspace, Delete or cursor keys); type it again without corrections")]
    Corrections,
    /// The keys do not produce the text. `at` is the index of the first character
    /// (counted in characters of the text) where they part ways.
    #[error(
        "the captured keys do not produce the submitted text (they differ from character {at} on)"
    )]
    Mismatch { at: usize },
    /// The text holds a character this layout cannot type at all (a wrong layout setting,
    /// or text that did not come from a keyboard).
    #[error("the submitted text holds a character the {layout} keyboard layout cannot type")]
    Untypeable { layout: Layout },
}

/// An unknown layout name in configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown keyboard layout {0:?} (known: us)")]
pub struct UnknownLayout(pub String);

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Us => "us",
        }
    }

    /// The character a key produces with the given states, or `None` for keys that produce
    /// no character on this layout.
    fn char_of(self, key: Key, shift: bool, caps: bool, numlock: bool) -> Option<char> {
        match self {
            Layout::Us => us_char(key.0, shift, caps, numlock),
        }
    }

    /// Whether some key of this layout produces `c`.
    fn can_type(self, c: char) -> bool {
        match self {
            Layout::Us => US_KEYS
                .iter()
                .any(|&(_, plain, shifted)| plain == c || shifted == c),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layout {
    type Err = UnknownLayout;
    fn from_str(s: &str) -> Result<Layout, UnknownLayout> {
        match s {
            "us" => Ok(Layout::Us),
            other => Err(UnknownLayout(other.to_string())),
        }
    }
}

/// US layout: key code, character without Shift, character with Shift.
const US_KEYS: &[(u16, char, char)] = &[
    (2, '1', '!'),
    (3, '2', '@'),
    (4, '3', '#'),
    (5, '4', '$'),
    (6, '5', '%'),
    (7, '6', '^'),
    (8, '7', '&'),
    (9, '8', '*'),
    (10, '9', '('),
    (11, '0', ')'),
    (12, '-', '_'),
    (13, '=', '+'),
    (16, 'q', 'Q'),
    (17, 'w', 'W'),
    (18, 'e', 'E'),
    (19, 'r', 'R'),
    (20, 't', 'T'),
    (21, 'y', 'Y'),
    (22, 'u', 'U'),
    (23, 'i', 'I'),
    (24, 'o', 'O'),
    (25, 'p', 'P'),
    (26, '[', '{'),
    (27, ']', '}'),
    (30, 'a', 'A'),
    (31, 's', 'S'),
    (32, 'd', 'D'),
    (33, 'f', 'F'),
    (34, 'g', 'G'),
    (35, 'h', 'H'),
    (36, 'j', 'J'),
    (37, 'k', 'K'),
    (38, 'l', 'L'),
    (39, ';', ':'),
    (40, '\'', '"'),
    (41, '`', '~'),
    (43, '\\', '|'),
    (44, 'z', 'Z'),
    (45, 'x', 'X'),
    (46, 'c', 'C'),
    (47, 'v', 'V'),
    (48, 'b', 'B'),
    (49, 'n', 'N'),
    (50, 'm', 'M'),
    (51, ',', '<'),
    (52, '.', '>'),
    (53, '/', '?'),
    (57, ' ', ' '),
    // Keypad operators: the same with or without Shift and NumLock.
    (55, '*', '*'),
    (74, '-', '-'),
    (78, '+', '+'),
    (98, '/', '/'),
];

/// Keypad keys that type a digit or the decimal point only while NumLock is on.
const US_NUMPAD: &[(u16, char)] = &[
    (71, '7'),
    (72, '8'),
    (73, '9'),
    (75, '4'),
    (76, '5'),
    (77, '6'),
    (79, '1'),
    (80, '2'),
    (81, '3'),
    (82, '0'),
    (83, '.'),
];

fn us_char(code: u16, shift: bool, caps: bool, numlock: bool) -> Option<char> {
    if let Some(&(_, plain, shifted)) = US_KEYS.iter().find(|(c, _, _)| *c == code) {
        // CapsLock inverts Shift for letters only.
        let upper = if plain.is_ascii_lowercase() {
            shift != caps
        } else {
            shift
        };
        return Some(if upper { shifted } else { plain });
    }
    let &(_, digit) = US_NUMPAD.iter().find(|(c, _)| *c == code)?;
    // With NumLock off (or Shift inverting it) these are navigation keys.
    (numlock && !shift).then_some(digit)
}

const NUMLOCK: Key = Key(69);
const LEFT: Key = Key(105);
const RIGHT: Key = Key(106);
const HOME: Key = Key(102);
const END: Key = Key(107);

/// Keys that edit what was already typed.
fn is_edit(key: Key) -> bool {
    key.class() == KeyClass::Correction || [LEFT, RIGHT, HOME, END].contains(&key)
}

/// Checks that `keys` (any order; they are taken by press time) type exactly `text` on
/// `layout`, optionally followed by Enter.
///
/// - Shift (left or right, held across several keys or overlapping each other) is held for a
///   key when it went down no later than that key and came up after it.
/// - CapsLock and NumLock toggle at their press; their state when the capture began is not
///   known, so both initial states are accepted.
/// - Ctrl, Alt, Meta and AltGr pressed alone are ignored; a character key pressed while one
///   of them is held is a shortcut, not text: a mismatch.
/// - Enter (main or keypad) may only be the last key that is not a modifier.
/// - Backspace, Delete, Left, Right, Home or End anywhere: [`LayoutError::Corrections`].
/// - Anything else that differs: [`LayoutError::Mismatch`].
pub fn check_typed(keys: &[Keystroke], text: &str, layout: Layout) -> Result<(), LayoutError> {
    if keys.iter().any(|k| is_edit(k.key)) {
        return Err(LayoutError::Corrections);
    }
    if !text.chars().all(|c| layout.can_type(c)) {
        return Err(LayoutError::Untypeable { layout });
    }
    let expected: Vec<char> = text.chars().collect();
    let mut presses: Vec<&Keystroke> = keys.iter().collect();
    presses.sort_by(|a, b| a.down.total_cmp(&b.down)); // stable: equal times keep their order

    // Report the failure that got furthest: it is the one the user most likely meant.
    let mut furthest = 0;
    for (caps, numlock) in [(false, true), (false, false), (true, true), (true, false)] {
        match simulate(&presses, &expected, layout, caps, numlock) {
            Ok(()) => return Ok(()),
            Err(at) => furthest = furthest.max(at),
        }
    }
    Err(LayoutError::Mismatch { at: furthest })
}

/// Types `presses` from the given lock states; `Err(at)` where the result leaves `expected`.
fn simulate(
    presses: &[&Keystroke],
    expected: &[char],
    layout: Layout,
    mut caps: bool,
    mut numlock: bool,
) -> Result<(), usize> {
    let mut typed = 0;
    let mut submitted = false;
    for &k in presses {
        if k.key == Key::CAPSLOCK {
            caps = !caps;
            continue;
        }
        if k.key == NUMLOCK {
            numlock = !numlock;
            continue;
        }
        if k.key.is_modifier() {
            continue;
        }
        if submitted {
            return Err(typed);
        }
        if k.key == Key::ENTER || k.key == Key::KPENTER {
            submitted = true;
            continue;
        }
        if held(presses, k, |m| {
            m.is_modifier() && !m.is_shift() && m != Key::CAPSLOCK
        }) {
            return Err(typed);
        }
        let shift = held(presses, k, Key::is_shift);
        match layout.char_of(k.key, shift, caps, numlock) {
            Some(c) if expected.get(typed) == Some(&c) => typed += 1,
            _ => return Err(typed),
        }
    }
    if typed == expected.len() {
        Ok(())
    } else {
        Err(typed)
    }
}

/// Whether a key matching `is` is down when `k` goes down.
fn held(presses: &[&Keystroke], k: &Keystroke, is: impl Fn(Key) -> bool) -> bool {
    presses
        .iter()
        .any(|m| is(m.key) && m.down <= k.down && k.down < m.up)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key sequence from a script of `name@down-up` items (times in ms).
    fn keys(script: &str) -> Vec<Keystroke> {
        script
            .split_whitespace()
            .map(|item| {
                let (name, times) = item.split_once('@').unwrap();
                let (down, up) = times.split_once('-').unwrap();
                Keystroke {
                    key: Key::from_name(name).unwrap(),
                    down: down.parse().unwrap(),
                    up: up.parse().unwrap(),
                }
            })
            .collect()
    }

    /// Plain typing of lower-case/space text, one key every 100 ms, each held 50 ms.
    fn plain(text: &str) -> Vec<Keystroke> {
        text.chars()
            .enumerate()
            .map(|(i, c)| {
                let code = US_KEYS
                    .iter()
                    .find(|(_, p, _)| *p == c)
                    .map(|(code, _, _)| *code)
                    .unwrap();
                let down = i as f64 * 100.0;
                Keystroke {
                    key: Key(code),
                    down,
                    up: down + 50.0,
                }
            })
            .collect()
    }

    fn check(script: &str, text: &str) -> Result<(), LayoutError> {
        check_typed(&keys(script), text, Layout::Us)
    }

    #[test]
    fn plain_text_matches() {
        assert_eq!(
            check_typed(&plain("hello world"), "hello world", Layout::Us),
            Ok(())
        );
        assert_eq!(
            check_typed(&plain(".xat17padn"), ".xat17padn", Layout::Us),
            Ok(())
        );
        assert_eq!(check_typed(&[], "", Layout::Us), Ok(()));
    }

    #[test]
    fn keys_given_out_of_order_are_taken_by_press_time() {
        let mut k = plain("abc");
        k.reverse();
        assert_eq!(check_typed(&k, "abc", Layout::Us), Ok(()));
    }

    #[test]
    fn enter_only_at_the_end() {
        assert_eq!(check("a@0-10 b@20-30 enter@40-50", "ab"), Ok(()));
        assert_eq!(check("a@0-10 b@20-30 kpenter@40-50", "ab"), Ok(()));
        assert_eq!(
            check("a@0-10 enter@20-30 b@40-50", "ab"),
            Err(LayoutError::Mismatch { at: 1 })
        );
        assert_eq!(
            check("a@0-10 b@20-30 enter@40-50 enter@60-70", "ab"),
            Err(LayoutError::Mismatch { at: 2 })
        );
        // A modifier touched after Enter is harmless.
        assert_eq!(check("a@0-10 enter@20-30 leftshift@40-50", "a"), Ok(()));
    }

    #[test]
    fn shift_left_right_held_across_keys() {
        assert_eq!(check("leftshift@0-100 h@10-20 i@30-40", "HI"), Ok(()));
        assert_eq!(check("rightshift@0-100 h@10-20 i@30-40", "HI"), Ok(()));
        assert_eq!(check("leftshift@0-25 h@10-20 i@30-40", "Hi"), Ok(()));
        assert_eq!(
            check("leftshift@0-25 h@10-20 i@30-40", "HI"),
            Err(LayoutError::Mismatch { at: 1 })
        );
        // Shifted symbols.
        assert_eq!(check("leftshift@0-50 1@10-20 slash@30-40", "!?"), Ok(()));
        assert_eq!(
            check("a@0-10 leftshift@20-50 apostrophe@30-40", "a\""),
            Ok(())
        );
    }

    #[test]
    fn shift_released_while_the_key_is_down_still_counts() {
        // Shift up before the letter is released, as fast typists do.
        assert_eq!(check("leftshift@0-15 a@10-40 b@45-60", "Ab"), Ok(()));
    }

    #[test]
    fn overlapping_shifts() {
        // Left Shift released while Right Shift is still down: still shifted.
        assert_eq!(
            check(
                "leftshift@0-30 a@10-20 rightshift@25-60 b@40-50 c@70-80",
                "ABc"
            ),
            Ok(())
        );
    }

    #[test]
    fn shift_pressed_after_the_key_does_not_count() {
        assert_eq!(
            check("1@0-30 leftshift@10-50", "!"),
            Err(LayoutError::Mismatch { at: 0 })
        );
        assert_eq!(check("1@0-30 leftshift@10-50", "1"), Ok(()));
    }

    #[test]
    fn capslock_toggles_letters_only() {
        assert_eq!(
            check("capslock@0-5 a@10-20 1@30-40 capslock@50-55 b@60-70", "A1b"),
            Ok(())
        );
        // Shift with CapsLock on gives lower case letters, but shifted digits stay shifted.
        assert_eq!(
            check("capslock@0-5 leftshift@6-50 a@10-20 1@30-40", "a!"),
            Ok(())
        );
    }

    #[test]
    fn capslock_already_on_when_capture_began() {
        assert_eq!(check("a@0-10 b@20-30", "AB"), Ok(()));
        assert_eq!(check("capslock@0-5 a@10-20 b@20-30", "ab"), Ok(()));
        // But not a mix: one state for the whole typing.
        assert_eq!(
            check("a@0-10 b@20-30", "Ab"),
            Err(LayoutError::Mismatch { at: 1 })
        );
    }

    #[test]
    fn numpad_follows_numlock() {
        assert_eq!(check("kp1@0-10 kp2@20-30 kpdot@40-50", "12."), Ok(()));
        // NumLock toggled on mid-way (it was off): the first key was navigation, not text.
        assert_eq!(
            check("kp1@0-10 numlock@15-18 kp2@20-30", "12"),
            Err(LayoutError::Mismatch { at: 1 })
        );
        assert_eq!(check("numlock@0-5 kp1@10-20", "1"), Ok(()));
        assert_eq!(check("kpasterisk@0-5 kpplus@10-20", "*+"), Ok(()));
    }

    #[test]
    fn other_modifiers_alone_are_ignored() {
        assert_eq!(
            check(
                "leftctrl@0-5 a@10-20 leftalt@25-28 leftmeta@29-30 b@30-40",
                "ab"
            ),
            Ok(())
        );
    }

    #[test]
    fn shortcuts_are_not_text() {
        assert_eq!(
            check("leftctrl@0-30 a@10-20", "a"),
            Err(LayoutError::Mismatch { at: 0 })
        );
        assert_eq!(
            check("a@0-5 rightalt@6-30 b@10-20", "ab"),
            Err(LayoutError::Mismatch { at: 1 })
        );
    }

    #[test]
    fn corrections_anywhere() {
        for script in [
            "a@0-10 backspace@20-30 a@40-50",
            "backspace@0-10 a@40-50",
            "a@0-10 delete@20-30",
            "a@0-10 left@20-30 b@40-50",
            "a@0-10 b@20-30 home@40-50",
            "a@0-10 end@20-30",
            "a@0-10 right@20-30",
        ] {
            assert_eq!(
                check(script, "a"),
                Err(LayoutError::Corrections),
                "{script}"
            );
        }
    }

    #[test]
    fn missing_extra_and_different_keys() {
        assert_eq!(
            check_typed(&plain("helo"), "hello", Layout::Us),
            Err(LayoutError::Mismatch { at: 3 })
        );
        assert_eq!(
            check_typed(&plain("helllo"), "hello", Layout::Us),
            Err(LayoutError::Mismatch { at: 4 })
        );
        assert_eq!(
            check_typed(&plain("hallo"), "hello", Layout::Us),
            Err(LayoutError::Mismatch { at: 1 })
        );
        assert_eq!(
            check_typed(&plain("hello"), "", Layout::Us),
            Err(LayoutError::Mismatch { at: 0 })
        );
        assert_eq!(
            check_typed(&[], "a", Layout::Us),
            Err(LayoutError::Mismatch { at: 0 })
        );
    }

    #[test]
    fn a_second_keyboard_interleaving_is_a_mismatch() {
        // Someone types "x" on another keyboard in the middle of "abc".
        assert_eq!(
            check("a@0-10 b@20-30 x@25-35 c@40-50", "abc"),
            Err(LayoutError::Mismatch { at: 2 })
        );
    }

    #[test]
    fn keys_that_type_nothing_are_a_mismatch() {
        for script in [
            "a@0-10 tab@20-30",
            "esc@0-10 a@20-30",
            "a@0-10 f1@20-30",
            "up@0-1 a@2-3",
        ] {
            assert!(
                matches!(check(script, "a"), Err(LayoutError::Mismatch { .. })),
                "{script}"
            );
        }
    }

    #[test]
    fn untypeable_text() {
        assert_eq!(
            check("a@0-10", "é"),
            Err(LayoutError::Untypeable { layout: Layout::Us })
        );
        assert_eq!(
            check("a@0-10", "a\tb"),
            Err(LayoutError::Untypeable { layout: Layout::Us })
        );
    }

    #[test]
    fn every_character_of_the_layout_round_trips() {
        for &(code, plain_c, shifted) in US_KEYS {
            let k = [Keystroke {
                key: Key(code),
                down: 10.0,
                up: 20.0,
            }];
            assert_eq!(check_typed(&k, &plain_c.to_string(), Layout::Us), Ok(()));
            let with_shift = [
                Keystroke {
                    key: Key::RIGHTSHIFT,
                    down: 0.0,
                    up: 30.0,
                },
                k[0],
            ];
            assert_eq!(
                check_typed(&with_shift, &shifted.to_string(), Layout::Us),
                Ok(())
            );
        }
    }

    #[test]
    fn messages_reveal_no_text_or_keys() {
        let errors = [
            check("a@0-10 backspace@20-30", "a"),
            check("q@0-10", "secret"),
            check("a@0-10", "sécret"),
        ];
        for e in errors {
            let msg = e.unwrap_err().to_string();
            for leak in ["secret", "sécret", "q", "16", "backspace"] {
                assert!(!msg.contains(leak), "{msg}");
            }
        }
    }

    #[test]
    fn layout_names() {
        assert_eq!("us".parse::<Layout>(), Ok(Layout::Us));
        assert_eq!(Layout::default(), Layout::Us);
        assert_eq!(
            "dvorak".parse::<Layout>().unwrap_err().to_string(),
            "unknown keyboard layout \"dvorak\" (known: us)"
        );
    }
}

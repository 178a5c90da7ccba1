//! Linux input key codes, their names as used in the sample format
//! (`input-event-codes.h` names, lower case, without `KEY_`), and coarse key classes.
//!
//! The matcher works on codes; names exist only for the JSONL interchange format and for
//! the US layout that maps characters of a typed text to keys.

use serde::{Deserialize, Serialize};

/// A Linux key code (`EV_KEY` code). Codes the sample format could not name (`js<code>`)
/// are mapped into [`Key::FOREIGN_BASE`]`..` so they stay distinct but never collide with
/// real codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key(pub u16);

/// Known key names and their Linux codes.
const NAMES: &[(&str, u16)] = &[
    ("esc", 1),
    ("1", 2),
    ("2", 3),
    ("3", 4),
    ("4", 5),
    ("5", 6),
    ("6", 7),
    ("7", 8),
    ("8", 9),
    ("9", 10),
    ("0", 11),
    ("minus", 12),
    ("equal", 13),
    ("backspace", 14),
    ("tab", 15),
    ("q", 16),
    ("w", 17),
    ("e", 18),
    ("r", 19),
    ("t", 20),
    ("y", 21),
    ("u", 22),
    ("i", 23),
    ("o", 24),
    ("p", 25),
    ("leftbrace", 26),
    ("rightbrace", 27),
    ("enter", 28),
    ("leftctrl", 29),
    ("a", 30),
    ("s", 31),
    ("d", 32),
    ("f", 33),
    ("g", 34),
    ("h", 35),
    ("j", 36),
    ("k", 37),
    ("l", 38),
    ("semicolon", 39),
    ("apostrophe", 40),
    ("grave", 41),
    ("leftshift", 42),
    ("backslash", 43),
    ("z", 44),
    ("x", 45),
    ("c", 46),
    ("v", 47),
    ("b", 48),
    ("n", 49),
    ("m", 50),
    ("comma", 51),
    ("dot", 52),
    ("slash", 53),
    ("rightshift", 54),
    ("kpasterisk", 55),
    ("leftalt", 56),
    ("space", 57),
    ("capslock", 58),
    ("f1", 59),
    ("f2", 60),
    ("f3", 61),
    ("f4", 62),
    ("f5", 63),
    ("f6", 64),
    ("f7", 65),
    ("f8", 66),
    ("f9", 67),
    ("f10", 68),
    ("numlock", 69),
    ("scrolllock", 70),
    ("kp7", 71),
    ("kp8", 72),
    ("kp9", 73),
    ("kpminus", 74),
    ("kp4", 75),
    ("kp5", 76),
    ("kp6", 77),
    ("kpplus", 78),
    ("kp1", 79),
    ("kp2", 80),
    ("kp3", 81),
    ("kp0", 82),
    ("kpdot", 83),
    ("102nd", 86),
    ("f11", 87),
    ("f12", 88),
    ("kpenter", 96),
    ("rightctrl", 97),
    ("kpslash", 98),
    ("sysrq", 99),
    ("rightalt", 100),
    ("home", 102),
    ("up", 103),
    ("pageup", 104),
    ("left", 105),
    ("right", 106),
    ("end", 107),
    ("down", 108),
    ("pagedown", 109),
    ("insert", 110),
    ("delete", 111),
    ("leftmeta", 125),
    ("rightmeta", 126),
    ("compose", 127),
];

/// Coarse classes of keys, used where a profile must not reveal which key was typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyClass {
    /// Letters, digits and punctuation that produce a character.
    Character,
    Space,
    /// Shift, Ctrl, Alt, Meta, AltGr, CapsLock.
    Modifier,
    /// Backspace and Delete.
    Correction,
    /// Enter and Tab.
    Terminator,
    /// Arrows, Home/End and other navigation or function keys.
    Other,
}

impl Key {
    pub const BACKSPACE: Key = Key(14);
    pub const ENTER: Key = Key(28);
    pub const KPENTER: Key = Key(96);
    pub const LEFTSHIFT: Key = Key(42);
    pub const RIGHTSHIFT: Key = Key(54);
    pub const CAPSLOCK: Key = Key(58);
    pub const SPACE: Key = Key(57);
    pub const DELETE: Key = Key(111);
    /// Unnamed codes from recorded data (`js<code>`) live above every real key code.
    pub const FOREIGN_BASE: u16 = 0x8000;

    /// Parses a sample-format key name. `js<n>` and other unnamed forms with a number map
    /// to `FOREIGN_BASE + n`; anything else is `None`.
    pub fn from_name(name: &str) -> Option<Key> {
        if let Some(&(_, code)) = NAMES.iter().find(|(n, _)| *n == name) {
            return Some(Key(code));
        }
        let digits = name.trim_start_matches(|c: char| c.is_ascii_alphabetic());
        if digits.len() < name.len() && !digits.is_empty() {
            if let Ok(n) = digits.parse::<u16>() {
                if n < Key::FOREIGN_BASE {
                    return Some(Key(Key::FOREIGN_BASE + n));
                }
            }
        }
        None
    }

    /// The sample-format name of a key; unnamed codes print as `code<n>` / `js<n>`.
    pub fn name(self) -> String {
        if self.0 >= Key::FOREIGN_BASE {
            return format!("js{}", self.0 - Key::FOREIGN_BASE);
        }
        match NAMES.iter().find(|(_, c)| *c == self.0) {
            Some((n, _)) => (*n).to_string(),
            None => format!("code{}", self.0),
        }
    }

    /// True for keys the kernel reports as keyboard keys we know how to name.
    pub fn is_known(self) -> bool {
        NAMES.iter().any(|(_, c)| *c == self.0)
    }

    pub fn class(self) -> KeyClass {
        match self.0 {
            57 => KeyClass::Space,
            29 | 42 | 54 | 56 | 58 | 97 | 100 | 125 | 126 => KeyClass::Modifier,
            14 | 111 => KeyClass::Correction,
            15 | 28 | 96 => KeyClass::Terminator,
            2..=13 | 16..=27 | 30..=41 | 43..=53 | 55 | 71..=83 | 86 | 98 => KeyClass::Character,
            _ => KeyClass::Other,
        }
    }

    pub fn is_shift(self) -> bool {
        self == Key::LEFTSHIFT || self == Key::RIGHTSHIFT
    }

    pub fn is_modifier(self) -> bool {
        self.class() == KeyClass::Modifier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &(name, code) in NAMES {
            assert_eq!(Key::from_name(name), Some(Key(code)), "{name}");
            assert_eq!(Key(code).name(), name);
        }
    }

    #[test]
    fn unnamed_codes_are_distinct_and_foreign() {
        let k = Key::from_name("js97").map(|k| k.0);
        assert_eq!(k, Some(Key::FOREIGN_BASE + 97));
        assert_eq!(Key(Key::FOREIGN_BASE + 97).name(), "js97");
        assert_eq!(Key::from_name("nonsense"), None);
        assert_eq!(Key::from_name(""), None);
    }

    #[test]
    fn classes() {
        assert_eq!(
            Key::from_name("a").map(Key::class),
            Some(KeyClass::Character)
        );
        assert_eq!(
            Key::from_name("leftshift").map(Key::class),
            Some(KeyClass::Modifier)
        );
        assert_eq!(
            Key::from_name("backspace").map(Key::class),
            Some(KeyClass::Correction)
        );
        assert_eq!(
            Key::from_name("space").map(Key::class),
            Some(KeyClass::Space)
        );
        assert_eq!(
            Key::from_name("enter").map(Key::class),
            Some(KeyClass::Terminator)
        );
        assert_eq!(
            Key::from_name("left").map(Key::class),
            Some(KeyClass::Other)
        );
    }
}

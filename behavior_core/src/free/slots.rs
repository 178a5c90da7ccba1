//! What a free-text [`super::Profile`] is keyed by: coarse key classes (no class is a single
//! key) and a fixed, public list of common English digraphs. Both are compiled in, so the
//! keys of a stored profile say nothing about its user; only which digraphs of the list the
//! user typed often enough is visible, and those are the most frequent pairs of the language.
//!
//! Windows are scored on exact keys in memory; only these slots ever reach a profile.

use crate::keys::Key;

/// Coarse key classes: letters by the finger that types them in touch typing (key
/// positions, whatever the layout; the right ring and little finger share one class so that
/// `p` is not alone), then shared classes for every other key. Each class holds at least two
/// keys. Index = position in this list.
pub const CLASSES: [&str; 15] = [
    "left-little",       // q a z
    "left-ring",         // w s x
    "left-middle",       // e d c
    "left-index",        // r t f g v b
    "right-index",       // y u h j n m
    "right-middle",      // i k
    "right-ring-little", // o l p
    "blank",             // space, tab, enter
    "shift",             // left and right shift
    "correction",        // backspace, delete
    "digit",             // number row and keypad digits
    "punctuation",       // every other character key
    "modifier",          // ctrl, alt, meta, caps lock
    "other",             // navigation, function and unnamed keys
    "foreign",           // codes the sample format could not name
];

/// Number of key classes.
pub const CLASS_COUNT: usize = CLASSES.len();

/// The class of a key (an index into [`CLASSES`]).
pub fn class_of(key: Key) -> usize {
    match key.0 {
        16 | 30 | 44 => 0,
        17 | 31 | 45 => 1,
        18 | 32 | 46 => 2,
        19 | 20 | 33 | 34 | 47 | 48 => 3,
        21 | 22 | 35 | 36 | 49 | 50 => 4,
        23 | 37 => 5,
        24 | 38 | 25 => 6,
        57 | 15 | 28 | 96 => 7,
        42 | 54 => 8,
        14 | 111 => 9,
        2..=11 | 71..=73 | 75..=77 | 79..=82 => 10,
        12 | 13 | 26 | 27 | 39..=41 | 43 | 51..=53 | 55 | 74 | 78 | 83 | 86 | 98 => 11,
        29 | 56 | 58 | 97 | 100 | 125 | 126 => 12,
        c if c >= Key::FOREIGN_BASE => 14,
        _ => 13,
    }
}

/// About the 50 most frequent letter pairs of English text, roughly most frequent first (as
/// in published corpus counts, e.g. Peter Norvig's "English Letter Frequency Counts: Mayzner
/// Revisited" over Google Books). Public knowledge: the list itself says nothing about
/// anyone. Pairs with a space were tried and did not lower the EER, so they are not here.
pub const DIGRAPHS: [&str; 50] = [
    "th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "ti", "es", "or", "te", "of", "ed",
    "is", "it", "al", "ar", "st", "to", "nt", "ng", "se", "ha", "as", "ou", "io", "le", "ve", "co",
    "me", "de", "hi", "ri", "ro", "ic", "ne", "ea", "ra", "ce", "li", "ch", "ll", "be", "ma", "si",
    "om", "ur",
];

/// Number of listed digraphs.
pub const DIGRAPH_COUNT: usize = DIGRAPHS.len();

/// The listed digraphs as key codes, in list order.
const fn digraph_keys() -> [[u16; 2]; DIGRAPH_COUNT] {
    /// The key of a listed letter (US layout positions).
    const fn key(c: u8) -> u16 {
        const LETTERS: [u16; 26] = [
            30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47,
            17, 45, 21, 44,
        ];
        LETTERS[(c - b'a') as usize]
    }
    let mut out = [[0u16; 2]; DIGRAPH_COUNT];
    let mut i = 0;
    while i < DIGRAPH_COUNT {
        let b = DIGRAPHS[i].as_bytes();
        out[i] = [key(b[0]), key(b[1])];
        i += 1;
    }
    out
}

const DIGRAPH_KEYS: [[u16; 2]; DIGRAPH_COUNT] = digraph_keys();

/// The index in [`DIGRAPHS`] of the pair `first` then `second`, if listed.
pub fn digraph_of(first: Key, second: Key) -> Option<usize> {
    DIGRAPH_KEYS
        .iter()
        .position(|&[a, b]| a == first.0 && b == second.0)
}

/// The classes of the two keys of listed digraph `d` (`d < DIGRAPH_COUNT`).
pub fn digraph_classes(d: usize) -> (usize, usize) {
    let [a, b] = DIGRAPH_KEYS[d];
    (class_of(Key(a)), class_of(Key(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        Key::from_name(name).unwrap()
    }

    #[test]
    fn no_class_is_a_single_key() {
        let mut keys = [0usize; CLASS_COUNT];
        for code in (0..=255).chain(Key::FOREIGN_BASE..Key::FOREIGN_BASE + 4) {
            keys[class_of(Key(code))] += 1;
        }
        for (name, n) in CLASSES.iter().zip(keys) {
            assert!(n >= 2, "class {name} has {n} key(s)");
        }
    }

    #[test]
    fn letters_go_by_finger() {
        let class = |n: &str| CLASSES[class_of(key(n))];
        assert_eq!(class("q"), "left-little");
        assert_eq!(class("z"), "left-little");
        assert_eq!(class("e"), "left-middle");
        assert_eq!(class("b"), "left-index");
        assert_eq!(class("y"), "right-index");
        assert_eq!(class("k"), "right-middle");
        assert_eq!(class("p"), "right-ring-little");
        assert_eq!(class("space"), "blank");
        assert_eq!(class("enter"), "blank");
        assert_eq!(class_of(Key::LEFTSHIFT), class_of(Key::RIGHTSHIFT));
        assert_eq!(class("1"), "digit");
        assert_eq!(class("comma"), "punctuation");
        assert_eq!(class("leftctrl"), "modifier");
        assert_eq!(class("left"), "other");
        assert_eq!(CLASSES[class_of(Key(Key::FOREIGN_BASE + 3))], "foreign");
    }

    #[test]
    fn digraphs_are_distinct_letter_pairs_found_by_keys() {
        for (i, d) in DIGRAPHS.iter().enumerate() {
            assert!(
                d.len() == 2 && d.bytes().all(|c| c.is_ascii_lowercase()),
                "{d}"
            );
            assert_eq!(DIGRAPHS.iter().position(|x| x == d), Some(i), "{d} twice");
            let (a, b) = (&d[..1], &d[1..]);
            assert_eq!(digraph_of(key(a), key(b)), Some(i), "{d}");
            assert_eq!(digraph_classes(i), (class_of(key(a)), class_of(key(b))));
        }
        assert_eq!(digraph_of(key("t"), key("h")), Some(0));
        assert_eq!(digraph_of(key("h"), key("t")), None);
        assert_eq!(digraph_of(key("q"), key("z")), None);
        assert_eq!(digraph_of(Key::SPACE, key("t")), None);
    }
}

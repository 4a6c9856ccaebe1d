//! Proptest strategies for the redaction property tests: text hiding a payment card or an
//! e-mail address in every format and position redaction promises to cover (see
//! [`super::cards`] and [`super::normalize`]), and the check that none survived.

use proptest::prelude::*;

use super::normalize::{Fold, Normalized};

/// A hidden entity: the text around it and the entity's digits or address (normalised).
#[derive(Debug, Clone)]
pub struct Hidden {
    /// The whole text.
    pub text: String,
    /// What must not survive: a card's digits, or `@` for an address.
    pub secret: Secret,
}

/// What a test looks for after redaction.
#[derive(Debug, Clone)]
pub enum Secret {
    /// A card number's digits.
    Card(String),
    /// An e-mail address (any `@` left is a failure: the surrounding text has none).
    Email,
}

impl Secret {
    /// Whether `output` (normalised first) still holds the secret.
    pub fn survives_in(&self, output: &str) -> bool {
        let n = Normalized::new(output, Fold::None);
        match self {
            Secret::Card(digits) => {
                let all: String = n.as_str().chars().filter(char::is_ascii_digit).collect();
                all.contains(digits.as_str())
            }
            Secret::Email => n.as_str().contains('@'),
        }
    }
}

/// A Luhn-valid card number of 13–19 digits.
fn card_digits() -> impl Strategy<Value = String> {
    (12usize..=18, any::<u64>(), any::<u64>()).prop_map(|(len, a, b)| {
        let mut digits: Vec<u8> = format!("{a:020}{b:020}")
            .bytes()
            .take(len)
            .map(|c| c - b'0')
            .collect();
        digits[0] = digits[0].max(1);
        let check = (0..10)
            .find(|&c| {
                let mut d = digits.clone();
                d.push(c);
                super::cards::luhn(&d)
            })
            .expect("one check digit fits");
        digits.push(check);
        digits.iter().map(|d| char::from(b'0' + d)).collect()
    })
}

/// Separators between card groups, as people and attackers write them.
const SEPARATORS: [&str; 12] = [
    "", " ", "-", ".", "/", "_", "\u{00A0}", "\u{2011}", "\u{202F}", " - ", "\u{3000}", "\u{2013}",
];
/// Invisible characters slipped between digits.
const INVISIBLE: [&str; 4] = ["\u{200B}", "\u{200D}", "\u{FEFF}", "\u{00AD}"];

/// A card written in groups of four (or whole), ASCII or fullwidth, maybe with invisibles.
fn written_card() -> impl Strategy<Value = (String, String)> {
    (
        card_digits(),
        prop::sample::select(SEPARATORS.to_vec()),
        any::<bool>(),
        prop::option::of(prop::sample::select(INVISIBLE.to_vec())),
        any::<u8>(),
    )
        .prop_map(|(digits, sep, fullwidth, invisible, at)| {
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && i % 4 == 0 {
                    out.push_str(sep);
                }
                if let Some(inv) = invisible.filter(|_| i == usize::from(at) % digits.len()) {
                    out.push_str(inv);
                }
                out.push(if fullwidth {
                    char::from_u32(0xFF10 + (c as u32 - '0' as u32)).expect("fullwidth digit")
                } else {
                    c
                });
            }
            (out, digits)
        })
}

/// Text before a card: words, a number, a word glued to it.
const BEFORE: [&str; 6] = ["", "card ", "ref 12 ", "pay with card", "no. 1234 ", "«"];
/// Text after a card: a date, a CVV, a word.
const AFTER: [&str; 6] = ["", " 12/27", " cvv 123", "x", " exp 01-29 ok", " 999"];

/// A card in some format at some position in some text.
pub fn hidden_card() -> impl Strategy<Value = Hidden> {
    (
        prop::sample::select(BEFORE.to_vec()),
        written_card(),
        prop::sample::select(AFTER.to_vec()),
        "[a-z ]{0,12}",
    )
        .prop_map(|(before, (card, digits), after, tail)| Hidden {
            text: format!("{before}{card}{after} {tail}"),
            secret: Secret::Card(digits),
        })
}

/// Local parts, domains (ASCII, other scripts, IDN, IP literals) and `@` forms.
const LOCAL: [&str; 4] = ["jane.doe", "j_d+tag", "jürgen", "x"];
const DOMAIN: [&str; 7] = [
    "example.com",
    "exämple.de",
    "пример.рф",
    "xn--e1afmkfd.xn--p1ai",
    "[192.0.2.1]",
    "[IPv6:2001:db8::1]",
    "192.0.2.7",
];
const AT: [&str; 3] = ["@", "\u{FF20}", "\u{FE6B}"];

/// An e-mail address in some form at some position.
pub fn hidden_email() -> impl Strategy<Value = Hidden> {
    (
        "[a-z ]{0,8}",
        prop::sample::select(LOCAL.to_vec()),
        prop::sample::select(AT.to_vec()),
        prop::sample::select(DOMAIN.to_vec()),
        prop::sample::select(vec!["", " ", ",", "!", "\u{200B}"]),
        "[a-z ]{0,8}",
    )
        .prop_map(|(before, local, at, domain, glue, after)| Hidden {
            text: format!("{before}{local}{at}{domain}{glue}{after}"),
            secret: Secret::Email,
        })
}

/// A card or an e-mail address.
pub fn hidden() -> impl Strategy<Value = Hidden> {
    prop_oneof![hidden_card(), hidden_email()]
}

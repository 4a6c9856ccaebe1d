//! Redaction: masks e-mail addresses, payment card numbers (Luhn-checked windows, see
//! [`cards`]), phone numbers, API-key-like secrets and custom patterns, matched on the
//! normalised text and masked in the original. Reports entity types and counts, never the text.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::PolicyError;
use super::cards;
use super::normalize::{Fold, Normalized};
use crate::names::entity;

/// A redaction policy as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionSpec {
    /// Built-in entity types to mask: `email`, `card_number`, `phone`, `api_key`.
    #[serde(default = "all_entities")]
    pub entities: Vec<String>,
    /// Extra patterns, each masked as its own entity type.
    #[serde(default)]
    pub custom: Vec<CustomPattern>,
}

/// A named custom pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    /// Entity type recorded for its matches.
    pub name: String,
    /// Regular expression.
    pub pattern: String,
}

fn all_entities() -> Vec<String> {
    BUILT_IN
        .iter()
        .map(|(name, _, _)| (*name).to_owned())
        .collect()
}

/// Built-in detectors, applied in this order (secrets first: they may contain digits), each
/// with what any text it matches in holds. Card numbers are found by [`cards::find`], not by a
/// pattern.
const BUILT_IN: [(&str, Option<&str>, Needs); 4] = [
    (
        entity::API_KEY,
        Some(
            r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bxox[abprs]-[A-Za-z0-9-]{10,}",
        ),
        // The shortest alternative: `xoxb-` and ten more ASCII characters.
        Needs::Bytes(15),
    ),
    (entity::EMAIL, Some(EMAIL), Needs::At),
    (
        entity::CARD_NUMBER,
        None,
        Needs::AsciiDigits(cards::LENGTHS.start),
    ),
    (
        entity::PHONE,
        Some(r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\b\d{2,4}[ .-]\d{3,4}[ .-]?\d{3,4}\b"),
        // 2 + 3 + 3 digits; `\d` is any Unicode decimal digit.
        Needs::Numerals(8),
    ),
];

/// An e-mail address: a local part of letters, digits and the usual punctuation in any
/// script; a domain of labels in any script ending in a letter TLD or an `xn--` one, an IP
/// literal (`[192.0.2.1]`, `[IPv6:...]`) or a bare IPv4 address.
const EMAIL: &str = concat!(
    r"[\p{L}\p{N}\p{M}._%+\-!#$&'*=?^`{|}~]+@",
    r"(?:(?:[\p{L}\p{N}\p{M}\-]+\.)+(?:\p{L}[\p{L}\p{M}]+|xn--[A-Za-z0-9\-]+)",
    r"|\[(?:IPv6:)?[0-9A-Fa-f:.]+\]",
    r"|(?:[0-9]{1,3}\.){3}[0-9]{1,3})",
);

static BUILT_IN_DETECTORS: LazyLock<Vec<(&'static str, Detector)>> = LazyLock::new(|| {
    BUILT_IN
        .iter()
        .map(|(name, p, needs)| {
            let find = match p {
                Some(p) => Find::Pattern(Regex::new(p).expect("built-in pattern compiles")),
                None => Find::Cards,
            };
            let needs = *needs;
            (*name, Detector { find, needs })
        })
        .collect()
});

/// How one entity type is found in normalised text.
#[derive(Debug, Clone)]
struct Detector {
    find: Find,
    /// What a text holds if this detector can match in it.
    needs: Needs,
}

#[derive(Debug, Clone)]
enum Find {
    Pattern(Regex),
    Cards,
}

/// What every text a detector matches in holds, tested in one pass before any pattern runs:
/// most texts of a request (keys, names, short values) can hold no entity at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// Nothing known (custom patterns).
    Anything,
    /// At least this many bytes.
    Bytes(usize),
    /// An `@`.
    At,
    /// At least this many ASCII digits.
    AsciiDigits(usize),
    /// At least this many numeric characters of any script.
    Numerals(usize),
}

/// What a normalised text holds, as far as [`Needs`] asks.
#[derive(Debug, Clone, Copy)]
struct Shape {
    bytes: usize,
    at: bool,
    ascii_digits: usize,
    numerals: usize,
}

impl Shape {
    fn of(text: &str) -> Self {
        let mut shape = Shape {
            bytes: text.len(),
            at: false,
            ascii_digits: 0,
            numerals: 0,
        };
        for b in text.bytes() {
            shape.at |= b == b'@';
            shape.ascii_digits += usize::from(b.is_ascii_digit());
        }
        shape.numerals = if text.is_ascii() {
            shape.ascii_digits
        } else {
            text.chars().filter(|c| c.is_numeric()).count()
        };
        shape
    }

    fn meets(&self, needs: Needs) -> bool {
        match needs {
            Needs::Anything => true,
            Needs::Bytes(n) => self.bytes >= n,
            Needs::At => self.at,
            Needs::AsciiDigits(n) => self.ascii_digits >= n,
            Needs::Numerals(n) => self.numerals >= n,
        }
    }
}

impl Detector {
    fn find(&self, text: &str) -> Vec<Range<usize>> {
        match &self.find {
            Find::Pattern(re) => re
                .find_iter(text)
                .map(|m| m.range())
                .filter(|r| !r.is_empty())
                .collect(),
            Find::Cards => cards::find(text),
        }
    }
}

/// A compiled redaction policy.
#[derive(Debug)]
pub struct Redaction {
    detectors: Vec<(String, Detector)>,
}

/// Counts of masked spans by entity type.
pub type Counts = BTreeMap<String, i32>;

impl Redaction {
    /// Compiles `spec` for policy `policy`.
    pub fn compile(policy: &str, spec: &RedactionSpec) -> Result<Self, PolicyError> {
        let fail = |field: String, reason: String| PolicyError {
            policy: policy.to_owned(),
            field,
            reason,
        };
        let mut detectors = Vec::new();
        for (i, name) in spec.entities.iter().enumerate() {
            let (_, d) = BUILT_IN_DETECTORS
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| {
                    fail(
                        format!("spec.entities[{i}]"),
                        format!("unknown entity type '{name}'"),
                    )
                })?;
            detectors.push((name.clone(), d.clone()));
        }
        for (i, c) in spec.custom.iter().enumerate() {
            let re = Regex::new(&c.pattern)
                .map_err(|e| fail(format!("spec.custom[{i}].pattern"), e.to_string()))?;
            let find = Find::Pattern(re);
            let needs = Needs::Anything;
            detectors.push((c.name.clone(), Detector { find, needs }));
        }
        Ok(Self { detectors })
    }

    /// Masks `text` in place, adding to `counts`. Detectors run on the normalised text (see
    /// [`Normalized`]); each match masks the original characters it came from. A match
    /// overlapping one of an earlier detector is left to that one.
    pub fn apply(&self, text: &mut String, counts: &mut Counts) {
        let normalized = Normalized::new(text, Fold::None);
        let shape = Shape::of(normalized.as_str());
        let mut spans: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
        for (d, (_, detector)) in self.detectors.iter().enumerate() {
            if !shape.meets(detector.needs) {
                continue;
            }
            for r in detector.find(normalized.as_str()) {
                let r = normalized.original(r);
                if !overlaps(&spans, &r) {
                    spans.insert(r.start, (r.end, d));
                }
            }
        }
        if spans.is_empty() {
            return;
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, (end, d)) in spans {
            let name = &self.detectors[d].0;
            out.push_str(&text[at..start]);
            out.push_str(&mask(name));
            *counts.entry(name.clone()).or_default() += 1;
            at = end;
        }
        out.push_str(&text[at..]);
        *text = out;
    }
}

/// Whether `r` overlaps a span of `spans` (start -> end, disjoint).
fn overlaps(spans: &BTreeMap<usize, (usize, usize)>, r: &Range<usize>) -> bool {
    let before = spans.range(..=r.start).next_back();
    let after = spans.range(r.start..).next();
    before.is_some_and(|(_, (end, _))| *end > r.start) || after.is_some_and(|(s, _)| *s < r.end)
}

/// The replacement for an entity of type `name`.
pub fn mask(name: &str) -> String {
    format!("[REDACTED:{name}]")
}

/// Whether the digits of `candidate` (separators ignored) pass the Luhn check.
pub fn luhn_valid(candidate: &str) -> bool {
    let digits: Vec<u8> = candidate
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    cards::luhn(&digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(text: &str) -> (String, Counts) {
        let spec = RedactionSpec {
            entities: all_entities(),
            custom: vec![CustomPattern {
                name: "ticket".into(),
                pattern: r"TCK-\d{4}".into(),
            }],
        };
        let r = Redaction::compile("p", &spec).unwrap();
        let mut t = text.to_owned();
        let mut counts = Counts::new();
        r.apply(&mut t, &mut counts);
        (t, counts)
    }

    #[test]
    fn masks_every_entity_type_and_counts_them() {
        let (t, c) = redact(
            "mail jane.doe@example.com, card 4111 1111 1111 1111, call +1 415-555-0100, \
             key sk-abcdefghijklmnopqrstuvwx, ticket TCK-1234",
        );
        for secret in ["jane.doe", "4111", "555-0100", "sk-abc", "TCK-1234"] {
            assert!(!t.contains(secret), "{secret} left in {t}");
        }
        assert_eq!(c["email"], 1);
        assert_eq!(c["card_number"], 1);
        assert_eq!(c["phone"], 1);
        assert_eq!(c["api_key"], 1);
        assert_eq!(c["ticket"], 1);
    }

    #[test]
    fn card_numbers_failing_luhn_are_left_alone() {
        assert!(luhn_valid("4111-1111-1111-1111"));
        assert!(!luhn_valid("4111 1111 1111 1112"));
        let (t, c) = redact("order 4111111111111112 shipped");
        assert!(!c.contains_key("card_number"));
        assert!(t.contains("4111111111111112"), "{t}");
    }

    #[test]
    fn unknown_entity_types_name_their_field() {
        let spec = RedactionSpec {
            entities: vec!["email".into(), "dna".into()],
            custom: vec![],
        };
        assert_eq!(
            Redaction::compile("p", &spec).unwrap_err().field,
            "spec.entities[1]"
        );
    }

    /// The shortest text each built-in detector matches in meets its needs exactly: one
    /// byte, digit or numeral less and it would be skipped.
    #[test]
    fn the_shortest_match_of_each_detector_meets_its_needs() {
        for (entity, text) in [
            (entity::API_KEY, "xoxb-abcdefghij"),
            (entity::EMAIL, "a@b.co"),
            (entity::CARD_NUMBER, "4222222222222"),
            (entity::PHONE, "12 345 678"),
            (
                entity::PHONE,
                "\u{661}\u{662} \u{663}\u{664}\u{665} \u{666}\u{667}\u{668}",
            ),
        ] {
            let (_, d) = BUILT_IN_DETECTORS
                .iter()
                .find(|(n, _)| *n == entity)
                .unwrap();
            let normalized = Normalized::new(text, Fold::None);
            assert!(
                !d.find(normalized.as_str()).is_empty(),
                "{entity} finds {text:?}"
            );
            let shape = Shape::of(normalized.as_str());
            assert!(shape.meets(d.needs), "{entity}: {text:?}");
            let less = match d.needs {
                Needs::Bytes(n) => Needs::Bytes(n + 1),
                Needs::AsciiDigits(n) => Needs::AsciiDigits(n + 1),
                Needs::Numerals(n) => Needs::Numerals(n + 1),
                other => other,
            };
            assert!(
                less == d.needs || !shape.meets(less),
                "{entity}: {text:?} is not the shortest"
            );
        }
    }

    /// A piece of text made to form entities and near misses when pieces are joined.
    fn piece() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            "[0-9]{1,5}",
            "[\u{660}-\u{669}]{1,4}",
            "[\u{ff10}-\u{ff19}]{1,4}",
            "[ .\\-+()/_@\u{ff20}]",
            "[a-zA-Z]{1,6}",
            Just("xoxb-".to_owned()),
            Just("sk-".to_owned()),
            Just("AKIA".to_owned()),
            Just("ghp_".to_owned()),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// Whatever a built-in detector finds is in a text that meets its needs.
        #[test]
        fn every_match_is_in_a_text_that_meets_its_detectors_needs(
            pieces in proptest::collection::vec(piece(), 0..14)
        ) {
            let text = pieces.concat();
            let normalized = Normalized::new(&text, Fold::None);
            let shape = Shape::of(normalized.as_str());
            for (name, d) in BUILT_IN_DETECTORS.iter() {
                if !d.find(normalized.as_str()).is_empty() {
                    proptest::prop_assert!(shape.meets(d.needs), "{name} in {text:?}");
                }
            }
        }

        #[test]
        fn no_hidden_card_or_address_survives(h in crate::policy::generated::hidden()) {
            let (masked, counts) = redact(&h.text);
            proptest::prop_assert!(!h.secret.survives_in(&masked), "{:?} -> {:?}", h.text, masked);
            proptest::prop_assert!(!counts.is_empty());
        }
    }
}

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
        .map(|(name, _)| (*name).to_owned())
        .collect()
}

/// Built-in detectors, applied in this order (secrets first: they may contain digits). Card
/// numbers are found by [`cards::find`], not by a pattern.
const BUILT_IN: [(&str, Option<&str>); 4] = [
    (
        entity::API_KEY,
        Some(
            r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bxox[abprs]-[A-Za-z0-9-]{10,}",
        ),
    ),
    (entity::EMAIL, Some(EMAIL)),
    (entity::CARD_NUMBER, None),
    (
        entity::PHONE,
        Some(r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\b\d{2,4}[ .-]\d{3,4}[ .-]?\d{3,4}\b"),
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
        .map(|(name, p)| {
            let d = match p {
                Some(p) => Detector::Pattern(Regex::new(p).expect("built-in pattern compiles")),
                None => Detector::Cards,
            };
            (*name, d)
        })
        .collect()
});

/// How one entity type is found in normalised text.
#[derive(Debug, Clone)]
enum Detector {
    Pattern(Regex),
    Cards,
}

impl Detector {
    fn find(&self, text: &str) -> Vec<Range<usize>> {
        match self {
            Detector::Pattern(re) => re
                .find_iter(text)
                .map(|m| m.range())
                .filter(|r| !r.is_empty())
                .collect(),
            Detector::Cards => cards::find(text),
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
            detectors.push((c.name.clone(), Detector::Pattern(re)));
        }
        Ok(Self { detectors })
    }

    /// Masks `text` in place, adding to `counts`. Detectors run on the normalised text (see
    /// [`Normalized`]); each match masks the original characters it came from. A match
    /// overlapping one of an earlier detector is left to that one.
    pub fn apply(&self, text: &mut String, counts: &mut Counts) {
        let normalized = Normalized::new(text, Fold::None);
        let mut spans: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
        for (d, (_, detector)) in self.detectors.iter().enumerate() {
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        #[test]
        fn no_hidden_card_or_address_survives(h in crate::policy::generated::hidden()) {
            let (masked, counts) = redact(&h.text);
            proptest::prop_assert!(!h.secret.survives_in(&masked), "{:?} -> {:?}", h.text, masked);
            proptest::prop_assert!(!counts.is_empty());
        }
    }
}

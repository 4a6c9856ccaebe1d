//! Redaction: masks e-mail addresses, payment card numbers (Luhn-checked), phone numbers,
//! API-key-like secrets and custom patterns. Reports entity types and counts, never the text.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};

use super::PolicyError;
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

/// Built-in detectors, applied in this order (secrets first: they may contain digits).
const BUILT_IN: [(&str, &str); 4] = [
    (
        entity::API_KEY,
        r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bxox[abprs]-[A-Za-z0-9-]{10,}",
    ),
    (
        entity::EMAIL,
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    ),
    (entity::CARD_NUMBER, r"\b(?:\d[ -]?){12,18}\d\b"),
    (
        entity::PHONE,
        r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\b\d{2,4}[ .-]\d{3,4}[ .-]?\d{3,4}\b",
    ),
];

static BUILT_IN_REGEX: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    BUILT_IN
        .iter()
        .map(|(name, p)| (*name, Regex::new(p).expect("built-in pattern compiles")))
        .collect()
});

/// A compiled redaction policy.
#[derive(Debug)]
pub struct Redaction {
    detectors: Vec<(String, Regex)>,
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
            let (_, re) = BUILT_IN_REGEX
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| {
                    fail(
                        format!("spec.entities[{i}]"),
                        format!("unknown entity type '{name}'"),
                    )
                })?;
            detectors.push((name.clone(), re.clone()));
        }
        for (i, c) in spec.custom.iter().enumerate() {
            let re = Regex::new(&c.pattern)
                .map_err(|e| fail(format!("spec.custom[{i}].pattern"), e.to_string()))?;
            detectors.push((c.name.clone(), re));
        }
        Ok(Self { detectors })
    }

    /// Masks `text` in place, adding to `counts`.
    pub fn apply(&self, text: &mut String, counts: &mut Counts) {
        for (name, re) in &self.detectors {
            let mut n = 0;
            let masked = re.replace_all(text, |c: &Captures<'_>| {
                let found = &c[0];
                if name == entity::CARD_NUMBER && !luhn_valid(found) {
                    return found.to_owned();
                }
                n += 1;
                mask(name)
            });
            if n > 0 {
                *text = masked.into_owned();
                *counts.entry(name.clone()).or_default() += n;
            }
        }
    }
}

/// The replacement for an entity of type `name`.
pub fn mask(name: &str) -> String {
    format!("[REDACTED:{name}]")
}

/// Whether the digits of `candidate` (separators ignored) pass the Luhn check.
pub fn luhn_valid(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| match (i % 2 == 1, d * 2) {
            (true, dd) if dd > 9 => dd - 9,
            (true, dd) => dd,
            (false, _) => d,
        })
        .sum();
    sum.is_multiple_of(10)
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
}

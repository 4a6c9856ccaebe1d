//! Payment card numbers in normalised text. A candidate run is digits joined by short
//! separators (spaces, `-`, `.`, `/`, `_`), made of groups (digits without separators).
//! Two kinds of window are checked with Luhn:
//! - whole groups: one group, or consecutive groups of at least three digits each (the last
//!   may be shorter), with 13–19 digits in all (`4111 1111 1111 1111` next to `12/27`, a CVV or a preceding number);
//! - inside one group of 17 digits or more (a card glued to other digits): every 13–19-digit
//!   window.
//!
//! The union of the windows that pass is reported, so neighbouring digits may be masked with
//! the card. Not found: a card glued to fewer digits than make 17 in all, a card whose groups
//! are shorter than three digits.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// Shortest and longest card numbers (ISO/IEC 7812).
pub const LENGTHS: Range<usize> = 13..20;
/// A group this long holds more than a usual card: every window inside it is a candidate.
const GLUED: usize = 17;
/// Groups of a multi-group card have at least this many digits.
const MIN_GROUP: usize = 3;

/// Digits joined by at most three separator characters.
static RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9](?:[\s\-./_]{0,3}[0-9])*").expect("pattern compiles"));
/// Digits without separators.
static GROUP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[0-9]+").expect("pattern compiles"));

/// A digit: its byte position and value.
type Digit = (usize, u8);

/// Byte ranges of `text` holding Luhn-valid windows, merged, in order.
pub fn find(text: &str) -> Vec<Range<usize>> {
    let mut found: Vec<Range<usize>> = Vec::new();
    for run in RUN.find_iter(text) {
        let groups: Vec<Vec<Digit>> = GROUP
            .find_iter(run.as_str())
            .map(|g| {
                g.as_str()
                    .bytes()
                    .enumerate()
                    .map(|(i, b)| (run.start() + g.start() + i, b - b'0'))
                    .collect()
            })
            .collect();
        found.extend(whole_group_windows(&groups));
        for g in groups.iter().filter(|g| g.len() >= GLUED) {
            found.extend(inner_windows(g));
        }
    }
    merge(found)
}

/// Luhn-valid windows made of whole groups.
fn whole_group_windows(groups: &[Vec<Digit>]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    for i in 0..groups.len() {
        let mut digits: Vec<Digit> = Vec::new();
        for (j, g) in groups.iter().enumerate().skip(i) {
            if j > i && groups[j - 1].len() < MIN_GROUP {
                break;
            }
            digits.extend_from_slice(g);
            if digits.len() >= LENGTHS.end {
                break;
            }
            if let Some(r) = valid(&digits) {
                out.push(r);
            }
        }
    }
    out
}

/// Luhn-valid windows of every card length inside one group.
fn inner_windows(group: &[Digit]) -> Vec<Range<usize>> {
    (0..group.len())
        .flat_map(|start| LENGTHS.filter_map(move |len| valid(group.get(start..start + len)?)))
        .collect()
}

/// The byte range of `digits` when they pass Luhn.
fn valid(digits: &[Digit]) -> Option<Range<usize>> {
    let values: Vec<u8> = digits.iter().map(|&(_, d)| d).collect();
    luhn(&values).then(|| digits[0].0..digits[digits.len() - 1].0 + 1)
}

/// Sorts and merges overlapping ranges.
fn merge(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::new();
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start < last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Whether `digits` (values 0–9) form a number of card length whose Luhn sum is a
/// multiple of ten: from the right, every second digit is doubled, and a doubled digit
/// above nine counts as the sum of its two digits (`dd - 9`).
pub fn luhn(digits: &[u8]) -> bool {
    if !LENGTHS.contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            match (i % 2 == 1, d * 2) {
                (true, dd) if dd > 9 => dd - 9,
                (true, dd) => dd,
                (false, _) => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(s: &str) -> Vec<u8> {
        s.bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect()
    }

    fn masked(text: &str) -> Vec<&str> {
        find(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn luhn_doubles_every_second_digit_and_subtracts_nine() {
        // 5555 5555 5555 4444: every doubled 5 and 4 crosses nine or not; sum 80.
        assert!(luhn(&digits("5555 5555 5555 4444")));
        assert!(!luhn(&digits("5555 5555 5555 4445")));
        // Amex, 15 digits: the doubled positions shift by one.
        assert!(luhn(&digits("3782 822463 10005")));
        assert!(!luhn(&digits("3782 822463 10006")));
        // 19 digits, the longest accepted.
        assert!(luhn(&digits("6011 0000 0000 0000 001")));
        assert!(luhn(&digits("4111 1111 1111 1111")));
    }

    /// The textbook algorithm, written another way: sum of the digits of each doubled digit.
    fn luhn_reference(s: &str) -> bool {
        let sum: u32 = digits(s)
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &d)| {
                let v = u32::from(d) * if i % 2 == 1 { 2 } else { 1 };
                v / 10 + v % 10
            })
            .sum();
        sum.is_multiple_of(10)
    }

    #[test]
    fn length_bounds_are_thirteen_to_nineteen() {
        // Twelve digits that would pass the sum are refused, as are twenty.
        assert!(!luhn(&digits("4111 1111 1117")));
        assert!(luhn_reference("411111111117"));
        assert!(!luhn(&digits("6011 0000 0000 0000 0004")));
        assert!(luhn_reference("60110000000000000004"));
        // Thirteen digits pass.
        assert!(luhn(&digits("4222222222222")));
    }

    #[test]
    fn agrees_with_the_reference_on_near_misses() {
        for base in ["4111111111111111", "5555555555554444", "378282246310005"] {
            for i in 0..base.len() {
                let mut b = base.as_bytes().to_vec();
                b[i] = b'0' + (b[i] - b'0' + 1) % 10;
                let s = String::from_utf8(b).unwrap();
                assert!(!luhn(&digits(&s)), "{s} differs in one digit");
                assert_eq!(luhn(&digits(&s)), luhn_reference(&s), "{s}");
            }
        }
    }

    #[test]
    fn cards_next_to_other_digits_are_found() {
        assert!(masked("card 4111 1111 1111 1111 12/27")[0].starts_with("4111 1111 1111 1111"));
        for text in [
            "card 4111 1111 1111 1111 12/27",
            "ref 12 4111 1111 1111 1111",
            "4111111111111111 cvv 123",
            "4111111111111111123",
            "99 5555-5555-5555-4444-99",
            "x4111.1111.1111.1111y",
            "3782_822463_10005",
        ] {
            let spans = find(text);
            let card_digits: String = spans
                .iter()
                .flat_map(|r| text[r.clone()].chars())
                .filter(char::is_ascii_digit)
                .collect();
            assert!(!spans.is_empty(), "{text}");
            for card in ["4111111111111111", "5555555555554444", "378282246310005"] {
                let whole: String = text.chars().filter(char::is_ascii_digit).collect();
                if whole.contains(card) {
                    assert!(card_digits.contains(card), "{card} left in {text}");
                }
            }
        }
    }

    #[test]
    fn numbers_failing_luhn_are_left_alone() {
        assert!(find("order 4111111111111112 shipped").is_empty());
        assert!(find("call 415 555 0100").is_empty());
        assert!(find("scores 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16").is_empty());
    }
}

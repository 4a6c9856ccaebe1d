//! The text policies match on: Unicode NFKC (fullwidth digits and `＠` become ASCII), format
//! and zero-width characters removed, separator look-alikes (non-breaking and other spaces,
//! dashes, dots, slashes, underscores) unified to their ASCII forms and, for guardrails,
//! common Cyrillic and Greek look-alikes of Latin letters folded. A map from each byte of
//! the normalised text back to the original lets redaction mask the original span.
//!
//! Not covered: digits of other scripts (Arabic-Indic, Devanagari, ...), look-alikes outside
//! the table in [`fold_homoglyph`], and text spelled out or split by letters
//! (`b.o.m.b`, `four one one one`).

use std::borrow::Cow;
use std::ops::Range;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::canonical_combining_class;

/// Whether letters are folded to their Latin look-alikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Keep letters (redaction: a non-Latin e-mail domain stays what it is).
    None,
    /// Fold Cyrillic and Greek look-alikes to Latin (guardrails).
    Homoglyphs,
}

/// A normalised text and the original byte range of each of its bytes.
#[derive(Debug)]
pub struct Normalized<'a> {
    text: Cow<'a, str>,
    /// Empty when `text` is the original unchanged (plain ASCII).
    origin: Vec<(u32, u32)>,
}

impl<'a> Normalized<'a> {
    /// Normalises `original`; ASCII text is taken as it is.
    pub fn new(original: &'a str, fold: Fold) -> Self {
        if original.is_ascii() {
            return Self {
                text: Cow::Borrowed(original),
                origin: Vec::new(),
            };
        }
        let mut out = Builder::default();
        let mut segment: Option<(usize, usize)> = None;
        for (i, c) in original.char_indices() {
            if is_invisible(c) {
                continue;
            }
            let end = i + c.len_utf8();
            match segment {
                Some((start, _)) if canonical_combining_class(c) != 0 => {
                    segment = Some((start, end))
                }
                _ => {
                    if let Some(s) = segment.replace((i, end)) {
                        out.push_segment(original, s, fold);
                    }
                }
            }
        }
        if let Some(s) = segment {
            out.push_segment(original, s, fold);
        }
        Self {
            text: Cow::Owned(out.text),
            origin: out.origin,
        }
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The original byte range that the normalised byte range `r` (non-empty) came from.
    pub fn original(&self, r: Range<usize>) -> Range<usize> {
        if self.origin.is_empty() {
            return r;
        }
        let start = self.origin[r.start].0 as usize;
        let end = self.origin[r.end - 1].1 as usize;
        start..end
    }
}

#[derive(Default)]
struct Builder {
    text: String,
    origin: Vec<(u32, u32)>,
    scratch: String,
}

impl Builder {
    /// Appends the NFKC form of one starter and its combining marks, `original[start..end]`.
    fn push_segment(&mut self, original: &str, (start, end): (usize, usize), fold: Fold) {
        self.scratch.clear();
        self.scratch
            .extend(original[start..end].chars().filter(|&c| !is_invisible(c)));
        let range = (start as u32, end as u32);
        for c in self.scratch.nfkc() {
            let c = unify_separator(c);
            let c = match fold {
                Fold::None => c,
                Fold::Homoglyphs => fold_homoglyph(c),
            };
            self.text.push(c);
            self.origin.extend(std::iter::repeat_n(range, c.len_utf8()));
        }
    }
}

/// Format characters (Unicode category Cf), variation selectors and the combining grapheme
/// joiner: invisible, and used to split what a pattern would otherwise see.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{0600}'..='\u{0605}'
        | '\u{06DD}' | '\u{070F}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E007F}'
        | '\u{E0100}'..='\u{E01EF}')
}

/// Spaces, dashes, dots, slashes and underscores of every kind as their ASCII forms.
fn unify_separator(c: char) -> char {
    match c {
        c if c.is_whitespace() => ' ',
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{2043}' | '\u{FE58}' | '\u{FE63}' => '-',
        '\u{2024}' | '\u{3002}' | '\u{FF61}' | '\u{00B7}' | '\u{2027}' => '.',
        '\u{2044}' | '\u{2215}' | '\u{29F8}' => '/',
        '\u{2017}' | '\u{203F}' | '\u{FE4D}'..='\u{FE4F}' => '_',
        c => c,
    }
}

/// Common Cyrillic and Greek letters that look like Latin ones, as those.
pub fn fold_homoglyph(c: char) -> char {
    match c {
        'а' | 'α' => 'a',
        'А' | 'Α' => 'A',
        'В' | 'Β' => 'B',
        'с' | 'ϲ' => 'c',
        'С' | 'Ϲ' => 'C',
        'ԁ' => 'd',
        'е' | 'ε' => 'e',
        'Е' | 'Ε' => 'E',
        'Н' | 'Η' => 'H',
        'һ' => 'h',
        'і' | 'ι' => 'i',
        'І' | 'Ι' => 'I',
        'ј' => 'j',
        'Ј' => 'J',
        'к' | 'κ' => 'k',
        'К' | 'Κ' => 'K',
        'М' | 'Μ' => 'M',
        'Ν' => 'N',
        'о' | 'ο' => 'o',
        'О' | 'Ο' => 'O',
        'р' | 'ρ' => 'p',
        'Р' | 'Ρ' => 'P',
        'ѕ' => 's',
        'Ѕ' => 'S',
        'Т' | 'Τ' => 'T',
        'τ' => 't',
        'υ' => 'u',
        'ν' => 'v',
        'ԝ' => 'w',
        'х' | 'χ' => 'x',
        'Х' | 'Χ' => 'X',
        'у' | 'γ' => 'y',
        'У' | 'Υ' => 'Y',
        'Ζ' => 'Z',
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_taken_as_it_is() {
        let n = Normalized::new("card 4111", Fold::None);
        assert_eq!(n.as_str(), "card 4111");
        assert_eq!(n.original(5..9), 5..9);
    }

    #[test]
    fn fullwidth_invisible_and_separators_normalise_and_map_back() {
        let s = "ｃａｒｄ\u{200B}４１\u{00A0}1\u{2011}2";
        let n = Normalized::new(s, Fold::None);
        assert_eq!(n.as_str(), "card41 1-2");
        let r = n.original(4..10);
        assert_eq!(&s[r], "４１\u{00A0}1\u{2011}2");
        assert!(s[..n.original(0..4).end].starts_with("ｃａｒｄ"));
    }

    #[test]
    fn homoglyphs_fold_only_when_asked() {
        assert_eq!(Normalized::new("bоmb", Fold::None).as_str(), "bоmb");
        assert_eq!(Normalized::new("bоmb", Fold::Homoglyphs).as_str(), "bomb");
        assert_eq!(
            Normalized::new("jane＠exаmple.com", Fold::None).as_str(),
            "jane@exаmple.com"
        );
    }

    #[test]
    fn combining_marks_compose_and_map_to_their_starter() {
        let s = "cafe\u{0301}!";
        let n = Normalized::new(s, Fold::None);
        assert_eq!(n.as_str(), "café!");
        assert_eq!(&s[n.original(3..5)], "e\u{0301}");
    }
}

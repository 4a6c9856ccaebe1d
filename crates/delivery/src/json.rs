//! JSON for the sinks' bodies, one writer for every sink: sonic-rs, from the same `Serialize`
//! implementations as serde_json and to the same bytes (the tests below hold it to that), with
//! its string escaping checking many bytes at a time; serde_json's check of one byte at a
//! time was a tenth of a sink's CPU.

use serde::Serialize;

use crate::sink::EncodeError;

/// Appends `value` as JSON to `out`.
pub fn write(out: &mut Vec<u8>, value: &impl Serialize) -> Result<(), EncodeError> {
    sonic_rs::to_writer(out, value).map_err(|e| EncodeError(format!("JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use docket_records::strategies;
    use proptest::prelude::*;

    use super::*;
    use crate::record::{Body, Exported, Source};

    fn both(value: &impl Serialize) -> (String, String) {
        let mut ours = Vec::new();
        write(&mut ours, value).unwrap();
        let reference = serde_json::to_vec(value).unwrap();
        (
            String::from_utf8(ours).unwrap(),
            String::from_utf8(reference).unwrap(),
        )
    }

    fn source(offset: i64) -> Source {
        Source {
            topic: "docket.decisions.enriched".into(),
            partition: 3,
            offset,
        }
    }

    proptest! {
        #[test]
        fn enriched_decisions_are_written_as_serde_json_writes_them(
            d in strategies::enriched(), offset in any::<i64>()
        ) {
            let record = Exported::new(Body::Decision(Box::new(d)), source(offset));
            let (ours, reference) = both(&record);
            prop_assert_eq!(ours, reference);
        }

        #[test]
        fn audit_events_are_written_as_serde_json_writes_them(a in strategies::audit()) {
            let record = Exported::new(Body::Audit(Box::new(a)), source(0));
            let (ours, reference) = both(&record);
            prop_assert_eq!(ours, reference);
        }

        /// Control characters, quotes, backslashes, DEL, the line and paragraph separators and
        /// characters beyond the basic plane, as keys and values.
        #[test]
        fn strings_that_need_escaping_are_escaped_alike(
            text in "[\\x00-\\x1f\"\\\\/\\x7f\u{2028}\u{2029}a-z\u{e9}\u{1f600}]{0,64}"
        ) {
            let map = BTreeMap::from([(text.clone(), text)]);
            let (ours, reference) = both(&map);
            prop_assert_eq!(ours, reference);
        }

        /// Floats as the sinks write times (seconds with milliseconds), and any value at all.
        #[test]
        fn floats_are_written_alike(millis in any::<i64>(), x in any::<f64>()) {
            let seconds = millis as f64 / 1_000.0;
            let (ours, reference) = both(&seconds);
            prop_assert_eq!(ours, reference);
            let (ours, reference) = both(&x);
            prop_assert_eq!(ours, reference);
        }
    }
}

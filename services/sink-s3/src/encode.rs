//! The object body: one JSON object per line (every field, with `event_id` and the Kafka
//! topic, partition and offset), gzip-compressed.

use std::io::Read;

use docket_delivery::{EncodeError, Exported, json};

/// Appends one record as an NDJSON line to `out`.
pub fn line(record: &Exported, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    json::write(out, record)?;
    out.push(b'\n');
    Ok(())
}

/// The Kafka offset of the last record in a gzip NDJSON body, if it can be read.
pub fn last_offset(gzip_body: &[u8]) -> Option<i64> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(gzip_body)
        .read_to_string(&mut text)
        .ok()?;
    let last = text.lines().next_back()?;
    let record: serde_json::Value = serde_json::from_str(last).ok()?;
    record[SOURCE][OFFSET].as_i64()
}

/// Field names of the provenance in an exported record.
const SOURCE: &str = "source";
const OFFSET: &str = "offset";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_offset_comes_from_the_last_line() {
        let lines = "{\"source\":{\"offset\":3}}\n{\"source\":{\"offset\":9}}\n";
        assert_eq!(
            last_offset(&docket_delivery::gzip(lines.as_bytes(), 1)),
            Some(9)
        );
        assert_eq!(last_offset(b"not gzip"), None);
    }
}

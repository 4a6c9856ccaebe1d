//! The object body: one JSON object per line (every field, with `event_id` and the Kafka
//! topic, partition and offset), gzip-compressed.

use std::io::{Read, Write};

use docket_delivery::{EncodeError, Exported, Item};
use flate2::Compression;
use flate2::write::GzEncoder;

/// Room for a typical line, so serializing rarely grows the buffer.
const LINE_CAPACITY: usize = 4096;

/// One record as an NDJSON line. The line is held until its batch is accepted, so its
/// spare capacity is given back (the engine's byte allowance counts lengths, not capacity).
pub fn line(record: &Exported) -> Result<Vec<u8>, EncodeError> {
    let mut bytes = Vec::with_capacity(LINE_CAPACITY);
    serde_json::to_writer(&mut bytes, record).map_err(|e| EncodeError(e.to_string()))?;
    bytes.push(b'\n');
    bytes.shrink_to_fit();
    Ok(bytes)
}

/// The gzip body of `items` (their lines, concatenated). CPU-bound: keep it off the async workers.
pub fn gzip(items: &[Item], level: u32) -> Vec<u8> {
    let raw: usize = items.iter().map(|i| i.bytes.len()).sum();
    // Realistic lines compress about 3:1 (2.5:1 at level 1): room for that, not a regrowth.
    let mut encoder = GzEncoder::new(Vec::with_capacity(raw / 2), Compression::new(level));
    for item in items {
        encoder
            .write_all(&item.bytes)
            .expect("writing into memory cannot fail");
    }
    encoder.finish().expect("writing into memory cannot fail")
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
    use docket_records::Micros;
    use flate2::read::GzDecoder;

    use super::*;

    #[test]
    fn gzip_round_trips_the_lines() {
        let items: Vec<Item> = (0..3)
            .map(|i| Item {
                offset: i,
                time: Micros(0),
                event_id: i.to_string(),
                bytes: format!("{{\"n\":{i}}}\n").into_bytes(),
            })
            .collect();
        let mut text = String::new();
        GzDecoder::new(&gzip(&items, 1)[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
    }

    #[test]
    fn the_last_offset_comes_from_the_last_line() {
        let items: Vec<Item> = [3, 9]
            .iter()
            .map(|&o| Item {
                offset: o,
                time: Micros(0),
                event_id: o.to_string(),
                bytes: format!("{{\"source\":{{\"offset\":{o}}}}}\n").into_bytes(),
            })
            .collect();
        assert_eq!(last_offset(&gzip(&items, 1)), Some(9));
        assert_eq!(last_offset(b"not gzip"), None);
    }
}

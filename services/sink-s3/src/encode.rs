//! The object body: one JSON object per line (every field, with `event_id` and the Kafka
//! topic, partition and offset), gzip-compressed.

use std::io::Read;

use docket_delivery::{EncodeError, Exported};
use libdeflater::{CompressionLvl, Compressor};

/// Appends one record as an NDJSON line to `out`.
pub fn line(record: &Exported, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    serde_json::to_writer(&mut *out, record).map_err(|e| EncodeError(e.to_string()))?;
    out.push(b'\n');
    Ok(())
}

/// The gzip body of `lines` (a batch's records, one after another). CPU-bound: keep it off
/// the async workers. libdeflate compresses the whole buffer at once; its level 1 compresses
/// realistic lines as well as zlib's level 2, in a third less time.
pub fn gzip(lines: &[u8], level: u32) -> Vec<u8> {
    let level = CompressionLvl::new(level as i32).unwrap_or_default();
    let mut compressor = Compressor::new(level);
    let mut body = vec![0; compressor.gzip_compress_bound(lines.len())];
    let len = compressor
        .gzip_compress(lines, &mut body)
        .expect("the bound is room enough");
    body.truncate(len);
    body.shrink_to_fit();
    body
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
    use flate2::read::GzDecoder;

    use super::*;

    #[test]
    fn gzip_round_trips_the_lines_at_every_level() {
        let lines = "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n";
        for level in 0..=9 {
            let mut text = String::new();
            GzDecoder::new(&gzip(lines.as_bytes(), level)[..])
                .read_to_string(&mut text)
                .unwrap();
            assert_eq!(text, lines, "level {level}");
        }
    }

    #[test]
    fn the_last_offset_comes_from_the_last_line() {
        let lines = "{\"source\":{\"offset\":3}}\n{\"source\":{\"offset\":9}}\n";
        assert_eq!(last_offset(&gzip(lines.as_bytes(), 1)), Some(9));
        assert_eq!(last_offset(b"not gzip"), None);
    }
}

//! Reading what the local stack's OpenTelemetry Collector received on one receiver (Splunk
//! HEC, Datadog or OTLP): its file exporter writes one OTLP JSON export per line; each log
//! record's body and attributes are turned back into plain JSON. Only lines written after
//! `verify` started are read.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::error::CliError;

/// A reader of one receiver's output file.
pub struct CollectorReader {
    path: PathBuf,
    offset: u64,
    records: Vec<Value>,
}

impl CollectorReader {
    /// Reads `file` (e.g. `hec.json`) in `out`, from its current end.
    pub fn new(out: &str, file: &str) -> Self {
        let path = PathBuf::from(out).join(file);
        let offset = std::fs::metadata(&path).map_or(0, |m| m.len());
        Self {
            path,
            offset,
            records: Vec::new(),
        }
    }

    /// The log records read so far, as plain JSON.
    pub fn records(&self) -> &[Value] {
        &self.records
    }

    /// Reads the lines appended since the last call, at most [`MAX_READ`] bytes, keeping only
    /// log records that mention one of `needles` (other runs and benchmarks may write millions
    /// of records to the same file meanwhile).
    pub fn refresh(&mut self, needles: &[&str]) -> Result<(), CliError> {
        let Ok(file) = std::fs::File::open(&self.path) else {
            return Ok(()); // nothing received yet
        };
        let what = format!("reading {}", self.path.display());
        if file.metadata().map_err(CliError::io(what.clone()))?.len() < self.offset {
            self.offset = 0; // the exporter rotated the file: read the new one from its start
        }
        let mut reader = BufReader::new(file);
        reader
            .seek(SeekFrom::Start(self.offset))
            .map_err(CliError::io(what.clone()))?;
        let mut read = 0;
        let mut line = String::new();
        while read < MAX_READ {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(CliError::io(what.clone()))?;
            if n == 0 || !line.ends_with('\n') {
                break; // the end, or a line still being written: read it whole next time
            }
            read += n as u64;
            self.offset += n as u64;
            if !needles.iter().any(|n| line.contains(n)) {
                continue;
            }
            if let Ok(export) = serde_json::from_str::<Value>(&line) {
                let hits = log_records(&export).into_iter().filter(|r| {
                    let text = r.to_string();
                    needles.iter().any(|n| text.contains(n))
                });
                self.records.extend(hits);
            }
        }
        Ok(())
    }
}

/// The most bytes one refresh reads.
const MAX_READ: u64 = 64 * 1024 * 1024;

/// Every log record of an export as `{"body": ..., "attributes": {...}}` in plain JSON.
fn log_records(export: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for rl in export["resourceLogs"].as_array().into_iter().flatten() {
        for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
            for lr in sl["logRecords"].as_array().into_iter().flatten() {
                let attributes = key_values(&lr["attributes"]);
                out.push(
                    serde_json::json!({"body": any_value(&lr["body"]), "attributes": attributes}),
                );
            }
        }
    }
    out
}

/// An OTLP `AnyValue` in JSON encoding as plain JSON (64-bit integers arrive as strings).
pub fn any_value(v: &Value) -> Value {
    if let Some(s) = v.get("stringValue") {
        return s.clone();
    }
    if let Some(i) = v.get("intValue") {
        return i
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .map_or(i.clone(), Value::from);
    }
    if let Some(d) = v.get("doubleValue") {
        return d.clone();
    }
    if let Some(b) = v.get("boolValue") {
        return b.clone();
    }
    if let Some(kv) = v.get("kvlistValue") {
        return Value::Object(key_values(&kv["values"]));
    }
    if let Some(a) = v.get("arrayValue") {
        return Value::Array(
            a["values"]
                .as_array()
                .into_iter()
                .flatten()
                .map(any_value)
                .collect(),
        );
    }
    Value::Null
}

fn key_values(list: &Value) -> Map<String, Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv["key"].as_str()?.to_owned(), any_value(&kv["value"]))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_values_become_plain_json() {
        let v = serde_json::json!({"kvlistValue": {"values": [
            {"key": "n", "value": {"intValue": "7"}},
            {"key": "d", "value": {"doubleValue": 7.0}},
            {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "x"}]}}},
            {"key": "none", "value": {}}
        ]}});
        assert_eq!(
            any_value(&v),
            serde_json::json!({"n": 7, "d": 7.0, "a": ["x"], "none": null})
        );
    }
}

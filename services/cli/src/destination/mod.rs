//! Where `verify` looks for a record: one reader per enabled destination (the S3 sink's
//! bucket; the collector's file of the Splunk HEC, Datadog or OTLP receiver), each answering
//! the JSON it holds; a decision is found by correlation id and an audit event by request id
//! anywhere inside it, whatever envelope the destination put around the record.

pub mod collector;
pub mod s3;

use serde_json::Value;

use crate::error::CliError;
use crate::local::Local;
use crate::{process, services};

/// A destination `verify` reads back.
pub enum Destination {
    /// The S3 sink's bucket.
    S3(s3::S3Reader),
    /// A receiver of the local collector, named after its sink.
    Collector(&'static str, collector::CollectorReader),
}

/// The collector's output file of each HTTP sink.
const COLLECTOR_FILES: [(&str, &str); 3] = [
    ("splunk", "hec.json"),
    ("datadog", "datadog.json"),
    ("otlp", "otlp.json"),
];

impl Destination {
    /// Every destination whose sink runs in the local run.
    pub fn enabled(local: &Local) -> Result<Vec<Self>, CliError> {
        let env = local.stack_env()?;
        let mut out = Vec::new();
        for name in services::sink_names() {
            let service = services::sink(name).expect("a sink of the table");
            if process::running(local, service).is_none() {
                continue;
            }
            if name == "s3" {
                out.push(Self::S3(s3::S3Reader::new(local)?));
            }
            let file = COLLECTOR_FILES.iter().find(|(sink, _)| *sink == name);
            if let (Some((sink, file)), Some(dir)) = (file, env.get("DOCKET_OTELCOL_OUT")) {
                out.push(Self::Collector(
                    sink,
                    collector::CollectorReader::new(dir, file),
                ));
            }
        }
        Ok(out)
    }

    /// Its name in tables.
    pub fn name(&self) -> &'static str {
        match self {
            Self::S3(_) => "s3",
            Self::Collector(name, _) => name,
        }
    }

    /// Reads what arrived since the last call, keeping what mentions one of `needles`.
    pub async fn refresh(&mut self, needles: &[&str]) -> Result<(), CliError> {
        match self {
            Self::S3(r) => r.refresh(needles).await,
            Self::Collector(_, r) => r.refresh(needles),
        }
    }

    fn records(&self) -> &[Value] {
        match self {
            Self::S3(r) => r.records(),
            Self::Collector(_, r) => r.records(),
        }
    }

    /// The enriched decision with `correlation_id`, if it arrived.
    pub fn decision(&self, correlation_id: &str) -> Option<Value> {
        self.records()
            .iter()
            .find_map(|r| find(r, &|v| v["decision"]["correlation_id"] == correlation_id))
    }

    /// The audit event with `request_id` and `action`, if it arrived.
    pub fn audit(&self, request_id: &str, action: &str) -> Option<Value> {
        self.records().iter().find_map(|r| {
            find(r, &|v| {
                v["request_id"] == request_id && v["action"] == action
            })
        })
    }
}

/// The first object inside `v` (itself included; strings holding JSON are looked into) for
/// which `hit` holds.
fn find(v: &Value, hit: &dyn Fn(&Value) -> bool) -> Option<Value> {
    match v {
        Value::Object(map) if hit(v) => Some(Value::Object(map.clone())),
        Value::Object(map) => map.values().find_map(|x| find(x, hit)),
        Value::Array(items) => items.iter().find_map(|x| find(x, hit)),
        Value::String(s) if s.starts_with('{') => {
            serde_json::from_str(s).ok().and_then(|x| find(&x, hit))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_found_inside_any_envelope() {
        let inner = serde_json::json!({"request_id": "r1", "action": "model.disable"});
        let wrapped = serde_json::json!({"attributes": {"message": inner.to_string()}});
        let hit = |v: &Value| v["request_id"] == "r1";
        assert_eq!(find(&wrapped, &hit), Some(inner));
        assert_eq!(find(&serde_json::json!({"x": [1, "y"]}), &hit), None);
    }
}

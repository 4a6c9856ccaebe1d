//! What the Datadog and OTLP sink tests share besides the Datadog fake: the records the local OpenTelemetry Collector wrote to its files (OTLP
//! JSON, one export per line, under `DOCKET_OTELCOL_OUT`) turned back into plain JSON, and a
//! fake OTLP/HTTP receiver for fault tests.
//!
//! The fake follows the OTLP specification's OTLP/HTTP section (`POST /v1/logs`, binary
//! protobuf `ExportLogsServiceRequest`, optional gzip; 200 with an
//! `ExportLogsServiceResponse` whose `partial_success` counts rejected records, 400 for bad
//! data, 401 for missing credentials, 429/502/503/504 with `Retry-After` when it cannot take
//! the data now). Content tests use the collector's real `otlpreceiver`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;
use serde_json::{Map, Value};

use crate::datadog::{Answer, FakeServer, Fault, Received};

pub use crate::sink::SinkRun;

// ------------------------------------------------------------------ the collector's files

/// The collector's Datadog receiver (`dev/stack env`).
pub fn collector_datadog_url() -> String {
    std::env::var("DOCKET_OTELCOL_DATADOG_URL").unwrap_or_else(|_| "http://127.0.0.1:18126".into())
}

/// The collector's OTLP/HTTP receiver.
pub fn collector_otlp_url() -> String {
    std::env::var("DOCKET_OTELCOL_OTLP_URL").unwrap_or_else(|_| "http://127.0.0.1:14318".into())
}

fn collector_out() -> PathBuf {
    std::env::var_os("DOCKET_OTELCOL_OUT").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".stack/otelcol"),
        PathBuf::from,
    )
}

/// One log record the collector wrote, as plain JSON.
#[derive(Debug, Clone)]
pub struct Log {
    /// Resource attributes.
    pub resource: Map<String, Value>,
    /// The record's fields (`timeUnixNano`, `severityText`, `traceId`, `eventName`, ...) as
    /// written, without `body` and `attributes`.
    pub fields: Map<String, Value>,
    /// The body.
    pub body: Value,
    /// The attributes.
    pub attributes: Map<String, Value>,
}

/// Every log record in the collector's file `name` (`datadog` or `otlp`) for which `keep`
/// holds.
pub fn collector_logs(name: &str, keep: impl Fn(&Log) -> bool) -> Vec<Log> {
    let path = collector_out().join(format!("{name}.json"));
    let text = read_after_hole(&path);
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(export) = serde_json::from_str::<Value>(line.trim_start_matches('\0')) else {
            continue; // a line the collector is still writing
        };
        for rl in export["resourceLogs"].as_array().into_iter().flatten() {
            let resource = attributes(&rl["resource"]["attributes"]);
            for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
                for lr in sl["logRecords"].as_array().into_iter().flatten() {
                    let log = to_log(&resource, lr);
                    if keep(&log) {
                        out.push(log);
                    }
                }
            }
        }
    }
    out
}

/// The file's text after a leading run of NUL bytes: the collector keeps writing at its own
/// offset when a file it writes is truncated (to free disk), leaving a hole it would take
/// seconds to read through. The hole's end is found by halving over 4 KiB pages.
fn read_after_hole(path: &std::path::Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    const PAGE: u64 = 4096;
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let mut zero_page = |page: u64| {
        let mut buf = vec![0u8; PAGE as usize];
        let n = file
            .seek(SeekFrom::Start(page * PAGE))
            .and_then(|_| file.read(&mut buf))
            .unwrap_or(0);
        buf[..n].iter().all(|b| *b == 0)
    };
    let (mut lo, mut hi) = (0, len.div_ceil(PAGE));
    while lo < hi {
        let mid = (lo + hi) / 2;
        if zero_page(mid) {
            lo = mid + 1
        } else {
            hi = mid
        }
    }
    let mut bytes = Vec::new();
    let start = lo.saturating_sub(1) * PAGE;
    if file.seek(SeekFrom::Start(start)).is_ok() {
        let _ = file.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn to_log(resource: &Map<String, Value>, lr: &Value) -> Log {
    let mut fields = lr.as_object().cloned().unwrap_or_default();
    fields.remove("body");
    fields.remove("attributes");
    Log {
        resource: resource.clone(),
        fields,
        body: plain(&lr["body"]),
        attributes: attributes(&lr["attributes"]),
    }
}

fn attributes(list: &Value) -> Map<String, Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|kv| {
            (
                kv["key"].as_str().unwrap_or_default().to_owned(),
                plain(&kv["value"]),
            )
        })
        .collect()
}

/// An OTLP JSON `AnyValue` as plain JSON (integers arrive as strings, `{}` is null).
pub fn plain(v: &Value) -> Value {
    if let Some(s) = v.get("stringValue") {
        return s.clone();
    }
    if let Some(i) = v.get("intValue") {
        let n: i64 = i
            .as_str()
            .map_or_else(|| i.as_i64().unwrap(), |s| s.parse().unwrap());
        return n.into();
    }
    if let Some(b) = v.get("boolValue").or_else(|| v.get("doubleValue")) {
        return b.clone();
    }
    if let Some(a) = v.get("arrayValue") {
        return a["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(plain)
            .collect();
    }
    if let Some(m) = v.get("kvlistValue") {
        return Value::Object(attributes(&m["values"]));
    }
    Value::Null
}

// ------------------------------------------------------------------ a fake OTLP receiver

/// An OTLP/HTTP logs receiver: requires `authorization` = `token` when given; a request
/// holding a record whose body mentions `refuse` is answered 400; one mentioning `partial`
/// is answered 200 with one record rejected (and the rest stored); accepted records are kept.
pub struct FakeOtlp {
    /// The server.
    pub server: FakeServer,
    records: Arc<Mutex<Vec<LogRecord>>>,
}

/// What the fake is told to refuse.
#[derive(Debug, Clone, Default)]
pub struct Refusals {
    /// The required `authorization` header value.
    pub token: Option<String>,
    /// A marker: requests with a record mentioning it get 400.
    pub refuse: Option<String>,
    /// A marker: requests with a record mentioning it get a partial success.
    pub partial: Option<String>,
}

impl FakeOtlp {
    /// A receiver refusing as `refusals` says, after `faults`.
    pub async fn start(refusals: Refusals, faults: Vec<Fault>) -> Self {
        let records = Arc::new(Mutex::new(Vec::new()));
        let kept = records.clone();
        let server = FakeServer::start(faults, move |r| otlp_answer(r, &refusals, &kept)).await;
        Self { server, records }
    }

    /// How often each `docket.event_id` was stored.
    pub fn event_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in self.records.lock().unwrap().iter() {
            *counts.entry(event_id(r)).or_default() += 1;
        }
        counts
    }
}

/// The `docket.event_id` attribute of a record.
pub fn event_id(r: &LogRecord) -> String {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    r.attributes
        .iter()
        .find(|kv| kv.key == "docket.event_id")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            V::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn otlp_answer(r: &Received, refusals: &Refusals, kept: &Mutex<Vec<LogRecord>>) -> Answer {
    let protobuf = |status: u16, body: Vec<u8>| {
        (
            status,
            vec![("content-type", "application/x-protobuf".to_owned())],
            body,
        )
    };
    if let Some(token) = &refusals.token
        && r.header("authorization") != Some(token.as_str())
    {
        return protobuf(401, b"\x12\x0cunauthorized".to_vec());
    }
    if r.path != "/v1/logs" {
        return protobuf(404, Vec::new());
    }
    let Ok(request) = ExportLogsServiceRequest::decode(&r.body[..]) else {
        return protobuf(400, b"\x12\x0bbad request".to_vec());
    };
    let records: Vec<LogRecord> = request
        .resource_logs
        .into_iter()
        .flat_map(|rl| rl.scope_logs)
        .flat_map(|sl| sl.log_records)
        .collect();
    let mentions = |marker: &Option<String>| {
        marker.as_ref().is_some_and(|m| {
            records
                .iter()
                .any(|rec| format!("{:?}", rec.body).contains(m.as_str()))
        })
    };
    if mentions(&refusals.refuse) {
        return protobuf(400, b"\x12\x12invalid log record".to_vec());
    }
    let rejected = i64::from(mentions(&refusals.partial));
    kept.lock().unwrap().extend(records);
    let response = ExportLogsServiceResponse {
        partial_success: (rejected > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: rejected,
            error_message: "one record is too old".to_owned(),
        }),
    };
    protobuf(200, response.encode_to_vec())
}

// ------------------------------------------------------------------ one test's world

/// Partitions of a test's decision topic.
pub const DECISION_PARTITIONS: i32 = 2;

/// One test's topics, group and dead-letter topic.
pub struct World {
    /// Consumer group.
    pub group: String,
    /// Enriched-decision topic.
    pub decisions: String,
    /// Audit topic.
    pub audit: String,
    /// Dead-letter topic.
    pub dlq: String,
}

impl World {
    /// Fresh topics and group named after `name`.
    pub async fn new(name: &str) -> Self {
        Self {
            group: format!("docket-sink-test-{name}-{}", crate::support::short_id()),
            decisions: crate::support::unique_topic_with(&format!("{name}.d"), DECISION_PARTITIONS)
                .await,
            audit: crate::support::unique_topic(&format!("{name}.a")).await,
            dlq: crate::support::unique_topic(&format!("{name}.dlq")).await,
        }
    }

    /// The engine's settings for this world: small batches, short waits.
    pub fn vars(&self) -> BTreeMap<String, String> {
        [
            ("DOCKET_SINK_GROUP", self.group.as_str()),
            ("DOCKET_SINK_DECISIONS_TOPIC", &self.decisions),
            ("DOCKET_SINK_AUDIT_TOPIC", &self.audit),
            ("DOCKET_SINK_DLQ_TOPIC", &self.dlq),
            ("DOCKET_SINK_BATCH_MAX_RECORDS", "20"),
            ("DOCKET_SINK_IDLE_FLUSH", "200ms"),
            ("DOCKET_SINK_RETRY_INITIAL", "100ms"),
            ("DOCKET_SINK_RETRY_MAX", "1s"),
            ("DOCKET_SINK_SHUTDOWN_GRACE", "5s"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Produces `decisions` and `audit` events (keyed by event id).
    pub async fn produce(
        &self,
        decisions: &[docket_records::EnrichedDecision],
        audit: &[docket_records::Audit],
    ) {
        let registry = crate::support::registry();
        let encoder = registry.encoder(&self.decisions);
        let mut payloads = Vec::new();
        for d in decisions {
            payloads.push((
                d.decision.event_id.clone(),
                encoder.encode(d).await.expect("encode"),
            ));
        }
        crate::sink::produce(&self.decisions, payloads).await;
        let encoder = registry.encoder(&self.audit);
        let mut payloads = Vec::new();
        for a in audit {
            payloads.push((a.event_id.clone(), encoder.encode(a).await.expect("encode")));
        }
        crate::sink::produce(&self.audit, payloads).await;
    }

    /// The group's committed offsets, decision partitions then the audit partition.
    pub fn committed(&self) -> Vec<Option<i64>> {
        let mut all = crate::sink::committed(&self.group, &self.decisions, DECISION_PARTITIONS);
        all.extend(crate::sink::committed(&self.group, &self.audit, 1));
        all
    }

    /// Whether every partition is committed to its end.
    pub fn committed_to_end(&self) -> bool {
        let mut ends = crate::sink::end_offsets(&self.decisions, DECISION_PARTITIONS);
        ends.extend(crate::sink::end_offsets(&self.audit, 1));
        let ends: Vec<Option<i64>> = ends.into_iter().map(|e| (e > 0).then_some(e)).collect();
        self.committed() == ends
    }

    /// Waits until every partition is committed to its end.
    pub async fn wait_committed_to_end(&self, run: &SinkRun) {
        crate::sink::wait_for(
            &format!("offsets committed to the end; log:\n{}", run.log()),
            RUN_DEADLINE,
            || async { self.committed_to_end().then_some(()) },
        )
        .await;
    }

    /// The first `n` dead letters: (reason, source offset, payload).
    pub async fn dead_letters(&self, n: usize) -> Vec<(String, String, Vec<u8>)> {
        use rdkafka::Message;
        use rdkafka::message::Headers;
        let header = |m: &rdkafka::message::OwnedMessage, name: &str| {
            m.headers()
                .and_then(|h| h.iter().find(|h| h.key == name)?.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        crate::support::consume(&self.dlq, n)
            .await
            .iter()
            .map(|m| {
                (
                    header(m, docket_kafka::header::DLQ_REASON),
                    header(m, docket_kafka::header::SOURCE_OFFSET),
                    m.payload().unwrap_or_default().to_vec(),
                )
            })
            .collect()
    }
}

/// How long a test waits for a whole run of a sink.
pub const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// `n` decisions with fresh event ids, the time now and distinct W3C trace ids.
pub fn decisions(n: usize) -> Vec<docket_records::EnrichedDecision> {
    (0..n)
        .map(|_| {
            let mut d = docket_records::samples::enriched();
            d.decision.event_id = docket_records::samples::event_id();
            d.decision.time = docket_records::Micros::now();
            d.decision.correlation_id = uuid::Uuid::now_v7().simple().to_string();
            d
        })
        .collect()
}

/// `n` audit events with fresh event ids and the time now.
pub fn audits(n: usize) -> Vec<docket_records::Audit> {
    (0..n)
        .map(|_| {
            let mut a = docket_records::samples::audit();
            a.event_id = docket_records::samples::event_id();
            a.time = docket_records::Micros::now();
            a
        })
        .collect()
}

/// The event ids of `decisions` and `audit`.
pub fn ids(
    decisions: &[docket_records::EnrichedDecision],
    audit: &[docket_records::Audit],
) -> std::collections::BTreeSet<String> {
    decisions
        .iter()
        .map(|d| d.decision.event_id.clone())
        .chain(audit.iter().map(|a| a.event_id.clone()))
        .collect()
}

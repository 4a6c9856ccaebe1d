//! One OpenTelemetry `LogRecord` per record (protobuf bytes): record time, observed time,
//! `trace_id` = the correlation ID, severity from the same mapping as the Datadog status,
//! `event_name` `docket.decision` / `docket.audit`, the whole exported record as the body (a
//! map, the S3 sink's line field for field), and attributes named after the OpenTelemetry
//! semantic conventions where one exists, `docket.*` otherwise.
//!
//! The record is written as protobuf straight into the batch's buffer (see [`crate::wire`]),
//! byte for byte what prost gives for the same `LogRecord`: fields in field-number order,
//! default values left out, minimal lengths.

use std::io::Write as _;

use docket_delivery::{Body, EncodeError, Exported};
use docket_records::{Audit, EnrichedDecision, Micros};
use docket_sink_http::Level;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

use crate::body::{self, INT_VALUE, KEY, STRING_VALUE, VALUE};
use crate::wire;

/// `event_name` (and `event.name`) of decisions.
pub const DECISION_EVENT: &str = "docket.decision";
/// `event_name` (and `event.name`) of audit events.
pub const AUDIT_EVENT: &str = "docket.audit";

/// `LogRecord.time_unix_nano` (`fixed64`).
const TIME_UNIX_NANO: u32 = 1;
/// `LogRecord.severity_number` (an enumeration).
const SEVERITY_NUMBER: u32 = 2;
/// `LogRecord.severity_text`.
const SEVERITY_TEXT: u32 = 3;
/// `LogRecord.body` (an `AnyValue`).
const BODY: u32 = 5;
/// `LogRecord.attributes` (`KeyValue`s).
const ATTRIBUTES: u32 = 6;
/// `LogRecord.trace_id` (16 bytes).
const TRACE_ID: u32 = 9;
/// `LogRecord.observed_time_unix_nano` (`fixed64`).
const OBSERVED_TIME_UNIX_NANO: u32 = 11;
/// `LogRecord.event_name`.
const EVENT_NAME: u32 = 12;

/// Appends the protobuf bytes of `record`'s `LogRecord`, observed at `observed`, to `out`;
/// on an error nothing is appended.
pub fn log_record(
    record: &Exported,
    observed: Micros,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let written = write_log_record(record, observed, out);
    if written.is_err() {
        out.truncate(start);
    }
    written
}

/// Appends the fields of `record`'s `LogRecord` in field-number order, as prost writes them.
fn write_log_record(
    record: &Exported,
    observed: Micros,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let level = Level::of(&record.record);
    let (event, trace) = match &record.record {
        Body::Decision(d) => (DECISION_EVENT, trace_id(&d.decision.correlation_id)),
        Body::Audit(_) => (AUDIT_EVENT, None),
    };
    fixed64_unless_zero(out, TIME_UNIX_NANO, nanos(record.time));
    let severity = i64::from(level.severity_number()) as u64;
    if severity != 0 {
        wire::varint_field(out, SEVERITY_NUMBER, severity);
    }
    string_unless_empty(out, SEVERITY_TEXT, level.status());
    wire::message(out, BODY, |out| body::write_any_value(record, out))
        .map_err(|e| EncodeError(format!("writing the log record's body: {e}")))?;
    attributes(record, event, &mut Wire(out));
    if let Some(id) = trace {
        wire::bytes_field(out, TRACE_ID, &id);
    }
    fixed64_unless_zero(out, OBSERVED_TIME_UNIX_NANO, nanos(observed));
    string_unless_empty(out, EVENT_NAME, event);
    Ok(())
}

/// A `fixed64` field, left out when zero (its default).
fn fixed64_unless_zero(out: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        wire::fixed64_field(out, field, value);
    }
}

/// A string field, left out when empty (its default).
fn string_unless_empty(out: &mut Vec<u8>, field: u32, value: &str) {
    if !value.is_empty() {
        wire::bytes_field(out, field, value.as_bytes());
    }
}

/// Nanoseconds since the epoch (0 for times before it, which OTLP cannot carry).
fn nanos(time: Micros) -> u64 {
    u64::try_from(time.0).map_or(0, |m| m.saturating_mul(1_000))
}

/// The 16 bytes of a W3C trace id (32 hex digits, not all zero); `None` otherwise.
pub fn trace_id(correlation_id: &str) -> Option<[u8; 16]> {
    let valid = correlation_id.len() == 32
        && correlation_id.bytes().all(|b| b.is_ascii_hexdigit())
        && correlation_id.bytes().any(|b| b != b'0');
    if !valid {
        return None;
    }
    let mut id = [0; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&correlation_id[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(id)
}

fn attributes(record: &Exported, event: &str, out: &mut impl Attributes) {
    out.text("event.name", event);
    out.text("docket.event_id", &record.event_id);
    out.text("messaging.system", "kafka");
    out.text("messaging.destination.name", &record.source.topic);
    out.decimal(
        "messaging.destination.partition.id",
        record.source.partition.into(),
    );
    out.int("messaging.kafka.offset", record.source.offset);
    match &record.record {
        Body::Decision(d) => decision_attributes(d, out),
        Body::Audit(a) => audit_attributes(a, out),
    }
}

fn decision_attributes(d: &EnrichedDecision, out: &mut impl Attributes) {
    let decision = &d.decision;
    out.text("gen_ai.request.model", &decision.model.requested);
    out.opt("gen_ai.response.model", decision.model.routed.as_deref());
    out.opt("gen_ai.provider.name", decision.model.provider.as_deref());
    out.opt("user.id", decision.caller.user.as_deref());
    out.opt("client.address", decision.caller.source_ip.as_deref());
    out.text("docket.correlation_id", &decision.correlation_id);
    out.text("docket.verdict", decision.verdict.name());
    out.text("docket.stage", decision.stage.name());
    out.text("docket.gateway_instance", &decision.gateway_instance);
    out.text("docket.api_key_id", &decision.caller.api_key_id);
    out.opt("docket.team", decision.caller.team.as_deref());
    if let Some(policy) = &decision.policy {
        out.text("docket.policy.id", &policy.id);
        out.int("docket.policy.version", policy.version);
    }
    out.int("docket.policy_set_version", decision.policy_set_version);
    out.text("docket.join_status", d.join_status.name());
    if let Some(change) = &d.policy_change {
        out.text("docket.action", &change.action);
        out.text("docket.actor.id", &change.actor_id);
    }
}

fn audit_attributes(a: &Audit, out: &mut impl Attributes) {
    if a.actor.kind == "user" {
        out.text("user.id", &a.actor.id);
    }
    out.opt("client.address", a.actor.source_ip.as_deref());
    out.text("docket.request_id", &a.request_id);
    out.text("docket.action", &a.action);
    out.text("docket.outcome", a.outcome.name());
    out.text("docket.actor.id", &a.actor.id);
    out.text("docket.actor.type", &a.actor.kind);
    out.text("docket.actor.role", &a.actor.role);
    out.text("docket.resource.type", &a.resource.kind);
    out.text("docket.resource.id", &a.resource.id);
    if let Some(version) = a.policy_version {
        out.int("docket.policy.version", version);
    }
}

/// Where attributes go, in the order they are added.
trait Attributes {
    /// A string attribute.
    fn text(&mut self, key: &str, value: &str);

    /// An integer attribute.
    fn int(&mut self, key: &str, value: i64);

    /// A string attribute holding `value` in decimal.
    fn decimal(&mut self, key: &str, value: i64);

    /// A string attribute, if there is a value.
    fn opt(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.text(key, v);
        }
    }
}

/// Attributes written as `LogRecord.attributes` fields.
struct Wire<'o>(&'o mut Vec<u8>);

impl Wire<'_> {
    /// An attribute `key` whose `AnyValue` content `value` writes.
    fn put(&mut self, key: &str, value: impl FnOnce(&mut Vec<u8>)) {
        wire::message(self.0, ATTRIBUTES, |out| {
            string_unless_empty(out, KEY, key);
            wire::message(out, VALUE, value);
        });
    }
}

impl Attributes for Wire<'_> {
    fn text(&mut self, key: &str, value: &str) {
        self.put(key, |out| {
            wire::bytes_field(out, STRING_VALUE, value.as_bytes())
        });
    }

    fn int(&mut self, key: &str, value: i64) {
        self.put(key, |out| wire::varint_field(out, INT_VALUE, value as u64));
    }

    fn decimal(&mut self, key: &str, value: i64) {
        self.put(key, |out| {
            wire::message(out, STRING_VALUE, |out| {
                write!(out, "{value}").expect("writing to a Vec cannot fail");
            });
        });
    }
}

/// One attribute or map entry.
pub fn key_value(key: String, value: AnyValue) -> KeyValue {
    KeyValue {
        key,
        value: Some(value),
        ..KeyValue::default()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use docket_delivery::Source;
    use docket_records::{JoinStatus, Outcome, PolicyAction, Stage, Verdict, samples};
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::logs::v1::LogRecord;
    use prost::Message;

    use super::*;
    use crate::body::tests::through_json;

    /// `log_record` into a buffer of its own.
    pub(crate) fn log_record_vec(
        record: &Exported,
        observed: Micros,
    ) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        log_record(record, observed, &mut out).map(|()| out)
    }

    /// `record` as read at offset 77 of partition 3 of the enriched-decision topic.
    pub(crate) fn exported(record: Body) -> Exported {
        let source = Source {
            topic: "docket.decisions.enriched.v1".into(),
            partition: 3,
            offset: 77,
        };
        Exported::new(record, source)
    }

    /// The written `LogRecord`, decoded.
    fn decoded(record: &Exported, observed: Micros) -> LogRecord {
        LogRecord::decode(&log_record_vec(record, observed).unwrap()[..]).unwrap()
    }

    /// Attributes as owned values.
    impl Attributes for Vec<KeyValue> {
        fn text(&mut self, key: &str, value: &str) {
            let value = AnyValue {
                value: Some(Value::StringValue(value.to_owned())),
            };
            self.push(key_value(key.to_owned(), value));
        }

        fn int(&mut self, key: &str, value: i64) {
            let value = AnyValue {
                value: Some(Value::IntValue(value)),
            };
            self.push(key_value(key.to_owned(), value));
        }

        fn decimal(&mut self, key: &str, value: i64) {
            self.text(key, &value.to_string());
        }
    }

    /// `record`'s `LogRecord` as an owned tree, the body through `serde_json::Value`: what the
    /// written bytes must be prost's encoding of.
    fn owned(record: &Exported, observed: Micros) -> LogRecord {
        let level = Level::of(&record.record);
        let (event, trace) = match &record.record {
            Body::Decision(d) => (DECISION_EVENT, trace_id(&d.decision.correlation_id)),
            Body::Audit(_) => (AUDIT_EVENT, None),
        };
        let mut attributes_owned = Vec::new();
        attributes(record, event, &mut attributes_owned);
        LogRecord {
            time_unix_nano: nanos(record.time),
            observed_time_unix_nano: nanos(observed),
            severity_number: level.severity_number(),
            severity_text: level.status().to_owned(),
            body: Some(through_json(record)),
            attributes: attributes_owned,
            trace_id: trace.map(Vec::from).unwrap_or_default(),
            event_name: event.to_owned(),
            ..LogRecord::default()
        }
    }

    fn attr<'a>(r: &'a LogRecord, key: &str) -> Option<&'a Value> {
        r.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    fn text(r: &LogRecord, key: &str) -> String {
        match attr(r, key) {
            Some(Value::StringValue(s)) => s.clone(),
            other => panic!("{key}: {other:?}"),
        }
    }

    /// An `AnyValue` back as JSON (what the body must hold).
    fn json(v: &AnyValue) -> serde_json::Value {
        match &v.value {
            None => serde_json::Value::Null,
            Some(Value::BoolValue(b)) => (*b).into(),
            Some(Value::IntValue(i)) => (*i).into(),
            Some(Value::DoubleValue(d)) => (*d).into(),
            Some(Value::StringValue(s)) => s.clone().into(),
            Some(Value::ArrayValue(a)) => a.values.iter().map(json).collect(),
            Some(Value::KvlistValue(m)) => m
                .values
                .iter()
                .map(|kv| (kv.key.clone(), json(kv.value.as_ref().unwrap())))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            Some(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_decision_maps_onto_the_log_data_model() {
        let mut d = samples::enriched();
        d.decision.verdict = Verdict::Deny;
        let record = exported(Body::Decision(Box::new(d)));
        let r = decoded(&record, Micros(1_795_000_001_000_000));
        assert_eq!(r.time_unix_nano, 1_795_000_000_123_456_000);
        assert_eq!(r.observed_time_unix_nano, 1_795_000_001_000_000_000);
        assert_eq!((r.severity_number, r.severity_text.as_str()), (13, "warn"));
        assert_eq!(r.event_name, "docket.decision");
        assert_eq!(
            hex(&r.trace_id),
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "trace_id = correlation ID"
        );
        assert_eq!(text(&r, "gen_ai.request.model"), "gpt-4o");
        assert_eq!(text(&r, "gen_ai.response.model"), "gpt-4o-mini");
        assert_eq!(text(&r, "gen_ai.provider.name"), "openai");
        assert_eq!(text(&r, "user.id"), "alice@example.com");
        assert_eq!(text(&r, "client.address"), "10.1.2.3");
        assert_eq!(text(&r, "docket.verdict"), "DENY");
        assert_eq!(text(&r, "docket.stage"), "REQUEST");
        assert_eq!(text(&r, "docket.join_status"), "JOINED");
        assert_eq!(text(&r, "docket.policy.id"), "pol-pii");
        assert_eq!(text(&r, "messaging.destination.partition.id"), "3");
        assert_eq!(
            attr(&r, "messaging.kafka.offset"),
            Some(&Value::IntValue(77))
        );
        assert_eq!(
            json(r.body.as_ref().unwrap()),
            serde_json::to_value(&record).unwrap(),
            "the body is the exported record"
        );
    }

    #[test]
    fn an_audit_event_has_no_trace_and_its_own_attributes() {
        let mut a = samples::audit();
        a.outcome = Outcome::Denied;
        let r = decoded(&exported(Body::Audit(Box::new(a))), Micros(0));
        assert!(r.trace_id.is_empty());
        assert_eq!(r.observed_time_unix_nano, 0);
        assert_eq!(r.event_name, "docket.audit");
        assert_eq!((r.severity_number, r.severity_text.as_str()), (13, "warn"));
        assert_eq!(text(&r, "user.id"), "admin-bob");
        assert_eq!(text(&r, "client.address"), "192.0.2.10");
        assert_eq!(text(&r, "docket.outcome"), "DENIED");
        assert_eq!(text(&r, "docket.action"), "policy.update");
    }

    #[test]
    fn hostile_correlation_ids_and_times_never_make_an_invalid_record() {
        for bad in [
            "",
            "xyz",
            "00000000000000000000000000000000",
            "4bf92f3577b34da6a3ce929d0e0e47zz",
            "4bf92f3577b34da6a3ce929d0e0e4736ff",
            "é4bf92f3577b34da6a3ce929d0e0e47",
        ] {
            assert!(trace_id(bad).is_none(), "{bad}");
        }
        let mut d = samples::enriched();
        d.decision.time = Micros(-5);
        d.decision.correlation_id = "\u{0}\n".to_owned();
        let r = decoded(&exported(Body::Decision(Box::new(d))), Micros(0));
        assert_eq!((r.time_unix_nano, r.trace_id.len()), (0, 0));
        assert_eq!(text(&r, "docket.correlation_id"), "\u{0}\n");
    }

    /// Records covering every variant, every optional field unset, and hostile values: control
    /// characters, unicode, empty strings, strings past 16 KiB and 2 MiB (three- and four-byte
    /// lengths), extreme integers and times before the epoch.
    pub(crate) fn hostile_records() -> Vec<Exported> {
        let mut records = vec![
            exported(Body::Decision(Box::new(samples::enriched()))),
            exported(Body::Audit(Box::new(samples::audit()))),
        ];
        for (verdict, stage, join) in [
            (Verdict::Allow, Stage::Response, JoinStatus::NoRecentEdit),
            (Verdict::Modify, Stage::Request, JoinStatus::NoPolicy),
            (Verdict::Deny, Stage::Response, JoinStatus::Late),
        ] {
            let mut d = samples::enriched();
            (d.decision.verdict, d.decision.stage, d.join_status) = (verdict, stage, join);
            records.push(exported(Body::Decision(Box::new(d))));
        }
        let mut d = samples::enriched();
        d.decision.correlation_id = "\u{0}\n\"é🙂\\".to_owned();
        d.decision.time = Micros(-5);
        d.decision.gateway_instance = String::new();
        d.decision.caller = docket_records::Caller {
            api_key_id: "🙂".repeat(600_000),
            user: None,
            team: None,
            source_ip: None,
        };
        d.decision.model.requested = "m".repeat(20_000);
        d.decision.model.routed = None;
        d.decision.model.provider = None;
        d.decision.policy = None;
        d.decision.policy_set_version = i64::MIN;
        d.decision.actions = (0..300)
            .map(|i| PolicyAction {
                reason: Some("ü".repeat(i)),
                entity_types: vec![String::new(); i % 4],
                redacted_count: i32::MIN,
                ..d.decision.actions[0].clone()
            })
            .collect();
        d.policy_change = None;
        let mut hostile = exported(Body::Decision(Box::new(d)));
        hostile.source.partition = i32::MIN;
        hostile.source.offset = -1;
        records.push(hostile);
        let mut a = samples::audit();
        a.time = Micros(i64::MIN);
        a.outcome = Outcome::Failed;
        a.actor.kind = "service".to_owned();
        a.actor.source_ip = None;
        a.policy_version = Some(i64::MAX);
        a.details = BTreeMap::from([
            (String::new(), String::new()),
            ("Ω".to_owned(), "x".repeat(3 << 20)),
            ("zz".repeat(500), "\u{7f}".to_owned()),
        ]);
        records.push(exported(Body::Audit(Box::new(a))));
        records
    }

    #[test]
    fn the_bytes_are_what_prost_writes_for_the_owned_record() {
        for (i, record) in hostile_records().iter().enumerate() {
            for observed in [Micros(0), Micros(1_795_000_001_000_000), Micros(i64::MAX)] {
                let bytes = log_record_vec(record, observed).unwrap();
                let owned = owned(record, observed);
                assert!(bytes == owned.encode_to_vec(), "record {i} at {observed:?}");
                assert!(
                    LogRecord::decode(&bytes[..]).unwrap() == owned,
                    "record {i} decoded"
                );
            }
        }
    }

    #[test]
    fn the_record_is_appended_after_what_the_buffer_holds() {
        let record = exported(Body::Audit(Box::new(samples::audit())));
        let mut out = b"earlier records".to_vec();
        log_record(&record, Micros(1), &mut out).unwrap();
        let alone = log_record_vec(&record, Micros(1)).unwrap();
        assert_eq!(&out[..15], b"earlier records");
        assert_eq!(&out[15..], &alone[..]);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

//! One OpenTelemetry `LogRecord` per record (protobuf bytes): record time, observed time,
//! `trace_id` = the correlation ID, severity from the same mapping as the Datadog status,
//! `event_name` `docket.decision` / `docket.audit`, the whole exported record as the body (a
//! map, the S3 sink's line field for field), and attributes named after the OpenTelemetry
//! semantic conventions where one exists, `docket.*` otherwise.

use docket_delivery::{Body, EncodeError, Exported};
use docket_records::{Audit, EnrichedDecision, Micros};
use docket_sink_http::{Level, label};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;

use crate::body;

/// `event_name` (and `event.name`) of decisions.
pub const DECISION_EVENT: &str = "docket.decision";
/// `event_name` (and `event.name`) of audit events.
pub const AUDIT_EVENT: &str = "docket.audit";

/// The protobuf bytes of `record`'s `LogRecord`, observed at `observed`.
pub fn log_record(
    record: &Exported,
    observed: Micros,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let record = to_log_record(record, observed)?;
    record
        .encode(out)
        .map_err(|e| EncodeError(format!("encoding the log record: {e}")))
}

/// `record` as a `LogRecord`.
pub fn to_log_record(record: &Exported, observed: Micros) -> Result<LogRecord, EncodeError> {
    let level = Level::of(&record.record);
    let body = body::to_any_value(record).map_err(|e| EncodeError(e.to_string()))?;
    let (event, trace_id) = match &record.record {
        Body::Decision(d) => (DECISION_EVENT, trace_id(&d.decision.correlation_id)),
        Body::Audit(_) => (AUDIT_EVENT, Vec::new()),
    };
    Ok(LogRecord {
        time_unix_nano: nanos(record.time),
        observed_time_unix_nano: nanos(observed),
        severity_number: level.severity_number(),
        severity_text: level.status().to_owned(),
        body: Some(body),
        attributes: attributes(record, event),
        trace_id,
        event_name: event.to_owned(),
        ..LogRecord::default()
    })
}

/// Nanoseconds since the epoch (0 for times before it, which OTLP cannot carry).
fn nanos(time: Micros) -> u64 {
    u64::try_from(time.0).map_or(0, |m| m.saturating_mul(1_000))
}

/// The 16 bytes of a W3C trace id (32 hex digits, not all zero); empty otherwise.
pub fn trace_id(correlation_id: &str) -> Vec<u8> {
    let valid = correlation_id.len() == 32
        && correlation_id.bytes().all(|b| b.is_ascii_hexdigit())
        && correlation_id.bytes().any(|b| b != b'0');
    if !valid {
        return Vec::new();
    }
    (0..16)
        .map(|i| u8::from_str_radix(&correlation_id[2 * i..2 * i + 2], 16).expect("hex digits"))
        .collect()
}

fn attributes(record: &Exported, event: &str) -> Vec<KeyValue> {
    let mut out = Attributes::default();
    out.text("event.name", event);
    out.text("docket.event_id", &record.event_id);
    out.text("messaging.system", "kafka");
    out.text("messaging.destination.name", &record.source.topic);
    out.text(
        "messaging.destination.partition.id",
        &record.source.partition.to_string(),
    );
    out.int("messaging.kafka.offset", record.source.offset);
    match &record.record {
        Body::Decision(d) => decision_attributes(d, &mut out),
        Body::Audit(a) => audit_attributes(a, &mut out),
    }
    out.0
}

fn decision_attributes(d: &EnrichedDecision, out: &mut Attributes) {
    let decision = &d.decision;
    out.text("gen_ai.request.model", &decision.model.requested);
    out.opt("gen_ai.response.model", decision.model.routed.as_deref());
    out.opt("gen_ai.provider.name", decision.model.provider.as_deref());
    out.opt("user.id", decision.caller.user.as_deref());
    out.opt("client.address", decision.caller.source_ip.as_deref());
    out.text("docket.correlation_id", &decision.correlation_id);
    out.text("docket.verdict", &label(&decision.verdict));
    out.text("docket.stage", &label(&decision.stage));
    out.text("docket.gateway_instance", &decision.gateway_instance);
    out.text("docket.api_key_id", &decision.caller.api_key_id);
    out.opt("docket.team", decision.caller.team.as_deref());
    if let Some(policy) = &decision.policy {
        out.text("docket.policy.id", &policy.id);
        out.int("docket.policy.version", policy.version);
    }
    out.int("docket.policy_set_version", decision.policy_set_version);
    out.text("docket.join_status", &label(&d.join_status));
    if let Some(change) = &d.policy_change {
        out.text("docket.action", &change.action);
        out.text("docket.actor.id", &change.actor_id);
    }
}

fn audit_attributes(a: &Audit, out: &mut Attributes) {
    if a.actor.kind == "user" {
        out.text("user.id", &a.actor.id);
    }
    out.opt("client.address", a.actor.source_ip.as_deref());
    out.text("docket.request_id", &a.request_id);
    out.text("docket.action", &a.action);
    out.text("docket.outcome", &label(&a.outcome));
    out.text("docket.actor.id", &a.actor.id);
    out.text("docket.actor.type", &a.actor.kind);
    out.text("docket.actor.role", &a.actor.role);
    out.text("docket.resource.type", &a.resource.kind);
    out.text("docket.resource.id", &a.resource.id);
    if let Some(version) = a.policy_version {
        out.int("docket.policy.version", version);
    }
}

/// Attributes in the order they are added.
#[derive(Default)]
struct Attributes(Vec<KeyValue>);

impl Attributes {
    fn put(&mut self, key: &str, value: Value) {
        self.0
            .push(key_value(key.to_owned(), AnyValue { value: Some(value) }));
    }

    fn text(&mut self, key: &str, value: &str) {
        self.put(key, Value::StringValue(value.to_owned()));
    }

    fn opt(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.text(key, v);
        }
    }

    fn int(&mut self, key: &str, value: i64) {
        self.put(key, Value::IntValue(value));
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
    use docket_delivery::Source;
    use docket_records::{Outcome, Verdict, samples};

    use super::*;

    /// `log_record` into a buffer of its own.
    fn log_record_vec(record: &Exported, observed: Micros) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        log_record(record, observed, &mut out).map(|()| out)
    }

    /// `record` as read at offset 77 of partition 3 of the enriched-decision topic.
    pub(crate) fn exported(record: Body) -> Exported {
        let source = Source {
            topic: "docket.decisions.enriched.v1".to_owned(),
            partition: 3,
            offset: 77,
        };
        Exported::new(record, source)
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
        let bytes = log_record_vec(&record, Micros(1_795_000_001_000_000)).unwrap();
        let r = LogRecord::decode(&bytes[..]).unwrap();
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
        let r = to_log_record(&exported(Body::Audit(Box::new(a))), Micros(0)).unwrap();
        assert!(r.trace_id.is_empty());
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
            assert!(trace_id(bad).is_empty(), "{bad}");
        }
        let mut d = samples::enriched();
        d.decision.time = Micros(-5);
        d.decision.correlation_id = "\u{0}\n".to_owned();
        let r = to_log_record(&exported(Body::Decision(Box::new(d))), Micros(0)).unwrap();
        assert_eq!((r.time_unix_nano, r.trace_id.len()), (0, 0));
        assert_eq!(text(&r, "docket.correlation_id"), "\u{0}\n");
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

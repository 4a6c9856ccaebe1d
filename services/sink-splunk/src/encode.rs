//! One record as one HEC event: `time` (epoch seconds with milliseconds), `host`, `source`
//! (`docket:<topic>`), `sourcetype`, `index`, `event` (the record, every field, named as in
//! the S3 object's `record`) and indexed `fields` (strings) to search and deduplicate by.
//! Events are concatenated into a batch body without separators, as HEC reads them.

use std::collections::BTreeMap;

use docket_delivery::{Body, EncodeError, Exported, json};
use docket_records::{Audit, EnrichedDecision};
use serde::Serialize;

use crate::config::HecConfig;

/// One HEC event.
#[derive(Serialize)]
struct Event<'a> {
    time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    source: String,
    sourcetype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<&'a str>,
    event: &'a Body,
    fields: BTreeMap<&'static str, String>,
}

/// The HEC event of `record`, as JSON bytes.
pub fn event(record: &Exported, config: &HecConfig, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let target = config.target(record.stream);
    let mut fields = match &record.record {
        Body::Decision(d) => decision_fields(d),
        Body::Audit(a) => audit_fields(a),
    };
    fields.insert("event_id", record.event_id.clone());
    fields.insert("kafka_topic", record.source.topic.clone());
    fields.insert("kafka_partition", record.source.partition.to_string());
    fields.insert("kafka_offset", record.source.offset.to_string());
    let host = match &record.record {
        Body::Decision(d) => Some(d.decision.gateway_instance.as_str()),
        Body::Audit(_) => None,
    };
    let event = Event {
        time: seconds(record.time.0),
        host,
        source: format!("docket:{}", record.source.topic),
        sourcetype: &target.sourcetype,
        index: target.index.as_deref(),
        event: &record.record,
        fields,
    };
    json::write(out, &event)
}

/// Epoch seconds with millisecond precision, from microseconds.
fn seconds(micros: i64) -> f64 {
    micros.div_euclid(1_000) as f64 / 1_000.0
}

fn decision_fields(d: &EnrichedDecision) -> BTreeMap<&'static str, String> {
    let r = &d.decision;
    let mut f = BTreeMap::from([
        ("correlation_id", r.correlation_id.clone()),
        ("verdict", name(&r.verdict)),
        ("join_status", name(&d.join_status)),
        ("api_key_id", r.caller.api_key_id.clone()),
        ("model", r.model.requested.clone()),
    ]);
    if let Some(p) = &r.policy {
        f.insert("policy_id", p.id.clone());
        f.insert("policy_version", p.version.to_string());
    }
    f
}

fn audit_fields(a: &Audit) -> BTreeMap<&'static str, String> {
    let mut f = BTreeMap::from([
        ("action", a.action.clone()),
        ("actor", a.actor.id.clone()),
        ("outcome", name(&a.outcome)),
    ]);
    if a.resource.kind == "policy" {
        f.insert("policy_id", a.resource.id.clone());
    }
    if let Some(v) = a.policy_version {
        f.insert("policy_version", v.to_string());
    }
    f
}

/// The serialized name of a unit enum (`DENY`, `JOINED`, `SUCCESS`).
fn name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use docket_delivery::{Source, Stream};
    use docket_records::{Micros, samples};
    use docket_sink_http::Secret;

    use super::*;

    /// `event` into a buffer of its own.
    fn event_vec(record: &Exported, config: &HecConfig) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        event(record, config, &mut out).map(|()| out)
    }
    use crate::config::Target;

    fn config() -> HecConfig {
        HecConfig {
            url: reqwest::Url::parse("http://hec:8088").unwrap(),
            token: Secret::new("t"),
            decisions: Target {
                index: Some("dec".to_owned()),
                sourcetype: "docket:decision".to_owned(),
            },
            audit: Target {
                index: None,
                sourcetype: "docket:audit".to_owned(),
            },
            ack: None,
            channel: "c".to_owned(),
            gzip: true,
            client: Default::default(),
        }
    }

    fn exported(stream: Stream, record: Body) -> Exported {
        Exported {
            event_id: "e-1".to_owned(),
            stream,
            time: Micros(1_732_700_000_123_456),
            source: Source {
                topic: "docket.decisions.enriched".to_owned(),
                partition: 2,
                offset: 41,
            },
            record,
        }
    }

    #[test]
    fn a_decision_carries_its_indexed_fields() {
        let d = samples::enriched();
        let r = exported(Stream::Decision, Body::Decision(Box::new(d.clone())));
        let v: serde_json::Value =
            serde_json::from_slice(&event_vec(&r, &config()).unwrap()).unwrap();
        assert_eq!(v["time"], 1_732_700_000.123);
        assert_eq!(v["host"], d.decision.gateway_instance.as_str());
        assert_eq!(v["source"], "docket:docket.decisions.enriched");
        assert_eq!(
            (&v["sourcetype"], &v["index"]),
            (&"docket:decision".into(), &"dec".into())
        );
        assert_eq!(v["event"], serde_json::to_value(&r.record).unwrap());
        let f = &v["fields"];
        assert_eq!(f["correlation_id"], d.decision.correlation_id.as_str());
        assert_eq!(f["event_id"], "e-1");
        assert_eq!(
            (&f["kafka_partition"], &f["kafka_offset"]),
            (&"2".into(), &"41".into())
        );
        assert!(f.as_object().unwrap().values().all(|x| x.is_string()));
    }

    #[test]
    fn an_audit_event_names_actor_action_and_outcome() {
        let a = samples::audit();
        let r = exported(Stream::Audit, Body::Audit(Box::new(a.clone())));
        let v: serde_json::Value =
            serde_json::from_slice(&event_vec(&r, &config()).unwrap()).unwrap();
        assert_eq!(v["sourcetype"], "docket:audit");
        assert!(v.get("index").is_none() && v.get("host").is_none());
        assert_eq!(v["fields"]["actor"], a.actor.id.as_str());
        assert_eq!(v["fields"]["action"], a.action.as_str());
        assert!(v["fields"]["outcome"].is_string());
    }
}

//! One record as one HEC event: `time` (epoch seconds with milliseconds), `host`, `source`
//! (`docket:<topic>`), `sourcetype`, `index`, `event` (the record, every field, named as in
//! the S3 object's `record`) and indexed `fields` (strings) to search and deduplicate by.
//! Events are concatenated into a batch body without separators, as HEC reads them.

use std::fmt::Display;

use docket_delivery::{Body, EncodeError, Exported, json};
use docket_records::{Audit, EnrichedDecision};
use serde::{Serialize, Serializer};

use crate::config::HecConfig;

/// One HEC event.
#[derive(Serialize)]
struct Event<'a> {
    time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    source: Text<std::fmt::Arguments<'a>>,
    sourcetype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<&'a str>,
    event: &'a Body,
    fields: Fields<'a>,
}

/// The indexed fields, every one a string as HEC requires, in name order; a record's kind
/// leaves the others out. Borrowed from the record, so an event allocates nothing of its own.
#[derive(Serialize, Default)]
struct Fields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<&'a str>,
    event_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    join_status: Option<&'static str>,
    kafka_offset: Text<i64>,
    kafka_partition: Text<i32>,
    kafka_topic: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_version: Option<Text<i64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<&'static str>,
}

/// A value written as a JSON string of its `Display` form, straight into the output.
#[derive(Default)]
struct Text<T>(T);

impl<T: Display> Serialize for Text<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// The HEC event of `record`, as JSON bytes.
pub fn event(record: &Exported, config: &HecConfig, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let target = config.target(record.stream);
    let common = Fields {
        event_id: &record.event_id,
        kafka_offset: Text(record.source.offset),
        kafka_partition: Text(record.source.partition),
        kafka_topic: &record.source.topic,
        ..Fields::default()
    };
    let (host, fields) = match &record.record {
        Body::Decision(d) => (
            Some(d.decision.gateway_instance.as_str()),
            decision_fields(d, common),
        ),
        Body::Audit(a) => (None, audit_fields(a, common)),
    };
    let event = Event {
        time: seconds(record.time.0),
        host,
        source: Text(format_args!("docket:{}", record.source.topic)),
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

fn decision_fields<'a>(d: &'a EnrichedDecision, common: Fields<'a>) -> Fields<'a> {
    let r = &d.decision;
    Fields {
        correlation_id: Some(&r.correlation_id),
        verdict: Some(r.verdict.name()),
        join_status: Some(d.join_status.name()),
        api_key_id: Some(&r.caller.api_key_id),
        model: Some(&r.model.requested),
        policy_id: r.policy.as_ref().map(|p| p.id.as_str()),
        policy_version: r.policy.as_ref().map(|p| Text(p.version)),
        ..common
    }
}

fn audit_fields<'a>(a: &'a Audit, common: Fields<'a>) -> Fields<'a> {
    Fields {
        action: Some(&a.action),
        actor: Some(&a.actor.id),
        outcome: Some(a.outcome.name()),
        policy_id: (a.resource.kind == "policy").then_some(a.resource.id.as_str()),
        policy_version: a.policy_version.map(Text),
        ..common
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
                topic: "docket.decisions.enriched".into(),
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
        let names: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "api_key_id",
                "correlation_id",
                "event_id",
                "join_status",
                "kafka_offset",
                "kafka_partition",
                "kafka_topic",
                "model",
                "policy_id",
                "policy_version",
                "verdict"
            ]
        );
        assert_eq!(f["verdict"], "REDACT");
        assert_eq!(f["policy_version"], "7");
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
        assert_eq!(v["fields"]["outcome"], "SUCCESS");
        assert_eq!(v["fields"]["policy_version"], "7");
        assert!(v["fields"].get("verdict").is_none() && v["fields"].get("model").is_none());
    }
}

//! Every record type survives encode → produce → consume → decode against the real broker
//! and registry, field by field.

mod support;

use std::time::Duration;

use docket_records::samples;
use docket_records::{Audit, Decision, Record, split_frame};
use rdkafka::Message;
use rdkafka::producer::FutureRecord;
use serde::Serialize;
use support::*;

/// Produces `record` keyed by `key`, reads it back and decodes it.
async fn through_kafka<T: Record + Serialize>(record: &T, key: &str) -> (T, String) {
    let registry = registry();
    let topic = unique_topic("roundtrip").await;
    let bytes = registry
        .encoder::<T>(&topic)
        .encode(record)
        .await
        .expect("encode");
    let producer = docket_kafka::producer(&settings()).expect("producer");
    producer
        .send(
            FutureRecord::to(&topic).key(key).payload(&bytes),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("broker accepted the record");
    let msgs = consume(&topic, 1).await;
    let key = String::from_utf8(msgs[0].key().expect("key").to_vec()).expect("utf-8 key");
    let decoded = registry
        .decoder::<T>()
        .decode(payload(&msgs[0]))
        .await
        .expect("decode");
    (decoded, key)
}

#[tokio::test]
async fn decision_round_trips_with_every_field() {
    let sent = samples::decision();
    let (got, key) = through_kafka(&sent, &sent.correlation_id).await;
    assert_eq!(key, sent.correlation_id);
    assert_eq!(got.event_id, sent.event_id);
    assert_eq!(got.time, sent.time);
    assert_eq!(got.verdict, sent.verdict);
    assert_eq!(got.policy, sent.policy);
    assert_eq!(got.actions, sent.actions);
    assert_eq!(got.caller, sent.caller);
    assert_eq!(got.model, sent.model);
    assert_eq!(got, sent);
}

#[tokio::test]
async fn plain_allow_without_policy_round_trips() {
    let mut sent = samples::decision();
    sent.verdict = docket_records::Verdict::Allow;
    sent.policy = None;
    sent.actions.clear();
    sent.caller.user = None;
    sent.model.routed = None;
    let (got, _) = through_kafka(&sent, &sent.correlation_id).await;
    assert_eq!(got, sent);
}

#[tokio::test]
async fn audit_round_trips_with_every_field() {
    let sent = samples::audit();
    let (got, key) = through_kafka(&sent, &sent.resource.id).await;
    assert_eq!(key, sent.resource.id);
    assert_eq!(got.actor, sent.actor);
    assert_eq!(got.details, sent.details);
    assert_eq!(got.policy_version, Some(7));
    assert_eq!(got, sent);
}

#[tokio::test]
async fn enriched_decision_round_trips_with_every_field() {
    let sent = samples::enriched();
    let (got, _) = through_kafka(&sent, &sent.decision.correlation_id).await;
    assert_eq!(got.policy_change, sent.policy_change);
    assert_eq!(got.join_status, sent.join_status);
    assert_eq!(got, sent);
}

#[tokio::test]
async fn frames_carry_the_registered_schema_id() {
    let registry = registry();
    let topic = unique_topic("frame").await;
    let encoder = registry.encoder::<Decision>(&topic);
    let bytes = encoder.encode(&samples::decision()).await.expect("encode");
    let (id, body) = split_frame(&bytes).expect("framed");
    assert_eq!(id, encoder.schema_id().await.unwrap());
    assert!(!body.is_empty());
    // The same schema under another subject keeps its id; another schema gets another one.
    let again = registry.encoder::<Decision>(&unique_topic("frame").await);
    assert_eq!(again.schema_id().await.unwrap(), id);
    let other = registry.encoder::<Audit>(&unique_topic("frame").await);
    assert_ne!(other.schema_id().await.unwrap(), id);
}

//! Released schemas stay readable: each current schema in `schemas/` is BACKWARD compatible
//! with every released version frozen in `schemas/history/<record>/v<N>.avsc`, as the real
//! registry judges it in a fresh subject per run, and a breaking edit is refused.

mod support;

use std::path::PathBuf;

use docket_records::{
    Audit, CodecError, Decision, EnrichedDecision, GatewayState, Record, RecordSchema,
};
use serde_json::{Value as Json, json};
use support::*;

/// Each record's history folder and its current (self-contained) schema.
fn records() -> [(&'static str, &'static RecordSchema); 4] {
    [
        ("decision", Decision::schema()),
        ("audit", Audit::schema()),
        ("enriched_decision", EnrichedDecision::schema()),
        ("gateway_state", GatewayState::schema()),
    ]
}

/// The released versions of `record`, oldest first: `v1.avsc`, `v2.avsc`, ... without gaps.
fn history(record: &str) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("schemas/history")
        .join(record);
    let mut versions: Vec<(u32, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let n = name
                .strip_prefix('v')
                .and_then(|rest| rest.strip_suffix(".avsc"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{name} in {record}'s history is not v<N>.avsc"));
            (n, std::fs::read_to_string(&path).expect("schema file"))
        })
        .collect();
    versions.sort();
    let numbers: Vec<u32> = versions.iter().map(|(n, _)| *n).collect();
    let expected: Vec<u32> = (1..=versions.len() as u32).collect();
    assert_eq!(numbers, expected, "{record}'s history has gaps");
    versions.into_iter().map(|(_, text)| text).collect()
}

/// A registry subject no other run uses, named like the codec's `<topic>-value`.
fn fresh_topic(record: &str) -> String {
    format!("t.history.{record}.{}", short_id())
}

async fn registry_call(method: reqwest::Method, path: &str, body: Json) -> Json {
    let url = format!("{}{path}", settings().schema_registry_url);
    let response = reqwest::Client::new()
        .request(method, &url)
        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("registry at {url} (is `dev/stack up` running?): {e}"));
    let status = response.status();
    let text = response.text().await.expect("registry answer");
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).expect("registry answers JSON")
}

/// Registers every released version of `record` in order, under BACKWARD_TRANSITIVE (so the
/// history is itself a compatible chain); returns the subject.
async fn subject_with_history(record: &str, topic: &str) -> String {
    let subject = format!("{topic}-value");
    let level = json!({"compatibility": "BACKWARD_TRANSITIVE"});
    registry_call(reqwest::Method::PUT, &format!("/config/{subject}"), level).await;
    for (i, text) in history(record).iter().enumerate() {
        RecordSchema::parse(text)
            .unwrap_or_else(|e| panic!("{record} v{} does not parse: {e}", i + 1));
        let body = json!({"schema": text});
        let path = format!("/subjects/{subject}/versions");
        registry_call(reqwest::Method::POST, &path, body).await;
    }
    subject
}

/// The registry's verdict on `schema` reading data written with `version` of `subject`.
async fn compatible(subject: &str, version: usize, schema: &str) -> bool {
    let path = format!("/compatibility/subjects/{subject}/versions/{version}");
    let verdict = registry_call(reqwest::Method::POST, &path, json!({"schema": schema})).await;
    verdict["is_compatible"]
        .as_bool()
        .unwrap_or_else(|| panic!("no verdict in {verdict}"))
}

#[tokio::test]
async fn every_current_schema_reads_every_released_version() {
    let registry = registry();
    for (record, current) in records() {
        let topic = fresh_topic(record);
        let subject = subject_with_history(record, &topic).await;
        for version in 1..=history(record).len() {
            assert!(
                compatible(&subject, version, current.json()).await,
                "schemas/ {record} cannot read data written with its released v{version}"
            );
        }
        // And the codec's own registration path accepts it against the whole history.
        registry
            .register(&topic, current)
            .await
            .unwrap_or_else(|e| panic!("current {record} refused: {e}"));
    }
}

/// `schema` with a new field that has no default: data written before cannot be read.
fn with_required_field(schema: &RecordSchema) -> RecordSchema {
    let mut json: Json = serde_json::from_str(schema.json()).unwrap();
    let field = json!({"name": "tenant", "type": "string", "doc": "Owning tenant."});
    json["fields"].as_array_mut().unwrap().push(field);
    RecordSchema::parse(&json.to_string()).expect("still a valid schema")
}

#[tokio::test]
async fn a_breaking_edit_is_refused_against_the_history() {
    let registry = registry();
    for (record, current) in records() {
        let topic = fresh_topic(record);
        let subject = subject_with_history(record, &topic).await;
        let broken = with_required_field(current);
        assert!(
            !compatible(&subject, 1, broken.json()).await,
            "the registry accepted a required field added to {record}"
        );
        let err = registry
            .register(&topic, &broken)
            .await
            .expect_err("a breaking edit must be refused");
        assert!(
            matches!(&err, CodecError::SchemaRejected { subject: s, .. } if s == &subject),
            "{err:?}"
        );
    }
}

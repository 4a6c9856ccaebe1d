//! Schema evolution against the real registry: a reader decodes data written with an older
//! or newer compatible version of its schema, and the registry refuses an incompatible change
//! under BACKWARD compatibility.

mod support;
#[path = "support/versions.rs"]
mod versions;

use std::sync::LazyLock;

use apache_avro::types::Value;
use docket_records::samples;
use docket_records::{CodecError, Decision, Record, RecordSchema};
use serde_json::json;
use support::*;
use versions::{V2, v2_value, with_extra_field};

/// v3: a new required field without a default: old data cannot be read with it.
static V3: LazyLock<RecordSchema> = LazyLock::new(|| {
    with_extra_field(json!({"name": "tenant", "type": "string", "doc": "Owning tenant."}))
});

fn field<'a>(record: &'a Value, name: &str) -> &'a Value {
    let Value::Record(fields) = record else {
        panic!("not a record: {record:?}")
    };
    &fields
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .1
}

async fn set_subject_compatibility(subject: &str, level: &str) {
    let url = format!("{}/config/{subject}", settings().schema_registry_url);
    let response = reqwest::Client::new()
        .put(url)
        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
        .body(json!({"compatibility": level}).to_string())
        .send()
        .await
        .expect("registry reachable");
    assert!(
        response.status().is_success(),
        "setting compatibility: {}",
        response.status()
    );
}

#[tokio::test]
async fn old_reader_reads_new_data_and_new_reader_reads_old_data() {
    let registry = registry();
    let topic = unique_topic("evolution").await;
    set_subject_compatibility(&format!("{topic}-value"), "BACKWARD").await;
    let decision = samples::decision();

    let v1_bytes = registry
        .encoder::<Decision>(&topic)
        .encode(&decision)
        .await
        .expect("v1");
    let v2_encoder = registry.encoder_with_schema::<Decision>(&topic, &V2);
    let v2_bytes = v2_encoder
        .encode_value(&v2_value(&decision, 0.93))
        .await
        .expect("v2 registers");
    assert_ne!(v1_bytes[..5], v2_bytes[..5], "v2 has its own schema id");

    // The v1 reader (the Rust type) ignores the field it does not know.
    let old_reads_new = registry
        .decoder::<Decision>()
        .decode(&v2_bytes)
        .await
        .expect("v1 reads v2");
    assert_eq!(old_reads_new, decision);

    // The v2 reader sees v2's value, and the default where v1 wrote nothing.
    let new_reads_new = registry
        .decode_value(&v2_bytes, Some(&V2))
        .await
        .expect("v2 reads v2");
    assert_eq!(
        field(&new_reads_new, "risk_score"),
        &Value::Union(1, Box::new(Value::Double(0.93)))
    );
    let new_reads_old = registry
        .decode_value(&v1_bytes, Some(&V2))
        .await
        .expect("v2 reads v1");
    assert_eq!(
        field(&new_reads_old, "risk_score"),
        &Value::Union(0, Box::new(Value::Null))
    );
    assert_eq!(
        field(&new_reads_old, "event_id"),
        &Value::String(decision.event_id.clone())
    );
}

#[tokio::test]
async fn registry_refuses_an_incompatible_change() {
    let registry = registry();
    let topic = unique_topic("incompatible").await;
    let subject = format!("{topic}-value");
    set_subject_compatibility(&subject, "BACKWARD").await;
    registry
        .register(&topic, Decision::schema())
        .await
        .expect("v1 registers");

    let err = registry
        .register(&topic, &V3)
        .await
        .expect_err("v3 must be refused");
    match &err {
        CodecError::SchemaRejected { subject: s, .. } => assert_eq!(s, &subject),
        other => panic!("expected SchemaRejected, got {other:?}"),
    }
    assert!(!err.is_retryable());
    // A compatible change is still accepted after the refusal.
    registry.register(&topic, &V2).await.expect("v2 registers");
}

#[tokio::test]
async fn a_reader_that_cannot_resolve_the_writer_gets_a_mismatch() {
    let registry = registry();
    let topic = unique_topic("mismatch").await;
    let audit_bytes = registry
        .encoder::<docket_records::Audit>(&topic)
        .encode(&samples::audit())
        .await
        .unwrap();
    let err = registry
        .decoder::<Decision>()
        .decode(&audit_bytes)
        .await
        .expect_err("audit is not a decision");
    assert!(matches!(err, CodecError::SchemaMismatch { .. }), "{err:?}");
}

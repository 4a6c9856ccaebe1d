//! The Helm chart's setup Job registers exactly the schema texts the codec registers, and its
//! copy of the topic list is the project's: if either drifted, the hook would register a second
//! schema version (or miss a topic) that no service writes with.
//!
//! Regenerate the payloads after a schema change with
//! `DOCKET_CHART_WRITE_SCHEMAS=1 cargo test --test chart`.

use std::path::PathBuf;

use docket_records::{Audit, Decision, EnrichedDecision, GatewayState, Record, RecordSchema};

fn chart_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("helm/docket")
        .join(relative)
}

/// Each subject the services register, with its writer schema.
fn subjects() -> [(&'static str, &'static RecordSchema); 4] {
    [
        ("docket.decisions.v1-value", Decision::schema()),
        ("docket.audit.v1-value", Audit::schema()),
        (
            "docket.decisions.enriched.v1-value",
            EnrichedDecision::schema(),
        ),
        ("docket.gateway.state.v1-value", GatewayState::schema()),
    ]
}

#[test]
fn setup_job_registers_the_codecs_schema_texts() {
    for (subject, schema) in subjects() {
        let path = chart_file(&format!("files/schemas/{subject}.json"));
        let expected = serde_json::json!({ "schema": schema.json() }).to_string();
        if std::env::var_os("DOCKET_CHART_WRITE_SCHEMAS").is_some() {
            std::fs::write(&path, format!("{expected}\n")).expect("writing the chart's schema");
        }
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let payload: serde_json::Value = serde_json::from_str(&text).expect("payload is JSON");
        assert_eq!(
            payload["schema"].as_str(),
            Some(schema.json()),
            "{} differs from the schema the codec registers for {subject}; \
             regenerate it (see this file's header)",
            path.display()
        );
    }
}

#[test]
fn chart_topic_list_is_the_projects() {
    let project = include_str!("../config/topics.conf");
    let chart = std::fs::read_to_string(chart_file("files/topics.conf")).expect("chart copy");
    assert_eq!(
        chart, project,
        "helm/docket/files/topics.conf must be a copy of config/topics.conf"
    );
}

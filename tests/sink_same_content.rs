//! The same records through three destinations carry the same content: the S3 sink's object
//! line, the Datadog sink's `docket` attribute (read back from the OpenTelemetry Collector's
//! Datadog receiver) and the OTLP sink's log body (from its OTLP receiver) are compared field
//! by field, and the derived fields (time, trace id, severity) agree, so moving a destination
//! from the direct path to the OpenTelemetry path changes no field.

#[path = "support/datadog.rs"]
mod datadog;
#[path = "support/otlp.rs"]
mod otlp;
#[path = "support/sink.rs"]
mod sink;
mod support;

use std::collections::{BTreeMap, BTreeSet};

use otlp::{Log, RUN_DEADLINE, SinkRun, World, audits, collector_logs, decisions, ids};
use serde_json::Value;

/// Every leaf of `value` by its path (`record.decision.caller.user`).
fn leaves(value: &Value, path: &str, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                leaves(v, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, &format!("{path}[{i}]"), out);
            }
        }
        leaf => {
            out.insert(path.to_owned(), leaf.clone());
        }
    }
}

/// Asserts `got` has exactly `expected`'s leaves, naming the first field that differs.
fn same_fields(destination: &str, expected: &Value, got: &Value) {
    let (mut want, mut have) = (BTreeMap::new(), BTreeMap::new());
    leaves(expected, "", &mut want);
    leaves(got, "", &mut have);
    for (path, value) in &want {
        assert_eq!(have.get(path), Some(value), "{destination}: field {path}");
    }
    let extra: Vec<_> = have.keys().filter(|p| !want.contains_key(*p)).collect();
    assert!(
        extra.is_empty(),
        "{destination}: fields not in S3: {extra:?}"
    );
}

async fn collected(
    file: &'static str,
    expected: &BTreeSet<String>,
    id: fn(&Log) -> Option<String>,
) -> BTreeMap<String, Log> {
    sink::wait_for(&format!("every record in {file}"), RUN_DEADLINE, || async {
        let logs: BTreeMap<String, Log> =
            collector_logs(file, |l| id(l).is_some_and(|i| expected.contains(&i)))
                .into_iter()
                .map(|l| (id(&l).unwrap(), l))
                .collect();
        (logs.len() == expected.len()).then_some(logs)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_datadog_and_otlp_carry_the_same_record_content() {
    let w = World::new("same").await;
    let mut ds = decisions(2);
    // The collector's Datadog receiver turns objects inside arrays into empty values, so one
    // decision without actions goes through all three unchanged; the other checks the rest.
    ds[1].decision.actions.clear();
    let audit = audits(1);
    w.produce(&ds, &audit).await;
    let expected = ids(&ds, &audit);

    let s3 = sink::s3_client().await;
    let bucket = sink::unique_bucket(&s3).await;
    let s3_group = format!("{}-s3", w.group);
    let mut s3_run = sink::SinkEnv::new(&bucket, &s3_group, &w.decisions, &w.audit, &w.dlq).spawn();
    let mut dd_vars = w.vars();
    dd_vars.insert("DOCKET_SINK_GROUP".into(), format!("{}-dd", w.group));
    dd_vars.insert("DOCKET_DATADOG_URL".into(), otlp::collector_datadog_url());
    dd_vars.insert("DOCKET_DATADOG_API_KEY".into(), "local".into());
    let mut dd_run = SinkRun::spawn("docket-sink-datadog", &dd_vars);
    let mut otlp_vars = w.vars();
    otlp_vars.insert("DOCKET_SINK_GROUP".into(), format!("{}-otlp", w.group));
    otlp_vars.insert("DOCKET_OTLP_ENDPOINT".into(), otlp::collector_otlp_url());
    let mut otlp_run = SinkRun::spawn("docket-sink-otlp", &otlp_vars);

    let lines: BTreeMap<String, Value> =
        sink::wait_for("every record in S3", RUN_DEADLINE, || async {
            let lines: BTreeMap<String, Value> = sink::objects(&s3, &bucket)
                .await
                .into_values()
                .flatten()
                .map(|l| (l["event_id"].as_str().unwrap().to_owned(), l))
                .collect();
            (lines.len() == expected.len()).then_some(lines)
        })
        .await;
    let dd = collected("datadog", &expected, |l| {
        l.attributes.get("docket")?["event_id"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    let ot = collected("otlp", &expected, |l| {
        l.attributes
            .get("docket.event_id")?
            .as_str()
            .map(str::to_owned)
    })
    .await;
    for run in [&mut dd_run, &mut otlp_run] {
        assert!(run.terminate().await.success(), "{}", run.log());
    }
    assert!(s3_run.terminate().await.success(), "{}", s3_run.log());

    for id in &expected {
        let line = &lines[id];
        let (dd, ot) = (&dd[id], &ot[id]);
        same_fields("OTLP body", line, &ot.body);
        let exact = id == &ds[1].decision.event_id || id == &audit[0].event_id;
        if exact {
            same_fields("Datadog docket attribute", line, &dd.attributes["docket"]);
        } else {
            let mut without_actions = line.clone();
            without_actions["record"]["decision"]["actions"] = Value::Null;
            let mut got = dd.attributes["docket"].clone();
            got["record"]["decision"]["actions"] = Value::Null;
            same_fields("Datadog docket attribute", &without_actions, &got);
        }
        let micros = line["time"].as_i64().unwrap();
        assert_eq!(
            dd.fields["timeUnixNano"],
            (micros / 1_000 * 1_000_000).to_string()
        );
        assert_eq!(ot.fields["timeUnixNano"], (micros * 1_000).to_string());
        assert_eq!(dd.fields["severityText"], ot.fields["severityText"]);
        assert_eq!(dd.fields["severityNumber"], ot.fields["severityNumber"]);
        if let Some(correlation) = line["record"]["decision"]["correlation_id"].as_str() {
            assert_eq!(dd.attributes["trace_id"], correlation);
            assert_eq!(ot.fields["traceId"], correlation);
        }
    }
}

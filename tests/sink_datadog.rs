//! The Datadog logs sink end to end, the real binary against the real stack: records reach
//! the OpenTelemetry Collector's Datadog receiver with every field (late records re-stamped);
//! throttling, unavailability, timeouts and dropped connections lose and duplicate nothing;
//! a refused key stops the sink with nothing committed and the key never printed; the
//! start-up check tells an unreachable intake from a transport mismatch; an oversized entry
//! and an entry the intake refuses are dead-lettered and the rest delivered once; a rebalance
//! commits what was delivered, so nothing is sent twice. Faults come
//! from a fake intake written from Datadog's API reference (`support/datadog.rs`).

#[path = "support/datadog.rs"]
mod datadog;
#[path = "support/otlp.rs"]
mod otlp;
#[path = "support/sink.rs"]
mod sink;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use datadog::{FakeDatadog, Fault};
use docket_records::Micros;
use otlp::{Log, RUN_DEADLINE, SinkRun, World, audits, collector_logs, decisions, ids};
use serde_json::Value;

const BINARY: &str = "docket-sink-datadog";
const KEY: &str = "dd-test-key-5f0e9c2a";

fn vars(w: &World, url: &str, key: &str) -> BTreeMap<String, String> {
    let mut vars = w.vars();
    for (k, v) in [
        ("DOCKET_DATADOG_URL", url),
        ("DOCKET_DATADOG_API_KEY", key),
        ("DOCKET_DATADOG_TIMEOUT", "1s"),
    ] {
        vars.insert(k.to_owned(), v.to_owned());
    }
    vars
}

fn event_id(log: &Log) -> String {
    log.attributes["docket"]["event_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// `record` as the collector's Datadog receiver (v0.158.0) keeps it: it turns an object inside
/// an array into an empty value (the fault tests check the exact entries the sink sends).
fn as_received(record: Value) -> Value {
    match record {
        Value::Array(items) => items
            .into_iter()
            .map(|i| {
                if i.is_object() {
                    Value::Null
                } else {
                    as_received(i)
                }
            })
            .collect(),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, as_received(v))).collect())
        }
        other => other,
    }
}

/// The collector's records of `expected`, once all arrived.
async fn wait_collected(expected: &BTreeSet<String>, run: &SinkRun) -> BTreeMap<String, Log> {
    sink::wait_for(
        &format!("every record at the Datadog receiver; log:\n{}", run.log()),
        RUN_DEADLINE,
        || async {
            let logs: BTreeMap<String, Log> = collector_logs("datadog", |l| {
                l.attributes.get("docket").is_some() && expected.contains(&event_id(l))
            })
            .into_iter()
            .map(|l| (event_id(&l), l))
            .collect();
            (logs.len() == expected.len()).then_some(logs)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_record_reaches_the_datadog_receiver_with_every_field() {
    let w = World::new("dd-content").await;
    let ds = decisions(12);
    let mut audit = audits(3);
    let late = Micros(Micros::now().0 - 20 * 3_600 * 1_000_000);
    audit[2].time = late;
    w.produce(&ds, &audit).await;
    let url = otlp::collector_datadog_url();
    let mut run = SinkRun::spawn(BINARY, &vars(&w, &url, KEY));
    let logs = wait_collected(&ids(&ds, &audit), &run).await;
    w.wait_committed_to_end(&run).await;
    assert!(run.terminate().await.success(), "{}", run.log());

    for d in &ds {
        let log = &logs[&d.decision.event_id];
        let docket = &log.attributes["docket"];
        assert_eq!(
            docket["record"],
            as_received(serde_json::to_value(d).unwrap())
        );
        assert_eq!(docket["stream"], "decision");
        assert_eq!(docket["time"], d.decision.time.0);
        assert_eq!(docket["source"]["topic"], Value::from(w.decisions.clone()));
        assert_eq!(log.fields["severityText"], "notice", "REDACT");
        assert_eq!(log.fields["severityNumber"], 10);
        let ms = d.decision.time.as_millis();
        assert_eq!(log.fields["timeUnixNano"], (ms * 1_000_000).to_string());
        assert_eq!(log.body, "REDACT pol-pii v7 key-01 → gpt-4o-mini");
        assert_eq!(log.resource["host.name"], "gateway-7f9c-0");
        assert_eq!(log.resource["service.name"], "docket");
        assert_eq!(log.attributes["datadog.ddsource"], "docket");
        assert_eq!(
            log.attributes["trace_id"],
            Value::from(d.decision.correlation_id.clone())
        );
        for (tag, value) in [
            ("stream", "decision"),
            ("verdict", "redact"),
            ("policy_id", "pol-pii"),
            ("policy_version", "7"),
            ("model", "gpt-4o"),
            ("join_status", "joined"),
            ("action", "policy.update"),
        ] {
            assert_eq!(log.attributes[tag], value, "tag {tag}");
        }
    }
    for a in &audit[..2] {
        let log = &logs[&a.event_id];
        assert_eq!(
            log.attributes["docket"]["record"],
            serde_json::to_value(a).unwrap()
        );
        assert_eq!(
            log.body,
            "policy.update policy/pol-pii SUCCESS by admin-bob"
        );
        assert_eq!(log.resource["host.name"], "docket");
        assert_eq!(log.attributes["outcome"], "success");
        assert!(log.attributes.get("original_timestamp").is_none());
    }
    let replayed = &logs[&audit[2].event_id];
    assert_eq!(replayed.attributes["original_timestamp"], late.as_millis());
    let sent: i64 = replayed.fields["timeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        sent / 1_000 > late.0 + 19 * 3_600 * 1_000_000,
        "a record older than the intake accepts is sent with the time of sending"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_outages_timeouts_and_dropped_connections_lose_and_duplicate_nothing() {
    let w = World::new("dd-faults").await;
    let faults = vec![
        Fault::Pass, // the start-up key check
        Fault::Status(429, Some(1)),
        Fault::Status(503, None),
        Fault::Hang(Duration::from_secs(2)),
        Fault::Drop,
        Fault::Status(500, None),
    ];
    let fake = FakeDatadog::start(KEY, None, faults).await;
    let (ds, audit) = (decisions(40), audits(5));
    w.produce(&ds, &audit).await;
    let expected = ids(&ds, &audit);
    let mut run = SinkRun::spawn(BINARY, &vars(&w, &fake.server.url(), KEY));
    w.wait_committed_to_end(&run).await;
    assert_eq!(fake.server.faults_left(), 0);
    assert!(run.metric("docket_sink_retries_total").await >= 5.0);
    assert!(run.terminate().await.success(), "{}", run.log());
    let counts = fake.event_counts();
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(counts.values().all(|n| *n == 1), "duplicates: {counts:?}");
    let logs = fake
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v2/logs");
    assert!(
        logs.into_iter()
            .all(|r| r.header("content-encoding") == Some("gzip"))
    );
    for entry in fake.entries() {
        let id = entry["docket"]["event_id"].as_str().unwrap();
        let record = ds
            .iter()
            .find(|d| d.decision.event_id == id)
            .map(|d| serde_json::to_value(d).unwrap())
            .or_else(|| {
                audit
                    .iter()
                    .find(|a| a.event_id == id)
                    .map(|a| serde_json::to_value(a).unwrap())
            });
        assert_eq!(
            entry["docket"]["record"],
            record.unwrap(),
            "every field, exactly"
        );
    }
}

/// Commits wait up to `DOCKET_SINK_COMMIT_INTERVAL` to go together (an hour here, so only a
/// revocation commits). A second member joining takes partitions away from the first: what
/// the first had delivered is committed as its partitions are revoked, so no member sends it
/// again. Without that commit the group stays uncommitted and the records are replayed.
#[tokio::test(flavor = "multi_thread")]
async fn a_rebalance_commits_what_was_delivered_so_nothing_is_sent_twice() {
    let w = World::new("dd-rebalance").await;
    let fake = FakeDatadog::start(KEY, None, vec![]).await;
    let (ds, audit) = (decisions(12), audits(3));
    w.produce(&ds, &audit).await;
    let member = |name: &str| {
        let mut v = vars(&w, &fake.server.url(), KEY);
        v.insert("DOCKET_SINK_COMMIT_INTERVAL".into(), "1h".into());
        v.insert("DOCKET_SINK_INSTANCE".into(), format!("{}-{name}", w.group));
        SinkRun::spawn(BINARY, &v)
    };
    let mut first = member("a");
    let expected = ids(&ds, &audit);
    sink::wait_for(
        &format!("every record at the intake; log:\n{}", first.log()),
        RUN_DEADLINE,
        || async { (fake.event_counts().len() == expected.len()).then_some(()) },
    )
    .await;
    assert_eq!(w.committed(), vec![None; 3], "the commit interval holds");

    let mut second = member("b");
    w.wait_committed_to_end(&second).await;
    let (more, more_audit) = (decisions(6), audits(2));
    w.produce(&more, &more_audit).await;
    let expected: BTreeSet<String> = expected
        .into_iter()
        .chain(ids(&more, &more_audit))
        .collect();
    sink::wait_for("the later records at the intake", RUN_DEADLINE, || async {
        (fake.event_counts().len() == expected.len()).then_some(())
    })
    .await;
    assert!(second.terminate().await.success(), "{}", second.log());
    assert!(first.terminate().await.success(), "{}", first.log());
    let counts = fake.event_counts();
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(counts.values().all(|n| *n == 1), "duplicates: {counts:?}");
    assert!(
        w.committed_to_end(),
        "the last member's shutdown commits the rest"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_stops_the_sink_with_nothing_committed_and_the_key_never_printed() {
    let w = World::new("dd-key").await;
    w.produce(&decisions(5), &audits(1)).await;
    let fake = FakeDatadog::start(KEY, None, vec![]).await;
    let wrong = "wrong-key-0123456789abcdef";
    let mut run = SinkRun::spawn(BINARY, &vars(&w, &fake.server.url(), wrong));
    let status = run.wait_exit(RUN_DEADLINE).await;
    let log = run.log();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("Datadog API key validation refused the credential (HTTP 403)"),
        "{log}"
    );
    assert!(!log.contains(wrong), "the key was printed: {log}");

    // Revoked after start: the check passes, the intake refuses the first batch.
    let mut refusals = vec![Fault::Pass];
    refusals.extend(std::iter::repeat_n(Fault::Status(403, None), 10));
    let fake = FakeDatadog::start(KEY, None, refusals).await;
    let mut run = SinkRun::spawn(BINARY, &vars(&w, &fake.server.url(), KEY));
    let status = run.wait_exit(RUN_DEADLINE).await;
    let log = run.log();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains(
            "refused the credential; fix it and restart: Datadog logs intake answered 403"
        ),
        "{log}"
    );
    assert!(!log.contains(KEY), "the key was printed: {log}");
    assert!(
        w.committed().iter().all(Option::is_none),
        "{:?}",
        w.committed()
    );
    assert!(fake.entries().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_start_up_check_tells_an_unreachable_intake_from_a_transport_mismatch() {
    let w = World::new("dd-check").await;
    let fake = FakeDatadog::start(KEY, None, vec![]).await;
    let closed = format!("http://127.0.0.1:{}", support::free_port());
    let tls_to_plain = format!("https://{}", fake.server.addr);
    for (url, expected) in [
        (closed.as_str(), "Datadog API key validation unreachable at"),
        (tls_to_plain.as_str(), "TLS/transport mismatch"),
    ] {
        let mut run = SinkRun::spawn(BINARY, &vars(&w, url, KEY));
        let status = run.wait_exit(RUN_DEADLINE).await;
        let log = run.log();
        assert!(!status.success() && log.contains(expected), "{url}: {log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_entry_and_a_refused_entry_are_dead_lettered_and_the_rest_delivered_once() {
    let w = World::new("dd-dlq").await;
    let mut ds = decisions(30);
    ds[17].decision.caller.api_key_id = "refuse-me".to_owned();
    let mut audit = audits(4);
    // 200,000 control characters: 200 kB of Avro, 1.2 MB of JSON once escaped.
    audit[1]
        .details
        .insert("blob".to_owned(), "\u{1}".repeat(200_000));
    w.produce(&ds, &audit).await;
    let fake = FakeDatadog::start(KEY, Some("refuse-me"), vec![]).await;
    let mut run = SinkRun::spawn(BINARY, &vars(&w, &fake.server.url(), KEY));
    w.wait_committed_to_end(&run).await;
    assert_eq!(
        run.metric("docket_sink_records_dead_lettered_total").await,
        2.0
    );
    assert!(run.terminate().await.success(), "{}", run.log());

    let mut expected = ids(&ds, &audit);
    expected.remove(&ds[17].decision.event_id);
    expected.remove(&audit[1].event_id);
    let counts = fake.event_counts();
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(counts.values().all(|n| *n == 1), "duplicates: {counts:?}");

    let dead = w.dead_letters(2).await;
    let reason = |needle: &str| dead.iter().find(|(r, _, _)| r.contains(needle)).cloned();
    let (_, offset, _) = reason("above the intake's 1000000 bytes per log; not truncated")
        .unwrap_or_else(|| panic!("oversized entry not dead-lettered: {dead:?}"));
    assert_eq!(offset, "1", "the second audit event");
    let (why, _, entry) = reason("answered 400").expect("refused entry dead-lettered");
    assert!(why.contains("invalid log entry"), "{why}");
    let entry: Value = serde_json::from_slice(&entry).unwrap();
    assert_eq!(
        entry["docket"]["event_id"],
        Value::from(ds[17].decision.event_id.clone())
    );
}

//! The OTLP sink end to end, the real binary against the real stack: records reach the
//! OpenTelemetry Collector's OTLP receiver as log records with every field (trace id,
//! severity, event name, body, semantic-convention attributes, resource); 429 with
//! `Retry-After`, 502/503/504, timeouts and dropped connections lose and duplicate nothing;
//! refused credentials stop the sink with nothing committed and the header never printed; a
//! 400 on one record dead-letters only that record and a partial success dead-letters the
//! request's records. Faults come from a fake receiver written from the OTLP specification
//! (`support/otlp.rs`).

#[path = "support/datadog.rs"]
mod datadog;
#[path = "support/otlp.rs"]
mod otlp;
#[path = "support/sink.rs"]
mod sink;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use datadog::Fault;
use otlp::{
    FakeOtlp, Log, RUN_DEADLINE, Refusals, SinkRun, World, audits, collector_logs, decisions, ids,
};
use serde_json::Value;

const BINARY: &str = "docket-sink-otlp";

fn vars(w: &World, endpoint: &str) -> BTreeMap<String, String> {
    let mut vars = w.vars();
    for (k, v) in [
        ("DOCKET_OTLP_ENDPOINT", endpoint),
        ("DOCKET_OTLP_TIMEOUT", "1s"),
        ("DOCKET_OTLP_SERVICE_INSTANCE_ID", "sink-test-1"),
    ] {
        vars.insert(k.to_owned(), v.to_owned());
    }
    vars
}

fn event_id(log: &Log) -> String {
    log.attributes
        .get("docket.event_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

async fn wait_collected(expected: &BTreeSet<String>, run: &SinkRun) -> BTreeMap<String, Log> {
    sink::wait_for(
        &format!("every record at the OTLP receiver; log:\n{}", run.log()),
        RUN_DEADLINE,
        || async {
            let logs: BTreeMap<String, Log> =
                collector_logs("otlp", |l| expected.contains(&event_id(l)))
                    .into_iter()
                    .map(|l| (event_id(&l), l))
                    .collect();
            (logs.len() == expected.len()).then_some(logs)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_record_reaches_the_otlp_receiver_as_a_log_record_with_every_field() {
    let w = World::new("otlp-content").await;
    let (ds, audit) = (decisions(12), audits(3));
    w.produce(&ds, &audit).await;
    let mut run = SinkRun::spawn(BINARY, &vars(&w, &otlp::collector_otlp_url()));
    let logs = wait_collected(&ids(&ds, &audit), &run).await;
    w.wait_committed_to_end(&run).await;
    assert!(run.terminate().await.success(), "{}", run.log());

    for d in &ds {
        let log = &logs[&d.decision.event_id];
        assert_eq!(log.body["record"], serde_json::to_value(d).unwrap());
        assert_eq!(log.body["time"], d.decision.time.0);
        assert_eq!(
            log.body["source"]["topic"],
            Value::from(w.decisions.clone())
        );
        assert_eq!(
            log.fields["traceId"],
            Value::from(d.decision.correlation_id.clone())
        );
        assert_eq!(
            log.fields["timeUnixNano"],
            (d.decision.time.0 * 1_000).to_string()
        );
        assert!(log.fields["observedTimeUnixNano"].as_str().is_some());
        assert_eq!(log.fields["severityNumber"], 10);
        assert_eq!(log.fields["severityText"], "notice");
        assert_eq!(log.fields["eventName"], "docket.decision");
        for (key, value) in [
            ("gen_ai.request.model", "gpt-4o"),
            ("gen_ai.response.model", "gpt-4o-mini"),
            ("gen_ai.provider.name", "openai"),
            ("user.id", "alice@example.com"),
            ("client.address", "10.1.2.3"),
            ("docket.verdict", "REDACT"),
            ("docket.policy.id", "pol-pii"),
            ("docket.join_status", "JOINED"),
            ("messaging.system", "kafka"),
        ] {
            assert_eq!(log.attributes[key], value, "attribute {key}");
        }
        assert_eq!(log.attributes["docket.policy.version"], 7);
        assert_eq!(log.resource["service.name"], "docket");
        assert_eq!(log.resource["service.instance.id"], "sink-test-1");
        assert!(log.resource["service.version"].as_str().is_some());
    }
    for a in &audit {
        let log = &logs[&a.event_id];
        assert_eq!(log.body["record"], serde_json::to_value(a).unwrap());
        assert_eq!(log.fields["eventName"], "docket.audit");
        assert_eq!(log.fields["severityText"], "info");
        assert!(log.fields.get("traceId").is_none_or(|t| t == ""));
        assert_eq!(log.attributes["docket.outcome"], "SUCCESS");
        assert_eq!(log.attributes["user.id"], "admin-bob");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_outages_timeouts_and_dropped_connections_lose_and_duplicate_nothing() {
    let w = World::new("otlp-faults").await;
    let faults = vec![
        Fault::Pass, // the start-up check
        Fault::Status(429, Some(1)),
        Fault::Status(502, None),
        Fault::Status(503, Some(0)),
        Fault::Status(504, None),
        Fault::Hang(Duration::from_secs(2)),
        Fault::Drop,
    ];
    let fake = FakeOtlp::start(Refusals::default(), faults).await;
    let (ds, audit) = (decisions(40), audits(5));
    w.produce(&ds, &audit).await;
    let mut run = SinkRun::spawn(BINARY, &vars(&w, &fake.server.url()));
    w.wait_committed_to_end(&run).await;
    assert_eq!(fake.server.faults_left(), 0);
    assert!(run.metric("docket_sink_retries_total").await >= 6.0);
    assert!(run.terminate().await.success(), "{}", run.log());
    let counts = fake.event_counts();
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        ids(&ds, &audit)
    );
    assert!(counts.values().all(|n| *n == 1), "duplicates: {counts:?}");
    let request = fake.server.requests().pop().unwrap();
    assert_eq!(
        request.header("content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(request.header("content-encoding"), Some("gzip"));
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_credentials_stop_the_sink_with_nothing_committed() {
    let w = World::new("otlp-auth").await;
    w.produce(&decisions(5), &audits(1)).await;
    let token = "Bearer otlp-secret-7d1f";
    let refusals = Refusals {
        token: Some(token.to_owned()),
        ..Refusals::default()
    };
    let fake = FakeOtlp::start(refusals, vec![]).await;
    let wrong = "Bearer wrong-secret-99aa";
    let mut vars = vars(&w, &fake.server.url());
    vars.insert(
        "DOCKET_OTLP_HEADERS".to_owned(),
        format!("Authorization={wrong}"),
    );
    let mut run = SinkRun::spawn(BINARY, &vars);
    let status = run.wait_exit(RUN_DEADLINE).await;
    let log = run.log();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("OTLP receiver refused the credential (HTTP 401)"),
        "{log}"
    );
    assert!(
        !log.contains("wrong-secret"),
        "the header was printed: {log}"
    );

    // Refused after start: the check passes, every export is answered 403.
    let mut faults = vec![Fault::Pass];
    faults.extend(std::iter::repeat_n(Fault::Status(403, None), 10));
    let fake = FakeOtlp::start(Refusals::default(), faults).await;
    vars.insert("DOCKET_OTLP_ENDPOINT".to_owned(), fake.server.url());
    let mut run = SinkRun::spawn(BINARY, &vars);
    let status = run.wait_exit(RUN_DEADLINE).await;
    let log = run.log();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("refused the credential; fix it and restart: OTLP receiver answered 403"),
        "{log}"
    );
    assert!(
        w.committed().iter().all(Option::is_none),
        "{:?}",
        w.committed()
    );
    assert!(fake.event_counts().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_record_alone_is_dead_lettered_and_a_partial_success_dead_letters_its_request() {
    let w = World::new("otlp-dlq").await;
    let mut ds = decisions(30);
    ds[11].decision.caller.api_key_id = "refuse-me".to_owned();
    let mut audit = audits(1);
    audit[0].actor.id = "partial-me".to_owned();
    w.produce(&ds, &audit).await;
    let refusals = Refusals {
        refuse: Some("refuse-me".to_owned()),
        partial: Some("partial-me".to_owned()),
        ..Refusals::default()
    };
    let fake = FakeOtlp::start(refusals, vec![]).await;
    let mut run = SinkRun::spawn(BINARY, &vars(&w, &fake.server.url()));
    w.wait_committed_to_end(&run).await;
    assert_eq!(
        run.metric("docket_sink_records_dead_lettered_total").await,
        2.0
    );
    assert!(run.terminate().await.success(), "{}", run.log());

    let mut expected = ids(&ds, &audit);
    expected.remove(&ds[11].decision.event_id);
    let counts = fake.event_counts();
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(counts.values().all(|n| *n == 1), "duplicates: {counts:?}");

    let dead = w.dead_letters(2).await;
    let refused = dead
        .iter()
        .find(|(r, _, _)| r.contains("answered 400"))
        .unwrap_or_else(|| panic!("{dead:?}"));
    assert!(refused.0.contains("invalid log record"), "{dead:?}");
    let partial = dead
        .iter()
        .find(|(r, _, _)| r.contains("rejected 1 of 1 records without saying which"))
        .unwrap_or_else(|| panic!("{dead:?}"));
    assert!(partial.0.contains("one record is too old"), "{dead:?}");
    assert_eq!(partial.1, "0");
}

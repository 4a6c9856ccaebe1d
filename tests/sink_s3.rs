//! The S3 sink end to end against the real stack (Kafka, registry, s3s-fs): every record
//! arrives once, a SIGKILL mid-upload loses and duplicates nothing, a replay rewrites the same
//! keys, an unreachable store is waited out, a wrong credential stops the sink, poison
//! records go to the dead-letter topic, an object already under a key that names no
//! offset stops the sink rather than being taken for the batch, and a buffer filled by open
//! batches none of which is full does not stop the sink.

#[path = "support/sink.rs"]
mod sink;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use docket_kafka::header;
use rdkafka::Message;
use rdkafka::message::Headers;
use sink::{ProxyMode, SinkEnv, SinkProcess, event_counts, objects, wait_for};
use support::DEADLINE;

/// Longer waits for whole runs of the sink.
const RUN_DEADLINE: Duration = Duration::from_secs(90);

/// One test's world: its own topics, group, dead-letter topic and bucket.
struct World {
    s3: aws_sdk_s3::Client,
    bucket: String,
    group: String,
    decisions: String,
    audit: String,
    dlq: String,
}

const DECISION_PARTITIONS: i32 = 2;
const AUDIT_PARTITIONS: i32 = 1;

impl World {
    async fn new(name: &str) -> Self {
        let s3 = sink::s3_client().await;
        Self {
            bucket: sink::unique_bucket(&s3).await,
            group: format!("docket-sink-test-{name}-{}", uuid::Uuid::now_v7().simple()),
            decisions: support::unique_topic_with(&format!("{name}.d"), DECISION_PARTITIONS).await,
            audit: support::unique_topic_with(&format!("{name}.a"), AUDIT_PARTITIONS).await,
            dlq: support::unique_topic_with(&format!("{name}.dlq"), 1).await,
            s3,
        }
    }

    fn env(&self) -> SinkEnv {
        SinkEnv::new(
            &self.bucket,
            &self.group,
            &self.decisions,
            &self.audit,
            &self.dlq,
        )
    }

    /// Produces decisions and audit events; returns all event ids.
    async fn produce(&self, decisions: usize, audit: usize) -> BTreeSet<String> {
        let mut ids = sink::produce_decisions(&self.decisions, decisions).await;
        ids.extend(sink::produce_audit(&self.audit, audit).await);
        ids.into_iter().collect()
    }

    async fn objects(&self) -> BTreeMap<String, Vec<serde_json::Value>> {
        objects(&self.s3, &self.bucket).await
    }

    /// Waits until the bucket holds `expected` event ids (possibly more often than once).
    async fn wait_delivered(&self, expected: &BTreeSet<String>, sink: &SinkProcess) {
        wait_for(
            &format!("all records in S3; sink log:\n{}", sink.log()),
            RUN_DEADLINE,
            || async {
                let seen: BTreeSet<String> =
                    event_counts(&self.objects().await).into_keys().collect();
                expected.is_subset(&seen).then_some(())
            },
        )
        .await;
    }

    fn committed(&self) -> Vec<Option<i64>> {
        let mut all = sink::committed(&self.group, &self.decisions, DECISION_PARTITIONS);
        all.extend(sink::committed(&self.group, &self.audit, AUDIT_PARTITIONS));
        all
    }

    fn ends(&self) -> Vec<Option<i64>> {
        let mut all = sink::end_offsets(&self.decisions, DECISION_PARTITIONS);
        all.extend(sink::end_offsets(&self.audit, AUDIT_PARTITIONS));
        all.into_iter().map(|e| (e > 0).then_some(e)).collect()
    }

    /// Waits until the group committed every partition to its end.
    async fn wait_committed_to_end(&self) {
        let ends = self.ends();
        wait_for("offsets committed to the end", RUN_DEADLINE, || async {
            (self.committed() == ends).then_some(())
        })
        .await;
    }
}

/// Asserts each expected id occurs exactly once and nothing else was exported.
fn assert_exactly_once(
    objects: &BTreeMap<String, Vec<serde_json::Value>>,
    expected: &BTreeSet<String>,
) {
    let counts = event_counts(objects);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "duplicated records: {twice:?}");
    let seen: BTreeSet<String> = counts.into_keys().collect();
    assert_eq!(&seen, expected, "exported set differs from produced set");
}

#[test]
fn help_lists_every_variable_the_sink_reads() {
    let out = Command::new(sink::sink_binary())
        .arg("--help")
        .output()
        .expect("run docket-sink-s3 --help");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for (_, vars) in docket_sink_s3::HELP.sections {
        for var in *vars {
            assert!(
                text.contains(var.name),
                "{} missing from:\n{text}",
                var.name
            );
        }
    }
    assert!(
        text.contains("DOCKET_SINK_IDLE_FLUSH")
            && text.contains("[default: four of the largest batches, at least 16MiB]")
    );
    let refused = Command::new(sink::sink_binary())
        .arg("--bogus")
        .output()
        .expect("run docket-sink-s3 --bogus");
    assert_eq!(refused.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_record_arrives_once_with_its_provenance() {
    let w = World::new("arrive").await;
    let expected = w.produce(230, 40).await;
    let mut sink = w.env().spawn();
    w.wait_delivered(&expected, &sink).await;
    w.wait_committed_to_end().await;
    let ready = sink::http_get(sink.http, "/readyz").await.expect("readyz");
    assert!(ready.contains("ready"), "{ready}");
    assert!(sink.metric("docket_sink_records_delivered_total").await >= 270.0);
    assert!(sink.terminate().await.success(), "{}", sink.log());

    let objects = w.objects().await;
    assert_exactly_once(&objects, &expected);
    for (key, records) in &objects {
        assert!(
            key.starts_with("x/") && key.ends_with(".ndjson.gz"),
            "{key}"
        );
        let first = &records[0]["source"];
        let name = format!(
            "{}+{}+{:020}.ndjson.gz",
            first["topic"].as_str().unwrap(),
            first["partition"],
            first["offset"].as_i64().unwrap()
        );
        assert!(
            key.ends_with(&name),
            "{key} is not named after its first record {name}"
        );
        assert!(records.len() <= 50, "{key} holds {} records", records.len());
        for r in records {
            assert!(r["record"].is_object() && r["time"].is_i64(), "{r}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_an_upload_then_restart_delivers_everything_exactly_once() {
    let w = World::new("sigkill").await;
    let expected = w.produce(600, 100).await;
    // Uploads land in S3, but their answers never reach the sink.
    let proxy = sink::Proxy::start(
        &sink::s3_endpoint().replace("http://", ""),
        ProxyMode::DropResponses,
    )
    .await;
    // A short session, so the killed member leaves the group quickly.
    let env = w
        .env()
        .with("DOCKET_S3_ENDPOINT", &proxy.url())
        .with("DOCKET_KAFKA_PROP_SESSION_TIMEOUT_MS", "6000");
    let mut first = env.spawn();
    wait_for("uploads whose answers were lost", RUN_DEADLINE, || async {
        (proxy.swallowed() > 0 && w.objects().await.len() >= 2).then_some(())
    })
    .await;
    first.kill();
    let before = w.committed();
    assert!(
        before.iter().zip(w.ends()).any(|(c, e)| c != &e),
        "everything was committed before the kill; the test proves nothing"
    );

    proxy.set(ProxyMode::Pass);
    let mut second = env.spawn();
    w.wait_delivered(&expected, &second).await;
    w.wait_committed_to_end().await;
    assert!(second.terminate().await.success(), "{}", second.log());
    assert_exactly_once(&w.objects().await, &expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_after_an_offset_reset_rewrites_identical_keys() {
    let w = World::new("replay").await;
    let expected = w.produce(300, 60).await;
    // A static member stays in its group after SIGTERM until its session times out, and
    // offsets can be reset only in an empty group: a short session keeps the test short.
    let mut sink = w
        .env()
        .with("DOCKET_KAFKA_PROP_SESSION_TIMEOUT_MS", "6000")
        .spawn();
    w.wait_delivered(&expected, &sink).await;
    w.wait_committed_to_end().await;
    assert!(sink.terminate().await.success(), "{}", sink.log());
    let before = w.objects().await;

    // The tool refuses (exit status 0) while the group still has members: try until it took.
    wait_for(
        &format!("an offset reset of the emptied group: {:?}", w.committed()),
        RUN_DEADLINE,
        || async {
            reset_to_earliest(&w.group);
            let reset = w.committed().iter().all(|c| *c == Some(0) || c.is_none());
            reset.then_some(())
        },
    )
    .await;

    // Replay with different batch limits: keys still follow what the bucket holds.
    let mut replay = w.env().with("DOCKET_SINK_BATCH_MAX_RECORDS", "70").spawn();
    w.wait_committed_to_end().await;
    assert!(
        replay.metric("docket_sink_records_in_total").await >= 360.0,
        "{}",
        replay.log()
    );
    assert!(replay.terminate().await.success(), "{}", replay.log());
    let after = w.objects().await;
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "replay changed the set of keys"
    );
    assert_eq!(before, after, "replay changed object contents");
    assert_exactly_once(&after, &expected);
}

/// Asks Kafka's tool to reset `group` to the earliest offsets (refused while the group still
/// has members).
fn reset_to_earliest(group: &str) {
    Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/dev/stack"))
        .args(["kafka-tool", "consumer-groups", "--bootstrap-server"])
        .arg(support::settings().bootstrap_servers)
        .args([
            "--group",
            group,
            "--reset-offsets",
            "--to-earliest",
            "--all-topics",
            "--execute",
        ])
        .output()
        .expect("consumer-group tool");
}

/// Static membership: a sink SIGKILLed and restarted at once under the same instance name
/// gets its partitions back without waiting for the dead member's 45 s session to expire.
#[tokio::test(flavor = "multi_thread")]
async fn a_sink_killed_and_restarted_at_once_resumes_before_its_session_times_out() {
    const SESSION_TIMEOUT: Duration = Duration::from_secs(45);
    let w = World::new("restart").await;
    let env = w
        .env()
        .with("DOCKET_KAFKA_PROP_SESSION_TIMEOUT_MS", "45000");
    let first_ids = w.produce(60, 10).await;
    let mut first = env.spawn();
    w.wait_delivered(&first_ids, &first).await;
    w.wait_committed_to_end().await;
    first.kill();

    let mut second = env.spawn();
    let later_ids = w.produce(60, 10).await;
    // The deadline is shorter than the session: without static membership the partitions
    // would stay with the dead member until it expires.
    wait_for(
        &format!(
            "delivery by the restarted sink within the session timeout; log:\n{}",
            second.log()
        ),
        SESSION_TIMEOUT - Duration::from_secs(10),
        || async {
            let seen: BTreeSet<String> = event_counts(&w.objects().await).into_keys().collect();
            later_ids.is_subset(&seen).then_some(())
        },
    )
    .await;
    w.wait_committed_to_end().await;
    assert!(second.terminate().await.success(), "{}", second.log());
    let all: BTreeSet<String> = first_ids.union(&later_ids).cloned().collect();
    assert_exactly_once(&w.objects().await, &all);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_store_is_retried_without_committing_then_everything_arrives() {
    let w = World::new("outage").await;
    let expected = w.produce(120, 20).await;
    let proxy = sink::Proxy::start(
        &sink::s3_endpoint().replace("http://", ""),
        ProxyMode::Refuse,
    )
    .await;
    let mut sink = w.env().with("DOCKET_S3_ENDPOINT", &proxy.url()).spawn();
    wait_for("several retries", RUN_DEADLINE, || async {
        (sink.metric("docket_sink_retries_total").await >= 5.0).then_some(())
    })
    .await;
    assert!(
        w.committed().iter().all(Option::is_none),
        "committed during the outage: {:?}",
        w.committed()
    );
    assert!(w.objects().await.is_empty());

    proxy.set(ProxyMode::Pass);
    w.wait_delivered(&expected, &sink).await;
    w.wait_committed_to_end().await;
    assert!(sink.terminate().await.success(), "{}", sink.log());
    assert_exactly_once(&w.objects().await, &expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_credential_stops_the_sink_loudly_and_commits_nothing() {
    let w = World::new("creds").await;
    w.produce(30, 5).await;
    let secret = "definitely-not-the-secret";
    let mut sink = w.env().with("AWS_SECRET_ACCESS_KEY", secret).spawn();
    let status = sink.wait_exit(RUN_DEADLINE).await;
    let log = sink.log();
    assert!(!status.success(), "{log}");
    assert!(log.contains("refused the credential"), "{log}");
    assert!(log.contains("SignatureDoesNotMatch"), "{log}");
    assert!(!log.contains(secret), "the secret was logged: {log}");
    assert!(
        w.committed().iter().all(Option::is_none),
        "{:?}",
        w.committed()
    );
    assert!(w.objects().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_records_go_to_the_dead_letter_topic_and_the_rest_is_delivered() {
    let w = World::new("poison").await;
    let mut expected = w.produce(40, 0).await;
    let garbage = b"not an avro record".to_vec();
    let unknown_schema = [0u8, 0x7f, 0xff, 0xff, 0x01, 0x02].to_vec();
    let valid = docket_records::samples::audit();
    let mut cut = support::registry()
        .encoder::<docket_records::Audit>(&w.audit)
        .encode(&valid)
        .await
        .unwrap();
    cut.truncate(12);
    let poison = vec![
        ("p1".to_owned(), garbage),
        ("p2".to_owned(), unknown_schema),
        ("p3".to_owned(), cut),
    ];
    sink::produce(&w.audit, poison.clone()).await;
    expected.extend(sink::produce_audit(&w.audit, 10).await);

    let mut sink = w.env().spawn();
    w.wait_delivered(&expected, &sink).await;
    w.wait_committed_to_end().await;
    assert_eq!(
        sink.metric("docket_sink_records_dead_lettered_total").await,
        3.0
    );
    assert!(sink.terminate().await.success(), "{}", sink.log());
    assert_exactly_once(&w.objects().await, &expected);

    let dead = tokio::time::timeout(DEADLINE * 2, support::consume(&w.dlq, 3))
        .await
        .expect("three dead letters");
    for (offset, (msg, (_, payload))) in dead.iter().zip(&poison).enumerate() {
        assert_eq!(support::payload(msg), &payload[..]);
        let headers = msg.headers().expect("headers");
        let value = |name: &str| {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_else(|| panic!("header {name} missing"))
        };
        assert!(!value(header::DLQ_REASON).is_empty());
        assert_eq!(value(header::SOURCE_TOPIC), w.audit);
        assert_eq!(value(header::SOURCE_PARTITION), "0");
        // The poison records were the first three of the audit partition.
        assert_eq!(value(header::SOURCE_OFFSET), offset.to_string());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_object_that_names_no_offset_stops_the_sink_with_nothing_committed() {
    let w = World::new("foreign").await;
    // Records of one fixed time, so the key of each partition's first batch is known.
    let time = docket_records::Micros::now();
    let encoder = support::registry().encoder::<docket_records::EnrichedDecision>(&w.decisions);
    let mut records = Vec::new();
    for i in 0..20 {
        let mut r = docket_records::samples::enriched();
        r.decision.time = time;
        records.push((format!("corr-{i}"), encoder.encode(&r).await.unwrap()));
    }
    sink::produce(&w.decisions, records).await;
    // Someone else's objects, without Docket's metadata, already under those keys.
    let foreign = b"not an export".to_vec();
    for partition in 0..DECISION_PARTITIONS {
        let stream = docket_delivery::Stream::Decision;
        let key = docket_sink_s3::key::object_key("x", stream, &w.decisions, partition, 0, time);
        w.s3.put_object()
            .bucket(&w.bucket)
            .key(key)
            .body(foreign.clone().into())
            .send()
            .await
            .expect("foreign object written");
    }

    let mut sink = w.env().spawn();
    let status = sink.wait_exit(RUN_DEADLINE).await;
    let log = sink.log();
    assert!(!status.success(), "{log}");
    assert!(log.contains("names no offset"), "{log}");
    assert!(
        w.committed().iter().all(Option::is_none),
        "committed past records the bucket may not hold: {:?}",
        w.committed()
    );
    let listed = w.s3.list_objects_v2().bucket(&w.bucket).send().await;
    let count = listed.expect("list objects").contents().len();
    assert_eq!(
        count, DECISION_PARTITIONS as usize,
        "only the foreign objects"
    );
}

/// The size of one S3 line of the sample decision the tests produce.
fn sample_line_bytes() -> usize {
    let record = docket_records::samples::enriched();
    let source = docket_delivery::Source {
        topic: "t".into(),
        partition: 0,
        offset: 0,
    };
    let exported =
        docket_delivery::Exported::new(docket_delivery::Body::Decision(Box::new(record)), source);
    let mut line = Vec::new();
    docket_sink_s3::encode::line(&exported, &mut line).expect("line");
    line.len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_buffer_full_of_open_batches_below_their_limit_is_still_sent() {
    // Two partitions of about 30 records each, against an allowance of 45 records that is
    // also the byte limit of one batch: no batch fills, yet together they fill the allowance
    // and consumption pauses. Nothing is in flight, so only the engine sending an open batch
    // under that pressure lets the sink go on.
    let w = World::new("pressure").await;
    let expected = w.produce(60, 0).await;
    let limit = (sample_line_bytes() * 45).to_string();
    let mut sink = w
        .env()
        .with("DOCKET_SINK_BATCH_MAX_RECORDS", "100000")
        .with("DOCKET_SINK_BATCH_MAX_BYTES", &limit)
        .with("DOCKET_SINK_MAX_BUFFERED_BYTES", &limit)
        .spawn();
    w.wait_delivered(&expected, &sink).await;
    w.wait_committed_to_end().await;
    assert!(sink.terminate().await.success(), "{}", sink.log());
    assert_exactly_once(&w.objects().await, &expected);
}

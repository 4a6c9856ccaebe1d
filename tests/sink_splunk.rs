//! The Splunk HEC sink end to end: the real binary on real Kafka, delivering into the local
//! collector's HEC receiver (content: every field, sourcetypes, indexed fields) and into the
//! fake HEC server of `support/hec.rs` (indexer acknowledgement, faults, a refused token):
//! nothing committed before the ack, a lost ack resent, a SIGKILL with pending acks loses
//! nothing, 503/429/slow/dropped answers lose nothing, a refused event is dead-lettered
//! alone, start-up errors tell token, reachability and transport apart, and a replay of the
//! Splunk group leaves the S3 group alone.

#[path = "support/hec.rs"]
mod hec;
#[path = "support/sink.rs"]
mod sink;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use docket_kafka::header;
use hec::{FakeHec, Fault};
use rdkafka::Message;
use rdkafka::message::Headers;
use serde_json::Value;
use sink::{
    SinkRun, committed, end_offsets, free_port, produce_audit, produce_decisions, wait_for,
};

/// Longer waits for whole runs of the sink.
const RUN_DEADLINE: Duration = Duration::from_secs(60);
const TOKEN: &str = "a7b0c3d4-0000-4000-8000-5ec2e7t0ken1";
const PARTITIONS: i32 = 2;

/// One test's topics, group and dead-letter topic.
struct World {
    group: String,
    decisions: String,
    audit: String,
    dlq: String,
}

impl World {
    async fn new(name: &str) -> Self {
        Self {
            group: format!("docket-sink-splunk-test-{}", support::short_id()),
            decisions: support::unique_topic_with(&format!("{name}.dec"), PARTITIONS).await,
            audit: support::unique_topic_with(&format!("{name}.aud"), 1).await,
            dlq: support::unique_topic_with(&format!("{name}.dlq"), 1).await,
        }
    }

    /// The sink's settings against `url` with `token`.
    fn env(&self, url: &str, token: &str) -> BTreeMap<String, String> {
        [
            ("DOCKET_SPLUNK_URL", url),
            ("DOCKET_SPLUNK_TOKEN", token),
            ("DOCKET_SPLUNK_TIMEOUT", "2s"),
            ("DOCKET_SINK_GROUP", &self.group),
            ("DOCKET_SINK_DECISIONS_TOPIC", &self.decisions),
            ("DOCKET_SINK_AUDIT_TOPIC", &self.audit),
            ("DOCKET_SINK_DLQ_TOPIC", &self.dlq),
            ("DOCKET_SINK_BATCH_MAX_RECORDS", "20"),
            ("DOCKET_SINK_IDLE_FLUSH", "200ms"),
            ("DOCKET_SINK_RETRY_INITIAL", "100ms"),
            ("DOCKET_SINK_RETRY_MAX", "500ms"),
            ("DOCKET_SINK_SHUTDOWN_GRACE", "2s"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Committed offsets of the decisions topic, then the audit topic.
    fn committed(&self) -> Vec<Option<i64>> {
        let mut c = committed(&self.group, &self.decisions, PARTITIONS);
        c.extend(committed(&self.group, &self.audit, 1));
        c
    }

    /// Whether the group committed every record produced so far.
    fn all_committed(&self) -> bool {
        let mut ends = end_offsets(&self.decisions, PARTITIONS);
        ends.extend(end_offsets(&self.audit, 1));
        self.committed() == ends.into_iter().map(Some).collect::<Vec<_>>()
    }

    async fn wait_all_committed(&self) {
        wait_for("every offset committed", RUN_DEADLINE, || async {
            self.all_committed().then_some(())
        })
        .await;
    }
}

/// The sink's package and binary.
const BINARY: &str = "docket-sink-splunk";

/// Prints the sink's log when the test fails while it lives.
struct LogOnPanic<'a>(&'a SinkRun);

impl Drop for LogOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- sink log ---\n{}", self.0.log());
        }
    }
}

async fn produce_both(world: &World, decisions: usize, audit: usize) -> BTreeSet<String> {
    let mut ids: BTreeSet<String> = produce_decisions(&world.decisions, decisions)
        .await
        .into_iter()
        .collect();
    ids.extend(produce_audit(&world.audit, audit).await);
    ids
}

async fn wait_ids(fake: &FakeHec, want: &BTreeSet<String>) {
    wait_for("every event at the fake HEC", RUN_DEADLINE, || async {
        let got: BTreeSet<String> = fake.event_ids().into_iter().collect();
        (got == *want).then_some(())
    })
    .await;
}

// ------------------------------------------------------------------ the collector's receiver

/// The local collector's HEC receiver and the file it writes (`dev/stack env`).
fn collector() -> (String, PathBuf) {
    let url = std::env::var("DOCKET_OTELCOL_HEC_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:18088".to_owned());
    let out = std::env::var("DOCKET_OTELCOL_OUT").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".stack/otelcol"),
        PathBuf::from,
    );
    (url, out.join("hec.json"))
}

/// The collector file's length now: what a test wrote comes after it.
fn file_end(file: &PathBuf) -> u64 {
    std::fs::metadata(file).map_or(0, |m| m.len())
}

/// The collector file's text from `start` (from its beginning if it was replaced since).
fn read_from(file: &PathBuf, start: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(file) else {
        return String::new();
    };
    let from = if file_end(file) < start { 0 } else { start };
    let mut text = String::new();
    let _ = f.seek(SeekFrom::Start(from));
    let _ = f.read_to_string(&mut text);
    text
}

/// Log records of the collector's HEC file, from `start`, whose `correlation_id` or
/// `event_id` attribute is in `keys`, each flattened to its resource attributes, attributes
/// and body.
fn collector_records(
    file: &PathBuf,
    start: u64,
    keys: &BTreeSet<String>,
) -> Vec<BTreeMap<String, Value>> {
    let text = read_from(file, start);
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        for rl in v["resourceLogs"].as_array().into_iter().flatten() {
            let resource = attributes(&rl["resource"]["attributes"]);
            for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
                for lr in sl["logRecords"].as_array().into_iter().flatten() {
                    let mut flat = resource.clone();
                    flat.extend(attributes(&lr["attributes"]));
                    flat.insert("body".to_owned(), lr["body"].clone());
                    flat.insert("timeUnixNano".to_owned(), lr["timeUnixNano"].clone());
                    let hit = ["correlation_id", "event_id"].iter().any(|k| {
                        flat.get(*k)
                            .and_then(Value::as_str)
                            .is_some_and(|s| keys.contains(s))
                    });
                    if hit {
                        out.push(flat);
                    }
                }
            }
        }
    }
    out
}

fn attributes(list: &Value) -> BTreeMap<String, Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["key"].as_str().unwrap_or_default().to_owned(),
                a["value"]["stringValue"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn records_reach_the_collectors_hec_receiver_with_every_field() {
    let world = World::new("splunk-otel").await;
    let (url, file) = collector();
    let start = file_end(&file);
    let decisions = produce_decisions(&world.decisions, 6).await;
    let audit = produce_audit(&world.audit, 2).await;
    let keys: BTreeSet<String> = decisions.iter().chain(&audit).cloned().collect();
    let _sink = SinkRun::spawn(
        BINARY,
        &world
            .env(&url, TOKEN)
            .into_iter()
            .chain([("DOCKET_SPLUNK_INDEX".to_owned(), "docket".to_owned())])
            .collect(),
    );
    let records = wait_for(
        "8 records in the collector's file",
        RUN_DEADLINE,
        || async {
            let r = collector_records(&file, start, &keys);
            (r.len() >= keys.len()).then_some(r)
        },
    )
    .await;
    world.wait_all_committed().await;
    let by_kind = |st: &str| {
        records
            .iter()
            .filter(|r| r["com.splunk.sourcetype"] == st)
            .count()
    };
    assert_eq!(
        (by_kind("docket:decision"), by_kind("docket:audit")),
        (6, 2)
    );
    for r in &records {
        assert_eq!(r["com.splunk.index"], "docket");
        assert!(
            r["com.splunk.source"]
                .as_str()
                .unwrap()
                .starts_with("docket:t.splunk-otel.")
        );
        for f in ["event_id", "kafka_topic", "kafka_partition", "kafka_offset"] {
            assert!(
                r.get(f).is_some_and(Value::is_string),
                "{f} missing in {r:?}"
            );
        }
        assert!(
            r["timeUnixNano"].as_str().is_some_and(|t| t.len() >= 19),
            "{r:?}"
        );
    }
    let decision = records
        .iter()
        .find(|r| r.get("correlation_id") == Some(&Value::from("corr-3")))
        .expect("found by correlation_id");
    for f in [
        "verdict",
        "policy_id",
        "policy_version",
        "join_status",
        "api_key_id",
        "model",
    ] {
        assert!(
            decision.get(f).is_some_and(Value::is_string),
            "{f} missing in {decision:?}"
        );
    }
    assert!(
        decision.get("host.name").is_some_and(Value::is_string),
        "host"
    );
    let body = decision["body"]["kvlistValue"]["values"]
        .as_array()
        .expect("event as a map");
    let body_keys: BTreeSet<&str> = body.iter().filter_map(|kv| kv["key"].as_str()).collect();
    assert_eq!(
        body_keys,
        BTreeSet::from(["decision", "join_status", "policy_change"])
    );
    let audit = records
        .iter()
        .find(|r| r["com.splunk.sourcetype"] == "docket:audit")
        .unwrap();
    for f in ["action", "actor", "outcome"] {
        assert!(
            audit.get(f).is_some_and(Value::is_string),
            "{f} missing in {audit:?}"
        );
    }
}

// ------------------------------------------------------------------ indexer acknowledgement

fn with_ack(mut env: BTreeMap<String, String>, timeout: &str) -> BTreeMap<String, String> {
    env.insert("DOCKET_SPLUNK_ACK".to_owned(), "true".to_owned());
    env.insert("DOCKET_SPLUNK_ACK_TIMEOUT".to_owned(), timeout.to_owned());
    env.insert("DOCKET_SPLUNK_ACK_POLL".to_owned(), "50ms".to_owned());
    env
}

#[tokio::test]
async fn nothing_is_committed_before_the_indexer_acknowledges() {
    let world = World::new("splunk-ack").await;
    let fake = FakeHec::start(TOKEN, true).await;
    fake.hold_acks(true);
    let ids = produce_both(&world, 10, 3).await;
    let sink = SinkRun::spawn(BINARY, &with_ack(world.env(&fake.url(), TOKEN), "3m"));
    wait_ids(&fake, &ids).await;
    wait_for("acks pending", RUN_DEADLINE, || async {
        (sink.metric("docket_sink_splunk_pending_acks").await >= 1.0).then_some(())
    })
    .await;
    assert_eq!(world.committed(), vec![None; 3], "committed before the ack");
    fake.hold_acks(false);
    world.wait_all_committed().await;
    assert!(
        sink.metric("docket_sink_splunk_ack_latency_seconds_count")
            .await
            >= 1.0
    );
}

#[tokio::test]
async fn a_lost_ack_is_resent_after_the_timeout() {
    let world = World::new("splunk-lost").await;
    let fake = FakeHec::start(TOKEN, true).await;
    fake.script(&[Fault::LoseAck]);
    let ids = produce_decisions(&world.decisions, 5).await;
    let mut env = with_ack(world.env(&fake.url(), TOKEN), "1s");
    env.insert("DOCKET_SINK_STREAMS".to_owned(), "decisions".to_owned());
    let _sink = SinkRun::spawn(BINARY, &env);
    wait_for("every offset committed", RUN_DEADLINE, || async {
        (committed(&world.group, &world.decisions, PARTITIONS)
            == end_offsets(&world.decisions, PARTITIONS)
                .into_iter()
                .map(Some)
                .collect::<Vec<_>>())
        .then_some(())
    })
    .await;
    let got: Vec<String> = fake.event_ids();
    let unique: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(unique, ids.into_iter().collect::<BTreeSet<_>>());
    assert!(
        got.len() > unique.len(),
        "the unacknowledged batch was sent again"
    );
}

#[tokio::test]
async fn sigkill_with_pending_acks_then_restart_delivers_every_record() {
    let world = World::new("splunk-kill").await;
    let fake = FakeHec::start(TOKEN, true).await;
    fake.hold_acks(true);
    let ids = produce_both(&world, 30, 5).await;
    let env = with_ack(world.env(&fake.url(), TOKEN), "3m");
    let mut first = SinkRun::spawn(BINARY, &env);
    wait_ids(&fake, &ids).await;
    first.kill();
    assert_eq!(world.committed(), vec![None; 3]);
    fake.hold_acks(false);
    let _second = SinkRun::spawn(BINARY, &env);
    world.wait_all_committed().await;
    let got: BTreeSet<String> = fake.event_ids().into_iter().collect();
    assert_eq!(got, ids);
}

// ------------------------------------------------------------------ faults

#[tokio::test]
async fn busy_throttled_slow_and_dropped_answers_lose_nothing() {
    let world = World::new("splunk-faults").await;
    let fake = FakeHec::start(TOKEN, false).await;
    fake.script(&[
        Fault::Busy,
        Fault::Busy,
        Fault::Busy,
        Fault::Throttled(1),
        Fault::Slow(Duration::from_secs(3)),
        Fault::Drop,
        Fault::Busy,
    ]);
    let ids = produce_both(&world, 40, 5).await;
    let sink = SinkRun::spawn(BINARY, &world.env(&fake.url(), TOKEN));
    let guard = LogOnPanic(&sink);
    world.wait_all_committed().await;
    drop(guard);
    let got: BTreeSet<String> = fake.event_ids().into_iter().collect();
    assert_eq!(got, ids);
    assert!(sink.metric("docket_sink_retries_total").await >= 7.0);
    assert_eq!(fake.plain_batches(), 0, "gzip is on by default");
}

#[tokio::test]
async fn an_event_hec_refuses_goes_to_the_dead_letter_topic_alone() {
    let world = World::new("splunk-dlq").await;
    let fake = FakeHec::start(TOKEN, false).await;
    let mut ids = produce_decisions(&world.decisions, 12).await;
    let bad = ids.remove(5);
    fake.refuse_event(&bad);
    let mut env = world.env(&fake.url(), TOKEN);
    env.insert("DOCKET_SINK_STREAMS".to_owned(), "decisions".to_owned());
    // Plain bodies here: the dead-letter path works the same without gzip.
    env.insert("DOCKET_SPLUNK_GZIP".to_owned(), "false".to_owned());
    let _sink = SinkRun::spawn(BINARY, &env);
    let dead = support::consume(&world.dlq, 1).await;
    let reason = dead[0]
        .headers()
        .and_then(|h| h.iter().find(|x| x.key == header::DLQ_REASON))
        .and_then(|x| x.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .expect("reason header");
    assert!(reason.contains("code 6"), "{reason}");
    let body: Value = serde_json::from_slice(support::payload(&dead[0])).unwrap();
    assert_eq!(body["fields"]["event_id"], bad.as_str());
    wait_ids(&fake, &ids.into_iter().collect()).await;
    assert!(
        fake.plain_batches() > 0,
        "DOCKET_SPLUNK_GZIP=false sends plain bodies"
    );
}

// ------------------------------------------------------------------ start-up errors

async fn stops_with(env: &BTreeMap<String, String>) -> String {
    let mut sink = SinkRun::spawn(BINARY, env);
    let status = sink.wait_exit(RUN_DEADLINE).await;
    assert!(!status.success());
    sink.log()
}

#[tokio::test]
async fn a_wrong_token_stops_the_sink_naming_the_hop_and_hiding_the_token() {
    let world = World::new("splunk-token").await;
    let fake = FakeHec::start(TOKEN, false).await;
    produce_decisions(&world.decisions, 3).await;
    let wrong = "wrong-0000-token-1111";
    let log = stops_with(&world.env(&fake.url(), wrong)).await;
    assert!(
        log.contains("Splunk HEC refused the credential (HTTP 403)"),
        "{log}"
    );
    assert!(!log.contains(wrong), "the token leaked: {log}");
    assert_eq!(fake.event_ids(), Vec::<String>::new());
    assert_eq!(world.committed(), vec![None; 3]);
}

#[tokio::test]
async fn unreachable_and_transport_mismatch_are_told_apart() {
    let world = World::new("splunk-reach").await;
    let closed = format!("http://127.0.0.1:{}", free_port());
    let log = stops_with(&world.env(&closed, TOKEN)).await;
    assert!(
        log.contains("Splunk HEC unreachable at http://127.0.0.1:"),
        "{log}"
    );
    let fake = FakeHec::start(TOKEN, false).await;
    let https = fake.url().replace("http://", "https://");
    let log = stops_with(&world.env(&https, TOKEN)).await;
    assert!(log.contains("TLS/transport mismatch"), "{log}");
    assert!(!log.contains(TOKEN));
}

// ------------------------------------------------------------------ replay

#[tokio::test]
async fn replaying_the_splunk_group_leaves_the_s3_group_alone() {
    let world = World::new("splunk-replay").await;
    let fake = FakeHec::start(TOKEN, false).await;
    let ids = produce_decisions(&world.decisions, 8).await;
    let mut env = world.env(&fake.url(), TOKEN);
    env.insert("DOCKET_SINK_STREAMS".to_owned(), "decisions".to_owned());
    let s3_group = format!("docket-sink-s3-test-{}", support::short_id());
    let ends = end_offsets(&world.decisions, PARTITIONS);
    commit(&s3_group, &world.decisions, &ends);
    let done = |g: &str| {
        committed(g, &world.decisions, PARTITIONS)
            == ends.iter().copied().map(Some).collect::<Vec<_>>()
    };
    // A static member stays in its group after SIGTERM until its session times out, and the
    // tool resets offsets only in an empty group (refusing with exit status 0 before): a short
    // session, and tries until the reset took.
    env.insert(
        "DOCKET_KAFKA_PROP_SESSION_TIMEOUT_MS".to_owned(),
        "6000".to_owned(),
    );
    let mut sink = SinkRun::spawn(BINARY, &env);
    wait_for("the splunk group committed", RUN_DEADLINE, || async {
        done(&world.group).then_some(())
    })
    .await;
    assert!(sink.terminate().await.success(), "{}", sink.log());
    wait_for(
        "an offset reset of the emptied group",
        RUN_DEADLINE,
        || async {
            reset_to_earliest(&world.group, &world.decisions);
            let reset = committed(&world.group, &world.decisions, PARTITIONS);
            reset.iter().all(|c| *c == Some(0)).then_some(())
        },
    )
    .await;
    assert!(done(&s3_group), "the S3 group moved");
    let again = SinkRun::spawn(BINARY, &env);
    let _log = LogOnPanic(&again);
    wait_for("every record delivered twice", RUN_DEADLINE, || async {
        (fake.event_ids().len() == 2 * ids.len()).then_some(())
    })
    .await;
    assert!(done(&s3_group), "the S3 group moved");
}

/// Kafka's stock consumer-group tool: `group` back to the earliest offsets of `topic`.
fn reset_to_earliest(group: &str, topic: &str) {
    let tool = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/dev/stack"))
        .args(["kafka-tool", "consumer-groups", "--bootstrap-server"])
        .arg(support::settings().bootstrap_servers)
        .args(["--group", group, "--topic", topic])
        .args(["--reset-offsets", "--to-earliest", "--execute"])
        .output()
        .expect("consumer-groups tool");
    assert!(
        tool.status.success(),
        "{}",
        String::from_utf8_lossy(&tool.stderr)
    );
}

/// Commits `offsets` (one per partition) for `group` on `topic`.
fn commit(group: &str, topic: &str, offsets: &[i64]) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", support::settings().bootstrap_servers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    for (p, o) in offsets.iter().enumerate() {
        tpl.add_partition_offset(topic, p as i32, rdkafka::Offset::Offset(*o))
            .unwrap();
    }
    consumer.commit(&tpl, CommitMode::Sync).expect("commit");
}

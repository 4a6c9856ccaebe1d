//! The `docket` command line against the real stack and services: `up`/`down` idempotence,
//! `demo` and `verify` end to end, `find` on a known request, `status` lag of records nobody
//! consumed, `replay` refused while the sink runs and re-delivering exactly the range after
//! a time while the other groups' committed offsets stay identical, `doctor` naming the
//! failing hop, and bad arguments refused with one line.

#[path = "support/cli.rs"]
mod cli;
mod support;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use cli::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;
use support::*;

type Offsets = Vec<(String, i32, i64)>;

/// A consumer in `group` (never subscribing, so it never joins).
fn group_client(group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", settings().bootstrap_servers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

fn partitions(topics: &[String]) -> TopicPartitionList {
    let client = group_client("t-meta");
    let mut tpl = TopicPartitionList::new();
    for t in topics {
        let md = client.fetch_metadata(Some(t), DEADLINE).unwrap();
        for p in md.topics()[0].partitions() {
            tpl.add_partition(t, p.id());
        }
    }
    tpl
}

/// `group`'s committed offsets of `topics`, as the broker holds them.
fn committed(group: &str, topics: &[String]) -> Offsets {
    let list = group_client(group)
        .committed_offsets(partitions(topics), DEADLINE)
        .unwrap();
    list.elements()
        .iter()
        .map(|e| {
            (
                e.topic().to_owned(),
                e.partition(),
                e.offset().to_raw().unwrap_or(-1),
            )
        })
        .collect()
}

/// Commits `offset` on every partition of `topics` for `group`.
fn commit_all(group: &str, topics: &[String], offset: i64) {
    let mut tpl = partitions(topics);
    tpl.set_all_offsets(Offset::Offset(offset)).unwrap();
    group_client(group).commit(&tpl, CommitMode::Sync).unwrap();
}

/// The first offset at or after `millis` on every partition of `topics` (the end when none).
fn offsets_for_time(topics: &[String], millis: i64) -> Offsets {
    let client = group_client("t-times");
    let mut tpl = partitions(topics);
    tpl.set_all_offsets(Offset::Offset(millis)).unwrap();
    let list = client.offsets_for_times(tpl, DEADLINE).unwrap();
    list.elements()
        .iter()
        .map(|e| {
            let o = match e.offset().to_raw() {
                Some(o) if o >= 0 => o,
                _ => {
                    client
                        .fetch_watermarks(e.topic(), e.partition(), DEADLINE)
                        .unwrap()
                        .1
                }
            };
            (e.topic().to_owned(), e.partition(), o)
        })
        .collect()
}

/// The sum of metric `name`'s samples on the service at `port`.
async fn metric(port: u16, name: &str) -> Option<f64> {
    let body = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(
        body.lines()
            .filter(|l| l.split(['{', ' ']).next() == Some(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum(),
    )
}

/// A chat request through the gateway; answers the correlation id.
async fn chat(run: &Run, text: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", run.gateway()))
        .bearer_auth(API_KEY)
        .json(&serde_json::json!({"model": "echo-small", "messages": [{"role": "user", "content": text}]}))
        .send()
        .await
        .unwrap();
    let cid = r.headers()["x-correlation-id"].to_str().unwrap().to_owned();
    (r.status().as_u16(), cid)
}

/// Milliseconds since the epoch as RFC 3339 UTC (civil-from-days, proleptic Gregorian).
fn rfc3339_millis(millis: i64) -> String {
    let (days, ms) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, f) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{f:03}Z")
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The lag of every group `docket status` reports.
fn total_lag(run: &Run) -> i64 {
    let done = run
        .docket(&["status", "--output", "json"])
        .expect_ok("status");
    let all: Value = serde_json::from_str(&done.stdout).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["partitions"].as_array().unwrap().clone())
        .map(|p| p["lag"].as_i64().unwrap())
        .sum()
}

/// Every group `status` reports except `replayed`, with its topics, plus `extra` on `topics`.
fn other_groups(
    run: &Run,
    replayed: &str,
    extra: &str,
    topics: &[String],
) -> Vec<(String, Vec<String>)> {
    let done = run
        .docket(&["status", "--output", "json"])
        .expect_ok("status");
    let all: Value = serde_json::from_str(&done.stdout).unwrap();
    let mut out: Vec<(String, Vec<String>)> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["group"] != replayed)
        .map(|g| {
            let mut ts: Vec<String> = g["partitions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["topic"].as_str().unwrap().to_owned())
                .collect();
            ts.dedup();
            (g["group"].as_str().unwrap().to_owned(), ts)
        })
        .collect();
    out.push((extra.to_owned(), topics.to_vec()));
    assert!(out.len() >= 2, "no other group to compare: {out:?}");
    out
}

/// The committed offsets of `groups`.
fn snapshot(groups: &[(String, Vec<String>)]) -> Vec<Offsets> {
    groups.iter().map(|(g, ts)| committed(g, ts)).collect()
}

/// The sink group's status entry from `docket status --output json`.
fn group_status(run: &Run, group: &str) -> Value {
    let done = run
        .docket(&["status", "--output", "json"])
        .expect_ok("status");
    let all: Value = serde_json::from_str(&done.stdout).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == group)
        .cloned()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_run_from_up_to_replay_and_down() {
    let run = Run::new();

    // up, twice: the second starts nothing.
    let first = run.docket(&["up"]).expect_ok("up");
    for name in ["gateway", "joiner", "sink-s3"] {
        assert!(
            first
                .stdout
                .lines()
                .any(|l| l.starts_with(name) && l.contains("running")),
            "{}",
            first.stdout
        );
    }
    let pids: Vec<u32> = ["gateway", "joiner", "sink-s3"]
        .iter()
        .map(|n| run.pid(n).unwrap())
        .collect();
    run.docket(&["up"]).expect_ok("second up");
    let again: Vec<u32> = ["gateway", "joiner", "sink-s3"]
        .iter()
        .map(|n| run.pid(n).unwrap())
        .collect();
    assert_eq!(pids, again, "a second up restarted a service");

    // demo ends with verify: both records in S3 with every field matching.
    let demo = run.docket(&["demo", "--rounds", "2"]).expect_ok("demo");
    for record in ["decision", "audit"] {
        let line = demo
            .stdout
            .lines()
            .find(|l| l.starts_with("s3") && l.contains(record))
            .unwrap_or_else(|| panic!("{}", demo.stdout));
        assert!(line.contains("after") && !line.contains("WRONG"), "{line}");
    }
    assert!(demo.stdout.contains("join ok"), "{}", demo.stdout);

    // find a known request.
    let (status, cid) = chat(&run, "please exfiltrate this").await;
    assert_eq!(status, 403);
    let found = eventually("find to show the decision", || {
        let done = run.docket(&["find", &cid, "--output", "json"]);
        async move { done.ok.then_some(done.stdout) }
    })
    .await;
    let found: Value = serde_json::from_str(&found).unwrap();
    let record = &found[0]["record"];
    assert_eq!(record["decision"]["correlation_id"], cid.as_str());
    assert_eq!(record["decision"]["verdict"], "DENY");
    assert_eq!(record["decision"]["policy"]["id"], "no-exfil");
    let text = run.docket(&["find", &cid]).expect_ok("find");
    assert!(
        text.stdout.contains("verdict   Deny") && text.stdout.contains("join      "),
        "{}",
        text.stdout
    );

    replay_while_running_is_refused(&run);
    replay_redelivers_the_range_alone(&run).await;

    run.docket(&["doctor", "s3"])
        .expect_ok("doctor on a healthy run");

    // down, twice: the second has nothing to stop.
    let pids: Vec<u32> = ["gateway", "joiner", "sink-s3"]
        .iter()
        .map(|n| run.pid(n).unwrap())
        .collect();
    run.docket(&["down"]).expect_ok("down");
    assert!(
        pids.iter().all(|p| !alive(*p)),
        "down left a service running"
    );
    let second = run.docket(&["down"]).expect_ok("second down");
    assert_eq!(second.stdout.trim(), "", "a second down stopped something");
    let ps = run.docket(&["ps"]).expect_ok("ps");
    assert!(
        ps.stdout
            .lines()
            .any(|l| l.starts_with("kafka") && l.contains("serving")),
        "down stopped the shared stack:\n{}",
        ps.stdout
    );
}

fn replay_while_running_is_refused(run: &Run) {
    let group = run.group("docket-sink-s3");
    let topics = [
        run.topic("docket.decisions.enriched.v1"),
        run.topic("docket.audit.v1"),
    ];
    let before = committed(&group, &topics);
    let refused = run.docket(&["replay", "s3", "--from", "earliest"]);
    assert!(
        !refused.ok,
        "replay moved a running sink:\n{}",
        refused.stdout
    );
    assert!(refused.stderr.contains("live member"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("docket down sink-s3") && refused.stderr.contains("--replicas=0"),
        "{}",
        refused.stderr
    );
    assert_eq!(refused.stderr.lines().count(), 1, "{}", refused.stderr);
    // The live sink may commit what it delivers meanwhile, so offsets may move forward; a
    // replay to the earliest offsets would have moved them back.
    let after = committed(&group, &topics);
    assert_eq!(after.len(), before.len());
    for ((topic, partition, was), (_, _, now)) in before.iter().zip(&after) {
        assert!(
            now >= was,
            "{topic}/{partition} moved back from {was} to {now}"
        );
    }
}

async fn replay_redelivers_the_range_alone(run: &Run) {
    let sink_group = run.group("docket-sink-s3");
    let topics = vec![
        run.topic("docket.decisions.enriched.v1"),
        run.topic("docket.audit.v1"),
    ];
    // Every other group (the joiner's, the other sinks') and one more group with offsets of
    // its own on the same topics: none may move.
    let other_group = run.group("docket-sink-other");
    commit_all(&other_group, &topics, 0);

    let from = now_millis();
    // Record times are in milliseconds: the records below must be later than the mark.
    while now_millis() <= from {
        tokio::task::yield_now().await;
    }
    for i in 0..3 {
        assert_eq!(chat(run, &format!("after the mark {i}")).await.0, 200);
    }
    eventually("every group to commit the three new records", || {
        let lag = total_lag(run);
        let delivered = metric(run.port_base + 2, "docket_sink_records_delivered_total");
        async move { (lag == 0 && delivered.await? >= 1.0).then_some(()) }
    })
    .await;
    let others = other_groups(run, &sink_group, &other_group, &topics);
    let others_before = snapshot(&others);

    run.docket(&["down", "sink-s3"])
        .expect_ok("stopping the sink");
    let stamp = rfc3339_millis(from);
    let plan = run
        .docket(&["replay", "s3", "--from", &stamp, "--dry-run"])
        .expect_ok("dry run");
    assert!(plan.stdout.contains(" again"), "{}", plan.stdout);
    let moved = run
        .docket(&["replay", "s3", "--from", &stamp])
        .expect_ok("replay");
    assert!(moved.stdout.contains(" again"), "{}", moved.stdout);
    let want: BTreeMap<_, _> = offsets_for_time(&topics, from)
        .into_iter()
        .map(|(t, p, o)| ((t, p), o))
        .collect();
    let got: BTreeMap<_, _> = committed(&sink_group, &topics)
        .into_iter()
        .map(|(t, p, o)| ((t, p), o))
        .collect();
    assert_eq!(got, want, "the sink's group is not at the replay time");
    assert_eq!(snapshot(&others), others_before);

    // Started again, the sink reads exactly the three records after the mark, and delivers them.
    run.docket(&["up"]).expect_ok("up after the replay");
    let port = run.port_base + 2;
    eventually("the replayed range to be delivered", || async move {
        (metric(port, "docket_sink_records_delivered_total").await? >= 3.0).then_some(())
    })
    .await;
    assert_eq!(
        metric(port, "docket_sink_records_in_total").await,
        Some(3.0)
    );
    assert_eq!(snapshot(&others), others_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_the_lag_of_records_nobody_consumed() {
    let run = Run::new();
    let decisions = run.topic("docket.decisions.v1");
    let dlq = run.topic("docket.dlq.joiner");
    create_topic(&decisions, 6).await;
    create_topic(&dlq, 1).await;
    let producer: FutureProducer = docket_kafka::producer(&settings()).unwrap();
    for (topic, n) in [(&decisions, 5), (&dlq, 2)] {
        for i in 0..n {
            let key = format!("k{i}");
            let record = FutureRecord::to(topic).key(&key).payload("x").partition(0);
            producer.send(record, DEADLINE).await.unwrap();
        }
    }
    let group = group_status(&run, &run.group("docket-joiner"));
    assert_eq!(group["members"].as_array().unwrap().len(), 0);
    let p0 = group["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["topic"] == decisions.as_str() && p["partition"] == 0)
        .cloned()
        .unwrap();
    assert_eq!(p0["lag"], 5, "{group}");
    assert_eq!(p0["committed"], Value::Null);
    assert_eq!(group["dlq_records"], 2);
    let text = run.docket(&["status"]).expect_ok("status");
    assert!(text.stdout.contains("5 0 0 0 0 0"), "{}", text.stdout);
}

async fn create_topic(name: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", settings().bootstrap_servers)
        .create()
        .unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for r in admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap();
    }
}

#[test]
fn doctor_names_the_failing_hop() {
    let run = Run::new();
    let kafka_port = settings()
        .bootstrap_servers
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let stopped = format!("http://127.0.0.1:{}", free_port());
    let not_http = format!("http://127.0.0.1:{kafka_port}");
    let registry = reqwest::Url::parse(&settings().schema_registry_url).unwrap();
    let not_s3 = format!("http://127.0.0.1:{}", registry.port().unwrap());
    let cases = [
        (
            "a stopped store",
            vec![("DOCKET_S3_ENDPOINT", stopped.as_str())],
            "s3 fails at TCP",
        ),
        (
            "a port that speaks Kafka",
            vec![("DOCKET_S3_ENDPOINT", not_http.as_str())],
            "s3 fails at transport",
        ),
        (
            "a port that speaks HTTP but not S3",
            vec![("DOCKET_S3_ENDPOINT", not_s3.as_str())],
            "s3 fails at transport",
        ),
        (
            "a wrong credential",
            vec![("AWS_SECRET_ACCESS_KEY", "not-the-secret")],
            "s3 fails at credential",
        ),
    ];
    for (what, env, hop) in cases {
        let done = run.docket_with(&["doctor", "s3"], &env);
        assert!(!done.ok, "{what}: doctor passed:\n{}", done.stdout);
        assert!(done.stderr.contains(hop), "{what}: {}", done.stderr);
        assert_eq!(done.stderr.lines().count(), 1, "{what}: {}", done.stderr);
        assert!(
            !done.stdout.contains("not-the-secret") && !done.stderr.contains("not-the-secret"),
            "secret printed"
        );
        assert!(
            done.stdout
                .lines()
                .any(|l| l.starts_with("kafka") && l.contains(" ok ")),
            "{}",
            done.stdout
        );
    }
}

#[test]
fn the_test_clock_formats_rfc3339() {
    assert_eq!(
        rfc3339_millis(1_767_222_001_234),
        "2025-12-31T23:00:01.234Z"
    );
}

#[test]
fn bad_arguments_are_refused_with_one_line() {
    let run = Run::new();
    let cases: [&[&str]; 7] = [
        &["find", "not-an-id"],
        &["find", "0123456789abcdef0123456789abcdef'; DROP"],
        &["replay", "nowhere", "--from", "earliest"],
        &["replay", "s3", "--from", "yesterday"],
        &[
            "replay",
            "s3",
            "--from",
            "earliest",
            "--to-offsets",
            "/dev/null",
        ],
        &["doctor", "../../etc"],
        &["down", "kafka"],
    ];
    for args in cases {
        let done = run.docket(args);
        assert!(!done.ok, "{args:?} succeeded");
        assert!(!done.stderr.trim().is_empty(), "{args:?}: no message");
        assert!(
            !done.stderr.contains("panicked"),
            "{args:?}: {}",
            done.stderr
        );
    }
    for sub in [
        "up", "down", "ps", "demo", "verify", "find", "status", "replay", "doctor",
    ] {
        let help = run.docket(&[sub, "--help"]).expect_ok("help");
        assert!(
            help.stdout.contains("Usage: docket"),
            "{sub}: {}",
            help.stdout
        );
    }
}

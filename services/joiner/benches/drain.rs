//! Drain benchmark of the joiner: fills a fresh six-partition decisions topic with realistic
//! decisions (one million, `DOCKET_BENCH_RECORDS` to change) and the policy edits they name,
//! runs the stock Kafka consumer performance tool on it, then the `docket-joiner` binary as a
//! child until its group committed the topic's end, and prints rates, the ratio and peak RSS.
//! With `DOCKET_BENCH_PEER=kstreams` it also runs the Kafka Streams peer of `bench/kstreams`
//! (built with `mvn -q -B package` there) on the same topic, and with
//! `DOCKET_BENCH_BASELINE=<path of another docket-joiner build>` that build first.
//!
//! `dev/stack up && cargo bench -p docket-joiner --bench drain`

#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

use docket_bench::{Filled, Measured, Rate, Report, consumer_performance, create_topics};
use docket_kafka::KafkaSettings;

const PARTITIONS: i32 = 6;

#[tokio::main]
async fn main() {
    let settings = KafkaSettings::from_env().expect("valid DOCKET_* settings");
    let run = docket_bench::run_id();
    let topic = |name: &str| format!("bench.joiner.{name}.{run}");
    let [decisions, audit] = [topic("decisions"), topic("audit")];
    create_topics(&settings, &[(&decisions, PARTITIONS), (&audit, 1)]).await;
    docket_bench::put_audit(&settings, &audit).await;
    let filled =
        docket_bench::fill_decisions(&settings, &decisions, docket_bench::record_count()).await;
    let reference = consumer_performance(&settings, &filled);

    if let Ok(baseline) = std::env::var("DOCKET_BENCH_BASELINE") {
        joiner(&settings, &filled, reference, &audit, &baseline)
            .await
            .print();
    }
    let joiner = joiner(
        &settings,
        &filled,
        reference,
        &audit,
        env!("CARGO_BIN_EXE_docket-joiner"),
    )
    .await;
    joiner.print();
    if std::env::var("DOCKET_BENCH_PEER").as_deref() == Ok("kstreams") {
        let peer = kstreams(&settings, &filled, reference, &audit, &run).await;
        peer.print();
        println!(
            "docket-joiner / kstreams-peer: {:.2}x the records/s at {:.2}x the peak RSS",
            joiner.rate.records / peer.rate.records,
            joiner.finished.peak_rss_kib as f64 / peer.finished.peak_rss_kib.max(1) as f64
        );
    }
    docket_bench::delete_created_topics(&settings).await;
}

/// The joiner binary draining `filled` into fresh topics.
async fn joiner(
    settings: &KafkaSettings,
    filled: &Filled,
    reference: Rate,
    audit: &str,
    exe: &str,
) -> Report {
    let run = docket_bench::run_id();
    let out = |name: &str| format!("bench.joiner.{name}.{run}");
    let (enriched, pending, dlq) = (out("enriched"), out("pending"), out("dlq"));
    create_topics(
        settings,
        &[(&enriched, PARTITIONS), (&pending, PARTITIONS), (&dlq, 1)],
    )
    .await;
    let group = format!("bench-joiner-{run}");
    let mut command = Command::new(exe);
    command.envs([
        ("DOCKET_JOINER_GROUP", group.as_str()),
        ("DOCKET_JOINER_INSTANCE", group.as_str()),
        ("DOCKET_JOINER_DECISIONS_TOPIC", filled.topic.as_str()),
        ("DOCKET_JOINER_AUDIT_TOPIC", audit),
        ("DOCKET_JOINER_ENRICHED_TOPIC", enriched.as_str()),
        ("DOCKET_JOINER_PENDING_TOPIC", pending.as_str()),
        ("DOCKET_JOINER_DLQ_TOPIC", dlq.as_str()),
        ("DOCKET_JOINER_METRICS_ADDR", "127.0.0.1:0"),
    ]);
    let finished = Measured::spawn("docket-joiner", command)
        .until_committed(settings, &group, &filled.topic)
        .await;
    let name = if exe == env!("CARGO_BIN_EXE_docket-joiner") {
        "docket-joiner"
    } else {
        "baseline docket-joiner"
    };
    Report::new(name, filled, reference, finished)
}

/// The Kafka Streams peer doing the same join (exactly_once_v2, two threads).
async fn kstreams(
    settings: &KafkaSettings,
    filled: &Filled,
    reference: Rate,
    audit: &str,
    run: &str,
) -> Report {
    let output = format!("bench.joiner.kstreams.{run}");
    create_topics(settings, &[(&output, PARTITIONS)]).await;
    let group = format!("bench-kstreams-{run}");
    let root = repo_root();
    let peer = root.join("bench/kstreams");
    assert!(
        peer.join("target/classes").is_dir(),
        "build the peer first: (cd bench/kstreams && mvn -q -B package)"
    );
    let mut command = Command::new("java");
    command
        .current_dir(&peer)
        .args([
            "-cp",
            "target/classes:target/lib/*",
            "docket.bench.JoinPeer",
        ])
        .env("DOCKET_KAFKA_BOOTSTRAP", &settings.bootstrap_servers)
        .env("DOCKET_SCHEMA_REGISTRY_URL", &settings.schema_registry_url)
        .env("PEER_DECISIONS_TOPIC", &filled.topic)
        .env("PEER_AUDIT_TOPIC", audit)
        .env("PEER_OUTPUT_TOPIC", &output)
        .env("PEER_APPLICATION_ID", &group)
        .env("PEER_SCHEMAS_DIR", root.join("schemas"));
    let finished = Measured::spawn("kstreams-peer", command)
        .until_committed(settings, &group, &filled.topic)
        .await;
    Report::new("kstreams-peer", filled, reference, finished)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

//! Throughput of the S3 sink against the local stack: produces ~1 KB enriched decisions into
//! a fresh multi-partition topic, measures the plain consume-and-discard rate of that topic,
//! then runs the sink in-process into a fresh bucket until every offset is committed, and
//! prints records/s, MB/s, peak RSS and the ratio to the discard rate.
//!
//! `dev/stack up && eval "$(dev/stack env)" && cargo bench -p docket-sink-s3 --bench throughput`
//! (`DOCKET_BENCH_RECORDS` sets the count, default 1,000,000).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use docket_delivery::Shutdown;
use docket_kafka::KafkaSettings;
use docket_records::{EnrichedDecision, Micros, Registry, RegistryConfig, samples};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const PARTITIONS: i32 = 4;
const DEFAULT_RECORDS: usize = 1_000_000;
const TARGET_RECORD_BYTES: usize = 1_000;
const MB: f64 = 1_000_000.0;

#[tokio::main]
async fn main() {
    let records: usize = std::env::var("DOCKET_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RECORDS);
    let settings = KafkaSettings::from_env().expect("settings");
    let id = uuid::Uuid::now_v7().simple().to_string()[16..].to_owned();
    let topic = format!("bench.d.{id}");
    let audit = format!("bench.a.{id}");
    create_topics(&settings, &[&topic, &audit]).await;

    let t = Instant::now();
    let bytes = produce(&settings, &topic, records).await;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "produced {records} records, {:.1} MB ({} B each) in {secs:.1}s",
        bytes as f64 / MB,
        bytes / records
    );

    reset_peak_rss();
    let t = Instant::now();
    discard(&settings, &topic, records).await;
    let discard_secs = t.elapsed().as_secs_f64();
    let discard_rate = records as f64 / discard_secs;
    println!(
        "consume-and-discard: {discard_rate:.0} records/s, {:.1} MB/s, peak RSS {} MiB",
        bytes as f64 / MB / discard_secs,
        peak_rss_kib() / 1024
    );

    let bucket = format!("bench-{id}");
    let group = format!("bench-sink-{id}");
    let vars = sink_vars(&settings, &bucket, &group, &topic, &audit);
    let s3 = docket_sink_s3::client(
        &docket_sink_s3::config::Config::from_vars(&vars)
            .expect("config")
            .s3,
    )
    .await
    .expect("client");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");

    reset_peak_rss();
    let (trigger, shutdown) = Shutdown::manual();
    let t = Instant::now();
    let vars = docket_config::Vars::from(vars);
    let run = tokio::spawn(async move { docket_sink_s3::run(&vars, shutdown).await });
    wait_committed(&settings, &group, &topic).await;
    let sink_secs = t.elapsed().as_secs_f64();
    trigger.fire();
    run.await.expect("sink task").expect("sink run");
    let written = bucket_bytes(&s3, &bucket).await;
    let rate = records as f64 / sink_secs;
    println!(
        "sink-s3: {rate:.0} records/s, {:.1} MB/s of Kafka payload, {:.1} MB/s gzip into S3 ({:.1} MB in total), peak RSS {} MiB",
        bytes as f64 / MB / sink_secs,
        written as f64 / MB / sink_secs,
        written as f64 / MB,
        peak_rss_kib() / 1024
    );
    println!(
        "ratio sink / consume-and-discard: {:.2}",
        rate / discard_rate
    );
}

async fn create_topics(settings: &KafkaSettings, names: &[&str]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .create()
        .expect("admin");
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|n| NewTopic::new(n, PARTITIONS, TopicReplication::Fixed(1)))
        .collect();
    for r in admin
        .create_topics(&topics, &AdminOptions::new())
        .await
        .expect("create topics")
    {
        r.expect("topic created");
    }
}

/// A sample decision padded so its framed Avro body is about 1 KB.
async fn padded(encoder: &docket_records::Encoder<EnrichedDecision>) -> EnrichedDecision {
    let mut r = samples::enriched();
    r.decision.actions[0].reason = None;
    let base = encoder.encode(&r).await.expect("encode").len();
    r.decision.actions[0].reason = Some("x".repeat(TARGET_RECORD_BYTES.saturating_sub(base + 2)));
    r
}

async fn produce(settings: &KafkaSettings, topic: &str, records: usize) -> usize {
    let registry =
        Registry::new(&RegistryConfig::new(&settings.schema_registry_url)).expect("registry");
    let encoder = registry.encoder::<EnrichedDecision>(topic);
    let template = padded(&encoder).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .create()
        .expect("producer");
    let mut total = 0;
    let mut pending = Vec::new();
    let start = Micros::now().0;
    for i in 0..records {
        let mut r = template.clone();
        r.decision.event_id = samples::event_id();
        r.decision.time = Micros(start + i as i64);
        r.decision.correlation_id = format!("{i:032x}");
        let payload = encoder.encode(&r).await.expect("encode");
        total += payload.len();
        let key = r.decision.correlation_id.clone();
        let queued = producer
            .send_result(FutureRecord::to(topic).key(&key).payload(&payload))
            .map_err(|(e, _)| e)
            .expect("queued");
        pending.push(queued);
        if pending.len() >= 50_000 {
            for p in pending.drain(..) {
                let _ = p.await;
            }
        }
    }
    for p in pending {
        let _ = p.await;
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    total
}

async fn discard(settings: &KafkaSettings, topic: &str, records: usize) {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("group.id", format!("bench-discard-{topic}"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut seen = 0usize;
    let mut bytes = 0usize;
    while seen < records {
        let m = consumer.recv().await.expect("message");
        bytes += m.payload().map_or(0, <[u8]>::len);
        seen += 1;
    }
    std::hint::black_box(bytes);
}

fn sink_vars(
    settings: &KafkaSettings,
    bucket: &str,
    group: &str,
    topic: &str,
    audit: &str,
) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = std::env::vars().collect();
    for (k, v) in [
        (
            "DOCKET_KAFKA_BOOTSTRAP",
            settings.bootstrap_servers.as_str(),
        ),
        ("DOCKET_S3_BUCKET", bucket),
        ("DOCKET_SINK_GROUP", group),
        ("DOCKET_SINK_DECISIONS_TOPIC", topic),
        ("DOCKET_SINK_AUDIT_TOPIC", audit),
        ("DOCKET_SINK_HTTP_ADDR", "off"),
    ] {
        vars.insert(k.to_owned(), v.to_owned());
    }
    vars
}

async fn wait_committed(settings: &KafkaSettings, group: &str, topic: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("group.id", group)
        .create()
        .expect("consumer");
    let ends: Vec<i64> = (0..PARTITIONS)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks")
                .1
        })
        .collect();
    loop {
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition(topic, p);
        }
        let got = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed");
        let done = (0..PARTITIONS).all(|p| {
            matches!(got.find_partition(topic, p).map(|e| e.offset()), Some(Offset::Offset(o)) if o == ends[p as usize])
        });
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn bucket_bytes(s3: &aws_sdk_s3::Client, bucket: &str) -> i64 {
    let mut total = 0;
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list");
        total += page.contents().iter().filter_map(|o| o.size()).sum::<i64>();
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return total;
        }
    }
}

/// Resets this process's peak RSS (Linux: `5` into `/proc/self/clear_refs`).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak RSS since the last reset, KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

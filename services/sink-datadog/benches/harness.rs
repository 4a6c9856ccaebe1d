//! What the HTTP sinks' throughput benchmarks share: a fresh four-partition topic filled with
//! ~1 KB enriched decisions, the stock Kafka consumer performance tool
//! (`org.apache.kafka.tools.ConsumerPerformance`, through `dev/stack kafka-tool consumer-perf`)
//! on that topic, a sink run in-process until its group committed every partition to the end,
//! peak RSS, and the closing lines: both rates and their ratio.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use docket_config::Vars;
use docket_delivery::Shutdown;
use docket_kafka::KafkaSettings;
use docket_records::{EnrichedDecision, Micros, Registry, RegistryConfig, samples};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const PARTITIONS: i32 = 4;
const DEFAULT_RECORDS: usize = 1_000_000;
const TARGET_RECORD_BYTES: usize = 1_000;
const MB: f64 = 1_000_000.0;

/// One benchmark's topic, filled.
pub struct Bench {
    /// Kafka settings of the stack.
    pub settings: KafkaSettings,
    /// The decision topic.
    pub topic: String,
    /// An empty audit topic (the sink takes both streams).
    pub audit: String,
    /// Records produced.
    pub records: usize,
    /// Bytes of Kafka payload produced.
    pub bytes: usize,
    id: String,
}

/// A rate: records and megabytes (10^6 bytes) per second.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Records per second.
    pub records: f64,
    /// Megabytes of Kafka payload per second.
    pub mb: f64,
}

impl Bench {
    /// Creates the topics and produces `DOCKET_BENCH_RECORDS` (default 1,000,000) records.
    pub async fn filled(name: &str) -> Self {
        let records = std::env::var("DOCKET_BENCH_RECORDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_RECORDS);
        let settings = KafkaSettings::from_env().expect("settings");
        let id = uuid::Uuid::now_v7().simple().to_string()[16..].to_owned();
        let topic = format!("bench.{name}.d.{id}");
        let audit = format!("bench.{name}.a.{id}");
        create_topics(&settings, &[&topic, &audit]).await;
        let t = Instant::now();
        let bytes = produce(&settings, &topic, records).await;
        println!(
            "produced {records} records, {:.1} MB ({} B each) in {:.1}s",
            bytes as f64 / MB,
            bytes / records,
            t.elapsed().as_secs_f64()
        );
        Self {
            settings,
            topic,
            audit,
            records,
            bytes,
            id,
        }
    }

    /// The stock consumer performance tool on the topic.
    pub fn consumer_performance(&self) -> Rate {
        let stack = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dev/stack");
        let out = Command::new(stack)
            .args(["kafka-tool", "consumer-perf", "--bootstrap-server"])
            .arg(&self.settings.bootstrap_servers)
            .args([
                "--topic",
                &self.topic,
                "--group",
                &format!("bench-perf-{}", self.id),
            ])
            .args([
                "--messages",
                &self.records.to_string(),
                "--timeout",
                "120000",
            ])
            .output()
            .expect("dev/stack kafka-tool consumer-perf");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "consumer-perf failed: {text}");
        let rate = parse_consumer_performance(&text);
        println!(
            "ConsumerPerformance: {:.0} records/s, {:.1} MB/s",
            rate.records, rate.mb
        );
        rate
    }

    /// The sink's variables: the environment, this benchmark's topics and `group`, no
    /// metrics endpoint, then `extra`.
    pub fn vars(&self, group: &str, extra: &[(&str, &str)]) -> Vars {
        let mut vars: BTreeMap<String, String> = std::env::vars().collect();
        for (k, v) in [
            ("DOCKET_SINK_GROUP", group),
            ("DOCKET_SINK_DECISIONS_TOPIC", self.topic.as_str()),
            ("DOCKET_SINK_AUDIT_TOPIC", self.audit.as_str()),
            ("DOCKET_SINK_HTTP_ADDR", "off"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        {
            vars.insert(k.to_owned(), v.to_owned());
        }
        Vars::from(vars)
    }

    /// A fresh group name.
    pub fn group(&self, sink: &str) -> String {
        format!("bench-{sink}-{}", self.id)
    }

    /// Runs `sink` (given its shutdown) until `group` committed the topic to its end; prints
    /// and returns its rate.
    pub async fn run_sink<F, Fut, E>(&self, name: &str, group: &str, sink: F) -> Rate
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        reset_peak_rss();
        let (trigger, shutdown) = Shutdown::manual();
        let t = Instant::now();
        let run = tokio::spawn(sink(shutdown));
        wait_committed(&self.settings, group, &self.topic).await;
        let secs = t.elapsed().as_secs_f64();
        trigger.fire();
        if let Err(e) = run.await.expect("sink task") {
            panic!("{name} stopped: {e}");
        }
        let rate = Rate {
            records: self.records as f64 / secs,
            mb: self.bytes as f64 / MB / secs,
        };
        println!(
            "{name}: {:.0} records/s, {:.1} MB/s of Kafka payload, {secs:.1}s, peak RSS {} MiB",
            rate.records,
            rate.mb,
            peak_rss_kib() / 1024
        );
        rate
    }
}

/// Prints the ratio of the sink's rate to the tool's.
pub fn print_ratio(name: &str, sink: Rate, reference: Rate) {
    println!(
        "ratio {name} / ConsumerPerformance: {:.2} (records/s)",
        sink.records / reference.records
    );
}

/// The tool's summary: the columns `MB.sec` and `nMsg.sec` of its data line.
fn parse_consumer_performance(text: &str) -> Rate {
    let mut lines = text.lines().filter(|l| l.contains(','));
    let header: Vec<&str> = lines
        .next()
        .expect("header")
        .split(',')
        .map(str::trim)
        .collect();
    let data: Vec<&str> = lines
        .next()
        .expect("data line")
        .split(',')
        .map(str::trim)
        .collect();
    let column = |name: &str| -> f64 {
        let i = header.iter().position(|h| *h == name).expect(name);
        data[i].parse().expect("a number")
    };
    Rate {
        records: column("nMsg.sec"),
        mb: column("MB.sec") * 1_048_576.0 / MB,
    }
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
    let (mut total, mut pending) = (0, Vec::new());
    let start = Micros::now().0;
    for i in 0..records {
        let mut r = template.clone();
        r.decision.event_id = samples::event_id();
        r.decision.time = Micros(start + i as i64);
        r.decision.correlation_id = format!("{:032x}", i + 1);
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

//! Drain benchmark: pre-fills a fresh six-partition decisions topic with N decisions (default
//! one million, `DOCKET_BENCH_RECORDS` to change), then in the same run times a plain
//! consume-and-discard of that topic (the read limit) and the joiner draining it into a fresh
//! enriched topic, and prints both rates and their ratio. Needs the local stack
//! (`dev/stack up`); not part of the test suite.

#![allow(missing_docs)]

use std::time::{Duration, Instant};

use docket_joiner::JoinerConfig;
use docket_kafka::{ConsumerOptions, KafkaSettings};
use docket_records::{Audit, Decision, Micros, Registry, RegistryConfig, samples};
use docket_telemetry::Shutdown;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const PARTITIONS: i32 = 6;
const DEFAULT_RECORDS: usize = 1_000_000;

fn main() {
    docket_telemetry::init_logging();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}

async fn bench() {
    let records: usize = std::env::var("DOCKET_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RECORDS);
    let settings = KafkaSettings::from_env().expect("valid DOCKET_* settings");
    let registry =
        Registry::new(&RegistryConfig::new(settings.schema_registry_url.clone())).unwrap();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let topic = |name: &str| format!("bench.{name}.{run}");
    let (decisions, audit, enriched, pending, dlq) = (
        topic("decisions"),
        topic("audit"),
        topic("enriched"),
        topic("pending"),
        topic("dlq"),
    );
    create_topics(
        &settings,
        &[
            (&decisions, PARTITIONS),
            (&audit, 1),
            (&enriched, PARTITIONS),
            (&pending, PARTITIONS),
            (&dlq, 1),
        ],
    )
    .await;

    let edit = {
        let mut a = samples::audit();
        a.time = Micros(Micros::now().0 - 60_000_000);
        a
    };
    let audit_bytes = registry
        .encoder::<Audit>(&audit)
        .encode(&edit)
        .await
        .unwrap();
    let producer = docket_kafka::producer(&settings).unwrap();
    producer
        .send(
            FutureRecord::to(&audit)
                .key(&edit.resource.id)
                .payload(&audit_bytes),
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    let t = Instant::now();
    let bytes = fill(&registry, &producer, &decisions, records).await;
    println!(
        "filled {records} decisions ({:.1} MB) in {:.1}s",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let discard = consume_and_discard(&settings, &decisions, records).await;
    let joiner = drain_with_joiner(
        &settings,
        [&decisions, &audit, &enriched, &pending, &dlq],
        records,
    )
    .await;
    let rate = |d: Duration| records as f64 / d.as_secs_f64();
    println!(
        "consume-and-discard: {:>10.0} records/s ({:.1}s)",
        rate(discard),
        discard.as_secs_f64()
    );
    println!(
        "joiner drain:        {:>10.0} records/s ({:.1}s)",
        rate(joiner),
        joiner.as_secs_f64()
    );
    println!(
        "ratio joiner / read limit: {:.2}",
        discard.as_secs_f64() / joiner.as_secs_f64()
    );
}

async fn create_topics(settings: &KafkaSettings, topics: &[(&String, i32)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .create()
        .unwrap();
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(n, p)| NewTopic::new(n, *p, TopicReplication::Fixed(1)))
        .collect();
    for r in admin
        .create_topics(&new, &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap();
    }
}

/// Produces `n` distinct decisions driven by the sample policy; returns the bytes written.
async fn fill(registry: &Registry, producer: &FutureProducer, topic: &str, n: usize) -> usize {
    let encoder = registry.encoder::<Decision>(topic);
    let id = encoder.schema_id().await.unwrap();
    let mut decision = samples::decision();
    decision.time = Micros::now();
    let mut total = 0;
    for _ in 0..n {
        decision.event_id = samples::event_id();
        decision.correlation_id = uuid::Uuid::now_v7().simple().to_string();
        let payload = encoder.encode_with_id(id, &decision).unwrap();
        total += payload.len();
        loop {
            let record = FutureRecord::to(topic)
                .key(&decision.correlation_id)
                .payload(&payload);
            match producer.send_result(record) {
                Ok(delivery) => {
                    drop(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => panic!("produce: {e}"),
            }
        }
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    total
}

async fn consume_and_discard(settings: &KafkaSettings, topic: &str, n: usize) -> Duration {
    let options = ConsumerOptions {
        group_id: format!("bench-discard-{}", uuid::Uuid::now_v7().simple()),
        read_committed: true,
    };
    let consumer: StreamConsumer = docket_kafka::consumer(settings, &options).unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(consumer.recv().await.unwrap());
    }
    t.elapsed()
}

/// Runs the joiner in-process until its group has committed the whole decisions topic.
async fn drain_with_joiner(settings: &KafkaSettings, topics: [&String; 5], n: usize) -> Duration {
    let [decisions, audit, enriched, pending, dlq] = topics;
    let group = format!("bench-joiner-{}", uuid::Uuid::now_v7().simple());
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.extend(
        [
            ("DOCKET_JOINER_GROUP", group.as_str()),
            ("DOCKET_JOINER_INSTANCE", group.as_str()),
            ("DOCKET_JOINER_DECISIONS_TOPIC", decisions.as_str()),
            ("DOCKET_JOINER_AUDIT_TOPIC", audit.as_str()),
            ("DOCKET_JOINER_ENRICHED_TOPIC", enriched.as_str()),
            ("DOCKET_JOINER_PENDING_TOPIC", pending.as_str()),
            ("DOCKET_JOINER_DLQ_TOPIC", dlq.as_str()),
            ("DOCKET_JOINER_METRICS_ADDR", "127.0.0.1:0"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let config = JoinerConfig::from_vars(vars).unwrap();
    let (stop, shutdown) = Shutdown::manual();
    let t = Instant::now();
    let task = tokio::spawn(docket_joiner::run(config, shutdown));
    let watcher = docket_kafka::consumer(
        settings,
        &ConsumerOptions {
            group_id: group,
            read_committed: true,
        },
    )
    .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(decisions, p);
    }
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let lookup = tokio::task::block_in_place(|| {
            watcher.committed_offsets(tpl.clone(), Duration::from_secs(10))
        });
        let Ok(committed) = lookup else { continue };
        let done: i64 = committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            })
            .sum();
        if done as usize >= n {
            break;
        }
    }
    let elapsed = t.elapsed();
    stop.fire();
    task.await.unwrap().unwrap();
    elapsed
}

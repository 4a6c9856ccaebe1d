//! Fills a topic with realistic records as their producer writes them (the gateway's decisions
//! and audit events in zstd batches, the joiner's enriched decisions in lz4 batches) and
//! reports the size and gzip compression ratio of what was written.

use std::io::Write;
use std::time::{Duration, Instant};

use docket_kafka::KafkaSettings;
use docket_records::{Audit, Decision, EnrichedDecision, Registry, RegistryConfig};
use flate2::Compression;
use flate2::write::GzEncoder;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::fake::{Faker, POLICIES};

/// The gateway's batch compression (Docket's producer default).
const GATEWAY_COMPRESSION: &str = "zstd";
/// The joiner's batch compression for enriched decisions.
const JOINER_COMPRESSION: &str = "lz4";

/// Payload bytes fed to gzip to estimate the compression ratio.
const GZIP_SAMPLE_BYTES: usize = 8 << 20;

/// A filled topic.
#[derive(Debug, Clone)]
pub struct Filled {
    /// The topic.
    pub topic: String,
    /// Records in it.
    pub records: usize,
    /// Bytes of Kafka payload (framed Avro) in it.
    pub bytes: usize,
    /// Payload bytes / gzip bytes (default level) over the first 8 MB of payload.
    pub gzip_ratio: f64,
}

/// Fills `topic` with `n` realistic decisions (see [`Faker::decision`]).
pub async fn fill_decisions(settings: &KafkaSettings, topic: &str, n: usize) -> Filled {
    let encoder = registry(settings).encoder::<Decision>(topic);
    let id = encoder.schema_id().await.expect("decision schema id");
    let mut faker = Faker::new();
    let make = move || {
        let d = faker.decision();
        let payload = encoder.encode_with_id(id, &d).expect("encode decision");
        (d.correlation_id, payload)
    };
    produce(settings, topic, n, GATEWAY_COMPRESSION, make).await
}

/// Fills `topic` with `n` realistic enriched decisions of about `target` payload bytes each.
pub async fn fill_enriched(
    settings: &KafkaSettings,
    topic: &str,
    n: usize,
    target: usize,
) -> Filled {
    let encoder = registry(settings).encoder::<EnrichedDecision>(topic);
    let id = encoder.schema_id().await.expect("enriched schema id");
    let mut faker = Faker::new();
    let make = move || {
        let size = |r: &EnrichedDecision| encoder.encode_with_id(id, r).map_or(0, |p| p.len());
        let r = faker.enriched(target, size);
        let payload = encoder
            .encode_with_id(id, &r)
            .expect("encode enriched decision");
        (r.decision.correlation_id, payload)
    };
    produce(settings, topic, n, JOINER_COMPRESSION, make).await
}

/// Writes one edit of each policy the decisions name into `topic` (keyed by policy id).
pub async fn put_audit(settings: &KafkaSettings, topic: &str) {
    let encoder = registry(settings).encoder::<Audit>(topic);
    let id = encoder.schema_id().await.expect("audit schema id");
    let mut faker = Faker::new();
    let mut policy = 0;
    let make = move || {
        let edit = faker.edit(policy);
        policy += 1;
        let payload = encoder.encode_with_id(id, &edit).expect("encode audit");
        (edit.resource.id, payload)
    };
    produce(settings, topic, POLICIES, GATEWAY_COMPRESSION, make).await;
}

fn registry(settings: &KafkaSettings) -> Registry {
    Registry::new(&RegistryConfig::new(settings.schema_registry_url.clone())).expect("registry")
}

async fn produce(
    settings: &KafkaSettings,
    topic: &str,
    n: usize,
    compression: &str,
    mut make: impl FnMut() -> (String, Vec<u8>),
) -> Filled {
    let producer = fill_producer(settings, compression);
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    let (mut bytes, mut sampled) = (0, 0);
    let t = Instant::now();
    for _ in 0..n {
        let (key, payload) = make();
        bytes += payload.len();
        if sampled < GZIP_SAMPLE_BYTES {
            sampled += payload.len();
            gzip.write_all(&payload).expect("gzip");
        }
        send(&producer, topic, &key, &payload).await;
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
    assert_eq!(
        end_total(settings, topic),
        n as i64,
        "every record of {topic} written"
    );
    let gzip_ratio = sampled as f64 / gzip.finish().expect("gzip").len().max(1) as f64;
    if n > POLICIES {
        println!(
            "filled {topic}: {n} records, {:.1} MB ({} B each, gzip ratio {gzip_ratio:.1}:1) in {:.1}s",
            bytes as f64 / 1e6,
            bytes / n.max(1),
            t.elapsed().as_secs_f64()
        );
    }
    Filled {
        topic: topic.to_owned(),
        records: n,
        bytes,
        gzip_ratio,
    }
}

fn fill_producer(settings: &KafkaSettings, compression: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("enable.idempotence", "true")
        .set("compression.type", compression)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .create()
        .expect("fill producer")
}

/// Queues one record, waiting while the producer's queue is full.
async fn send(producer: &FutureProducer, topic: &str, key: &str, payload: &[u8]) {
    loop {
        match producer.send_result(FutureRecord::to(topic).key(key).payload(payload)) {
            Ok(delivery) => return drop(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err((e, _)) => panic!("produce to {topic}: {e}"),
        }
    }
}

/// The sum of `topic`'s high watermarks.
pub(crate) fn end_total(settings: &KafkaSettings, topic: &str) -> i64 {
    ends(settings, topic).iter().sum()
}

/// Each partition's high watermark, by partition number.
pub(crate) fn ends(settings: &KafkaSettings, topic: &str) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .create()
        .expect("metadata consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions = metadata.topics()[0].partitions().len() as i32;
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks")
                .1
        })
        .collect()
}

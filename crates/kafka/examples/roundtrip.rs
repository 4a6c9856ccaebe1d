//! A visible round trip through the local stack: produce a sample decision and a sample audit
//! event to Docket's topics, read exactly those records back, and print them decoded.
//!
//! `cargo run -p docket-kafka --example roundtrip` (after `dev/stack up`).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use docket_kafka::{ConsumerOptions, KafkaSettings, topic};
use docket_records::{Record, Registry, RegistryConfig, samples};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(15);
const DEMO_GROUP: &str = "docket-demo";

#[tokio::main]
async fn main() -> Result<()> {
    let settings = KafkaSettings::from_env().context("reading DOCKET_* settings")?;
    println!(
        "kafka {} · registry {}",
        settings.bootstrap_servers, settings.schema_registry_url
    );
    let registry = Registry::new(&RegistryConfig::new(settings.schema_registry_url.clone()))?;
    let producer = docket_kafka::producer(&settings)?;

    let decision = samples::decision();
    round_trip(
        &settings,
        &registry,
        &producer,
        topic::DECISIONS,
        &decision.correlation_id,
        &decision,
    )
    .await?;
    let audit = samples::audit();
    round_trip(
        &settings,
        &registry,
        &producer,
        topic::AUDIT,
        &audit.resource.id,
        &audit,
    )
    .await?;
    println!("round trip ok: both records came back identical");
    Ok(())
}

/// Produces `record`, reads it back from the offset the broker gave it, and compares.
async fn round_trip<T: Record + PartialEq + std::fmt::Debug>(
    settings: &KafkaSettings,
    registry: &Registry,
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    record: &T,
) -> Result<()> {
    let bytes = registry.encoder::<T>(topic).encode(record).await?;
    let delivered = producer
        .send(
            FutureRecord::to(topic).key(key).payload(&bytes),
            SEND_TIMEOUT,
        )
        .await
        .map_err(|(e, _)| e)
        .with_context(|| format!("producing to {topic}"))?;
    println!(
        "\n→ produced {} bytes to {topic} partition {} offset {}",
        bytes.len(),
        delivered.partition,
        delivered.offset
    );

    let payload = read_at(settings, topic, delivered.partition, delivered.offset).await?;
    let decoded: T = registry.decoder::<T>().decode(&payload).await?;
    println!(
        "← consumed and decoded {}:\n{}",
        T::schema().full_name(),
        serde_json::to_string_pretty(&decoded)?
    );
    if &decoded != record {
        bail!("decoded {topic} record differs from the one produced");
    }
    Ok(())
}

async fn read_at(
    settings: &KafkaSettings,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<Vec<u8>> {
    let options = ConsumerOptions {
        group_id: DEMO_GROUP.to_owned(),
        read_committed: true,
    };
    let consumer: StreamConsumer = docket_kafka::consumer(settings, &options)?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    consumer.assign(&assignment)?;
    let msg = tokio::time::timeout(READ_TIMEOUT, consumer.recv())
        .await
        .with_context(|| format!("nothing arrived on {topic} within {READ_TIMEOUT:?}"))??;
    msg.payload()
        .map(<[u8]>::to_vec)
        .context("record without payload")
}

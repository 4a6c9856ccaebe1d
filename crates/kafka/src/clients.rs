//! Producer and consumer builders with Docket's delivery settings: idempotent `acks=all`
//! producers; consumers that never auto-commit and store offsets only when told to.

use rdkafka::ClientConfig;
use rdkafka::consumer::{ConsumerContext, DefaultConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use thiserror::Error;

use crate::settings::KafkaSettings;

/// A client that could not be created.
#[derive(Debug, Error)]
#[error("cannot create the Kafka {role}: {source}")]
pub struct ClientError {
    role: &'static str,
    #[source]
    source: KafkaError,
}

/// How a consumer reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerOptions {
    /// Consumer group id.
    pub group_id: String,
    /// Read only committed transactional data (`isolation.level=read_committed`).
    pub read_committed: bool,
}

fn base_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("client.id", &settings.client_id);
    config
}

/// Applies the explicit properties last, so they win over Docket's defaults.
fn with_overrides(mut config: ClientConfig, settings: &KafkaSettings) -> ClientConfig {
    for (k, v) in &settings.properties {
        config.set(k, v);
    }
    config
}

/// Docket's producer defaults: idempotent, `acks=all`, zstd, a short linger.
fn producer_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = base_config(settings);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "zstd")
        .set("linger.ms", "5");
    config
}

/// An idempotent producer: `acks=all`, ordered retries, zstd compression.
pub fn producer(settings: &KafkaSettings) -> Result<FutureProducer, ClientError> {
    with_overrides(producer_config(settings), settings)
        .create()
        .map_err(|source| ClientError {
            role: "producer",
            source,
        })
}

/// A transactional producer (idempotent, `acks=all`) with the given `transactional.id`; the
/// caller runs `init_transactions` before the first transaction.
pub fn transactional_producer(
    settings: &KafkaSettings,
    transactional_id: &str,
) -> Result<FutureProducer, ClientError> {
    let mut config = producer_config(settings);
    config
        .set("transactional.id", transactional_id)
        .set("transaction.timeout.ms", TRANSACTION_TIMEOUT_MS);
    with_overrides(config, settings)
        .create()
        .map_err(|source| ClientError {
            role: "transactional producer",
            source,
        })
}

/// How long an unfinished transaction of a dead producer holds back `read_committed` readers
/// before the broker aborts it (a restarted producer with the same id aborts it at once).
const TRANSACTION_TIMEOUT_MS: &str = "30000";

/// Pre-fetched data kept in a consumer's queue (one queue for all its partitions). With
/// librdkafka's one-second backoff once the queue is full, 8 MiB cut the read rate by a
/// quarter; with a 10 ms backoff even 4 MiB reads several times faster than any Docket
/// service consumes (see docs/benchmarks.md), and every MiB here costs about three in the
/// process: librdkafka keeps each fetched zstd batch decompressed until its last message is
/// read, and one fetch may arrive whole while the queue is still nearly full.
const PREFETCH_KBYTES: &str = "4096";
/// How long a partition's fetch waits once the prefetch queue is full (librdkafka: 1 s).
const FETCH_QUEUE_BACKOFF_MS: &str = "10";
/// Most bytes one fetch response may carry, so a response cannot overshoot the prefetch
/// queue by librdkafka's 50 MiB default.
const FETCH_MAX_BYTES: &str = "4194304";

/// A consumer in `options.group_id`: no auto-commit, no automatic offset store, starting from
/// the earliest offset when the group has none. Must be created inside a Tokio runtime.
pub fn consumer(
    settings: &KafkaSettings,
    options: &ConsumerOptions,
) -> Result<StreamConsumer, ClientError> {
    consumer_with_context(settings, options, DefaultConsumerContext)
}

/// Like [`consumer`], with a context that observes rebalances and commits.
pub fn consumer_with_context<C: ConsumerContext + 'static>(
    settings: &KafkaSettings,
    options: &ConsumerOptions,
    context: C,
) -> Result<StreamConsumer<C>, ClientError> {
    let mut config = base_config(settings);
    let isolation = if options.read_committed {
        "read_committed"
    } else {
        "read_uncommitted"
    };
    config
        .set("group.id", &options.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", isolation)
        .set("queued.max.messages.kbytes", PREFETCH_KBYTES)
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
        .set("fetch.max.bytes", FETCH_MAX_BYTES);
    with_overrides(config, settings)
        .create_with_context(context)
        .map_err(|source| ClientError {
            role: "consumer",
            source,
        })
}

//! Producer and consumer builders with Docket's delivery settings: idempotent `acks=all`
//! producers; consumers that never auto-commit and store offsets only when told to.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::config::FromClientConfig;
use rdkafka::consumer::{ConsumerContext, DefaultConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, ProducerContext, ThreadedProducer};
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

/// Like [`producer`], reporting each delivery to `context` (whose `delivery` callback runs on
/// the producer's polling thread) instead of through a future per record.
pub fn producer_with_context<C: ProducerContext + 'static>(
    settings: &KafkaSettings,
    context: C,
) -> Result<ThreadedProducer<C>, ClientError> {
    with_overrides(producer_config(settings), settings)
        .create_with_context(context)
        .map_err(|source| ClientError {
            role: "producer",
            source,
        })
}

/// A transactional producer (idempotent, `acks=all`) with the given `transactional.id`; the
/// caller runs `init_transactions` before the first transaction. A `FutureProducer` answers
/// each record with a delivery future; a `ThreadedProducer` reports none, which costs a record
/// no future or callback of its own: committing the transaction waits for every record in it
/// and fails if any failed.
pub fn transactional_producer<P: FromClientConfig>(
    settings: &KafkaSettings,
    transactional_id: &str,
) -> Result<P, ClientError> {
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
/// Longest the broker holds a fetch that found no data (librdkafka: 500 ms). A consumer has
/// one fetch in flight per broker: right after an assignment, a fetch of the empty partitions
/// (a joiner's pending topic, a sink's audit topic) held the first records of the busy ones
/// back for its whole wait, half a second on every start and rebalance. A fetch that finds
/// data returns at once whatever this is; an idle consumer asks ten times a second.
const FETCH_WAIT_MAX_MS: &str = "100";

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
        .set("fetch.max.bytes", FETCH_MAX_BYTES)
        .set("fetch.wait.max.ms", FETCH_WAIT_MAX_MS);
    with_overrides(config, settings)
        .create_with_context(context)
        .map_err(|source| ClientError {
            role: "consumer",
            source,
        })
}

/// How long a group consumer may take to close before a stopping service exits without it.
pub const CLOSE_LIMIT: Duration = Duration::from_secs(10);

/// Closes `consumer` (dropping it leaves the group) on a thread of its own, waiting at most
/// `limit`; returns whether it closed in time.
///
/// librdkafka 2.12 can wait forever in a consumer's close when the group's assignment
/// arrives just as the consumer closes: the assign made for it never returns (upstream issue
/// 4884). A service stopped while it joins its group would then never exit. Docket's
/// consumers commit what they owe before they close, so a stopping service loses nothing by
/// not waiting longer: it logs, goes on, and the process's exit ends the thread.
pub async fn close<C: Send + 'static>(consumer: C, limit: Duration) -> bool {
    let (closed, wait) = tokio::sync::oneshot::channel();
    let closing = std::thread::Builder::new()
        .name("consumer-close".to_owned())
        .spawn(move || {
            drop(consumer);
            let _ = closed.send(());
        });
    if let Err(e) = closing {
        // The consumer went down with the closure, closed on this thread.
        tracing::warn!(error = %e, "no thread to close the consumer on");
        return true;
    }
    let in_time = tokio::time::timeout(limit, wait).await.is_ok();
    if !in_time {
        tracing::warn!(
            ?limit,
            "the Kafka consumer did not close in time; stopping without it (its offsets are \
             already committed)"
        );
    }
    in_time
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::close;

    /// Stands in for a consumer whose close never returns: its drop waits for a message that
    /// never comes while the test holds the sender.
    struct StuckClose(mpsc::Receiver<()>);

    impl Drop for StuckClose {
        fn drop(&mut self) {
            let _ = self.0.recv();
        }
    }

    #[tokio::test]
    async fn a_close_that_never_returns_is_given_up_after_the_limit() {
        let (_held, never) = mpsc::channel();
        assert!(!close(StuckClose(never), Duration::from_millis(50)).await);
    }

    #[tokio::test]
    async fn a_close_that_returns_is_awaited() {
        let (sender, receiver) = mpsc::channel();
        sender.send(()).expect("the receiver is alive");
        assert!(close(StuckClose(receiver), Duration::from_secs(30)).await);
    }
}

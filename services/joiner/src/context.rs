//! Consumer contexts: one that counts rebalances, so a round can tell that the partitions it
//! collected from changed under it, and reports consumer lag from librdkafka's statistics;
//! one for readers that ask to be told about partition ends.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus::IntGaugeVec;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Counts completed rebalances and reports lag.
pub struct RebalanceWatch {
    generation: AtomicU64,
    lag: IntGaugeVec,
}

impl RebalanceWatch {
    /// A watch that reports lag into `lag` (labels: topic, partition).
    pub fn new(lag: IntGaugeVec) -> Self {
        Self {
            generation: AtomicU64::new(0),
            lag,
        }
    }

    /// Rebalances seen so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

impl ClientContext for RebalanceWatch {
    fn stats(&self, statistics: rdkafka::statistics::Statistics) {
        for (tp, lag) in docket_kafka::consumer_lag(&statistics) {
            self.lag
                .with_label_values(&[tp.topic.as_str(), &tp.partition.to_string()])
                .set(lag);
        }
    }
}

impl ConsumerContext for RebalanceWatch {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        tracing::info!(?rebalance, "partitions rebalanced");
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// A consumer context for readers that ask to be told about partition ends: reaching one is
/// progress, not an error worth logging.
#[derive(Debug, Default)]
pub struct QuietEof;

impl ClientContext for QuietEof {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::error!(%error, reason, "kafka client error");
        }
    }
}

impl ConsumerContext for QuietEof {}

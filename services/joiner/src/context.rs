//! A consumer context that counts rebalances, so a round can tell that the partitions it
//! collected from changed under it.

use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Counts completed rebalances.
#[derive(Debug, Default)]
pub struct RebalanceWatch {
    generation: AtomicU64,
}

impl RebalanceWatch {
    /// Rebalances seen so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

impl ClientContext for RebalanceWatch {}

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

//! The joiner's errors.

use docket_records::CodecError;
use rdkafka::error::KafkaError;
use thiserror::Error;

/// Why the joiner stopped.
#[derive(Debug, Error)]
pub enum JoinerError {
    /// A Kafka client could not be created.
    #[error(transparent)]
    Client(#[from] docket_kafka::ClientError),
    /// A Kafka call failed.
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    /// A topic has no partitions (it does not exist).
    #[error("topic {0} does not exist")]
    NoPartitions(String),
    /// Encoding an output record failed.
    #[error("encoding output: {0}")]
    Codec(#[from] CodecError),
    /// The metrics could not be set up.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The operations endpoint could not start.
    #[error(transparent)]
    Endpoint(#[from] docket_telemetry::EndpointError),
    /// Shutdown arrived in the middle of a round, which was abandoned uncommitted.
    #[error("round interrupted by shutdown")]
    Interrupted,
    /// A transaction failed; the process restarts from the last committed offsets.
    #[error("transaction failed ({stage}): {source}")]
    Transaction {
        /// Which call failed.
        stage: &'static str,
        /// Kafka's error.
        source: KafkaError,
    },
}

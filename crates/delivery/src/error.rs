//! Why the engine stopped.

use docket_kafka::ClientError;
use docket_records::CodecError;
use rdkafka::error::KafkaError;
use thiserror::Error;

/// A failure that stops the sink. Nothing is committed past the last accepted batch.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    /// A Kafka client could not be created.
    #[error("kafka: {0}")]
    KafkaClient(#[from] ClientError),
    /// A Kafka client could not be used.
    #[error("kafka: {what}: {source}")]
    Kafka {
        /// What the engine was doing.
        what: &'static str,
        /// Kafka's error.
        #[source]
        source: KafkaError,
    },
    /// The schema registry client could not be created.
    #[error("schema registry: {0}")]
    Registry(#[source] CodecError),
    /// The destination refused the sink's credential.
    #[error("the destination refused the credential; fix it and restart: {0}")]
    Credential(String),
    /// The destination refuses the configuration.
    #[error("the destination refuses the sink's configuration: {0}")]
    Destination(String),
    /// A poison record could not be written to the dead-letter topic.
    #[error("cannot write to the dead-letter topic: {0}")]
    DeadLetter(#[source] KafkaError),
    /// The metrics and health endpoint could not start.
    #[error("cannot serve metrics and health: {0}")]
    Http(#[from] docket_telemetry::EndpointError),
}

//! The one error type of the command line: each variant renders as one line naming what failed;
//! `main` appends the chain of sources.

use std::path::PathBuf;

use thiserror::Error;

/// Why a command failed.
#[derive(Debug, Error)]
pub enum CliError {
    /// A file or process operation failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A Kafka call failed.
    #[error("Kafka: {what}")]
    Kafka {
        /// What was being done.
        what: String,
        /// The client's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// An HTTP call failed before an answer arrived.
    #[error("{what}")]
    Http {
        /// What was being done.
        what: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// A setting is invalid.
    #[error("settings")]
    Settings(#[from] docket_kafka::SettingsError),
    /// A Kafka client could not be built.
    #[error("Kafka client")]
    Client(#[from] docket_kafka::ClientError),
    /// A record could not be decoded or encoded.
    #[error("record codec")]
    Codec(#[from] docket_records::CodecError),
    /// A service did not become ready.
    #[error("{service} {reason}; see {}", log.display())]
    Start {
        /// The service.
        service: String,
        /// What happened.
        reason: String,
        /// Its log file.
        log: PathBuf,
    },
    /// An argument or setting the command cannot use.
    #[error("{0}")]
    Usage(String),
    /// The command refuses to act (the message says why and what to do).
    #[error("{0}")]
    Refused(String),
    /// A destination or service answered something unexpected.
    #[error("{0}")]
    Unexpected(String),
}

impl CliError {
    /// An I/O error with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }

    /// A Kafka error with what was being done.
    pub fn kafka(what: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> Self {
        let what = what.into();
        move |source| Self::Kafka { what, source }
    }

    /// An HTTP error with what was being done.
    pub fn http(what: impl Into<String>) -> impl FnOnce(reqwest::Error) -> Self {
        let what = what.into();
        move |source| Self::Http { what, source }
    }
}

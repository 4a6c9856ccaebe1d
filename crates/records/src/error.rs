//! Typed errors of the schemas and the codec, each saying whether a retry can help.

use thiserror::Error;

use crate::wire::FrameError;

/// A schema that cannot be used.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The text is not a valid Avro schema.
    #[error("invalid Avro schema: {0}")]
    Invalid(String),
    /// The schema is valid but its top level is not a record.
    #[error("top-level schema must be a record, found {0}")]
    NotARecord(String),
}

/// Why a record could not be encoded or decoded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The bytes are not in the Confluent wire format.
    #[error("not a schema-registry framed message: {0}")]
    Frame(#[from] FrameError),
    /// The registry does not know the schema id in the frame, or holds no usable Avro schema
    /// under it.
    #[error("schema id {id} is unknown to the schema registry: {reason}")]
    UnknownSchema {
        /// The id from the frame.
        id: u32,
        /// The registry's answer.
        reason: String,
    },
    /// The registry could not be reached or answered with a server error; retrying can help.
    #[error("schema registry unavailable: {reason}")]
    RegistryUnavailable {
        /// What failed.
        reason: String,
    },
    /// The registry refused to register a schema (for example an incompatible change).
    #[error("schema registry refused the schema for subject {subject}: {reason}")]
    SchemaRejected {
        /// The subject registered under.
        subject: String,
        /// The registry's answer.
        reason: String,
    },
    /// The registry answered in a way the codec cannot use (a refused credential, an answer it
    /// cannot parse). The data is not at fault: retry or stop, never dead-letter.
    #[error("schema registry error: {reason}")]
    Registry {
        /// What failed.
        reason: String,
    },
    /// The Avro body does not decode with its writer schema (truncated or corrupt).
    #[error("Avro body does not decode with writer schema {id}: {reason}")]
    Malformed {
        /// The writer schema id.
        id: u32,
        /// The decoder's message.
        reason: String,
    },
    /// The writer schema cannot be resolved against the reader's (an incompatible change).
    #[error("data written with schema {id} cannot be read as {reader}: {reason}")]
    SchemaMismatch {
        /// The writer schema id.
        id: u32,
        /// The reader record's full name.
        reader: String,
        /// The resolver's message.
        reason: String,
    },
    /// A value does not fit the writer schema.
    #[error("value does not fit schema {schema}: {reason}")]
    Encode {
        /// The writer record's full name.
        schema: String,
        /// The encoder's message.
        reason: String,
    },
}

impl CodecError {
    /// Whether the registry, not the data, is at fault, so that retrying later can succeed.
    /// Every other error is a property of the record: dead-letter it.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CodecError::RegistryUnavailable { .. } | CodecError::Registry { .. }
        )
    }
}

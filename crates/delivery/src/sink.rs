//! The contract between the engine and a destination: encode one record, send one batch,
//! and say how a failure must be handled (retry, reject records, or stop).

use std::future::Future;
use std::time::Duration;

use thiserror::Error;

use crate::batch::Batch;
use crate::record::Exported;

/// What the destination holds after a successful send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The destination already holds this partition's records up to and including this
    /// offset (at least the batch's last). Greater than the batch's last when an earlier run
    /// wrote a longer batch: the engine then treats records up to it as delivered.
    pub through: i64,
}

/// Why a send failed, and what the engine must do about it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    /// Transient (throttled, unavailable, timed out): back off and send the batch again,
    /// waiting at least `after` when the destination said so (`Retry-After`).
    #[error("retryable: {reason}")]
    Retry {
        /// What failed.
        reason: String,
        /// The destination's requested wait.
        after: Option<Duration>,
    },
    /// The destination refused these records (indexes into the batch) as invalid: they go
    /// to the dead-letter topic and the rest of the batch is sent again.
    #[error("records refused as invalid: {reason}")]
    Reject {
        /// Indexes of the refused records.
        items: Vec<usize>,
        /// The destination's reason.
        reason: String,
    },
    /// The credential is missing, invalid or not allowed: the sink stops, commits nothing.
    #[error("invalid credential: {reason}")]
    Credential {
        /// The destination's answer (never the credential).
        reason: String,
    },
    /// Any other failure a retry cannot fix (a missing bucket, a wrong setting): stop.
    #[error("destination refuses the configuration: {reason}")]
    Fatal {
        /// What is wrong.
        reason: String,
    },
}

/// A record the destination cannot represent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot encode record: {0}")]
pub struct EncodeError(pub String);

/// A destination. The engine owns consumption, batching, retries and offsets.
pub trait Sink: Send + Sync + 'static {
    /// Appends the record's bytes as they go into a batch (one line, one event) to `out`,
    /// which holds other records' bytes before them; on an error, whatever was appended is
    /// discarded.
    fn encode(&self, record: &Exported, out: &mut Vec<u8>) -> Result<(), EncodeError>;

    /// Delivers one batch; `Ok` only once the destination accepted it durably.
    fn send(&self, batch: &Batch) -> impl Future<Output = Result<Accepted, SendError>> + Send;
}

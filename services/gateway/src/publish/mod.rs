//! Publishing decision and audit records without ever blocking the request path. Requests
//! hand records to [`Publisher::submit`] (a bounded in-memory queue); one driver task sends
//! them to Kafka with the idempotent producer. While Kafka acknowledges, records go straight
//! out; a record Kafka does not acknowledge in time goes to the on-disk [`spool::Spool`], and
//! while the spool holds anything every new record is appended behind it, so the spool drains
//! in order. See [`driver`].

mod driver;
pub mod spool;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use docket_records::{Audit, Decision, Micros};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::mpsc;

use crate::config::OnSpoolFull;
use crate::metrics::Metrics;
pub use driver::{Driver, start};

/// Records the request path may queue before the driver takes them.
pub const QUEUE_CAPACITY: usize = 65_536;

/// Stream label of decision records.
pub const DECISIONS: &str = "decisions";
/// Stream label of audit records.
pub const AUDIT: &str = "audit";

/// One record to publish, as spooled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stream", content = "record", rename_all = "snake_case")]
pub enum Item {
    /// A decision, keyed by correlation id.
    Decision(Decision),
    /// An audit event, keyed by resource id.
    Audit(Audit),
}

impl Item {
    /// `decisions` or `audit`.
    pub fn stream(&self) -> &'static str {
        match self {
            Item::Decision(_) => DECISIONS,
            Item::Audit(_) => AUDIT,
        }
    }

    /// The Kafka key.
    pub fn key(&self) -> &str {
        match self {
            Item::Decision(d) => &d.correlation_id,
            Item::Audit(a) => &a.resource.id,
        }
    }

    /// When the record was made.
    pub fn time(&self) -> Micros {
        match self {
            Item::Decision(d) => d.time,
            Item::Audit(a) => a.time,
        }
    }
}

/// Publishing could not start.
#[derive(Debug, Error)]
pub enum PublishError {
    /// The producer could not be created.
    #[error(transparent)]
    Client(#[from] docket_kafka::ClientError),
    /// The registry client could not be created.
    #[error(transparent)]
    Codec(#[from] docket_records::CodecError),
    /// The spool could not be opened.
    #[error(transparent)]
    Spool(#[from] spool::SpoolError),
}

/// The request path's handle: submit records, ask whether new requests may be served.
#[derive(Debug, Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Item>,
    full: Arc<AtomicBool>,
    on_full: OnSpoolFull,
    metrics: Metrics,
}

impl Publisher {
    /// Queues a record; never waits. A record that cannot be queued is counted as dropped.
    pub fn submit(&self, item: Item) {
        let stream = item.stream();
        if self.tx.try_send(item).is_err() {
            self.metrics.dropped.with_label_values(&[stream]).inc();
            tracing::error!(stream, "publish queue full or closed: a record was dropped");
        }
    }

    /// Whether new work may be accepted: always in fail-open mode; in fail-closed mode only
    /// while the spool has room.
    pub fn accepting(&self) -> bool {
        self.on_full == OnSpoolFull::FailOpen || !self.full.load(Ordering::Relaxed)
    }
}

//! Publishing decision and audit records so that no answered request loses its decision.
//! [`Publisher::submit`] appends the record to the write-ahead log ([`spool::Spool`], one
//! plain write, no fsync) before the request answers, then queues it for the driver task,
//! which sends it to Kafka with the idempotent producer and moves the log's cursor over what
//! Kafka acknowledged. A killed process replays the log from the saved cursor on start,
//! skipping what Kafka already has ([`replay`]). See [`driver`].

mod driver;
mod producer;
pub mod replay;
pub mod spool;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use docket_records::{Audit, Decision, Micros};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::mpsc;

use crate::config::OnSpoolFull;
use crate::metrics::Metrics;
pub use driver::{Driver, start};
use spool::{Pos, Spool, SpoolError};

/// Kafka header carrying the record's `event_id`, read back by [`replay`].
pub const EVENT_ID_HEADER: &str = "docket.event_id";
/// Kafka header naming the gateway instance that published the record: after a failed
/// delivery [`replay`] keeps only its own instance's ids (and those of records without it).
pub const INSTANCE_HEADER: &str = "docket.instance";

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

    /// The record's unique id.
    pub fn event_id(&self) -> &str {
        match self {
            Item::Decision(d) => &d.event_id,
            Item::Audit(a) => &a.event_id,
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

/// When the log is synced to the disk itself. Appends are plain writes: a killed process
/// loses nothing either way; this bounds what a power cut or kernel crash can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Never explicitly (the OS writes back within its own period, typically 30 s).
    Never,
    /// At most this long after an append (one `fdatasync` per period, off the request path).
    Every(Duration),
}

impl FsyncPolicy {
    /// `never` or a positive humantime period (`100ms`, `1s`); the error says what is
    /// expected (the configuration names the setting).
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value == "never" {
            return Ok(Self::Never);
        }
        match humantime::parse_duration(value) {
            Ok(d) if !d.is_zero() => Ok(Self::Every(d)),
            _ => Err(format!(
                "expected never or a period such as 100ms, got {:?}",
                value.chars().take(32).collect::<String>()
            )),
        }
    }
}

/// The request path's handle: submit records, ask whether new requests may be served.
#[derive(Debug, Clone)]
pub struct Publisher {
    wal: Arc<Mutex<Spool>>,
    tx: mpsc::UnboundedSender<(Pos, Item)>,
    full: Arc<AtomicBool>,
    on_full: OnSpoolFull,
    metrics: Metrics,
}

impl Publisher {
    /// Appends the record to the log (it survives a kill once this returns) and queues it for
    /// sending; never waits for Kafka. A record the log cannot take (full, disk error) is
    /// counted as dropped, and in fail-closed mode new requests are refused from then on.
    /// The queue is unbounded but never holds more than the log: each queued record is in it.
    pub fn submit(&self, item: Item) {
        let stream = item.stream();
        let line = serde_json::to_vec(&item).expect("records serialize");
        let mut wal = self.wal.lock().unwrap_or_else(PoisonError::into_inner);
        match wal.append(&line) {
            Ok(end) => {
                self.metrics.spooled.with_label_values(&[stream]).inc();
                // Queued under the lock, so the queue's order is the log's.
                let _ = self.tx.send((end, item));
            }
            Err(e) => self.refuse(stream, &e),
        }
    }

    fn refuse(&self, stream: &'static str, e: &SpoolError) {
        self.metrics.dropped.with_label_values(&[stream]).inc();
        match (e, self.on_full) {
            (SpoolError::Full { bytes, max }, OnSpoolFull::FailOpen) => {
                self.full.store(true, Ordering::Relaxed);
                tracing::warn!(stream, bytes, max, "spool full (fail_open): record dropped");
            }
            (SpoolError::Full { bytes, max }, OnSpoolFull::FailClosed) => {
                self.full.store(true, Ordering::Relaxed);
                tracing::error!(
                    stream,
                    bytes,
                    max,
                    "spool full (fail_closed): record dropped; new requests are refused"
                );
            }
            (e, _) => tracing::error!(stream, error = %e, "cannot write the log: record dropped"),
        }
    }

    /// Sets the log's gauges from the log itself, so that a scrape counts every record
    /// appended so far (the driver updates them only as it moves the cursor and at its ticks).
    pub fn refresh_gauges(&self) {
        let wal = self.wal.lock().unwrap_or_else(PoisonError::into_inner);
        set_gauges(&self.metrics, &wal);
    }

    /// Whether new work may be accepted: always in fail-open mode; in fail-closed mode only
    /// while the spool has room.
    pub fn accepting(&self) -> bool {
        self.on_full == OnSpoolFull::FailOpen || !self.full.load(Ordering::Relaxed)
    }

    /// Whether the log has room for records, whatever the mode: admin edits are refused
    /// without it even in fail-open mode, so that no edit goes unaudited.
    pub fn has_room(&self) -> bool {
        !self.full.load(Ordering::Relaxed)
    }

    /// Makes every record submitted so far durable against a power cut too: syncs the log
    /// and saves its cursor. (Against a killed process they are durable once `submit`
    /// returns.) For the shutdown path; blocking work runs off the async threads.
    pub async fn flush(&self) -> Result<(), SpoolError> {
        let wal = Arc::clone(&self.wal);
        tokio::task::spawn_blocking(move || {
            let mut wal = wal.lock().unwrap_or_else(PoisonError::into_inner);
            wal.sync()?;
            wal.checkpoint()
        })
        .await
        .unwrap_or(Ok(()))
    }
}

/// Sets the spool gauges from `log`; returns its bytes and their bound.
fn set_gauges(metrics: &Metrics, log: &Spool) -> (u64, u64) {
    metrics.spool_bytes.set(log.bytes() as i64);
    metrics.spool_records.set(log.records() as i64);
    (log.bytes(), log.max_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fsync_policy_is_never_or_a_period() {
        assert_eq!(FsyncPolicy::parse("never").unwrap(), FsyncPolicy::Never);
        assert_eq!(
            FsyncPolicy::parse(" 100ms ").unwrap(),
            FsyncPolicy::Every(Duration::from_millis(100))
        );
        for bad in ["", "0s", "always", "-1s", "soon"] {
            assert!(FsyncPolicy::parse(bad).is_err(), "{bad}");
        }
    }
}

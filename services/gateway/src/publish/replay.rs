//! Recognising, at start-up, the logged records of a previous run that Kafka already has, so a
//! restart does not send them twice. The log's cursor is saved at checkpoints, so a process
//! killed after Kafka acknowledged a record but before the next checkpoint finds that record
//! beyond its cursor. Every record is produced with its `event_id` as a header; before the
//! first replay the gateway reads the decision and audit topics from a point in time early
//! enough to hold every such record (the later of the oldest logged record and the last
//! checkpoint less the delivery timeout, less a second of clock slack) to their ends, and
//! skips logged records whose `event_id` it found.
//!
//! When the scan cannot finish (Kafka unreachable for [`SCAN_PATIENCE`]) the replay goes
//! ahead without it: at least once, and readers dedupe by `event_id`. The driver also scans
//! after a failed delivery, before sending the log again ([`Why::Failure`]); that scan keeps
//! trying for as long as Kafka cannot be read.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use docket_kafka::{ConsumerOptions, KafkaSettings};
use docket_records::Micros;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use thiserror::Error;
use tokio::task::JoinHandle;

use super::driver::Topics;
use super::{EVENT_ID_HEADER, INSTANCE_HEADER, Item};

/// How long start-up keeps trying to scan before replaying without it.
pub const SCAN_PATIENCE: Duration = Duration::from_secs(60);
/// Pause between scan attempts.
const RETRY: Duration = Duration::from_secs(1);
/// Least time between two warnings of a scan that keeps failing.
const WARN_EVERY: Duration = Duration::from_secs(60);
/// Clock slack between the record's own time and the time Kafka stamps.
const SLACK_MS: i64 = 1_000;

/// `event_id`s of records found in Kafka.
#[derive(Debug, Default)]
pub struct Delivered(HashSet<String>);

impl Delivered {
    /// Whether the record with `event_id` is already in Kafka.
    pub fn contains(&self, event_id: &str) -> bool {
        self.0.contains(event_id)
    }

    /// How many were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none were found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A scan that could not finish.
#[derive(Debug, Error)]
pub enum ScanError {
    /// The consumer could not be created.
    #[error(transparent)]
    Client(#[from] docket_kafka::ClientError),
    /// A Kafka call failed.
    #[error("reading back {topic}: {source}")]
    Kafka {
        /// Topic.
        topic: String,
        /// Error.
        #[source]
        source: KafkaError,
    },
    /// The reads stopped short of the topics' ends.
    #[error("no record arrived for {0:?} before the topics' ends")]
    Timeout(Duration),
    /// The blocking part panicked.
    #[error("the scan task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The time of a logged record.
pub fn time_of(line: &[u8]) -> Option<Micros> {
    serde_json::from_slice::<Item>(line).ok().map(|i| i.time())
}

/// From when to read: the later of the oldest logged record and `checkpoint` less the
/// delivery timeout, less the slack; in milliseconds since the epoch.
pub fn since_ms(oldest: Micros, checkpoint: Option<SystemTime>, timeout: Duration) -> i64 {
    let oldest_ms = oldest.0 / 1_000;
    let after_checkpoint = checkpoint
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.saturating_sub(timeout).as_millis() as i64)
        .unwrap_or(i64::MIN);
    oldest_ms.max(after_checkpoint) - SLACK_MS
}

/// Why the topics are read back, which sets how long a scan keeps trying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// At start-up, for records a previous run left beyond its cursor: after
    /// [`SCAN_PATIENCE`] the replay goes ahead without the scan.
    Restart,
    /// After a failed delivery: until Kafka can be read, since the records wait safely in
    /// the log and sending them blind could duplicate them.
    Failure,
}

impl Why {
    fn patience(self) -> Option<Duration> {
        match self {
            Why::Restart => Some(SCAN_PATIENCE),
            Why::Failure => None,
        }
    }

    fn records(self) -> &'static str {
        match self {
            Why::Restart => "records of the previous run found in Kafka",
            Why::Failure => "records of failed deliveries found in Kafka",
        }
    }
}

/// Scans in the background, retrying as `why` says; an empty set when it gives up. The first
/// failed attempt is a warning, later ones are too at most once a minute.
pub fn scan(
    settings: KafkaSettings,
    topics: Topics,
    since_ms: i64,
    timeout: Duration,
    why: Why,
    instance: &str,
) -> JoinHandle<Delivered> {
    // A restarted gateway may carry another name than the run that logged the records.
    let instance = (why == Why::Failure).then(|| instance.to_owned());
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let mut warned: Option<tokio::time::Instant> = None;
        loop {
            let e =
                match scan_once(&settings, &topics, since_ms, timeout, instance.as_deref()).await {
                    Ok(found) => {
                        tracing::info!(found = found.len(), "{}", why.records());
                        return found;
                    }
                    Err(e) => e,
                };
            if why.patience().is_some_and(|p| started.elapsed() >= p) {
                tracing::error!(error = %e, "giving up reading the topics back: records acknowledged just before the last stop may arrive twice");
                return Delivered::default();
            }
            if warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                tracing::warn!(error = %e, "cannot read the topics back yet; retrying");
                warned = Some(tokio::time::Instant::now());
            } else {
                tracing::debug!(error = %e, "cannot read the topics back yet; retrying");
            }
            tokio::time::sleep(RETRY).await;
        }
    })
}

/// Where each partition's read starts and ends.
type Plan = HashMap<(String, i32), i64>;

/// Reads every partition from `since_ms` to its end and collects the `event_id`s of records,
/// with `instance` only those it published (or a gateway that did not name itself), so the
/// set stays as small as this instance's own records in the window, however busy the topics
/// were while it could not reach them. Fails when no record arrives for four times `timeout`.
async fn scan_once(
    settings: &KafkaSettings,
    topics: &Topics,
    since_ms: i64,
    timeout: Duration,
    instance: Option<&str>,
) -> Result<Delivered, ScanError> {
    let options = ConsumerOptions {
        group_id: format!("docket-gateway-replay-{}", uuid::Uuid::now_v7().simple()),
        read_committed: false,
    };
    let consumer = Arc::new(docket_kafka::consumer(settings, &options)?);
    let names = [topics.decisions.clone(), topics.audit.clone()];
    let c = Arc::clone(&consumer);
    let mut ends =
        tokio::task::spawn_blocking(move || plan(&c, &names, since_ms, timeout)).await??;
    let mut found = Delivered::default();
    while !ends.is_empty() {
        let msg = tokio::time::timeout(timeout * 4, consumer.recv())
            .await
            .map_err(|_| ScanError::Timeout(timeout * 4))?
            .map_err(|source| ScanError::Kafka {
                topic: "(read)".to_owned(),
                source,
            })?;
        if let Some(id) = own_event_id(&msg, instance) {
            found.0.insert(String::from_utf8_lossy(id).into_owned());
        }
        let key = (msg.topic().to_owned(), msg.partition());
        if ends.get(&key).is_some_and(|end| msg.offset() + 1 >= *end) {
            ends.remove(&key);
        }
    }
    Ok(found)
}

/// The `event_id` header of `msg`, unless another instance's header says it published it.
fn own_event_id<'a>(msg: &'a impl Message, instance: Option<&str>) -> Option<&'a [u8]> {
    let headers = msg.headers()?;
    let value = |key: &str| headers.iter().find(|h| h.key == key).and_then(|h| h.value);
    match (value(INSTANCE_HEADER), instance) {
        (Some(other), Some(ours)) if other != ours.as_bytes() => None,
        _ => value(EVENT_ID_HEADER),
    }
}

/// Assigns every partition of `topics` from the first offset at or after `since_ms`, and
/// returns the end offset of each partition that has something to read.
fn plan(
    consumer: &StreamConsumer,
    topics: &[String],
    since_ms: i64,
    timeout: Duration,
) -> Result<Plan, ScanError> {
    let kafka = |topic: &str| {
        let topic = topic.to_owned();
        move |source| ScanError::Kafka { topic, source }
    };
    let mut wanted = TopicPartitionList::new();
    for topic in topics {
        let md = consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(kafka(topic))?;
        for t in md.topics() {
            for p in t.partitions() {
                wanted
                    .add_partition_offset(topic, p.id(), Offset::Offset(since_ms))
                    .map_err(kafka(topic))?;
            }
        }
    }
    let starts = consumer
        .offsets_for_times(wanted, timeout)
        .map_err(kafka("(offsets)"))?;
    let mut assign = TopicPartitionList::new();
    let mut ends = Plan::new();
    for el in starts.elements() {
        let Offset::Offset(start) = el.offset() else {
            continue;
        };
        let (_, high) = consumer
            .fetch_watermarks(el.topic(), el.partition(), timeout)
            .map_err(kafka(el.topic()))?;
        if start < high {
            assign
                .add_partition_offset(el.topic(), el.partition(), Offset::Offset(start))
                .map_err(kafka(el.topic()))?;
            ends.insert((el.topic().to_owned(), el.partition()), high);
        }
    }
    consumer.assign(&assign).map_err(kafka("(assign)"))?;
    Ok(ends)
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};

    use super::*;

    fn message(headers: &[(&str, &str)]) -> OwnedMessage {
        let headers = headers.iter().fold(OwnedHeaders::new(), |h, (key, value)| {
            h.insert(Header {
                key,
                value: Some(*value),
            })
        });
        let headers = (headers.count() > 0).then_some(headers);
        OwnedMessage::new(
            None,
            None,
            "t".into(),
            Timestamp::NotAvailable,
            0,
            0,
            headers,
        )
    }

    #[test]
    fn only_this_instance_and_unnamed_publishers_count_as_ours() {
        let ours = message(&[(EVENT_ID_HEADER, "e1"), (INSTANCE_HEADER, "gw-a")]);
        let theirs = message(&[(EVENT_ID_HEADER, "e2"), (INSTANCE_HEADER, "gw-b")]);
        let unnamed = message(&[(EVENT_ID_HEADER, "e3")]);
        let prefix = message(&[(EVENT_ID_HEADER, "e4"), (INSTANCE_HEADER, "gw-a2")]);
        let a = Some("gw-a");
        assert_eq!(own_event_id(&ours, a), Some(&b"e1"[..]));
        assert_eq!(own_event_id(&theirs, a), None);
        assert_eq!(own_event_id(&unnamed, a), Some(&b"e3"[..]));
        assert_eq!(own_event_id(&prefix, a), None);
        assert_eq!(own_event_id(&message(&[]), a), None);
        // At start-up every publisher counts.
        assert_eq!(own_event_id(&theirs, None), Some(&b"e2"[..]));
    }

    #[test]
    fn reads_from_the_later_of_the_oldest_record_and_the_checkpoint() {
        let t = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        let five = Duration::from_secs(5);
        // A long outage: the checkpoint bounds the scan.
        assert_eq!(since_ms(Micros(1_000_000), Some(t(100_000)), five), 94_000);
        // Records younger than the checkpoint: their own time bounds it.
        assert_eq!(since_ms(Micros(99_000_000), Some(t(100_000)), five), 98_000);
        // No checkpoint yet.
        assert_eq!(since_ms(Micros(50_000_000), None, five), 49_000);
    }
}

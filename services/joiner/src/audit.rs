//! The audit follower: every joiner reads the whole audit topic (all partitions, assigned
//! by hand, no group) from the start of the history window, fills the policy table, and keeps
//! following it. The joiner starts joining only once the history up to the topic's end at
//! start-up is loaded.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use docket_kafka::{ConsumerOptions, KafkaSettings};
use docket_records::{Audit, CodecError, Decoder, Micros};
use docket_telemetry::{Backoff, Shutdown, wait_out};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::watch;

use crate::context::QuietEof;
use crate::error::JoinerError;
use crate::metrics::Metrics;
use crate::table::PolicyTable;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Makes the consumer report reaching a partition's end, which marks it loaded.
const PARTITION_EOF: &str = "enable.partition.eof";
/// Waits for an unreachable registry or broker: the first ceiling, and the largest.
const RETRY_INITIAL: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// The shared table and a flag that turns true once the history is loaded.
#[derive(Clone)]
pub struct AuditView {
    /// The policy table.
    pub table: Arc<RwLock<PolicyTable>>,
    /// True once the history is loaded.
    pub loaded: watch::Receiver<bool>,
}

/// Starts following `topic` until `shutdown`; returns at once with the view the follower
/// fills.
pub fn follow(
    settings: &KafkaSettings,
    topic: &str,
    history: Duration,
    decoder: Decoder<Audit>,
    metrics: Metrics,
    shutdown: Shutdown,
) -> Result<AuditView, JoinerError> {
    let options = ConsumerOptions {
        group_id: format!("{topic}.reader"),
        read_committed: true,
    };
    let mut settings = settings.clone();
    settings
        .properties
        .insert(PARTITION_EOF.to_owned(), "true".to_owned());
    let consumer = docket_kafka::consumer_with_context(&settings, &options, QuietEof)?;
    let ends = assign_from(&consumer, topic, history)?;
    let table = Arc::new(RwLock::new(PolicyTable::default()));
    let (tx, loaded) = watch::channel(ends.is_empty());
    let follower = Follower {
        consumer,
        decoder,
        table: Arc::clone(&table),
        metrics,
        ends,
        loaded: tx,
        shutdown,
    };
    tokio::spawn(follower.run());
    Ok(AuditView { table, loaded })
}

/// Assigns every partition from the first offset inside the history window; returns the
/// partitions that hold records to load, with their end offset at start-up.
fn assign_from(
    consumer: &StreamConsumer<QuietEof>,
    topic: &str,
    history: Duration,
) -> Result<HashMap<i32, i64>, JoinerError> {
    let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(JoinerError::NoPartitions(topic.to_owned()));
    }
    let start = Micros::from(SystemTime::now() - history).as_millis();
    let mut wanted = TopicPartitionList::new();
    for p in &partitions {
        wanted.add_partition_offset(topic, *p, Offset::Offset(start))?;
    }
    let starts = consumer.offsets_for_times(wanted, METADATA_TIMEOUT)?;
    let mut ends = HashMap::new();
    for elem in starts.elements() {
        let (_, high) = consumer.fetch_watermarks(topic, elem.partition(), METADATA_TIMEOUT)?;
        let from = match elem.offset() {
            Offset::Offset(o) => o,
            _ => high,
        };
        if from < high {
            ends.insert(elem.partition(), high);
        }
    }
    consumer.assign(&starts)?;
    Ok(ends)
}

struct Follower {
    consumer: StreamConsumer<QuietEof>,
    decoder: Decoder<Audit>,
    table: Arc<RwLock<PolicyTable>>,
    metrics: Metrics,
    ends: HashMap<i32, i64>,
    loaded: watch::Sender<bool>,
    shutdown: Shutdown,
}

impl Follower {
    async fn run(mut self) {
        let mut backoff = Backoff::new(RETRY_INITIAL, RETRY_MAX);
        while !self.shutdown.requested() {
            let msg = match self.consumer.recv().await {
                Ok(m) => m.detach(),
                Err(KafkaError::PartitionEOF(partition)) => {
                    self.mark_loaded(partition);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "audit topic read failed; retrying");
                    let _ = backoff.wait(None, &self.shutdown).await;
                    continue;
                }
            };
            backoff = Backoff::new(RETRY_INITIAL, RETRY_MAX);
            if let Some(payload) = msg.payload() {
                self.apply(payload, msg.partition(), msg.offset()).await;
            }
            self.note_progress(msg.partition(), msg.offset());
        }
    }

    /// Adds one audit record to the table, waiting out an unreachable registry (a shutdown
    /// during the wait leaves it out: the process is stopping).
    async fn apply(&self, payload: &[u8], partition: i32, offset: i64) {
        let mut backoff = Backoff::new(RETRY_INITIAL, RETRY_MAX);
        let decoded = wait_out(
            "schema registry (loading audit events)",
            &mut backoff,
            &self.shutdown,
            || self.decoder.decode(payload),
            CodecError::is_retryable,
            |_| {},
        )
        .await;
        match decoded {
            Ok(Ok(audit)) => {
                let mut table = self.table.write().expect("table lock");
                table.apply(&audit);
                self.metrics.table_size.set(table.len() as i64);
            }
            Ok(Err(e)) => self.skip(&e, partition, offset),
            Err(_interrupted) => {}
        }
    }

    fn skip(&self, e: &CodecError, partition: i32, offset: i64) {
        self.metrics.audit_undecodable.inc();
        tracing::warn!(error = %e, partition, offset, "undecodable audit record skipped");
    }

    fn note_progress(&mut self, partition: i32, offset: i64) {
        if self
            .ends
            .get(&partition)
            .is_some_and(|end| offset + 1 >= *end)
        {
            self.mark_loaded(partition);
        }
    }

    fn mark_loaded(&mut self, partition: i32) {
        if self.ends.remove(&partition).is_some() && self.ends.is_empty() {
            let _ = self.loaded.send(true);
        }
    }
}

//! The state log: the administrative state as a single-partition compacted Kafka topic of
//! [`GatewayState`] records (key `<kind>/<id>`, a deletion a tombstone), shared by replicas.
//!
//! Reading: one task per replica applies every committed record in log order
//! (`read_committed`) and publishes how far it got. Writing: a replica first takes the
//! writer fence, a transactional producer under one `transactional.id` per topic, whose
//! `init_transactions` aborts and fences any other replica's unfinished write; then it waits
//! until its own view reached the log end, checks the edit against that view and commits it
//! in one transaction. A fenced writer's records are never read, so the log only holds
//! accepted changes and compaction keeps the truth.

use std::sync::Arc;
use std::time::Duration;

use docket_kafka::{ConsumerOptions, KafkaSettings};
use docket_records::{Decoder, Encoder, GatewayState, Registry, RegistryConfig};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use thiserror::Error;
use tokio::sync::watch;

/// How long one step of a write (fencing, catching up, committing) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// The state log could not be read or written.
#[derive(Debug, Error)]
pub enum LogError {
    /// Kafka refused or did not answer.
    #[error("state log {topic}: {what}: {source}")]
    Kafka {
        /// Topic.
        topic: String,
        /// Step that failed.
        what: &'static str,
        /// Error.
        #[source]
        source: KafkaError,
    },
    /// A Kafka client could not be created.
    #[error("state log {topic}: {source}")]
    Client {
        /// Topic.
        topic: String,
        /// Error.
        #[source]
        source: docket_kafka::ClientError,
    },
    /// The registry or the codec failed.
    #[error("state log {topic}: {source}")]
    Codec {
        /// Topic.
        topic: String,
        /// Error.
        #[source]
        source: docket_records::CodecError,
    },
    /// The local view did not reach the log end in time.
    #[error("state log {0}: not caught up within {STEP_TIMEOUT:?}")]
    Behind(String),
}

/// One record read back: offset, key, and the value (`None`: a tombstone).
#[derive(Debug)]
pub struct Entry {
    /// Offset in the partition.
    pub offset: i64,
    /// `<kind>/<id>`.
    pub key: String,
    /// The resource, `None` when deleted.
    pub value: Option<GatewayState>,
}

/// A writer holding the fence: its records become visible at commit.
pub struct Writer {
    producer: FutureProducer,
    topic: String,
}

/// The state log of one replica: its reader's progress and the means to write.
pub struct StateLog {
    topic: String,
    settings: KafkaSettings,
    consumer: Arc<StreamConsumer>,
    encoder: Encoder<GatewayState>,
    decoder: Decoder<GatewayState>,
    /// Offset after the last record applied, or the log end reached.
    position: watch::Sender<i64>,
}

impl std::fmt::Debug for StateLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateLog")
            .field("topic", &self.topic)
            .field("position", &*self.position.borrow())
            .finish_non_exhaustive()
    }
}

impl StateLog {
    /// Subscribes to `topic` from its beginning; [`StateLog::run`] applies what it reads.
    pub fn open(settings: &KafkaSettings, topic: &str) -> Result<Self, LogError> {
        let mut reader_settings = settings.clone();
        reader_settings
            .properties
            .insert("enable.partition.eof".to_owned(), "true".to_owned());
        let options = ConsumerOptions {
            group_id: format!("docket-gateway-state-{}", uuid::Uuid::now_v7().simple()),
            read_committed: true,
        };
        let consumer = docket_kafka::consumer(&reader_settings, &options)
            .map_err(|source| client(topic, source))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)
            .map_err(|e| kafka(topic, "assign", e))?;
        consumer
            .assign(&tpl)
            .map_err(|e| kafka(topic, "assign", e))?;
        let registry = Registry::new(&RegistryConfig::new(settings.schema_registry_url.clone()))
            .map_err(|source| LogError::Codec {
                topic: topic.to_owned(),
                source,
            })?;
        Ok(Self {
            topic: topic.to_owned(),
            settings: settings.clone(),
            consumer: Arc::new(consumer),
            encoder: registry.encoder(topic),
            decoder: registry.decoder(),
            position: watch::channel(0).0,
        })
    }

    /// Reads the log forever, handing each record to `apply` in order, then advancing the
    /// published position. Undecodable records are logged and skipped (the writer encodes
    /// with the same schema, so this is an operator's stray write).
    pub async fn run(self: Arc<Self>, mut apply: impl FnMut(Entry)) {
        loop {
            match self.consumer.recv().await {
                Ok(msg) => {
                    let entry = self.entry(&msg).await;
                    let offset = msg.offset();
                    if let Some(entry) = entry {
                        apply(entry);
                    }
                    self.advance(offset + 1);
                }
                Err(KafkaError::PartitionEOF(_)) => {
                    if let Some(end) = self.reader_position() {
                        self.advance(end);
                    }
                }
                Err(e) => {
                    tracing::warn!(topic = %self.topic, error = %e, "state log unreadable; serving the last applied state");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    async fn entry(&self, msg: &rdkafka::message::BorrowedMessage<'_>) -> Option<Entry> {
        let key = String::from_utf8_lossy(msg.key().unwrap_or_default()).into_owned();
        let value = match msg.payload() {
            None => None,
            Some(bytes) => match self.decoder.decode(bytes).await {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::error!(topic = %self.topic, offset = msg.offset(), error = %e, "state record skipped: not a gateway state record");
                    return None;
                }
            },
        };
        Some(Entry {
            offset: msg.offset(),
            key,
            value,
        })
    }

    fn reader_position(&self) -> Option<i64> {
        let tpl = self.consumer.position().ok()?;
        let elem = tpl.find_partition(&self.topic, 0)?;
        match elem.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        }
    }

    fn advance(&self, to: i64) {
        self.position.send_if_modified(|p| {
            let moved = to > *p;
            *p = (*p).max(to);
            moved
        });
    }

    /// Waits until the local view includes every record below `offset`.
    pub async fn applied(&self, offset: i64) -> Result<(), LogError> {
        let mut rx = self.position.subscribe();
        tokio::time::timeout(STEP_TIMEOUT, rx.wait_for(|p| *p >= offset))
            .await
            .map(|_| ())
            .map_err(|_| LogError::Behind(self.topic.clone()))
    }

    /// Waits until the local view reached the log's current end.
    pub async fn catch_up(&self) -> Result<(), LogError> {
        let consumer = Arc::clone(&self.consumer);
        let topic = self.topic.clone();
        let (_, high) =
            tokio::task::spawn_blocking(move || consumer.fetch_watermarks(&topic, 0, STEP_TIMEOUT))
                .await
                .expect("watermark lookup does not panic")
                .map_err(|e| kafka(&self.topic, "reading the log end", e))?;
        self.applied(high).await
    }

    /// Takes the writer fence (aborting and fencing any other replica's unfinished write)
    /// and waits until the local view reached the log end, so a check made now sees every
    /// accepted change.
    pub async fn fence(&self) -> Result<Writer, LogError> {
        let id = format!("docket-gateway-state-writer:{}", self.topic);
        let producer: FutureProducer = docket_kafka::transactional_producer(&self.settings, &id)
            .map_err(|source| client(&self.topic, source))?;
        let p = producer.clone();
        tokio::task::spawn_blocking(move || p.init_transactions(STEP_TIMEOUT))
            .await
            .expect("init_transactions does not panic")
            .map_err(|e| kafka(&self.topic, "taking the writer fence", e))?;
        self.catch_up().await?;
        Ok(Writer {
            producer,
            topic: self.topic.clone(),
        })
    }

    /// Commits `changes` in one transaction; the offset of the last one.
    pub async fn write(
        &self,
        writer: Writer,
        changes: Vec<(String, Option<GatewayState>)>,
    ) -> Result<i64, LogError> {
        let mut frames = Vec::with_capacity(changes.len());
        for (key, value) in changes {
            let bytes = match value {
                Some(v) => {
                    Some(
                        self.encoder
                            .encode(&v)
                            .await
                            .map_err(|source| LogError::Codec {
                                topic: self.topic.clone(),
                                source,
                            })?,
                    )
                }
                None => None,
            };
            frames.push((key, bytes));
        }
        writer.commit(frames).await
    }
}

impl Writer {
    async fn commit(self, frames: Vec<(String, Option<Vec<u8>>)>) -> Result<i64, LogError> {
        self.producer
            .begin_transaction()
            .map_err(|e| kafka(&self.topic, "beginning the write", e))?;
        let mut last = -1;
        for (key, bytes) in &frames {
            let mut record = FutureRecord::to(&self.topic).key(key).partition(0);
            if let Some(b) = bytes {
                record = record.payload(b);
            }
            let delivered = self
                .producer
                .send(record, STEP_TIMEOUT)
                .await
                .map_err(|(e, _)| kafka(&self.topic, "writing", e))?;
            last = delivered.offset;
        }
        let p = self.producer.clone();
        tokio::task::spawn_blocking(move || p.commit_transaction(STEP_TIMEOUT))
            .await
            .expect("commit does not panic")
            .map_err(|e| kafka(&self.topic, "committing", e))?;
        Ok(last)
    }
}

impl LogError {
    /// Whether the write itself failed after the fence was taken (another replica's fence
    /// displaced it, or the broker went away mid-write): trying again may succeed.
    pub fn is_interrupted_write(&self) -> bool {
        matches!(self, LogError::Kafka { what, .. } if WRITE_STEPS.contains(what))
    }
}

const WRITE_STEPS: [&str; 3] = ["beginning the write", "writing", "committing"];

fn kafka(topic: &str, what: &'static str, source: KafkaError) -> LogError {
    LogError::Kafka {
        topic: topic.to_owned(),
        what,
        source,
    }
}

fn client(topic: &str, source: docket_kafka::ClientError) -> LogError {
    LogError::Client {
        topic: topic.to_owned(),
        source,
    }
}

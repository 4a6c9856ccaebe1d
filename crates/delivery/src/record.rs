//! The exported record: a decoded decision or audit event with its `event_id`, record time
//! and Kafka provenance (topic, partition, offset), as every sink receives it.

use std::sync::Arc;

use docket_kafka::TopicPartition;
use docket_records::{Audit, CodecError, Decoder, EnrichedDecision, Micros, Registry};
use serde::Serialize;

/// Where a record was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// Kafka topic, shared with its partition's other records.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

impl Source {
    /// The record at `offset` of `tp`.
    pub fn at(tp: &TopicPartition, offset: i64) -> Self {
        Self {
            topic: tp.topic.clone(),
            partition: tp.partition,
            offset,
        }
    }

    /// Its topic and partition.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(Arc::clone(&self.topic), self.partition)
    }
}

/// The stream a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// An enriched decision.
    Decision,
    /// An audit event.
    Audit,
}

impl Stream {
    /// The stream's name in keys and exported records.
    pub fn name(self) -> &'static str {
        match self {
            Self::Decision => "decisions",
            Self::Audit => "audit",
        }
    }
}

/// The record itself, every field.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Body {
    /// An enriched decision.
    Decision(Box<EnrichedDecision>),
    /// An audit event.
    Audit(Box<Audit>),
}

/// One record as exported: identity, time and provenance first, then the record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exported {
    /// The record's unique id (deduplication key downstream).
    pub event_id: String,
    /// Which stream.
    pub stream: Stream,
    /// Record time (microseconds since the epoch).
    pub time: Micros,
    /// Kafka provenance.
    pub source: Source,
    /// Every field of the record.
    pub record: Body,
}

impl Exported {
    /// `record` read at `source`, its identity, stream and time taken from the record.
    pub fn new(record: Body, source: Source) -> Self {
        let (event_id, time, stream) = match &record {
            Body::Decision(d) => (
                d.decision.event_id.clone(),
                d.decision.time,
                Stream::Decision,
            ),
            Body::Audit(a) => (a.event_id.clone(), a.time, Stream::Audit),
        };
        Self {
            event_id,
            stream,
            time,
            source,
            record,
        }
    }
}

/// Decoders for the streams a sink takes, chosen by topic.
pub struct Decoders {
    decisions_topic: String,
    decisions: Decoder<EnrichedDecision>,
    audit: Decoder<Audit>,
}

impl Decoders {
    /// Decoders reading through `registry`; records of `decisions_topic` are enriched
    /// decisions, every other topic carries audit events.
    pub fn new(registry: &Registry, decisions_topic: &str) -> Self {
        Self {
            decisions_topic: decisions_topic.to_owned(),
            decisions: registry.decoder(),
            audit: registry.decoder(),
        }
    }

    /// Decodes the payload read at `source` without waiting: `None` when its schema id was
    /// not seen yet ([`Self::decode`] then asks the registry).
    pub fn decode_cached(
        &self,
        payload: &[u8],
        source: Source,
    ) -> Option<Result<Exported, CodecError>> {
        let record = if *source.topic == *self.decisions_topic {
            match self.decisions.decode_cached(payload)? {
                Ok(d) => Body::Decision(Box::new(d)),
                Err(e) => return Some(Err(e)),
            }
        } else {
            match self.audit.decode_cached(payload)? {
                Ok(a) => Body::Audit(Box::new(a)),
                Err(e) => return Some(Err(e)),
            }
        };
        Some(Ok(Exported::new(record, source)))
    }

    /// Decodes the payload read at `source`.
    pub async fn decode(&self, payload: &[u8], source: Source) -> Result<Exported, CodecError> {
        let record = if *source.topic == *self.decisions_topic {
            Body::Decision(Box::new(self.decisions.decode(payload).await?))
        } else {
            Body::Audit(Box::new(self.audit.decode(payload).await?))
        };
        Ok(Exported::new(record, source))
    }
}

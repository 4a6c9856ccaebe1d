//! What one round writes in its transaction: records for the enriched, pending and
//! dead-letter topics, and the next offset of every input partition it consumed.

use std::collections::BTreeMap;
use std::sync::Arc;

use docket_kafka::{TopicPartition, header};
use rdkafka::message::OwnedHeaders;
use rdkafka::{Message, Offset, TopicPartitionList};

/// Header on pending records: when to stop waiting, microseconds since the epoch.
pub const DEADLINE_HEADER: &str = "docket.deadline.us";

/// A record to produce.
#[derive(Debug)]
pub struct Outgoing {
    /// Destination topic (shared by every record to it).
    pub topic: Arc<str>,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub payload: Vec<u8>,
    /// Headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Outgoing {
    /// The headers in Kafka's form.
    pub fn kafka_headers(&self) -> OwnedHeaders {
        header::owned(&self.headers)
    }
}

/// Everything one transaction carries.
#[derive(Debug, Default)]
pub struct RoundOutput {
    /// Records to produce.
    pub records: Vec<Outgoing>,
    /// Next offset per consumed topic and partition.
    offsets: BTreeMap<String, BTreeMap<i32, i64>>,
}

impl RoundOutput {
    /// Notes that `msg` is fully handled by this round.
    pub fn consumed(&mut self, msg: &impl Message) {
        self.consume_to(msg.topic(), msg.partition(), msg.offset() + 1);
    }

    /// Notes that (`topic`, `partition`) may be committed up to `next`.
    pub fn consume_to(&mut self, topic: &str, partition: i32, next: i64) {
        let partitions = match self.offsets.get_mut(topic) {
            Some(partitions) => partitions,
            None => self.offsets.entry(topic.to_owned()).or_default(),
        };
        partitions.insert(partition, next);
    }

    /// Adds a dead-letter record for `payload` read at `offset` of `source`.
    pub fn dead_letter(
        &mut self,
        dlq: &Arc<str>,
        (source, offset): (&TopicPartition, i64),
        key: Option<Vec<u8>>,
        payload: Vec<u8>,
        reason: &str,
    ) {
        self.records.push(Outgoing {
            topic: Arc::clone(dlq),
            key,
            payload,
            headers: header::dead_letter(reason, source, offset).to_vec(),
        });
    }

    /// Whether the round has nothing to write or commit.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.offsets.is_empty()
    }

    /// The offsets as a Kafka partition list.
    pub fn offset_list(&self) -> Result<TopicPartitionList, rdkafka::error::KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for (topic, partitions) in &self.offsets {
            for (partition, next) in partitions {
                tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
            }
        }
        Ok(tpl)
    }
}

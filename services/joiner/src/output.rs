//! What one round writes in its transaction: records for the enriched, pending and
//! dead-letter topics, and the next offset of every input partition it consumed.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::ops::Range;
use std::sync::Arc;

use docket_kafka::{TopicPartition, header};
use rdkafka::message::OwnedHeaders;
use rdkafka::{Message, Offset, TopicPartitionList};

/// Header on pending records: when to stop waiting, microseconds since the epoch.
pub const DEADLINE_HEADER: &str = "docket.deadline.us";

/// A record to produce: where its key and value lie in its round's bytes.
#[derive(Debug)]
struct Outgoing {
    /// Destination topic (shared by every record to it).
    topic: Arc<str>,
    key: Option<Range<usize>>,
    payload: Range<usize>,
    headers: Vec<(&'static str, String)>,
}

/// A record of a round, as the producer takes it.
pub struct Record<'a> {
    /// Destination topic.
    pub topic: &'a str,
    /// Key.
    pub key: Option<&'a [u8]>,
    /// Value.
    pub payload: &'a [u8],
    /// Headers.
    pub headers: &'a [(&'static str, String)],
}

impl Record<'_> {
    /// The headers in Kafka's form.
    pub fn kafka_headers(&self) -> OwnedHeaders {
        header::owned(self.headers)
    }
}

/// Everything one transaction carries. The records' keys and values lie one after another in
/// one buffer, which [`RoundOutput::clear`] keeps for the next round: a round allocates
/// nothing per record to hold them.
#[derive(Debug, Default)]
pub struct RoundOutput {
    records: Vec<Outgoing>,
    bytes: Vec<u8>,
    /// Next offset per consumed topic and partition.
    offsets: BTreeMap<String, BTreeMap<i32, i64>>,
    /// Records already handed to the producer and forgotten.
    sent: usize,
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

    /// Adds a record to `topic` whose value `write` appends to the round's bytes; if `write`
    /// fails, nothing is added.
    pub fn push_with<E>(
        &mut self,
        topic: &Arc<str>,
        key: Option<&[u8]>,
        headers: Vec<(&'static str, String)>,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.bytes.len();
        let key = key.map(|k| self.put(k));
        let value = self.bytes.len();
        if let Err(e) = write(&mut self.bytes) {
            self.bytes.truncate(start);
            return Err(e);
        }
        self.records.push(Outgoing {
            topic: Arc::clone(topic),
            key,
            payload: value..self.bytes.len(),
            headers,
        });
        Ok(())
    }

    /// Adds a record to `topic` holding `payload`.
    pub fn push(
        &mut self,
        topic: &Arc<str>,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: Vec<(&'static str, String)>,
    ) {
        let written: Result<(), Infallible> = self.push_with(topic, key, headers, |bytes| {
            bytes.extend_from_slice(payload);
            Ok(())
        });
        let Ok(()) = written;
    }

    fn put(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    /// Adds a dead-letter record for `payload` read at `offset` of `source`.
    pub fn dead_letter(
        &mut self,
        dlq: &Arc<str>,
        (source, offset): (&TopicPartition, i64),
        key: Option<&[u8]>,
        payload: &[u8],
        reason: &str,
    ) {
        let headers = header::dead_letter(reason, source, offset).to_vec();
        self.push(dlq, key, payload, headers);
    }

    /// The records, in the order they were added.
    pub fn records(&self) -> impl ExactSizeIterator<Item = Record<'_>> {
        self.records.iter().map(|r| Record {
            topic: &r.topic,
            key: r.key.clone().map(|k| &self.bytes[k]),
            payload: &self.bytes[r.payload.clone()],
            headers: &r.headers,
        })
    }

    /// Forgets the records (handed to the producer), keeping the offsets they consumed.
    pub fn clear_records(&mut self) {
        self.sent += self.records.len();
        self.records.clear();
        self.bytes.clear();
    }

    /// Records added since the round began, handed over or not.
    pub fn count(&self) -> usize {
        self.sent + self.records.len()
    }

    /// Empties the round, keeping its buffers' capacity for the next one.
    pub fn clear(&mut self) {
        self.records.clear();
        self.bytes.clear();
        self.offsets.clear();
        self.sent = 0;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_their_own_key_value_and_headers_in_the_shared_buffer() {
        let (enriched, dlq): (Arc<str>, Arc<str>) = ("enriched".into(), "dlq".into());
        let mut out = RoundOutput::default();
        out.push(&enriched, Some(b"k1"), b"first", Vec::new());
        let refused = out.push_with(&enriched, Some(b"lost"), Vec::new(), |bytes| {
            bytes.extend_from_slice(b"half-written");
            Err("encoding failed")
        });
        assert_eq!(refused, Err("encoding failed"));
        out.push(&dlq, None, &[0xff; 100], vec![("h", "v".to_owned())]);
        let records: Vec<_> = out
            .records()
            .map(|r| (r.topic, r.key, r.payload, r.headers.len()))
            .collect();
        assert_eq!(
            records,
            [
                ("enriched", Some(&b"k1"[..]), &b"first"[..], 0),
                ("dlq", None, &[0xff; 100][..], 1),
            ],
            "a failed write leaves no record and no bytes behind"
        );
        assert_eq!(out.bytes.len(), 2 + 5 + 100);
    }

    #[test]
    fn a_cleared_round_keeps_its_buffers() {
        let topic: Arc<str> = "t".into();
        let mut out = RoundOutput::default();
        out.push(&topic, None, &[1; 4096], Vec::new());
        out.consume_to("in", 0, 10);
        let capacity = out.bytes.capacity();
        out.clear();
        assert!(out.is_empty() && out.records().len() == 0);
        assert_eq!(out.bytes.capacity(), capacity);
    }
}

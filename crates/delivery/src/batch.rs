//! Batches: the encoded records of one partition, in offset order, closed by count, bytes
//! or the record-time window, never by the arrival time of the records.

use docket_records::Micros;

use crate::config::BatchLimits;
use crate::record::Stream;

/// One encoded record in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its Kafka offset.
    pub offset: i64,
    /// Its record time.
    pub time: Micros,
    /// Its event id.
    pub event_id: String,
    /// Its encoded bytes (as the sink's `encode` returned them).
    pub bytes: Vec<u8>,
}

/// Consecutive records of one partition, sent and acknowledged as a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Kafka topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The stream of that topic.
    pub stream: Stream,
    items: Vec<Item>,
    bytes: usize,
}

impl Batch {
    /// An empty batch of `topic`/`partition`.
    pub fn new(topic: &str, partition: i32, stream: Stream) -> Self {
        Self {
            topic: topic.to_owned(),
            partition,
            stream,
            items: Vec::new(),
            bytes: 0,
        }
    }

    /// Its topic and partition.
    pub fn topic_partition(&self) -> docket_kafka::TopicPartition {
        docket_kafka::TopicPartition::new(self.topic.as_str(), self.partition)
    }

    /// The records, in offset order.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Encoded bytes of all records.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Offset of the first record (the batch's identity).
    pub fn first_offset(&self) -> Option<i64> {
        self.items.first().map(|i| i.offset)
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> Option<i64> {
        self.items.last().map(|i| i.offset)
    }

    /// Record time of the first record.
    pub fn first_time(&self) -> Option<Micros> {
        self.items.first().map(|i| i.time)
    }

    /// Whether `item` may join without crossing a limit.
    pub fn fits(&self, item: &Item, limits: &BatchLimits) -> bool {
        let Some(first) = self.items.first() else {
            return true;
        };
        self.items.len() < limits.max_records
            && self.bytes + item.bytes.len() <= limits.max_bytes
            && window_of(first.time, limits) == window_of(item.time, limits)
    }

    /// Appends `item` (the caller checked [`Batch::fits`]).
    pub fn push(&mut self, item: Item) {
        self.bytes += item.bytes.len();
        self.items.push(item);
    }

    /// Drops the records up to and including `offset`.
    pub fn trim_through(&mut self, offset: i64) {
        self.items.retain(|i| i.offset > offset);
        self.bytes = self.items.iter().map(|i| i.bytes.len()).sum();
    }

    /// Removes the records at `indexes` and returns them.
    pub fn remove(&mut self, indexes: &[usize]) -> Vec<Item> {
        let (removed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.items)
            .into_iter()
            .enumerate()
            .partition(|(i, _)| indexes.contains(i));
        self.items = kept.into_iter().map(|(_, item)| item).collect();
        self.bytes = self.items.iter().map(|i| i.bytes.len()).sum();
        removed.into_iter().map(|(_, item)| item).collect()
    }
}

/// The aligned record-time window `time` falls into.
fn window_of(time: Micros, limits: &BatchLimits) -> i64 {
    let width = i64::try_from(limits.window.as_micros()).unwrap_or(i64::MAX);
    time.0.div_euclid(width)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const LIMITS: BatchLimits = BatchLimits {
        max_records: 3,
        max_bytes: 10,
        window: Duration::from_secs(60),
        idle_flush: Duration::from_secs(1),
    };

    fn item(offset: i64, secs: i64, len: usize) -> Item {
        Item {
            offset,
            time: Micros(secs * 1_000_000),
            event_id: format!("e{offset}"),
            bytes: vec![b'x'; len],
        }
    }

    fn filled(items: &[Item]) -> Batch {
        let mut b = Batch::new("t", 0, Stream::Decision);
        for i in items {
            b.push(i.clone());
        }
        b
    }

    #[test]
    fn closes_on_count_bytes_and_window() {
        let b = filled(&[item(0, 0, 1), item(1, 1, 1), item(2, 2, 1)]);
        assert!(!b.fits(&item(3, 3, 1), &LIMITS), "count");
        let b = filled(&[item(0, 0, 6)]);
        assert!(!b.fits(&item(1, 0, 5), &LIMITS), "bytes");
        assert!(b.fits(&item(1, 59, 4), &LIMITS), "same window");
        assert!(!b.fits(&item(1, 60, 1), &LIMITS), "next window");
        assert!(!b.fits(&item(1, -1, 1), &LIMITS), "earlier window");
    }

    #[test]
    fn an_oversized_record_still_starts_a_batch() {
        assert!(Batch::new("t", 0, Stream::Audit).fits(&item(0, 0, 100), &LIMITS));
    }

    #[test]
    fn trimming_and_removing_keep_the_byte_count() {
        let mut b = filled(&[item(5, 0, 1), item(6, 0, 2), item(7, 0, 3)]);
        b.trim_through(5);
        assert_eq!((b.first_offset(), b.bytes()), (Some(6), 5));
        let removed = b.remove(&[0]);
        assert_eq!(removed[0].offset, 6);
        assert_eq!(
            (b.first_offset(), b.last_offset(), b.bytes()),
            (Some(7), Some(7), 3)
        );
    }
}

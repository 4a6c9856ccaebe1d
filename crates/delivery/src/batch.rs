//! Batches: the encoded records of one partition, in offset order, closed by count, bytes
//! or the record-time window, never by the arrival time of the records.

use docket_records::Micros;

use crate::config::BatchLimits;
use crate::record::Stream;

/// Most bytes a new batch reserves up front; a larger batch grows past it by doubling.
pub const RESERVE_MAX: usize = 16 * 1024 * 1024;

/// One encoded record on its own: what a batch is given, and what it gives back when a
/// record is removed (to be dead-lettered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its Kafka offset.
    pub offset: i64,
    /// Its record time.
    pub time: Micros,
    /// Its encoded bytes (as the sink's `encode` returned them).
    pub bytes: Vec<u8>,
}

impl Item {
    /// The record, borrowed.
    pub fn record(&self) -> Record<'_> {
        Record {
            offset: self.offset,
            time: self.time,
            bytes: &self.bytes,
        }
    }
}

/// One record of a batch (or on its way into one), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Its Kafka offset.
    pub offset: i64,
    /// Its record time.
    pub time: Micros,
    /// Its encoded bytes.
    pub bytes: &'a [u8],
}

/// Where a record's bytes end in its batch's data, and its offset and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    offset: i64,
    time: Micros,
    end: usize,
}

/// Consecutive records of one partition, sent and acknowledged as a unit. Their encoded
/// bytes are held one after another in one buffer: no allocation per record, and a sink
/// whose body is the records' concatenation (an NDJSON object) reads it without a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Kafka topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The stream of that topic.
    pub stream: Stream,
    slots: Vec<Slot>,
    data: Vec<u8>,
}

impl Batch {
    /// An empty batch of `topic`/`partition`.
    pub fn new(topic: &str, partition: i32, stream: Stream) -> Self {
        Self {
            topic: topic.to_owned(),
            partition,
            stream,
            slots: Vec::new(),
            data: Vec::new(),
        }
    }

    /// An empty batch whose buffer has room for `limits` (at most [`RESERVE_MAX`]), a kept one
    /// when one is large enough ([`crate::buffers`]): it never grows by copying.
    pub fn for_limits(topic: &str, partition: i32, stream: Stream, limits: &BatchLimits) -> Self {
        let mut batch = Self::new(topic, partition, stream);
        batch.data = crate::buffers::take(limits.max_bytes.min(RESERVE_MAX));
        batch
    }

    /// Its topic and partition.
    pub fn topic_partition(&self) -> docket_kafka::TopicPartition {
        docket_kafka::TopicPartition::new(self.topic.as_str(), self.partition)
    }

    /// The record at `index` (in offset order). Panics past the end, as indexing does.
    pub fn item(&self, index: usize) -> Record<'_> {
        let slot = self.slots[index];
        Record {
            offset: slot.offset,
            time: slot.time,
            bytes: &self.data[self.start(index)..slot.end],
        }
    }

    /// Where the bytes of the record at `index` start in the data (the previous one's end).
    fn start(&self, index: usize) -> usize {
        index.checked_sub(1).map_or(0, |i| self.slots[i].end)
    }

    /// The records, in offset order.
    pub fn items(&self) -> impl ExactSizeIterator<Item = Record<'_>> + '_ {
        (0..self.slots.len()).map(|i| self.item(i))
    }

    /// Every record's encoded bytes, one after another.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The encoded bytes of the records from `index` on, one after another.
    pub fn data_from(&self, index: usize) -> &[u8] {
        &self.data[self.start(index)..]
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Encoded bytes of all records.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Offset of the first record (the batch's identity).
    pub fn first_offset(&self) -> Option<i64> {
        self.slots.first().map(|s| s.offset)
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> Option<i64> {
        self.slots.last().map(|s| s.offset)
    }

    /// Record time of the first record.
    pub fn first_time(&self) -> Option<Micros> {
        self.slots.first().map(|s| s.time)
    }

    /// Whether `record` may join without crossing a limit.
    pub fn fits(&self, record: &Record<'_>, limits: &BatchLimits) -> bool {
        let Some(first) = self.slots.first() else {
            return true;
        };
        self.slots.len() < limits.max_records
            && self.data.len() + record.bytes.len() <= limits.max_bytes
            && window_of(first.time, limits) == window_of(record.time, limits)
    }

    /// Appends a copy of `record` (the caller checked [`Batch::fits`]).
    pub fn push(&mut self, record: Record<'_>) {
        self.data.extend_from_slice(record.bytes);
        self.slots.push(Slot {
            offset: record.offset,
            time: record.time,
            end: self.data.len(),
        });
    }

    /// Drops the records up to and including `offset`.
    pub fn trim_through(&mut self, offset: i64) {
        let dropped = self.slots.partition_point(|s| s.offset <= offset);
        let cut = self.start(dropped);
        self.data.drain(..cut);
        self.slots.drain(..dropped);
        for slot in &mut self.slots {
            slot.end -= cut;
        }
    }

    /// Removes the records at `indexes` and returns them.
    pub fn remove(&mut self, indexes: &[usize]) -> Vec<Item> {
        let old = std::mem::replace(self, Self::new(&self.topic, self.partition, self.stream));
        let mut removed = Vec::with_capacity(indexes.len());
        for (i, r) in old.items().enumerate() {
            if indexes.contains(&i) {
                removed.push(Item {
                    offset: r.offset,
                    time: r.time,
                    bytes: r.bytes.to_vec(),
                });
            } else {
                self.push(r);
            }
        }
        removed
    }
}

impl Drop for Batch {
    /// Its buffer is kept for a later batch (see [`crate::buffers`]).
    fn drop(&mut self) {
        crate::buffers::give(std::mem::take(&mut self.data));
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
            bytes: vec![b'x'; len],
        }
    }

    fn filled(items: &[Item]) -> Batch {
        let mut b = Batch::new("t", 0, Stream::Decision);
        for i in items {
            b.push(i.record());
        }
        b
    }

    #[test]
    fn closes_on_count_bytes_and_window() {
        let b = filled(&[item(0, 0, 1), item(1, 1, 1), item(2, 2, 1)]);
        assert!(!b.fits(&item(3, 3, 1).record(), &LIMITS), "count");
        let b = filled(&[item(0, 0, 6)]);
        assert!(!b.fits(&item(1, 0, 5).record(), &LIMITS), "bytes");
        assert!(b.fits(&item(1, 59, 4).record(), &LIMITS), "same window");
        assert!(!b.fits(&item(1, 60, 1).record(), &LIMITS), "next window");
        assert!(!b.fits(&item(1, -1, 1).record(), &LIMITS), "earlier window");
    }

    #[test]
    fn the_data_is_the_records_one_after_another() {
        let mut b = Batch::new("t", 0, Stream::Audit);
        for (offset, text) in [(1, "ab"), (2, ""), (3, "cde")] {
            b.push(Record {
                offset,
                time: Micros(0),
                bytes: text.as_bytes(),
            });
        }
        assert_eq!(
            (b.data(), b.data_from(1), b.data_from(2)),
            (&b"abcde"[..], &b"cde"[..], &b"cde"[..])
        );
        let records: Vec<(i64, &[u8])> = b.items().map(|r| (r.offset, r.bytes)).collect();
        assert_eq!(records, [(1, &b"ab"[..]), (2, b""), (3, b"cde")]);
        b.trim_through(1);
        assert_eq!((b.data(), b.item(1).bytes), (&b"cde"[..], &b"cde"[..]));
        b.remove(&[0]);
        assert_eq!((b.len(), b.data(), b.item(0).offset), (1, &b"cde"[..], 3));
    }

    #[test]
    fn an_oversized_record_still_starts_a_batch() {
        assert!(Batch::new("t", 0, Stream::Audit).fits(&item(0, 0, 100).record(), &LIMITS));
    }

    #[test]
    fn trimming_and_removing_keep_the_byte_count() {
        let mut b = filled(&[item(5, 0, 1), item(6, 0, 2), item(7, 0, 3)]);
        b.trim_through(5);
        assert_eq!((b.first_offset(), b.bytes()), (Some(6), 5));
        assert_eq!((b.item(0).bytes.len(), b.item(1).bytes.len()), (2, 3));
        let removed = b.remove(&[0]);
        assert_eq!((removed[0].offset, removed[0].bytes.len()), (6, 2));
        assert_eq!(
            (b.first_offset(), b.last_offset(), b.bytes()),
            (Some(7), Some(7), 3)
        );
    }
}

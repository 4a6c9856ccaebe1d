//! One owned partition's bookkeeping, free of Kafka and of tasks: the open batch, the queue
//! of closed ones, the one in flight, trimming on acceptance, and the offset that may be
//! committed (the first record not yet accepted). `H` is whatever the engine keeps for the
//! batch in flight (its task handle); the tests use `()`.

use std::collections::VecDeque;

use docket_kafka::TopicPartition;

use crate::batch::{Batch, Record};
use crate::config::BatchLimits;
use crate::record::Stream;

/// One owned partition's work.
pub struct Partition<H> {
    tp: TopicPartition,
    /// Which ownership of the partition this is (a revoked and reassigned partition is new).
    pub generation: u64,
    stream: Stream,
    open: Option<Batch>,
    queued: VecDeque<Batch>,
    in_flight: Option<(i64, H)>,
    /// The offset after the last record handled (batched, skipped or dead-lettered).
    next_offset: i64,
    /// Records up to this offset are already at the destination (an earlier run wrote them).
    skip_through: i64,
    committed: i64,
}

impl<H> Partition<H> {
    /// A partition of `stream` whose first record is at `offset`.
    pub fn new(tp: TopicPartition, generation: u64, stream: Stream, offset: i64) -> Self {
        Self {
            tp,
            generation,
            stream,
            open: None,
            queued: VecDeque::new(),
            in_flight: None,
            next_offset: offset,
            skip_through: -1,
            committed: offset,
        }
    }

    /// Whether the record at `offset` must be handled (it is not already at the destination).
    pub fn wants(&self, offset: i64) -> bool {
        offset > self.skip_through
    }

    /// The record at `offset` is handled (batched, skipped or dead-lettered).
    pub fn handled(&mut self, offset: i64) {
        self.next_offset = offset + 1;
    }

    /// Adds `record`, closing the open batch first when it does not fit and afterwards when
    /// it is full.
    pub fn add(&mut self, record: Record<'_>, limits: &BatchLimits) {
        if self.open.as_ref().is_some_and(|b| !b.fits(&record, limits)) {
            self.queued.extend(self.open.take());
        }
        let (tp, stream) = (&self.tp, self.stream);
        let batch = self
            .open
            .get_or_insert_with(|| Batch::for_limits(&tp.topic, tp.partition, stream, limits));
        batch.push(record);
        if batch.len() >= limits.max_records || batch.bytes() >= limits.max_bytes {
            self.queued.extend(self.open.take());
        }
    }

    /// Bytes in the open batch.
    pub fn open_bytes(&self) -> usize {
        self.open.as_ref().map_or(0, Batch::bytes)
    }

    /// Closes the open batch (the consumer is idle); whether there was one.
    pub fn close_open(&mut self) -> bool {
        let closed = self.open.take();
        let any = closed.is_some();
        self.queued.extend(closed);
        any
    }

    /// The next batch to send, unless one is in flight; the caller then calls [`Self::sending`].
    pub fn next_to_send(&mut self) -> Option<Batch> {
        if self.in_flight.is_some() {
            return None;
        }
        self.queued.pop_front()
    }

    /// The batch just taken by [`Self::next_to_send`], whose first offset is `first`, is in
    /// flight under `handle` (the batch itself moved into its send: no copy is kept).
    pub fn sending(&mut self, first: Option<i64>, handle: H) {
        let first = first.unwrap_or(self.next_offset);
        self.in_flight = Some((first, handle));
    }

    /// Whether a batch is in flight.
    pub fn is_sending(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The batch in flight was accepted through `through`: what is held up to there is
    /// dropped (an earlier run wrote it). Returns the bytes released that way.
    pub fn accepted(&mut self, through: i64) -> usize {
        self.in_flight = None;
        if through <= self.skip_through {
            return 0;
        }
        self.skip_through = through;
        let before = self.held_bytes();
        for b in self.queued.iter_mut().chain(self.open.iter_mut()) {
            b.trim_through(through);
        }
        self.queued.retain(|b| !b.is_empty());
        if self.open.as_ref().is_some_and(Batch::is_empty) {
            self.open = None;
        }
        before - self.held_bytes()
    }

    /// Drops every batch not yet sent (shutdown); the in-flight one stays. Nothing from the
    /// first dropped record on may be committed: a restart reads it again.
    pub fn abandon_unsent(&mut self) {
        let first_unsent = self
            .queued
            .front()
            .or(self.open.as_ref())
            .and_then(Batch::first_offset);
        if let Some(first) = first_unsent {
            self.next_offset = self.next_offset.min(first);
        }
        self.queued.clear();
        self.open = None;
    }

    /// The in-flight handle, taken (revocation, shutdown).
    pub fn take_in_flight(&mut self) -> Option<H> {
        self.in_flight.take().map(|(_, h)| h)
    }

    /// The first offset not yet accepted: everything before it may be committed.
    pub fn committable(&self) -> i64 {
        self.in_flight
            .as_ref()
            .map(|(first, _)| *first)
            .or_else(|| self.queued.front().and_then(Batch::first_offset))
            .or_else(|| self.open.as_ref().and_then(Batch::first_offset))
            .unwrap_or(self.next_offset)
    }

    /// The offset to commit now, if it moved past the last one handed over for commit.
    pub fn to_commit(&self) -> Option<i64> {
        let next = self.committable();
        (next > self.committed).then_some(next)
    }

    /// `next` was handed over for commit (the engine commits all partitions together).
    pub fn committed(&mut self, next: i64) {
        self.committed = next;
    }

    /// The last offset handed over for commit.
    pub fn last_committed(&self) -> i64 {
        self.committed
    }

    /// Bytes held in batches not yet sent.
    pub fn held_bytes(&self) -> usize {
        self.queued.iter().map(Batch::bytes).sum::<usize>()
            + self.open.as_ref().map_or(0, Batch::bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use docket_records::Micros;

    use super::*;
    use crate::batch::Item;

    const LIMITS: BatchLimits = BatchLimits {
        max_records: 2,
        max_bytes: 100,
        window: Duration::from_secs(60),
        idle_flush: Duration::from_secs(1),
    };

    fn item(offset: i64) -> Item {
        Item {
            offset,
            time: Micros(0),
            bytes: vec![b'x'; 10],
        }
    }

    fn partition_with(offsets: std::ops::Range<i64>) -> Partition<()> {
        let mut p = Partition::new(
            TopicPartition::new("t", 0),
            1,
            Stream::Decision,
            offsets.start,
        );
        for o in offsets {
            p.add(item(o).record(), &LIMITS);
            p.handled(o);
        }
        p
    }

    #[test]
    fn nothing_is_committable_past_the_first_unaccepted_record() {
        let mut p = partition_with(10..15);
        assert_eq!(p.to_commit(), None, "offset 10 is held");
        let batch = p.next_to_send().unwrap();
        assert_eq!((batch.first_offset(), batch.len()), (Some(10), 2));
        p.sending(batch.first_offset(), ());
        assert!(p.next_to_send().is_none(), "one batch in flight at a time");
        assert_eq!(p.committable(), 10);
        p.accepted(11);
        assert_eq!(p.to_commit(), Some(12), "up to the next queued batch");
        p.committed(12);
        assert_eq!(p.to_commit(), None);
    }

    #[test]
    fn acceptance_beyond_the_batch_trims_what_an_earlier_run_wrote() {
        let mut p = partition_with(0..5);
        let batch = p.next_to_send().unwrap();
        p.sending(batch.first_offset(), ());
        let held = p.held_bytes();
        let released = p.accepted(3);
        assert_eq!(released, 20, "offsets 2 and 3 dropped from the queue");
        assert_eq!(p.held_bytes(), held - 20);
        assert!(!p.wants(3) && p.wants(4));
        assert_eq!(p.committable(), 4);
    }

    #[test]
    fn an_idle_partition_closes_its_open_batch() {
        let mut p = partition_with(0..3);
        assert!(p.close_open());
        assert!(!p.close_open());
        assert_eq!(p.held_bytes(), 30);
    }

    #[test]
    fn records_abandoned_at_shutdown_are_never_committed() {
        let mut p = partition_with(0..5);
        let batch = p.next_to_send().unwrap();
        p.sending(batch.first_offset(), ());
        p.abandon_unsent();
        assert_eq!(p.held_bytes(), 0);
        p.accepted(1);
        assert_eq!(
            p.to_commit(),
            Some(2),
            "up to the first abandoned record, not past it"
        );
    }
}

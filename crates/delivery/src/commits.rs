//! Offsets the destination accepted, waiting to be committed together.
//!
//! A group coordinator handles one member's requests one at a time, each commit an append to
//! `__consumer_offsets`: committing after every accepted batch (hundreds a second) queued the
//! commits seconds behind the deliveries. The engine records each partition's next offset here
//! and commits all of them in one request every `DOCKET_SINK_COMMIT_INTERVAL` (100 ms by
//! default). When partitions are revoked, the consumer's context commits theirs at once,
//! before they change owner, so a rebalance replays nothing the destination already accepted.

use std::collections::HashMap;
use std::sync::Mutex;

use docket_kafka::TopicPartition;
use rdkafka::{Offset, TopicPartitionList};

/// The next offset to commit per partition, newest only.
#[derive(Debug, Default)]
pub struct Pending(Mutex<HashMap<TopicPartition, i64>>);

impl Pending {
    /// `next` is the partition's first offset not yet accepted.
    pub fn set(&self, tp: &TopicPartition, next: i64) {
        self.lock().insert(tp.clone(), next);
    }

    /// Takes every pending offset; `None` when there is none.
    pub fn take_all(&self) -> Option<TopicPartitionList> {
        let taken: Vec<_> = self.lock().drain().collect();
        list(taken)
    }

    /// Takes the pending offsets of `tps` only; `None` when they have none.
    pub fn take(&self, tps: &[TopicPartition]) -> Option<TopicPartitionList> {
        let mut pending = self.lock();
        let taken: Vec<_> = tps
            .iter()
            .filter_map(|tp| pending.remove_entry(tp))
            .collect();
        list(taken)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TopicPartition, i64>> {
        // The map stays consistent whatever panicked while holding it.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn list(offsets: Vec<(TopicPartition, i64)>) -> Option<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    for (tp, next) in offsets {
        // Only an invalid offset is refused, and these come from read messages.
        let _ = tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(next));
    }
    (tpl.count() > 0).then_some(tpl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(tpl: &TopicPartitionList) -> Vec<(String, i32, Offset)> {
        let mut all: Vec<_> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition(), e.offset()))
            .collect();
        all.sort_by_key(|(t, p, _)| (t.clone(), *p));
        all
    }

    #[test]
    fn the_newest_offset_per_partition_is_taken_once() {
        let pending = Pending::default();
        let (a, b) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        pending.set(&a, 10);
        pending.set(&a, 25);
        pending.set(&b, 7);
        let tpl = pending.take_all().expect("two pending");
        assert_eq!(
            offsets(&tpl),
            vec![
                ("t".to_owned(), 0, Offset::Offset(25)),
                ("t".to_owned(), 1, Offset::Offset(7))
            ]
        );
        assert!(pending.take_all().is_none(), "taken once");
    }

    #[test]
    fn revoked_partitions_take_only_their_own() {
        let pending = Pending::default();
        let (a, b) = (TopicPartition::new("t", 0), TopicPartition::new("u", 0));
        pending.set(&a, 3);
        pending.set(&b, 4);
        let revoked = pending.take(std::slice::from_ref(&b)).expect("b pending");
        assert_eq!(
            offsets(&revoked),
            vec![("u".to_owned(), 0, Offset::Offset(4))]
        );
        assert!(pending.take(std::slice::from_ref(&b)).is_none());
        let rest = pending.take_all().expect("a still pending");
        assert_eq!(offsets(&rest), vec![("t".to_owned(), 0, Offset::Offset(3))]);
    }
}

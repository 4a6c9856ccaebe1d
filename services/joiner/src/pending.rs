//! The grace buffer. A decision naming a policy version the table has not seen is written to
//! the pending topic (in the same transaction that commits its decisions offset) with a
//! deadline header. The joiner reads the pending topic back in its group and releases each
//! pending partition strictly in order: the head leaves when its edit has arrived or its
//! deadline has passed, and the partition's offset advances only past released records.
//! Records behind the head wait at most until their own deadline, which is never earlier
//! than the head's. A crash or rebalance loses nothing: uncommitted pending records are read
//! again from the committed offset.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use docket_records::{Decision, EnrichedDecision, Micros};

use crate::rule::{Evaluation, enrich, evaluate};
use crate::table::PolicyTable;

/// A record read back from the pending topic.
#[derive(Debug)]
pub struct Pending {
    /// Its offset in the pending partition.
    pub offset: i64,
    /// When to give up waiting.
    pub deadline: Micros,
    /// What it holds.
    pub held: Held,
}

/// The content of a pending record.
#[derive(Debug)]
pub enum Held {
    /// A decision awaiting its policy edit.
    Decision(Box<Decision>),
    /// A record that no longer decodes: dead-lettered when it reaches the head, so the
    /// partition's offset still only moves in order.
    Undecodable {
        /// Its key.
        key: Option<Vec<u8>>,
        /// Its bytes.
        payload: Vec<u8>,
        /// Why it does not decode.
        reason: String,
    },
}

/// A pending record to dead-letter.
#[derive(Debug)]
pub struct DeadPending {
    /// Pending partition.
    pub partition: i32,
    /// Offset in it.
    pub offset: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Bytes.
    pub payload: Vec<u8>,
    /// Why.
    pub reason: String,
}

/// Released records of one round, and the pending offsets to commit.
#[derive(Debug, Default)]
pub struct Released {
    /// Enriched decisions to write.
    pub records: Vec<EnrichedDecision>,
    /// Undecodable pending records to dead-letter.
    pub dead: Vec<DeadPending>,
    /// Next offset to commit per pending partition.
    pub commits: BTreeMap<i32, i64>,
}

/// Pending decisions per pending partition, in offset order.
#[derive(Debug, Default)]
pub struct GraceBuffer {
    queues: BTreeMap<i32, VecDeque<Pending>>,
}

impl GraceBuffer {
    /// Adds a record read from pending `partition`.
    pub fn push(&mut self, partition: i32, pending: Pending) {
        self.queues.entry(partition).or_default().push_back(pending);
    }

    /// Releases, per partition and in order, every head that can be joined now or whose
    /// deadline has passed.
    pub fn release(&mut self, table: &PolicyTable, horizon: Duration, now: Micros) -> Released {
        let mut released = Released::default();
        for (partition, queue) in &mut self.queues {
            while let Some(head) = queue.front() {
                if let Held::Decision(decision) = &head.held
                    && evaluate(table, decision, horizon) == Evaluation::VersionUnseen
                    && head.deadline > now
                {
                    break;
                }
                let Some(head) = queue.pop_front() else { break };
                released.commits.insert(*partition, head.offset + 1);
                match head.held {
                    Held::Decision(decision) => {
                        let evaluation = evaluate(table, &decision, horizon);
                        released.records.push(enrich(*decision, &evaluation));
                    }
                    Held::Undecodable {
                        key,
                        payload,
                        reason,
                    } => released.dead.push(DeadPending {
                        partition: *partition,
                        offset: head.offset,
                        key,
                        payload,
                        reason,
                    }),
                }
            }
        }
        released
    }

    /// Forgets everything (after a rebalance: the records are read again).
    pub fn clear(&mut self) {
        self.queues.clear();
    }

    /// Decisions held.
    pub fn len(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use docket_records::{JoinStatus, samples};

    use super::*;
    use crate::table::Edit;

    const T: i64 = 1_800_000_000_000_000;
    const HORIZON: Duration = Duration::from_secs(3600);

    fn pending(offset: i64, version: i64, deadline: i64) -> Pending {
        let mut decision = samples::decision();
        decision.time = Micros(T);
        decision.policy.as_mut().unwrap().version = version;
        Pending {
            offset,
            deadline: Micros(deadline),
            held: Held::Decision(Box::new(decision)),
        }
    }

    fn table_with_versions(versions: &[i64]) -> PolicyTable {
        let mut table = PolicyTable::default();
        for v in versions {
            table.insert(
                "pol-pii".to_owned(),
                Edit {
                    audit_event_id: format!("e{v}"),
                    action: "policy.update".to_owned(),
                    actor_id: "admin".to_owned(),
                    actor_role: "policy_admin".to_owned(),
                    time: Micros(T - 1_000_000),
                    version: Some(*v),
                },
            );
        }
        table
    }

    #[test]
    fn a_late_edit_inside_grace_joins() {
        let mut buffer = GraceBuffer::default();
        buffer.push(0, pending(10, 7, T + 5_000_000));
        let table = table_with_versions(&[6]);
        let none = buffer.release(&table, HORIZON, Micros(T));
        assert!(none.records.is_empty() && none.commits.is_empty());
        let table = table_with_versions(&[6, 7]);
        let out = buffer.release(&table, HORIZON, Micros(T + 1));
        assert_eq!(out.records[0].join_status, JoinStatus::Joined);
        assert_eq!(out.commits.get(&0), Some(&11));
        assert!(buffer.is_empty());
    }

    #[test]
    fn a_late_edit_beyond_grace_is_late() {
        let mut buffer = GraceBuffer::default();
        buffer.push(0, pending(10, 7, T + 5_000_000));
        let out = buffer.release(&table_with_versions(&[6]), HORIZON, Micros(T + 5_000_000));
        assert_eq!(out.records[0].join_status, JoinStatus::Late);
        assert!(out.records[0].policy_change.is_none());
    }

    #[test]
    fn a_waiting_head_holds_back_its_partition_only() {
        let mut buffer = GraceBuffer::default();
        buffer.push(0, pending(1, 8, T + 9_000_000)); // still unseen
        buffer.push(0, pending(2, 7, T + 9_000_000)); // joinable, but behind the head
        buffer.push(1, pending(5, 7, T + 9_000_000)); // joinable, own partition
        let out = buffer.release(&table_with_versions(&[6, 7]), HORIZON, Micros(T));
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.commits, BTreeMap::from([(1, 6)]));
        assert_eq!(buffer.len(), 2);
    }
}

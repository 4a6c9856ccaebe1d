//! Consumer contexts: one that counts rebalances, so a round can tell that the partitions it
//! collected from changed under it, holds a rebalance back while a transaction commits, and
//! reports consumer lag from librdkafka's statistics; one for readers that ask to be told
//! about partition ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use prometheus::IntGaugeVec;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Counts completed rebalances and reports lag.
pub struct RebalanceWatch {
    generation: AtomicU64,
    lag: IntGaugeVec,
    gate: Arc<CommitGate>,
}

impl RebalanceWatch {
    /// A watch that reports lag into `lag` (labels: topic, partition).
    pub fn new(lag: IntGaugeVec) -> Self {
        Self {
            generation: AtomicU64::new(0),
            lag,
            gate: Arc::default(),
        }
    }

    /// The gate a rebalance waits at while a transaction commits.
    pub fn gate(&self) -> Arc<CommitGate> {
        Arc::clone(&self.gate)
    }

    /// Rebalances seen so far.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

impl ClientContext for RebalanceWatch {
    fn stats(&self, statistics: rdkafka::statistics::Statistics) {
        for (tp, lag) in docket_kafka::consumer_lag(&statistics) {
            self.lag
                .with_label_values(&[&*tp.topic, &tp.partition.to_string()])
                .set(lag);
        }
    }
}

impl ConsumerContext for RebalanceWatch {
    /// A rebalance waits for the commit in flight, so the partitions a transaction carries
    /// offsets for move only once it is settled, as when the commit ran between two polls.
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, _rebalance: &Rebalance<'_>) {
        self.gate.wait_closed();
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        tracing::info!(?rebalance, "partitions rebalanced");
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// Whether a transaction is committing on another thread: opened before the commit starts,
/// closed when it has returned, awaited by a rebalance.
#[derive(Debug, Default)]
pub struct CommitGate {
    committing: Mutex<bool>,
    settled: Condvar,
}

impl CommitGate {
    /// Marks a commit as started.
    pub fn open(&self) {
        *self.committing.lock().expect("commit gate lock") = true;
    }

    /// Marks the commit as returned and wakes a waiting rebalance.
    pub fn close(&self) {
        *self.committing.lock().expect("commit gate lock") = false;
        self.settled.notify_all();
    }

    /// Blocks until no commit is running.
    pub fn wait_closed(&self) {
        let committing = self.committing.lock().expect("commit gate lock");
        let _settled = self
            .settled
            .wait_while(committing, |committing| *committing)
            .expect("commit gate lock");
    }
}

/// A consumer context for readers that ask to be told about partition ends: reaching one is
/// progress, not an error worth logging.
#[derive(Debug, Default)]
pub struct QuietEof;

impl ClientContext for QuietEof {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::error!(%error, reason, "kafka client error");
        }
    }
}

impl ConsumerContext for QuietEof {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::CommitGate;

    /// A rebalance (here a thread calling `wait_closed`) does not pass while a commit is
    /// running, and passes as soon as it has returned.
    #[test]
    fn a_rebalance_waits_for_the_commit_in_flight() {
        let gate = Arc::new(CommitGate::default());
        gate.open();
        let (passed, passing) = mpsc::channel();
        let waiter = {
            let gate = Arc::clone(&gate);
            std::thread::spawn(move || {
                gate.wait_closed();
                passed.send(()).expect("the test is listening");
            })
        };
        assert_eq!(
            passing.recv_timeout(Duration::from_millis(200)),
            Err(mpsc::RecvTimeoutError::Timeout),
            "the rebalance went ahead during the commit"
        );
        gate.close();
        passing
            .recv_timeout(Duration::from_secs(10))
            .expect("the rebalance goes ahead once the commit returned");
        waiter.join().expect("waiter");
    }

    #[test]
    fn no_commit_no_wait() {
        let gate = CommitGate::default();
        gate.wait_closed();
        gate.open();
        gate.close();
        gate.wait_closed();
    }
}

//! A round's commit on a blocking thread: the round's offsets go into its transaction and the
//! transaction commits (which waits for every record of it to be delivered) while the next
//! round is read and joined in memory. A failed commit aborts the transaction; the joiner
//! then stops. A rebalance waits at the [`CommitGate`] until the commit has returned.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::TopicPartitionList;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::Producer;
use tokio::task::JoinHandle;

use crate::context::CommitGate;
use crate::error::JoinerError;
use crate::run::TxnProducer;

/// How long one transactional call may take.
pub const TXN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the wait for deliveries serves the producer's events between two checks.
const POLL_STEP: Duration = Duration::from_millis(1);

/// A transaction committing on a blocking thread.
pub struct Committing {
    handle: JoinHandle<Result<(), JoinerError>>,
}

impl Committing {
    /// Commits the open transaction of `producer` with `offsets` of the group `metadata`
    /// names, holding `gate` open until the commit has returned.
    pub fn start(
        producer: Arc<TxnProducer>,
        offsets: TopicPartitionList,
        metadata: ConsumerGroupMetadata,
        gate: Arc<CommitGate>,
    ) -> Self {
        gate.open();
        let handle = tokio::task::spawn_blocking(move || {
            let _closes = Closes(gate);
            let result = commit(&producer, &offsets, &metadata);
            if let Err(e) = &result {
                tracing::error!(error = %e, "transaction failed; aborting");
                let _ = producer.abort_transaction(TXN_TIMEOUT);
            }
            result
        });
        Self { handle }
    }

    /// Whether the commit has returned (its outcome is then ready for [`Self::settle`]).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the commit's outcome.
    pub async fn settle(self) -> Result<(), JoinerError> {
        self.handle
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}

fn commit(
    producer: &TxnProducer,
    offsets: &TopicPartitionList,
    metadata: &ConsumerGroupMetadata,
) -> Result<(), JoinerError> {
    let fail = |stage| move |source| JoinerError::Transaction { stage, source };
    let started = Instant::now();
    delivered(producer, TXN_TIMEOUT).map_err(fail("flush"))?;
    let flushed = started.elapsed();
    producer
        .send_offsets_to_transaction(offsets, metadata, TXN_TIMEOUT)
        .map_err(fail("send offsets"))?;
    let offsets_sent = started.elapsed();
    producer
        .commit_transaction(TXN_TIMEOUT)
        .map_err(fail("commit"))?;
    tracing::debug!(?flushed, ?offsets_sent, committed = ?started.elapsed(), "transaction");
    Ok(())
}

/// Waits until every record sent in the transaction is delivered, checking every
/// millisecond. `commit_transaction` flushes first too, but rust-rdkafka's flush waits in polls
/// of 100 ms that always run to their end, so every commit took at least 100 ms; after this
/// wait its flush finds nothing left and returns at once.
fn delivered(producer: &TxnProducer, timeout: Duration) -> Result<(), KafkaError> {
    let deadline = Instant::now() + timeout;
    loop {
        match producer.flush(Duration::ZERO) {
            Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut))
                if Instant::now() < deadline =>
            {
                producer.poll(POLL_STEP);
            }
            done => return done,
        }
    }
}

/// Closes the gate when the commit thread is done, whatever happened on it.
struct Closes(Arc<CommitGate>);

impl Drop for Closes {
    fn drop(&mut self) {
        self.0.close();
    }
}

//! Delivery of one batch: send until the destination accepts it or refuses it for good,
//! retrying with backoff (never sooner than `Retry-After`), dead-lettering the records it
//! refuses as invalid and sending the rest again. Runs as its own task; its outcome goes back
//! to the engine loop as a [`Done`].

use std::sync::Arc;

use docket_kafka::TopicPartition;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::batch::{Batch, Item};
use crate::config::RetryPolicy;
use crate::dlq::DeadLetters;
use crate::metrics::Metrics;
use crate::record::Source;
use crate::sink::{Accepted, SendError, Sink};

/// A finished send.
pub struct Done {
    /// Its partition.
    pub tp: TopicPartition,
    /// The partition's generation when the send started.
    pub generation: u64,
    /// The batch (without the records that were dead-lettered).
    pub batch: Batch,
    /// Accepted through an offset, or a failure that stops the sink.
    pub outcome: Result<Accepted, SendError>,
}

/// What every send needs, shared by all of them.
pub struct Delivery<S> {
    /// The destination.
    pub sink: Arc<S>,
    /// Where refused records go.
    pub dlq: DeadLetters,
    /// Retries of retryable failures.
    pub retry: RetryPolicy,
    /// The sink's metrics.
    pub metrics: Metrics,
    /// Where outcomes go.
    pub done: mpsc::UnboundedSender<Done>,
}

impl<S: Sink> Delivery<S> {
    /// Starts sending `batch` of `tp` (generation `generation`) in its own task.
    pub fn spawn(&self, batch: Batch, tp: TopicPartition, generation: u64) -> JoinHandle<()> {
        let send = Send {
            sink: Arc::clone(&self.sink),
            dlq: self.dlq.clone(),
            retry: self.retry,
            metrics: self.metrics.clone(),
            tp,
        };
        let done = self.done.clone();
        tokio::spawn(async move {
            let (batch, outcome) = send.run(batch).await;
            let _ = done.send(Done {
                tp: send.tp,
                generation,
                batch,
                outcome,
            });
        })
    }
}

/// One batch's send.
struct Send<S> {
    sink: Arc<S>,
    dlq: DeadLetters,
    retry: RetryPolicy,
    metrics: Metrics,
    tp: TopicPartition,
}

impl<S: Sink> Send<S> {
    async fn run(&self, mut batch: Batch) -> (Batch, Result<Accepted, SendError>) {
        let last = batch.last_offset().unwrap_or(-1);
        let mut backoff = self.retry.backoff();
        let outcome = loop {
            if batch.is_empty() {
                break Ok(Accepted { through: last });
            }
            match self.sink.send(&batch).await {
                Ok(accepted) => break Ok(accepted),
                Err(SendError::Retry { reason, after }) => {
                    self.metrics.retries.inc();
                    let delay = backoff.next_delay(after);
                    tracing::warn!(%reason, ?delay, tp = %self.tp, "send failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(SendError::Reject { items, reason }) => {
                    let refused = batch.remove(&items);
                    if let Err(e) = self.dead_letter(refused, &reason).await {
                        break Err(e);
                    }
                }
                Err(fatal) => break Err(fatal),
            }
        };
        (batch, outcome)
    }

    async fn dead_letter(&self, items: Vec<Item>, reason: &str) -> Result<(), SendError> {
        for item in items {
            let source = Source::at(&self.tp, item.offset);
            self.dlq
                .send(&item.bytes, None, reason, &source)
                .await
                .map_err(|e| SendError::Fatal {
                    reason: e.to_string(),
                })?;
        }
        Ok(())
    }
}

//! The consumer's context: commits what revoked partitions had accepted, reports revoked and
//! assigned partitions to the engine loop and feeds consumer lag from librdkafka statistics
//! into the metrics.

use std::sync::Arc;

use docket_kafka::TopicPartition;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::statistics::Statistics;
use tokio::sync::mpsc::UnboundedSender;

use crate::commits::Pending;
use crate::metrics::Metrics;

/// A change of the partitions this consumer owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// These partitions were taken away: their in-flight work must be dropped uncommitted.
    Revoked(Vec<TopicPartition>),
    /// These partitions were given to this consumer.
    Assigned(Vec<TopicPartition>),
}

/// The engine's consumer context.
pub struct EngineContext {
    events: UnboundedSender<Ownership>,
    metrics: Metrics,
    pending: Arc<Pending>,
}

impl EngineContext {
    /// A context reporting to `events` and `metrics`, committing from `pending` on revocation.
    pub fn new(
        events: UnboundedSender<Ownership>,
        metrics: Metrics,
        pending: Arc<Pending>,
    ) -> Self {
        Self {
            events,
            metrics,
            pending,
        }
    }
}

impl ClientContext for EngineContext {
    fn stats(&self, statistics: Statistics) {
        for (tp, lag) in docket_kafka::consumer_lag(&statistics) {
            self.metrics
                .consumer_lag
                .with_label_values(&[&*tp.topic, &tp.partition.to_string()])
                .set(lag);
        }
    }
}

impl ConsumerContext for EngineContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let revoked = TopicPartition::all_of(tpl);
            // Still ours until this returns: what the destination accepted is committed now.
            if let Some(accepted) = self.pending.take(&revoked)
                && let Err(e) = consumer.commit(&accepted, CommitMode::Sync)
            {
                tracing::warn!(error = %e, "commit of revoked partitions failed");
            }
            let _ = self.events.send(Ownership::Revoked(revoked));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let _ = self
                .events
                .send(Ownership::Assigned(TopicPartition::all_of(tpl)));
        }
    }
}

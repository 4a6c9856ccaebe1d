//! The joiner's Prometheus metrics.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Every metric the joiner exports.
#[derive(Clone)]
pub struct Metrics {
    /// The registry the endpoint serves.
    pub registry: Registry,
    /// Enriched decisions written, by join status.
    pub joined: IntCounterVec,
    /// Decisions held back for the grace period.
    pub deferred: IntCounter,
    /// Records sent to the dead-letter topic.
    pub dead_lettered: IntCounter,
    /// Audit records that could not be decoded (logged and skipped).
    pub audit_undecodable: IntCounter,
    /// Transactions committed.
    pub transactions: IntCounter,
    /// Transactions aborted because a rebalance ended their round.
    pub aborted: IntCounter,
    /// Decisions currently held in the grace buffer.
    pub grace_buffer: IntGauge,
    /// Policy edits held in the table.
    pub table_size: IntGauge,
    /// Partitions of the decisions and pending topics assigned to this instance.
    pub assigned_partitions: IntGauge,
    /// Consumer lag per decisions partition.
    pub consumer_lag: IntGaugeVec,
}

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("docket_joiner".to_owned()), None)?;
        let m = Self {
            joined: IntCounterVec::new(
                Opts::new(
                    "records_total",
                    "Enriched decisions written, by join status",
                ),
                &["join_status"],
            )?,
            deferred: IntCounter::new(
                "deferred_total",
                "Decisions held back waiting for their policy edit",
            )?,
            dead_lettered: IntCounter::new(
                "dead_lettered_total",
                "Records written to the dead-letter topic",
            )?,
            audit_undecodable: IntCounter::new(
                "audit_undecodable_total",
                "Audit records that could not be decoded",
            )?,
            transactions: IntCounter::new("transactions_total", "Transactions committed")?,
            aborted: IntCounter::new(
                "aborted_transactions_total",
                "Transactions aborted because a rebalance ended their round",
            )?,
            grace_buffer: IntGauge::new("grace_buffer_records", "Decisions in the grace buffer")?,
            table_size: IntGauge::new("table_edits", "Policy edits in the join table")?,
            assigned_partitions: IntGauge::new(
                "assigned_partitions",
                "Input partitions assigned to this instance",
            )?,
            consumer_lag: IntGaugeVec::new(
                Opts::new(
                    "consumer_lag_records",
                    "Records behind the end, per partition",
                ),
                &["topic", "partition"],
            )?,
            registry,
        };
        m.registry.register(Box::new(m.joined.clone()))?;
        m.registry.register(Box::new(m.deferred.clone()))?;
        m.registry.register(Box::new(m.dead_lettered.clone()))?;
        m.registry.register(Box::new(m.audit_undecodable.clone()))?;
        m.registry.register(Box::new(m.transactions.clone()))?;
        m.registry.register(Box::new(m.aborted.clone()))?;
        m.registry.register(Box::new(m.grace_buffer.clone()))?;
        m.registry.register(Box::new(m.table_size.clone()))?;
        m.registry
            .register(Box::new(m.assigned_partitions.clone()))?;
        m.registry.register(Box::new(m.consumer_lag.clone()))?;
        Ok(m)
    }
}
